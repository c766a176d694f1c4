//! `keyrank ingest`: access logs in, per-keyword daily aggregates out.

use crate::error::Result;
use crate::ingest::purchases::{PurchaseColumns, PurchaseFormat, PurchaseSource};
use crate::ingest::{IngestConfig, run as run_ingest};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store folder (created if missing).
    #[arg(long)]
    pub store: PathBuf,
    /// Log format: combined, common, json, w3c (IIS and any W3C extended log),
    /// cloudfront, alb, caddy, traefik, traefik-json, auto (from the first lines), or an
    /// Apache LogFormat string. See the README's "Log formats".
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
    /// A referrer host that continues the visit instead of starting a new one, like
    /// the site's own pages (repeatable): `pay.example` (and its subdomains) or a glob
    /// (`checkout-*.example`). Payment providers, 3-D Secure pages and sign-in services
    /// are excluded already.
    #[arg(long = "exclude-referrer", value_name = "HOST")]
    pub exclude_referrers: Vec<String>,
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
    /// Cookie carrying the search term to the checkout (search preference): a goal
    /// hit with it is credited to that term directly.
    #[arg(long)]
    pub keyword_cookie: Option<String>,
    /// Purchase file: CSV, JSON lines or Parquet (repeatable).
    #[arg(long = "purchases")]
    pub purchases: Vec<PathBuf>,
    /// Format of the purchase files (default: from the extension).
    #[arg(long, value_enum)]
    pub purchases_format: Option<PurchaseFormat>,
    /// The order export of a shop platform: its column names, time formats and
    /// currencies (shopify, woocommerce, stripe). --purchase-cols still overrides.
    #[arg(long, value_enum)]
    pub purchases_preset: Option<crate::ingest::purchases::PurchasePreset>,
    /// Purchase columns: ts=…,order=…,revenue=…,currency=…,visitor=…,keyword=…,
    /// landing=…,referrer=…,attribution=…,status=…
    #[arg(long, default_value = "")]
    pub purchase_cols: String,
    /// Exchange rates, CSV lines `currency,rate` (units of the reporting currency per unit).
    #[arg(long)]
    pub fx: Option<PathBuf>,
    /// Reporting currency (default: the first currency in the purchase files).
    #[arg(long)]
    pub currency: Option<String>,
    /// Attribution lookback window (e.g. 30d).
    #[arg(long, default_value = "30d", value_parser = super::parse_duration)]
    pub lookback: i64,
    /// Half-life of the time_decay attribution model.
    #[arg(long, default_value = "7d", value_parser = super::parse_duration)]
    pub half_life: i64,
    /// Inactivity that ends a visit (e.g. 30m).
    #[arg(long, default_value = "30m", value_parser = super::parse_duration)]
    pub visit_timeout: i64,
    /// Write only days from this date on; earlier lines are lookback context.
    #[arg(long, value_parser = super::parse_date)]
    pub write_from: Option<i32>,
    /// Replace every day the input has lines for, also days with lines outside every
    /// input's span (first line's day to last line's day), which are otherwise left as
    /// stored and named in the summary.
    #[arg(long)]
    pub replace_days: bool,
    #[command(flatten)]
    pub wait: super::WaitArg,
    /// Lines longer than this many bytes are malformed (their bytes are skipped).
    #[arg(long, default_value_t = crate::ingest::pipeline::DEFAULT_MAX_LINE)]
    pub max_line: usize,
    /// Stop before writing anything when an input is damaged (a truncated or corrupt
    /// .gz/.zst) or unreadable; by default the lines before the damage are kept.
    #[arg(long)]
    pub strict: bool,
    /// k-visitor threshold: a keyword seen by fewer distinct visitors in the run is
    /// stored as (other); 1 disables.
    #[arg(long, default_value_t = crate::privacy::DEFAULT_MIN_VISITORS)]
    pub min_visitors: u64,
    /// Differential privacy: release only noisy, bounded counts of keywords chosen by
    /// DP partition selection, spending this ε per run (off by default).
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// δ of the DP release (partition selection; and the Gaussian noise).
    #[arg(long, default_value_t = crate::privacy::dp::DEFAULT_DELTA, requires = "epsilon")]
    pub delta: f64,
    /// Noise added to released counts and sums under --epsilon.
    #[arg(long, value_enum, default_value = "laplace", requires = "epsilon")]
    pub dp_noise: crate::privacy::dp::Noise,
    /// Under --epsilon: the time grain of released rows, each dated with its
    /// period's first day (run: the run's first day).
    #[arg(long, value_enum, default_value = "run", requires = "epsilon")]
    pub dp_period: crate::privacy::dp::Period,
    /// Under --epsilon: (period, channel) rows one visitor may contribute to.
    #[arg(long, default_value_t = 2, requires = "epsilon")]
    pub dp_max_rows: usize,
    /// Under --epsilon: visits one visitor may add to one row.
    #[arg(long, default_value_t = 3, requires = "epsilon")]
    pub dp_max_visits: i64,
    /// Under --epsilon: revenue one visitor may add to one row (reporting currency).
    #[arg(long, default_value = "500", requires = "epsilon")]
    pub dp_max_revenue: String,
    /// Threads that parse and classify lines (0 = one per core); the result is the same
    /// for any number.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Parse, classify and attribute on a Ballista cluster (df://HOST:PORT, see
    /// `keyrank scheduler`): one task per file, visitors spread over the executors.
    /// The files must be readable by every executor under the same path. The store
    /// written is the same as without --cluster.
    #[arg(long, value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
    /// Also store each row's visitors as a mergeable sketch (column visitor_sketch), so
    /// SQL can count distinct visitors over days with distinct_visitors(). Off by
    /// default: a sketch links the rows one visitor contributed to within a run (see
    /// PRIVACY.md).
    #[arg(long, conflicts_with = "epsilon")]
    pub visitor_sketches: bool,
    /// No progress and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Log files (globs expanded; - for stdin; .gz and .zst read transparently).
    #[arg(required = true)]
    pub files: Vec<String>,
}

impl Args {
    pub fn config(&self) -> Result<IngestConfig> {
        let purchases = self
            .purchases
            .iter()
            .map(|p| {
                Ok(PurchaseSource {
                    path: p.clone(),
                    format: match self.purchases_format {
                        Some(f) => f,
                        None => PurchaseFormat::from_path(p)?,
                    },
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let cfg = IngestConfig {
            store: self.store.clone(),
            inputs: self.files.clone(),
            log_format: self.log_format.clone(),
            json_fields: self.json_fields.clone(),
            sites: self.sites.clone(),
            exclude_referrers: self.exclude_referrers.clone(),
            engines_files: self.engines.clone(),
            goals: self.goals.clone(),
            revenue_param: self.revenue_param.clone(),
            order_param: self.order_param.clone(),
            visitor_cookie: self.visitor_cookie.clone(),
            login_cookie: self.login_cookie.clone(),
            keyword_cookie: self.keyword_cookie.clone(),
            purchases,
            purchase_cols: PurchaseColumns::parse_over(
                self.purchases_preset
                    .map_or_else(PurchaseColumns::default, PurchaseColumns::preset),
                &self.purchase_cols,
            )?,
            purchases_preset: self.purchases_preset,
            fx_file: self.fx.clone(),
            currency: self.currency.clone(),
            // 0 and 1 both mean "no threshold".
            min_visitors: self.min_visitors.max(1),
            timeout_secs: self.visit_timeout,
            lookback_secs: self.lookback,
            half_life_secs: self.half_life,
            write_from: self.write_from,
            replace_days: self.replace_days,
            wait: self.wait.duration(),
            max_line: self.max_line.max(1),
            strict: self.strict,
            progress: !self.quiet,
            threads: self.threads,
            cluster: self.cluster.clone(),
            visitor_sketches: self.visitor_sketches,
            dp: match self.epsilon {
                None => None,
                Some(epsilon) => Some(crate::privacy::dp::DpParams {
                    epsilon,
                    delta: self.delta,
                    noise: self.dp_noise,
                    period: self.dp_period,
                    max_partitions: self.dp_max_rows,
                    max_visits: self.dp_max_visits,
                    max_revenue_cents: crate::model::parse_cents(&self.dp_max_revenue).ok_or_else(
                        || {
                            crate::Error::usage(format!(
                                "--dp-max-revenue: not an amount: {}",
                                self.dp_max_revenue
                            ))
                        },
                    )?,
                    ..crate::privacy::dp::DpParams::default()
                }),
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn run(args: Args) -> Result<()> {
    let summary = run_ingest(&args.config()?)?;
    if !args.quiet {
        eprint!("{summary}");
    }
    Ok(())
}
