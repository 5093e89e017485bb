//! The transport section of the config: the embedded file transport or
//! SMTP, and the secrets SMTP needs. A secret is read from a file or an
//! environment variable when the config is validated, and never shown: its
//! `Debug` and `Display` print `<redacted>`.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", tag = "kind")]
pub enum RawTransport {
    /// Write each email as an `.eml` file under `paths.sent`.
    #[default]
    File,
    Smtp(RawSmtp),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawSmtp {
    pub host: String,
    #[serde(default)]
    pub port: Option<u16>,
    /// `none` (loopback only), `starttls` or `tls` (implicit).
    #[serde(default = "default_tls")]
    pub tls: String,
    pub username: Option<String>,
    /// File holding the password (e.g. a systemd credential).
    pub password_file: Option<PathBuf>,
    /// Environment variable holding the password.
    pub password_env: Option<String>,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Pooled connections kept open.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// PEM file of certificate authorities to trust besides the built-in
    /// web roots (e.g. a private relay's own CA).
    pub ca_file: Option<PathBuf>,
}

fn default_tls() -> String {
    "starttls".into()
}
fn default_timeout_secs() -> u64 {
    30
}
fn default_pool_size() -> u32 {
    8
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    None,
    StartTls,
    Implicit,
}

/// A password or similar; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub credentials: Option<(String, Secret)>,
    pub timeout: Duration,
    pub pool_size: u32,
    /// The certificates of `ca-file`, PEM, read when the config was loaded.
    pub ca_pem: Option<Vec<u8>>,
}

#[derive(Debug, Clone)]
pub enum Transport {
    File,
    Smtp(SmtpSettings),
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::File => f.write_str("file (.eml files under paths.sent)"),
            Transport::Smtp(s) => write!(
                f,
                "smtp {}:{} tls={:?} auth={} pool={}",
                s.host,
                s.port,
                s.tls,
                s.credentials
                    .as_ref()
                    .map(|(u, _)| u.as_str())
                    .unwrap_or("none"),
                s.pool_size
            ),
        }
    }
}

/// Reads a secret from `file` or the environment variable `env`, warning
/// when the file is readable by others.
pub(super) fn read_secret(
    file: Option<&Path>,
    env: Option<&str>,
    what: &str,
    problems: &mut Vec<String>,
) -> Option<Secret> {
    match (file, env) {
        (Some(_), Some(_)) => {
            problems.push(format!(
                "{what}: set password-file or password-env, not both"
            ));
            None
        }
        (Some(path), None) => match std::fs::read_to_string(path) {
            Ok(s) => {
                #[cfg(unix)]
                if let Ok(meta) = std::fs::metadata(path) {
                    use std::os::unix::fs::PermissionsExt;
                    if meta.permissions().mode() & 0o077 != 0 {
                        tracing::warn!(file = %path.display(), "the secret file is readable by group or others; chmod 600 it");
                    }
                }
                Some(Secret(s.trim_end_matches(['\r', '\n']).to_owned()))
            }
            Err(e) => {
                problems.push(format!(
                    "{what}: cannot read password-file {}: {e}",
                    path.display()
                ));
                None
            }
        },
        (None, Some(var)) => match std::env::var(var) {
            Ok(s) => Some(Secret(s)),
            Err(_) => {
                problems.push(format!(
                    "{what}: the environment variable {var} (password-env) is not set"
                ));
                None
            }
        },
        (None, None) => {
            problems.push(format!(
                "{what}: a username needs password-file or password-env"
            ));
            None
        }
    }
}

impl RawTransport {
    pub(super) fn validate(self, base: &Path, problems: &mut Vec<String>) -> Transport {
        let s = match self {
            RawTransport::File => return Transport::File,
            RawTransport::Smtp(s) => s,
        };
        let tls = match s.tls.to_ascii_lowercase().as_str() {
            "none" => TlsMode::None,
            "starttls" => TlsMode::StartTls,
            "tls" | "implicit" => TlsMode::Implicit,
            other => {
                problems.push(format!(
                    "transport.tls {other:?} must be none, starttls or tls"
                ));
                TlsMode::StartTls
            }
        };
        if s.host.trim().is_empty() {
            problems.push("transport.host is empty".into());
        }
        let credentials = match &s.username {
            Some(user) => {
                let file = s.password_file.clone().map(|p| super::resolve(base, p));
                read_secret(
                    file.as_deref(),
                    s.password_env.as_deref(),
                    "transport",
                    problems,
                )
                .map(|p| (user.clone(), p))
            }
            None => {
                if s.password_file.is_some() || s.password_env.is_some() {
                    problems.push("transport: a password is set but no username".into());
                }
                None
            }
        };
        let ca_pem =
            s.ca_file
                .map(|p| super::resolve(base, p))
                .and_then(|p| match std::fs::read(&p) {
                    Ok(pem) if pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") => {
                        Some(pem)
                    }
                    Ok(_) => {
                        problems.push(format!(
                            "transport.ca-file {} holds no PEM certificate",
                            p.display()
                        ));
                        None
                    }
                    Err(e) => {
                        problems.push(format!(
                            "transport.ca-file: cannot read {}: {e}",
                            p.display()
                        ));
                        None
                    }
                });
        let port = s.port.unwrap_or(match tls {
            TlsMode::Implicit => 465,
            _ => 587,
        });
        Transport::Smtp(SmtpSettings {
            host: s.host,
            port,
            tls,
            credentials,
            timeout: Duration::from_secs(s.timeout_secs.max(1)),
            pool_size: s.pool_size.max(1),
            ca_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> (Transport, Vec<String>) {
        let raw: RawTransport = toml::from_str(toml_text).unwrap();
        let mut problems = Vec::new();
        let t = raw.validate(Path::new("."), &mut problems);
        (t, problems)
    }

    #[test]
    fn smtp_with_a_password_file_never_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "hunter2\n").unwrap();
        let (t, problems) = parse(&format!(
            "kind = \"smtp\"\nhost = \"127.0.0.1\"\nport = 2525\ntls = \"none\"\nusername = \"u\"\npassword-file = {:?}\n",
            pw.display().to_string()
        ));
        assert!(problems.is_empty(), "{problems:?}");
        let Transport::Smtp(s) = &t else {
            panic!("smtp expected")
        };
        assert_eq!(s.credentials.as_ref().unwrap().1.expose(), "hunter2");
        assert!(!format!("{t:?} {t}").contains("hunter2"));
    }

    #[test]
    fn every_smtp_problem_is_reported() {
        let (_, problems) = parse("kind = \"smtp\"\nhost = \"\"\ntls = \"ssl3\"\nusername = \"u\"\npassword-env = \"SUBINVITE_TEST_UNSET_VAR\"\n");
        let all = problems.join("\n");
        for needle in [
            "transport.tls",
            "transport.host",
            "SUBINVITE_TEST_UNSET_VAR",
        ] {
            assert!(all.contains(needle), "{needle} in {all}");
        }
    }

    #[test]
    fn a_ca_file_must_hold_a_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let smtp = |file: &Path| {
            format!(
                "kind = \"smtp\"\nhost = \"mx.test\"\nca-file = {:?}\n",
                file.display().to_string()
            )
        };
        let (_, problems) = parse(&smtp(&junk));
        assert!(
            problems.join("\n").contains("holds no PEM certificate"),
            "{problems:?}"
        );
        let (_, problems) = parse(&smtp(&dir.path().join("missing.pem")));
        assert!(problems.join("\n").contains("cannot read"), "{problems:?}");
    }

    #[test]
    fn default_ports_follow_the_tls_mode() {
        let (t, _) = parse("kind = \"smtp\"\nhost = \"mx.test\"\ntls = \"tls\"\n");
        assert!(matches!(t, Transport::Smtp(SmtpSettings { port: 465, .. })));
        let (t, _) = parse("kind = \"smtp\"\nhost = \"mx.test\"\n");
        assert!(matches!(
            t,
            Transport::Smtp(SmtpSettings {
                port: 587,
                tls: TlsMode::StartTls,
                ..
            })
        ));
    }
}
