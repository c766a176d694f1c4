use super::*;

fn classifier() -> Classifier {
    Classifier::new(EngineTable::builtin(), &["shop.example".to_string()])
}

fn search(engine: &str, kw: &str) -> Acquisition {
    Acquisition::External(Channel {
        source: engine.into(),
        medium: "organic".into(),
        keyword: Some(kw.into()),
        campaign: None,
    })
}

fn referral(host: &str) -> Acquisition {
    Acquisition::External(Channel {
        source: host.into(),
        medium: "referral".into(),
        keyword: None,
        campaign: None,
    })
}

#[test]
fn referrers_table() {
    let c = classifier();
    let cases: &[(&str, Acquisition)] = &[
        (
            "https://www.google.com/search?q=Red+Shoes",
            search("google", "red shoes"),
        ),
        (
            "http://www.google.co.uk/search?hl=en&q=caf%C3%A9",
            search("google", "café"),
        ),
        ("https://www.google.de/", search("google", NOT_PROVIDED)),
        (
            "https://www.google.com/url?sa=t&q=&url=http%3A%2F%2Fshop",
            search("google", NOT_PROVIDED),
        ),
        (
            "http://www.google.com/url?q=http%3A%2F%2Fshop.example%2Fa&sa=D",
            search("google", NOT_PROVIDED),
        ),
        (
            "https://www.google.com/search#q=fragment+term",
            search("google", "fragment term"),
        ),
        (
            "https://www.bing.com/search?q=blue%20hat&form=QBLH",
            search("bing", "blue hat"),
        ),
        (
            "https://de.search.yahoo.com/search?p=wanderschuhe",
            search("yahoo", "wanderschuhe"),
        ),
        (
            "https://search.yahoo.co.jp/search?p=%E9%9D%B4",
            search("yahoo japan", "靴"),
        ),
        (
            "https://yandex.ru/search/?text=%D0%BE%D0%B1%D1%83%D0%B2%D1%8C",
            search("yandex", "обувь"),
        ),
        (
            "https://www.baidu.com/s?wd=%E9%9E%8B%E5%AD%90",
            search("baidu", "鞋子"),
        ),
        (
            "https://www.baidu.com/s?ie=gbk&word=%D0%AC%D7%D3",
            search("baidu", "鞋子"),
        ),
        (
            "https://search.naver.com/search.naver?query=%EC%8B%A0%EB%B0%9C",
            search("naver", "신발"),
        ),
        (
            "https://www.sogou.com/web?query=shoes",
            search("sogou", "shoes"),
        ),
        (
            "https://duckduckgo.com/",
            search("duckduckgo", NOT_PROVIDED),
        ),
        (
            "https://www.ecosia.org/search?q=tree",
            search("ecosia", "tree"),
        ),
        (
            "https://www.qwant.com/?q=chaussures",
            search("qwant", "chaussures"),
        ),
        ("https://search.seznam.cz/?q=boty", search("seznam", "boty")),
        ("http://shop.example/cart", Acquisition::Internal),
        ("http://www.shop.example/cart", Acquisition::Internal),
        (
            "https://forum.example.org/thread?q=red+shoes",
            referral("forum.example.org"),
        ),
        (
            "https://google.com.evil.example/search?q=x",
            referral("google.com.evil.example"),
        ),
        (
            "https://mail.google.com/mail/u/0/",
            referral("mail.google.com"),
        ),
        ("-", Acquisition::Direct),
        ("", Acquisition::Direct),
    ];
    for (r, want) in cases {
        let got = match r.is_empty() || *r == "-" {
            true => Acquisition::Direct,
            false => c.referrer(r.as_bytes(), b""),
        };
        assert_eq!(&got, want, "{r}");
    }
}

#[test]
fn campaigns_win_over_referrers() {
    let c = classifier();
    let hit = |uri: &'static str, referer: &'static str| Hit {
        uri: uri.as_bytes(),
        referer: referer.as_bytes(),
        ..Hit::default()
    };
    let got = c.acquisition(&hit(
        "/p?utm_source=Newsletter&utm_medium=email&utm_campaign=Spring+Sale&utm_term=Red%20Shoes",
        "-",
    ));
    assert_eq!(
        got,
        Acquisition::External(Channel {
            source: "newsletter".into(),
            medium: "email".into(),
            keyword: Some("red shoes".into()),
            campaign: Some("spring sale".into()),
        })
    );
    let got = c.acquisition(&hit("/p?gclid=abc", "https://www.google.com/"));
    assert_eq!(
        got,
        Acquisition::External(Channel {
            source: "google".into(),
            medium: "cpc".into(),
            keyword: Some(NOT_PROVIDED.into()),
            campaign: None,
        })
    );
    let got = c.acquisition(&hit("/p?msclkid=x&utm_term=hats", "-"));
    assert!(
        matches!(got, Acquisition::External(ch) if ch.source == "bing" && ch.medium == "cpc" && ch.keyword.as_deref() == Some("hats"))
    );
    assert_eq!(c.acquisition(&hit("/p?page=2", "-")), Acquisition::Direct);
}

#[test]
fn exclusions() {
    let c = classifier();
    let hit = |method: &'static str, uri: &'static str, status: u16, ua: &'static str| Hit {
        method: method.as_bytes(),
        uri: uri.as_bytes(),
        status,
        user_agent: ua.as_bytes(),
        ..Hit::default()
    };
    let person = "Mozilla/5.0 (Windows NT 10.0) Firefox/120.0";
    let cases = [
        (hit("GET", "/", 200, person), None),
        (
            hit("GET", "/a.css?v=1", 200, person),
            Some(Exclusion::Asset),
        ),
        (
            hit("GET", "/img/A.PNG", 200, person),
            Some(Exclusion::Asset),
        ),
        (
            hit("GET", "/missing", 404, person),
            Some(Exclusion::ErrorStatus),
        ),
        (hit("HEAD", "/", 200, person), Some(Exclusion::Method)),
        (hit("GET", "/", 301, person), Some(Exclusion::Redirect)),
        (hit("GET", "/", 304, person), None),
        (
            hit(
                "GET",
                "/",
                200,
                "Googlebot/2.1 (+http://www.google.com/bot.html)",
            ),
            Some(Exclusion::Crawler),
        ),
        (hit("GET", "/", 200, "-"), Some(Exclusion::Crawler)),
        (hit("GET", "/v1.2/page", 200, person), None),
    ];
    for (h, want) in cases {
        assert_eq!(
            c.exclusion(&h, false),
            want,
            "{:?}",
            String::from_utf8_lossy(h.uri)
        );
    }
    assert_eq!(
        c.exclusion(&hit("POST", "/checkout", 302, person), true),
        None
    );
}

fn network(name: &str, medium: &str) -> Acquisition {
    Acquisition::External(Channel {
        source: name.into(),
        medium: medium.into(),
        keyword: None,
        campaign: None,
    })
}

/// The long tail: deep subdomains, engine families, nested and upper-case
/// parameters, legacy charsets, and hidden-keyword paths.
#[test]
fn long_tail_of_engines() {
    let c = classifier();
    let cases: &[(&str, Acquisition)] = &[
        (
            "http://it.images.search.yahoo.com/search/images?p=voyage+beach",
            search("yahoo", "voyage beach"),
        ),
        (
            "https://us.yhs4.search.yahoo.com/yhs/search?hspart=x&q=red+shoes",
            search("yahoo", "red shoes"),
        ),
        (
            "http://search.tb.ask.com/search/GGmain.jhtml?searchfor=red+boots",
            search("ask", "red boots"),
        ),
        (
            "http://images.de.ask.com/fr?q=stiefel",
            search("ask", "stiefel"),
        ),
        (
            "http://aolsearch.com/search?q=rain+jacket",
            search("aol", "rain jacket"),
        ),
        (
            "http://images.yandex.ru/yandsearch?text=boots",
            search("yandex", "boots"),
        ),
        // Legacy windows-1251 bytes: "красные".
        (
            "http://yandex.ru/yandsearch?text=%EA%F0%E0%F1%ED%FB%E5",
            search("yandex", "красные"),
        ),
        (
            "http://webcache.googleusercontent.com/search?q=cache:Ab12Cd:www.shop.example/+red+shoes&cd=1",
            search("google", "red shoes"),
        ),
        (
            "http://cc.bingj.com/cache.aspx?q=trail+shoes&d=1",
            search("bing", "trail shoes"),
        ),
        (
            "http://search.live.com/results.aspx?q=loafers",
            search("bing", "loafers"),
        ),
        (
            "http://www.bing.com/search?Q=Insoles&form=QBLH",
            search("bing", "insoles"),
        ),
        (
            "http://images.google.fr/imgres?imgurl=http://x.example/a.jpg&prev=/images%3Fq%3Dkoala%26hl%3Dfr",
            search("google", "koala"),
        ),
        (
            "https://www.google.com/search?as_q=wide+fit+shoes&as_epq=",
            search("google", "wide fit shoes"),
        ),
        (
            "https://www.google.com/cse?cx=0123:abc&query=barefoot+shoes",
            search("google custom search", "barefoot shoes"),
        ),
        // Hidden-keyword paths: Google's home page is a search, its other pages not.
        ("https://www.google.co.uk/", search("google", NOT_PROVIDED)),
        ("http://www.google.com/reader/view/", referral("google.com")),
        ("http://www.google.com/ig?hl=en", referral("google.com")),
        ("https://www.bing.com/maps?where=x", referral("bing.com")),
        // A portal that Matomo lists for its search box: a referral without a term.
        ("https://www.cnn.com/2024/05/01/story", referral("cnn.com")),
        (
            "https://www.cnn.com/search?query=shoes",
            search("google", "shoes"),
        ),
        // Browsers send only the origin: an engine's own host is a search, a portal's
        // home page is not.
        ("https://suche.1und1.de/", search("google", NOT_PROVIDED)),
        ("https://www.cnn.com/", referral("cnn.com")),
        // A results page with its term stripped.
        ("http://www.bing.com/search", search("bing", NOT_PROVIDED)),
        (
            "https://www.google.de/search?client=firefox-b-d",
            search("google", NOT_PROVIDED),
        ),
        // Gmail is not Google.
        (
            "https://mail.google.com/mail/u/0/",
            referral("mail.google.com"),
        ),
    ];
    for (r, want) in cases {
        assert_eq!(&c.referrer(r.as_bytes(), b""), want, "{r}");
    }
}

#[test]
fn ai_assistants_and_social_networks_are_never_search() {
    let c = classifier();
    let cases: &[(&str, Acquisition)] = &[
        ("https://chatgpt.com/", network("chatgpt", AI_MEDIUM)),
        (
            "https://chat.openai.com/c/123",
            network("chatgpt", AI_MEDIUM),
        ),
        (
            "https://www.perplexity.ai/search?q=red+shoes",
            network("perplexity", AI_MEDIUM),
        ),
        (
            "https://gemini.google.com/app",
            network("gemini", AI_MEDIUM),
        ),
        (
            "https://copilot.microsoft.com/",
            network("copilot", AI_MEDIUM),
        ),
        ("https://claude.ai/chat/1", network("claude", AI_MEDIUM)),
        ("https://x.com/i/grok?q=x", network("grok", AI_MEDIUM)),
        (
            "https://l.facebook.com/l.php?u=https%3A%2F%2Fshop.example%2F",
            network("facebook", SOCIAL_MEDIUM),
        ),
        (
            "https://www.facebook.com/search/?q=shoes",
            network("facebook", SOCIAL_MEDIUM),
        ),
        ("https://t.co/abc", network("twitter", SOCIAL_MEDIUM)),
        (
            "https://www.reddit.com/r/shoes/",
            network("reddit", SOCIAL_MEDIUM),
        ),
    ];
    for (r, want) in cases {
        assert_eq!(&c.referrer(r.as_bytes(), b""), want, "{r}");
    }
}

#[test]
fn payment_providers_and_excluded_referrers_continue_the_visit() {
    let mut c = classifier();
    c.exclude_referrers(&["pay.partner.example".into(), "checkout-*.example".into()])
        .unwrap();
    for r in [
        "https://www.paypal.com/checkoutnow?token=EC-1",
        "https://www.sandbox.paypal.com/",
        "https://checkout.stripe.com/c/pay/cs_live_1",
        "https://hooks.stripe.com/3d_secure_2/hosted",
        "https://checkoutshopper-live.adyen.com/checkoutshopper/",
        "https://pay.klarna.com/eu/",
        "https://www.mollie.com/checkout/select-method/1",
        "https://assets.braintreegateway.com/",
        "https://checkout.square.site/merchant/1",
        "https://payments.amazon.de/checkout",
        "https://acs1.somebank.example/challenge",
        "https://3ds.otherbank.example/",
        "https://pay.partner.example/",
        "https://eu.pay.partner.example/return",
        "https://checkout-eu.example/done",
    ] {
        assert_eq!(c.referrer(r.as_bytes(), b""), Acquisition::Internal, "{r}");
    }
    // Near misses stay referrals.
    for (r, host) in [
        ("https://paypal-shoes.example/", "paypal-shoes.example"),
        // Whole domains are not challenge pages; other merchants' stores are referrers.
        ("https://www.3ds.com/products", "3ds.com"),
        ("https://tds.net/", "tds.net"),
        ("https://anyshop.square.site/", "anyshop.square.site"),
        ("https://partner.example/", "partner.example"),
        ("https://accessories.example/", "accessories.example"),
    ] {
        assert_eq!(c.referrer(r.as_bytes(), b""), referral(host), "{r}");
    }
}
