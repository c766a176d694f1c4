//! The first stage of a distributed ingest: `keyrank_parse_log` reads, parses and
//! classifies one file on an executor and deals its hits into sealed frames by bucket.

use super::*;

pub(super) fn chunk_fields() -> Fields {
    Fields::from(vec![
        Field::new("bucket", DataType::UInt32, false),
        Field::new("frame", DataType::LargeBinary, false),
    ])
}

pub(super) fn chunk_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Struct(chunk_fields()), false))
}

/// `keyrank_parse_log(source, job)`: an aggregate over one file number (the query
/// groups by it) that reads file `source` of the job and returns its sealed frames as
/// a list of (bucket, frame), the file's statistics last. An aggregate rather than a
/// scalar function because plans show an aggregate by its name alone, and the job
/// argument holds the run key: the scheduler's plan display never carries it.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct ParseLog {
    signature: Signature,
    secret: Option<ClusterSecret>,
}

impl ParseLog {
    pub(super) fn new(secret: Option<ClusterSecret>) -> Self {
        ParseLog {
            secret,
            signature: Signature::exact(
                vec![DataType::Int64, DataType::Utf8],
                Volatility::Immutable,
            ),
        }
    }
}

impl AggregateUDFImpl for ParseLog {
    fn name(&self) -> &str {
        PARSE_FN
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn schema_name(&self, _params: &AggregateFunctionParams) -> datafusion::common::Result<String> {
        Ok(format!("{PARSE_FN}(source)"))
    }

    fn human_display(
        &self,
        _params: &AggregateFunctionParams,
    ) -> datafusion::common::Result<String> {
        Ok(format!("{PARSE_FN}(source)"))
    }

    fn display_name(
        &self,
        _params: &AggregateFunctionParams,
    ) -> datafusion::common::Result<String> {
        Ok(format!("{PARSE_FN}(source)"))
    }

    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::common::Result<DataType> {
        Ok(DataType::List(chunk_item()))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> datafusion::common::Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "source"),
            DataType::Int64,
            true,
        ))])
    }

    fn accumulator(
        &self,
        acc_args: AccumulatorArgs,
    ) -> datafusion::common::Result<Box<dyn Accumulator>> {
        let job = job_argument(&acc_args, PARSE_FN)?;
        let keys = RunKeys::of(self.secret.as_ref(), &job.nonce).map_err(df_err)?;
        Ok(Box::new(FileToParse {
            job,
            keys: Arc::new(keys),
            source: None,
        }))
    }
}

/// The file number of one group, parsed when the group is evaluated.
#[derive(Debug)]
pub(super) struct FileToParse {
    job: Arc<JobSpec>,
    keys: Arc<RunKeys>,
    source: Option<i64>,
}

impl FileToParse {
    fn take(&mut self, values: &ArrayRef) {
        let values = values.as_primitive::<Int64Type>();
        if self.source.is_none() {
            self.source = values.iter().flatten().next();
        }
    }
}

impl Accumulator for FileToParse {
    fn update_batch(&mut self, values: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.take(&values[0]);
        Ok(())
    }

    fn state(&mut self) -> datafusion::common::Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(self.source)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> datafusion::common::Result<()> {
        self.take(&states[0]);
        Ok(())
    }

    fn evaluate(&mut self) -> datafusion::common::Result<ScalarValue> {
        let mut buckets: Vec<u32> = Vec::new();
        let mut frames = LargeBinaryBuilder::new();
        if let Some(source) = self.source {
            let source = usize::try_from(source)
                .map_err(|_| DataFusionError::Execution(format!("{PARSE_FN}: file {source}")))?;
            for (bucket, frame) in parse_file(source, &self.job, &self.keys).map_err(df_err)? {
                buckets.push(bucket);
                frames.append_value(&frame);
            }
        }
        let buckets_len = buckets.len();
        let items = StructArray::new(
            chunk_fields(),
            vec![
                Arc::new(UInt32Array::from(buckets)) as ArrayRef,
                Arc::new(frames.finish()) as ArrayRef,
            ],
            None,
        );
        let list = ListArray::new(
            chunk_item(),
            OffsetBuffer::from_lengths([buckets_len]),
            Arc::new(items),
            None,
        );
        Ok(ScalarValue::List(Arc::new(list)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
    }
}
/// Reads, parses and classifies one file: its hits dealt into sealed frames by
/// bucket, then one frame of its statistics.
pub(super) fn parse_file(
    source: usize,
    job: &JobSpec,
    keys: &RunKeys,
) -> Result<Vec<(u32, Vec<u8>)>> {
    let path = job
        .files
        .get(source)
        .ok_or_else(|| Error::Other(format!("{PARSE_FN}: no file number {source}")))?;
    let parts = FrontParts::build(&job.front)?;
    let front = parts.front(&job.front, keys.visitors);
    let sealer = &keys.sealer;
    let buckets = job.buckets.max(1);
    let header = |source: usize| {
        let mut b = Vec::with_capacity(FRAME_BYTES + 1024);
        b.push(HITS);
        b.extend_from_slice(&(source as u32).to_le_bytes());
        b
    };
    let mut open: Vec<Vec<u8>> = (0..buckets).map(|_| header(source)).collect();
    let mut out = Vec::new();
    let mut stats = FileStats {
        source: source as u32,
        ..FileStats::default()
    };
    let mut seq = 0u64;
    pipeline::run(&[Source::File(path.clone())], &front, 1, |batch| {
        for &(line, reason) in &batch.problems {
            if stats.problems.len() < MAX_PROBLEMS_PER_FILE {
                stats
                    .problems
                    .push((stats.lines + line, reason.to_string()));
            }
        }
        stats.lines += batch.lines;
        stats.counts.add(&batch.counts);
        stats.days.extend(batch.days.iter().copied());
        for &d in &batch.days {
            stats.span.get_or_insert((d, d)).1 = d;
        }
        for view in &batch.views {
            let bucket = (view.visitor % u64::from(buckets)) as usize;
            let hit = HitOut {
                seq,
                visitor: view.visitor,
                ts: view.ts,
                acquisition: &view.acquisition,
                segment: view.segment,
                goal: view.goal.as_ref(),
                landing: batch.landing(view),
            };
            seq += 1;
            let buf = &mut open[bucket];
            *buf = postcard::to_extend(&hit, std::mem::take(buf)).map_err(decode_err)?;
            if buf.len() >= FRAME_BYTES {
                let full = std::mem::replace(buf, header(source));
                out.push((
                    bucket as u32,
                    sealer.seal(bucket as u32, source as u32, &full)?,
                ));
            }
        }
        if let Some(end) = batch.end.take() {
            stats.bytes = end.bytes;
            stats.fingerprint = end.fingerprint;
            stats.damaged = end.damaged;
        }
        Ok(())
    })?;
    for (bucket, buf) in open.into_iter().enumerate() {
        if buf.len() > 5 {
            out.push((
                bucket as u32,
                sealer.seal(bucket as u32, source as u32, &buf)?,
            ));
        }
    }
    let mut plain = vec![STATS];
    plain = postcard::to_extend(&stats, plain).map_err(decode_err)?;
    out.push((
        STATS_BUCKET,
        sealer.seal(STATS_BUCKET, source as u32, &plain)?,
    ));
    Ok(out)
}
