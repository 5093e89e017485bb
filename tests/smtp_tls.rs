//! Submission over TLS with a login, against the project's own Postfix:
//! STARTTLS on the submission port and implicit TLS on the SMTPS port, both
//! taking mail only from a logged-in client, with a certificate for
//! `localhost` from the stack's own CA (`transport.ca-file`). A certificate
//! nobody vouches for, or a refused login, sends nothing and bounces nothing;
//! once the cause is fixed, everything goes out.

mod common;
use common::mail::{self, fetch, stack, tag};
use common::*;

fn tls_config(port: u16, tls: &str, ca: Option<&str>, tag: &str) -> String {
    let ca = ca.map_or(String::new(), |c| format!("ca-file = {c:?}\n"));
    let transport = format!(
        "host = \"localhost\"\nport = {port}\ntls = \"{tls}\"\nusername = \"gc1@example.test\"\n\
         password-file = \"smtp-password\"\ntimeout-secs = 5\n{ca}"
    );
    mail::smtp_config(&transport, &format!("gc1+{tag}@example.test"))
}

fn set_password(home: &Home, password: &str) {
    let file = home.path().join("smtp-password");
    std::fs::write(&file, format!("{password}\n")).expect("password file");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn set_config(home: &Home, config: &str) {
    std::fs::write(home.path().join("subinvite.toml"), config).expect("config");
}

fn drop_one(home: &Home, user: &str, t: &str) {
    let list = format!(
        "Subcontractor Name,Subcontractor Email Address\nSecure Co,{user}+{t}@example.test\n"
    );
    home.drop_file("demo", "subs.csv", list.as_bytes());
}

/// The invite that reached `user`, received over TLS from a logged-in
/// client (Postfix writes "with ESMTPSA" then).
fn invite_arrives(port: u16, user: &str, t: &str) -> String {
    let mails = wait_for(60, &format!("the invite in {user}'s mailbox"), || {
        let v = fetch(port, user, t);
        (!v.is_empty()).then_some(v)
    });
    assert_eq!(mails.len(), 1, "one invite for {user}");
    let head = mails[0].split("\r\n\r\n").next().unwrap_or_default();
    assert!(head.contains("with ESMTPSA"), "{head}");
    mails[0].clone()
}

fn nothing_bounced(home: &Home, user: &str, t: &str) {
    let statuses = home.statuses("demo");
    assert_eq!(
        statuses
            .get(&format!("{user}+{t}@example.test"))
            .map(String::as_str),
        Some("pending"),
        "{statuses:?}"
    );
}

#[test]
fn starttls_and_implicit_tls_with_a_login_deliver_the_invites() {
    let s = stack();
    for (port, mode, user) in [
        (s.submission_port, "starttls", "sub5"),
        (s.smtps_port, "tls", "sub6"),
    ] {
        let t = tag(mode);
        let home = Home::with_config(&tls_config(port, mode, Some(&s.ca), &t));
        set_password(&home, "secret");
        let mut d = home.daemon();
        drop_one(&home, user, &t);
        let invite = invite_arrives(s.imap_port, user, &t);
        assert!(bodies(&invite).contains("Secure Co"), "{invite}");
        wait_for(60, "the green report", || {
            (!fetch(s.imap_port, "gc1", &t).is_empty()).then_some(())
        });
        d.stop();
        let unsent = home.json(&["outbox", "list", "--unsent", "--format", "json"]);
        assert_eq!(unsent, serde_json::json!([]), "{mode}: nothing left unsent");
        assert!(
            !d.log_text().contains("secret"),
            "the password is never logged"
        );
    }
}

/// A transport that cannot open a session, and what the log says.
struct Case<'a> {
    port: u16,
    mode: &'a str,
    user: &'a str,
    ca: Option<&'a str>,
    password: &'a str,
    log_says: &'a str,
}

#[test]
fn an_unknown_certificate_or_a_refused_login_sends_nothing_until_fixed() {
    let s = stack();
    let cases = [
        // No ca-file: the stack's certificate is vouched for by nobody.
        Case {
            port: s.submission_port,
            mode: "starttls",
            user: "sub7",
            ca: None,
            password: "secret",
            log_says: "STARTTLS with localhost",
        },
        Case {
            port: s.smtps_port,
            mode: "tls",
            user: "sub8",
            ca: Some(&s.ca),
            password: "not-the-password",
            log_says: "refused the login of gc1@example.test",
        },
    ];
    for Case {
        port,
        mode,
        user,
        ca,
        password,
        log_says,
    } in cases
    {
        let t = tag(&format!("{mode}fail"));
        let home = Home::with_config(&tls_config(port, mode, ca, &t));
        set_password(&home, password);
        let mut d = home.daemon();
        drop_one(&home, user, &t);
        wait_for(60, &format!("{mode}: failed attempts logged"), || {
            (d.log_text().matches(log_says).count() >= 2).then_some(())
        });
        d.stop();
        let log = d.log_text();
        assert!(!log.contains(password), "the password is never logged");
        assert!(
            fetch(s.imap_port, user, &t).is_empty(),
            "{mode}: nothing arrived"
        );
        nothing_bounced(&home, user, &t);
        let unsent = home.json(&["outbox", "list", "--unsent", "--format", "json"]);
        assert!(
            unsent.as_array().is_some_and(|v| v.len() == 2),
            "{mode}: the invite and the report wait: {unsent:#}"
        );

        // Fixed: the right CA and password; everything goes out, once.
        set_config(&home, &tls_config(port, mode, Some(&s.ca), &t));
        set_password(&home, "secret");
        let mut d = home.daemon();
        invite_arrives(s.imap_port, user, &t);
        wait_for(60, "the green report", || {
            (!fetch(s.imap_port, "gc1", &t).is_empty()).then_some(())
        });
        d.stop();
        let unsent = home.json(&["outbox", "list", "--unsent", "--format", "json"]);
        assert_eq!(unsent, serde_json::json!([]), "{mode}: nothing left unsent");
    }
}
