//! Ingest: runs the pipeline parse → classify → visits/attribution → store over a
//! set of log files and writes the days they cover. Returns a [`RunSummary`].

mod config;
#[cfg(feature = "cluster")]
pub mod distributed;
mod front;
pub mod join;
mod orders;
pub mod pipeline;
mod prescan;
pub mod purchases;
mod summary;
pub mod visits;

pub use config::IngestConfig;
pub(crate) use config::gate_k;
pub(crate) use front::*;
pub use summary::{RunSummary, Spans};

use orders::*;
use prescan::*;

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
    cfg.validate()?;
    let mut spec = FrontSpec::of(cfg);
    let mut sources = input::expand(&cfg.inputs)?;
    let log_format = if cfg.log_format == "auto" {
        spec.log_format = detect_format(&sources)?.to_string();
        format!("{} (detected)", spec.log_format)
    } else if crate::parse::FORMAT_NAMES.contains(&cfg.log_format.as_str()) {
        cfg.log_format.clone()
    } else {
        "custom".to_string()
    };
    let mut summary = RunSummary {
        log_format,
        ..RunSummary::default()
    };
    let mut front_parts = FrontParts::build(&spec)?;
    let store = Store::create(&cfg.store)?;

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
        #[cfg(feature = "cluster")]
        Some(url) => crate::ingest::distributed::log_pass(
            url,
            &store,
            crate::ingest::distributed::Job {
                cfg,
                spec,
                sources: &sources,
            },
            &mut summary,
            &mut days,
            &mut inputs,
        )?,
        #[cfg(not(feature = "cluster"))]
        Some(_) => return Err(crate::cluster::not_built("ingest --cluster")),
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
    if cfg.dp.is_some() {
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
                .spawn_scoped(s, || load_purchases(cfg, &key, front.classifier))
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
        cfg.settings(summary)?,
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
