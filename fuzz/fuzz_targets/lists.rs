//! What the list targets check once they have bytes to read as a list:
//! open, check the whole list, stream its rows. Besides "never panics,
//! never hangs", it checks what the import relies on: a list the checker
//! calls valid streams exactly as many rows as the report counted, without
//! a read error.

use std::sync::Arc;
use subinvite::list::{ListFile, ListInput, ListOptions};

/// Reads `data` as the list file `name`, with the checks above.
pub fn read_and_check(name: &str, data: &[u8]) {
    let opts = ListOptions {
        max_rows: 10_000,
        max_errors: 100,
        ..ListOptions::default()
    };
    let input = ListInput::Bytes {
        name: name.into(),
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
}
