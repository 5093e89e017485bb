//! Golden tests for the list reader: every file in `tests/fixtures/lists/`
//! goes through `ListFile::open(..).check()` and its JSON report is compared
//! with `<stem>.json` beside it. On a mismatch the actual output is written
//! to `<stem>.json.failed`; `UPDATE_GOLDEN=1` rewrites the goldens instead.
//!
//! Also: the files in `samples/` behave as their names say, a generator
//! (ignored) for the binary fixtures and samples, and an ignored timing run.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use subinvite::list::{Code, ExtraAliases, ListFile, ListInput, ListOptions, Report};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures_dir() -> PathBuf {
    root().join("tests/fixtures/lists")
}

/// Options for a fixture, chosen by its name.
fn options_for(name: &str) -> ListOptions {
    let mut opts = ListOptions::default();
    if name.contains("extra-alias") {
        opts.aliases = ExtraAliases {
            email: vec!["Correspondence Address".into()],
            company: vec!["Trade Contractor".into()],
            contact: vec!["Site Lead".into()],
        };
    }
    if name.contains("too-many-rows") {
        opts.max_rows = 5;
    }
    if name.contains("capped") {
        opts.max_errors = 3;
    }
    opts
}

/// The report as pretty JSON, or `{"unreadable": ...}`; plus, for valid
/// lists, a check that `rows()` yields exactly `report.rows` rows.
fn actual(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let opts = options_for(&name);
    let json = match ListFile::open(ListInput::Path(path.to_path_buf()), &opts)
        .and_then(|f| f.check().map(|r| (f, r)))
    {
        Ok((file, report)) => {
            if report.valid {
                let rows: Result<Vec<_>, _> = file.rows().unwrap().collect();
                assert_eq!(
                    rows.unwrap().len(),
                    report.rows as usize,
                    "{name}: rows() vs check()"
                );
            }
            serde_json::to_string_pretty(&report).unwrap()
        }
        Err(e) => serde_json::to_string_pretty(&serde_json::json!({ "unreadable": e.to_string() }))
            .unwrap(),
    };
    json + "\n"
}

#[test]
fn golden_reports() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.to_string_lossy();
            p.is_file()
                && !name.ends_with(".json")
                && !name.ends_with(".failed")
                && !name.ends_with(".md")
        })
        .collect();
    inputs.sort();
    let mut stems = BTreeSet::new();
    let mut failed = Vec::new();
    for path in &inputs {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        assert!(stems.insert(stem.clone()), "two fixtures named {stem}.*");
        let golden = path.with_file_name(format!("{stem}.json"));
        let failed_path = path.with_file_name(format!("{stem}.json.failed"));
        let got = actual(path);
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {
                let _ = std::fs::remove_file(&failed_path);
            }
            _ => {
                std::fs::write(&failed_path, &got).unwrap();
                failed.push(stem);
            }
        }
    }
    assert!(inputs.len() >= 10, "only {} fixtures ran", inputs.len());
    assert!(
        failed.is_empty(),
        "golden mismatch (see *.json.failed): {failed:?}"
    );
}

fn check_sample(name: &str) -> Report {
    let path = root().join("samples").join(name);
    ListFile::open(ListInput::Path(path), &ListOptions::default())
        .and_then(|f| f.check())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn samples_behave_as_named() {
    for (name, format, encoding) in [
        ("good.csv", "csv", Some("UTF-8")),
        (
            "excel-windows-1252-semicolon.csv",
            "csv",
            Some("windows-1252"),
        ),
        ("excel-utf8-bom.csv", "csv", Some("UTF-8 (BOM)")),
        ("excel-unicode-text.txt", "csv", Some("UTF-16LE")),
        ("subcontractors.xlsx", "xlsx", None),
        ("erp-vendor-export.csv", "csv", Some("UTF-8")),
    ] {
        let r = check_sample(name);
        assert!(r.valid, "{name}:\n{}", r.to_text());
        assert!(r.rows >= 5, "{name}");
        assert_eq!(
            (r.format.as_str(), r.encoding),
            (format, encoding),
            "{name}"
        );
    }
    let erp = check_sample("erp-vendor-export.csv");
    assert!(erp.warnings.iter().any(|w| w.code == Code::IgnoredColumn));
    let semi = check_sample("excel-windows-1252-semicolon.csv");
    assert_eq!(semi.delimiter.as_deref(), Some(";"));

    let errors = check_sample("errors.csv");
    assert!(!errors.valid);
    let codes: BTreeSet<Code> = errors.errors.iter().map(|p| p.code).collect();
    for code in [Code::MissingValue, Code::InvalidEmail, Code::DuplicateEmail] {
        assert!(
            codes.contains(&code),
            "errors.csv lacks {code}:\n{}",
            errors.to_text()
        );
    }
    let messages: Vec<&str> = errors.errors.iter().map(|p| p.message.as_str()).collect();
    for reason in [
        "two @ signs",
        "write only the address",
        "has no dot",
        "also on row",
    ] {
        assert!(
            messages.iter().any(|m| m.contains(reason)),
            "errors.csv lacks '{reason}'"
        );
    }
}

// ---- generators for binary fixtures and samples (run on purpose) ----

const GOOD: &[[&str; 3]] = &[
    [
        "Sparky Electric Inc.",
        "Dana Sparks",
        "dana.sparky@example.test",
    ],
    [
        "Flow Right Plumbing LLC",
        "Marco Ruiz",
        "marco.flowright@example.test",
    ],
    ["Polar Air HVAC", "Jen Okafor", "jen.polarair@example.test"],
    [
        "Solid Base Concrete",
        "Priya Natarajan",
        "priya.solidbase@example.test",
    ],
    [
        "TopShelf Roofing",
        "Sam O'Neil",
        "sam.topshelf@example.test",
    ],
    [
        "Steel Frame Erectors",
        "Lou Brandt",
        "lou.steelframe@example.test",
    ],
    [
        "Clearview Glass & Glazing",
        "Mia Chen",
        "mia.clearview@example.test",
    ],
    [
        "Level Best Drywall",
        "Ana Silva",
        "ana.levelbest@example.test",
    ],
];

const ACCENTED: &[[&str; 3]] = &[
    [
        "Müller Bau GmbH",
        "Hans Müller",
        "hans.mueller@example.test",
    ],
    [
        "Électricité Dupont",
        "Élise Dupont",
        "elise.dupont@example.test",
    ],
    [
        "Façades Lefèvre",
        "François Lefèvre",
        "francois.lefevre@example.test",
    ],
    ["Peña Concrete", "José Peña", "jose.pena@example.test"],
    [
        "Ørsted Scaffolding",
        "Zoë Ørsted",
        "zoe.orsted@example.test",
    ],
];

fn delimited(header: [&str; 3], rows: &[[&str; 3]], delimiter: u8) -> String {
    let mut w = csv::WriterBuilder::new()
        .delimiter(delimiter)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    w.write_record(header).unwrap();
    rows.iter().for_each(|r| w.write_record(r).unwrap());
    String::from_utf8(w.into_inner().unwrap()).unwrap()
}

fn windows_1252(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!unmappable, "not representable in windows-1252: {text}");
    bytes.into_owned()
}

fn utf16(text: &str, little: bool) -> Vec<u8> {
    let mut out = if little {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for unit in text.encode_utf16() {
        out.extend(if little {
            unit.to_le_bytes()
        } else {
            unit.to_be_bytes()
        });
    }
    out
}

fn xlsx(rows: &[Vec<&str>]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let bold = rust_xlsxwriter::Format::new().set_bold();
    let ws = wb.add_worksheet();
    ws.set_name("Subcontractors").unwrap();
    for (r, cells) in rows.iter().enumerate() {
        for (c, text) in cells.iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            if let Ok(n) = text.parse::<f64>() {
                ws.write_number(r, c, n).unwrap();
            } else if !text.is_empty() {
                ws.write_string(r, c, *text).unwrap();
            }
        }
    }
    ws.set_row_format(0, &bold).ok();
    ws.set_column_width(0, 30).unwrap();
    wb.save_to_buffer().unwrap()
}

fn utf16le(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// A minimal OLE compound file (CFB v3, 512-byte sectors) holding one
/// stream, padded to 4096 bytes so that it lives in regular sectors.
fn cfb(stream_name: &str, mut stream: Vec<u8>) -> Vec<u8> {
    const END: u32 = 0xFFFF_FFFE;
    const FREE: u32 = 0xFFFF_FFFF;
    stream.resize(stream.len().max(4096).div_ceil(512) * 512, 0);
    let n = (stream.len() / 512) as u32;
    assert!(n + 2 <= 128, "one FAT sector only");
    let u32s = |v: &[u32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut header = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    header.extend([0u8; 16]);
    header.extend(u16s(&[0x003E, 3, 0xFFFE, 9, 6]));
    header.extend([0u8; 6]);
    header.extend(u32s(&[0, 1, n + 1, 0, 4096, END, 0, END, 0, 0]));
    header.resize(512, 0xFF);
    let mut fat = vec![0xFFFF_FFFD];
    fat.extend((1..n).map(|i| i + 1));
    fat.extend([END, END]);
    fat.resize(128, FREE);
    let entry = |name: &str, typ: u8, child: u32, start: u32, size: u32| {
        let mut e = utf16le(name);
        e.extend([0, 0]);
        let name_len = if name.is_empty() { 0 } else { e.len() as u16 };
        e.resize(64, 0);
        e.extend(name_len.to_le_bytes());
        e.extend([typ, if name.is_empty() { 0 } else { 1 }]);
        e.extend(u32s(&[FREE, FREE, child]));
        e.extend([0u8; 36]);
        e.extend(u32s(&[start, size, 0]));
        e
    };
    let mut out = header;
    out.extend(u32s(&fat));
    out.extend(&stream);
    out.extend(entry("Root Entry", 5, 1, END, 0));
    out.extend(entry(stream_name, 2, FREE, 1, stream.len() as u32));
    out.extend(entry("", 0, FREE, 0, 0));
    out.extend(entry("", 0, FREE, 0, 0));
    out
}

fn u16s(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A minimal BIFF8 workbook (Excel 97-2003): one sheet of LABEL cells.
fn xls(rows: &[Vec<&str>]) -> Vec<u8> {
    let record = |out: &mut Vec<u8>, typ: u16, data: &[u8]| {
        out.extend(u16s(&[typ, data.len() as u16]));
        out.extend(data);
    };
    let bof = |dt: u16| {
        let mut d = u16s(&[0x0600, dt]);
        d.extend([0u8; 12]);
        d
    };
    let name = "Subcontractors";
    let mut boundsheet = vec![0, 0, 0, 0, 0, 0, name.len() as u8, 1];
    boundsheet.extend(utf16le(name));
    let mut wb = Vec::new();
    record(&mut wb, 0x0809, &bof(0x0005));
    let pos_at = wb.len() + 4;
    record(&mut wb, 0x0085, &boundsheet);
    record(&mut wb, 0x000A, &[]);
    let sheet_pos = (wb.len() as u32).to_le_bytes();
    wb[pos_at..pos_at + 4].copy_from_slice(&sheet_pos);
    record(&mut wb, 0x0809, &bof(0x0010));
    for (r, cells) in rows.iter().enumerate() {
        for (c, text) in cells.iter().enumerate().filter(|(_, t)| !t.is_empty()) {
            let mut d = u16s(&[r as u16, c as u16, 0, text.encode_utf16().count() as u16]);
            d.push(1);
            d.extend(utf16le(text));
            record(&mut wb, 0x0204, &d);
        }
    }
    record(&mut wb, 0x000A, &[]);
    cfb("Workbook", wb)
}

#[test]
#[ignore = "regenerates the binary fixtures and samples; run on purpose"]
fn generate_fixtures_and_samples() {
    let fx = fixtures_dir();
    let write = |dir: &Path, name: &str, data: &[u8]| std::fs::write(dir.join(name), data).unwrap();
    let template = [
        "Subcontractor Name",
        "Contact Name",
        "Subcontractor Email Address",
    ];

    // fixtures
    let de_header = ["Firma", "Ansprechpartner", "E-Mail"];
    let mut rows = ACCENTED.to_vec();
    rows.push(["Bäckerei Groß", "Jürgen Groß", "jürgen@example.test"]);
    write(
        &fx,
        "windows-1252-semicolon.csv",
        &windows_1252(&delimited(de_header, &rows, b';')),
    );
    let unicode = delimited(template, ACCENTED, b'\t');
    write(&fx, "utf16le-tab.txt", &utf16(&unicode, true));
    write(&fx, "utf16be-tab.txt", &utf16(&unicode, false));
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let junk: Vec<u8> = (0..3000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    write(&fx, "binary-junk.csv", &junk);
    let basic: Vec<Vec<&str>> = std::iter::once(template.to_vec())
        .chain(GOOD.iter().take(3).map(|r| r.to_vec()))
        .collect();
    write(&fx, "xlsx-basic.xlsx", &xlsx(&basic));
    write(&fx, "xlsx-disguised.csv", &xlsx(&basic));
    let mut corrupt = xlsx(&basic);
    corrupt.truncate(corrupt.len() * 2 / 3);
    write(&fx, "corrupt.xlsx", &corrupt);
    let messy: Vec<Vec<&str>> = vec![
        vec!["Harbor View Tower: subcontractors"],
        vec![],
        vec![
            "Vendor #",
            "Company",
            "First Name",
            "Last Name",
            "Email",
            "Phone",
        ],
        vec![
            "1001",
            "Sparky Electric Inc.",
            "Dana",
            "Sparks",
            "dana.sparky@example.test",
            "5550101",
        ],
        vec![
            "1002",
            "Flow Right Plumbing",
            "Marco",
            "",
            "Marco <marco.flowright@example.test>",
            "5550102",
        ],
        vec![],
        vec![],
        vec![
            "1003",
            "",
            "Jen",
            "Okafor",
            "jen.polarair@example.test",
            "5550103",
        ],
        vec![
            "1004",
            "Polar Air HVAC",
            "",
            "",
            "DANA.SPARKY@example.test",
            "",
        ],
    ];
    write(&fx, "xlsx-title-errors.xlsx", &xlsx(&messy));
    write(&fx, "legacy-excel-97.xls", &xls(&messy));
    write(
        &fx,
        "ole-encrypted.xlsx",
        &cfb("EncryptedPackage", vec![7; 5000]),
    );
    write(
        &fx,
        "ole-word-document.xls",
        &cfb("WordDocument", vec![7; 5000]),
    );

    // samples
    let samples = root().join("samples");
    let mut accented = ACCENTED.to_vec();
    accented.extend(GOOD.iter().take(2));
    write(
        &samples,
        "excel-windows-1252-semicolon.csv",
        &windows_1252(&delimited(de_header, &accented, b';')),
    );
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(delimited(template, &accented, b',').as_bytes());
    write(&samples, "excel-utf8-bom.csv", &bom);
    write(
        &samples,
        "excel-unicode-text.txt",
        &utf16(&delimited(template, &accented, b'\t'), true),
    );
    let sheet: Vec<Vec<&str>> = std::iter::once(template.to_vec())
        .chain(GOOD.iter().map(|r| r.to_vec()))
        .collect();
    write(&samples, "subcontractors.xlsx", &xlsx(&sheet));
}
