//! Sniffing what a list file is, by content and never by its name:
//! spreadsheet container (zip / OLE), text encoding (BOMs, UTF-8 validity of
//! the whole file, Windows-1252 fallback), delimiter (`sep=` line, then the
//! candidate used consistently across the first lines), and binary junk
//! that is not a table at all.
//!
//! Reads the file's head and, for the UTF-8 check, streams the rest; never
//! holds the whole file. Never parses rows.
use super::source::InputReader;
use super::{ListInput, Unreadable};
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252};
use std::io::{self, Read};

/// How much of the start of the file is sniffed.
const HEAD_BYTES: usize = 64 * 1024;
/// How many lines the delimiter sniffer looks at.
const SNIFF_LINES: usize = 50;
/// Delimiters considered, in tie-breaking order.
const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
const ZIP_EMPTY_MAGIC: &[u8] = b"PK\x05\x06";
const OLE_MAGIC: &[u8] = &[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// The text encodings subinvite reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

impl TextEncoding {
    /// The name shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf8Bom => "UTF-8 (BOM)",
            TextEncoding::Utf16Le => "UTF-16LE",
            TextEncoding::Utf16Be => "UTF-16BE",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }

    pub fn encoding(self) -> &'static Encoding {
        match self {
            TextEncoding::Utf8 | TextEncoding::Utf8Bom => UTF_8,
            TextEncoding::Utf16Le => UTF_16LE,
            TextEncoding::Utf16Be => UTF_16BE,
            TextEncoding::Windows1252 => WINDOWS_1252,
        }
    }

    fn bom_len(self) -> usize {
        match self {
            TextEncoding::Utf8Bom => 3,
            _ => 0,
        }
    }
}

/// How to read a delimited-text list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TextSpec {
    pub encoding: TextEncoding,
    pub delimiter: u8,
    /// The first line is Excel's `sep=X` and is not a row.
    pub sep_line: bool,
    /// Lines end in CR alone (classic Mac).
    pub cr_only: bool,
}

/// What the bytes look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Sniffed {
    Text(TextSpec),
    /// A zip container: XLSX, ODS, or some other zip.
    Zip,
    /// An OLE compound file: XLS, or an encrypted XLSX.
    Ole,
    /// Not a table; says what it seems to be instead.
    NotATable(String),
    /// Text, but mostly non-ASCII bytes that are not UTF-8: some other code
    /// page (Cyrillic, Greek, ...) that Windows-1252 would turn into garbage.
    UnknownEncoding,
}

fn read_head(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    r.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Sniffs the input: reads its head, and streams the whole of it once to
/// check UTF-8 validity when there is no BOM.
pub(crate) fn sniff(input: &ListInput) -> Result<Sniffed, Unreadable> {
    let mut reader = InputReader::open(input)?;
    let head = read_head(&mut reader).map_err(|e| Unreadable::io(input, e))?;
    let complete = head.len() < HEAD_BYTES;
    if head.starts_with(ZIP_MAGIC) || head.starts_with(ZIP_EMPTY_MAGIC) {
        return Ok(Sniffed::Zip);
    }
    if head.starts_with(OLE_MAGIC) {
        return Ok(Sniffed::Ole);
    }
    let encoding = if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        TextEncoding::Utf8Bom
    } else if head.starts_with(&[0xFF, 0xFE]) {
        TextEncoding::Utf16Le
    } else if head.starts_with(&[0xFE, 0xFF]) {
        TextEncoding::Utf16Be
    } else if let Some(utf16) = utf16_without_bom(&head) {
        utf16
    } else {
        if let Some(what) = not_a_table(&head) {
            return Ok(Sniffed::NotATable(what));
        }
        // The whole file, streamed: a stray Windows-1252 "é" on row 90,000
        // must not be decoded as UTF-8.
        let rest_ok = is_utf8_stream(&head, &mut reader).map_err(|e| Unreadable::io(input, e))?;
        if rest_ok {
            TextEncoding::Utf8
        } else if high_byte_share(&head) > 0.3 {
            return Ok(Sniffed::UnknownEncoding);
        } else {
            TextEncoding::Windows1252
        }
    };
    let body = &head[encoding.bom_len()..];
    let (text, _) = match encoding {
        TextEncoding::Utf16Le | TextEncoding::Utf16Be => {
            encoding.encoding().decode_with_bom_removal(body)
        }
        _ => (
            encoding.encoding().decode_without_bom_handling(body).0,
            false,
        ),
    };
    let (delimiter, sep_line) = sniff_delimiter(&text, complete);
    Ok(Sniffed::Text(TextSpec {
        encoding,
        delimiter,
        sep_line,
        cr_only: text.contains('\r') && !text.contains('\n'),
    }))
}

/// UTF-16 without a BOM: one byte of each pair is mostly zero.
fn utf16_without_bom(head: &[u8]) -> Option<TextEncoding> {
    let pairs = head.len().min(4096) / 2;
    if pairs < 4 {
        return None;
    }
    let (mut even, mut odd) = (0usize, 0usize);
    for pair in head[..pairs * 2].chunks_exact(2) {
        even += usize::from(pair[0] == 0);
        odd += usize::from(pair[1] == 0);
    }
    if odd * 10 >= pairs * 4 && even * 20 < pairs {
        Some(TextEncoding::Utf16Le)
    } else if even * 10 >= pairs * 4 && odd * 20 < pairs {
        Some(TextEncoding::Utf16Be)
    } else {
        None
    }
}

fn high_byte_share(head: &[u8]) -> f64 {
    if head.is_empty() {
        return 0.0;
    }
    head.iter().filter(|&&b| b >= 0x80).count() as f64 / head.len() as f64
}

/// Recognises well-known non-table files and binary junk from the head.
fn not_a_table(head: &[u8]) -> Option<String> {
    const MAGIC: &[(&[u8], &str)] = &[
        (b"%PDF", "a PDF document"),
        (b"\x89PNG", "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"Rar!", "a RAR archive"),
        (b"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"),
        (b"{\\rtf", "an RTF document"),
        (b"\x7FELF", "a program (an ELF executable)"),
    ];
    if let Some((_, what)) = MAGIC.iter().find(|(m, _)| head.starts_with(m)) {
        return Some((*what).to_string());
    }
    let start: Vec<u8> = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(1024)
        .map(u8::to_ascii_lowercase)
        .collect();
    if start.starts_with(b"<?xml")
        && head
            .windows(10)
            .any(|w| w.eq_ignore_ascii_case(b"office:spr"))
    {
        return Some("an Excel 2003 XML spreadsheet".into());
    }
    if start.starts_with(b"<!doctype html")
        || start.starts_with(b"<html")
        || start.starts_with(b"<table")
    {
        return Some("an HTML page (some programs save HTML under an .xls name)".into());
    }
    let sample = &head[..head.len().min(8192)];
    let controls = sample
        .iter()
        .filter(|&&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C | 0x1A)) || b == 0x7F)
        .count();
    if sample.contains(&0) || controls * 100 > sample.len() {
        return Some("binary data".into());
    }
    None
}

/// Whether `head` followed by the rest of `rest` is valid UTF-8, streamed
/// in chunks (a character split across chunks is carried over).
fn is_utf8_stream(head: &[u8], rest: &mut impl Read) -> io::Result<bool> {
    let mut buf = vec![0u8; HEAD_BYTES + 4];
    let mut carry = 0usize;
    let mut first = Some(head);
    loop {
        let n = match first.take() {
            Some(h) => {
                buf[..h.len()].copy_from_slice(h);
                h.len()
            }
            None => rest.read(&mut buf[carry..])?,
        };
        if n == 0 {
            return Ok(carry == 0);
        }
        let len = carry + n;
        match std::str::from_utf8(&buf[..len]) {
            Ok(_) => carry = 0,
            Err(e) if e.error_len().is_some() => return Ok(false),
            Err(e) => {
                let valid = e.valid_up_to();
                buf.copy_within(valid..len, 0);
                carry = len - valid;
            }
        }
    }
}

/// Excel's `sep=;` first line (possibly quoted).
fn sep_line(text: &str) -> Option<u8> {
    let first = text.split(['\n', '\r']).next()?;
    let first = first.trim_start_matches('\u{feff}').trim_matches(' ');
    let first = first
        .strip_prefix('"')
        .map_or(first, |f| f.trim_end_matches('"'));
    let b = first.as_bytes();
    (b.len() == 5 && b[..4].eq_ignore_ascii_case(b"sep=") && b[4].is_ascii()).then(|| b[4])
}

/// Per non-blank line, how many times `delim` occurs outside quotes
/// (quotes count only at the start of a field, as in the CSV parser).
fn counts_per_line(text: &str, delim: u8, complete: bool) -> Vec<usize> {
    let mut counts = Vec::new();
    let (mut cur, mut in_quotes, mut just_closed, mut at_start, mut filled) =
        (0, false, false, true, false);
    for &b in text.as_bytes() {
        if in_quotes {
            if b == b'"' {
                in_quotes = false;
                just_closed = true;
            }
            continue;
        }
        if b == b'"' && (at_start || just_closed) {
            in_quotes = true;
            filled = true;
        } else if b == delim {
            cur += 1;
            at_start = true;
            filled = true;
        } else if b == b'\n' || b == b'\r' {
            if filled {
                counts.push(cur);
            }
            (cur, at_start, filled) = (0, true, false);
        } else {
            at_start = false;
            filled = filled || !b.is_ascii_whitespace();
        }
        just_closed = false;
        if counts.len() > SNIFF_LINES {
            break;
        }
    }
    if filled && complete {
        counts.push(cur);
    }
    counts.truncate(SNIFF_LINES);
    counts
}

/// Picks the delimiter used the same number of times on the most lines
/// (ties: the one the first line agrees with, then more columns, then the
/// order of `CANDIDATES`). Returns the delimiter and whether it came from a
/// `sep=` line.
pub(crate) fn sniff_delimiter(text: &str, complete: bool) -> (u8, bool) {
    if let Some(d) = sep_line(text) {
        return (d, true);
    }
    let mut best = (b',', (0usize, false, 0usize));
    for d in CANDIDATES {
        let counts = counts_per_line(text, d, complete);
        let mut mode = (0usize, 0usize); // (lines, count)
        for &c in counts.iter().filter(|&&c| c > 0) {
            let lines = counts.iter().filter(|&&x| x == c).count();
            if (lines, c) > mode {
                mode = (lines, c);
            }
        }
        let rank = (mode.0, counts.first() == Some(&mode.1), mode.1);
        if rank > best.1 {
            best = (d, rank);
        }
    }
    (best.0, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        let cases: &[(&str, u8, bool)] = &[
            ("a,b,c\n1,2,3\n", b',', false),
            ("a;b;c\n1;2;3\n", b';', false),
            ("a\tb\tc\n1\t2\t3\n", b'\t', false),
            ("a|b|c\n1|2|3\n", b'|', false),
            ("sep=;\na,b;c\n", b';', true),
            ("\"sep=|\"\na|b\n", b'|', true),
            ("sep=\t\na\tb\n", b'\t', true),
            // commas inside names do not beat the consistent semicolon
            (
                "Name;Email\nMüller, Bau;a@x.test\nDupont;b@x.test\nX, Y, Z;c@x.test\n",
                b';',
                false,
            ),
            // quoted delimiters do not count, even across lines
            ("a;b;c\nA;\"a,,\n,,\";x\n", b';', false),
            ("a,b\n\"x;y;z\",1\n\"p;\nq;r\",2\n", b',', false),
            // a title line without delimiters
            (
                "Subcontractors 2024\nCompany;Email\nA;a@x.test\n",
                b';',
                false,
            ),
            ("just one column\n", b',', false),
        ];
        for (text, want, sep) in cases {
            assert_eq!(sniff_delimiter(text, true), (*want, *sep), "{text:?}");
        }
    }

    #[test]
    fn utf8_stream_carries_split_characters() {
        let text = "é".repeat(HEAD_BYTES); // 2 bytes each: splits across chunks
        let bytes = text.as_bytes();
        let (head, rest) = bytes.split_at(HEAD_BYTES - 1);
        let ok = is_utf8_stream(head, &mut &rest[..]).unwrap_or(false);
        assert!(ok);
        let mut bad = bytes.to_vec();
        bad.push(0xE9);
        bad.extend_from_slice(b"abc");
        let (head, rest) = bad.split_at(HEAD_BYTES);
        assert!(!is_utf8_stream(head, &mut &rest[..]).unwrap_or(true));
    }

    #[test]
    fn junk() {
        assert_eq!(not_a_table(b"%PDF-1.7\n"), Some("a PDF document".into()));
        assert!(not_a_table(b"a,b\x00\x01\x02").is_some());
        assert!(not_a_table(b"  <!DOCTYPE html><html>").is_some());
        assert_eq!(not_a_table(b"Company,Email\nA,a@x.test\n"), None);
    }

    #[test]
    fn utf16_heuristic() {
        let le: Vec<u8> = "Company\tEmail\r\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(utf16_without_bom(&le), Some(TextEncoding::Utf16Le));
        let be: Vec<u8> = "Company\tEmail\r\n"
            .encode_utf16()
            .flat_map(u16::to_be_bytes)
            .collect();
        assert_eq!(utf16_without_bom(&be), Some(TextEncoding::Utf16Be));
        assert_eq!(utf16_without_bom(b"Company,Email\n"), None);
    }
}
