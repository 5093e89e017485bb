//! Carrying out the email commands of a contractor's authorised sender
//! (DESIGN §1): each command in order, then ONE answer listing every line's
//! result, queued in the same transaction that marks the mail handled.
//!
//! Actions on a connection (INACTIVE, ACTIVATE, DELETE, REINVITE) go through
//! [`crate::actions::act`], which commits each with its confirmation; a
//! refusal is an answer line, never an error, and the next command still
//! runs. Each action's result is recorded under a sub-key of the mail, so a
//! crash before the answer is queued never carries an action out twice.
//!
//! It must never decide who may act for a contractor (the caller has
//! authorised `from`) and never answers beyond a daily budget per sender,
//! so that a mail loop cannot run away: [`MAX_REPLIES_PER_DAY`] for mails
//! with a command, the general `mail.max-answers-per-sender-per-day` for
//! mails without any.

use crate::actions::{act, Action, ActionError};
use crate::classify::command::Command;
use crate::clock::rfc3339;
use crate::config::{Contractor, Settings};
use crate::core::cell::neutralise;
use crate::core::connection::Status;
use crate::core::email::EmailAddr;
use crate::intake::mail::answer_allowed;
use crate::list::template_csv;
use crate::model::{Attachment, Connection, MessageKind, Origin, OutboxEntry, Timestamp};
use crate::store::{Store, StoreError};

/// Most command answers sent to one sender in a day (the loop guard).
pub const MAX_REPLIES_PER_DAY: u32 = 50;

/// Name of the STATUS attachment.
pub const STATUS_NAME: &str = "status.csv";
/// Name of the TEMPLATE attachment.
pub const TEMPLATE_NAME: &str = "template.csv";
const CSV_TYPE: &str = "text/csv; charset=utf-8";

/// Columns of the STATUS attachment.
pub const STATUS_HEADER: [&str; 5] = [
    "Subcontractor Email Address",
    "Subcontractor Name",
    "Contact Name",
    "Status",
    "Invited",
];

/// The statuses STATUS counts (deleted connections are never listed).
const LISTED: [Status; 6] = Status::LISTED;

/// The answer to HELP, to an unknown or invalid command, and to a mail
/// with no command. Items start with `*` so that the text, if it ever came
/// back, would hold no command line.
pub const HELP: &str = "\
Commands: write one per line, in the message or in its subject.

 * HELP - this list.
 * TEMPLATE - the list template (template.csv): one row per subcontractor;
   send the filled-in file back as an attachment to import it.
 * STATUS - your subcontractors and their status (status.csv).
 * STATUS pending (or active, inactive, declined, expired, bounced) - only
   those in that status.
 * INACTIVE email - stop reminders and notices for that subcontractor.
 * ACTIVATE email - resume an inactive subcontractor where it left off.
 * DELETE email - remove the subcontractor from your list.
 * REINVITE email - send a new invitation (pending, declined, expired or
   bounced invitations).

Upper or lower case both work; \"Hi\" and \"Thanks\" lines are ignored.";

/// What one command did: the line for the answer, a short note for the log.
struct Outcome {
    answer: String,
    note: String,
}

/// Carries out `commands` (parsed from the mail with idempotency key `key`)
/// for `contractor`, then queues one [`MessageKind::CommandReply`] to
/// `from` and marks `key` seen, in one transaction. Returns the summary
/// recorded for the mail. Only a store failure is an error.
pub fn execute(
    store: &Store,
    settings: &Settings,
    contractor: &Contractor,
    from: &EmailAddr,
    commands: &[Command],
    key: &str,
    now: Timestamp,
) -> Result<String, StoreError> {
    if let Some(prev) = store.seen(key)? {
        return Ok(format!("already handled: {prev}"));
    }
    let mut attachment: Option<Attachment> = None;
    let mut sections = Vec::new();
    let mut notes = Vec::new();
    let mut sub_keys = Vec::new();
    let mut help = commands.is_empty();
    let any_command = commands.iter().any(Command::is_well_formed);
    for (i, cmd) in commands.iter().enumerate() {
        let out = match cmd {
            Command::Help => {
                help = true;
                said("the commands are listed below", "help")
            }
            Command::Template => template(commands, &mut attachment),
            Command::Status(filter) => status(store, contractor, *filter, &mut attachment)?,
            Command::Inactive(e)
            | Command::Activate(e)
            | Command::Delete(e)
            | Command::Reinvite(e) => {
                let sub = format!("{key}:{i}");
                let out = action(store, settings, contractor, cmd, e, &sub, key, now)?;
                sub_keys.push(sub);
                out
            }
            Command::Invalid { why, .. } => {
                help = true;
                said(&format!("error: {why}"), "invalid")
            }
            Command::Unknown(line) => {
                help = true;
                said(&format!("unknown command: {line}"), "unknown")
            }
        };
        sections.push(format!("> {cmd}\n  {}", out.answer.replace('\n', "\n  ")));
        notes.push(format!("{cmd} ({})", out.note));
    }
    let mut detail = if commands.is_empty() {
        "No command was found in your message.".to_owned()
    } else {
        format!("Results of your commands:\n\n{}", sections.join("\n\n"))
    };
    if help {
        detail.push_str("\n\n");
        detail.push_str(HELP);
    }
    let what = if notes.is_empty() {
        "no command".to_owned()
    } else {
        notes.join("; ")
    };
    let head = format!("commands from {from} for {}: {what}", contractor.id);
    let summary = store.transact(|tx| {
        let day = now.div_euclid(86_400);
        let n = tx.bump(&format!("command-replies:{from}:{day}"))?;
        // A mail without any real command (an autoresponder's text, a
        // greeting) is answered only within the general per-sender budget:
        // otherwise a responder answering our answer would loop all day.
        let allowed = n <= MAX_REPLIES_PER_DAY
            && (any_command || answer_allowed(tx, settings, from, now)?);
        let summary = if allowed {
            tx.enqueue(OutboxEntry {
                detail: detail.clone(),
                attachment: attachment.clone(),
                ..OutboxEntry::new(
                    MessageKind::CommandReply,
                    &contractor.id,
                    from.clone(),
                    None,
                    now,
                )
            })?;
            format!("{head}; answer queued")
        } else {
            tracing::warn!(%from, limit = MAX_REPLIES_PER_DAY, "command answers over today's limit: not answered");
            format!("{head}; not answered (over today's answers to this sender)")
        };
        for sub in &sub_keys {
            tx.forget(sub)?;
        }
        tx.mark_seen(key, &summary)?;
        Ok(summary)
    })?;
    Ok(summary)
}

fn said(answer: &str, note: &str) -> Outcome {
    Outcome {
        answer: answer.to_owned(),
        note: note.to_owned(),
    }
}

/// TEMPLATE: attached, unless a STATUS list takes the one attachment.
fn template(commands: &[Command], attachment: &mut Option<Attachment>) -> Outcome {
    let status_too = commands.iter().any(|c| matches!(c, Command::Status(_)));
    if status_too {
        return said(
            &format!(
                "not attached: this answer carries {STATUS_NAME}; send TEMPLATE on its own to get {TEMPLATE_NAME}"
            ),
            "not attached",
        );
    }
    if attachment.is_none() {
        *attachment = Some(Attachment {
            filename: TEMPLATE_NAME.to_owned(),
            content_type: CSV_TYPE.to_owned(),
            data: template_csv().as_bytes().to_vec(),
        });
    }
    said(
        &format!(
            "attached: {TEMPLATE_NAME}. Fill in one row per subcontractor and send the file back \
             to this address as an attachment."
        ),
        "attached",
    )
}

/// STATUS [status]: the counts in the answer, the rows in `status.csv`
/// (only the first STATUS of a mail is attached).
fn status(
    store: &Store,
    contractor: &Contractor,
    filter: Option<Status>,
    attachment: &mut Option<Attachment>,
) -> Result<Outcome, StoreError> {
    let mut all = Vec::new();
    for c in store.connections(&contractor.id) {
        let c = c?;
        if c.status() != Status::Deleted {
            all.push(c);
        }
    }
    let counts: Vec<String> = LISTED
        .iter()
        .map(|s| format!("{s} {}", all.iter().filter(|c| c.status() == *s).count()))
        .collect();
    let rows: Vec<&Connection> = all
        .iter()
        .filter(|c| filter.is_none_or(|f| c.status() == f))
        .collect();
    let which = match filter {
        Some(f) => format!("{} of {} subcontractor(s) {f}", rows.len(), all.len()),
        None => format!("{} subcontractor(s)", all.len()),
    };
    let first = !matches!(attachment, Some(a) if a.filename == STATUS_NAME);
    let file = if first {
        *attachment = Some(Attachment {
            filename: STATUS_NAME.to_owned(),
            content_type: CSV_TYPE.to_owned(),
            data: status_csv(&rows)?,
        });
        format!("attached: {STATUS_NAME}")
    } else {
        format!(
            "not attached: one {STATUS_NAME} per answer; send this command on its own to get it"
        )
    };
    Ok(Outcome {
        answer: format!("{which}; {file}.\nAll: {}.", counts.join(", ")),
        note: format!("{} row(s)", rows.len()),
    })
}

/// The STATUS attachment: [`STATUS_HEADER`], then one row per connection,
/// every cell safe to open in a spreadsheet.
pub fn status_csv(rows: &[&Connection]) -> Result<Vec<u8>, StoreError> {
    let fail = |e: csv::Error| StoreError::Aborted(format!("cannot write {STATUS_NAME}: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(STATUS_HEADER).map_err(fail)?;
    for c in rows {
        let invited = rfc3339(c.invited_at);
        w.write_record([
            neutralise(c.email.as_str()).as_ref(),
            &neutralise(&c.company),
            &neutralise(c.contact.as_deref().unwrap_or("")),
            &neutralise(c.status().as_str()),
            &neutralise(&invited),
        ])
        .map_err(fail)?;
    }
    w.into_inner()
        .map_err(|e| StoreError::Aborted(format!("cannot write {STATUS_NAME}: {e}")))
}

/// INACTIVE / ACTIVATE / DELETE / REINVITE through [`act`]. The result is
/// recorded under `sub` first, so a second run after a crash repeats it
/// instead of acting again.
#[allow(clippy::too_many_arguments)]
fn action(
    store: &Store,
    settings: &Settings,
    contractor: &Contractor,
    cmd: &Command,
    email: &str,
    sub: &str,
    key: &str,
    now: Timestamp,
) -> Result<Outcome, StoreError> {
    if let Some(prev) = store.seen(sub)? {
        return Ok(said(&prev, "done before"));
    }
    let act_as = match cmd {
        Command::Inactive(_) => Action::Deactivate,
        Command::Activate(_) => Action::Activate,
        Command::Delete(_) => Action::Delete,
        _ => Action::Reinvite,
    };
    let addr = match EmailAddr::parse(email) {
        Ok(a) => a,
        Err(e) => return Ok(said(&format!("error: {email:?}: {e}"), "invalid")),
    };
    let origin = Origin::Email(key.to_owned());
    let out = match act(store, settings, &contractor.id, &addr, act_as, origin, now) {
        Ok(c) => said(
            &format!(
                "done: {} <{}> {} (now {})",
                c.company,
                c.email,
                act_as.verb(),
                c.status()
            ),
            "done",
        ),
        Err(ActionError::Refused { reason, .. }) => said(&format!("refused: {reason}"), "refused"),
        Err(ActionError::Store(e)) => return Err(e),
        Err(e @ ActionError::UnknownContractor(_)) => said(&format!("error: {e}"), "error"),
        Err(e @ ActionError::Random(_)) => {
            said(&format!("not done: {e}; please send it again"), "failed")
        }
    };
    if out.note == "done" || out.note == "refused" {
        store.transact(|tx| tx.mark_seen(sub, &out.answer))?;
    }
    Ok(out)
}
