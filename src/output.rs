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
                w.write(b)?;
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

fn io(e: std::io::Error) -> crate::error::Error {
    crate::error::Error::io("<stdout>", e)
}
