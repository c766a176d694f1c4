use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = keyrank::cli::Cli::parse();
    // Diagnostics of the engines underneath (Ballista, DataFusion) only when asked for
    // with RUST_LOG, and at most at info level: their debug logs print query plans with
    // their literals, and a cluster ingest's job literal holds the run key.
    env_logger::Builder::from_env(env_logger::Env::default().filter_or("RUST_LOG", "off")).init();
    log::set_max_level(log::max_level().min(log::LevelFilter::Info));
    quiet_on_closed_pipe();
    match keyrank::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprint!("{}", report(&e));
            ExitCode::from(e.exit_code())
        }
    }
}

/// The error and each cause it does not already say, one per line.
fn report(e: &keyrank::Error) -> String {
    let mut said = e.to_string();
    let mut out = format!("keyrank: error: {said}\n");
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !already_said(&said, &text) {
            out.push_str(&format!("  caused by: {text}\n"));
            said.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// Whether `text` (a cause) adds nothing to `said`: it is there whole, or all of it
/// after a label such as `sql parser error: ` is.
fn already_said(said: &str, text: &str) -> bool {
    said.contains(text)
        || text
            .match_indices(": ")
            .any(|(i, _)| text.len() - i > 12 && said.contains(&text[i + 2..]))
}

/// A reader that went away (`keyrank sql … | head`) ends the command well: whatever
/// layer the write failed in, the error's chain holds the broken pipe.
fn is_broken_pipe(e: &keyrank::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
        {
            return true;
        }
        cause = c.source();
    }
    // Engines that keep only the text of an I/O error.
    e.to_string().contains("Broken pipe (os error 32)")
}

/// `println!` panics when stdout is a closed pipe; that is the reader's choice to stop,
/// not a crash: exit 0 without a word. Every other panic reports as usual.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}
