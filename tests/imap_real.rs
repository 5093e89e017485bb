//! Email in, end to end on the real Postfix + Dovecot: a contractor emails a
//! list to the intake mailbox, invites arrive in the subcontractors'
//! mailboxes, a subcontractor answers "yes" by email, an undeliverable
//! address bounces for real, a real Sieve vacation autoresponder answers an
//! invite (no consent, no answer, no loop), and an unauthorised sender's list
//! imports nothing. The daemon reads three IMAP mailboxes (intake, replies,
//! bounces), each its own stack user, so this test shares no mailbox.

mod common;
use common::mail::{fetch, list_message, smtp_send, stack, tag};
use common::*;
use mail_parser::MimeHeaders;
use std::process::Command;

fn config(s: &common::mail::Stack, t: &str) -> String {
    let mailbox = |user: &str| {
        format!(
            "[[intake.imap]]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nusername = \"{user}@example.test\"\n\
             password-env = \"MAILSTACK_PASSWORD\"\nidle-secs = 2\n\n",
            s.imap_port
        )
    };
    format!(
        r#"
[paths]
state-dir = "var"

[mail]
domain = "example.test"
invites-local = "sub16"
bounces-local = "sub17"

[transport]
kind = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"

[outbox]
retry-base-secs = 1

[intake]
maildir = false

{a}{b}{c}
[contractors.demo]
name = "Demo Builders"
notify = "gc2+{t}@example.test"
senders = ["gc2@example.test"]
"#,
        smtp = s.smtp_port,
        a = mailbox("sub15"),
        b = mailbox("sub16"),
        c = mailbox("sub17"),
    )
}

fn vacation(user: &str, on: bool) {
    let mut c = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/mailstack"));
    c.arg("vacation").arg(user);
    if !on {
        c.arg("off");
    }
    assert!(c.status().expect("scripts/mailstack vacation").success());
}

fn list_mail(t: &str, from: &str) -> String {
    format!(
        "From: Gina <{from}>\r\nTo: sub15@example.test\r\nSubject: subs {t}\r\nMessage-ID: <list.{t}.{from}@client.test>\r\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nOur list.\r\n--b\r\nContent-Type: text/csv; name=\"subs.csv\"\r\n\
         Content-Disposition: attachment; filename=\"subs.csv\"\r\n\r\n\
         Subcontractor Name,Subcontractor Email Address\r\nYes Co,sub18+{t}@example.test\r\nAway Co,sub19+{t}@example.test\r\n\
         Gone Co,nobox+{t}@example.test\r\n--b--\r\n"
    )
}

#[test]
fn list_by_email_invites_reply_bounce_vacation_and_spoof() {
    let s = stack();
    let t = tag("e2e");
    vacation("sub19", true);
    let home = Home::with_config(&config(&s, &t));
    let mut d = home.daemon();

    smtp_send(
        s.smtp_port,
        "gc2@example.test",
        "sub15@example.test",
        &list_mail(&t, "gc2@example.test"),
    );
    smtp_send(
        s.smtp_port,
        "sub20@example.test",
        "sub15@example.test",
        &list_mail(&format!("{t}spoof"), "sub20@example.test"),
    );

    // The invite arrives; its Reply-To is the replies mailbox plus the token.
    let invite = wait_for(90, "invite to sub18", || {
        fetch(s.imap_port, "sub18", &t).into_iter().next()
    });
    let reply_to = header(&invite, "Reply-To").unwrap();
    let token = reply_token(&invite, "sub16");
    assert_eq!(token.len(), 26, "{reply_to}");
    // sub18 answers yes, as a mail client would.
    let answer = format!(
        "From: sub18@example.test\r\nTo: {reply_to}\r\nSubject: Re: invite\r\nMessage-ID: <ans.{t}@client.test>\r\n\
         In-Reply-To: <invite.{token}@example.test>\r\nDate: Thu, 03 Dec 2026 11:00:00 +0000\r\n\r\nYes, we accept.\r\n\r\n> Demo Builders would like to connect\r\n"
    );
    smtp_send(
        s.smtp_port,
        "sub18@example.test",
        &format!("sub16+{token}@example.test"),
        &answer,
    );

    // The contractor is told of the acceptance and of the bounce.
    wait_for(90, "acceptance notice", || {
        fetch(s.imap_port, "gc2", &t).into_iter().find(|m| {
            header(m, "Subject").is_some_and(|s| s.contains("active") || s.contains("accepted"))
        })
    });
    wait_for(90, "bounce notice", || {
        fetch(s.imap_port, "gc2", &t)
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("bounced")))
    });
    // A real Sieve vacation responder stays silent for our invites (they
    // carry Auto-Submitted, RFC 3834). Make it answer: a copy of the invite
    // without that header, from the invite's VERP envelope sender, so the
    // vacation reply comes back to our bounce mailbox as it would from a
    // less careful autoresponder.
    let away = wait_for(90, "invite to sub19", || {
        fetch(s.imap_port, "sub19", &t).into_iter().next()
    });
    let away_token = reply_token(&away, "sub16");
    let copy = format!(
        "From: Demo Builders <sub16@example.test>\r\nTo: sub19+{t}@example.test\r\nSubject: Demo Builders invites Away Co\r\n\
         Message-ID: <copy.{t}@client.test>\r\nDate: Thu, 03 Dec 2026 11:00:00 +0000\r\n\r\nPlease confirm.\r\n"
    );
    smtp_send(
        s.smtp_port,
        &format!("sub17+{away_token}@example.test"),
        &format!("sub19+{t}@example.test"),
        &copy,
    );
    wait_for(90, "vacation reply handled", || {
        d.log_text().contains("automatic reply").then_some(())
    });
    // The refusal reached the unauthorised sender.
    wait_for(90, "refusal", || {
        fetch(s.imap_port, "sub20", &format!("{t}spoof"))
            .into_iter()
            .next()
            .or_else(|| {
                fetch(s.imap_port, "sub20", "not processed")
                    .into_iter()
                    .next()
            })
    });
    d.stop();
    vacation("sub19", false);

    let statuses = home.statuses("demo");
    let status = |e: String| statuses.get(&e).cloned();
    let list = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    assert_eq!(
        status(format!("sub18+{t}@example.test")).as_deref(),
        Some("active")
    );
    assert_eq!(
        status(format!("sub19+{t}@example.test")).as_deref(),
        Some("pending"),
        "a vacation reply is not consent"
    );
    assert_eq!(
        status(format!("nobox+{t}@example.test")).as_deref(),
        Some("bounced")
    );
    assert_eq!(
        list.as_array().unwrap().len(),
        3,
        "the spoofed list imported nothing"
    );
    // Nothing was sent to the autoresponder beyond its invite (and the copy
    // this test sent): subinvite never answers an automatic message.
    let to_sub19 = fetch(s.imap_port, "sub19", &t);
    assert_eq!(
        to_sub19.len(),
        2,
        "sub19 got only its invite and the test's copy"
    );
    // The handled messages left the intake INBOX.
    assert!(fetch(s.imap_port, "sub15", &t).is_empty());
}

#[test]
fn a_restart_in_the_middle_of_an_imap_backlog_handles_every_message_once() {
    let s = stack();
    let t = tag("backlog");
    let cfg = format!(
        r#"
[paths]
state-dir = "var"
[mail]
domain = "example.test"
invites-local = "sub12"
bounces-local = "sub13"
[intake]
maildir = false
[[intake.imap]]
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "sub11@example.test"
password-env = "MAILSTACK_PASSWORD"
idle-secs = 2
[contractors.demo]
name = "Demo Builders"
notify = "gc3+{t}@example.test"
senders = ["gc3@example.test"]
"#,
        imap = s.imap_port
    );
    let home = Home::with_config(&cfg);
    let n = 80;
    for i in 0..n {
        let raw = list_message("gc3@example.test", "sub11@example.test", &t, i);
        smtp_send(s.smtp_port, "gc3@example.test", "sub11@example.test", &raw);
    }
    wait_for(60, "the backlog in the mailbox", || {
        (fetch(s.imap_port, "sub11", &t).len() == n).then_some(())
    });
    let mut d = home.daemon();
    wait_for(60, "a few handled", || {
        (d.log_text().matches("imported as batch").count() >= 5).then_some(())
    });
    assert_eq!(d.stop(), Some(0), "clean exit on SIGTERM mid-backlog");
    let first = d.log_text().matches("imported as batch").count();
    assert!(first < n, "the stop came mid-backlog ({first} of {n})");
    let mut d = home.daemon();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !fetch(s.imap_port, "sub11", &t).is_empty() {
        let log = d.log_text();
        assert!(
            std::time::Instant::now() < deadline,
            "the rest was not handled; log:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    d.stop();
    let list = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), n, "every list imported");
    let out = home.json(&["outbox", "list", "--format", "json"]);
    let invites = out
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "invite_new")
        .count();
    assert_eq!(invites, n, "each imported once: one invite each");
}

#[test]
fn contractor_commands_by_email_status_inactive_delete_and_a_stranger() {
    let s = stack();
    let t = tag("cmd");
    let gc = format!("gc1+{t}@example.test");
    let cfg = format!(
        r#"
[paths]
state-dir = "var"
[mail]
domain = "example.test"
invites-local = "sub14"
bounces-local = "sub14"
[transport]
kind = "smtp"
host = "127.0.0.1"
port = {smtp}
tls = "none"
[outbox]
retry-base-secs = 1
[intake]
maildir = false
[[intake.imap]]
host = "127.0.0.1"
port = {imap}
tls = "none"
username = "sub14@example.test"
password-env = "MAILSTACK_PASSWORD"
idle-secs = 2
[contractors.demo]
name = "Demo Builders"
notify = "{gc}"
senders = ["{gc}"]
"#,
        smtp = s.smtp_port,
        imap = s.imap_port
    );
    let home = Home::with_config(&cfg);
    let subs: Vec<String> = (8..11)
        .map(|i| format!("sub{i}+{t}@example.test"))
        .collect();
    let mut list = String::from("Subcontractor Name,Subcontractor Email Address\n");
    for (i, e) in subs.iter().enumerate() {
        list.push_str(&format!("=Co{i}(),{e}\n"));
    }
    std::fs::write(home.path().join("l.csv"), &list).unwrap();
    home.ok(&["import", "l.csv", "--contractor", "demo"]);
    let mut d = home.daemon();
    let mail = |from: &str, id: &str, body: &str| {
        format!(
            "From: {from}\r\nTo: sub14@example.test\r\nSubject: commands\r\nMessage-ID: <{id}.{t}@client.test>\r\n\
             Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n\r\n{body}\r\n"
        )
    };
    smtp_send(
        s.smtp_port,
        &gc,
        "sub14@example.test",
        &mail(
            &gc,
            "c1",
            &format!("STATUS\r\nINACTIVE {}\r\n\r\nThanks,\r\nGina", subs[0]),
        ),
    );
    let answer = wait_for(90, "the answer to STATUS", || {
        fetch(s.imap_port, "gc1", &t)
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("commands")))
    });
    let msg = mail_parser::MessageParser::default()
        .parse(answer.as_bytes())
        .unwrap();
    let csv = msg
        .attachments()
        .find(|a| a.attachment_name() == Some("status.csv"))
        .map(|a| String::from_utf8_lossy(a.contents()).into_owned())
        .expect("status.csv attached");
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("'=Co0()"), "cells are spreadsheet-safe: {csv}");
    assert!(
        bodies(&answer).to_lowercase().contains("inactive"),
        "{}",
        bodies(&answer)
    );
    // A stranger's commands do nothing.
    smtp_send(
        s.smtp_port,
        "gc2@example.test",
        "sub14@example.test",
        &mail("gc2@example.test", "c2", &format!("DELETE {}", subs[2])),
    );
    // DELETE, then a list by email restores the connection as pending.
    smtp_send(
        s.smtp_port,
        &gc,
        "sub14@example.test",
        &mail(&gc, "c3", &format!("DELETE {}", subs[1])),
    );
    wait_for(90, "the DELETE confirmed", || {
        fetch(s.imap_port, "gc1", &t)
            .into_iter()
            .find(|m| bodies(m).contains(subs[1].as_str()) && bodies(m).contains("deleted"))
    });
    let relist = format!(
        "From: {gc}\r\nTo: sub14@example.test\r\nSubject: again\r\nMessage-ID: <c4.{t}@client.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nagain\r\n--b\r\n\
         Content-Type: text/csv; name=\"again.csv\"\r\nContent-Disposition: attachment; filename=\"again.csv\"\r\n\r\n\
         Company,Email\r\nCo1,{}\r\n--b--\r\n",
        subs[1]
    );
    smtp_send(s.smtp_port, &gc, "sub14@example.test", &relist);
    wait_for(90, "the list imported", || {
        d.log_text().contains("again.csv imported").then_some(())
    });
    wait_for(90, "the stranger refused", || {
        d.log_text()
            .contains("gc2@example.test is not an authorised sender")
            .then_some(())
    });
    d.stop();
    let statuses = home.statuses("demo");
    let status = |e: &str| statuses.get(e).cloned();
    assert_eq!(status(&subs[0]).as_deref(), Some("inactive"));
    assert_eq!(
        status(&subs[1]).as_deref(),
        Some("pending"),
        "restored by the new list"
    );
    assert_eq!(
        status(&subs[2]).as_deref(),
        Some("pending"),
        "the stranger's DELETE did nothing"
    );
    // INACTIVE stops reminders: three days on, only the two pending ones are
    // reminded (the restored one's new cadence has come round too).
    let when = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3 * 86_400
        + 60) as i64;
    let r: serde_json::Value = serde_json::from_str(&home.at(when, &["remind", "--json"])).unwrap();
    let reminded: Vec<&str> = r["reminded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert_eq!(reminded.len(), 2, "{reminded:?}");
    assert!(
        !reminded.iter().any(|r| r.ends_with(subs[0].as_str())),
        "{reminded:?}"
    );
}
