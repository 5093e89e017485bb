//! Fuzz target: arbitrary bytes as a list a contractor sent. Opens them the
//! way an emailed attachment is opened (format, encoding and delimiter found
//! from the content: CSV, XLSX, XLS, ...), checks the whole list and streams
//! its rows. Besides "never panics, never hangs", it checks what the import
//! relies on: a list the checker calls valid streams exactly as many rows as
//! the report counted, without a read error.
//!
//! Calamine runs under a guard that turns its panics into a "damaged
//! spreadsheet" answer, as the daemon does; those panics are reported once
//! per location on stderr and are not crashes. Any other panic is.
#![no_main]

#[path = "hook.rs"]
mod hook;

use libfuzzer_sys::fuzz_target;
use std::sync::Arc;
use subinvite::list::{ListFile, ListInput, ListOptions};

fuzz_target!(|data: &[u8]| {
    hook::report_caught_panics_once();
    let opts = ListOptions {
        max_rows: 10_000,
        max_errors: 100,
        ..ListOptions::default()
    };
    let input = ListInput::Bytes {
        name: "list.csv".into(),
        data: Arc::from(data),
    };
    let Ok(list) = ListFile::open(input, &opts) else {
        return;
    };
    let Ok(report) = list.check() else {
        return;
    };
    let _ = serde_json::to_string(&report);
    let Ok(rows) = list.rows() else {
        assert!(!report.valid, "a valid list cannot be streamed");
        return;
    };
    let mut n = 0u32;
    for row in rows {
        match row {
            Ok(_) => n += 1,
            Err(e) => {
                assert!(!report.valid, "a valid list failed while streamed: {e}");
                return;
            }
        }
    }
    if report.valid {
        assert_eq!(n, report.rows, "a valid list streamed another row count");
    }
});
