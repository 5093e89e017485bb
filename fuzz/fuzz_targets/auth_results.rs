//! Fuzz target: arbitrary Authentication-Results header values, trusted
//! server name and From domain. The check never panics, and only headers
//! added by the trusted server count: dropping every other header changes
//! nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use subinvite::core::auth::authenticated;

fuzz_target!(|input: (Vec<String>, &str, &str)| {
    let (headers, trusted, domain) = input;
    let verdict = authenticated(&headers, trusted, domain);
    let own: Vec<String> = headers
        .iter()
        .filter(|h| {
            h.split(';')
                .next()
                .and_then(|p| p.split_whitespace().next())
                .unwrap_or("")
                .eq_ignore_ascii_case(trusted)
        })
        .cloned()
        .collect();
    assert_eq!(
        authenticated(&own, trusted, domain),
        verdict,
        "a header from another server changed the verdict"
    );
});
