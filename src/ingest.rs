//! Ingest: runs the pipeline parse → classify → visits/attribution → store over a
//! set of log files and writes the days they cover. Returns a [`RunSummary`].

use crate::classify::engines::EngineTable;
use crate::classify::keyword;
use crate::classify::{Acquisition, Classifier, NOT_PROVIDED, canonical_host};
use crate::error::{Error, Result};
use crate::input::{self, LineReader, Source};
use crate::parse::time::{day_of, format_day};
use crate::parse::{CookieNames, LogFormat};
use crate::pipeline::{self, Front, Goal, Keyed, LineCounts};
use crate::privacy::{self, Visitors};
use crate::purchases::{self, Fx, PurchaseColumns, PurchaseSource};
use crate::rollup::{Row, Segment};
use crate::store::{InputRecord, LedgerEntry, Store};
use crate::visits::{Conversion, ConversionOutcome, PageView, Sessionizer};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

/// How many bad lines are reported by position; all are counted.
const MAX_REPORTED_PROBLEMS: usize = 10;
/// Idle visitors are forgotten at most this often (in lines read).
const MIN_EVICT_LINES: u64 = 65_536;

/// Everything `keyrank ingest` needs, validated.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub store: PathBuf,
    pub inputs: Vec<String>,
    pub log_format: String,
    pub json_fields: String,
    pub sites: Vec<String>,
    pub engines_files: Vec<PathBuf>,
    pub goals: Vec<String>,
    pub revenue_param: String,
    pub order_param: String,
    pub visitor_cookie: Option<String>,
    pub login_cookie: Option<String>,
    /// A cookie that carries the visitor's search term to the checkout.
    pub keyword_cookie: Option<String>,
    pub purchases: Vec<PurchaseSource>,
    pub purchase_cols: PurchaseColumns,
    pub fx_file: Option<PathBuf>,
    /// The reporting currency; default: the first currency seen.
    pub currency: Option<String>,
    /// k-visitor threshold: rarer keywords are folded into `(other)`; 1 disables.
    pub min_visitors: u64,
    pub timeout_secs: i64,
    pub lookback_secs: i64,
    /// Half-life of the time_decay model.
    pub half_life_secs: i64,
    /// Days before this are read as lookback context only.
    pub write_from: Option<i32>,
    /// Replace every day the input has lines for, also days outside each input's
    /// span (`--replace-days`); see [`writable_days`].
    pub replace_days: bool,
    /// How long to wait for another writer of the store (`--wait`).
    pub wait: std::time::Duration,
    /// Lines longer than this many bytes are malformed, and memory stays bounded.
    pub max_line: usize,
    /// A damaged or unreadable input stops the run before anything is written.
    pub strict: bool,
    pub progress: bool,
    /// Differential privacy (`--epsilon`): bounded, noisy, selected release.
    pub dp: Option<crate::dp::DpParams>,
    /// Parse-and-classify threads; 0 = one per core. Results do not depend on it.
    pub threads: usize,
    /// A Ballista scheduler (`df://HOST:PORT`): parse, classify and attribute on its
    /// executors instead of here. See [`crate::distributed`].
    pub cluster: Option<String>,
    /// Store each row's visitors as a mergeable sketch (`--visitor-sketches`); see
    /// [`crate::sketch`] for what that writes.
    pub visitor_sketches: bool,
}

impl IngestConfig {
    fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            store: PathBuf::from("store"),
            inputs: Vec::new(),
            log_format: "combined".into(),
            json_fields: String::new(),
            sites: Vec::new(),
            engines_files: Vec::new(),
            goals: Vec::new(),
            revenue_param: "revenue".into(),
            order_param: "order_id".into(),
            visitor_cookie: None,
            login_cookie: None,
            keyword_cookie: None,
            purchases: Vec::new(),
            purchase_cols: PurchaseColumns::default(),
            fx_file: None,
            currency: None,
            min_visitors: crate::privacy::DEFAULT_MIN_VISITORS,
            timeout_secs: crate::visits::DEFAULT_TIMEOUT_SECS,
            lookback_secs: crate::visits::DEFAULT_LOOKBACK_SECS,
            half_life_secs: crate::attribution::DEFAULT_HALF_LIFE_SECS,
            write_from: None,
            replace_days: false,
            wait: std::time::Duration::from_secs(crate::store::writer::DEFAULT_WAIT_SECS),
            max_line: crate::pipeline::DEFAULT_MAX_LINE,
            strict: false,
            progress: false,
            dp: None,
            threads: 0,
            cluster: None,
            visitor_sketches: false,
        }
    }
}

/// Counts of one run, printed on stderr and kept in the ledger.
#[derive(Debug, Default, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct RunSummary {
    pub lines_read: u64,
    pub parsed: u64,
    pub malformed: u64,
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
    pub search_visits_by_engine: BTreeMap<String, u64>,
    pub conversions: u64,
    pub unattributed: u64,
    pub duplicate_orders: u64,
    pub bad_revenue: u64,
    pub purchase_rows: u64,
    pub purchase_conversions: u64,
    pub bad_purchases: u64,
    pub reporting_currency: Option<String>,
    /// Rows whose keyword looked like personal data and became `(redacted)`.
    pub redacted_rows: u64,
    /// Keywords with fewer than `min_visitors` distinct visitors, folded into `(other)`.
    pub folded_keywords: u64,
    /// Landing paths with fewer than `min_visitors` distinct visitors, folded likewise.
    pub folded_landings: u64,
    pub min_visitors: u64,
    /// Under `--epsilon`: the budget spent and what the release did.
    pub dp: Option<crate::dp::DpReport>,
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
    pub(crate) fn add_visit_counts(&mut self, o: &RunSummary) {
        self.visits += o.visits;
        self.direct_visits += o.direct_visits;
        self.search_visits += o.search_visits;
        self.keyword_visits += o.keyword_visits;
        self.not_provided_visits += o.not_provided_visits;
        self.campaign_visits += o.campaign_visits;
        self.referral_visits += o.referral_visits;
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
        writeln!(f, "  lines read        {:>12}", self.lines_read)?;
        writeln!(f, "  parsed            {:>12}", self.parsed)?;
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
            "  visits            {:>12}  (search {}, campaign {}, referral {}, direct {})",
            self.visits,
            self.search_visits,
            self.campaign_visits,
            self.referral_visits,
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

/// Runs an ingest. Progress (when enabled) goes to stderr; the summary is returned.
pub fn run(cfg: &IngestConfig) -> Result<RunSummary> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if cfg.inputs.is_empty() {
        return Err(Error::usage("no input files given (use - for stdin)"));
    }
    if cfg
        .currency
        .as_deref()
        .is_some_and(|c| !crate::purchases::is_currency_code(c))
    {
        return Err(Error::usage(
            "--currency: expected a three-letter ISO 4217 code such as EUR",
        ));
    }
    if cfg.visitor_sketches && cfg.dp.is_some() {
        return Err(Error::usage(
            "--visitor-sketches would count visitors beside a differentially private \
             release: use one or the other",
        ));
    }
    if cfg.cluster.is_some() {
        if !cfg.purchases.is_empty() {
            return Err(Error::usage(
                "--purchases cannot be joined on a cluster yet: ingest them without --cluster",
            ));
        }
        if cfg.dp.is_some() {
            return Err(Error::usage(
                "--epsilon is not available with --cluster yet: ingest without --cluster",
            ));
        }
    }
    let mut spec = FrontSpec::of(cfg);
    let mut front_parts = FrontParts::build(&spec)?;
    let mut sources = input::expand(&cfg.inputs)?;
    let store = Store::create(&cfg.store)?;

    let mut summary = RunSummary::default();
    let scan = prescan(
        &sources,
        &front_parts.format,
        &front_parts.classifier,
        cfg.sites.is_empty(),
    )?;
    order_by_first_time(&mut sources, &scan.first_ts);
    if cfg.sites.is_empty()
        && let Some(host) = scan.likely_site_host()
    {
        front_parts.classifier.add_site_host(&host);
    }
    summary.site_hosts = front_parts
        .classifier
        .site_hosts()
        .iter()
        .cloned()
        .collect();
    summary.site_hosts.sort();
    spec.sites = summary.site_hosts.clone();

    let key = Keyed::random();
    let mut days = Spans::default();
    let mut inputs = Vec::new();
    let (rows, gate) = match &cfg.cluster {
        Some(url) => crate::distributed::log_pass(
            url,
            &store,
            crate::distributed::Job {
                cfg,
                spec,
                sources: &sources,
                key,
            },
            &mut summary,
            &mut days,
            &mut inputs,
        )?,
        None => local_pass(
            cfg,
            &sources,
            &front_parts.front(&spec, key),
            &mut summary,
            &mut days,
            &mut inputs,
        )?,
    };
    summary.redacted_rows = gate.redacted_rows;
    summary.folded_keywords = gate.folded_keywords;
    summary.folded_landings = gate.folded_landings;
    summary.min_visitors = gate_k(cfg);
    if cfg.strict && summary.damaged_files > 0 {
        return Err(Error::Other(format!(
            "--strict: {} input(s) damaged or unreadable ({}); nothing was written",
            summary.damaged_files,
            summary.damaged.join("; ")
        )));
    }
    let (write_days, left_alone) = writable_days(&days, cfg);
    summary.days_left_alone = left_alone.iter().map(|d| format_day(*d)).collect();
    // The store's lock is taken for the write only, so a second ingest parses while
    // the first one writes, and commits after it.
    let mut writer = store.writer(cfg.wait)?;
    summary.days_written = crate::store::write_days(&mut writer, &write_days, &rows)? as u64;
    // Rewritten days lose their estimated rows: recompute them from Search Console data.
    if !write_days.is_empty() {
        crate::search_console::recover(&mut writer, &write_days, 1)?;
    }
    summary.rows_written = rows.len() as u64;
    summary.elapsed_secs = started.elapsed().as_secs_f64();
    summary.lines_per_sec = summary.lines_read as f64 / summary.elapsed_secs.max(1e-9);
    let entry = ledger(
        cfg,
        &writer,
        started_at,
        inputs,
        &sources,
        &write_days,
        &summary,
    )?;
    writer.commit(entry)?;
    Ok(summary)
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

/// Which days a run replaces. A day is replaced when the input has lines on it, it is
/// on or after `--write-from`, and it lies within some input's span (from the day of
/// its first line to the day of its last): a few stray lines dated outside every span
/// never wipe a stored day. Such days are returned second, and `--replace-days`
/// replaces them too.
pub fn writable_days(days: &Spans, cfg: &IngestConfig) -> (Vec<i32>, Vec<i32>) {
    let mut write = Vec::new();
    let mut alone = Vec::new();
    for &d in &days.days {
        if cfg.write_from.is_some_and(|from| d < from) {
            continue;
        }
        let covered = days.spans.iter().any(|&(a, b)| a <= d && d <= b);
        if covered || cfg.replace_days {
            write.push(d);
        } else {
            alone.push(d);
        }
    }
    (write, alone)
}

/// The log pass on this machine: parse and classify on worker threads, visits and
/// attribution in input order here, purchases joined after; then the privacy gate
/// (or the DP release). Returns the rows to write.
fn local_pass(
    cfg: &IngestConfig,
    sources: &[Source],
    front: &Front,
    summary: &mut RunSummary,
    days: &mut Spans,
    inputs: &mut Vec<InputRecord>,
) -> Result<(Vec<Row>, privacy::GateReport)> {
    let key = front.key;
    let mut sessions = VisitSettings::of(cfg).sessionizer();
    if !cfg.purchases.is_empty() {
        sessions.record_touches();
    }
    if let Some(dp) = &cfg.dp {
        dp.validate()?;
        sessions.rollup.contributions = Some(Default::default());
    }
    let mut visitors = Visitors::capped(gate_k(cfg));
    let progress = progress_bar(cfg.progress);
    let names: Vec<String> = sources.iter().map(Source::display).collect();
    let mut line_counts = vec![0u64; sources.len()];
    let mut first_last: Vec<Option<(i32, i32)>> = vec![None; sources.len()];
    let mut last_eviction = 0u64;
    // Purchase files are read on their own thread while the log is ingested.
    let (loaded, logs) = std::thread::scope(|s| {
        let loader = (!cfg.purchases.is_empty()).then(|| {
            std::thread::Builder::new()
                .name("keyrank-purchases".into())
                .spawn_scoped(s, || load_purchases(cfg, &key))
        });
        let logs = pipeline::run(sources, front, cfg.worker_threads(), |batch| {
            let src = batch.source;
            let base = line_counts[src];
            for &(line, reason) in &batch.problems {
                summary.problem(&names[src], base + line, reason);
            }
            line_counts[src] += batch.lines;
            summary.lines_read += batch.lines;
            progress.set_message(format!("{} lines", summary.lines_read));
            evict_when_due(&mut sessions, summary.lines_read, &mut last_eviction);
            summary.add_counts(&batch.counts);
            for &d in &batch.days {
                first_last[src].get_or_insert((d, d)).1 = d;
                days.days.insert(d);
            }
            for view in &batch.views {
                let pv = PageView {
                    visitor: view.visitor,
                    ts: view.ts,
                    acquisition: &view.acquisition,
                    landing: batch.landing(view),
                    segment: view.segment,
                };
                take_view(
                    &mut sessions,
                    summary,
                    &mut visitors,
                    &pv,
                    view.goal.as_ref(),
                );
            }
            if let Some(end) = batch.end.take() {
                if let Some(why) = &end.damaged {
                    summary.damaged(&names[src], why);
                }
                inputs.push(InputRecord {
                    name: input_name(&sources[src]),
                    bytes: end.bytes,
                    fingerprint: end.fingerprint,
                    lines: line_counts[src],
                });
            }
            Ok(())
        });
        let loaded = loader.map(|spawned| {
            spawned
                .map_err(|e| Error::Other(format!("cannot start the purchase reader: {e}")))?
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
        (loaded.transpose(), logs)
    });
    logs?;
    progress.finish_and_clear();
    days.spans.extend(
        first_last
            .into_iter()
            .flatten()
            .map(|(a, b)| (a.min(b), a.max(b))),
    );
    if let Some(loaded) = loaded? {
        ingest_purchases(
            loaded,
            &mut sessions,
            summary,
            days,
            &mut visitors,
            cfg.worker_threads(),
        )?;
    }

    Ok(match &cfg.dp {
        // DP partition selection replaces the k-visitor threshold.
        Some(params) => {
            let (rows, report) = dp_rows(sessions.rollup, params);
            summary.dp = Some(report);
            privacy::gate(rows, &visitors, 1)
        }
        None => privacy::gate(sessions.rollup.into_rows(), &visitors, gate_k(cfg)),
    })
}

/// The k of the visitor threshold: `--min-visitors`, or 1 under DP (partition selection
/// replaces it).
pub(crate) fn gate_k(cfg: &IngestConfig) -> u64 {
    if cfg.dp.is_some() {
        1
    } else {
        cfg.min_visitors
    }
}

/// An input's name in the ledger: its file name (no folder), or `-`.
pub(crate) fn input_name(source: &Source) -> String {
    match source {
        Source::Stdin => "-".into(),
        Source::File(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// One page view through visits and attribution, and its goal when it is a goal hit.
/// Every ingest, embedded or on a cluster's executors, runs its hits through this.
pub(crate) fn take_view(
    sessions: &mut Sessionizer,
    summary: &mut RunSummary,
    visitors: &mut Visitors,
    pv: &PageView,
    goal: Option<&Goal>,
) {
    let visitor = pv.visitor;
    if sessions.page_view(pv) {
        count_visit(summary, pv.acquisition);
        visitors.landings.add(pv.landing, visitor);
        if let Acquisition::External(c) = pv.acquisition
            && let Some(kw) = &c.keyword
        {
            visitors.keywords.add(kw, visitor);
        }
    }
    let Some(goal) = goal else {
        return;
    };
    summary.conversions += 1;
    let conversion = Conversion {
        order: goal.conversion.order,
        cents: admitted_cents(sessions, summary, goal.conversion.cents),
    };
    let outcome = match &goal.term {
        Some(term) if sessions.claim_order(conversion.order) => {
            visitors.keywords.add(term, visitor);
            sessions.rollup.unit = visitor;
            sessions.credit_keyword(pv.ts, term.clone(), conversion.cents);
            ConversionOutcome::Attributed
        }
        Some(_) => ConversionOutcome::DuplicateOrder,
        None => sessions.conversion(visitor, pv.ts, &conversion),
    };
    match outcome {
        ConversionOutcome::Attributed => {}
        ConversionOutcome::Unattributed => summary.unattributed += 1,
        ConversionOutcome::DuplicateOrder => {
            summary.conversions -= 1;
            summary.duplicate_orders += 1;
        }
    }
}

/// Forgets idle visitors once `progress` (lines or hits) has moved on by as many as
/// there are visitors: eviction walks them all, so this keeps it linear.
pub(crate) fn evict_when_due(sessions: &mut Sessionizer, progress: u64, last: &mut u64) {
    if progress - *last >= (sessions.visitor_count() as u64).max(MIN_EVICT_LINES) {
        *last = progress;
        sessions.evict_idle();
    }
}

/// The settings of visits and attribution; a distributed ingest ships them to the
/// executors that run its buckets.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub(crate) struct VisitSettings {
    timeout_secs: i64,
    lookback_secs: i64,
    half_life_secs: i64,
    write_from: Option<i32>,
    sketches: bool,
    /// The privacy gate's k: visitor counts per keyword and landing stop there.
    pub gate_k: u64,
}

impl VisitSettings {
    pub fn of(cfg: &IngestConfig) -> Self {
        VisitSettings {
            timeout_secs: cfg.timeout_secs,
            lookback_secs: cfg.lookback_secs,
            half_life_secs: cfg.half_life_secs,
            write_from: cfg.write_from,
            sketches: cfg.visitor_sketches,
            gate_k: gate_k(cfg),
        }
    }

    /// A sessionizer with these settings, empty.
    pub fn sessionizer(&self) -> Sessionizer {
        let mut sessions = Sessionizer::new(
            self.timeout_secs,
            self.lookback_secs,
            self.half_life_secs,
            self.write_from,
        );
        sessions.rollup.sketches = self.sketches;
        sessions
    }
}

/// The settings a run's front (log format, cookies, classifier, goals) is built from;
/// a distributed ingest ships them to the executors.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct FrontSpec {
    pub log_format: String,
    pub json_fields: String,
    pub visitor_cookie: Option<String>,
    pub keyword_cookie: Option<String>,
    pub login_cookie: Option<String>,
    pub engines_files: Vec<PathBuf>,
    /// The site's own hosts (given, or detected by the prescan).
    pub sites: Vec<String>,
    pub goals: Vec<String>,
    pub revenue_param: String,
    pub order_param: String,
    /// Lines longer than this are malformed (`--max-line`).
    pub max_line: usize,
}

impl FrontSpec {
    fn of(cfg: &IngestConfig) -> Self {
        FrontSpec {
            log_format: cfg.log_format.clone(),
            json_fields: cfg.json_fields.clone(),
            visitor_cookie: cfg.visitor_cookie.clone(),
            keyword_cookie: cfg.keyword_cookie.clone(),
            login_cookie: cfg.login_cookie.clone(),
            engines_files: cfg.engines_files.clone(),
            sites: cfg.sites.clone(),
            goals: cfg.goals.clone(),
            revenue_param: cfg.revenue_param.clone(),
            max_line: cfg.max_line,
            order_param: cfg.order_param.clone(),
        }
    }
}

/// What a [`FrontSpec`] builds: the cookie slots, the log format and the classifier.
pub(crate) struct FrontParts {
    cookies: CookieNames,
    visitor_slot: Option<usize>,
    keyword_slot: Option<usize>,
    login_slot: Option<usize>,
    pub format: LogFormat,
    pub classifier: Classifier,
}

impl FrontParts {
    pub fn build(spec: &FrontSpec) -> Result<Self> {
        let mut cookies = CookieNames::default();
        let mut slot = |name: &Option<String>| name.as_deref().map(|n| cookies.add(n)).transpose();
        let visitor_slot = slot(&spec.visitor_cookie)?;
        let keyword_slot = slot(&spec.keyword_cookie)?;
        let login_slot = slot(&spec.login_cookie)?;
        let format = LogFormat::from_spec(&spec.log_format, &spec.json_fields, &cookies)?;
        let mut engines = EngineTable::builtin();
        for f in &spec.engines_files {
            engines.extend_from_matomo_file(f)?;
        }
        Ok(FrontParts {
            cookies,
            visitor_slot,
            keyword_slot,
            login_slot,
            format,
            classifier: Classifier::new(engines, &spec.sites),
        })
    }

    pub fn front<'a>(&'a self, spec: &'a FrontSpec, key: Keyed) -> Front<'a> {
        Front {
            format: &self.format,
            classifier: &self.classifier,
            cookies: &self.cookies,
            goals: &spec.goals,
            revenue_param: &spec.revenue_param,
            order_param: &spec.order_param,
            visitor_slot: self.visitor_slot,
            keyword_slot: self.keyword_slot,
            login_slot: self.login_slot,
            key,
            max_line: spec.max_line,
        }
    }
}

/// The run's record in the store's history.
fn ledger(
    cfg: &IngestConfig,
    writer: &crate::store::Writer,
    started_at: String,
    inputs: Vec<InputRecord>,
    sources: &[Source],
    write_days: &[i32],
    summary: &RunSummary,
) -> Result<LedgerEntry> {
    Ok(LedgerEntry::of_command(
        writer,
        "ingest",
        started_at,
        inputs,
        write_days.iter().copied(),
        serde_json::json!({
            "log_format": cfg.log_format,
            "sites": summary.site_hosts,
            "engines_files": cfg.engines_files.iter().filter_map(|p| p.file_name()).map(|n| n.to_string_lossy()).collect::<Vec<_>>(),
            "goals": cfg.goals,
            "revenue_param": cfg.revenue_param,
            "order_param": cfg.order_param,
            "visitor_cookie": cfg.visitor_cookie.is_some(),
            "keyword_cookie": cfg.keyword_cookie.is_some(),
            "purchases": cfg.purchases.iter().filter_map(|p| p.path.file_name()).map(|n| n.to_string_lossy()).collect::<Vec<_>>(),
            "reporting_currency": summary.reporting_currency,
            "timeout_secs": cfg.timeout_secs,
            "lookback_secs": cfg.lookback_secs,
            "half_life_secs": cfg.half_life_secs,
            "write_from": cfg.write_from.map(format_day),
            "replace_days": cfg.replace_days,
            "min_visitors": summary.min_visitors,
            "dp": cfg.dp,
            "epsilon_spent": cfg.dp.as_ref().map(|d| d.epsilon),
            "cluster": cfg.cluster.is_some(),
            "visitor_sketches": cfg.visitor_sketches,
        }),
        // Under DP the store keeps only noisy numbers: no exact counts in the ledger.
        match &summary.dp {
            Some(dp) => serde_json::json!({ "dp": dp, "rows_written": summary.rows_written }),
            None => {
                // The history names input files, never their folders.
                let mut named = summary.clone();
                named.problems = with_file_names(&summary.problems, cfg, sources);
                serde_json::to_value(named).map_err(|e| Error::Other(e.to_string()))?
            }
        },
    ))
}

/// Problems as the summary printed them (`dir/access.log:12: reason`, `dir/a.gz:
/// damaged …`), each input's path replaced by its file name (`access.log:12: reason`).
fn with_file_names(problems: &[String], cfg: &IngestConfig, sources: &[Source]) -> Vec<String> {
    let mut names: Vec<(String, String)> = sources
        .iter()
        .map(|s| (s.display(), input_name(s)))
        .chain(cfg.purchases.iter().map(|p| {
            let name = p.path.file_name().map(|n| n.to_string_lossy().into_owned());
            (p.path.display().to_string(), name.unwrap_or_default())
        }))
        .collect();
    // A path that is a prefix of another must not match the other's problems.
    names.sort_by_key(|(path, _)| std::cmp::Reverse(path.len()));
    problems
        .iter()
        .map(|p| {
            names
                .iter()
                .find_map(|(path, name)| {
                    p.strip_prefix(path.as_str())
                        .filter(|rest| rest.starts_with(':'))
                        .map(|rest| format!("{name}{rest}"))
                })
                .unwrap_or_else(|| p.clone())
        })
        .collect()
}

/// The DP release of a run: each privacy unit's contributions are mapped to
/// (day, channel) partitions, with personal-looking terms redacted first so a
/// selected partition can never carry one, then bounded, selected and noised.
fn dp_rows(
    mut rollup: crate::rollup::Rollup,
    params: &crate::dp::DpParams,
) -> (Vec<crate::rollup::Row>, crate::dp::DpReport) {
    use crate::rollup::Interner;
    let contributions = rollup.contributions.take().unwrap_or_default();
    let run_start = contributions
        .values()
        .flat_map(|rows| rows.keys().map(|(day, _)| *day))
        .min()
        .unwrap_or(0);
    let mut channels: Interner<crate::classify::Channel> = Interner::default();
    let mut partition_of: rustc_hash::FxHashMap<u32, u32> = Default::default();
    let mut partition = |dims: u32| -> u32 {
        *partition_of.entry(dims).or_insert_with(|| {
            let mut c = rollup.channels.get(rollup.dims_key(dims).channel).clone();
            privacy::scrub_channel(&mut c);
            channels.intern(&c)
        })
    };
    let units: Vec<Vec<((i32, u32), crate::rollup::Counts)>> = contributions
        .into_values()
        .map(|rows| {
            rows.into_iter()
                .map(|((day, dims), c)| ((params.period.start(day, run_start), partition(dims)), c))
                .collect()
        })
        .collect();
    let (released, report) = crate::dp::release(units, params, &mut crate::dp::secure_rng());
    let rows = released
        .into_iter()
        .map(|((day, pid), counts)| Row {
            day,
            channel: channels.get(pid).clone(),
            landing: crate::dp::ALL_LANDINGS.to_string(),
            segment: Segment::All,
            counts,
            estimated: false,
            sketch: None,
        })
        .collect();
    (rows, report)
}

/// The purchase files of a run, read, converted to the reporting currency, keyed
/// and sorted by time: everything that does not need the log's visits, done on the
/// loader thread while the log is ingested.
struct LoadedPurchases {
    orders: Vec<Order>,
    reporting_currency: Option<String>,
    /// (file, line, reason) of each bad row, in file order.
    bad: Vec<(String, u64, String)>,
}

/// One valid purchase row; identifiers are keyed hashes, never the values.
#[derive(Default)]
struct Order {
    ts: i64,
    cents: i64,
    /// The order id, when the row has one: counted once across all sources.
    order: Option<u64>,
    /// The privacy unit of a row without a known visitor: its order, else the row.
    unit: u64,
    visitor: Option<u64>,
    /// The normalised keyword column.
    term: Option<String>,
    /// An earlier row of the purchase files has the same order id.
    duplicate: bool,
}

fn load_purchases(cfg: &IngestConfig, key: &Keyed) -> Result<LoadedPurchases> {
    let mut fx = match &cfg.fx_file {
        Some(p) => Fx::load(p, cfg.currency.clone())?,
        None => Fx {
            reporting: cfg.currency.as_ref().map(|c| c.to_ascii_uppercase()),
            ..Fx::default()
        },
    };
    let mut orders = Vec::new();
    let mut bad = Vec::new();
    for (file, src) in cfg.purchases.iter().enumerate() {
        let name = src.path.display().to_string();
        let mut on_bad = |line: u64, reason: String| bad.push((name.clone(), line, reason));
        let rows = purchases::read(src, &cfg.purchase_cols, &mut fx, &mut on_bad)?;
        orders.extend(rows.into_iter().map(|p| {
            let order = p.order.as_deref().map(|o| key.hash(&[b"o", o.as_bytes()]));
            Order {
                ts: p.ts,
                cents: p.cents,
                order,
                unit: order.unwrap_or_else(|| {
                    key.hash(&[b"p", &(file as u64).to_le_bytes(), &p.line.to_le_bytes()])
                }),
                visitor: p
                    .visitor
                    .as_deref()
                    .map(|v| key.hash(&[b"c", v.as_bytes()])),
                term: p
                    .keyword
                    .as_deref()
                    .and_then(|k| keyword::normalize(k.as_bytes(), None)),
                duplicate: false,
            }
        }));
    }
    // Oldest first, file order on ties: sort (time, row) keys, not the rows.
    let mut by_time: Vec<(i64, u32)> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| (o.ts, i as u32))
        .collect();
    by_time.sort_unstable();
    let mut orders: Vec<Order> = by_time
        .iter()
        .map(|&(_, i)| std::mem::take(&mut orders[i as usize]))
        .collect();
    // An order id repeated in the purchase files counts once, at its oldest row:
    // sorting (id, position) puts that row first among its twins.
    let mut ids: Vec<(u64, u32)> = orders
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.order.map(|id| (id, i as u32)))
        .collect();
    ids.sort_unstable();
    for pair in ids.windows(2) {
        if pair[0].0 == pair[1].0 {
            orders[pair[1].1 as usize].duplicate = true;
        }
    }
    Ok(LoadedPurchases {
        orders,
        reporting_currency: fx.reporting,
        bad,
    })
}

/// The cents of a conversion as credited: all of them, or none (a bad revenue value,
/// counted) when they would take the run's revenue past the store's range.
fn admitted_cents(sessions: &mut Sessionizer, summary: &mut RunSummary, cents: i64) -> i64 {
    if sessions.admit_revenue(cents) {
        cents
    } else {
        summary.bad_revenue += 1;
        0
    }
}

/// Purchase files: each order counted once across all sources; credited to its
/// keyword column when it has one, else joined (in DataFusion) to the touches of its
/// visitor, else `(unattributed)`.
fn ingest_purchases(
    loaded: LoadedPurchases,
    sessions: &mut Sessionizer,
    summary: &mut RunSummary,
    days: &mut Spans,
    visitors: &mut Visitors,
    threads: usize,
) -> Result<()> {
    let LoadedPurchases {
        orders,
        reporting_currency,
        bad,
    } = loaded;
    for (name, line, reason) in &bad {
        summary.bad_purchases += 1;
        summary.problem(name, *line, reason);
    }
    summary.reporting_currency = reporting_currency;
    summary.purchase_rows = orders.len() as u64 + summary.bad_purchases;
    let empty_landing = sessions.rollup.landings.intern_str("");
    let mut to_join: Vec<(i64, i64, u64)> = Vec::new();
    let mut last_day = None;
    let mut purchase_span = None;
    for p in orders {
        // Purchase rows come after the whole log: only the log's goal hits and
        // earlier rows (marked by the loader) can have claimed the order.
        if p.duplicate || p.order.is_some_and(|o| sessions.order_claimed(o)) {
            summary.duplicate_orders += 1;
            continue;
        }
        let day = day_of(p.ts);
        if last_day != Some(day) {
            days.days.insert(day);
            last_day = Some(day);
            // Purchase files are inputs too: their days, first to last, are covered.
            purchase_span = Some(
                purchase_span.map_or((day, day), |(a, b): (i32, i32)| (a.min(day), b.max(day))),
            );
        }
        summary.conversions += 1;
        summary.purchase_conversions += 1;
        let cents = admitted_cents(sessions, summary, p.cents);
        if let Some(term) = p.term {
            // No visitor is known: each order stands for one.
            visitors.keywords.add(&term, p.unit);
            sessions.rollup.unit = p.unit;
            sessions.credit_keyword(p.ts, term, cents);
        } else if let Some(visitor) = p.visitor {
            to_join.push((p.ts, cents, visitor));
        } else {
            summary.unattributed += 1;
            sessions.rollup.unit = p.unit;
            sessions.credit_unattributed(p.ts, cents, empty_landing, Segment::Anonymous);
        }
    }
    days.spans.extend(purchase_span);
    let touches = sessions.take_touch_log();
    let matched = crate::join::purchases_to_touches(&to_join, &touches, sessions.lookback())?;
    let per_unit = sessions.rollup.contributions.is_some();
    let mut attributed = Vec::with_capacity(to_join.len());
    for (i, &(ts, cents, visitor)) in to_join.iter().enumerate() {
        sessions.rollup.unit = visitor;
        let window = matched.get(i);
        if window.is_empty() {
            summary.unattributed += 1;
            sessions.credit_unattributed(ts, cents, empty_landing, Segment::Anonymous);
        } else if per_unit {
            sessions.credit_touches(ts, window, cents);
        } else {
            attributed.push((ts, cents, window));
        }
    }
    sessions.credit_touches_many(&attributed, threads);
    Ok(())
}

fn count_visit(summary: &mut RunSummary, acquisition: &Acquisition) {
    summary.visits += 1;
    match acquisition {
        Acquisition::Direct | Acquisition::Internal => summary.direct_visits += 1,
        Acquisition::External(c) if c.is_organic_search() => {
            summary.search_visits += 1;
            match summary.search_visits_by_engine.get_mut(&c.source) {
                Some(n) => *n += 1,
                None => {
                    summary.search_visits_by_engine.insert(c.source.clone(), 1);
                }
            }
            if c.keyword.as_deref() == Some(NOT_PROVIDED) {
                summary.not_provided_visits += 1;
            } else {
                summary.keyword_visits += 1;
            }
        }
        Acquisition::External(c) if c.medium == "referral" => summary.referral_visits += 1,
        Acquisition::External(_) => summary.campaign_visits += 1,
    }
}

/// What a quick look at the start of each input tells: its first timestamp (to read
/// rotated files oldest first) and which referrer hosts dominate (the site's own).
struct Prescan {
    first_ts: Vec<Option<i64>>,
    referrer_hosts: HashMap<String, u64>,
    referrers: u64,
}

const PRESCAN_LINES: usize = 20_000;

/// Reads the head of each input: its first time stamp (to order rotated files) and,
/// when `find_site` is set, the referrer hosts of up to [`PRESCAN_LINES`] lines.
fn prescan(
    sources: &[Source],
    format: &LogFormat,
    classifier: &Classifier,
    find_site: bool,
) -> Result<Prescan> {
    let mut scan = Prescan {
        first_ts: Vec::new(),
        referrer_hosts: HashMap::new(),
        referrers: 0,
    };
    for source in sources {
        if *source == Source::Stdin {
            scan.first_ts.push(None);
            continue;
        }
        // An input that cannot be opened or read here is named and counted by the log
        // pass, which reads what it can of it; the look ahead just stops.
        let Ok(opened) = input::open(source) else {
            scan.first_ts.push(None);
            continue;
        };
        let mut reader = LineReader::new(opened);
        let mut parser = format.parser();
        let mut first = None;
        let budget = if scan.referrers == 0 {
            PRESCAN_LINES
        } else {
            200
        };
        for _ in 0..budget {
            let Ok(Some(line)) = reader.next_line() else {
                break;
            };
            let Ok(hit) = parser.parse(line) else {
                continue;
            };
            first.get_or_insert(hit.ts);
            if !find_site {
                break;
            }
            if budget < PRESCAN_LINES || classifier.exclusion(&hit, false).is_some() {
                continue;
            }
            if let Some(r) = hit.referer()
                && let Some(url) = crate::classify::RefUrl::parse(r)
                && classifier.engines().lookup(&url.host).is_none()
            {
                scan.referrers += 1;
                *scan
                    .referrer_hosts
                    .entry(canonical_host(&url.host))
                    .or_default() += 1;
            }
        }
        scan.first_ts.push(first);
    }
    Ok(scan)
}

impl Prescan {
    /// The referrer host behind at least 30% of the referred page views, if any: on a
    /// site's own log that is the site itself (people clicking from page to page).
    fn likely_site_host(&self) -> Option<String> {
        let (host, n) = self.referrer_hosts.iter().max_by_key(|(h, n)| (**n, *h))?;
        (*n * 10 >= self.referrers * 3 && *n >= 5).then(|| host.clone())
    }
}

/// Oldest input first, so visits and lookback run forward in time across rotated files.
fn order_by_first_time(sources: &mut [Source], first_ts: &[Option<i64>]) {
    let mut keyed: Vec<(Option<i64>, usize, Source)> = sources
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (first_ts[i], i, s))
        .collect();
    keyed.sort_by_key(|(ts, i, _)| (ts.unwrap_or(i64::MAX), *i));
    for (slot, (_, _, s)) in sources.iter_mut().zip(keyed) {
        *slot = s;
    }
}

fn progress_bar(enabled: bool) -> indicatif::ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_problems_name_files_not_folders() {
        let cfg = IngestConfig {
            purchases: vec![crate::purchases::PurchaseSource {
                path: PathBuf::from("/srv/shop/orders.csv"),
                format: crate::purchases::PurchaseFormat::Csv,
            }],
            ..IngestConfig::default()
        };
        let sources = [
            Source::File(PathBuf::from("/var/log/a.log")),
            Source::File(PathBuf::from("/var/log/a.log.1.gz")),
        ];
        let problems = [
            "/var/log/a.log:12: bad time".to_string(),
            "/var/log/a.log.1.gz: damaged after 40 bytes (incomplete deflate stream)".into(),
            "/srv/shop/orders.csv:3: bad revenue".into(),
        ];
        assert_eq!(
            with_file_names(&problems, &cfg, &sources),
            [
                "a.log:12: bad time",
                "a.log.1.gz: damaged after 40 bytes (incomplete deflate stream)",
                "orders.csv:3: bad revenue"
            ]
        );
    }
}
