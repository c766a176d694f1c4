//! keyrank's one integration-test binary (each binary linking DataFusion is large).

mod common;
mod generated;
mod handwritten;
mod privacy;
mod purchases;
mod real_log;
