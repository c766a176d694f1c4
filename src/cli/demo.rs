//! `keyrank demo`: the first thing to run. Generates a small data set in a temp
//! folder, ingests it, and prints the top keywords.

use crate::error::{Error, Result};
use crate::generate::{COSTS_FILE, GOAL, GenerateConfig, LOG_FILE, SITE, generate};
use crate::ingest::{IngestConfig, run as ingest};
use crate::query::output::{self, OutputFormat};
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Visitors to simulate.
    #[arg(long, default_value_t = 5_000)]
    pub visitors: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Keep the generated log and store in this folder instead of a temp folder.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Then open the dashboard over the demo's store (until Ctrl-C).
    #[arg(long)]
    pub serve: bool,
    /// Where the dashboard listens with --serve.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
}

pub fn run(args: Args) -> Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix("keyrank-demo-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let dir = args
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let data = dir.join("data");
    let store = dir.join("store");
    eprintln!(
        "keyrank demo: generating {} visitors of sample traffic…",
        args.visitors
    );
    let truth = generate(
        &GenerateConfig {
            visitors: args.visitors,
            seed: args.seed,
            costs: true,
            ..GenerateConfig::default()
        },
        &data,
    )?;
    let cfg = IngestConfig {
        store: store.clone(),
        inputs: vec![data.join(LOG_FILE).display().to_string()],
        sites: vec![SITE.into()],
        goals: vec![GOAL.into()],
        ..IngestConfig::default()
    };
    let summary = ingest(&cfg)?;
    eprint!("{summary}");
    super::costs::run(super::costs::Args {
        action: super::costs::Action::Import(super::costs::ImportArgs {
            store: store.clone(),
            engine: None,
            wait: super::WaitArg {
                wait: crate::store::writer::DEFAULT_WAIT_SECS,
            },
            files: vec![data.join(COSTS_FILE)],
        }),
    })?;
    let q = crate::query::queries::find("keyword_ranking")?;
    let mut params = BTreeMap::new();
    params.insert("limit".to_string(), "15".to_string());
    let sql = q.render(&params)?;
    let store_dir = store;
    let store = Store::open(&store_dir)?;
    let rt = super::runtime()?;
    rt.block_on(async {
        let ctx = crate::query::session(&store).await?;
        let (schema, batches) = crate::query::run(&ctx, &sql).await?;
        println!(
            "\nTop keywords by last-touch conversions ({} conversions in the sample):",
            truth.conversions
        );
        output::write(
            &mut std::io::stdout().lock(),
            OutputFormat::Table,
            &schema,
            &batches,
        )
    })?;
    let (_, totals, batch) = crate::rank::curves::split_from_store(
        &store,
        None,
        None,
        "last",
        None,
        &crate::rank::curves::CurveParams::default(),
    )?;
    println!(
        "\nThe same {} EUR of ad spend over {} days, split by response curves (expected {:+.2} EUR):",
        totals.current_spend, totals.days, totals.uplift
    );
    // The reasons are long: the demo shows the figures, `keyrank budget` the rest.
    let columns: Vec<usize> = [
        "keyword",
        "engine",
        "current_spend",
        "recommended_spend",
        "change",
        "expected_revenue",
        "marginal_roas",
    ]
    .iter()
    .filter_map(|c| batch.schema().index_of(c).ok())
    .collect();
    let batch = batch
        .project(&columns)
        .map_err(|e| Error::Other(e.to_string()))?;
    output::write(
        &mut std::io::stdout().lock(),
        OutputFormat::Table,
        &batch.schema(),
        &[batch],
    )?;
    if args.serve {
        return super::serve::run(super::serve::Args {
            store: store_dir,
            bind: args.bind,
            token: None,
            reports: None,
        });
    }
    match &args.keep {
        Some(d) => eprintln!(
            "\nThe log and store are in {}; try:\n  keyrank sql --store {} \"SELECT source, SUM(visits) FROM keyword_daily GROUP BY source ORDER BY 2 DESC\"\n  keyrank budget --store {} --target-roas 1.5",
            d.display(),
            store_dir.display(),
            store_dir.display()
        ),
        None => eprintln!(
            "\n(the demo's files were in a temp folder, now removed; use --keep DIR to keep them)"
        ),
    }
    Ok(())
}
