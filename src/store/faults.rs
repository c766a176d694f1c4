//! The fault seam: every write a store makes (a data file, the lock's run marker, a
//! table commit) passes [`FaultPlan::step`] first, so a test can fail the N-th write
//! and check that the store is unchanged. Set from a test with
//! [`Store::with_faults`](super::Store::with_faults), or for a whole process with
//! `KEYRANK_FAIL_WRITE=N` (the N-th write, counted from 1, fails as a disk would).

use crate::error::{Error, Result};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Fails the `fail_at`-th write (1-based); counts every write it sees.
#[derive(Debug)]
pub struct FaultPlan {
    fail_at: u64,
    seen: AtomicU64,
}

impl FaultPlan {
    pub fn fail_write(n: u64) -> Self {
        FaultPlan {
            fail_at: n,
            seen: AtomicU64::new(0),
        }
    }

    /// From `KEYRANK_FAIL_WRITE`, when set to a number.
    pub fn from_env() -> Option<std::sync::Arc<Self>> {
        let n = std::env::var("KEYRANK_FAIL_WRITE")
            .ok()?
            .trim()
            .parse()
            .ok()?;
        Some(std::sync::Arc::new(Self::fail_write(n)))
    }

    /// How many writes have been attempted.
    pub fn writes(&self) -> u64 {
        self.seen.load(Ordering::SeqCst)
    }

    /// One write to `what`: an error (as from a full disk) when it is the planned one.
    pub fn step(&self, what: &Path) -> Result<()> {
        let n = self.seen.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at {
            return Err(Error::io(
                what,
                std::io::Error::new(
                    std::io::ErrorKind::StorageFull,
                    format!("injected fault at write {n}"),
                ),
            ));
        }
        Ok(())
    }
}
