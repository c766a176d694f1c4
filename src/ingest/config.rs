//! The settings of one ingest, as flags or a library caller give them.

use super::purchases::{PurchaseColumns, PurchaseSource};
use std::path::PathBuf;

/// Everything `keyrank ingest` needs, validated.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    pub store: PathBuf,
    pub inputs: Vec<String>,
    pub log_format: String,
    pub json_fields: String,
    pub sites: Vec<String>,
    pub engines_files: Vec<PathBuf>,
    pub goals: Vec<String>,
    pub revenue_param: String,
    pub order_param: String,
    pub visitor_cookie: Option<String>,
    pub login_cookie: Option<String>,
    /// A cookie that carries the visitor's search term to the checkout.
    pub keyword_cookie: Option<String>,
    pub purchases: Vec<PurchaseSource>,
    pub purchase_cols: PurchaseColumns,
    pub fx_file: Option<PathBuf>,
    /// The reporting currency; default: the first currency seen.
    pub currency: Option<String>,
    /// k-visitor threshold: rarer keywords are folded into `(other)`; 1 disables.
    pub min_visitors: u64,
    pub timeout_secs: i64,
    pub lookback_secs: i64,
    /// Half-life of the time_decay model.
    pub half_life_secs: i64,
    /// Days before this are read as lookback context only.
    pub write_from: Option<i32>,
    /// Replace every day the input has lines for, also days outside each input's
    /// span (`--replace-days`); see [`writable_days`].
    pub replace_days: bool,
    /// How long to wait for another writer of the store (`--wait`).
    pub wait: std::time::Duration,
    /// Lines longer than this many bytes are malformed, and memory stays bounded.
    pub max_line: usize,
    /// A damaged or unreadable input stops the run before anything is written.
    pub strict: bool,
    pub progress: bool,
    /// Differential privacy (`--epsilon`): bounded, noisy, selected release.
    pub dp: Option<crate::privacy::dp::DpParams>,
    /// Parse-and-classify threads; 0 = one per core. Results do not depend on it.
    pub threads: usize,
    /// A Ballista scheduler (`df://HOST:PORT`): parse, classify and attribute on its
    /// executors instead of here. See [`crate::ingest::distributed`].
    pub cluster: Option<String>,
    /// Store each row's visitors as a mergeable sketch (`--visitor-sketches`); see
    /// [`crate::model::sketch`] for what that writes.
    pub visitor_sketches: bool,
}

impl IngestConfig {
    pub(crate) fn worker_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            store: PathBuf::from("store"),
            inputs: Vec::new(),
            log_format: "combined".into(),
            json_fields: String::new(),
            sites: Vec::new(),
            engines_files: Vec::new(),
            goals: Vec::new(),
            revenue_param: "revenue".into(),
            order_param: "order_id".into(),
            visitor_cookie: None,
            login_cookie: None,
            keyword_cookie: None,
            purchases: Vec::new(),
            purchase_cols: PurchaseColumns::default(),
            fx_file: None,
            currency: None,
            min_visitors: crate::privacy::DEFAULT_MIN_VISITORS,
            timeout_secs: crate::ingest::visits::DEFAULT_TIMEOUT_SECS,
            lookback_secs: crate::ingest::visits::DEFAULT_LOOKBACK_SECS,
            half_life_secs: crate::model::attribution::DEFAULT_HALF_LIFE_SECS,
            write_from: None,
            replace_days: false,
            wait: std::time::Duration::from_secs(crate::store::writer::DEFAULT_WAIT_SECS),
            max_line: crate::ingest::pipeline::DEFAULT_MAX_LINE,
            strict: false,
            progress: false,
            dp: None,
            threads: 0,
            cluster: None,
            visitor_sketches: false,
        }
    }
}

/// The k of the visitor threshold: `--min-visitors`, or 1 under DP (partition selection
/// replaces it).
pub(crate) fn gate_k(cfg: &IngestConfig) -> u64 {
    if cfg.dp.is_some() {
        1
    } else {
        cfg.min_visitors
    }
}
