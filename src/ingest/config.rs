//! The settings of one ingest, as flags or a library caller give them.

//!
//! The CLI turns its flags into an [`IngestConfig`] and [`IngestConfig::validate`]s it
//! before anything touches the disk; [`crate::ingest::run`] validates a library
//! caller's config the same way. The run's record of its settings in the store's
//! history is this struct serialised ([`IngestConfig::settings`]): a field is recorded
//! unless it is marked `skip`, so a new setting cannot be forgotten there. What could
//! be personal or machine-specific (paths, cookie names) is recorded reduced: file
//! names, or whether it was set.

use super::purchases::{PurchaseColumns, PurchaseSource};
use crate::error::{Error, Result};
use serde::{Serialize, Serializer};
use std::path::{Path, PathBuf};

/// Everything `keyrank ingest` needs.
#[derive(Debug, Clone, Serialize)]
pub struct IngestConfig {
    #[serde(skip)]
    pub store: PathBuf,
    #[serde(skip)]
    pub inputs: Vec<String>,
    pub log_format: String,
    #[serde(skip)]
    pub json_fields: String,
    /// Recorded as the hosts the run used (given or detected), see [`Self::settings`].
    #[serde(skip)]
    pub sites: Vec<String>,
    /// Referrer hosts or globs that continue a visit (`--exclude-referrer`), besides
    /// the built-in payment providers.
    pub exclude_referrers: Vec<String>,
    #[serde(serialize_with = "file_names")]
    pub engines_files: Vec<PathBuf>,
    pub goals: Vec<String>,
    pub revenue_param: String,
    pub order_param: String,
    #[serde(serialize_with = "is_set")]
    pub visitor_cookie: Option<String>,
    #[serde(serialize_with = "is_set")]
    pub login_cookie: Option<String>,
    /// A cookie that carries the visitor's search term to the checkout.
    #[serde(serialize_with = "is_set")]
    pub keyword_cookie: Option<String>,
    #[serde(serialize_with = "purchase_names")]
    pub purchases: Vec<PurchaseSource>,
    #[serde(skip)]
    pub purchase_cols: PurchaseColumns,
    /// The shop platform whose export the purchase files are (`--purchases-preset`);
    /// [`Self::purchase_cols`] already holds its columns.
    pub purchases_preset: Option<super::purchases::PurchasePreset>,
    #[serde(serialize_with = "file_name")]
    pub fx_file: Option<PathBuf>,
    /// The reporting currency; default: the first currency seen. Recorded as the
    /// currency the run reported in.
    #[serde(skip)]
    pub currency: Option<String>,
    /// k-visitor threshold: rarer keywords are folded into `(other)`; 1 disables.
    /// Recorded as the k the gate used ([`gate_k`]).
    #[serde(skip)]
    pub min_visitors: u64,
    pub timeout_secs: i64,
    pub lookback_secs: i64,
    /// Half-life of the time_decay model.
    pub half_life_secs: i64,
    /// Days before this are read as lookback context only.
    #[serde(serialize_with = "day")]
    pub write_from: Option<i32>,
    /// Replace every day the input has lines for, also days outside each input's
    /// span (`--replace-days`); see [`super::writable_days`].
    pub replace_days: bool,
    /// How long to wait for another writer of the store (`--wait`).
    #[serde(skip)]
    pub wait: std::time::Duration,
    /// Lines longer than this many bytes are malformed, and memory stays bounded.
    pub max_line: usize,
    /// A damaged or unreadable input stops the run before anything is written.
    pub strict: bool,
    #[serde(skip)]
    pub progress: bool,
    /// Differential privacy (`--epsilon`): bounded, noisy, selected release.
    pub dp: Option<crate::privacy::dp::DpParams>,
    /// Parse-and-classify threads; 0 = one per core. Results do not depend on it.
    #[serde(skip)]
    pub threads: usize,
    /// A Ballista scheduler (`df://HOST:PORT`): parse, classify and attribute on its
    /// executors instead of here. See [`crate::ingest::distributed`].
    #[serde(serialize_with = "is_set")]
    pub cluster: Option<String>,
    /// Store each row's visitors as a mergeable sketch (`--visitor-sketches`); see
    /// [`crate::model::sketch`] for what that writes.
    pub visitor_sketches: bool,
}

fn is_set<S: Serializer>(v: &Option<String>, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_bool(v.is_some())
}

fn name_of(p: &Path) -> Option<String> {
    p.file_name().map(|n| n.to_string_lossy().into_owned())
}

fn file_names<S: Serializer>(v: &[PathBuf], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().filter_map(|p| name_of(p)))
}

fn file_name<S: Serializer>(v: &Option<PathBuf>, s: S) -> std::result::Result<S::Ok, S::Error> {
    v.as_deref().and_then(name_of).serialize(s)
}

fn purchase_names<S: Serializer>(
    v: &[PurchaseSource],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().filter_map(|p| name_of(&p.path)))
}

fn day<S: Serializer>(v: &Option<i32>, s: S) -> std::result::Result<S::Ok, S::Error> {
    v.map(crate::parse::time::format_day).serialize(s)
}

impl IngestConfig {
    /// Every check of the settings, made before anything touches the disk: the CLI
    /// calls it when it builds the config, [`crate::ingest::run`] again for library
    /// callers. What only the inputs can tell (a log format string, a cookie name)
    /// is checked when the run's front is built, also before the store is opened.
    pub fn validate(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(Error::usage("no input files given (use - for stdin)"));
        }
        if self
            .currency
            .as_deref()
            .is_some_and(|c| !crate::model::is_currency_code(c))
        {
            return Err(Error::usage(
                "--currency: expected a three-letter ISO 4217 code such as EUR",
            ));
        }
        if self.min_visitors == 0 {
            return Err(Error::usage(
                "--min-visitors must be at least 1 (1 disables the threshold)",
            ));
        }
        if self.max_line == 0 {
            return Err(Error::usage("--max-line must be at least 1"));
        }
        if let Some(dp) = &self.dp {
            dp.validate()?;
        }
        if self.visitor_sketches && self.dp.is_some() {
            return Err(Error::usage(
                "--visitor-sketches would count visitors beside a differentially private \
                 release: use one or the other",
            ));
        }
        if self.cluster.is_some() {
            if !self.purchases.is_empty() {
                return Err(Error::usage(
                    "--purchases cannot be joined on a cluster yet: ingest them without --cluster",
                ));
            }
            if self.dp.is_some() {
                return Err(Error::usage(
                    "--epsilon is not available with --cluster yet: ingest without --cluster",
                ));
            }
        }
        Ok(())
    }

    /// The run's settings as its history entry records them: this config serialised,
    /// with what the run decided in place of what was asked (the site hosts it used,
    /// the currency it reported in, the k its gate applied, the ε it spent).
    pub(crate) fn settings(&self, summary: &super::RunSummary) -> Result<serde_json::Value> {
        let mut settings = serde_json::to_value(self).map_err(|e| Error::Other(e.to_string()))?;
        let record = settings
            .as_object_mut()
            .ok_or_else(|| Error::Other("settings are not a record".into()))?;
        record.insert("sites".into(), serde_json::json!(summary.site_hosts));
        record.insert(
            "reporting_currency".into(),
            serde_json::json!(summary.reporting_currency),
        );
        record.insert(
            "min_visitors".into(),
            serde_json::json!(summary.min_visitors),
        );
        record.insert(
            "epsilon_spent".into(),
            serde_json::json!(self.dp.as_ref().map(|d| d.epsilon)),
        );
        Ok(settings)
    }

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
            exclude_referrers: Vec::new(),
            engines_files: Vec::new(),
            goals: Vec::new(),
            revenue_param: "revenue".into(),
            order_param: "order_id".into(),
            visitor_cookie: None,
            login_cookie: None,
            keyword_cookie: None,
            purchases: Vec::new(),
            purchase_cols: PurchaseColumns::default(),
            purchases_preset: None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::purchases::PurchaseFormat;

    #[test]
    fn bad_settings_are_refused_before_the_store_is_touched() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let cases: Vec<(IngestConfig, &str)> = vec![
            (IngestConfig::default(), "no input files"),
            (
                IngestConfig {
                    currency: Some("EURO".into()),
                    ..IngestConfig::default()
                },
                "--currency",
            ),
            (
                IngestConfig {
                    min_visitors: 0,
                    ..IngestConfig::default()
                },
                "--min-visitors",
            ),
            (
                IngestConfig {
                    dp: Some(crate::privacy::dp::DpParams {
                        epsilon: -1.0,
                        ..Default::default()
                    }),
                    ..IngestConfig::default()
                },
                "--epsilon",
            ),
            (
                IngestConfig {
                    cluster: Some("df://localhost:50050".into()),
                    purchases: vec![PurchaseSource {
                        path: "p.csv".into(),
                        format: PurchaseFormat::Csv,
                    }],
                    ..IngestConfig::default()
                },
                "--purchases",
            ),
        ];
        for (mut cfg, flag) in cases {
            cfg.store = store.clone();
            if !flag.starts_with("no input") {
                cfg.inputs = vec![dir.path().join("access.log").display().to_string()];
            }
            let err = crate::ingest::run(&cfg).unwrap_err().to_string();
            assert!(err.contains(flag), "{flag}: {err}");
            assert!(!store.exists(), "{flag}: the store was created");
        }
    }

    #[test]
    fn settings_record_every_field_but_no_path_or_cookie_name() {
        let cfg = IngestConfig {
            store: "/srv/private/store".into(),
            inputs: vec!["/srv/private/access.log".into()],
            engines_files: vec!["/srv/private/engines.yml".into()],
            visitor_cookie: Some("secret_vid".into()),
            purchases: vec![PurchaseSource {
                path: "/srv/private/orders.csv".into(),
                format: PurchaseFormat::Csv,
            }],
            fx_file: Some("/srv/private/fx.csv".into()),
            write_from: Some(crate::parse::time::parse_day("2024-03-01").unwrap()),
            cluster: Some("df://10.0.0.7:50050".into()),
            ..IngestConfig::default()
        };
        let summary = crate::ingest::RunSummary {
            site_hosts: vec!["shop.example".into()],
            min_visitors: 5,
            ..Default::default()
        };
        let s = cfg.settings(&summary).unwrap();
        let text = s.to_string();
        for private in ["/srv/private", "secret_vid", "10.0.0.7"] {
            assert!(!text.contains(private), "{private} in {text}");
        }
        assert_eq!(s["engines_files"], serde_json::json!(["engines.yml"]));
        assert_eq!(s["purchases"], serde_json::json!(["orders.csv"]));
        assert_eq!(s["fx_file"], serde_json::json!("fx.csv"));
        assert_eq!(s["visitor_cookie"], serde_json::json!(true));
        assert_eq!(s["keyword_cookie"], serde_json::json!(false));
        assert_eq!(s["cluster"], serde_json::json!(true));
        assert_eq!(s["write_from"], serde_json::json!("2024-03-01"));
        assert_eq!(s["sites"], serde_json::json!(["shop.example"]));
        assert_eq!(s["min_visitors"], serde_json::json!(5));
        assert_eq!(s["max_line"], serde_json::json!(cfg.max_line));
        for key in [
            "lookback_secs",
            "timeout_secs",
            "half_life_secs",
            "replace_days",
        ] {
            assert!(s.get(key).is_some(), "{key} missing from {text}");
        }
    }
}
