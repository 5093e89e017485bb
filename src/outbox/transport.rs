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
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("temporary failure: {0}")]
    Transient(String),
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// A configured transport.
pub enum Transport {
    /// `.eml` files in a folder, each synced to disk before it counts as sent.
    File {
        dir: PathBuf,
        inner: AsyncFileTransport<Tokio1Executor>,
    },
    /// Plain or STARTTLS SMTP with our pool (TCP_NODELAY).
    Smtp(SmtpPool),
    /// Implicit TLS, with lettre's pooled transport.
    SmtpTls(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    pub fn file(dir: PathBuf) -> std::io::Result<Transport> {
        std::fs::create_dir_all(&dir)?;
        Ok(Transport::File {
            inner: AsyncFileTransport::new(&dir),
            dir,
        })
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
            Transport::File { dir, inner } => {
                let id = inner
                    .send_raw(envelope, bytes)
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?;
                let path = dir.join(format!("{id}.eml"));
                tokio::task::spawn_blocking(move || std::fs::File::open(&path)?.sync_all())
                    .await
                    .map_err(|e| SendError::Transient(e.to_string()))?
                    .map_err(|e| SendError::Transient(format!("sync: {e}")))?;
                Ok(())
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
