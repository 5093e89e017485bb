//! Hostile input, fed to the real daemon on the embedded default (drop
//! folder, Maildir, `.eml` files out). For each kind of input the tests
//! assert a clear, specific outcome (the red email, the refusal, the
//! rejected report, or "recorded, not answered"), that nothing was imported
//! by mistake (connection counts through the CLI), and that the daemon is
//! still up afterwards (a good list dropped after the hostile input is
//! imported).

mod common;
use common::*;
use mail_parser::MimeHeaders;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const GC: &str = "gc1@example.test";

/// The common test config with `extra` sections appended.
fn config(extra: &str) -> String {
    format!("{CONFIG}\n{extra}\n")
}

/// Delivers `raw` into the Maildir as a mail server would (tmp/, then new/).
fn deliver(home: &Home, name: &str, raw: &[u8]) {
    let inbox = home.var("inbox");
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(inbox.join(d)).unwrap();
    }
    let tmp = inbox.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, inbox.join("new").join(name)).unwrap();
}

fn in_cur(home: &Home) -> usize {
    files(&home.var("inbox").join("cur"), ":2,S").len()
}

/// Waits until `n` messages in all have been handled (moved to cur/).
fn handled(home: &Home, n: usize) {
    wait_for(60, &format!("{n} message(s) moved to cur/"), || {
        let new_empty = files(&home.var("inbox").join("new"), "").is_empty();
        (new_empty && in_cur(home) == n).then_some(())
    });
}

fn sent(home: &Home) -> Vec<String> {
    files(&home.var("sent"), ".eml")
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

fn sent_to(home: &Home, who: &str) -> Vec<String> {
    sent(home)
        .into_iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains(who)))
        .collect()
}

fn subject(m: &str) -> String {
    header(m, "Subject").unwrap_or_default()
}

fn is_red(m: &str) -> bool {
    subject(m).starts_with("List not imported")
}

/// The red emails to `who`, once there are `n` of them.
fn reds(home: &Home, who: &str, n: usize) -> Vec<String> {
    wait_for(60, &format!("{n} red email(s) to {who}"), || {
        let v: Vec<String> = sent_to(home, who)
            .into_iter()
            .filter(|m| is_red(m))
            .collect();
        (v.len() >= n).then_some(v)
    })
}

fn invites(home: &Home) -> Vec<String> {
    sent(home)
        .into_iter()
        .filter(|m| header(m, "Message-ID").is_some_and(|id| id.starts_with("<invite.")))
        .collect()
}

/// A raw email; `from` None leaves the From header out.
fn eml(id: &str, from: Option<&str>, to: &str, subject: &str, extra: &str, body: &str) -> String {
    let from = from.map(|f| format!("From: {f}\r\n")).unwrap_or_default();
    format!(
        "Message-ID: <{id}@client.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
         {from}To: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// A mail from `from` to the intake address with `files` attached (base64).
fn list_mail(id: &str, from: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = format!(
        "Return-Path: <{from}>\r\nMessage-ID: <{id}@client.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
         From: Gina Contractor <{from}>\r\nTo: invites@example.test\r\nSubject: our subs\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nHere is the list.\r\n"
    );
    for (name, data) in files {
        m.push_str(&format!(
            "--b1\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            data_encoding::BASE64_MIME.encode(data)
        ));
    }
    m.push_str("--b1--\r\n");
    m.into_bytes()
}

/// Proves the daemon still works: a good list of two rows at `tag.test`,
/// dropped now, is imported.
fn still_up(home: &Home, tag: &str) {
    home.drop_file(
        "demo",
        &format!("{tag}.csv"),
        csv_list(2, &format!("{tag}.test")).as_bytes(),
    );
    wait_for(60, &format!("the good list {tag}.csv imported"), || {
        let n = invites(home)
            .iter()
            .filter(|m| header(m, "To").is_some_and(|t| t.contains(&format!("@{tag}.test"))))
            .count();
        (n == 2).then_some(())
    });
}

/// The `.report.txt` beside a file whose name ends with `name` in
/// `rejected/<folder>/`.
fn rejected_report(home: &Home, folder: &str, name: &str) -> String {
    let dir = home.var("rejected").join(folder);
    let report = wait_for(60, &format!("{name} in rejected/{folder}"), || {
        files(&dir, &format!("{name}.report.txt"))
            .into_iter()
            .next()
    });
    let file = PathBuf::from(report.to_string_lossy().trim_end_matches(".report.txt"));
    wait_for(20, "the rejected file beside its report", || {
        file.exists().then_some(())
    });
    std::fs::read_to_string(report).unwrap()
}

fn quarantine_is_empty(home: &Home) {
    let q = home.json(&["quarantine", "list", "--format", "json"]);
    assert!(q.as_array().unwrap().is_empty(), "quarantine: {q}");
}

/// Peak resident memory of a process, in KiB (Linux).
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

// 1. Size limits.

#[test]
fn oversized_files_and_messages_are_refused_unread_with_their_size() {
    let home = Home::with_config(&config(
        "[import]\nmax-file-bytes = 4096\n\n[intake]\nmax-message-bytes = 65536\n",
    ));
    let mut d = home.daemon();
    // A dropped file over the file limit.
    let big = csv_list(200, "big.test");
    home.drop_file("demo", "big.csv", big.as_bytes());
    let report = rejected_report(&home, "demo", "big.csv");
    assert!(
        report.contains(&format!("{} bytes", big.len())) && report.contains("limit of 4096 bytes"),
        "{report}"
    );
    // An attachment over the file limit, in a message under the message limit.
    let att = csv_list(200, "attached.test");
    deliver(
        &home,
        "1.m",
        &list_mail("att", GC, &[("subs.csv", att.as_bytes())]),
    );
    // A whole message over the message limit.
    let huge = list_mail(
        "huge",
        GC,
        &[("huge.csv", csv_list(3000, "huge.test").as_bytes())],
    );
    assert!(huge.len() > 65536);
    deliver(&home, "2.m", &huge);
    // The same from a stranger (twice), and as an automatic message: a
    // refusal once a day, and nothing at all.
    let stranger = String::from_utf8(huge.clone())
        .unwrap()
        .replace(GC, "mallory@evil.test");
    deliver(&home, "3.m", stranger.as_bytes());
    deliver(
        &home,
        "4.m",
        stranger.replace("<huge@", "<huge2@").as_bytes(),
    );
    let auto = String::from_utf8(huge.clone())
        .unwrap()
        .replace(
            "MIME-Version:",
            "Auto-Submitted: auto-replied\r\nMIME-Version:",
        )
        .replace("<huge@", "<huge3@");
    deliver(&home, "5.m", auto.as_bytes());
    handled(&home, 5);
    wait_for(60, "the refusal to the stranger", || {
        sent_to(&home, "mallory@evil.test").into_iter().next()
    });
    let red = reds(&home, GC, 3);
    let texts: Vec<String> = red.iter().map(|m| bodies(m)).collect();
    for want in [
        format!("is {} bytes, over the limit of 4096 bytes", big.len()),
        format!("is {} bytes, over the limit of 4096 bytes", att.len()),
        format!(
            "message is {} bytes, over the limit of 65536 bytes",
            huge.len()
        ),
    ] {
        assert!(
            texts.iter().any(|t| t.contains(&want)),
            "{want:?} in {texts:#?}"
        );
    }
    still_up(&home, "ok");
    d.stop();
    assert_eq!(home.count("demo"), 2, "only the good list was imported");
    assert_eq!(
        sent_to(&home, GC).iter().filter(|m| is_red(m)).count(),
        3,
        "one red email each, none for the automatic message"
    );
    assert_eq!(
        sent_to(&home, "mallory@evil.test").len(),
        1,
        "one refusal a day"
    );
    quarantine_is_empty(&home);
}

// 2. An XLSX zip bomb.

/// The `len` low bits of `code` in reverse order.
fn rev(code: u32, len: u32) -> u32 {
    (0..len).fold(0, |r, i| r | (((code >> i) & 1) << (len - 1 - i)))
}

/// Deflate bits, least significant first.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, v: u32, len: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += len;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code, which deflate stores most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(rev(code, len), len);
    }

    fn lit(&mut self, b: u8) {
        if b < 144 {
            self.code(0x30 + u32::from(b), 8);
        } else {
            self.code(0x190 + u32::from(b) - 144, 9);
        }
    }
}

/// One fixed-Huffman deflate block: `prefix`, then `fill` repeated to
/// `total` bytes in all, as back-references of 258 bytes (13 bits each).
fn deflate_bomb(prefix: &[u8], fill: u8, total: u64) -> Vec<u8> {
    let mut b = Bits {
        out: Vec::new(),
        acc: 0,
        n: 0,
    };
    b.put(1, 1); // last block
    b.put(1, 2); // fixed Huffman codes
    prefix.iter().for_each(|&c| b.lit(c));
    b.lit(fill);
    let mut left = total - prefix.len() as u64 - 1;
    // Length 258 is code 285 (8 bits), distance 1 is code 0 (5 bits): 13
    // bits, the distance code's zeros after the reversed length code.
    let one_match = rev(0b1100_0101, 8);
    while left >= 258 {
        b.put(one_match, 13);
        left -= 258;
    }
    (0..left).for_each(|_| b.lit(fill));
    b.code(0, 7); // end of block
    if b.n > 0 {
        b.out.push(b.acc as u8);
    }
    b.out
}

/// A real one-sheet workbook whose sheet XML is replaced by `total` bytes
/// (an open `<sheetData>` and then spaces) that declare `declared` bytes.
fn xlsx_bomb(total: u64, declared: Option<u32>) -> Vec<u8> {
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.write_string(0, 0, "Company").unwrap();
    ws.write_string(0, 1, "Email").unwrap();
    ws.write_string(1, 0, "Bomb Co").unwrap();
    ws.write_string(1, 1, "bomb@bomb.test").unwrap();
    let real = wb.save_to_buffer().unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(real)).unwrap();
    let mut entries: Vec<(String, u16, u32, u32, Vec<u8>)> = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip.by_index(i).unwrap();
        let name = f.name().to_owned();
        let mut data = Vec::new();
        f.read_to_end(&mut data).unwrap();
        if name.ends_with("worksheets/sheet1.xml") {
            let prefix = b"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n\
                <worksheet xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/2006/main\"><sheetData>";
            let size = declared.unwrap_or(u32::try_from(total).unwrap());
            entries.push((name, 8, 0, size, deflate_bomb(prefix, b' ', total)));
        } else {
            let (crc, size) = (f.crc32(), data.len() as u32);
            entries.push((name, 0, crc, size, data));
        }
    }
    // Written by hand: the zip writer would inflate nothing but would
    // compress gigabytes first.
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, method, crc, size, data) in &entries {
        let offset = out.len() as u32;
        let fields = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&method.to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
            v.extend_from_slice(&0x21u16.to_le_bytes());
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&size.to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        fields(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        fields(&mut central);
        central.extend_from_slice(&[0; 10]); // comment, disk, attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn an_xlsx_zip_bomb_is_rejected_quickly_and_in_little_memory() {
    let home = Home::new();
    let mut d = home.daemon();
    // Honest: the central directory declares 2 GiB.
    let honest = xlsx_bomb(2 << 30, None);
    let started = Instant::now();
    home.drop_file("demo", "bomb.xlsx", &honest);
    let report = rejected_report(&home, "demo", "bomb.xlsx");
    let declared: u64 = report
        .split_once("the spreadsheet unpacks to ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(declared >= 2 << 30, "{report}");
    assert!(
        report.contains("over the limit of 1073741824 bytes"),
        "{report}"
    );
    // Lying: it declares 10,000 bytes and inflates to 256 MiB.
    let lying = xlsx_bomb(256 << 20, Some(10_000));
    deliver(
        &home,
        "1.m",
        &list_mail("bomb", GC, &[("lying.xlsx", &lying)]),
    );
    handled(&home, 1);
    let red = reds(&home, GC, 2);
    assert!(
        red.iter()
            .any(|m| bodies(m).contains("unpacks to more than the 10000 bytes it declares")),
        "{:#?}",
        red.iter().map(|m| bodies(m)).collect::<Vec<_>>()
    );
    let took = started.elapsed();
    let peak = peak_rss_kib(d.pid());
    still_up(&home, "ok");
    d.stop();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(peak > 0 && peak < 200 * 1024, "peak memory {peak} KiB");
    assert_eq!(home.count("demo"), 2);
    quarantine_is_empty(&home);
}

// 3. Deep MIME nesting and thousands of parts.

fn nested_multipart(depth: usize, leaf: &str) -> String {
    let mut head = String::new();
    let mut tail = String::new();
    for i in 0..depth {
        head.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\n"
        ));
        tail = format!("\r\n--n{i}--\r\n{tail}");
    }
    format!("{head}{leaf}{tail}")
}

fn nested_messages(depth: usize, leaf: &str) -> String {
    let mut m = leaf.to_owned();
    for i in 0..depth {
        m = format!(
            "From: {GC}\r\nTo: invites@example.test\r\nSubject: fwd {i}\r\nMessage-ID: <fwd{i}@client.test>\r\n\
             MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n{m}"
        );
    }
    m
}

#[test]
fn deeply_nested_mime_and_thousands_of_parts_are_handled_within_bounds() {
    let home = Home::new();
    let mut d = home.daemon();
    let leaf = format!(
        "Content-Type: text/csv; name=\"deep.csv\"\r\nContent-Disposition: attachment; filename=\"deep.csv\"\r\n\r\n{}",
        csv_list(1, "deep.test")
    );
    let top = format!(
        "From: {GC}\r\nTo: invites@example.test\r\nSubject: deep\r\nMessage-ID: <deep1@client.test>\r\nMIME-Version: 1.0\r\n"
    );
    deliver(
        &home,
        "1.m",
        format!("{top}{}", nested_multipart(200, &leaf)).as_bytes(),
    );
    deliver(
        &home,
        "2.m",
        nested_messages(200, &format!("MIME-Version: 1.0\r\n{leaf}")).as_bytes(),
    );
    let mut many = format!(
        "From: {GC}\r\nTo: invites@example.test\r\nSubject: many\r\nMessage-ID: <many@client.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"m\"\r\n\r\n"
    );
    for i in 0..5000 {
        many.push_str(&format!(
            "--m\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"l{i}.csv\"\r\n\r\n{}\r\n",
            csv_list(1, &format!("many{i}.test"))
        ));
    }
    many.push_str("--m--\r\n");
    deliver(&home, "3.m", many.as_bytes());
    handled(&home, 3);
    let answers = wait_for(60, "an answer to each of the three", || {
        let v: Vec<String> = sent_to(&home, GC)
            .into_iter()
            .filter(|m| is_red(m))
            .collect();
        (v.len() >= 3).then_some(v)
    });
    let texts: Vec<String> = answers.iter().map(|m| bodies(m)).collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.contains("the message is nested more than 10 levels deep"))
            .count(),
        2,
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("the message has more than 100 parts: nothing in it was read")),
        "{texts:#?}"
    );
    still_up(&home, "ok");
    d.stop();
    assert_eq!(home.count("demo"), 2, "nothing from the hostile messages");
    assert_eq!(sent_to(&home, GC).iter().filter(|m| is_red(m)).count(), 3);
    quarantine_is_empty(&home);
}

// 4. Broken headers and charsets.

fn token_of(invite: &str) -> String {
    reply_token(invite, "invites")
}

#[test]
fn broken_headers_and_charsets_get_a_clear_outcome() {
    let home = Home::new();
    let mut d = home.daemon();
    // A good list whose headers are damaged in every usual way: unknown
    // charsets, invalid encoded-words, 8-bit garbage, a line without colon.
    let mut ugly = list_mail(
        "ugly",
        GC,
        &[("subs.csv", csv_list(3, "hdr.test").as_bytes())],
    );
    let junk_headers: &[u8] =
        b"Subject: =?x-unknown?Q?hello?= =?utf-8?B?!!!not-base64?= =?utf-8?Q?unterminated\r\n\
        X-Garbage: \xff\xfe\x00\x01\x80 binary\r\n\
        X-Encoded: =?iso-8859-99?B?SGVsbG8=?=\r\n\
        Comments: this folded header\r\n  goes on \xc3\x28 with invalid UTF-8\r\n";
    let at = ugly
        .windows(18)
        .position(|w| w == b"Subject: our subs\r")
        .unwrap();
    ugly.splice(at..at + 19, junk_headers.iter().copied());
    deliver(&home, "1.m", &ugly);
    handled(&home, 1);
    let hdr: Vec<String> = wait_for(60, "invites from the list with damaged headers", || {
        let v: Vec<String> = invites(&home)
            .into_iter()
            .filter(|m| header(m, "To").is_some_and(|t| t.contains("@hdr.test")))
            .collect();
        (v.len() == 3).then_some(v)
    });
    // A list without a From header, and one whose From is 8-bit garbage.
    let no_from = String::from_utf8(list_mail(
        "nofrom",
        GC,
        &[("a.csv", csv_list(2, "nofrom.test").as_bytes())],
    ))
    .unwrap()
    .replace(&format!("From: Gina Contractor <{GC}>\r\n"), "");
    deliver(&home, "2.m", no_from.as_bytes());
    let mut garbage_from = list_mail(
        "garbage-from",
        GC,
        &[("b.csv", csv_list(2, "garbage.test").as_bytes())],
    );
    let at = garbage_from.windows(5).position(|w| w == b"From:").unwrap();
    let end = at
        + garbage_from[at..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .unwrap();
    garbage_from.splice(at..end, b"From: \xff\xfe\x00 <\xfa\xfb>".iter().copied());
    deliver(&home, "3.m", &garbage_from);
    // Headers that are nothing but junk: no colons, NULs, no blank line.
    deliver(
        &home,
        "4.m",
        b"this is not a header\r\n\x00\x01\x02\xff\r\nneither is this\r\n:\r\n: empty name\r\n",
    );
    // A "yes" to a real invite in an unknown charset, with a header line
    // without colon in the middle: the token and the word still count.
    let token = token_of(&hdr[0]);
    let reply = format!(
        "From: sub1@hdr.test\r\nTo: invites+{token}@example.test\r\nSubject: =?x-klingon?Q?Re=3A?= invite\r\n\
         Message-ID: <yes1@hdr.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"x-klingon\"\r\n\r\n\
         Yes, we accept.\r\n"
    );
    deliver(&home, "5.m", reply.as_bytes());
    handled(&home, 5);
    let who = header(&hdr[0], "To").unwrap();
    still_up(&home, "ok");
    d.stop();
    let statuses = home.statuses("demo");
    assert_eq!(
        statuses.len(),
        5,
        "3 from the ugly list, 2 good: {statuses:?}"
    );
    assert!(statuses
        .keys()
        .all(|e| e.ends_with("@hdr.test") || e.ends_with("@ok.test")));
    let accepted = who.rsplit('<').next().unwrap().trim_end_matches('>');
    assert_eq!(
        statuses.get(accepted).map(String::as_str),
        Some("active"),
        "{statuses:?}"
    );
    // Nothing was answered but the lists' reports and the acceptance.
    for m in sent(&home) {
        let to = header(&m, "To").unwrap_or_default();
        assert!(
            to.contains(GC) || to.contains("@hdr.test") || to.contains("@ok.test"),
            "unexpected answer to {to}"
        );
    }
    let log = d.log_text();
    assert!(
        log.contains("a list without a sender address: ignored"),
        "{log}"
    );
    quarantine_is_empty(&home);
}

// 5. Binary junk named .csv.

/// `n` pseudo-random bytes (xorshift), the same each run.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn binary_junk_named_csv_is_answered_unreadable_with_the_reason() {
    let home = Home::new();
    let mut d = home.daemon();
    let mut elf =
        b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00".to_vec();
    elf.extend(random_bytes(4000, 7));
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR".to_vec();
    png.extend(random_bytes(4000, 9));
    home.drop_file("demo", "random.csv", &random_bytes(20_000, 3));
    home.drop_file("demo", "elf.csv", &elf);
    home.drop_file("demo", "png.csv", &png);
    deliver(
        &home,
        "1.m",
        &list_mail(
            "junk",
            GC,
            &[("list.csv", &png), ("other.csv", &random_bytes(5000, 5))],
        ),
    );
    for (name, why) in [
        ("random.csv", "not_a_table"),
        ("elf.csv", "(an ELF executable), not a table"),
        ("png.csv", "a PNG image, not a table"),
    ] {
        let report = rejected_report(&home, "demo", name);
        assert!(report.contains(why), "{name}: {report}");
    }
    handled(&home, 1);
    // Three red emails for the dropped files, two for the attachments.
    let red = reds(&home, GC, 5);
    let texts: Vec<String> = red.iter().map(|m| bodies(m)).collect();
    assert!(
        texts
            .iter()
            .any(|t| t.contains("email:list.csv") && t.contains("a PNG image, not a table")),
        "{texts:#?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t.contains("email:other.csv") && t.contains("not_a_table")),
        "{texts:#?}"
    );
    still_up(&home, "ok");
    d.stop();
    assert_eq!(home.count("demo"), 2);
    assert_eq!(sent_to(&home, GC).iter().filter(|m| is_red(m)).count(), 5);
    quarantine_is_empty(&home);
}

// 6. A list far beyond the row limit.

#[test]
fn a_list_far_beyond_the_row_limit_is_refused_naming_the_limit() {
    let home = Home::with_config(&config("[import]\nmax-rows = 50\n"));
    let mut d = home.daemon();
    let long = csv_list(200_000, "long.test");
    let started = Instant::now();
    home.drop_file("demo", "long.csv", long.as_bytes());
    let report = rejected_report(&home, "demo", "long.csv");
    let took = started.elapsed();
    assert!(
        report.contains("more than 50 data rows (the limit)") && report.contains("too_many_rows"),
        "{report}"
    );
    deliver(
        &home,
        "1.m",
        &list_mail(
            "long",
            GC,
            &[("long.csv", csv_list(2_000, "mailed.test").as_bytes())],
        ),
    );
    handled(&home, 1);
    let red = reds(&home, GC, 2);
    assert!(
        red.iter()
            .all(|m| bodies(m).contains("more than 50 data rows (the limit)")),
        "{:#?}",
        red.iter().map(|m| bodies(m)).collect::<Vec<_>>()
    );
    still_up(&home, "ok");
    d.stop();
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(home.count("demo"), 2);
}

// 7. Formula and header injection through names.

fn attachment(raw: &str, name: &str) -> Option<Vec<u8>> {
    let msg = mail_parser::MessageParser::default().parse(raw.as_bytes())?;
    let found = msg
        .attachments()
        .find(|a| a.attachment_name() == Some(name))
        .map(|a| a.contents().to_vec());
    found
}

/// The header section of a raw email, one entry per (unfolded) field name.
fn header_names(raw: &str) -> Vec<String> {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    head.split("\r\n")
        .filter(|l| !l.starts_with([' ', '\t']))
        .filter_map(|l| l.split_once(':').map(|(k, _)| k.to_ascii_lowercase()))
        .collect()
}

#[test]
fn formula_and_header_injection_through_names_is_neutralised() {
    let home = Home::new();
    let mut d = home.daemon();
    // One bad row (its email is a formula too), so rows-to-fix.csv is made.
    let bad = "Subcontractor Name,Contact Name,Subcontractor Email Address\r\n\
               \"=HYPERLINK(\"\"http://evil.test\"\",\"\"click\"\")\",\"+cmd|' /C calc'!A0\",@SUM(1)\r\n\
               -2+3,\"Evil\r\nBcc: victim@x.test\",ok1@inj.test\r\n";
    home.drop_file("demo", "bad.csv", bad.as_bytes());
    let red = reds(&home, GC, 1);
    let fix = String::from_utf8(attachment(&red[0], "rows-to-fix.csv").expect("rows-to-fix.csv"))
        .unwrap();
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(fix.as_bytes());
    let mut cells = Vec::new();
    for rec in rdr.records() {
        cells.extend(rec.unwrap().iter().map(str::to_owned));
    }
    assert!(cells.iter().any(|c| c.contains("HYPERLINK")), "{fix}");
    for c in &cells {
        assert!(
            !c.starts_with(['=', '+', '-', '@', '\t', '\r']),
            "cell {c:?} in {fix}"
        );
    }
    // A valid list: names with formulas and header-breaking characters.
    let good = "Subcontractor Name,Contact Name,Subcontractor Email Address\r\n\
                \"=HYPERLINK(\"\"http://evil.test\"\",\"\"click\"\")\",\"Evil\r\nBcc: victim@x.test\",a@inj.test\r\n\
                \"+cmd|' /C calc'!A0\",\"Mallory <mallory@evil.test>, x@evil.test\",b@inj.test\r\n\
                @SUM(1),\"Line\u{2028}Sep\rTo: victim2@x.test\",c@inj.test\r\n\
                \"Quote\"\" Co\",\"=?utf-8?Q?Bcc=3A_victim3=40x.test?=\",d@inj.test\r\n";
    home.drop_file("demo", "good.csv", good.as_bytes());
    let mails = wait_for(60, "four invites", || {
        let v: Vec<String> = invites(&home)
            .into_iter()
            .filter(|m| header(m, "To").is_some_and(|t| t.contains("@inj.test")))
            .collect();
        (v.len() == 4).then_some(v)
    });
    still_up(&home, "ok");
    d.stop();
    for m in sent(&home) {
        let names = header_names(&m);
        for forbidden in ["bcc", "cc"] {
            assert!(
                !names.iter().any(|n| n == forbidden),
                "{forbidden}: in\n{m}"
            );
        }
        assert_eq!(names.iter().filter(|n| *n == "to").count(), 1, "{m}");
        let parsed = mail_parser::MessageParser::default()
            .parse(m.as_bytes())
            .unwrap();
        let to: Vec<String> = parsed
            .to()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.address().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(to.len(), 1, "one recipient: {to:?}\n{m}");
        let head = m.split("\r\n\r\n").next().unwrap();
        assert!(
            !head.contains("victim"),
            "no injected address in the header:\n{head}"
        );
        assert!(!head.contains("x@evil.test"), "{head}");
    }
    assert_eq!(mails.len(), 4);
    let statuses = home.statuses("demo");
    assert_eq!(
        statuses.len(),
        6,
        "4 + 2 good, nothing from bad.csv: {statuses:?}"
    );
}

// 8. Path traversal in attachment and file names.

/// Every file under `dir`, recursively.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn path_traversal_in_names_writes_nothing_outside_the_state_dir() {
    let home = Home::new();
    let mut d = home.daemon();
    let long = format!("{}.csv", "a".repeat(300));
    let names = [
        "../../etc/passwd.csv",
        "/tmp/absolute.csv",
        "..\\..\\x.csv",
        "nul\u{0}byte.csv",
        long.as_str(),
    ];
    let mut raw = String::from_utf8(list_mail("trav", GC, &[])).unwrap();
    raw.truncate(raw.len() - "--b1--\r\n".len());
    for (i, name) in names.iter().enumerate() {
        let encoded: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b == b'.' {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        // The bad row makes each one a rejected list with its name in the report.
        raw.push_str(&format!(
            "--b1\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename*=utf-8''{encoded}\r\n\r\n\
             Company,Email\r\nT{i},not-an-address\r\n"
        ));
    }
    raw.push_str("--b1--\r\n");
    deliver(&home, "1.m", raw.as_bytes());
    handled(&home, 1);
    let red = reds(&home, GC, names.len());
    // Dropped files with hostile names (the file system forbids '/' and NUL).
    let dropped = [
        // (A name starting with '.' is a temporary file and left alone.)
        "x..\\..\\dropped.csv".to_owned(),
        "-rf .csv".to_owned(),
        "new\nline.csv".to_owned(),
        // As long as the helper's temporary name allows (255 bytes).
        format!("{}.csv", "b".repeat(241)),
    ];
    for n in &dropped {
        home.drop_file("demo", n, b"Company,Email\nX,not-an-address\n");
    }
    for n in &dropped {
        let dir = home.var("rejected").join("demo");
        wait_for(60, &format!("{n:?} rejected with its report"), || {
            let all = files(&dir, "");
            let stem: String = n.chars().take(60).collect();
            let file = all.iter().any(|p| {
                let f = p.file_name().unwrap().to_string_lossy().into_owned();
                f.contains(&stem) && !f.contains(".report.")
            });
            let report = all.iter().any(|p| {
                let f = p.file_name().unwrap().to_string_lossy().into_owned();
                f.contains(&stem) && f.ends_with(".report.txt")
            });
            (file && report).then_some(())
        });
    }
    still_up(&home, "ok");
    d.stop();
    assert_eq!(home.count("demo"), 2);
    let texts: Vec<String> = red.iter().map(|m| bodies(m)).collect();
    for want in ["passwd.csv", "absolute.csv", "x.csv", "nulbyte.csv", "aaaa"] {
        assert!(texts.iter().any(|t| t.contains(want)), "{want}: {texts:#?}");
    }
    // Everything written is under var/ (or is the config and the log).
    for p in tree(home.path()) {
        let rel = p.strip_prefix(home.path()).unwrap();
        assert!(
            rel.starts_with("var/store")
                || rel.starts_with("var/sent")
                || rel.starts_with("var/inbox")
                || rel.starts_with("var/archive/demo")
                || rel.starts_with("var/rejected/demo")
                || rel == Path::new("subinvite.toml")
                || rel == Path::new("daemon.log"),
            "written outside its place: {}",
            rel.display()
        );
    }
    assert!(!Path::new("/tmp/absolute.csv").exists());
    assert!(
        files(&home.var("drop").join("demo"), "").is_empty(),
        "every dropped file was taken"
    );
}

// 9. A flood of replies with guessed tokens.

/// A token-shaped random string: 26 characters of [a-z2-7].
fn guessed_token(seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    random_bytes(26, seed)
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % 32]))
        .collect()
}

#[test]
fn a_flood_of_replies_with_guessed_tokens_changes_nothing_and_is_barely_answered() {
    let home = Home::new();
    let mut d = home.daemon();
    home.drop_file("demo", "subs.csv", csv_list(3, "flood.test").as_bytes());
    let real = wait_for(60, "three invites", || {
        let v = invites(&home);
        (v.len() == 3).then_some(v)
    });
    let senders: Vec<String> = (0..5).map(|i| format!("guess{i}@attacker.test")).collect();
    let mut n = 0;
    for i in 0..500u64 {
        let from = &senders[i as usize % senders.len()];
        let guess = guessed_token(1000 + i);
        let (to, extra) = match i % 3 {
            0 => (format!("invites+{guess}-yes@example.test"), String::new()),
            1 => (format!("invites+{guess}@example.test"), String::new()),
            _ => (
                "invites@example.test".to_owned(),
                format!("In-Reply-To: <invite.{guess}@example.test>\r\nReferences: <invite.{guess}@example.test>\r\n"),
            ),
        };
        n += 1;
        deliver(
            &home,
            &format!("f{i:04}.m"),
            eml(
                &format!("f{i}"),
                Some(from),
                &to,
                "Re: invite",
                &extra,
                "Yes",
            )
            .as_bytes(),
        );
    }
    // The attacker also knows one real token and keeps writing unclear text.
    let token = token_of(&real[0]);
    for i in 0..30 {
        n += 1;
        deliver(
            &home,
            &format!("u{i:02}.m"),
            eml(
                &format!("u{i}"),
                Some(&senders[0]),
                &format!("invites+{token}@example.test"),
                "Re",
                "",
                "What is this?",
            )
            .as_bytes(),
        );
    }
    handled(&home, n);
    // The daemon keeps up: the real subcontractor's answer still counts.
    let who = header(&real[1], "To").unwrap();
    let who = who
        .rsplit('<')
        .next()
        .unwrap()
        .trim_end_matches('>')
        .to_owned();
    let yes = eml(
        "real-yes",
        Some(&who),
        &format!("invites+{}-yes@example.test", token_of(&real[1])),
        "yes",
        "",
        "",
    );
    deliver(&home, "real.m", yes.as_bytes());
    handled(&home, n + 1);
    wait_for(60, "the acknowledgement of the real answer", || {
        sent_to(&home, &who)
            .into_iter()
            .find(|m| subject(m).contains("connected"))
    });
    still_up(&home, "ok");
    d.stop();
    let statuses = home.statuses("demo");
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    assert_eq!(
        statuses.values().filter(|s| *s == "active").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(statuses.get(&who).map(String::as_str), Some("active"));
    // Answers to the attacker: within the daily budget per sender (3), and
    // in fact only the one "yes or no?" about the real token, plus at most
    // one refusal a day per sender for the mails to the bare address.
    let mut to_attackers = 0;
    for s in &senders {
        let got = sent_to(&home, s);
        assert!(got.len() <= 3, "{s} got {} answers", got.len());
        assert!(
            got.iter()
                .filter(|m| subject(m).contains("yes or no"))
                .count()
                <= 1,
            "{s}"
        );
        to_attackers += got.len();
    }
    assert!(
        to_attackers <= 1 + senders.len(),
        "{to_attackers} answers to the flood"
    );
    quarantine_is_empty(&home);
}

// 10. A From spoofing an authorised sender without authentication.

#[test]
fn a_spoofed_authorised_sender_imports_and_changes_nothing_and_is_refused_once() {
    let home = Home::with_config(&authentication_required(CONFIG));
    let mut d = home.daemon();
    let pass = "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=example.test; \
                dkim=pass header.d=example.test; dmarc=pass header.from=example.test\r\n";
    let mut real = list_mail(
        "real",
        GC,
        &[("subs.csv", csv_list(3, "spoof.test").as_bytes())],
    );
    real.splice(0..0, pass.bytes());
    deliver(&home, "0.m", &real);
    handled(&home, 1);
    let invited = wait_for(60, "three invites", || {
        let v = invites(&home);
        (v.len() == 3).then_some(v)
    });
    let victim = header(&invited[0], "To").unwrap();
    let victim = victim
        .rsplit('<')
        .next()
        .unwrap()
        .trim_end_matches('>')
        .to_owned();
    let spoofs = [
        String::new(),
        "Authentication-Results: evil.test; dmarc=pass header.from=example.test\r\n".to_owned(),
        "Authentication-Results: mx.example.test; dmarc=fail header.from=example.test\r\n"
            .to_owned(),
        "Authentication-Results: mx.example.test; dkim=pass header.d=evil.test; dmarc=none\r\n"
            .to_owned(),
        "X-Authentication-Results: mx.example.test; dmarc=pass header.from=example.test\r\n"
            .to_owned(),
    ];
    let mut n = 1;
    for (i, auth) in spoofs.iter().enumerate() {
        for round in 0..4 {
            let mut list = list_mail(
                &format!("spoof{i}-{round}"),
                GC,
                &[("x.csv", csv_list(2, &format!("evil{i}.test")).as_bytes())],
            );
            list.splice(0..0, auth.bytes());
            deliver(&home, &format!("s{i}{round}.m"), &list);
            let cmd = format!(
                "{auth}{}",
                eml(
                    &format!("cmd{i}-{round}"),
                    Some(GC),
                    "invites@example.test",
                    "commands",
                    "",
                    &format!("DELETE {victim}\r\nINACTIVE {victim}")
                )
            );
            deliver(&home, &format!("c{i}{round}.m"), cmd.as_bytes());
            n += 2;
        }
    }
    handled(&home, n);
    wait_for(60, "the refusal", || {
        sent_to(&home, GC)
            .into_iter()
            .find(|m| subject(m).contains("not processed"))
    });
    still_up(&home, "ok");
    d.stop();
    let statuses = home.statuses("demo");
    assert_eq!(statuses.len(), 5, "{statuses:?}");
    assert!(statuses.values().all(|s| s == "pending"), "{statuses:?}");
    let refusals = sent_to(&home, GC)
        .iter()
        .filter(|m| subject(m).contains("not processed"))
        .count();
    assert_eq!(refusals, 1, "at most one refusal a day");
    assert!(
        sent_to(&home, GC)
            .iter()
            .all(|m| !subject(m).contains("commands")),
        "no command was answered"
    );
    let log = d.log_text();
    assert!(
        log.contains("carries no DMARC or aligned DKIM pass"),
        "{log}"
    );
}

// 11. An autoresponder answering everything, for an hour.

/// The bare address in a header value.
fn bare(v: &str) -> String {
    v.rsplit('<')
        .next()
        .unwrap_or(v)
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// What a naive autoresponder at the recipient of `original` sends back.
fn auto_answer(original: &str, n: usize, well_behaved: bool) -> Vec<u8> {
    let me = bare(&header(original, "To").unwrap());
    let to = bare(
        &header(original, "Reply-To")
            .or_else(|| header(original, "From"))
            .unwrap(),
    );
    let id = header(original, "Message-ID").unwrap_or_default();
    let quoted: String = bodies(original)
        .lines()
        .take(30)
        .map(|l| format!("> {l}\r\n"))
        .collect();
    let marks = if well_behaved {
        "Auto-Submitted: auto-replied\r\nPrecedence: auto_reply\r\nX-Autoreply: yes\r\n"
    } else {
        ""
    };
    format!(
        "Return-Path: <{me}>\r\nFrom: {me}\r\nTo: {to}\r\nSubject: Re: {}\r\nMessage-ID: <auto{n}@responder.test>\r\n\
         In-Reply-To: {id}\r\nReferences: {id}\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{marks}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Thank you for your message. I am out of the office until Monday and will read it when I am back.\r\n\r\n\
         On Thu, 3 Dec 2026, {to} wrote:\r\n{quoted}",
        subject(original)
    )
    .into_bytes()
}

/// Runs the loop for an hour of pinned time in 10-minute steps; returns
/// the number of messages the daemon sent in each step.
fn mail_loop(well_behaved: bool) -> (Home, Vec<usize>) {
    const T0: i64 = 1_796_292_000; // 2026-12-03 10:00 UTC
    let home = Home::new();
    let mut answered = std::collections::BTreeSet::new();
    let mut delivered = 1;
    deliver(
        &home,
        "0.m",
        &list_mail(
            "list",
            GC,
            &[("subs.csv", csv_list(3, "loop.test").as_bytes())],
        ),
    );
    let mut per_step = Vec::new();
    for step in 0..=6 {
        let t = T0 + step * 600;
        let mut d = home.daemon_at(t);
        handled(&home, delivered);
        d.stop();
        home.at(t, &["outbox", "send"]);
        let mut new = 0;
        for p in files(&home.var("sent"), ".eml") {
            if answered.insert(p.clone()) {
                new += 1;
                let original = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
                delivered += 1;
                deliver(
                    &home,
                    &format!("{delivered}.m"),
                    &auto_answer(&original, delivered, well_behaved),
                );
            }
        }
        per_step.push(new);
    }
    (home, per_step)
}

fn assert_loop_is_bounded(well_behaved: bool, most: usize) {
    let (home, per_step) = mail_loop(well_behaved);
    let total: usize = per_step.iter().sum();
    assert!(total <= most, "{total} messages sent: {per_step:?}");
    assert_eq!(
        per_step[0], 4,
        "three invites and the report first: {per_step:?}"
    );
    assert!(
        per_step.iter().skip(4).all(|n| *n == 0),
        "the loop ended within the first half hour: {per_step:?}"
    );
    let statuses = home.statuses("demo");
    assert_eq!(statuses.len(), 3);
    assert!(statuses.values().all(|s| s == "pending"), "{statuses:?}");
    quarantine_is_empty(&home);
}

#[test]
fn a_well_behaved_autoresponder_is_never_answered() {
    assert_loop_is_bounded(true, 4);
}

#[test]
fn a_badly_behaved_autoresponder_is_answered_a_bounded_number_of_times() {
    // Invites and report (4), one "yes or no?" per invite (3), and answers
    // to the contractor's responder within its daily budget (3).
    assert_loop_is_bounded(false, 10);
}
