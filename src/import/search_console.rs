//! Organic keywords after "(not provided)": Search Console (and Bing Webmaster Tools)
//! query exports stored as the aggregate table `search_queries`, and recovery — each
//! page's organic `(not provided)` visits, conversions and revenue apportioned over that
//! page's queries in proportion to their clicks.
//!
//! Recovery writes *adjustment* rows marked `estimated = true`: one per recovered query
//! (+ its share) and one for `(not provided)` (− the total moved), so observed rows stay
//! exactly as ingested (`WHERE NOT estimated` is the observed view) and every total
//! over all rows is unchanged.

use crate::classify::{NOT_PROVIDED, keyword};
use crate::error::{Error, Result};
use crate::model::attribution::AttributionModel;
use crate::model::rollup::{Counts, Row, Segment};
use crate::parse::time::{format_day, parse_day};
use crate::store::{KEYWORD_DAILY, Writer};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::model::parse_count;
use crate::parse::input::header_key;

pub use crate::store::SEARCH_QUERIES;
/// The query of clicks Search Console does not name (rare or anonymised queries).
pub const ANONYMIZED: &str = "(anonymized)";

/// One imported row.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRow {
    pub day: i32,
    pub engine: String,
    pub query: String,
    /// Landing path (scheme, host and query string removed); None for site-wide exports.
    pub page: Option<String>,
    pub country: Option<String>,
    pub device: Option<String>,
    pub clicks: i64,
    pub impressions: i64,
    pub position: Option<f64>,
}

pub use super::ImportSummary;

/// A page URL as a landing path: `https://shop.example/boots?x=1` → `/boots`.
pub fn page_path(url: &str) -> String {
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url,
    };
    let path = match rest.find('/') {
        Some(i) if url.contains("://") => &rest[i..],
        Some(_) => rest,
        None if url.contains("://") => "/",
        None => rest,
    };
    let path = path.split(['?', '#']).next().unwrap_or("/");
    if path.is_empty() {
        "/".into()
    } else {
        path.to_string()
    }
}

/// Reads an export: the bulk/API shape (date, query, page[, country, device], clicks,
/// impressions[, ctr], position) as CSV, JSON lines or Parquet, or a UI / Bing
/// Webmaster export without dates (then `day` must be given).
pub fn read(path: &Path, engine: &str, day: Option<i32>) -> Result<(Vec<QueryRow>, ImportSummary)> {
    let name = path.display().to_string();
    let lower = name.to_lowercase();
    let records: Vec<(u64, BTreeMap<String, String>)> = if lower.ends_with(".parquet") {
        read_parquet(path)?
    } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") || lower.ends_with(".json") {
        read_jsonl(path)?
    } else {
        read_csv(path)?
    };
    let mut summary = ImportSummary::default();
    let Some((_, first)) = records.iter().find(|(_, r)| !r.contains_key(NOT_TEXT)) else {
        summary.bad_rows = records.len() as u64;
        return Ok((Vec::new(), summary));
    };
    let pick = |names: &[&str]| {
        names
            .iter()
            .map(|n| n.to_string())
            .find(|n| first.contains_key(n))
    };
    let date_c = pick(&["date", "day"]);
    let query_c = pick(&["query", "topqueries", "keyword", "searchquery", "queries"]);
    let page_c = pick(&["page", "url", "landingpage", "toppages"]);
    let clicks_c = pick(&["clicks", "urlclicks"]);
    let (Some(query_c), Some(clicks_c)) = (query_c, clicks_c) else {
        return Err(Error::usage(format!(
            "{name}: not a Search Console or Bing Webmaster query export; expected columns date, query, page, country, device, clicks, impressions, position (date and page optional with --day); found: {}",
            crate::parse::input::describe_headers(first.keys().map(String::as_str))
        )));
    };
    if date_c.is_none() && day.is_none() {
        return Err(Error::usage(format!(
            "{name}: this export has no date column; give the day it covers with --day YYYY-MM-DD"
        )));
    }
    let impr_c = pick(&["impressions", "impr"]);
    let pos_c = pick(&["position", "avgposition", "averageposition"]);
    let country_c = pick(&["country"]);
    let device_c = pick(&["device"]);
    let mut rows = Vec::new();
    for (line, rec) in &records {
        let get = |c: &Option<String>| {
            c.as_ref()
                .and_then(|k| rec.get(k))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let mut bad = |reason: &str| summary.bad_row(&name, *line, reason);
        if rec.contains_key(NOT_TEXT) {
            bad("not UTF-8 text");
            continue;
        }
        let d = match &date_c {
            Some(_) => match get(&date_c).and_then(|v| parse_day(v.get(..10).unwrap_or(v))) {
                Some(d) => d,
                None => {
                    bad("bad or missing date (expected YYYY-MM-DD)");
                    continue;
                }
            },
            None => day.unwrap_or_default(),
        };
        let Some(clicks) = get(&Some(clicks_c.clone())).and_then(parse_count) else {
            bad("bad or missing clicks (expected a whole number from 0)");
            continue;
        };
        let impressions = match get(&impr_c).map(parse_count) {
            None => 0,
            Some(Some(n)) => n,
            Some(None) => {
                bad("bad impressions (expected a whole number from 0)");
                continue;
            }
        };
        let query = match get(&Some(query_c.clone())).and_then(keyword::normalize_text) {
            Some(q) => crate::privacy::scrub(q).0,
            None => {
                summary.anonymized_rows += 1;
                ANONYMIZED.to_string()
            }
        };
        rows.push(QueryRow {
            day: d,
            engine: engine.to_string(),
            query,
            page: get(&page_c).map(page_path),
            country: get(&country_c).map(str::to_lowercase),
            device: get(&device_c).map(str::to_lowercase),
            clicks,
            impressions,
            position: get(&pos_c)
                .and_then(|v| v.trim().parse::<f64>().ok())
                .filter(|p| p.is_finite()),
        });
        summary.rows += 1;
        summary.days.insert(d);
    }
    Ok((rows, summary))
}

fn read_csv(path: &Path) -> Result<Vec<(u64, BTreeMap<String, String>)>> {
    let (mut r, headers) = crate::parse::input::csv_file(path, b',', header_key)?;
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = match rec {
            Ok(rec) => rec,
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                out.push((e.position().map_or(0, |p| p.line()), not_text()));
                continue;
            }
            Err(e) => return Err(Error::Other(format!("{}: {e}", path.display()))),
        };
        let line = rec.position().map_or(0, |p| p.line());
        out.push((
            line,
            headers
                .iter()
                .cloned()
                .zip(rec.iter().map(String::from))
                .collect(),
        ));
    }
    Ok(out)
}

/// The one key of a record whose bytes were not UTF-8 text: a bad row.
const NOT_TEXT: &str = "\0not text";

fn not_text() -> BTreeMap<String, String> {
    BTreeMap::from([(NOT_TEXT.to_string(), String::new())])
}

fn read_jsonl(path: &Path) -> Result<Vec<(u64, BTreeMap<String, String>)>> {
    let reader = crate::parse::input::open(&crate::parse::input::Source::File(path.to_path_buf()))?;
    let mut lines = crate::parse::input::LineReader::new(reader);
    let mut out = Vec::new();
    let mut i = 0u64;
    while let Some(line) = lines.next_line().map_err(|e| Error::io(path, e))? {
        i += 1;
        let Ok(line) = std::str::from_utf8(line) else {
            out.push((i, not_text()));
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let mut rec = BTreeMap::new();
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(line) {
            for (k, v) in m {
                let v = match v {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Null => String::new(),
                    // The API returns keys: [query, page, …] in one array.
                    other => other.to_string(),
                };
                rec.insert(header_key(&k), v);
            }
        }
        out.push((i, rec));
    }
    Ok(out)
}

fn read_parquet(path: &Path) -> Result<Vec<(u64, BTreeMap<String, String>)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
            .build()?;
    let mut out = Vec::new();
    let mut n = 0;
    for batch in reader {
        let batch = batch?;
        let cols: Vec<(String, ArrayRef)> = batch
            .schema()
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, c)| Ok((header_key(f.name()), cast(c, &DataType::Utf8)?)))
            .collect::<Result<_>>()?;
        for i in 0..batch.num_rows() {
            n += 1;
            let rec = cols
                .iter()
                .map(|(k, c)| {
                    let v = if c.is_null(i) {
                        String::new()
                    } else {
                        c.as_string::<i32>().value(i).to_string()
                    };
                    (k.clone(), v)
                })
                .collect();
            out.push((n, rec));
        }
    }
    Ok(out)
}

/// Stores rows: each day × engine replaces an earlier import of it. Returns the days.
pub fn store_rows(w: &mut Writer, rows: &[QueryRow]) -> Result<std::collections::BTreeSet<i32>> {
    let schema = crate::store::search_queries_schema();
    crate::store::merge_by_day_and_engine(
        w,
        SEARCH_QUERIES,
        rows,
        |r| (r.day, r.engine.as_str()),
        |rows| {
            let n = rows.len();
            let (mut e, mut q, mut p, mut c, mut d) = (
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
                StringBuilder::new(),
            );
            let (mut clicks, mut impr, mut pos) = (
                Int64Builder::with_capacity(n),
                Int64Builder::with_capacity(n),
                Float64Builder::with_capacity(n),
            );
            for r in rows {
                e.append_value(&r.engine);
                q.append_value(&r.query);
                p.append_option(r.page.as_deref());
                c.append_option(r.country.as_deref());
                d.append_option(r.device.as_deref());
                clicks.append_value(r.clicks);
                impr.append_value(r.impressions);
                pos.append_option(r.position);
            }
            let cols: Vec<ArrayRef> = vec![
                Arc::new(e.finish()),
                Arc::new(q.finish()),
                Arc::new(p.finish()),
                Arc::new(c.finish()),
                Arc::new(d.finish()),
                Arc::new(clicks.finish()),
                Arc::new(impr.finish()),
                Arc::new(pos.finish()),
            ];
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        },
    )
}

/// What recovery did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RecoverySummary {
    pub days: u64,
    pub pages_recovered: u64,
    pub visits_apportioned: i64,
    pub estimated_rows: u64,
}

/// Recomputes the estimated rows of `days` (all days of `keyword_daily` when empty) as
/// the write `w` will leave the store, using query clicks from the `window_days` days
/// up to each day; the days are rewritten in the same write.
pub fn recover(w: &mut Writer, days: &[i32], window_days: i64) -> Result<RecoverySummary> {
    let mut summary = RecoverySummary::default();
    let pending = w.pending();
    if pending.table(SEARCH_QUERIES).files.is_empty() {
        return Ok(summary);
    }
    let rt = crate::model::runtime::runtime()?;
    let ctx = rt.block_on(crate::query::session_over(w.store(), &pending))?;
    let sql_days = |sql: &str| -> Result<Vec<RecordBatch>> {
        Ok(rt.block_on(async { crate::query::run(&ctx, sql).await })?.1)
    };
    let days: Vec<i32> = if days.is_empty() {
        let b = sql_days("SELECT DISTINCT CAST(day AS INT) FROM keyword_daily ORDER BY 1")?;
        b.iter()
            .flat_map(|b| {
                let c = cast(b.column(0), &DataType::Int32).ok();
                c.map(|c| {
                    c.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                        .values()
                        .to_vec()
                })
                .unwrap_or_default()
            })
            .collect()
    } else {
        days.to_vec()
    };
    for &day in &days {
        let d = format_day(day);
        let from = format_day(day - (window_days.max(1) as i32 - 1));
        let rows = read_day(&sql_days, &d)?;
        if rows.is_empty() {
            continue;
        }
        // Clicks per engine × page × query over the window.
        let clicks = sql_days(&format!(
            "SELECT engine, page, query, SUM(clicks) FROM search_queries \
             WHERE day BETWEEN DATE '{from}' AND DATE '{d}' AND page IS NOT NULL \
             GROUP BY engine, page, query ORDER BY engine, page, query"
        ))?;
        let mut by_page: BTreeMap<(String, String), Vec<(String, i64)>> = BTreeMap::new();
        for b in &clicks {
            let text = |i: usize| cast(b.column(i), &DataType::Utf8);
            let (e, p, q) = (text(0)?, text(1)?, text(2)?);
            let (e, p, q) = (
                e.as_string::<i32>(),
                p.as_string::<i32>(),
                q.as_string::<i32>(),
            );
            let c = cast(b.column(3), &DataType::Int64)?;
            let c = c.as_primitive::<Int64Type>();
            for i in 0..b.num_rows() {
                if c.value(i) > 0 {
                    by_page
                        .entry((e.value(i).to_string(), p.value(i).to_string()))
                        .or_default()
                        .push((q.value(i).to_string(), c.value(i)));
                }
            }
        }
        let mut out: Vec<Row> = rows.into_iter().filter(|r| !r.estimated).collect();
        let mut estimated = Vec::new();
        for r in &out {
            if r.channel.medium != "organic" || r.channel.keyword.as_deref() != Some(NOT_PROVIDED) {
                continue;
            }
            let Some(queries) = by_page.get(&(r.channel.source.clone(), r.landing.clone())) else {
                continue;
            };
            summary.pages_recovered += 1;
            let weights: Vec<f64> = queries.iter().map(|(_, c)| *c as f64).collect();
            let parts = apportion(&r.counts, &weights);
            let mut moved = Counts::default();
            for ((q, _), part) in queries.iter().zip(parts) {
                // Anonymised clicks stay (not provided): that share is not moved.
                if q == ANONYMIZED || part == Counts::default() {
                    continue;
                }
                moved.add(&part);
                let mut row = r.clone();
                row.sketch = None;
                row.channel.keyword = Some(q.clone());
                row.counts = part;
                row.estimated = true;
                estimated.push(row);
            }
            if moved != Counts::default() {
                summary.visits_apportioned += moved.visits;
                let mut back = r.clone();
                back.sketch = None;
                back.counts = negate(&moved);
                back.estimated = true;
                estimated.push(back);
            }
        }
        summary.estimated_rows += estimated.len() as u64;
        out.extend(estimated);
        let refs: Vec<&Row> = out.iter().collect();
        let batch = crate::store::rows_to_batch(&crate::store::file_schema(), &refs)?;
        w.replace_day(KEYWORD_DAILY, day, &batch)?;
        summary.days += 1;
    }
    Ok(summary)
}

fn negate(c: &Counts) -> Counts {
    let mut n = Counts {
        visits: -c.visits,
        visitors: -c.visitors,
        pageviews: -c.pageviews,
        ..Default::default()
    };
    for m in 0..AttributionModel::ALL.len() {
        n.conversions[m] = -c.conversions[m];
        n.revenue[m] = -c.revenue[m];
    }
    n
}

/// Splits every count of `c` by `weights`, exactly (largest remainder per count).
fn apportion(c: &Counts, weights: &[f64]) -> Vec<Counts> {
    let split = |total: i64| -> Vec<i64> {
        if total >= 0 {
            crate::model::attribution::split_exact(total, weights)
        } else {
            crate::model::attribution::split_exact(-total, weights)
                .into_iter()
                .map(|x| -x)
                .collect()
        }
    };
    let mut parts = vec![Counts::default(); weights.len()];
    type Field = fn(&mut Counts) -> &mut i64;
    let fields: [(i64, Field); 3] = [
        (c.visits, |x| &mut x.visits),
        (c.visitors, |x| &mut x.visitors),
        (c.pageviews, |x| &mut x.pageviews),
    ];
    for (total, get) in fields {
        for (p, v) in parts.iter_mut().zip(split(total)) {
            *get(p) = v;
        }
    }
    for m in 0..AttributionModel::ALL.len() {
        for (p, v) in parts.iter_mut().zip(split(c.conversions[m])) {
            p.conversions[m] = v;
        }
        for (p, v) in parts.iter_mut().zip(split(c.revenue[m])) {
            p.revenue[m] = v;
        }
    }
    parts
}

/// All rows of one day of `keyword_daily`, decoded.
fn read_day(sql: &dyn Fn(&str) -> Result<Vec<RecordBatch>>, day: &str) -> Result<Vec<Row>> {
    let models: Vec<String> = AttributionModel::ALL
        .iter()
        .map(|m| {
            format!(
                "CAST(conversions_{0} * 1000000 AS BIGINT), CAST(revenue_{0} * 100 AS BIGINT)",
                m.name()
            )
        })
        .collect();
    let batches = sql(&format!(
        "SELECT CAST(day AS INT), source, medium, keyword, campaign, landing, segment, estimated, visits, visitors, pageviews, {} \
         , {} FROM keyword_daily WHERE day = DATE '{day}'",
        models.join(", "),
        crate::store::VISITOR_SKETCH
    ))?;
    let mut rows = Vec::new();
    for b in &batches {
        let text = |i: usize| -> Result<_> {
            Ok(cast(b.column(i), &DataType::Utf8)?
                .as_string::<i32>()
                .clone())
        };
        let num = |i: usize| -> Result<_> {
            Ok(cast(b.column(i), &DataType::Int64)?
                .as_primitive::<Int64Type>()
                .clone())
        };
        let dayc = cast(b.column(0), &DataType::Int32)?;
        let dayc = dayc.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let (source, medium, kw, camp, landing, seg) =
            (text(1)?, text(2)?, text(3)?, text(4)?, text(5)?, text(6)?);
        let est = b
            .column(7)
            .as_any()
            .downcast_ref::<BooleanArray>()
            .cloned()
            .ok_or_else(|| Error::Other("estimated".into()))?;
        let ints: Vec<_> = (8..8 + 3 + 2 * AttributionModel::ALL.len())
            .map(num)
            .collect::<Result<_>>()?;
        let sketches = cast(
            b.column(8 + 3 + 2 * AttributionModel::ALL.len()),
            &DataType::Binary,
        )?;
        let sketches = sketches.as_binary::<i32>();
        for i in 0..b.num_rows() {
            let mut counts = Counts {
                visits: ints[0].value(i),
                visitors: ints[1].value(i),
                pageviews: ints[2].value(i),
                ..Counts::default()
            };
            for m in 0..AttributionModel::ALL.len() {
                counts.conversions[m] = ints[3 + 2 * m].value(i);
                counts.revenue[m] = ints[4 + 2 * m].value(i);
            }
            let opt = |a: &datafusion::arrow::array::StringArray| {
                (!a.is_null(i)).then(|| a.value(i).to_string())
            };
            rows.push(Row {
                day: dayc.value(i),
                channel: crate::classify::Channel {
                    source: source.value(i).to_string(),
                    medium: medium.value(i).to_string(),
                    keyword: opt(&kw),
                    campaign: opt(&camp),
                },
                landing: landing.value(i).to_string(),
                segment: if seg.value(i) == "member" {
                    Segment::Member
                } else {
                    Segment::Anonymous
                },
                counts,
                estimated: est.value(i),
                sketch: (!sketches.is_null(i))
                    .then(|| crate::model::sketch::Sketch::from_bytes(sketches.value(i)))
                    .flatten(),
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_become_landing_paths() {
        assert_eq!(page_path("https://shop.example/boots?x=1#y"), "/boots");
        assert_eq!(page_path("https://shop.example"), "/");
        assert_eq!(page_path("/sale"), "/sale");
    }

    #[test]
    fn apportioning_is_exact() {
        let c = Counts {
            visits: 10,
            visitors: 9,
            pageviews: 31,
            conversions: [1_000_000, 2_000_000, 1_500_000, 1_000_000, 999_999],
            revenue: [1999, 2999, 100, 0, 7],
        };
        let parts = apportion(&c, &[3.0, 1.0, 1.0]);
        let mut total = Counts::default();
        for p in &parts {
            total.add(p);
        }
        assert_eq!(total, c);
        assert_eq!(parts[0].visits, 6);
    }
}
