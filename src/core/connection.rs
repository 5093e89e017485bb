//! The connection state machine of DESIGN §2 (**contract**): given where a
//! connection stands and what happened, decide where it goes and what must be
//! sent. Pure: no store, no clock, no randomness; the shell carries out the
//! effects (a fresh token, the outbox messages) in the same transaction.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a connection stands. The names are the ones shown in lists and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Active,
    Inactive,
    Declined,
    Expired,
    Bounced,
    /// A tombstone: kept for history, never listed.
    Deleted,
}

impl Status {
    /// The statuses shown in lists (a deleted connection is a tombstone).
    pub const LISTED: [Status; 6] = [
        Status::Pending,
        Status::Active,
        Status::Inactive,
        Status::Declined,
        Status::Expired,
        Status::Bounced,
    ];

    pub const ALL: [Status; 7] = [
        Status::Pending,
        Status::Active,
        Status::Inactive,
        Status::Declined,
        Status::Expired,
        Status::Bounced,
        Status::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Active => "active",
            Status::Inactive => "inactive",
            Status::Declined => "declined",
            Status::Expired => "expired",
            Status::Bounced => "bounced",
            Status::Deleted => "deleted",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                format!("unknown status {s:?} (one of pending, active, inactive, declined, expired, bounced, deleted)")
            })
    }
}

/// The part of a connection the state machine looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    pub status: Status,
    /// For `inactive`: the state it left, restored by ACTIVATE.
    pub resume: Option<Status>,
}

impl Standing {
    pub const fn of(status: Status) -> Self {
        Standing {
            status,
            resume: None,
        }
    }
}

/// Something that happened to a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The address is a row of an imported list.
    Listed,
    /// The subcontractor replied yes.
    ReplyAccepted,
    /// The subcontractor replied no.
    ReplyDeclined,
    /// The invite bounced permanently.
    Bounced,
    /// A reminder is due and reminders are left.
    ReminderDue,
    /// The last reminder passed its grace period.
    GraceElapsed,
    /// The contractor asked to mark it inactive.
    DeactivateRequested,
    /// The contractor asked to reactivate it.
    ActivateRequested,
    /// The contractor asked to delete it.
    DeleteRequested,
    /// The contractor asked to invite again.
    ReinviteRequested,
}

/// What the shell must do as part of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Mint a new token and reset reminders (the old token is spent).
    IssueToken,
    /// Queue the invitation (sign-up or confirm kind: the shell knows which).
    SendInvite,
    /// Queue a reminder of the pending invitation.
    SendReminder,
    /// Acknowledge the subcontractor's answer.
    AckSubcontractor,
    /// Tell the contractor what happened (accepted, declined, bounced, expired).
    NotifyContractor,
    /// Confirm the contractor's own request back to them.
    ConfirmToContractor,
}

/// A change of standing and the effects that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub to: Standing,
    pub effects: &'static [Effect],
}

/// Why nothing changes. Imports report it as "unchanged", commands as a
/// refusal, replies record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Keep {
    #[error("already invited, waiting for an answer")]
    AlreadyPending,
    #[error("already connected")]
    AlreadyActive,
    #[error("marked inactive; ACTIVATE it to resume")]
    IsInactive,
    #[error("declined the invitation; REINVITE to ask again")]
    WasDeclined,
    #[error("the invitation expired; REINVITE to ask again")]
    WasExpired,
    #[error("the invitation bounced; check the address, then REINVITE")]
    WasBounced,
    #[error("no such connection (deleted)")]
    IsDeleted,
    #[error("no such connection")]
    Unknown,
    #[error("not waiting for an answer")]
    NotPending,
    #[error("not inactive")]
    NotInactive,
    #[error("already connected; nothing to re-invite")]
    NothingToReinvite,
}

/// The outcome of an event: a transition, or a reason to keep things as
/// they are.
pub type Decision = Result<Transition, Keep>;

use Effect::*;
use Status::*;

const INVITE: &[Effect] = &[IssueToken, SendInvite];
const ANSWERED: &[Effect] = &[AckSubcontractor, NotifyContractor];
const NOTIFY: &[Effect] = &[NotifyContractor];
const CONFIRM: &[Effect] = &[ConfirmToContractor];
const REINVITE: &[Effect] = &[IssueToken, SendInvite, ConfirmToContractor];
const REMIND: &[Effect] = &[SendReminder];

fn to(status: Status, effects: &'static [Effect]) -> Decision {
    Ok(Transition {
        to: Standing::of(status),
        effects,
    })
}

/// Why a row or command leaves a connection in `status` as it is.
fn keep_reason(status: Status) -> Keep {
    match status {
        Pending => Keep::AlreadyPending,
        Active => Keep::AlreadyActive,
        Inactive => Keep::IsInactive,
        Declined => Keep::WasDeclined,
        Expired => Keep::WasExpired,
        Bounced => Keep::WasBounced,
        Deleted => Keep::IsDeleted,
    }
}

/// The DESIGN §2 table. `current` is `None` for a connection that does not
/// exist yet.
pub fn decide(current: Option<Standing>, event: Event) -> Decision {
    let Some(cur) = current else {
        return match event {
            Event::Listed => to(Pending, INVITE),
            _ => Err(Keep::Unknown),
        };
    };
    match (cur.status, event) {
        (Deleted, Event::Listed) => to(Pending, INVITE),
        (Deleted, _) => Err(Keep::IsDeleted),
        (s, Event::Listed) => Err(keep_reason(s)),

        (Pending, Event::ReplyAccepted) => to(Active, ANSWERED),
        (Pending, Event::ReplyDeclined) => to(Declined, ANSWERED),
        (Pending, Event::Bounced) => to(Bounced, NOTIFY),
        (Pending, Event::ReminderDue) => to(Pending, REMIND),
        (Pending, Event::GraceElapsed) => to(Expired, NOTIFY),
        (_, Event::ReplyAccepted | Event::ReplyDeclined | Event::ReminderDue) => {
            Err(Keep::NotPending)
        }
        (_, Event::Bounced | Event::GraceElapsed) => Err(Keep::NotPending),

        (s @ (Pending | Active), Event::DeactivateRequested) => Ok(Transition {
            to: Standing {
                status: Inactive,
                resume: Some(s),
            },
            effects: CONFIRM,
        }),
        (Inactive, Event::DeactivateRequested) => Err(Keep::IsInactive),
        (s, Event::DeactivateRequested) => Err(keep_reason(s)),

        (Inactive, Event::ActivateRequested) => to(cur.resume.unwrap_or(Active), CONFIRM),
        (_, Event::ActivateRequested) => Err(Keep::NotInactive),

        (_, Event::DeleteRequested) => to(Deleted, CONFIRM),

        (Pending | Declined | Expired | Bounced, Event::ReinviteRequested) => to(Pending, REINVITE),
        (Active, Event::ReinviteRequested) => Err(Keep::NothingToReinvite),
        (Inactive, Event::ReinviteRequested) => Err(Keep::IsInactive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: Status) -> Option<Standing> {
        Some(Standing::of(s))
    }
    fn inactive_from(s: Status) -> Option<Standing> {
        Some(Standing {
            status: Inactive,
            resume: Some(s),
        })
    }

    /// Every row of the DESIGN §2 table, one line each.
    #[test]
    fn design_table() {
        use Event as E;
        type Row = (
            Option<Standing>,
            Event,
            Result<(Status, &'static [Effect]), Keep>,
        );
        let rows: Vec<Row> = vec![
            // (none) or deleted + listed -> pending, invite
            (None, E::Listed, Ok((Pending, INVITE))),
            (st(Deleted), E::Listed, Ok((Pending, INVITE))),
            // pending / active / inactive + listed -> unchanged
            (st(Pending), E::Listed, Err(Keep::AlreadyPending)),
            (st(Active), E::Listed, Err(Keep::AlreadyActive)),
            (inactive_from(Active), E::Listed, Err(Keep::IsInactive)),
            // declined / expired / bounced + listed -> unchanged, with how to re-invite
            (st(Declined), E::Listed, Err(Keep::WasDeclined)),
            (st(Expired), E::Listed, Err(Keep::WasExpired)),
            (st(Bounced), E::Listed, Err(Keep::WasBounced)),
            // replies
            (st(Pending), E::ReplyAccepted, Ok((Active, ANSWERED))),
            (st(Pending), E::ReplyDeclined, Ok((Declined, ANSWERED))),
            (st(Pending), E::Bounced, Ok((Bounced, NOTIFY))),
            (st(Pending), E::ReminderDue, Ok((Pending, REMIND))),
            (st(Pending), E::GraceElapsed, Ok((Expired, NOTIFY))),
            // INACTIVE
            (st(Active), E::DeactivateRequested, Ok((Inactive, CONFIRM))),
            (st(Pending), E::DeactivateRequested, Ok((Inactive, CONFIRM))),
            (
                inactive_from(Pending),
                E::DeactivateRequested,
                Err(Keep::IsInactive),
            ),
            (st(Declined), E::DeactivateRequested, Err(Keep::WasDeclined)),
            // ACTIVATE restores what it left
            (
                inactive_from(Active),
                E::ActivateRequested,
                Ok((Active, CONFIRM)),
            ),
            (
                inactive_from(Pending),
                E::ActivateRequested,
                Ok((Pending, CONFIRM)),
            ),
            (st(Active), E::ActivateRequested, Err(Keep::NotInactive)),
            // DELETE from any but deleted
            (st(Pending), E::DeleteRequested, Ok((Deleted, CONFIRM))),
            (st(Active), E::DeleteRequested, Ok((Deleted, CONFIRM))),
            (
                inactive_from(Active),
                E::DeleteRequested,
                Ok((Deleted, CONFIRM)),
            ),
            (st(Declined), E::DeleteRequested, Ok((Deleted, CONFIRM))),
            (st(Expired), E::DeleteRequested, Ok((Deleted, CONFIRM))),
            (st(Bounced), E::DeleteRequested, Ok((Deleted, CONFIRM))),
            (st(Deleted), E::DeleteRequested, Err(Keep::IsDeleted)),
            // REINVITE
            (st(Pending), E::ReinviteRequested, Ok((Pending, REINVITE))),
            (st(Declined), E::ReinviteRequested, Ok((Pending, REINVITE))),
            (st(Expired), E::ReinviteRequested, Ok((Pending, REINVITE))),
            (st(Bounced), E::ReinviteRequested, Ok((Pending, REINVITE))),
            (
                st(Active),
                E::ReinviteRequested,
                Err(Keep::NothingToReinvite),
            ),
            (
                inactive_from(Pending),
                E::ReinviteRequested,
                Err(Keep::IsInactive),
            ),
            (st(Deleted), E::ReinviteRequested, Err(Keep::IsDeleted)),
            (None, E::ReinviteRequested, Err(Keep::Unknown)),
            // inactive and deleted never get reminders; replies change nothing
            (
                inactive_from(Pending),
                E::ReminderDue,
                Err(Keep::NotPending),
            ),
            (st(Deleted), E::ReminderDue, Err(Keep::IsDeleted)),
            (
                inactive_from(Pending),
                E::ReplyAccepted,
                Err(Keep::NotPending),
            ),
            (st(Deleted), E::ReplyAccepted, Err(Keep::IsDeleted)),
            (st(Active), E::ReplyDeclined, Err(Keep::NotPending)),
            (st(Declined), E::Bounced, Err(Keep::NotPending)),
            (st(Active), E::GraceElapsed, Err(Keep::NotPending)),
        ];
        for (i, (from, event, want)) in rows.into_iter().enumerate() {
            let got = decide(from, event).map(|t| (t.to.status, t.effects));
            assert_eq!(got, want, "row {i}: {from:?} + {event:?}");
        }
    }

    #[test]
    fn inactive_remembers_what_it_left() {
        let t = decide(st(Pending), Event::DeactivateRequested).unwrap();
        assert_eq!(t.to.resume, Some(Pending));
        let back = decide(Some(t.to), Event::ActivateRequested).unwrap();
        assert_eq!(back.to, Standing::of(Pending));
    }

    #[test]
    fn every_state_and_event_is_decided_without_panic() {
        let events = [
            Event::Listed,
            Event::ReplyAccepted,
            Event::ReplyDeclined,
            Event::Bounced,
            Event::ReminderDue,
            Event::GraceElapsed,
            Event::DeactivateRequested,
            Event::ActivateRequested,
            Event::DeleteRequested,
            Event::ReinviteRequested,
        ];
        for s in Status::ALL {
            for e in events {
                if let Ok(t) = decide(st(s), e) {
                    // Only INACTIVE produces the inactive state, and it always
                    // remembers where it came from.
                    assert_eq!(t.to.status == Inactive, t.to.resume.is_some());
                }
            }
        }
    }

    #[test]
    fn status_names_round_trip() {
        for s in Status::ALL {
            assert_eq!(s.as_str().parse::<Status>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }
}
