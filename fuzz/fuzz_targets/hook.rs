//! The panic hook of the fuzz targets whose code under test catches panics
//! on purpose (calamine under the list reader's guard, mail-parser under
//! classify's). libFuzzer's own hook aborts on every panic, caught or not;
//! this one reports each caught panic once per source location and lets the
//! code handle it. A panic nothing catches still aborts (libfuzzer-sys does
//! that when it reaches the target's edge), so it is still a crash.

use std::collections::HashSet;
use std::sync::{Mutex, Once};

static HOOK: Once = Once::new();
static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Installs the hook (once per process).
pub fn report_caught_panics_once() {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at) {
                eprintln!("panic (first at this location): {info}");
            }
        }));
    });
}
