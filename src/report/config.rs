//! The report file: TOML as written, checked into a [`Config`] of [`ReportSpec`]s, each
//! error naming its line.

use super::*;

/// The config file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// Store folder, relative to the config file.
    store: Spanned<String>,
    /// Default time zone of the cron expressions.
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default, rename = "report")]
    reports: Vec<RawReport>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReport {
    name: Spanned<String>,
    query: Spanned<String>,
    #[serde(default = "no_params")]
    params: Spanned<BTreeMap<String, toml::Value>>,
    formats: Spanned<Vec<String>>,
    #[serde(default = "default_output")]
    output: Spanned<String>,
    #[serde(default)]
    cron: Option<Spanned<String>>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    title: Option<String>,
}

pub(super) fn no_params() -> Spanned<BTreeMap<String, toml::Value>> {
    Spanned::new(0..0, BTreeMap::new())
}

pub(super) fn default_output() -> Spanned<String> {
    Spanned::new(0..0, "reports/{name}/{date}.{ext}".to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
    Md,
    Html,
    Parquet,
}

impl Format {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "csv" => Format::Csv,
            "json" => Format::Json,
            "md" | "markdown" => Format::Md,
            "html" => Format::Html,
            "parquet" => Format::Parquet,
            _ => return None,
        })
    }

    pub fn ext(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Md => "md",
            Format::Html => "html",
            Format::Parquet => "parquet",
        }
    }
}

/// What a report runs.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportQuery {
    Canned(String),
    Rank,
    Budget,
}

/// One validated report.
#[derive(Debug, Clone)]
pub struct ReportSpec {
    pub name: String,
    pub title: String,
    pub query: ReportQuery,
    /// Parameter values as written; dates are resolved at run time.
    pub params: BTreeMap<String, String>,
    pub formats: Vec<Format>,
    pub output: String,
    pub cron: Option<croner::Cron>,
    pub cron_text: Option<String>,
    pub timezone: chrono_tz::Tz,
}

/// A validated config: every report checked before anything runs.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub store: PathBuf,
    pub reports: Vec<ReportSpec>,
}

pub(super) const RANK_PARAMS: &[&str] = &["from", "to", "model", "min_visits", "top", "estimated"];
pub(super) const BUDGET_PARAMS: &[&str] = &[
    "from",
    "to",
    "model",
    "min_visits",
    "total",
    "min_share",
    "max_share",
    "method",
    "max_change",
    "seed",
    "top",
    "estimated",
];

pub(super) fn line_of(text: &str, offset: usize) -> u64 {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count() as u64
        + 1
}

impl Config {
    /// Reads and validates a config; every error names the file and line.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let file = path.display().to_string();
        let at = |span: std::ops::Range<usize>, message: String| Error::Input {
            path: file.clone(),
            line: line_of(&text, span.start),
            message,
        };
        let raw: RawConfig = toml::from_str(&text).map_err(|e| {
            let line = e.span().map_or(0, |s| line_of(&text, s.start));
            Error::Input {
                path: file.clone(),
                line,
                message: e.message().to_string(),
            }
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let store = base.join(raw.store.get_ref());
        let default_tz = match &raw.timezone {
            Some(tz) => tz
                .get_ref()
                .parse::<chrono_tz::Tz>()
                .map_err(|_| at(tz.span(), format!("unknown time zone {:?}", tz.get_ref())))?,
            None => chrono_tz::UTC,
        };
        let canned = crate::query::queries::builtin()?;
        let mut reports = Vec::new();
        let mut names = std::collections::HashSet::new();
        for r in raw.reports {
            let name = r.name.get_ref().clone();
            if name.is_empty() || name.contains(['/', '\\']) || !names.insert(name.clone()) {
                return Err(at(
                    r.name.span(),
                    format!("report name {name:?} must be unique and contain no slashes"),
                ));
            }
            let q = r.query.get_ref().as_str();
            let (query, known): (ReportQuery, Vec<String>) = match q {
                "rank" => (
                    ReportQuery::Rank,
                    RANK_PARAMS.iter().map(|s| s.to_string()).collect(),
                ),
                "budget" => (
                    ReportQuery::Budget,
                    BUDGET_PARAMS.iter().map(|s| s.to_string()).collect(),
                ),
                other => match canned.iter().find(|c| c.name == other) {
                    Some(c) => (
                        ReportQuery::Canned(other.to_string()),
                        c.params.iter().map(|p| p.name.clone()).collect(),
                    ),
                    None => {
                        let all: Vec<&str> = canned.iter().map(|c| c.name.as_str()).collect();
                        return Err(at(
                            r.query.span(),
                            format!(
                                "report {name:?}: unknown query {other:?} (known: rank, budget, {})",
                                all.join(", ")
                            ),
                        ));
                    }
                },
            };
            let mut params = BTreeMap::new();
            for (k, v) in r.params.get_ref() {
                if !known.contains(k) {
                    return Err(at(
                        r.params.span(),
                        format!(
                            "report {name:?}: query {q} has no parameter {k:?} (parameters: {})",
                            known.join(", ")
                        ),
                    ));
                }
                let v = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => other.to_string(),
                };
                if matches!(k.as_str(), "from" | "to") {
                    resolve_date(&v, NaiveDate::default(), k == "to").map_err(|e| {
                        at(
                            r.params.span(),
                            format!("report {name:?}: parameter {k}: {e}"),
                        )
                    })?;
                }
                params.insert(k.clone(), v);
            }
            if query == ReportQuery::Budget
                && !params.contains_key("total")
                && params.get("method").map(String::as_str) != Some("curves")
            {
                return Err(at(
                    r.params.span(),
                    format!("report {name:?}: budget needs params.total"),
                ));
            }
            let mut formats = Vec::new();
            for f in r.formats.get_ref() {
                formats.push(Format::parse(f).ok_or_else(|| {
                    at(
                        r.formats.span(),
                        format!(
                            "report {name:?}: unknown format {f:?} (csv, json, md, html, parquet)"
                        ),
                    )
                })?);
            }
            if formats.is_empty() {
                return Err(at(r.formats.span(), format!("report {name:?}: no formats")));
            }
            let timezone = match &r.timezone {
                Some(tz) => tz
                    .get_ref()
                    .parse::<chrono_tz::Tz>()
                    .map_err(|_| at(tz.span(), format!("unknown time zone {:?}", tz.get_ref())))?,
                None => default_tz,
            };
            let (cron, cron_text) = match &r.cron {
                Some(c) => {
                    let parsed = croner::parser::CronParser::new()
                        .parse(c.get_ref())
                        .map_err(|e| {
                            at(
                                c.span(),
                                format!("report {name:?}: bad cron {:?}: {e}", c.get_ref()),
                            )
                        })?;
                    (Some(parsed), Some(c.get_ref().clone()))
                }
                None => (None, None),
            };
            let output = r.output.get_ref().clone();
            let probe = base.join(render_path(&output, &name, NaiveDate::default(), "tmp"));
            check_writable(&probe).map_err(|e| {
                at(
                    r.output.span(),
                    format!(
                        "report {name:?}: cannot write under {}: {e}",
                        probe.parent().unwrap_or(base).display()
                    ),
                )
            })?;
            reports.push(ReportSpec {
                title: r.title.clone().unwrap_or_else(|| name.clone()),
                name,
                query,
                params,
                formats,
                output,
                cron,
                cron_text,
                timezone,
            });
        }
        if reports.is_empty() {
            return Err(Error::Input {
                path: file,
                line: 1,
                message: "no [[report]] entries".into(),
            });
        }
        Ok(Config {
            path: path.to_path_buf(),
            store,
            reports,
        })
    }

    pub fn base_dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Creates the folder and writes and removes a probe file in it.
pub(super) fn check_writable(probe: &Path) -> std::io::Result<()> {
    let dir = probe.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let p = dir.join(format!(".keyrank-probe-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}
