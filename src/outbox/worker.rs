//! The sender task: takes due entries from the queue, composes and sends
//! them (several in flight, within the configured rate limits), and records
//! each result. It checks for shutdown only before starting a message, never
//! between "the transport accepted it" and "marked sent", so delivery is
//! at-least-once with a Message-ID stable across retries. A permanent
//! rejection of an invite marks its connection bounced and tells the
//! contractor, in the same transaction that marks the message failed.

use super::compose::{compose, Context};
use super::templates::Templates;
use super::transport::{SendError, Transport};
use crate::clock;
use crate::config::{Contractor, Settings};
use crate::core::connection::{Event, Status};
use crate::effects;
use crate::model::{Delivery, MessageKind, Origin, OutboxEntry, Timestamp};
use crate::store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Longest wait between looks at the queue when nothing wakes the worker.
const IDLE_POLL: Duration = Duration::from_secs(5);
/// How long to wait after the store failed before asking it again.
const STORE_RETRY: Duration = Duration::from_secs(1);
/// Longest retry delay.
const MAX_BACKOFF_SECS: u64 = 3600;

/// What happened to one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    Retry,
    Failed,
    Skipped,
    /// Over its contractor's rate limit: due again later.
    Postponed,
}

/// The sender: transport, settings and the rate limiters.
pub struct Sender {
    store: Store,
    settings: Arc<Settings>,
    transport: Transport,
    templates: Templates,
    limits: Mutex<Limits>,
}

/// Global pacing and per-contractor windows.
struct Limits {
    next_slot: Instant,
    windows: HashMap<String, (Timestamp, u32)>,
}

impl Sender {
    pub fn new(
        store: Store,
        settings: Arc<Settings>,
        transport: Transport,
        templates: Templates,
    ) -> Sender {
        Sender {
            store,
            settings,
            transport,
            templates,
            limits: Mutex::new(Limits {
                next_slot: Instant::now(),
                windows: HashMap::new(),
            }),
        }
    }

    /// Drains the outbox until `cancel` fires. `wake` is notified by
    /// whoever commits new entries.
    pub async fn run(self: Arc<Self>, wake: Arc<Notify>, cancel: CancellationToken) {
        loop {
            if cancel.is_cancelled() {
                break;
            }
            let now = clock::now();
            let due = match self.store.due(now, self.settings.outbox.batch) {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox queue");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(STORE_RETRY) => {}
                    }
                    continue;
                }
            };
            if due.is_empty() {
                let wait = match self.store.next_due() {
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
            self.send_all(due, &cancel).await;
        }
        tracing::info!("outbox sender stopped");
    }

    /// Sends everything due now, once (for the CLI and tests); returns how
    /// many entries were handled.
    pub async fn drain_once(self: &Arc<Self>) -> usize {
        let never = CancellationToken::new();
        let mut n = 0;
        loop {
            let due = match self.store.due(clock::now(), self.settings.outbox.batch) {
                Ok(d) if !d.is_empty() => d,
                _ => return n,
            };
            n += due.len();
            self.send_all(due, &never).await;
        }
    }

    /// Sends `due` with up to `outbox.concurrency` messages in flight, each
    /// on its own task so both the composing and the sockets use every core.
    /// Waits for all of them: a message in flight is always recorded.
    async fn send_all(self: &Arc<Self>, due: Vec<OutboxEntry>, cancel: &CancellationToken) {
        let limit = self.settings.outbox.concurrency;
        let mut tasks = tokio::task::JoinSet::new();
        let mut done: Vec<Tried> = Vec::with_capacity(limit);
        let mut due = due.into_iter();
        loop {
            while tasks.len() < limit && !cancel.is_cancelled() {
                let Some(entry) = due.next() else { break };
                let me = Arc::clone(self);
                // Boxed: the attempt's state is large, and a task's future
                // is moved several times on its way to a worker thread.
                tasks.spawn(async move { Box::pin(me.attempt(entry)).await });
            }
            let Some(joined) = tasks.join_next().await else {
                break;
            };
            match joined {
                Ok(Ok(Attempt::Tried(t))) => done.push(*t),
                Ok(Ok(Attempt::Done(_))) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "outbox bookkeeping failed"),
                Err(e) => tracing::error!(error = %e, "a delivery task failed"),
            }
            // Group commit: at most `limit` messages are sent but unrecorded.
            if done.len() >= limit || tasks.is_empty() {
                if let Err(e) = self.record(&done) {
                    tracing::error!(error = %e, "cannot record deliveries; they will be sent again");
                }
                done.clear();
            }
        }
    }

    /// Waits for a global send slot; says whether the contractor is within
    /// its per-minute budget (and counts the message if so).
    async fn admit(&self, contractor: &str, now: Timestamp) -> Result<(), Timestamp> {
        let o = &self.settings.outbox;
        let slot = {
            let mut l = self.limits.lock().unwrap_or_else(|p| p.into_inner());
            if o.per_contractor_per_minute > 0 {
                let w = l.windows.entry(contractor.to_owned()).or_insert((now, 0));
                if now >= w.0 + 60 {
                    *w = (now, 0);
                }
                if w.1 >= o.per_contractor_per_minute {
                    return Err(w.0 + 60);
                }
                w.1 += 1;
            }
            if o.per_second > 0 {
                let at = l.next_slot.max(Instant::now());
                l.next_slot = at + Duration::from_secs_f64(1.0 / f64::from(o.per_second));
                Some(at)
            } else {
                None
            }
        };
        if let Some(at) = slot {
            tokio::time::sleep_until(at).await;
        }
        Ok(())
    }

    /// Delivers one entry and records the outcome.
    /// Delivers one entry and records the outcome.
    pub async fn deliver(&self, entry: OutboxEntry) -> Result<Sent, StoreError> {
        match self.attempt(entry).await? {
            Attempt::Done(sent) => Ok(sent),
            Attempt::Tried(tried) => Ok(self
                .record(std::slice::from_ref(&*tried))?
                .pop()
                .unwrap_or(Sent::Skipped)),
        }
    }

    /// Tries to send one entry; the result is recorded by [`Sender::record`].
    async fn attempt(&self, entry: OutboxEntry) -> Result<Attempt, StoreError> {
        let (store, settings) = (&self.store, &*self.settings);
        let now = clock::now();
        // A refusal speaks for the product, not for a contractor.
        let product;
        let contractor = match settings.contractor(&entry.contractor) {
            Some(c) => c,
            None if entry.kind == MessageKind::SenderRefused => {
                product = Contractor {
                    id: String::new(),
                    name: settings.mail.from_name.clone(),
                    senders: Vec::new(),
                    notify: entry.to.clone(),
                    aliases: Default::default(),
                    require_authentication: false,
                    reminders: Default::default(),
                };
                &product
            }
            None => {
                let why = SendError::Permanent(format!("unknown contractor {}", entry.contractor));
                return Ok(Attempt::Tried(Box::new(Tried {
                    entry,
                    at: now,
                    result: Err(why),
                })));
            }
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
                return self
                    .mark(&entry, Delivery::Skipped { at: now }, None, Sent::Skipped)
                    .map(Attempt::Done);
            }
        }
        if let Err(until) = self.admit(&entry.contractor, now).await {
            return self.postpone(&entry, until).map(Attempt::Done);
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
            templates: &self.templates,
        };
        let result = match compose(&entry, &ctx, now) {
            Ok(message) => {
                let sent = self
                    .transport
                    .send(message.envelope(), &message.formatted())
                    .await;
                if sent.is_ok() {
                    crate::crash::point("outbox.sent");
                }
                sent
            }
            Err(e) => Err(SendError::Permanent(e.to_string())),
        };
        Ok(Attempt::Tried(Box::new(Tried {
            entry,
            at: clock::now(),
            result,
        })))
    }

    fn mark(
        &self,
        entry: &OutboxEntry,
        delivery: Delivery,
        error: Option<String>,
        outcome: Sent,
    ) -> Result<Sent, StoreError> {
        self.store.transact(|tx| {
            if let Some(cur) = tx.outbox_entry(entry)? {
                let mut next = cur.clone();
                next.delivery = delivery;
                next.last_error = error;
                tx.update_outbox(&cur, &next)?;
            }
            Ok(())
        })?;
        if outcome == Sent::Skipped {
            tracing::info!(
                id = entry.id,
                "skipped: the invitation is no longer pending with this token"
            );
        }
        Ok(outcome)
    }

    fn postpone(&self, entry: &OutboxEntry, until: Timestamp) -> Result<Sent, StoreError> {
        self.store.transact(|tx| {
            if let Some(cur) = tx.outbox_entry(entry)? {
                let mut next = cur.clone();
                next.due_at = until;
                tx.update_outbox(&cur, &next)?;
            }
            Ok(())
        })?;
        Ok(Sent::Postponed)
    }

    /// Records the results of several attempts in one transaction (group
    /// commit: one store write for many messages).
    fn record(&self, tried: &[Tried]) -> Result<Vec<Sent>, StoreError> {
        let settings = &*self.settings;
        let fresh = effects::new_token().map_err(|e| StoreError::Aborted(e.to_string()))?;
        let outcomes = self.store.transact(|tx| {
            let mut outcomes = Vec::with_capacity(tried.len());
            for Tried {
                entry,
                at: now,
                result,
            } in tried
            {
                let now = *now;
                let Some(seen) = tx.outbox_entry(entry)? else {
                    outcomes.push(Sent::Skipped);
                    continue;
                };
                let mut cur = seen.clone();
                cur.attempts += 1;
                let outcome = match result {
                    Ok(()) => {
                        cur.delivery = Delivery::Sent { at: now };
                        cur.last_error = None;
                        Sent::Sent
                    }
                    Err(SendError::Transient(why))
                        if cur.attempts < settings.outbox.max_attempts =>
                    {
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
                // A permanent rejection of an invite: the connection bounced.
                let invite = matches!(
                    cur.kind,
                    MessageKind::InviteNew | MessageKind::InviteKnown | MessageKind::Reminder
                );
                if let (true, Err(SendError::Permanent(_)), Some(about), Some(gc)) = (
                    invite,
                    result,
                    &cur.about,
                    settings.contractor(&cur.contractor),
                ) {
                    if let Some(mut conn) = tx.connection(&cur.contractor, about)? {
                        if Some(&conn.token) == cur.token.as_ref() {
                            let _ = effects::apply(
                                tx,
                                gc,
                                &mut conn,
                                Event::Bounced,
                                Origin::Delivery,
                                now,
                                &fresh,
                                "bounced",
                            )?;
                        }
                    }
                }
                tx.update_outbox(&seen, &cur)?;
                outcomes.push(outcome);
            }
            Ok(outcomes)
        })?;
        // On disk before the next group goes out: a crash re-sends at most
        // the messages in flight.
        self.store.flush()?;
        crate::crash::point("outbox.recorded");
        for (Tried { entry, result, .. }, outcome) in tried.iter().zip(&outcomes) {
            match (outcome, result) {
                (Sent::Sent, _) => {
                    tracing::info!(id = entry.id, to = %entry.to, kind = ?entry.kind, "sent")
                }
                (_, Err(e)) => {
                    tracing::warn!(id = entry.id, to = %entry.to, error = %e, outcome = ?outcome, "not sent")
                }
                _ => {}
            }
        }
        Ok(outcomes)
    }
}

/// A message the transport was given, and what it said.
pub struct Tried {
    entry: OutboxEntry,
    at: Timestamp,
    result: Result<(), SendError>,
}

/// The outcome of [`Sender::attempt`].
enum Attempt {
    /// Already recorded (skipped or postponed).
    Done(Sent),
    /// Sent or failed: to record.
    Tried(Box<Tried>),
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
