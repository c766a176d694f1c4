#!/usr/bin/env python3
"""Writes keyrank's built-in referrer table (src/classify/referrers.tsv).

Inputs: keyrank's own curated engines (tools/curated_engines.tsv, which wins where it
speaks) and the facts of Matomo's CC0 lists (SearchEngines.yml, AIAssistants.yml,
Socials.yml from github.com/matomo-org/searchengine-and-social-list). Run it again when
either changes:

    python3 tools/referrer_table.py ../shared/data/matomo-searchengines > src/classify/referrers.tsv

The format is described at the top of the output.
"""
import sys, os, yaml

src = sys.argv[1]
load = lambda n: yaml.safe_load(open(os.path.join(src, n), encoding="utf-8"))
engines_yml, ai_yml, social_yml = load("SearchEngines.yml"), load("AIAssistants.yml"), load("Socials.yml")

# Verticals of one engine are reported under the engine's name.
ALIAS = {
    "google images": "google", "google video": "google", "google news": "google",
    "google scholar": "google scholar", "yahoo images": "yahoo", "yahoo video": "yahoo",
    "yahoo japan images": "yahoo japan", "yahoo japan videos": "yahoo japan",
    "bing images": "bing", "yandex images": "yandex", "baidu images": "baidu",
    "naver images": "naver", "ask images": "ask", "aol images": "aol",
}

def name_of(display):
    n = str(display).strip().lower().replace("!", "").strip()
    return ALIAS.get(n, n)

# Labels encoding_rs reads as the same encoding, written one way.
CHARSET = {"ms932": "shift_jis", "windows-31j": "shift_jis", "sjis": "shift_jis",
           "gb2312": "gbk", "euc-kr": "euc-kr"}

def charset(c):
    c = c.lower()
    return CHARSET.get(c, c)

def words(xs):
    xs = [str(x).strip() for x in (xs or []) if str(x).strip()]
    for x in xs:
        assert "\t" not in x and " " not in x, x
    return xs

here = os.path.dirname(os.path.abspath(__file__))
curated = []
for line in open(os.path.join(here, "curated_engines.tsv"), encoding="utf-8"):
    if not line.strip() or line.startswith("#"):
        continue
    name, hosts, params, charsets, hidden = line.rstrip("\n").split("\t")
    split = lambda f: [] if f == "-" else f.split(" ")
    curated.append([name, split(hosts), split(params), split(charsets), hidden])

ai_names, ai_hosts = [], set()
for display, hosts in ai_yml.items():
    ai_names.append(name_of(display))
    ai_hosts.update(h.lower() for h in words(hosts))
social_hosts = set()
for display, hosts in social_yml.items():
    social_hosts.update(h.lower() for h in words(hosts))

SEARCH_WORDS = ("search", "suche", "such", "find", "seek", "recherche", "busca", "cerca",
                "szukaj", "poisk", "arama", "zoek", "sok", "haku", "hledat", "kereso", "query")

def dedicated(name, host):
    """Whether a host is the engine's own: its name in the host, or a search word."""
    labels = host.split("/")[0].replace("{}", "").split(".")
    token = "".join(c for c in name if c.isalnum())
    return any(w in l for l in labels for w in SEARCH_WORDS) or (
        len(token) >= 3 and any(token in "".join(c for c in l if c.isalnum()) for l in labels))

def bare(h):
    return h[4:] if h.startswith("www.") else h

taken = {bare(h) for row in curated for h in row[1]}
extra_hidden = {}
out = []
# Curated engines take Matomo's parameters, charsets and hidden-keyword paths for the
# hosts they share with it.
for name, hosts, params, charsets, hidden in curated:
    mine = {bare(h) for h in hosts}
    matomo_hidden = []
    for display, entries in engines_yml.items():
        for e in entries:
            urls = {bare(str(u).lower()) for u in e.get("urls") or []}
            if not (urls & mine):
                continue
            params += [p for p in words(e.get("params")) if p not in params]
            charsets += [charset(c) for c in words(e.get("charsets")) if charset(c) not in charsets and charset(c) != "utf-8"]
            if hidden.startswith("+") and not matomo_hidden and e.get("hiddenkeyword"):
                matomo_hidden = words(e.get("hiddenkeyword"))
    # `+` takes Matomo's hidden-keyword paths (any path when it has none); words after
    # it are keyrank's own additions.
    if hidden.startswith("+"):
        mine = hidden[1:].split()
        extra_hidden[name] = mine
        hidden = " ".join(matomo_hidden + mine) if matomo_hidden else "*"
    out.append(("search", name, hosts, params, charsets, hidden))

for display, entries in engines_yml.items():
    name = name_of(display)
    if name in ai_names:
        continue
    for e in entries:
        hosts = []
        for u in words(e.get("urls")):
            u = u.lower()
            if "//" in u or bare(u) in taken or bare(u).split("/")[0] in social_hosts or u in ai_hosts:
                continue
            # Lookups try a host with and without `www.`: the bare host covers both.
            if bare(u) not in hosts:
                hosts.append(bare(u))
            taken.add(bare(u))
        if not hosts:
            continue
        hidden = words(e.get("hiddenkeyword"))
        # keyrank's additions to an engine's hidden-keyword paths hold on all its hosts.
        if hidden:
            hidden += [h for h in extra_hidden.get(name, []) if h not in hidden]
        # An engine's other hosts share the legacy charsets keyrank knows it for.
        known = next((row[3] for row in curated if row[0] == name), [])
        params = words(e.get("params"))
        charsets = list(dict.fromkeys(known + [charset(c) for c in words(e.get("charsets")) if charset(c) != "utf-8"]))
        if hidden:
            out.append(("search", name, hosts, params, charsets, " ".join(hidden)))
            continue
        # Browsers send only the origin across sites by default, so the bare origin of
        # a host that is the engine's own (its name in the host, or a search word) is
        # a search whose term was hidden; a portal's (cnn.com, listed for its search
        # box) is not.
        own = [h for h in hosts if dedicated(name, h)]
        other = [h for h in hosts if h not in own]
        if own:
            out.append(("search", name, own, params, charsets, "/^$/ /"))
        if other:
            out.append(("search", name, other, params, charsets, "-"))

EXTRA_AI = {
    "chatgpt": ["chatgpt.com", "chat.openai.com"],
    "perplexity": ["perplexity.ai"],
    "copilot": ["copilot.microsoft.com", "copilot.cloud.microsoft", "bing.com/chat", "m365.cloud.microsoft"],
    "gemini": ["gemini.google.com", "bard.google.com", "aistudio.google.com"],
    "claude": ["claude.ai"],
    "kimi": ["kimi.moonshot.cn", "kimi.com"],
    "phind": ["phind.com"],
    "poe": ["poe.com"],
    "huggingchat": ["huggingface.co/chat"],
    "pi": ["pi.ai"],
}
for display, hosts in ai_yml.items():
    name = name_of(display)
    hs = [h.lower() for h in words(hosts)] + [h for h in EXTRA_AI.pop(name, []) if h not in hosts]
    out.append(("ai", name, list(dict.fromkeys(hs)), [], [], "*"))
for name, hs in EXTRA_AI.items():
    out.append(("ai", name, hs, [], [], "*"))
for display, hosts in social_yml.items():
    out.append(("social", name_of(display), [h.lower() for h in words(hosts)], [], [], "*"))

# Hosts a buyer passes through while paying or signing in, and comes back from: the
# return continues the visit. Each host covers its subdomains.
EXCLUDED = {
    "paypal": ["paypal.com", "paypal.me", "paypalobjects.com", "venmo.com"],
    "stripe": ["stripe.com", "stripe.network", "link.com"],
    "adyen": ["adyen.com", "adyenpayments.com"],
    "klarna": ["klarna.com", "klarnaservices.com", "sofort.com", "sofortueberweisung.de"],
    "mollie": ["mollie.com"],
    "braintree": ["braintreegateway.com", "braintree-api.com", "braintreepayments.com"],
    "square": ["squareup.com", "checkout.square.site", "square.link"],
    "amazon pay": ["payments.amazon.com", "pay.amazon.com", "payments.amazon.co.uk", "payments.amazon.de",
                   "payments.amazon.fr", "payments.amazon.it", "payments.amazon.es", "payments.amazon.co.jp",
                   "pay.amazon.co.uk", "pay.amazon.de", "pay.amazon.eu", "apay-us.amazon.com"],
    "google pay": ["pay.google.com", "payments.google.com"],
    "shop pay": ["pay.shopify.com", "checkout.shopify.com", "shopify.com/checkouts"],
    "afterpay": ["afterpay.com", "clearpay.co.uk", "clearpay.com", "clearpay.es", "clearpay.fr", "clearpay.it", "cash.app"],
    "affirm": ["affirm.com", "affirm.ca"],
    "zip": ["zip.co", "quadpay.com"],
    "sezzle": ["sezzle.com"],
    "scalapay": ["scalapay.com"],
    "alma": ["alma.eu"],
    "riverty": ["riverty.com", "afterpay.nl"],
    "ratepay": ["ratepay.com"],
    "ideal": ["ideal.nl"],
    "bancontact": ["bancontact.com", "payconiq.com"],
    "eps": ["eps-ueberweisung.at"],
    "trustly": ["trustly.com", "paywithmybank.com"],
    "przelewy24": ["przelewy24.pl"],
    "payu": ["payu.com", "payu.pl", "payu.in"],
    "tpay": ["tpay.com"],
    "twint": ["twint.ch"],
    "vipps": ["vipps.no", "mobilepay.dk"],
    "worldpay": ["worldpay.com", "rbsworldpay.com"],
    "opayo": ["opayo.co.uk", "sagepay.com", "elavon.com"],
    "worldline": ["ogone.com", "epdq.co.uk", "worldline-solutions.com", "worldline.com"],
    "nexi": ["nexi.it", "nexigroup.com", "nexi.dk"],
    "redsys": ["redsys.es"],
    "payone": ["payone.com", "payone.de"],
    "unzer": ["unzer.com", "heidelpay.com"],
    "computop": ["computop-paygate.com"],
    "datatrans": ["datatrans.com"],
    "saferpay": ["saferpay.com"],
    "payrexx": ["payrexx.com"],
    "checkout.com": ["checkout.com"],
    "authorize.net": ["authorize.net"],
    "2checkout": ["2checkout.com", "avangate.com", "verifone.cloud"],
    "paddle": ["paddle.com"],
    "lemon squeezy": ["lemonsqueezy.com"],
    "fastspring": ["onfastspring.com", "fastspring.com"],
    "razorpay": ["razorpay.com", "rzp.io"],
    "paytm": ["paytm.in", "paytm.com"],
    "phonepe": ["phonepe.com"],
    "ccavenue": ["ccavenue.com"],
    "cashfree": ["cashfree.com"],
    "billdesk": ["billdesk.com"],
    "mercado pago": ["mercadopago.com", "mercadopago.com.br", "mercadopago.com.ar", "mercadopago.com.mx",
                     "mercadopago.com.co", "mercadopago.com.pe", "mercadopago.com.uy", "mercadopago.cl", "mpago.la"],
    "pagseguro": ["pagseguro.uol.com.br", "pagseguro.com.br", "pagbank.com.br"],
    "ebanx": ["ebanx.com"],
    "dlocal": ["dlocal.com"],
    "alipay": ["alipay.com", "alipayplus.com"],
    "wechat pay": ["pay.weixin.qq.com", "wx.tenpay.com", "tenpay.com"],
    "unionpay": ["95516.com", "unionpayintl.com"],
    "paypay": ["paypay.ne.jp"],
    "kakaopay": ["kakaopay.com"],
    "gcash": ["gcash.com"],
    "skrill": ["skrill.com", "neteller.com", "paysafecard.com"],
    "3-d secure": ["cardinalcommerce.com", "arcot.com", "modirum.com", "3dsecure.io",
                   "netcetera-cloud-payment.ch", "gpayments.net", "activeserver.cloud", "entersekt.com",
                   "securecode.com", "wibmo.com", "enstream.com"],
    "sign-in": ["accounts.google.com", "appleid.apple.com", "login.live.com", "login.microsoftonline.com",
                "auth0.com", "okta.com"],
}
for name, hosts in EXCLUDED.items():
    out.append(("excluded", name, hosts, [], [], "*"))

print("""# keyrank's built-in referrer table, written by tools/referrer_table.py from keyrank's
# curated engines and the facts of Matomo's CC0 search-engine, AI-assistant and social
# lists. One entry per line, tab-separated:
#
#   medium   search, ai, social or excluded
#   name     the source keyrank reports (lower case)
#   hosts    host patterns, space-separated: `{}` as the last label is a TLD suffix
#            (com, de, co.uk, ...), elsewhere exactly one label; a pattern may end
#            in a path prefix (google.{}/imgres), which then must begin the path
#   params   search: query parameters that carry the term, tried in order and
#            matched case-insensitively; a /regex/ is matched against path and query
#            and its group 1 is the term; - for none
#   charsets search: legacy charsets the engine encodes terms in, tried in order when
#            the bytes are not UTF-8 and the URL declares none; - for none
#   hidden   search: when no term is found, the paths on which the referrer still is
#            a search whose term the engine hid (`(not provided)`): literal paths, or
#            /regex/ over the path with its query; * for any path; - for none (a
#            visit from the host with no term is a referral)
#
# AI assistants (medium ai), social networks (medium social) and excluded hosts match
# their hosts and any subdomain (or, with a path, that host and path prefix), and are
# never counted as search. Excluded hosts are payment providers, 3-D Secure pages and
# sign-in services: a buyer comes back from them to the shop, so a visit they refer
# continues the visit before instead of starting a new one.""")
for medium, name, hosts, params, charsets, hidden in out:
    f = lambda xs: " ".join(xs) if xs else "-"
    print("\t".join([medium, name, f(hosts), f(params), f(charsets), hidden]))
