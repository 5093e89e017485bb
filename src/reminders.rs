//! The reminder pass: every pending invite whose reminder time has come is
//! reminded, or expires after its last reminder's grace period, per the
//! policy in `core::reminders`. Invites are found through the store's
//! due-time index, never by scanning connections; each reminder, its email
//! and the next due time commit together, so a pass interrupted at any point
//! and run again sends nothing twice. The scheduler task runs a pass at each
//! time of the configured cron expression.

use crate::clock;
use crate::config::Settings;
use crate::core::connection::{Event, Status};
use crate::core::reminders::Due;
use crate::effects;
use crate::model::{Origin, Timestamp};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Connections handled per store transaction.
const PER_TX: usize = 2_000;

/// What a pass did (or, dry, would do).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    pub reminded: Vec<String>,
    pub expired: Vec<String>,
    /// Index entries of connections no longer pending, dropped.
    pub dropped: usize,
}

/// One pass at `now`. With `dry_run`, reports what is due and changes nothing.
pub fn pass(
    store: &Store,
    settings: &Settings,
    now: Timestamp,
    dry_run: bool,
) -> Result<PassReport, StoreError> {
    let mut report = PassReport::default();
    let fresh = effects::new_token().map_err(|e| StoreError::Aborted(e.to_string()))?;
    loop {
        // A dry run writes nothing, so it must see every due entry at once.
        let due = store.reminders_due(now, if dry_run { usize::MAX } else { PER_TX })?;
        if due.is_empty() {
            return Ok(report);
        }
        if dry_run {
            for (contractor, email) in &due {
                let Some(c) = store.connection(contractor, email)? else {
                    continue;
                };
                let policy = settings
                    .contractor(contractor)
                    .map(|g| g.reminders)
                    .unwrap_or_default();
                let line = format!("{contractor} {email}");
                match (c.status(), policy.due(c.reminders_sent, now)) {
                    (Status::Pending, Due::Remind { .. }) => report.reminded.push(line),
                    (Status::Pending, Due::Expire) => report.expired.push(line),
                    _ => report.dropped += 1,
                }
            }
            return Ok(report);
        }
        let step = store.transact(|tx| {
            let mut step = PassReport::default();
            for (contractor, email) in &due {
                let Some(mut conn) = tx.connection(contractor, email)? else {
                    continue;
                };
                let gc = settings.contractor(contractor);
                let (Some(gc), Status::Pending) = (gc, conn.status()) else {
                    conn.next_reminder_at = None;
                    tx.put_connection(&conn)?;
                    step.dropped += 1;
                    continue;
                };
                let line = format!("{contractor} {email}");
                match gc.reminders.due(conn.reminders_sent, now) {
                    Due::Remind { next } => {
                        // Set before the transition, which writes the record
                        // (and moves its index entry) once.
                        conn.next_reminder_at = Some(next);
                        if effects::apply(
                            tx,
                            gc,
                            &mut conn,
                            Event::ReminderDue,
                            Origin::Scheduler,
                            now,
                            &fresh,
                            "",
                        )?
                        .is_ok()
                        {
                            step.reminded.push(line);
                        }
                    }
                    Due::Expire => {
                        if effects::apply(
                            tx,
                            gc,
                            &mut conn,
                            Event::GraceElapsed,
                            Origin::Scheduler,
                            now,
                            &fresh,
                            "",
                        )?
                        .is_ok()
                        {
                            step.expired.push(line);
                        }
                    }
                }
            }
            Ok(step)
        })?;
        // Each step on disk before the next: a pass cut short keeps what it
        // did, and its reminders are not rebuilt under new Message-IDs.
        store.flush()?;
        crate::crash::point("reminders.step");
        let progressed = step.reminded.len() + step.expired.len() + step.dropped;
        report.reminded.extend(step.reminded);
        report.expired.extend(step.expired);
        report.dropped += step.dropped;
        if progressed == 0 {
            // Index entries naming no connection: nothing more this pass can do.
            tracing::warn!(
                entries = due.len(),
                "reminder index entries without a connection"
            );
            return Ok(report);
        }
    }
}

/// Runs a pass at each time of the configured schedule until `cancel`.
pub async fn run(
    store: Store,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let r = &settings.reminders;
    loop {
        let now = chrono::Utc::now().with_timezone(&r.timezone);
        let Some(next) = r.schedule.after(&now).next() else {
            tracing::warn!("the reminder schedule has no next time; reminders stop");
            return;
        };
        let wait = (next.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        tracing::info!(next = %next, "next reminder pass");
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
        let (s, st) = (store.clone(), settings.clone());
        match tokio::task::spawn_blocking(move || pass(&s, &st, clock::now(), false)).await {
            Ok(Ok(rep)) => {
                tracing::info!(
                    reminded = rep.reminded.len(),
                    expired = rep.expired.len(),
                    "reminder pass done"
                );
                wake.notify_one();
            }
            Ok(Err(e)) => tracing::error!(error = %e, "reminder pass failed; the next one goes on"),
            Err(e) => tracing::error!(error = %e, "reminder pass panicked"),
        }
    }
    tracing::info!("scheduler stopped");
}
