//! Fuzz target: arbitrary text as the body and subject of a command mail.
//! Parsing never panics, and the well-formed commands survive the round trip
//! through their printed lines (how a classification stores them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use subinvite::classify::command::{from_lines, parse_commands};

fuzz_target!(|input: (&str, Option<&str>)| {
    let (text, subject) = input;
    let cmds = parse_commands(text, subject);
    let good: Vec<_> = cmds.into_iter().filter(|c| c.is_well_formed()).collect();
    let lines: Vec<String> = good.iter().map(ToString::to_string).collect();
    assert_eq!(
        from_lines(&lines),
        good,
        "commands changed through their lines"
    );
});
