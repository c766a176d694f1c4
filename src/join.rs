//! The purchase ↔ touch join, run inside DataFusion: purchases and the run's touches
//! become two in-memory tables, and only the matched (time, dims) pairs come back.

use crate::error::Result;
use datafusion::arrow::array::{Array, Int64Array, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// For each purchase (time, cents, visitor key), its visitor's touches (time, dims) in
/// `[time - lookback, time]`, oldest first.
pub fn purchases_to_touches(
    purchases: &[(i64, i64, u64)],
    touches: &[(u64, i64, u32)],
    lookback: i64,
) -> Result<Vec<Vec<(i64, u32)>>> {
    let mut out = vec![Vec::new(); purchases.len()];
    if purchases.is_empty() || touches.is_empty() {
        return Ok(out);
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::error::Error::Other(format!("async runtime: {e}")))?;
    let batches = rt.block_on(async {
        let ctx = SessionContext::new();
        ctx.register_batch("purchases", p)?;
        ctx.register_batch("touches", t)?;
        let sql = format!(
            "SELECT p.idx, t.ts, t.dims FROM purchases p JOIN touches t ON p.visitor = t.visitor \
             WHERE t.ts <= p.ts AND t.ts >= p.ts - {lookback}"
        );
        ctx.sql(&sql).await?.collect().await
    })?;
    for b in batches {
        let idx = b.column(0).as_any().downcast_ref::<UInt64Array>();
        let ts = b.column(1).as_any().downcast_ref::<Int64Array>();
        let dims = b.column(2).as_any().downcast_ref::<UInt32Array>();
        let (Some(idx), Some(ts), Some(dims)) = (idx, ts, dims) else {
            return Err(crate::error::Error::Other(
                "unexpected join result types".into(),
            ));
        };
        for i in 0..b.num_rows() {
            out[idx.value(i) as usize].push((ts.value(i), dims.value(i)));
        }
    }
    // Windows are small: ordering each one here beats a global sort in the plan.
    for window in &mut out {
        window.sort_unstable();
    }
    Ok(out)
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
        assert_eq!(got[0], vec![(100, 1), (900, 2)]);
        assert!(got[1].is_empty(), "visitor 8's touch is outside the window");
        assert!(got[2].is_empty());
    }
}
