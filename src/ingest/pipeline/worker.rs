//! What a worker thread does with a block of whole lines: parse each line, classify
//! its hit, and cut the page views, goals and landings into a [`Batch`].

use super::*;
use std::sync::Arc;

/// A worker thread: parses and classifies each block it is fed, in order.
pub(super) fn work(
    front: &Front,
    blocks: Receiver<Result<Block>>,
    batches: SyncSender<Result<Batch>>,
    recycled: Receiver<Batch>,
) {
    let mut state = WorkerState {
        parser: front.format.parser(),
        seen: Seen::default(),
    };
    while let Ok(block) = blocks.recv() {
        // Reuse one consumed batch's buffers; any others are freed here.
        let spare = recycled.try_iter().last();
        let batch = block.map(|b| front.batch(&mut state, b, spare));
        if batches.send(batch).is_err() {
            return;
        }
    }
}

pub(super) struct WorkerState {
    parser: LineParser,
    seen: Seen,
}

/// What a worker remembers from line to line.
pub(super) struct Seen {
    /// User agent → (crawler verdict, keyed hash): a log has few distinct agents.
    agents: Memo<(bool, u64)>,
    /// Referrer (and virtual host, when logged) → what it says about acquisition: most
    /// are the site's own pages and a few search result pages, seen again and again.
    referrers: Memo<Arc<Acquisition>>,
    /// What a hit without a referrer says, shared.
    direct: Arc<Acquisition>,
    /// Scratch for a referrer's key (with its virtual host).
    key: Vec<u8>,
    /// The last cookieless visitor: (client, agent's hash, visitor's keyed hash), as a
    /// page and its assets come one after another.
    host: Option<(Vec<u8>, u64, u64)>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            agents: Memo::default(),
            referrers: Memo::default(),
            direct: Arc::new(Acquisition::Direct),
            key: Vec::new(),
            host: None,
        }
    }
}

impl Seen {
    /// The keyed hash of a cookieless visitor (client and agent), `hash()` unless it is
    /// the last one's.
    fn host_visitor(&mut self, client: &[u8], agent: u64, hash: impl FnOnce() -> u64) -> u64 {
        if let Some((c, a, v)) = &self.host
            && c.as_slice() == client
            && *a == agent
        {
            return *v;
        }
        let v = hash();
        let mut c = self.host.take().map(|h| h.0).unwrap_or_default();
        c.clear();
        c.extend_from_slice(client);
        self.host = Some((c, agent, v));
        v
    }
}

/// What a worker has worked out about byte strings it sees again and again (user
/// agents, referrers): in memory only, bounded, starting over when full.
pub(super) struct Memo<V> {
    pub(super) map: FxHashMap<Box<[u8]>, V>,
    pub(super) bytes: usize,
}

impl<V> Default for Memo<V> {
    fn default() -> Self {
        Memo {
            map: FxHashMap::default(),
            bytes: 0,
        }
    }
}

impl<V: Clone> Memo<V> {
    /// What `key` was found to be, else `make()` (remembered when the key is short).
    pub(super) fn get_or(&mut self, key: &[u8], make: impl FnOnce() -> V) -> V {
        if let Some(v) = self.map.get(key) {
            return v.clone();
        }
        let v = make();
        if key.len() <= MAX_MEMO_KEY {
            if self.map.len() >= MAX_MEMO_ENTRIES || self.bytes + key.len() > MAX_MEMO_BYTES {
                self.map.clear();
                self.bytes = 0;
            }
            self.bytes += key.len();
            self.map.insert(key.into(), v.clone());
        }
        v
    }
}

impl Front<'_> {
    fn batch(&self, state: &mut WorkerState, block: Block, spare: Option<Batch>) -> Batch {
        let mut batch = spare.unwrap_or_default();
        batch.problems.clear();
        batch.days.clear();
        batch.views.clear();
        batch.landings.clear();
        batch.source = block.source;
        batch.lines = 0;
        batch.counts = LineCounts::default();
        batch.end = block.end;
        state.parser.start_block(block.fields.as_deref());
        let mut rest = &block.data[..];
        while !rest.is_empty() {
            let (mut line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            if let [head @ .., b'\r'] = line {
                line = head;
            }
            batch.lines += 1;
            self.line(state, line, &mut batch);
        }
        batch
    }

    fn line(&self, state: &mut WorkerState, line: &[u8], batch: &mut Batch) {
        let n = batch.lines;
        if line.is_empty() {
            batch.counts.malformed += 1;
            batch.problems.push((n, "empty line"));
            return;
        }
        if line == OVERLONG_LINE || line.len() > self.max_line {
            batch.counts.malformed += 1;
            batch.problems.push((n, "line longer than --max-line"));
            return;
        }
        let hit = match state.parser.parse(line) {
            Ok(hit) => hit,
            Err(crate::parse::DIRECTIVE) => {
                batch.counts.header_lines += 1;
                return;
            }
            Err(reason) => {
                batch.counts.malformed += 1;
                batch.problems.push((n, reason));
                return;
            }
        };
        batch.counts.parsed += 1;
        let day = day_of(hit.ts);
        if batch.days.last() != Some(&day) {
            batch.days.push(day);
        }
        let (path, query) = split_uri(hit.uri);
        let goal = self.goals.iter().any(|g| path.starts_with(g.as_bytes()));
        let (ua, key) = (hit.user_agent, self.key);
        let (crawler, agent) = state.seen.agents.get_or(ua, || {
            (self.classifier.is_crawler(ua), key.hash(&[b"a", ua]))
        });
        if let Some(ex) = self.classifier.exclusion_given(&hit, goal, crawler) {
            *match ex {
                Exclusion::Crawler => &mut batch.counts.crawlers,
                Exclusion::ErrorStatus => &mut batch.counts.error_status,
                Exclusion::Method => &mut batch.counts.other_methods,
                Exclusion::Asset => &mut batch.counts.assets,
                Exclusion::Redirect => &mut batch.counts.redirects,
            } += 1;
            return;
        }
        batch.counts.page_views += 1;
        let cookie = |slot: Option<usize>| slot.and_then(|s| hit.cookie(s, self.cookies));
        let visitor = match cookie(self.visitor_slot) {
            Some(c) => self.key.hash(&[b"c", c]),
            None => state.seen.host_visitor(hit.client, agent, || {
                self.key.hash(&[b"h", hit.client, &agent.to_le_bytes()])
            }),
        };
        let member = hit.user().is_some() || cookie(self.login_slot).is_some();
        let goal = goal.then(|| Goal {
            conversion: self.conversion(query, batch, n),
            term: cookie(self.keyword_slot).and_then(|raw| keyword::normalize(raw, None)),
        });
        let start = batch.landings.len() as u32;
        push_landing(&mut batch.landings, path);
        batch.views.push(View {
            visitor,
            ts: hit.ts,
            acquisition: self.acquisition(&mut state.seen, &hit),
            segment: if member {
                Segment::Member
            } else {
                Segment::Anonymous
            },
            goal,
            landing: (start, batch.landings.len() as u32),
        });
    }

    /// [`Classifier::acquisition`], with what the referrer says remembered (and shared
    /// by the page views it comes with, not copied).
    fn acquisition(&self, state: &mut Seen, hit: &crate::parse::Hit) -> Arc<Acquisition> {
        let referer = match hit.referer() {
            None => state.direct.clone(),
            Some(r) => {
                // The virtual host decides what is the site's own, so it is part of the
                // key: referrer, host, and the host's length last, so no two pairs
                // (whatever bytes a hostile line holds) share a key.
                let key = &mut state.key;
                key.clear();
                key.extend_from_slice(r);
                key.extend_from_slice(hit.vhost);
                key.extend_from_slice(&(hit.vhost.len() as u32).to_le_bytes());
                let classifier = self.classifier;
                state
                    .referrers
                    .get_or(key, || Arc::new(classifier.referrer(r, hit.vhost)))
            }
        };
        match self.classifier.campaign_over(hit, &referer) {
            Some(c) => Arc::new(Acquisition::External(c)),
            None => referer,
        }
    }

    /// The revenue and order id of a goal hit, from its query parameters.
    fn conversion(&self, query: &[u8], batch: &mut Batch, line: u64) -> Conversion {
        let cents = match query_param(query, self.revenue_param.as_bytes()) {
            None => 0,
            Some(raw) => {
                let text = String::from_utf8_lossy(&keyword::percent_decode(raw)).into_owned();
                crate::model::parse_cents(&text).unwrap_or_else(|| {
                    batch.counts.bad_revenue += 1;
                    batch
                        .problems
                        .push((line, "goal hit with a bad revenue value (counted as 0)"));
                    0
                })
            }
        };
        let order = query_param(query, self.order_param.as_bytes())
            .filter(|o| !o.is_empty())
            .map(|o| self.key.hash(&[b"o", o]));
        Conversion { order, cents }
    }
}

/// Appends the landing path as text: `/` for an empty path, cut to
/// [`MAX_LANDING_BYTES`] on a character boundary, invalid UTF-8 replaced.
pub(super) fn push_landing(out: &mut String, path: &[u8]) {
    let path = if path.is_empty() { &b"/"[..] } else { path };
    let mut end = path.len().min(MAX_LANDING_BYTES);
    loop {
        match std::str::from_utf8(&path[..end]) {
            Ok(s) => return out.push_str(s),
            Err(e) if e.valid_up_to() > 0 && e.error_len().is_none() => end = e.valid_up_to(),
            Err(_) => return out.push_str(&String::from_utf8_lossy(&path[..end])),
        }
    }
}
