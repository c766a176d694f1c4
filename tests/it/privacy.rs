//! Byte scan: no IP address, user agent, user name or cookie value from the input
//! appears in any file keyrank writes under the store.

use crate::common::{files_under, ingest, root};
use keyrank::generate::{GOAL, GenerateConfig, LOG_FILE, SITE, generate};

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
