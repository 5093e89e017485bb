//! Golden tests for `classify`: every `.eml` in `tests/fixtures/mail/` is
//! classified and its JSON (as `inspect --json` prints it) compared with
//! `<stem>.json` beside it. On a mismatch the actual output is written to
//! `<stem>.json.failed`; `UPDATE_GOLDEN=1` rewrites the goldens instead.
//!
//! Also: attachments keep their original bytes, and `classify` never panics
//! on arbitrary bytes or on mutated fixtures (proptest).
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use subinvite::classify::{classify, Classification, ClassifyConfig};

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mail")
}

fn cfg() -> ClassifyConfig {
    ClassifyConfig::with_domain("example.test")
}

fn fixtures() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    paths
}

fn actual(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    let value = serde_json::to_value(classify(&raw, &cfg())).unwrap();
    serde_json::to_string_pretty(&value).unwrap() + "\n"
}

#[test]
fn golden_classifications() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failed = Vec::new();
    let mut ran = 0;
    for path in fixtures() {
        let got = actual(&path);
        let golden = path.with_extension("json");
        let failed_path = path.with_extension("json.failed");
        ran += 1;
        if update {
            std::fs::write(&golden, &got).unwrap();
            let _ = std::fs::remove_file(&failed_path);
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {
                let _ = std::fs::remove_file(&failed_path);
            }
            _ => {
                std::fs::write(&failed_path, &got).unwrap();
                failed.push(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    assert!(ran >= 30, "only {ran} fixtures ran");
    assert!(
        failed.is_empty(),
        "{} of {ran} fixtures differ from their golden JSON (see *.json.failed): {failed:?}",
        failed.len()
    );
}

fn classify_fixture(name: &str) -> Classification {
    let raw = std::fs::read(fixtures_dir().join(name)).unwrap();
    classify(&raw, &cfg())
}

#[test]
fn list_files_keep_their_original_bytes() {
    let Classification::ListSubmission { files, .. } =
        classify_fixture("list-text-plain-named-csv.eml")
    else {
        panic!("not a list submission");
    };
    assert_eq!(files.len(), 1);
    let want = "Firma;Ansprechpartner;E-Mail\nMüller Elektro;Jürgen Müller;j.mueller@mueller-elektro.test\n";
    let want: Vec<u8> = want.chars().map(|c| c as u32 as u8).collect(); // Latin-1
    assert!(files[0].data.starts_with(&want));

    let Classification::ListSubmission { files, .. } = classify_fixture("list-xlsx-apple-mail.eml")
    else {
        panic!("not a list submission");
    };
    let xlsx = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lists/xlsx-basic.xlsx"),
    )
    .unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].data, xlsx);
}

#[test]
fn list_file_names_are_what_the_json_shows() {
    for path in fixtures() {
        let raw = std::fs::read(&path).unwrap();
        if let Classification::ListSubmission {
            attachments, files, ..
        } = classify(&raw, &cfg())
        {
            let names: Vec<String> = files.iter().map(|f| f.name.clone()).collect();
            assert_eq!(attachments, names, "{}", path.display());
            assert!(names.iter().all(|n| !n.contains(['/', '\\'])
                && !n.contains("..")
                && !n.chars().any(char::is_control)));
        }
    }
}

/// One edit of a fixture: flip, cut, or insert bytes at a relative position.
#[derive(Debug, Clone)]
enum Mutation {
    Set(f64, u8),
    Truncate(f64),
    Insert(f64, Vec<u8>),
    Delete(f64, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0.0..1.0f64, any::<u8>()).prop_map(|(p, b)| Mutation::Set(p, b)),
        (0.0..1.0f64).prop_map(Mutation::Truncate),
        (
            0.0..1.0f64,
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..16),
                Just(b"\r\n--".to_vec()),
                Just(b"\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n".to_vec()),
                Just(b"=?utf-8?B?".to_vec()),
                Just(b"\r\n\r\n".to_vec()),
                Just(b"<blockquote>".to_vec()),
            ]
        )
            .prop_map(|(p, b)| Mutation::Insert(p, b)),
        (0.0..1.0f64, 0usize..64).prop_map(|(p, n)| Mutation::Delete(p, n)),
    ]
}

fn apply(mut raw: Vec<u8>, edits: &[Mutation]) -> Vec<u8> {
    for e in edits {
        let at = |p: f64, len: usize| ((p * len as f64) as usize).min(len);
        match e {
            Mutation::Set(p, b) => {
                if !raw.is_empty() {
                    let i = at(*p, raw.len() - 1);
                    raw[i] = *b;
                }
            }
            Mutation::Truncate(p) => {
                let i = at(*p, raw.len());
                raw.truncate(i);
            }
            Mutation::Insert(p, bytes) => {
                let i = at(*p, raw.len());
                raw.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(p, n) => {
                let i = at(*p, raw.len());
                let end = (i + n).min(raw.len());
                raw.drain(i..end);
            }
        }
    }
    raw
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(raw in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let c = classify(&raw, &cfg());
        let _ = serde_json::to_value(c).unwrap();
    }

    #[test]
    fn never_panics_on_mutated_fixtures(
        which in any::<prop::sample::Index>(),
        edits in proptest::collection::vec(mutation(), 1..8),
    ) {
        let paths = fixtures();
        let path = which.get(&paths);
        let raw = apply(std::fs::read(path).unwrap(), &edits);
        let c = classify(&raw, &cfg());
        let _ = serde_json::to_value(c).unwrap();
    }

    #[test]
    fn never_panics_on_mail_shaped_text(
        headers in proptest::collection::vec(
            ("(From|To|Cc|Subject|Content-Type|Auto-Submitted|In-Reply-To|Return-Path|Delivered-To)",
             "[ -~]{0,60}"),
            0..8),
        body in "(\\PC|\r\n|>|--|=[0-9A-F]{2}){0,300}",
    ) {
        let mut raw = String::new();
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        raw.push_str(&body);
        let _ = classify(raw.as_bytes(), &cfg());
    }
}

#[test]
fn deep_nesting_is_bounded() {
    let mut raw = String::from("From: a@b.test\r\nTo: invites@example.test\r\n");
    for i in 0..200 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\nHELP\r\n");
    let _ = classify(raw.as_bytes(), &cfg());

    let mut nested = String::from("From: a@b.test\r\nSubject: x\r\n\r\nhi\r\n");
    for _ in 0..40 {
        nested = format!("From: a@b.test\r\nContent-Type: message/rfc822\r\n\r\n{nested}");
    }
    let _ = classify(nested.as_bytes(), &cfg());
}

#[test]
fn large_inputs_are_bounded() {
    // A 6 MiB body of words and addresses, no quotation.
    let mut raw = String::from(
        "From: a@b.test\r\nTo: invites+abcdefghijklmnopqrstuvwxyz@example.test\r\n\r\n",
    );
    while raw.len() < 6 << 20 {
        raw.push_str("maybe we will see, ask x@y.test about it; no idea\r\n");
    }
    let started = std::time::Instant::now();
    let _ = classify(raw.as_bytes(), &cfg());

    // Thousands of parts, each a list file: beyond the 100-part limit, the
    // message is too complex to read, so no list in it is taken in part.
    let mut raw = String::from(
        "From: a@b.test\r\nTo: invites@example.test\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n",
    );
    for i in 0..5000 {
        raw.push_str(&format!(
            "--b\r\nContent-Type: text/csv; name=\"l{i}.csv\"\r\n\r\na,b\r\n"
        ));
    }
    raw.push_str("--b--\r\n");
    let Classification::TooComplex { reason, .. } = classify(raw.as_bytes(), &cfg()) else {
        panic!("not too complex");
    };
    assert_eq!(reason, "has more than 100 parts");
    eprintln!("large inputs: {:?}", started.elapsed());
}
