//! The intake section of the config: the embedded Maildir (`paths.inbox`)
//! and any number of IMAP mailboxes, each read with its own login.

use super::transport::{read_secret, Secret, TlsMode};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawIntake {
    /// Watch the Maildir at `paths.inbox`.
    #[serde(default = "yes")]
    pub maildir: bool,
    #[serde(default)]
    pub imap: Vec<RawImap>,
    /// Largest message read whole; a larger one is answered from its
    /// headers alone (a red email to an authorised sender) and not read.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
}

fn default_max_message_bytes() -> u64 {
    25 << 20
}

/// The smallest message size limit accepted: below it ordinary replies
/// would be refused.
const MIN_MESSAGE_BYTES: u64 = 16 << 10;

fn yes() -> bool {
    true
}

impl Default for RawIntake {
    fn default() -> Self {
        RawIntake {
            maildir: true,
            imap: Vec::new(),
            max_message_bytes: default_max_message_bytes(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawImap {
    pub host: String,
    pub port: Option<u16>,
    /// `none` (loopback only), `starttls` or `tls`.
    #[serde(default = "default_tls")]
    pub tls: String,
    pub username: String,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// Where handled messages are moved (created if missing).
    #[serde(default = "default_processed")]
    pub processed: String,
    /// Longest IDLE before the mailbox is looked at again.
    #[serde(default = "default_idle_secs")]
    pub idle_secs: u64,
}

fn default_tls() -> String {
    "tls".into()
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_processed() -> String {
    "Processed".into()
}
fn default_idle_secs() -> u64 {
    300
}

/// One IMAP mailbox to read.
#[derive(Debug, Clone)]
pub struct ImapSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: Secret,
    pub mailbox: String,
    pub processed: String,
    pub idle: Duration,
}

impl ImapSettings {
    /// A stable name for logs and the checkpoint.
    pub fn name(&self) -> String {
        format!(
            "imap:{}@{}:{}/{}",
            self.username, self.host, self.port, self.mailbox
        )
    }
}

#[derive(Debug, Clone)]
pub struct IntakeSettings {
    pub maildir: bool,
    pub imap: Vec<ImapSettings>,
    /// Messages larger than this are not read whole (see [`RawIntake`]).
    pub max_message_bytes: u64,
}

impl RawIntake {
    pub(super) fn validate(self, base: &Path, problems: &mut Vec<String>) -> IntakeSettings {
        if self.max_message_bytes < MIN_MESSAGE_BYTES {
            problems.push(format!(
                "intake.max-message-bytes {} must be at least {MIN_MESSAGE_BYTES}",
                self.max_message_bytes
            ));
        }
        let mut imap = Vec::new();
        for (i, r) in self.imap.into_iter().enumerate() {
            let what = format!("intake.imap[{i}]");
            let tls = match r.tls.to_ascii_lowercase().as_str() {
                "none" => TlsMode::None,
                "starttls" => TlsMode::StartTls,
                "tls" | "implicit" => TlsMode::Implicit,
                other => {
                    problems.push(format!(
                        "{what}.tls {other:?} must be none, starttls or tls"
                    ));
                    TlsMode::Implicit
                }
            };
            if r.host.trim().is_empty() {
                problems.push(format!("{what}.host is empty"));
            }
            let file = r.password_file.map(|p| super::resolve(base, p));
            let password = read_secret(file.as_deref(), r.password_env.as_deref(), &what, problems);
            let port = r
                .port
                .unwrap_or(if tls == TlsMode::Implicit { 993 } else { 143 });
            if let Some(password) = password {
                imap.push(ImapSettings {
                    host: r.host,
                    port,
                    tls,
                    username: r.username,
                    password,
                    mailbox: r.mailbox,
                    processed: r.processed,
                    idle: Duration::from_secs(r.idle_secs.clamp(5, 29 * 60)),
                });
            }
        }
        IntakeSettings {
            maildir: self.maildir,
            imap,
            max_message_bytes: self.max_message_bytes,
        }
    }
}
