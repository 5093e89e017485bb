//! `subinvite status`: what the daemon has in hand — outbox and quarantine
//! depths, when each source last delivered, the next reminder pass, and the
//! connections of each contractor by status.

use crate::clock;
use crate::config::Settings;
use crate::core::connection::Status;
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct Report {
    pub outbox_queued: usize,
    pub outbox_failed: usize,
    pub quarantined: usize,
    /// Source → when it last delivered an input (RFC 3339).
    pub last_intake: BTreeMap<String, String>,
    /// When the scheduler runs next (RFC 3339, in UTC).
    pub next_reminder_pass: Option<String>,
    /// When the earliest pending reminder falls due.
    pub next_reminder_due: Option<String>,
    /// Contractor → status → count (deleted ones not counted).
    pub connections: BTreeMap<String, BTreeMap<Status, u64>>,
}

pub fn report(store: &Store, settings: &Settings) -> Result<Report, StoreError> {
    let (outbox_queued, outbox_failed) = store.outbox_depths()?;
    let last_intake = store
        .last_seen()?
        .into_iter()
        .map(|(s, t)| (s, clock::rfc3339(t)))
        .collect();
    let r = &settings.reminders;
    let now = chrono::DateTime::from_timestamp(clock::now(), 0)
        .unwrap_or_default()
        .with_timezone(&r.timezone);
    let next_reminder_pass = r
        .schedule
        .after(&now)
        .next()
        .map(|t| clock::rfc3339(t.timestamp()));
    let mut connections = BTreeMap::new();
    for id in settings.contractors.keys() {
        let mut by: BTreeMap<Status, u64> = BTreeMap::new();
        for c in store.connections(id) {
            let s = c?.status();
            if s != Status::Deleted {
                *by.entry(s).or_default() += 1;
            }
        }
        connections.insert(id.clone(), by);
    }
    Ok(Report {
        outbox_queued,
        outbox_failed,
        quarantined: store.quarantine_depth(),
        last_intake,
        next_reminder_pass,
        next_reminder_due: store.next_reminder()?.map(clock::rfc3339),
        connections,
    })
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "outbox: {} queued, {} failed",
            self.outbox_queued, self.outbox_failed
        )?;
        writeln!(f, "quarantine: {}", self.quarantined)?;
        for (s, t) in &self.last_intake {
            writeln!(f, "last intake from {s}: {t}")?;
        }
        writeln!(
            f,
            "next reminder pass: {}",
            self.next_reminder_pass.as_deref().unwrap_or("none")
        )?;
        writeln!(
            f,
            "next reminder due: {}",
            self.next_reminder_due.as_deref().unwrap_or("none")
        )?;
        for (gc, by) in &self.connections {
            let parts: Vec<String> = by.iter().map(|(s, n)| format!("{s} {n}")).collect();
            writeln!(
                f,
                "contractor {gc}: {}",
                if parts.is_empty() {
                    "no connections".into()
                } else {
                    parts.join(", ")
                }
            )?;
        }
        Ok(())
    }
}
