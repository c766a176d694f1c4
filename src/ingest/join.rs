//! The purchase ↔ touch join, run inside DataFusion: purchases and the run's touches
//! become two in-memory tables, and only the matched (time, dims) pairs come back.

use crate::error::Result;
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use rustc_hash::FxHashSet;
use std::sync::Arc;

/// Each purchase's touches, one slice per purchase in a shared buffer.
#[derive(Debug, Default)]
pub struct Windows {
    /// Purchase `i`'s touches are `touches[starts[i]..starts[i + 1]]`.
    starts: Vec<usize>,
    touches: Vec<(i64, u32)>,
}

impl Windows {
    /// The touches (time, dims) of purchase `i`, oldest first.
    pub fn get(&self, i: usize) -> &[(i64, u32)] {
        match (self.starts.get(i), self.starts.get(i + 1)) {
            (Some(&a), Some(&b)) => &self.touches[a..b],
            _ => &[],
        }
    }
}

/// For each purchase (time, cents, visitor key), its visitor's touches (time, dims) in
/// `[time - lookback, time]`, oldest first.
pub fn purchases_to_touches(
    purchases: &[(i64, i64, u64)],
    touches: &[(u64, i64, u32)],
    lookback: i64,
) -> Result<Windows> {
    if purchases.is_empty() || touches.is_empty() {
        return Ok(Windows::default());
    }
    let p = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("idx", DataType::UInt64, false),
            Field::new("visitor", DataType::UInt64, false),
            Field::new("ts", DataType::Int64, false),
        ])),
        vec![
            Arc::new(UInt64Array::from_iter_values(0..purchases.len() as u64)),
            Arc::new(UInt64Array::from_iter_values(purchases.iter().map(|p| p.2))),
            Arc::new(Int64Array::from_iter_values(purchases.iter().map(|p| p.0))),
        ],
    )?;
    // Only buyers' touches can match: most visitors never buy.
    let buyers: FxHashSet<u64> = purchases.iter().map(|p| p.2).collect();
    let touches: Vec<&(u64, i64, u32)> = touches.iter().filter(|t| buyers.contains(&t.0)).collect();
    if touches.is_empty() {
        return Ok(Windows::default());
    }
    let t = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("visitor", DataType::UInt64, false),
            Field::new("ts", DataType::Int64, false),
            Field::new("dims", DataType::UInt32, false),
        ])),
        vec![
            Arc::new(UInt64Array::from_iter_values(touches.iter().map(|t| t.0))),
            Arc::new(Int64Array::from_iter_values(touches.iter().map(|t| t.1))),
            Arc::new(UInt32Array::from_iter_values(touches.iter().map(|t| t.2))),
        ],
    )?;
    let rt = crate::model::runtime::runtime()?;
    let batches = rt.block_on(async {
        let ctx = crate::store::object_stores::session_context()?;
        ctx.register_batch("purchases", p)?;
        ctx.register_batch("touches", t)?;
        let sql = format!(
            "SELECT p.idx, t.ts, t.dims FROM purchases p JOIN touches t ON p.visitor = t.visitor \
             WHERE t.ts <= p.ts AND t.ts >= p.ts - {lookback}"
        );
        ctx.sql(&sql).await?.collect().await
    })?;
    let mut columns = Vec::with_capacity(batches.len());
    for b in &batches {
        let idx = b.column(0).as_any().downcast_ref::<UInt64Array>();
        let ts = b.column(1).as_any().downcast_ref::<Int64Array>();
        let dims = b.column(2).as_any().downcast_ref::<UInt32Array>();
        let (Some(idx), Some(ts), Some(dims)) = (idx, ts, dims) else {
            return Err(crate::error::Error::Other(
                "unexpected join result types".into(),
            ));
        };
        columns.push((idx, ts, dims));
    }
    // Count each purchase's matches, then place them: one buffer, no Vec per purchase.
    let mut starts = vec![0usize; purchases.len() + 1];
    for (idx, _, _) in &columns {
        for i in idx.values().iter() {
            starts[*i as usize + 1] += 1;
        }
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut out = vec![(0i64, 0u32); starts[purchases.len()]];
    for (idx, ts, dims) in &columns {
        for r in 0..idx.len() {
            let slot = &mut next[idx.value(r) as usize];
            out[*slot] = (ts.value(r), dims.value(r));
            *slot += 1;
        }
    }
    // Windows are small: ordering each one here beats a global sort in the plan.
    for w in starts.windows(2) {
        out[w[0]..w[1]].sort_unstable();
    }
    Ok(Windows {
        starts,
        touches: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_within_the_window_only() {
        let purchases = [(1000, 500, 7), (1000, 100, 8), (50, 1, 7)];
        let touches = [
            (7, 100, 1),
            (7, 900, 2),
            (7, 1001, 3),
            (8, 10, 4),
            (9, 999, 5),
        ];
        let got = purchases_to_touches(&purchases, &touches, 950).unwrap();
        assert_eq!(got.get(0), [(100, 1), (900, 2)]);
        assert!(
            got.get(1).is_empty(),
            "visitor 8's touch is outside the window"
        );
        assert!(got.get(2).is_empty());
        assert!(got.get(3).is_empty(), "no such purchase");
    }
}
