//! The one place the shell reads the time. Tests and benchmarks can set
//! `SUBINVITE_NOW` (Unix seconds) to run at a fixed, movable time; the core
//! never reads a clock at all.

use crate::model::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable that pins the clock (for tests).
pub const NOW_VAR: &str = "SUBINVITE_NOW";

/// The current time as Unix seconds.
pub fn now() -> Timestamp {
    // The pinned time is read once per process: the hot paths ask often.
    static PINNED: std::sync::OnceLock<Option<Timestamp>> = std::sync::OnceLock::new();
    if let Some(t) =
        *PINNED.get_or_init(|| std::env::var(NOW_VAR).ok().and_then(|v| v.parse().ok()))
    {
        return t;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as Timestamp)
        .unwrap_or(0)
}

/// An RFC 3339 rendering for tables and JSON.
pub fn rfc3339(t: Timestamp) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| t.to_string())
}
