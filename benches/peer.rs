//! Running a peer written in Python (DuckDB, for the benches' side-by-side figures):
//! shared by the benches through `#[path]`, since each bench is its own crate.

use std::path::Path;

/// Writes `script` to `path`, runs it with `args` and parses its JSON output; None
/// (with the reason's last line on stderr) when Python or its module is missing or
/// the script fails.
pub fn run_python<T: serde::de::DeserializeOwned>(
    path: &Path,
    script: &str,
    args: &[&std::ffi::OsStr],
) -> Option<T> {
    std::fs::write(path, script).ok()?;
    let out = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "DuckDB peer skipped: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}
