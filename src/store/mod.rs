//! The one module that names sled. It owns the trees, their keys and the
//! record encoding, and offers typed reads plus [`Store::transact`], in which
//! a state change and the outbox messages it causes commit together.

mod keys;

use crate::core::email::EmailAddr;
use crate::core::token::Token;
use crate::model::{Account, Batch, Connection, Delivery, OutboxEntry, Timestamp};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{
    ConflictableTransactionError, TransactionError, TransactionalTree, UnabortableTransactionError,
};
use sled::Transactional;
use std::path::Path;

/// The store's schema version; bumped on any change of encoding.
const SCHEMA: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} is in use by another subinvite process (stop the daemon, or run this on the daemon's machine when it is stopped)")]
    Locked { path: String },
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    #[error("store record {what} cannot be decoded: {why}")]
    Corrupt { what: &'static str, why: String },
    #[error("the store has schema {found}, this subinvite reads schema {SCHEMA}")]
    Schema { found: u32 },
    /// A transaction was aborted on purpose (the message says why).
    #[error("{0}")]
    Aborted(String),
}

/// An error inside a transaction: a conflict (sled retries the closure), a
/// storage failure, or an abort carrying the reason.
#[derive(Debug)]
pub struct TxError(TxFail);

#[derive(Debug)]
enum TxFail {
    Conflict,
    Storage(sled::Error),
    Abort(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Sled(s) => TxError(TxFail::Storage(s)),
            other => TxError(TxFail::Abort(other)),
        }
    }
}

impl From<sled::Error> for TxError {
    fn from(e: sled::Error) -> Self {
        TxError(TxFail::Storage(e))
    }
}

impl From<UnabortableTransactionError> for TxError {
    fn from(e: UnabortableTransactionError) -> Self {
        match e {
            UnabortableTransactionError::Storage(s) => TxError(TxFail::Storage(s)),
            UnabortableTransactionError::Conflict => TxError(TxFail::Conflict),
        }
    }
}

/// What transaction bodies return.
pub type TxResult<T> = Result<T, TxError>;

/// An open store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    connections: sled::Tree,
    accounts: sled::Tree,
    tokens: sled::Tree,
    outbox: sled::Tree,
    queue: sled::Tree,
    batches: sled::Tree,
    digests: sled::Tree,
    seen: sled::Tree,
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

impl Store {
    /// Opens (or creates) the store at `path`. `cache_mib` bounds sled's page
    /// cache.
    pub fn open(path: &Path, cache_mib: u64) -> Result<Store, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mib * 1024 * 1024)
            .open()
            .map_err(|e| match e {
                sled::Error::Io(ref io) if io.kind() == std::io::ErrorKind::WouldBlock || io.raw_os_error() == Some(11) => {
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
                let found = v
                    .as_ref()
                    .try_into()
                    .map(u32::from_be_bytes)
                    .unwrap_or(0);
                if found != SCHEMA {
                    return Err(StoreError::Schema { found });
                }
            }
        }
        Ok(Store {
            connections: db.open_tree("connections")?,
            accounts: db.open_tree("accounts")?,
            tokens: db.open_tree("tokens")?,
            outbox: db.open_tree("outbox")?,
            queue: db.open_tree("queue")?,
            batches: db.open_tree("batches")?,
            digests: db.open_tree("digests")?,
            seen: db.open_tree("seen")?,
            db,
        })
    }

    /// Runs `f` as one atomic transaction over every tree. `f` may run more
    /// than once (on conflict), so it must only read and write through `tx`.
    pub fn transact<T>(&self, f: impl Fn(&Tx<'_>) -> TxResult<T>) -> Result<T, StoreError> {
        let trees = (
            &self.connections,
            &self.accounts,
            &self.tokens,
            &self.outbox,
            &self.queue,
            &self.batches,
            &self.digests,
            &self.seen,
        );
        let result = trees.transaction(|(c, a, t, o, q, b, d, s)| {
            let tx = Tx {
                connections: c,
                accounts: a,
                tokens: t,
                outbox: o,
                queue: q,
                batches: b,
                digests: d,
                seen: s,
            };
            f(&tx).map_err(|TxError(e)| match e {
                TxFail::Conflict => ConflictableTransactionError::Conflict,
                TxFail::Storage(s) => ConflictableTransactionError::Storage(s),
                TxFail::Abort(e) => ConflictableTransactionError::Abort(e),
            })
        });
        match result {
            Ok(v) => Ok(v),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StoreError::Sled(e)),
        }
    }

    /// A fresh id, unique for the life of the store.
    pub fn generate_id(&self) -> Result<u64, StoreError> {
        Ok(self.db.generate_id()?)
    }

    /// Waits until everything written is on disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    pub fn connection(&self, contractor: &str, email: &EmailAddr) -> Result<Option<Connection>, StoreError> {
        self.connections
            .get(keys::connection(contractor, email.as_str()))?
            .map(|v| decode("connection", &v))
            .transpose()
    }

    /// Every connection of `contractor` (deleted ones included), by address.
    pub fn connections(&self, contractor: &str) -> impl Iterator<Item = Result<Connection, StoreError>> + '_ {
        self.connections
            .scan_prefix(keys::contractor_prefix(contractor))
            .map(|r| decode("connection", &r?.1))
    }

    /// The connection a token was issued for (its token may since have been
    /// replaced: compare `connection.token`).
    pub fn connection_by_token(&self, token: &Token) -> Result<Option<Connection>, StoreError> {
        let Some(key) = self.tokens.get(token.as_str())? else {
            return Ok(None);
        };
        self.connections
            .get(key)?
            .map(|v| decode("connection", &v))
            .transpose()
    }

    pub fn account(&self, email: &EmailAddr) -> Result<Option<Account>, StoreError> {
        self.accounts
            .get(email.as_str())?
            .map(|v| decode("account", &v))
            .transpose()
    }

    pub fn batch(&self, id: u64) -> Result<Option<Batch>, StoreError> {
        self.batches
            .get(keys::id(id))?
            .map(|v| decode("batch", &v))
            .transpose()
    }

    /// The earlier batch of this contractor with the same content, if any.
    pub fn batch_by_digest(&self, contractor: &str, digest: &str) -> Result<Option<Batch>, StoreError> {
        let Some(id) = self.digests.get(keys::digest(contractor, digest))? else {
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
    pub fn unfinished_batches(&self) -> Result<Vec<Batch>, StoreError> {
        let mut out = Vec::new();
        for r in self.batches.iter() {
            let b: Batch = decode("batch", &r?.1)?;
            if matches!(b.state, crate::model::BatchState::Applying { .. }) {
                out.push(b);
            }
        }
        Ok(out)
    }

    pub fn outbox_entry(&self, id: u64) -> Result<Option<OutboxEntry>, StoreError> {
        self.outbox
            .get(keys::id(id))?
            .map(|v| decode("outbox entry", &v))
            .transpose()
    }

    /// Every outbox entry, oldest first.
    pub fn outbox_entries(&self) -> impl Iterator<Item = Result<OutboxEntry, StoreError>> + '_ {
        self.outbox.iter().map(|r| decode("outbox entry", &r?.1))
    }

    /// Up to `limit` queued entries due at `now`, earliest first.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut out = Vec::new();
        for r in self.queue.range(..keys::queue(now, u64::MAX)) {
            let (k, _) = r?;
            let Some((_, id)) = keys::queue_parts(&k) else { continue };
            if let Some(e) = self.outbox_entry(id)? {
                out.push(e);
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// When the next queued entry is due, if any.
    pub fn next_due(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self
            .queue
            .first()?
            .and_then(|(k, _)| keys::queue_parts(&k))
            .map(|(due, _)| due))
    }

    /// Whether an input with this idempotency key was already handled.
    pub fn seen(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .seen
            .get(key)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Subscribes to changes of the delivery queue (for the sender task).
    pub fn watch_queue(&self) -> sled::Subscriber {
        self.queue.watch_prefix(vec![])
    }
}

/// The view of the store inside one transaction.
pub struct Tx<'a> {
    connections: &'a TransactionalTree,
    accounts: &'a TransactionalTree,
    tokens: &'a TransactionalTree,
    outbox: &'a TransactionalTree,
    queue: &'a TransactionalTree,
    batches: &'a TransactionalTree,
    digests: &'a TransactionalTree,
    seen: &'a TransactionalTree,
}

impl Tx<'_> {
    pub fn connection(&self, contractor: &str, email: &EmailAddr) -> TxResult<Option<Connection>> {
        self.connections
            .get(keys::connection(contractor, email.as_str()))
            ?
            .map(|v| decode("connection", &v))
            .transpose()
            .map_err(TxError::from)
    }

    pub fn put_connection(&self, c: &Connection) -> TxResult<()> {
        let key = keys::connection(&c.contractor, c.email.as_str());
        self.tokens
            .insert(c.token.as_str().as_bytes(), key.as_slice())
            ?;
        self.connections
            .insert(key, encode(c))
            ?;
        Ok(())
    }

    pub fn account(&self, email: &EmailAddr) -> TxResult<Option<Account>> {
        self.accounts
            .get(email.as_str())
            ?
            .map(|v| decode("account", &v))
            .transpose()
            .map_err(TxError::from)
    }

    pub fn put_account(&self, a: &Account) -> TxResult<()> {
        self.accounts
            .insert(a.email.as_str().as_bytes(), encode(a))
            ?;
        Ok(())
    }

    pub fn batch(&self, id: u64) -> TxResult<Option<Batch>> {
        self.batches
            .get(keys::id(id))
            ?
            .map(|v| decode("batch", &v))
            .transpose()
            .map_err(TxError::from)
    }

    pub fn put_batch(&self, b: &Batch) -> TxResult<()> {
        self.batches
            .insert(&keys::id(b.id), encode(b))
            ?;
        self.digests
            .insert(keys::digest(&b.contractor, &b.digest), &keys::id(b.id))
            ?;
        Ok(())
    }

    /// Adds a message to the outbox and the delivery queue. `entry.id` is
    /// assigned here and returned.
    pub fn enqueue(&self, mut entry: OutboxEntry) -> TxResult<u64> {
        entry.id = self.outbox.generate_id()?;
        entry.delivery = Delivery::Queued;
        self.outbox
            .insert(&keys::id(entry.id), encode(&entry))
            ?;
        self.queue
            .insert(&keys::queue(entry.due_at, entry.id), &[])
            ?;
        Ok(entry.id)
    }

    pub fn outbox_entry(&self, id: u64) -> TxResult<Option<OutboxEntry>> {
        self.outbox
            .get(keys::id(id))
            ?
            .map(|v| decode("outbox entry", &v))
            .transpose()
            .map_err(TxError::from)
    }

    /// Rewrites an entry, moving it in the queue from `old_due` to its new
    /// due time (or out of the queue once it is no longer queued).
    pub fn update_outbox(&self, entry: &OutboxEntry, old_due: Timestamp, was_queued: bool) -> TxResult<()> {
        if was_queued {
            self.queue
                .remove(&keys::queue(old_due, entry.id))
                ?;
        }
        if entry.delivery == Delivery::Queued {
            self.queue
                .insert(&keys::queue(entry.due_at, entry.id), &[])
                ?;
        }
        self.outbox
            .insert(&keys::id(entry.id), encode(entry))
            ?;
        Ok(())
    }

    /// Records that the input with idempotency key `key` was handled, and how.
    pub fn mark_seen(&self, key: &str, outcome: &str) -> TxResult<()> {
        self.seen
            .insert(key.as_bytes(), outcome.as_bytes())
            ?;
        Ok(())
    }

    pub fn seen(&self, key: &str) -> TxResult<Option<String>> {
        Ok(self
            .seen
            .get(key.as_bytes())
            ?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }
}
