//! The charts of reports (and of the dashboard): hand-built inline SVG, no scripts,
//! nothing fetched from elsewhere.

use std::fmt::Write;

/// The stylesheet of reports and the dashboard.
pub const CSS: &str = r#"
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

/// Text escaped for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One chart bar: label, value and an optional (low, high) interval.
pub type Bar = (String, f64, Option<(f64, f64)>);

/// A horizontal bar chart: one row per (label, value, optional interval).
pub fn bar_chart(class: &str, rows: &[Bar], unit: &str) -> String {
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

pub fn fmt_num(v: f64) -> String {
    if (v == v.trunc() && v.abs() < 1e12) || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Small multiples of fitted response curves: one small chart per keyword, expected
/// revenue against period spend with its 80 % band, the bounds the split may move
/// within shaded, today's spend as a hollow dot and the recommended one filled.
pub fn curve_grid(rows: &[crate::rank::curves::CurveRow]) -> String {
    let (w, h, left, bottom, top) = (240.0, 150.0, 38.0, 22.0, 8.0);
    let (pw, ph) = (w - left - 8.0, h - top - bottom);
    let mut s = String::from(r#"<div class="multiples">"#);
    for r in rows.iter().filter(|r| r.curve.len() > 1) {
        let max_x = r.curve.last().map_or(1.0, |p| p.spend).max(1e-9);
        let max_y = r
            .curve
            .iter()
            .map(|p| p.high)
            .fold(r.expected_revenue_high, f64::max)
            .max(1e-9);
        let step = nice_step(max_y / 3.0);
        let max_y = step * (max_y / step).ceil().max(1.0);
        let x = |v: f64| left + pw * (v / max_x).clamp(0.0, 1.0);
        let y = |v: f64| top + ph * (1.0 - (v / max_y).clamp(0.0, 1.0));
        let _ = write!(
            s,
            r#"<figure><figcaption title="{kw} · {en}">{kw} · {en}</figcaption><svg class="chart curve-chart" viewBox="0 0 {w} {h}" role="img" aria-label="response curve of {kw} on {en}" xmlns="http://www.w3.org/2000/svg">"#,
            kw = esc(&r.keyword),
            en = esc(&r.engine)
        );
        let ticks = (max_y / step).round() as usize;
        for k in 0..=ticks {
            let v = step * k as f64;
            let _ = write!(
                s,
                r#"<line class="grid" x1="{left}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                left + pw,
                left - 4.0,
                y(v) + 4.0,
                fmt_num(v),
                gy = y(v)
            );
        }
        let (b0, b1) = r.bounds;
        if b1 > b0 {
            let _ = write!(
                s,
                r#"<rect class="bounds" x="{:.1}" y="{top}" width="{:.1}" height="{ph:.1}"><title>may move from {} to {}</title></rect>"#,
                x(b0),
                x(b1) - x(b0),
                fmt_num(b0),
                fmt_num(b1)
            );
        }
        let mut band = String::new();
        for p in &r.curve {
            let _ = write!(band, "{:.1},{:.1} ", x(p.spend), y(p.high));
        }
        for p in r.curve.iter().rev() {
            let _ = write!(band, "{:.1},{:.1} ", x(p.spend), y(p.low));
        }
        let line: String = r
            .curve
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.spend), y(p.revenue)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            s,
            r#"<polygon class="band" points="{}"/><polyline class="curve" points="{line}"/>"#,
            band.trim_end()
        );
        let at = |spend: f64| -> f64 {
            // The curve's value at a spend, between its points.
            let i = r
                .curve
                .partition_point(|p| p.spend < spend)
                .min(r.curve.len() - 1);
            if i == 0 {
                return r.curve[0].revenue;
            }
            let (a, b) = (r.curve[i - 1], r.curve[i]);
            let t = if b.spend > a.spend {
                ((spend - a.spend) / (b.spend - a.spend)).clamp(0.0, 1.0)
            } else {
                1.0
            };
            a.revenue + t * (b.revenue - a.revenue)
        };
        let _ = write!(
            s,
            r#"<circle class="now" cx="{:.1}" cy="{:.1}" r="4.5"><title>today: {} spent</title></circle><circle class="rec" cx="{:.1}" cy="{:.1}" r="4.5"><title>recommended: {} spent, {} expected</title></circle>"#,
            x(r.current_spend),
            y(at(r.current_spend)),
            fmt_num(r.current_spend),
            x(r.recommended_spend),
            y(r.expected_revenue),
            fmt_num(r.recommended_spend),
            fmt_num(r.expected_revenue)
        );
        let _ = write!(
            s,
            r#"<text class="axis" x="{left}" y="{:.1}">0</text><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{} spend</text></svg></figure>"#,
            h - 6.0,
            left + pw,
            h - 6.0,
            fmt_num(max_x)
        );
    }
    s.push_str("</div>");
    s
}

/// A column chart of many values in order (days, weeks): one column each, the axis
/// labelled at its first and last label.
pub fn column_chart(class: &str, values: &[(String, f64)]) -> String {
    let (width, height, left, bottom, top) = (1000.0, 220.0, 60.0, 24.0, 8.0);
    let (pw, ph) = (width - left - 10.0, height - top - bottom);
    let max = values.iter().map(|v| v.1).fold(0.0f64, f64::max).max(1e-9);
    let step = nice_step(max / 4.0);
    let max = step * (max / step).ceil().max(1.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart {class}" viewBox="0 0 {width} {height}" role="img" aria-label="{class} chart" xmlns="http://www.w3.org/2000/svg">"#
    );
    let y = |v: f64| top + ph * (1.0 - (v / max).clamp(0.0, 1.0));
    for k in 0..=((max / step).round() as usize) {
        let v = step * k as f64;
        let _ = write!(
            s,
            r#"<line class="grid" x1="{left}" y1="{gy:.1}" x2="{:.1}" y2="{gy:.1}"/><text class="value" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left + pw,
            left - 6.0,
            y(v) + 4.0,
            fmt_num(v),
            gy = y(v)
        );
    }
    let n = values.len().max(1) as f64;
    let w = pw / n;
    for (i, (label, v)) in values.iter().enumerate() {
        let x = left + w * i as f64;
        let _ = write!(
            s,
            r#"<rect class="col" x="{:.2}" y="{:.1}" width="{:.2}" height="{:.1}"><title>{}: {}</title></rect>"#,
            x + w * 0.1,
            y(*v),
            (w * 0.8).max(0.5),
            (top + ph - y(*v)).max(0.0),
            esc(label),
            fmt_num(*v)
        );
    }
    if let (Some(first), Some(last)) = (values.first(), values.last()) {
        let _ = write!(
            s,
            r#"<text class="value" x="{left}" y="{:.1}">{}</text><text class="value" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            height - 6.0,
            esc(&first.0),
            left + pw,
            height - 6.0,
            esc(&last.0)
        );
    }
    s.push_str("</svg>");
    s
}

/// A small line of values in order, without axes (a keyword's weekly visits).
pub fn sparkline(values: &[f64]) -> String {
    let (w, h) = (120.0, 24.0);
    if values.is_empty() {
        return String::new();
    }
    let max = values.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    let dx = if values.len() > 1 {
        w / (values.len() - 1) as f64
    } else {
        0.0
    };
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * dx,
                2.0 + (h - 4.0) * (1.0 - v / max)
            )
        })
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" role="img" aria-label="trend" xmlns="http://www.w3.org/2000/svg"><polyline class="spark-line" points="{}"/></svg>"#,
        points.join(" ")
    )
}

/// Current against recommended spend of a curves split: a bar per paid keyword
/// (the first 20), whiskers from today's spend to the recommended one.
pub fn spend_chart(rows: &[crate::rank::curves::CurveRow]) -> String {
    let bars: Vec<Bar> = rows
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
    bar_chart("budget", &bars, "")
}

/// The section of a split's fitted curves: heading, legend and the small multiples
/// of its first [`crate::rank::curves::CURVES_DRAWN`] rows (the largest recommended
/// spends, which carry their curves).
pub fn curves_section(rows: &[crate::rank::curves::CurveRow]) -> String {
    format!(
        "<section><h2>Response curves</h2><p class=\"legend\">Expected revenue of the period against its spend, with the 80 % band; shaded: how far the split may move. <span class=\"dot\"></span> today's spend, <span class=\"dot rec\"></span> recommended.</p>{}</section>\n",
        curve_grid(&rows[..rows.len().min(crate::rank::curves::CURVES_DRAWN)])
    )
}
