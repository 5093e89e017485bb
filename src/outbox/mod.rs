//! The outbox: emails written in the same transaction as the change that
//! caused them, drained by [`worker::run`] through a [`transport::Transport`].
//! Also the queue operations the CLI offers (`outbox list|retry`).

pub mod compose;
pub mod smtp;
pub mod templates;
pub mod transport;
pub mod worker;

use crate::model::{Delivery, OutboxEntry, Timestamp};
use crate::store::{Store, StoreError};

/// Puts the named entries (or, with `all`, every failed one) back in the
/// queue, due now. Returns how many were requeued.
pub fn retry(store: &Store, ids: &[u64], all: bool, now: Timestamp) -> Result<usize, StoreError> {
    let targets: Vec<OutboxEntry> = if all {
        store
            .outbox_entries()?
            .into_iter()
            .filter(|e| matches!(e.delivery, Delivery::Failed { .. }))
            .collect()
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
            return Err(StoreError::Aborted(format!(
                "outbox message {} was already sent",
                e.id
            )));
        }
        store.transact(|tx| {
            let Some(seen) = tx.outbox_entry(&e)? else {
                return Ok(());
            };
            let mut cur = seen.clone();
            cur.delivery = Delivery::Queued;
            cur.due_at = now;
            cur.attempts = 0;
            tx.update_outbox(&seen, &cur)
        })?;
        n += 1;
    }
    Ok(n)
}
