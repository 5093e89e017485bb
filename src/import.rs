//! Importing a list, all or nothing (DESIGN §8.1). The whole list is
//! validated first, streaming; a list with any problem changes nothing but
//! its rejected batch record and the red report. A valid list is applied in
//! transactions of `import.rows-per-transaction` rows: a list up to that size
//! is exactly one transaction (rows, accounts, outbox, batch). A longer list
//! is first copied to the store's spool folder and its batch is marked
//! `applying` with the next row to apply in each transaction; after a crash
//! [`recover`] rolls it forward from there, so it ends whole.

use crate::config::{Contractor, Settings};
use crate::core::connection::{decide, Event, Keep, Standing, Status};
use crate::core::email::EmailAddr;
use crate::core::token::Token;
use crate::effects;
use crate::list::{ListFile, ListInput, Report, Unreadable, ValidRow};
use crate::model::{
    Account, Batch, BatchState, Connection, Counts, HistoryEntry, MessageKind, Origin, OutboxEntry,
    RowNote, RowOutcome, Timestamp,
};
use crate::store::{Store, StoreError, Tx, TxResult};
use std::path::{Path, PathBuf};

/// Rows of each outcome kept in the batch record for the confirmation.
const NOTES_PER_OUTCOME: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Unreadable(#[from] Unreadable),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot spool the list: {0}")]
    Spool(std::io::Error),
    #[error("cannot draw random bytes for tokens: {0}")]
    Random(String),
    #[error("the list changed while it was imported (expected {expected} rows, read {found})")]
    Changed { expected: u64, found: u64 },
}

/// One list handed in for import.
#[derive(Debug, Clone)]
pub struct Submission {
    pub contractor: String,
    pub input: ListInput,
    /// `drop:list.csv`, `cli:/path/list.csv`, `email:<message-id>`.
    pub source: String,
    /// blake3 of the content (see [`digest`]).
    pub digest: String,
    /// The envelope's idempotency key, marked seen in the final transaction.
    pub key: Option<String>,
    /// Apply even if the same content was imported before (the CLI's
    /// explicit import); otherwise such a list is reported as a duplicate.
    pub allow_repeat: bool,
    /// Who sent it (an emailed list): the report goes to them too.
    pub report_to: Option<EmailAddr>,
}

/// What became of a submission.
#[derive(Debug)]
pub enum Outcome {
    Imported {
        batch: Batch,
        report: Report,
    },
    Rejected {
        batch: Batch,
        report: Report,
    },
    /// The same content was imported before, as this batch; nothing done.
    Duplicate {
        earlier: Batch,
    },
}

impl Outcome {
    pub fn batch(&self) -> &Batch {
        match self {
            Outcome::Imported { batch, .. } | Outcome::Rejected { batch, .. } => batch,
            Outcome::Duplicate { earlier } => earlier,
        }
    }
}

/// blake3 of a list's bytes, hex.
pub fn digest(input: &ListInput) -> std::io::Result<String> {
    let mut h = blake3::Hasher::new();
    match input {
        ListInput::Path(p) => {
            h.update_reader(std::fs::File::open(p)?)?;
        }
        ListInput::Bytes { data, .. } => {
            h.update(data);
        }
    }
    Ok(h.finalize().to_hex().to_string())
}

fn spool_dir(settings: &Settings) -> PathBuf {
    settings.paths.store.join("spool")
}

fn spool_path(settings: &Settings, batch: u64) -> PathBuf {
    spool_dir(settings).join(format!("{batch}.list"))
}

/// Imports `sub` for its contractor. Never half-applies: see the module doc.
pub fn import(
    store: &Store,
    settings: &Settings,
    sub: &Submission,
    now: Timestamp,
) -> Result<Outcome, ImportError> {
    let contractor = settings
        .contractor(&sub.contractor)
        .ok_or_else(|| StoreError::Aborted(format!("unknown contractor {:?}", sub.contractor)))?;
    if let Some(earlier) = store.batch_by_digest(&contractor.id, &sub.digest)? {
        match earlier.state {
            BatchState::Applying { .. } => {
                return resume(store, settings, earlier, sub.key.clone(), Some(&sub.input))
            }
            BatchState::Imported if !sub.allow_repeat => {
                if let Some(key) = &sub.key {
                    let note = format!("duplicate of batch {}", earlier.id);
                    store.transact(|tx| tx.mark_seen(key, &note))?;
                }
                return Ok(Outcome::Duplicate { earlier });
            }
            _ => {}
        }
    }

    let opts = settings.list_options(contractor);
    let opened = ListFile::open(sub.input.clone(), &opts).and_then(|l| {
        let r = l.check()?;
        Ok((l, r))
    });
    let mut batch = new_batch(store.generate_id()?, contractor, sub, now);
    let (list, report) = match opened {
        Ok((l, r)) if r.valid => (l, r),
        Ok((l, r)) => {
            let fix = l.rows_to_fix(&r)?;
            return reject(store, contractor, sub, batch, r, fix, now);
        }
        // A source (drop folder, email) answers an unreadable file with the
        // red report; the CLI reports it itself.
        Err(e) if sub.key.is_some() => {
            return reject(
                store,
                contractor,
                sub,
                batch,
                Report::unreadable(&e.to_string()),
                None,
                now,
            );
        }
        Err(e) => return Err(e.into()),
    };
    // What was assumed (format, encoding, mapping), for the confirmation.
    batch.report = Some(serde_json::to_string(&report).unwrap_or_default());
    if report.rows as usize > settings.rows_per_transaction {
        spool(&sub.input, &spool_path(settings, batch.id))?;
    }
    let batch = apply(
        store,
        settings,
        contractor,
        &list,
        batch,
        sub.key.clone(),
        report.rows as u64,
    )?;
    Ok(Outcome::Imported { batch, report })
}

fn new_batch(id: u64, contractor: &Contractor, sub: &Submission, now: Timestamp) -> Batch {
    Batch {
        id,
        contractor: contractor.id.clone(),
        source: sub.source.clone(),
        digest: sub.digest.clone(),
        received_at: now,
        finished_at: None,
        state: BatchState::Applying { next_row: 0 },
        counts: Counts::default(),
        notes: Vec::new(),
        report: None,
        fix_rows: None,
        report_to: sub.report_to.clone(),
    }
}

/// Records a submission that was refused without being read (a message
/// over the size limit) as a rejected batch with `report`, and queues the
/// red report, as for any rejected list.
pub fn reject_unread(
    store: &Store,
    settings: &Settings,
    sub: &Submission,
    report: Report,
    now: Timestamp,
) -> Result<Outcome, ImportError> {
    let contractor = settings
        .contractor(&sub.contractor)
        .ok_or_else(|| StoreError::Aborted(format!("unknown contractor {:?}", sub.contractor)))?;
    let batch = new_batch(store.generate_id()?, contractor, sub, now);
    reject(store, contractor, sub, batch, report, None, now)
}

/// Records a list that imports nothing, and queues its red report.
fn reject(
    store: &Store,
    contractor: &Contractor,
    sub: &Submission,
    mut batch: Batch,
    report: Report,
    fix_rows: Option<String>,
    now: Timestamp,
) -> Result<Outcome, ImportError> {
    batch.state = BatchState::Rejected;
    batch.finished_at = Some(now);
    batch.counts.rows = report.rows as u64;
    batch.report = Some(serde_json::to_string(&report).unwrap_or_default());
    batch.fix_rows = fix_rows;
    store.transact(|tx| {
        tx.put_batch(&batch)?;
        queue_report(tx, contractor, &batch, now)?;
        if let Some(key) = &sub.key {
            tx.mark_seen(key, &format!("rejected as batch {}", batch.id))?;
        }
        Ok(())
    })?;
    Ok(Outcome::Rejected { batch, report })
}

fn spool(input: &ListInput, to: &Path) -> Result<(), ImportError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(ImportError::Spool)?;
    }
    let tmp = to.with_extension("tmp");
    match input {
        ListInput::Path(p) => std::fs::copy(p, &tmp).map(|_| ()),
        ListInput::Bytes { data, .. } => std::fs::write(&tmp, data),
    }
    .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
    .and_then(|()| std::fs::rename(&tmp, to))
    .map_err(ImportError::Spool)
}

/// Rolls forward every batch a crash left half-applied. Run at start-up,
/// before any source is read.
pub fn recover(store: &Store, settings: &Settings) -> Result<Vec<Batch>, ImportError> {
    let mut done = Vec::new();
    for batch in store.unfinished_batches()? {
        tracing::warn!(batch = batch.id, source = %batch.source, "rolling forward an interrupted import");
        if !spool_path(settings, batch.id).exists() {
            // Only a hand-removed spool gets here; the source, never
            // acknowledged, resumes the batch when it is read again.
            tracing::error!(batch = batch.id, source = %batch.source, "the spooled copy of an interrupted import is missing; it resumes when its source is read again");
            continue;
        }
        if let Outcome::Imported { batch, .. } = resume(store, settings, batch, None, None)? {
            done.push(batch);
        }
    }
    // Spool files of batches that never started (crash before the first
    // transaction) are dropped: their sources were not acknowledged.
    if let Ok(entries) = std::fs::read_dir(spool_dir(settings)) {
        for e in entries.flatten() {
            let id = e
                .path()
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            let live = match id {
                Some(id) => {
                    matches!(store.batch(id)?, Some(b) if matches!(b.state, BatchState::Applying { .. }))
                }
                None => false,
            };
            if !live {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    Ok(done)
}

/// Applies the rest of a half-applied batch from its spooled copy, spooling
/// `input` again if that copy is missing (`input` has the batch's digest).
fn resume(
    store: &Store,
    settings: &Settings,
    batch: Batch,
    key: Option<String>,
    input: Option<&ListInput>,
) -> Result<Outcome, ImportError> {
    let spooled = spool_path(settings, batch.id);
    if let (false, Some(input)) = (spooled.exists(), input) {
        spool(input, &spooled)?;
    }
    let contractor = settings.contractor(&batch.contractor).ok_or_else(|| {
        StoreError::Aborted(format!(
            "batch {} names unknown contractor {:?}",
            batch.id, batch.contractor
        ))
    })?;
    let opts = settings.list_options(contractor);
    let list = ListFile::open(ListInput::Path(spool_path(settings, batch.id)), &opts)?;
    let report = list.check()?;
    let batch = apply(
        store,
        settings,
        contractor,
        &list,
        batch,
        key,
        report.rows as u64,
    )?;
    Ok(Outcome::Imported { batch, report })
}

/// Applies the rows of a valid list from the batch's `next_row` on.
fn apply(
    store: &Store,
    settings: &Settings,
    contractor: &Contractor,
    list: &ListFile,
    mut batch: Batch,
    key: Option<String>,
    expected_rows: u64,
) -> Result<Batch, ImportError> {
    let start = match batch.state {
        BatchState::Applying { next_row } => next_row,
        _ => 0,
    };
    let per_tx = settings.rows_per_transaction.max(1);
    let mut rows = list.rows()?.skip(start as usize).peekable();
    let mut chunk: Vec<ValidRow> = Vec::with_capacity(per_tx.min(expected_rows as usize + 1));
    let mut tokens = vec![0u8; 16 * per_tx];
    let mut next_row = start;
    let now = batch.received_at;
    loop {
        chunk.clear();
        while chunk.len() < per_tx {
            match rows.next() {
                Some(r) => chunk.push(r?),
                None => break,
            }
        }
        let last = rows.peek().is_none();
        next_row += chunk.len() as u64;
        if last && next_row != expected_rows {
            return Err(ImportError::Changed {
                expected: expected_rows,
                found: next_row,
            });
        }
        getrandom::fill(&mut tokens[..16 * chunk.len()])
            .map_err(|e| ImportError::Random(e.to_string()))?;
        let updated = store.transact(|tx| {
            let mut b = batch.clone();
            let mut counts = Counts::default();
            for (i, row) in chunk.iter().enumerate() {
                let mut t = [0u8; 16];
                t.copy_from_slice(&tokens[16 * i..16 * i + 16]);
                apply_row(
                    tx,
                    contractor,
                    &mut b,
                    &mut counts,
                    row,
                    Token::from_bytes(t),
                    now,
                )?;
            }
            b.counts.add(&counts);
            if last {
                b.state = BatchState::Imported;
                b.finished_at = Some(now);
                queue_report(tx, contractor, &b, now)?;
                if let Some(key) = &key {
                    tx.mark_seen(key, &format!("imported as batch {}", b.id))?;
                }
            } else {
                b.state = BatchState::Applying { next_row };
            }
            tx.put_batch(&b)?;
            Ok(b)
        })?;
        batch = updated;
        crate::crash::point("import.applied");
        if last {
            break;
        }
    }
    // The spooled copy is the journal: it goes only once the last
    // transaction is on disk.
    store.flush()?;
    let spooled = spool_path(settings, batch.id);
    if spooled.exists() {
        let _ = std::fs::remove_file(spooled);
    }
    crate::crash::point("import.finished");
    Ok(batch)
}

fn note(batch: &mut Batch, row: &ValidRow, outcome: RowOutcome) {
    let same = batch
        .notes
        .iter()
        .filter(|n| std::mem::discriminant(&n.outcome) == std::mem::discriminant(&outcome))
        .count();
    if same < NOTES_PER_OUTCOME {
        batch.notes.push(RowNote {
            row: row.row,
            email: row.email.clone(),
            company: row.company.clone(),
            outcome,
        });
    }
}

/// One row through the state machine, inside the batch's transaction.
fn apply_row(
    tx: &Tx<'_>,
    contractor: &Contractor,
    batch: &mut Batch,
    counts: &mut Counts,
    row: &ValidRow,
    token: Token,
    now: Timestamp,
) -> TxResult<()> {
    counts.rows += 1;
    let existing = tx.connection(&contractor.id, &row.email)?;
    let standing = existing.as_ref().map(|c| c.standing);
    let transition = match decide(standing, Event::Listed) {
        Ok(t) => t,
        Err(keep) => {
            match keep {
                Keep::WasDeclined | Keep::WasExpired | Keep::WasBounced => {
                    counts.not_reinvited += 1
                }
                _ => counts.unchanged += 1,
            }
            note(batch, row, RowOutcome::Unchanged(keep));
            return Ok(());
        }
    };
    let known = match tx.account(&row.email)? {
        Some(_) => true,
        None => {
            tx.put_account(&Account {
                id: batch.id,
                email: row.email.clone(),
                company: row.company.clone(),
                created_at: now,
                created_by_invite: true,
            })?;
            false
        }
    };
    let restored = standing.map(|s| s.status) == Some(Status::Deleted);
    if restored {
        counts.restored += 1;
    }
    let (kind, outcome) = if known {
        counts.invited_known += 1;
        (MessageKind::InviteKnown, RowOutcome::InvitedKnown)
    } else {
        counts.invited_new += 1;
        (MessageKind::InviteNew, RowOutcome::InvitedNew)
    };
    note(batch, row, outcome);
    let mut history = existing.map(|c| c.history).unwrap_or_default();
    history.push(HistoryEntry {
        at: now,
        event: Event::Listed,
        from: standing.map(|s: Standing| s.status),
        to: transition.to.status,
        origin: Origin::Batch(batch.id),
    });
    let conn = Connection {
        contractor: contractor.id.clone(),
        email: row.email.clone(),
        company: row.company.clone(),
        contact: row.contact.clone(),
        standing: transition.to,
        token: token.clone(),
        invited_at: now,
        reminders_sent: 0,
        next_reminder_at: Some(contractor.reminders.first_look(now)),
        history,
    };
    tx.put_connection(&conn)?;
    effects::enqueue(
        tx,
        &conn,
        kind,
        row.email.clone(),
        Some(token),
        String::new(),
        now,
    )?;
    Ok(())
}

/// Queues the green or red report to the contractor's notice address.
fn queue_report(
    tx: &Tx<'_>,
    contractor: &Contractor,
    batch: &Batch,
    now: Timestamp,
) -> TxResult<()> {
    let mut to = vec![contractor.notify.clone()];
    to.extend(
        batch
            .report_to
            .iter()
            .filter(|a| **a != contractor.notify)
            .cloned(),
    );
    for to in to {
        tx.enqueue(OutboxEntry {
            detail: batch.source.clone(),
            ..OutboxEntry::new(
                MessageKind::ImportReport { batch: batch.id },
                &contractor.id,
                to,
                None,
                now,
            )
        })?;
    }
    Ok(())
}
