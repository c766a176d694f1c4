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
    /// Report files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let Action::Import(a) = args.action;
    let store = Store::create(&a.store)?;
    for f in &a.files {
        let (rows, summary) = crate::costs::read(f, a.engine.as_deref())?;
        let days = crate::costs::store(&store, &rows)?;
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
    Ok(())
}
