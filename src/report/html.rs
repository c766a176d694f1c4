//! A report as one self-contained HTML file: inline CSS and hand-built SVG charts (no
//! scripts, nothing fetched from elsewhere), readable on screen and in print.

use super::charts::{Bar, bar_chart, curve_grid, esc, fmt_num};
use crate::report::data::ReportData;
use std::fmt::Write;

const CSS: &str = r#"
:root { --ink: #1d2330; --muted: #5b6475; --bar: #2f6fde; --bar2: #17a589; --grid: #e3e7ef; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       margin: 0 auto; max-width: 1040px; padding: 24px; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; }
.period { color: var(--muted); margin: 0; }
.note { color: var(--muted); font-size: 13px; }
svg { display: block; width: 100%; height: auto; }
svg text { font: 13px system-ui, sans-serif; fill: var(--ink); }
svg .label { text-anchor: end; }
svg .value { fill: var(--muted); font-size: 12px; }
svg .grid { stroke: var(--grid); }
svg .bar { fill: var(--bar); }
svg .share { fill: var(--bar2); }
svg .ci { stroke: var(--ink); stroke-width: 1.5; }
svg .curve { fill: none; stroke: var(--bar); stroke-width: 2; }
svg .band { fill: var(--bar); opacity: 0.15; }
svg .bounds { fill: var(--bar2); opacity: 0.12; }
svg .now { fill: #fff; stroke: var(--ink); stroke-width: 2; }
svg .rec { fill: var(--bar2); stroke: var(--ink); stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 11px; }
.multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 12px; }
.multiples figure { margin: 0; border: 1px solid var(--grid); border-radius: 6px; padding: 6px 8px; }
.multiples figcaption { font-size: 13px; font-weight: 600; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.legend { font-size: 13px; color: var(--muted); }
.legend .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; border: 2px solid var(--ink); vertical-align: -1px; }
.legend .dot.rec { background: var(--bar2); border-width: 1px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
td { white-space: nowrap; }
td.text-long { white-space: normal; min-width: 22em; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--grid); text-align: left; vertical-align: top; }
th { background: #f5f7fb; position: sticky; top: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { font-weight: 600; border-top: 2px solid var(--ink); }
@media print {
  body { max-width: none; padding: 0; font-size: 11px; }
  section { break-inside: avoid; }
  th { position: static; }
  svg .bar, svg .share { fill: #555; }
}
"#;

/// The whole page.
pub fn render(d: &ReportData) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} — keyrank</title><style>{CSS}</style></head><body>\n<header><h1>{}</h1><p class=\"period\">Period {} – {} · as of {}</p></header>\n",
        esc(&d.title),
        esc(&d.title),
        d.period.0,
        d.period.1,
        d.as_of
    );
    if let Some(ranked) = &d.ranked {
        let top: Vec<Bar> = {
            let mut real: Vec<&crate::rank::Ranked> = ranked
                .iter()
                .filter(|r| !crate::privacy::is_pseudo_keyword(&r.keyword))
                .collect();
            real.sort_by(|a, b| {
                b.conversions
                    .total_cmp(&a.conversions)
                    .then(a.keyword.cmp(&b.keyword))
            });
            real.iter()
                .take(15)
                .map(|r| {
                    let ci = r
                        .rate_low
                        .zip(r.rate_high)
                        .map(|(lo, hi)| (lo * r.visits, hi * r.visits));
                    (r.keyword.clone(), r.conversions, ci)
                })
                .collect()
        };
        h.push_str("<section><h2>Top keywords by conversions</h2>");
        h.push_str("<p class=\"note\">Bars: conversions in the period. Whiskers: 95 % Wilson interval of conversions given the visits.</p>");
        h.push_str(&bar_chart("conversions", &top, ""));
        h.push_str("</section>\n");
        if let Some(total) = d.budget_total_cents {
            let split: Vec<Bar> = ranked
                .iter()
                .filter(|r| r.amount_cents > 0)
                .take(20)
                .map(|r| (r.keyword.clone(), r.amount_cents as f64 / 100.0, None))
                .collect();
            let _ = write!(
                h,
                "<section><h2>Budget split</h2><p class=\"note\">Recommended amounts out of a total of {}.{:02}.</p>",
                total / 100,
                total % 100
            );
            h.push_str(&bar_chart("budget", &split, ""));
            h.push_str("</section>\n");
        }
    }
    if let Some(rows) = &d.curves {
        let spend: Vec<Bar> = rows
            .iter()
            .take(20)
            .map(|r| {
                let (a, b) = if r.recommended_spend >= r.current_spend {
                    (r.current_spend, r.recommended_spend)
                } else {
                    (r.recommended_spend, r.current_spend)
                };
                (
                    format!("{} · {}", r.keyword, r.engine),
                    r.recommended_spend,
                    Some((a, b)),
                )
            })
            .collect();
        h.push_str("<section><h2>Recommended spend</h2><p class=\"note\">Bars: recommended spend for the period. Whiskers: from today's spend to the recommended one.</p>");
        h.push_str(&bar_chart("budget", &spend, ""));
        h.push_str("</section>\n");
        let revenue: Vec<Bar> = rows
            .iter()
            .take(20)
            .map(|r| {
                (
                    format!("{} · {}", r.keyword, r.engine),
                    r.expected_revenue,
                    Some((r.expected_revenue_low, r.expected_revenue_high)),
                )
            })
            .collect();
        h.push_str("<section><h2>Expected revenue at the recommended spend</h2><p class=\"note\">Bars: expected revenue from the fitted response curves. Whiskers: 80 % interval.</p>");
        h.push_str(&bar_chart("conversions", &revenue, ""));
        h.push_str("</section>\n");
        h.push_str("<section><h2>Response curves</h2><p class=\"legend\">Expected revenue of the period against its spend, with the 80 % band; shaded: how far the split may move. <span class=\"dot\"></span> today's spend, <span class=\"dot rec\"></span> recommended.</p>");
        h.push_str(&curve_grid(&rows[..rows.len().min(24)]));
        h.push_str("</section>\n");
    }
    if let Some(rows) = &d.opportunities {
        h.push_str("<section><h2>Content opportunities</h2><p class=\"note\">Keywords that convert well with no ad spend: money cannot buy these visits, a page that ranks for the term can.</p>");
        if rows.is_empty() {
            h.push_str("<p>None in the period: no keyword without ad spend converts above a typical keyword's rate over enough visits.</p>");
        } else {
            h.push_str("<div class=\"table-wrap\"><table><thead><tr><th>keyword</th><th class=\"num\">visits</th><th class=\"num\">conversions</th><th class=\"num\">shrunk rate</th><th class=\"num\">expected value per visit</th><th>reason</th></tr></thead><tbody>\n");
            for r in rows {
                let _ = writeln!(
                    h,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2} %</td><td class=\"num\">{:.2}</td><td class=\"text-long\">{}</td></tr>",
                    esc(&crate::query::output::defuse_formula(&r.keyword)),
                    fmt_num(r.visits),
                    fmt_num(r.conversions),
                    r.rate_estimate * 100.0,
                    r.value_per_visit,
                    esc(&r.reason)
                );
            }
            h.push_str("</tbody></table></div>");
        }
        h.push_str("</section>\n");
    }
    h.push_str("<section><h2>Table</h2><div class=\"table-wrap\"><table><thead><tr>");
    let numeric: Vec<bool> = d
        .schema
        .fields()
        .iter()
        .map(|f| f.data_type().is_numeric())
        .collect();
    for (f, num) in d.schema.fields().iter().zip(&numeric) {
        let _ = write!(
            h,
            "<th{}>{}</th>",
            if *num { " class=\"num\"" } else { "" },
            esc(f.name())
        );
    }
    h.push_str("</tr></thead><tbody>\n");
    let mut totals = vec![0.0f64; numeric.len()];
    let mut rows = 0usize;
    for b in &d.batches {
        for r in 0..b.num_rows() {
            rows += 1;
            h.push_str("<tr>");
            for (c, col) in b.columns().iter().enumerate() {
                let v = crate::query::output::display_cell(col, r);
                if numeric[c] {
                    totals[c] += v.parse::<f64>().unwrap_or(0.0);
                }
                let shown = if numeric[c] {
                    std::borrow::Cow::Borrowed(v.as_str())
                } else {
                    crate::query::output::defuse_formula(&v)
                };
                let _ = write!(
                    h,
                    "<td{}>{}</td>",
                    if numeric[c] {
                        " class=\"num\""
                    } else if v.chars().count() > 40 {
                        " class=\"text-long\""
                    } else {
                        ""
                    },
                    esc(&shown)
                );
            }
            h.push_str("</tr>\n");
        }
    }
    h.push_str("</tbody>");
    // Totals of the columns where a sum means something.
    let summable = |name: &str| {
        matches!(
            name,
            "visits"
                | "visitors"
                | "pageviews"
                | "conversions"
                | "revenue"
                | "share"
                | "clicks"
                | "cost"
        ) || name.starts_with("conversions_")
            || name.starts_with("revenue_")
    };
    h.push_str("<tfoot><tr>");
    for (c, f) in d.schema.fields().iter().enumerate() {
        let cell = if c == 0 {
            format!("Total ({rows} rows)")
        } else if numeric[c] && summable(f.name()) {
            fmt_num((totals[c] * 1e6).round() / 1e6)
        } else if f.name() == "amount" {
            d.budget_total_cents
                .map(|t| format!("{}.{:02}", t / 100, t % 100))
                .unwrap_or_default()
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<td{}>{}</td>",
            if numeric[c] { " class=\"num\"" } else { "" },
            esc(&cell)
        );
    }
    h.push_str("</tr></tfoot></table></div></section>\n");
    h.push_str("<footer><p class=\"note\">Generated by keyrank from per-keyword aggregates only.</p></footer></body></html>\n");
    h
}
