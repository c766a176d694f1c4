//! Ad costs: an ad platform's keyword report (CSV) stored as the aggregate table
//! `ad_costs`, keywords in the same normal form as search terms. Re-importing a report
//! replaces the days × engines it covers.

use crate::classify::keyword;
use crate::error::{Error, Result};
use crate::model::{parse_cents, parse_count};
use crate::parse::input::header_key;
use crate::parse::time::parse_day;
use datafusion::arrow::array::{
    ArrayRef, Decimal128Builder, Int64Builder, RecordBatch, StringBuilder,
};
use std::path::Path;
use std::sync::Arc;

pub use super::ImportSummary;

pub use crate::store::AD_COSTS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostRow {
    pub day: i32,
    pub engine: String,
    pub keyword: String,
    pub match_type: Option<String>,
    pub clicks: i64,
    pub impressions: i64,
    pub cents: i64,
    pub currency: Option<String>,
}

fn find(headers: &[String], names: &[&str]) -> Option<usize> {
    headers.iter().position(|h| names.contains(&h.as_str()))
}

/// Reads a cost report. Bad rows are counted and reported by `file:line`.
pub fn read(path: &Path, default_engine: Option<&str>) -> Result<(Vec<CostRow>, ImportSummary)> {
    let (mut r, headers) = crate::parse::input::csv_file(path, b',', header_key)?;
    let col = |names: &[&str]| find(&headers, names);
    let day_c = col(&["day", "date", "reportdate"]);
    let kw_c = col(&["keyword", "searchkeyword", "searchterm", "term", "query"]);
    let cost_c = col(&["cost", "spend", "amountspent"]);
    let (Some(day_c), Some(kw_c), Some(cost_c)) = (day_c, kw_c, cost_c) else {
        return Err(Error::usage(format!(
            "{}: a cost report needs columns day, keyword and cost (also understood: engine, match type, clicks, impressions, currency); found: {}",
            path.display(),
            crate::parse::input::describe_headers(headers.iter().map(String::as_str))
        )));
    };
    let engine_c = col(&["engine", "source", "network", "searchengine", "platform"]);
    let match_c = col(&["matchtype", "match"]);
    let clicks_c = col(&["clicks"]);
    let impr_c = col(&["impressions", "impr"]);
    let cur_c = col(&["currency", "currencycode"]);
    let mut rows = Vec::new();
    let mut summary = ImportSummary::default();
    let name = path.display().to_string();
    let mut record = csv::StringRecord::new();
    loop {
        match r.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            // Bytes that are not UTF-8 make their row bad, not the import.
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                summary.bad_row(
                    &name,
                    e.position().map_or(0, |p| p.line()),
                    "not UTF-8 text",
                );
                continue;
            }
            Err(e) => return Err(Error::Other(format!("{name}: {e}"))),
        }
        let line = record.position().map_or(0, |p| p.line());
        let get = |c: Option<usize>| {
            c.and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let mut bad = |reason: &str| summary.bad_row(&name, line, reason);
        let Some(day) = get(Some(day_c)).and_then(parse_day) else {
            bad("bad or missing day (expected YYYY-MM-DD)");
            continue;
        };
        // Match-type decorations: [exact], "phrase", +broad +modifier.
        let undecorated = |k: &str| {
            k.trim_matches(['[', ']', '"'])
                .split_whitespace()
                .map(|w| w.trim_start_matches('+'))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let Some(kw) = get(Some(kw_c)).and_then(|k| keyword::normalize_text(&undecorated(k)))
        else {
            bad("missing keyword");
            continue;
        };
        let cost_text = get(Some(cost_c))
            .unwrap_or("")
            .replace([',', '$', '€', '£'], "");
        let Some(cents) = parse_cents(&cost_text) else {
            bad("bad cost (expected a non-negative number like 12.34)");
            continue;
        };
        let count = |c: Option<usize>| get(c).map(parse_count).unwrap_or(Some(0));
        let (Some(clicks), Some(impressions)) = (count(clicks_c), count(impr_c)) else {
            bad("bad clicks or impressions (expected a whole number from 0)");
            continue;
        };
        let currency = match get(cur_c) {
            Some(c) if crate::model::is_currency_code(c) => Some(c.to_ascii_uppercase()),
            Some(_) => {
                bad("bad currency (expected a three-letter ISO 4217 code such as EUR)");
                continue;
            }
            None => None,
        };
        let engine = get(engine_c)
            .map(|e| e.to_lowercase())
            .or_else(|| default_engine.map(str::to_lowercase))
            .unwrap_or_else(|| "(not set)".into());
        rows.push(CostRow {
            day,
            engine: engine_name(&engine),
            keyword: kw,
            match_type: get(match_c).map(|m| m.to_lowercase()),
            clicks,
            impressions,
            cents,
            currency,
        });
        summary.rows += 1;
        summary.days.insert(day);
    }
    Ok((rows, summary))
}

/// Platform names to keyrank's source names.
fn engine_name(e: &str) -> String {
    match e {
        "google ads" | "adwords" | "google adwords" | "google" => "google".into(),
        "microsoft ads" | "microsoft advertising" | "bing ads" | "bing" => "bing".into(),
        other => other.to_string(),
    }
}

/// Stores `rows`: each day × engine replaces an earlier import of it. Returns the days.
pub fn store(w: &mut crate::store::Writer, rows: &[CostRow]) -> Result<u64> {
    let schema = crate::store::ad_costs_schema();
    let days = crate::store::merge_by_day_and_engine(
        w,
        AD_COSTS,
        rows,
        |r| (r.day, r.engine.as_str()),
        |rows| {
            let n = rows.len();
            let mut e = StringBuilder::with_capacity(n, n * 8);
            let mut k = StringBuilder::with_capacity(n, n * 16);
            let mut m = StringBuilder::with_capacity(n, n * 8);
            let mut c = Int64Builder::with_capacity(n);
            let mut i = Int64Builder::with_capacity(n);
            let mut cost = Decimal128Builder::with_capacity(n);
            let mut cur = StringBuilder::with_capacity(n, n * 3);
            for r in rows {
                e.append_value(&r.engine);
                k.append_value(&r.keyword);
                m.append_option(r.match_type.as_deref());
                c.append_value(r.clicks);
                i.append_value(r.impressions);
                cost.append_value(r.cents as i128);
                cur.append_option(r.currency.as_deref());
            }
            let cols: Vec<ArrayRef> = vec![
                Arc::new(e.finish()),
                Arc::new(k.finish()),
                Arc::new(m.finish()),
                Arc::new(c.finish()),
                Arc::new(i.finish()),
                Arc::new(cost.finish().with_data_type(crate::store::MONEY)),
                Arc::new(cur.finish()),
            ];
            Ok(RecordBatch::try_new(schema.clone(), cols)?)
        },
    )?;
    Ok(days.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_platform_reports() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("costs.csv");
        std::fs::write(
            &p,
            "Day,Engine,Keyword,Match type,Clicks,Impressions,Cost,Currency\n\
             2024-03-04,Google Ads,[Red Shoes],Exact,120,\"3,400\",\"1,234.50\",EUR\n\
             2024-03-04,Microsoft Ads,+hiking +boots,Broad,10,200,12.00,EUR\n\
             04/03/2024,google,red shoes,exact,1,1,1,EUR\n\
             2024-03-05,google,,exact,1,1,1,EUR\n\
             2024-03-05,google,boots,exact,x,1,1,EUR\n",
        )
        .unwrap();
        let (rows, s) = read(&p, None).unwrap();
        assert_eq!((s.rows, s.bad_rows), (2, 3));
        assert_eq!(rows[0].keyword, "red shoes");
        assert_eq!(
            (
                rows[0].engine.as_str(),
                rows[0].clicks,
                rows[0].impressions,
                rows[0].cents
            ),
            ("google", 120, 3400, 123_450)
        );
        assert_eq!(rows[1].keyword, "hiking boots");
        assert_eq!(rows[1].engine, "bing");
        assert!(
            s.problems[0].ends_with("costs.csv:4: bad or missing day (expected YYYY-MM-DD)"),
            "{:?}",
            s.problems
        );
        let q = dir.path().join("nope.csv");
        std::fs::write(&q, "a,b\n1,2\n").unwrap();
        assert!(
            read(&q, None)
                .unwrap_err()
                .to_string()
                .contains("day, keyword and cost")
        );
    }
}
