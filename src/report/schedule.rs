//! The report scheduler: a tokio loop that runs each report on its cron (in its time
//! zone), logs every run, keeps going when one fails, catches up at most one missed
//! run after downtime, and stops cleanly on shutdown (a running report finishes; its
//! files are renamed into place only when complete).

use crate::report::{Config, ReportSpec, RunOutcome};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Time as the scheduler sees it: a fixed start plus tokio's monotonic clock, so tests
/// drive it with `tokio::time::pause()` and real runs with the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start_utc: DateTime<Utc>,
    start: tokio::time::Instant,
}

impl Clock {
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Clock {
            start_utc: now,
            start: tokio::time::Instant::now(),
        }
    }

    pub fn system() -> Self {
        Clock::starting_at(Utc::now())
    }

    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = tokio::time::Instant::now() - self.start;
        self.start_utc + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    pub async fn sleep_until(&self, t: DateTime<Utc>) {
        let wait = (t - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
    }
}

/// Runs one report as of a date; injected so tests can count and fail runs.
pub type Runner = Arc<dyn Fn(&ReportSpec, NaiveDate) -> crate::Result<RunOutcome> + Send + Sync>;

/// The production runner: renders the report from the store.
pub fn store_runner(cfg: Arc<Config>) -> Runner {
    Arc::new(move |spec, as_of| crate::report::run_report(&cfg, spec, as_of))
}

/// The next fire time of `spec` strictly after `after`.
pub fn next_fire(spec: &ReportSpec, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = spec.cron.as_ref()?;
    let local = after.with_timezone(&spec.timezone);
    cron.find_next_occurrence(&local, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The last fire time of `spec` at or before `at`.
pub fn previous_fire(spec: &ReportSpec, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = spec.cron.as_ref()?;
    let local = at.with_timezone(&spec.timezone);
    cron.find_previous_occurrence(&local, true)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The next `n` fire times, for `--dry-run`.
pub fn upcoming(spec: &ReportSpec, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = from;
    while out.len() < n {
        match next_fire(spec, t) {
            Some(next) => {
                out.push(next);
                t = next;
            }
            None => break,
        }
    }
    out
}

/// When each report last ran, kept beside the config so a restart knows what it missed.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleState {
    pub last_fire: BTreeMap<String, DateTime<Utc>>,
}

impl ScheduleState {
    pub fn load(path: &std::path::Path) -> Self {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    fn save(&self, path: &std::path::Path) {
        if let Ok(text) = serde_json::to_string_pretty(self) {
            let _ = crate::report::write_atomic(path, text.as_bytes());
        }
    }
}

/// One line of the run log.
#[derive(Debug, Clone, PartialEq)]
pub struct RunLog {
    pub report: String,
    pub fire: DateTime<Utc>,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub result: Result<RunOutcome, String>,
    pub catch_up: bool,
}

impl std::fmt::Display for RunLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = (self.finished - self.started).num_milliseconds() as f64 / 1000.0;
        let kind = if self.catch_up { " (catch-up)" } else { "" };
        match &self.result {
            Ok(o) => write!(
                f,
                "{} report {}{kind}: start {} end {} ({secs:.2}s), {} rows, outputs: {}",
                self.fire.to_rfc3339(),
                self.report,
                self.started.to_rfc3339(),
                self.finished.to_rfc3339(),
                o.rows,
                o.outputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => write!(
                f,
                "{} report {}{kind}: start {} end {} ({secs:.2}s), error: {e}",
                self.fire.to_rfc3339(),
                self.report,
                self.started.to_rfc3339(),
                self.finished.to_rfc3339()
            ),
        }
    }
}

/// Runs the schedule until `shutdown` resolves. Every run is passed to `log`.
pub async fn run(
    reports: Vec<ReportSpec>,
    runner: Runner,
    clock: Clock,
    state_path: Option<PathBuf>,
    mut log: impl FnMut(&RunLog),
    shutdown: impl std::future::Future<Output = ()>,
) {
    let mut state = state_path
        .as_deref()
        .map(ScheduleState::load)
        .unwrap_or_default();
    let reports: Vec<ReportSpec> = reports.into_iter().filter(|r| r.cron.is_some()).collect();
    let start = clock.now();
    // Catch up at most one missed run per report: the latest fire time it slept through.
    let mut next: Vec<Option<DateTime<Utc>>> = Vec::new();
    let mut pending_catch_up: Vec<Option<DateTime<Utc>>> = Vec::new();
    for r in &reports {
        let missed = match (state.last_fire.get(&r.name), previous_fire(r, start)) {
            (Some(last), Some(prev)) if prev > *last => Some(prev),
            _ => None,
        };
        pending_catch_up.push(missed);
        next.push(next_fire(r, start));
    }
    tokio::pin!(shutdown);
    // Polled without waiting: registers the signal handlers at once, and tells whether a
    // stop was asked for while a report ran (that report finished first).
    macro_rules! stop_asked {
        () => {
            tokio::select! {
                biased;
                _ = &mut shutdown => true,
                _ = std::future::ready(()) => false,
            }
        };
    }
    loop {
        if stop_asked!() {
            return;
        }
        for (i, r) in reports.iter().enumerate() {
            if stop_asked!() {
                return;
            }
            if let Some(fire) = pending_catch_up[i].take() {
                let entry = run_one(r, fire, true, &runner, &clock).await;
                log(&entry);
                state.last_fire.insert(r.name.clone(), fire);
                if let Some(p) = &state_path {
                    state.save(p);
                }
            }
        }
        let Some((_, when)) = next
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (i, t)))
            .min_by_key(|(_, t)| *t)
        else {
            shutdown.await;
            return;
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = clock.sleep_until(when) => {}
        }
        let now = clock.now();
        for (i, r) in reports.iter().enumerate() {
            let Some(fire) = next[i] else { continue };
            if fire > now {
                continue;
            }
            if stop_asked!() {
                return;
            }
            let entry = run_one(r, fire, false, &runner, &clock).await;
            log(&entry);
            state.last_fire.insert(r.name.clone(), fire);
            if let Some(p) = &state_path {
                state.save(p);
            }
            // Fire times that passed while this ran are skipped, not queued.
            next[i] = next_fire(r, clock.now().max(fire));
        }
    }
}

async fn run_one(
    r: &ReportSpec,
    fire: DateTime<Utc>,
    catch_up: bool,
    runner: &Runner,
    clock: &Clock,
) -> RunLog {
    let started = clock.now();
    let as_of = fire.with_timezone(&r.timezone).date_naive();
    let spec = r.clone();
    let runner = runner.clone();
    let result = tokio::task::spawn_blocking(move || runner(&spec, as_of))
        .await
        .map_err(|e| format!("report panicked: {e}"))
        .and_then(|r| r.map_err(|e| e.to_string()));
    RunLog {
        report: r.name.clone(),
        fire,
        started,
        finished: clock.now(),
        result,
        catch_up,
    }
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Format, ReportQuery};
    use std::sync::Mutex;

    fn spec(name: &str, cron: &str) -> ReportSpec {
        ReportSpec {
            name: name.into(),
            title: name.into(),
            query: ReportQuery::Rank,
            params: BTreeMap::new(),
            formats: vec![Format::Csv],
            output: "x".into(),
            cron: Some(croner::parser::CronParser::new().parse(cron).unwrap()),
            cron_text: Some(cron.into()),
            timezone: chrono_tz::UTC,
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A runner that records (report, as_of) and fails for `fail`.
    type Calls = Arc<Mutex<Vec<(String, NaiveDate)>>>;

    fn recorder(fail: &'static str) -> (Runner, Calls) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let c = calls.clone();
        let runner: Runner = Arc::new(move |spec: &ReportSpec, as_of| {
            c.lock().unwrap().push((spec.name.clone(), as_of));
            if spec.name == fail {
                Err(crate::Error::Other("boom".into()))
            } else {
                Ok(RunOutcome {
                    rows: 1,
                    outputs: vec![],
                })
            }
        });
        (runner, calls)
    }

    #[tokio::test(start_paused = true)]
    async fn fires_on_time_and_survives_a_failing_report() {
        let clock = Clock::starting_at(t("2024-03-04T07:59:00Z"));
        let (runner, calls) = recorder("broken");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let l = logs.clone();
        let reports = vec![
            spec("daily", "0 8 * * *"),
            spec("broken", "30 8 * * *"),
            spec("hourly", "0 * * * *"),
        ];
        // Stop after three days of simulated time.
        let stop = tokio::time::sleep(std::time::Duration::from_secs(3 * 86_400));
        run(
            reports,
            runner,
            clock,
            None,
            move |e| l.lock().unwrap().push(e.clone()),
            stop,
        )
        .await;
        let calls = calls.lock().unwrap();
        let daily: Vec<_> = calls.iter().filter(|c| c.0 == "daily").collect();
        assert_eq!(daily.len(), 3);
        assert_eq!(daily[0].1, NaiveDate::from_ymd_opt(2024, 3, 4).unwrap());
        assert_eq!(
            calls.iter().filter(|c| c.0 == "broken").count(),
            3,
            "a failing report keeps its schedule"
        );
        assert_eq!(calls.iter().filter(|c| c.0 == "hourly").count(), 72);
        let logs = logs.lock().unwrap();
        let first_daily = logs.iter().find(|e| e.report == "daily").unwrap();
        assert_eq!(first_daily.fire, t("2024-03-04T08:00:00Z"));
        assert!(first_daily.started >= first_daily.fire && first_daily.result.is_ok());
        assert!(
            logs.iter()
                .filter(|e| e.report == "broken")
                .all(|e| e.result.is_err())
        );
        assert!(logs.iter().any(|e| e.to_string().contains("error: boom")));
    }

    #[tokio::test(start_paused = true)]
    async fn catches_up_one_missed_run_after_downtime() {
        let dir = tempfile::tempdir().unwrap();
        let state_path = dir.path().join("state.json");
        // Last ran Monday 08:00; the service was down until Thursday 12:00.
        let mut state = ScheduleState::default();
        state
            .last_fire
            .insert("daily".into(), t("2024-03-04T08:00:00Z"));
        state.save(&state_path);
        let clock = Clock::starting_at(t("2024-03-07T12:00:00Z"));
        let (runner, calls) = recorder("none");
        let stop = tokio::time::sleep(std::time::Duration::from_secs(3600));
        run(
            vec![spec("daily", "0 8 * * *")],
            runner,
            clock,
            Some(state_path.clone()),
            |_| {},
            stop,
        )
        .await;
        let calls = calls.lock().unwrap();
        // Exactly one catch-up, for the latest missed fire time (Thursday).
        assert_eq!(
            *calls,
            vec![(
                "daily".to_string(),
                NaiveDate::from_ymd_opt(2024, 3, 7).unwrap()
            )]
        );
        assert_eq!(
            ScheduleState::load(&state_path).last_fire["daily"],
            t("2024-03-07T08:00:00Z")
        );
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_stops_before_the_next_fire() {
        let clock = Clock::starting_at(t("2024-03-04T07:00:00Z"));
        let (runner, calls) = recorder("none");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(
            vec![spec("daily", "0 8 * * *")],
            runner,
            clock,
            None,
            |_| {},
            async {
                let _ = rx.await;
            },
        ));
        tokio::time::sleep(std::time::Duration::from_secs(1800)).await;
        tx.send(()).unwrap();
        task.await.unwrap();
        assert!(calls.lock().unwrap().is_empty());
    }

    #[test]
    fn time_zones_and_upcoming_fires() {
        let mut s = spec("berlin", "0 8 * * MON");
        s.timezone = "Europe/Berlin".parse().unwrap();
        let next = upcoming(&s, t("2024-03-04T08:00:00Z"), 5);
        assert_eq!(next.len(), 5);
        // 08:00 in Berlin is 07:00 UTC in winter, 06:00 UTC after the switch to summer time.
        assert_eq!(next[0], t("2024-03-11T07:00:00Z"));
        assert_eq!(next[3], t("2024-04-01T06:00:00Z"));
    }
}
