//! Fuzz target: arbitrary bytes as a mail arriving at the intake address.
//! `classify` must answer every input (no panic, bounded work) with a
//! classification that `inspect --json` can print.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subinvite::classify::{classify, ClassifyConfig};

fuzz_target!(|data: &[u8]| {
    let cfg = ClassifyConfig::with_domain("example.test");
    let c = classify(data, &cfg);
    if let Err(e) = serde_json::to_string(&c) {
        panic!("classification cannot be printed as JSON: {e}");
    }
});
