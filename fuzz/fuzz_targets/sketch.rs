//! Visitor sketches as stored: bytes decode or are refused; a decoded sketch estimates,
//! merges and encodes back to itself.
#![no_main]
use keyrank::model::sketch::Sketch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some(s) = Sketch::from_bytes(data) else {
        return;
    };
    let n = s.estimate();
    let bytes = s.to_bytes();
    assert_eq!(Sketch::from_bytes(&bytes).as_ref(), Some(&s));
    let mut u = s.clone();
    u.union(&s);
    assert_eq!(u.estimate(), n, "a sketch merged with itself");
});
