//! Parser and classifier micro-benchmarks (criterion).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keyrank::classify::Classifier;
use keyrank::classify::engines::EngineTable;
use keyrank::classify::keyword::normalize;
use keyrank::parse::{CookieNames, LogFormat};
use std::hint::black_box;

const LINES: &[&str] = &[
    r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#,
    r#"11.0.12.34 - - [04/Mar/2024:10:00:00 +0000] "GET /shoes/red HTTP/1.1" 200 1234 "https://www.google.co.uk/search?q=Red+Shoes&hl=en" "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0""#,
    r#"11.0.12.35 - - [04/Mar/2024:10:00:01 +0000] "GET /sale?utm_source=newsletter&utm_medium=email&utm_term=boots HTTP/1.1" 200 1234 "-" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15""#,
];

fn parse(c: &mut Criterion) {
    let format = LogFormat::from_spec("combined", "", &CookieNames::default()).unwrap();
    let mut parser = format.parser();
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(LINES.len() as u64));
    g.bench_function("combined_line", |b| {
        b.iter(|| {
            for l in LINES {
                black_box(parser.parse(black_box(l.as_bytes())).unwrap().ts);
            }
        })
    });
    g.finish();
}

fn classify(c: &mut Criterion) {
    let classifier = Classifier::new(EngineTable::builtin(), &["semicomplete.com".to_string()]);
    let format = LogFormat::from_spec("combined", "", &CookieNames::default()).unwrap();
    let mut g = c.benchmark_group("classify");
    g.throughput(Throughput::Elements(LINES.len() as u64));
    g.bench_function("exclusion_and_acquisition", |b| {
        let mut parser = format.parser();
        b.iter(|| {
            for l in LINES {
                let hit = parser.parse(l.as_bytes()).unwrap();
                black_box(classifier.exclusion(&hit, false));
                black_box(classifier.acquisition(&hit));
            }
        })
    });
    g.bench_function("engine_lookup", |b| {
        let t = EngineTable::builtin();
        b.iter(|| {
            for h in [
                "www.google.co.uk",
                "search.yahoo.co.jp",
                "forum.example.org",
                "de.search.yahoo.com",
            ] {
                black_box(t.lookup(black_box(h)).is_some());
            }
        })
    });
    g.bench_function("keyword_normalize", |b| {
        b.iter(|| {
            black_box(normalize(black_box(b"Red+Shoes%20for+Men"), None));
            black_box(normalize(
                black_box(b"%D0%BC%D0%BE%D1%81%D0%BA%D0%B2%D0%B0"),
                None,
            ));
        })
    });
    g.finish();
}

criterion_group!(benches, parse, classify);
criterion_main!(benches);
