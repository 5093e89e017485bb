//! Turning an outbox entry into an RFC 5322 email. Pure: everything it needs
//! (the entry, the connection, the batch, the time) comes in as arguments.
//! Every header value built from list data passes through [`one_line`], so a
//! name can never add a header or a recipient.

use crate::config::{Contractor, MailSettings};
use crate::model::{
    Batch, BatchState, Connection, MessageKind, OutboxEntry, RowOutcome, Timestamp,
};
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message};
use lettre::Address;
use std::time::{Duration, UNIX_EPOCH};

/// What an entry's email is made from.
pub struct Context<'a> {
    pub mail: &'a MailSettings,
    pub contractor: &'a Contractor,
    /// The connection the entry is about, as it stands now.
    pub connection: Option<&'a Connection>,
    /// For import reports.
    pub batch: Option<&'a Batch>,
}

#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("address {0:?} cannot be used: {1}")]
    Address(String, String),
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("the entry lacks {0}")]
    Missing(&'static str),
}

/// A header value on one line: control characters (CR, LF, ...) become
/// spaces and runs of spaces collapse.
pub fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for part in s.split(|c: char| c.is_whitespace() || c.is_control()) {
        if !part.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(part);
        }
    }
    out
}

fn address(s: &str) -> Result<Address, ComposeError> {
    s.parse::<Address>()
        .map_err(|e| ComposeError::Address(s.to_owned(), e.to_string()))
}

fn mailbox(name: Option<&str>, addr: &str) -> Result<Mailbox, ComposeError> {
    Ok(Mailbox::new(
        name.map(one_line).filter(|n| !n.is_empty()),
        address(addr)?,
    ))
}

fn raw(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

/// The Message-ID of an entry, stable across retries.
pub fn message_id(entry: &OutboxEntry, mail: &MailSettings) -> String {
    match (&entry.kind, &entry.token) {
        (MessageKind::InviteNew | MessageKind::InviteKnown, Some(t)) => {
            format!("<invite.{t}@{}>", mail.domain)
        }
        (MessageKind::Reminder, Some(t)) => format!("<reminder.{t}.{}@{}>", entry.id, mail.domain),
        _ => format!("<subinvite.{}@{}>", entry.id, mail.domain),
    }
}

/// The envelope sender: the VERP bounce address naming the invite (or the
/// entry) so a bounce finds its way back.
pub fn envelope_sender(entry: &OutboxEntry, mail: &MailSettings) -> String {
    match &entry.token {
        Some(t) => mail.bounce_addr(t.as_str()),
        None => mail.bounce_addr(&format!("m{}", entry.id)),
    }
}

/// Builds the email for `entry` as of `now`.
pub fn compose(
    entry: &OutboxEntry,
    ctx: &Context<'_>,
    now: Timestamp,
) -> Result<Message, ComposeError> {
    let mail = ctx.mail;
    let (subject, body, reply_to) = text(entry, ctx)?;
    let to_name = ctx
        .connection
        .filter(|c| Some(&c.email) == entry.about.as_ref() && c.email == entry.to)
        .map(|c| c.contact.as_deref().unwrap_or(&c.company));
    let mut b = Message::builder()
        .from(mailbox(Some(&ctx.contractor.name), &mail.from_addr())?)
        .to(mailbox(to_name, entry.to.as_str())?)
        .subject(one_line(&subject))
        .date(UNIX_EPOCH + Duration::from_secs(now.max(0) as u64))
        .message_id(Some(message_id(entry, mail)))
        .raw_header(raw("Auto-Submitted", "auto-generated"))
        .raw_header(raw("X-Auto-Response-Suppress", "All"));
    if let Some(r) = reply_to {
        b = b.reply_to(mailbox(None, &r)?);
    }
    let envelope = lettre::address::Envelope::new(
        Some(address(&envelope_sender(entry, mail))?),
        vec![address(entry.to.as_str())?],
    )
    .map_err(|e| ComposeError::Build(e.to_string()))?;
    b.envelope(envelope)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| ComposeError::Build(e.to_string()))
}

/// Subject, plain-text body and Reply-To of an entry.
fn text(
    entry: &OutboxEntry,
    ctx: &Context<'_>,
) -> Result<(String, String, Option<String>), ComposeError> {
    let mail = ctx.mail;
    let gc = &ctx.contractor.name;
    let conn = ctx.connection;
    Ok(match &entry.kind {
        MessageKind::InviteNew | MessageKind::InviteKnown | MessageKind::Reminder => {
            let token = entry
                .token
                .as_ref()
                .ok_or(ComposeError::Missing("a token"))?;
            let conn = conn.ok_or(ComposeError::Missing("its connection"))?;
            let yes = mail.invites_addr(&format!("{token}-yes"));
            let no = mail.invites_addr(&format!("{token}-no"));
            let greeting = match &conn.contact {
                Some(c) => format!("Hello {},", one_line(c)),
                None => "Hello,".to_owned(),
            };
            let first = match entry.kind {
                MessageKind::InviteNew => format!(
                    "{gc} would like to add {} to its subcontractors.\n\n\
                     To create your account, open this link:\n{}\n",
                    one_line(&conn.company),
                    mail.signup_link(token.as_str())
                ),
                MessageKind::InviteKnown => format!(
                    "{gc} would like to connect with {} on the platform, where you already have an account.\n",
                    one_line(&conn.company)
                ),
                _ => format!(
                    "A reminder: {gc} is still waiting for your answer about connecting with {}.\n",
                    one_line(&conn.company)
                ),
            };
            let prefix = if entry.kind == MessageKind::Reminder {
                "Reminder: "
            } else {
                ""
            };
            (
                format!(
                    "{prefix}{gc} invites {} to connect [ref {}]",
                    conn.company,
                    token.short_ref()
                ),
                format!(
                    "{greeting}\n\n{first}\n\
                     To confirm, reply to this email with \"yes\", or write to:\n  mailto:{yes}\n\
                     To decline, reply with \"no\", or write to:\n  mailto:{no}\n\n\
                     Reference: {}\n",
                    token.short_ref()
                ),
                Some(mail.invites_addr(token.as_str())),
            )
        }
        MessageKind::AckSubcontractor => (
            format!("Your answer to {gc} was received"),
            format!(
                "Thank you. {gc} has been told of your answer: {}.\n",
                entry.detail
            ),
            None,
        ),
        MessageKind::ContractorNotice => {
            let who = conn
                .map(|c| format!("{} <{}>", one_line(&c.company), c.email))
                .unwrap_or_else(|| {
                    entry
                        .about
                        .as_ref()
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                });
            (
                format!("{who}: {}", entry.detail),
                format!("The connection with {who} is now {}.\n", entry.detail),
                None,
            )
        }
        MessageKind::AskYesNo => (
            format!("Please answer yes or no: {gc}'s invitation"),
            "We could not tell whether you accept. Please reply with \"yes\" or \"no\".\n"
                .to_owned(),
            entry.token.as_ref().map(|t| mail.invites_addr(t.as_str())),
        ),
        MessageKind::SenderRefused => (
            "Your message was not processed".to_owned(),
            format!("{}\n", entry.detail),
            None,
        ),
        MessageKind::CommandReply => ("Re: your commands".to_owned(), entry.detail.clone(), None),
        MessageKind::ActionConfirmation => (
            format!("Done: {}", entry.detail),
            format!("{}\n", entry.detail),
            None,
        ),
        MessageKind::ImportReport { .. } => {
            let batch = ctx.batch.ok_or(ComposeError::Missing("its batch"))?;
            (report_subject(batch), report_body(batch), None)
        }
    })
}

/// The subject of a batch's green or red report.
pub fn report_subject(b: &Batch) -> String {
    if b.state == BatchState::Rejected {
        format!("List not imported: problems found in {}", b.source)
    } else {
        format!("List imported: {} rows from {}", b.counts.rows, b.source)
    }
}

/// The body of a batch's green or red report (also the drop folder's
/// `.report.txt`).
pub fn report_body(b: &Batch) -> String {
    let c = &b.counts;
    if b.state == BatchState::Rejected {
        let mut body = format!(
            "Your list {} was NOT imported: nothing was changed. Please fix every problem below and send it again.\n\n",
            b.source
        );
        if let Some(report) = &b.report {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(report) {
                for e in v["errors"].as_array().into_iter().flatten() {
                    let row = e["row"]
                        .as_u64()
                        .map(|r| format!("row {r}"))
                        .unwrap_or_else(|| "file".into());
                    let col = e["column"]
                        .as_str()
                        .map(|c| format!(", column \"{c}\""))
                        .unwrap_or_default();
                    body.push_str(&format!(
                        "- {row}{col}: {}\n",
                        e["message"].as_str().unwrap_or("")
                    ));
                }
            }
        }
        return body;
    }
    let mut body = format!(
        "Your list {} was imported: {} rows.\n\n\
         Invited (new, with a sign-up link): {}\n\
         Invited to connect (existing accounts): {}\n\
         Of these, restored after a delete: {}\n\
         Unchanged (already pending, active or inactive): {}\n\
         Not invited again (declined, expired or bounced; use REINVITE): {}\n",
        b.source, c.rows, c.invited_new, c.invited_known, c.restored, c.unchanged, c.not_reinvited
    );
    for (title, want) in [
        ("Invited with a sign-up link", 0),
        ("Connected to an existing account", 1),
        ("Unchanged", 2),
    ] {
        let rows: Vec<String> = b
            .notes
            .iter()
            .filter(|n| match n.outcome {
                RowOutcome::InvitedNew => want == 0,
                RowOutcome::InvitedKnown => want == 1,
                RowOutcome::Unchanged(_) => want == 2,
            })
            .map(|n| match n.outcome {
                RowOutcome::Unchanged(why) => format!(
                    "- row {}: {} <{}>: {why}",
                    n.row,
                    one_line(&n.company),
                    n.email
                ),
                _ => format!("- row {}: {} <{}>", n.row, one_line(&n.company), n.email),
            })
            .collect();
        if !rows.is_empty() {
            body.push_str(&format!("\n{title}:\n{}\n", rows.join("\n")));
        }
    }
    body
}
