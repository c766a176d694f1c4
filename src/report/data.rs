//! What a report computed, ready for every format.

use chrono::NaiveDate;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use std::sync::Arc;

/// The data of a report, ready for every format.
pub struct ReportData {
    pub title: String,
    pub period: (NaiveDate, NaiveDate),
    pub as_of: NaiveDate,
    pub schema: Arc<Schema>,
    pub batches: Vec<RecordBatch>,
    /// For rank and budget: the ranked keywords (drive the charts).
    pub ranked: Option<Vec<crate::rank::Ranked>>,
    pub budget_total_cents: Option<i64>,
    /// For a budget by response curves: the recommended split per paid keyword.
    pub curves: Option<Vec<crate::rank::curves::CurveRow>>,
    /// For a budget by response curves: keywords that convert well with no ad spend.
    pub opportunities: Option<Vec<crate::rank::Ranked>>,
}
