//! `keyrank report` (run reports now) and `keyrank schedule` (run them on their crons).

use crate::error::{Error, Result};
use crate::report::Config;
use crate::report::schedule::{self, Clock};
use chrono::NaiveDate;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Report config (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Run only this report.
    #[arg(long)]
    pub only: Option<String>,
    /// The date the report is for (relative dates count from it); default today.
    #[arg(long)]
    pub as_of: Option<NaiveDate>,
}

#[derive(Debug, clap::Args)]
pub struct ScheduleArgs {
    /// Report config (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Print the next five fire times of each report and exit.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run_report(args: ReportArgs) -> Result<()> {
    let cfg = Config::load(&args.config)?;
    if let Some(only) = &args.only
        && !cfg.reports.iter().any(|r| &r.name == only)
    {
        let names: Vec<&str> = cfg.reports.iter().map(|r| r.name.as_str()).collect();
        return Err(Error::usage(format!(
            "no report named {only:?} (reports: {})",
            names.join(", ")
        )));
    }
    let as_of = args
        .as_of
        .unwrap_or_else(|| chrono::Local::now().date_naive());
    let mut failed = 0;
    for spec in cfg
        .reports
        .iter()
        .filter(|r| args.only.as_ref().is_none_or(|o| &r.name == o))
    {
        match crate::report::run_report(&cfg, spec, as_of) {
            Ok(o) => {
                eprintln!("report {}: {} rows", spec.name, o.rows);
                for p in &o.outputs {
                    println!("{}", p.display());
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("report {}: error: {e}", spec.name);
            }
        }
    }
    if failed > 0 {
        return Err(Error::Other(format!("{failed} report(s) failed")));
    }
    Ok(())
}

pub fn run_schedule(args: ScheduleArgs) -> Result<()> {
    let cfg = Config::load(&args.config)?;
    if args.dry_run {
        let now = chrono::Utc::now();
        for r in &cfg.reports {
            match &r.cron_text {
                None => println!("{}: no cron (runs only with `keyrank report`)", r.name),
                Some(c) => {
                    println!("{} ({c}, {}):", r.name, r.timezone);
                    for t in schedule::upcoming(r, now, 5) {
                        println!("  {}", t.with_timezone(&r.timezone).to_rfc3339());
                    }
                }
            }
        }
        return Ok(());
    }
    let cfg = Arc::new(cfg);
    let state = cfg.base_dir().join(".keyrank-schedule.json");
    let rt = super::runtime()?;
    eprintln!(
        "keyrank schedule: {} report(s) from {}; Ctrl-C or SIGTERM stops",
        cfg.reports.iter().filter(|r| r.cron.is_some()).count(),
        cfg.path.display()
    );
    rt.block_on(schedule::run(
        cfg.reports.clone(),
        schedule::store_runner(cfg.clone()),
        Clock::system(),
        Some(state),
        |entry| eprintln!("{entry}"),
        schedule::shutdown_signal(),
    ));
    eprintln!("keyrank schedule: stopped");
    Ok(())
}
