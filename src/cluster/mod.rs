//! Scale-out on Apache DataFusion Ballista, behind the cargo feature `cluster` (the
//! embedded path needs none of it, and Ballista roughly doubles a first build).
//! Without the feature, [`session_at`] still serves the embedded path, and asking for
//! a cluster is a usage error that says how to build one.

#[cfg(feature = "cluster")]
mod ballista;
#[cfg(feature = "cluster")]
pub use ballista::*;
#[cfg(feature = "cluster")]
mod guard;
#[cfg(feature = "cluster")]
pub use guard::{Readable, check_plan};
#[cfg(feature = "cluster")]
pub mod security;
#[cfg(feature = "cluster")]
pub use security::{ClusterSecret, Security, TlsFiles};

#[cfg(not(feature = "cluster"))]
mod off;
#[cfg(not(feature = "cluster"))]
pub use off::*;

/// Whether this build can run on a cluster.
pub const BUILT: bool = cfg!(feature = "cluster");
