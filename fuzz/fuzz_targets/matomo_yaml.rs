//! The Matomo engine list loader: any YAML loads or is refused, and what it loads can
//! be looked up.
#![no_main]
use keyrank::classify::engines::EngineTable;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(yaml) = std::str::from_utf8(data) else {
        return;
    };
    let mut table = EngineTable::builtin();
    let before = table.engine_count();
    if let Ok(added) = table.extend_from_matomo_yaml(yaml, "fuzz.yml") {
        assert!(table.engine_count() <= before + added);
        let _ = table.lookup("www.google.com");
    }
});
