//! Row sources: turning an opened input into a stream of [`RawRow`]s with
//! Excel row numbers, one row at a time, reusing one buffer.
//!
//! Owns the delimited-text reader (decoding, line-ending repair, Excel row
//! numbering across blank lines and multi-line quoted fields) and the
//! dispatch to the spreadsheet readers in `sheet`. Never validates.
use super::detect::{TextEncoding, TextSpec};
use super::sheet::{RangeSource, XlsxStream};
use super::{ListInput, Unreadable};
use encoding_rs_io::DecodeReaderBytesBuilder;
use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufReader, Cursor, Read, Seek, SeekFrom};
use std::sync::Arc;

/// The bytes of a [`ListInput`], readable and seekable.
pub(crate) enum InputReader {
    File(BufReader<File>),
    Bytes(Cursor<Arc<[u8]>>),
}

impl InputReader {
    pub fn open(input: &ListInput) -> Result<InputReader, Unreadable> {
        match input {
            ListInput::Path(p) => File::open(p)
                .map(|f| InputReader::File(BufReader::with_capacity(64 * 1024, f)))
                .map_err(|e| Unreadable::io(input, e)),
            ListInput::Bytes { data, .. } => Ok(InputReader::Bytes(Cursor::new(Arc::clone(data)))),
        }
    }
}

impl Read for InputReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            InputReader::File(f) => f.read(buf),
            InputReader::Bytes(c) => c.read(buf),
        }
    }
}

impl Seek for InputReader {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        match self {
            InputReader::File(f) => f.seek(pos),
            InputReader::Bytes(c) => c.seek(pos),
        }
    }
}

/// One row as read: its Excel row number and its cells (UTF-8 bytes,
/// normally; decoded lossily if a file changed under us).
#[derive(Debug, Default)]
pub(crate) struct RawRow {
    pub row: u32,
    pub cells: csv::ByteRecord,
}

impl RawRow {
    /// The cell at `index`, or "" past the end of the row.
    pub fn get(&self, index: usize) -> Cow<'_, str> {
        match self.cells.get(index) {
            None => Cow::Borrowed(""),
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => String::from_utf8_lossy(b),
            },
        }
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// All cells empty or whitespace.
    pub fn is_blank(&self) -> bool {
        if self.cells.as_slice().iter().any(u8::is_ascii_graphic) {
            return false;
        }
        (0..self.cells.len()).all(|i| crate::core::email::trim_cell(&self.get(i)).is_empty())
    }

    /// The cells as owned strings (for header detection).
    pub fn to_strings(&self) -> Vec<String> {
        (0..self.cells.len())
            .map(|i| self.get(i).into_owned())
            .collect()
    }
}

/// Feeds the CSV parser clean line endings: lone CRs (old Mac files) become
/// LF when asked, and a final LF is added if the text does not end with one,
/// so that every record, the last included, consumes exactly one terminator.
/// That makes Excel row numbers computable from the parser's line count.
struct LineEnds<R> {
    inner: R,
    cr_to_lf: bool,
    last: Option<u8>,
    finished: bool,
}

impl<R: Read> Read for LineEnds<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.finished || buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        if n == 0 {
            self.finished = true;
            if self.last.is_some_and(|b| b != b'\n') {
                buf[0] = b'\n';
                return Ok(1);
            }
            return Ok(0);
        }
        if self.cr_to_lf {
            buf[..n]
                .iter_mut()
                .filter(|b| **b == b'\r')
                .for_each(|b| *b = b'\n');
        }
        self.last = Some(buf[n - 1]);
        Ok(n)
    }
}

/// Delimited text, decoded to UTF-8 and parsed record by record.
pub(crate) struct TextSource {
    rdr: csv::Reader<LineEnds<Box<dyn Read + Send>>>,
    /// Parser line (1-based) after the previous record.
    prev_line: u64,
    /// Excel row of the previous record.
    row: u64,
    /// The `sep=` line is still to be skipped.
    skip_sep: bool,
}

impl TextSource {
    pub fn open(input: &ListInput, spec: &TextSpec) -> Result<TextSource, Unreadable> {
        let mut raw = InputReader::open(input)?;
        let decoded: Box<dyn Read + Send> = match spec.encoding {
            TextEncoding::Utf8 => Box::new(raw),
            TextEncoding::Utf8Bom => {
                let mut bom = [0u8; 3];
                raw.read_exact(&mut bom)
                    .map_err(|e| Unreadable::io(input, e))?;
                Box::new(raw)
            }
            other => Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(other.encoding()))
                    .build_with_buffer(raw, vec![0; 64 * 1024])
                    .map_err(|e| Unreadable::io(input, e))?,
            ),
        };
        let fixed = LineEnds {
            inner: decoded,
            cr_to_lf: spec.cr_only,
            last: None,
            finished: false,
        };
        let rdr = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(spec.delimiter)
            .terminator(csv::Terminator::Any(b'\n'))
            .buffer_capacity(64 * 1024)
            .from_reader(fixed);
        Ok(TextSource {
            rdr,
            prev_line: 1,
            row: 0,
            skip_sep: spec.sep_line,
        })
    }

    /// Reads the next record into `out`. Excel row numbers: every record is
    /// one row however many lines its quoted fields span, and every blank
    /// line (which the parser skips) is a row too.
    pub fn next_row(&mut self, out: &mut RawRow, input: &ListInput) -> Result<bool, Unreadable> {
        loop {
            let more = self
                .rdr
                .read_byte_record(&mut out.cells)
                .map_err(|e| Unreadable::csv(input, e))?;
            if !more {
                return Ok(false);
            }
            let line = self.rdr.position().line();
            let inner = out.cells.as_slice().iter().filter(|&&b| b == b'\n').count() as u64;
            let blanks = line.saturating_sub(self.prev_line + inner + 1);
            self.prev_line = line;
            if self.skip_sep {
                self.skip_sep = false;
                continue;
            }
            self.row += blanks + 1;
            out.row = u32::try_from(self.row).unwrap_or(u32::MAX);
            return Ok(true);
        }
    }
}

/// Any of the row sources.
pub(crate) enum Source {
    Text(TextSource),
    Range(RangeSource),
    Xlsx(XlsxStream),
    /// Nothing to read (a rejected file).
    Empty,
}

impl Source {
    pub fn next_row(&mut self, out: &mut RawRow, input: &ListInput) -> Result<bool, Unreadable> {
        match self {
            Source::Text(t) => t.next_row(out, input),
            Source::Range(r) => Ok(r.next_row(out)),
            Source::Xlsx(x) => x.next_row(out),
            Source::Empty => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::detect::TextEncoding;

    fn rows_of(text: &str) -> Vec<(u32, Vec<String>)> {
        let input = ListInput::Bytes {
            name: "t.csv".into(),
            data: Arc::from(text.as_bytes()),
        };
        let spec = TextSpec {
            encoding: TextEncoding::Utf8,
            delimiter: b',',
            sep_line: false,
            cr_only: !text.contains('\n'),
        };
        let mut src = TextSource::open(&input, &spec).unwrap_or_else(|e| panic!("{e}"));
        let mut raw = RawRow::default();
        let mut out = Vec::new();
        while src
            .next_row(&mut raw, &input)
            .unwrap_or_else(|e| panic!("{e}"))
        {
            out.push((raw.row, raw.to_strings()));
        }
        out
    }

    #[test]
    fn excel_row_numbers_count_blank_lines_not_embedded_line_breaks() {
        let text = "\n\nh1,h2\r\na,\"b\r\nc\"\r\n\r\n\n\"d\",\"e\"\r\n,\n   \nx,y";
        let rows: Vec<u32> = rows_of(text).iter().map(|(r, _)| *r).collect();
        // header on line 3; "a" spans lines 4-5 but is row 4; lines 6 and 7
        // are blank rows 5 and 6; "d" row 7; "," row 8; "   " row 9; x row 10.
        assert_eq!(rows, vec![3, 4, 5, 7, 8, 9, 10]);
    }

    #[test]
    fn old_mac_line_endings() {
        let rows = rows_of("h1,h2\ra,b\r\rc,d\r");
        let nums: Vec<u32> = rows.iter().map(|(r, _)| *r).collect();
        assert_eq!(nums, vec![1, 2, 4]);
    }
}
