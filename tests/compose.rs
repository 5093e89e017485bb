//! Every kind of email, built from small fixtures, formatted by lettre and
//! parsed back with mail-parser: headers (DESIGN §3), both bodies, the red
//! report's attachment, header injection, HTML escaping and template
//! overrides.

use lettre::Message;
use mail_parser::{MessageParser, MimeHeaders};
use subinvite::config::{Contractor, MailSettings};
use subinvite::core::connection::{Keep, Standing, Status};
use subinvite::core::email::EmailAddr;
use subinvite::core::token::Token;
use subinvite::list::{Code, Columns, Format, Problem, Report};
use subinvite::model::{
    Attachment, Batch, BatchState, Connection, Counts, Delivery, MessageKind, OutboxEntry, RowNote,
    RowOutcome,
};
use subinvite::outbox::compose::{compose, report_body, report_subject, ComposeError, Context};
use subinvite::outbox::templates::Templates;

const NOW: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const SUB: &str = "dana@sparky.test";
const GC: &str = "gc1@builders.test";

fn mail() -> MailSettings {
    MailSettings {
        domain: "example.test".into(),
        from_name: "subinvite".into(),
        invites_local: "invites".into(),
        bounces_local: "bounces".into(),
        separator: '+',
        signup_url: "https://app.example.test/signup?token={token}".into(),
        templates_dir: None,
        max_answers_per_sender_per_day: 3,
        trusted_authserv_id: None,
    }
}

fn addr(s: &str) -> EmailAddr {
    EmailAddr::parse(s).unwrap()
}

fn contractor() -> Contractor {
    Contractor {
        id: "demo".into(),
        name: "Demo Builders".into(),
        senders: vec![],
        notify: addr(GC),
        aliases: Default::default(),
        require_authentication: false,
        reminders: Default::default(),
    }
}

fn token() -> Token {
    Token::from_bytes([0x5a; 16])
}

fn conn(company: &str, contact: Option<&str>) -> Connection {
    Connection {
        contractor: "demo".into(),
        email: addr(SUB),
        company: company.into(),
        contact: contact.map(Into::into),
        standing: Standing::of(Status::Pending),
        token: token(),
        invited_at: NOW - 86_400,
        reminders_sent: 0,
        next_reminder_at: None,
        history: vec![],
    }
}

fn entry(kind: MessageKind, to: &str, detail: &str) -> OutboxEntry {
    let to_sub = to == SUB;
    let invite = matches!(
        kind,
        MessageKind::InviteNew
            | MessageKind::InviteKnown
            | MessageKind::Reminder
            | MessageKind::AskYesNo
    );
    OutboxEntry {
        id: 42,
        kind,
        contractor: "demo".into(),
        to: addr(to),
        about: (to_sub || detail_is_status(detail)).then(|| addr(SUB)),
        token: invite.then(token),
        detail: detail.into(),
        attachment: None,
        created_at: NOW,
        due_at: NOW,
        attempts: 0,
        delivery: Delivery::Queued,
        last_error: None,
    }
}

fn detail_is_status(d: &str) -> bool {
    matches!(d, "active" | "declined" | "bounced" | "expired")
}

/// Builds the message with the built-in templates.
fn build(e: &OutboxEntry, c: Option<&Connection>, b: Option<&Batch>) -> Message {
    build_with(e, c, b, &Templates::builtin()).unwrap()
}

fn build_with(
    e: &OutboxEntry,
    c: Option<&Connection>,
    b: Option<&Batch>,
    t: &Templates,
) -> Result<Message, ComposeError> {
    let (m, gc) = (mail(), contractor());
    let ctx = Context {
        mail: &m,
        contractor: &gc,
        connection: c,
        batch: b,
        templates: t,
    };
    compose(e, &ctx, NOW)
}

/// The parsed message, its text and HTML bodies, and the raw bytes.
struct Parsed {
    raw: Vec<u8>,
    /// The text part as sent (wrapped).
    plain: String,
    /// The text part with every run of whitespace made one space, so
    /// phrases can be found across wrapped lines.
    text: String,
    html: String,
}

fn flat(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn parse(m: &Message) -> Parsed {
    let raw = m.formatted();
    // SMTP servers refuse bare line feeds (Postfix: smtpd_forbid_bare_newline).
    for (i, b) in raw.iter().enumerate() {
        assert!(
            *b != b'\n' || (i > 0 && raw[i - 1] == b'\r'),
            "bare LF at byte {i}"
        );
    }
    let p = MessageParser::default().parse(&raw).unwrap();
    // Both alternatives exist as real parts, text first.
    let text_part = p.text_part(0).expect("a text part");
    assert_eq!(text_part.content_type().unwrap().subtype(), Some("plain"));
    let html_part = p.html_part(0).expect("an HTML part");
    assert_eq!(html_part.content_type().unwrap().subtype(), Some("html"));
    let s = String::from_utf8_lossy(&raw);
    let alt = s
        .find("multipart/alternative")
        .expect("multipart/alternative");
    let (t, h) = (s.find("text/plain").unwrap(), s.find("text/html").unwrap());
    assert!(alt < t && t < h, "text/plain must come before text/html");
    let plain = text_part.text_contents().unwrap().to_owned();
    let html = flat(html_part.text_contents().unwrap());
    Parsed {
        raw,
        text: flat(&plain),
        plain,
        html,
    }
}

fn header<'a>(p: &'a mail_parser::Message<'a>, name: &'static str) -> Option<&'a str> {
    p.header_raw(name).map(str::trim)
}

fn check_common(m: &Message, auto: &str) -> Parsed {
    let parsed = parse(m);
    let p = MessageParser::default().parse(&parsed.raw).unwrap();
    let from = p.from().unwrap().first().unwrap();
    assert_eq!(from.address(), Some("invites@example.test"));
    assert_eq!(from.name(), Some("Demo Builders"));
    assert_eq!(p.to().unwrap().iter().count(), 1);
    assert!(p.date().is_some());
    assert_eq!(header(&p, "Auto-Submitted"), Some(auto));
    assert_eq!(header(&p, "X-Auto-Response-Suppress"), Some("All"));
    // Invites and reminders are named by token (checked in their tests);
    // everything else by the entry id.
    let id = p.message_id().unwrap();
    assert!(
        id == "subinvite.42@example.test" || id.contains(token().as_str()),
        "{id}"
    );
    assert_eq!(m.envelope().to().len(), 1);
    parsed
}

fn reply_to(raw: &[u8]) -> Option<String> {
    let p = MessageParser::default().parse(raw).unwrap();
    p.reply_to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_owned)
}

fn message_id(raw: &[u8]) -> String {
    let p = MessageParser::default().parse(raw).unwrap();
    p.message_id().unwrap().to_owned()
}

fn subject(raw: &[u8]) -> String {
    let p = MessageParser::default().parse(raw).unwrap();
    p.subject().unwrap().to_owned()
}

#[test]
fn invite_new_carries_the_signup_link_and_every_correlation_point() {
    let t = token();
    let c = conn("Sparky Electric", Some("Dana Sparks"));
    let m = build(&entry(MessageKind::InviteNew, SUB, ""), Some(&c), None);
    let p = check_common(&m, "auto-generated");
    assert_eq!(message_id(&p.raw), format!("invite.{t}@example.test"));
    assert_eq!(
        reply_to(&p.raw).unwrap(),
        format!("invites+{t}@example.test")
    );
    let subj = subject(&p.raw);
    assert!(subj.contains(&format!("[ref {}]", t.short_ref())), "{subj}");
    assert!(
        subj.contains("Sparky Electric") && subj.contains("Demo Builders"),
        "{subj}"
    );
    let parsed = MessageParser::default().parse(&p.raw).unwrap();
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.address(), Some(SUB));
    assert_eq!(to.name(), Some("Dana Sparks"));
    let link = format!("https://app.example.test/signup?token={t}");
    let (yes, no) = (
        format!("invites+{t}-yes@example.test"),
        format!("invites+{t}-no@example.test"),
    );
    for body in [&p.text, &p.html] {
        assert!(body.contains(&link), "{body}");
        assert!(body.contains(&yes) && body.contains(&no), "{body}");
        assert!(body.contains("Dana Sparks"), "{body}");
    }
    // The text part stays 7bit, so links and addresses are whole in the
    // bytes as sent.
    let raw = String::from_utf8_lossy(&p.raw);
    assert!(
        raw.contains(&link) && raw.contains(&yes) && raw.contains(&no),
        "{raw}"
    );
    let subj_q = format!("?subject=Yes%20%5Bref%20{}%5D", t.short_ref());
    assert!(
        p.html.contains(&format!("mailto:{yes}{subj_q}")),
        "{}",
        p.html
    );
    assert!(
        p.html.contains(&format!("mailto:{no}?subject=No%20")),
        "{}",
        p.html
    );
    assert_eq!(
        m.envelope().from().unwrap().to_string(),
        format!("bounces+{t}@example.test")
    );
    assert_eq!(m.envelope().to()[0].to_string(), SUB);
}

#[test]
fn invite_known_asks_to_confirm_without_a_signup_link() {
    let t = token();
    let c = conn("Sparky Electric", None);
    let m = build(&entry(MessageKind::InviteKnown, SUB, ""), Some(&c), None);
    let p = check_common(&m, "auto-generated");
    assert_eq!(message_id(&p.raw), format!("invite.{t}@example.test"));
    assert_eq!(
        reply_to(&p.raw).unwrap(),
        format!("invites+{t}@example.test")
    );
    let parsed = MessageParser::default().parse(&p.raw).unwrap();
    // No contact: the company names the recipient.
    assert_eq!(
        parsed.to().unwrap().first().unwrap().name(),
        Some("Sparky Electric")
    );
    for body in [&p.text, &p.html] {
        assert!(!body.contains("signup"), "{body}");
        assert!(!body.contains(&format!("token={t}")), "{body}");
        assert!(
            body.contains(&format!("invites+{t}-yes@example.test")),
            "{body}"
        );
        assert!(
            body.contains(&format!("invites+{t}-no@example.test")),
            "{body}"
        );
        assert!(body.contains("already has an account"), "{body}");
    }
}

#[test]
fn reminder_has_the_invites_reply_to_and_its_own_message_id() {
    let t = token();
    let c = conn("Sparky Electric", Some("Dana"));
    let m = build(&entry(MessageKind::Reminder, SUB, ""), Some(&c), None);
    let p = check_common(&m, "auto-generated");
    assert_eq!(message_id(&p.raw), format!("reminder.{t}.42@example.test"));
    assert_eq!(
        reply_to(&p.raw).unwrap(),
        format!("invites+{t}@example.test")
    );
    assert!(subject(&p.raw).starts_with("Reminder:"));
    assert!(subject(&p.raw).contains(&format!("[ref {}]", t.short_ref())));
    for body in [&p.text, &p.html] {
        assert!(body.contains("reminder"), "{body}");
        assert!(
            body.contains(&format!("invites+{t}-yes@example.test")),
            "{body}"
        );
    }
}

#[test]
fn the_message_id_depends_only_on_the_entry() {
    let c = conn("Sparky Electric", None);
    let e = entry(MessageKind::InviteNew, SUB, "");
    let (m, gc, t) = (mail(), contractor(), Templates::builtin());
    let ctx = Context {
        mail: &m,
        contractor: &gc,
        connection: Some(&c),
        batch: None,
        templates: &t,
    };
    let a = compose(&e, &ctx, NOW).unwrap();
    let b = compose(&e, &ctx, NOW + 3600).unwrap();
    assert_eq!(message_id(&a.formatted()), message_id(&b.formatted()));
}

#[test]
fn answers_to_people_are_auto_replied() {
    let t = token();
    let c = conn("Sparky Electric", Some("Dana"));
    let ask = build(&entry(MessageKind::AskYesNo, SUB, ""), Some(&c), None);
    let p = check_common(&ask, "auto-replied");
    assert_eq!(
        reply_to(&p.raw).unwrap(),
        format!("invites+{t}@example.test")
    );
    assert!(subject(&p.raw).contains(&format!("[ref {}]", t.short_ref())));
    assert!(p.text.contains("yes") && p.text.contains(&format!("invites+{t}-no@example.test")));
    assert!(p
        .html
        .contains(&format!("mailto:invites+{t}-yes@example.test?subject=")));

    let ack = build(
        &entry(MessageKind::AckSubcontractor, SUB, "accepted"),
        Some(&c),
        None,
    );
    let p = check_common(&ack, "auto-replied");
    assert!(reply_to(&p.raw).is_none());
    assert!(subject(&p.raw).contains("connected with Demo Builders"));
    assert!(p.text.contains("accepted") && p.html.contains("accepted"));
    let ack = build(
        &entry(MessageKind::AckSubcontractor, SUB, "declined"),
        Some(&c),
        None,
    );
    let p = check_common(&ack, "auto-replied");
    assert!(p.text.contains("declined") && p.html.contains("declined"));

    let refused = build(
        &entry(
            MessageKind::SenderRefused,
            "stranger@else.test",
            "you are not authorised to act for Demo Builders",
        ),
        None,
        None,
    );
    let p = check_common(&refused, "auto-replied");
    assert!(p.text.contains("you are not authorised") && p.html.contains("you are not authorised"));
    let parsed = MessageParser::default().parse(&p.raw).unwrap();
    assert_eq!(parsed.to().unwrap().first().unwrap().name(), None);
}

#[test]
fn contractor_notices_name_company_contact_and_email() {
    let c = conn("Sparky Electric", Some("Dana Sparks"));
    for (status, word) in [
        ("active", "accepted"),
        ("declined", "declined"),
        ("bounced", "could not be delivered"),
        ("expired", "expired"),
    ] {
        let m = build(
            &entry(MessageKind::ContractorNotice, GC, status),
            Some(&c),
            None,
        );
        let p = check_common(&m, "auto-generated");
        assert_eq!(message_id(&p.raw), "subinvite.42@example.test");
        assert!(reply_to(&p.raw).is_none());
        assert!(subject(&p.raw).contains("Sparky Electric"), "{status}");
        for body in [&p.text, &p.html] {
            for want in ["Sparky Electric", "Dana Sparks", SUB, word] {
                assert!(body.contains(want), "{status}: {want} in {body}");
            }
        }
        let parsed = MessageParser::default().parse(&p.raw).unwrap();
        let to = parsed.to().unwrap().first().unwrap();
        assert_eq!((to.address(), to.name()), (Some(GC), Some("Demo Builders")));
        assert_eq!(
            m.envelope().from().unwrap().to_string(),
            "bounces+m42@example.test"
        );
    }
}

#[test]
fn confirmations_and_command_replies_carry_their_text_and_attachment() {
    let m = build(
        &entry(
            MessageKind::ActionConfirmation,
            GC,
            "Sparky Electric is now inactive.",
        ),
        None,
        None,
    );
    let p = check_common(&m, "auto-generated");
    assert!(subject(&p.raw).contains("Sparky Electric is now inactive."));
    assert!(p.text.contains("Sparky Electric is now inactive."));
    assert!(p.html.contains("Sparky Electric is now inactive."));

    let csv = b"email,company,status\r\ndana@sparky.test,Sparky,active\n".to_vec();
    let mut e = entry(MessageKind::CommandReply, GC, "STATUS\n1 connection.\n");
    e.attachment = Some(Attachment {
        filename: "status.csv".into(),
        content_type: "text/csv; charset=utf-8".into(),
        data: csv.clone(),
    });
    let m = build(&e, None, None);
    let p = check_common(&m, "auto-replied");
    assert!(p.text.contains("1 connection.") && p.html.contains("1 connection."));
    let parsed = MessageParser::default().parse(&p.raw).unwrap();
    assert_eq!(
        parsed.root_part().content_type().unwrap().subtype(),
        Some("mixed")
    );
    let a = parsed.attachments().next().expect("the attachment");
    assert_eq!(a.attachment_name(), Some("status.csv"));
    assert_eq!(a.content_type().unwrap().subtype(), Some("csv"));
    assert_eq!(a.contents(), csv.as_slice());

    // Any kind carries the entry's attachment.
    let mut e = entry(MessageKind::ActionConfirmation, GC, "Done.");
    e.attachment = Some(Attachment {
        filename: "x.bin".into(),
        content_type: "application/octet-stream".into(),
        data: vec![0, 1, 2, 255],
    });
    let parsed_raw = build(&e, None, None).formatted();
    let parsed = MessageParser::default().parse(&parsed_raw).unwrap();
    let a = parsed.attachments().next().expect("the attachment");
    assert_eq!(a.attachment_name(), Some("x.bin"));
    assert_eq!(a.contents(), &[0, 1, 2, 255]);
}

fn note(row: u32, email: &str, company: &str, outcome: RowOutcome) -> RowNote {
    RowNote {
        row,
        email: addr(email),
        company: company.into(),
        outcome,
    }
}

fn problem(row: u32, column: &str, code: Code, value: &str, message: &str) -> Problem {
    Problem {
        row: Some(row),
        column: Some(column.into()),
        code,
        value: Some(value.into()),
        message: message.into(),
    }
}

fn check_report(valid: bool, errors: Vec<Problem>, errors_total: usize) -> String {
    serde_json::to_string(&Report {
        valid,
        rows: 4,
        format: Format::Csv,
        encoding: Some("windows-1252"),
        delimiter: Some(";".into()),
        header_row: Some(1),
        columns: Columns {
            email: Some("E-Mail".into()),
            company: Some("Firma".into()),
            contact: Some("Ansprechpartner".into()),
        },
        errors,
        errors_total,
        warnings: vec![],
        warnings_total: 0,
    })
    .unwrap()
}

fn batch(state: BatchState) -> Batch {
    Batch {
        id: 7,
        contractor: "demo".into(),
        source: "email:subs.csv".into(),
        digest: "00".into(),
        received_at: NOW,
        finished_at: Some(NOW),
        state,
        counts: Counts::default(),
        notes: vec![],
        report: None,
        fix_rows: None,
        report_to: None,
    }
}

#[test]
fn the_green_report_lists_counts_names_reasons_and_assumptions() {
    let mut b = batch(BatchState::Imported);
    b.counts = Counts {
        rows: 4,
        invited_new: 2,
        invited_known: 1,
        restored: 0,
        unchanged: 1,
        not_reinvited: 0,
    };
    b.notes = vec![
        note(2, "a@new.test", "Alpha Roofing", RowOutcome::InvitedNew),
        note(3, "b@known.test", "Beta Plumbing", RowOutcome::InvitedKnown),
        note(
            4,
            "c@same.test",
            "Gamma Glass",
            RowOutcome::Unchanged(Keep::AlreadyActive),
        ),
    ];
    b.report = Some(check_report(true, vec![], 0));
    let e = entry(MessageKind::ImportReport { batch: 7 }, GC, "");
    let m = build(&e, None, Some(&b));
    let p = check_common(&m, "auto-generated");
    assert_eq!(subject(&p.raw), "List imported: 4 rows from email:subs.csv");
    assert_eq!(subject(&p.raw), report_subject(&b));
    let keep = Keep::AlreadyActive.to_string();
    for body in [&p.text, &p.html] {
        for want in [
            "Alpha Roofing",
            "a@new.test",
            "Beta Plumbing",
            "Gamma Glass",
            keep.as_str(),
            "windows-1252",
            "semicolon",
            "E-Mail",
            "Firma",
            "Ansprechpartner",
            "CSV",
            "and 1 more", // two invited new, one listed
        ] {
            assert!(body.contains(want), "{want} in {body}");
        }
    }
    assert!(
        p.text.contains("Invited (new, with a sign-up link): 2"),
        "{}",
        p.text
    );
    assert!(p.text.contains("Invited to connect (existing accounts): 1"));
    assert!(p
        .text
        .contains("Unchanged (already pending, active or inactive): 1"));
    assert!(MessageParser::default()
        .parse(&p.raw)
        .unwrap()
        .attachments()
        .next()
        .is_none());
    // The plain report (drop folder, CLI) is the same text.
    assert_eq!(report_body(&b), p.plain.replace("\r\n", "\n"));
}

#[test]
fn the_red_report_lists_every_problem_and_attaches_the_rows_to_fix() {
    let mut b = batch(BatchState::Rejected);
    let errors = vec![
        problem(
            2,
            "E-Mail",
            Code::InvalidEmail,
            "bob@@x.test",
            "is not one valid address",
        ),
        problem(5, "Firma", Code::MissingValue, "", "is empty"),
        problem(
            9,
            "E-Mail",
            Code::DuplicateEmail,
            "ann@x.test",
            "is also on row 3",
        ),
    ];
    b.report = Some(check_report(false, errors, 5));
    let e = entry(MessageKind::ImportReport { batch: 7 }, GC, "");
    // Formula-like cells, mixed and bare line endings, non-ASCII or not:
    // attached byte for byte.
    for fix in [
        "row,E-Mail,Firma,problem\r\n2,bob@@x.test,'=cmd|' /C calc'!A0,invalid_email\n5,x@y.test,,Müller: missing\r\n",
        "row,E-Mail\n2,bob@@x.test\n9,ann@x.test\n",
    ] {
        b.fix_rows = Some(fix.into());
        let m = build(&e, None, Some(&b));
        let p = check_common(&m, "auto-generated");
        assert!(subject(&p.raw).starts_with("List not imported"));
        for line in [
            "row 2, column \"E-Mail\", value \"bob@@x.test\": is not one valid address",
            "row 5, column \"Firma\", value \"\": is empty",
            "row 9, column \"E-Mail\", value \"ann@x.test\": is also on row 3",
            "and 2 more",
            "rows-to-fix.csv",
            "NOT imported",
        ] {
            assert!(p.text.contains(line), "{line} in {}", p.text);
        }
        for cell in [
            "\">2</td>",
            "\">5</td>",
            "\">9</td>",
            ">E-Mail</td>",
            ">Firma</td>",
            "&ldquo;bob@@x.test&rdquo;",
            "&ldquo;ann@x.test&rdquo;",
            "is not one valid address",
            "is empty",
            "is also on row 3",
            "and 2 more",
            "rows-to-fix.csv",
        ] {
            assert!(p.html.contains(cell), "{cell} in {}", p.html);
        }
        let parsed = MessageParser::default().parse(&p.raw).unwrap();
        let a = parsed.attachments().next().expect("rows-to-fix.csv");
        assert_eq!(a.attachment_name(), Some("rows-to-fix.csv"));
        let ct = a.content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("text", Some("csv")));
        assert_eq!(ct.attribute("charset"), Some("utf-8"));
        assert_eq!(a.contents(), fix.as_bytes());
        assert_eq!(parsed.attachments().count(), 1);
    }
    // The drop-folder text lists the problems too, without the attachment line.
    let plain = report_body(&b);
    assert!(
        plain.contains("bob@@x.test") && plain.contains("row 9"),
        "{plain}"
    );
    assert!(!plain.contains("rows-to-fix.csv"), "{plain}");
}

#[test]
fn names_from_a_list_cannot_add_headers_or_recipients() {
    let c = conn("Evil\r\nBcc: victim@example.test", Some("A\nB, <x@y.test>"));
    for kind in [
        MessageKind::InviteNew,
        MessageKind::Reminder,
        MessageKind::AskYesNo,
    ] {
        let m = build(&entry(kind.clone(), SUB, ""), Some(&c), None);
        let raw = m.formatted();
        let s = String::from_utf8_lossy(&raw);
        let head = s.split("\r\n\r\n").next().unwrap();
        for line in head.split("\r\n") {
            assert!(
                !line.to_ascii_lowercase().starts_with("bcc:"),
                "{kind:?}: {line}"
            );
            assert!(!line.contains('\n') && !line.contains('\r'), "{line:?}");
        }
        assert!(!s.contains("\nBcc:") && !s.contains("\rBcc:"), "{s}");
        let p = MessageParser::default().parse(&raw).unwrap();
        assert!(p.bcc().is_none() && p.cc().is_none());
        let to: Vec<_> = p.to().unwrap().iter().collect();
        assert_eq!(to.len(), 1, "{kind:?}: {to:?}");
        assert_eq!(to[0].address(), Some(SUB));
        assert_eq!(m.envelope().to().len(), 1);
        assert_eq!(m.envelope().to()[0].to_string(), SUB);
        let subj = p.subject().unwrap();
        if kind != MessageKind::AskYesNo {
            assert!(subj.contains("Evil Bcc: victim@example.test"), "{subj}");
        }
    }
    // The notice to the contractor names them too: same guarantees.
    let m = build(
        &entry(MessageKind::ContractorNotice, GC, "active"),
        Some(&c),
        None,
    );
    let p = MessageParser::default()
        .parse(&m.formatted())
        .unwrap()
        .into_owned();
    assert!(p.bcc().is_none());
    assert_eq!(p.to().unwrap().iter().count(), 1);
    assert_eq!(m.envelope().to().len(), 1);
}

#[test]
fn names_are_escaped_in_html() {
    let c = conn("<script>alert('x')</script> & Co", Some("<b>Dana</b>"));
    for (kind, to, detail) in [
        (MessageKind::InviteNew, SUB, ""),
        (MessageKind::ContractorNotice, GC, "declined"),
    ] {
        let p = parse(&build(&entry(kind, to, detail), Some(&c), None));
        assert!(
            !p.html.contains("<script>") && !p.html.contains("<b>"),
            "{}",
            p.html
        );
        assert!(p.html.contains("&lt;script&gt;"), "{}", p.html);
        assert!(
            p.text.contains("<script>alert('x')</script> & Co"),
            "{}",
            p.text
        );
    }
}

#[test]
fn an_override_dir_replaces_one_template_and_a_broken_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("invite_new.subject"),
        "{{ sub.company }}: please join {{ contractor }}",
    )
    .unwrap();
    std::fs::write(dir.path().join("README.txt"), "not a template {{").unwrap();
    let t = Templates::load(Some(dir.path())).unwrap();
    let c = conn("Sparky Electric", None);
    let m = build_with(&entry(MessageKind::InviteNew, SUB, ""), Some(&c), None, &t).unwrap();
    let p = parse(&m);
    // The override is used, and the reference is kept even though it left it out.
    assert_eq!(
        subject(&p.raw),
        format!(
            "Sparky Electric: please join Demo Builders [ref {}]",
            token().short_ref()
        )
    );
    // The bodies are still the built-in ones.
    assert!(p.text.contains("signup?token="));

    let bad = dir.path().join("invite_known.txt");
    std::fs::write(&bad, "Hello {% for x in %}").unwrap();
    let err = Templates::load(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains(&bad.display().to_string()), "{err}");
}
