//! The look at the head of each input before the log pass: the order to read rotated
//! files in, and the site's own host when no `--site` is given.

use super::*;

/// What a quick look at the start of each input tells: its first timestamp (to read
/// rotated files oldest first) and which referrer hosts dominate (the site's own).
pub(super) struct Prescan {
    pub(super) first_ts: Vec<Option<i64>>,
    referrer_hosts: HashMap<String, u64>,
    referrers: u64,
}

pub(super) const PRESCAN_LINES: usize = 20_000;

/// Reads the head of each input: its first time stamp (to order rotated files) and,
/// when `find_site` is set, the referrer hosts of up to [`PRESCAN_LINES`] lines.
pub(super) fn prescan(
    sources: &[Source],
    format: &LogFormat,
    classifier: &Classifier,
    find_site: bool,
) -> Result<Prescan> {
    let mut scan = Prescan {
        first_ts: Vec::new(),
        referrer_hosts: HashMap::new(),
        referrers: 0,
    };
    for source in sources {
        if *source == Source::Stdin {
            scan.first_ts.push(None);
            continue;
        }
        // An input that cannot be opened or read here is named and counted by the log
        // pass, which reads what it can of it; the look ahead just stops.
        let Ok(opened) = input::open(source) else {
            scan.first_ts.push(None);
            continue;
        };
        let mut reader = LineReader::new(opened);
        let mut parser = format.parser();
        let mut first = None;
        let budget = if scan.referrers == 0 {
            PRESCAN_LINES
        } else {
            200
        };
        for _ in 0..budget {
            let Ok(Some(line)) = reader.next_line() else {
                break;
            };
            let Ok(hit) = parser.parse(line) else {
                continue;
            };
            first.get_or_insert(hit.ts);
            if !find_site {
                break;
            }
            if budget < PRESCAN_LINES || classifier.exclusion(&hit, false).is_some() {
                continue;
            }
            if let Some(r) = hit.referer()
                && let Some(url) = crate::classify::RefUrl::parse(r)
                && classifier.engines().lookup(&url.host).is_none()
                && !classifier.is_known_network(&url.host, url.path)
            {
                scan.referrers += 1;
                *scan
                    .referrer_hosts
                    .entry(canonical_host(&url.host))
                    .or_default() += 1;
            }
        }
        scan.first_ts.push(first);
    }
    Ok(scan)
}

impl Prescan {
    /// The referrer host behind at least 30% of the referred page views, if any: on a
    /// site's own log that is the site itself (people clicking from page to page).
    pub(super) fn likely_site_host(&self) -> Option<String> {
        let (host, n) = self.referrer_hosts.iter().max_by_key(|(h, n)| (**n, *h))?;
        (*n * 10 >= self.referrers * 3 && *n >= 5).then(|| host.clone())
    }
}

/// Oldest input first, so visits and lookback run forward in time across rotated files.
pub(super) fn order_by_first_time(sources: &mut [Source], first_ts: &[Option<i64>]) {
    let mut keyed: Vec<(Option<i64>, usize, Source)> = sources
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (first_ts[i], i, s))
        .collect();
    keyed.sort_by_key(|(ts, i, _)| (ts.unwrap_or(i64::MAX), *i));
    for (slot, (_, _, s)) in sources.iter_mut().zip(keyed) {
        *slot = s;
    }
}

/// Lines of each input `--log-format auto` looks at.
const DETECT_LINES: usize = 50;

/// `--log-format auto`: the format of the inputs' first lines. Every input that can be
/// read must be in the same one; stdin cannot be read ahead.
pub(super) fn detect_format(sources: &[Source]) -> Result<&'static str> {
    let mut found: Option<(&'static str, String)> = None;
    for source in sources {
        if *source == Source::Stdin {
            return Err(Error::usage(
                "--log-format auto cannot look ahead on stdin: name the format (see --help)",
            ));
        }
        // An input that cannot be read is named by the log pass.
        let Ok(opened) = input::open(source) else {
            continue;
        };
        let mut reader = LineReader::new(opened);
        let mut head: Vec<Vec<u8>> = Vec::new();
        while head.len() < DETECT_LINES {
            match reader.next_line() {
                Ok(Some(line)) => head.push(line.to_vec()),
                _ => break,
            }
        }
        if head.iter().all(|l| l.trim_ascii().is_empty()) {
            continue;
        }
        let lines: Vec<&[u8]> = head.iter().map(Vec::as_slice).collect();
        let Some(format) = crate::parse::detect_format(&lines) else {
            return Err(Error::usage(format!(
                "{}: --log-format auto does not recognise its first lines; name the format ({} or an Apache LogFormat string)",
                source.display(),
                crate::parse::FORMAT_NAMES.join(", ")
            )));
        };
        match &found {
            Some((other, first)) if *other != format => {
                return Err(Error::usage(format!(
                    "--log-format auto: {first} is {other} but {} is {format}; ingest them separately",
                    source.display()
                )));
            }
            Some(_) => {}
            None => found = Some((format, source.display())),
        }
    }
    found.map(|(f, _)| f).ok_or_else(|| {
        Error::usage("--log-format auto: no input has a line to recognise".to_string())
    })
}
