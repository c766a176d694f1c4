//! What every log pass shares, embedded or on a cluster's executors: the front a
//! line goes through, the settings of visits, and one page view through visits and
//! attribution.

use super::config::{IngestConfig, gate_k};
use super::pipeline::{Front, Goal, Keyed};
use super::summary::RunSummary;
use crate::classify::engines::EngineTable;
use crate::classify::{Acquisition, Classifier, NOT_PROVIDED};
use crate::error::Result;
use crate::ingest::visits::{Conversion, ConversionOutcome, PageView, Sessionizer};
use crate::parse::input::Source;
use crate::parse::{CookieNames, LogFormat};
use crate::privacy::Visitors;
use serde::Serialize;
use std::path::PathBuf;

/// Idle visitors are forgotten at most this often (in lines read).
pub(crate) const MIN_EVICT_LINES: u64 = 65_536;

/// An input's name in the ledger: its file name (no folder), or `-`.
pub(crate) fn input_name(source: &Source) -> String {
    match source {
        Source::Stdin => "-".into(),
        Source::File(p) => p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
    }
}

/// One page view through visits and attribution, and its goal when it is a goal hit.
/// Every ingest, embedded or on a cluster's executors, runs its hits through this.
pub(crate) fn take_view(
    sessions: &mut Sessionizer,
    summary: &mut RunSummary,
    visitors: &mut Visitors,
    pv: &PageView,
    goal: Option<&Goal>,
) {
    let visitor = pv.visitor;
    if sessions.page_view(pv) {
        count_visit(summary, pv.acquisition);
        visitors.landings.add(pv.landing, visitor);
        if let Acquisition::External(c) = pv.acquisition
            && let Some(kw) = &c.keyword
        {
            visitors.keywords.add(kw, visitor);
        }
    }
    let Some(goal) = goal else {
        return;
    };
    summary.conversions += 1;
    let conversion = Conversion {
        order: goal.conversion.order,
        cents: admitted_cents(sessions, summary, goal.conversion.cents),
    };
    let outcome = match &goal.term {
        Some(term) if sessions.claim_order(conversion.order) => {
            visitors.keywords.add(term, visitor);
            sessions.rollup.unit = visitor;
            sessions.credit_keyword(pv.ts, term.clone(), conversion.cents);
            ConversionOutcome::Attributed
        }
        Some(_) => ConversionOutcome::DuplicateOrder,
        None => sessions.conversion(visitor, pv.ts, &conversion),
    };
    match outcome {
        ConversionOutcome::Attributed => {}
        ConversionOutcome::Unattributed => summary.unattributed += 1,
        ConversionOutcome::DuplicateOrder => {
            summary.conversions -= 1;
            summary.duplicate_orders += 1;
        }
    }
}

/// Forgets idle visitors once `progress` (lines or hits) has moved on by as many as
/// there are visitors: eviction walks them all, so this keeps it linear.
pub(crate) fn evict_when_due(sessions: &mut Sessionizer, progress: u64, last: &mut u64) {
    if progress - *last >= (sessions.visitor_count() as u64).max(MIN_EVICT_LINES) {
        *last = progress;
        sessions.evict_idle();
    }
}

/// The settings of visits and attribution; a distributed ingest ships them to the
/// executors that run its buckets.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub(crate) struct VisitSettings {
    timeout_secs: i64,
    lookback_secs: i64,
    half_life_secs: i64,
    write_from: Option<i32>,
    sketches: bool,
    /// The privacy gate's k: visitor counts per keyword and landing stop there.
    pub gate_k: u64,
}

impl VisitSettings {
    pub fn of(cfg: &IngestConfig) -> Self {
        VisitSettings {
            timeout_secs: cfg.timeout_secs,
            lookback_secs: cfg.lookback_secs,
            half_life_secs: cfg.half_life_secs,
            write_from: cfg.write_from,
            sketches: cfg.visitor_sketches,
            gate_k: gate_k(cfg),
        }
    }

    /// A sessionizer with these settings, empty.
    pub fn sessionizer(&self) -> Sessionizer {
        let mut sessions = Sessionizer::new(
            self.timeout_secs,
            self.lookback_secs,
            self.half_life_secs,
            self.write_from,
        );
        sessions.rollup.sketches = self.sketches;
        sessions
    }
}

/// The settings a run's front (log format, cookies, classifier, goals) is built from;
/// a distributed ingest ships them to the executors.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct FrontSpec {
    pub log_format: String,
    pub json_fields: String,
    pub visitor_cookie: Option<String>,
    pub keyword_cookie: Option<String>,
    pub login_cookie: Option<String>,
    pub engines_files: Vec<PathBuf>,
    pub exclude_referrers: Vec<String>,
    /// The site's own hosts (given, or detected by the prescan).
    pub sites: Vec<String>,
    pub goals: Vec<String>,
    pub revenue_param: String,
    pub order_param: String,
    /// Lines longer than this are malformed (`--max-line`).
    pub max_line: usize,
}

impl FrontSpec {
    pub(crate) fn of(cfg: &IngestConfig) -> Self {
        FrontSpec {
            log_format: cfg.log_format.clone(),
            json_fields: cfg.json_fields.clone(),
            visitor_cookie: cfg.visitor_cookie.clone(),
            keyword_cookie: cfg.keyword_cookie.clone(),
            login_cookie: cfg.login_cookie.clone(),
            engines_files: cfg.engines_files.clone(),
            exclude_referrers: cfg.exclude_referrers.clone(),
            sites: cfg.sites.clone(),
            goals: cfg.goals.clone(),
            revenue_param: cfg.revenue_param.clone(),
            max_line: cfg.max_line,
            order_param: cfg.order_param.clone(),
        }
    }
}

/// What a [`FrontSpec`] builds: the cookie slots, the log format and the classifier.
pub(crate) struct FrontParts {
    cookies: CookieNames,
    visitor_slot: Option<usize>,
    keyword_slot: Option<usize>,
    login_slot: Option<usize>,
    pub format: LogFormat,
    pub classifier: Classifier,
}

impl FrontParts {
    pub fn build(spec: &FrontSpec) -> Result<Self> {
        let mut cookies = CookieNames::default();
        let mut slot = |name: &Option<String>| name.as_deref().map(|n| cookies.add(n)).transpose();
        let visitor_slot = slot(&spec.visitor_cookie)?;
        let keyword_slot = slot(&spec.keyword_cookie)?;
        let login_slot = slot(&spec.login_cookie)?;
        let format = LogFormat::from_spec(&spec.log_format, &spec.json_fields, &cookies)?;
        let mut engines = EngineTable::builtin();
        for f in &spec.engines_files {
            engines.extend_from_matomo_file(f)?;
        }
        let mut classifier = Classifier::new(engines, &spec.sites);
        classifier.exclude_referrers(&spec.exclude_referrers)?;
        Ok(FrontParts {
            cookies,
            visitor_slot,
            keyword_slot,
            login_slot,
            format,
            classifier,
        })
    }

    pub fn front<'a>(&'a self, spec: &'a FrontSpec, key: Keyed) -> Front<'a> {
        Front {
            format: &self.format,
            classifier: &self.classifier,
            cookies: &self.cookies,
            goals: &spec.goals,
            revenue_param: &spec.revenue_param,
            order_param: &spec.order_param,
            visitor_slot: self.visitor_slot,
            keyword_slot: self.keyword_slot,
            login_slot: self.login_slot,
            key,
            max_line: spec.max_line,
        }
    }
}

/// The cents of a conversion as credited: all of them, or none (a bad revenue value,
/// counted) when they would take the run's revenue past the store's range.
pub(crate) fn admitted_cents(
    sessions: &mut Sessionizer,
    summary: &mut RunSummary,
    cents: i64,
) -> i64 {
    if sessions.admit_revenue(cents) {
        cents
    } else {
        summary.bad_revenue += 1;
        0
    }
}

pub(crate) fn count_visit(summary: &mut RunSummary, acquisition: &Acquisition) {
    summary.visits += 1;
    match acquisition {
        Acquisition::Direct | Acquisition::Internal => summary.direct_visits += 1,
        Acquisition::External(c) if c.is_organic_search() => {
            summary.search_visits += 1;
            match summary.search_visits_by_engine.get_mut(&c.source) {
                Some(n) => *n += 1,
                None => {
                    summary.search_visits_by_engine.insert(c.source.clone(), 1);
                }
            }
            if c.keyword.as_deref() == Some(NOT_PROVIDED) {
                summary.not_provided_visits += 1;
            } else {
                summary.keyword_visits += 1;
            }
        }
        Acquisition::External(c) if c.medium == "referral" => summary.referral_visits += 1,
        Acquisition::External(c) if c.medium == crate::classify::SOCIAL_MEDIUM => {
            summary.social_visits += 1
        }
        Acquisition::External(c) if c.medium == crate::classify::AI_MEDIUM => {
            summary.ai_visits += 1
        }
        Acquisition::External(_) => summary.campaign_visits += 1,
    }
}
