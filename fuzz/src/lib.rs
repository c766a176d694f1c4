//! Helpers the fuzz targets share.

use std::path::PathBuf;

/// A file in this process's scratch folder holding `data`, for readers that take a path.
/// The folder lives as long as the process; each call overwrites the same file name.
pub fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let base = std::env::var_os("KEYRANK_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("keyrank-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch folder");
        dir
    });
    let path = dir.join(name);
    std::fs::write(&path, data).expect("scratch file");
    path
}

/// Splits the input at its first newline: a header (the spec, the URL) and the rest.
pub fn split_first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match memchr_newline(data) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn memchr_newline(data: &[u8]) -> Option<usize> {
    data.iter().position(|&b| b == b'\n')
}
