//! The outbox: emails written in the same transaction as the change that
//! caused them, drained by [`worker::run`] through a [`transport::Transport`].
//! Also the queue operations the CLI offers (`outbox list|retry`).

pub mod compose;
pub mod transport;
pub mod worker;

use crate::model::{Delivery, OutboxEntry, Timestamp};
use crate::store::{Store, StoreError};

/// Puts failed (or, with `all`, every unsent) entries back in the queue, due
/// now. Returns how many were requeued.
pub fn retry(store: &Store, ids: &[u64], all: bool, now: Timestamp) -> Result<usize, StoreError> {
    let targets: Vec<OutboxEntry> = if all {
        store
            .outbox_entries()
            .filter(|r| !matches!(r, Ok(e) if matches!(e.delivery, Delivery::Sent { .. } | Delivery::Skipped { .. })))
            .collect::<Result<_, _>>()?
    } else {
        let mut v = Vec::new();
        for id in ids {
            match store.outbox_entry(*id)? {
                Some(e) => v.push(e),
                None => return Err(StoreError::Aborted(format!("no outbox message {id}"))),
            }
        }
        v
    };
    let mut n = 0;
    for e in targets {
        if matches!(e.delivery, Delivery::Sent { .. }) {
            return Err(StoreError::Aborted(format!("outbox message {} was already sent", e.id)));
        }
        store.transact(|tx| {
            let Some(mut cur) = tx.outbox_entry(e.id)? else {
                return Ok(());
            };
            let was_queued = cur.delivery == Delivery::Queued;
            let old_due = cur.due_at;
            cur.delivery = Delivery::Queued;
            cur.due_at = now;
            cur.attempts = 0;
            tx.update_outbox(&cur, old_due, was_queued)
        })?;
        n += 1;
    }
    Ok(n)
}
