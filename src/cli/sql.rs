//! `keyrank sql`: any SQL over the store, or an interactive shell.

use crate::error::{Error, Result};
use crate::query::output::{self, OutputFormat};
use crate::store::Store;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Store folder.
    #[arg(long)]
    pub store: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Run on a Ballista cluster (`df://HOST:PORT`); the store must be at the same
    /// path on every executor.
    #[arg(long)]
    pub cluster: Option<String>,
    /// The SQL to run; without it, an interactive shell opens.
    pub query: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let store = Store::open(&args.store)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = crate::cluster::session_at(&store, args.cluster.as_deref()).await?;
        match &args.query {
            Some(q) => {
                let (schema, batches) = crate::query::run(&ctx, q).await?;
                output::write(
                    &mut std::io::stdout().lock(),
                    args.format,
                    &schema,
                    &batches,
                )
            }
            None => shell(&ctx, args.format).await,
        }
    })
}

/// A line-editing SQL shell; history lives in memory only (typed SQL is not kept on disk).
async fn shell(ctx: &datafusion::prelude::SessionContext, format: OutputFormat) -> Result<()> {
    let mut rl = rustyline::DefaultEditor::new()
        .map_err(|e| Error::Other(format!("cannot start the shell: {e}")))?;
    eprintln!(
        "keyrank SQL shell: end statements with ';', \\q to quit. Tables: keyword_daily, ad_costs, search_queries, ingest_runs, store_history."
    );
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() {
            "keyrank> "
        } else {
            "     ..> "
        };
        let line = match rl.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buf.clear();
                continue;
            }
            Err(rustyline::error::ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Other(format!("shell: {e}"))),
        };
        let trimmed = line.trim();
        if buf.is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
            break;
        }
        buf.push_str(&line);
        buf.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let _ = rl.add_history_entry(buf.trim());
        let sql = std::mem::take(&mut buf);
        match crate::query::run(ctx, sql.trim().trim_end_matches(';')).await {
            Ok((schema, batches)) => {
                output::write(&mut std::io::stdout().lock(), format, &schema, &batches)?
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    Ok(())
}
