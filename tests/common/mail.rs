//! The real mail stack for tests: where it listens (from the environment
//! `scripts/mailstack env` prints; `scripts/test` exports it) and reading a
//! mailbox over IMAP. A test that needs the stack fails loudly without it.

use std::net::TcpStream;
use std::time::Duration;

pub struct Stack {
    pub smtp_port: u16,
    pub imap_port: u16,
    /// STARTTLS required, then AUTH.
    pub submission_port: u16,
    /// Implicit TLS, then AUTH.
    pub smtps_port: u16,
    /// The stack's own CA, which signed its certificate for localhost.
    pub ca: String,
    pub root: String,
}

/// The running stack, or a panic saying how to start it.
pub fn stack() -> Stack {
    let port = |var: &str| -> u16 {
        let v = std::env::var(var).unwrap_or_else(|_| {
            panic!("{var} is not set: this test needs the real mail stack. Run scripts/test, or `scripts/mailstack start` and export $(scripts/mailstack env)")
        });
        v.parse()
            .unwrap_or_else(|_| panic!("{var}={v} is not a port"))
    };
    let s = Stack {
        smtp_port: port("MAILSTACK_SMTP_PORT"),
        imap_port: port("MAILSTACK_IMAP_PORT"),
        submission_port: port("MAILSTACK_SUBMISSION_PORT"),
        smtps_port: port("MAILSTACK_SMTPS_PORT"),
        ca: std::env::var("MAILSTACK_CA").unwrap_or_default(),
        root: std::env::var("MAILSTACK_ROOT").unwrap_or_default(),
    };
    for p in [s.smtp_port, s.imap_port, s.submission_port, s.smtps_port] {
        TcpStream::connect_timeout(&([127, 0, 0, 1], p).into(), Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("the mail stack does not answer on 127.0.0.1:{p} ({e}); run scripts/mailstack start"));
    }
    s
}

/// A tag unique to this test run, for plus-addressing (`sub1+<tag>@`).
pub fn tag(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{name}{}x{}", std::process::id(), nanos % 1_000_000_000)
}

/// Raw messages in `user`'s INBOX whose headers contain `needle`.
pub fn fetch(imap_port: u16, user: &str, needle: &str) -> Vec<String> {
    let client = imap::ClientBuilder::new("127.0.0.1", imap_port)
        .mode(imap::ConnectionMode::Plaintext)
        .connect()
        .expect("IMAP connect");
    let mut session = client
        .login(format!("{user}@example.test"), "secret")
        .map_err(|(e, _)| e)
        .expect("IMAP login");
    session.select("INBOX").expect("SELECT INBOX");
    let uids = session
        .uid_search(format!("HEADER Received \"\" TEXT \"{needle}\""))
        .or_else(|_| session.uid_search(format!("TEXT \"{needle}\"")))
        .expect("SEARCH");
    let mut out = Vec::new();
    if !uids.is_empty() {
        let set: Vec<String> = uids.iter().map(|u| u.to_string()).collect();
        let fetches = session
            .uid_fetch(set.join(","), "BODY.PEEK[]")
            .expect("FETCH");
        for f in fetches.iter() {
            if let Some(body) = f.body() {
                out.push(String::from_utf8_lossy(body).into_owned());
            }
        }
    }
    let _ = session.logout();
    out
}

/// A config that sends through SMTP, retrying every second, for contractor
/// `demo` (lists from gc1@example.test, reports to `notify`). `transport` is
/// the `[transport]` section's lines after `kind = "smtp"`.
pub fn smtp_config(transport: &str, notify: &str) -> String {
    format!(
        r#"
[paths]
state-dir = "var"
[mail]
domain = "example.test"
[transport]
kind = "smtp"
{transport}
[drop-folder]
settle-ms = 100
[outbox]
retry-base-secs = 1
max-attempts = 100
[contractors.demo]
name = "Demo Builders"
notify = "{notify}"
senders = ["gc1@example.test"]
"#
    )
}

/// The `i`th list a contractor (`from`) emails to `to`: one CSV attachment
/// naming one subcontractor, `s<i>.<t>@subs.test`; the Message-ID and the
/// subject carry the tag `t`.
pub fn list_message(from: &str, to: &str, t: &str, i: usize) -> String {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: list {t} {i}\r\nMessage-ID: <l.{t}.{i}@client.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nlist\r\n\
         --b\r\nContent-Type: text/csv; name=\"l{i}.csv\"\r\nContent-Disposition: attachment; filename=\"l{i}.csv\"\r\n\r\n\
         Company,Email\r\nCo {i},s{i}.{t}@subs.test\r\n--b--\r\n"
    )
}

/// Sends `raw` over plain SMTP to 127.0.0.1:`port` (as a mail client would).
pub fn smtp_send(port: u16, from: &str, to: &str, raw: &str) {
    use std::io::{BufRead, BufReader, Write};
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("SMTP connect");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut w = stream;
    let expect = |code: &str, reader: &mut BufReader<TcpStream>| loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("SMTP read");
        assert!(line.starts_with(code), "expected {code}, got {line}");
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    expect("220", &mut reader);
    for (cmd, code) in [
        ("EHLO client.test".to_owned(), "250"),
        (format!("MAIL FROM:<{from}>"), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_owned(), "354"),
    ] {
        write!(w, "{cmd}\r\n").expect("SMTP write");
        expect(code, &mut reader);
    }
    let body = raw.replace("\r\n.", "\r\n..");
    write!(w, "{body}\r\n.\r\n").expect("SMTP write");
    expect("250", &mut reader);
    write!(w, "QUIT\r\n").expect("SMTP write");
}
