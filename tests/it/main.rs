//! keyrank's one integration-test binary (each binary linking DataFusion is large).

mod browser;
mod cli;
#[cfg(feature = "cluster")]
mod cluster;
#[cfg(feature = "cluster")]
mod cluster_security;
mod common;
mod formats;
mod generated;
mod handwritten;
mod hostile;
mod layers;
mod privacy;
mod purchases;
mod ranking;
mod real_log;
mod referrers;
mod reports;
mod rollup;
mod search_console;
mod serve;
mod shops;
mod sketches;
mod store;
