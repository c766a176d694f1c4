//! Canned queries from `queries/*.sql`, compiled into the binary. Each file starts
//! with a header comment; its `Parameters:` block declares `name type = default  help`,
//! and the body refers to them as `${name}`. Values are validated per type and
//! substituted as SQL literals, so a parameter can never inject SQL. A choice whose
//! values are all plain words may also be written `${name:id}`: its value bare, to
//! pick a column when the template is filled (`conversions_${model:id}`) rather than
//! by a `CASE` over every column on every row.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// The shipped queries: (name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "keyword_ranking",
        include_str!("../../queries/keyword_ranking.sql"),
    ),
    (
        "engine_share",
        include_str!("../../queries/engine_share.sql"),
    ),
    (
        "keyword_trend",
        include_str!("../../queries/keyword_trend.sql"),
    ),
    (
        "landing_by_keyword",
        include_str!("../../queries/landing_by_keyword.sql"),
    ),
    (
        "model_comparison",
        include_str!("../../queries/model_comparison.sql"),
    ),
    (
        "budget_inputs",
        include_str!("../../queries/budget_inputs.sql"),
    ),
    (
        "paid_keywords",
        include_str!("../../queries/paid_keywords.sql"),
    ),
    (
        "search_console_gap",
        include_str!("../../queries/search_console_gap.sql"),
    ),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    Date,
    Int,
    Float,
    Text,
    /// One of a fixed list, written `a|b|c` in the header.
    Choice(Vec<String>),
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamType::Date => write!(f, "date"),
            ParamType::Int => write!(f, "int"),
            ParamType::Float => write!(f, "float"),
            ParamType::Text => write!(f, "text"),
            ParamType::Choice(c) => write!(f, "{}", c.join("|")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub default: String,
    pub help: String,
}

#[derive(Debug, Clone)]
pub struct CannedQuery {
    pub name: String,
    /// First header line after the name: what the query is for.
    pub title: String,
    pub params: Vec<Param>,
    pub body: String,
}

impl CannedQuery {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let mut params = Vec::new();
        let mut title = String::new();
        let mut in_params = false;
        for line in text.lines() {
            let Some(comment) = line.trim_start().strip_prefix("--") else {
                break;
            };
            let c = comment.trim();
            if title.is_empty()
                && let Some(rest) = c.strip_prefix(&format!("{name}:"))
            {
                title = rest.trim().to_string();
                continue;
            }
            if c.starts_with("Parameters:") {
                in_params = true;
                continue;
            }
            if in_params {
                if c.is_empty() || c.ends_with(':') || c.contains(": ") && !c.contains('=') {
                    in_params = false;
                    continue;
                }
                params.push(parse_param(name, c)?);
            }
        }
        Ok(CannedQuery {
            name: name.to_string(),
            title,
            params,
            body: text.to_string(),
        })
    }

    /// The SQL with every `${name}` replaced by the given or default value.
    pub fn render(&self, given: &BTreeMap<String, String>) -> Result<String> {
        for k in given.keys() {
            if !self.params.iter().any(|p| &p.name == k) {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(Error::usage(format!(
                    "query {} has no parameter {k:?} (parameters: {})",
                    self.name,
                    known.join(", ")
                )));
            }
        }
        let mut sql = self.body.clone();
        for p in &self.params {
            let value = given.get(&p.name).unwrap_or(&p.default);
            let literal = literal(p, value).map_err(|e| {
                Error::usage(format!("query {}: parameter {}: {e}", self.name, p.name))
            })?;
            sql = sql.replace(&format!("${{{}}}", p.name), &literal);
            let bare = format!("${{{}:id}}", p.name);
            if sql.contains(&bare) {
                match &p.ty {
                    // Validated against the list, and every choice is a plain word.
                    ParamType::Choice(c) if c.iter().all(|w| is_word(w)) => {
                        sql = sql.replace(&bare, value.trim());
                    }
                    _ => {
                        return Err(Error::Other(format!(
                            "query {}: {bare} needs a choice of plain words",
                            self.name
                        )));
                    }
                }
            }
        }
        if let Some(i) = sql.find("${") {
            let end = sql[i..].find('}').map_or(sql.len(), |e| i + e + 1);
            return Err(Error::Other(format!(
                "query {} uses {} but does not declare it",
                self.name,
                &sql[i..end]
            )));
        }
        Ok(sql)
    }
}

fn parse_param(query: &str, c: &str) -> Result<Param> {
    let bad = || Error::Other(format!("query {query}: bad parameter line {c:?}"));
    let (lhs, rhs) = c.split_once('=').ok_or_else(bad)?;
    let mut words = lhs.split_whitespace();
    let name = words.next().ok_or_else(bad)?.to_string();
    let ty = match words.next().ok_or_else(bad)? {
        "date" => ParamType::Date,
        "int" => ParamType::Int,
        "float" => ParamType::Float,
        "text" => ParamType::Text,
        c if c.contains('|') => ParamType::Choice(c.split('|').map(String::from).collect()),
        _ => return Err(bad()),
    };
    let rhs = rhs.trim();
    let (default, help) = match rhs.split_once("  ") {
        Some((d, h)) => (d.trim(), h.trim()),
        None => (rhs, ""),
    };
    Ok(Param {
        name,
        ty,
        default: default.to_string(),
        help: help.to_string(),
    })
}

/// A plain word: lower-case letters, digits and `_`, as column names are.
fn is_word(w: &str) -> bool {
    !w.is_empty()
        && w.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn literal(p: &Param, value: &str) -> std::result::Result<String, String> {
    let v = value.trim();
    match &p.ty {
        ParamType::Date => {
            chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
                .map_err(|_| format!("expected a date YYYY-MM-DD, got {v:?}"))?;
            Ok(format!("DATE '{v}'"))
        }
        ParamType::Int => v
            .parse::<i64>()
            .map(|n| n.to_string())
            .map_err(|_| format!("expected an integer, got {v:?}")),
        ParamType::Float => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| format!("{f:?}"))
            .ok_or_else(|| format!("expected a number, got {v:?}")),
        ParamType::Text => Ok(format!("'{}'", v.replace('\'', "''"))),
        ParamType::Choice(choices) => {
            if choices.iter().any(|c| c == v) {
                Ok(format!("'{v}'"))
            } else {
                Err(format!("expected one of {}, got {v:?}", choices.join(", ")))
            }
        }
    }
}

/// All shipped queries, parsed.
pub fn builtin() -> Result<Vec<CannedQuery>> {
    BUILTIN
        .iter()
        .map(|(name, text)| CannedQuery::parse(name, text))
        .collect()
}

/// A shipped query by name; an unknown name lists the known ones.
pub fn find(name: &str) -> Result<CannedQuery> {
    let all = builtin()?;
    let known: Vec<String> = all.iter().map(|q| q.name.clone()).collect();
    all.into_iter().find(|q| q.name == name).ok_or_else(|| {
        Error::usage(format!(
            "no query named {name:?}; known queries: {}",
            known.join(", ")
        ))
    })
}

/// `k=v` pairs from `--param` flags.
pub fn parse_params(pairs: &[String]) -> Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| Error::usage(format!("--param expects name=value, got {p:?}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_query_parses_and_renders_with_defaults() {
        for q in builtin().unwrap() {
            assert!(!q.title.is_empty(), "{} has no title", q.name);
            assert!(!q.params.is_empty(), "{} has no parameters", q.name);
            let sql = q.render(&BTreeMap::new()).unwrap();
            assert!(!sql.contains("${"), "{sql}");
        }
    }

    #[test]
    fn params_are_validated_and_quoted() {
        let q = find("keyword_ranking").unwrap();
        let names: Vec<_> = q.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["from", "to", "model", "estimated", "min_visits", "limit"]
        );
        let mut given = BTreeMap::new();
        given.insert("from".to_string(), "2015-05-18".to_string());
        given.insert("model".to_string(), "linear".to_string());
        let sql = q.render(&given).unwrap();
        assert!(sql.contains("DATE '2015-05-18'"));
        // The model picks its columns when the template is filled: no CASE per row.
        assert!(
            sql.contains("conversions_linear AS conversions") && !sql.contains("CASE 'linear'")
        );
        // A bare value is only ever one of a list of plain words.
        let odd = CannedQuery::parse(
            "odd",
            "-- odd: x\n-- Parameters:\n--   c  a|c-d = a  choice\nSELECT ${c:id}",
        )
        .unwrap();
        assert!(odd.render(&BTreeMap::new()).is_err());
        given.insert("model".to_string(), "x' OR 1=1 --".to_string());
        let e = q.render(&given).unwrap_err().to_string();
        assert!(e.contains("expected one of first, last"), "{e}");
        given.insert("model".to_string(), "last".to_string());
        given.insert("from".to_string(), "yesterday".to_string());
        assert!(q.render(&given).is_err());
        let mut unknown = BTreeMap::new();
        unknown.insert("nope".to_string(), "1".to_string());
        assert!(
            q.render(&unknown)
                .unwrap_err()
                .to_string()
                .contains("from, to")
        );
        assert!(find("nope").is_err());
    }
}
