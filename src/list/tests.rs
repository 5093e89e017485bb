//! End-to-end tests of the list reader on in-memory inputs: the public API
//! from bytes to report and rows, plus property tests (never panics; `rows`
//! agrees with `check`). Golden-file tests live in `tests/list_fixtures.rs`.
use super::*;
use proptest::prelude::*;

fn input(name: &str, data: &[u8]) -> ListInput {
    ListInput::Bytes {
        name: name.into(),
        data: Arc::from(data),
    }
}

fn check_with(data: &[u8], opts: &ListOptions) -> Report {
    ListFile::open(input("list.csv", data), opts)
        .and_then(|f| f.check())
        .unwrap()
}

fn check(data: &[u8]) -> Report {
    check_with(data, &ListOptions::default())
}

fn rows(data: &[u8]) -> Vec<ValidRow> {
    let file = ListFile::open(input("list.csv", data), &ListOptions::default()).unwrap();
    let out: Result<Vec<_>, _> = file.rows().unwrap().collect();
    out.unwrap()
}

fn codes(r: &Report) -> Vec<(Option<u32>, Code)> {
    r.errors.iter().map(|p| (p.row, p.code)).collect()
}

fn xlsx(rows: &[&[&str]]) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, cells) in rows.iter().enumerate() {
        for (c, text) in cells.iter().enumerate() {
            if !text.is_empty() {
                ws.write_string(r as u32, c as u16, *text).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

#[test]
fn template_is_a_valid_list() {
    let r = check(template_csv().as_bytes());
    assert!(r.valid, "{}", r.to_text());
    assert_eq!(r.rows, 1);
    assert_eq!(r.columns.company.as_deref(), Some("Subcontractor Name"));
    let got = rows(template_csv().as_bytes());
    assert_eq!(got[0].contact.as_deref(), Some("Dana Sparks"));
}

#[test]
fn row_numbers_are_excel_rows() {
    let text = "Company,Email\n\
                \"Multi\nLine\nBuilders\",bad-1\n\
                \n\
                ,,\n\
                Ok Co,bad-2\n";
    let r = check(text.as_bytes());
    assert_eq!(
        codes(&r),
        vec![(Some(2), Code::InvalidEmail), (Some(5), Code::InvalidEmail)]
    );
    assert_eq!(r.warnings[0].row, Some(3));
    assert_eq!(r.warnings[0].code, Code::BlankRow);
    assert_eq!(r.rows, 2);
}

#[test]
fn names_spanning_lines_become_one_line() {
    let got =
        rows(b"Company,Contact,Email\n\"Multi\r\nLine  Builders\",\" Ann\n Lee \",ann@x.test\n");
    assert_eq!(got[0].company, "Multi Line Builders");
    assert_eq!(got[0].contact.as_deref(), Some("Ann Lee"));
    assert_eq!(got[0].row, 2);
}

#[test]
fn collects_every_problem() {
    let text = "Subcontractor Name,Email\n\
                ,a@x.test\n\
                B Co,Bob <b@x.test>\n\
                C Co,c@@x.test\n\
                D Co, A@X.test \n\
                E Co,e@localhost\n";
    let r = check(text.as_bytes());
    assert_eq!(
        codes(&r),
        vec![
            (Some(2), Code::MissingValue),
            (Some(3), Code::InvalidEmail),
            (Some(4), Code::InvalidEmail),
            (Some(5), Code::DuplicateEmail),
            (Some(6), Code::InvalidEmail),
        ]
    );
    assert_eq!(r.errors[3].message, "also on row 2");
    assert!(!r.valid);
}

#[test]
fn too_many_rows_stops_reading() {
    let opts = ListOptions {
        max_rows: 3,
        ..ListOptions::default()
    };
    let mut text = String::from("Company,Email\n");
    for i in 0..10 {
        text.push_str(&format!("C{i},bad{i}\n"));
    }
    let r = check_with(text.as_bytes(), &opts);
    assert_eq!(r.rows, 3);
    let last = r.errors.last().unwrap();
    assert_eq!((last.row, last.code), (Some(5), Code::TooManyRows));
    assert!(last.message.contains('3'));
    assert_eq!(r.errors_total, 4, "3 invalid emails, then too_many_rows");
}

#[test]
fn error_list_is_capped_but_counted() {
    let opts = ListOptions {
        max_errors: 5,
        ..ListOptions::default()
    };
    let mut text = String::from("Company,Email\n");
    for i in 0..50 {
        text.push_str(&format!("C{i},bad{i}\n"));
    }
    let r = check_with(text.as_bytes(), &opts);
    assert_eq!(r.errors.len(), 5);
    assert_eq!(r.errors_total, 50);
    assert!(r.to_text().contains("45 more errors"));
}

#[test]
fn format_by_content_not_name() {
    let data = xlsx(&[&["Company", "Email"], &["A Co", "a@x.test"]]);
    let file = ListFile::open(input("list.csv", &data), &ListOptions::default()).unwrap();
    let r = file.check().unwrap();
    assert_eq!(r.format, Format::Xlsx);
    assert!(r.valid, "{}", r.to_text());
    assert_eq!((r.encoding, r.delimiter.as_deref()), (None, None));
    let csv = ListFile::open(
        input("list.xlsx", b"Company,Email\nA,a@x.test\n"),
        &ListOptions::default(),
    );
    assert_eq!(csv.unwrap().format(), Format::Csv);
}

#[test]
fn xlsx_rows_blank_rows_and_title() {
    let data = xlsx(&[
        &["Subcontractors for Project X"],
        &[],
        &["Company", "First Name", "Last Name", "Email"],
        &["A Co", "Ann", "Lee", "ann@x.test"],
        &[],
        &["B Co", "", "", "b@@x.test"],
    ]);
    let file = ListFile::open(input("l.xlsx", &data), &ListOptions::default()).unwrap();
    let r = file.check().unwrap();
    assert_eq!(r.header_row, Some(3));
    assert_eq!(codes(&r), vec![(Some(6), Code::InvalidEmail)]);
    let warn: Vec<_> = r.warnings.iter().map(|p| (p.row, p.code)).collect();
    assert_eq!(
        warn,
        vec![(Some(1), Code::IgnoredRow), (Some(5), Code::BlankRow)]
    );
    let got: Vec<_> = file.rows().unwrap().map(Result::unwrap).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].contact.as_deref(), Some("Ann Lee"));
    assert_eq!(got[0].row, 4);
}

#[test]
fn windows_1252_detected_past_the_head() {
    let mut data = b"Company;Email\n".to_vec();
    for i in 0..20_000 {
        data.extend_from_slice(format!("Company {i};c{i}@x.test\n").as_bytes());
    }
    data.extend_from_slice(b"M\xfcller Bau;mueller@x.test\n");
    let r = check(&data);
    assert_eq!(r.encoding, Some("windows-1252"));
    assert_eq!(r.delimiter.as_deref(), Some(";"));
    let got = rows(&data);
    assert_eq!(got.last().unwrap().company, "Müller Bau");
}

#[test]
fn utf16_unicode_text() {
    let text = "Company\tContact\tEmail\r\nÉlectricité Dupont\tÉlise\telise@x.test\r\n";
    let mut data = vec![0xFF, 0xFE];
    data.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let r = check(&data);
    assert!(r.valid, "{}", r.to_text());
    assert_eq!(
        (r.encoding, r.delimiter.as_deref()),
        (Some("UTF-16LE"), Some("\t"))
    );
    assert_eq!(rows(&data)[0].company, "Électricité Dupont");
}

#[test]
fn unreadable_inputs() {
    let opts = ListOptions::default();
    let missing = ListFile::open(ListInput::Path("/nonexistent/list.csv".into()), &opts);
    assert!(matches!(missing, Err(Unreadable::Io { .. })));
    let mut data = xlsx(&[&["Company", "Email"], &["A", "a@x.test"]]);
    data.truncate(data.len() / 2);
    let truncated = ListFile::open(input("l.xlsx", &data), &opts).and_then(|f| f.check());
    assert!(
        matches!(truncated, Err(Unreadable::Corrupt(_))),
        "{truncated:?}"
    );
}

#[test]
fn rows_skip_invalid_rows_and_stop_at_the_limit() {
    let text = b"Company,Email\nA,a@x.test\nB,bad\nC,c@x.test\n";
    let got: Vec<_> = rows(text).into_iter().map(|r| r.row).collect();
    assert_eq!(got, vec![2, 4]);
    let opts = ListOptions {
        max_rows: 1,
        ..ListOptions::default()
    };
    let file = ListFile::open(input("l.csv", text), &opts).unwrap();
    assert_eq!(file.rows().unwrap().count(), 1);
}

fn arb_name() -> impl Strategy<Value = String> {
    "[A-Za-z][A-Za-z0-9 &.,'\"\n-]{0,30}"
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(
        prefix in prop::sample::select(vec![
            &b""[..], b"PK\x03\x04", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", b"\xEF\xBB\xBF",
            b"\xFF\xFE", b"\xFE\xFF", b"sep=;\n", b"Company,Email\n",
        ]),
        body in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut data = prefix.to_vec();
        data.extend_from_slice(&body);
        let result = ListFile::open(input("x.csv", &data), &ListOptions::default())
            .and_then(|f| f.check().map(|r| (f, r)));
        if let Ok((file, report)) = result {
            prop_assert_eq!(report.valid, report.errors_total == 0);
            if let Ok(rows) = file.rows() {
                rows.for_each(drop);
            }
        }
    }

    #[test]
    fn rows_agree_with_check(
        entries in prop::collection::vec((arb_name(), arb_name(), "[a-z]{1,8}"), 1..40),
        delimiter in prop::sample::select(vec![b',', b';', b'\t']),
        blank_every in 2usize..9,
    ) {
        let mut w = csv::WriterBuilder::new().delimiter(delimiter).from_writer(Vec::new());
        w.write_record(["Subcontractor Name", "Contact Name", "Email"]).unwrap();
        for (i, (company, contact, local)) in entries.iter().enumerate() {
            if i % blank_every == 1 {
                w.write_record(["", "", ""]).unwrap();
            }
            let email = format!("{local}{i}@example.test");
            w.write_record([company.as_str(), contact.as_str(), email.as_str()]).unwrap();
        }
        let data = w.into_inner().unwrap();
        let file = ListFile::open(input("p.csv", &data), &ListOptions::default()).unwrap();
        let report = file.check().unwrap();
        prop_assert!(report.valid, "{}", report.to_text());
        prop_assert_eq!(report.rows as usize, entries.len());
        let got: Vec<ValidRow> = file.rows().unwrap().map(Result::unwrap).collect();
        prop_assert_eq!(got.len(), report.rows as usize);
        for (row, (company, _, _)) in got.iter().zip(&entries) {
            prop_assert_eq!(&row.company, &validate::clean_name(company));
        }
    }
}
