//! The second stage: `keyrank_sessionize` puts one bucket's hits back in log order and
//! runs visits and attribution over them, as an embedded ingest does.

use super::*;

/// `keyrank_sessionize(frame, job)`: an aggregate over one bucket's frames. It puts
/// the bucket's hits back in log order, runs visits and attribution over them and
/// returns the sealed [`BucketResult`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct Sessionize {
    signature: Signature,
    secret: Option<ClusterSecret>,
}

impl Sessionize {
    pub(super) fn new(secret: Option<ClusterSecret>) -> Self {
        Sessionize {
            secret,
            signature: Signature::exact(
                vec![DataType::LargeBinary, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for Sessionize {
    fn name(&self) -> &str {
        SESSIONIZE_FN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    /// The job argument (which holds the run key) stays out of plan schemas, and so
    /// out of the shuffle files that carry them.
    fn schema_name(&self, _params: &AggregateFunctionParams) -> datafusion::common::Result<String> {
        Ok(format!("{SESSIONIZE_FN}(frame)"))
    }

    fn human_display(
        &self,
        _params: &AggregateFunctionParams,
    ) -> datafusion::common::Result<String> {
        Ok(format!("{SESSIONIZE_FN}(frame)"))
    }

    fn display_name(
        &self,
        _params: &AggregateFunctionParams,
    ) -> datafusion::common::Result<String> {
        Ok(format!("{SESSIONIZE_FN}(frame)"))
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::LargeBinary)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "frames"),
            DataType::LargeBinary,
            true,
        ))])
    }

    fn accumulator(
        &self,
        acc_args: AccumulatorArgs,
    ) -> datafusion::common::Result<Box<dyn Accumulator>> {
        let job = job_argument(&acc_args, SESSIONIZE_FN)?;
        let keys = RunKeys::of(self.secret.as_ref(), &job.nonce).map_err(df_err)?;
        Ok(Box::new(BucketFrames {
            job,
            keys: Arc::new(keys),
            frames: Vec::new(),
            bytes: 0,
        }))
    }
}

/// One bucket's sealed frames, as they arrive.
#[derive(Debug)]
pub(super) struct BucketFrames {
    job: Arc<JobSpec>,
    keys: Arc<RunKeys>,
    frames: Vec<Vec<u8>>,
    bytes: usize,
}

impl BucketFrames {
    fn push(&mut self, frame: &[u8]) {
        self.bytes += frame.len();
        self.frames.push(frame.to_vec());
    }
}

impl Accumulator for BucketFrames {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        let frames: &LargeBinaryArray = values[0].as_binary::<i64>();
        for frame in frames.iter().flatten() {
            self.push(frame);
        }
        Ok(())
    }

    /// The frames so far, each behind its length (u32, little endian).
    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        let frames = std::mem::take(&mut self.frames);
        let mut out = Vec::with_capacity(self.bytes + 4 * frames.len());
        for f in &frames {
            out.extend_from_slice(&(f.len() as u32).to_le_bytes());
            out.extend_from_slice(f);
        }
        self.bytes = 0;
        Ok(vec![ScalarValue::LargeBinary(Some(out))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        let states: &LargeBinaryArray = states[0].as_binary::<i64>();
        for mut rest in states.iter().flatten() {
            while rest.len() >= 4 {
                let n = u32::from_le_bytes(rest[..4].try_into().expect("four bytes")) as usize;
                let frame = rest.get(4..4 + n).ok_or_else(|| {
                    DataFusionError::Execution(format!("{SESSIONIZE_FN}: a truncated state"))
                })?;
                self.push(frame);
                rest = &rest[4 + n..];
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let frames = std::mem::take(&mut self.frames);
        self.bytes = 0;
        let sealed = sessionize(&frames, &self.job, &self.keys).map_err(df_err)?;
        Ok(ScalarValue::LargeBinary(Some(sealed)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.bytes
            + self.frames.capacity() * std::mem::size_of::<Vec<u8>>()
    }
}

/// Runs one bucket: opens its frames, replays its hits in log order through visits
/// and attribution, and seals what it counted.
pub(super) fn sessionize(frames: &[Vec<u8>], job: &JobSpec, keys: &RunKeys) -> Result<Vec<u8>> {
    let sealer = &keys.sealer;
    let mut hits: Vec<(u32, Hit)> = Vec::new();
    let mut files = Vec::new();
    let mut bucket = None;
    for sealed in frames {
        let (sealed_bucket, sealed_source, plain) = sealer.open(sealed)?;
        // One group is one bucket: a frame sealed for another was moved.
        if *bucket.get_or_insert(sealed_bucket) != sealed_bucket {
            return Err(Error::Other(
                "a cluster frame arrived in another bucket than it was sealed for".into(),
            ));
        }
        match plain.first() {
            Some(&HITS) if plain.len() >= 5 => {
                let source = u32::from_le_bytes(plain[1..5].try_into().expect("four bytes"));
                if source != sealed_source {
                    return Err(Error::Other(
                        "a cluster frame names another file than it was sealed for".into(),
                    ));
                }
                let mut rest = &plain[5..];
                while !rest.is_empty() {
                    let (hit, more) = postcard::take_from_bytes::<Hit>(rest).map_err(decode_err)?;
                    hits.push((source, hit));
                    rest = more;
                }
            }
            Some(&STATS) => files.push(postcard::from_bytes(&plain[1..]).map_err(decode_err)?),
            _ => return Err(Error::Other("a cluster frame of an unknown kind".into())),
        }
    }
    // Log order: files oldest first (the job's order), then line order within each.
    hits.sort_unstable_by_key(|(source, hit)| (*source, hit.seq));
    let mut sessions = job.visits.sessionizer();
    // Buckets' revenue adds up when merged: each may credit its share of the range.
    sessions.revenue_left = crate::ingest::visits::MAX_RUN_CENTS / BUCKETS as i64;
    let mut summary = RunSummary::default();
    let mut visitors = Visitors::capped(job.visits.gate_k);
    let mut last_eviction = 0;
    for (n, (_, hit)) in hits.iter().enumerate() {
        evict_when_due(&mut sessions, n as u64, &mut last_eviction);
        let pv = PageView {
            visitor: hit.visitor,
            ts: hit.ts,
            acquisition: &hit.acquisition,
            landing: &hit.landing,
            segment: hit.segment,
        };
        take_view(
            &mut sessions,
            &mut summary,
            &mut visitors,
            &pv,
            hit.goal.as_ref(),
        );
    }
    drop(hits);
    let result = BucketResult {
        rows: sessions.rollup.into_rows(),
        keywords: named_counts(&visitors.keywords),
        landings: named_counts(&visitors.landings),
        summary,
        files,
    };
    let plain = postcard::to_stdvec(&result).map_err(decode_err)?;
    sealer.seal(bucket.unwrap_or(STATS_BUCKET), RESULT_SOURCE, &plain)
}
