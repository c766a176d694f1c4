//! End to end on `testdata/`: hand-written lines for each engine family, not-provided,
//! campaigns, a non-search `q=` referral, percent/plus/Latin-1/NFKC terms, crawlers,
//! assets, error statuses and malformed lines.

use crate::common::{ingest, query, root};

#[test]
fn handwritten_log_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let log = root().join("testdata/handwritten.log");
    let s = ingest(&store, &[&log], |c| {
        c.sites = vec!["shop.example".into()];
        c.goals = vec!["/checkout/complete".into()];
        c.min_visitors = 1;
    });
    assert_eq!(s.lines_read, 41);
    assert_eq!(s.malformed, 2);
    assert_eq!(s.problems.len(), 2);
    assert!(
        s.problems[0].ends_with("handwritten.log:12: unterminated quote"),
        "{:?}",
        s.problems
    );
    assert!(
        s.problems[1].ends_with("handwritten.log:23: line ends early"),
        "{:?}",
        s.problems
    );
    assert_eq!(
        (s.crawlers, s.assets, s.error_status, s.other_methods),
        (1, 2, 1, 1)
    );
    assert_eq!(s.visits, 31);
    assert_eq!(s.search_visits, 25);
    assert_eq!(s.not_provided_visits, 5);
    assert_eq!(s.keyword_visits, 20);
    assert_eq!(
        (s.campaign_visits, s.referral_visits, s.direct_visits),
        (3, 2, 1)
    );
    assert_eq!((s.conversions, s.duplicate_orders), (1, 1));

    let rows = query(
        &store,
        "SELECT source, medium, COALESCE(keyword, 'NULL'), COALESCE(campaign, '-'), \
         SUM(visits), SUM(pageviews), SUM(conversions_last), SUM(revenue_last) \
         FROM keyword_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3",
    );
    let mut got: Vec<String> = rows.iter().map(|r| r.join("|")).collect();
    got.sort();
    let want = [
        "(direct)|(none)|NULL|-|1|2|0.000000|0.00",
        "360 search|organic|鞋|-|1|1|0.000000|0.00",
        "aol|organic|red shoes|-|1|1|0.000000|0.00",
        "ask|organic|red shoes|-|1|1|0.000000|0.00",
        "baidu|organic|礼物|-|2|2|0.000000|0.00",
        "bing|cpc|hiking boots|-|1|1|0.000000|0.00",
        "bing|organic|(not provided)|-|1|1|0.000000|0.00",
        "bing|organic|leather boots|-|1|1|0.000000|0.00",
        "daum|organic|신발|-|1|1|0.000000|0.00",
        "duckduckgo|organic|(not provided)|-|1|1|0.000000|0.00",
        "ecosia|organic|tree shoes|-|1|1|0.000000|0.00",
        "forum.example.org|referral|NULL|-|1|1|0.000000|0.00",
        "google.com.evil.example|referral|NULL|-|1|1|0.000000|0.00",
        "google|cpc|(not provided)|-|1|1|0.000000|0.00",
        "google|organic|(not provided)|-|3|3|0.000000|0.00",
        "google|organic|café crème|-|1|1|0.000000|0.00",
        "google|organic|red shoes|-|3|5|1.000000|59.90",
        "naver|organic|신발|-|1|1|0.000000|0.00",
        "newsletter|email|red shoes|spring|1|1|0.000000|0.00",
        "qwant|organic|chaussures rouges|-|1|1|0.000000|0.00",
        "seznam|organic|boty|-|1|1|0.000000|0.00",
        "sogou|organic|shoes|-|1|1|0.000000|0.00",
        "startpage|organic|red shoes|-|1|1|0.000000|0.00",
        "yahoo japan|organic|靴|-|1|1|0.000000|0.00",
        "yahoo|organic|wanderschuhe|-|1|1|0.000000|0.00",
        "yandex|organic|подарки|-|1|1|0.000000|0.00",
    ];
    let mut want = want.to_vec();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn json_lines_with_field_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let log = root().join("testdata/json.log");
    let s = ingest(&store, &[&log], |c| {
        c.log_format = "json".into();
        c.min_visitors = 1;
    });
    assert_eq!((s.lines_read, s.parsed, s.malformed), (4, 2, 2));
    assert!(
        s.problems[0].ends_with("json.log:3: bad time"),
        "{:?}",
        s.problems
    );
    assert!(
        s.problems[1].ends_with("json.log:4: invalid JSON"),
        "{:?}",
        s.problems
    );
    let rows = query(
        &store,
        "SELECT source, medium, keyword, SUM(visits) FROM keyword_daily GROUP BY 1, 2, 3 ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            vec!["google", "organic", "json boots", "1"],
            vec!["news", "email", "json sale", "1"],
        ]
    );
}

#[test]
fn visitor_cookie_joins_hits_across_ips_and_segments_members() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let log = root().join("testdata/cookies.log");
    let s = ingest(&store, &[&log], |c| {
        c.log_format =
            r#"%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i" "%{Cookie}i""#.into();
        c.visitor_cookie = Some("vid".into());
        c.min_visitors = 1;
        c.sites = vec!["shop.example".into()];
        c.goals = vec!["/checkout/complete".into()];
    });
    // bbb222's two bing hits are one visit; the checkout 2h later is a new direct visit.
    assert_eq!(s.visits, 3);
    let rows = query(
        &store,
        "SELECT source, medium, keyword, segment, SUM(visits), SUM(conversions_first), SUM(revenue_first) \
         FROM keyword_daily GROUP BY 1, 2, 3, 4 ORDER BY 1, 2",
    );
    assert_eq!(
        rows,
        vec![
            vec![
                "(direct)",
                "(none)",
                "NULL",
                "anonymous",
                "1",
                "0.000000",
                "0.00"
            ],
            vec![
                "bing",
                "organic",
                "wool socks",
                "anonymous",
                "1",
                "1.000000",
                "120.00"
            ],
            vec![
                "google",
                "cpc",
                "winter boots",
                "member",
                "1",
                "0.000000",
                "0.00"
            ],
        ]
    );
}

#[test]
fn compressed_inputs_and_globs_read_like_plain_files() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(root().join("testdata/handwritten.log")).unwrap();
    let (head, tail) = text.split_at(text.len() / 2);
    let cut = head.len() + tail.iter().position(|&b| b == b'\n').unwrap() + 1;
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(logs.join("access.log.1.gz")).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(&text[..cut]).unwrap();
    gz.finish().unwrap();
    std::fs::write(
        logs.join("access.log.zst"),
        zstd::encode_all(&text[cut..], 3).unwrap(),
    )
    .unwrap();
    let cfg = |c: &mut keyrank::ingest::IngestConfig| {
        c.sites = vec!["shop.example".into()];
        c.goals = vec!["/checkout/complete".into()];
    };
    let a = ingest(
        &dir.path().join("a"),
        &[&root().join("testdata/handwritten.log")],
        cfg,
    );
    let b = ingest(&dir.path().join("b"), &[&logs.join("access.log*")], cfg);
    assert_eq!(
        (a.lines_read, a.visits, a.conversions),
        (b.lines_read, b.visits, b.conversions)
    );
    let sql = "SELECT source, keyword, SUM(visits) FROM keyword_daily GROUP BY 1, 2 ORDER BY 1, 2";
    assert_eq!(
        query(&dir.path().join("a"), sql),
        query(&dir.path().join("b"), sql)
    );
}
