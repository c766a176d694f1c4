//! `keyrank search-console import|recover`: organic keywords after "(not provided)".

use crate::error::Result;
use crate::import::search_console::{read, recover, store_rows};
use crate::store::Store;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Import Search Console / Bing Webmaster query exports (CSV, JSON lines, Parquet)
    /// as the table `search_queries`, then recover keywords for the affected days.
    Import(ImportArgs),
    /// Recompute the estimated keyword rows of every day from `search_queries`.
    Recover(RecoverArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// Store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// The engine the export comes from (google, bing, …).
    #[arg(long, default_value = "google")]
    pub engine: String,
    /// The day an export without a date column covers (UI exports).
    #[arg(long, value_parser = super::parse_date)]
    pub day: Option<i32>,
    /// Days of query clicks pooled for each day's recovery.
    #[arg(long, default_value_t = 1)]
    pub window: i64,
    /// Import only; do not recompute estimated rows.
    #[arg(long)]
    pub no_recover: bool,
    #[command(flatten)]
    pub wait: super::WaitArg,
    /// Export files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RecoverArgs {
    /// Store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// Days of query clicks pooled for each day's recovery.
    #[arg(long, default_value_t = 1)]
    pub window: i64,
    #[command(flatten)]
    pub wait: super::WaitArg,
}

pub fn run(args: Args) -> Result<()> {
    let started = crate::store::now_rfc3339();
    match args.action {
        Action::Import(a) => {
            let store = Store::open(&a.store)?;
            let mut read_files = Vec::new();
            for f in &a.files {
                read_files.push((f, read(f, &a.engine.to_lowercase(), a.day)?));
            }
            // The files and the recovery they lead to are one commit.
            let mut w = store.writer(a.wait.duration())?;
            let (mut inputs, mut days, mut rows_in, mut bad) =
                (Vec::new(), std::collections::BTreeSet::new(), 0, 0);
            for (f, (rows, s)) in &read_files {
                days.extend(store_rows(&mut w, rows)?);
                inputs.push(crate::store::input_record(f)?);
                rows_in += s.rows;
                bad += s.bad_rows;
                eprintln!(
                    "{}: {} rows over {} days ({} anonymised queries kept as {}), {} bad rows",
                    f.display(),
                    s.rows,
                    s.days.len(),
                    s.anonymized_rows,
                    crate::import::search_console::ANONYMIZED,
                    s.bad_rows
                );
                for p in &s.problems {
                    eprintln!("  {p}");
                }
            }
            let recovered = if a.no_recover {
                None
            } else {
                Some(recover(&mut w, &[], a.window)?)
            };
            let entry = crate::store::LedgerEntry::of_command(
                &w,
                "search-console import",
                started,
                inputs,
                days,
                serde_json::json!({ "engine": a.engine, "window": a.window, "recover": !a.no_recover }),
                serde_json::json!({
                    "rows": rows_in,
                    "bad_rows": bad,
                    "estimated_rows": recovered.as_ref().map(|r| r.estimated_rows),
                }),
            );
            w.commit(entry)?;
            if let Some(r) = recovered {
                report(r);
            }
            Ok(())
        }
        Action::Recover(a) => {
            let store = Store::open(&a.store)?;
            let mut w = store.writer(a.wait.duration())?;
            let r = recover(&mut w, &[], a.window)?;
            let entry = crate::store::LedgerEntry::of_command(
                &w,
                "search-console recover",
                started,
                Vec::new(),
                Vec::new(),
                serde_json::json!({ "window": a.window }),
                serde_json::json!({ "estimated_rows": r.estimated_rows }),
            );
            w.commit(entry)?;
            report(r);
            Ok(())
        }
    }
}

fn report(s: crate::import::search_console::RecoverySummary) {
    eprintln!(
        "recovery: {} days, {} page rows apportioned, {} visits moved from (not provided) to queries, {} estimated rows",
        s.days, s.pages_recovered, s.visits_apportioned, s.estimated_rows
    );
}
