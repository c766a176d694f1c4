//! The parallel front of an ingest. A reader thread cuts the inputs into blocks of
//! whole lines (decompressing and fingerprinting as it goes); worker threads parse
//! and classify the blocks; the caller consumes the results in input order, so
//! visits and attribution see every hit exactly as a single thread would.
//!
//! Block `i` goes to worker `i mod W` and each worker answers in the order it was
//! fed, so reading worker `i mod W`'s queue next always yields batch `i`: no
//! reordering buffer, and the bounded queues cap memory at a few blocks per worker.
//! Bad lines come back as counts and line numbers within their block, never content.
//! Consumed batches go back to the worker that made them, so their memory is freed
//! (or reused) by the thread that allocated it.

use crate::classify::{Acquisition, Classifier, Exclusion, keyword};
use crate::error::{Error, Result};
use crate::ingest::visits::Conversion;
use crate::model::rollup::Segment;
use crate::parse::input::{self, Source};
use crate::parse::time::day_of;
use crate::parse::{CookieNames, LineParser, LogFormat, query_param, split_uri};
use rustc_hash::FxHashMap;
use siphasher::sip::SipHasher13;
use std::hash::Hasher;
use std::io::Read;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

mod worker;

use worker::*;

/// Bytes read per block; a line longer than this makes its block longer.
const BLOCK_BYTES: usize = 1 << 20;
/// Blocks (or batches) waiting in each worker's queues.
const QUEUE_DEPTH: usize = 2;
/// Landing paths are cut to this many bytes.
const MAX_LANDING_BYTES: usize = 200;
/// Distinct user agents, or referrers, a worker remembers before it starts over.
const MAX_MEMO_ENTRIES: usize = 65_536;
/// Bytes of user agents, or of referrers, a worker remembers before it starts over.
const MAX_MEMO_BYTES: usize = 4 << 20;
/// Longer referrers are worked out each time (they are seldom seen twice).
const MAX_MEMO_KEY: usize = 1024;

/// Keyed hashes for visitor keys and order ids; the key is random per run, never written.
#[derive(Clone, Copy)]
pub struct Keyed(u64, u64);

impl Keyed {
    pub fn random() -> Self {
        Keyed(rand::random(), rand::random())
    }

    /// The key's two halves (a cluster's nodes derive theirs alike; tests compare them).
    pub fn halves(&self) -> [u64; 2] {
        [self.0, self.1]
    }

    pub fn from_halves([a, b]: [u64; 2]) -> Self {
        Keyed(a, b)
    }

    pub fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut h = SipHasher13::new_with_keys(self.0, self.1);
        for p in parts {
            h.write(p);
            h.write_u8(0xff);
        }
        h.finish()
    }
}

/// Everything a worker needs to turn a line into a page view.
pub struct Front<'a> {
    pub format: &'a LogFormat,
    pub classifier: &'a Classifier,
    pub cookies: &'a CookieNames,
    pub goals: &'a [String],
    pub revenue_param: &'a str,
    pub order_param: &'a str,
    pub visitor_slot: Option<usize>,
    pub keyword_slot: Option<usize>,
    pub login_slot: Option<usize>,
    pub key: Keyed,
    /// Lines longer than this (bytes) are malformed.
    pub max_line: usize,
}

/// How an input ended: its content fingerprint (xxh3-64 of the decompressed bytes)
/// and length.
pub struct SourceEnd {
    pub fingerprint: String,
    pub bytes: u64,
    /// Why it ended early (a truncated or corrupt archive, a read error) or could not
    /// be read at all; the lines before are kept. Never quotes content.
    pub damaged: Option<String>,
}

pub use crate::parse::input::DEFAULT_MAX_LINE;

/// What the reader puts in place of a line longer than the cap (no log line holds a
/// NUL byte), so the worker counts it malformed at its own line number.
const OVERLONG_LINE: &[u8] = b"\0keyrank:overlong";

struct Block {
    source: usize,
    data: Vec<u8>,
    end: Option<SourceEnd>,
    /// The `#Fields:` line in effect where the block starts (W3C logs), so a worker
    /// reads its lines with the fields the file declared before them.
    fields: Option<std::sync::Arc<[u8]>>,
}

/// Line counts of one block, by what became of the line.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct LineCounts {
    pub parsed: u64,
    pub malformed: u64,
    /// W3C directive lines (`#Fields:`, …).
    pub header_lines: u64,
    pub crawlers: u64,
    pub error_status: u64,
    pub other_methods: u64,
    pub assets: u64,
    pub redirects: u64,
    pub page_views: u64,
    pub bad_revenue: u64,
}

impl LineCounts {
    pub fn add(&mut self, o: &LineCounts) {
        self.parsed += o.parsed;
        self.malformed += o.malformed;
        self.header_lines += o.header_lines;
        self.crawlers += o.crawlers;
        self.error_status += o.error_status;
        self.other_methods += o.other_methods;
        self.assets += o.assets;
        self.redirects += o.redirects;
        self.page_views += o.page_views;
        self.bad_revenue += o.bad_revenue;
    }
}

/// A goal hit: the conversion and the term a keyword cookie carried, if any.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Goal {
    pub conversion: Conversion,
    pub term: Option<String>,
}

/// A hit that survived classification, owning all the sessionizer needs.
pub struct View {
    pub visitor: u64,
    pub ts: i64,
    /// Shared by the views of one referrer (a worker's memo holds it too).
    pub acquisition: std::sync::Arc<Acquisition>,
    pub segment: Segment,
    pub goal: Option<Goal>,
    landing: (u32, u32),
}

/// One block, parsed and classified.
#[derive(Default)]
pub struct Batch {
    /// Index of the input in the slice given to [`run`].
    pub source: usize,
    pub lines: u64,
    pub counts: LineCounts,
    /// (line within the block, 1-based; reason) of each bad line, in line order.
    pub problems: Vec<(u64, &'static str)>,
    /// Days of the parsed lines (each run of equal days once).
    pub days: Vec<i32>,
    pub views: Vec<View>,
    /// Set on an input's last batch.
    pub end: Option<SourceEnd>,
    landings: String,
}

impl Batch {
    /// The landing path of `view` (query string stripped).
    pub fn landing(&self, view: &View) -> &str {
        let (start, end) = view.landing;
        &self.landings[start as usize..end as usize]
    }
}

/// Reads `sources` in order with `workers` parse-and-classify threads and hands each
/// batch to `consume` in input order. The first error (reading, or from `consume`)
/// stops the run and is returned.
pub fn run(
    sources: &[Source],
    front: &Front,
    workers: usize,
    consume: impl FnMut(&mut Batch) -> Result<()>,
) -> Result<()> {
    run_blocks(sources, front, workers, BLOCK_BYTES, consume)
}

/// [`run`] with blocks of `block_bytes` (whole lines, more for one longer line): tests
/// and the fuzzer cut inputs small so lines cross many block edges.
pub fn run_blocks(
    sources: &[Source],
    front: &Front,
    workers: usize,
    block_bytes: usize,
    mut consume: impl FnMut(&mut Batch) -> Result<()>,
) -> Result<()> {
    let workers = workers.max(1);
    std::thread::scope(|s| {
        let mut block_txs = Vec::with_capacity(workers);
        let mut batch_rxs = Vec::with_capacity(workers);
        let mut recycle_txs = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (block_tx, block_rx) = sync_channel::<Result<Block>>(QUEUE_DEPTH);
            let (batch_tx, batch_rx) = sync_channel::<Result<Batch>>(QUEUE_DEPTH);
            let (recycle_tx, recycle_rx) = channel::<Batch>();
            block_txs.push(block_tx);
            batch_rxs.push(batch_rx);
            recycle_txs.push(recycle_tx);
            std::thread::Builder::new()
                .name("keyrank-parse".into())
                .spawn_scoped(s, move || work(front, block_rx, batch_tx, recycle_rx))
                .map_err(|e| Error::Other(format!("cannot start a worker thread: {e}")))?;
        }
        std::thread::Builder::new()
            .name("keyrank-read".into())
            .spawn_scoped(s, move || {
                read_blocks(
                    sources,
                    block_txs,
                    block_bytes,
                    front.max_line,
                    front.format.has_field_headers(),
                )
            })
            .map_err(|e| Error::Other(format!("cannot start the reader thread: {e}")))?;
        // Returning drops the receivers, which stops the workers and then the reader.
        for next in 0.. {
            let worker = next % workers;
            match batch_rxs[worker].recv() {
                Ok(batch) => {
                    let mut batch = batch?;
                    consume(&mut batch)?;
                    let _ = recycle_txs[worker].send(batch);
                }
                // Round robin: the first worker with nothing left means all is read.
                Err(_) => return Ok(()),
            }
        }
        Ok(())
    })
}

/// The reader thread: whole-line blocks, round robin over the workers' queues.
fn read_blocks(
    sources: &[Source],
    txs: Vec<SyncSender<Result<Block>>>,
    block_bytes: usize,
    max_line: usize,
    field_headers: bool,
) {
    let mut next = 0usize;
    let mut send = |block: Result<Block>| {
        let ok = txs[next % txs.len()].send(block).is_ok();
        next += 1;
        ok
    };
    for (source, input) in sources.iter().enumerate() {
        let mut reader = match input::open(input) {
            Ok(r) => r,
            // An unreadable input is named and counted; the other inputs go on.
            Err(e) => {
                let why = match &e {
                    Error::Io { source, .. } => format!("cannot be read: {source}"),
                    _ => "cannot be read".to_string(),
                };
                let end = SourceEnd {
                    fingerprint: format!("{:016x}", xxhash_rust::xxh3::Xxh3::new().digest()),
                    bytes: 0,
                    damaged: Some(why),
                };
                if !send(Ok(Block {
                    source,
                    data: Vec::new(),
                    end: Some(end),
                    fields: None,
                })) {
                    return;
                }
                continue;
            }
        };
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut bytes = 0u64;
        let mut carry: Vec<u8> = Vec::new();
        let mut damaged = None;
        let mut fields: Option<std::sync::Arc<[u8]>> = None;
        loop {
            let mut data = Vec::with_capacity(block_bytes + carry.len());
            data.append(&mut carry);
            let mut eof = false;
            loop {
                let start = data.len();
                let read = fill(&mut reader, &mut data, block_bytes);
                hasher.update(&data[start..]);
                bytes += (data.len() - start) as u64;
                let n = match read {
                    Ok(n) => n,
                    // A truncated or corrupt archive: keep what came before.
                    Err(e) => {
                        damaged = Some(format!("damaged after {bytes} bytes ({e})"));
                        eof = true;
                        break;
                    }
                };
                if n < block_bytes {
                    eof = true;
                    break;
                }
                if memchr::memrchr(b'\n', &data[start..]).is_some() {
                    break;
                }
                // A line longer than a block: read on until it ends, up to the cap;
                // past it, the line is replaced by a marker and skipped unread.
                let line_start = memchr::memrchr(b'\n', &data).map_or(0, |i| i + 1);
                if data.len() - line_start > max_line {
                    data.truncate(line_start);
                    data.extend_from_slice(OVERLONG_LINE);
                    data.push(b'\n');
                    match skip_line(&mut reader, &mut hasher, &mut bytes, &mut carry) {
                        Ok(true) => {}
                        Ok(false) => eof = true,
                        Err(e) => {
                            damaged = Some(format!("damaged after {bytes} bytes ({e})"));
                            eof = true;
                        }
                    }
                    break;
                }
            }
            let end = if eof {
                Some(SourceEnd {
                    fingerprint: format!("{:016x}", hasher.digest()),
                    bytes,
                    damaged: damaged.take(),
                })
            } else {
                let cut = memchr::memrchr(b'\n', &data).map_or(data.len(), |i| i + 1);
                let tail = data.split_off(cut);
                // What follows the cut comes before anything a skip left in `carry`.
                let rest = std::mem::replace(&mut carry, tail);
                carry.extend_from_slice(&rest);
                None
            };
            let in_effect = fields.clone();
            if field_headers {
                // The last `#Fields:` line of this block holds for the next one.
                for line in data.split(|&c| c == b'\n') {
                    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
                    if line.len() > 8 && line[..8].eq_ignore_ascii_case(b"#fields:") {
                        fields = Some(line.into());
                    }
                }
            }
            if !send(Ok(Block {
                source,
                data,
                end,
                fields: in_effect,
            })) {
                return;
            }
            if eof {
                break;
            }
        }
    }
}

/// Appends up to `want` bytes from `reader` to `data`; fewer only at the end of the
/// input (or on an error, after which `data` holds what came before it). It reads into
/// `data` itself: a read as large as the reader's buffer skips that buffer, so the
/// bytes are copied once, not twice.
fn fill(reader: &mut impl Read, data: &mut Vec<u8>, want: usize) -> std::io::Result<usize> {
    let start = data.len();
    data.resize(start + want, 0);
    let mut got = 0;
    let result = loop {
        if got == want {
            break Ok(got);
        }
        match reader.read(&mut data[start + got..]) {
            Ok(0) => break Ok(got),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    data.truncate(start + got);
    result
}

/// Reads past the rest of an overlong line, in small pieces; what follows its newline
/// goes to `carry`. False at the end of the input.
fn skip_line(
    reader: &mut impl Read,
    hasher: &mut xxhash_rust::xxh3::Xxh3,
    bytes: &mut u64,
    carry: &mut Vec<u8>,
) -> std::io::Result<bool> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        *bytes += n as u64;
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            carry.extend_from_slice(&buf[i + 1..n]);
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A front for the combined format with no goals or cookies.
    fn test_front<'a>(
        format: &'a LogFormat,
        classifier: &'a Classifier,
        cookies: &'a CookieNames,
        max_line: usize,
    ) -> Front<'a> {
        Front {
            format,
            classifier,
            cookies,
            goals: &[],
            revenue_param: "revenue",
            order_param: "order_id",
            visitor_slot: None,
            keyword_slot: None,
            login_slot: None,
            key: Keyed::random(),
            max_line,
        }
    }

    fn landing(path: &[u8]) -> String {
        let mut s = String::new();
        push_landing(&mut s, path);
        s
    }

    /// Lines cut at every block size come back whole and in order: CRLF endings, an
    /// empty line, a line longer than a block, no newline at the end, two inputs.
    #[test]
    fn blocks_keep_lines_whole_and_in_order() {
        use crate::classify::engines::EngineTable;
        let dir = tempfile::tempdir().unwrap();
        let long_path = format!("/{}", "p".repeat(300));
        let line = |i: u32, path: &str| {
            format!(
                "10.0.0.{i} - - [17/May/2015:10:05:{:02} +0000] \"GET {path} HTTP/1.1\" 200 5 \"-\" \"Mozilla/5.0\"",
                i % 60
            )
        };
        let a = format!(
            "{}\r\n{}\n\nnot a log line\n{}\n{}",
            line(1, "/a"),
            line(2, "/b"),
            line(3, &long_path),
            line(4, "/last")
        );
        let b = format!("{}\n{}\n", line(5, "/c"), line(6, "/d"));
        std::fs::write(dir.path().join("a.log"), &a).unwrap();
        std::fs::write(dir.path().join("b.log"), &b).unwrap();
        let sources = vec![
            Source::File(dir.path().join("a.log")),
            Source::File(dir.path().join("b.log")),
        ];
        let format = LogFormat::from_spec("combined", "", &CookieNames::default()).unwrap();
        let classifier = Classifier::new(EngineTable::builtin(), &[]);
        let cookies = CookieNames::default();
        let front = test_front(&format, &classifier, &cookies, DEFAULT_MAX_LINE);
        for block in [1, 7, 64, 250, 1 << 20] {
            for workers in [1, 2, 3] {
                let mut landings = Vec::new();
                let mut problems = Vec::new();
                let mut lines = [0u64; 2];
                let mut ends = Vec::new();
                run_blocks(&sources, &front, workers, block, |batch| {
                    let base = lines[batch.source];
                    for (n, reason) in &batch.problems {
                        problems.push((batch.source, base + n, *reason));
                    }
                    lines[batch.source] += batch.lines;
                    for v in &batch.views {
                        landings.push(batch.landing(v).to_string());
                    }
                    if let Some(end) = batch.end.take() {
                        ends.push((batch.source, end.bytes));
                    }
                    Ok(())
                })
                .unwrap();
                let cut = &long_path[..MAX_LANDING_BYTES];
                assert_eq!(
                    landings,
                    ["/a", "/b", cut, "/last", "/c", "/d"],
                    "block {block}, workers {workers}"
                );
                assert_eq!(lines, [6, 2], "block {block}, workers {workers}");
                assert_eq!(problems.len(), 2, "block {block}, workers {workers}");
                assert_eq!(problems[0], (0, 3, "empty line"));
                assert_eq!((problems[1].0, problems[1].1), (0, 4));
                assert_eq!(ends, [(0, a.len() as u64), (1, b.len() as u64)]);
            }
        }
    }

    /// A line past the cap is one malformed line at its own number, its bytes are
    /// skipped (memory stays bounded), and a truncated or unreadable input keeps the
    /// lines before the damage, is named, and does not stop the other inputs.
    #[test]
    fn overlong_lines_and_damaged_inputs() {
        use crate::classify::engines::EngineTable;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let line = |i: u32, path: &str| {
            format!(
                "10.0.0.{i} - - [17/May/2015:10:05:{:02} +0000] \"GET {path} HTTP/1.1\" 200 5 \"-\" \"Mozilla/5.0\"\n",
                i % 60
            )
        };
        let huge = format!("/{}", "x".repeat(3 << 20));
        let a = format!("{}{}{}", line(1, "/a"), line(2, &huge), line(3, "/b"));
        std::fs::write(dir.path().join("a.log"), &a).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 0..2000 {
            gz.write_all(line(i, "/gz").as_bytes()).unwrap();
        }
        let gz = gz.finish().unwrap();
        std::fs::write(dir.path().join("t.log.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
        std::fs::create_dir(dir.path().join("adir")).unwrap();
        let sources: Vec<Source> = ["a.log", "t.log.gz", "adir", "a.log"]
            .iter()
            .map(|n| Source::File(dir.path().join(n)))
            .collect();
        let format = LogFormat::from_spec("combined", "", &CookieNames::default()).unwrap();
        let classifier = Classifier::new(EngineTable::builtin(), &[]);
        let cookies = CookieNames::default();
        let front = test_front(&format, &classifier, &cookies, 64 * 1024);
        for block in [1 << 10, 1 << 20] {
            let mut lines = [0u64; 4];
            let mut problems = Vec::new();
            let mut damaged = Vec::new();
            let mut views = [0usize; 4];
            run_blocks(&sources, &front, 2, block, |batch| {
                let base = lines[batch.source];
                for (n, reason) in &batch.problems {
                    problems.push((batch.source, base + n, *reason));
                }
                lines[batch.source] += batch.lines;
                views[batch.source] += batch.views.len();
                if let Some(end) = batch.end.take() {
                    assert_eq!(end.bytes > 0, batch.source != 2);
                    damaged.push((batch.source, end.damaged.is_some()));
                }
                Ok(())
            })
            .unwrap();
            assert_eq!(lines[0], 3, "block {block}");
            assert_eq!(views[0], 2);
            assert_eq!(views[3], 2, "inputs after the damaged ones are read");
            assert!(problems.contains(&(0, 2, "line longer than --max-line")));
            assert!(views[1] > 100 && views[1] < 2000, "{}", views[1]);
            assert_eq!(damaged, [(0, false), (1, true), (2, true), (3, false)]);
        }
    }

    /// A memo works a key out once, never keeps a key longer than its cap, and starts
    /// over when its keys' bytes would pass the bound.
    #[test]
    fn a_memo_remembers_within_its_bounds() {
        let mut memo: Memo<usize> = Memo::default();
        let made = std::cell::Cell::new(0);
        let get = |memo: &mut Memo<usize>, key: &[u8]| {
            memo.get_or(key, || {
                made.set(made.get() + 1);
                key.len()
            })
        };
        assert_eq!(get(&mut memo, b"agent"), 5);
        assert_eq!(get(&mut memo, b"agent"), 5);
        let long = vec![b'x'; MAX_MEMO_KEY + 1];
        assert_eq!(get(&mut memo, &long), MAX_MEMO_KEY + 1);
        assert_eq!(get(&mut memo, &long), MAX_MEMO_KEY + 1);
        assert_eq!(made.get(), 3, "the short key once, the long one each time");
        // Keys of the cap's length until their bytes pass the bound: the memo starts
        // over, so the first key is worked out again.
        for i in 0..=MAX_MEMO_BYTES / MAX_MEMO_KEY {
            let mut key = vec![b'k'; MAX_MEMO_KEY];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            get(&mut memo, &key);
        }
        assert!(memo.bytes <= MAX_MEMO_BYTES && memo.map.len() <= MAX_MEMO_ENTRIES);
        let before = made.get();
        get(&mut memo, b"agent");
        assert_eq!(made.get(), before + 1);
    }

    /// What a worker remembers of referrers and visitors changes nothing: every view's
    /// acquisition and visitor equal those worked out afresh for its line, when one
    /// referrer comes with different virtual hosts, campaign tags, clients and agents.
    #[test]
    fn remembered_referrers_and_visitors_equal_fresh_ones() {
        use crate::classify::engines::EngineTable;
        let dir = tempfile::tempdir().unwrap();
        let referers = [
            "https://shop.example/a",
            "https://www.google.com/search?q=red+shoes",
            "https://other.example/x",
            "-",
        ];
        let hosts = ["shop.example", "other.example", "-"];
        let paths = ["/p", "/p?utm_source=news&utm_medium=email&utm_term=boots"];
        let mut text = String::new();
        for i in 0..200u32 {
            let (r, h, p) = (
                referers[(i * 7 % 11) as usize % referers.len()],
                hosts[(i / 3) as usize % hosts.len()],
                paths[(i / 5) as usize % paths.len()],
            );
            text.push_str(&format!(
                "{h} 10.0.0.{} - - [17/May/2015:10:05:03 +0000] \"GET {p} HTTP/1.1\" 200 5 \"{r}\" \"UA {}\"\n",
                i / 4 % 3,
                i / 6 % 2
            ));
        }
        // A referrer that holds another's key (its own, a NUL and a host) beside that
        // other with that host, and without a host: each is classified as itself.
        text.push_str("other.example 10.0.0.9 - - [17/May/2015:10:05:03 +0000] \"GET /p HTTP/1.1\" 200 5 \"https://other.example/x\" \"UA 0\"\n");
        text.push_str(" 10.0.0.9 - - [17/May/2015:10:05:03 +0000] \"GET /p HTTP/1.1\" 200 5 \"https://other.example/x\0other.example\" \"UA 0\"\n");
        std::fs::write(dir.path().join("v.log"), &text).unwrap();
        let sources = vec![Source::File(dir.path().join("v.log"))];
        let spec = r#"%v %h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i""#;
        let cookies = CookieNames::default();
        let format = LogFormat::from_spec(spec, "", &cookies).unwrap();
        let classifier = Classifier::new(EngineTable::builtin(), &["shop.example".into()]);
        let front = test_front(&format, &classifier, &cookies, DEFAULT_MAX_LINE);
        let mut views = Vec::new();
        run_blocks(&sources, &front, 2, 1 << 10, |batch| {
            views.extend(
                batch
                    .views
                    .iter()
                    .map(|v| (v.visitor, (*v.acquisition).clone())),
            );
            Ok(())
        })
        .unwrap();
        let mut parser = format.parser();
        let fresh: Vec<_> = text
            .lines()
            .map(|line| {
                let hit = parser.parse(line.as_bytes()).unwrap();
                let agent = front.key.hash(&[b"a", hit.user_agent]);
                let visitor = front.key.hash(&[b"h", hit.client, &agent.to_le_bytes()]);
                (visitor, classifier.acquisition(&hit))
            })
            .collect();
        assert_eq!(views.len(), 202);
        assert_eq!(views, fresh);
        assert_ne!(fresh[200].1, fresh[201].1);
        let kinds: std::collections::HashSet<_> = fresh
            .iter()
            .map(|(_, a)| std::mem::discriminant(a))
            .collect();
        assert_eq!(kinds.len(), 3, "direct, internal and external views");
    }

    #[test]
    fn landing_paths_are_cut_on_char_boundaries() {
        assert_eq!(landing(b""), "/");
        assert_eq!(landing(b"/shoes"), "/shoes");
        let long = "/é".repeat(150);
        let cut = landing(long.as_bytes());
        assert!(cut.len() <= MAX_LANDING_BYTES && long.starts_with(&cut));
        assert_eq!(landing(b"/a\xffb"), "/a\u{fffd}b");
    }
}
