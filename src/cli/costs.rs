//! `keyrank costs import`: store an ad platform's keyword cost report.

use crate::error::Result;
use crate::store::Store;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Import keyword cost reports (CSV: day, engine, keyword, match type, clicks,
    /// impressions, cost, currency); re-importing replaces the same days and engines.
    Import(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Store folder (created if missing).
    #[arg(long)]
    pub store: PathBuf,
    /// Engine of reports without an engine column (e.g. google).
    #[arg(long)]
    pub engine: Option<String>,
    #[command(flatten)]
    pub wait: super::WaitArg,
    /// Report files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Action::Import(a) = args.action;
    let started = crate::store::now_rfc3339();
    let store = Store::create(&a.store)?;
    let mut read = Vec::new();
    for f in &a.files {
        read.push((f, crate::import::costs::read(f, a.engine.as_deref())?));
    }
    // Every file of the command is one commit: all of them, or (on error) none.
    let mut w = store.writer(a.wait.duration())?;
    let mut inputs = Vec::new();
    let mut all_days = std::collections::BTreeSet::new();
    let (mut rows_in, mut bad) = (0, 0);
    for (f, (rows, summary)) in &read {
        let days = crate::import::costs::store(&mut w, rows)?;
        all_days.extend(rows.iter().map(|r| r.day));
        inputs.push(crate::store::input_record(f)?);
        rows_in += summary.rows;
        bad += summary.bad_rows;
        eprintln!(
            "{}: {} rows imported over {} days, {} bad rows",
            f.display(),
            summary.rows,
            days,
            summary.bad_rows
        );
        for p in &summary.problems {
            eprintln!("  {p}");
        }
    }
    let entry = crate::store::LedgerEntry::of_command(
        &w,
        "costs import",
        started,
        inputs,
        all_days,
        serde_json::json!({ "engine": a.engine }),
        serde_json::json!({ "rows": rows_in, "bad_rows": bad }),
    );
    w.commit(entry)?;
    Ok(())
}
