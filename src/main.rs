use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = keyrank::cli::Cli::parse();
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
