//! The records subinvite keeps (DESIGN §2): connections, accounts, batches
//! and outbox entries. Plain data with serde; the store decides how they are
//! encoded and keyed, the core decides how they change.

use crate::core::connection::{Event, Keep, Standing, Status};
use crate::core::email::EmailAddr;
use crate::core::token::Token;
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch, UTC.
pub type Timestamp = i64;

/// Where an input came from, for history and reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// A list imported as batch `id`.
    Batch(u64),
    /// An administrator's CLI command.
    Cli,
    /// An email, by Message-ID.
    Email(String),
    /// The scheduler.
    Scheduler,
    /// The mail server's answer when the outbox delivered a message.
    Delivery,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Batch(id) => write!(f, "batch {id}"),
            Origin::Cli => f.write_str("cli"),
            Origin::Email(m) => write!(f, "email {m}"),
            Origin::Scheduler => f.write_str("scheduler"),
            Origin::Delivery => f.write_str("delivery"),
        }
    }
}

/// One line of a connection's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub event: Event,
    pub from: Option<Status>,
    pub to: Status,
    pub origin: Origin,
}

/// A contractor x account connection: the invitation and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub contractor: String,
    pub email: EmailAddr,
    pub company: String,
    pub contact: Option<String>,
    pub standing: Standing,
    /// The live token; replies naming an older one change nothing.
    pub token: Token,
    pub invited_at: Timestamp,
    pub reminders_sent: u32,
    pub next_reminder_at: Option<Timestamp>,
    pub history: Vec<HistoryEntry>,
}

impl Connection {
    pub fn status(&self) -> Status {
        self.standing.status
    }
}

/// An entry of the platform directory: a subcontractor company, found by
/// email. Shared by all contractors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub id: u64,
    pub email: EmailAddr,
    pub company: String,
    pub created_at: Timestamp,
    /// Created by an invite (not yet signed up) rather than found in the
    /// directory.
    pub created_by_invite: bool,
}

/// What happened to one submitted list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Rows are being applied in transactions of `import.rows-per-transaction`;
    /// `next_row` is the index of the first data row not yet applied. Rolled
    /// forward on restart.
    Applying {
        next_row: u64,
    },
    Imported,
    Rejected,
}

/// Counts of an import, by outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub rows: u64,
    /// Invited with a sign-up link (new to the directory).
    pub invited_new: u64,
    /// Invited to confirm a connection to an existing account.
    pub invited_known: u64,
    /// Deleted before, invited again.
    pub restored: u64,
    /// Already pending, active or inactive.
    pub unchanged: u64,
    /// Declined, expired or bounced: left alone, REINVITE to ask again.
    pub not_reinvited: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.rows += o.rows;
        self.invited_new += o.invited_new;
        self.invited_known += o.invited_known;
        self.restored += o.restored;
        self.unchanged += o.unchanged;
        self.not_reinvited += o.not_reinvited;
    }
}

/// A row of an import worth naming in its confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowNote {
    pub row: u32,
    pub email: EmailAddr,
    pub company: String,
    pub outcome: RowOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowOutcome {
    InvitedNew,
    InvitedKnown,
    Unchanged(Keep),
}

/// One submitted list (from a file or an email).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    pub id: u64,
    pub contractor: String,
    /// Human description of the source: `drop:list.csv`, `cli:/path`, ...
    pub source: String,
    /// blake3 of the content, hex.
    pub digest: String,
    pub received_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub state: BatchState,
    pub counts: Counts,
    /// The first rows of each outcome (capped), for the confirmation.
    pub notes: Vec<RowNote>,
    /// The `check --json` report, for rejected lists.
    pub report: Option<String>,
    /// For rejected lists: a CSV of the rows to fix, with an error column
    /// (attached to the red email).
    pub fix_rows: Option<String>,
    /// Who sent the list by email: the report goes to them as well.
    pub report_to: Option<EmailAddr>,
}

/// What an outbox message is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Invitation to a subcontractor new to the directory: sign-up link.
    InviteNew,
    /// Invitation to confirm a connection to an existing account.
    InviteKnown,
    Reminder,
    /// To the subcontractor, after an answer.
    AckSubcontractor,
    /// To the contractor: something happened to a connection.
    ContractorNotice,
    /// To the contractor: a list was imported (green) or rejected (red).
    ImportReport {
        batch: u64,
    },
    /// To the contractor: an action it asked for was carried out.
    ActionConfirmation,
    /// To a subcontractor whose reply said neither yes nor no (at most once).
    AskYesNo,
    /// To a sender not authorised to act for the contractor (at most once a day).
    SenderRefused,
    /// To the contractor: the answer to an emailed command (`detail` is the
    /// body; the attachment, if any, e.g. the STATUS CSV).
    CommandReply,
}

/// A file attached to an outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    Queued,
    Sent {
        at: Timestamp,
    },
    Failed {
        at: Timestamp,
    },
    /// No longer relevant when its turn came (e.g. the invite's token was replaced).
    Skipped {
        at: Timestamp,
    },
}

/// An email to send, written in the same transaction as the change that
/// caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: u64,
    pub kind: MessageKind,
    pub contractor: String,
    pub to: EmailAddr,
    /// The connection it is about, if any (by its subcontractor's email).
    pub about: Option<EmailAddr>,
    /// For invites and reminders: the token it carries.
    pub token: Option<Token>,
    /// Free text the templates show (e.g. the status a notice reports).
    pub detail: String,
    pub attachment: Option<Attachment>,
    pub created_at: Timestamp,
    pub due_at: Timestamp,
    pub attempts: u32,
    pub delivery: Delivery,
    pub last_error: Option<String>,
}

impl OutboxEntry {
    /// A new message, queued and due at `now`; the store assigns its id.
    pub fn new(
        kind: MessageKind,
        contractor: &str,
        to: EmailAddr,
        about: Option<EmailAddr>,
        now: Timestamp,
    ) -> OutboxEntry {
        OutboxEntry {
            id: 0,
            kind,
            contractor: contractor.to_owned(),
            to,
            about,
            token: None,
            detail: String::new(),
            attachment: None,
            created_at: now,
            due_at: now,
            attempts: 0,
            delivery: Delivery::Queued,
            last_error: None,
        }
    }
}

/// A message whose handling failed unexpectedly: kept with its error and
/// acknowledged, not retried in a loop (`subinvite quarantine list|retry`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub id: u64,
    /// Where it came from (`maildir:...`, `imap:...`).
    pub source: String,
    /// Its idempotency key.
    pub key: String,
    pub error: String,
    pub at: Timestamp,
    pub raw: Vec<u8>,
}
