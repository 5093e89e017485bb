//! Spreadsheet lists through calamine: probing a zip or OLE container for
//! its first worksheet, streaming XLSX cells on a reader thread (so a
//! 1M-row sheet is never held whole), and reading XLS/XLSB/ODS sheets
//! (which calamine only reads whole) as ranges.
//!
//! Every calamine call is guarded: a panic inside it on a hostile file
//! becomes [`Unreadable::Corrupt`], never a crash of the daemon.
use super::header::{CandidateRow, HEADER_SCAN_ROWS};
use super::report::Format;
use super::source::{InputReader, RawRow};
use super::{ListInput, Unreadable};
use calamine::{
    Data, DataRef, Ods, OdsError, Range, Reader, Sheet, SheetType, SheetVisible, Xls, XlsError,
    Xlsb, Xlsx, XlsxError,
};
use std::borrow::Cow;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Rows sent per message from the XLSX reader thread.
const BATCH_ROWS: usize = 512;
/// Batches in flight: bounds the memory the reader thread can run ahead by.
const BATCHES_IN_FLIGHT: usize = 4;

/// What a spreadsheet container holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Probe {
    /// A workbook; its first worksheet and, for XLSX, the header
    /// candidates already read from it.
    Sheet {
        format: Format,
        sheet: String,
        head: Option<Vec<CandidateRow>>,
    },
    /// A workbook without any worksheet.
    NoSheet(Format),
    /// A container that is not a spreadsheet; says what it seems to be.
    NotATable(String),
}

/// Runs calamine code, turning a panic into `Corrupt`.
fn guarded<T>(f: impl FnOnce() -> Result<T, Unreadable>) -> Result<T, Unreadable> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Unreadable::Corrupt(
            "the spreadsheet reader failed on this file".into(),
        ))
    })
}

/// The first visible worksheet, else the first worksheet.
fn first_sheet(meta: &[Sheet], format: Format) -> Probe {
    let sheets = || meta.iter().filter(|s| s.typ == SheetType::WorkSheet);
    sheets()
        .find(|s| s.visible == SheetVisible::Visible)
        .or_else(|| sheets().next())
        .map_or(Probe::NoSheet(format), |s| Probe::Sheet {
            format,
            sheet: s.name.clone(),
            head: None,
        })
}

fn xlsx_error(input: &ListInput, e: XlsxError) -> Unreadable {
    match e {
        XlsxError::Password => Unreadable::Encrypted,
        XlsxError::Io(e) => Unreadable::io(input, e),
        other => Unreadable::Corrupt(other.to_string()),
    }
}

/// Finds out what a zip container is: XLSX, XLSB, ODS, or another zip.
pub(crate) fn probe_zip(input: &ListInput) -> Result<Probe, Unreadable> {
    guarded(|| {
        let xlsx_err = match Xlsx::<InputReader>::new(InputReader::open(input)?) {
            Ok(mut wb) => {
                // Read the header candidates now, while the workbook (and its
                // shared strings) is open, instead of opening it again.
                return match first_sheet(wb.sheets_metadata(), Format::Xlsx) {
                    Probe::Sheet { format, sheet, .. } => {
                        let head = head_rows(input, &mut wb, &sheet, HEADER_SCAN_ROWS)?;
                        Ok(Probe::Sheet {
                            format,
                            sheet,
                            head: Some(head),
                        })
                    }
                    other => Ok(other),
                };
            }
            Err(XlsxError::Zip(e)) => {
                return Err(Unreadable::Corrupt(format!(
                    "the zip container is damaged: {e}"
                )))
            }
            Err(e @ (XlsxError::Password | XlsxError::Io(_))) => return Err(xlsx_error(input, e)),
            Err(e) => e,
        };
        if let Ok(wb) = Xlsb::<InputReader>::new(InputReader::open(input)?) {
            return Ok(first_sheet(wb.sheets_metadata(), Format::Xlsb));
        }
        match Ods::<InputReader>::new(InputReader::open(input)?) {
            Ok(wb) => Ok(first_sheet(wb.sheets_metadata(), Format::Ods)),
            Err(OdsError::Password) => Err(Unreadable::Encrypted),
            Err(_)
                if matches!(
                    xlsx_err,
                    XlsxError::FileNotFound(_) | XlsxError::RelationshipNotFound
                ) =>
            {
                Ok(Probe::NotATable(
                    "a zip archive that is not a spreadsheet".into(),
                ))
            }
            Err(_) => Err(Unreadable::Corrupt(xlsx_err.to_string())),
        }
    })
}

/// Refuses a compound file whose structure points outside it, before
/// calamine sizes buffers by it (see [`super::ole`]).
fn ole_bounded(input: &ListInput) -> Result<(), Unreadable> {
    let owned;
    let data: &[u8] = match input {
        ListInput::Bytes { data, .. } => data,
        ListInput::Path(p) => {
            owned = std::fs::read(p).map_err(|e| Unreadable::io(input, e))?;
            &owned
        }
    };
    super::ole::check(data).map_err(Unreadable::Corrupt)
}

/// Finds out what an OLE compound file is: XLS, an encrypted XLSX, or
/// another Office document.
pub(crate) fn probe_ole(input: &ListInput) -> Result<Probe, Unreadable> {
    ole_bounded(input)?;
    guarded(
        || match Xls::<InputReader>::new(InputReader::open(input)?) {
            Ok(wb) => Ok(first_sheet(wb.sheets_metadata(), Format::Xls)),
            Err(XlsError::Password) => Err(Unreadable::Encrypted),
            Err(XlsError::Io(e)) => Err(Unreadable::io(input, e)),
            Err(e) => {
                // A password-protected XLSX is an OLE file holding "EncryptedPackage".
                if let Err(XlsxError::Password) =
                    Xlsx::<InputReader>::new(InputReader::open(input)?)
                {
                    return Err(Unreadable::Encrypted);
                }
                let msg = e.to_string();
                if matches!(e, XlsError::Cfb(_)) && msg.contains("Cannot find") {
                    return Ok(Probe::NotATable(
                        "an Office document that is not a spreadsheet".into(),
                    ));
                }
                Err(Unreadable::Corrupt(format!(
                    "cannot read this Excel 97-2003 file: {msg}"
                )))
            }
        },
    )
}

fn float_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        format!("{f}")
    }
}

/// A cell as text, the way a person would type it back.
fn data_text(d: &Data) -> Cow<'_, str> {
    match d {
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cow::Borrowed(s),
        Data::Float(f) => Cow::Owned(float_text(*f)),
        Data::Int(i) => Cow::Owned(i.to_string()),
        Data::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        Data::DateTime(dt) => Cow::Owned(dt.to_string()),
        Data::Error(e) => Cow::Owned(e.to_string()),
        Data::Empty => Cow::Borrowed(""),
    }
}

fn dataref_text(d: DataRef<'_>) -> String {
    match d {
        DataRef::String(s) | DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s,
        DataRef::SharedString(s) => s.to_string(),
        DataRef::Float(f) => float_text(f),
        DataRef::Int(i) => i.to_string(),
        DataRef::Bool(b) => if b { "TRUE" } else { "FALSE" }.to_string(),
        DataRef::DateTime(dt) => dt.to_string(),
        DataRef::Error(e) => e.to_string(),
        DataRef::Empty => String::new(),
    }
}

/// A whole sheet held as a calamine range (XLS, XLSB, ODS).
pub(crate) struct RangeSource {
    range: Range<Data>,
    next: usize,
}

impl RangeSource {
    pub fn open(input: &ListInput, format: Format, sheet: &str) -> Result<RangeSource, Unreadable> {
        if matches!(format, Format::Xls) {
            ole_bounded(input)?;
        }
        let range = guarded(|| {
            let reader = InputReader::open(input)?;
            let corrupt = |e: &dyn std::fmt::Display| Unreadable::Corrupt(e.to_string());
            match format {
                Format::Xls => Xls::new(reader)
                    .and_then(|mut wb| wb.worksheet_range(sheet))
                    .map_err(|e| corrupt(&e)),
                Format::Xlsb => Xlsb::new(reader)
                    .and_then(|mut wb| wb.worksheet_range(sheet))
                    .map_err(|e| corrupt(&e)),
                _ => Ods::new(reader)
                    .and_then(|mut wb| wb.worksheet_range(sheet))
                    .map_err(|e| corrupt(&e)),
            }
        })?;
        Ok(RangeSource { range, next: 0 })
    }

    pub fn next_row(&mut self, out: &mut RawRow) -> bool {
        let (height, width) = self.range.get_size();
        let Some((row0, col0)) = self.range.start() else {
            return false;
        };
        if self.next >= height {
            return false;
        }
        out.cells.clear();
        (0..col0).for_each(|_| out.cells.push_field(b""));
        for col in 0..width {
            let text = self
                .range
                .get((self.next, col))
                .map_or(Cow::Borrowed(""), data_text);
            out.cells.push_field(text.as_bytes());
        }
        let row = u64::from(row0) + self.next as u64 + 1;
        out.row = u32::try_from(row).unwrap_or(u32::MAX);
        self.next += 1;
        true
    }
}

/// One non-empty XLSX row: its Excel number and (column, text) cells.
struct SheetRow {
    row: u32,
    cells: Vec<(u32, String)>,
}

enum Msg {
    Rows(Vec<SheetRow>),
    Done,
    Failed(Unreadable),
}

/// Calls `f` with each non-empty row of an XLSX sheet, in order, until it
/// returns `false`.
fn each_row(
    input: &ListInput,
    wb: &mut Xlsx<InputReader>,
    sheet: &str,
    mut f: impl FnMut(SheetRow) -> bool,
) -> Result<(), Unreadable> {
    let mut cells = wb
        .worksheet_cells_reader(sheet)
        .map_err(|e| xlsx_error(input, e))?;
    let mut current: Option<SheetRow> = None;
    while let Some(cell) = cells.next_cell().map_err(|e| xlsx_error(input, e))? {
        let (r, c) = cell.get_position();
        let text = dataref_text(cell.get_value().clone());
        if text.trim().is_empty() {
            continue;
        }
        let row = r.saturating_add(1);
        match &mut current {
            Some(cur) if cur.row == row => cur.cells.push((c, text)),
            _ => {
                if let Some(done) = current.take() {
                    if !f(done) {
                        return Ok(());
                    }
                }
                current = Some(SheetRow {
                    row,
                    cells: vec![(c, text)],
                });
            }
        }
    }
    if let Some(last) = current {
        f(last);
    }
    Ok(())
}

/// The first `n` non-empty rows of an XLSX sheet, as header candidates.
fn head_rows(
    input: &ListInput,
    wb: &mut Xlsx<InputReader>,
    sheet: &str,
    n: usize,
) -> Result<Vec<CandidateRow>, Unreadable> {
    let mut out = Vec::new();
    each_row(input, wb, sheet, |row| {
        let mut cells = Vec::new();
        for (col, text) in row.cells {
            let col = col as usize;
            if col >= cells.len() {
                cells.resize(col, String::new());
                cells.push(text);
            }
        }
        out.push(CandidateRow {
            row: row.row,
            cells,
        });
        out.len() < n
    })?;
    Ok(out)
}

/// Reads the sheet's rows and sends them in batches. Stops quietly when the
/// receiver is gone.
fn stream_cells(input: &ListInput, sheet: &str, tx: &SyncSender<Msg>) -> Result<(), Unreadable> {
    let mut wb =
        Xlsx::<InputReader>::new(InputReader::open(input)?).map_err(|e| xlsx_error(input, e))?;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut gone = false;
    each_row(input, &mut wb, sheet, |row| {
        batch.push(row);
        if batch.len() >= BATCH_ROWS {
            gone = tx.send(Msg::Rows(std::mem::take(&mut batch))).is_err();
        }
        !gone
    })?;
    if !gone && !batch.is_empty() {
        let _ = tx.send(Msg::Rows(batch));
    }
    Ok(())
}

/// XLSX rows streamed from a reader thread through a bounded channel.
pub(crate) struct XlsxStream {
    rx: Option<Receiver<Msg>>,
    handle: Option<JoinHandle<()>>,
    batch: std::vec::IntoIter<SheetRow>,
    done: bool,
}

impl XlsxStream {
    pub fn spawn(input: &ListInput, sheet: &str) -> Result<XlsxStream, Unreadable> {
        let (tx, rx) = sync_channel(BATCHES_IN_FLIGHT);
        let (thread_input, sheet) = (input.clone(), sheet.to_string());
        let handle = std::thread::Builder::new()
            .name("subinvite-xlsx".into())
            .spawn(move || {
                let msg = match guarded(|| stream_cells(&thread_input, &sheet, &tx)) {
                    Ok(()) => Msg::Done,
                    Err(e) => Msg::Failed(e),
                };
                let _ = tx.send(msg);
            })
            .map_err(|e| Unreadable::io(input, e))?;
        Ok(XlsxStream {
            rx: Some(rx),
            handle: Some(handle),
            batch: Vec::new().into_iter(),
            done: false,
        })
    }

    pub fn next_row(&mut self, out: &mut RawRow) -> Result<bool, Unreadable> {
        loop {
            if let Some(mut row) = self.batch.next() {
                if !row.cells.is_sorted_by_key(|(c, _)| *c) {
                    row.cells.sort_by_key(|(c, _)| *c);
                }
                out.cells.clear();
                out.row = row.row;
                let mut next = 0u32;
                for (col, text) in &row.cells {
                    if *col < next {
                        continue;
                    }
                    (next..*col).for_each(|_| out.cells.push_field(b""));
                    out.cells.push_field(text.as_bytes());
                    next = col + 1;
                }
                return Ok(true);
            }
            if self.done {
                return Ok(false);
            }
            match self.rx.as_ref().and_then(|rx| rx.recv().ok()) {
                Some(Msg::Rows(rows)) => self.batch = rows.into_iter(),
                Some(Msg::Done) => self.done = true,
                Some(Msg::Failed(e)) => {
                    self.done = true;
                    return Err(e);
                }
                None => {
                    self.done = true;
                    return Err(Unreadable::Corrupt(
                        "the spreadsheet reader stopped unexpectedly".into(),
                    ));
                }
            }
        }
    }
}

impl Drop for XlsxStream {
    fn drop(&mut self) {
        // Dropping the receiver makes the thread's next send fail, so it ends.
        self.rx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}
