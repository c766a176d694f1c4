//! `keyrank serve`: the dashboard over a store.

use crate::error::{Error, Result};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// Address to listen on (IP:PORT). Any address but loopback needs a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The token every request must carry (at least 16 characters); also read from
    /// KEYRANK_SERVE_TOKEN.
    #[arg(long, env = "KEYRANK_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A report config (as for `keyrank report`) whose scheduled reports /reports lists.
    #[arg(long)]
    pub reports: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    crate::serve::run(options(args)?)
}

pub fn options(args: Args) -> Result<crate::serve::ServeOptions> {
    let bind = args.bind.parse().map_err(|_| {
        Error::usage(format!(
            "--bind {:?}: expected IP:PORT, e.g. 127.0.0.1:8080",
            args.bind
        ))
    })?;
    Ok(crate::serve::ServeOptions {
        store: args.store,
        bind,
        token: args.token.filter(|t| !t.is_empty()),
        reports: args.reports,
    })
}
