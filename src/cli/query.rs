//! `keyrank query`: run a canned query from queries/.

use crate::error::{Error, Result};
use crate::query::output::{self, OutputFormat};
use crate::query::queries;
use crate::store::Store;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Query name (see --list).
    pub name: Option<String>,
    /// Store folder.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// A parameter, name=value (repeatable).
    #[arg(long = "param", short = 'p')]
    pub params: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Run on a Ballista cluster (`df://HOST:PORT`); the store must be at the same
    /// path on every executor.
    #[arg(long)]
    pub cluster: Option<String>,
    /// List the canned queries and their parameters.
    #[arg(long)]
    pub list: bool,
    /// Print the SQL that would run instead of running it.
    #[arg(long)]
    pub show_sql: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.list {
        for q in queries::builtin()? {
            println!("{}  {}", q.name, q.title);
            for p in &q.params {
                println!(
                    "    --param {}=<{}> (default {})  {}",
                    p.name, p.ty, p.default, p.help
                );
            }
        }
        return Ok(());
    }
    let name = args
        .name
        .as_deref()
        .ok_or_else(|| Error::usage("name a query, or use --list to see them"))?;
    let q = queries::find(name)?;
    let sql = q.render(&queries::parse_params(&args.params)?)?;
    if args.show_sql {
        println!("{sql}");
        return Ok(());
    }
    let store_dir = args
        .store
        .as_ref()
        .ok_or_else(|| Error::usage("--store DIR is required to run a query"))?;
    let store = Store::open(store_dir)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = crate::cluster::session_at(&store, args.cluster.as_deref()).await?;
        let (schema, batches) = crate::query::run(&ctx, &sql).await?;
        output::write(
            &mut std::io::stdout().lock(),
            args.format,
            &schema,
            &batches,
        )
    })
}
