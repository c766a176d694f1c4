//! The charts of reports (and of the dashboard): hand-built inline SVG, no scripts,
//! nothing fetched from elsewhere.

use std::fmt::Write;

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
