//! Carrying out a transition of the state machine inside a store
//! transaction: the new standing, the history line, a fresh token, and every
//! email the transition sends, all in the same batch (DESIGN §8.3).

use crate::config::Contractor;
use crate::core::connection::{decide, Effect, Event, Keep, Transition};
use crate::core::email::EmailAddr;
use crate::core::token::Token;
use crate::model::{Connection, HistoryEntry, MessageKind, Origin, OutboxEntry, Timestamp};
use crate::store::{Tx, TxResult};

/// Applies `event` to `conn` and writes the result. `fresh` is the token to
/// issue if the transition mints one; `note` is shown in confirmations.
/// Returns the transition, or why nothing changed (then nothing is written).
#[allow(clippy::too_many_arguments)]
pub fn apply(
    tx: &Tx<'_>,
    gc: &Contractor,
    conn: &mut Connection,
    event: Event,
    origin: Origin,
    now: Timestamp,
    fresh: &Token,
    note: &str,
) -> TxResult<Result<Transition, Keep>> {
    let from = conn.standing;
    let t = match decide(Some(from), event) {
        Ok(t) => t,
        Err(keep) => return Ok(Err(keep)),
    };
    conn.standing = t.to;
    conn.history.push(HistoryEntry {
        at: now,
        event,
        from: Some(from.status),
        to: t.to.status,
        origin,
    });
    for effect in t.effects {
        match effect {
            Effect::IssueToken => {
                conn.token = fresh.clone();
                conn.invited_at = now;
                conn.reminders_sent = 0;
                conn.next_reminder_at = None;
            }
            Effect::SendInvite => {
                let kind = if tx.account(&conn.email)?.is_some() {
                    MessageKind::InviteKnown
                } else {
                    MessageKind::InviteNew
                };
                enqueue(
                    tx,
                    conn,
                    kind,
                    conn.email.clone(),
                    Some(conn.token.clone()),
                    String::new(),
                    now,
                )?;
            }
            Effect::SendReminder => {
                conn.reminders_sent += 1;
                enqueue(
                    tx,
                    conn,
                    MessageKind::Reminder,
                    conn.email.clone(),
                    Some(conn.token.clone()),
                    String::new(),
                    now,
                )?;
            }
            Effect::AckSubcontractor => {
                let answer = match event {
                    Event::ReplyAccepted => "accepted",
                    _ => "declined",
                };
                enqueue(
                    tx,
                    conn,
                    MessageKind::AckSubcontractor,
                    conn.email.clone(),
                    None,
                    answer.into(),
                    now,
                )?;
            }
            Effect::NotifyContractor => {
                enqueue(
                    tx,
                    conn,
                    MessageKind::ContractorNotice,
                    gc.notify.clone(),
                    None,
                    t.to.status.to_string(),
                    now,
                )?;
            }
            Effect::ConfirmToContractor => {
                let detail = format!(
                    "{} <{}> {note}: now {}",
                    conn.company, conn.email, t.to.status
                );
                enqueue(
                    tx,
                    conn,
                    MessageKind::ActionConfirmation,
                    gc.notify.clone(),
                    None,
                    detail,
                    now,
                )?;
            }
        }
    }
    // Only pending invites are reminded: the cadence starts with the invite
    // (or on return to pending) and stops in any other state.
    if t.to.status != crate::core::connection::Status::Pending {
        conn.next_reminder_at = None;
    } else if conn.next_reminder_at.is_none() || t.effects.contains(&Effect::IssueToken) {
        conn.next_reminder_at = Some(gc.reminders.first_look(now));
    }
    tx.put_connection(conn)?;
    Ok(Ok(t))
}

/// Queues an email about `conn`, due now.
pub fn enqueue(
    tx: &Tx<'_>,
    conn: &Connection,
    kind: MessageKind,
    to: EmailAddr,
    token: Option<Token>,
    detail: String,
    now: Timestamp,
) -> TxResult<u64> {
    tx.enqueue(OutboxEntry {
        token,
        detail,
        ..OutboxEntry::new(kind, &conn.contractor, to, Some(conn.email.clone()), now)
    })
}

/// 16 random bytes as a token (the one place tokens are minted).
pub fn new_token() -> Result<Token, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(Token::from_bytes(bytes))
}
