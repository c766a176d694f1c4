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
                let shown = batches.iter().map(readable).collect::<Result<Vec<_>>>()?;
                datafusion::arrow::util::pretty::pretty_format_batches(&shown)?.to_string()
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
                        .map(|c| display_cell(c, r).replace('|', "\\|"))
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

/// A cell as people read it: whole numbers without a fraction (`164`, not `164.0`),
/// credits without trailing zeros (`23`, `4.5`), money with its cents, other floats to
/// four decimals; NULL as nothing. CSV, JSON and Parquet keep the exact types.
pub fn display_cell(col: &dyn Array, row: usize) -> String {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::{DataType, Float32Type, Float64Type};
    if col.is_null(row) {
        return String::new();
    }
    match col.data_type() {
        DataType::Float64 => float_text(col.as_primitive::<Float64Type>().value(row)),
        DataType::Float32 => float_text(col.as_primitive::<Float32Type>().value(row) as f64),
        DataType::Decimal128(_, scale) if *scale > 2 => trim_fraction(
            datafusion::arrow::util::display::array_value_to_string(col, row).unwrap_or_default(),
        ),
        _ => datafusion::arrow::util::display::array_value_to_string(col, row).unwrap_or_default(),
    }
}

fn float_text(v: f64) -> String {
    if !v.is_finite() {
        v.to_string()
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else if v.abs() < 1e-3 {
        format!("{v:.3e}")
    } else {
        trim_fraction(format!("{v:.4}"))
    }
}

fn trim_fraction(s: String) -> String {
    if s.contains('.') && !s.contains('e') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `batch` with every column as the text [`display_cell`] gives it (for tables).
fn readable(batch: &RecordBatch) -> Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field};
    let b = defuse_formulas(batch)?;
    let cols: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| {
            let text: StringArray = (0..c.len())
                .map(|r| (!c.is_null(r)).then(|| display_cell(c, r)))
                .collect();
            std::sync::Arc::new(text) as ArrayRef
        })
        .collect();
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), DataType::Utf8, true))
        .collect();
    Ok(RecordBatch::try_new(
        std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields)),
        cols,
    )?)
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

    #[test]
    fn numbers_read_as_people_write_them() {
        use datafusion::arrow::array::{Decimal128Array, Int64Array};
        let schema = Arc::new(Schema::new(vec![
            Field::new("visits", DataType::Float64, true),
            Field::new("conversions", DataType::Decimal128(28, 6), true),
            Field::new("revenue", DataType::Decimal128(28, 2), true),
            Field::new("share", DataType::Float64, true),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from(vec![Some(164.0), Some(2.5), None])),
                Arc::new(
                    Decimal128Array::from(vec![Some(23_000_000), Some(4_500_000), Some(0)])
                        .with_precision_and_scale(28, 6)
                        .unwrap(),
                ),
                Arc::new(
                    Decimal128Array::from(vec![Some(1250), Some(100), Some(7)])
                        .with_precision_and_scale(28, 2)
                        .unwrap(),
                ),
                Arc::new(Float64Array::from(vec![0.123456, 1.0 / 3.0, 0.00001234])),
                Arc::new(Int64Array::from(vec![1, 2, 3])),
            ],
        )
        .unwrap();
        let cells: Vec<Vec<String>> = (0..3)
            .map(|r| (0..5).map(|c| display_cell(batch.column(c), r)).collect())
            .collect();
        assert_eq!(
            cells,
            [
                ["164", "23", "12.50", "0.1235", "1"],
                ["2.5", "4.5", "1.00", "0.3333", "2"],
                ["", "0", "0.07", "1.234e-5", "3"],
            ]
        );
        let mut table = Vec::new();
        write(
            &mut table,
            OutputFormat::Table,
            &schema,
            std::slice::from_ref(&batch),
        )
        .unwrap();
        let table = String::from_utf8(table).unwrap();
        assert!(
            table.contains("| 164 ") && !table.contains("23.000000"),
            "{table}"
        );
        let mut csv = Vec::new();
        write(&mut csv, OutputFormat::Csv, &schema, &[batch]).unwrap();
        assert!(
            String::from_utf8(csv)
                .unwrap()
                .contains("164.0,23.000000,12.50")
        );
    }
}
