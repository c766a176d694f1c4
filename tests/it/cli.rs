//! The binary as a user meets it: exit codes (0 done, 1 failed, 2 asked wrongly), what
//! it prints on stdout and stderr, pinned as snapshots (timings and folders filtered).

use insta_cmd::assert_cmd_snapshot;
use std::io::Write;
use std::path::Path;
use std::process::Command;

fn keyrank(cwd: &Path) -> Command {
    let mut c = Command::new(insta_cmd::get_cargo_bin("keyrank"));
    c.current_dir(cwd).env("NO_COLOR", "1");
    c
}

/// Runs `check` with the temporary folder, timings and speeds filtered out.
fn filtered(dir: &Path, check: impl FnOnce()) {
    let folder = regex_escape(&dir.display().to_string());
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&folder, "[DIR]");
    settings.add_filter(r"elapsed .*", "elapsed [TIME]");
    settings.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[TIME]");
    settings.bind(check);
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn exit_codes_and_what_each_command_prints() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let log = crate::common::root().join("testdata/handwritten.log");
    std::fs::copy(&log, d.join("access.log")).unwrap();
    filtered(d, || {
        // 0: an ingest, with its summary on stderr.
        assert_cmd_snapshot!(
            "ingest_ok",
            keyrank(d).args([
                "ingest",
                "--store",
                "store",
                "--site",
                "shop.example",
                "--goal",
                "/checkout/complete",
                "--min-visitors",
                "1",
                "access.log",
            ])
        );
        // 0: a canned query, its numbers as people write them.
        assert_cmd_snapshot!(
            "query_ok",
            keyrank(d).args(["query", "--store", "store", "engine_share"])
        );
        // 1: SQL that does not parse; the cause said once.
        assert_cmd_snapshot!(
            "sql_error",
            keyrank(d).args(["sql", "--store", "store", "SELEC 1"])
        );
        // 2: a folder that is no store, and an unknown flag.
        assert_cmd_snapshot!(
            "not_a_store",
            keyrank(d).args(["sql", "--store", "nowhere", "SELECT 1"])
        );
        assert_cmd_snapshot!(
            "unknown_flag",
            keyrank(d).args(["ingest", "--store", "store", "--no-such-flag", "x.log"])
        );
    });
}

#[test]
fn strict_refuses_a_damaged_input_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = std::fs::read(crate::common::root().join("testdata/handwritten.log")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(d.join("cut.log.gz"), &gz[..gz.len() / 2]).unwrap();
    filtered(d, || {
        assert_cmd_snapshot!(
            "strict_damaged",
            keyrank(d).args([
                "ingest",
                "--store",
                "store",
                "--site",
                "shop.example",
                "--strict",
                "-q",
                "cut.log.gz",
            ])
        );
    });
    assert!(!d.join("store").join("keyword_daily").exists());
}
