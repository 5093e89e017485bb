//! Fuzz target: arbitrary bytes as a mail arriving at the intake address.
//! `classify` must answer every input (no panic, bounded work) with a
//! classification that `inspect --json` can print. mail-parser's own
//! assertions are caught by classify (see its `parse_mime`), so they are
//! reported once each, not as crashes.
#![no_main]

#[path = "hook.rs"]
mod hook;

use libfuzzer_sys::fuzz_target;
use subinvite::classify::{classify, ClassifyConfig};

fuzz_target!(|data: &[u8]| {
    hook::report_caught_panics_once();
    let cfg = ClassifyConfig::with_domain("example.test");
    let c = classify(data, &cfg);
    if let Err(e) = serde_json::to_string(&c) {
        panic!("classification cannot be printed as JSON: {e}");
    }
});
