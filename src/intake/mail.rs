//! Handling one incoming email, whatever door it came through: classify it
//! (pure), then act in one store transaction with its idempotency key marked
//! seen, so a message seen twice is handled once. Lists from authorised
//! senders are imported; invite replies move their connection; bounces mark
//! it bounced; automatic replies and anything else are recorded, never
//! answered. The only answers are a "yes or no?" to an unclear reply and a
//! refusal to an unauthorised sender, each at most once, within a daily
//! per-sender budget (the loop guard).

use crate::classify::{classify, Classification, ClassifyConfig, Intent};
use crate::config::{Contractor, Settings};
use crate::core::auth::authenticated;
use crate::core::connection::{Event, Status};
use crate::core::email::EmailAddr;
use crate::core::token::Token;
use crate::effects;
use crate::import::{self, ImportError, Outcome, Submission};
use crate::list::{Code, ListInput, Problem, Report};
use crate::model::{MessageKind, Origin, OutboxEntry, Quarantined, Timestamp};
use crate::store::{Store, StoreError, Tx, TxResult};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("cannot draw random bytes: {0}")]
    Random(String),
}

/// The addresses classification looks for.
pub fn classify_config(settings: &Settings) -> ClassifyConfig {
    ClassifyConfig {
        domain: settings.mail.domain.clone(),
        invites_local: settings.mail.invites_local.clone(),
        bounces_local: settings.mail.bounces_local.clone(),
        separator: settings.mail.separator,
    }
}

/// The idempotency key of a message: its Message-ID and a digest of its
/// bytes (a second copy with the same Message-ID and bytes is the same
/// message; a different message reusing a Message-ID is not).
pub fn envelope_key(raw: &[u8]) -> String {
    let id = mail_parser::MessageParser::default()
        .parse_headers(raw)
        .and_then(|m| m.message_id().map(str::to_owned))
        .unwrap_or_default();
    let digest = blake3::hash(raw).to_hex();
    format!("mail:{id}:{}", &digest[..32])
}

/// Handles `raw`; on an unexpected failure keeps it in quarantine instead.
/// Either way, once this returns Ok the source may acknowledge the message.
pub fn handle_or_quarantine(
    store: &Store,
    settings: &Settings,
    raw: &[u8],
    source: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    let key = envelope_key(raw);
    let _span = tracing::info_span!("message", %key).entered();
    let kind = source.split(['#', ':']).next().unwrap_or(source);
    let name = if kind == "maildir" {
        "maildir"
    } else {
        source.split('#').next().unwrap_or(source)
    };
    store.touch(name, now)?;
    match handle(store, settings, raw, &key, now) {
        Ok(summary) => Ok(summary),
        Err(e) => {
            let id = store.generate_id()?;
            let error = e.to_string();
            tracing::error!(%source, %key, quarantine = id, error = %error, "message quarantined");
            store.transact(|tx| {
                tx.quarantine(&Quarantined {
                    id,
                    source: source.to_owned(),
                    key: key.clone(),
                    error: error.clone(),
                    at: now,
                    raw: raw.to_vec(),
                })?;
                tx.mark_seen(&key, &format!("quarantined as {id}"))
            })?;
            Ok(format!("quarantined as {id}: {error}"))
        }
    }
}

/// Bytes of an oversized message read to answer it: its header section.
pub const OVERSIZED_HEAD_BYTES: usize = 64 * 1024;

/// Handles a message of `size` bytes, over `intake.max-message-bytes`, from
/// its first bytes alone (`head`, at most [`OVERSIZED_HEAD_BYTES`]): nothing
/// else of it is read. An authorised sender gets the red report saying so
/// (nothing imported); an unauthorised one is refused as usual (once a
/// day); an automatic message or one without a sender is only recorded.
/// Like [`handle_or_quarantine`], only a store failure is an error.
pub fn handle_oversized(
    store: &Store,
    settings: &Settings,
    head: &[u8],
    size: u64,
    source: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    match oversized(store, settings, head, size, source, now) {
        Ok(s) => Ok(s),
        Err(IntakeError::Store(e) | IntakeError::Import(ImportError::Store(e))) => Err(e),
        // Nothing of the message is kept to quarantine: say so and go on.
        Err(e) => {
            tracing::error!(%source, size, error = %e, "cannot answer an oversized message");
            Ok(format!(
                "a message of {size} bytes, over the size limit: not answered ({e})"
            ))
        }
    }
}

fn oversized(
    store: &Store,
    settings: &Settings,
    head: &[u8],
    size: u64,
    source: &str,
    now: Timestamp,
) -> Result<String, IntakeError> {
    let head = &head[..head.len().min(OVERSIZED_HEAD_BYTES)];
    let id = mail_parser::MessageParser::default()
        .parse_headers(head)
        .and_then(|m| m.message_id().map(str::to_owned))
        .unwrap_or_default();
    let key = format!(
        "mail:{id}:over:{size}:{}",
        &blake3::hash(head).to_hex()[..32]
    );
    let _span = tracing::info_span!("message", %key).entered();
    if let Some(prev) = store.seen(&key)? {
        return Ok(format!("already handled: {prev}"));
    }
    let limit = settings.intake.max_message_bytes;
    let what = format!("a message of {size} bytes, over the limit of {limit}");
    let record = |s: String| -> Result<String, IntakeError> {
        store.transact(|tx| tx.mark_seen(&key, &s))?;
        Ok(s)
    };
    let class = classify(head, &classify_config(settings));
    if matches!(
        class,
        Classification::Bounce { .. } | Classification::AutoReply { .. }
    ) {
        return record(format!("{what}, automatic: recorded, not read"));
    }
    let Some(from) = sender_of(&class).and_then(|f| EmailAddr::parse(f).ok()) else {
        return record(format!(
            "{what}, without a sender address: recorded, not read"
        ));
    };
    let gc = match authorise(settings, head, &from) {
        Ok(gc) => gc,
        Err(why) => return refuse(store, settings, &key, &from, &why, now),
    };
    tracing::warn!(%from, size, limit, %source, "message over the size limit: not read");
    let why = format!(
        "the message is {size} bytes, over the limit of {limit} bytes: nothing in it was read. \
         Send the list on its own, as CSV or .xlsx, or split it into smaller files"
    );
    let batch = reject_message(store, settings, gc, &from, &key, &why, now)?;
    Ok(format!(
        "{what} from {from} for {}: rejected as batch {batch}, not read",
        gc.id
    ))
}

/// Records a message from `from`, acting for `gc`, as a rejected list
/// submission that was not read (`why`), and queues the red report to
/// them. Returns the batch id.
fn reject_message(
    store: &Store,
    settings: &Settings,
    gc: &Contractor,
    from: &EmailAddr,
    key: &str,
    why: &str,
    now: Timestamp,
) -> Result<u64, IntakeError> {
    let sub = Submission {
        contractor: gc.id.clone(),
        input: ListInput::Bytes {
            name: "message".into(),
            data: Arc::from(Vec::new()),
        },
        source: "email:message".into(),
        digest: key.to_owned(),
        key: Some(key.to_owned()),
        allow_repeat: true,
        report_to: Some(from.clone()),
    };
    let report = Report::single(Problem::file(Code::TooLarge, why));
    let outcome = import::reject_unread(store, settings, &sub, report, now)?;
    Ok(outcome.batch().id)
}

/// Handles one message with idempotency key `key`. Returns what was done.
pub fn handle(
    store: &Store,
    settings: &Settings,
    raw: &[u8],
    key: &str,
    now: Timestamp,
) -> Result<String, IntakeError> {
    if let Some(prev) = store.seen(key)? {
        return Ok(format!("already handled: {prev}"));
    }
    let class = classify(raw, &classify_config(settings));
    let from = sender_of(&class).and_then(|f| EmailAddr::parse(f).ok());
    let summary = match class {
        Classification::ListSubmission { files, .. } => {
            return lists(store, settings, raw, key, from, files, now);
        }
        Classification::InviteReply { token, intent, .. } => {
            reply(store, settings, key, from, token, intent, now)?
        }
        Classification::Bounce {
            token,
            permanent,
            recipients,
            status,
        } => bounce(
            store,
            settings,
            key,
            token,
            permanent,
            &recipients,
            status.as_deref(),
            now,
        )?,
        Classification::AutoReply { reason, .. } => {
            format!("automatic reply ({reason}): recorded, not answered")
        }
        Classification::Command { commands, .. } => {
            return command(store, settings, raw, key, from, &commands, now);
        }
        Classification::TooComplex { reason, .. } => {
            return too_complex(store, settings, raw, key, from, &reason, now);
        }
        Classification::Other { .. } => "not a list, reply or bounce: recorded".to_owned(),
    };
    store.transact(|tx| {
        if tx.seen(key)?.is_none() {
            tx.mark_seen(key, &summary)?;
        }
        Ok(())
    })?;
    Ok(summary)
}

fn sender_of(c: &Classification) -> Option<&str> {
    match c {
        Classification::ListSubmission { from, .. }
        | Classification::InviteReply { from, .. }
        | Classification::AutoReply { from, .. }
        | Classification::Command { from, .. }
        | Classification::TooComplex { from, .. }
        | Classification::Other { from, .. } => from.as_deref(),
        Classification::Bounce { .. } => None,
    }
}

/// Whether one more automatic answer to `sender` fits today's budget
/// (and counts it).
pub(crate) fn answer_allowed(
    tx: &Tx<'_>,
    settings: &Settings,
    sender: &EmailAddr,
    now: Timestamp,
) -> TxResult<bool> {
    let n = tx.bump(&format!("answers:{sender}:{}", now.div_euclid(86_400)))?;
    Ok(n <= settings.mail.max_answers_per_sender_per_day)
}

fn authentication_results(raw: &[u8]) -> Vec<String> {
    mail_parser::MessageParser::default()
        .parse_headers(raw)
        .map(|m| {
            m.header_values("Authentication-Results")
                .filter_map(|v| v.as_text().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Why `from` may not act for anyone, or the contractor it acts for.
fn authorise<'a>(
    settings: &'a Settings,
    raw: &[u8],
    from: &EmailAddr,
) -> Result<&'a Contractor, String> {
    let Some(gc) = settings.contractors.values().find(|c| c.authorises(from)) else {
        return Err(format!(
            "{from} is not an authorised sender of any contractor"
        ));
    };
    if gc.require_authentication {
        let trusted = settings.mail.trusted_authserv_id.as_deref().unwrap_or("");
        if !authenticated(&authentication_results(raw), trusted, from.domain()) {
            return Err(format!(
                "the message from {from} carries no DMARC or aligned DKIM pass from {trusted}"
            ));
        }
    }
    Ok(gc)
}

fn lists(
    store: &Store,
    settings: &Settings,
    raw: &[u8],
    key: &str,
    from: Option<EmailAddr>,
    files: Vec<crate::classify::Attachment>,
    now: Timestamp,
) -> Result<String, IntakeError> {
    let Some(from) = from else {
        let s = "a list without a sender address: ignored".to_owned();
        store.transact(|tx| tx.mark_seen(key, &s))?;
        return Ok(s);
    };
    let gc = match authorise(settings, raw, &from) {
        Ok(gc) => gc,
        Err(why) => return refuse(store, settings, key, &from, &why, now),
    };
    let mut batches = Vec::new();
    for (i, file) in files.into_iter().enumerate() {
        let sub_key = format!("{key}:{i}");
        if store.seen(&sub_key)?.is_some() {
            continue;
        }
        let input = ListInput::Bytes {
            name: file.name.clone(),
            data: Arc::from(file.data),
        };
        let digest = import::digest(&input).map_err(ImportError::Spool)?;
        let sub = Submission {
            contractor: gc.id.clone(),
            input,
            source: format!("email:{}", file.name),
            digest,
            key: Some(sub_key),
            allow_repeat: true,
            report_to: Some(from.clone()),
        };
        let outcome = import::import(store, settings, &sub, now)?;
        let what = match &outcome {
            Outcome::Imported { .. } => "imported",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Duplicate { .. } => "duplicate",
        };
        batches.push(format!(
            "{} {what} as batch {}",
            file.name,
            outcome.batch().id
        ));
    }
    let summary = format!("lists from {from} for {}: {}", gc.id, batches.join(", "));
    store.transact(|tx| tx.mark_seen(key, &summary))?;
    Ok(summary)
}

/// A message beyond the work limits: an authorised sender gets the red
/// report saying why nothing in it was read; anyone else's is recorded.
fn too_complex(
    store: &Store,
    settings: &Settings,
    raw: &[u8],
    key: &str,
    from: Option<EmailAddr>,
    reason: &str,
    now: Timestamp,
) -> Result<String, IntakeError> {
    let what = format!("a message that {reason}");
    let gc = from
        .as_ref()
        .and_then(|f| authorise(settings, raw, f).ok().map(|gc| (f, gc)));
    let Some((from, gc)) = gc else {
        let s = format!("{what}: recorded, not read");
        store.transact(|tx| tx.mark_seen(key, &s))?;
        return Ok(s);
    };
    let why = format!(
        "the message {reason}: nothing in it was read. \
         Send the list on its own, as CSV or .xlsx, attached to a new message"
    );
    let batch = reject_message(store, settings, gc, from, key, &why, now)?;
    Ok(format!(
        "{what} from {from} for {}: rejected as batch {batch}, not read",
        gc.id
    ))
}

/// Commands from a contractor's authorised sender; anyone else's are
/// recorded (and refused once a day, as for lists).
fn command(
    store: &Store,
    settings: &Settings,
    raw: &[u8],
    key: &str,
    from: Option<EmailAddr>,
    lines: &[String],
    now: Timestamp,
) -> Result<String, IntakeError> {
    let Some(from) = from else {
        let s = "commands without a sender address: ignored".to_owned();
        store.transact(|tx| tx.mark_seen(key, &s))?;
        return Ok(s);
    };
    match authorise(settings, raw, &from) {
        Ok(gc) => {
            let commands = crate::classify::command::from_lines(lines);
            Ok(crate::commands::execute(
                store, settings, gc, &from, &commands, key, now,
            )?)
        }
        Err(why) => refuse(store, settings, key, &from, &why, now),
    }
}

/// Records a refused message and answers it at most once a day.
fn refuse(
    store: &Store,
    settings: &Settings,
    key: &str,
    from: &EmailAddr,
    why: &str,
    now: Timestamp,
) -> Result<String, IntakeError> {
    tracing::warn!(%from, reason = %why, "refused");
    let summary = format!("refused: {why}");
    store.transact(|tx| {
        let day = now.div_euclid(86_400);
        let first_today = tx.bump(&format!("refused:{from}:{day}"))? == 1;
        if first_today && answer_allowed(tx, settings, from, now)? {
            tx.enqueue(OutboxEntry {
                detail: "Your message was not processed: this address may not act for a contractor. \
                         If you believe it should, ask the contractor to add it to its authorised senders."
                    .to_owned(),
                ..OutboxEntry::new(MessageKind::SenderRefused, "", from.clone(), None, now)
            })?;
        }
        tx.mark_seen(key, &summary)
    })?;
    Ok(summary)
}

fn reply(
    store: &Store,
    settings: &Settings,
    key: &str,
    from: Option<EmailAddr>,
    token: Option<String>,
    intent: Intent,
    now: Timestamp,
) -> Result<String, IntakeError> {
    let Some(token) = token.and_then(|t| Token::parse(&t).ok()) else {
        return Ok("a reply without a valid token: recorded".to_owned());
    };
    let Some(conn) = store.connection_by_token(&token)? else {
        return Ok(format!(
            "a reply naming unknown token {}: recorded",
            token.short_ref()
        ));
    };
    if conn.token != token {
        return Ok(format!(
            "a reply to a replaced invite ({}): recorded",
            conn.email
        ));
    }
    let Some(gc) = settings.contractor(&conn.contractor) else {
        return Ok(format!(
            "a reply for unknown contractor {}: recorded",
            conn.contractor
        ));
    };
    let fresh = effects::new_token().map_err(|e| IntakeError::Random(e.to_string()))?;
    let event = match intent {
        Intent::Accept => Event::ReplyAccepted,
        Intent::Decline => Event::ReplyDeclined,
        Intent::Unclear => {
            let summary = store.transact(|tx| {
                let asked = tx.bump(&format!("asked:{token}"))? > 1;
                let to = from.clone().unwrap_or_else(|| conn.email.clone());
                let s = if conn.status() != Status::Pending {
                    format!(
                        "an unclear reply from {to} about {} ({}): recorded",
                        conn.email,
                        conn.status()
                    )
                } else if asked || !answer_allowed(tx, settings, &to, now)? {
                    format!(
                        "an unclear reply from {to} about {}: already asked once, recorded",
                        conn.email
                    )
                } else {
                    effects::enqueue(
                        tx,
                        &conn,
                        MessageKind::AskYesNo,
                        to.clone(),
                        Some(token.clone()),
                        String::new(),
                        now,
                    )?;
                    format!(
                        "an unclear reply from {to} about {}: asked yes or no",
                        conn.email
                    )
                };
                tx.mark_seen(key, &s)?;
                Ok(s)
            })?;
            return Ok(summary);
        }
    };
    let origin = Origin::Email(key.to_owned());
    let summary = store.transact(|tx| {
        let Some(mut cur) = tx.connection(&conn.contractor, &conn.email)? else {
            return Ok("the connection vanished: recorded".to_owned());
        };
        if cur.token != token {
            return Ok(format!(
                "a reply to a replaced invite ({}): recorded",
                cur.email
            ));
        }
        let s = match effects::apply(tx, gc, &mut cur, event, origin.clone(), now, &fresh, "")? {
            Ok(t) => format!(
                "{} {} for {}: now {}",
                cur.email,
                if event == Event::ReplyAccepted {
                    "accepted"
                } else {
                    "declined"
                },
                gc.id,
                t.to.status
            ),
            Err(keep) => format!(
                "a reply about {} changes nothing ({keep}): recorded",
                cur.email
            ),
        };
        tx.mark_seen(key, &s)?;
        Ok(s)
    })?;
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
fn bounce(
    store: &Store,
    settings: &Settings,
    key: &str,
    token: Option<String>,
    permanent: bool,
    recipients: &[String],
    status: Option<&str>,
    now: Timestamp,
) -> Result<String, IntakeError> {
    let status = status.unwrap_or("?");
    if !permanent {
        return Ok(format!(
            "a delay warning ({status}) for {}: recorded",
            recipients.join(", ")
        ));
    }
    let Some(token) = token.and_then(|t| Token::parse(&t).ok()) else {
        return Ok(format!(
            "a bounce ({status}) for {} naming no invite: recorded",
            recipients.join(", ")
        ));
    };
    let Some(conn) = store.connection_by_token(&token)? else {
        return Ok(format!(
            "a bounce naming unknown token {}: recorded",
            token.short_ref()
        ));
    };
    let Some(gc) = settings.contractor(&conn.contractor) else {
        return Ok(format!(
            "a bounce for unknown contractor {}: recorded",
            conn.contractor
        ));
    };
    let fresh = effects::new_token().map_err(|e| IntakeError::Random(e.to_string()))?;
    let summary = store.transact(|tx| {
        let Some(mut cur) = tx.connection(&conn.contractor, &conn.email)? else {
            return Ok("the connection vanished: recorded".to_owned());
        };
        if cur.token != token {
            return Ok(format!(
                "a bounce of a replaced invite ({}): recorded",
                cur.email
            ));
        }
        let s = match effects::apply(
            tx,
            gc,
            &mut cur,
            Event::Bounced,
            Origin::Email(key.to_owned()),
            now,
            &fresh,
            "",
        )? {
            Ok(_) => format!("{} bounced ({status}): contractor told", cur.email),
            Err(keep) => format!(
                "a bounce about {} changes nothing ({keep}): recorded",
                cur.email
            ),
        };
        tx.mark_seen(key, &s)?;
        Ok(s)
    })?;
    Ok(summary)
}
