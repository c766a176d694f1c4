//! The command line: one file per subcommand, each an `Args` struct and a `run`.

mod cluster;
mod costs;
mod demo;
mod generate;
mod ingest;
mod query;
mod rank;
mod report;
mod search_console;
mod serve;
mod sql;
mod store;

use crate::error::Result;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "keyrank",
    version,
    about = "Keyword-attribution analytics from access logs, aggregate-only"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read access logs and write per-keyword daily aggregates to a store.
    Ingest(Box<ingest::Args>),
    /// Run SQL over a store, or open an interactive SQL shell.
    Sql(sql::Args),
    /// Run a canned query from queries/ (use --list to see them).
    Query(query::Args),
    /// Keywords ranked by an honest conversion estimate.
    Rank(rank::RankArgs),
    /// Recommend a split of a marketing budget across keywords.
    Budget(rank::BudgetArgs),
    /// Run the reports of a config file now.
    Report(report::ReportArgs),
    /// Run the reports of a config file on their cron schedules (a long-running service).
    Schedule(report::ScheduleArgs),
    /// Search Console / Bing Webmaster query exports and keyword recovery.
    #[command(name = "search-console")]
    SearchConsole(search_console::Args),
    /// Ad-platform cost reports.
    Costs(costs::Args),
    /// The store's versions: when, which command, input file names, days, counts.
    History(store::HistoryArgs),
    /// Store upkeep: restore an earlier version, vacuum old files, upgrade an old store.
    Store(store::Args),
    /// Write a realistic sample log and the exact aggregates it should produce.
    Generate(generate::Args),
    /// Generate a small data set, ingest it and show the top keywords.
    Demo(demo::Args),
    /// The dashboard: a local web app over a store (loopback unless given a token).
    Serve(serve::Args),
    /// Run a Ballista scheduler with keyrank's functions (for `--cluster`).
    Scheduler(cluster::SchedulerArgs),
    /// Run a Ballista executor with keyrank's functions, serving a scheduler.
    Executor(cluster::ExecutorArgs),
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Ingest(a) => ingest::run(*a),
        Command::Sql(a) => sql::run(a),
        Command::Query(a) => query::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Rank(a) => rank::run_rank(a),
        Command::Budget(a) => rank::run_budget(a),
        Command::Costs(a) => costs::run(a),
        Command::History(a) => store::run_history(a),
        Command::Store(a) => store::run(a),
        Command::SearchConsole(a) => search_console::run(a),
        Command::Report(a) => report::run_report(a),
        Command::Schedule(a) => report::run_schedule(a),
        Command::Demo(a) => demo::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Scheduler(a) => cluster::run_scheduler(a),
        Command::Executor(a) => cluster::run_executor(a),
    }
}

/// `--wait SECONDS`, shared by every command that writes a store.
#[derive(Debug, Clone, clap::Args)]
pub struct WaitArg {
    /// Seconds to wait for another writer of the store before giving up.
    #[arg(long = "wait", default_value_t = crate::store::writer::DEFAULT_WAIT_SECS)]
    pub wait: u64,
}

impl WaitArg {
    pub fn duration(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.wait)
    }
}

pub(crate) use crate::model::runtime::runtime;

/// `30d`, `12h`, `30m`, `45s`; a bare number is days.
pub fn parse_duration(s: &str) -> std::result::Result<i64, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "d"),
    };
    let n: i64 = num
        .parse()
        .map_err(|_| format!("expected a duration like 30d, 12h or 30m, got {s:?}"))?;
    let unit_secs = match unit {
        "d" | "day" | "days" => 86_400,
        "h" | "hour" | "hours" => 3_600,
        "m" | "min" | "minutes" => 60,
        "s" | "sec" | "seconds" => 1,
        _ => {
            return Err(format!(
                "unknown duration unit {unit:?} in {s:?} (use d, h, m or s)"
            ));
        }
    };
    Ok(n * unit_secs)
}

/// `YYYY-MM-DD` to a day number, for clap.
pub fn parse_date(s: &str) -> std::result::Result<i32, String> {
    crate::parse::time::parse_day(s).ok_or_else(|| format!("expected a date YYYY-MM-DD, got {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("7"), Ok(7 * 86_400));
        assert!(parse_duration("3w").is_err());
        assert!(parse_duration("d").is_err());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
