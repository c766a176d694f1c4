//! `keyrank ingest`: access logs in, per-keyword daily aggregates out.

use crate::error::Result;
use crate::ingest::{IngestConfig, run as run_ingest};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store folder (created if missing).
    #[arg(long)]
    pub store: PathBuf,
    /// Log format: combined, common, json, or an Apache LogFormat string.
    #[arg(long, default_value = "combined")]
    pub log_format: String,
    /// For --log-format json: key=field pairs (client, user, time, request, method,
    /// uri, status, referer, user_agent, host, cookie, cookie.NAME); dotted paths allowed.
    #[arg(long, default_value = "")]
    pub json_fields: String,
    /// The site's own host name (repeatable); referrers from it are internal.
    /// Without it, the dominant referrer host of the log is taken as the site.
    #[arg(long = "site")]
    pub sites: Vec<String>,
    /// Extra search engines, in Matomo's SearchEngines.yml format (repeatable).
    #[arg(long = "engines")]
    pub engines: Vec<PathBuf>,
    /// Path prefix of a goal (conversion) page, e.g. /checkout/complete (repeatable).
    #[arg(long = "goal")]
    pub goals: Vec<String>,
    /// Query parameter of a goal hit holding the revenue.
    #[arg(long, default_value = "revenue")]
    pub revenue_param: String,
    /// Query parameter of a goal hit holding the order id (each order counts once).
    #[arg(long, default_value = "order_id")]
    pub order_param: String,
    /// Cookie that identifies a visitor (the format must log it, e.g. %{vid}C);
    /// otherwise visitors are IP + user agent, hashed with a per-run key.
    #[arg(long)]
    pub visitor_cookie: Option<String>,
    /// Cookie whose presence marks a logged-in member (besides %u).
    #[arg(long)]
    pub login_cookie: Option<String>,
    /// Attribution lookback window (e.g. 30d).
    #[arg(long, default_value = "30d", value_parser = super::parse_duration)]
    pub lookback: i64,
    /// Inactivity that ends a visit (e.g. 30m).
    #[arg(long, default_value = "30m", value_parser = super::parse_duration)]
    pub visit_timeout: i64,
    /// Write only days from this date on; earlier lines are lookback context.
    #[arg(long, value_parser = super::parse_date)]
    pub write_from: Option<i32>,
    /// No progress and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Log files (globs expanded; - for stdin; .gz and .zst read transparently).
    #[arg(required = true)]
    pub files: Vec<String>,
}

impl Args {
    pub fn config(&self) -> IngestConfig {
        IngestConfig {
            store: self.store.clone(),
            inputs: self.files.clone(),
            log_format: self.log_format.clone(),
            json_fields: self.json_fields.clone(),
            sites: self.sites.clone(),
            engines_files: self.engines.clone(),
            goals: self.goals.clone(),
            revenue_param: self.revenue_param.clone(),
            order_param: self.order_param.clone(),
            visitor_cookie: self.visitor_cookie.clone(),
            login_cookie: self.login_cookie.clone(),
            timeout_secs: self.visit_timeout,
            lookback_secs: self.lookback,
            write_from: self.write_from,
            progress: !self.quiet,
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    let summary = run_ingest(&args.config())?;
    if !args.quiet {
        eprint!("{summary}");
    }
    Ok(())
}
