//! What one ingest counted: printed on stderr and kept in the store's history.

use super::pipeline::LineCounts;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// How many bad lines are reported by position; all are counted.
pub(crate) const MAX_REPORTED_PROBLEMS: usize = 10;

/// Counts of one run, printed on stderr and kept in the ledger.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RunSummary {
    /// The log format the run read (`--log-format`, or what `auto` found).
    #[serde(default)]
    pub log_format: String,
    pub lines_read: u64,
    pub parsed: u64,
    pub malformed: u64,
    /// Header lines of W3C logs (`#Fields:`, `#Version:`, …): neither hits nor malformed.
    #[serde(default)]
    pub header_lines: u64,
    pub crawlers: u64,
    pub assets: u64,
    pub error_status: u64,
    pub redirects: u64,
    pub other_methods: u64,
    pub page_views: u64,
    pub visits: u64,
    pub direct_visits: u64,
    pub search_visits: u64,
    pub keyword_visits: u64,
    pub not_provided_visits: u64,
    pub campaign_visits: u64,
    pub referral_visits: u64,
    #[serde(default)]
    pub social_visits: u64,
    #[serde(default)]
    pub ai_visits: u64,
    pub search_visits_by_engine: BTreeMap<String, u64>,
    pub conversions: u64,
    pub unattributed: u64,
    pub duplicate_orders: u64,
    pub bad_revenue: u64,
    pub purchase_rows: u64,
    pub purchase_conversions: u64,
    pub bad_purchases: u64,
    /// Further rows of an order (line items), read as part of it.
    #[serde(default)]
    pub purchase_item_rows: u64,
    /// Rows whose status says they are not orders (failed or canceled payments).
    #[serde(default)]
    pub purchase_not_orders: u64,
    pub reporting_currency: Option<String>,
    /// Rows whose keyword looked like personal data and became `(redacted)`.
    pub redacted_rows: u64,
    /// Keywords with fewer than `min_visitors` distinct visitors, folded into `(other)`.
    pub folded_keywords: u64,
    /// Landing paths with fewer than `min_visitors` distinct visitors, folded likewise.
    pub folded_landings: u64,
    pub min_visitors: u64,
    /// Under `--epsilon`: the budget spent and what the release did.
    pub dp: Option<crate::privacy::dp::DpReport>,
    pub days_written: u64,
    /// Inputs that ended early (truncated or corrupt archive) or could not be read.
    pub damaged_files: u64,
    /// `file: why` of each of them.
    #[serde(default)]
    pub damaged: Vec<String>,
    /// Days with a few lines outside every input's span, left as stored.
    pub days_left_alone: Vec<String>,
    pub rows_written: u64,
    pub site_hosts: Vec<String>,
    pub elapsed_secs: f64,
    pub lines_per_sec: f64,
    /// `file:line: reason` of the first few bad lines; never their content.
    pub problems: Vec<String>,
}

impl RunSummary {
    /// An input that ended early or could not be read: the lines before are kept.
    pub(crate) fn damaged(&mut self, source: &str, why: &str) {
        self.damaged_files += 1;
        // Every damaged input is named, however many bad lines came before.
        self.damaged.push(format!("{source}: {why}"));
    }

    pub(crate) fn problem(&mut self, source: &str, line: u64, reason: &str) {
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(format!("{source}:{line}: {reason}"));
        }
    }

    /// Adds what visits and attribution counted in another part of the run.
    #[cfg(feature = "cluster")]
    pub(crate) fn add_visit_counts(&mut self, o: &RunSummary) {
        self.visits += o.visits;
        self.direct_visits += o.direct_visits;
        self.search_visits += o.search_visits;
        self.keyword_visits += o.keyword_visits;
        self.not_provided_visits += o.not_provided_visits;
        self.campaign_visits += o.campaign_visits;
        self.referral_visits += o.referral_visits;
        self.social_visits += o.social_visits;
        self.ai_visits += o.ai_visits;
        for (engine, n) in &o.search_visits_by_engine {
            *self
                .search_visits_by_engine
                .entry(engine.clone())
                .or_default() += n;
        }
        self.conversions += o.conversions;
        self.unattributed += o.unattributed;
        self.duplicate_orders += o.duplicate_orders;
    }

    pub(crate) fn add_counts(&mut self, c: &LineCounts) {
        self.parsed += c.parsed;
        self.malformed += c.malformed;
        self.header_lines += c.header_lines;
        self.crawlers += c.crawlers;
        self.error_status += c.error_status;
        self.other_methods += c.other_methods;
        self.assets += c.assets;
        self.redirects += c.redirects;
        self.page_views += c.page_views;
        self.bad_revenue += c.bad_revenue;
    }

    /// Share of search visits without a term, 0 when there were none.
    pub fn not_provided_share(&self) -> f64 {
        if self.search_visits == 0 {
            0.0
        } else {
            self.not_provided_visits as f64 / self.search_visits as f64
        }
    }
}

impl std::fmt::Display for RunSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "keyrank ingest summary")?;
        if !self.log_format.is_empty() {
            writeln!(f, "  log format        {:>12}", self.log_format)?;
        }
        writeln!(f, "  lines read        {:>12}", self.lines_read)?;
        writeln!(f, "  parsed            {:>12}", self.parsed)?;
        if self.header_lines > 0 {
            writeln!(f, "  header lines      {:>12}", self.header_lines)?;
        }
        writeln!(f, "  malformed         {:>12}", self.malformed)?;
        if self.damaged_files > 0 {
            writeln!(
                f,
                "  damaged inputs    {:>12}  (lines before the damage kept)",
                self.damaged_files
            )?;
            for d in &self.damaged {
                writeln!(f, "    {d}")?;
            }
        }
        writeln!(
            f,
            "  excluded          {:>12}  (crawlers {}, assets {}, error status {}, redirects {}, other methods {})",
            self.crawlers + self.assets + self.error_status + self.redirects + self.other_methods,
            self.crawlers,
            self.assets,
            self.error_status,
            self.redirects,
            self.other_methods
        )?;
        writeln!(f, "  page views        {:>12}", self.page_views)?;
        writeln!(
            f,
            "  visits            {:>12}  (search {}, campaign {}, referral {}, social {}, ai {}, direct {})",
            self.visits,
            self.search_visits,
            self.campaign_visits,
            self.referral_visits,
            self.social_visits,
            self.ai_visits,
            self.direct_visits
        )?;
        writeln!(
            f,
            "  search visits     {:>12}  (with keyword {}, not provided {}, {:.1}%)",
            self.search_visits,
            self.keyword_visits,
            self.not_provided_visits,
            100.0 * self.not_provided_share()
        )?;
        for (engine, n) in &self.search_visits_by_engine {
            writeln!(f, "    {engine:<24} {n:>8}")?;
        }
        writeln!(
            f,
            "  conversions       {:>12}  (unattributed {}, duplicate orders skipped {}, bad revenue {})",
            self.conversions, self.unattributed, self.duplicate_orders, self.bad_revenue
        )?;
        if self.purchase_rows > 0 || self.bad_purchases > 0 {
            writeln!(
                f,
                "  purchase rows     {:>12}  (conversions {}, bad rows {}, currency {})",
                self.purchase_rows,
                self.purchase_conversions,
                self.bad_purchases,
                self.reporting_currency.as_deref().unwrap_or("-")
            )?;
            if self.purchase_item_rows + self.purchase_not_orders > 0 {
                writeln!(
                    f,
                    "                                 (line-item rows {}, not orders {})",
                    self.purchase_item_rows, self.purchase_not_orders
                )?;
            }
        }
        writeln!(
            f,
            "  privacy gate      {:>12}  keywords and {} landing paths folded into (other) (k = {}), {} rows redacted",
            self.folded_keywords, self.folded_landings, self.min_visitors, self.redacted_rows
        )?;
        if let Some(dp) = &self.dp {
            writeln!(
                f,
                "  differential privacy  ε = {}, δ = {:e}: {} rows released, {} contributions over the per-visitor bound dropped",
                dp.epsilon, dp.delta, dp.partitions_released, dp.contributions_dropped
            )?;
        }
        writeln!(
            f,
            "  days written      {:>12}  ({} rows)",
            self.days_written, self.rows_written
        )?;
        if !self.days_left_alone.is_empty() {
            writeln!(
                f,
                "  days left alone   {:>12}  ({}: lines outside every input's span; --replace-days writes them)",
                self.days_left_alone.len(),
                self.days_left_alone.join(", ")
            )?;
        }
        if self.site_hosts.is_empty() {
            writeln!(
                f,
                "  site hosts        none given or detected: use --site HOST, or links between your own pages count as referrals"
            )?;
        } else {
            writeln!(f, "  site hosts        {}", self.site_hosts.join(", "))?;
        }
        writeln!(
            f,
            "  elapsed           {:>11.2}s  ({:.0} lines/s)",
            self.elapsed_secs, self.lines_per_sec
        )?;
        if !self.problems.is_empty() {
            writeln!(f, "  first problems:")?;
            for p in &self.problems {
                writeln!(f, "    {p}")?;
            }
        }
        Ok(())
    }
}

/// The days of a run's input, and each input's span: the days from its first line to
/// its last, in file order.
#[derive(Debug, Default, Clone)]
pub struct Spans {
    pub days: BTreeSet<i32>,
    /// (first day, last day) of each input with lines.
    pub spans: Vec<(i32, i32)>,
}

impl Spans {
    /// Days of one input, in the order its lines had them.
    pub fn add_input(&mut self, ordered_days: impl IntoIterator<Item = i32>) {
        let mut first = None;
        let mut last = None;
        for d in ordered_days {
            first.get_or_insert(d);
            last = Some(d);
            self.days.insert(d);
        }
        if let (Some(a), Some(b)) = (first, last) {
            self.spans.push((a.min(b), a.max(b)));
        }
    }
}
