//! `keyrank generate`: sample data whose true answer is known.

use crate::error::Result;
use crate::generate::{COSTS_FILE, GenerateConfig, LOG_FILE, TRUTH_FILE, generate};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of visitors to simulate.
    #[arg(long, default_value_t = 2_000)]
    pub visitors: u64,
    /// Random seed; the same seed gives byte-identical files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Days the traffic is spread over.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// First day of the log (YYYY-MM-DD).
    #[arg(long, default_value = "2024-03-04")]
    pub start: String,
    /// Also buy some keywords on Google and Bing with known response curves (written
    /// to the truth file) and write their daily cost report, ad_costs.csv.
    #[arg(long)]
    pub costs: bool,
}

pub fn run(args: Args) -> Result<()> {
    let cfg = GenerateConfig {
        visitors: args.visitors,
        seed: args.seed,
        days: args.days,
        start: args.start,
        costs: args.costs,
        ..GenerateConfig::default()
    };
    let truth = generate(&cfg, &args.out)?;
    eprintln!(
        "wrote {} ({} lines: {} visits, {} conversions, {} malformed) and {}",
        args.out.join(LOG_FILE).display(),
        truth.lines,
        truth.visits,
        truth.conversions,
        truth.malformed,
        args.out.join(TRUTH_FILE).display()
    );
    if args.costs {
        eprintln!(
            "wrote {} ({} paid keywords)",
            args.out.join(COSTS_FILE).display(),
            truth.paid_curves.len()
        );
    }
    Ok(())
}
