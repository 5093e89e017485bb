//! Where composed emails go: `.eml` files (the embedded default) or SMTP
//! through a connection pool. Every failure is classed
//! [`SendError::Transient`] (retry later: 4xx, refused connection, timeout)
//! or [`SendError::Permanent`] (5xx: give up), which is all the outbox needs.

use super::smtp::SmtpPool;
use crate::config::{SmtpSettings, TlsMode};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
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
    /// Plain or STARTTLS SMTP with our pool (TCP_NODELAY).
    Smtp(SmtpPool),
    /// Implicit TLS, with lettre's pooled transport.
    SmtpTls(AsyncSmtpTransport<Tokio1Executor>),
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
        if s.tls != TlsMode::Implicit {
            return Ok(Transport::Smtp(SmtpPool::new(s.clone(), hello_domain)));
        }
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(Tls::Wrapper(TlsParameters::new(s.host.clone())?))
            .timeout(Some(s.timeout))
            .pool_config(PoolConfig::new().max_size(s.pool_size));
        if let Some((user, password)) = &s.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.expose().to_owned()));
        }
        Ok(Transport::SmtpTls(b.build()))
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
            Transport::SmtpTls(smtp) => match smtp.send_raw(envelope, bytes).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_permanent() => Err(SendError::Permanent(e.to_string())),
                Err(e) => Err(SendError::Transient(e.to_string())),
            },
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
