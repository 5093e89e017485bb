//! Crash points: the named places between taking an input and acknowledging
//! it, and between handing a message over and recording it, where the crash
//! tests stop the process dead. They exist only in builds with the
//! `failpoints` feature (the `fail` crate): `FAILPOINTS="drop.committed=return"`
//! aborts at the first pass, `"drop.committed=2*off->return"` at the third.
//! In every other build a point compiles to nothing.

/// Reads the points set in the `FAILPOINTS` environment variable. Call once,
/// at start-up.
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

/// A crash point: when set to `return`, the process aborts here, without
/// unwinding, flushing or running any destructor (as a `SIGKILL` would).
#[inline(always)]
pub fn point(name: &str) {
    #[cfg(feature = "failpoints")]
    fail::fail_point!(name, |_| std::process::abort());
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
