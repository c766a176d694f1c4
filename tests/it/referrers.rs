//! Referrers end to end: a buyer who searched, paid on a payment provider's page and
//! came back keeps the credit with the search term, and no provider becomes a
//! referral row; AI assistants and social networks are their own media.

use crate::common::{ingest, query};

const PROVIDERS: &[&str] = &[
    "https://www.paypal.com/checkoutnow?token=EC-8AB",
    "https://checkout.stripe.com/c/pay/cs_live_a1",
    "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1",
    "https://checkoutshopper-live.adyen.com/checkoutshopper/threeDS2.shtml",
    "https://pay.klarna.com/eu/hpp/payments/1",
    "https://www.mollie.com/checkout/select-method/7",
    "https://assets.braintreegateway.com/web/3ds",
    "https://checkout.square.site/merchant/ML1/checkout/C1",
    "https://payments.amazon.co.uk/checkout/processing",
    "https://acs2.examplebank.example/challenge",
];

fn clf(ip: &str, ts: i64, uri: &str, referer: &str) -> String {
    let t = chrono::DateTime::from_timestamp(ts, 0)
        .unwrap()
        .format("%d/%b/%Y:%H:%M:%S +0000");
    format!(
        "{ip} - - [{t}] \"GET {uri} HTTP/1.1\" 200 512 \"{referer}\" \"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\""
    )
}

#[test]
fn a_payment_provider_between_search_and_checkout_keeps_the_search_credit() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_710_237_600; // 2024-03-12 10:00 UTC
    let mut lines = Vec::new();
    for (i, provider) in PROVIDERS.iter().enumerate() {
        // Back after 5 minutes, and (a second buyer) after 50, past the visit timeout.
        for (j, away) in [300, 3000].into_iter().enumerate() {
            let ip = format!("10.0.{i}.{j}");
            let t = t0 + (i as i64) * 7200;
            lines.push(clf(
                &ip,
                t,
                "/product/red-shoes",
                "https://www.bing.com/search?q=red+shoes",
            ));
            lines.push(clf(
                &ip,
                t + 60,
                "/checkout",
                "https://shop.example/product/red-shoes",
            ));
            lines.push(clf(
                &ip,
                t + 60 + away,
                &format!("/checkout/complete?order_id=O{i}-{j}&revenue=50.00"),
                provider,
            ));
        }
    }
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let store = dir.path().join("store");
    let s = ingest(&store, &[&log], |c| {
        c.sites = vec!["shop.example".into()];
        c.goals = vec!["/checkout/complete".into()];
        c.min_visitors = 1;
    });
    assert_eq!(s.malformed, 0);
    assert_eq!(s.conversions, 2 * PROVIDERS.len() as u64);
    let rows = query(
        &store,
        "SELECT source, medium, COALESCE(keyword, '-'), SUM(conversions_last), SUM(conversions_first) \
         FROM keyword_daily GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    );
    let n = format!("{}.000000", 2 * PROVIDERS.len());
    let want = vec![vec![
        "bing".to_string(),
        "organic".into(),
        "red shoes".into(),
        n.clone(),
        n,
    ]];
    // The returns after the timeout open direct visits, which take no credit; the
    // returns before it continue the search visit. Either way no provider is a source.
    let got: Vec<Vec<String>> = rows
        .into_iter()
        .filter(|r| !(r[0] == "(direct)" && r[3] == "0.000000"))
        .collect();
    assert_eq!(got, want, "rows: {got:?}");
}

#[test]
fn ai_assistants_and_social_networks_are_their_own_media() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_710_237_600;
    let referrers = [
        ("https://chatgpt.com/", "chatgpt|ai"),
        (
            "https://www.perplexity.ai/search?q=red+shoes",
            "perplexity|ai",
        ),
        (
            "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2F",
            "facebook|social",
        ),
        ("https://www.google.com/reader/view/", "google.com|referral"),
        ("https://www.google.com/", "google|organic"),
    ];
    let lines: Vec<String> = referrers
        .iter()
        .enumerate()
        .map(|(i, (r, _))| clf(&format!("10.1.0.{i}"), t0 + i as i64, "/", r))
        .collect();
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let store = dir.path().join("store");
    ingest(&store, &[&log], |c| {
        c.sites = vec!["shop.example".into()];
        c.min_visitors = 1;
    });
    let rows = query(
        &store,
        "SELECT source || '|' || medium FROM keyword_daily ORDER BY 1",
    );
    let mut got: Vec<String> = rows.into_iter().map(|r| r[0].clone()).collect();
    got.sort();
    let mut want: Vec<String> = referrers.iter().map(|(_, w)| w.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
}

/// Without `--site`, the site is the dominant referrer host, but never a social
/// network, an AI assistant or a payment page, however many visits they send.
#[test]
fn a_dominant_social_referrer_is_not_taken_for_the_site() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_710_237_600;
    let mut lines = Vec::new();
    for i in 0..60 {
        let ip = format!("10.2.0.{i}");
        lines.push(clf(&ip, t0 + i, "/", "https://l.facebook.com/l.php?u=x"));
        if i % 2 == 0 {
            lines.push(clf(&ip, t0 + i + 1, "/p", "https://shop.example/"));
        }
    }
    let log = dir.path().join("access.log");
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let s = ingest(&dir.path().join("store"), &[&log], |c| c.min_visitors = 1);
    assert_eq!(s.site_hosts, vec!["shop.example".to_string()]);
    assert_eq!(s.social_visits, 60);
}
