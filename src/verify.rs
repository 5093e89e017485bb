//! The store's consistency check (`subinvite verify`). Every connection's
//! history must replay through the state table from nothing to its current
//! standing; every state change must have its email in the outbox exactly
//! once (none missing, none doubled); the token and reminder indexes must
//! agree with the records; and no list may be left half-applied. The crash
//! tests run it after every restart.

use crate::core::connection::{decide, Effect, Standing, Status};
use crate::model::{BatchState, Connection, MessageKind, Timestamp};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// What the check found.
#[derive(Debug, Default, Serialize)]
pub struct Verified {
    pub connections: usize,
    pub outbox: usize,
    pub batches: usize,
    /// One line per inconsistency; empty when the store is consistent.
    pub problems: Vec<String>,
}

impl Verified {
    pub fn consistent(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The emails a connection's transitions send, by what they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Sends {
    Invite,
    Reminder,
    Ack,
    Notice,
    Confirmation,
}

impl Sends {
    fn of_effect(e: Effect) -> Option<Sends> {
        match e {
            Effect::IssueToken => None,
            Effect::SendInvite => Some(Sends::Invite),
            Effect::SendReminder => Some(Sends::Reminder),
            Effect::AckSubcontractor => Some(Sends::Ack),
            Effect::NotifyContractor => Some(Sends::Notice),
            Effect::ConfirmToContractor => Some(Sends::Confirmation),
        }
    }

    fn of_kind(k: &MessageKind) -> Option<Sends> {
        match k {
            MessageKind::InviteNew | MessageKind::InviteKnown => Some(Sends::Invite),
            MessageKind::Reminder => Some(Sends::Reminder),
            MessageKind::AckSubcontractor => Some(Sends::Ack),
            MessageKind::ContractorNotice => Some(Sends::Notice),
            MessageKind::ActionConfirmation => Some(Sends::Confirmation),
            _ => None,
        }
    }
}

type Key = (String, String, Sends);

/// Checks the whole store. Reads only.
pub fn verify(store: &Store) -> Result<Verified, StoreError> {
    let mut v = Verified::default();
    let mut queued: HashMap<Key, u32> = HashMap::new();
    for e in store.outbox_entries()? {
        v.outbox += 1;
        if let (Some(about), Some(sends)) = (&e.about, Sends::of_kind(&e.kind)) {
            *queued
                .entry((e.contractor.clone(), about.as_str().to_owned(), sends))
                .or_default() += 1;
        }
    }
    let mut expected: HashMap<Key, u32> = HashMap::new();
    let mut reminders: BTreeSet<(Timestamp, String, String)> = BTreeSet::new();
    for c in store.all_connections() {
        let c = c?;
        v.connections += 1;
        let who = format!("{} {}", c.contractor, c.email);
        replay(&c, &who, &mut expected, &mut v.problems);
        match store.connection_by_token(&c.token)? {
            Some(x) if x.contractor == c.contractor && x.email == c.email => {}
            _ => v
                .problems
                .push(format!("{who}: its token is not indexed to it")),
        }
        if c.status() != Status::Pending && c.next_reminder_at.is_some() {
            v.problems
                .push(format!("{who}: {} but a reminder is scheduled", c.status()));
        }
        if let Some(t) = c.next_reminder_at {
            reminders.insert((t, c.contractor.clone(), c.email.as_str().to_owned()));
        }
    }
    let index: BTreeSet<_> = store.reminder_index()?.into_iter().collect();
    for (t, gc, email) in reminders.difference(&index) {
        v.problems.push(format!(
            "{gc} {email}: reminder at {t} missing from the index"
        ));
    }
    for (t, gc, email) in index.difference(&reminders) {
        v.problems.push(format!(
            "{gc} {email}: index names a reminder at {t} the record does not have"
        ));
    }
    let mut keys: BTreeSet<&Key> = expected.keys().collect();
    keys.extend(queued.keys());
    for k in keys {
        let (want, have) = (
            expected.get(k).copied().unwrap_or(0),
            queued.get(k).copied().unwrap_or(0),
        );
        if want != have {
            v.problems.push(format!(
                "{} {}: its history sends {want} {:?} email(s), the outbox has {have}",
                k.0, k.1, k.2
            ));
        }
    }
    for b in store.batches()? {
        v.batches += 1;
        if let BatchState::Applying { next_row } = b.state {
            v.problems.push(format!(
                "batch {} is applied up to row {next_row} only (it rolls forward at the next start)",
                b.id
            ));
        }
    }
    Ok(v)
}

/// Replays `c.history` through the state table, counting the emails each
/// step sends into `expected`.
fn replay(c: &Connection, who: &str, expected: &mut HashMap<Key, u32>, problems: &mut Vec<String>) {
    let mut standing: Option<Standing> = None;
    for (i, h) in c.history.iter().enumerate() {
        if h.from != standing.map(|s| s.status) {
            problems.push(format!(
                "{who}: history step {i} starts from {:?}, the previous step left {:?}",
                h.from,
                standing.map(|s| s.status)
            ));
        }
        match decide(standing, h.event) {
            Ok(t) if t.to.status == h.to => {
                for sends in t.effects.iter().filter_map(|e| Sends::of_effect(*e)) {
                    *expected
                        .entry((c.contractor.clone(), c.email.as_str().to_owned(), sends))
                        .or_default() += 1;
                }
                standing = Some(t.to);
            }
            other => {
                problems.push(format!(
                    "{who}: history step {i} ({:?}: {:?} -> {}) is not in the state table ({other:?})",
                    h.event, h.from, h.to
                ));
                return;
            }
        }
    }
    if standing != Some(c.standing) {
        problems.push(format!(
            "{who}: history ends at {:?}, the record says {:?}",
            standing, c.standing
        ));
    }
}
