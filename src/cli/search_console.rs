//! `keyrank search-console import|recover`: organic keywords after "(not provided)".

use crate::error::Result;
use crate::search_console::{read, recover, store_rows};
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
}

pub fn run(args: Args) -> Result<()> {
    match args.action {
        Action::Import(a) => {
            let store = Store::open(&a.store)?;
            for f in &a.files {
                let (rows, s) = read(f, &a.engine.to_lowercase(), a.day)?;
                store_rows(&store, &rows)?;
                eprintln!(
                    "{}: {} rows over {} days ({} anonymised queries kept as {}), {} bad rows",
                    f.display(),
                    s.rows,
                    s.days.len(),
                    s.anonymized_rows,
                    crate::search_console::ANONYMIZED,
                    s.bad_rows
                );
                for p in &s.problems {
                    eprintln!("  {p}");
                }
            }
            if !a.no_recover {
                report(recover(&store, &[], a.window)?);
            }
            Ok(())
        }
        Action::Recover(a) => {
            let store = Store::open(&a.store)?;
            report(recover(&store, &[], a.window)?);
            Ok(())
        }
    }
}

fn report(s: crate::search_console::RecoverySummary) {
    eprintln!(
        "recovery: {} days, {} page rows apportioned, {} visits moved from (not provided) to queries, {} estimated rows",
        s.days, s.pages_recovered, s.visits_apportioned, s.estimated_rows
    );
}
