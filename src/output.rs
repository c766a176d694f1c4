//! Printing query results, apart from running them: a schema and batches in, any
//! `Write` out, in the format the user picked.

use crate::error::Result;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::datatypes::Schema;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Csv,
    Json,
    Ndjson,
    /// A Markdown table, for pasting into a chat or wiki.
    Md,
}

/// Writes `batches` to `out`. An empty result still prints its header (table, CSV).
pub fn write(
    out: &mut dyn Write,
    format: OutputFormat,
    schema: &Schema,
    batches: &[RecordBatch],
) -> Result<()> {
    match format {
        OutputFormat::Table => {
            let text = if batches.iter().all(|b| b.num_rows() == 0) {
                let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
                format!("{}\n(0 rows)", names.join(" | "))
            } else {
                datafusion::arrow::util::pretty::pretty_format_batches(batches)?.to_string()
            };
            writeln!(out, "{text}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(std::sync::Arc::new(schema.clone())))?;
            }
            for b in batches {
                w.write(&defuse_formulas(b)?)?;
            }
        }
        OutputFormat::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
            drop(w);
            writeln!(out).map_err(io)?;
        }
        OutputFormat::Md => {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            let mut text = format!(
                "| {} |\n|{}\n",
                names.join(" | "),
                "---|".repeat(names.len())
            );
            for b in batches {
                let b = &defuse_formulas(b)?;
                for r in 0..b.num_rows() {
                    let cells: Vec<String> = b
                        .columns()
                        .iter()
                        .map(|c| {
                            if c.is_null(r) {
                                String::new()
                            } else {
                                datafusion::arrow::util::display::array_value_to_string(c, r)
                                    .unwrap_or_default()
                                    .replace('|', "\\|")
                            }
                        })
                        .collect();
                    text.push_str(&format!("| {} |\n", cells.join(" | ")));
                }
            }
            write!(out, "{text}").map_err(io)?;
        }
        OutputFormat::Ndjson => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut *out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs)?;
            w.finish()?;
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}

/// A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR
/// first) gets a leading `'`, which spreadsheets show as text. Numbers are not text
/// cells, so a negative number stays a number.
pub fn defuse_formula(text: &str) -> std::borrow::Cow<'_, str> {
    match text.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{text}").into(),
        _ => text.into(),
    }
}

/// [`defuse_formula`] on every text column of `batch`.
pub fn defuse_formulas(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, AsArray, StringArray};
    use datafusion::arrow::datatypes::DataType;
    let cols: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| -> Result<ArrayRef> {
            match c.data_type() {
                DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
                    let text = datafusion::arrow::compute::cast(c, &DataType::Utf8)?;
                    let text = text.as_string::<i32>();
                    if !text.iter().flatten().any(|t| defuse_formula(t) != t) {
                        return Ok(c.clone());
                    }
                    let safe: StringArray = text
                        .iter()
                        .map(|t| t.map(|t| defuse_formula(t).into_owned()))
                        .collect();
                    Ok(datafusion::arrow::compute::cast(&safe, c.data_type())?)
                }
                _ => Ok(c.clone()),
            }
        })
        .collect::<Result<_>>()?;
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

fn io(e: std::io::Error) -> crate::error::Error {
    crate::error::Error::io("<stdout>", e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    use std::sync::Arc;

    #[test]
    fn formulas_in_text_cells_are_defused_and_numbers_kept() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("keyword", DataType::Utf8, true),
            Field::new("roas", DataType::Float64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("=HYPERLINK(\"http://x\")"),
                    Some("red shoes"),
                    Some("@SUM(A1)"),
                    None,
                ])),
                Arc::new(Float64Array::from(vec![-1.5, 2.0, 0.0, 1.0])),
            ],
        )
        .unwrap();
        let mut csv = Vec::new();
        write(
            &mut csv,
            OutputFormat::Csv,
            &schema,
            std::slice::from_ref(&batch),
        )
        .unwrap();
        let csv = String::from_utf8(csv).unwrap();
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert!(csv.contains("'@SUM(A1)"), "{csv}");
        assert!(csv.contains("red shoes,2.0"), "{csv}");
        assert!(
            csv.contains(",-1.5"),
            "a negative number stays a number: {csv}"
        );
        let mut md = Vec::new();
        write(&mut md, OutputFormat::Md, &schema, &[batch]).unwrap();
        assert!(String::from_utf8(md).unwrap().contains("| '=HYPERLINK"));
    }
}
