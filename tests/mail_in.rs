//! Email in, on the embedded Maildir (`var/inbox`): lists by email from
//! authorised senders only, replies that accept or decline, unclear replies
//! asked about once, bounces, automatic replies never answered, and every
//! message handled exactly once.

mod common;
use common::*;

/// A raw email. `extra` are more header lines (CRLF-terminated).
fn eml(id: &str, from: &str, to: &str, subject: &str, extra: &str, body: &str) -> String {
    format!(
        "Return-Path: <{from}>\r\nMessage-ID: <{id}@client.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
         From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

fn list_mail(id: &str, from: &str, csv: &str) -> String {
    format!(
        "Return-Path: <{from}>\r\nMessage-ID: <{id}@client.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n\
         From: Gina Contractor <{from}>\r\nTo: invites@example.test\r\nSubject: our subs\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nHere is the list.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"subs.csv\"\r\nContent-Disposition: attachment; filename=\"subs.csv\"\r\n\r\n\
         {csv}\r\n--b1--\r\n"
    )
}

/// Delivers `raw` into the Maildir as a mail server would (tmp/, then new/).
fn deliver(home: &Home, name: &str, raw: &str) {
    let inbox = home.var("inbox");
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(inbox.join(d)).unwrap();
    }
    let tmp = inbox.join("tmp").join(name);
    std::fs::write(&tmp, raw).unwrap();
    std::fs::rename(&tmp, inbox.join("new").join(name)).unwrap();
}

fn handled(home: &Home, n: usize) {
    wait_for(20, &format!("{n} message(s) moved to cur/"), || {
        let new_empty = files(&home.var("inbox").join("new"), "").is_empty();
        (new_empty && files(&home.var("inbox").join("cur"), ":2,S").len() == n).then_some(())
    });
}

fn sent(home: &Home) -> Vec<String> {
    files(&home.var("sent"), ".eml")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn sent_to(home: &Home, who: &str) -> Vec<String> {
    sent(home)
        .into_iter()
        .filter(|m| header(m, "To").is_some_and(|t| t.contains(who)))
        .collect()
}

fn token_for(home: &Home, who: &str) -> String {
    let invite = wait_for(20, &format!("invite to {who}"), || {
        sent_to(home, who)
            .into_iter()
            .find(|m| header(m, "Message-ID").is_some_and(|i| i.starts_with("<invite.")))
    });
    let id = header(&invite, "Message-ID").unwrap();
    id.trim_start_matches("<invite.")
        .split('@')
        .next()
        .unwrap()
        .to_owned()
}

fn status(home: &Home, email: &str) -> String {
    let v = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    v.as_array()
        .unwrap()
        .iter()
        .find(|c| c["email"] == email)
        .map(|c| c["status"].as_str().unwrap().to_owned())
        .unwrap_or_default()
}

const CSV: &str = "Subcontractor Name,Contact Name,Subcontractor Email Address\r\nSparky Electric,Dana,dana@subs.test\r\nPipe Bros,Pat,pat@subs.test\r\nRoof Co,Rita,rita@subs.test";

#[test]
fn a_list_by_email_then_replies_accept_decline_and_unclear() {
    let home = Home::new();
    let mut d = home.daemon();
    deliver(&home, "1.m", &list_mail("list1", "gc1@example.test", CSV));
    handled(&home, 1);
    let dana = token_for(&home, "dana@subs.test");
    let pat = token_for(&home, "pat@subs.test");
    let rita = token_for(&home, "rita@subs.test");
    // The green report went to the sender (also the notify address here).
    wait_for(20, "report to gc1", || {
        sent_to(&home, "gc1@example.test")
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.starts_with("List imported")))
    });

    // Dana clicks the mailto "yes" link: an empty body to invites+<token>-yes@.
    deliver(
        &home,
        "2.m",
        &eml(
            "r1",
            "dana@subs.test",
            &format!("invites+{dana}-yes@example.test"),
            "yes",
            "",
            "",
        ),
    );
    // Pat answers "no thanks" in words, with In-Reply-To only.
    deliver(&home, "3.m", &eml("r2", "pat@subs.test", "invites@example.test", "Re: invite", &format!("In-Reply-To: <invite.{pat}@example.test>\r\n"), "No thanks, we are not interested.\r\n\r\nOn Thu, Dec 3, 2026 at 10:00 AM Demo Builders wrote:\r\n> Please confirm"));
    // Rita writes something unclear, twice.
    deliver(
        &home,
        "4.m",
        &eml(
            "r3",
            "rita@subs.test",
            &format!("invites+{rita}@example.test"),
            "Re: invite",
            "",
            "Who are you?",
        ),
    );
    handled(&home, 4);
    deliver(
        &home,
        "5.m",
        &eml(
            "r4",
            "rita@subs.test",
            &format!("invites+{rita}@example.test"),
            "Re: invite",
            "",
            "Call me maybe",
        ),
    );
    handled(&home, 5);
    // Notices and acknowledgements are sent.
    wait_for(20, "ack to dana", || {
        sent_to(&home, "dana@subs.test")
            .into_iter()
            .find(|m| header(m, "Auto-Submitted").is_some_and(|a| a.starts_with("auto-replied")))
    });
    wait_for(20, "ask rita once", || {
        (sent_to(&home, "rita@subs.test")
            .iter()
            .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("yes or no")))
            .count()
            == 1)
            .then_some(())
    });
    d.stop();
    assert_eq!(status(&home, "dana@subs.test"), "active");
    assert_eq!(status(&home, "pat@subs.test"), "declined");
    assert_eq!(status(&home, "rita@subs.test"), "pending");
    let asks = sent_to(&home, "rita@subs.test")
        .iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("yes or no")))
        .count();
    assert_eq!(asks, 1, "an unclear reply is asked about at most once");
    let notices: Vec<String> = sent_to(&home, "gc1@example.test")
        .iter()
        .filter_map(|m| header(m, "Subject"))
        .collect();
    assert!(
        notices
            .iter()
            .any(|s| s.contains("active") || s.contains("accepted")),
        "{notices:?}"
    );
    assert!(
        notices.iter().any(|s| s.contains("declined")),
        "{notices:?}"
    );
}

#[test]
fn an_unauthorised_sender_imports_nothing_and_is_refused_once_a_day() {
    let home = Home::new();
    let mut d = home.daemon();
    deliver(&home, "1.m", &list_mail("l1", "mallory@evil.test", CSV));
    deliver(&home, "2.m", &list_mail("l2", "mallory@evil.test", CSV));
    // Spoofing an authorised address's name does not help; only the address counts.
    deliver(
        &home,
        "3.m",
        &list_mail("l3", "gc1@example.test.evil.test", CSV),
    );
    handled(&home, 3);
    wait_for(20, "a refusal", || {
        (!sent_to(&home, "mallory@evil.test").is_empty()).then_some(())
    });
    d.stop();
    assert!(home
        .json(&["list", "--contractor", "demo", "--format", "json"])
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        sent_to(&home, "mallory@evil.test").len(),
        1,
        "at most one refusal per sender per day"
    );
    assert!(sent(&home)
        .iter()
        .all(|m| !header(m, "Message-ID").unwrap().starts_with("<invite.")));
}

#[test]
fn automatic_replies_bounces_and_duplicates() {
    let home = Home::new();
    let mut d = home.daemon();
    deliver(&home, "1.m", &list_mail("list1", "gc1@example.test", CSV));
    handled(&home, 1);
    let dana = token_for(&home, "dana@subs.test");
    let rita = token_for(&home, "rita@subs.test");
    // An out-of-office reply to Dana's invite: recorded, never consent, never answered.
    deliver(
        &home,
        "2.m",
        &eml(
            "ooo",
            "dana@subs.test",
            &format!("bounces+{dana}@example.test"),
            "Automatic reply: invite",
            "Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n",
            "yes I am out of office until Monday",
        ),
    );
    // A real DSN for Rita's invite, to its VERP address.
    let dsn = format!(
        "Return-Path: <>\r\nMessage-ID: <dsn1@mx.test>\r\nFrom: MAILER-DAEMON@mx.test (Mail Delivery System)\r\nTo: bounces+{rita}@example.test\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n--d\r\nContent-Type: text/plain\r\n\r\n\
         I'm sorry to have to inform you that your message could not be delivered.\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; mx.test\r\n\r\nFinal-Recipient: rfc822; rita@subs.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         Diagnostic-Code: smtp; 550 5.1.1 User unknown\r\n--d--\r\n"
    );
    deliver(&home, "3.m", &dsn);
    // The same DSN delivered twice (a second copy): handled once.
    deliver(&home, "4.m", &dsn);
    handled(&home, 4);
    wait_for(20, "bounce notice", || {
        sent_to(&home, "gc1@example.test")
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("bounced")))
    });
    d.stop();
    assert_eq!(
        status(&home, "dana@subs.test"),
        "pending",
        "an auto-reply is never consent"
    );
    assert_eq!(status(&home, "rita@subs.test"), "bounced");
    // Dana got only her invite: nothing answered the auto-reply.
    assert_eq!(sent_to(&home, "dana@subs.test").len(), 1);
    let notices = sent_to(&home, "gc1@example.test")
        .iter()
        .filter(|m| header(m, "Subject").is_some_and(|s| s.contains("bounced")))
        .count();
    assert_eq!(notices, 1, "the duplicate DSN changed nothing more");
}

#[test]
fn inspect_prints_the_classification() {
    let home = Home::new();
    let p = home.path().join("m.eml");
    std::fs::write(
        &p,
        eml(
            "x",
            "dana@subs.test",
            "invites+abcdefghijklmnopqrstuvwxyz-no@example.test",
            "Re",
            "",
            "",
        ),
    )
    .unwrap();
    let v = home.json(&["inspect", p.to_str().unwrap(), "--json"]);
    assert_eq!(v["kind"], "invite_reply");
    assert_eq!(v["intent"], "decline");
    assert_eq!(v["token"], "abcdefghijklmnopqrstuvwxyz");
    std::fs::write(&p, list_mail("y", "gc1@example.test", CSV)).unwrap();
    let v = home.json(&["inspect", p.to_str().unwrap(), "--json"]);
    assert_eq!(v["kind"], "list_submission");
    assert_eq!(v["attachments"][0], "subs.csv");
}

#[test]
fn an_unreadable_attachment_gets_the_red_email_not_quarantine() {
    let home = Home::new();
    let mut d = home.daemon();
    // A zip that is not a workbook, named .xlsx.
    let junk = "PK\u{3}\u{4}this is not a workbook";
    let raw = list_mail("bad", "gc1@example.test", junk).replace("subs.csv", "subs.xlsx");
    deliver(&home, "1.m", &raw);
    handled(&home, 1);
    let red = wait_for(20, "red email", || {
        sent_to(&home, "gc1@example.test")
            .into_iter()
            .find(|m| header(m, "Subject").is_some_and(|s| s.contains("not imported")))
    });
    d.stop();
    assert!(
        bodies(&red).contains("cannot be read") || bodies(&red).contains("not a table"),
        "{}",
        bodies(&red)
    );
    let q = home.json(&["quarantine", "list", "--format", "json"]);
    assert!(q.as_array().unwrap().is_empty(), "{q}");
}

#[test]
fn quarantined_messages_are_listed_and_handled_again_on_retry() {
    let home = Home::new();
    home.ok(&["check-config"]);
    // Put a message in quarantine as the daemon does when handling fails.
    {
        let settings =
            subinvite::config::Settings::from_file(&home.path().join("subinvite.toml")).unwrap();
        let store = subinvite::store::Store::open(&settings.paths.store, 8).unwrap();
        let raw = list_mail("q1", "gc1@example.test", CSV);
        store
            .transact(|tx| {
                tx.quarantine(&subinvite::model::Quarantined {
                    id: 7,
                    source: "test".into(),
                    key: subinvite::intake::mail::envelope_key(raw.as_bytes()),
                    error: "disk full".into(),
                    at: 0,
                    raw: raw.into_bytes(),
                })
            })
            .unwrap();
        store.flush().unwrap();
    }
    let q = home.json(&["quarantine", "list", "--format", "json"]);
    assert_eq!(q[0]["id"], 7);
    assert_eq!(q[0]["error"], "disk full");
    home.expect(&["quarantine", "retry", "99"], 1);
    let out = home.ok(&["quarantine", "retry", "7"]);
    assert!(out.contains("imported"), "{out}");
    assert!(home
        .json(&["quarantine", "list", "--format", "json"])
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(home.count("demo"), 3);
}

#[test]
fn with_require_authentication_only_a_trusted_dmarc_pass_imports() {
    let home = Home::with_config(&authentication_required(CONFIG));
    let mut d = home.daemon();
    // Forged: the header names another server.
    let forged = list_mail("f1", "gc1@example.test", CSV).replace(
        "Return-Path:",
        "Authentication-Results: evil.test; dmarc=pass header.from=example.test\r\nReturn-Path:",
    );
    deliver(&home, "1.m", &forged);
    handled(&home, 1);
    let real = list_mail("r1", "gc1@example.test", CSV).replace(
        "Return-Path:",
        "Authentication-Results: mx.example.test; spf=pass smtp.mailfrom=example.test; dkim=pass header.d=example.test; dmarc=pass header.from=example.test\r\nReturn-Path:",
    );
    deliver(&home, "2.m", &real);
    handled(&home, 2);
    wait_for(20, "invites from the authenticated list", || {
        (sent(&home).len() >= 3).then_some(())
    });
    d.stop();
    let list = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    assert_eq!(list.as_array().unwrap().len(), 3);
    let log = std::fs::read_to_string(home.path().join("daemon.log")).unwrap();
    assert!(
        log.contains("carries no DMARC"),
        "the forged one was refused: {log}"
    );
}
