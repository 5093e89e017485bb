//! The config file as written: TOML structs with serde, unknown keys
//! rejected, kebab-case names, and defaults as named functions. `Raw::validate`
//! (in the parent module) turns them into `Settings`.

use super::{RawIntake, RawReminders, RawTransport};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Raw {
    #[serde(default)]
    pub paths: RawPaths,
    #[serde(default)]
    pub mail: RawMail,
    #[serde(default)]
    pub transport: RawTransport,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub intake: RawIntake,
    #[serde(default)]
    pub reminders: RawReminders,
    #[serde(default)]
    pub import: RawImport,
    #[serde(default)]
    pub drop_folder: RawDropFolder,
    #[serde(default)]
    pub outbox: RawOutbox,
    #[serde(default)]
    pub contractors: BTreeMap<String, RawContractor>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawPaths {
    /// Base of every other path that is not set explicitly.
    pub state_dir: Option<PathBuf>,
    pub store: Option<PathBuf>,
    pub drop: Option<PathBuf>,
    pub archive: Option<PathBuf>,
    pub rejected: Option<PathBuf>,
    pub sent: Option<PathBuf>,
    pub inbox: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawMail {
    #[serde(default = "default_domain")]
    pub domain: String,
    #[serde(default = "default_from_name")]
    pub from_name: String,
    #[serde(default = "default_invites_local")]
    pub invites_local: String,
    #[serde(default = "default_bounces_local")]
    pub bounces_local: String,
    #[serde(default = "default_separator")]
    pub separator: String,
    #[serde(default = "default_signup_url")]
    pub signup_url: String,
    /// Folder of template files overriding the built-in ones, by name.
    pub templates_dir: Option<PathBuf>,
    /// Automatic answers (yes-or-no questions, refusals) to one sender per
    /// day, at most: the loop guard.
    #[serde(default = "default_max_answers")]
    pub max_answers_per_sender_per_day: u32,
    /// The authserv-id of the server whose Authentication-Results header is
    /// trusted (contractors with `require-authentication`).
    pub trusted_authserv_id: Option<String>,
}

fn default_max_answers() -> u32 {
    3
}

fn default_domain() -> String {
    "example.test".into()
}
fn default_from_name() -> String {
    "subinvite".into()
}
fn default_invites_local() -> String {
    "invites".into()
}
fn default_bounces_local() -> String {
    "bounces".into()
}
fn default_separator() -> String {
    "+".into()
}
fn default_signup_url() -> String {
    "https://app.example.test/signup?token={token}".into()
}

impl Default for RawMail {
    fn default() -> Self {
        RawMail {
            domain: default_domain(),
            from_name: default_from_name(),
            invites_local: default_invites_local(),
            bounces_local: default_bounces_local(),
            separator: default_separator(),
            signup_url: default_signup_url(),
            templates_dir: None,
            max_answers_per_sender_per_day: default_max_answers(),
            trusted_authserv_id: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawStore {
    /// Upper bound of the store's page cache, in MiB.
    #[serde(default = "default_cache_mib")]
    pub cache_mib: u64,
}

fn default_cache_mib() -> u64 {
    32
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            cache_mib: default_cache_mib(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawImport {
    #[serde(default = "default_max_rows")]
    pub max_rows: u32,
    #[serde(default = "default_rows_per_transaction")]
    pub rows_per_transaction: u32,
    #[serde(default = "default_max_reported_errors")]
    pub max_reported_errors: usize,
    /// Largest list file (dropped, or attached to a mail) that is read at
    /// all; a larger one is refused unread (`too_large`).
    #[serde(default = "default_max_file_bytes")]
    pub max_file_bytes: u64,
    /// Most bytes a spreadsheet (a zip container: XLSX, XLSB, ODS) may
    /// unpack to, declared or actually inflated: the zip-bomb guard.
    #[serde(default = "default_max_unpacked_bytes")]
    pub max_unpacked_bytes: u64,
}

fn default_max_rows() -> u32 {
    1_000_000
}
fn default_rows_per_transaction() -> u32 {
    1_000
}
fn default_max_reported_errors() -> usize {
    10_000
}
fn default_max_file_bytes() -> u64 {
    100 << 20
}
fn default_max_unpacked_bytes() -> u64 {
    1 << 30
}

impl Default for RawImport {
    fn default() -> Self {
        RawImport {
            max_rows: default_max_rows(),
            rows_per_transaction: default_rows_per_transaction(),
            max_reported_errors: default_max_reported_errors(),
            max_file_bytes: default_max_file_bytes(),
            max_unpacked_bytes: default_max_unpacked_bytes(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawDropFolder {
    /// A file is taken once its size and mtime have not changed for this long.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
}

fn default_settle_ms() -> u64 {
    1_000
}

impl Default for RawDropFolder {
    fn default() -> Self {
        RawDropFolder {
            settle_ms: default_settle_ms(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawOutbox {
    /// Messages sent per drain before the queue is looked at again.
    #[serde(default = "default_outbox_batch")]
    pub batch: usize,
    /// First retry delay after a temporary failure; doubles each attempt.
    #[serde(default = "default_retry_base_secs")]
    pub retry_base_secs: u64,
    /// Attempts before a message is marked failed.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Messages in flight at once (SMTP connections are pooled).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Global send rate limit, messages per second (0 = none).
    #[serde(default)]
    pub per_second: u32,
    /// Per-contractor send limit, messages per minute (0 = none).
    #[serde(default)]
    pub per_contractor_per_minute: u32,
}

fn default_concurrency() -> usize {
    8
}

fn default_outbox_batch() -> usize {
    256
}
fn default_retry_base_secs() -> u64 {
    30
}
fn default_max_attempts() -> u32 {
    12
}

impl Default for RawOutbox {
    fn default() -> Self {
        RawOutbox {
            batch: default_outbox_batch(),
            retry_base_secs: default_retry_base_secs(),
            max_attempts: default_max_attempts(),
            concurrency: default_concurrency(),
            per_second: 0,
            per_contractor_per_minute: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawContractor {
    pub name: String,
    /// Addresses (`ann@gc.example`) or domains (`gc.example`) allowed to act
    /// for this contractor.
    #[serde(default)]
    pub senders: Vec<String>,
    /// Where notices go.
    pub notify: String,
    #[serde(default)]
    pub aliases: RawAliases,
    /// Also require DMARC (or aligned DKIM) pass in an Authentication-Results
    /// header from `mail.trusted-authserv-id`.
    #[serde(default)]
    pub require_authentication: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawAliases {
    #[serde(default)]
    pub email: Vec<String>,
    #[serde(default)]
    pub company: Vec<String>,
    #[serde(default)]
    pub contact: Vec<String>,
}
