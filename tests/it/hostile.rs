//! The hostile-input catalogue, generated here rather than committed as blobs: bad
//! bytes, impossible times, oversized lines, damaged and explosive archives, absurd
//! amounts. Each defect is counted exactly, nothing panics, the store stays queryable
//! and nothing planted reaches the store or the terminal.

use crate::common::{files_under, ingest, query};
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

const SITE: &str = "shop.example";

/// A combined-format line of `ip` at `time` (CLF) on `path`, from a Google search.
fn line(ip: &str, time: &str, path: &str, term: &str) -> String {
    format!(
        "{ip} - - [{time}] \"GET {path} HTTP/1.1\" 200 512 \"https://www.google.com/search?q={term}\" \"Mozilla/5.0 (X11; Linux x86_64)\"\n"
    )
}

/// `n` good lines: distinct visitors searching for the same shoes.
fn good_lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            let time = format!("10/Mar/2024:12:{:02}:{:02} +0000", i / 60, i % 60);
            line(
                &format!("10.1.{}.{}", i / 250, i % 250),
                &time,
                "/shoes",
                "red+shoes",
            )
        })
        .collect()
}

fn keyrank(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keyrank"))
        .args(args)
        .output()
        .expect("keyrank runs")
}

/// Never a panic, whatever the exit code.
fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "exit 101: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn each_hostile_line_is_one_malformed_line_and_the_rest_count() {
    let dir = tempfile::tempdir().unwrap();
    let good = 40;
    let mut text = good_lines(good).into_bytes();
    // Good too: a CRLF ending, a user agent with invalid UTF-8 and a NUL byte.
    text.extend_from_slice(
        line("10.9.0.1", "10/Mar/2024:13:00:00 +0000", "/boots", "boots")
            .replace('\n', "\r\n")
            .as_bytes(),
    );
    text.extend_from_slice(
        b"10.9.0.2 - - [10/Mar/2024:13:00:01 +0000] \"GET /boots HTTP/1.1\" 200 5 \"-\" \"Moz\xff\xfe\0illa\"\n",
    );
    let good = good + 2;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
    let random_line = |rng: &mut rand_chacha::ChaCha8Rng| -> Vec<u8> {
        (0..rng.random_range(10..400))
            .map(|_| rng.random::<u8>())
            .filter(|&b| b != b'\n')
            .collect()
    };
    let mut hostile: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\0\0\0\0\0\0".to_vec(),
        b"\0keyrank:overlong".to_vec(),
        vec![b'a'; 1 << 20],
        b"\xc3\x28\xa0\xa1 not even a log line".to_vec(),
    ];
    for _ in 0..8 {
        hostile.push(random_line(&mut rng));
    }
    for time in [
        "01/Jan/0001:00:00:00 +0000",
        "01/Jan/1970:00:00:00 +0000",
        "31/Dec/9999:23:59:59 +0000",
        "31/Feb/2024:12:00:00 +0000",
        "30/Feb/2024:12:00:00 +0000",
        "29/Feb/2023:12:00:00 +0000",
        "10/Mar/2024:12:00:60 +0000",
        "10/Mar/2024:24:00:00 +0000",
        "10/Mar/2024:12:00:00 +9959",
        "10/Mar/2024:12:00:00 +1900",
        "10/Mar/2024:12:00:00 +0560",
        "10/Mar/2024:12:00:00 0000",
        "10/Mar/99999:12:00:00 +0000",
    ] {
        hostile.push(
            line("10.8.0.1", time, "/shoes", "red+shoes")
                .trim_end()
                .into(),
        );
    }
    let first_bad = text.iter().filter(|&&b| b == b'\n').count() + 1;
    for h in &hostile {
        text.extend_from_slice(h);
        text.push(b'\n');
    }
    let log = dir.path().join("hostile.log");
    std::fs::write(&log, &text).unwrap();
    let store = dir.path().join("store");
    let summary = ingest(&store, &[&log], |c| c.sites = vec![SITE.into()]);
    assert_eq!(
        summary.malformed,
        hostile.len() as u64,
        "{:?}",
        summary.problems
    );
    assert_eq!(summary.lines_read, (good + hostile.len()) as u64);
    assert_eq!(summary.page_views, good as u64);
    // Problems name the file and line, never the content.
    assert_eq!(
        summary.problems[0],
        format!("{}:{first_bad}: empty line", log.display())
    );
    for p in &summary.problems {
        assert!(!p.contains("Mozilla") && !p.contains("10.8.0.1"), "{p}");
    }
    assert_eq!(
        query(&store, "SELECT SUM(visits) FROM keyword_daily"),
        [[good.to_string()]]
    );
}

#[test]
fn epochs_in_any_unit_are_the_same_instant_and_absurd_ones_are_malformed() {
    let dir = tempfile::tempdir().unwrap();
    let json = |i: usize, time: &str| {
        format!(
            "{{\"remote_addr\":\"192.0.2.{i}\",\"time\":{time},\"request\":\"GET /boots HTTP/1.1\",\"status\":200,\"http_referer\":\"https://www.bing.com/search?q=epoch+boots\",\"http_user_agent\":\"Mozilla/5.0\"}}\n"
        )
    };
    // 2024-03-10 12:00:00 UTC in s, ms, µs, ns, and fractional seconds.
    let good = [
        "1710072000",
        "1710072000000",
        "1710072000000000",
        "1710072000000000000",
        "1710072000.25",
        "\"1710072000000\"",
    ];
    let bad = [
        "-5",
        "1e300",
        "0",
        "\"NaN\"",
        "99999999999999999999999",
        "null",
    ];
    let mut text = String::new();
    for (i, t) in good.iter().chain(&bad).enumerate() {
        text.push_str(&json(i + 1, t));
    }
    let log = dir.path().join("epochs.jsonl");
    std::fs::write(&log, text).unwrap();
    let store = dir.path().join("store");
    let summary = ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.log_format = "json".into();
        c.min_visitors = 1;
    });
    assert_eq!(
        summary.malformed,
        bad.len() as u64,
        "{:?}",
        summary.problems
    );
    assert_eq!(summary.page_views, good.len() as u64);
    assert_eq!(
        query(
            &store,
            "SELECT CAST(day AS VARCHAR), SUM(visits) FROM keyword_daily GROUP BY day"
        ),
        [["2024-03-10".to_string(), good.len().to_string()]]
    );
}

#[test]
fn money_past_the_range_is_a_bad_value_and_sums_never_wrap() {
    let dir = tempfile::tempdir().unwrap();
    let goal = |i: usize, revenue: &str| {
        let time = format!("10/Mar/2024:14:{:02}:{:02} +0000", i / 60, i % 60);
        line(
            &format!("10.2.{}.{}", i / 250, i % 250),
            &time,
            &format!("/checkout/done?order_id=o{i}&revenue={revenue}"),
            "big+spender",
        )
    };
    let mut text = String::new();
    // 200 of the largest amount accepted, summed exactly; 200 past it, each a bad value.
    for i in 0..200 {
        text.push_str(&goal(i, "9999999999.99"));
    }
    let bad = [
        "999999999999999.99",
        "-5",
        "NaN",
        "inf",
        "1e400",
        "12.345",
        "18446744073709551616",
    ];
    for i in 0..200 {
        text.push_str(&goal(1000 + i, bad[i % bad.len()]));
    }
    let log = dir.path().join("money.log");
    std::fs::write(&log, text).unwrap();
    let store = dir.path().join("store");
    let summary = ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec!["/checkout/done".into()];
    });
    assert_eq!(summary.bad_revenue, 200);
    assert_eq!(
        summary.conversions, 400,
        "a bad amount still counts the sale"
    );
    assert_eq!(
        query(
            &store,
            "SELECT CAST(SUM(revenue_last) AS VARCHAR) FROM keyword_daily"
        ),
        [["1999999999998.00".to_string()]]
    );
}

#[test]
fn purchase_amounts_that_are_not_money_are_bad_rows() {
    let dir = tempfile::tempdir().unwrap();
    let amounts = [
        ("12.50", true),
        ("9999999999.99", true),
        ("-3.00", false),
        ("NaN", false),
        ("inf", false),
        ("1e9", false),
        ("99999999999", false),
        ("", false),
    ];
    let mut csv = String::from("timestamp,order_id,revenue,currency,keyword\n");
    for (i, (amount, _)) in amounts.iter().enumerate() {
        csv.push_str(&format!(
            "2024-03-10T10:{i:02}:00Z,o-{i},{amount},EUR,boots\n"
        ));
    }
    // A Latin-1 byte and a currency that is an e-mail address: one bad row each.
    let mut bytes = csv.into_bytes();
    bytes.extend_from_slice(b"2024-03-10T11:00:00Z,o-l1,5.00,EUR,caf\xe9\n");
    bytes.extend_from_slice(b"2024-03-10T11:01:00Z,o-l2,5.00,ALICE.SMITH@EXAMPLE.COM,boots\n");
    let purchases = dir.path().join("orders.csv");
    std::fs::write(&purchases, &bytes).unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, good_lines(5)).unwrap();
    let store = dir.path().join("store");
    let summary = ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.purchases = vec![keyrank::ingest::purchases::PurchaseSource {
            path: purchases.clone(),
            format: keyrank::ingest::purchases::PurchaseFormat::Csv,
        }];
        c.min_visitors = 1;
    });
    let fine = amounts.iter().filter(|(_, ok)| *ok).count() as u64;
    assert_eq!(summary.purchase_conversions, fine, "{:?}", summary.problems);
    assert_eq!(summary.bad_purchases, amounts.len() as u64 - fine + 2);
    assert_eq!(summary.reporting_currency.as_deref(), Some("EUR"));
    for p in &summary.problems {
        assert!(!p.to_lowercase().contains("alice"), "{p}");
    }
}

/// A child's output and its own peak resident memory (`wait4`'s rusage of exactly that
/// child, so tests running beside it do not count). `wait4` reaps the child, so std's
/// `wait` is not called.
#[allow(clippy::zombie_processes)]
fn run_measured(args: &[&str]) -> (Output, u64) {
    use std::io::Read;
    use std::os::unix::process::ExitStatusExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyrank"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Drain both pipes while the child runs, so it never blocks on a full one.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).map(|_| v)
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).map(|_| v)
    });
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for the child we spawned.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(reaped, child.id() as libc::pid_t, "wait4");
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: out_reader.join().unwrap().unwrap(),
        stderr: err_reader.join().unwrap().unwrap(),
    };
    (output, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn damaged_empty_random_and_explosive_files_are_named_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let good = good_lines(30);
    std::fs::write(p("good.log"), &good).unwrap();
    std::fs::write(p("empty.log"), b"").unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let random: Vec<u8> = (0..5 << 20).map(|_| rng.random()).collect();
    std::fs::write(p("random.log"), &random).unwrap();
    // Truncated archives, as logrotate leaves them while it still compresses.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(good.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(p("cut.log.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
    let zst = zstd::encode_all(good.as_bytes(), 3).unwrap();
    std::fs::write(p("cut.log.zst"), &zst[..zst.len() / 2]).unwrap();
    // A gzip bomb: 100 MiB of zeros without a newline, from about 100 KiB.
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    member.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = member.finish().unwrap();
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 100)
        .collect();
    std::fs::write(p("bomb.log.gz"), &bomb).unwrap();

    let store = p("store");
    let store_arg = store.to_str().unwrap();
    let base = ["ingest", "--store", store_arg, "--site", SITE];
    let with = |files: &[&str]| -> Vec<String> {
        base.iter()
            .map(|s| s.to_string())
            .chain(files.iter().map(|f| p(f).display().to_string()))
            .collect()
    };
    let (small, small_peak) = run_measured(
        &with(&["good.log"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    assert_no_panic(&small);
    assert!(small.status.success());
    let files = [
        "empty.log",
        "random.log",
        "cut.log.gz",
        "cut.log.zst",
        "bomb.log.gz",
        "good.log",
    ];
    let args = with(&files);
    let (out, peak) = run_measured(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_no_panic(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for damaged in ["cut.log.gz", "cut.log.zst"] {
        assert!(stderr.contains(damaged), "{damaged} not named: {stderr}");
    }
    assert!(
        small_peak > 1 << 20 && peak >= small_peak,
        "{small_peak} {peak}"
    );
    // One 100 MiB line costs a bounded amount: two read blocks plus 64 MiB.
    let bound = 2 * (1 << 20) + (64 << 20);
    assert!(
        peak.saturating_sub(small_peak) <= bound,
        "peak {} MiB against {} MiB for a small run",
        peak >> 20,
        small_peak >> 20
    );
    // The store is whole and queryable, and holds what the good lines say.
    let q = keyrank(&[
        "sql",
        "--store",
        store_arg,
        "SELECT SUM(visits) FROM keyword_daily",
    ]);
    assert_no_panic(&q);
    assert!(q.status.success());

    // --strict stops before writing: the store is as it was.
    let before = files_under(&store);
    let mut strict = with(&files);
    strict.push("--strict".into());
    let out = keyrank(&strict.iter().map(String::as_str).collect::<Vec<_>>());
    assert_no_panic(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(files_under(&store), before);
}

#[test]
fn a_landing_path_of_one_visitor_and_planted_identifiers_never_leave() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = good_lines(30);
    let planted = [
        ("203.0.113.91", "/account/jane.doe%40example.com/orders"),
        ("203.0.113.92", "/account/private-name-zz/orders"),
    ];
    for (i, (ip, path)) in planted.iter().enumerate() {
        text.push_str(
            &line(
                ip,
                &format!("10/Mar/2024:15:00:0{i} +0000"),
                path,
                "red+shoes",
            )
            .replace("Mozilla/5.0 (X11; Linux x86_64)", "PlantedAgent/9.9"),
        );
    }
    let inputs = dir.path().join("inputs-of-jane");
    std::fs::create_dir(&inputs).unwrap();
    let log = inputs.join("access.log");
    std::fs::write(&log, text).unwrap();
    let store = dir.path().join("store");
    let out = keyrank(&[
        "ingest",
        "--store",
        store.to_str().unwrap(),
        "--site",
        SITE,
        log.to_str().unwrap(),
    ]);
    assert_no_panic(&out);
    assert!(out.status.success());
    let landings = query(
        &store,
        "SELECT DISTINCT landing FROM keyword_daily ORDER BY landing",
    );
    assert_eq!(
        landings,
        [["(other)".to_string()], ["/shoes".to_string()]],
        "paths of one visitor fold"
    );
    let printed = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    let needles = [
        "203.0.113.91",
        "PlantedAgent",
        "jane.doe",
        "private-name-zz",
    ];
    for n in needles {
        assert!(!printed.contains(n), "{n} printed");
    }
    // The store also never keeps where the inputs were read from (only file names).
    let folder = inputs.display().to_string();
    for f in files_under(&store) {
        let hay = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for n in needles.iter().chain([&folder.as_str()]) {
            assert!(!hay.contains(n), "{n} reached {}", f.display());
        }
    }
}

#[test]
fn a_directory_a_glob_matches_is_named_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("logs.d.log")).unwrap();
    std::fs::write(dir.path().join("a.log"), good_lines(10)).unwrap();
    let store = dir.path().join("store");
    let glob = format!("{}/*.log", dir.path().display());
    let out = keyrank(&[
        "ingest",
        "--store",
        store.to_str().unwrap(),
        "--site",
        SITE,
        &glob,
    ]);
    assert_no_panic(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("logs.d.log"), "{stderr}");
    assert!(Path::new(&store).join("keyword_daily").is_dir());
}
