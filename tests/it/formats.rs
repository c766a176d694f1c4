//! Log formats beyond Apache and JSON lines: sample lines written from each format's
//! public documentation parse with 0 malformed lines under the named format and under
//! `auto`, and the search term (or, for ALB, the campaign term) is found.

use crate::common::{ingest, query};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";

/// (format, file name, content, the (source, medium) the term comes from).
fn samples() -> Vec<(&'static str, &'static str, String, &'static str)> {
    let iis_ua = UA.replace(' ', "+");
    let cf_ua = UA.replace(' ', "%20");
    vec![
        (
            "w3c",
            "u_ex240312.log",
            format!(
                "#Software: Microsoft Internet Information Services 10.0\r\n\
                 #Version: 1.0\r\n\
                 #Date: 2024-03-12 00:00:02\r\n\
                 #Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n\
                 2024-03-12 14:05:09 10.0.0.5 GET /products/red-shoes - 443 - 203.0.113.7 {iis_ua} https://www.bing.com/search?q=red+shoes&form=QBLH 200 0 0 187\r\n\
                 2024-03-12 14:05:10 10.0.0.5 GET /styles/site.css - 443 - 203.0.113.7 {iis_ua} https://shop.example/products/red-shoes 200 0 0 3\r\n\
                 #Software: Microsoft Internet Information Services 10.0\r\n\
                 #Fields: date time c-ip cs-method cs-uri-stem cs-uri-query sc-status cs(Referer) cs(User-Agent) cs-host\r\n\
                 2024-03-12 15:00:00 203.0.113.9 GET /products/red-shoes - 200 https://www.bing.com/search?q=red+shoes {iis_ua} shop.example\r\n"
            ),
            "bing|organic",
        ),
        (
            "cloudfront",
            "E2ABC.2024-03-12-14.log",
            format!(
                "#Version: 1.0\n\
                 #Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end\n\
                 2024-03-12\t14:05:09\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/products/red-shoes\t200\thttps://www.google.com/search?q=red%2520shoes\t{cf_ua}\t-\t-\tHit\tSOX4xwn4XV6Q==\tshop.example\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\t11040\t0.001\tHit\ttext/html\t78\t-\t-\n\
                 2024-03-12\t14:06:00\tSEA19-C1\t900\t192.0.2.200\tGET\td111111abcdef8.cloudfront.net\t/index.html\t200\thttps://www.google.com/search?q=red%2Bshoes\t{cf_ua}\tutm_x=1\t-\tMiss\t1pkpNfBQ==\tshop.example\thttp\t675\t0.102\t-\t-\t-\tMiss\tHTTP/1.1\t-\t-\t25260\t0.102\tMiss\ttext/html\t507\t-\t-\t\n"
            ),
            "google|organic",
        ),
        (
            "alb",
            "alb.log",
            format!(
                "https 2024-03-12T14:05:09.186641Z app/my-loadbalancer/50dc6c495c0c9188 192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 \"GET https://shop.example:443/products/red-shoes?utm_source=google&utm_medium=cpc&utm_term=red+shoes HTTP/1.1\" \"{UA}\" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 \"Root=1-58337281-1d84f3d73c47ec4e58577259\" \"shop.example\" \"arn:aws:acm:us-east-2:123456789012:certificate/12345678\" 1 2024-03-12T14:05:08.364000Z \"forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \"-\" \"-\" TID_dc57cebed65b444ebc8177bb698fe166 \"-\" \"-\" \"-\"\n"
            ),
            "google|cpc",
        ),
        (
            "caddy",
            "caddy.json",
            format!(
                "{{\"level\":\"info\",\"ts\":1710252309.5123,\"logger\":\"http.log.access.log0\",\"msg\":\"handled request\",\"request\":{{\"remote_ip\":\"172.18.0.9\",\"remote_port\":\"47644\",\"client_ip\":\"203.0.113.7\",\"proto\":\"HTTP/2.0\",\"method\":\"GET\",\"host\":\"shop.example\",\"uri\":\"/products/red-shoes\",\"headers\":{{\"User-Agent\":[\"{UA}\"],\"Referer\":[\"https://www.bing.com/search?q=red+shoes\"],\"Cookie\":[\"REDACTED\"]}}}},\"bytes_read\":0,\"user_id\":\"\",\"duration\":0.0123,\"size\":5457,\"status\":200,\"resp_headers\":{{\"Server\":[\"Caddy\"]}}}}\n"
            ),
            "bing|organic",
        ),
        (
            "traefik",
            "traefik.log",
            format!(
                "203.0.113.7 - - [12/Mar/2024:14:05:09 +0000] \"GET /products/red-shoes HTTP/2.0\" 200 659 \"https://duckduckgo.com/?q=red+shoes\" \"{UA}\" 116 \"shop@docker\" \"http://10.0.0.3:8080\" 1ms\n\
                 203.0.113.8 - - [12/Mar/2024:14:05:10 +0000] \"GET /robots.txt HTTP/1.1\" 404 19 \"-\" \"-\" 117 \"shop@docker\" \"http://10.0.0.3:8080\" 0ms\n"
            ),
            "duckduckgo|organic",
        ),
        (
            "traefik-json",
            "traefik.json",
            format!(
                "{{\"ClientAddr\":\"203.0.113.7:41234\",\"ClientHost\":\"203.0.113.7\",\"ClientPort\":\"41234\",\"ClientUsername\":\"-\",\"DownstreamContentSize\":5457,\"DownstreamStatus\":200,\"Duration\":12500000,\"OriginStatus\":200,\"RequestAddr\":\"shop.example\",\"RequestCount\":37950,\"RequestHost\":\"shop.example\",\"RequestMethod\":\"GET\",\"RequestPath\":\"/products/red-shoes\",\"RequestProtocol\":\"HTTP/2.0\",\"RouterName\":\"shop@docker\",\"StartLocal\":\"2024-03-12T14:05:09.123456789Z\",\"StartUTC\":\"2024-03-12T14:05:09.123456789Z\",\"entryPointName\":\"websecure\",\"level\":\"info\",\"msg\":\"\",\"request_Referer\":\"https://www.google.com/search?q=red+shoes\",\"request_User-Agent\":\"{UA}\",\"time\":\"2024-03-12T14:05:09Z\"}}\n"
            ),
            "google|organic",
        ),
    ]
}

#[test]
fn every_format_parses_its_documented_lines_by_name_and_by_auto() {
    for (format, name, content, channel) in samples() {
        for as_given in [format, "auto"] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join(name);
            std::fs::write(&log, &content).unwrap();
            let store = dir.path().join("store");
            let s = ingest(&store, &[&log], |c| {
                c.log_format = as_given.to_string();
                c.sites = vec!["shop.example".into()];
                c.min_visitors = 1;
            });
            let what = format!("{format} read as {as_given}");
            assert_eq!(s.malformed, 0, "{what}: {:?}", s.problems);
            assert!(s.page_views >= 1, "{what}");
            if as_given == "auto" {
                assert_eq!(s.log_format, format!("{format} (detected)"));
            }
            let rows = query(
                &store,
                "SELECT source || '|' || medium FROM keyword_daily WHERE keyword = 'red shoes'",
            );
            assert!(
                rows.iter().any(|r| r[0] == channel),
                "{what}: the term from {channel}: {rows:?}"
            );
        }
    }
}

/// IIS writes a new header mid-file; lines after it are read with its fields even
/// when they fall in another block of the parallel reader.
#[test]
fn a_w3c_header_mid_file_holds_across_blocks() {
    let (_, _, content, _) = samples().into_iter().next().unwrap();
    let mut big = String::new();
    // Many lines after the second header, so they span blocks and workers.
    let (head, tail) = content.split_at(content.rfind("2024-03-12 15:00:00").unwrap());
    big.push_str(head);
    for i in 0..40_000 {
        big.push_str(&tail.replace("203.0.113.9", &format!("198.51.{}.{}", i / 250, i % 250)));
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("u_ex.log");
    std::fs::write(&log, &big).unwrap();
    let store = dir.path().join("store");
    let s = ingest(&store, &[&log], |c| {
        c.log_format = "w3c".into();
        c.sites = vec!["shop.example".into()];
        c.threads = 3;
    });
    assert_eq!(s.malformed, 0, "{:?}", s.problems);
    assert_eq!(s.header_lines, 6);
    assert_eq!(s.page_views, 40_001);
}
