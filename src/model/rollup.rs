//! The per-keyword aggregates a run produces: one row per day × channel × landing ×
//! segment. This is all that leaves a run; visitor keys stay in [`Rollup`]'s
//! distinct-visitor set in memory and are dropped with it.

use crate::model::attribution::AttributionModel;
use crate::model::channel::Channel;
use crate::model::sketch::Sketch;
use rustc_hash::{FxHashMap, FxHashSet};
use std::hash::Hash;

/// Interns values to dense ids so hot maps key on integers, not strings.
#[derive(Debug)]
pub struct Interner<T> {
    ids: FxHashMap<T, u32>,
    values: Vec<T>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            ids: FxHashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> Interner<T> {
    pub fn intern(&mut self, value: &T) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.ids.insert(value.clone(), id);
        id
    }

    pub fn get(&self, id: u32) -> &T {
        &self.values[id as usize]
    }
}

impl Interner<String> {
    /// Interns a borrowed string without allocating when it is already known.
    pub fn intern_str(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        self.intern(&value.to_string())
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Segment {
    Anonymous,
    Member,
    /// Both, not told apart (a differentially private release).
    All,
}

impl Segment {
    pub fn as_str(self) -> &'static str {
        match self {
            Segment::Anonymous => "anonymous",
            Segment::Member => "member",
            Segment::All => "all",
        }
    }
}

pub const MODELS: usize = AttributionModel::ALL.len();

/// Counts of one row. Conversions in credit units (millionths), revenue in cents:
/// both exact, per attribution model (indexed by [`AttributionModel::index`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub visits: i64,
    pub visitors: i64,
    pub pageviews: i64,
    pub conversions: [i64; MODELS],
    pub revenue: [i64; MODELS],
}

impl Counts {
    /// Adds credit and revenue under each model (indexed like [`AttributionModel::ALL`]).
    pub fn add_credits(&mut self, credits: &[i64; MODELS], cents: &[i64; MODELS]) {
        for m in 0..MODELS {
            self.conversions[m] += credits[m];
            self.revenue[m] += cents[m];
        }
    }

    pub fn add(&mut self, o: &Counts) {
        self.visits += o.visits;
        self.visitors += o.visitors;
        self.pageviews += o.pageviews;
        self.add_credits(&o.conversions, &o.revenue);
    }
}

/// Row dimensions other than the day, as interned ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DimsKey {
    pub channel: u32,
    pub landing: u32,
    pub segment: Segment,
}

/// One finished row, ready for the privacy gate and the store.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub day: i32,
    pub channel: Channel,
    pub landing: String,
    pub segment: Segment,
    pub counts: Counts,
    /// Apportioned from `(not provided)` by Search Console recovery, not observed.
    pub estimated: bool,
    /// The row's visitors as a mergeable sketch, beside the exact `visitors` count
    /// (none for estimated rows and differentially private releases).
    pub sketch: Option<Sketch>,
}

impl Row {
    /// Orders rows by day, then every dimension; rows equal on it are one row.
    pub fn cmp_dims(&self, other: &Row) -> std::cmp::Ordering {
        let (a, b) = (self, other);
        (
            a.day,
            &a.channel.source,
            &a.channel.medium,
            &a.channel.keyword,
        )
            .cmp(&(
                b.day,
                &b.channel.source,
                &b.channel.medium,
                &b.channel.keyword,
            ))
            .then_with(|| a.channel.campaign.cmp(&b.channel.campaign))
            .then_with(|| a.landing.cmp(&b.landing))
            .then_with(|| a.segment.cmp(&b.segment))
            .then_with(|| a.estimated.cmp(&b.estimated))
    }
}

/// Sorts rows by day and dimensions and merges rows equal on them, adding their counts.
pub fn merge_rows(mut rows: Vec<Row>) -> Vec<Row> {
    // Sort, then merge neighbours: no key is cloned. Input that is mostly sorted
    // already (runs of rows) is what the stable sort does best on.
    rows.sort_by(Row::cmp_dims);
    let mut merged: Vec<Row> = Vec::with_capacity(rows.len());
    for row in rows {
        match merged.last_mut() {
            Some(last) if last.cmp_dims(&row).is_eq() => {
                last.counts.add(&row.counts);
                match (&mut last.sketch, &row.sketch) {
                    (Some(a), Some(b)) => a.union(b),
                    (a @ None, Some(b)) => *a = Some(b.clone()),
                    _ => {}
                }
            }
            _ => merged.push(row),
        }
    }
    merged
}

/// Per privacy unit: its counts per (day, dims) row.
pub type Contributions = FxHashMap<u64, FxHashMap<(i32, u32), Counts>>;

#[derive(Debug, Default)]
pub struct Rollup {
    pub channels: Interner<Channel>,
    pub landings: Interner<String>,
    dims: Interner<DimsKey>,
    rows: FxHashMap<(i32, u32), Counts>,
    /// (day, dims, visitor key): for the distinct-visitor count of each row.
    seen: FxHashSet<(i32, u32, u64)>,
    /// Under differential privacy: each privacy unit's own contributions, kept in
    /// memory until [`crate::privacy::dp::release`] bounds them.
    pub contributions: Option<Contributions>,
    /// The privacy unit (visitor or order) the next page view or credit belongs to.
    pub unit: u64,
    /// Build each row's visitor sketch ([`Row::sketch`]) in [`Rollup::into_rows`].
    pub sketches: bool,
}

impl Rollup {
    pub fn dims(&mut self, key: DimsKey) -> u32 {
        self.dims.intern(&key)
    }

    pub fn dims_key(&self, id: u32) -> DimsKey {
        *self.dims.get(id)
    }

    fn row(&mut self, day: i32, dims: u32) -> &mut Counts {
        self.rows.entry((day, dims)).or_default()
    }

    /// The current unit's own counts for a row, when contributions are kept.
    fn unit_row(&mut self, day: i32, dims: u32) -> Option<&mut Counts> {
        let unit = self.unit;
        self.contributions
            .as_mut()
            .map(|c| c.entry(unit).or_default().entry((day, dims)).or_default())
    }

    pub fn add_visit(&mut self, day: i32, dims: u32, visitor: u64) {
        self.unit = visitor;
        let new_visitor = self.seen.insert((day, dims, visitor));
        let row = self.row(day, dims);
        row.visits += 1;
        if new_visitor {
            row.visitors += 1;
        }
        if let Some(u) = self.unit_row(day, dims) {
            u.visits += 1;
            u.visitors = 1;
        }
    }

    pub fn add_pageview(&mut self, day: i32, dims: u32) {
        self.row(day, dims).pageviews += 1;
        if let Some(u) = self.unit_row(day, dims) {
            u.pageviews += 1;
        }
    }

    /// Adds whole counts to a row (no privacy unit: not for runs that keep
    /// per-unit contributions).
    pub fn add_counts(&mut self, day: i32, dims: u32, counts: &Counts) {
        self.row(day, dims).add(counts);
    }

    /// Credit and revenue under each model at once (indexed like
    /// [`AttributionModel::ALL`]).
    pub fn add_credits(
        &mut self,
        day: i32,
        dims: u32,
        credits: &[i64; MODELS],
        cents: &[i64; MODELS],
    ) {
        self.row(day, dims).add_credits(credits, cents);
        if let Some(u) = self.unit_row(day, dims) {
            u.add_credits(credits, cents);
        }
    }

    /// The same credit and revenue under every model (a conversion with one touch).
    pub fn add_whole_credit(&mut self, day: i32, dims: u32, credit: i64, cents: i64) {
        self.add_credits(day, dims, &[credit; MODELS], &[cents; MODELS]);
    }

    /// The rows, sorted by day and dimensions so output is deterministic.
    pub fn into_rows(self) -> Vec<Row> {
        let Rollup {
            channels,
            landings,
            dims,
            rows,
            seen,
            sketches,
            ..
        } = self;
        // Each row's distinct visitors, as a sketch to store beside the count: sorted
        // once, so each row's visitors are one run.
        let mut seen: Vec<(i32, u32, u64)> = if sketches {
            seen.into_iter().collect()
        } else {
            Vec::new()
        };
        seen.sort_unstable();
        let mut visitors: FxHashMap<(i32, u32), Sketch> = FxHashMap::default();
        for run in seen.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (day, d, _) = run[0];
            visitors.insert((day, d), Sketch::of(run.iter().map(|v| v.2)));
        }
        drop(seen);
        // Rank the (few) distinct dimensions by their text once, then sort the rows
        // by (day, rank): integer compares instead of string compares per row.
        let key_order = |a: &DimsKey, b: &DimsKey| {
            let (ca, cb) = (channels.get(a.channel), channels.get(b.channel));
            (&ca.source, &ca.medium, &ca.keyword, &ca.campaign)
                .cmp(&(&cb.source, &cb.medium, &cb.keyword, &cb.campaign))
                .then_with(|| landings.get(a.landing).cmp(landings.get(b.landing)))
                .then_with(|| a.segment.cmp(&b.segment))
        };
        let mut by_text: Vec<u32> = (0..dims.values.len() as u32).collect();
        by_text.sort_unstable_by(|&a, &b| key_order(dims.get(a), dims.get(b)));
        let mut rank = vec![0u32; by_text.len()];
        for (r, &d) in by_text.iter().enumerate() {
            rank[d as usize] = r as u32;
        }
        let mut rows: Vec<((i32, u32), Counts)> = rows.into_iter().collect();
        rows.sort_unstable_by_key(|&((day, d), _)| (day, rank[d as usize]));
        rows.into_iter()
            .map(|((day, d), counts)| {
                let key = dims.get(d);
                Row {
                    day,
                    channel: channels.get(key.channel).clone(),
                    landing: landings.get(key.landing).clone(),
                    segment: key.segment,
                    counts,
                    estimated: false,
                    sketch: visitors.remove(&(day, d)),
                }
            })
            .collect()
    }
}
