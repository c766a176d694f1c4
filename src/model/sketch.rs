//! Mergeable distinct-visitor sketches (HyperLogLog), stored beside the exact
//! `visitors` count of each store row.
//!
//! A row's `visitors` is exact for that row, but rows cannot be added up into distinct
//! visitors: a visitor who came on three days is in three rows. The row's sketch can:
//! the union of sketches counts each visitor once, so `distinct_visitors(visitor_sketch)`
//! gives distinct visitors over any days, keywords or landings a query groups
//! (the aggregate is in [`crate::query::udf`]), to about
//! 1.6 % (exact below [`SPARSE_MAX`] visitors). Sketches also merge what the buckets of a
//! distributed ingest saw, like exact counts do.
//!
//! What a sketch holds: the top 32 bits of each visitor's keyed hash (up to
//! [`SPARSE_MAX`] of them, sorted), or beyond that 4,096 HyperLogLog registers. The
//! hash key is random per ingest run and never written, so nothing in a sketch can be
//! traced to a visitor; it also means sketches merge a visitor into one only within
//! one ingest run. The bytes are a pure function of the set of visitors, so the same
//! visitors give the same bytes however they were merged.

use serde::{Deserialize, Serialize};

/// Register index bits.
const P: u32 = 12;
const REGISTERS: usize = 1 << P;
/// Up to this many distinct hashes are kept as they are (4 KiB, the size of the
/// registers), and counted exactly.
pub const SPARSE_MAX: usize = 1024;
const SPARSE: u8 = 1;
const DENSE: u8 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Sketch {
    /// Sorted, distinct top-32-bit hashes.
    Sparse(Vec<u32>),
    /// One register per index: the rank (1 + leading zeros) of the largest hash seen.
    Dense(Vec<u8>),
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Sparse(Vec::new())
    }
}

fn register(h: u32) -> (usize, u8) {
    let idx = (h >> (32 - P)) as usize;
    let rest = h << P;
    // 20 bits remain: a rank of 1..=21.
    let rank = (rest.leading_zeros().min(32 - P) + 1) as u8;
    (idx, rank)
}

impl Sketch {
    /// A sketch of visitors' keyed hashes (any order, repeats allowed).
    pub fn of(hashes: impl IntoIterator<Item = u64>) -> Sketch {
        let mut top: Vec<u32> = hashes.into_iter().map(|h| (h >> 32) as u32).collect();
        top.sort_unstable();
        top.dedup();
        let mut s = Sketch::Sparse(top);
        s.densify_if_large();
        s
    }

    fn densify_if_large(&mut self) {
        if let Sketch::Sparse(top) = self
            && top.len() > SPARSE_MAX
        {
            let mut regs = vec![0u8; REGISTERS];
            for &h in top.iter() {
                let (i, r) = register(h);
                regs[i] = regs[i].max(r);
            }
            *self = Sketch::Dense(regs);
        }
    }

    /// Adds `other`'s visitors to this sketch.
    pub fn union(&mut self, other: &Sketch) {
        match (&mut *self, other) {
            (Sketch::Sparse(a), Sketch::Sparse(b)) => {
                let mut merged = Vec::with_capacity(a.len() + b.len());
                let (mut i, mut j) = (0, 0);
                while i < a.len() && j < b.len() {
                    match a[i].cmp(&b[j]) {
                        std::cmp::Ordering::Less => {
                            merged.push(a[i]);
                            i += 1;
                        }
                        std::cmp::Ordering::Greater => {
                            merged.push(b[j]);
                            j += 1;
                        }
                        std::cmp::Ordering::Equal => {
                            merged.push(a[i]);
                            i += 1;
                            j += 1;
                        }
                    }
                }
                merged.extend_from_slice(&a[i..]);
                merged.extend_from_slice(&b[j..]);
                *a = merged;
                self.densify_if_large();
            }
            (Sketch::Dense(regs), Sketch::Sparse(b)) => {
                for &h in b {
                    let (i, r) = register(h);
                    regs[i] = regs[i].max(r);
                }
            }
            (Sketch::Sparse(_), Sketch::Dense(_)) => {
                let mut dense = other.clone();
                dense.union(self);
                *self = dense;
            }
            (Sketch::Dense(a), Sketch::Dense(b)) => {
                for (x, y) in a.iter_mut().zip(b) {
                    *x = (*x).max(*y);
                }
            }
        }
    }

    /// Estimated distinct visitors: exact while sparse, HyperLogLog (with linear
    /// counting for small ranges) once dense.
    pub fn estimate(&self) -> u64 {
        match self {
            Sketch::Sparse(top) => top.len() as u64,
            Sketch::Dense(regs) => {
                let m = REGISTERS as f64;
                let alpha = 0.7213 / (1.0 + 1.079 / m);
                let sum: f64 = regs.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
                let raw = alpha * m * m / sum;
                let zeros = regs.iter().filter(|&&r| r == 0).count();
                let e = if raw <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    raw
                };
                e.round() as u64
            }
        }
    }

    /// The stored form: a kind byte, then the sorted hashes (u32, little endian) or the
    /// registers.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Sketch::Sparse(top) => {
                let mut out = Vec::with_capacity(1 + 4 * top.len());
                out.push(SPARSE);
                for h in top {
                    out.extend_from_slice(&h.to_le_bytes());
                }
                out
            }
            Sketch::Dense(regs) => {
                let mut out = Vec::with_capacity(1 + regs.len());
                out.push(DENSE);
                out.extend_from_slice(regs);
                out
            }
        }
    }

    /// Reads [`Sketch::to_bytes`]; `None` for bytes that are not a sketch.
    pub fn from_bytes(bytes: &[u8]) -> Option<Sketch> {
        match bytes.split_first()? {
            (&SPARSE, rest) if rest.len() % 4 == 0 => {
                let top: Vec<u32> = rest
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes(c.try_into().expect("four bytes")))
                    .collect();
                top.is_sorted_by(|a, b| a < b)
                    .then_some(Sketch::Sparse(top))
            }
            (&DENSE, rest) if rest.len() == REGISTERS => Some(Sketch::Dense(rest.to_vec())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well-spread 64-bit values, as keyed hashes are.
    fn hashes(range: std::ops::Range<u64>) -> impl Iterator<Item = u64> {
        range.map(|i| {
            let mut x = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
            x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            x ^ (x >> 31)
        })
    }

    #[test]
    fn small_sets_are_exact_and_repeats_count_once() {
        let s = Sketch::of(hashes(0..10).chain(hashes(0..10)));
        assert_eq!(s.estimate(), 10);
        assert!(matches!(s, Sketch::Sparse(_)));
        assert_eq!(Sketch::default().estimate(), 0);
    }

    #[test]
    fn large_sets_are_within_a_few_percent() {
        for n in [2_000u64, 30_000, 1_000_000] {
            let e = Sketch::of(hashes(0..n)).estimate() as f64;
            let err = (e - n as f64).abs() / n as f64;
            assert!(err < 0.05, "n {n}: estimate {e}");
        }
    }

    #[test]
    fn union_counts_shared_visitors_once_and_is_order_free() {
        // Overlapping sets, across the sparse/dense switch.
        for (a, b) in [
            (0..500, 300..900),
            (0..800, 400..1_500),
            (0..5_000, 2_500..9_000),
        ] {
            let (sa, sb) = (Sketch::of(hashes(a.clone())), Sketch::of(hashes(b.clone())));
            let mut ab = sa.clone();
            ab.union(&sb);
            let mut ba = sb.clone();
            ba.union(&sa);
            let whole = Sketch::of(hashes(a.start..b.end));
            assert_eq!(ab, whole, "{a:?} ∪ {b:?}");
            assert_eq!(ba, whole);
            let n = (b.end - a.start) as f64;
            assert!((ab.estimate() as f64 - n).abs() / n < 0.05);
        }
    }

    #[test]
    fn bytes_round_trip_and_garbage_is_refused() {
        for s in [Sketch::of(hashes(0..7)), Sketch::of(hashes(0..3_000))] {
            assert_eq!(Sketch::from_bytes(&s.to_bytes()), Some(s));
        }
        assert_eq!(Sketch::from_bytes(b""), None);
        assert_eq!(Sketch::from_bytes(&[SPARSE, 1, 2, 3]), None);
        assert_eq!(Sketch::from_bytes(&[DENSE, 0]), None);
        assert_eq!(Sketch::from_bytes(&[SPARSE, 2, 0, 0, 0, 1, 0, 0, 0]), None);
    }
}
