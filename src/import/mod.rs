//! What other systems export, brought into the store: ad costs and Search Console
//! query reports.

pub mod costs;
pub mod search_console;

use std::collections::BTreeSet;

/// What reading one export found: the rows kept, the bad rows (counted, the first
/// ten named by line), the days the kept rows cover.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    pub rows: u64,
    pub bad_rows: u64,
    /// Search Console rows whose query the export anonymised (costs: always 0).
    pub anonymized_rows: u64,
    pub days: BTreeSet<i32>,
    pub problems: Vec<String>,
}

impl ImportSummary {
    /// One bad row of `file`, counted; the first ten are named by line, never quoted.
    pub(crate) fn bad_row(&mut self, file: &str, line: u64, reason: &str) {
        self.bad_rows += 1;
        if self.problems.len() < 10 {
            self.problems.push(format!("{file}:{line}: {reason}"));
        }
    }
}
