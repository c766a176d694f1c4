//! A report as one self-contained HTML file: inline CSS and hand-built SVG charts (no
//! scripts, nothing fetched from elsewhere), readable on screen and in print.

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

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One chart bar: label, value and an optional (low, high) interval.
type Bar = (String, f64, Option<(f64, f64)>);

/// A horizontal bar chart: one row per (label, value, optional interval).
fn bar_chart(class: &str, rows: &[Bar], unit: &str) -> String {
    let row_h = 26.0;
    let left = 220.0;
    let width = 1000.0;
    let right = 90.0;
    let plot = width - left - right;
    let height = rows.len() as f64 * row_h + 30.0;
    let max = rows
        .iter()
        .map(|(_, v, ci)| ci.map_or(*v, |c| c.1.max(*v)))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    // Round axis ticks: a step of 1, 2 or 5 × 10^k giving at most five intervals.
    let step = nice_step(max / 5.0);
    let ticks = (max / step).ceil().max(1.0) as usize;
    let max = step * ticks as f64;
    let x = |v: f64| left + plot * v / max;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart {class}" viewBox="0 0 {width} {height}" role="img" aria-label="{class} chart" xmlns="http://www.w3.org/2000/svg">"#
    );
    for k in 0..=ticks {
        let v = step * k as f64;
        let gx = x(v);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{gx:.1}" y1="0" x2="{gx:.1}" y2="{:.1}"/><text class="value" x="{gx:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            height - 20.0,
            height - 5.0,
            fmt_num(v)
        );
    }
    for (i, (label, v, ci)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let label = if label.chars().count() > 30 {
            format!("{}…", label.chars().take(29).collect::<String>())
        } else {
            label.clone()
        };
        let _ = write!(
            s,
            r#"<text class="label" x="{:.1}" y="{:.1}">{}</text><rect class="bar {class}-bar" x="{left}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {}{unit}</title></rect>"#,
            left - 8.0,
            y + 15.0,
            esc(&label),
            (x(*v) - left).max(0.5),
            row_h - 8.0,
            esc(&label),
            fmt_num(*v)
        );
        let mut end = x(*v);
        if let Some((lo, hi)) = ci {
            let (x1, x2, cy) = (x(*lo), x(*hi), y + (row_h - 8.0) / 2.0);
            end = end.max(x2);
            let _ = write!(
                s,
                r#"<line class="ci" x1="{x1:.1}" y1="{cy:.1}" x2="{x2:.1}" y2="{cy:.1}"/><line class="ci" x1="{x1:.1}" y1="{:.1}" x2="{x1:.1}" y2="{:.1}"/><line class="ci" x1="{x2:.1}" y1="{:.1}" x2="{x2:.1}" y2="{:.1}"/>"#,
                cy - 5.0,
                cy + 5.0,
                cy - 5.0,
                cy + 5.0
            );
        }
        let _ = write!(
            s,
            r#"<text class="value" x="{:.1}" y="{:.1}">{}{unit}</text>"#,
            end + 6.0,
            y + 15.0,
            fmt_num(*v)
        );
    }
    s.push_str("</svg>");
    s
}

/// The smallest of 1, 2, 5 × 10^k that is at least `raw`.
fn nice_step(raw: f64) -> f64 {
    let raw = raw.max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw * (1.0 - 1e-12))
        .unwrap_or(10.0 * magnitude)
}

fn fmt_num(v: f64) -> String {
    if (v == v.trunc() && v.abs() < 1e12) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

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
                (r.keyword.clone(), r.recommended_spend, Some((a, b)))
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
                    r.keyword.clone(),
                    r.expected_revenue,
                    Some((r.expected_revenue_low, r.expected_revenue_high)),
                )
            })
            .collect();
        h.push_str("<section><h2>Expected revenue at the recommended spend</h2><p class=\"note\">Bars: expected revenue from the fitted response curves. Whiskers: 80 % interval.</p>");
        h.push_str(&bar_chart("conversions", &revenue, ""));
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
