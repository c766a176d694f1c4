//! Input files: globs expanded, `-` for stdin, gzip and zstd read transparently
//! (by magic bytes, so a rotated `access.log.2.gz` and a misnamed file both work).

use crate::error::{Error, Result};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One input: a file path or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stdin,
    File(PathBuf),
}

impl Source {
    /// How the input is named in messages (`file:line`).
    pub fn display(&self) -> String {
        match self {
            Source::Stdin => "<stdin>".into(),
            Source::File(p) => p.display().to_string(),
        }
    }
}

/// Expands globs (`logs/*.gz`) and keeps plain paths and `-` as they are. A glob
/// that matches nothing, or a path that does not exist, is an error naming it.
pub fn expand(args: &[String]) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            out.push(Source::Stdin);
            continue;
        }
        if arg.contains(['*', '?', '[']) && !Path::new(arg).exists() {
            let paths =
                glob::glob(arg).map_err(|e| Error::usage(format!("bad glob {arg:?}: {e}")))?;
            let mut matched: Vec<PathBuf> = paths.filter_map(|p| p.ok()).collect();
            if matched.is_empty() {
                return Err(Error::usage(format!("no file matches {arg:?}")));
            }
            // Directories a glob matches stay in: the run names them as unreadable.
            matched.sort();
            out.extend(matched.into_iter().map(Source::File));
            continue;
        }
        let p = PathBuf::from(arg);
        if p.is_dir() {
            return Err(Error::usage(format!(
                "{arg}: is a directory (give its files, or a glob such as {arg}/*.log)"
            )));
        }
        if !p.is_file() {
            return Err(Error::usage(format!("{arg}: no such file")));
        }
        out.push(Source::File(p));
    }
    Ok(out)
}

/// Opens a source, decompressing gzip or zstd when its first bytes say so.
pub fn open(source: &Source) -> Result<Box<dyn BufRead + Send>> {
    let raw: Box<dyn Read + Send> = match source {
        Source::Stdin => Box::new(io::stdin()),
        Source::File(p) => Box::new(File::open(p).map_err(|e| Error::io(p, e))?),
    };
    let mut buf = BufReader::with_capacity(1 << 20, raw);
    let magic = buf.fill_buf().map_err(|e| Error::io(source.display(), e))?;
    let reader: Box<dyn BufRead + Send> = if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(BufReader::with_capacity(
            1 << 20,
            flate2::bufread::MultiGzDecoder::new(buf),
        ))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let dec = zstd::stream::read::Decoder::with_buffer(buf)
            .map_err(|e| Error::io(source.display(), e))?;
        Box::new(BufReader::with_capacity(1 << 20, dec))
    } else {
        Box::new(buf)
    };
    Ok(reader)
}

/// Reads lines in large chunks (for the short reads: prescan, JSON-lines purchases;
/// ingest's own reading is [`crate::ingest::pipeline`]'s). `\r\n` endings are trimmed; the
/// last line need not end in a newline.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Lines longer than this come back as [`OVERLONG`], their bytes skipped.
    max_line: usize,
}

/// Lines longer than this (bytes) are malformed unless `--max-line` says otherwise.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// What [`LineReader`] returns for a line past its cap (no text line holds a NUL).
pub const OVERLONG: &[u8] = b"\0keyrank:overlong";

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> Self {
        LineReader {
            inner,
            buf: vec![0; 1 << 20],
            start: 0,
            end: 0,
            eof: false,
            max_line: DEFAULT_MAX_LINE,
        }
    }

    /// The next line without its `\n` (and `\r`); memory stays within about twice
    /// the cap, however long a line is.
    pub fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        let mut skipping = false;
        loop {
            if let Some(nl) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line_start = self.start;
                let mut line_end = self.start + nl;
                self.start = line_end + 1;
                if skipping {
                    return Ok(Some(OVERLONG));
                }
                if line_end > line_start && self.buf[line_end - 1] == b'\r' {
                    line_end -= 1;
                }
                return Ok(Some(&self.buf[line_start..line_end]));
            }
            if self.eof {
                if skipping {
                    self.start = self.end;
                    return Ok(Some(OVERLONG));
                }
                if self.start < self.end {
                    let (s, mut e) = (self.start, self.end);
                    self.start = self.end;
                    if self.buf[e - 1] == b'\r' {
                        e -= 1;
                    }
                    return Ok(Some(&self.buf[s..e]));
                }
                return Ok(None);
            }
            if skipping || self.end - self.start > self.max_line {
                // Past the cap: drop what is buffered of the line and read on.
                skipping = true;
                self.start = 0;
                self.end = 0;
            }
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
            let n = self.inner.read(&mut self.buf[self.end..])?;
            if n == 0 {
                self.eof = true;
            } else {
                self.end += n;
            }
        }
    }
}

/// Column names for a message about a file's columns. A "header" that does not look
/// like a column name (the first row of a file without one, say) is shown as `(?)`:
/// messages never quote data.
pub fn describe_headers<'a>(headers: impl IntoIterator<Item = &'a str>) -> String {
    headers
        .into_iter()
        .map(|h| {
            let plain = h.len() <= 40
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " _-.()".contains(c))
                && !h.bytes().any(|b| b.is_ascii_digit());
            if plain { h } else { "(?)" }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A CSV reader over an opened input.
pub type CsvReader = csv::Reader<Box<dyn BufRead + Send>>;

/// A CSV file (`.gz`/`.zst` read transparently) and its header row, each header
/// through `key`. Rows may have fewer or more cells than the header. An unreadable
/// header row is an error naming the file.
pub fn csv_file(
    path: &Path,
    delimiter: u8,
    key: fn(&str) -> String,
) -> Result<(CsvReader, Vec<String>)> {
    let reader = open(&Source::File(path.to_path_buf()))?;
    let mut r = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(reader);
    let headers = r
        .headers()
        .map_err(|e| Error::Other(format!("{}: {e}", path.display())))?
        .iter()
        .map(key)
        .collect();
    Ok((r, headers))
}

/// A header as the readers match it: letters and digits only, lower case
/// (`Match Type` → `matchtype`).
pub fn header_key(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(data: &[u8]) -> Vec<Vec<u8>> {
        let mut r = LineReader::new(data);
        r.buf = vec![0; 4];
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l.to_vec());
        }
        out
    }

    #[test]
    fn splits_lines_across_small_buffers() {
        assert_eq!(
            lines(b"ab\r\ncdefghij\n\nlast"),
            vec![
                b"ab".to_vec(),
                b"cdefghij".to_vec(),
                b"".to_vec(),
                b"last".to_vec()
            ]
        );
        assert!(lines(b"").is_empty());
    }

    #[test]
    fn a_line_past_the_cap_is_one_marker_and_its_bytes_are_skipped() {
        let data = format!("short\n{}\nend\n{}", "y".repeat(100), "z".repeat(50));
        let mut r = LineReader::new(data.as_bytes());
        r.buf = vec![0; 4];
        r.max_line = 8;
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l.to_vec());
        }
        assert_eq!(
            out,
            vec![
                b"short".to_vec(),
                OVERLONG.to_vec(),
                b"end".to_vec(),
                OVERLONG.to_vec()
            ]
        );
        assert!(r.buf.len() <= 64, "the buffer stays small: {}", r.buf.len());
    }

    #[test]
    fn reads_gzip_and_zstd_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"line one\nline two\n";
        let gz = dir.path().join("a.log.1");
        let mut e = flate2::write::GzEncoder::new(File::create(&gz).unwrap(), Default::default());
        e.write_all(text).unwrap();
        e.finish().unwrap();
        let zs = dir.path().join("a.log.zst");
        std::fs::write(&zs, zstd::encode_all(&text[..], 3).unwrap()).unwrap();
        for p in [gz, zs] {
            let mut s = String::new();
            open(&Source::File(p))
                .unwrap()
                .read_to_string(&mut s)
                .unwrap();
            assert_eq!(s.as_bytes(), text);
        }
    }

    #[test]
    fn globs_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.log", "a.log", "c.txt"] {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        let pat = format!("{}/*.log", dir.path().display());
        let got = expand(&[pat]).unwrap();
        assert_eq!(got.len(), 2);
        assert!(matches!(&got[0], Source::File(p) if p.ends_with("a.log")));
        assert!(expand(&["/nonexistent/x.log".into()]).is_err());
        assert!(expand(&[format!("{}/*.nothing", dir.path().display())]).is_err());
    }
}
