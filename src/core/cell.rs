//! Spreadsheet-safe cells: text that a spreadsheet would run as a formula
//! (starting with `=`, `+`, `-`, `@`, tab or CR) is prefixed with an
//! apostrophe, the form Excel itself shows as plain text.

use std::borrow::Cow;

/// `s` as a cell that opens as text, never as a formula.
pub fn neutralise(s: &str) -> Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{s}"))
    } else {
        Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text() {
        for s in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(s), format!("'{s}"));
        }
        for s in ["Acme", "a@b.test", "", "1-2"] {
            assert_eq!(neutralise(s), s);
        }
    }
}
