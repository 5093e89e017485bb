//! Where composed emails go: `.eml` files (the embedded default) or SMTP
//! through a connection pool. Every failure is classed
//! [`SendError::Transient`] (retry later: 4xx, refused connection, timeout)
//! or [`SendError::Permanent`] (5xx: give up), which is all the outbox needs.

use super::smtp::SmtpPool;
use crate::config::SmtpSettings;
use lettre::address::Envelope;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A configured transport.
pub enum Transport {
    /// `.eml` files in a folder, each written whole under a temporary name,
    /// synced, then renamed: a reader never sees half a message.
    File { dir: PathBuf },
    /// SMTP through a pool of sessions.
    Smtp(Box<SmtpPool>),
}

impl Transport {
    pub fn file(dir: PathBuf) -> std::io::Result<Transport> {
        std::fs::create_dir_all(&dir)?;
        Ok(Transport::File { dir })
    }

    /// An SMTP transport; `hello_domain` is the name given in EHLO.
    pub fn smtp(
        s: &SmtpSettings,
        hello_domain: &str,
    ) -> Result<Transport, lettre::transport::smtp::Error> {
        let pool = SmtpPool::new(s.clone(), hello_domain)?;
        Ok(Transport::Smtp(Box::new(pool)))
    }

    /// Sends one message to the envelope's recipients.
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        match self {
            Transport::File { dir } => {
                let (dir, bytes) = (dir.clone(), bytes.to_vec());
                tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map_err(|e| SendError::Transient(format!("cannot write the message: {e}")))
            }
            Transport::Smtp(pool) => pool.send(envelope, bytes).await,
        }
    }
}

/// Writes one message as `<random>.eml` in `dir`, atomically and durably.
fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut name = [0u8; 16];
    getrandom::fill(&mut name).map_err(|e| std::io::Error::other(e.to_string()))?;
    let name = data_encoding::HEXLOWER.encode(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, dir.join(format!("{name}.eml")))?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TlsMode;

    fn settings(host: &str, tls: TlsMode, ca_pem: Option<&str>) -> SmtpSettings {
        SmtpSettings {
            host: host.into(),
            port: 25,
            tls,
            credentials: None,
            timeout: std::time::Duration::from_secs(5),
            pool_size: 1,
            ca_pem: ca_pem.map(|p| p.as_bytes().to_vec()),
        }
    }

    #[test]
    fn a_ca_file_that_does_not_parse_stops_tls_at_start_up_only() {
        let bad = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        for tls in [TlsMode::StartTls, TlsMode::Implicit] {
            let s = settings("mx.example.test", tls, Some(bad));
            assert!(Transport::smtp(&s, "example.test").is_err(), "{tls:?}");
            let s = settings("mx.example.test", tls, None);
            assert!(Transport::smtp(&s, "example.test").is_ok(), "{tls:?}");
        }
        // Without TLS the certificates are never read.
        let s = settings("127.0.0.1", TlsMode::None, Some(bad));
        assert!(Transport::smtp(&s, "example.test").is_ok());
    }
}
