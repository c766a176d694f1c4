//! Purchase files, CSV and JSON lines, under the generic columns and each shop preset
//! (the first byte picks): every row is a purchase, a bad row, a line item or not an
//! order, and money stays in range.
#![no_main]
use keyrank::ingest::purchases::{
    self, Fx, PurchaseColumns, PurchaseFormat, PurchasePreset, PurchaseSource,
};
use keyrank_fuzz::scratch_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (pick, body) = data.split_first().unwrap_or((&0, &[]));
    let (name, format) = if pick % 2 == 0 {
        ("orders.csv", PurchaseFormat::Csv)
    } else {
        ("orders.jsonl", PurchaseFormat::Jsonl)
    };
    let src = PurchaseSource {
        path: scratch_file(name, body),
        format,
    };
    let cols = match (pick / 2) % 4 {
        0 => PurchaseColumns::default(),
        1 => PurchaseColumns::preset(PurchasePreset::Shopify),
        2 => PurchaseColumns::preset(PurchasePreset::Woocommerce),
        _ => PurchaseColumns::preset(PurchasePreset::Stripe),
    };
    let mut fx = Fx::default();
    let mut bad = 0u64;
    if let Ok((rows, _)) = purchases::read(&src, &cols, &mut fx, &mut |_, _| bad += 1) {
        for p in rows {
            assert!(p.cents >= 0 && p.cents < 10_i64.pow(12), "{}", p.cents);
            assert!(keyrank::parse::time::plausible(p.ts));
        }
    }
    if let Some(c) = &fx.reporting {
        assert!(keyrank::model::is_currency_code(c));
    }
});
