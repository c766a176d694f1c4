//! The dashboard's read-only SQL: one statement, planned with DDL, DML (`COPY`
//! included) and other statements refused by DataFusion's own plan check, over the
//! store's tables only (the context registers no file-reading table function and
//! does not resolve file paths as tables), at most [`ROW_LIMIT`] rows and
//! [`TIME_LIMIT`] of work.

use crate::error::{Error, Result};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use std::sync::Arc;
use std::time::Duration;

/// Rows a query returns at most; more are cut and the answer says so.
pub const ROW_LIMIT: usize = 10_000;
/// Work a query may take.
pub const TIME_LIMIT: Duration = Duration::from_secs(10);

/// The answer of a read-only query.
pub struct Answer {
    pub schema: Arc<Schema>,
    pub batches: Vec<RecordBatch>,
    /// More rows than [`ROW_LIMIT`] matched.
    pub truncated: bool,
}

/// Runs `sql` read-only on `ctx`.
pub async fn read_only(ctx: &SessionContext, sql: &str) -> Result<Answer> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let refused = |e: datafusion::error::DataFusionError| {
        Error::usage(format!(
            "refused or invalid: {}",
            first_line(&e.to_string())
        ))
    };
    let work = async {
        let df = ctx.sql_with_options(sql, options).await.map_err(refused)?;
        let df = df.limit(0, Some(ROW_LIMIT + 1)).map_err(refused)?;
        let schema = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await.map_err(refused)?;
        Ok::<_, Error>((schema, batches))
    };
    let (schema, mut batches) = tokio::time::timeout(TIME_LIMIT, work).await.map_err(|_| {
        Error::usage(format!(
            "the query ran longer than {} s and was stopped",
            TIME_LIMIT.as_secs()
        ))
    })??;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    let truncated = rows > ROW_LIMIT;
    if truncated {
        let mut left = ROW_LIMIT;
        for b in batches.iter_mut() {
            let keep = b.num_rows().min(left);
            *b = b.slice(0, keep);
            left -= keep;
        }
    }
    Ok(Answer {
        schema,
        batches,
        truncated,
    })
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    line.chars().take(300).collect()
}
