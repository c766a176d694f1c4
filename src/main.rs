use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = keyrank::cli::Cli::parse();
    // Diagnostics of the engines underneath (Ballista, DataFusion) only when asked for
    // with RUST_LOG, and at most at info level: their debug logs print query plans with
    // their literals, and a cluster ingest's job literal holds the run key.
    env_logger::Builder::from_env(env_logger::Env::default().filter_or("RUST_LOG", "off")).init();
    log::set_max_level(log::max_level().min(log::LevelFilter::Info));
    keyrank::store::install_interrupt_cleanup();
    match keyrank::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let keyrank::Error::Io { source, .. } = &e
                && source.kind() == std::io::ErrorKind::BrokenPipe
            {
                return ExitCode::SUCCESS;
            }
            eprintln!("keyrank: error: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                eprintln!("  caused by: {c}");
                cause = c.source();
            }
            ExitCode::from(e.exit_code())
        }
    }
}
