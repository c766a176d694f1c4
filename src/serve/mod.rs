//! `keyrank serve`: the dashboard. A local web app on the process's one tokio runtime
//! (axum): server-rendered HTML with the reports' inline SVG charts, one stylesheet
//! of its own, no script, nothing from another host, and a strict
//! Content-Security-Policy. Each response reads one committed version of the store
//! and says which; a new commit shows on the next load.
//!
//! Security: loopback by default; any other address needs a token (`--token` or
//! `KEYRANK_SERVE_TOKEN`), which every request must then carry (an `Authorization:
//! Bearer` header, the `keyrank_token` cookie, or `?token=` once, which sets the
//! cookie). Nothing is logged: no request line or client address is written anywhere.
//! The SQL console is read-only ([`sql`]).

mod pages;
pub mod sql;

use crate::error::{Error, Result};
use crate::store::Store;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How the dashboard is served.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub store: PathBuf,
    pub bind: SocketAddr,
    pub token: Option<String>,
    /// A report config whose scheduled reports `/reports` lists.
    pub reports: Option<PathBuf>,
}

/// What every handler shares.
pub struct App {
    pub store: Store,
    pub token: Option<String>,
    pub reports: Option<PathBuf>,
    /// One DataFusion runtime for every request, so the store's Parquet footers and
    /// page indexes are read once and kept in its cache (files never change once
    /// written: a new version adds new ones).
    env: Arc<datafusion::execution::runtime_env::RuntimeEnv>,
    /// Finished pages by request ([`pages::page_key`]), so a page is computed once per
    /// committed version of the store.
    pages: VersionCache<String, CachedPage>,
    /// Rankings by controls (from, to, model, estimated included), so the keyword
    /// pages' sorts, filters, pages and `/api/keywords` share one computation.
    rankings: VersionCache<RankingKey, Vec<crate::rank::Ranked>>,
    /// The budget's fitted curves by (from, to, model), so a what-if total only solves
    /// the split again.
    curves: VersionCache<CurvesKey, BudgetCurves>,
    /// The fits cut from the version's ledger by the days of cost data they read and
    /// the model ([`FitKey`]): periods that differ only in days without cost data
    /// (a year asked for as 2024-01-01 to 2024-12-31 or as 2023-06-01 to 2025-06-01)
    /// share one fit.
    fits: VersionCache<FitKey, crate::rank::curves::Fitted>,
    /// The budget's splits by (from, to, model, what-if total in cents), so the split
    /// table's pages and the "estimated" switch (which the budget does not read) solve
    /// it once.
    splits: VersionCache<SplitKey, Split>,
    /// Every cost day of the version under every model, which the warm-up reads once,
    /// so the budget of any period cuts its days from memory instead of reading the
    /// store.
    ledgers: VersionCache<(), crate::rank::paid::PaidLedger>,
    /// The canned queries' answers by their text ([`pages::answer`]): the SQL
    /// console's one-click queries, its CSV and `/api/sql` share them.
    answers: VersionCache<String, sql::Answer>,
    /// The last version the warm-up finished.
    warmed: Mutex<Option<Option<u64>>>,
    /// The latest version seen and a context over it ([`pages::snap`]).
    current: Mutex<Option<Arc<pages::Snap>>>,
    /// Held while a new version's context and roll-ups are built, so one request
    /// builds them and the others wait.
    building: tokio::sync::Mutex<()>,
    /// People's requests in flight ([`App::person`]).
    people: People,
    /// Told when a request has seen a new version, so the warm-up need not wait for
    /// its next look.
    changed: tokio::sync::Notify,
}

/// What the budget's curves depend on besides the store version: from, to, model.
pub(crate) type CurvesKey = (String, String, String);

/// What a fit cut from a ledger depends on besides the store version: the first and
/// last day of cost data it reads (None: none) and the model.
pub(crate) type FitKey = (Option<(i32, i32)>, String);

/// What a budget split depends on besides the store version: from, to, model and the
/// what-if total in cents (None: today's spend).
pub(crate) type SplitKey = (String, String, String, Option<i64>);

/// A budget split: each keyword's row and the totals.
pub(crate) type Split = (
    Vec<crate::rank::curves::CurveRow>,
    crate::rank::curves::CurveTotals,
);

/// The fitted curves of a period's paid keywords (empty: no ad costs), with the period
/// they cover: its days and its first and last day.
pub(crate) struct BudgetCurves {
    fitted: Arc<crate::rank::curves::Fitted>,
    period: usize,
    from: String,
    to: String,
}

/// What a ranking depends on besides the store version.
pub(crate) type RankingKey = (String, String, String, bool);

/// A cached response: its content type and bytes.
pub struct CachedPage {
    pub content_type: &'static str,
    /// Shared, so answering from memory copies no bytes.
    pub body: axum::body::Bytes,
}

/// Values computed from one version of the store, by key. Only the newest version's
/// are kept (older versions are never asked for again), at most `cap` of them: when
/// full, the one used least recently goes. A value is computed once even when several
/// requests ask for it at the same time (a person and the warm-up, or `/keywords` and
/// `/api/keywords` for one ranking): the first computes it, the others wait for it
/// ([`VersionCache::get_or_make`]).
struct VersionCache<K, V> {
    map: Mutex<Kept<K, V>>,
    /// One turn per key being computed; whoever holds it computes.
    flights: Mutex<Versioned<K, tokio::sync::Mutex<()>>>,
    cap: usize,
}

/// Values by (store version, key).
type Versioned<K, V> = HashMap<(Option<u64>, K), Arc<V>>;

/// Values by (store version, key), each with when it was last used (a count of uses).
struct Kept<K, V> {
    values: HashMap<(Option<u64>, K), (Arc<V>, u64)>,
    uses: u64,
}

impl<K: std::hash::Hash + Eq + Clone, V> VersionCache<K, V> {
    fn new(cap: usize) -> Self {
        VersionCache {
            map: Mutex::new(Kept {
                values: HashMap::new(),
                uses: 0,
            }),
            flights: Mutex::new(HashMap::new()),
            cap,
        }
    }

    fn get(&self, version: Option<u64>, key: K) -> Option<Arc<V>> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.uses += 1;
        let now = m.uses;
        m.values.get_mut(&(version, key)).map(|(v, used)| {
            *used = now;
            v.clone()
        })
    }

    /// Keeps `value`, and drops every older version's. A value of an older version
    /// than one kept (a slow request that began before a commit) is not kept.
    fn put(&self, version: Option<u64>, key: K, value: Arc<V>) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.values.keys().any(|(v, _)| *v > version) {
            return;
        }
        m.values.retain(|(v, _), _| *v == version);
        let key = (version, key);
        if !m.values.contains_key(&key) && m.values.len() >= self.cap.max(1) {
            let oldest = m
                .values
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                m.values.remove(&k);
            }
        }
        m.uses += 1;
        let now = m.uses;
        m.values.insert(key, (value, now));
    }

    /// The value of `key` for `version`: from memory, or computed by `make` and kept.
    /// While one caller computes a key, the others asking for it wait and then take
    /// its value (or compute it themselves if it failed or was given up: a future
    /// dropped mid-way hands the turn on).
    async fn get_or_make<F, Fut>(&self, version: Option<u64>, key: K, make: F) -> Result<Arc<V>>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V>>,
    {
        if let Some(v) = self.get(version, key.clone()) {
            return Ok(v);
        }
        let turn = self
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((version, key.clone()))
            .or_default()
            .clone();
        let _turn = turn.lock().await;
        if let Some(v) = self.get(version, key.clone()) {
            return Ok(v);
        }
        // Whether it finishes, fails or is given up, this turn leaves the map with it:
        // later callers find the value, or start afresh.
        let _leave = Leave {
            flights: &self.flights,
            at: (version, key.clone()),
            turn: &turn,
        };
        let made = make().await.map(Arc::new);
        if let Ok(v) = &made {
            self.put(version, key, v.clone());
        }
        made
    }
}

/// Takes a finished (or given-up) turn out of its cache's map, unless another turn
/// has replaced it there; older versions' turns go too.
struct Leave<'a, K: std::hash::Hash + Eq> {
    flights: &'a Mutex<Versioned<K, tokio::sync::Mutex<()>>>,
    at: (Option<u64>, K),
    turn: &'a Arc<tokio::sync::Mutex<()>>,
}

impl<K: std::hash::Hash + Eq> Drop for Leave<'_, K> {
    fn drop(&mut self) {
        let mut m = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|at, t| at.0 >= self.at.0 && !(*at == self.at && Arc::ptr_eq(t, self.turn)));
    }
}

/// The people's requests in flight (not the warm-up's): the warm-up waits for none to
/// be before its next page, so it takes the cores only when nobody is waiting.
#[derive(Default)]
struct People {
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// How many times [`People::none`] found someone asking and waited.
    waits: std::sync::atomic::AtomicUsize,
}

impl People {
    /// Counts a request as in flight until the value is dropped.
    fn enter(&self) -> Asking {
        self.in_flight
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        Asking(self.in_flight.clone())
    }

    /// Returns once no request is in flight (checked every few milliseconds).
    async fn none(&self) {
        if self.in_flight.load(std::sync::atomic::Ordering::Acquire) > 0 {
            self.waits.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        while self.in_flight.load(std::sync::atomic::Ordering::Acquire) > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Returns once a request is in flight (checked every few milliseconds).
    async fn some(&self) {
        while self.in_flight.load(std::sync::atomic::Ordering::Acquire) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}

/// A person's request in flight ([`App::person`]), counted until dropped.
pub struct Asking(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for Asking {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Marks a request as the warm-up's own ([`warm`]), which does not make it wait.
#[derive(Clone, Copy)]
struct WarmUp;

impl App {
    /// Counts a person's request as in flight until the value is dropped (the router
    /// does this for every request but the warm-up's).
    pub fn person(&self) -> Asking {
        self.people.enter()
    }

    /// The last store version whose pages the warm-up has all computed (for the bench).
    pub fn warmed(&self) -> Option<Option<u64>> {
        *self.warmed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many times the warm-up has found a person's request in flight and waited
    /// for it to be answered (for tests).
    pub fn warm_up_waits(&self) -> usize {
        self.people.waits.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Whether the answer of `sql`, a canned query's text, is kept for `version` (the
    /// warm-up's effect, for tests).
    pub fn is_answered(&self, version: Option<u64>, sql: &str) -> bool {
        self.answers.get(version, sql.trim().to_string()).is_some()
    }

    /// Whether the budget's ledger of cost days of `version` is read (for tests).
    pub fn has_ledger(&self, version: Option<u64>) -> bool {
        self.ledgers.get(version, ()).is_some()
    }

    /// Whether a fit of the cost days `first..=last` under `model` is kept for
    /// `version` (for tests).
    pub fn is_fitted(&self, version: Option<u64>, first: i32, last: i32, model: &str) -> bool {
        let key = (Some((first, last)), model.to_string());
        self.fits.get(version, key).is_some()
    }

    /// Whether the page a request for `path_and_query` asks for is computed for
    /// `version` (the warm-up's effect, for tests and the bench).
    pub fn is_cached(&self, version: Option<u64>, path_and_query: &str) -> bool {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let p = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        self.pages.get(version, pages::page_key(path, &p)).is_some()
    }
}

/// Checks the options before anything listens: a non-loopback address needs a token.
pub fn check(opts: &ServeOptions) -> Result<()> {
    if !opts.bind.ip().is_loopback() && opts.token.as_deref().is_none_or(str::is_empty) {
        return Err(Error::usage(format!(
            "--bind {}: the dashboard answers anyone who reaches a non-loopback address, so it needs a token: --token TOKEN or KEYRANK_SERVE_TOKEN",
            opts.bind
        )));
    }
    if opts.token.as_deref().is_some_and(|t| t.len() < 16) {
        return Err(Error::usage(
            "the dashboard token must be at least 16 characters",
        ));
    }
    Ok(())
}

/// The router of the dashboard (also what the tests drive).
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::overview))
        .route("/keywords", get(pages::keywords))
        .route("/keywords/{keyword}", get(pages::keyword))
        .route("/budget", get(pages::budget))
        .route("/sql", get(pages::sql_console))
        .route("/sql.csv", get(pages::sql_csv))
        .route("/reports", get(pages::reports))
        .route("/reports/{report}/{file}", get(pages::report_output))
        .route("/api/keywords", get(pages::api_keywords))
        .route("/api/sql", get(pages::api_sql))
        .route("/static/keyrank.css", get(pages::stylesheet))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// The SQL console's links to the canned queries, with their defaults (the bench asks
/// for them as a person clicking them would).
pub fn canned_links() -> Vec<String> {
    pages::canned_links()
}

/// The app over a store.
pub fn app(opts: &ServeOptions) -> Result<Arc<App>> {
    Ok(Arc::new(App {
        store: Store::open(&opts.store)?,
        token: opts.token.clone(),
        reports: opts.reports.clone(),
        env: crate::store::object_stores::runtime_env()?,
        pages: VersionCache::new(256),
        rankings: VersionCache::new(32),
        curves: VersionCache::new(12),
        fits: VersionCache::new(12),
        splits: VersionCache::new(32),
        ledgers: VersionCache::new(1),
        answers: VersionCache::new(16),
        warmed: Mutex::new(None),
        current: Mutex::new(None),
        building: tokio::sync::Mutex::new(()),
        people: People::default(),
        changed: tokio::sync::Notify::new(),
    }))
}

/// Serves until the process is stopped.
pub fn run(opts: ServeOptions) -> Result<()> {
    check(&opts)?;
    let app = app(&opts)?;
    let rt = crate::model::runtime::runtime()?;
    let mut warming = None;
    let served = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.bind)
            .await
            .map_err(|e| Error::Other(format!("cannot listen on {}: {e}", opts.bind)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Other(e.to_string()))?;
        let routes = router(app.clone());
        // The default pages first, so the first page anyone opens is answered from
        // memory; requests that arrive meanwhile wait in the listener's queue.
        let ready = prepare(&app, &routes).await;
        eprintln!(
            "keyrank dashboard on http://{addr}/ (store {}; ready in {ready}){}",
            opts.store.display(),
            if opts.token.is_some() {
                "; requests need the token"
            } else {
                ""
            }
        );
        warming = Some(warm_up(app, routes.clone())?);
        axum::serve(listener, routes)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| Error::Other(e.to_string()))
    });
    // A fit the warm-up began may still be running: the process does not wait for it.
    if let Some(w) = warming {
        w.shutdown_background();
    }
    served
}

/// Starts [`keep_warm`] on a runtime of its own, which it runs on while the runtime
/// returned is kept. Its sums hold a thread for tens of milliseconds at a time: on
/// the requests' runtime a person's request waited behind them before it was even
/// read (up to 50 ms on the bench store); on threads of their own, the requests'
/// threads take it at once, and it then has the cores, as the warm-up gives way.
pub fn warm_up(app: Arc<App>, routes: Router) -> Result<tokio::runtime::Runtime> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("keyrank-warm-up")
        .build()
        .map_err(|e| Error::Other(format!("cannot start the warm-up's runtime: {e}")))?;
    rt.spawn(keep_warm(app, routes));
    Ok(rt)
}

/// What a dashboard computes before it says where it listens: the store's roll-ups,
/// the budget's ledger of cost days, the pages of [`DEFAULT_PAGES`], and the SQL
/// console's canned queries (the two that need every day's rows, `keyword_trend` and
/// `paid_keywords`, take 0.5 and 1.5 s on a year of 50,000 keywords even over the
/// roll-ups: an answer nobody would wait for on a click). Returns how long each took,
/// for the start-up line. Whatever fails here is computed on request instead (and
/// said so).
pub async fn prepare(app: &Arc<App>, routes: &Router) -> String {
    let clock = std::time::Instant::now();
    let s = match pages::snap(app).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("keyrank dashboard: cannot read the store yet ({e})");
            return format!("{:.1} s", clock.elapsed().as_secs_f64());
        }
    };
    if let Err(e) = s.build_rollups().await {
        eprintln!("keyrank dashboard: no roll-ups yet ({e}); pages read the store");
    }
    let rollups = clock.elapsed().as_secs_f64();
    pages::read_ledger(app, &s, true).await;
    let ledger = clock.elapsed().as_secs_f64();
    for path in DEFAULT_PAGES {
        warm(app, routes, path).await;
    }
    let pages = clock.elapsed().as_secs_f64();
    for path in canned_links() {
        warm(app, routes, &path).await;
    }
    let all = clock.elapsed().as_secs_f64();
    format!(
        "{all:.1} s: roll-ups {rollups:.1} s, the budget's cost days {:.1} s, the default pages {:.1} s, the canned queries {:.1} s",
        ledger - rollups,
        pages - ledger,
        all - pages
    )
}

/// How often the warm-up looks for a new version of a store on this machine (a
/// listing of the log's folder), so the pages of a commit are computed a second
/// after it rather than when someone asks.
const WARM_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// How often it looks on object storage, where each look is a request to the bucket.
const WARM_EVERY_REMOTE: std::time::Duration = std::time::Duration::from_secs(5);

/// The models besides the default one (`last`), whose pages the model switch asks for.
const OTHER_MODELS: [&str; 4] = ["first", "linear", "position", "time_decay"];

/// The pages with the default controls that compute something.
const DEFAULT_PAGES: [&str; 4] = ["/", "/keywords", "/budget", "/api/keywords"];

/// The pages computed for each new version before anyone asks: every page with the
/// default controls, then the ranking under the other models (the model switch).
fn warm_paths() -> Vec<String> {
    let mut paths: Vec<String> = DEFAULT_PAGES.iter().map(|p| p.to_string()).collect();
    for m in OTHER_MODELS {
        paths.push(format!("/keywords?model={m}"));
    }
    paths
}

/// Builds the roll-ups of a new version of the store ([`crate::query::rollup`]) (seen
/// at its look every few seconds, or told by the request that saw it first), then
/// computes the pages of [`warm_paths`] and the SQL console's canned queries, reads the
/// budget's ledger of cost days ([`crate::rank::paid::PaidLedger`]), then the keyword
/// pages the ranking's first page links, the overview and budget under the other
/// models, and the budget of every day of ad costs under every model, whenever a new
/// version commits, through the router itself (so they land under the keys a
/// browser's request asks for). One page after another, and each only while no person's request is in
/// flight ([`warm_unless_asked`]), so a person's request does not share the cores with
/// the warm-up's.
pub async fn keep_warm(app: Arc<App>, routes: Router) {
    let mut seen: Option<Arc<pages::Snap>> = None;
    loop {
        app.people.none().await;
        if let Ok(s) = pages::snap(&app).await
            && seen.as_ref().is_none_or(|e| e.version != s.version)
        {
            seen = Some(s.clone());
            // A version after one whose ledger was read reads only the changed days:
            // first, so a budget of any period is cut from memory again at once.
            unless_asked(&app, || pages::read_ledger(&app, &s, false)).await;
            // First the version's roll-ups, which every page below then reads.
            app.people.none().await;
            if let Err(e) = s.build_rollups().await {
                eprintln!(
                    "keyrank dashboard: no roll-ups for this version ({e}); pages read the store"
                );
            }
            // The default pages and the ranking under every model, then the canned
            // queries (the dearest pages to compute when asked).
            for path in warm_paths().into_iter().chain(canned_links()) {
                warm_unless_asked(&app, &routes, &path).await;
            }
            // Every cost day under every model, from which any period's budget is cut.
            unless_asked(&app, || pages::read_ledger(&app, &s, true)).await;
            // Then the keywords someone is likeliest to open: those the ranking's first
            // page links (its default controls; `/keywords` above computed it).
            let first_page: Vec<String> = app
                .rankings
                .get(s.version, pages::default_ranking_key())
                .map(|r| pages::first_page_links(&r))
                .unwrap_or_default();
            // Last, the overview and the budget under the other models, and the budget
            // of all the days of ad costs under every model (the longest period, whose
            // fit takes longest: any period holding those days shares it).
            let overviews = OTHER_MODELS.iter().map(|m| format!("/?model={m}"));
            let budgets = OTHER_MODELS.iter().map(|m| format!("/budget?model={m}"));
            let mut whole = Vec::new();
            if let Some(Some((a, z))) = s.cost_span() {
                let (a, z) = (
                    crate::parse::time::format_day(a),
                    crate::parse::time::format_day(z),
                );
                for m in std::iter::once(pages::DEFAULT_MODEL).chain(OTHER_MODELS) {
                    whole.push(format!("/budget?from={a}&to={z}&model={m}"));
                }
            }
            for path in first_page
                .into_iter()
                .chain(overviews)
                .chain(budgets)
                .chain(whole)
            {
                warm_unless_asked(&app, &routes, &path).await;
            }
            *app.warmed.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.version);
        }
        let every = if app.store.url().is_some() {
            WARM_EVERY_REMOTE
        } else {
            WARM_EVERY
        };
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = app.changed.notified() => {}
        }
    }
}

/// [`warm`] once no person's request is in flight; given up as soon as one arrives (so
/// the cores are theirs) and begun again when it has been answered. What the page had
/// computed so far is dropped with it; a budget's fit, which runs on threads of its
/// own, gives way before its next keyword (`pages::fit_period`), and its split (a
/// tenth of a second) runs to its end and is kept.
async fn warm_unless_asked(app: &App, routes: &Router, path: &str) {
    unless_asked(app, || warm(app, routes, path)).await
}

/// Runs `step` once no person's request is in flight, giving it up as soon as one
/// arrives and beginning it again once it has been answered.
async fn unless_asked<F, Fut>(app: &App, step: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        app.people.none().await;
        tokio::select! {
            _ = step() => return,
            _ = app.people.some() => {}
        }
    }
}

/// One request through the router, as a browser would send it (with the token).
async fn warm(app: &App, routes: &Router, path: &str) {
    use tower::ServiceExt;
    let mut req = Request::new(axum::body::Body::empty());
    req.extensions_mut().insert(WarmUp);
    *req.uri_mut() = match path.parse() {
        Ok(u) => u,
        Err(_) => return,
    };
    if let Some(t) = app
        .token
        .as_ref()
        .and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
    {
        req.headers_mut().insert(header::AUTHORIZATION, t);
    }
    let _ = routes.clone().oneshot(req).await;
}

/// Equal without revealing where two strings differ by how long the comparison took.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries, from its header, cookie or query.
fn presented(headers: &HeaderMap, query: Option<&str>) -> (Option<String>, bool) {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return (Some(v.trim().to_string()), false);
    }
    for c in headers.get_all(header::COOKIE) {
        for part in c.to_str().unwrap_or("").split(';') {
            if let Some(v) = part.trim().strip_prefix("keyrank_token=") {
                return (Some(v.to_string()), false);
            }
        }
    }
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    });
    let set = from_query.is_some();
    (from_query, set)
}

/// Every request: the token when one is set, and the security headers on the answer.
async fn guard(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut set_cookie = None;
    if let Some(token) = &app.token {
        let (given, from_query) = presented(req.headers(), req.uri().query());
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            let mut r = (
                StatusCode::UNAUTHORIZED,
                "keyrank: this dashboard needs its token (Authorization: Bearer TOKEN, or ?token=TOKEN once)\n",
            )
                .into_response();
            security_headers(r.headers_mut());
            return r;
        }
        if from_query {
            set_cookie = Some(format!(
                "keyrank_token={token}; HttpOnly; SameSite=Strict; Path=/"
            ));
        }
    }
    // A person's request (with the token, when one is needed) has the cores.
    let _asking = req
        .extensions()
        .get::<WarmUp>()
        .is_none()
        .then(|| app.person());
    let clock = std::time::Instant::now();
    let mut r = next.run(req).await;
    // The server's time for the answer (W3C Server Timing: browsers' developer tools
    // show it beside the network's).
    let took = format!("app;dur={:.1}", clock.elapsed().as_secs_f64() * 1e3);
    if let Ok(v) = HeaderValue::from_str(&took) {
        r.headers_mut().insert("server-timing", v);
    }
    security_headers(r.headers_mut());
    if let Some(c) = set_cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

fn security_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: header::HeaderName, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    // A handler may set a stricter or a narrower policy of its own (a report's file).
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        set(
            h,
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        );
    }
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::CACHE_CONTROL, "no-store");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A full cache drops the value used least recently, and only an older version's
    /// values all at once.
    #[test]
    fn a_full_cache_drops_the_value_used_least_recently() {
        let cache: VersionCache<&str, u32> = VersionCache::new(3);
        for (k, v) in [("a", 1), ("b", 2), ("c", 3)] {
            cache.put(Some(1), k, Arc::new(v));
        }
        // `a` used again: `b` is now the one used least recently.
        assert_eq!(cache.get(Some(1), "a").as_deref(), Some(&1));
        cache.put(Some(1), "d", Arc::new(4));
        assert!(cache.get(Some(1), "b").is_none());
        for (k, v) in [("a", 1), ("c", 3), ("d", 4)] {
            assert_eq!(cache.get(Some(1), k).as_deref(), Some(&v), "{k}");
        }
        // Putting a key it holds replaces its value and drops nothing.
        cache.put(Some(1), "c", Arc::new(30));
        assert_eq!(cache.get(Some(1), "c").as_deref(), Some(&30));
        assert!(cache.get(Some(1), "a").is_some() && cache.get(Some(1), "d").is_some());
        // A newer version's value drops the older version's.
        cache.put(Some(2), "a", Arc::new(10));
        assert!(cache.get(Some(1), "c").is_none());
        assert_eq!(cache.get(Some(2), "a").as_deref(), Some(&10));
    }

    /// A value two callers ask for at the same time is computed once, and both get it;
    /// when the computation fails, a caller that waited for it computes it itself.
    #[tokio::test(start_paused = true)]
    async fn a_value_asked_for_at_once_is_computed_once() {
        let cache: VersionCache<String, u32> = VersionCache::new(8);
        let made = AtomicUsize::new(0);
        let make = |value: Result<u32>| {
            let made = &made;
            move || async move {
                made.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                value
            }
        };
        let key = || "/keywords".to_string();
        let (a, b) = tokio::join!(
            cache.get_or_make(Some(1), key(), make(Ok(7))),
            cache.get_or_make(Some(1), key(), make(Ok(8)))
        );
        assert_eq!((*a.unwrap(), *b.unwrap()), (7, 7));
        assert_eq!(made.load(Ordering::SeqCst), 1);
        // Kept: asked again, nothing is computed.
        assert_eq!(
            *cache
                .get_or_make(Some(1), key(), make(Ok(9)))
                .await
                .unwrap(),
            7
        );
        assert_eq!(made.load(Ordering::SeqCst), 1);
        // Another version is another value.
        assert_eq!(
            *cache
                .get_or_make(Some(2), key(), make(Ok(3)))
                .await
                .unwrap(),
            3
        );
        // A failure is not kept: the caller that waited computes the value itself.
        let (a, b) = tokio::join!(
            cache.get_or_make(
                Some(2),
                "/budget".into(),
                make(Err(Error::Other("no".into())))
            ),
            cache.get_or_make(Some(2), "/budget".into(), make(Ok(5)))
        );
        assert!(a.is_err());
        assert_eq!(*b.unwrap(), 5);
        assert_eq!(made.load(Ordering::SeqCst), 4);
        // No turn is left behind once nobody computes.
        assert!(cache.flights.lock().unwrap().is_empty());
        // A caller given up mid-way hands the turn on: the one waiting computes, and
        // no turn is left behind either.
        let slow = |value: u32| {
            let made = &made;
            move || async move {
                made.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                Ok(value)
            }
        };
        let given_up = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            cache.get_or_make(Some(2), "/?model=first".into(), slow(1)),
        );
        let waiting = async {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            cache
                .get_or_make(Some(2), "/?model=first".into(), slow(2))
                .await
        };
        let (a, b) = tokio::join!(given_up, waiting);
        assert!(a.is_err());
        assert_eq!(*b.unwrap(), 2);
        assert_eq!(made.load(Ordering::SeqCst), 6);
        assert!(cache.flights.lock().unwrap().is_empty());
        // A value computed for an older version after a newer one is kept is not kept
        // (it would drop the newer version's values).
        cache.put(Some(1), "/".into(), Arc::new(1));
        assert!(cache.get(Some(1), "/".into()).is_none());
        assert_eq!(
            cache.get(Some(2), "/?model=first".into()).as_deref(),
            Some(&2)
        );
    }

    /// The warm-up's wait returns once no person's request is in flight, and its
    /// give-way once one is.
    #[tokio::test(start_paused = true)]
    async fn the_warm_up_waits_while_anyone_is_asking() {
        let people = People::default();
        let wait = |ms| tokio::time::timeout(std::time::Duration::from_millis(ms), people.none());
        wait(1).await.unwrap();
        assert_eq!(people.waits.load(std::sync::atomic::Ordering::Acquire), 0);
        let (one, two) = (people.enter(), people.enter());
        assert!(wait(60_000).await.is_err());
        assert_eq!(people.waits.load(std::sync::atomic::Ordering::Acquire), 1);
        drop(one);
        assert!(wait(60_000).await.is_err());
        drop(two);
        wait(10).await.unwrap();
        // And the warm-up's give-way: it returns only once someone asks.
        let asked = |ms| tokio::time::timeout(std::time::Duration::from_millis(ms), people.some());
        assert!(asked(60_000).await.is_err());
        let _one = people.enter();
        asked(10).await.unwrap();
    }
}
