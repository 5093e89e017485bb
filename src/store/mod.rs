//! The one module that names sled. It owns the tables, their keys and the
//! record encoding, and offers typed reads plus [`Store::transact`], in which
//! a state change and the outbox messages it causes commit together.
//!
//! All tables live in one sled tree under one-byte prefixes, so that a
//! transaction over several of them is a single `apply_batch`, which sled
//! makes atomic on disk and to readers. Writers are serialised by a mutex:
//! a transaction reads (seeing its own writes), then applies its batch with
//! no other writer in between. sled itself allows one process per store.

mod keys;

use crate::core::email::EmailAddr;
use crate::core::token::Token;
use crate::model::{
    Account, Batch, BatchState, Connection, Delivery, OutboxEntry, Quarantined, Timestamp,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// The store's schema version; bumped on any change of encoding.
const SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} is in use by another subinvite process (is the daemon running?)")]
    Locked { path: String },
    #[error("the store failed: {0}")]
    Sled(#[from] sled::Error),
    #[error("store record {what} cannot be decoded: {why}")]
    Corrupt { what: &'static str, why: String },
    #[error("the store has schema {found}, this subinvite reads schema {SCHEMA}")]
    Schema { found: u32 },
    /// A transaction was given up on purpose (the message says why).
    #[error("{0}")]
    Aborted(String),
}

/// What transaction bodies return.
pub type TxResult<T> = Result<T, StoreError>;

/// One-byte prefixes of the tables.
mod table {
    pub const CONNECTIONS: u8 = b'c';
    pub const ACCOUNTS: u8 = b'a';
    pub const TOKENS: u8 = b't';
    pub const OUTBOX: u8 = b'o';
    pub const QUEUE: u8 = b'q';
    pub const BATCHES: u8 = b'b';
    pub const DIGESTS: u8 = b'd';
    pub const SEEN: u8 = b's';
    pub const QUARANTINE: u8 = b'x';
    pub const COUNTERS: u8 = b'n';
    pub const CHECKPOINTS: u8 = b'k';
    pub const REMINDERS: u8 = b'r';
    pub const LAST_SEEN: u8 = b'l';
}

fn key(table: u8, rest: impl AsRef<[u8]>) -> Vec<u8> {
    let rest = rest.as_ref();
    let mut v = Vec::with_capacity(1 + rest.len());
    v.push(table);
    v.extend_from_slice(rest);
    v
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    // Encoding plain data structs into a Vec cannot fail.
    bincode::serialize(v).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, StoreError> {
    bincode::deserialize(bytes).map_err(|e| StoreError::Corrupt {
        what,
        why: e.to_string(),
    })
}

/// An open store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    data: sled::Tree,
    writer: Arc<Mutex<()>>,
    /// The first write the disk refused. sled takes no writes after one
    /// (they all fail), so the daemon stops and a restart reopens the store.
    failed: Arc<std::sync::OnceLock<String>>,
}

impl Store {
    /// Opens (or creates) the store at `path`. `cache_mib` bounds sled's page
    /// cache.
    pub fn open(path: &Path, cache_mib: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mib * 1024 * 1024)
            .open()
            .map_err(|e| match e {
                // sled reports a held lock as a plain I/O error with this text.
                sled::Error::Io(ref io)
                    if io.kind() == std::io::ErrorKind::WouldBlock
                        || io.raw_os_error() == Some(11)
                        || io.to_string().contains("could not acquire lock") =>
                {
                    StoreError::Locked {
                        path: path.display().to_string(),
                    }
                }
                other => StoreError::Sled(other),
            })?;
        match db.get("schema")? {
            None => {
                db.insert("schema", &SCHEMA.to_be_bytes())?;
            }
            Some(v) => {
                let found = v.as_ref().try_into().map(u32::from_be_bytes).unwrap_or(0);
                if found != SCHEMA {
                    return Err(StoreError::Schema { found });
                }
            }
        }
        Ok(Store {
            data: db.open_tree("data")?,
            db,
            writer: Arc::new(Mutex::new(())),
            failed: Arc::new(std::sync::OnceLock::new()),
        })
    }

    /// Runs `f` as one atomic transaction: its writes are applied together
    /// or not at all, and no other transaction writes in between.
    pub fn transact<T>(&self, f: impl FnOnce(&Tx<'_>) -> TxResult<T>) -> Result<T, StoreError> {
        // A poisoned lock only means another writer panicked; its batch was
        // never applied, so the store is consistent.
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = Tx {
            db: &self.db,
            data: &self.data,
            writes: RefCell::new(BTreeMap::new()),
        };
        let value = f(&tx)?;
        let writes = tx.writes.into_inner();
        if !writes.is_empty() {
            let mut batch = sled::Batch::default();
            for (k, v) in writes {
                match v {
                    Some(v) => batch.insert(k, v),
                    None => batch.remove(k),
                }
            }
            self.data.apply_batch(batch).map_err(|e| self.failing(e))?;
        }
        Ok(value)
    }

    /// Notes an I/O failure of the disk under the store.
    fn failing(&self, e: sled::Error) -> StoreError {
        if let sled::Error::Io(io) = &e {
            let _ = self.failed.set(io.to_string());
        }
        StoreError::Sled(e)
    }

    /// Why the store can take no more writes, once the disk has refused one
    /// (full, read-only, failing).
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// A fresh id, unique for the life of the store.
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map_err(|e| self.failing(e))?;
        Ok(())
    }

    fn get<T: DeserializeOwned>(
        &self,
        what: &'static str,
        k: Vec<u8>,
    ) -> Result<Option<T>, StoreError> {
        self.data.get(k)?.map(|v| decode(what, &v)).transpose()
    }

    fn scan<T: DeserializeOwned>(
        &self,
        what: &'static str,
        prefix: Vec<u8>,
    ) -> impl Iterator<Item = Result<T, StoreError>> + '_ {
        self.data
            .scan_prefix(prefix)
            .map(move |r| decode(what, &r?.1))
    }

    pub fn connection(
        &self,
        contractor: &str,
        email: &EmailAddr,
    ) -> Result<Option<Connection>, StoreError> {
        self.get(
            "connection",
            key(
                table::CONNECTIONS,
                keys::connection(contractor, email.as_str()),
            ),
        )
    }

    /// Every connection of `contractor` (deleted ones included), by address.
    pub fn connections(
        &self,
        contractor: &str,
    ) -> impl Iterator<Item = Result<Connection, StoreError>> + '_ {
        self.scan(
            "connection",
            key(table::CONNECTIONS, keys::contractor_prefix(contractor)),
        )
    }

    /// Every connection of every contractor.
    pub fn all_connections(&self) -> impl Iterator<Item = Result<Connection, StoreError>> + '_ {
        self.scan("connection", vec![table::CONNECTIONS])
    }

    /// The whole reminder index, as (due, contractor, email key), in order.
    pub fn reminder_index(&self) -> Result<Vec<(Timestamp, String, String)>, StoreError> {
        let mut out = Vec::new();
        for r in self.data.scan_prefix([table::REMINDERS]) {
            let (k, _) = r?;
            if let (Some(due), Some((contractor, email))) =
                (keys::reminder_due(&k[1..]), keys::reminder_target(&k[1..]))
            {
                out.push((due, contractor.to_owned(), email.to_owned()));
            }
        }
        Ok(out)
    }

    /// The connection a token was issued for (its token may since have been
    /// replaced: compare `connection.token`).
    pub fn connection_by_token(&self, token: &Token) -> Result<Option<Connection>, StoreError> {
        let Some(conn_key) = self.data.get(key(table::TOKENS, token.as_str()))? else {
            return Ok(None);
        };
        self.get("connection", key(table::CONNECTIONS, conn_key))
    }

    pub fn account(&self, email: &EmailAddr) -> Result<Option<Account>, StoreError> {
        self.get("account", key(table::ACCOUNTS, email.as_str()))
    }

    pub fn batch(&self, id: u64) -> Result<Option<Batch>, StoreError> {
        self.get("batch", key(table::BATCHES, keys::id(id)))
    }

    /// The latest batch of this contractor with the same content, if any.
    pub fn batch_by_digest(
        &self,
        contractor: &str,
        digest: &str,
    ) -> Result<Option<Batch>, StoreError> {
        let Some(id) = self
            .data
            .get(key(table::DIGESTS, keys::digest(contractor, digest)))?
        else {
            return Ok(None);
        };
        match keys::id_of(&id) {
            Some(id) => self.batch(id),
            None => Err(StoreError::Corrupt {
                what: "digest index",
                why: "short id".into(),
            }),
        }
    }

    /// Batches still being applied (to roll forward after a crash).
    pub fn batches(&self) -> Result<Vec<Batch>, StoreError> {
        self.scan("batch", vec![table::BATCHES]).collect()
    }

    pub fn unfinished_batches(&self) -> Result<Vec<Batch>, StoreError> {
        self.scan::<Batch>("batch", vec![table::BATCHES])
            .filter(|b| !matches!(b, Ok(b) if !matches!(b.state, BatchState::Applying { .. })))
            .collect()
    }

    /// An outbox entry by id, queued or done.
    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>, StoreError> {
        if let Some(e) = self.get("outbox entry", key(table::OUTBOX, keys::id(id)))? {
            return Ok(Some(e));
        }
        for r in self.data.scan_prefix([table::QUEUE]) {
            let (k, v) = r?;
            if keys::queue_parts(&k[1..]).is_some_and(|(_, i)| i == id) {
                return decode("outbox entry", &v).map(Some);
            }
        }
        Ok(None)
    }

    /// Every outbox entry, queued or done, by id.
    pub fn outbox_entries(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut all: Vec<OutboxEntry> = self
            .scan("outbox entry", vec![table::OUTBOX])
            .chain(self.scan("outbox entry", vec![table::QUEUE]))
            .collect::<Result<_, _>>()?;
        all.sort_by_key(|e| e.id);
        Ok(all)
    }

    /// Up to `limit` queued entries due at `now`, earliest first.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.data
            .range(key(table::QUEUE, [])..key(table::QUEUE, keys::queue(now, u64::MAX)))
            .take(limit)
            .map(|r| decode("outbox entry", &r?.1))
            .collect()
    }

    /// When the next queued entry is due, if any.
    pub fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .data
            .scan_prefix([table::QUEUE])
            .next()
            .transpose()?
            .and_then(|(k, _)| keys::queue_parts(&k[1..]))
            .map(|(due, _)| due))
    }

    /// How an input with this idempotency key was handled, if it was.
    pub fn seen(&self, k: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .data
            .get(key(table::SEEN, k))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Connections whose reminder time is at or before `now`, earliest
    /// first, as (contractor, email), at most `limit`.
    pub fn reminders_due(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, EmailAddr)>, StoreError> {
        let mut out = Vec::new();
        for r in self
            .data
            .range(
                key(table::REMINDERS, [])
                    ..key(table::REMINDERS, keys::reminder(now.saturating_add(1), &[])),
            )
            .take(limit)
        {
            let (k, _) = r?;
            if let Some((contractor, email)) = keys::reminder_target(&k[1..]) {
                if let Ok(email) = EmailAddr::parse(email) {
                    out.push((contractor.to_owned(), email));
                }
            }
        }
        Ok(out)
    }

    /// When the earliest reminder is due, if any.
    pub fn next_reminder(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .data
            .scan_prefix([table::REMINDERS])
            .next()
            .transpose()?
            .and_then(|(k, _)| keys::reminder_due(&k[1..])))
    }

    /// Records that `source` delivered an input at `now` (for `status`).
    pub fn touch(&self, source: &str, now: Timestamp) -> Result<(), StoreError> {
        self.data
            .insert(key(table::LAST_SEEN, source), &now.to_be_bytes())?;
        Ok(())
    }

    /// When each source last delivered an input.
    pub fn last_seen(&self) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.data
            .scan_prefix([table::LAST_SEEN])
            .map(|r| {
                let (k, v) = r?;
                let t = v
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(i64::from_be_bytes)
                    .unwrap_or(0);
                Ok((String::from_utf8_lossy(&k[1..]).into_owned(), t))
            })
            .collect()
    }

    /// Queued outbox messages, and failed ones.
    pub fn outbox_depths(&self) -> Result<(usize, usize), StoreError> {
        let queued = self.data.scan_prefix([table::QUEUE]).count();
        let mut failed = 0;
        for r in self.data.scan_prefix([table::OUTBOX]) {
            let e: OutboxEntry = decode("outbox entry", &r?.1)?;
            if matches!(e.delivery, Delivery::Failed { .. }) {
                failed += 1;
            }
        }
        Ok((queued, failed))
    }

    /// Messages in quarantine.
    pub fn quarantine_depth(&self) -> usize {
        self.data.scan_prefix([table::QUARANTINE]).count()
    }

    /// Every quarantined message, oldest first.
    pub fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        self.scan("quarantined message", vec![table::QUARANTINE])
            .collect()
    }

    /// A source's checkpoint (e.g. an IMAP mailbox's UIDVALIDITY and last UID).
    pub fn checkpoint(&self, name: &str) -> Result<Option<(u32, u32)>, StoreError> {
        Ok(self.data.get(key(table::CHECKPOINTS, name))?.and_then(|v| {
            let a = u32::from_be_bytes(v.get(..4)?.try_into().ok()?);
            let b = u32::from_be_bytes(v.get(4..8)?.try_into().ok()?);
            Some((a, b))
        }))
    }

    /// Sets a source's checkpoint (its own small transaction).
    pub fn set_checkpoint(&self, name: &str, value: (u32, u32)) -> Result<(), StoreError> {
        let mut v = value.0.to_be_bytes().to_vec();
        v.extend_from_slice(&value.1.to_be_bytes());
        self.transact(|tx| {
            tx.put(key(table::CHECKPOINTS, name), v);
            Ok(())
        })
    }
}

/// The view of the store inside one transaction: reads see the
/// transaction's own writes; writes are applied when it ends.
pub struct Tx<'a> {
    db: &'a sled::Db,
    data: &'a sled::Tree,
    writes: RefCell<BTreeMap<Vec<u8>, Option<Vec<u8>>>>,
}

impl Tx<'_> {
    fn raw(&self, k: &[u8]) -> TxResult<Option<Vec<u8>>> {
        if let Some(v) = self.writes.borrow().get(k) {
            return Ok(v.clone());
        }
        Ok(self.data.get(k)?.map(|v| v.to_vec()))
    }

    fn get<T: DeserializeOwned>(&self, what: &'static str, k: &[u8]) -> TxResult<Option<T>> {
        self.raw(k)?.map(|v| decode(what, &v)).transpose()
    }

    fn put(&self, k: Vec<u8>, v: Vec<u8>) {
        self.writes.borrow_mut().insert(k, Some(v));
    }

    fn remove(&self, k: Vec<u8>) {
        self.writes.borrow_mut().insert(k, None);
    }

    pub fn connection(&self, contractor: &str, email: &EmailAddr) -> TxResult<Option<Connection>> {
        self.get(
            "connection",
            &key(
                table::CONNECTIONS,
                keys::connection(contractor, email.as_str()),
            ),
        )
    }

    /// Writes a connection and indexes its token.
    /// Writes a connection, indexing its token and its next reminder time
    /// (the index moves with the record, in the same batch).
    pub fn put_connection(&self, c: &Connection) -> TxResult<()> {
        let conn_key = keys::connection(&c.contractor, c.email.as_str());
        let old: Option<Connection> =
            self.get("connection", &key(table::CONNECTIONS, &conn_key))?;
        if old.as_ref().is_none_or(|o| o.token != c.token) {
            self.put(key(table::TOKENS, c.token.as_str()), conn_key.clone());
        }
        let old_next = old.as_ref().and_then(|o| o.next_reminder_at);
        if old_next != c.next_reminder_at {
            if let Some(t) = old_next {
                self.remove(key(table::REMINDERS, keys::reminder(t, &conn_key)));
            }
            if let Some(t) = c.next_reminder_at {
                self.put(
                    key(table::REMINDERS, keys::reminder(t, &conn_key)),
                    Vec::new(),
                );
            }
        }
        self.put(key(table::CONNECTIONS, conn_key), encode(c));
        Ok(())
    }

    pub fn account(&self, email: &EmailAddr) -> TxResult<Option<Account>> {
        self.get("account", &key(table::ACCOUNTS, email.as_str()))
    }

    pub fn put_account(&self, a: &Account) -> TxResult<()> {
        self.put(key(table::ACCOUNTS, a.email.as_str()), encode(a));
        Ok(())
    }

    pub fn batch(&self, id: u64) -> TxResult<Option<Batch>> {
        self.get("batch", &key(table::BATCHES, keys::id(id)))
    }

    pub fn put_batch(&self, b: &Batch) -> TxResult<()> {
        self.put(key(table::BATCHES, keys::id(b.id)), encode(b));
        self.put(
            key(table::DIGESTS, keys::digest(&b.contractor, &b.digest)),
            keys::id(b.id).to_vec(),
        );
        Ok(())
    }

    /// Adds a message to the delivery queue. `entry.id` is assigned here and
    /// returned.
    pub fn enqueue(&self, mut entry: OutboxEntry) -> TxResult<u64> {
        entry.id = self.db.generate_id()?;
        entry.delivery = Delivery::Queued;
        self.put(
            key(table::QUEUE, keys::queue(entry.due_at, entry.id)),
            encode(&entry),
        );
        Ok(entry.id)
    }

    /// The current version of an entry read earlier as `seen`.
    pub fn outbox_entry(&self, seen: &OutboxEntry) -> TxResult<Option<OutboxEntry>> {
        if seen.delivery == Delivery::Queued {
            self.get(
                "outbox entry",
                &key(table::QUEUE, keys::queue(seen.due_at, seen.id)),
            )
        } else {
            self.get("outbox entry", &key(table::OUTBOX, keys::id(seen.id)))
        }
    }

    /// Rewrites an entry read earlier as `seen`: queued entries live in the
    /// queue under their due time; done ones in the outbox log by id.
    pub fn update_outbox(&self, seen: &OutboxEntry, entry: &OutboxEntry) -> TxResult<()> {
        if seen.delivery == Delivery::Queued {
            self.remove(key(table::QUEUE, keys::queue(seen.due_at, seen.id)));
        } else {
            self.remove(key(table::OUTBOX, keys::id(seen.id)));
        }
        if entry.delivery == Delivery::Queued {
            self.put(
                key(table::QUEUE, keys::queue(entry.due_at, entry.id)),
                encode(entry),
            );
        } else {
            self.put(key(table::OUTBOX, keys::id(entry.id)), encode(entry));
        }
        Ok(())
    }

    /// Records that the input with idempotency key `k` was handled, and how.
    pub fn mark_seen(&self, k: &str, outcome: &str) -> TxResult<()> {
        self.put(key(table::SEEN, k), outcome.as_bytes().to_vec());
        Ok(())
    }

    pub fn seen(&self, k: &str) -> TxResult<Option<String>> {
        Ok(self
            .raw(&key(table::SEEN, k))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Adds one to the counter `k` and returns its new value.
    pub fn bump(&self, k: &str) -> TxResult<u32> {
        let ck = key(table::COUNTERS, k);
        let n = self
            .raw(&ck)?
            .and_then(|v| {
                v.get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
            })
            .unwrap_or(0)
            .saturating_add(1);
        self.put(ck, n.to_be_bytes().to_vec());
        Ok(n)
    }

    /// The counter `k` (0 if never bumped).
    pub fn counter(&self, k: &str) -> TxResult<u32> {
        Ok(self
            .raw(&key(table::COUNTERS, k))?
            .and_then(|v| {
                v.get(..4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes)
            })
            .unwrap_or(0))
    }

    /// Keeps a message whose handling failed, with the error.
    pub fn quarantine(&self, q: &Quarantined) -> TxResult<()> {
        self.put(key(table::QUARANTINE, keys::id(q.id)), encode(q));
        Ok(())
    }

    /// Takes a message out of quarantine.
    pub fn release(&self, id: u64) -> TxResult<()> {
        self.remove(key(table::QUARANTINE, keys::id(id)));
        Ok(())
    }

    /// Removes an idempotency mark, so the input can be handled again.
    pub fn forget(&self, k: &str) -> TxResult<()> {
        self.remove(key(table::SEEN, k));
        Ok(())
    }
}
