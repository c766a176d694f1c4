//! Order exports of shop platforms (`--purchases-preset`): columns as Shopify,
//! WooCommerce and Stripe document them ingest with every order counted, and the
//! touches a shop records with an order credit it when no visitor joins it.

use crate::common::{ingest, query};
use keyrank::ingest::purchases::{PurchaseColumns, PurchaseFormat, PurchasePreset, PurchaseSource};

const SHOPIFY: &str = "\
Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,Billing Name,Id,Landing Site,Referring Site,Source
#1001,ann@example.com,paid,2024-03-12 10:00:00 +0000,fulfilled,2024-03-13 09:00:00 +0000,no,EUR,29.98,5.00,0.00,34.98,,0.00,Standard,2024-03-12 09:58:12 +0000,2,Crew Tee,9.99,,TEE,true,true,fulfilled,Ann Example,5001,/products/red-shoes?utm_source=google&utm_medium=cpc&utm_term=red+shoes,https://www.google.com/,web
#1001,,,,,,,,,,,,,,,,1,Mug,10.00,,MUG,true,true,fulfilled,,,,,
#1002,bo@example.com,paid,2024-03-12 12:30:00 -0400,unfulfilled,,yes,EUR,1200.00,0.00,0.00,\"1,200.00\",,0.00,Standard,2024-03-12 12:29:00 -0400,1,Boots,1200.00,,BOOT,true,true,,Bo Example,5002,/products/boots,https://www.bing.com/search?q=leather+boots,web
#1003,cy@example.com,voided,,,,no,EUR,5.00,0.00,0.00,5.00,,0.00,Standard,2024-03-12 13:00:00 +0000,1,Socks,5.00,,SOCK,true,true,,Cy Example,5003,/,,web
#1004,di@example.com,paid,2024-03-12 14:00:00 +0000,,,no,EUR,15.00,0.00,0.00,15.00,,0.00,Standard,2024-03-12 14:00:00 +0000,1,Laces,15.00,,LACE,true,true,,Di Example,5004,,,pos
";

const WOO_ANALYTICS: &str = "\
Date,Order #,Status,Customer,Customer type,Product(s),Items sold,Coupon(s),Net sales,Attribution
2024-03-12T09:10:00,2041,Completed,Ann Example,new,2× Tee,2,,29.98,Organic: Google
2024-03-12T11:00:00,2042,Processing,Bo Example,returning,1× Boots,1,,120.00,Referral: blog.example.org
2024-03-12T12:00:00,2043,Failed,Cy Example,new,1× Socks,1,,5.00,Direct
2024-03-12T13:00:00,2044,Refunded,Di Example,new,1× Laces,1,,15.00,Referral: facebook.com
";

const WOO_PLUGIN: &str = "\
Order Number,Order Date,Order Status,Order Total Amount,Currency,Billing Email
3001,5/31/2024 0:37,completed,49.90,USD,ann@example.com
3002,6/1/2024 13:05,processing,10.00,USD,bo@example.com
";

const STRIPE: &str = "\
id,Description,Seller Message,Created (UTC),Amount,Amount Refunded,Currency,Converted Amount,Converted Amount Refunded,Fee,Tax,Converted Currency,Mode,Status,Statement Descriptor,Customer ID,Customer Description,Customer Email,Captured,Card ID,PaymentIntent ID,order_id (metadata),site_url (metadata)
ch_1,Order 77,Payment complete.,2024-03-12 10:15:00,49.00,0.00,usd,49.00,0.00,1.72,0.00,usd,Live,Paid,SHOP,cus_1,,ann@example.com,true,card_1,pi_1,77,https://shop.example
ch_2,Order 78,Payment complete.,2024-03-12 11:20,\"1,049.00\",0.00,usd,1049.00,0.00,30.72,0.00,usd,Live,Paid,SHOP,cus_2,,bo@example.com,true,card_2,pi_2,78,https://shop.example
ch_3,Order 79,The bank declined.,2024-03-12 11:30:00,20.00,0.00,usd,20.00,0.00,0.00,0.00,usd,Live,Failed,SHOP,cus_3,,cy@example.com,false,card_3,pi_3,79,https://shop.example
ch_4,Order 80,Payment complete.,2024-03-12 12:00:00,15.00,15.00,usd,15.00,15.00,0.74,0.00,usd,Live,Refunded,SHOP,cus_4,,di@example.com,true,card_4,pi_4,80,https://shop.example
";

struct Case {
    preset: PurchasePreset,
    file: &'static str,
    content: &'static str,
    orders: u64,
    skipped: (u64, u64),
}

#[test]
fn shop_exports_ingest_with_every_order_counted() {
    let cases = [
        Case {
            preset: PurchasePreset::Shopify,
            file: "orders_export.csv",
            content: SHOPIFY,
            orders: 3,
            skipped: (1, 1),
        },
        Case {
            preset: PurchasePreset::Woocommerce,
            file: "wc-orders-report.csv",
            content: WOO_ANALYTICS,
            orders: 3,
            skipped: (0, 1),
        },
        Case {
            preset: PurchasePreset::Woocommerce,
            file: "orders-2024-06.csv",
            content: WOO_PLUGIN,
            orders: 2,
            skipped: (0, 0),
        },
        Case {
            preset: PurchasePreset::Stripe,
            file: "unified_payments.csv",
            content: STRIPE,
            orders: 3,
            skipped: (0, 1),
        },
    ];
    for case in cases {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        std::fs::write(&log, "").unwrap();
        let orders = dir.path().join(case.file);
        std::fs::write(&orders, case.content).unwrap();
        let store = dir.path().join("store");
        let s = ingest(&store, &[&log], |c| {
            c.sites = vec!["shop.example".into()];
            c.min_visitors = 1;
            c.purchase_cols = PurchaseColumns::preset(case.preset);
            c.purchases = vec![PurchaseSource {
                path: orders.clone(),
                format: PurchaseFormat::Csv,
            }];
        });
        let what = format!("{:?} {}", case.preset, case.file);
        assert_eq!(s.bad_purchases, 0, "{what}: {:?}", s.problems);
        assert_eq!(s.purchase_conversions, case.orders, "{what}");
        assert_eq!(
            (s.purchase_item_rows, s.purchase_not_orders),
            case.skipped,
            "{what}"
        );
        let total = query(&store, "SELECT SUM(conversions_last) FROM keyword_daily");
        assert_eq!(total[0][0], format!("{}.000000", case.orders), "{what}");
        // No personal datum of the export reaches the store.
        for row in query(&store, "SELECT * FROM keyword_daily") {
            for cell in row {
                assert!(
                    !cell.contains("@example.com") && !cell.contains("Example"),
                    "{what}: {cell}"
                );
            }
        }
    }
}

#[test]
fn a_shops_own_touches_credit_orders_no_visitor_joins() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").unwrap();
    let orders = dir.path().join("orders_export.csv");
    std::fs::write(&orders, SHOPIFY).unwrap();
    let woo = dir.path().join("wc-orders-report.csv");
    std::fs::write(&woo, WOO_ANALYTICS).unwrap();
    let store = dir.path().join("store");
    for (file, preset) in [
        (&orders, PurchasePreset::Shopify),
        (&woo, PurchasePreset::Woocommerce),
    ] {
        let _ = std::fs::remove_dir_all(&store);
        ingest(&store, &[&log], |c| {
            c.sites = vec!["shop.example".into()];
            c.min_visitors = 1;
            c.currency = Some("EUR".into());
            c.purchase_cols = PurchaseColumns::preset(preset);
            c.purchases = vec![PurchaseSource {
                path: file.clone(),
                format: PurchaseFormat::Csv,
            }];
        });
        let rows = query(
            &store,
            "SELECT source || '|' || medium || '|' || COALESCE(keyword, '-') || '|' || landing, \
             SUM(conversions_first), SUM(revenue_last) FROM keyword_daily \
             WHERE conversions_last > 0 GROUP BY 1 ORDER BY 1",
        );
        let want: Vec<Vec<String>> = match preset {
            PurchasePreset::Shopify => vec![
                vec![
                    "(direct)|(none)|(unattributed)|".into(),
                    "1.000000".into(),
                    "15.00".into(),
                ],
                vec![
                    "bing|organic|leather boots|/products/boots".into(),
                    "1.000000".into(),
                    "1200.00".into(),
                ],
                vec![
                    "google|cpc|red shoes|/products/red-shoes".into(),
                    "1.000000".into(),
                    "34.98".into(),
                ],
            ],
            _ => vec![
                vec![
                    "blog.example.org|referral|-|/".into(),
                    "1.000000".into(),
                    "120.00".into(),
                ],
                vec![
                    "facebook|social|-|/".into(),
                    "1.000000".into(),
                    "15.00".into(),
                ],
                vec![
                    "google|organic|(not provided)|/".into(),
                    "1.000000".into(),
                    "29.98".into(),
                ],
            ],
        };
        assert_eq!(rows, want, "{preset:?}");
    }
}

/// An order whose visitor the log never saw falls back to the touch the shop recorded.
#[test]
fn an_unjoined_visitor_falls_back_to_the_shops_touch() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    std::fs::write(&log, "").unwrap();
    let orders = dir.path().join("orders.csv");
    std::fs::write(
        &orders,
        "ts,order_id,revenue,currency,visitor_id,landing_site,referring_site\n\
         2024-03-12T10:00:00Z,A1,40.00,EUR,V-unknown,/p/boots?utm_source=bing&utm_medium=cpc&utm_term=rain+boots,\n\
         2024-03-12T11:00:00Z,A2,10.00,EUR,V-other,,\n",
    )
    .unwrap();
    let store = dir.path().join("store");
    ingest(&store, &[&log], |c| {
        c.sites = vec!["shop.example".into()];
        c.min_visitors = 1;
        c.purchases = vec![PurchaseSource {
            path: orders.clone(),
            format: PurchaseFormat::Csv,
        }];
    });
    let rows = query(
        &store,
        "SELECT source || '|' || medium || '|' || keyword, SUM(revenue_last) FROM keyword_daily \
         WHERE conversions_last > 0 GROUP BY 1 ORDER BY 1",
    );
    assert_eq!(
        rows,
        vec![
            vec!["(direct)|(none)|(unattributed)".to_string(), "10.00".into()],
            vec!["bing|cpc|rain boots".to_string(), "40.00".into()],
        ]
    );
}
