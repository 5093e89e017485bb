//! Reading and validating subcontractor lists (CSV in any common encoding
//! and delimiter, XLSX, XLS, XLSB, ODS), streaming.
//!
//! Owns everything between "some bytes a contractor sent" and "rows that can
//! be imported": format and encoding detection by content, header mapping,
//! the validation rules, and the [`Report`] of every problem by Excel row
//! and column. Two passes: [`ListFile::check`] streams the whole list and
//! collects every problem; [`ListFile::rows`] streams the valid rows for the
//! import. Memory stays flat with the list's size except for the duplicate
//! set and the capped problem lists. This module never touches the store,
//! sends mail, or decides what an import does with the rows.
mod aliases;
mod detect;
mod fix;
mod header;
mod limits;
mod ole;
mod report;
mod sheet;
mod source;
mod validate;

pub use report::{Code, Columns, Format, Problem, Report};
pub use validate::MAX_NAME_CHARS;

use crate::core::email::EmailAddr;
use aliases::Aliases;
use detect::{Sniffed, TextSpec};
use header::{find_header, CandidateRow, Mapping, HEADER_SCAN_ROWS};
use sheet::{Probe, RangeSource, XlsxStream};
use source::{RawRow, Source, TextSource};
use std::path::PathBuf;
use std::sync::Arc;
use validate::Checker;

/// Limits and configured header aliases.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Most data rows accepted; more is a `too_many_rows` error.
    pub max_rows: u32,
    /// Most errors (and, separately, warnings) kept in a report; the totals
    /// still count all of them.
    pub max_errors: usize,
    /// Largest file read at all; a larger one is `too_large`, unread.
    pub max_file_bytes: u64,
    /// Most bytes a zip container (XLSX, XLSB, ODS) may unpack to.
    pub max_unpacked_bytes: u64,
    /// Header names to accept besides the built-in ones.
    pub aliases: ExtraAliases,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            max_rows: 1_000_000,
            max_errors: 10_000,
            max_file_bytes: 100 << 20,
            max_unpacked_bytes: 1 << 30,
            aliases: ExtraAliases::default(),
        }
    }
}

/// Extra header names (from config) for each field; matched like the
/// built-in ones (ignoring case, spaces and punctuation) and winning over them.
#[derive(Default, Clone, Debug)]
pub struct ExtraAliases {
    /// More names for the email column.
    pub email: Vec<String>,
    /// More names for the company (subcontractor name) column.
    pub company: Vec<String>,
    /// More names for the contact name column.
    pub contact: Vec<String>,
}

/// Where a list comes from.
#[derive(Debug, Clone)]
pub enum ListInput {
    /// A file on disk (drop folder, CLI).
    Path(PathBuf),
    /// An email attachment: its file name (for messages only; the format
    /// is found from the content) and its bytes.
    Bytes { name: String, data: Arc<[u8]> },
}

impl ListInput {
    /// The file name or path, for messages.
    pub fn name(&self) -> String {
        match self {
            ListInput::Path(p) => p.display().to_string(),
            ListInput::Bytes { name, .. } => name.clone(),
        }
    }
}

/// The list cannot be read at all (as opposed to read and found invalid).
/// The CLI maps this to exit code 2.
#[derive(thiserror::Error, Debug)]
pub enum Unreadable {
    /// Reading the file failed.
    #[error("cannot read {name}: {source}")]
    Io {
        name: String,
        #[source]
        source: std::io::Error,
    },
    /// A password-protected (encrypted) workbook.
    #[error("the spreadsheet is password-protected: remove the password and send it again")]
    Encrypted,
    /// A damaged workbook, or one the spreadsheet reader cannot parse.
    #[error("the spreadsheet is damaged or cannot be read: {0}")]
    Corrupt(String),
}

impl Unreadable {
    pub(crate) fn io(input: &ListInput, source: std::io::Error) -> Unreadable {
        Unreadable::Io {
            name: input.name(),
            source,
        }
    }

    pub(crate) fn csv(input: &ListInput, e: csv::Error) -> Unreadable {
        match e.into_kind() {
            csv::ErrorKind::Io(io) => Unreadable::io(input, io),
            other => Unreadable::Corrupt(format!("{other:?}")),
        }
    }
}

/// One importable row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    /// The row number as Excel shows it.
    pub row: u32,
    /// Trimmed and lower-cased.
    pub email: EmailAddr,
    /// Trimmed, whitespace runs collapsed.
    pub company: String,
    /// Trimmed, whitespace collapsed; first and last name joined when the
    /// list has them apart. `None` when empty or absent.
    pub contact: Option<String>,
}

/// What the opened input turned out to be.
#[derive(Debug)]
enum Kind {
    Text(TextSpec),
    Sheet {
        format: Format,
        sheet: String,
        /// Header candidates read while probing (XLSX), so `open` does not
        /// read the workbook twice.
        head: Option<Vec<CandidateRow>>,
    },
    /// Not readable as a list; the one problem that says why.
    Rejected {
        format: Format,
        problem: Problem,
    },
}

/// An opened list: format, encoding, delimiter and header mapping detected
/// once; [`check`](ListFile::check) and [`rows`](ListFile::rows) each stream
/// the input again from the start.
#[derive(Debug)]
pub struct ListFile {
    input: ListInput,
    opts: ListOptions,
    kind: Kind,
    header: Option<Mapping>,
}

impl ListFile {
    /// Detects what the input is and finds its header. A file that is empty
    /// or not a table opens fine and fails `check`; only I/O errors and
    /// damaged or encrypted workbooks are `Unreadable`.
    pub fn open(input: ListInput, opts: &ListOptions) -> Result<ListFile, Unreadable> {
        let not_a_table = |what: String| Kind::Rejected {
            format: Format::Unknown,
            problem: Problem::file(
                Code::NotATable,
                format!("this file is {what}, not a table: send the list as CSV or Excel (.xlsx)"),
            ),
        };
        let probed = |probe: Probe| match probe {
            Probe::Sheet {
                format,
                sheet,
                head,
            } => Kind::Sheet {
                format,
                sheet,
                head,
            },
            Probe::NoSheet(format) => Kind::Rejected {
                format,
                problem: Problem::file(Code::EmptyFile, "the workbook has no worksheet"),
            },
            Probe::NotATable(what) => not_a_table(what),
        };
        let too_large = |problem| Kind::Rejected {
            format: Format::Unknown,
            problem,
        };
        let size = limits::input_len(&input)?;
        let sniffed = match limits::file_too_large(size, opts.max_file_bytes) {
            Some(problem) => Err(too_large(problem)),
            None => Ok(detect::sniff(&input)?),
        };
        let kind = match sniffed {
            Err(kind) => kind,
            Ok(Sniffed::Text(spec)) => Kind::Text(spec),
            Ok(Sniffed::Zip) => match limits::zip_bomb(&input, opts.max_unpacked_bytes)? {
                Some(problem) => too_large(problem),
                None => probed(sheet::probe_zip(&input)?),
            },
            Ok(Sniffed::Ole) => probed(sheet::probe_ole(&input)?),
            Ok(Sniffed::NotATable(what)) => not_a_table(what),
            Ok(Sniffed::UnknownEncoding) => Kind::Rejected {
                format: Format::Csv,
                problem: Problem::file(
                    Code::NotATable,
                    "the text is neither UTF-8 nor Windows-1252: save the list from Excel as \"CSV UTF-8\" or .xlsx",
                ),
            },
        };
        let mut file = ListFile {
            input,
            opts: opts.clone(),
            kind,
            header: None,
        };
        file.header = match &file.kind {
            Kind::Sheet {
                head: Some(rows), ..
            } => find_header(rows, &Aliases::new(&opts.aliases)),
            _ => file.read_header()?,
        };
        Ok(file)
    }

    /// What the file turned out to be.
    pub fn format(&self) -> Format {
        match &self.kind {
            Kind::Text(_) => Format::Csv,
            Kind::Sheet { format, .. } | Kind::Rejected { format, .. } => *format,
        }
    }

    /// Where the list came from.
    pub fn input(&self) -> &ListInput {
        &self.input
    }

    fn source(&self) -> Result<Source, Unreadable> {
        Ok(match &self.kind {
            Kind::Text(spec) => Source::Text(TextSource::open(&self.input, spec)?),
            Kind::Sheet {
                format: Format::Xlsx,
                sheet,
                ..
            } => Source::Xlsx(XlsxStream::spawn(&self.input, sheet)?),
            Kind::Sheet { format, sheet, .. } => {
                Source::Range(RangeSource::open(&self.input, *format, sheet)?)
            }
            Kind::Rejected { .. } => Source::Empty,
        })
    }

    /// Reads the first non-blank rows and picks the header among them.
    fn read_header(&self) -> Result<Option<Mapping>, Unreadable> {
        let mut src = self.source()?;
        let mut raw = RawRow::default();
        let mut rows = Vec::new();
        while rows.len() < HEADER_SCAN_ROWS && src.next_row(&mut raw, &self.input)? {
            if !raw.is_blank() {
                rows.push(CandidateRow {
                    row: raw.row,
                    cells: raw.to_strings(),
                });
            }
        }
        Ok(find_header(&rows, &Aliases::new(&self.opts.aliases)))
    }

    /// Pass 1: streams the whole list and reports every problem.
    pub fn check(&self) -> Result<Report, Unreadable> {
        let (encoding, delimiter) = match &self.kind {
            Kind::Text(spec) => (Some(spec.encoding.name()), Some(spec.delimiter)),
            _ => (None, None),
        };
        let mut report = Report {
            valid: false,
            rows: 0,
            format: self.format(),
            encoding,
            delimiter: delimiter.map(|d| char::from(d).to_string()),
            header_row: self.header.as_ref().map(|m| m.row),
            columns: self
                .header
                .as_ref()
                .map(Mapping::columns)
                .unwrap_or_default(),
            errors: Vec::new(),
            errors_total: 0,
            warnings: Vec::new(),
            warnings_total: 0,
        };
        let single = |report: &mut Report, problem: Problem| {
            report.errors.push(problem);
            report.errors_total = 1;
        };
        match (&self.kind, &self.header) {
            (Kind::Rejected { problem, .. }, _) => single(&mut report, problem.clone()),
            (_, None) => single(
                &mut report,
                Problem::file(
                    Code::EmptyFile,
                    "the file is empty: no header row and no data rows",
                ),
            ),
            (_, Some(map)) => {
                let mut checker = Checker::new(map, &self.opts, delimiter);
                let mut src = self.source()?;
                let mut raw = RawRow::default();
                while src.next_row(&mut raw, &self.input)? {
                    if raw.row > map.row && checker.row(&raw).is_break() {
                        break;
                    }
                }
                let found = checker.finish();
                report.rows = found.rows;
                report.errors = found.errors;
                report.errors_total = found.errors_total;
                report.warnings = found.warnings;
                report.warnings_total = found.warnings_total;
            }
        }
        report.valid = report.errors_total == 0;
        Ok(report)
    }

    /// Pass 2: the valid rows in file order, streamed. Meaningful only after
    /// `check` said the list is valid: rows that break a rule are skipped and
    /// duplicates are not looked for again. Stops after `max_rows` data rows.
    pub fn rows(&self) -> Result<Rows<'_>, Unreadable> {
        let source = match &self.header {
            Some(map) if map.usable() => self.source()?,
            _ => Source::Empty,
        };
        Ok(Rows {
            file: self,
            source,
            raw: RawRow::default(),
            data_rows: 0,
            done: false,
        })
    }
}

/// Iterator over a list's valid rows; see [`ListFile::rows`].
pub struct Rows<'a> {
    file: &'a ListFile,
    source: Source,
    raw: RawRow,
    data_rows: u32,
    done: bool,
}

impl Iterator for Rows<'_> {
    type Item = Result<ValidRow, Unreadable>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let map = self.file.header.as_ref()?;
        loop {
            match self.source.next_row(&mut self.raw, &self.file.input) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    return None;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            if self.raw.row <= map.row || self.raw.is_blank() {
                continue;
            }
            if self.data_rows >= self.file.opts.max_rows {
                self.done = true;
                return None;
            }
            self.data_rows += 1;
            if let Some(row) = validate::valid_row(map, &self.raw) {
                return Some(Ok(row));
            }
        }
    }
}

/// The CSV template sent in answer to TEMPLATE and printed by
/// `subinvite template`: the canonical header and one example row.
pub fn template_csv() -> &'static str {
    "Subcontractor Name,Contact Name,Subcontractor Email Address\r\n\
     Sparky Electric Inc.,Dana Sparks,dana.sparky@example.test\r\n"
}

#[cfg(test)]
mod tests;
