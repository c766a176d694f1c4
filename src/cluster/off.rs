//! The cluster without the `cluster` feature: the embedded context, and a clear error
//! for every way of asking for a cluster.

use crate::error::{Error, Result};
use crate::store::Store;
use datafusion::prelude::SessionContext;

/// The error of a command that needs the cluster in a build without it.
pub fn not_built(what: &str) -> Error {
    Error::usage(format!(
        "{what} needs a cluster, and this keyrank was built without the `cluster` feature: \
         build it with `cargo build --release --features cluster`"
    ))
}

/// [`crate::query::session`]; a cluster is refused with [`not_built`].
pub async fn session_at(store: &Store, cluster: Option<&str>) -> Result<SessionContext> {
    match cluster {
        Some(_) => Err(not_built("--cluster")),
        None => crate::query::session(store).await,
    }
}
