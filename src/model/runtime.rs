//! The process's one async runtime. SQL (DataFusion), the store's Delta commits and
//! the cluster client all run on it; it is built on first use and lives as long as
//! the process. Only [`crate::cluster::LocalCluster`] owns a runtime of its own, so
//! that its servers stop when it is dropped, and the dashboard's warm-up
//! ([`crate::serve::warm_up`]), so that people's requests never queue behind it.

use crate::error::{Error, Result};
use std::sync::OnceLock;
use tokio::runtime::Runtime;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The shared runtime (multi-threaded, one worker per core). Call `block_on` on it
/// from synchronous code only, never from inside a task.
pub fn runtime() -> Result<&'static Runtime> {
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("keyrank-async")
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    // Two threads may race to build it; the loser's runtime is dropped unused.
    Ok(RUNTIME.get_or_init(|| rt))
}
