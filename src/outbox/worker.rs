//! The sender task: takes due entries from the queue, composes and sends
//! them, and records the result. It checks for shutdown only between
//! messages, never between "the transport accepted it" and "marked sent", so
//! delivery is at-least-once with a Message-ID stable across retries.

use super::compose::{compose, ComposeError, Context};
use super::transport::{SendError, Transport};
use crate::clock;
use crate::config::Settings;
use crate::core::connection::Status;
use crate::model::{Delivery, MessageKind, OutboxEntry, Timestamp};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest wait between looks at the queue when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// Longest retry delay.
const MAX_BACKOFF_SECS: u64 = 3600;

/// What happened to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    Retry,
    Failed,
    Skipped,
}

/// Drains the outbox until `cancel` fires. `wake` is notified by whoever
/// commits new entries.
pub async fn run(
    store: Store,
    settings: Arc<Settings>,
    transport: Transport,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    loop {
        if cancel.is_cancelled() {
            break;
        }
        let now = clock::now();
        let due = match store.due(now, settings.outbox.batch) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox queue");
                Vec::new()
            }
        };
        if due.is_empty() {
            let wait = match store.next_due() {
                Ok(Some(t)) => {
                    Duration::from_secs((t - now).clamp(0, IDLE_POLL.as_secs() as i64) as u64)
                }
                _ => IDLE_POLL,
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = wake.notified() => {}
                _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {}
            }
            continue;
        }
        for entry in due {
            if cancel.is_cancelled() {
                break;
            }
            if let Err(e) = deliver(&store, &settings, &transport, entry, clock::now()).await {
                tracing::error!(error = %e, "outbox bookkeeping failed");
            }
        }
    }
    tracing::info!("outbox worker stopped");
}

/// Sends everything due now, once, and returns how many were handled (for
/// the CLI and tests).
pub async fn drain_once(
    store: &Store,
    settings: &Settings,
    transport: &Transport,
) -> Result<usize, StoreError> {
    let mut n = 0;
    loop {
        let due = store.due(clock::now(), settings.outbox.batch)?;
        if due.is_empty() {
            return Ok(n);
        }
        for entry in due {
            deliver(store, settings, transport, entry, clock::now()).await?;
            n += 1;
        }
    }
}

/// Delivers one entry and records the outcome.
pub async fn deliver(
    store: &Store,
    settings: &Settings,
    transport: &Transport,
    entry: OutboxEntry,
    now: Timestamp,
) -> Result<Sent, StoreError> {
    let span = tracing::info_span!("outbox", id = entry.id, kind = ?entry.kind);
    let _enter = span.enter();
    let Some(contractor) = settings.contractor(&entry.contractor) else {
        return finish(
            store,
            &entry,
            now,
            Err(SendError::Permanent(format!(
                "unknown contractor {}",
                entry.contractor
            ))),
            settings,
        );
    };
    let connection = match &entry.about {
        Some(a) => store.connection(&entry.contractor, a)?,
        None => None,
    };
    if matches!(
        entry.kind,
        MessageKind::InviteNew | MessageKind::InviteKnown | MessageKind::Reminder
    ) {
        let live = connection.as_ref().is_some_and(|c| {
            c.status() == Status::Pending && Some(&c.token) == entry.token.as_ref()
        });
        if !live {
            return skip(store, &entry, now);
        }
    }
    let batch = match &entry.kind {
        MessageKind::ImportReport { batch } => store.batch(*batch)?,
        _ => None,
    };
    let ctx = Context {
        mail: &settings.mail,
        contractor,
        connection: connection.as_ref(),
        batch: batch.as_ref(),
    };
    let result = match compose(&entry, &ctx, now) {
        Ok(message) => transport.send(message.envelope(), &message.formatted()).await,
        Err(
            e @ (ComposeError::Address(..) | ComposeError::Build(_) | ComposeError::Missing(_)),
        ) => Err(SendError::Permanent(e.to_string())),
    };
    finish(store, &entry, now, result, settings)
}

fn skip(store: &Store, entry: &OutboxEntry, now: Timestamp) -> Result<Sent, StoreError> {
    tracing::info!("skipped: the invitation is no longer pending with this token");
    store.transact(|tx| {
        if let Some(cur) = tx.outbox_entry(entry)? {
            let mut next = cur.clone();
            next.delivery = Delivery::Skipped { at: now };
            tx.update_outbox(&cur, &next)?;
        }
        Ok(())
    })?;
    Ok(Sent::Skipped)
}

/// Exponential backoff with jitter: base * 2^(attempt-1), capped, +-20%.
pub fn backoff(base: Duration, attempt: u32, jitter_seed: u64) -> Duration {
    let exp = base
        .as_secs()
        .max(1)
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
    let capped = exp.min(MAX_BACKOFF_SECS);
    let spread = capped / 5;
    let jitter = if spread == 0 {
        0
    } else {
        jitter_seed % (2 * spread + 1)
    };
    Duration::from_secs(capped - spread + jitter)
}

fn finish(
    store: &Store,
    entry: &OutboxEntry,
    now: Timestamp,
    result: Result<(), SendError>,
    settings: &Settings,
) -> Result<Sent, StoreError> {
    let outcome = store.transact(|tx| {
        let Some(seen) = tx.outbox_entry(entry)? else {
            return Ok(Sent::Skipped);
        };
        let mut cur = seen.clone();
        cur.attempts += 1;
        let outcome = match &result {
            Ok(()) => {
                cur.delivery = Delivery::Sent { at: now };
                cur.last_error = None;
                Sent::Sent
            }
            Err(SendError::Transient(why)) if cur.attempts < settings.outbox.max_attempts => {
                let wait = backoff(
                    settings.outbox.retry_base,
                    cur.attempts,
                    entry.id ^ now as u64,
                );
                cur.due_at = now + wait.as_secs() as Timestamp;
                cur.last_error = Some(why.clone());
                Sent::Retry
            }
            Err(e) => {
                cur.delivery = Delivery::Failed { at: now };
                cur.last_error = Some(e.to_string());
                Sent::Failed
            }
        };
        tx.update_outbox(&seen, &cur)?;
        Ok(outcome)
    })?;
    match (&outcome, &result) {
        (Sent::Sent, _) => tracing::info!(to = %entry.to, "sent"),
        (_, Err(e)) => tracing::warn!(to = %entry.to, error = %e, outcome = ?outcome, "not sent"),
        _ => {}
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        let first = backoff(base, 1, 0).as_secs();
        assert!((24..=36).contains(&first), "{first}");
        let third = backoff(base, 3, 7).as_secs();
        assert!((96..=144).contains(&third), "{third}");
        assert!(backoff(base, 30, 99).as_secs() <= MAX_BACKOFF_SECS + MAX_BACKOFF_SECS / 5);
    }
}
