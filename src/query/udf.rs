//! keyrank's SQL functions: honest conversion rates for small counts.
//!
//! - `wilson_lower(successes, trials [, z])`, `wilson_upper(...)`: Wilson score
//!   interval bounds (z defaults to 1.96, a 95 % interval). NULL when trials is NULL or 0.
//! - `shrunk_rate(successes, trials, alpha, beta)`: the Beta-Binomial posterior mean
//!   `(s + α) / (n + α + β)`; with no trials it is the prior mean.
//! - `beta_prior(successes, trials)`: aggregate; fits an empirical-Bayes Beta prior
//!   across its rows by the method of moments, as a struct `{alpha, beta}`.
//! - `distinct_visitors(visitor_sketch)`: aggregate; distinct visitors of the rows it
//!   groups, from their mergeable sketches ([`crate::model::sketch`]).

use crate::model::sketch::Sketch;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, StructArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Float64Type};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, TypeSignature, Volatility, create_udaf,
};
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// The default z of the Wilson interval (95 %).
pub const DEFAULT_Z: f64 = 1.959_963_984_540_054;

/// Registers every keyrank function on `ctx`.
pub fn register(ctx: &SessionContext) {
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
}

/// keyrank's scalar functions.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(Wilson::new(true)),
        ScalarUDF::from(Wilson::new(false)),
        ScalarUDF::from(ShrunkRate::new()),
    ]
}

/// keyrank's aggregate functions.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(DistinctVisitors::new()),
        create_udaf(
            "beta_prior",
            vec![DataType::Float64, DataType::Float64],
            Arc::new(DataType::Struct(prior_fields())),
            Volatility::Immutable,
            Arc::new(|_| Ok(Box::new(BetaPrior::default()))),
            Arc::new(vec![DataType::Float64; 5]),
        ),
    ]
}

/// Wilson score interval for `s` successes in `n` trials.
pub fn wilson(s: f64, n: f64, z: f64) -> Option<(f64, f64)> {
    if n.is_nan() || n <= 0.0 || !s.is_finite() || !z.is_finite() {
        return None;
    }
    let p = (s / n).clamp(0.0, 1.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let margin = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
    Some(((center - margin).max(0.0), (center + margin).min(1.0)))
}

/// Posterior mean of a Beta(α, β) prior after `s` successes in `n` trials.
pub fn shrunk(s: f64, n: f64, alpha: f64, beta: f64) -> Option<f64> {
    let n = n.max(0.0);
    let d = n + alpha + beta;
    (d > 0.0 && s.is_finite()).then(|| ((s.clamp(0.0, n) + alpha) / d).clamp(0.0, 1.0))
}

fn float_args(args: &ScalarFunctionArgs) -> Result<(Vec<Float64Array>, bool)> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = args
        .args
        .iter()
        .map(|a| {
            let arr = a.to_array(args.number_rows)?;
            let f = cast(&arr, &DataType::Float64)?;
            Ok(f.as_primitive::<Float64Type>().clone())
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((arrays, all_scalar))
}

fn finish(out: Float64Array, all_scalar: bool) -> Result<ColumnarValue> {
    if all_scalar {
        Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
    } else {
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// Float64 arguments in each of the given arities; integers and decimals coerce.
fn numeric_signature(arities: &[usize]) -> Signature {
    Signature::one_of(
        arities
            .iter()
            .map(|n| TypeSignature::Exact(vec![DataType::Float64; *n]))
            .collect(),
        Volatility::Immutable,
    )
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Wilson {
    lower: bool,
    signature: Signature,
}

impl Wilson {
    fn new(lower: bool) -> Self {
        Wilson {
            lower,
            signature: numeric_signature(&[2, 3]),
        }
    }
}

impl ScalarUDFImpl for Wilson {
    fn name(&self) -> &str {
        if self.lower {
            "wilson_lower"
        } else {
            "wilson_upper"
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, all_scalar) = float_args(&args)?;
        let out: Float64Array = (0..args.number_rows)
            .map(|i| {
                let get = |k: usize| (!a[k].is_null(i)).then(|| a[k].value(i));
                let z = if a.len() == 3 { get(2)? } else { DEFAULT_Z };
                let (lo, hi) = wilson(get(0)?, get(1)?, z)?;
                Some(if self.lower { lo } else { hi })
            })
            .collect();
        finish(out, all_scalar)
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ShrunkRate {
    signature: Signature,
}

impl ShrunkRate {
    fn new() -> Self {
        ShrunkRate {
            signature: numeric_signature(&[4]),
        }
    }
}

impl ScalarUDFImpl for ShrunkRate {
    fn name(&self) -> &str {
        "shrunk_rate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (a, all_scalar) = float_args(&args)?;
        let out: Float64Array = (0..args.number_rows)
            .map(|i| {
                let get = |k: usize| (!a[k].is_null(i)).then(|| a[k].value(i));
                shrunk(get(0)?, get(1)?, get(2)?, get(3)?)
            })
            .collect();
        finish(out, all_scalar)
    }
}

fn prior_fields() -> Fields {
    Fields::from(vec![
        Field::new("alpha", DataType::Float64, true),
        Field::new("beta", DataType::Float64, true),
    ])
}

/// Method-of-moments fit of a Beta prior (the beta-binomial moment estimator,
/// weighting each row by its trials, so a keyword with 5 visits cannot dominate).
/// State: rows, Σs, Σn, Σn², Σs²/n.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct BetaPrior {
    k: f64,
    s: f64,
    n: f64,
    n2: f64,
    s2_over_n: f64,
}

/// Prior strength (α + β) is kept within these bounds: at least a couple of
/// pseudo-trials, at most the number of observed trials.
const MIN_STRENGTH: f64 = 2.0;

impl BetaPrior {
    pub fn add(&mut self, s: f64, n: f64) {
        if n.is_nan() || n <= 0.0 || !s.is_finite() {
            return;
        }
        let s = s.clamp(0.0, n);
        self.k += 1.0;
        self.s += s;
        self.n += n;
        self.n2 += n * n;
        self.s2_over_n += s * s / n;
    }

    /// (α, β), or None without data.
    pub fn fit(&self) -> Option<(f64, f64)> {
        if self.k < 1.0 || self.n <= 0.0 {
            return None;
        }
        let mean = (self.s / self.n).clamp(1e-9, 1.0 - 1e-9);
        let max_strength = self.n.max(MIN_STRENGTH);
        // Weighted squared deviations of the rates from the pooled mean.
        let spread = (self.s2_over_n - mean * mean * self.n).max(0.0);
        let denom = self.n - self.n2 / self.n - (self.k - 1.0);
        let rho = if denom > 0.0 {
            (spread / (mean * (1.0 - mean)) - (self.k - 1.0)) / denom
        } else {
            0.0
        };
        let strength = if rho <= 0.0 {
            max_strength
        } else {
            (1.0 / rho - 1.0).clamp(MIN_STRENGTH, max_strength)
        };
        Some((mean * strength, (1.0 - mean) * strength))
    }
}

impl Accumulator for BetaPrior {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let s = cast(&values[0], &DataType::Float64)?;
        let n = cast(&values[1], &DataType::Float64)?;
        let (s, n) = (
            s.as_primitive::<Float64Type>(),
            n.as_primitive::<Float64Type>(),
        );
        for i in 0..s.len() {
            if !s.is_null(i) && !n.is_null(i) {
                self.add(s.value(i), n.value(i));
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let (a, b) = match self.fit() {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        let arr = StructArray::new(
            prior_fields(),
            vec![
                Arc::new(Float64Array::from(vec![a])) as ArrayRef,
                Arc::new(Float64Array::from(vec![b])) as ArrayRef,
            ],
            None,
        );
        Ok(ScalarValue::Struct(Arc::new(arr)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok([self.k, self.s, self.n, self.n2, self.s2_over_n]
            .into_iter()
            .map(|v| ScalarValue::Float64(Some(v)))
            .collect())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let cols: Vec<&Float64Array> = states
            .iter()
            .map(|a| a.as_primitive::<Float64Type>())
            .collect();
        for i in 0..cols[0].len() {
            self.k += cols[0].value(i);
            self.s += cols[1].value(i);
            self.n += cols[2].value(i);
            self.n2 += cols[3].value(i);
            self.s2_over_n += cols[4].value(i);
        }
        Ok(())
    }
}

/// The name of the visitor-sketch union aggregate.
pub const DISTINCT_VISITORS_FN: &str = "distinct_visitors";

/// `distinct_visitors(visitor_sketch)`: distinct visitors of the rows it aggregates,
/// from the union of their sketches (NULL sketches are skipped).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DistinctVisitors {
    signature: Signature,
}

impl DistinctVisitors {
    pub fn new() -> Self {
        DistinctVisitors {
            signature: Signature::uniform(
                1,
                vec![
                    DataType::Binary,
                    DataType::BinaryView,
                    DataType::LargeBinary,
                ],
                Volatility::Immutable,
            ),
        }
    }
}

impl Default for DistinctVisitors {
    fn default() -> Self {
        Self::new()
    }
}

impl AggregateUDFImpl for DistinctVisitors {
    fn name(&self) -> &str {
        DISTINCT_VISITORS_FN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::Int64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "sketch"),
            DataType::Binary,
            true,
        ))])
    }

    fn accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> datafusion::common::Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchUnion::default()))
    }
}

#[derive(Debug, Default)]
struct SketchUnion {
    sketch: Sketch,
}

impl SketchUnion {
    fn add(&mut self, values: &ArrayRef) -> datafusion::common::Result<()> {
        let values = cast(values, &DataType::Binary)?;
        for bytes in values.as_binary::<i32>().iter().flatten() {
            let s = Sketch::from_bytes(bytes).ok_or_else(|| {
                DataFusionError::Execution(format!(
                    "{DISTINCT_VISITORS_FN}: a value that is not a visitor sketch"
                ))
            })?;
            self.sketch.union(&s);
        }
        Ok(())
    }
}

impl Accumulator for SketchUnion {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.add(&values[0])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.add(&states[0])
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Binary(Some(self.sketch.to_bytes()))])
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.sketch.estimate() as i64)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + match &self.sketch {
                Sketch::Sparse(v) => 4 * v.capacity(),
                Sketch::Dense(v) => v.capacity(),
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_known_values() {
        // 0 of 10: lower bound 0, upper about 0.2775.
        let (lo, hi) = wilson(0.0, 10.0, DEFAULT_Z).unwrap();
        assert_eq!(lo, 0.0);
        assert!((hi - 0.2775).abs() < 1e-3, "{hi}");
        // 5 of 10 is symmetric around 0.5.
        let (lo, hi) = wilson(5.0, 10.0, DEFAULT_Z).unwrap();
        assert!(
            (lo + hi - 1.0).abs() < 1e-12 && (lo - 0.2366).abs() < 1e-3,
            "{lo}"
        );
        assert_eq!(wilson(1.0, 0.0, DEFAULT_Z), None);
    }

    #[test]
    fn shrinkage_and_prior_fit() {
        assert_eq!(shrunk(0.0, 0.0, 1.0, 9.0), Some(0.1));
        assert_eq!(shrunk(3.0, 10.0, 1.0, 9.0), Some(0.2));
        let mut p = BetaPrior::default();
        // Rates spread around 0.1 with big samples: the fit's mean is the pooled rate.
        for (s, n) in [
            (5.0, 100.0),
            (15.0, 100.0),
            (10.0, 100.0),
            (2.0, 100.0),
            (18.0, 100.0),
        ] {
            p.add(s, n);
        }
        let (a, b) = p.fit().unwrap();
        assert!((a / (a + b) - 0.1).abs() < 1e-12);
        assert!(a + b > 2.0 && a + b < 500.0, "{a} {b}");
        // No spread beyond noise: the strongest prior allowed.
        let mut q = BetaPrior::default();
        for _ in 0..4 {
            q.add(10.0, 100.0);
        }
        let (a, b) = q.fit().unwrap();
        assert!((a + b - 400.0).abs() < 1e-9);
        assert_eq!(BetaPrior::default().fit(), None);
    }
}
