//! Row validation: the per-row rules (required values, email syntax,
//! duplicates, name length and characters, blank rows) and the [`Checker`]
//! that streams rows through them and collects every problem.
//!
//! Pure and allocation-light on the happy path: a row without problems
//! costs no allocation beyond the duplicate set. Never reads files.
use super::header::{column_letters, Column, Mapping};
use super::report::{Code, Problem};
use super::source::RawRow;
use super::{ListOptions, ValidRow};
use crate::core::email::{normalise_into, trim_cell, EmailAddr};
use std::collections::hash_map::{Entry, HashMap};
use std::ops::ControlFlow;
use xxhash_rust::xxh3::xxh3_128;

/// Longest company or contact name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Values quoted in problems are cut to this many characters.
const MAX_VALUE_CHARS: usize = 100;

/// Cuts a value for display in a report.
pub(crate) fn shorten(s: &str) -> String {
    match s.char_indices().nth(MAX_VALUE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Bidi embedding/override/isolate controls: they can make a name display
/// as something else than it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_forbidden(c: char) -> bool {
    (c.is_control() && !c.is_whitespace()) || is_bidi_control(c)
}

/// "-", "--", "n/a": what people type for "none"; treated as an empty cell
/// (and not warned about as formula-like).
fn is_placeholder(s: &str) -> bool {
    s.eq_ignore_ascii_case("n/a") || s.chars().all(|c| matches!(c, '-' | '–' | '—' | '.'))
}

/// What one pass over a name cell finds.
struct NameStats {
    /// Characters after trimming and collapsing whitespace runs.
    chars: usize,
    /// The first forbidden character.
    bad: Option<char>,
    /// Starts with = + - @ (a spreadsheet would read it as a formula).
    formula: bool,
}

fn name_stats(s: &str) -> NameStats {
    let formula = s.starts_with(['=', '+', '-', '@']);
    // Fast path: printable ASCII, where only spaces can collapse.
    if s.bytes().all(|b| (0x20..0x7F).contains(&b)) {
        let doubled = s.as_bytes().windows(2).filter(|w| w == b"  ").count();
        return NameStats {
            chars: s.len() - doubled,
            bad: None,
            formula,
        };
    }
    let mut chars = 0;
    let mut bad = None;
    let mut prev_ws = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !prev_ws {
                chars += 1;
            }
            prev_ws = true;
        } else {
            chars += 1;
            prev_ws = false;
            if bad.is_none() && is_forbidden(c) {
                bad = Some(c);
            }
        }
    }
    NameStats {
        chars,
        bad,
        formula,
    }
}

/// Trims and collapses every whitespace run (including line breaks inside a
/// quoted field) to one space.
pub(crate) fn clean_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in trim_cell(s)
        .split(char::is_whitespace)
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Shows control characters as `U+0007` so the report stays printable.
fn visible(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if is_forbidden(c) {
            out.push_str(&format!("<U+{:04X}>", u32::from(c)));
        } else if c.is_whitespace() {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    shorten(out.trim())
}

/// The list of problems being gathered, capped.
struct Sink {
    max_kept: usize,
    errors: Vec<Problem>,
    errors_total: usize,
    warnings: Vec<Problem>,
    warnings_total: usize,
}

impl Sink {
    /// Builds the problem only if it will be kept.
    fn add(&mut self, code: Code, make: impl FnOnce() -> Problem) {
        let (list, total) = if code.is_error() {
            (&mut self.errors, &mut self.errors_total)
        } else {
            (&mut self.warnings, &mut self.warnings_total)
        };
        *total += 1;
        if list.len() < self.max_kept {
            list.push(make());
        }
    }
}

fn cell_problem(
    row: u32,
    col: &Column,
    code: Code,
    value: Option<String>,
    message: String,
) -> Problem {
    Problem {
        row: Some(row),
        column: Some(col.header.clone()),
        code,
        value,
        message,
    }
}

/// Streams data rows (after the header) through every rule.
pub(crate) struct Checker<'m> {
    map: &'m Mapping,
    max_rows: u32,
    delimiter: Option<u8>,
    sink: Sink,
    seen: HashMap<u128, u32>,
    email_buf: String,
    data_rows: u32,
    last_row: u32,
    blank_run: Option<(u32, u32)>,
}

/// What the checker found, ready to go into a report.
pub(crate) struct Findings {
    pub rows: u32,
    pub errors: Vec<Problem>,
    pub errors_total: usize,
    pub warnings: Vec<Problem>,
    pub warnings_total: usize,
}

impl<'m> Checker<'m> {
    pub fn new(map: &'m Mapping, opts: &ListOptions, delimiter: Option<u8>) -> Checker<'m> {
        let mut sink = Sink {
            max_kept: opts.max_errors,
            errors: Vec::new(),
            errors_total: 0,
            warnings: Vec::new(),
            warnings_total: 0,
        };
        for p in &map.errors {
            sink.add(p.code, || p.clone());
        }
        for p in &map.warnings {
            sink.add(p.code, || p.clone());
        }
        Checker {
            map,
            max_rows: opts.max_rows,
            delimiter,
            sink,
            seen: HashMap::new(),
            email_buf: String::with_capacity(64),
            data_rows: 0,
            last_row: map.row,
            blank_run: None,
        }
    }

    fn blank(&mut self, from: u32, to: u32) {
        self.blank_run = Some(match self.blank_run {
            Some((start, _)) => (start, to),
            None => (from, to),
        });
    }

    /// Warns about the blank rows seen since the last data row (blank rows
    /// at the very end are not worth a warning).
    fn flush_blanks(&mut self) {
        if let Some((from, to)) = self.blank_run.take() {
            self.sink.add(Code::BlankRow, || Problem {
                row: Some(from),
                column: None,
                code: Code::BlankRow,
                value: None,
                message: if from == to {
                    "blank row: skipped".to_string()
                } else {
                    format!("rows {from} to {to} are blank: skipped")
                },
            });
        }
    }

    /// Checks one row from the source (rows at or above the header must not
    /// be passed). Breaks when the row limit is exceeded.
    pub fn row(&mut self, raw: &RawRow) -> ControlFlow<()> {
        let row = raw.row;
        if row > self.last_row.saturating_add(1) {
            self.blank(self.last_row + 1, row - 1);
        }
        self.last_row = self.last_row.max(row);
        if raw.is_blank() {
            self.blank(row, row);
            return ControlFlow::Continue(());
        }
        if self.data_rows >= self.max_rows {
            let max = self.max_rows;
            self.sink.add(Code::TooManyRows, || Problem {
                row: Some(row),
                column: None,
                code: Code::TooManyRows,
                value: None,
                message: format!(
                    "more than {max} data rows (the limit): split the list into several files; rows from here on were not read"
                ),
            });
            return ControlFlow::Break(());
        }
        self.flush_blanks();
        self.data_rows += 1;
        self.email(raw);
        if let Some(col) = &self.map.company {
            self.name(raw, col, true, "subcontractor name");
        }
        for col in &self.map.contact {
            self.name(raw, col, false, "contact name");
        }
        self.extra_cells(raw);
        ControlFlow::Continue(())
    }

    fn email(&mut self, raw: &RawRow) {
        let Some(col) = &self.map.email else { return };
        let cell = raw.get(col.index);
        let value = trim_cell(&cell);
        if value.is_empty() {
            self.sink.add(Code::MissingValue, || {
                cell_problem(
                    raw.row,
                    col,
                    Code::MissingValue,
                    None,
                    "the email address is empty".into(),
                )
            });
            return;
        }
        match normalise_into(value, &mut self.email_buf) {
            Err(why) => self.sink.add(Code::InvalidEmail, || {
                cell_problem(
                    raw.row,
                    col,
                    Code::InvalidEmail,
                    Some(shorten(value)),
                    why.to_string(),
                )
            }),
            Ok(()) => {
                // Insert without reading the slot back: on a big list the
                // slot is a cache miss, and a write miss does not stall.
                let first = match self.seen.entry(xxh3_128(self.email_buf.as_bytes())) {
                    Entry::Vacant(slot) => {
                        slot.insert(raw.row);
                        return;
                    }
                    Entry::Occupied(seen) => *seen.get(),
                };
                self.sink.add(Code::DuplicateEmail, || {
                    cell_problem(
                        raw.row,
                        col,
                        Code::DuplicateEmail,
                        Some(shorten(value)),
                        format!("also on row {first}"),
                    )
                });
            }
        }
    }

    fn name(&mut self, raw: &RawRow, col: &Column, required: bool, what: &str) {
        let cell = raw.get(col.index);
        let value = trim_cell(&cell);
        if value.is_empty() || is_placeholder(value) {
            if required {
                self.sink.add(Code::MissingValue, || {
                    cell_problem(
                        raw.row,
                        col,
                        Code::MissingValue,
                        None,
                        format!("the {what} is empty"),
                    )
                });
            }
            return;
        }
        let stats = name_stats(value);
        if let Some(c) = stats.bad {
            let kind = if is_bidi_control(c) {
                "an invisible text-direction character"
            } else {
                "a control character"
            };
            self.sink.add(Code::InvalidCharacters, || {
                let msg = format!("contains {kind} (U+{:04X}): remove it", u32::from(c));
                cell_problem(
                    raw.row,
                    col,
                    Code::InvalidCharacters,
                    Some(visible(value)),
                    msg,
                )
            });
        }
        if stats.chars > MAX_NAME_CHARS {
            self.sink.add(Code::TooLong, || {
                let msg = format!(
                    "the {what} is {} characters long (at most {MAX_NAME_CHARS})",
                    stats.chars
                );
                cell_problem(raw.row, col, Code::TooLong, Some(visible(value)), msg)
            });
        }
        if stats.formula {
            self.sink.add(Code::FormulaLike, || {
                let msg = "starts like a spreadsheet formula: kept as plain text".to_string();
                cell_problem(raw.row, col, Code::FormulaLike, Some(visible(value)), msg)
            });
        }
    }

    fn extra_cells(&mut self, raw: &RawRow) {
        let width = self.map.width;
        if raw.len() <= width || (width..raw.len()).all(|i| trim_cell(&raw.get(i)).is_empty()) {
            return;
        }
        let delimiter = self.delimiter;
        self.sink.add(Code::ExtraCells, || {
            let mut message = format!(
                "filled cells right of the last header column ({}) are ignored",
                column_letters(width.saturating_sub(1))
            );
            if let Some(d) = delimiter {
                let d = if d == b'\t' {
                    "a tab".to_string()
                } else {
                    format!("'{}'", char::from(d))
                };
                message.push_str(&format!(
                    "; if a name contains {d}, put the name in double quotes"
                ));
            }
            Problem {
                row: Some(raw.row),
                column: None,
                code: Code::ExtraCells,
                value: None,
                message,
            }
        });
    }

    /// Ends the pass. `header_only` adds `empty_file` when no data row came.
    pub fn finish(mut self) -> Findings {
        if self.data_rows == 0 {
            self.sink.add(Code::EmptyFile, || {
                Problem::file(
                    Code::EmptyFile,
                    "the file has a header row but no data rows",
                )
            });
        }
        Findings {
            rows: self.data_rows,
            errors: self.sink.errors,
            errors_total: self.sink.errors_total,
            warnings: self.sink.warnings,
            warnings_total: self.sink.warnings_total,
        }
    }
}

/// The importable row, if this row passes every per-row rule (duplicates
/// are not tracked here: `check` already refused a list that has them).
pub(crate) fn valid_row(map: &Mapping, raw: &RawRow) -> Option<ValidRow> {
    let email = EmailAddr::parse(&raw.get(map.email.as_ref()?.index)).ok()?;
    let company = ok_name(&raw.get(map.company.as_ref()?.index))?;
    if company.is_empty() {
        return None;
    }
    let mut parts = Vec::with_capacity(map.contact.len());
    for col in &map.contact {
        let part = ok_name(&raw.get(col.index))?;
        if !part.is_empty() {
            parts.push(part);
        }
    }
    let contact = (!parts.is_empty()).then(|| parts.join(" "));
    Some(ValidRow {
        row: raw.row,
        email,
        company,
        contact,
    })
}

/// The cleaned name ("" for a placeholder), or `None` if it breaks a rule.
fn ok_name(cell: &str) -> Option<String> {
    let value = trim_cell(cell);
    if is_placeholder(value) {
        return Some(String::new());
    }
    let stats = name_stats(value);
    (stats.bad.is_none() && stats.chars <= MAX_NAME_CHARS).then(|| clean_name(cell))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_collapse_whitespace() {
        assert_eq!(clean_name("  Müller \r\n  Bau\tGmbH "), "Müller Bau GmbH");
        assert_eq!(
            name_stats("Müller \r\n  Bau").chars,
            "Müller Bau".chars().count()
        );
        assert_eq!(name_stats("A   B  C D").chars, "A B C D".len());
    }

    #[test]
    fn forbidden_characters() {
        assert_eq!(name_stats("Acme\u{7}Corp").bad, Some('\u{7}'));
        assert_eq!(name_stats("Acme\u{202E}Corp").bad, Some('\u{202E}'));
        assert_eq!(name_stats("Acme\u{85}Corp").bad, None, "NEL is whitespace");
        assert_eq!(name_stats("Acme\u{9f}Corp").bad, Some('\u{9f}'));
        assert_eq!(name_stats("Acme\tCorp\r\n").bad, None);
        assert_eq!(visible("A\u{202E}B"), "A<U+202E>B");
    }

    #[test]
    fn formula_like() {
        for s in ["=HYPERLINK(1)", "+1 Roofing", "-Dash", "@home"] {
            assert!(name_stats(s).formula, "{s}");
        }
        assert!(!name_stats("A=B").formula);
        for s in ["-", "--", "n/a", "N/A", "—"] {
            assert!(is_placeholder(s), "{s}");
        }
        assert!(!is_placeholder("-Dash"));
    }

    #[test]
    fn shorten_cuts_on_a_char_boundary() {
        let long = "é".repeat(150);
        let s = shorten(&long);
        assert_eq!(s.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(s.ends_with('…'));
    }
}
