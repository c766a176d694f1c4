//! Ingest: runs the pipeline parse → classify → visits/attribution → store over a
//! set of log files and writes the days they cover. Returns a [`RunSummary`].

mod config;
pub mod distributed;
mod front;
pub mod join;
pub mod pipeline;
pub mod purchases;
mod summary;
pub mod visits;

pub use config::IngestConfig;
pub(crate) use config::gate_k;
pub(crate) use front::*;
pub use summary::{RunSummary, Spans};

use crate::classify::keyword;
use crate::classify::{Classifier, canonical_host};
use crate::error::{Error, Result};
use crate::ingest::visits::{PageView, Sessionizer};
use crate::model::rollup::{Row, Segment};
use crate::parse::LogFormat;
use crate::parse::input::{self, LineReader, Source};
use crate::parse::time::{day_of, format_day};
use crate::privacy::{self, Visitors};
use crate::store::{InputRecord, LedgerEntry, Store};
use pipeline::{Front, Keyed};
use purchases::Fx;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::time::Instant;

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
        .is_some_and(|c| !crate::model::is_currency_code(c))
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
        Some(url) => crate::ingest::distributed::log_pass(
            url,
            &store,
            crate::ingest::distributed::Job {
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
        crate::import::search_console::recover(&mut writer, &write_days, 1)?;
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
    mut rollup: crate::model::rollup::Rollup,
    params: &crate::privacy::dp::DpParams,
) -> (Vec<crate::model::rollup::Row>, crate::privacy::dp::DpReport) {
    use crate::model::rollup::Interner;
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
    let units: Vec<Vec<((i32, u32), crate::model::rollup::Counts)>> = contributions
        .into_values()
        .map(|rows| {
            rows.into_iter()
                .map(|((day, dims), c)| ((params.period.start(day, run_start), partition(dims)), c))
                .collect()
        })
        .collect();
    let (released, report) =
        crate::privacy::dp::release(units, params, &mut crate::privacy::dp::secure_rng());
    let rows = released
        .into_iter()
        .map(|((day, pid), counts)| Row {
            day,
            channel: channels.get(pid).clone(),
            landing: crate::privacy::dp::ALL_LANDINGS.to_string(),
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
    let matched =
        crate::ingest::join::purchases_to_touches(&to_join, &touches, sessions.lookback())?;
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
    use std::path::PathBuf;

    #[test]
    fn history_problems_name_files_not_folders() {
        let cfg = IngestConfig {
            purchases: vec![crate::ingest::purchases::PurchaseSource {
                path: PathBuf::from("/srv/shop/orders.csv"),
                format: crate::ingest::purchases::PurchaseFormat::Csv,
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
