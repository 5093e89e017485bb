//! A contractor's (or an administrator's) requests on one connection:
//! deactivate, activate, delete, re-invite. Each is decided by the core state
//! machine and committed with its emails in one transaction.

use crate::config::Settings;
use crate::core::connection::{decide, Effect, Event, Keep};
use crate::core::email::EmailAddr;
use crate::core::token::Token;
use crate::model::{
    Connection, Delivery, HistoryEntry, MessageKind, Origin, OutboxEntry, Timestamp,
};
use crate::store::{Store, StoreError, Tx, TxResult};

/// A request a contractor can make about one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Deactivate,
    Activate,
    Delete,
    Reinvite,
}

impl Action {
    pub fn event(self) -> Event {
        match self {
            Action::Deactivate => Event::DeactivateRequested,
            Action::Activate => Event::ActivateRequested,
            Action::Delete => Event::DeleteRequested,
            Action::Reinvite => Event::ReinviteRequested,
        }
    }

    pub fn verb(self) -> &'static str {
        match self {
            Action::Deactivate => "marked inactive",
            Action::Activate => "reactivated",
            Action::Delete => "deleted",
            Action::Reinvite => "invited again",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("unknown contractor {0:?}")]
    UnknownContractor(String),
    #[error("{email}: {reason}")]
    Refused { email: EmailAddr, reason: Keep },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot draw random bytes for a token: {0}")]
    Random(String),
}

/// Carries out `action` on the connection of `contractor` with `email`.
pub fn act(
    store: &Store,
    settings: &Settings,
    contractor: &str,
    email: &EmailAddr,
    action: Action,
    origin: Origin,
    now: Timestamp,
) -> Result<Connection, ActionError> {
    let gc = settings
        .contractor(contractor)
        .ok_or_else(|| ActionError::UnknownContractor(contractor.to_owned()))?;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| ActionError::Random(e.to_string()))?;
    let fresh = Token::from_bytes(bytes);
    let result = store.transact(|tx| {
        let Some(mut conn) = tx.connection(contractor, email)? else {
            return Ok(Err(Keep::Unknown));
        };
        let from = conn.standing;
        let t = match decide(Some(from), action.event()) {
            Ok(t) => t,
            Err(keep) => return Ok(Err(keep)),
        };
        conn.standing = t.to;
        conn.history.push(HistoryEntry {
            at: now,
            event: action.event(),
            from: Some(from.status),
            to: t.to.status,
            origin: origin.clone(),
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
                    let known = tx.account(email)?.is_some();
                    let kind = if known {
                        MessageKind::InviteKnown
                    } else {
                        MessageKind::InviteNew
                    };
                    enqueue(
                        tx,
                        &conn,
                        kind,
                        email.clone(),
                        Some(conn.token.clone()),
                        String::new(),
                        now,
                    )?;
                }
                Effect::ConfirmToContractor => {
                    let detail = format!(
                        "{} <{}> {}: now {}",
                        conn.company,
                        conn.email,
                        action.verb(),
                        t.to.status
                    );
                    enqueue(
                        tx,
                        &conn,
                        MessageKind::ActionConfirmation,
                        gc.notify.clone(),
                        None,
                        detail,
                        now,
                    )?;
                }
                Effect::SendReminder | Effect::AckSubcontractor | Effect::NotifyContractor => {}
            }
        }
        tx.put_connection(&conn)?;
        Ok(Ok(conn))
    })?;
    result.map_err(|reason| ActionError::Refused {
        email: email.clone(),
        reason,
    })
}

/// Queues an email about `conn`.
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
        id: 0,
        kind,
        contractor: conn.contractor.clone(),
        to,
        about: Some(conn.email.clone()),
        token,
        detail,
        attachment: None,
        created_at: now,
        due_at: now,
        attempts: 0,
        delivery: Delivery::Queued,
        last_error: None,
    })
}
