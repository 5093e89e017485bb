//! Fuzz target: a well-formed XLSX container around fuzzed XML. Raw bytes
//! rarely get past the zip layer (every entry has a checksum), so this
//! target builds the zip itself and fuzzes what is inside: the input is cut
//! at each `\n--part--\n` into the worksheet XML, the shared strings XML
//! and, optionally, the workbook XML. The workbook is then read as a list
//! (open, check, rows) with the same checks as `list_read`.
#![no_main]

#[path = "hook.rs"]
mod hook;
#[path = "lists.rs"]
mod lists;

use libfuzzer_sys::fuzz_target;
use std::io::{Cursor, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const SEPARATOR: &[u8] = b"\n--part--\n";

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#;

const ROOT_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#;

const WORKBOOK_RELS: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId4" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#;

const WORKBOOK: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Subcontractors" sheetId="1" r:id="rId1"/></sheets></workbook>"#;

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        parts.push(&rest[..i]);
        rest = &rest[i + SEPARATOR.len()..];
    }
    parts.push(rest);
    parts
}

fn xlsx(sheet: &[u8], shared: Option<&[u8]>, workbook: &[u8]) -> Option<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let mut entry = |name: &str, body: &[u8]| -> Option<()> {
        zip.start_file(name, opts).ok()?;
        zip.write_all(body).ok()
    };
    entry("[Content_Types].xml", CONTENT_TYPES.as_bytes())?;
    entry("_rels/.rels", ROOT_RELS.as_bytes())?;
    entry("xl/_rels/workbook.xml.rels", WORKBOOK_RELS.as_bytes())?;
    entry("xl/workbook.xml", workbook)?;
    entry("xl/worksheets/sheet1.xml", sheet)?;
    if let Some(shared) = shared {
        entry("xl/sharedStrings.xml", shared)?;
    }
    Some(zip.finish().ok()?.into_inner())
}

fuzz_target!(|data: &[u8]| {
    hook::report_caught_panics_once();
    let parts = split(data);
    let sheet = parts[0];
    let shared = parts.get(1).copied();
    let workbook = parts.get(2).copied().unwrap_or(WORKBOOK.as_bytes());
    let Some(bytes) = xlsx(sheet, shared, workbook) else {
        return;
    };
    lists::read_and_check("list.xlsx", &bytes);
});
