//! A report as one self-contained HTML file: inline CSS and hand-built SVG charts (no
//! scripts, nothing fetched from elsewhere), readable on screen and in print.

use super::charts::{Bar, CSS, bar_chart, curves_section, esc, fmt_num, spend_chart};
use crate::report::data::ReportData;
use std::fmt::Write;

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
        h.push_str("<section><h2>Recommended spend</h2><p class=\"note\">Bars: recommended spend for the period. Whiskers: from today's spend to the recommended one.</p>");
        h.push_str(&spend_chart(rows));
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
        h.push_str(&curves_section(rows));
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
