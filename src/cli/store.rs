//! `keyrank history` and `keyrank store restore|vacuum|upgrade`: the store's versions
//! and their upkeep.

use crate::error::{Error, Result};
use crate::store::Store;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Store folder (or s3:// / file:// URL).
    #[arg(long)]
    pub store: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: HistoryFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum HistoryFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// Make an earlier version (see `keyrank history`) the current one, as a new version.
    Restore(RestoreArgs),
    /// Delete data files that no version younger than --keep needs.
    Vacuum(VacuumArgs),
    /// Convert a store written by an earlier keyrank into Delta tables.
    Upgrade(UpgradeArgs),
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    #[arg(long)]
    pub store: PathBuf,
    /// The version to restore.
    #[arg(long)]
    pub version: u64,
    #[command(flatten)]
    pub wait: super::WaitArg,
}

#[derive(Debug, clap::Args)]
pub struct VacuumArgs {
    #[arg(long)]
    pub store: PathBuf,
    /// Keep the files of versions younger than this (e.g. 7d, 0d), so they can still be
    /// restored.
    #[arg(long, default_value = "7d", value_parser = super::parse_duration)]
    pub keep: i64,
    #[command(flatten)]
    pub wait: super::WaitArg,
}

#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    #[arg(long)]
    pub store: PathBuf,
}

pub fn run_history(a: HistoryArgs) -> Result<()> {
    let store = Store::open(&a.store)?;
    let rt = super::runtime()?;
    let (earlier, history) = rt.block_on(store.history())?;
    let mut out = std::io::stdout().lock();
    let io = |e| Error::io("stdout", e);
    match a.format {
        HistoryFormat::Json => {
            let v = serde_json::json!({ "earlier_runs": earlier, "versions": history });
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).map_err(|e| Error::Other(e.to_string()))?
            )
            .map_err(io)?;
        }
        HistoryFormat::Table => {
            writeln!(
                out,
                "{:>7}  {:<20}  {:<22}  {:<28}  {:<28}  {:>9}  {:>9}",
                "version", "committed", "command", "inputs", "days", "lines", "malformed"
            )
            .map_err(io)?;
            for e in &earlier {
                write_row(&mut out, "-", &e.finished_at, e).map_err(io)?;
            }
            for h in &history {
                match &h.run {
                    Some(r) => write_row(
                        &mut out,
                        &h.version.to_string(),
                        h.committed_at.as_deref().unwrap_or(""),
                        r,
                    )
                    .map_err(io)?,
                    None => writeln!(out, "{:>7}  {}", h.version, h.command).map_err(io)?,
                }
            }
        }
    }
    Ok(())
}

fn write_row(
    out: &mut impl Write,
    version: &str,
    when: &str,
    r: &crate::store::LedgerEntry,
) -> std::io::Result<()> {
    let names: Vec<&str> = r.inputs.iter().map(|i| i.name.as_str()).collect();
    let mut inputs = names.join(",");
    if inputs.chars().count() > 28 {
        inputs = format!("{}…", inputs.chars().take(27).collect::<String>());
    }
    let count = |k: &str| {
        r.counts
            .get(k)
            .and_then(|v| v.as_u64())
            .map(|n| n.to_string())
            .unwrap_or_default()
    };
    let days = match (r.days_written.first(), r.days_written.last()) {
        (Some(a), Some(b)) if a != b => format!("{} ({a}..{b})", r.days_written.len()),
        (Some(a), _) => format!("1 ({a})"),
        _ => "0".into(),
    };
    writeln!(
        out,
        "{version:>7}  {when:<20}  {:<22}  {inputs:<28}  {days:<28}  {:>9}  {:>9}",
        r.command,
        count("lines_read"),
        count("malformed")
    )
}

pub fn run(a: Args) -> Result<()> {
    match a.action {
        Action::Restore(r) => {
            let store = Store::open(&r.store)?;
            let v = store.restore(r.version, r.wait.duration())?;
            eprintln!(
                "{}: version {} restored as version {v}",
                r.store.display(),
                r.version
            );
        }
        Action::Vacuum(v) => {
            let store = Store::open(&v.store)?;
            let s = store.vacuum(Duration::from_secs(v.keep.max(0) as u64), v.wait.duration())?;
            eprintln!("{}: {} files removed", v.store.display(), s.files_deleted);
        }
        Action::Upgrade(u) => {
            let store = Store::open_any(&u.store)?;
            let s = store.upgrade()?;
            for p in &s.problems {
                eprintln!("  skipped ledger line {p}");
            }
            eprintln!(
                "{}: upgraded to Delta tables: {} rows over {} table-days, {} earlier runs kept in the history",
                u.store.display(),
                s.rows,
                s.days,
                s.runs
            );
        }
    }
    Ok(())
}
