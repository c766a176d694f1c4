//! Purchase files (CSV, JSON lines, Parquet): orders kept in the shop's own database.
//! Each row becomes a [`Purchase`]; a bad row is reported by `file:line` and skipped.

use crate::error::{Error, Result};
use crate::model::{MAX_CENTS, is_currency_code};
use crate::parse::time::parse_any;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PurchaseFormat {
    Csv,
    Jsonl,
    Parquet,
}

impl PurchaseFormat {
    /// From the file extension (`.csv`, `.jsonl`/`.ndjson`/`.json`, `.parquet`).
    pub fn from_path(path: &Path) -> Result<Self> {
        let name = path.to_string_lossy().to_ascii_lowercase();
        let name = name
            .trim_end_matches(".gz")
            .trim_end_matches(".zst")
            .to_string();
        if name.ends_with(".csv") || name.ends_with(".tsv") {
            Ok(PurchaseFormat::Csv)
        } else if name.ends_with(".jsonl") || name.ends_with(".ndjson") || name.ends_with(".json") {
            Ok(PurchaseFormat::Jsonl)
        } else if name.ends_with(".parquet") {
            Ok(PurchaseFormat::Parquet)
        } else {
            Err(Error::usage(format!(
                "{}: cannot tell the purchase file's format from its name; use --purchases-format csv|jsonl|parquet",
                path.display()
            )))
        }
    }
}

/// Which column holds each field; each has a list of accepted names (matched
/// case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseColumns {
    pub ts: Vec<String>,
    pub order: Vec<String>,
    pub revenue: Vec<String>,
    pub currency: Vec<String>,
    pub visitor: Vec<String>,
    pub keyword: Vec<String>,
    /// The URL the buyer landed on (Shopify's "Landing Site"): with [`Self::referrer`],
    /// a touch for an order with no visitor to join.
    pub landing: Vec<String>,
    pub referrer: Vec<String>,
    /// A channel the shop recorded itself (WooCommerce's "Attribution": `Organic:
    /// Google`, `Referral: blog.example`, `Source: newsletter`).
    pub attribution: Vec<String>,
    pub status: Vec<String>,
    /// Values of the status column that mean "not an order" (a failed payment): such
    /// rows are counted and skipped, not bad.
    pub not_orders: Vec<String>,
}

impl Default for PurchaseColumns {
    fn default() -> Self {
        let v = |n: &[&str]| n.iter().map(|s| s.to_string()).collect();
        PurchaseColumns {
            ts: v(&["ts", "timestamp", "time", "created_at", "date"]),
            order: v(&["order", "order_id", "orderid", "id"]),
            revenue: v(&["revenue", "amount", "total", "value"]),
            currency: v(&["currency", "currency_code"]),
            visitor: v(&["visitor", "visitor_id", "vid"]),
            keyword: v(&["keyword", "search_term", "term", "kw"]),
            landing: v(&[
                "landing_site",
                "landing site",
                "landing_page",
                "landing page",
            ]),
            referrer: v(&["referring_site", "referring site", "referrer", "referer"]),
            attribution: Vec::new(),
            status: Vec::new(),
            not_orders: Vec::new(),
        }
    }
}

/// Order exports of shop platforms (`--purchases-preset`), with their own column
/// names, time formats and currencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PurchasePreset {
    /// Shopify's Orders export: one row per line item (the order's totals on its first
    /// row), "Name" as the order, "Created at" with its offset.
    Shopify,
    /// WooCommerce: Analytics › Orders downloads and the common order-export plugins.
    Woocommerce,
    /// Stripe's payments export: "Created (UTC)", amounts in major units, lower-case
    /// currencies, `order_id (metadata)` as the order when present; failed, canceled
    /// and uncaptured payments are not orders.
    Stripe,
}

impl PurchaseColumns {
    /// The columns of a platform's export, the generic names after them.
    pub fn preset(p: PurchasePreset) -> Self {
        let v = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let base = PurchaseColumns::default();
        let then = |mine: Vec<String>, generic: &[String]| {
            let mut all = mine;
            all.extend(
                generic
                    .iter()
                    .filter(|g| !all.contains(g))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            all
        };
        match p {
            PurchasePreset::Shopify => PurchaseColumns {
                ts: then(v(&["created at", "paid at", "processed at"]), &base.ts),
                order: then(v(&["name", "order name", "id"]), &base.order),
                revenue: then(v(&["total", "total price"]), &base.revenue),
                currency: then(v(&["currency"]), &base.currency),
                status: v(&["financial status"]),
                not_orders: v(&["voided"]),
                ..base
            },
            PurchasePreset::Woocommerce => PurchaseColumns {
                ts: then(
                    v(&[
                        "order date",
                        "date",
                        "date created",
                        "order_date",
                        "date_created",
                    ]),
                    &base.ts,
                ),
                order: then(
                    v(&[
                        "order #",
                        "order number",
                        "order_number",
                        "order id",
                        "order_id",
                    ]),
                    &base.order,
                ),
                revenue: then(
                    v(&[
                        "order total",
                        "order total amount",
                        "order_total",
                        "net sales",
                        "total",
                    ]),
                    &base.revenue,
                ),
                currency: then(
                    v(&["order currency", "order_currency", "currency"]),
                    &base.currency,
                ),
                attribution: v(&["attribution", "origin"]),
                status: v(&["status", "order status", "order_status"]),
                not_orders: v(&[
                    "failed",
                    "cancelled",
                    "canceled",
                    "pending",
                    "draft",
                    "checkout-draft",
                ]),
                ..base
            },
            PurchasePreset::Stripe => PurchaseColumns {
                ts: then(
                    v(&["created (utc)", "created date (utc)", "created"]),
                    &base.ts,
                ),
                order: then(
                    v(&[
                        "order_id (metadata)",
                        "order (metadata)",
                        "paymentintent id",
                        "id",
                    ]),
                    &base.order,
                ),
                revenue: then(v(&["amount"]), &base.revenue),
                currency: then(v(&["currency"]), &base.currency),
                visitor: then(
                    v(&["visitor_id (metadata)", "vid (metadata)"]),
                    &base.visitor,
                ),
                keyword: then(
                    v(&["keyword (metadata)", "utm_term (metadata)"]),
                    &base.keyword,
                ),
                status: v(&["status"]),
                not_orders: v(&[
                    "failed",
                    "canceled",
                    "cancelled",
                    "uncaptured",
                    "incomplete",
                    "requires_payment_method",
                    "blocked",
                ]),
                ..base
            },
        }
    }

    /// `ts=created,order=id,revenue=total,currency=cur,visitor=vid,keyword=kw`.
    pub fn parse(spec: &str) -> Result<Self> {
        Self::parse_over(PurchaseColumns::default(), spec)
    }

    /// [`parse`](Self::parse) over a preset's columns.
    pub fn parse_over(preset: PurchaseColumns, spec: &str) -> Result<Self> {
        let mut c = preset;
        for pair in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').ok_or_else(|| {
                Error::usage(format!(
                    "--purchase-cols: expected key=column, got {pair:?}"
                ))
            })?;
            let slot = match k.trim() {
                "ts" | "time" => &mut c.ts,
                "order" => &mut c.order,
                "revenue" => &mut c.revenue,
                "currency" => &mut c.currency,
                "visitor" => &mut c.visitor,
                "keyword" => &mut c.keyword,
                "landing" => &mut c.landing,
                "referrer" => &mut c.referrer,
                "attribution" => &mut c.attribution,
                "status" => &mut c.status,
                other => {
                    return Err(Error::usage(format!(
                        "--purchase-cols: unknown key {other:?} (known: ts, order, revenue, currency, visitor, keyword, landing, referrer, attribution, status)"
                    )));
                }
            };
            *slot = vec![v.trim().to_string()];
        }
        Ok(c)
    }
}

/// Exchange rates into the one reporting currency.
#[derive(Debug, Clone, Default)]
pub struct Fx {
    /// The reporting currency; when not set, the first currency seen becomes it.
    pub reporting: Option<String>,
    /// Currency → units of the reporting currency per unit.
    pub rates: HashMap<String, f64>,
}

impl Fx {
    /// Reads `currency,rate` lines (a header line is allowed).
    pub fn load(path: &Path, reporting: Option<String>) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut rates = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split([',', ';', '\t']).map(str::trim);
            let (Some(cur), Some(rate)) = (parts.next(), parts.next()) else {
                return Err(bad_fx(path, i, "expected currency,rate"));
            };
            match rate.parse::<f64>() {
                Ok(r) if r.is_finite() && r > 0.0 => {
                    rates.insert(cur.to_ascii_uppercase(), r);
                }
                _ if i == 0 => continue, // header
                _ => return Err(bad_fx(path, i, "the rate is not a positive number")),
            }
        }
        Ok(Fx {
            reporting: reporting.map(|c| c.to_ascii_uppercase()),
            rates,
        })
    }

    /// Converts `cents` of `currency` to reporting cents (rounded to the cent).
    pub fn convert(
        &mut self,
        cents: i64,
        currency: Option<&str>,
    ) -> std::result::Result<i64, String> {
        let Some(cur) = currency.map(str::trim).filter(|c| !c.is_empty()) else {
            return Ok(cents);
        };
        // Only a code becomes the reporting currency (and reaches the history and
        // stderr); anything else in the cell makes the row bad, unquoted.
        if !is_currency_code(cur) {
            return Err("bad currency (expected a three-letter ISO 4217 code such as EUR)".into());
        }
        if self
            .reporting
            .as_deref()
            .is_some_and(|r| r.eq_ignore_ascii_case(cur))
        {
            return Ok(cents);
        }
        let cur = cur.to_ascii_uppercase();
        let reporting = self.reporting.get_or_insert_with(|| cur.clone());
        if cur == *reporting {
            return Ok(cents);
        }
        match self.rates.get(&cur) {
            Some(rate) => {
                let converted = (cents as f64 * rate).round();
                // `as` would saturate or turn NaN into 0: a rate that takes an amount
                // out of range makes the row bad instead.
                if converted.is_finite() && (0.0..=MAX_CENTS as f64).contains(&converted) {
                    Ok(converted as i64)
                } else {
                    Err("amount out of range after currency conversion".into())
                }
            }
            None => Err(format!(
                "currency {cur} is not the reporting currency {reporting} and has no rate (give one with --fx FILE)"
            )),
        }
    }
}

fn bad_fx(path: &Path, i: usize, msg: &str) -> Error {
    Error::Input {
        path: path.display().to_string(),
        line: i as u64 + 1,
        message: msg.into(),
    }
}

/// One valid purchase row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub line: u64,
    pub ts: i64,
    pub order: Option<String>,
    /// Revenue in reporting-currency cents.
    pub cents: i64,
    pub visitor: Option<String>,
    pub keyword: Option<String>,
    pub landing: Option<String>,
    pub referrer: Option<String>,
    pub attribution: Option<String>,
}

/// What reading a purchase file found besides its purchases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadCounts {
    /// Further rows of an order (Shopify's line items): same order as the row before
    /// and no total.
    pub item_rows: u64,
    /// Rows whose status says they are not orders (a failed payment).
    pub not_orders: u64,
}

/// A purchase file to read, with its format and column mapping.
#[derive(Debug, Clone)]
pub struct PurchaseSource {
    pub path: PathBuf,
    pub format: PurchaseFormat,
}

/// Reads all valid purchases of a file; each bad row is passed to `bad` with its line.
pub fn read(
    src: &PurchaseSource,
    cols: &PurchaseColumns,
    fx: &mut Fx,
    bad: &mut dyn FnMut(u64, String),
) -> Result<(Vec<Purchase>, ReadCounts)> {
    let mut out = Vec::new();
    let mut counts = ReadCounts::default();
    let mut last_order: Option<String> = None;
    let mut on_record = |line: u64, get: &Get<'_>| {
        let cell = |c: Col| {
            get(c)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let order = cell(Col::Order);
        if order.is_some() && order == last_order && cell(Col::Revenue).is_none() {
            counts.item_rows += 1;
            return;
        }
        last_order.clone_from(&order);
        if cell(Col::Status)
            .is_some_and(|s| cols.not_orders.iter().any(|n| n.eq_ignore_ascii_case(&s)))
        {
            counts.not_orders += 1;
            return;
        }
        match to_purchase(line, get, fx) {
            Ok(p) => out.push(p),
            Err(reason) => bad(line, reason),
        }
    };
    let mut invalid = Vec::new();
    let what = match src.format {
        PurchaseFormat::Csv => {
            read_csv(&src.path, cols, &mut on_record, &mut invalid)?;
            "not UTF-8 text"
        }
        PurchaseFormat::Jsonl => {
            read_jsonl(&src.path, cols, &mut on_record, &mut invalid)?;
            "invalid JSON object"
        }
        PurchaseFormat::Parquet => {
            read_parquet(&src.path, cols, &mut on_record)?;
            ""
        }
    };
    for line in invalid {
        bad(line, what.into());
    }
    Ok((out, counts))
}

/// The fields of a purchase row, each found under one of several column names.
#[derive(Debug, Clone, Copy)]
enum Col {
    Ts,
    Order,
    Revenue,
    Currency,
    Visitor,
    Keyword,
    Landing,
    Referrer,
    Attribution,
    Status,
}

impl Col {
    const ALL: [Col; 10] = [
        Col::Ts,
        Col::Order,
        Col::Revenue,
        Col::Currency,
        Col::Visitor,
        Col::Keyword,
        Col::Landing,
        Col::Referrer,
        Col::Attribution,
        Col::Status,
    ];
}

impl PurchaseColumns {
    fn names(&self, col: Col) -> &[String] {
        match col {
            Col::Ts => &self.ts,
            Col::Order => &self.order,
            Col::Revenue => &self.revenue,
            Col::Currency => &self.currency,
            Col::Visitor => &self.visitor,
            Col::Keyword => &self.keyword,
            Col::Landing => &self.landing,
            Col::Referrer => &self.referrer,
            Col::Attribution => &self.attribution,
            Col::Status => &self.status,
        }
    }

    /// Where each field is among `headers`: the first accepted name present.
    fn positions<S: AsRef<str>>(&self, headers: &[S]) -> [Option<usize>; 10] {
        Col::ALL.map(|col| {
            self.names(col).iter().find_map(|n| {
                headers
                    .iter()
                    .position(|h| h.as_ref().eq_ignore_ascii_case(n))
            })
        })
    }
}

/// A record's field, if it has one.
type Get<'r> = dyn Fn(Col) -> Option<Cow<'r, str>> + 'r;
type OnRecord<'a> = dyn for<'r> FnMut(u64, &Get<'r>) + 'a;

fn to_purchase(line: u64, get: &Get<'_>, fx: &mut Fx) -> std::result::Result<Purchase, String> {
    let ts_text = get(Col::Ts).ok_or("missing time")?;
    let ts = parse_any(ts_text.as_bytes())
        .or_else(|| shop_time(&ts_text))
        .ok_or("unparsable time (use RFC 3339 or epoch seconds/millis)")?;
    if !crate::parse::time::plausible(ts) {
        return Err("time before 1990 or more than a day after now".into());
    }
    let revenue = get(Col::Revenue).ok_or("missing revenue")?;
    let revenue = revenue.trim();
    if revenue.starts_with('-') {
        return Err("negative revenue".into());
    }
    let revenue = amount_text(revenue).ok_or("bad revenue (expected a number like 12.34)")?;
    let cents =
        crate::model::parse_cents(&revenue).ok_or("bad revenue (expected a number like 12.34)")?;
    let cents = fx.convert(cents, get(Col::Currency).as_deref())?;
    let nonempty = |v: Option<Cow<str>>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(Purchase {
        line,
        ts,
        order: nonempty(get(Col::Order)),
        cents,
        visitor: nonempty(get(Col::Visitor)),
        keyword: nonempty(get(Col::Keyword)),
        landing: nonempty(get(Col::Landing)),
        referrer: nonempty(get(Col::Referrer)),
        attribution: nonempty(get(Col::Attribution)),
    })
}

/// An amount as exports write it, with a `.` decimal point: `1,234.50` (thousands
/// separated by commas) → `1234.50`, `29,98` (a decimal comma) → `29.98`; any other
/// use of commas is not an amount.
fn amount_text(text: &str) -> Option<String> {
    if !text.contains(',') {
        return Some(text.to_string());
    }
    let (whole, frac) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let groups: Vec<&str> = whole.split(',').collect();
    let thousands = groups[0].len() <= 3
        && !groups[0].is_empty()
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()));
    let frac_digits = frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if thousands && frac_digits && groups.len() > 1 {
        return Some(text.replace(',', ""));
    }
    if frac.is_none()
        && groups.len() == 2
        && (1..=2).contains(&groups[1].len())
        && groups
            .iter()
            .all(|g| !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()))
    {
        return Some(format!("{}.{}", groups[0], groups[1]));
    }
    None
}

/// The time formats shop exports write besides RFC 3339: Shopify's
/// `2024-05-01 10:00:00 -0400`, minute precision (`2024-06-10 12:00`), and US-style
/// `5/31/2016 0:37`. Without an offset a time is UTC.
fn shop_time(text: &str) -> Option<i64> {
    let t = text.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S %z",
        "%Y-%m-%d %H:%M %z",
        "%Y-%m-%dT%H:%M:%S%z",
    ] {
        if let Ok(d) = chrono::DateTime::parse_from_str(t, f) {
            return Some(d.timestamp());
        }
    }
    for f in [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%m/%d/%Y %H:%M:%S",
        "%m/%d/%Y %H:%M",
        "%d.%m.%Y %H:%M:%S",
        "%d.%m.%Y %H:%M",
    ] {
        if let Ok(d) = chrono::NaiveDateTime::parse_from_str(t, f) {
            return Some(d.and_utc().timestamp());
        }
    }
    chrono::NaiveDate::parse_from_str(t, "%m/%d/%Y")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().timestamp())
}

/// Rows that are not UTF-8 are returned in `invalid`: that row is bad, not the file.
fn read_csv(
    path: &Path,
    cols: &PurchaseColumns,
    on_record: &mut OnRecord,
    invalid: &mut Vec<u64>,
) -> Result<()> {
    let delimiter = if path.to_string_lossy().contains(".tsv") {
        b'\t'
    } else {
        b','
    };
    let (mut r, headers) =
        crate::parse::input::csv_file(path, delimiter, |h| h.trim().to_ascii_lowercase())?;
    let at = cols.positions(&headers);
    let mut record = csv::StringRecord::new();
    loop {
        match r.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line());
                let get = |col: Col| record.get(at[col as usize]?).map(Cow::Borrowed);
                on_record(line, &get);
            }
            Err(e) if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) => {
                invalid.push(e.position().map_or(0, |p| p.line()));
            }
            Err(e) => {
                return Err(Error::Other(format!("{}: {e}", path.display())));
            }
        }
    }
    Ok(())
}

/// Lines that are not JSON objects are returned in `invalid`.
fn read_jsonl(
    path: &Path,
    cols: &PurchaseColumns,
    on_record: &mut OnRecord,
    invalid: &mut Vec<u64>,
) -> Result<()> {
    let reader = crate::parse::input::open(&crate::parse::input::Source::File(path.to_path_buf()))?;
    let mut lines = crate::parse::input::LineReader::new(reader);
    let mut n = 0u64;
    while let Some(line) = lines.next_line().map_err(|e| Error::io(path, e))? {
        n += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let v: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => {
                invalid.push(n);
                continue;
            }
        };
        let get = |col: Col| {
            cols.names(col).iter().find_map(|k| match v.get(k)? {
                serde_json::Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                serde_json::Value::Number(x) => Some(Cow::Owned(x.to_string())),
                _ => None,
            })
        };
        on_record(n, &get);
    }
    Ok(())
}

fn read_parquet(path: &Path, cols: &PurchaseColumns, on_record: &mut OnRecord) -> Result<()> {
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::arrow::compute::cast;
    use datafusion::arrow::datatypes::DataType;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader =
        datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
            .build()?;
    let mut row = 0u64;
    for batch in reader {
        let batch = batch?;
        let schema = batch.schema();
        let mut names: Vec<String> = Vec::new();
        let mut columns: Vec<StringArray> = Vec::new();
        for (f, col) in schema.fields().iter().zip(batch.columns()) {
            let text = cast(col, &DataType::Utf8)?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| {
                    Error::Other(format!(
                        "{}: cannot read column {}",
                        path.display(),
                        f.name()
                    ))
                })?;
            names.push(f.name().to_string());
            columns.push(text);
        }
        let at = cols.positions(&names);
        for i in 0..batch.num_rows() {
            row += 1;
            let get = |col: Col| {
                let c = &columns[at[col as usize]?];
                (!c.is_null(i)).then(|| Cow::Borrowed(c.value(i)))
            };
            on_record(row, &get);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(name: &str, text: &str, fx: &mut Fx) -> (Vec<Purchase>, Vec<(u64, String)>) {
        read_bytes(name, text.as_bytes(), fx)
    }

    fn read_bytes(name: &str, text: &[u8], fx: &mut Fx) -> (Vec<Purchase>, Vec<(u64, String)>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let src = PurchaseSource {
            format: PurchaseFormat::from_path(&path).unwrap(),
            path,
        };
        let mut bad = Vec::new();
        let (got, _) = read(&src, &PurchaseColumns::default(), fx, &mut |l, r| {
            bad.push((l, r))
        })
        .unwrap();
        (got, bad)
    }

    #[test]
    fn amounts_as_exports_write_them() {
        for (text, want) in [
            ("12.34", Some("12.34")),
            ("1,234.50", Some("1234.50")),
            ("1,234,567", Some("1234567")),
            ("29,98", Some("29.98")),
            ("5,5", Some("5.5")),
            ("1,23,4", None),
            ("1.234,56", None),
            (",5", None),
        ] {
            assert_eq!(amount_text(text).as_deref(), want, "{text}");
        }
        assert_eq!(shop_time("2024-05-01 10:00:00 -0400"), Some(1_714_572_000));
        assert_eq!(shop_time("2024-06-10 12:00"), Some(1_718_020_800));
        assert_eq!(shop_time("5/31/2016 0:37"), Some(1_464_655_020));
        assert_eq!(shop_time("yesterday"), None);
    }

    #[test]
    fn csv_rows_and_bad_rows() {
        let mut fx = Fx {
            reporting: Some("EUR".into()),
            rates: [("USD".to_string(), 0.5)].into_iter().collect(),
        };
        let text = "ts,order_id,revenue,currency,visitor_id\n\
            2024-03-04T10:00:00Z,A1,12.50,EUR,v1\n\
            1709546400,A2,10,USD,v2\n\
            2024-03-04T10:00:00Z,A3,,EUR,v1\n\
            yesterday,A4,1,EUR,v1\n\
            2024-03-04T10:00:00Z,A5,-3,EUR,v1\n\
            2024-03-04T10:00:00Z,A6,3,GBP,v1\n";
        let (got, bad) = read_all("p.csv", text, &mut fx);
        assert_eq!(got.len(), 2);
        assert_eq!(
            (
                got[0].cents,
                got[0].order.as_deref(),
                got[0].visitor.as_deref()
            ),
            (1250, Some("A1"), Some("v1"))
        );
        assert_eq!((got[1].ts, got[1].cents), (1709546400, 500));
        let lines: Vec<u64> = bad.iter().map(|b| b.0).collect();
        assert_eq!(lines, vec![4, 5, 6, 7]);
        assert!(
            bad[0].1.contains("missing revenue") || bad[0].1.contains("bad revenue"),
            "{:?}",
            bad
        );
        assert!(bad[1].1.contains("time"));
        assert!(bad[2].1.contains("negative"));
        assert!(bad[3].1.contains("GBP"), "{:?}", bad[3]);
    }

    #[test]
    fn jsonl_with_keyword_and_millis() {
        let mut fx = Fx::default();
        let text = "{\"ts\": 1709546400000, \"order\": \"B1\", \"amount\": 9.99, \"keyword\": \"Red+Shoes\"}\nnot json\n";
        let (got, bad) = read_all("p.jsonl", text, &mut fx);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].ts, got[0].cents, got[0].keyword.as_deref()),
            (1709546400, 999, Some("Red+Shoes"))
        );
        assert_eq!(bad, vec![(2, "invalid JSON object".to_string())]);
    }

    #[test]
    fn a_latin1_row_or_a_bad_currency_is_one_bad_row() {
        let mut fx = Fx::default();
        let text = b"ts,order_id,revenue,currency,visitor_id\n\
            2024-03-04T10:00:00Z,A1,12.50,EUR,v1\n\
            2024-03-04T10:00:00Z,A2,1,EUR,Jos\xe9\n\
            2024-03-04T10:00:00Z,A3,1,ALICE.SMITH@EXAMPLE.COM,v3\n\
            2024-03-04T10:00:00Z,A4,999999999999999.99,EUR,v4\n\
            2024-03-04T10:00:00Z,A5,2,eur,v5\n";
        let (got, bad) = read_bytes("p.csv", text, &mut fx);
        assert_eq!(got.len(), 2);
        let mut lines: Vec<u64> = bad.iter().map(|b| b.0).collect();
        lines.sort();
        assert_eq!(lines, vec![3, 4, 5]);
        assert!(bad.iter().all(|(_, r)| !r.contains("ALICE")), "{bad:?}");
        assert_eq!(fx.reporting.as_deref(), Some("EUR"));
    }

    #[test]
    fn first_currency_becomes_reporting_currency() {
        let mut fx = Fx::default();
        assert_eq!(fx.convert(100, Some("eur")), Ok(100));
        assert!(fx.convert(100, Some("USD")).unwrap_err().contains("USD"));
        assert_eq!(fx.convert(100, None), Ok(100));
    }

    #[test]
    fn column_mapping() {
        let c = PurchaseColumns::parse("ts=created,revenue=total").unwrap();
        assert_eq!(c.ts, vec!["created"]);
        assert!(PurchaseColumns::parse("nope=x").is_err());
        assert!(PurchaseFormat::from_path(Path::new("x.txt")).is_err());
    }
}
