//! A contractor's (or an administrator's) requests on one connection:
//! deactivate, activate, delete, re-invite. Each is decided by the core state
//! machine and committed with its emails in one transaction.

use crate::config::Settings;
use crate::core::connection::{Event, Keep};
use crate::core::email::EmailAddr;
use crate::effects;
use crate::model::{Connection, Origin, Timestamp};
use crate::store::{Store, StoreError};

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
    let fresh = effects::new_token().map_err(|e| ActionError::Random(e.to_string()))?;
    let result = store.transact(|tx| {
        let Some(mut conn) = tx.connection(contractor, email)? else {
            return Ok(Err(Keep::Unknown));
        };
        Ok(effects::apply(
            tx,
            gc,
            &mut conn,
            action.event(),
            origin,
            now,
            &fresh,
            action.verb(),
        )?
        .map(|_| conn))
    })?;
    result.map_err(|reason| ActionError::Refused {
        email: email.clone(),
        reason,
    })
}
