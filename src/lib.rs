//! keyrank: search terms from access logs to per-keyword aggregates, queried with SQL.
//!
//! The pipeline runs one way: [`parse`] → [`classify`] → [`visits`] → [`rollup`] →
//! [`store`] → [`sql`]. Only aggregates leave a run; visitor identity is a keyed hash
//! in memory whose key is random per run and never written.

pub mod classify;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod generate;
pub mod import;
pub mod ingest;
pub mod model;
pub mod parse;
pub mod privacy;
pub mod query;
pub mod rank;
pub mod report;
pub mod serve;
pub mod store;

pub use error::{Error, Result};
