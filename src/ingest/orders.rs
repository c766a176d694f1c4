//! The purchases of a run: read on their own thread while the log is ingested, then
//! joined to the visitors' touches and credited under every model.

use super::*;
use crate::classify::{Acquisition, Channel};

/// The purchase files of a run, read, converted to the reporting currency, keyed
/// and sorted by time: everything that does not need the log's visits, done on the
/// loader thread while the log is ingested.
pub(super) struct LoadedPurchases {
    orders: Vec<Order>,
    reporting_currency: Option<String>,
    /// (file, line, reason) of each bad row, in file order.
    bad: Vec<(String, u64, String)>,
    counts: purchases::ReadCounts,
}

/// One valid purchase row; identifiers are keyed hashes, never the values.
#[derive(Default)]
pub(super) struct Order {
    ts: i64,
    cents: i64,
    /// The order id, when the row has one: counted once across all sources.
    order: Option<u64>,
    /// The privacy unit of a row without a known visitor: its order, else the row.
    unit: u64,
    visitor: Option<u64>,
    /// The normalised keyword column.
    term: Option<String>,
    /// The touch the shop recorded with the order (landing URL and referrer, or its
    /// own attribution), for an order with no visitor to join; and its landing path.
    touch: Option<(Channel, String)>,
    /// An earlier row of the purchase files has the same order id.
    duplicate: bool,
}

pub(super) fn load_purchases(
    cfg: &IngestConfig,
    key: &Keyed,
    classifier: &Classifier,
) -> Result<LoadedPurchases> {
    let mut fx = match &cfg.fx_file {
        Some(p) => Fx::load(p, cfg.currency.clone())?,
        None => Fx {
            reporting: cfg.currency.as_ref().map(|c| c.to_ascii_uppercase()),
            ..Fx::default()
        },
    };
    let mut orders = Vec::new();
    let mut bad = Vec::new();
    let mut counts = purchases::ReadCounts::default();
    for (file, src) in cfg.purchases.iter().enumerate() {
        let name = src.path.display().to_string();
        let mut on_bad = |line: u64, reason: String| bad.push((name.clone(), line, reason));
        let (rows, read) = purchases::read(src, &cfg.purchase_cols, &mut fx, &mut on_bad)?;
        counts.item_rows += read.item_rows;
        counts.not_orders += read.not_orders;
        orders.extend(rows.into_iter().map(|p| {
            let touch = shop_touch(&p, classifier);
            let order = p.order.as_deref().map(|o| key.hash(&[b"o", o.as_bytes()]));
            Order {
                ts: p.ts,
                cents: p.cents,
                order,
                unit: order.unwrap_or_else(|| {
                    key.hash(&[b"p", &(file as u64).to_le_bytes(), &p.line.to_le_bytes()])
                }),
                visitor: p
                    .visitor
                    .as_deref()
                    .map(|v| key.hash(&[b"c", v.as_bytes()])),
                term: p
                    .keyword
                    .as_deref()
                    .and_then(|k| keyword::normalize(k.as_bytes(), None)),
                touch,
                duplicate: false,
            }
        }));
    }
    // Oldest first, file order on ties: sort (time, row) keys, not the rows.
    let mut by_time: Vec<(i64, u32)> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| (o.ts, i as u32))
        .collect();
    by_time.sort_unstable();
    let mut orders: Vec<Order> = by_time
        .iter()
        .map(|&(_, i)| std::mem::take(&mut orders[i as usize]))
        .collect();
    // An order id repeated in the purchase files counts once, at its oldest row:
    // sorting (id, position) puts that row first among its twins.
    let mut ids: Vec<(u64, u32)> = orders
        .iter()
        .enumerate()
        .filter_map(|(i, o)| o.order.map(|id| (id, i as u32)))
        .collect();
    ids.sort_unstable();
    for pair in ids.windows(2) {
        if pair[0].0 == pair[1].0 {
            orders[pair[1].1 as usize].duplicate = true;
        }
    }
    Ok(LoadedPurchases {
        orders,
        reporting_currency: fx.reporting,
        bad,
        counts,
    })
}

/// The channel an order's own columns name: the landing URL (campaign tags) and
/// referrer classified as a page view's would be, else the shop's attribution text.
fn shop_touch(p: &purchases::Purchase, classifier: &Classifier) -> Option<(Channel, String)> {
    if p.landing.is_some() || p.referrer.is_some() {
        let url = p.landing.as_deref().unwrap_or("/");
        let path = crate::import::search_console::page_path(url);
        // The landing as requested: path and query, whatever host it was written with.
        let uri = match url.find("://") {
            Some(i) => url[i + 3..].find('/').map_or("/", |j| &url[i + 3 + j..]),
            None => url,
        };
        let hit = crate::parse::Hit {
            uri: uri.as_bytes(),
            referer: p.referrer.as_deref().unwrap_or("").as_bytes(),
            ..Default::default()
        };
        if let Acquisition::External(c) = classifier.acquisition(&hit) {
            return Some((c, cut_landing(path)));
        }
    }
    let text = p.attribution.as_deref()?.trim();
    let (kind, name) = match text.split_once(':') {
        Some((k, n)) => (k.trim().to_ascii_lowercase(), n.trim()),
        None => (text.to_ascii_lowercase(), ""),
    };
    let source = name.to_lowercase().replace('!', "");
    let channel = match kind.as_str() {
        _ if source.is_empty() => return None,
        "organic" => Channel {
            source,
            medium: "organic".into(),
            keyword: Some(crate::classify::NOT_PROVIDED.into()),
            campaign: None,
        },
        // Classified like a Referer from that host: a social network is `social`.
        "referral" => match classifier.referrer(format!("https://{source}/").as_bytes(), b"") {
            Acquisition::External(c) => c,
            _ => return None,
        },
        "source" | "utm" => Channel {
            source,
            medium: crate::classify::NOT_SET.into(),
            keyword: None,
            campaign: None,
        },
        _ => return None,
    };
    Some((channel, "/".into()))
}

/// A landing path as the log's are kept: at most 200 bytes, on a character boundary.
fn cut_landing(mut path: String) -> String {
    if path.len() > 200 {
        let mut end = 200;
        while !path.is_char_boundary(end) {
            end -= 1;
        }
        path.truncate(end);
    }
    path
}

/// Purchase files: each order counted once across all sources; credited to its
/// keyword column when it has one, else joined (in DataFusion) to the touches of its
/// visitor, else `(unattributed)`.
pub(super) fn ingest_purchases(
    loaded: LoadedPurchases,
    sessions: &mut Sessionizer,
    summary: &mut RunSummary,
    days: &mut Spans,
    visitors: &mut Visitors,
    threads: usize,
) -> Result<()> {
    let LoadedPurchases {
        orders,
        reporting_currency,
        bad,
        counts,
    } = loaded;
    summary.purchase_item_rows += counts.item_rows;
    summary.purchase_not_orders += counts.not_orders;
    for (name, line, reason) in &bad {
        summary.bad_purchases += 1;
        summary.problem(name, *line, reason);
    }
    summary.reporting_currency = reporting_currency;
    summary.purchase_rows = orders.len() as u64 + summary.bad_purchases;
    let empty_landing = sessions.rollup.landings.intern_str("");
    let mut to_join: Vec<(i64, i64, u64)> = Vec::new();
    // The shop's own touch of each joined order, for when the join finds none.
    let mut join_touch: Vec<Option<(Channel, String)>> = Vec::new();
    let mut last_day = None;
    let mut purchase_span = None;
    for p in orders {
        // Purchase rows come after the whole log: only the log's goal hits and
        // earlier rows (marked by the loader) can have claimed the order.
        if p.duplicate || p.order.is_some_and(|o| sessions.order_claimed(o)) {
            summary.duplicate_orders += 1;
            continue;
        }
        let day = day_of(p.ts);
        if last_day != Some(day) {
            days.days.insert(day);
            last_day = Some(day);
            // Purchase files are inputs too: their days, first to last, are covered.
            purchase_span = Some(
                purchase_span.map_or((day, day), |(a, b): (i32, i32)| (a.min(day), b.max(day))),
            );
        }
        summary.conversions += 1;
        summary.purchase_conversions += 1;
        let cents = admitted_cents(sessions, summary, p.cents);
        if let Some(term) = p.term {
            // No visitor is known: each order stands for one.
            visitors.keywords.add(&term, p.unit);
            sessions.rollup.unit = p.unit;
            sessions.credit_keyword(p.ts, term, cents);
        } else if let Some(visitor) = p.visitor {
            to_join.push((p.ts, cents, visitor));
            join_touch.push(p.touch);
        } else if let Some((channel, landing)) = p.touch {
            // No visitor is known: each order stands for one.
            if let Some(kw) = &channel.keyword {
                visitors.keywords.add(kw, p.unit);
            }
            visitors.landings.add(&landing, p.unit);
            sessions.rollup.unit = p.unit;
            sessions.credit_channel(p.ts, &channel, &landing, cents);
        } else {
            summary.unattributed += 1;
            sessions.rollup.unit = p.unit;
            sessions.credit_unattributed(p.ts, cents, empty_landing, Segment::Anonymous);
        }
    }
    days.spans.extend(purchase_span);
    let touches = sessions.take_touch_log();
    let matched =
        crate::ingest::join::purchases_to_touches(&to_join, &touches, sessions.lookback())?;
    let per_unit = sessions.rollup.contributions.is_some();
    let mut attributed = Vec::with_capacity(to_join.len());
    for (i, &(ts, cents, visitor)) in to_join.iter().enumerate() {
        sessions.rollup.unit = visitor;
        let window = matched.get(i);
        if window.is_empty()
            && let Some((channel, landing)) = join_touch[i].take()
        {
            if let Some(kw) = &channel.keyword {
                visitors.keywords.add(kw, visitor);
            }
            visitors.landings.add(&landing, visitor);
            sessions.credit_channel(ts, &channel, &landing, cents);
        } else if window.is_empty() {
            summary.unattributed += 1;
            sessions.credit_unattributed(ts, cents, empty_landing, Segment::Anonymous);
        } else if per_unit {
            sessions.credit_touches(ts, window, cents);
        } else {
            attributed.push((ts, cents, window));
        }
    }
    sessions.credit_touches_many(&attributed, threads);
    Ok(())
}
