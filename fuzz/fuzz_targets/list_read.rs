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

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, Once};
use subinvite::list::{ListFile, ListInput, ListOptions};

static HOOK: Once = Once::new();
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Replaces libFuzzer's abort-on-any-panic hook: a panic the code catches
/// is handled, and one it does not catch still aborts in libfuzzer-sys.
fn quiet_panics() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                eprintln!("panic (first at this location): {info}");
            }
        }));
    });
}

fuzz_target!(|data: &[u8]| {
    quiet_panics();
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
