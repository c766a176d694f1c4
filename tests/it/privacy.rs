//! Byte scan: no IP address, user agent, user name or cookie value from the input
//! appears in any file keyrank writes under the store.

use crate::common::{files_under, ingest, root};
use keyrank::generate::{
    GOAL, GenerateConfig, LOG_FILE, PURCHASES_FILE, SITE, VID_LOG_FILE, VID_LOG_FORMAT, generate,
};

fn assert_absent(store: &std::path::Path, needles: &[String]) {
    let files = files_under(store);
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "parquet"))
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for n in needles {
            assert!(
                memchr::memmem::find(&bytes, n.as_bytes()).is_none(),
                "{} contains {n:?}",
                f.display()
            );
        }
    }
}

#[test]
fn store_holds_no_ip_user_agent_or_cookie() {
    let dir = tempfile::tempdir().unwrap();
    generate(
        &GenerateConfig {
            visitors: 1_000,
            ..GenerateConfig::default()
        },
        dir.path(),
    )
    .unwrap();
    let log = dir.path().join(LOG_FILE);
    let store = dir.path().join("store");
    ingest(&store, &[&log], |c| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
    });
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    let mut needles: Vec<String> = text
        .lines()
        .filter_map(|l| l.split(' ').next())
        .filter(|ip| ip.split('.').count() == 4)
        .map(str::to_string)
        .collect();
    needles.sort();
    needles.dedup();
    assert!(needles.len() > 500);
    needles.extend(["Mozilla/5.0", "Googlebot", "Gecko", "iPhone"].map(String::from));
    assert_absent(&store, &needles);
    // No temp files are left behind.
    assert!(!store.join(".tmp").exists());
}

#[test]
fn cookies_and_user_names_never_reach_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    ingest(&store, &[&root().join("testdata/cookies.log")], |c| {
        c.log_format =
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{Cookie}i""#.into();
        c.visitor_cookie = Some("vid".into());
        c.goals = vec!["/checkout/complete".into()];
    });
    let needles: Vec<String> = [
        "203.0.113.10",
        "203.0.113.11",
        "203.0.113.12",
        "203.0.113.13",
        "alice",
        "visitor-cookie-aaa111",
        "visitor-cookie-bbb222",
        "sess-zzz999",
        "unique-ua-alpha",
        "unique-ua-beta",
        "unique-ua-gamma",
        "KeyrankTestAgent",
        "ORD-77",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_absent(&store, &needles);
}

/// Personal data planted in search terms, cookies and purchases never reaches any file
/// under the store (including the temp folder of a run killed midway) nor anything
/// keyrank prints.
#[test]
fn planted_personal_data_never_reaches_disk_or_output() {
    use std::process::Command;
    let bin = env!("CARGO_BIN_EXE_keyrank");
    let dir = tempfile::tempdir().unwrap();
    crate::common::generated(dir.path(), 20_000, 3);
    let secrets = [
        (
            "203.0.113.77",
            "Mozilla/5.0 PlantedAgent-One",
            "vid=cookie-secret-111",
            "john.doe%40example.com",
        ),
        (
            "203.0.113.78",
            "Mozilla/5.0 PlantedAgent-Two",
            "vid=cookie-secret-222",
            "call+me+555-123-4567",
        ),
        (
            "203.0.113.79",
            "Mozilla/5.0 PlantedAgent-Three",
            "vid=cookie-secret-333",
            "card+4111+1111+1111+1111",
        ),
        (
            "203.0.113.80",
            "Mozilla/5.0 PlantedAgent-Four",
            "vid=cookie-secret-444",
            "my+ip+is+198.51.100.200",
        ),
    ];
    let mut log = std::fs::read(dir.path().join(VID_LOG_FILE)).unwrap();
    for (i, (ip, ua, cookie, term)) in secrets.iter().enumerate() {
        for k in 0..3 {
            log.extend_from_slice(
                format!(
                    "{ip} - - [10/Mar/2024:1{i}:0{k}:00 +0000] \"GET /shoes/red HTTP/1.1\" 200 10 \"https://www.google.com/search?q={term}\" \"{ua}\" \"{cookie}\"\n"
                )
                .as_bytes(),
            );
        }
    }
    let log_path = dir.path().join("planted.log");
    std::fs::write(&log_path, &log).unwrap();
    let mut purchases = std::fs::read_to_string(dir.path().join(PURCHASES_FILE)).unwrap();
    purchases.push_str("2024-03-10T12:00:00Z,SECRET-ORDER-9,10.00,EUR,cookie-secret-111\n");
    let p_path = dir.path().join("planted_purchases.csv");
    std::fs::write(&p_path, purchases).unwrap();
    let store = dir.path().join("store");
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = vec![
            "ingest".into(),
            "--store".into(),
            store.display().to_string(),
            "--log-format".into(),
            VID_LOG_FORMAT.into(),
            "--visitor-cookie".into(),
            "vid".into(),
            "--purchases".into(),
            p_path.display().to_string(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push(log_path.display().to_string());
        a
    };

    // A run killed midway leaves at most aggregates behind, and the next run cleans up.
    let mut child = Command::new(bin)
        .args(args(&[]))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !store.join(".tmp").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();

    let out = Command::new(bin).args(args(&[])).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut printed = out.stdout.clone();
    printed.extend_from_slice(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("keyrank ingest summary"));
    let sql = Command::new(bin)
        .args([
            "sql",
            "--store",
            &store.display().to_string(),
            "SELECT keyword, source, landing, SUM(visits) FROM keyword_daily GROUP BY 1, 2, 3",
        ])
        .output()
        .unwrap();
    assert!(sql.status.success());
    printed.extend_from_slice(&sql.stdout);
    let redacted = String::from_utf8_lossy(&sql.stdout).contains("(redacted)");
    assert!(redacted, "planted terms should show as (redacted)");

    let mut needles: Vec<String> = Vec::new();
    for (ip, ua, cookie, _) in &secrets {
        needles.push(ip.to_string());
        needles.push(ua.to_string());
        needles.push(cookie.trim_start_matches("vid=").to_string());
    }
    needles.extend(
        [
            "john.doe@example.com",
            "555-123-4567",
            "4111 1111 1111 1111",
            "198.51.100.200",
            "SECRET-ORDER-9",
            "PlantedAgent",
        ]
        .map(String::from),
    );
    // A sample of the generated visitors' addresses and cookies too.
    let text = String::from_utf8_lossy(&log).into_owned();
    for line in text.lines().step_by(97).take(300) {
        if let Some(ip) = line.split(' ').next() {
            needles.push(ip.to_string());
        }
        if let Some(c) = line.rsplit("\"vid=").next() {
            needles.push(c.trim_end_matches('"').to_string());
        }
    }
    needles.retain(|n| n.len() >= 7);
    assert_absent(&store, &needles);
    // The differentially private release passes the same scan.
    let dp_store = dir.path().join("store-dp");
    let mut dp_args = args(&["--epsilon", "1"]);
    dp_args[2] = dp_store.display().to_string();
    let out = Command::new(bin).args(&dp_args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    printed.extend_from_slice(&out.stdout);
    printed.extend_from_slice(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stderr).contains("differential privacy  ε = 1"));
    assert_absent(&dp_store, &needles);
    assert!(!dp_store.join(".tmp").exists(), "temp folder left behind");
    for n in &needles {
        assert!(
            memchr::memmem::find(&printed, n.as_bytes()).is_none(),
            "printed output contains {n:?}"
        );
    }
    assert!(!store.join(".tmp").exists(), "temp folder left behind");
}

/// Conversions (last touch) per keyword over the whole store.
fn conversions_by_keyword(store: &std::path::Path) -> std::collections::BTreeMap<String, f64> {
    crate::common::query(
        store,
        "SELECT keyword, SUM(conversions_last) FROM keyword_daily \
         WHERE keyword IS NOT NULL GROUP BY keyword",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse::<f64>().unwrap()))
    .collect()
}

#[test]
fn differential_privacy_bounds_selects_and_records_epsilon() {
    let dir = tempfile::tempdir().unwrap();
    crate::common::generated(dir.path(), 30_000, 11);
    let log = dir.path().join(LOG_FILE);
    // Rare terms: each typed by one visitor.
    let mut text = std::fs::read(&log).unwrap();
    for i in 0..10 {
        text.extend_from_slice(format!(
            "198.51.100.{i} - - [10/Mar/2024:12:00:00 +0000] \"GET /shoes/red HTTP/1.1\" 200 10 \"https://www.bing.com/search?q=rare+planted+term+{i}\" \"Mozilla/5.0 Rare\"\n"
        ).as_bytes());
    }
    std::fs::write(&log, text).unwrap();
    let exact = dir.path().join("exact");
    let private = dir.path().join("private");
    let base = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec![SITE.into()];
        c.goals = vec![GOAL.into()];
        c.min_visitors = 1;
    };
    ingest(&exact, &[&log], base);
    let summary = ingest(&private, &[&log], |c| {
        base(c);
        c.dp = Some(keyrank::privacy::dp::DpParams {
            epsilon: 1.0,
            ..Default::default()
        });
    });
    let dp = summary.dp.expect("a DP report");
    assert_eq!(dp.epsilon, 1.0);
    assert!(dp.partitions_released > 0);

    // Landing pages and segments are not released; counts are never negative.
    let rows = crate::common::query(
        &private,
        "SELECT COUNT(*), SUM(CASE WHEN landing = '(all)' AND segment = 'all' THEN 1 ELSE 0 END), \
         MIN(visits), MIN(conversions_last) FROM keyword_daily",
    );
    assert_eq!(rows[0][0], rows[0][1]);
    assert!(rows[0][2].parse::<i64>().unwrap() >= 0);
    // No visitor sketches either: they would count visitors beside the noisy counts.
    let sketches =
        crate::common::query(&private, "SELECT COUNT(visitor_sketch) FROM keyword_daily");
    assert_eq!(sketches, vec![vec!["0".to_string()]]);
    assert!(rows[0][3].parse::<f64>().unwrap() >= 0.0);

    // Only keywords many visitors share are released: none of those seen by one
    // visitor in the whole run appear.
    let singletons = crate::common::query(
        &exact,
        "SELECT keyword FROM keyword_daily WHERE keyword IS NOT NULL \
         GROUP BY keyword HAVING SUM(visitors) = 1",
    );
    assert!(
        singletons.len() >= 10,
        "the planted rare keywords are in the exact store"
    );
    let released = conversions_by_keyword(&private);
    for r in &singletons {
        assert!(
            !released.contains_key(&r[0]),
            "rare keyword {} released",
            r[0]
        );
    }

    // The top keywords survive, with noisy conversions near the exact ones.
    let truth = conversions_by_keyword(&exact);
    let mut top: Vec<(&String, &f64)> = truth
        .iter()
        .filter(|(k, _)| !keyrank::privacy::is_pseudo_keyword(k))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(a.1));
    let top: Vec<_> = top.into_iter().take(20).collect();
    let errors: Vec<f64> = top
        .iter()
        .map(|(k, v)| (released.get(*k).copied().unwrap_or(0.0) - **v).abs())
        .collect();
    let mean_error = errors.iter().sum::<f64>() / errors.len() as f64;
    let mean_true = top.iter().map(|(_, v)| **v).sum::<f64>() / top.len() as f64;
    eprintln!(
        "DP ε=1: top-20 mean conversions {mean_true:.1}, mean absolute error {mean_error:.1}"
    );
    assert!(
        released.contains_key(top[0].0),
        "the most converting keyword is released"
    );
    assert_ne!(released.get(top[0].0), Some(top[0].1), "a release is noisy");

    // The ledger records ε and no exact counts.
    let ledger = crate::common::query(&private, "SELECT epsilon, visits FROM ingest_runs");
    assert_eq!(ledger, vec![vec!["1.0".to_string(), "NULL".to_string()]]);
    let ledger = crate::common::query(&exact, "SELECT epsilon FROM ingest_runs");
    assert_eq!(ledger, vec![vec!["NULL".to_string()]]);
}
