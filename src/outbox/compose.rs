//! Turning an outbox entry into an RFC 5322 email: headers (DESIGN §3), a
//! `multipart/alternative` body rendered from [`super::templates`] (plain
//! text first, HTML second), and attachments in a `multipart/mixed` wrapper.
//! Pure: everything it needs (the entry, the connection, the batch, the
//! templates, the time) comes in as arguments.
//!
//! Header safety: every header value built from list data passes through
//! [`one_line`], and mailboxes are built with [`Mailbox::new`] so lettre
//! quotes or encodes display names. This module never writes a raw header
//! line from data, so a name can never add a header or a recipient.

use super::templates::{
    Assumed, InviteVars, Kind, ProblemVars, ReportVars, RowVars, SubVars, Templates, Vars,
};
use crate::config::{Contractor, MailSettings};
use crate::model::{
    Batch, BatchState, Connection, MessageKind, OutboxEntry, RowOutcome, Timestamp,
};
use lettre::address::Envelope;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Attachment, Body, Mailbox, Message, MultiPart};
use lettre::Address;
use serde_json::Value;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

/// The file name of the red report's attachment.
pub const FIX_ROWS_NAME: &str = "rows-to-fix.csv";
const FIX_ROWS_TYPE: &str = "text/csv; charset=utf-8";

/// What an entry's email is made from.
pub struct Context<'a> {
    pub mail: &'a MailSettings,
    pub contractor: &'a Contractor,
    /// The connection the entry is about, as it stands now.
    pub connection: Option<&'a Connection>,
    /// For import reports.
    pub batch: Option<&'a Batch>,
    /// Loaded once at start-up ([`Templates::load`]).
    pub templates: &'a Templates,
}

/// Why an entry cannot become an email. All are permanent: retrying the
/// same entry gives the same result.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("address {0:?} cannot be used: {1}")]
    Address(String, String),
    /// lettre refused the message, or a template failed to render.
    #[error("cannot build the message: {0}")]
    Build(String),
    #[error("the entry lacks {0}")]
    Missing(&'static str),
}

/// A header value on one line: control characters (CR, LF, NUL, ...) become
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

/// Body text: line breaks and tabs kept (as `\n`), other control
/// characters dropped.
fn clean_text(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
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

/// A header with a constant value (never data).
fn fixed(name: &'static str, value: &'static str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_owned())
}

fn build_err(e: impl std::fmt::Display) -> ComposeError {
    ComposeError::Build(e.to_string())
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

/// Which templates an entry is rendered from.
fn kind_of(entry: &OutboxEntry, ctx: &Context<'_>) -> Result<Kind, ComposeError> {
    Ok(match entry.kind {
        MessageKind::InviteNew => Kind::InviteNew,
        MessageKind::InviteKnown => Kind::InviteKnown,
        MessageKind::Reminder => Kind::Reminder,
        MessageKind::AckSubcontractor => Kind::AckSubcontractor,
        MessageKind::ContractorNotice => Kind::ContractorNotice,
        MessageKind::ActionConfirmation => Kind::ActionConfirmation,
        MessageKind::AskYesNo => Kind::AskYesNo,
        MessageKind::SenderRefused => Kind::SenderRefused,
        MessageKind::CommandReply => Kind::CommandReply,
        MessageKind::ImportReport { .. } => {
            report_kind(ctx.batch.ok_or(ComposeError::Missing("its batch"))?)
        }
    })
}

fn report_kind(b: &Batch) -> Kind {
    if b.state == BatchState::Rejected {
        Kind::ImportRejected
    } else {
        Kind::ImportImported
    }
}

/// Messages to a subcontractor (named by contact or company in `To`).
fn to_subcontractor(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::InviteNew
            | Kind::InviteKnown
            | Kind::Reminder
            | Kind::AckSubcontractor
            | Kind::AskYesNo
    )
}

/// Builds the email for `entry` as of `now`.
pub fn compose(
    entry: &OutboxEntry,
    ctx: &Context<'_>,
    now: Timestamp,
) -> Result<Message, ComposeError> {
    let mail = ctx.mail;
    let kind = kind_of(entry, ctx)?;
    // The connection, only if it is the one the entry is about.
    let conn = ctx
        .connection
        .filter(|c| entry.about.as_ref().is_none_or(|a| *a == c.email));
    let fix_rows = match (kind, ctx.batch) {
        (Kind::ImportRejected, Some(b)) => b.fix_rows.as_deref(),
        _ => None,
    };
    let vars = vars(entry, ctx, kind, conn, fix_rows.is_some())?;
    let rendered = ctx.templates.render(kind, &vars).map_err(build_err)?;

    let mut subject = one_line(&rendered.subject);
    let mut reply_to = None;
    if let Some(invite) = &vars.invite {
        // Correlation relies on the reference, whatever an override says.
        let tag = format!("[ref {}]", invite.reference);
        if !subject.contains(&tag) {
            subject = format!("{subject} {tag}");
        }
        reply_to = Some(invite.reply_addr.clone());
    }
    let to_name = if to_subcontractor(kind) {
        conn.filter(|c| c.email == entry.to)
            .map(|c| c.contact.as_deref().unwrap_or(&c.company))
    } else if entry.to == ctx.contractor.notify {
        Some(ctx.contractor.name.as_str())
    } else {
        None
    };
    let auto = match kind {
        Kind::AckSubcontractor | Kind::AskYesNo | Kind::SenderRefused | Kind::CommandReply => {
            "auto-replied"
        }
        _ => "auto-generated",
    };
    let mut b = Message::builder()
        .from(mailbox(Some(&ctx.contractor.name), &mail.from_addr())?)
        .to(mailbox(to_name, entry.to.as_str())?)
        .subject(subject)
        .date(UNIX_EPOCH + Duration::from_secs(now.max(0) as u64))
        .message_id(Some(message_id(entry, mail)))
        .raw_header(fixed("Auto-Submitted", auto))
        .raw_header(fixed("X-Auto-Response-Suppress", "All"));
    if let Some(r) = reply_to {
        b = b.reply_to(mailbox(None, &r)?);
    }
    let envelope = Envelope::new(
        Some(address(&envelope_sender(entry, mail))?),
        vec![address(entry.to.as_str())?],
    )
    .map_err(build_err)?;

    // Short ASCII lines keep the text part 7bit: readable as sent, and the
    // links and addresses in it are never split by quoted-printable.
    let text = match kind {
        Kind::ImportImported | Kind::ImportRejected | Kind::CommandReply => rendered.text,
        _ => wrap(&rendered.text, WRAP_AT),
    };
    let alternative = MultiPart::alternative_plain_html(body(text), body(rendered.html));
    let mut files: Vec<(String, &str, Vec<u8>)> = Vec::new();
    if let Some(csv) = fix_rows {
        let data = csv.as_bytes().to_vec();
        files.push((FIX_ROWS_NAME.to_owned(), FIX_ROWS_TYPE, data));
    }
    if let Some(a) = &entry.attachment {
        files.push((one_line(&a.filename), &a.content_type, a.data.clone()));
    }
    let body = if files.is_empty() {
        alternative
    } else {
        with_attachments(alternative, files)?
    };
    b.envelope(envelope).multipart(body).map_err(build_err)
}

/// `multipart/mixed`: the alternative part, then each file.
fn with_attachments(
    alternative: MultiPart,
    files: Vec<(String, &str, Vec<u8>)>,
) -> Result<MultiPart, ComposeError> {
    let mut mixed = MultiPart::mixed().multipart(alternative);
    for (name, content_type, data) in files {
        let ct = ContentType::parse(&one_line(content_type))
            .or_else(|_| ContentType::parse("application/octet-stream"))
            .map_err(build_err)?;
        let name = if name.is_empty() {
            "attachment".to_owned()
        } else {
            name
        };
        // Always base64: the bytes arrive exactly as given (7bit would send
        // bare LFs raw; a String would get its line endings rewritten).
        let body = Body::new_with_encoding(data, ContentTransferEncoding::Base64)
            .map_err(|_| ComposeError::Build("cannot encode an attachment".into()))?;
        mixed = mixed.singlepart(Attachment::new(name).body(body, ct));
    }
    Ok(mixed)
}

/// The variables the templates of `kind` see for `entry`.
fn vars(
    entry: &OutboxEntry,
    ctx: &Context<'_>,
    kind: Kind,
    conn: Option<&Connection>,
    fix_rows_attached: bool,
) -> Result<Vars, ComposeError> {
    let mail = ctx.mail;
    let sub = match (conn, &entry.about) {
        (Some(c), _) => Some(SubVars {
            company: one_line(&c.company),
            contact: c.contact.as_deref().map(one_line).filter(|s| !s.is_empty()),
            email: c.email.to_string(),
        }),
        (None, Some(a)) => Some(SubVars {
            company: a.to_string(),
            contact: None,
            email: a.to_string(),
        }),
        (None, None) => None,
    };
    let invite = match kind {
        Kind::InviteNew | Kind::InviteKnown | Kind::Reminder | Kind::AskYesNo => {
            if kind != Kind::AskYesNo && conn.is_none() {
                return Err(ComposeError::Missing("its connection"));
            }
            let token = entry
                .token
                .as_ref()
                .or(conn.map(|c| &c.token))
                .ok_or(ComposeError::Missing("a token"))?;
            let reference = token.short_ref();
            let yes_addr = mail.invites_addr(&format!("{token}-yes"));
            let no_addr = mail.invites_addr(&format!("{token}-no"));
            Some(InviteVars {
                token: token.to_string(),
                reply_addr: mail.invites_addr(token.as_str()),
                yes_mailto: mailto(&yes_addr, &format!("Yes [ref {reference}]")),
                no_mailto: mailto(&no_addr, &format!("No [ref {reference}]")),
                yes_addr,
                no_addr,
                signup_link: (kind == Kind::InviteNew).then(|| mail.signup_link(token.as_str())),
                reminders_sent: conn.map_or(0, |c| c.reminders_sent),
                reference,
            })
        }
        _ => None,
    };
    if kind == Kind::ContractorNotice && sub.is_none() {
        return Err(ComposeError::Missing("the connection it is about"));
    }
    let report = match kind {
        Kind::ImportImported | Kind::ImportRejected => {
            let b = ctx.batch.ok_or(ComposeError::Missing("its batch"))?;
            Some(report_vars(b, fix_rows_attached))
        }
        _ => None,
    };
    let mut attachments = Vec::new();
    if fix_rows_attached {
        attachments.push(FIX_ROWS_NAME.to_owned());
    }
    if let Some(a) = &entry.attachment {
        attachments.push(one_line(&a.filename));
    }
    Ok(Vars {
        contractor: one_line(&ctx.contractor.name),
        product: one_line(&mail.from_name),
        detail: clean_text(&entry.detail),
        sub,
        invite,
        report,
        attachments,
    })
}

/// Width the text part of most messages is wrapped to (under the 76
/// characters above which lettre stops sending text as 7bit).
const WRAP_AT: usize = 72;

/// Wraps lines longer than `width` at spaces. A continuation keeps the
/// line's indentation, two more under a `- ` list item. Words longer than
/// `width` (links, addresses) stay whole on their own line.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / width);
    for line in text.split('\n') {
        // Bytes bound characters: most lines need no count at all.
        if line.len() <= width || line.chars().count() <= width {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let body = line.trim_start();
        let indent = &line[..line.len() - body.len()];
        let hang = if body.starts_with("- ") {
            format!("{indent}  ")
        } else {
            indent.to_owned()
        };
        // Written straight into `out`; `len` counts the characters of the
        // line being filled.
        out.push_str(indent);
        let (hang_len, mut len) = (hang.chars().count(), indent.chars().count());
        let mut fresh = true;
        for word in body.split(' ').filter(|w| !w.is_empty()) {
            let word_len = word.chars().count();
            if !fresh && len + 1 + word_len > width {
                out.push('\n');
                out.push_str(&hang);
                len = hang_len;
                fresh = true;
            }
            if !fresh {
                out.push(' ');
                len += 1;
            }
            out.push_str(word);
            len += word_len;
            fresh = false;
        }
        out.push('\n');
    }
    out.pop();
    out
}

/// A body part as 7bit when it is ASCII with lines of at most 998 octets
/// (RFC 5322), which HTML from the templates nearly always is: no
/// quoted-printable pass over every byte. Anything else is left to lettre
/// (8bit, quoted-printable or base64, as fits).
fn body(text: String) -> Body {
    // Byte searches (memchr), not a walk over the characters.
    let bytes = text.as_bytes();
    let seven_bit = bytes.is_ascii()
        && !bytes.contains(&0)
        && !bytes.contains(&b'\r')
        && text.split('\n').all(|line| line.len() <= 998);
    if !seven_bit {
        return Body::new(text);
    }
    let mut crlf = Vec::with_capacity(text.len() + text.len() / 32);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            crlf.extend_from_slice(b"\r\n");
        }
        crlf.extend_from_slice(line.as_bytes());
    }
    Body::dangerous_pre_encoded(crlf, ContentTransferEncoding::SevenBit)
}

/// A `mailto:` URL with a subject, percent-encoded (RFC 6068).
fn mailto(addr: &str, subject: &str) -> String {
    let mut out = format!("mailto:{addr}?subject=");
    for b in subject.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The report variables of a batch. `batch.report` (the check report JSON)
/// is read leniently: whatever is missing is left out.
fn report_vars(b: &Batch, fix_rows_attached: bool) -> ReportVars {
    let c = &b.counts;
    let rows = |want: fn(&RowOutcome) -> bool| -> Vec<RowVars> {
        b.notes
            .iter()
            .filter(|n| want(&n.outcome))
            .map(|n| RowVars {
                row: n.row,
                company: one_line(&n.company),
                email: n.email.to_string(),
                why: match n.outcome {
                    RowOutcome::Unchanged(k) => Some(k.to_string()),
                    _ => None,
                },
            })
            .collect()
    };
    let invited_new = rows(|o| matches!(o, RowOutcome::InvitedNew));
    let invited_known = rows(|o| matches!(o, RowOutcome::InvitedKnown));
    let unchanged = rows(|o| matches!(o, RowOutcome::Unchanged(_)));
    let more = |count: u64, listed: &[RowVars]| count.saturating_sub(listed.len() as u64);
    let json: Value = b
        .report
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let (errors, errors_total) = problems(&json, "errors");
    let (warnings, warnings_total) = problems(&json, "warnings");
    ReportVars {
        batch: b.id,
        source: one_line(&b.source),
        counts: c.clone(),
        invited_new_more: more(c.invited_new, &invited_new),
        invited_known_more: more(c.invited_known, &invited_known),
        unchanged_more: more(c.unchanged + c.not_reinvited, &unchanged),
        invited_new,
        invited_known,
        unchanged,
        assumed: assumed(&json),
        errors_more: errors_total - errors.len() as u64,
        errors,
        errors_total,
        warnings_more: warnings_total - warnings.len() as u64,
        warnings,
        fix_rows: fix_rows_attached.then(|| FIX_ROWS_NAME.to_owned()),
    }
}

fn text_field(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(one_line)
}

/// The listed problems under `key` and how many there were in all.
fn problems(json: &Value, key: &str) -> (Vec<ProblemVars>, u64) {
    let list: Vec<ProblemVars> = json[key]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| ProblemVars {
            row: e["row"].as_u64(),
            column: text_field(e, "column"),
            code: text_field(e, "code").unwrap_or_default(),
            value: text_field(e, "value"),
            message: text_field(e, "message").unwrap_or_default(),
        })
        .collect();
    let total = json[format!("{key}_total")]
        .as_u64()
        .unwrap_or(0)
        .max(list.len() as u64);
    (list, total)
}

fn assumed(json: &Value) -> Option<Assumed> {
    let format = json["format"].as_str()?;
    let columns = &json["columns"];
    Some(Assumed {
        format: one_line(format).to_uppercase(),
        encoding: text_field(json, "encoding"),
        delimiter: json["delimiter"].as_str().map(|d| {
            match d {
                "," => "comma",
                ";" => "semicolon",
                "\t" => "tab",
                "|" => "vertical bar",
                " " => "space",
                other => return format!("\"{}\"", one_line(other)),
            }
            .to_owned()
        }),
        header_row: json["header_row"].as_u64(),
        email_column: text_field(columns, "email"),
        company_column: text_field(columns, "company"),
        contact_column: text_field(columns, "contact"),
    })
}

/// The built-in templates, for the plain-text reports below.
fn builtin() -> &'static Templates {
    static BUILTIN: OnceLock<Templates> = OnceLock::new();
    BUILTIN.get_or_init(Templates::builtin)
}

fn report_only_vars(b: &Batch) -> Vars {
    Vars {
        contractor: one_line(&b.contractor),
        report: Some(report_vars(b, false)),
        ..Vars::default()
    }
}

/// The subject of a batch's green or red report (built-in template).
pub fn report_subject(b: &Batch) -> String {
    match builtin().render(report_kind(b), &report_only_vars(b)) {
        Ok(r) => one_line(&r.subject),
        Err(e) => {
            tracing::error!(error = %e, "report subject template failed");
            format!("List {}: {}", b.id, one_line(&b.source))
        }
    }
}

/// The plain-text body of a batch's green or red report (also the drop
/// folder's `.report.txt` and the CLI's output), from the built-in text
/// template; the email's text part is the same unless overridden.
pub fn report_body(b: &Batch) -> String {
    match builtin().render_text(report_kind(b), &report_only_vars(b)) {
        Ok(text) => text,
        Err(e) => {
            tracing::error!(error = %e, "report body template failed");
            format!("{}\n", report_subject(b))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_parts_go_out_7bit_with_crlf_and_others_are_encoded() {
        let long = format!(
            "<p>{}</p>\n<a href=\"mailto:x@y.test?subject=Yes\">y</a>",
            "word ".repeat(60)
        );
        let b = body(long.clone());
        assert_eq!(b.encoding(), ContentTransferEncoding::SevenBit);
        assert_eq!(
            String::from_utf8_lossy(b.as_ref()),
            long.replace('\n', "\r\n")
        );
        assert_ne!(
            body("Électricité".into()).encoding(),
            ContentTransferEncoding::SevenBit
        );
        assert_ne!(
            body("x".repeat(999)).encoding(),
            ContentTransferEncoding::SevenBit
        );
    }

    #[test]
    fn one_line_removes_every_control_character() {
        assert_eq!(one_line(" a\r\nBcc: x\0y\t z "), "a Bcc: x y z");
        assert_eq!(one_line("\r\n"), "");
    }

    #[test]
    fn mailto_subjects_are_percent_encoded() {
        assert_eq!(
            mailto("a+b-yes@x.test", "Yes [ref AB]"),
            "mailto:a+b-yes@x.test?subject=Yes%20%5Bref%20AB%5D"
        );
    }

    #[test]
    fn long_lines_wrap_at_spaces_and_keep_words_whole() {
        let long = format!(
            "- to accept, write to invites+{}-yes@example.test now",
            "a".repeat(26)
        );
        let w = wrap(&format!("short\n{long}\n"), 40);
        assert_eq!(
            w,
            format!(
                "short\n- to accept, write to\n  invites+{}-yes@example.test\n  now\n",
                "a".repeat(26)
            )
        );
        assert_eq!(wrap("", 40), "");
        assert_eq!(wrap("a\n\nb", 40), "a\n\nb");
    }

    #[test]
    fn body_text_keeps_lines_but_not_other_controls() {
        assert_eq!(clean_text("a\r\nb\0c\td"), "a\nbc\td");
    }
}
