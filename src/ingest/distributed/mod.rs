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
//! Privacy: no key is ever sent. The job carries a random nonce; every node derives
//! the run's keys from the cluster secret (its `KEYRANK_CLUSTER_TOKEN`) and that nonce
//! ([`crate::cluster::ClusterSecret::derive`]): the visitor-hash key, and the key that
//! seals frames (hits between the stages, and the buckets' results) with
//! ChaCha20-Poly1305. A frame's associated data is the job nonce, its bucket and its
//! source file, so a frame altered, moved to another bucket or replayed from another
//! job fails the job. Ballista's shuffle files on the executors' disks hold only
//! ciphertext, and the plan holds no key material at all. Both functions are
//! aggregates whose names hide their job argument, which keeps plan schemas short.
//!
//! Visitors are split into disjoint buckets, so distinct-visitor counts (per row, and
//! per keyword for the k-visitor threshold) are exact sums of the buckets' counts.
//!
//! Not supported on a cluster yet: purchase files, `--epsilon`, and stdin. The input
//! files must be visible to every executor under the same path.

use crate::cluster::ClusterSecret;
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
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
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

mod parse;
mod sessionize;

use parse::*;
use sessionize::*;

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
/// A sealed frame's clear header: bucket and source (u32 each, little endian).
const HEADER_BYTES: usize = 8;
const TAG_BYTES: usize = 16;
/// The source of a bucket's result frame.
const RESULT_SOURCE: u32 = u32::MAX;
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
}

/// Everything the executors need, passed to both functions as one JSON argument.
#[derive(Debug, Serialize, Deserialize)]
struct JobSpec {
    front: FrontSpec,
    /// Absolute paths, by source index (the order hits are replayed in).
    files: Vec<PathBuf>,
    /// Names the run: with the cluster secret, every node derives its keys from it.
    nonce: [u8; 16],
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

/// The run's keys on one node: derived from the cluster secret and the job's nonce.
struct RunKeys {
    visitors: Keyed,
    sealer: Sealer,
}

impl std::fmt::Debug for RunKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunKeys(redacted)")
    }
}

impl RunKeys {
    fn of(secret: Option<&ClusterSecret>, nonce: &[u8; 16]) -> Result<RunKeys> {
        let secret = secret.ok_or_else(|| {
            Error::usage(format!(
                "a distributed ingest derives its keys from the cluster token: set \
                 {} on this machine and on every executor",
                crate::cluster::security::TOKEN_ENV
            ))
        })?;
        let v = secret.derive("visitor hash", nonce);
        let half = |i: usize| u64::from_le_bytes(v[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Ok(RunKeys {
            visitors: Keyed::from_halves([half(0), half(1)]),
            sealer: Sealer {
                cipher: ChaCha20Poly1305::new(&secret.derive("frames", nonce).into()),
                job: *nonce,
            },
        })
    }
}

/// Seals and opens frames with ChaCha20-Poly1305: `bucket, source` in the clear, a
/// random nonce, then the ciphertext and its tag; the job nonce and the header are
/// the associated data.
struct Sealer {
    cipher: ChaCha20Poly1305,
    job: [u8; 16],
}

impl Sealer {
    fn associated(&self, header: &[u8]) -> Vec<u8> {
        let mut ad = Vec::with_capacity(16 + HEADER_BYTES);
        ad.extend_from_slice(&self.job);
        ad.extend_from_slice(header);
        ad
    }

    fn seal(&self, bucket: u32, source: u32, plain: &[u8]) -> Result<Vec<u8>> {
        let mut header = [0u8; HEADER_BYTES];
        header[..4].copy_from_slice(&bucket.to_le_bytes());
        header[4..].copy_from_slice(&source.to_le_bytes());
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let ad = self.associated(&header);
        let body = self
            .cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plain,
                    aad: &ad,
                },
            )
            .map_err(|_| Error::Other("a cluster frame could not be sealed".into()))?;
        let mut out = Vec::with_capacity(HEADER_BYTES + NONCE_BYTES + body.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The frame's (bucket, source) and plain bytes, or an error when it was altered,
    /// truncated, or sealed for another job or under another secret.
    fn open(&self, sealed: &[u8]) -> Result<(u32, u32, Vec<u8>)> {
        if sealed.len() < HEADER_BYTES + NONCE_BYTES + TAG_BYTES {
            return Err(Error::Other("a cluster frame is truncated".into()));
        }
        let (header, rest) = sealed.split_at(HEADER_BYTES);
        let (nonce, body) = rest.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().expect("split at the nonce length");
        let ad = self.associated(header);
        let plain = self
            .cipher
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: body,
                    aad: &ad,
                },
            )
            .map_err(|_| {
                Error::Other(
                    "a cluster frame failed its integrity check: it was altered, or sealed \
                     for another job or under another cluster token"
                        .into(),
                )
            })?;
        let bucket = u32::from_le_bytes(header[..4].try_into().expect("four bytes"));
        let source = u32::from_le_bytes(header[4..].try_into().expect("four bytes"));
        Ok((bucket, source, plain))
    }
}

fn decode_err(e: postcard::Error) -> Error {
    Error::Other(format!("a cluster frame does not decode: {e}"))
}

fn df_err(e: Error) -> DataFusionError {
    DataFusionError::Execution(e.to_string())
}

/// The two functions of a distributed ingest, for every cluster node's registry,
/// holding the node's cluster secret (see [`crate::cluster::add_job_functions`]).
pub fn functions(secret: Option<&ClusterSecret>) -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(ParseLog::new(secret.cloned())),
        AggregateUDF::from(Sessionize::new(secret.cloned())),
    ]
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
    let security = crate::cluster::client_security(url)?;
    let spec = JobSpec {
        front: job.spec,
        files,
        nonce: rand::random(),
        buckets: BUCKETS,
        visits: VisitSettings::of(cfg),
    };
    let keys = RunKeys::of(security.secret().as_ref(), &spec.nonce)?;
    let json = serde_json::to_string(&spec).map_err(|e| Error::Other(e.to_string()))?;
    let sql = pass_sql(spec.files.len(), &json);
    let runtime = crate::model::runtime::runtime()?;
    let batches = runtime.block_on(async {
        crate::cluster::add_job_functions(functions);
        let ctx = crate::cluster::connect_with(url, store, &security).await?;
        let df = ctx.sql(&sql).await?;
        Ok::<_, Error>(df.collect().await?)
    })?;

    let mut rows = Vec::new();
    let mut visitors = Visitors::default();
    let mut file_stats: Vec<FileStats> = Vec::new();
    for batch in &batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::Other(format!("the cluster's answer has no {name} column")))
        };
        let buckets = column("bucket")?.as_primitive::<datafusion::arrow::datatypes::UInt32Type>();
        let parts = column("part")?.as_binary::<i64>();
        for (bucket, sealed) in buckets.iter().zip(parts.iter()) {
            let (Some(bucket), Some(sealed)) = (bucket, sealed) else {
                continue;
            };
            let (sealed_bucket, source, plain) = keys.sealer.open(sealed)?;
            if sealed_bucket != bucket || source != RESULT_SOURCE {
                return Err(Error::Other(format!(
                    "the cluster answered for bucket {bucket} with a result sealed for {sealed_bucket}"
                )));
            }
            let part: BucketResult = postcard::from_bytes(&plain).map_err(decode_err)?;
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

    fn keys(token: &str, nonce: u8) -> RunKeys {
        let security = crate::cluster::Security::load(&Default::default(), Some(token)).unwrap();
        RunKeys::of(security.secret().as_ref(), &[nonce; 16]).unwrap()
    }

    #[test]
    fn frames_round_trip_sealed_and_fail_when_touched() {
        let run = keys("0123456789abcdef0123", 1);
        let plain = b"visitor 42 searched red shoes".to_vec();
        let sealed = run.sealer.seal(5, 2, &plain).unwrap();
        assert!(
            !sealed.windows(9).any(|w| w == b"red shoes"),
            "the sealed frame must not carry the text"
        );
        assert_eq!(run.sealer.open(&sealed).unwrap(), (5, 2, plain.clone()));
        // Every single-bit change anywhere fails: header, nonce, body or tag.
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x10;
            assert!(
                run.sealer.open(&bad).is_err(),
                "byte {i} altered undetected"
            );
        }
        assert!(run.sealer.open(&sealed[..sealed.len() - 1]).is_err());
        // Another job, or another token, cannot open it.
        assert!(
            keys("0123456789abcdef0123", 2)
                .sealer
                .open(&sealed)
                .is_err()
        );
        assert!(
            keys("0123456789abcdef0124", 1)
                .sealer
                .open(&sealed)
                .is_err()
        );
        // The same token and job derive the same visitor key on every node.
        assert_eq!(
            run.visitors.halves(),
            keys("0123456789abcdef0123", 1).visitors.halves()
        );
        assert_ne!(
            run.visitors.halves(),
            keys("0123456789abcdef0123", 2).visitors.halves()
        );
    }

    /// A job over one small log file, as `log_pass` builds it.
    fn small_job(dir: &std::path::Path) -> JobSpec {
        let log = dir.join("access.log");
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!(
                "10.0.0.{} - - [01/Jun/2024:10:{:02}:00 +0000] \"GET /p{} HTTP/1.1\" 200 10 \
                 \"https://www.google.com/search?q=red+shoes\" \"Mozilla/5.0\"\n",
                i % 7,
                i,
                i
            ));
        }
        std::fs::write(&log, text).unwrap();
        let cfg = IngestConfig {
            inputs: vec![log.display().to_string()],
            ..IngestConfig::default()
        };
        JobSpec {
            front: FrontSpec::of(&cfg),
            files: vec![log],
            nonce: [9; 16],
            buckets: 4,
            visits: VisitSettings::of(&cfg),
        }
    }

    #[test]
    fn a_frame_altered_between_the_stages_fails_its_bucket() {
        let dir = tempfile::tempdir().unwrap();
        let job = small_job(dir.path());
        let run = keys("0123456789abcdef0123", 9);
        let frames = parse_file(0, &job, &run).unwrap();
        let (bucket, _) = frames
            .iter()
            .find(|(b, _)| *b != STATS_BUCKET)
            .unwrap()
            .clone();
        let group: Vec<Vec<u8>> = frames
            .iter()
            .filter(|(b, _)| *b == bucket)
            .map(|(_, f)| f.clone())
            .collect();
        // Untouched, the bucket runs and its result opens for that bucket.
        let sealed = sessionize(&group, &job, &run).unwrap();
        let (b, source, _) = run.sealer.open(&sealed).unwrap();
        assert_eq!((b, source), (bucket, RESULT_SOURCE));
        // One bit flipped in the ciphertext of one frame fails the bucket.
        let mut tampered = group.clone();
        let last = tampered[0].len() - 1;
        tampered[0][last - 20] ^= 1;
        let err = sessionize(&tampered, &job, &run).unwrap_err();
        assert!(err.to_string().contains("integrity"), "{err}");
        // A frame relabelled as another bucket fails too.
        let mut moved = group;
        moved[0][0] ^= 1;
        assert!(sessionize(&moved, &job, &run).is_err());
    }

    #[test]
    fn the_job_in_the_plan_carries_no_key_material() {
        let dir = tempfile::tempdir().unwrap();
        let job = small_job(dir.path());
        let json = serde_json::to_string(&job).unwrap();
        let sql = pass_sql(job.files.len(), &json);
        let security =
            crate::cluster::Security::load(&Default::default(), Some("0123456789abcdef0123"))
                .unwrap();
        let secret = security.secret().unwrap();
        let run = RunKeys::of(Some(&secret), &job.nonce).unwrap();
        let [a, b] = run.visitors.halves();
        for needle in [
            a.to_string(),
            b.to_string(),
            format!("{a:x}"),
            format!("{b:x}"),
        ] {
            assert!(!sql.contains(&needle), "the plan holds a visitor-key half");
        }
        for purpose in ["frames", "visitor hash"] {
            let k = secret.derive(purpose, &job.nonce);
            let as_list = format!("{:?}", k.to_vec()).replace(' ', "");
            let hex: String = k.iter().map(|x| format!("{x:02x}")).collect();
            assert!(
                !sql.replace(' ', "")
                    .contains(&as_list[1..as_list.len() - 1])
            );
            assert!(!sql.contains(&hex));
        }
        assert!(
            !sql.contains("0123456789abcdef0123"),
            "the plan holds the token"
        );
        assert!(!json.contains("\"key\""));
    }

    #[test]
    fn a_node_without_the_token_refuses_the_job() {
        let err = RunKeys::of(None, &[0; 16]).err().unwrap();
        assert!(err.to_string().contains("KEYRANK_CLUSTER_TOKEN"), "{err}");
    }

    #[test]
    fn the_query_hides_nothing_it_needs_and_quotes_the_job() {
        let sql = pass_sql(3, r#"{"site":"o'brien"}"#);
        assert!(sql.contains("o''brien"));
        assert!(sql.contains("range(0, 3)"));
        assert!(sql.contains("GROUP BY chunk['bucket']"));
    }
}
