//! Fuzz target: arbitrary bytes as a list a contractor sent. Opens them the
//! way an emailed attachment is opened (format, encoding and delimiter found
//! from the content: CSV, XLSX, XLS, ...), checks the whole list and streams
//! its rows, with the checks of [`lists::read_and_check`].
//!
//! Calamine runs under a guard that turns its panics into a "damaged
//! spreadsheet" answer, as the daemon does; those panics are reported once
//! per location on stderr and are not crashes. Any other panic is.
#![no_main]

#[path = "hook.rs"]
mod hook;
#[path = "lists.rs"]
mod lists;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    hook::report_caught_panics_once();
    lists::read_and_check("list.csv", data);
});
