//! Reports: a TOML file lists reports (a canned query, `rank` or `budget`, with
//! parameters whose dates are relative to the run), their formats, an output path
//! template and a cron schedule. Running one renders every format to a temp file and
//! renames it into place, so a reader never sees half a report.

pub mod charts;
mod config;
mod data;
pub mod html;
pub mod schedule;

pub use config::{Config, Format, ReportQuery, ReportSpec};
pub use data::ReportData;

use crate::error::{Error, Result};
use crate::query::output::OutputFormat;
use chrono::{Datelike, Duration, NaiveDate};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// `reports/{name}/{date}.{ext}` with the placeholders filled in.
pub fn render_path(template: &str, name: &str, date: NaiveDate, ext: &str) -> String {
    template
        .replace("{name}", name)
        .replace("{date}", &date.format("%Y-%m-%d").to_string())
        .replace("{ext}", ext)
}

/// Dates relative to the run: `today`, `today-7d`, `today+1d`, `yesterday`,
/// `start_of_month`, `start_of_week`, `last_month` (its first day as `from`, its last
/// as `to`), `start_of_last_month`, `end_of_last_month`, or a plain `YYYY-MM-DD`.
pub fn resolve_date(
    expr: &str,
    today: NaiveDate,
    is_to: bool,
) -> std::result::Result<NaiveDate, String> {
    let e = expr.trim();
    let first_of_month = |d: NaiveDate| d.with_day(1).unwrap_or(d);
    let start_last = first_of_month(first_of_month(today) - Duration::days(1));
    let end_last = first_of_month(today) - Duration::days(1);
    let simple = match e {
        "today" => Some(today),
        "yesterday" => Some(today - Duration::days(1)),
        "start_of_month" => Some(first_of_month(today)),
        "start_of_week" => {
            Some(today - Duration::days(today.weekday().num_days_from_monday() as i64))
        }
        "start_of_last_month" => Some(start_last),
        "end_of_last_month" => Some(end_last),
        "last_month" => Some(if is_to { end_last } else { start_last }),
        _ => None,
    };
    if let Some(d) = simple {
        return Ok(d);
    }
    if let Some(rest) = e.strip_prefix("today") {
        let (sign, n) = match rest.as_bytes().first() {
            Some(b'-') => (-1, &rest[1..]),
            Some(b'+') => (1, &rest[1..]),
            _ => return Err(format!("cannot read the date {expr:?}")),
        };
        let (num, unit) = n.split_at(n.find(|c: char| !c.is_ascii_digit()).unwrap_or(n.len()));
        let num: i64 = num
            .parse()
            .map_err(|_| format!("cannot read the date {expr:?}"))?;
        let days = match unit {
            "d" | "" => Some(num),
            "w" => num.checked_mul(7),
            _ => return Err(format!("unknown unit in {expr:?} (use d or w)")),
        };
        // A date out of the calendar's range is an error, never a panic.
        return days
            .and_then(|d| d.checked_mul(sign))
            .and_then(Duration::try_days)
            .and_then(|d| today.checked_add_signed(d))
            .ok_or_else(|| format!("the date {expr:?} is out of range"));
    }
    NaiveDate::parse_from_str(e, "%Y-%m-%d").map_err(|_| {
        format!("cannot read the date {expr:?} (YYYY-MM-DD, today, today-7d, start_of_month, last_month, …)")
    })
}

/// What one run of a report produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutcome {
    pub rows: usize,
    pub outputs: Vec<PathBuf>,
}

/// Runs a report as of `as_of` and writes its outputs.
pub fn run_report(cfg: &Config, spec: &ReportSpec, as_of: NaiveDate) -> Result<RunOutcome> {
    let data = compute(cfg, spec, as_of)?;
    let mut outcome = RunOutcome {
        rows: data.batches.iter().map(|b| b.num_rows()).sum(),
        outputs: Vec::new(),
    };
    for f in &spec.formats {
        let path = cfg
            .base_dir()
            .join(render_path(&spec.output, &spec.name, as_of, f.ext()));
        let bytes = render(&data, *f)?;
        write_atomic(&path, &bytes)?;
        outcome.outputs.push(path);
    }
    Ok(outcome)
}

fn compute(cfg: &Config, spec: &ReportSpec, as_of: NaiveDate) -> Result<ReportData> {
    let mut params = spec.params.clone();
    let from = resolve_date(params.get("from").map_or("1970-01-01", |s| s), as_of, false)
        .map_err(Error::usage)?;
    let to =
        resolve_date(params.get("to").map_or("today", |s| s), as_of, true).map_err(Error::usage)?;
    params.insert("from".into(), from.to_string());
    params.insert("to".into(), to.to_string());
    let store = crate::store::Store::open(&cfg.store)?;
    let model = params
        .get("model")
        .cloned()
        .unwrap_or_else(|| "last".into());
    let num = |k: &str, d: f64| -> Result<f64> {
        params.get(k).map_or(Ok(d), |v| {
            v.parse::<f64>().map_err(|_| {
                Error::usage(format!(
                    "report {}: {k} must be a number, got {v:?}",
                    spec.name
                ))
            })
        })
    };
    let mut curves = None;
    let mut opportunities = None;
    let (schema, batches, ranked, total) = match &spec.query {
        ReportQuery::Canned(name) => {
            let q = crate::query::queries::find(name)?;
            let known: Vec<&str> = q.params.iter().map(|p| p.name.as_str()).collect();
            params.retain(|k, _| known.contains(&k.as_str()));
            let sql = q.render(&params)?;
            let rt = runtime()?;
            let (schema, batches) = rt.block_on(async {
                let ctx = crate::query::session(&store).await?;
                crate::query::run(&ctx, &sql).await
            })?;
            (schema, batches, None, None)
        }
        ReportQuery::Budget if params.get("method").map(String::as_str) == Some("curves") => {
            let total = match params.get("total") {
                Some(t) => Some(crate::model::parse_cents(t).ok_or_else(|| {
                    Error::usage(format!(
                        "report {}: total must be an amount like 5000.00",
                        spec.name
                    ))
                })?),
                None => None,
            };
            let p = crate::rank::curves::CurveParams {
                total_cents: total,
                max_change: num("max_change", 0.3)?,
                seed: num("seed", 1.0)? as u64,
                ..Default::default()
            };
            let (rows, totals, batch) = crate::rank::curves::split_from_store(
                &store,
                Some(&params["from"]),
                Some(&params["to"]),
                &model,
                None,
                &p,
            )?;
            curves = Some(rows);
            let stats = crate::rank::load_stats(
                &store,
                Some(&params["from"]),
                Some(&params["to"]),
                &model,
                false,
                None,
            )?;
            opportunities = Some(crate::rank::content_opportunities(
                &stats,
                num("min_visits", 30.0)?,
                10,
            ));
            (
                batch.schema(),
                vec![batch],
                None,
                Some((totals.recommended_spend * 100.0).round() as i64),
            )
        }
        ReportQuery::Rank | ReportQuery::Budget => {
            let estimated = params.get("estimated").is_some_and(|v| v == "true");
            let stats = crate::rank::load_stats(
                &store,
                Some(&params["from"]),
                Some(&params["to"]),
                &model,
                estimated,
                None,
            )?;
            let min_visits = num("min_visits", 30.0)?;
            let (rows, total) = if spec.query == ReportQuery::Budget {
                let total = crate::model::parse_cents(&params["total"]).ok_or_else(|| {
                    Error::usage(format!(
                        "report {}: total must be an amount like 5000.00",
                        spec.name
                    ))
                })?;
                let method = match params.get("method").map(String::as_str) {
                    None | Some("shrunk") | Some("curves") => crate::rank::Method::Shrunk,
                    Some("thompson") => crate::rank::Method::Thompson,
                    Some(m) => {
                        return Err(Error::usage(format!(
                            "report {}: unknown method {m:?}",
                            spec.name
                        )));
                    }
                };
                let p = crate::rank::BudgetParams {
                    total_cents: total,
                    min_share: num("min_share", 0.0)?,
                    max_share: num("max_share", 0.25)?,
                    min_visits,
                    method,
                    seed: num("seed", 1.0)? as u64,
                    ..crate::rank::BudgetParams::default()
                };
                let mut rows = crate::rank::budget(&stats, &p)?;
                rows.sort_by(|a, b| {
                    b.amount_cents
                        .cmp(&a.amount_cents)
                        .then(a.keyword.cmp(&b.keyword))
                });
                (rows, Some(total))
            } else {
                (crate::rank::ranked_with_reasons(&stats, min_visits), None)
            };
            let top = num("top", 0.0)? as usize;
            let rows: Vec<_> = if top > 0 {
                rows.into_iter().take(top).collect()
            } else {
                rows
            };
            let batch = crate::rank::to_batch(&rows, total.is_some())?;
            (batch.schema(), vec![batch], Some(rows), total)
        }
    };
    Ok(ReportData {
        title: spec.title.clone(),
        period: (from, to),
        as_of,
        schema,
        batches,
        ranked,
        budget_total_cents: total,
        curves,
        opportunities,
    })
}

use crate::model::runtime::runtime;

/// The bytes of one format.
pub fn render(data: &ReportData, f: Format) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match f {
        Format::Csv => {
            crate::query::output::write(&mut out, OutputFormat::Csv, &data.schema, &data.batches)?
        }
        Format::Json => {
            crate::query::output::write(&mut out, OutputFormat::Json, &data.schema, &data.batches)?
        }
        Format::Md => {
            out.extend_from_slice(
                format!(
                    "## {}\n\nPeriod {} – {} (as of {})\n\n",
                    data.title, data.period.0, data.period.1, data.as_of
                )
                .as_bytes(),
            );
            crate::query::output::write(&mut out, OutputFormat::Md, &data.schema, &data.batches)?;
            if let Some(rows) = data.opportunities.as_ref().filter(|r| !r.is_empty()) {
                out.extend_from_slice(b"\n### Content opportunities\n\nKeywords that convert well with no ad spend: money cannot buy these visits, a page that ranks for the term can.\n\n");
                let batch = crate::rank::to_batch(rows, false)?;
                // No cost columns: these keywords have no ad spend.
                let keep: Vec<usize> = (0..batch.num_columns())
                    .filter(|&i| {
                        !matches!(
                            batch.schema().field(i).name().as_str(),
                            "cost_per_conversion" | "roas"
                        )
                    })
                    .collect();
                let batch = batch.project(&keep)?;
                crate::query::output::write(&mut out, OutputFormat::Md, &batch.schema(), &[batch])?;
            }
        }
        Format::Html => out = crate::report::html::render(data).into_bytes(),
        Format::Parquet => {
            let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(
                &mut out,
                data.schema.clone(),
                Some(
                    datafusion::parquet::file::properties::WriterProperties::builder()
                        .set_created_by(format!("keyrank {}", env!("CARGO_PKG_VERSION")))
                        .build(),
                ),
            )?;
            for b in &data.batches {
                w.write(b)?;
            }
            w.close()?;
        }
    }
    Ok(out)
}

/// Writes to a hidden temp file beside `path` and renames it into place.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let res = (|| {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_dates() {
        let today = NaiveDate::from_ymd_opt(2024, 3, 13).unwrap();
        let d = |s: &str, to: bool| resolve_date(s, today, to).unwrap().to_string();
        assert_eq!(d("today", false), "2024-03-13");
        assert_eq!(d("today-7d", false), "2024-03-06");
        assert_eq!(d("today+1w", false), "2024-03-20");
        assert_eq!(d("start_of_month", false), "2024-03-01");
        assert_eq!(d("start_of_week", false), "2024-03-11");
        assert_eq!(d("last_month", false), "2024-02-01");
        assert_eq!(d("last_month", true), "2024-02-29");
        assert_eq!(d("2024-01-02", false), "2024-01-02");
        assert!(resolve_date("next tuesday", today, false).is_err());
        assert!(resolve_date("today-3y", today, false).is_err());
    }

    #[test]
    fn config_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let write = |body: &str| {
            let p = dir.path().join("reports.toml");
            std::fs::write(&p, body).unwrap();
            Config::load(&p).unwrap_err().to_string()
        };
        let head = "store = \"store\"\n\n[[report]]\nname = \"weekly\"\n";
        let e = write(&format!("{head}query = \"nope\"\nformats = [\"csv\"]\n"));
        assert!(
            e.contains("reports.toml:5:") && e.contains("unknown query"),
            "{e}"
        );
        let e = write(&format!(
            "{head}query = \"keyword_ranking\"\nformats = [\"csv\"]\ncron = \"61 * * * *\"\n"
        ));
        assert!(
            e.contains("reports.toml:7:") && e.contains("bad cron"),
            "{e}"
        );
        let e = write(&format!(
            "{head}query = \"keyword_ranking\"\nparams = {{ colour = \"red\" }}\nformats = [\"csv\"]\n"
        ));
        assert!(
            e.contains("reports.toml:6:") && e.contains("no parameter \"colour\""),
            "{e}"
        );
        let e = write(&format!(
            "{head}query = \"keyword_ranking\"\nformats = [\"pdf\"]\n"
        ));
        assert!(
            e.contains("reports.toml:6:") && e.contains("unknown format"),
            "{e}"
        );
        let e = write(&format!("{head}query = \"budget\"\nformats = [\"csv\"]\n"));
        assert!(e.contains("needs params.total"), "{e}");
        let e = write(&format!(
            "{head}query = \"rank\"\nformats = [\"csv\"]\ntimezone = \"Mars/Base\"\n"
        ));
        assert!(
            e.contains("reports.toml:7:") && e.contains("time zone"),
            "{e}"
        );
        let e = write("store = \"s\"\nbogus = 1\n");
        assert!(e.contains("reports.toml:2:"), "{e}");
    }
}
