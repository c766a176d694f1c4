//! keyrank: search terms from access logs to per-keyword aggregates, queried with SQL.
//!
//! The pipeline runs one way: [`parse`] → [`classify`] → [`visits`] → [`rollup`] →
//! [`store`] → [`sql`]. Only aggregates leave a run; visitor identity is a keyed hash
//! in memory whose key is random per run and never written.

pub mod attribution;
pub mod classify;
pub mod cli;
pub mod cluster;
pub mod costs;
pub mod dp;
pub mod error;
pub mod generate;
pub mod ingest;
pub mod model;
pub mod object_stores;
pub mod output;
pub mod parse;
pub mod privacy;
pub mod queries;
pub mod rank;
pub mod report;
pub mod rollup;
pub mod search_console;
pub mod sketch;
pub mod sql;
pub mod store;
pub mod udf;

pub use error::{Error, Result};
