//! Distributed ingest (`keyrank ingest --cluster df://HOST:PORT`).
//!
//! The log files are parsed and classified on the cluster's executors, one task per
//! file. Each hit goes to one of [`BUCKETS`] buckets by its keyed visitor hash, so all
//! of a visitor's hits meet in one place. There they are put back in log order and
//! run through the same visits and attribution code as an embedded ingest
//! ([`crate::ingest::take_view`]). Only per-keyword rows, distinct-visitor counts per
//! keyword and run counts come back. This machine merges them, applies the privacy
//! gate and writes the store, so the store equals the one an embedded ingest writes.
//!
//! The whole pass is one query made of two keyrank functions that every scheduler and
//! executor registers ([`functions`]):
//!
//! ```sql
//! SELECT chunk['bucket'], keyrank_sessionize(chunk['frame'], <job>)
//! FROM (SELECT unnest(chunks) AS chunk
//!       FROM (SELECT keyrank_parse_log(source, <job>) AS chunks
//!             FROM (SELECT unnest(range(0, <files>)) AS source) GROUP BY source))
//! GROUP BY chunk['bucket']
//! ```
//!
//! Privacy: frames (hits between the stages, and the buckets' results) are encrypted
//! with ChaCha20 under a key derived from the run's random key. Ballista's shuffle
//! files on the executors' disks therefore hold only ciphertext. The run key travels
//! inside the job, in memory, and is never written. Both functions are aggregates
//! whose names hide their job argument, so neither plan schemas (which shuffle files
//! carry) nor the plans the scheduler displays contain it.
//!
//! Visitors are split into disjoint buckets, so distinct-visitor counts (per row, and
//! per keyword for the k-visitor threshold) are exact sums of the buckets' counts.
//!
//! Not supported on a cluster yet: purchase files, `--epsilon`, and stdin. The input
//! files must be visible to every executor under the same path.

use crate::error::{Error, Result};
use crate::ingest::config::{IngestConfig, gate_k};
use crate::ingest::front::{
    FrontParts, FrontSpec, VisitSettings, evict_when_due, input_name, take_view,
};
use crate::ingest::pipeline::{self, Goal, Keyed};
use crate::ingest::summary::{RunSummary, Spans};
use crate::ingest::visits::PageView;
use crate::model::rollup::{Row, Segment, merge_rows};
use crate::parse::input::Source;
use crate::privacy::{self, GateReport, Visitors};
use crate::store::{InputRecord, Store};
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use datafusion::arrow::array::{
    ArrayRef, AsArray, LargeBinaryArray, LargeBinaryBuilder, ListArray, StructArray, UInt32Array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields, Int64Type, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::expr::AggregateFunctionParams;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, Signature, Volatility,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

pub const PARSE_FN: &str = "keyrank_parse_log";
pub const SESSIONIZE_FN: &str = "keyrank_sessionize";
/// Buckets of visitors: more than a cluster has task slots, so the second stage
/// spreads evenly; each bucket is one sessionizer.
pub const BUCKETS: u32 = 64;
/// The bucket that carries each file's statistics rather than hits.
const STATS_BUCKET: u32 = u32::MAX;
/// Plain bytes of hits per frame before it is sealed and sent on.
const FRAME_BYTES: usize = 1 << 20;
const NONCE_BYTES: usize = 12;
const HITS: u8 = 0;
const STATS: u8 = 1;
/// Bad lines reported by position per file; the run reports the first ten overall.
const MAX_PROBLEMS_PER_FILE: usize = 10;

/// What `ingest --cluster` hands to [`log_pass`].
pub(crate) struct Job<'a> {
    pub cfg: &'a IngestConfig,
    pub spec: FrontSpec,
    /// In the order the embedded ingest reads them (oldest first).
    pub sources: &'a [Source],
    pub key: Keyed,
}

/// Everything the executors need, passed to both functions as one JSON argument.
#[derive(Debug, Serialize, Deserialize)]
struct JobSpec {
    front: FrontSpec,
    /// Absolute paths, by source index (the order hits are replayed in).
    files: Vec<PathBuf>,
    key: [u64; 2],
    buckets: u32,
    visits: VisitSettings,
}

/// A hit as it travels between the stages (written from borrowed parts).
#[derive(Serialize)]
struct HitOut<'a> {
    seq: u64,
    visitor: u64,
    ts: i64,
    acquisition: &'a crate::classify::Acquisition,
    segment: Segment,
    goal: Option<&'a Goal>,
    landing: &'a str,
}

/// [`HitOut`], read back.
#[derive(Deserialize)]
struct Hit {
    seq: u64,
    visitor: u64,
    ts: i64,
    acquisition: crate::classify::Acquisition,
    segment: Segment,
    goal: Option<Goal>,
    landing: String,
}

/// What reading one file found besides its hits.
#[derive(Debug, Default, Serialize, Deserialize)]
struct FileStats {
    source: u32,
    lines: u64,
    counts: pipeline::LineCounts,
    /// (line in the file, reason) of its first bad lines.
    problems: Vec<(u64, String)>,
    days: BTreeSet<i32>,
    /// Days of the file's first and last lines.
    span: Option<(i32, i32)>,
    /// Why the file ended early or could not be read.
    damaged: Option<String>,
    bytes: u64,
    fingerprint: String,
}

/// What one bucket sends back.
#[derive(Serialize, Deserialize)]
struct BucketResult {
    rows: Vec<Row>,
    /// Distinct visitors per keyword and per landing path, within this bucket (capped
    /// at the gate's k).
    keywords: Vec<(String, u64)>,
    landings: Vec<(String, u64)>,
    summary: RunSummary,
    files: Vec<FileStats>,
}

/// Seals and opens frames: ChaCha20 under a key derived from the run key, with a
/// random nonce in front of each frame.
struct Sealer {
    key: [u8; 32],
}

impl Sealer {
    fn new(run_key: &Keyed) -> Self {
        let mut key = [0u8; 32];
        for (i, part) in key.chunks_mut(8).enumerate() {
            part.copy_from_slice(&run_key.hash(&[b"frame key", &[i as u8]]).to_le_bytes());
        }
        Sealer { key }
    }

    fn seal(&self, mut plain: Vec<u8>) -> Vec<u8> {
        let nonce: [u8; NONCE_BYTES] = rand::random();
        ChaCha20::new(&self.key.into(), &nonce.into()).apply_keystream(&mut plain);
        let mut out = Vec::with_capacity(NONCE_BYTES + plain.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&plain);
        out
    }

    fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_BYTES {
            return Err(Error::Other("a cluster frame is truncated".into()));
        }
        let (nonce, body) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce length");
        let mut plain = body.to_vec();
        ChaCha20::new(&self.key.into(), &nonce.into()).apply_keystream(&mut plain);
        Ok(plain)
    }
}

fn decode_err(e: postcard::Error) -> Error {
    Error::Other(format!("a cluster frame does not decode: {e}"))
}

fn df_err(e: Error) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

/// The two functions of a distributed ingest, for every cluster node's registry.
pub fn functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(ParseLog::new()),
        AggregateUDF::from(Sessionize::new()),
    ]
}

fn chunk_fields() -> Fields {
    Fields::from(vec![
        Field::new("bucket", DataType::UInt32, false),
        Field::new("frame", DataType::LargeBinary, false),
    ])
}

fn chunk_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Struct(chunk_fields()), false))
}

/// `keyrank_parse_log(source, job)`: an aggregate over one file number (the query
/// groups by it) that reads file `source` of the job and returns its sealed frames as
/// a list of (bucket, frame), the file's statistics last. An aggregate rather than a
/// scalar function because plans show an aggregate by its name alone, and the job
/// argument holds the run key: the scheduler's plan display never carries it.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ParseLog {
    signature: Signature,
}

impl ParseLog {
    fn new() -> Self {
        ParseLog {
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
        Ok(Box::new(FileToParse {
            job: job_argument(&acc_args, PARSE_FN)?,
            source: None,
        }))
    }
}

/// The file number of one group, parsed when the group is evaluated.
#[derive(Debug)]
struct FileToParse {
    job: Arc<JobSpec>,
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
            for (bucket, frame) in parse_file(source, &self.job).map_err(df_err)? {
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

/// The job, from a function's constant second argument.
fn job_argument(
    args: &AccumulatorArgs,
    function: &str,
) -> datafusion::common::Result<Arc<JobSpec>> {
    let job = args
        .exprs
        .get(1)
        .map(|e| e.evaluate(&RecordBatch::new_empty(Arc::new(Schema::empty()))))
        .transpose()?;
    let text = match job {
        Some(ColumnarValue::Scalar(s)) => s.try_as_str().flatten().map(str::to_string),
        _ => None,
    }
    .ok_or_else(|| DataFusionError::Plan(format!("{function}: the job must be a constant")))?;
    let job: JobSpec = serde_json::from_str(&text)
        .map_err(|e| DataFusionError::Execution(format!("{function}: {e}")))?;
    Ok(Arc::new(job))
}

/// Reads, parses and classifies one file: its hits dealt into sealed frames by
/// bucket, then one frame of its statistics.
fn parse_file(source: usize, job: &JobSpec) -> Result<Vec<(u32, Vec<u8>)>> {
    let path = job
        .files
        .get(source)
        .ok_or_else(|| Error::Other(format!("{PARSE_FN}: no file number {source}")))?;
    let parts = FrontParts::build(&job.front)?;
    let key = Keyed::from_halves(job.key);
    let front = parts.front(&job.front, key);
    let sealer = Sealer::new(&key);
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
                out.push((bucket as u32, sealer.seal(full)));
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
            out.push((bucket as u32, sealer.seal(buf)));
        }
    }
    let mut plain = vec![STATS];
    plain = postcard::to_extend(&stats, plain).map_err(decode_err)?;
    out.push((STATS_BUCKET, sealer.seal(plain)));
    Ok(out)
}

/// `keyrank_sessionize(frame, job)`: an aggregate over one bucket's frames. It puts
/// the bucket's hits back in log order, runs visits and attribution over them and
/// returns the sealed [`BucketResult`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct Sessionize {
    signature: Signature,
}

impl Sessionize {
    fn new() -> Self {
        Sessionize {
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
        Ok(Box::new(BucketFrames {
            job: job_argument(&acc_args, SESSIONIZE_FN)?,
            frames: Vec::new(),
            bytes: 0,
        }))
    }
}

/// One bucket's sealed frames, as they arrive.
#[derive(Debug)]
struct BucketFrames {
    job: Arc<JobSpec>,
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
        let sealed = sessionize(&frames, &self.job).map_err(df_err)?;
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
fn sessionize(frames: &[Vec<u8>], job: &JobSpec) -> Result<Vec<u8>> {
    let sealer = Sealer::new(&Keyed::from_halves(job.key));
    let mut hits: Vec<(u32, Hit)> = Vec::new();
    let mut files = Vec::new();
    for sealed in frames {
        let plain = sealer.open(sealed)?;
        match plain.first() {
            Some(&HITS) if plain.len() >= 5 => {
                let source = u32::from_le_bytes(plain[1..5].try_into().expect("four bytes"));
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
    Ok(sealer.seal(postcard::to_stdvec(&result).map_err(decode_err)?))
}

/// The query of a distributed log pass over `files` files.
fn pass_sql(files: usize, job_json: &str) -> String {
    let job = job_json.replace('\'', "''");
    format!(
        "SELECT chunk['bucket'] AS bucket, {SESSIONIZE_FN}(chunk['frame'], '{job}') AS part \
         FROM (SELECT unnest(chunks) AS chunk FROM \
         (SELECT {PARSE_FN}(source, '{job}') AS chunks \
         FROM (SELECT unnest(range(0, {files})) AS source) AS files GROUP BY source) AS parsed) AS hits \
         GROUP BY chunk['bucket']"
    )
}

/// The log pass of `ingest --cluster`: runs the job on the cluster at `url`, merges
/// what the buckets counted into `summary`, `days` and `inputs`, and returns the
/// gated rows to write.
pub(crate) fn log_pass(
    url: &str,
    store: &Store,
    job: Job<'_>,
    summary: &mut RunSummary,
    days: &mut Spans,
    inputs: &mut Vec<InputRecord>,
) -> Result<(Vec<Row>, GateReport)> {
    let mut files = Vec::with_capacity(job.sources.len());
    for source in job.sources {
        match source {
            Source::Stdin => {
                return Err(Error::usage(
                    "--cluster reads files its executors can open: stdin (-) cannot be sent",
                ));
            }
            Source::File(p) => files.push(std::fs::canonicalize(p).map_err(|e| Error::io(p, e))?),
        }
    }
    let cfg = job.cfg;
    let spec = JobSpec {
        front: job.spec,
        files,
        key: job.key.halves(),
        buckets: BUCKETS,
        visits: VisitSettings::of(cfg),
    };
    let json = serde_json::to_string(&spec).map_err(|e| Error::Other(e.to_string()))?;
    let sql = pass_sql(spec.files.len(), &json);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("async runtime: {e}")))?;
    let batches = runtime.block_on(async {
        crate::cluster::add_job_functions(functions());
        let ctx = crate::cluster::connect(url, store).await?;
        let df = ctx.sql(&sql).await?;
        Ok::<_, Error>(df.collect().await?)
    })?;

    let sealer = Sealer::new(&job.key);
    let mut rows = Vec::new();
    let mut visitors = Visitors::default();
    let mut file_stats: Vec<FileStats> = Vec::new();
    for batch in &batches {
        let parts = batch
            .column_by_name("part")
            .ok_or_else(|| Error::Other("the cluster's answer has no part column".into()))?
            .as_binary::<i64>();
        for sealed in parts.iter().flatten() {
            let part: BucketResult =
                postcard::from_bytes(&sealer.open(sealed)?).map_err(decode_err)?;
            rows.extend(part.rows);
            for (keyword, n) in &part.keywords {
                visitors.keywords.add_disjoint(keyword, *n);
            }
            for (landing, n) in &part.landings {
                visitors.landings.add_disjoint(landing, *n);
            }
            summary.add_visit_counts(&part.summary);
            file_stats.extend(part.files);
        }
    }
    file_stats.sort_by_key(|f| f.source);
    let seen: Vec<u32> = file_stats.iter().map(|f| f.source).collect();
    if seen != (0..job.sources.len() as u32).collect::<Vec<_>>() {
        return Err(Error::Other(format!(
            "the cluster answered for files {seen:?} of {}",
            job.sources.len()
        )));
    }
    for f in &file_stats {
        let source = &job.sources[f.source as usize];
        for (line, reason) in &f.problems {
            summary.problem(&source.display(), *line, reason);
        }
        summary.lines_read += f.lines;
        summary.add_counts(&f.counts);
        if let Some(why) = &f.damaged {
            summary.damaged(&source.display(), why);
        }
        days.days.extend(f.days.iter().copied());
        if let Some((a, b)) = f.span {
            days.spans.push((a.min(b), a.max(b)));
        }
        inputs.push(InputRecord {
            name: input_name(source),
            bytes: f.bytes,
            fingerprint: f.fingerprint.clone(),
            lines: f.lines,
        });
    }
    // Rows of the same day and dimensions come from several buckets: one row each,
    // before the gate counts what it changes.
    let rows = merge_rows(rows);
    Ok(privacy::gate(rows, &visitors, gate_k(cfg)))
}

fn named_counts(visitors: &privacy::VisitorCounts) -> Vec<(String, u64)> {
    visitors.counts().map(|(k, n)| (k.to_string(), n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_sealed() {
        let key = Keyed::from_halves([7, 9]);
        let sealer = Sealer::new(&key);
        let plain = b"visitor 42 searched red shoes".to_vec();
        let sealed = sealer.seal(plain.clone());
        assert_eq!(sealed.len(), NONCE_BYTES + plain.len());
        assert!(
            !sealed.windows(9).any(|w| w == b"red shoes"),
            "the sealed frame must not carry the text"
        );
        assert_eq!(sealer.open(&sealed).unwrap(), plain);
        // Another run's key cannot read it.
        let other = Sealer::new(&Keyed::from_halves([7, 10]));
        assert_ne!(other.open(&sealed).unwrap(), plain);
    }

    #[test]
    fn the_query_hides_nothing_it_needs_and_quotes_the_job() {
        let sql = pass_sql(3, r#"{"site":"o'brien"}"#);
        assert!(sql.contains("o''brien"));
        assert!(sql.contains("range(0, 3)"));
        assert!(sql.contains("GROUP BY chunk['bucket']"));
    }
}
