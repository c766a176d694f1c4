//! The dashboard's pages and API. Every handler reads one snapshot of the store
//! ([`Snap`]), so all of a page's numbers come from one committed version, and says
//! which version that was.

use super::{App, CachedPage};
use crate::error::{Error, Result};
use crate::privacy::is_pseudo_keyword;
use crate::query::output::display_cell;
use crate::query::rollup::{self, PeriodTable};
use crate::report::charts::{self, Bar, esc, fmt_num};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::prelude::SessionContext;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::sync::Arc;

type Params = Query<BTreeMap<String, String>>;

const MODELS: [&str; 5] = ["first", "last", "linear", "position", "time_decay"];

/// The model a page shows when none is asked for.
pub(super) const DEFAULT_MODEL: &str = "last";

/// One committed version of the store and a context over exactly it, shared by every
/// request while that version is the latest ([`snap`]).
pub(super) struct Snap {
    /// The store's tables as they are: the SQL console's.
    ctx: SessionContext,
    /// The pages' tables: `keyword_daily` and `ad_costs` answered from the version's
    /// roll-ups once the warm-up has built them ([`PeriodTable`]), `search_queries` as
    /// in `ctx`.
    pages: SessionContext,
    periods: Vec<Arc<PeriodTable>>,
    pub(super) version: Option<u64>,
    /// Older versions the dashboard built before this one (the one just before first,
    /// a few at most), each with the days whose files changed since: the budget's
    /// ledger of one of them carries over ([`ledger_before`]).
    since: Vec<(Option<u64>, BTreeSet<i32>)>,
}

impl Snap {
    /// Builds this version's roll-ups, so the pages' sums read them (the warm-up).
    pub(super) async fn build_rollups(&self) -> Result<()> {
        for period in &self.periods {
            if !period.has_rollups() {
                period.install(&self.ctx).await?;
            }
        }
        Ok(())
    }

    /// The last day from `from` to `to` (as the controls give them) that `table` has a
    /// day file of, when its files are known.
    fn last_day_of(&self, table: &str, from: &str, to: &str) -> Option<i32> {
        let (from, to) = (
            crate::parse::time::parse_day(from)?,
            crate::parse::time::parse_day(to)?,
        );
        self.period(table)?.last_file_day(from, to)
    }

    /// The period table over `table`, one of the store's tables the pages sum.
    fn period(&self, table: &str) -> Option<&PeriodTable> {
        self.periods
            .iter()
            .find(|p| p.table() == table)
            .map(|p| &**p)
    }

    /// The first and last day of cost data (`Some(None)`: none), once the roll-ups of
    /// `ad_costs` are built.
    pub(super) fn cost_span(&self) -> Option<Option<(i32, i32)>> {
        self.period(crate::store::AD_COSTS)?
            .span()
            .map(|span| span.map(|(a, z)| (a as i32, z as i32)))
    }

    /// The days whose files differ between `earlier` and this version, in any of the
    /// tables the pages sum; None when that cannot be told.
    fn changed_since(&self, earlier: &Snap) -> Option<BTreeSet<i32>> {
        let mut changed = BTreeSet::new();
        for (new, old) in self.periods.iter().zip(&earlier.periods) {
            changed.extend(new.changed_days(old)?);
        }
        Some(changed)
    }

    /// Builds this version's roll-ups from those of `earlier`, an older version whose
    /// roll-ups are built, summing only the weeks whose day files changed. False when
    /// a table's could not be built so (the warm-up then builds them whole).
    async fn rollups_after(&self, earlier: &Snap) -> Result<bool> {
        for (new, old) in self.periods.iter().zip(&earlier.periods) {
            if !old.has_rollups() || !new.install_after(old, &self.ctx).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// The latest version of the store and its context. A request lists the store's log
/// to see whether a commit landed since the last one it answered; only then are the
/// snapshot (its log replayed) and the context's tables (with the store's history)
/// built again, once for everyone. Before, every request did both, which on a store
/// of 60 daily commits cost 0.12 s before any page was computed.
pub(super) async fn snap(app: &App) -> Result<Arc<Snap>> {
    let known = app
        .current
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let latest = app
        .store
        .latest_version(known.as_ref().and_then(|s| s.version))
        .await?;
    if let Some(s) = &known
        && s.version == latest
    {
        return Ok(s.clone());
    }
    // One request builds a new version's context; the others wait for it.
    let _building = app.building.lock().await;
    let known = app
        .current
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let snapshot = app.store.snapshot().await?;
    if let Some(s) = &known
        && s.version == snapshot.version
    {
        return Ok(s.clone());
    }
    let s = Arc::new(snap_of(app, &snapshot, known.as_deref()).await?);
    // The roll-ups of the version before carry over, but for the weeks the commit
    // changed: the first page after an ingest reads memory, not a year of day files.
    if let Some(old) = &known
        && let Err(e) = s.rollups_after(old).await
    {
        eprintln!("keyrank dashboard: roll-ups to be built whole for this version ({e})");
    }
    let mut current = app.current.lock().unwrap_or_else(|p| p.into_inner());
    // Two requests may race past a commit; the newer version stays.
    if current.as_ref().is_none_or(|c| c.version <= s.version) {
        *current = Some(s.clone());
    }
    drop(current);
    // The warm-up starts on it once this request is answered, not at its next look.
    app.changed.notify_one();
    Ok(s)
}

/// How many older versions a [`Snap`] remembers the changed days since.
const SINCE: usize = 4;

/// A context over exactly `snapshot`, on the dashboard's one runtime; `known` is the
/// version the dashboard built before it, if any.
async fn snap_of(
    app: &App,
    snapshot: &crate::store::Snapshot,
    known: Option<&Snap>,
) -> Result<Snap> {
    let ctx = crate::store::object_stores::session_context_on(app.env.clone())?;
    crate::query::register_snapshot(&ctx, &app.store, snapshot).await?;
    let pages = crate::store::object_stores::session_context_on(app.env.clone())?;
    let mut periods = Vec::new();
    for spec in [rollup::KEYWORD_DAILY, rollup::AD_COSTS] {
        let period = Arc::new(
            PeriodTable::new(spec, ctx.table_provider(spec.table).await?)
                .with_day_files(&app.store, &snapshot.table(spec.table).files),
        );
        pages.register_table(spec.table, period.clone())?;
        periods.push(period);
    }
    pages.register_table(
        crate::store::SEARCH_QUERIES,
        ctx.table_provider(crate::store::SEARCH_QUERIES).await?,
    )?;
    crate::query::udf::register(&pages);
    crate::query::like::install(&pages);
    let mut s = Snap {
        ctx,
        pages,
        periods,
        version: snapshot.version,
        since: Vec::new(),
    };
    if let Some(old) = known
        && let Some(changed) = s.changed_since(old)
    {
        let older = old.since.iter().take(SINCE - 1).map(|(v, days)| {
            let mut days = days.clone();
            days.extend(&changed);
            (*v, days)
        });
        s.since = std::iter::once((old.version, changed.clone()))
            .chain(older)
            .collect();
    }
    Ok(s)
}

/// The controls every page shares, validated; all of them live in the URL.
#[derive(Debug, Clone)]
struct Controls {
    from: String,
    to: String,
    model: String,
    estimated: bool,
}

impl Controls {
    fn of(p: &BTreeMap<String, String>) -> Result<Self> {
        let day = |k: &str, d: &str| -> Result<String> {
            match p.get(k).map(|s| s.trim()).filter(|s| !s.is_empty()) {
                None => Ok(d.to_string()),
                Some(v) => crate::parse::time::parse_day(v)
                    .map(|_| v.to_string())
                    .ok_or_else(|| Error::usage(format!("{k}: not a day (YYYY-MM-DD): {v}"))),
            }
        };
        let model = p.get("model").map(String::as_str).unwrap_or(DEFAULT_MODEL);
        if !MODELS.contains(&model) {
            return Err(Error::usage(format!(
                "model: one of {}, got {model:?}",
                MODELS.join(", ")
            )));
        }
        Ok(Controls {
            from: day("from", "1970-01-01")?,
            to: day("to", "9999-12-31")?,
            model: model.to_string(),
            estimated: p.get("estimated").is_some_and(|v| v == "true" || v == "on"),
        })
    }

    fn ranking_key(&self) -> super::RankingKey {
        (
            self.from.clone(),
            self.to.clone(),
            self.model.clone(),
            self.estimated,
        )
    }

    fn params(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("from".to_string(), self.from.clone()),
            ("to".to_string(), self.to.clone()),
            ("model".to_string(), self.model.clone()),
            ("estimated".to_string(), self.estimated.to_string()),
        ])
    }

    /// The controls as a query string, for links that keep them.
    fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if self.from != "1970-01-01" {
            q.append_pair("from", &self.from);
        }
        if self.to != "9999-12-31" {
            q.append_pair("to", &self.to);
        }
        q.append_pair("model", &self.model);
        if self.estimated {
            q.append_pair("estimated", "true");
        }
        q.finish()
    }

    fn sql_range(&self) -> String {
        format!("day BETWEEN DATE '{}' AND DATE '{}'", self.from, self.to)
    }

    fn form(&self, action: &str, extra: &str) -> String {
        let shown = |d: &str, none: &str| {
            if d == none {
                String::new()
            } else {
                d.to_string()
            }
        };
        let mut options = String::new();
        for m in MODELS {
            let _ = write!(
                options,
                "<option value=\"{m}\"{}>{m}</option>",
                if m == self.model { " selected" } else { "" }
            );
        }
        format!(
            "<form class=\"controls\" method=\"get\" action=\"{action}\">\
             <label>From <input type=\"date\" name=\"from\" value=\"{}\"></label>\
             <label>To <input type=\"date\" name=\"to\" value=\"{}\"></label>\
             <label>Model <select name=\"model\">{options}</select></label>\
             <label><input type=\"checkbox\" name=\"estimated\" value=\"true\"{}> include estimated</label>\
             {extra}<button type=\"submit\">Apply</button></form>",
            shown(&self.from, "1970-01-01"),
            shown(&self.to, "9999-12-31"),
            if self.estimated { " checked" } else { "" }
        )
    }
}

/// A page around its body: navigation, title, and the store version it read.
fn page(title: &str, active: &str, c: &Controls, version: Option<u64>, body: &str) -> String {
    let q = c.query();
    let mut nav = String::new();
    for (href, name) in [
        ("/", "Overview"),
        ("/keywords", "Keywords"),
        ("/budget", "Budget"),
        ("/sql", "SQL"),
        ("/reports", "Reports"),
    ] {
        let _ = write!(
            nav,
            "<a href=\"{href}?{}\"{}>{name}</a>",
            esc(&q),
            if name == active {
                " class=\"active\""
            } else {
                ""
            }
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — keyrank</title><link rel=\"stylesheet\" href=\"/static/keyrank.css\"></head><body>\
         <nav>{nav}</nav><header><h1>{}</h1></header>\n{body}\n\
         <footer>Store version {} · model {} · {}{}</footer></body></html>\n",
        esc(title),
        esc(title),
        version.map_or("none (empty store)".to_string(), |v| v.to_string()),
        esc(&c.model),
        if c.from == "1970-01-01" && c.to == "9999-12-31" {
            "all days".to_string()
        } else {
            format!("{} – {}", esc(&c.from), esc(&c.to))
        },
        if c.estimated {
            " · estimated included"
        } else {
            ""
        }
    )
}

fn html(body: String) -> CachedPage {
    CachedPage {
        content_type: "text/html; charset=utf-8",
        body: body.into_bytes().into(),
    }
}

fn error_page(e: &Error) -> Response {
    let status = match e {
        Error::Usage(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>keyrank</title><link rel=\"stylesheet\" href=\"/static/keyrank.css\"></head><body><nav><a href=\"/\">Overview</a></nav><p class=\"error\">{}</p></body></html>",
            esc(&e.to_string())
        ),
    )
        .into_response()
}

fn respond(p: &CachedPage) -> Response {
    ([(header::CONTENT_TYPE, p.content_type)], p.body.clone()).into_response()
}

/// What a page's answer depends on besides the store version: its path and its
/// parameters, with the controls' defaults filled in and empty fields dropped, so
/// `/keywords`, `/keywords?model=last` and the form's `…&q=&min_visits=` share one
/// cached page (and the warm-up's page is the one a person's click asks for).
pub(super) fn page_key(path: &str, p: &BTreeMap<String, String>) -> String {
    let mut m: BTreeMap<&str, &str> = p
        .iter()
        .map(|(k, v)| (k.as_str(), v.trim()))
        .filter(|(k, v)| !v.is_empty() && *k != "token")
        .collect();
    m.entry("model").or_insert(DEFAULT_MODEL);
    if !matches!(m.get("estimated"), Some(&"true") | Some(&"on")) {
        m.remove("estimated");
    }
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in m {
        q.append_pair(k, v);
    }
    format!("{path}?{}", q.finish())
}

/// A page computed once per store version and [`page_key`].
async fn cached<F, Fut>(app: &Arc<App>, key: String, make: F) -> Response
where
    F: FnOnce(Arc<Snap>) -> Fut,
    Fut: std::future::Future<Output = Result<CachedPage>>,
{
    let s = match snap(app).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    match app.pages.get_or_make(s.version, key, || make(s)).await {
        Ok(p) => respond(&p),
        Err(e) => error_page(&e),
    }
}

async fn rows(ctx: &SessionContext, sql: &str) -> Result<(Arc<Schema>, Vec<RecordBatch>)> {
    crate::query::run(ctx, sql).await
}

/// Every cell of a result as text, row by row.
fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| display_cell(c, r)).collect());
        }
    }
    out
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or(0.0)
}

/// Links to the pages of a listing: the first and last three, two either side of
/// page `at` (in bold, not a link), an ellipsis for the rest; `href(n)` is page `n`'s
/// link, escaped.
fn pager(at: usize, pages: usize, href: impl Fn(usize) -> String) -> String {
    let mut h = String::from("<p class=\"pager\">");
    for n in 1..=pages {
        if n == at {
            let _ = write!(h, "<b>{n}</b> ");
        } else if n <= 3 || n + 2 >= pages || n.abs_diff(at) <= 2 {
            let _ = write!(h, "<a href=\"{}\">{n}</a> ", href(n));
        } else if n == 4 || n + 3 == pages {
            h.push_str("… ");
        }
    }
    h.push_str("</p>");
    h
}

/// Page `page` (from 1, clamped) of `rows` rows of [`PAGE_ROWS`] each: that page's
/// number, how many pages there are, and its rows' range.
fn page_of(page: Option<&String>, rows: usize) -> (usize, usize, std::ops::Range<usize>) {
    let pages = rows.div_ceil(PAGE_ROWS).max(1);
    let at = page
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, pages);
    (at, pages, (at - 1) * PAGE_ROWS..(at * PAGE_ROWS).min(rows))
}

/// Page `page` of a split's table (its keywords' rows, then one `(total)` row): that
/// page's keyword rows and the total row, as `page_of` numbers them.
fn split_page(
    batch: &RecordBatch,
    page: Option<&String>,
) -> ([RecordBatch; 2], usize, usize, std::ops::Range<usize>) {
    let keywords = batch.num_rows().saturating_sub(1);
    let (at, pages, range) = page_of(page, keywords);
    let shown = [
        batch.slice(range.start, range.len()),
        batch.slice(keywords, batch.num_rows() - keywords),
    ];
    (shown, at, pages, range)
}

/// An HTML table of a query result.
fn table(schema: &Schema, batches: &[RecordBatch]) -> String {
    let mut h = String::from("<div class=\"table-wrap\"><table><thead><tr>");
    let numeric: Vec<bool> = schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    for (f, n) in schema.fields().iter().zip(&numeric) {
        let _ = write!(
            h,
            "<th{}>{}</th>",
            if *n { " class=\"num\"" } else { "" },
            esc(f.name())
        );
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in cells(batches) {
        h.push_str("<tr>");
        for (v, n) in row.iter().zip(&numeric) {
            let _ = write!(
                h,
                "<td{}>{}</td>",
                if *n { " class=\"num\"" } else { "" },
                esc(v)
            );
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>");
    h
}

fn kw_literal(k: &str) -> String {
    format!("'{}'", k.replace('\'', "''"))
}

fn keyword_link(k: &str, c: &Controls) -> String {
    format!(
        "<a href=\"/keywords/{}?{}\">{}</a>",
        esc(&url_path(k)),
        esc(&c.query()),
        esc(k)
    )
}

// ---------------------------------------------------------------------------------
// Overview

pub async fn overview(State(app): State<Arc<App>>, uri: OriginalUri, Query(p): Params) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let key = page_key(uri.0.path(), &p);
    cached(&app, key, |s| async move {
        let m = &c.model;
        let range = c.sql_range();
        let est = if c.estimated { "TRUE" } else { "NOT estimated" };
        // The tiles, the engines and the days: three independent sums, run together.
        let tiles_sql = format!(
                "SELECT CAST(COALESCE(SUM(visits), 0) AS BIGINT),
                   CAST(COALESCE(SUM(CASE WHEN medium IN ('organic', 'cpc') THEN visits END), 0) AS BIGINT),
                   CAST(COALESCE(SUM(CASE WHEN keyword = '(not provided)' THEN visits END), 0) AS BIGINT),
                   CAST(COALESCE(SUM(conversions_{m}), 0) AS DOUBLE),
                   CAST(COALESCE(SUM(revenue_{m}), 0) AS DOUBLE)
                 FROM keyword_daily WHERE {range} AND {est}"
        );
        let q = crate::query::queries::find("engine_share")?;
        let mut params = c.params();
        params.remove("estimated");
        let engines_sql = q.render(&params)?;
        let days_sql = format!(
            "SELECT CAST(day AS VARCHAR) AS d, CAST(SUM(conversions_{m}) AS DOUBLE) AS c, CAST(SUM(revenue_{m}) AS DOUBLE) AS r
             FROM keyword_daily WHERE {range} AND {est} GROUP BY day ORDER BY day"
        );
        // The top movers need the by-day chart's last day; it is nearly always the
        // range's last day with a day file, so they are asked for that day alongside
        // (and again below in the rare case the chart ends elsewhere).
        let guess = s.last_day_of(crate::store::KEYWORD_DAILY, &c.from, &c.to);
        let movers_sql = |d: i32| movers_sql(d, &range, est);
        let ((_, t), (_, e), (_, d), guessed) = tokio::try_join!(
            rows(&s.pages, &tiles_sql),
            rows(&s.pages, &engines_sql),
            rows(&s.pages, &days_sql),
            async {
                match guess {
                    Some(g) => Ok(Some((g, rows(&s.pages, &movers_sql(g)).await?.1))),
                    None => Ok(None),
                }
            }
        )?;
        let t = cells(&t).into_iter().next().unwrap_or_default();
        let get = |i: usize| t.get(i).map(|v| num(v)).unwrap_or(0.0);
        let (visits, search, np, conv, rev) = (get(0), get(1), get(2), get(3), get(4));
        let mut body = c.form("/", "");
        let _ = write!(
            body,
            "<section class=\"tiles\"><div><b>{}</b>visits</div><div><b>{}</b>search visits</div><div><b>{}</b>(not provided) of search</div><div><b>{}</b>conversions</div><div><b>{}</b>revenue</div></section>",
            fmt_num(visits),
            fmt_num(search),
            if search > 0.0 {
                format!("{:.1} %", np / search * 100.0)
            } else {
                "–".into()
            },
            fmt_num(conv),
            fmt_num(rev)
        );
        // Search visits by engine.
        let mut engines: BTreeMap<String, f64> = BTreeMap::new();
        for r in cells(&e) {
            *engines.entry(r[0].clone()).or_default() += num(&r[2]);
        }
        let mut bars: Vec<Bar> = engines.into_iter().map(|(k, v)| (k, v, None)).collect();
        bars.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        body.push_str("<section><h2>Search visits by engine</h2>");
        body.push_str(&charts::bar_chart("engines", &bars[..bars.len().min(15)], ""));
        body.push_str("</section>");
        // Conversions and revenue by day.
        let days = cells(&d);
        let conv_days: Vec<(String, f64)> = days.iter().map(|r| (r[0].clone(), num(&r[1]))).collect();
        let rev_days: Vec<(String, f64)> = days.iter().map(|r| (r[0].clone(), num(&r[2]))).collect();
        body.push_str("<section><h2>Conversions by day</h2>");
        body.push_str(&charts::column_chart("conversions-by-day", &conv_days));
        body.push_str("</section><section><h2>Revenue by day</h2>");
        body.push_str(&charts::column_chart("revenue-by-day", &rev_days));
        body.push_str("</section>");
        // Top movers: the last 7 days of the range against the 7 before. The last day
        // with visits is the by-day chart's last, so the query names its 14 days (and
        // reads only their files).
        let last = days.last().and_then(|r| crate::parse::time::parse_day(&r[0]));
        let mv = match (last, guessed) {
            (None, _) => Vec::new(),
            (Some(d), Some((g, mv))) if d == g => mv,
            (Some(d), _) => rows(&s.pages, &movers_sql(d)).await?.1,
        };
        body.push_str("<section><h2>Top movers, week over week</h2><p class=\"note\">Visits in the last 7 days of the range against the 7 days before.</p><div class=\"table-wrap\"><table><thead><tr><th>keyword</th><th class=\"num\">week before</th><th class=\"num\">last week</th><th class=\"num\">change</th></tr></thead><tbody>");
        for r in cells(&mv) {
            let _ = write!(
                body,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                keyword_link(&r[0], &c),
                esc(&r[1]),
                esc(&r[2]),
                esc(&r[3])
            );
        }
        body.push_str("</tbody></table></div></section>");
        Ok(html(page("Overview", "Overview", &c, s.version, &body)))
    })
    .await
}

/// The overview's top movers: the last 7 days up to `last` against the 7 before, within
/// `range` (it names its 14 days, so it reads only their files).
fn movers_sql(last: i32, range: &str, est: &str) -> String {
    let day = |n: i32| crate::parse::time::format_day(last - n);
    format!(
        "SELECT keyword, week_before, this_week, this_week - week_before AS change
         FROM (
           SELECT keyword,
             SUM(CASE WHEN day > DATE '{}' THEN visits ELSE 0 END) AS this_week,
             SUM(CASE WHEN day <= DATE '{}' THEN visits ELSE 0 END) AS week_before
           FROM keyword_daily
           WHERE {range} AND day BETWEEN DATE '{}' AND DATE '{}' AND {est}
             AND keyword IS NOT NULL AND keyword NOT LIKE '(%)'
           GROUP BY keyword)
         ORDER BY ABS(this_week - week_before) DESC, keyword LIMIT 10",
        day(7),
        day(7),
        day(13),
        day(0)
    )
}

// ---------------------------------------------------------------------------------
// Keywords

/// The ranking of a version and controls, computed once and shared by every sort,
/// filter and page of `/keywords` and by `/api/keywords`.
async fn ranking(app: &App, s: &Snap, c: &Controls) -> Result<Arc<Vec<crate::rank::Ranked>>> {
    app.rankings
        .get_or_make(s.version, c.ranking_key(), || async {
            let stats = crate::rank::load_stats_on(
                &s.pages,
                Some(&c.from),
                Some(&c.to),
                &c.model,
                c.estimated,
            )
            .await?;
            Ok(crate::rank::ranked_with_reasons(&stats, 0.0))
        })
        .await
}

/// Weekly visits of the keywords a page shows, in the period: their rows only (from
/// the week roll-up once built, the period's partial weeks from the day files), so a
/// page costs its 50 keywords, not every keyword's weeks.
async fn sparks(
    s: &Snap,
    c: &Controls,
    shown: &[&crate::rank::Ranked],
) -> Result<std::collections::HashMap<String, Vec<f64>>> {
    if shown.is_empty() {
        return Ok(std::collections::HashMap::new());
    }
    let listed: Vec<String> = shown.iter().map(|r| kw_literal(&r.keyword)).collect();
    let (_, w) = rows(
        &s.pages,
        &format!(
            "SELECT keyword, week, CAST(SUM(visits) AS DOUBLE)
             FROM keyword_daily WHERE {} AND keyword IN ({}) {}
             GROUP BY 1, 2",
            c.sql_range(),
            listed.join(", "),
            if c.estimated { "" } else { "AND NOT estimated" }
        ),
    )
    .await?;
    let mut weekly: std::collections::HashMap<String, Vec<(i32, f64)>> =
        std::collections::HashMap::new();
    for b in &w {
        use datafusion::arrow::array::AsArray;
        let keywords = datafusion::arrow::compute::cast(
            b.column(0),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )?;
        let keywords = keywords.as_string::<i32>();
        let weeks = b
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        let visits = b
            .column(2)
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        for r in 0..b.num_rows() {
            weekly
                .entry(keywords.value(r).to_string())
                .or_default()
                .push((weeks.value(r), visits.value(r)));
        }
    }
    // Weeks in order, per keyword.
    Ok(weekly
        .into_iter()
        .map(|(k, mut w)| {
            w.sort_by_key(|x| x.0);
            (k, w.into_iter().map(|x| x.1).collect())
        })
        .collect())
}

pub(super) const PAGE_ROWS: usize = 50;

/// The ranking's key under the default controls (every day, last touch, observed).
pub(super) fn default_ranking_key() -> super::RankingKey {
    Controls::of(&BTreeMap::new())
        .expect("the default controls are valid")
        .ranking_key()
}

/// The keyword pages the first page of a ranking (in its default order) links to.
pub(super) fn first_page_links(ranking: &[crate::rank::Ranked]) -> Vec<String> {
    ranking
        .iter()
        .take(PAGE_ROWS)
        .map(|r| format!("/keywords/{}", url_path(&r.keyword)))
        .collect()
}

/// The ranking after the page's filter and sort.
fn listed<'a>(
    rows: &'a [crate::rank::Ranked],
    p: &BTreeMap<String, String>,
) -> Result<(Vec<&'a crate::rank::Ranked>, String, bool)> {
    let filter = p
        .get("q")
        .map(|q| q.trim().to_lowercase())
        .unwrap_or_default();
    let min_visits: f64 = p
        .get("min_visits")
        .filter(|v| !v.is_empty())
        .map(|v| {
            v.parse::<f64>()
                .map_err(|_| Error::usage("min_visits: a number"))
        })
        .transpose()?
        .unwrap_or(0.0);
    let sort = p.get("sort").cloned().unwrap_or_else(|| "value".into());
    let asc = p.get("dir").is_some_and(|d| d == "asc");
    let mut rows: Vec<&crate::rank::Ranked> = rows
        .iter()
        .filter(|r| filter.is_empty() || r.keyword.contains(&filter))
        .filter(|r| r.visits >= min_visits)
        .collect();
    let key = |r: &crate::rank::Ranked| -> f64 {
        match sort.as_str() {
            "visits" => r.visits,
            "conversions" => r.conversions,
            "rate" => r.rate_estimate,
            "revenue" => r.revenue_per_visit,
            _ => r.value_per_visit,
        }
    };
    if sort == "keyword" {
        rows.sort_by(|a, b| a.keyword.cmp(&b.keyword));
        if !asc {
            rows.reverse();
        }
    } else if sort != "value" || asc {
        rows.sort_by(|a, b| {
            let o = key(a).total_cmp(&key(b)).then(b.keyword.cmp(&a.keyword));
            if asc { o } else { o.reverse() }
        });
    }
    Ok((rows, sort, asc))
}

pub async fn keywords(State(app): State<Arc<App>>, uri: OriginalUri, Query(p): Params) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let shared = app.clone();
    let key = page_key(uri.0.path(), &p);
    cached(&app, key, |s| async move {
        let all = ranking(&shared, &s, &c).await?;
        let (rows, sort, asc) = listed(&all, &p)?;
        let (at, pages, range) = page_of(p.get("page"), rows.len());
        let shown = &rows[range];
        // Weekly visits of the shown keywords, for their sparklines.
        let spark = sparks(&s, &c, shown).await?;
        let filter = p.get("q").cloned().unwrap_or_default();
        let min_visits = p.get("min_visits").cloned().unwrap_or_default();
        let extra = format!(
            "<label>Keyword contains <input type=\"search\" name=\"q\" value=\"{}\"></label><label>Min. visits <input type=\"number\" name=\"min_visits\" min=\"0\" value=\"{}\"></label>",
            esc(&filter),
            esc(&min_visits)
        );
        let mut body = c.form("/keywords", &extra);
        let base = {
            let mut q = url::form_urlencoded::Serializer::new(c.query());
            if !filter.is_empty() {
                q.append_pair("q", &filter);
            }
            if !min_visits.is_empty() {
                q.append_pair("min_visits", &min_visits);
            }
            q.finish()
        };
        let head = |key: &str, label: &str, numeric: bool| {
            let dir = if sort == key && !asc { "asc" } else { "desc" };
            let mark = if sort == key {
                if asc { " ▲" } else { " ▼" }
            } else {
                ""
            };
            format!(
                "<th{}><a href=\"/keywords?{}&amp;sort={key}&amp;dir={dir}\">{label}{mark}</a></th>",
                if numeric { " class=\"num\"" } else { "" },
                esc(&base)
            )
        };
        let _ = write!(
            body,
            "<p class=\"note\">{} keywords; page {at} of {pages}. Shrunk rate: the conversion rate with small counts pulled toward what is typical; interval: 95 % Wilson.</p>\
             <div class=\"table-wrap\"><table class=\"ranking\"><thead><tr><th class=\"num\">#</th>{}{}{}{}<th class=\"num\">interval</th>{}{}<th>weekly visits</th></tr></thead><tbody>",
            rows.len(),
            head("keyword", "keyword", false),
            head("visits", "visits", true),
            head("conversions", "conversions", true),
            head("rate", "shrunk rate", true),
            head("revenue", "revenue / visit", true),
            head("value", "expected value / visit", true),
        );
        for (i, r) in shown.iter().enumerate() {
            let interval = match (r.rate_low, r.rate_high) {
                (Some(a), Some(b)) => format!("{:.2}–{:.2} %", a * 100.0, b * 100.0),
                _ => "–".into(),
            };
            let _ = write!(
                body,
                "<tr><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2} %</td><td class=\"num\">{interval}</td><td class=\"num\">{:.2}</td><td class=\"num\">{:.2}</td><td>{}</td></tr>",
                (at - 1) * PAGE_ROWS + i + 1,
                keyword_link(&r.keyword, &c),
                fmt_num(r.visits),
                fmt_num(r.conversions),
                r.rate_estimate * 100.0,
                r.revenue_per_visit,
                r.value_per_visit,
                charts::sparkline(spark.get(&r.keyword).map_or(&[][..], |v| v.as_slice()))
            );
        }
        body.push_str("</tbody></table></div>");
        body.push_str(&pager(at, pages, |n| {
            format!(
                "/keywords?{}&amp;sort={}&amp;dir={}&amp;page={n}",
                esc(&base),
                esc(&sort),
                if asc { "asc" } else { "desc" }
            )
        }));
        Ok(html(page("Keywords", "Keywords", &c, s.version, &body)))
    })
    .await
}

pub async fn keyword(
    State(app): State<Arc<App>>,
    uri: OriginalUri,
    Path(kw): Path<String>,
    Query(p): Params,
) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let key = page_key(uri.0.path(), &p);
    cached(&app, key, |s| async move {
        let k = kw_literal(&kw);
        let m = &c.model;
        let range = c.sql_range();
        let est = if c.estimated { "TRUE" } else { "NOT estimated" };
        // One read of the keyword's rows of the period, by week, with every model's
        // columns (from the week roll-up once the warm-up has built it), held in
        // memory; the page's tables are computed over them.
        let all_cols: Vec<String> = MODELS
            .iter()
            .map(|m| format!("conversions_{m}, revenue_{m}"))
            .collect();
        let (kschema, kbatches) = rows(
            &s.pages,
            &format!(
                "SELECT week, landing, estimated, visits, {} FROM keyword_daily WHERE keyword = {k} AND {range}",
                all_cols.join(", ")
            ),
        )
        .await?;
        let kctx = crate::store::object_stores::session_context()?;
        kctx.register_table(
            "kw",
            Arc::new(datafusion::datasource::MemTable::try_new(
                kschema,
                vec![kbatches],
            )?),
        )?;
        let (ws, w) = rows(
            &kctx,
            &format!(
                "SELECT week, SUM(visits) AS visits,
                   SUM(conversions_{m}) AS conversions, SUM(revenue_{m}) AS revenue
                 FROM kw WHERE {est} GROUP BY 1 ORDER BY 1"
            ),
        )
        .await?;
        let weeks = cells(&w);
        if weeks.is_empty() {
            return Err(Error::usage(format!(
                "no visits with the keyword {kw:?} in the period"
            )));
        }
        let mut body = c.form(&format!("/keywords/{}", esc(&url_path(&kw))), "");
        let visits: Vec<(String, f64)> = weeks.iter().map(|r| (r[0].clone(), num(&r[1]))).collect();
        body.push_str("<section><h2>Visits by week</h2>");
        body.push_str(&charts::column_chart("keyword-trend", &visits));
        body.push_str("</section><section><h2>By week</h2>");
        body.push_str(&table(&ws, &w));
        body.push_str("</section>");
        let (ls, l) = rows(
            &kctx,
            &format!(
                "SELECT landing, SUM(visits) AS visits, SUM(conversions_{m}) AS conversions,
                   ROUND(CAST(SUM(conversions_{m}) AS DOUBLE) / NULLIF(SUM(visits), 0), 4) AS conversion_rate
                 FROM kw WHERE {est}
                 GROUP BY landing ORDER BY visits DESC, landing LIMIT 20"
            ),
        )
        .await?;
        body.push_str("<section><h2>Landing pages</h2>");
        body.push_str(&table(&ls, &l));
        body.push_str("</section>");
        let cols: Vec<String> = MODELS
            .iter()
            .map(|m| format!("SUM(conversions_{m}) AS conversions_{m}, SUM(revenue_{m}) AS revenue_{m}"))
            .collect();
        let (_, mm) = rows(
            &kctx,
            &format!(
                "SELECT {} FROM kw WHERE {est}",
                cols.join(", ")
            ),
        )
        .await?;
        let mm = cells(&mm).into_iter().next().unwrap_or_default();
        body.push_str("<section><h2>The five attribution models</h2><div class=\"table-wrap\"><table><thead><tr><th>model</th><th class=\"num\">conversions</th><th class=\"num\">revenue</th></tr></thead><tbody>");
        for (i, model) in MODELS.iter().enumerate() {
            let _ = write!(
                body,
                "<tr{}><td>{model}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                if *model == c.model { " class=\"active\"" } else { "" },
                esc(mm.get(2 * i).map_or("", String::as_str)),
                esc(mm.get(2 * i + 1).map_or("", String::as_str))
            );
        }
        body.push_str("</tbody></table></div></section>");
        let (_, o) = rows(
            &kctx,
            "SELECT CAST(COALESCE(SUM(CASE WHEN NOT estimated THEN visits END), 0) AS BIGINT),
               CAST(COALESCE(SUM(CASE WHEN estimated THEN visits END), 0) AS BIGINT)
             FROM kw",
        )
        .await?;
        let o = cells(&o).into_iter().next().unwrap_or_default();
        let _ = write!(
            body,
            "<section><h2>Observed and estimated</h2><p>{} visits observed in the logs; {} estimated from Search Console's share of <code>(not provided)</code>{}.</p></section>",
            esc(o.first().map_or("0", String::as_str)),
            esc(o.get(1).map_or("0", String::as_str)),
            if c.estimated { "" } else { " (not included in the figures above; tick “include estimated”)" }
        );
        Ok(html(page(&format!("Keyword “{kw}”"), "Keywords", &c, s.version, &body)))
    })
    .await
}

/// A keyword as one segment of a URL path.
pub(super) fn url_path(k: &str) -> String {
    let s: String = url::form_urlencoded::byte_serialize(k.as_bytes()).collect();
    s.replace('+', "%20")
}

// ---------------------------------------------------------------------------------
// Budget

/// The period's paid days fitted into curves, once per version, period and model: a
/// what-if total only solves the split over them again. The fit runs as a task of its
/// own that finishes and keeps its curves even when the request that began it is
/// given up (the warm-up giving way to a person, a closed tab): its threads cannot be
/// stopped, so their work is kept, and whoever asks for the same curves meanwhile
/// waits for it rather than fitting beside it.
async fn budget_curves(
    app: &Arc<App>,
    s: &Arc<Snap>,
    c: &Controls,
    from: Option<&str>,
    to: Option<&str>,
    warm_up: bool,
) -> Result<Arc<super::BudgetCurves>> {
    let key = (c.from.clone(), c.to.clone(), c.model.clone());
    let (app, s, model) = (app.clone(), s.clone(), c.model.clone());
    let (from, to) = (from.map(str::to_string), to.map(str::to_string));
    to_the_end(async move {
        app.curves
            .get_or_make(s.version, key, || {
                fit_period(&app, &s, &model, from.as_deref(), to.as_deref(), warm_up)
            })
            .await
    })
    .await
}

/// Runs `work` as a task of its own, which finishes even when the request awaiting it
/// is given up: for a budget's fit and split, whose threads cannot be stopped.
async fn to_the_end<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(work)
        .await
        .map_err(|e| Error::Other(e.to_string()))?
}

/// The split of a period's fitted curves for a what-if total (None: today's spend),
/// once per version, period, model and total, so the split table's pages share it.
/// Like the fit, run to the end and kept when the request is given up ([`to_the_end`]).
async fn budget_split(
    app: &Arc<App>,
    s: &Snap,
    c: &Controls,
    curves: &Arc<super::BudgetCurves>,
    total_cents: Option<i64>,
) -> Result<Arc<super::Split>> {
    let key = (c.from.clone(), c.to.clone(), c.model.clone(), total_cents);
    let (app, version, curves) = (app.clone(), s.version, curves.clone());
    to_the_end(async move {
        app.splits
            .get_or_make(version, key, || async move {
                let params = crate::rank::curves::CurveParams {
                    total_cents,
                    ..Default::default()
                };
                tokio::task::spawn_blocking(move || {
                    crate::rank::curves::recommend_fitted(&curves.fitted, &params, curves.period)
                })
                .await
                .map_err(|e| Error::Other(e.to_string()))?
            })
            .await
    })
    .await
}

/// [`budget_curves`]' computation: the period's days under the model cut from the
/// version's ledger once the warm-up has read it (its rows and names borrowed, and the
/// fit kept by the cost days it reads, [`super::FitKey`]); else, after a commit, cut from an older version's ledger but for
/// the days the commit changed, which are read from the store; else all read from the
/// store. Then fitted. The warm-up's fit of a ledger's cut gives way (an error, nothing
/// kept) as soon as a person's request is in flight, so it does not hold the cores
/// while that request is answered; the warm-up asks again later.
async fn fit_period(
    app: &App,
    s: &Snap,
    model: &str,
    from: Option<&str>,
    to: Option<&str>,
    warm_up: bool,
) -> Result<super::BudgetCurves> {
    use crate::rank::curves::{CurveParams, fit_curves, fit_keywords_unless};
    let joined = |e: tokio::task::JoinError| Error::Other(e.to_string());
    let (fitted, period, from, to) = match app.ledgers.get(s.version, ()) {
        Some(ledger) => {
            let (period, first, last, reads) = ledger.covering(from, to)?;
            let (from, to) = (from.map(str::to_string), to.map(str::to_string));
            let model = model.to_string();
            let fitted = app
                .fits
                .get_or_make(s.version, (reads, model.clone()), || async move {
                    let asking = app.people.in_flight.clone();
                    tokio::task::spawn_blocking(move || -> Result<_> {
                        let cut = ledger.cut(&model, from.as_deref(), to.as_deref())?;
                        let stop =
                            || warm_up && asking.load(std::sync::atomic::Ordering::Acquire) > 0;
                        fit_keywords_unless(&cut.keywords(), &CurveParams::default(), &stop)
                            .ok_or_else(|| {
                                Error::Other("the warm-up's fit gave way to a request".into())
                            })
                    })
                    .await
                    .map_err(joined)?
                })
                .await?;
            (fitted, period, first, last)
        }
        None => {
            let (days, period, from, to) = match ledger_before(app, s) {
                Some((ledger, changed)) => {
                    ledger
                        .period_after(&s.pages, changed, s.cost_span(), model, from, to)
                        .await?
                }
                None => crate::rank::paid::load_on(&s.pages, from, to, model).await?,
            };
            let fitted =
                tokio::task::spawn_blocking(move || fit_curves(&days, &CurveParams::default()))
                    .await
                    .map_err(joined)?;
            (Arc::new(fitted), period, from, to)
        }
    };
    Ok(super::BudgetCurves {
        fitted,
        period,
        from,
        to,
    })
}

/// The ledger of an older version the dashboard built before `s`, and the days whose
/// files changed since, if one is kept.
fn ledger_before<'a>(
    app: &App,
    s: &'a Snap,
) -> Option<(Arc<crate::rank::paid::PaidLedger>, &'a BTreeSet<i32>)> {
    s.since
        .iter()
        .find_map(|(v, changed)| Some((app.ledgers.get(*v, ())?, changed)))
}

/// Reads the version's cost days under every model, for [`budget_curves`]: an older
/// version's ledger carried over with only the days a commit changed since read again
/// when one is kept ([`ledger_before`]); else, with `whole`, every day.
pub(super) async fn read_ledger(app: &App, s: &Snap, whole: bool) {
    if app.ledgers.get(s.version, ()).is_some() {
        return;
    }
    let before = ledger_before(app, s);
    if before.is_none() && !whole {
        return;
    }
    use crate::rank::paid::PaidLedger;
    let read = match before {
        Some((ledger, changed)) => PaidLedger::load_after(&s.ctx, &ledger, changed).await,
        None => PaidLedger::load_on(&s.ctx).await,
    };
    match read {
        Ok(ledger) => app.ledgers.put(s.version, (), Arc::new(ledger)),
        Err(e) => eprintln!("keyrank dashboard: the budget reads the store per period ({e})"),
    }
}

pub async fn budget(
    State(app): State<Arc<App>>,
    uri: OriginalUri,
    warm_up: Option<axum::Extension<super::WarmUp>>,
    Query(p): Params,
) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let shared = app.clone();
    let key = page_key(uri.0.path(), &p);
    cached(&app, key, |s| async move {
        let total = p.get("total").map(|t| t.trim()).filter(|t| !t.is_empty());
        let total_cents = total
            .map(|t| {
                crate::model::parse_cents(t)
                    .ok_or_else(|| Error::usage(format!("total: an amount like 5000.00, got {t:?}")))
            })
            .transpose()?;
        let from = (c.from != "1970-01-01").then_some(c.from.as_str());
        let to = (c.to != "9999-12-31").then_some(c.to.as_str());
        let extra = format!(
            "<label>What-if total <input type=\"text\" name=\"total\" inputmode=\"decimal\" placeholder=\"today's spend\" value=\"{}\"></label>",
            esc(total.unwrap_or(""))
        );
        let mut body = c.form("/budget", &extra);
        let curves = budget_curves(&shared, &s, &c, from, to, warm_up.is_some()).await?;
        if curves.fitted.is_empty() {
            body.push_str("<p>No ad costs in the store: import an ad platform's keyword report with <code>keyrank costs import</code> to get a budget split by response curves.</p>");
            return Ok(html(page("Budget", "Budget", &c, s.version, &body)));
        }
        let solved = budget_split(&shared, &s, &c, &curves, total_cents).await?;
        let (split, totals) = (&solved.0, &solved.1);
        let (from_s, to_s) = (&curves.from, &curves.to);
        let _ = write!(
            body,
            "<section class=\"tiles\"><div><b>{:.2}</b>spend {from_s} – {to_s} ({} days)</div><div><b>{:.2}</b>recommended</div><div><b>{:+.2}</b>expected uplift (80 %: {:.2} to {:.2})</div><div><b>{:.0} %</b>chance the split beats today's</div></section>",
            totals.current_spend,
            totals.days,
            totals.recommended_spend,
            totals.uplift,
            totals.uplift_low,
            totals.uplift_high,
            totals.probability_better * 100.0
        );
        if !totals.note.is_empty() {
            let _ = write!(body, "<p class=\"note\">{}</p>", esc(&totals.note));
        }
        body.push_str("<section><h2>Current against recommended spend</h2><p class=\"note\">Bars: recommended spend. Whiskers: from today's spend to the recommended one.</p>");
        body.push_str(&charts::spend_chart(split));
        body.push_str("</section>");
        body.push_str(&charts::curves_section(split));
        // The split's rows a page at a time, largest recommended spend first, each
        // page ending with the `(total)` row: thousands of paid keywords make a table
        // nobody reads at once (and a page slower to build and send).
        let batch = crate::rank::curves::to_batch(split, totals, from_s, to_s)?;
        let (shown, at, pages, range) = split_page(&batch, p.get("page"));
        let _ = write!(
            body,
            "<section><h2>Split</h2><p class=\"note\">{} paid keywords, largest recommended spend first; rows {} to {}.</p>",
            split.len(),
            range.start + 1,
            range.end
        );
        body.push_str(&table(&batch.schema(), &shown));
        let base = {
            let mut q = url::form_urlencoded::Serializer::new(c.query());
            if let Some(t) = total {
                q.append_pair("total", t);
            }
            q.finish()
        };
        body.push_str(&pager(at, pages, |n| {
            format!("/budget?{}&amp;page={n}", esc(&base))
        }));
        body.push_str("</section>");
        Ok(html(page("Budget", "Budget", &c, s.version, &body)))
    })
    .await
}

// ---------------------------------------------------------------------------------
// SQL

pub async fn sql_console(State(app): State<Arc<App>>, Query(p): Params) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let s = match snap(&app).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    let q = p.get("q").cloned().unwrap_or_default();
    let mut body = String::from("<section class=\"canned\"><h2>Canned queries</h2><p>");
    for (name, sql) in canned() {
        let href = query_link("/sql", sql);
        let _ = write!(body, "<a href=\"{}\">{}</a> ", esc(&href), esc(name));
    }
    let _ = write!(
        body,
        "</p></section><form class=\"sql\" method=\"get\" action=\"/sql\"><textarea name=\"q\" rows=\"8\" spellcheck=\"false\" placeholder=\"SELECT keyword, SUM(visits) FROM keyword_daily GROUP BY keyword ORDER BY 2 DESC LIMIT 20\">{}</textarea><button type=\"submit\">Run</button> <span class=\"note\">Read-only: one SELECT over the store's tables (keyword_daily, ad_costs, search_queries, ingest_runs, store_history); at most {} rows and {} s.</span></form>",
        esc(&q),
        super::sql::ROW_LIMIT,
        super::sql::TIME_LIMIT.as_secs()
    );
    if !q.trim().is_empty() {
        match answer(&app, &s, &q).await {
            Ok(a) => {
                let n: usize = a.batches.iter().map(|b| b.num_rows()).sum();
                let csv = query_link("/sql.csv", &q);
                let _ = write!(
                    body,
                    "<p class=\"result\">{n} rows{} · <a href=\"{}\">CSV</a></p>",
                    if a.truncated {
                        " (cut at the row limit)"
                    } else {
                        ""
                    },
                    esc(&csv)
                );
                body.push_str(&table(&a.schema, &a.batches));
            }
            Err(e) => {
                let _ = write!(body, "<p class=\"error\">{}</p>", esc(&e.to_string()));
            }
        }
    }
    let page = page("SQL", "SQL", &c, s.version, &body);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The canned queries with their defaults, as the SQL console links them: name and
/// text (without the comments), once.
fn canned() -> &'static [(String, String)] {
    static CANNED: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    CANNED.get_or_init(|| {
        let Ok(all) = crate::query::queries::builtin() else {
            return Vec::new();
        };
        all.into_iter()
            .filter_map(|cq| {
                let sql = cq.render(&BTreeMap::new()).ok()?;
                let text: Vec<&str> = sql
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .collect();
                Some((cq.name.clone(), text.join("\n").trim().to_string()))
            })
            .collect()
    })
}

/// `path` asked for `sql` (`/sql?q=…`), as the console links a query.
fn query_link(path: &str, sql: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("q", sql)
        .finish();
    format!("{path}?{q}")
}

/// The console's links to the canned queries (for the warm-up).
pub(super) fn canned_links() -> Vec<String> {
    canned()
        .iter()
        .map(|(_, sql)| query_link("/sql", sql))
        .collect()
}

/// The answer of a read-only query on the version. A canned query's (its text as the
/// console links it: every figure of a version is the same however often it is
/// asked) is kept per version, so the console's one-click queries, their CSV and
/// `/api/sql` answer from memory once the warm-up or anyone has run them; any other
/// query runs each time it is asked.
async fn answer(app: &App, s: &Snap, q: &str) -> Result<Arc<super::sql::Answer>> {
    let q = q.trim();
    if !canned().iter().any(|(_, sql)| sql == q) {
        return super::sql::read_only(&s.ctx, q).await.map(Arc::new);
    }
    // Over the pages' tables: their sums read the roll-ups (a canned query names only
    // `keyword_daily`, `ad_costs` and `search_queries`, and sums the store's integers
    // and decimals, so the answer is the store's to the last digit); on any error the
    // store's own tables answer instead.
    app.answers
        .get_or_make(s.version, q.to_string(), || async {
            match super::sql::read_only(&s.pages, q).await {
                Ok(a) => Ok(a),
                Err(_) => super::sql::read_only(&s.ctx, q).await,
            }
        })
        .await
}

pub async fn sql_csv(State(app): State<Arc<App>>, Query(p): Params) -> Response {
    let q = p.get("q").cloned().unwrap_or_default();
    let run = async {
        let s = snap(&app).await?;
        let a = answer(&app, &s, &q).await?;
        let mut out = Vec::new();
        crate::query::output::write(
            &mut out,
            crate::query::output::OutputFormat::Csv,
            &a.schema,
            &a.batches,
        )?;
        Ok::<_, Error>(out)
    };
    match run.await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"keyrank-query.csv\"",
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
    }
}

// ---------------------------------------------------------------------------------
// Reports

pub async fn reports(State(app): State<Arc<App>>, Query(p): Params) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return error_page(&e),
    };
    let version = snap(&app).await.ok().and_then(|s| s.version);
    let mut body = String::new();
    match &app.reports {
        None => body.push_str("<p>No report config: start the dashboard with <code>--reports FILE</code> to see its scheduled reports here.</p>"),
        Some(path) => match crate::report::Config::load(path) {
            Err(e) => {
                let _ = write!(body, "<p class=\"error\">{}</p>", esc(&e.to_string()));
            }
            Ok(cfg) => {
                body.push_str("<div class=\"table-wrap\"><table><thead><tr><th>report</th><th>query</th><th>schedule</th><th>next runs</th><th>last outputs</th></tr></thead><tbody>");
                let now = chrono::Utc::now();
                for r in &cfg.reports {
                    let next: Vec<String> = crate::report::schedule::upcoming(r, now, 3)
                        .iter()
                        .map(|t| t.with_timezone(&r.timezone).format("%Y-%m-%d %H:%M %Z").to_string())
                        .collect();
                    let outputs = output_links(&cfg, r);
                    let _ = write!(
                        body,
                        "<tr><td><b>{}</b><br>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        esc(&r.name),
                        esc(&r.title),
                        esc(&match &r.query {
                            crate::report::ReportQuery::Canned(n) => n.clone(),
                            crate::report::ReportQuery::Rank => "rank".to_string(),
                            crate::report::ReportQuery::Budget => "budget".to_string(),
                        }),
                        esc(r.cron_text.as_deref().unwrap_or("no schedule")),
                        if next.is_empty() { "–".into() } else { next.iter().map(|t| esc(t)).collect::<Vec<_>>().join("<br>") },
                        outputs
                    );
                }
                body.push_str("</tbody></table></div>");
            }
        },
    }
    let page = page("Reports", "Reports", &c, version, &body);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

/// The newest files a report wrote, newest first: (when, file name), at most `n`.
fn last_outputs(
    cfg: &crate::report::Config,
    r: &crate::report::ReportSpec,
    n: usize,
) -> (
    std::path::PathBuf,
    Vec<(chrono::DateTime<chrono::Utc>, String)>,
) {
    let pattern = r.output.replace("{name}", &r.name);
    let base = cfg.path.parent().unwrap_or(std::path::Path::new("."));
    let full = base.join(&pattern);
    let Some(dir) = full.parent().map(std::path::Path::to_path_buf) else {
        return (std::path::PathBuf::new(), Vec::new());
    };
    // Folders named by the date of the run hold nothing to list here.
    if dir.to_string_lossy().contains('{') {
        return (dir, Vec::new());
    }
    let mut files: Vec<(std::time::SystemTime, String)> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            if name.starts_with('.') || !e.file_type().ok()?.is_file() {
                return None;
            }
            let t = e.metadata().ok()?.modified().ok()?;
            Some((t, name))
        })
        .collect();
    files.sort_by(|a, b| b.cmp(a));
    let listed = files
        .into_iter()
        .take(n)
        .map(|(t, name)| (t.into(), name))
        .collect();
    (dir, listed)
}

/// How many of a report's newest outputs `/reports` links (and so serves).
const LISTED_OUTPUTS: usize = 5;

/// Links to a report's newest outputs.
fn output_links(cfg: &crate::report::Config, r: &crate::report::ReportSpec) -> String {
    let (_, files) = last_outputs(cfg, r, LISTED_OUTPUTS);
    if files.is_empty() {
        return "none yet".into();
    }
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let seg = |s: &str| -> String { percent_encoding::utf8_percent_encode(s, SEGMENT).to_string() };
    files
        .iter()
        .map(|(t, name)| {
            format!(
                "<a href=\"/reports/{}/{}\">{}</a> ({})",
                esc(&seg(&r.name)),
                esc(&seg(name)),
                esc(name),
                t.format("%Y-%m-%d %H:%M UTC")
            )
        })
        .collect::<Vec<_>>()
        .join("<br>")
}

/// The content type of a report output, by its extension.
fn output_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "html" || e == "htm" => "text/html; charset=utf-8",
        Some(e) if e == "csv" => "text/csv; charset=utf-8",
        Some(e) if e == "json" => "application/json",
        Some(e) if e == "md" => "text/markdown; charset=utf-8",
        Some(e) if e == "png" => "image/png",
        Some(e) if e == "svg" => "image/svg+xml",
        _ => "text/plain; charset=utf-8",
    }
}

/// One of a report's newest outputs, as `/reports` links it: only a file that the
/// listing shows (by its name, from the report's own output folder) is served, so no
/// request reaches any other file. A report's HTML carries its own inline stylesheet,
/// so its answer allows inline styles, and still no script or anything from elsewhere.
pub async fn report_output(
    State(app): State<Arc<App>>,
    Path((report, file)): Path<(String, String)>,
) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "no such report output\n").into_response();
    let Some(path) = &app.reports else {
        return not_found();
    };
    let Ok(cfg) = crate::report::Config::load(path) else {
        return not_found();
    };
    let Some(r) = cfg.reports.iter().find(|r| r.name == report) else {
        return not_found();
    };
    let (dir, files) = last_outputs(&cfg, r, LISTED_OUTPUTS);
    if !files.iter().any(|(_, n)| *n == file) {
        return not_found();
    }
    match tokio::fs::read(dir.join(&file)).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, output_type(&file)),
                (
                    header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
                ),
            ],
            bytes,
        )
            .into_response(),
        Err(_) => not_found(),
    }
}

// ---------------------------------------------------------------------------------
// API

fn json(value: &impl serde::Serialize) -> CachedPage {
    CachedPage {
        content_type: "application/json",
        body: serde_json::to_vec(value).unwrap_or_default().into(),
    }
}

/// A keyword of the ranking as `/api/keywords` lists it.
#[derive(serde::Serialize)]
struct ApiKeyword<'a> {
    keyword: &'a str,
    visits: f64,
    conversions: f64,
    conversion_rate: f64,
    shrunk_rate: f64,
    rate_low: Option<f64>,
    rate_high: Option<f64>,
    revenue_per_visit: f64,
    value_per_visit: f64,
    pseudo: bool,
}

/// `/api/keywords`' answer.
#[derive(serde::Serialize)]
struct ApiKeywords<'a> {
    store_version: Option<u64>,
    from: &'a str,
    to: &'a str,
    model: &'a str,
    estimated: bool,
    keywords: Vec<ApiKeyword<'a>>,
}

fn json_error(status: StatusCode, e: &Error) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "error": e.to_string() }).to_string(),
    )
        .into_response()
}

pub async fn api_keywords(
    State(app): State<Arc<App>>,
    uri: OriginalUri,
    Query(p): Params,
) -> Response {
    let c = match Controls::of(&p) {
        Ok(c) => c,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let shared = app.clone();
    let key = page_key(uri.0.path(), &p);
    cached(&app, key, |s| async move {
        let all = ranking(&shared, &s, &c).await?;
        let (rows, _, _) = listed(&all, &p)?;
        // Serialised straight from the ranking (50,000 rows: no JSON tree in between).
        let keywords = rows
            .iter()
            .map(|r| ApiKeyword {
                keyword: &r.keyword,
                visits: r.visits,
                conversions: r.conversions,
                conversion_rate: r.rate,
                shrunk_rate: r.rate_estimate,
                rate_low: r.rate_low,
                rate_high: r.rate_high,
                revenue_per_visit: r.revenue_per_visit,
                value_per_visit: r.value_per_visit,
                pseudo: is_pseudo_keyword(&r.keyword),
            })
            .collect();
        Ok(json(&ApiKeywords {
            store_version: s.version,
            from: &c.from,
            to: &c.to,
            model: &c.model,
            estimated: c.estimated,
            keywords,
        }))
    })
    .await
}

pub async fn api_sql(State(app): State<Arc<App>>, Query(p): Params) -> Response {
    let q = p.get("q").cloned().unwrap_or_default();
    let s = match snap(&app).await {
        Ok(s) => s,
        Err(e) => return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e),
    };
    match answer(&app, &s, &q).await {
        Ok(a) => {
            let mut out = Vec::new();
            if let Err(e) = crate::query::output::write(
                &mut out,
                crate::query::output::OutputFormat::Json,
                &a.schema,
                &a.batches,
            ) {
                return json_error(StatusCode::INTERNAL_SERVER_ERROR, &e);
            }
            let rows: serde_json::Value = serde_json::from_slice(&out).unwrap_or_default();
            (
                [(header::CONTENT_TYPE, "application/json")],
                serde_json::json!({ "store_version": s.version, "truncated": a.truncated, "rows": rows }).to_string(),
            )
                .into_response()
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e),
    }
}

// ---------------------------------------------------------------------------------

pub async fn stylesheet() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        format!("{}{}", charts::CSS, DASHBOARD_CSS),
    )
        .into_response()
}

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

const DASHBOARD_CSS: &str = r#"
nav { display: flex; gap: 4px; border-bottom: 1px solid var(--grid); margin-bottom: 12px; }
nav a { padding: 8px 12px; color: var(--ink); text-decoration: none; border-bottom: 2px solid transparent; }
nav a.active { border-bottom-color: var(--bar); font-weight: 600; }
a { color: var(--bar); }
form.controls { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: end; margin: 8px 0 16px; font-size: 14px; }
form.controls label { display: flex; flex-direction: column; gap: 2px; color: var(--muted); }
form.controls label:has(input[type=checkbox]) { flex-direction: row; align-items: center; gap: 6px; }
input, select, textarea, button { font: inherit; }
button { background: var(--bar); color: #fff; border: 0; border-radius: 4px; padding: 6px 14px; cursor: pointer; }
.tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 8px 0; }
.tiles div { border: 1px solid var(--grid); border-radius: 6px; padding: 10px 12px; color: var(--muted); font-size: 13px; }
.tiles b { display: block; font-size: 22px; color: var(--ink); }
textarea { width: 100%; font-family: ui-monospace, monospace; font-size: 13px; }
.error { color: #b42318; font-weight: 600; }
tr.active td { font-weight: 600; }
.pager a, .pager b { padding: 0 4px; }
footer { margin-top: 32px; color: var(--muted); font-size: 12px; border-top: 1px solid var(--grid); padding-top: 8px; }
th a { color: inherit; text-decoration: none; }
svg.spark { width: 120px; height: 24px; display: inline-block; }
svg .spark-line { fill: none; stroke: var(--bar); stroke-width: 1.5; }
svg .col { fill: var(--bar); }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_is_cut_into_pages_and_linked() {
        let page = |p: &str, rows| page_of(Some(&p.to_string()), rows);
        // 120 rows: pages of 50, 50 and 20; out-of-range and unreadable pages clamp.
        assert_eq!(page("1", 120), (1, 3, 0..50));
        assert_eq!(page("3", 120), (3, 3, 100..120));
        assert_eq!(page("9", 120), (3, 3, 100..120));
        assert_eq!(page("0", 120), (1, 3, 0..50));
        assert_eq!(page("x", 120), (1, 3, 0..50));
        assert_eq!(
            page(" 2 ", 120),
            (2, 3, 50..100),
            "as the page cache reads it"
        );
        assert_eq!(page_of(None, 0), (1, 1, 0..0));
        // Page 10 of 20: the first and last three, two either side, ellipses between.
        let links = pager(10, 20, |n| format!("?page={n}"));
        let linked: Vec<usize> = links
            .split("?page=")
            .skip(1)
            .map(|l| l.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(linked, [1, 2, 3, 8, 9, 11, 12, 18, 19, 20]);
        assert!(links.contains("<b>10</b>"));
        assert_eq!(links.matches('…').count(), 2);
    }

    #[test]
    fn a_split_is_shown_a_page_of_keywords_at_a_time_with_its_total() {
        use datafusion::arrow::array::{ArrayRef, StringArray};
        // 120 keywords and the (total) row, as `curves::to_batch` lays a split out.
        let names: Vec<String> = (0..120)
            .map(|i| format!("kw{i:03}"))
            .chain(["(total)".to_string()])
            .collect();
        let column: ArrayRef = Arc::new(StringArray::from(names.clone()));
        let batch = RecordBatch::try_from_iter([("keyword", column)]).unwrap();
        let rows = |shown: &[RecordBatch; 2]| -> Vec<String> {
            cells(shown).into_iter().map(|r| r[0].clone()).collect()
        };
        for (page, first, last) in [
            ("1", 0, 50),
            ("2", 50, 100),
            ("3", 100, 120),
            ("7", 100, 120),
        ] {
            let (shown, at, pages, range) = split_page(&batch, Some(&page.to_string()));
            assert_eq!((pages, range.clone()), (3, first..last), "page {page}");
            assert!(at <= 3);
            let mut want = names[first..last].to_vec();
            want.push("(total)".into());
            assert_eq!(rows(&shown), want, "page {page}");
        }
        // Fewer keywords than a page: all of them, then the total.
        let small = batch.slice(110, 11);
        let (shown, _, pages, _) = split_page(&small, None);
        assert_eq!(pages, 1);
        assert_eq!(rows(&shown), names[110..].to_vec());
    }
}
