//! Fuzz target: arbitrary text as an email cell. Parsing never panics, and
//! an accepted address is a fixed point: parsing its normal form again gives
//! it back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subinvite::core::email::EmailAddr;

fuzz_target!(|text: &str| {
    if let Ok(addr) = EmailAddr::parse(text) {
        let again = EmailAddr::parse(addr.as_str());
        assert_eq!(
            again.as_ref(),
            Ok(&addr),
            "normal form does not parse to itself"
        );
        assert!(addr.as_str().len() <= subinvite::core::email::MAX_ADDR_LEN);
    }
});
