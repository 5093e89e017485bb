//! The result of checking a list: [`Report`], its [`Problem`]s and their
//! stable [`Code`]s, and the human-readable rendering used for drop-folder
//! report files and `subinvite check` without `--json`.
//!
//! The JSON shape is a contract (DESIGN §6): field names and code strings
//! change only on purpose. This module never reads files.
use serde::Serialize;
use std::fmt::Write as _;

/// What kind of file the list turned out to be (by content, not by name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text (CSV, semicolon-separated, Excel "Unicode Text", ...).
    Csv,
    /// Office Open XML workbook.
    Xlsx,
    /// Excel 97-2003 workbook.
    Xls,
    /// Excel binary workbook.
    Xlsb,
    /// OpenDocument spreadsheet.
    Ods,
    /// Not a table at all (see the `not_a_table` error).
    Unknown,
}

impl Format {
    /// The JSON string.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Xlsb => "xlsb",
            Format::Ods => "ods",
            Format::Unknown => "unknown",
        }
    }
}

/// Stable snake_case problem codes. Errors make a list invalid; warnings
/// are informational.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    /// Error: no column for a required field (email, company).
    MissingColumn,
    /// Error: two columns map to the same field.
    AmbiguousColumn,
    /// Error: a required cell (email, company) is empty.
    MissingValue,
    /// Error: the email cell is not one valid address.
    InvalidEmail,
    /// Error: the same address (ignoring case and spaces) is on an earlier row.
    DuplicateEmail,
    /// Error: a name is longer than the limit.
    TooLong,
    /// Error: a name contains control or bidi-override characters.
    InvalidCharacters,
    /// Error: more data rows than the configured limit.
    TooManyRows,
    /// Error: no header row, or a header but no data rows.
    EmptyFile,
    /// Error: the file is not a table (binary junk, a PDF, ...).
    NotATable,
    /// Error: the file, or what a spreadsheet unpacks to, is over a size
    /// limit; it was not read.
    TooLarge,
    /// Warning: blank rows between data rows were skipped.
    BlankRow,
    /// Warning: a column that is not used.
    IgnoredColumn,
    /// Warning: a non-blank row above the header row (a title) was skipped.
    IgnoredRow,
    /// Warning: a name starts with = + - @; it is kept as plain text.
    FormulaLike,
    /// Warning: a row has filled cells beyond the last header column.
    ExtraCells,
}

impl Code {
    /// The stable string used in JSON and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MissingColumn => "missing_column",
            Code::AmbiguousColumn => "ambiguous_column",
            Code::MissingValue => "missing_value",
            Code::InvalidEmail => "invalid_email",
            Code::DuplicateEmail => "duplicate_email",
            Code::TooLong => "too_long",
            Code::InvalidCharacters => "invalid_characters",
            Code::TooManyRows => "too_many_rows",
            Code::EmptyFile => "empty_file",
            Code::NotATable => "not_a_table",
            Code::TooLarge => "too_large",
            Code::BlankRow => "blank_row",
            Code::IgnoredColumn => "ignored_column",
            Code::IgnoredRow => "ignored_row",
            Code::FormulaLike => "formula_like",
            Code::ExtraCells => "extra_cells",
        }
    }

    /// Whether this code makes a list invalid.
    pub fn is_error(self) -> bool {
        !matches!(
            self,
            Code::BlankRow
                | Code::IgnoredColumn
                | Code::IgnoredRow
                | Code::FormulaLike
                | Code::ExtraCells
        )
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error or warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// The row number as Excel shows it; `None` for whole-file problems.
    pub row: Option<u32>,
    /// The column's header as found in the file (or the expected header
    /// for `missing_column`).
    pub column: Option<String>,
    /// What kind of problem.
    pub code: Code,
    /// The offending cell value (shortened when very long).
    pub value: Option<String>,
    /// A short human explanation, meant to follow the quoted value.
    pub message: String,
}

impl Problem {
    /// A problem with no row, column or value.
    pub fn file(code: Code, message: impl Into<String>) -> Problem {
        Problem {
            row: None,
            column: None,
            code,
            value: None,
            message: message.into(),
        }
    }
}

/// How the columns were mapped: the header text as found, per field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Columns {
    /// The email column's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The company (subcontractor name) column's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<String>,
    /// The contact column's header, or "First + Last" when combined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
}

/// The outcome of [`crate::list::ListFile::check`]. Serialises to the
/// `check --json` object of DESIGN §6.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// No errors (warnings allowed).
    pub valid: bool,
    /// Data rows seen (blank rows and the header excluded).
    pub rows: u32,
    /// What the file turned out to be.
    pub format: Format,
    /// The text encoding assumed; `None` for spreadsheets.
    pub encoding: Option<&'static str>,
    /// The delimiter assumed, as a one-character string; `None` for spreadsheets.
    pub delimiter: Option<String>,
    /// The row the header was found on (Excel numbering).
    pub header_row: Option<u32>,
    /// The column mapping.
    pub columns: Columns,
    /// Errors, in file order, at most `max_errors` of them.
    pub errors: Vec<Problem>,
    /// All errors found, including those beyond the cap.
    pub errors_total: usize,
    /// Warnings, in file order, at most `max_errors` of them.
    pub warnings: Vec<Problem>,
    /// All warnings found, including those beyond the cap.
    pub warnings_total: usize,
}

impl Report {
    /// The report of a file that could not be read at all (damaged or
    /// encrypted workbook, I/O error): one file-level problem saying why.
    pub fn unreadable(why: &str) -> Report {
        Report::single(Problem::file(
            Code::NotATable,
            format!("the file cannot be read ({why}): send the list as CSV or Excel (.xlsx), without a password"),
        ))
    }

    /// A report of a file refused for one whole-file `problem`.
    pub fn single(problem: Problem) -> Report {
        Report {
            valid: false,
            rows: 0,
            format: Format::Unknown,
            encoding: None,
            delimiter: None,
            header_row: None,
            columns: Columns::default(),
            errors: vec![problem],
            errors_total: 1,
            warnings: Vec::new(),
            warnings_total: 0,
        }
    }
}

fn delimiter_name(d: &str) -> String {
    match d {
        "\t" => "tab".to_string(),
        other => format!("\"{other}\""),
    }
}

fn encoding_note(enc: &str) -> &'static str {
    match enc {
        "windows-1252" => " (the file is not valid UTF-8)",
        "UTF-16LE" | "UTF-16BE" => " (Excel \"Unicode Text\")",
        _ => "",
    }
}

fn push_problem(out: &mut String, p: &Problem) {
    out.push_str("  ");
    if let Some(row) = p.row {
        let _ = write!(out, "row {row}, ");
    }
    if let Some(col) = &p.column {
        let _ = write!(out, "column \"{col}\": ");
    }
    let _ = write!(out, "{}: ", p.code);
    if let Some(v) = &p.value {
        let _ = write!(out, "'{v}': ");
    }
    out.push_str(&p.message);
    out.push('\n');
}

impl Report {
    /// A human-readable report: what was assumed, then every problem, one a line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = write!(out, "Format: {}", self.format.as_str().to_uppercase());
        if let Some(enc) = self.encoding {
            let _ = write!(out, ", encoding {enc}{}", encoding_note(enc));
        }
        if let Some(d) = &self.delimiter {
            let _ = write!(out, ", delimiter {}", delimiter_name(d));
        }
        out.push('\n');
        if let Some(h) = self.header_row {
            let _ = write!(out, "Header: row {h}");
            for (field, col) in [
                ("email", &self.columns.email),
                ("company", &self.columns.company),
                ("contact", &self.columns.contact),
            ] {
                if let Some(c) = col {
                    let _ = write!(out, "; {field} = \"{c}\"");
                }
            }
            out.push('\n');
        }
        let _ = writeln!(out, "Data rows: {}", self.rows);
        if self.valid {
            let _ = writeln!(out, "Result: valid ({} warnings)", self.warnings_total);
        } else {
            let _ = writeln!(
                out,
                "Result: NOT valid: {} errors, {} warnings",
                self.errors_total, self.warnings_total
            );
        }
        if !self.errors.is_empty() {
            out.push_str("\nErrors:\n");
            self.errors.iter().for_each(|p| push_problem(&mut out, p));
            if self.errors_total > self.errors.len() {
                let more = self.errors_total - self.errors.len();
                let _ = writeln!(out, "  ... and {more} more errors not listed");
            }
        }
        if !self.warnings.is_empty() {
            out.push_str("\nWarnings:\n");
            self.warnings.iter().for_each(|p| push_problem(&mut out, p));
            if self.warnings_total > self.warnings.len() {
                let more = self.warnings_total - self.warnings.len();
                let _ = writeln!(out, "  ... and {more} more warnings not listed");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_strings() {
        for code in [
            Code::MissingColumn,
            Code::AmbiguousColumn,
            Code::MissingValue,
            Code::InvalidEmail,
            Code::DuplicateEmail,
            Code::TooLong,
            Code::InvalidCharacters,
            Code::TooManyRows,
            Code::EmptyFile,
            Code::NotATable,
            Code::TooLarge,
            Code::BlankRow,
            Code::IgnoredColumn,
            Code::IgnoredRow,
            Code::FormulaLike,
            Code::ExtraCells,
        ] {
            let json = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn text_lists_every_problem_with_row_column_and_value() {
        let report = Report {
            valid: false,
            rows: 3,
            format: Format::Csv,
            encoding: Some("UTF-8"),
            delimiter: Some(",".into()),
            header_row: Some(1),
            columns: Columns {
                email: Some("E-mail".into()),
                company: Some("Company".into()),
                contact: None,
            },
            errors: vec![Problem {
                row: Some(7),
                column: Some("E-mail".into()),
                code: Code::InvalidEmail,
                value: Some("bob@@x.com".into()),
                message: "two @ signs".into(),
            }],
            errors_total: 1,
            warnings: vec![],
            warnings_total: 0,
        };
        let text = report.to_text();
        assert!(text.contains("row 7, column \"E-mail\": invalid_email: 'bob@@x.com': two @ signs"));
        assert!(text.contains("encoding UTF-8, delimiter \",\""));
        assert!(text.contains("email = \"E-mail\"; company = \"Company\""));
    }
}
