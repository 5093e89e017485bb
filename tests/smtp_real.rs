//! Real email out, against the project's own Postfix + Dovecot on loopback
//! (scripts/mailstack; `scripts/test` starts it). Every test uses its own
//! plus-address tag, so tests can share mailboxes and run in parallel.

mod common;
use common::mail::{self, fetch, stack, tag};
use common::*;
use mail_parser::MimeHeaders;
use std::process::Command;

fn smtp_config(smtp_port: u16, tag: &str) -> String {
    mail::smtp_config(
        &format!("host = \"127.0.0.1\"\nport = {smtp_port}\ntls = \"none\"\ntimeout-secs = 5"),
        &format!("gc1+{tag}@example.test"),
    )
}

/// Messages are CRLF on the wire; Dovecot stores them as they came.
fn unfold(mail: &str) -> String {
    mail.replace("\r\n", "\n")
}

#[test]
fn invites_arrive_in_the_subcontractors_mailboxes() {
    let s = stack();
    let t = tag("inv");
    let home = Home::with_config(&smtp_config(s.smtp_port, &t));
    let mut d = home.daemon();
    let list = format!(
        "Subcontractor Name,Contact Name,Subcontractor Email Address\n\
         Sparky Electric,Dana Sparks,sub1+{t}@example.test\n\
         Pipe Bros,,sub2+{t}@example.test\n\
         Roof Co,Rita Roof,sub3+{t}@example.test\n"
    );
    home.drop_file("demo", "subs.csv", list.as_bytes());
    let mut tokens = Vec::new();
    for user in ["sub1", "sub2", "sub3"] {
        let mails = wait_for(60, &format!("invite in {user}'s mailbox"), || {
            let v = fetch(s.imap_port, user, &t);
            (!v.is_empty()).then_some(v)
        });
        assert_eq!(mails.len(), 1, "exactly one invite for {user}");
        let m = unfold(&mails[0]).replace('\n', "\r\n");
        let token = reply_token(&m, "invites");
        assert_eq!(
            header(&m, "Message-ID").unwrap(),
            format!("<invite.{token}@example.test>")
        );
        assert_eq!(
            header(&m, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        assert_eq!(
            header(&m, "X-Auto-Response-Suppress").as_deref(),
            Some("All")
        );
        // The envelope sender is the VERP bounce address naming the invite.
        assert_eq!(
            header(&m, "Return-Path").unwrap(),
            format!("<bounces+{token}@example.test>")
        );
        assert!(header(&m, "Subject")
            .unwrap()
            .contains(&format!("[ref {}]", token[..8].to_ascii_uppercase())));
        assert!(bodies(&m).contains(&format!("invites+{token}-yes@example.test")));
        assert!(bodies(&m).contains(&format!("signup?token={token}")));
        tokens.push(token);
    }
    // The contractor's green report arrives too.
    let report = wait_for(60, "green report to gc1", || {
        let v = fetch(s.imap_port, "gc1", &t);
        (!v.is_empty()).then_some(v)
    });
    assert!(header(&report[0], "Subject")
        .unwrap()
        .starts_with("List imported: 3 rows"));
    d.stop();
    // Every token the mailboxes got is one the store knows.
    let refs = home.references("demo");
    for token in &tokens {
        assert!(
            refs.contains(&token[..8].to_ascii_uppercase()),
            "token {token} unknown to the store"
        );
    }
}

#[test]
fn an_unknown_recipient_rejected_with_5xx_marks_the_connection_bounced() {
    let s = stack();
    let t = tag("bnc");
    let home = Home::with_config(&smtp_config(s.smtp_port, &t));
    let mut d = home.daemon();
    let list = format!(
        "Subcontractor Name,Subcontractor Email Address\n\
         Ghost Co,nosuch+{t}@example.test\n\
         Real Co,sub4+{t}@example.test\n"
    );
    home.drop_file("demo", "subs.csv", list.as_bytes());
    wait_for(60, "invite to sub4", || {
        (!fetch(s.imap_port, "sub4", &t).is_empty()).then_some(())
    });
    let notice = wait_for(60, "bounce notice to gc1", || {
        fetch(s.imap_port, "gc1", &t)
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("bounced")))
    });
    assert!(
        bodies(&notice).contains(&format!("nosuch+{t}@example.test")),
        "{notice}"
    );
    d.stop();
    let statuses = home.statuses("demo");
    let status = |email: String| statuses.get(&email).cloned();
    assert_eq!(
        status(format!("nosuch+{t}@example.test")).as_deref(),
        Some("bounced")
    );
    assert_eq!(
        status(format!("sub4+{t}@example.test")).as_deref(),
        Some("pending")
    );
    let out = home.json(&["outbox", "list", "--format", "json"]);
    let failed: Vec<_> = out
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["state"].as_str().unwrap().starts_with("failed"))
        .collect();
    assert_eq!(failed.len(), 1, "{out}");
    assert!(
        failed[0]["last_error"].as_str().unwrap().contains("550"),
        "{out}"
    );
}

#[test]
fn a_header_injection_through_a_name_sends_nothing_extra() {
    let s = stack();
    let t = tag("inj");
    let home = Home::with_config(&smtp_config(s.smtp_port, &t));
    let mut d = home.daemon();
    let list = format!(
        "Subcontractor Name,Contact Name,Subcontractor Email Address\n\
         \"Evil\r\nBcc: sub5+{t}@example.test\",\"Eve\nTo: sub7+{t}@example.test\",sub6+{t}@example.test\n"
    );
    home.drop_file("demo", "subs.csv", list.as_bytes());
    let mails = wait_for(60, "invite to sub6", || {
        let v = fetch(s.imap_port, "sub6", &t);
        (!v.is_empty()).then_some(v)
    });
    // The report to gc1 arrives after the invite; once it has, nothing else is in flight.
    wait_for(60, "report to gc1", || {
        (!fetch(s.imap_port, "gc1", &t).is_empty()).then_some(())
    });
    d.stop();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(
        !m.lines()
            .any(|l| l.to_ascii_lowercase().starts_with("bcc:")),
        "{m}"
    );
    let to = header(m, "To").unwrap();
    assert_eq!(to.matches('@').count(), 1, "one recipient only: {to}");
    assert!(
        fetch(s.imap_port, "sub5", &t).is_empty(),
        "the Bcc victim got nothing"
    );
    assert!(
        fetch(s.imap_port, "sub7", &t).is_empty(),
        "the injected To got nothing"
    );
}

/// A private mail stack on its own ports, so stopping it affects no other test.
struct PrivateStack {
    env: Vec<(String, String)>,
    smtp_port: u16,
    imap_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateStack {
    fn new(t: &str) -> PrivateStack {
        let (smtp_port, imap_port) = (free_port(), free_port());
        let env = vec![
            (
                "MAILSTACK_ROOT".to_owned(),
                format!("/tmp/subinvite-ms-{t}"),
            ),
            ("MAILSTACK_SMTP_PORT".to_owned(), smtp_port.to_string()),
            ("MAILSTACK_IMAP_PORT".to_owned(), imap_port.to_string()),
            (
                "MAILSTACK_SUBMISSION_PORT".to_owned(),
                free_port().to_string(),
            ),
            ("MAILSTACK_SMTPS_PORT".to_owned(), free_port().to_string()),
        ];
        PrivateStack {
            env,
            smtp_port,
            imap_port,
        }
    }

    fn run(&self, what: &str) {
        let st = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mailstack"))
            .arg(what)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run scripts/mailstack");
        assert!(st.success(), "scripts/mailstack {what} failed");
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mailstack"))
            .arg("stop")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .status();
        if let Some((_, root)) = self.env.first() {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

#[test]
fn with_postfix_stopped_the_outbox_holds_then_delivers_everything_once() {
    stack();
    let t = tag("out");
    let ms = PrivateStack::new(&t);
    ms.run("start");
    let home = Home::with_config(&smtp_config(ms.smtp_port, &t));
    let mut d = home.daemon();
    let list = |range: std::ops::Range<u32>| {
        let mut s = String::from("Subcontractor Name,Subcontractor Email Address\n");
        for i in range {
            s.push_str(&format!("Co {i},sub{i}+{t}@example.test\n"));
        }
        s
    };
    home.drop_file("demo", "a.csv", list(1..4).as_bytes());
    for i in 1..4 {
        wait_for(60, "first invites", || {
            (!fetch(ms.imap_port, &format!("sub{i}"), &t).is_empty()).then_some(())
        });
    }
    ms.run("stop");
    home.drop_file("demo", "b.csv", list(4..8).as_bytes());
    wait_for(60, "a failed attempt while Postfix is down", || {
        d.log_text().contains("temporary failure").then_some(())
    });
    ms.run("start");
    for i in 4..8 {
        wait_for(90, "invites after Postfix is back", || {
            (!fetch(ms.imap_port, &format!("sub{i}"), &t).is_empty()).then_some(())
        });
    }
    wait_for(60, "both reports", || {
        (fetch(ms.imap_port, "gc1", &t).len() >= 2).then_some(())
    });
    d.stop();
    for i in 1..8 {
        let got = fetch(ms.imap_port, &format!("sub{i}"), &t);
        assert_eq!(got.len(), 1, "sub{i} got {} copies", got.len());
    }
}

#[test]
fn a_bad_list_gets_the_red_email_with_the_rows_to_fix_made_safe() {
    let s = stack();
    let t = tag("red");
    let home = Home::with_config(&smtp_config(s.smtp_port, &t));
    let mut d = home.daemon();
    let list = format!(
        "Subcontractor Name,Subcontractor Email Address\n\
         Good Co,sub8+{t}@example.test\n\
         \"=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\",sub9+{t}@@example.test\n\
         ,sub10+{t}@example.test\n"
    );
    home.drop_file("demo", "bad.csv", list.as_bytes());
    let red = wait_for(60, "red email to gc1", || {
        fetch(s.imap_port, "gc1", &t).into_iter().next()
    });
    d.stop();
    let subject = header(&red, "Subject").unwrap();
    assert!(subject.contains("not imported"), "{subject}");
    let text = bodies(&red);
    assert!(
        text.contains("two @ signs") && text.contains("row 3"),
        "{text}"
    );
    assert!(text.contains("row 4"), "{text}");
    let msg = mail_parser::MessageParser::default()
        .parse(red.as_bytes())
        .unwrap();
    let att = msg
        .attachments()
        .find(|a| a.attachment_name() == Some("rows-to-fix.csv"))
        .expect("rows-to-fix.csv attached");
    let csv = String::from_utf8_lossy(att.contents()).into_owned();
    assert!(csv.starts_with("Row,"), "{csv}");
    assert!(
        csv.contains("'=HYPERLINK"),
        "the formula is neutralised: {csv}"
    );
    assert!(
        !csv.lines()
            .any(|l| l.split(',').nth(1) == Some("=HYPERLINK(")),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 3, "header and the two bad rows: {csv}");
    // Nothing was imported and no invite went out.
    assert!(fetch(s.imap_port, "sub8", &t).is_empty());
    assert!(home
        .json(&["list", "--contractor", "demo", "--format", "json"])
        .as_array()
        .unwrap()
        .is_empty());
}
