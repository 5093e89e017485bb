//! Configuration: raw TOML structs (unknown keys rejected), then
//! [`Raw::validate`] builds [`Settings`], collecting every problem before it
//! fails. With no file, [`Settings::embedded`] runs everything under `./var`
//! with the file transport and one contractor, `demo`. Secrets are read from
//! a file or the environment and never printed.

use crate::core::email::EmailAddr;
use crate::list::{ExtraAliases, ListOptions};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod intake;
mod reminders;
mod transport;
pub use intake::{ImapSettings, IntakeSettings, RawIntake};
pub use reminders::{RawReminders, ReminderSettings};
pub use transport::{RawTransport, Secret, SmtpSettings, TlsMode, Transport};

/// Name of the config file looked for in the working directory.
pub const DEFAULT_FILE: &str = "subinvite.toml";

/// The smallest accepted list file and unpacked-size limits: a list with a
/// header and one row must fit.
const MIN_FILE_BYTES: u64 = 1024;

/// Every problem found in a config, one per line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {} problem(s):\n  - {}", .problems.len(), .problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

mod raw;
pub use raw::*;

/// Where everything lives on disk.
#[derive(Debug, Clone)]
pub struct Paths {
    pub store: PathBuf,
    pub drop: PathBuf,
    pub archive: PathBuf,
    pub rejected: PathBuf,
    pub sent: PathBuf,
    pub inbox: PathBuf,
}

/// Addresses and links the product's emails carry.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub domain: String,
    pub from_name: String,
    pub invites_local: String,
    pub bounces_local: String,
    pub separator: char,
    pub signup_url: String,
    pub templates_dir: Option<PathBuf>,
    pub max_answers_per_sender_per_day: u32,
    pub trusted_authserv_id: Option<String>,
}

impl MailSettings {
    /// `invites@domain`: the From of everything the product sends.
    pub fn from_addr(&self) -> String {
        format!("{}@{}", self.invites_local, self.domain)
    }
    /// `invites+<tag>@domain`.
    pub fn invites_addr(&self, tag: &str) -> String {
        format!(
            "{}{}{}@{}",
            self.invites_local, self.separator, tag, self.domain
        )
    }
    /// The VERP envelope sender `bounces+<tag>@domain`.
    pub fn bounce_addr(&self, tag: &str) -> String {
        format!(
            "{}{}{}@{}",
            self.bounces_local, self.separator, tag, self.domain
        )
    }
    pub fn signup_link(&self, token: &str) -> String {
        self.signup_url.replace("{token}", token)
    }
}

#[derive(Debug, Clone)]
pub struct OutboxSettings {
    pub batch: usize,
    pub retry_base: Duration,
    pub max_attempts: u32,
    /// Messages in flight at once.
    pub concurrency: usize,
    /// Global send rate limit (messages per second; 0 = none).
    pub per_second: u32,
    /// Per-contractor limit (messages per minute; 0 = none).
    pub per_contractor_per_minute: u32,
}

/// Who may act for a contractor, and where its notices go.
#[derive(Debug, Clone)]
pub struct Contractor {
    pub id: String,
    pub name: String,
    pub senders: Vec<Sender>,
    pub notify: EmailAddr,
    pub aliases: ExtraAliases,
    pub require_authentication: bool,
    /// When its pending invites are reminded and expire.
    pub reminders: crate::core::reminders::Policy,
}

/// One authorised sender: a whole address or a whole domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sender {
    Address(EmailAddr),
    Domain(String),
}

impl Contractor {
    /// Whether `from` may act for this contractor.
    pub fn authorises(&self, from: &EmailAddr) -> bool {
        self.senders.iter().any(|s| match s {
            Sender::Address(a) => a == from,
            Sender::Domain(d) => from.domain() == d,
        })
    }
}

/// Validated settings: everything the daemon and the CLI need.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where they came from, for messages.
    pub origin: String,
    pub paths: Paths,
    pub mail: MailSettings,
    pub transport: Transport,
    pub intake: IntakeSettings,
    pub store_cache_mib: u64,
    pub list: ListOptions,
    pub rows_per_transaction: usize,
    pub settle: Duration,
    pub outbox: OutboxSettings,
    pub reminders: ReminderSettings,
    pub contractors: BTreeMap<String, Contractor>,
}

impl Settings {
    /// Loads `path`, or `./subinvite.toml` if present, else the embedded
    /// defaults.
    pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
        match path {
            Some(p) => Self::from_file(p),
            None if Path::new(DEFAULT_FILE).exists() => Self::from_file(Path::new(DEFAULT_FILE)),
            None => Ok(Self::embedded()),
        }
    }

    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let raw: Raw = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        raw.validate(base, &path.display().to_string())
            .map_err(|problems| ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            })
    }

    /// The embedded default: state under `./var`, file transport, one
    /// contractor `demo`.
    pub fn embedded() -> Settings {
        let mut raw = Raw::default();
        raw.contractors.insert(
            "demo".into(),
            RawContractor {
                name: "Demo Contractor".into(),
                senders: vec!["demo@example.test".into()],
                notify: "demo@example.test".into(),
                aliases: RawAliases::default(),
                require_authentication: false,
            },
        );
        match raw.validate(Path::new("."), "embedded defaults") {
            Ok(s) => s,
            // The embedded defaults are constants checked by a unit test.
            Err(problems) => unreachable!("embedded defaults are invalid: {problems:?}"),
        }
    }

    pub fn contractor(&self, id: &str) -> Option<&Contractor> {
        self.contractors.get(id)
    }
}

impl Raw {
    /// Builds [`Settings`], or every problem found. Relative paths are
    /// resolved against `base` (the config file's folder).
    pub fn validate(self, base: &Path, origin: &str) -> Result<Settings, Vec<String>> {
        let mut problems = Vec::new();
        let from_base = |p: PathBuf| resolve(base, p);
        let state = from_base(self.paths.state_dir.unwrap_or_else(|| "var".into()));
        let under =
            |p: Option<PathBuf>, name: &str| p.map(from_base).unwrap_or_else(|| state.join(name));
        let paths = Paths {
            store: under(self.paths.store, "store"),
            drop: under(self.paths.drop, "drop"),
            archive: under(self.paths.archive, "archive"),
            rejected: under(self.paths.rejected, "rejected"),
            sent: under(self.paths.sent, "sent"),
            inbox: under(self.paths.inbox, "inbox"),
        };

        let m = self.mail;
        if !valid_domain(&m.domain) {
            problems.push(format!("mail.domain {:?} is not a domain name", m.domain));
        }
        for (key, local) in [
            ("mail.invites-local", &m.invites_local),
            ("mail.bounces-local", &m.bounces_local),
        ] {
            if local.is_empty()
                || !local
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_')
            {
                problems.push(format!(
                    "{key} {local:?} must be letters, digits, '.' or '_'"
                ));
            }
        }
        let mut sep_chars = m.separator.chars();
        let separator = match (sep_chars.next(), sep_chars.next()) {
            (Some(c @ ('+' | '-' | '=' | '_')), None) => c,
            _ => {
                problems.push(format!(
                    "mail.separator {:?} must be one of + - = _",
                    m.separator
                ));
                '+'
            }
        };
        if !m.signup_url.contains("{token}") {
            problems.push(format!(
                "mail.signup-url {:?} must contain {{token}}",
                m.signup_url
            ));
        }
        if m.from_name.chars().any(char::is_control) {
            problems.push("mail.from-name must not contain control characters".into());
        }

        let i = self.import;
        if i.max_rows == 0 {
            problems.push("import.max-rows must be at least 1".into());
        }
        if i.max_file_bytes < MIN_FILE_BYTES {
            problems.push(format!(
                "import.max-file-bytes {} must be at least {MIN_FILE_BYTES}",
                i.max_file_bytes
            ));
        }
        if i.max_unpacked_bytes < MIN_FILE_BYTES {
            problems.push(format!(
                "import.max-unpacked-bytes {} must be at least {MIN_FILE_BYTES}",
                i.max_unpacked_bytes
            ));
        }
        if i.rows_per_transaction == 0 {
            problems.push("import.rows-per-transaction must be at least 1".into());
        }
        if self.outbox.batch == 0 {
            problems.push("outbox.batch must be at least 1".into());
        }

        let transport = self.transport.validate(base, &mut problems);
        let intake = self.intake.validate(base, &mut problems);
        let reminders = self.reminders.validate(&mut problems);
        if self.contractors.is_empty() {
            problems.push("no [contractors.<id>] defined: at least one is needed".into());
        }
        let mut contractors = BTreeMap::new();
        for (id, c) in self.contractors {
            if !valid_slug(&id) {
                problems.push(format!(
                    "contractors.{id}: the id must be lower-case letters, digits and '-' (it names a folder)"
                ));
            }
            if c.name.trim().is_empty() || c.name.chars().any(char::is_control) {
                problems.push(format!(
                    "contractors.{id}.name must be a non-empty single line"
                ));
            }
            if c.require_authentication && m.trusted_authserv_id.is_none() {
                problems.push(format!(
                    "contractors.{id}.require-authentication needs mail.trusted-authserv-id"
                ));
            }
            let notify = match EmailAddr::parse(&c.notify) {
                Ok(a) => Some(a),
                Err(e) => {
                    problems.push(format!("contractors.{id}.notify {:?}: {e}", c.notify));
                    None
                }
            };
            let mut senders = Vec::new();
            for s in &c.senders {
                if s.contains('@') {
                    match EmailAddr::parse(s) {
                        Ok(a) => senders.push(Sender::Address(a)),
                        Err(e) => problems.push(format!("contractors.{id}.senders {s:?}: {e}")),
                    }
                } else if valid_domain(s.trim()) {
                    senders.push(Sender::Domain(s.trim().to_ascii_lowercase()));
                } else {
                    problems.push(format!(
                        "contractors.{id}.senders {s:?} is neither an address nor a domain"
                    ));
                }
            }
            if let Some(notify) = notify {
                contractors.insert(
                    id.clone(),
                    Contractor {
                        id,
                        name: c.name.trim().to_owned(),
                        senders,
                        notify,
                        require_authentication: c.require_authentication,
                        reminders: reminders.policy,
                        aliases: ExtraAliases {
                            email: c.aliases.email,
                            company: c.aliases.company,
                            contact: c.aliases.contact,
                        },
                    },
                );
            }
        }

        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Settings {
            origin: origin.to_owned(),
            paths,
            mail: MailSettings {
                domain: m.domain.to_ascii_lowercase(),
                from_name: m.from_name,
                invites_local: m.invites_local,
                bounces_local: m.bounces_local,
                separator,
                signup_url: m.signup_url,
                templates_dir: m.templates_dir.map(from_base),
                max_answers_per_sender_per_day: m.max_answers_per_sender_per_day,
                trusted_authserv_id: m.trusted_authserv_id,
            },
            transport,
            intake,
            reminders,
            store_cache_mib: self.store.cache_mib.max(8),
            list: ListOptions {
                max_rows: i.max_rows,
                max_errors: i.max_reported_errors,
                max_file_bytes: i.max_file_bytes,
                max_unpacked_bytes: i.max_unpacked_bytes,
                aliases: ExtraAliases::default(),
            },
            rows_per_transaction: i.rows_per_transaction as usize,
            settle: Duration::from_millis(self.drop_folder.settle_ms),
            outbox: OutboxSettings {
                batch: self.outbox.batch,
                retry_base: Duration::from_secs(self.outbox.retry_base_secs),
                max_attempts: self.outbox.max_attempts,
                concurrency: self.outbox.concurrency.max(1),
                per_second: self.outbox.per_second,
                per_contractor_per_minute: self.outbox.per_contractor_per_minute,
            },
            contractors,
        })
    }
}

impl Settings {
    /// List options for one contractor (its extra header aliases).
    pub fn list_options(&self, contractor: &Contractor) -> ListOptions {
        ListOptions {
            aliases: contractor.aliases.clone(),
            ..self.list.clone()
        }
    }
}

impl fmt::Display for Settings {
    /// A summary for `check-config`; never prints secrets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "config: {}", self.origin)?;
        writeln!(f, "store:    {}", self.paths.store.display())?;
        writeln!(f, "drop:     {}", self.paths.drop.display())?;
        writeln!(f, "archive:  {}", self.paths.archive.display())?;
        writeln!(f, "rejected: {}", self.paths.rejected.display())?;
        writeln!(f, "sent:     {}", self.paths.sent.display())?;
        writeln!(f, "inbox:    {}", self.paths.inbox.display())?;
        writeln!(f, "transport: {}", self.transport)?;
        writeln!(
            f,
            "mail from: {} <{}>",
            self.mail.from_name,
            self.mail.from_addr()
        )?;
        for c in self.contractors.values() {
            let senders: Vec<String> = c
                .senders
                .iter()
                .map(|s| match s {
                    Sender::Address(a) => a.to_string(),
                    Sender::Domain(d) => format!("@{d}"),
                })
                .collect();
            writeln!(
                f,
                "contractor {}: {} (notify {}; senders {})",
                c.id,
                c.name,
                c.notify,
                senders.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `p`, or `base/p` when `p` is relative (to the config file's folder).
fn resolve(base: &Path, p: PathBuf) -> PathBuf {
    if p.is_absolute() {
        p
    } else {
        base.join(p)
    }
}

fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn valid_domain(s: &str) -> bool {
    s.len() <= 253
        && s.contains('.')
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_are_valid() {
        let s = Settings::embedded();
        assert!(s.contractor("demo").is_some());
        assert_eq!(s.paths.store, Path::new("./var/store"));
        assert_eq!(s.mail.invites_addr("abc"), "invites+abc@example.test");
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = toml::from_str::<Raw>("[mail]\ndomian = \"x.test\"\n").unwrap_err();
        assert!(err.to_string().contains("domian"), "{err}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let raw: Raw = toml::from_str(
            r#"
            [mail]
            domain = "nodot"
            separator = "++"
            signup-url = "https://x.test/"
            [contractors.Bad_Id]
            name = ""
            notify = "not an address"
            senders = ["also bad@"]
            "#,
        )
        .unwrap();
        let problems = raw.validate(Path::new("."), "test").unwrap_err();
        let all = problems.join("\n");
        for needle in [
            "mail.domain",
            "mail.separator",
            "signup-url",
            "Bad_Id",
            ".name",
            ".notify",
            ".senders",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
    }

    #[test]
    fn size_limits_are_checked_and_reach_the_settings() {
        let bad: Raw = toml::from_str(
            "[intake]\nmax-message-bytes = 100\n[import]\nmax-file-bytes = 10\nmax-unpacked-bytes = 0\n\
             [contractors.a]\nname = \"A\"\nnotify = \"a@a.test\"\n",
        )
        .unwrap();
        let all = bad.validate(Path::new("."), "t").unwrap_err().join("\n");
        for needle in [
            "intake.max-message-bytes",
            "import.max-file-bytes",
            "import.max-unpacked-bytes",
        ] {
            assert!(all.contains(needle), "missing {needle} in:\n{all}");
        }
        let s = Settings::embedded();
        assert_eq!(s.intake.max_message_bytes, 25 << 20);
        assert_eq!(s.list.max_file_bytes, 100 << 20);
        assert_eq!(s.list.max_unpacked_bytes, 1 << 30);
    }

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/subinvite.example.toml");
        let s = Settings::from_file(&path).unwrap();
        assert!(!s.contractors.is_empty());
    }

    #[test]
    fn senders_by_address_and_domain() {
        let raw: Raw = toml::from_str(
            r#"
            [contractors.acme]
            name = "Acme Builders"
            notify = "office@acme.test"
            senders = ["Ann@Other.test", "acme.test"]
            "#,
        )
        .unwrap();
        let s = raw.validate(Path::new("."), "t").unwrap();
        let c = s.contractor("acme").unwrap();
        assert!(c.authorises(&EmailAddr::parse("bob@acme.test").unwrap()));
        assert!(c.authorises(&EmailAddr::parse("ann@other.test").unwrap()));
        assert!(!c.authorises(&EmailAddr::parse("bob@other.test").unwrap()));
        assert!(!c.authorises(&EmailAddr::parse("bob@evilacme.test").unwrap()));
    }
}
