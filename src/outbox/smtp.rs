//! A pool of SMTP connections for plain and STARTTLS submission. lettre
//! drives the protocol; this module owns the sockets so it can set
//! TCP_NODELAY: lettre writes a message and its terminating `.` separately,
//! and with Nagle's algorithm on, each message then waits out the server's
//! delayed ACK (about 40 ms). A broken or stale connection is dropped and,
//! when it was a reused one, the message is tried once on a fresh one.

use super::transport::SendError;
use crate::config::{SmtpSettings, TlsMode};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use std::sync::Mutex;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Pooled SMTP connections to one server.
pub struct SmtpPool {
    settings: SmtpSettings,
    hello: ClientId,
    idle: Mutex<Vec<AsyncSmtpConnection>>,
    permits: Semaphore,
}

fn transient(e: impl std::fmt::Display) -> SendError {
    SendError::Transient(e.to_string())
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(e.to_string())
    } else {
        SendError::Transient(e.to_string())
    }
}

impl SmtpPool {
    /// A pool for `settings` (not for implicit TLS, which lettre's own
    /// transport serves).
    pub fn new(settings: SmtpSettings, hello_domain: &str) -> SmtpPool {
        SmtpPool {
            permits: Semaphore::new(settings.pool_size as usize),
            hello: ClientId::Domain(hello_domain.to_owned()),
            idle: Mutex::new(Vec::new()),
            settings,
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let s = &self.settings;
        let limit = s.timeout;
        let tcp = tokio::time::timeout(limit, TcpStream::connect((s.host.as_str(), s.port)))
            .await
            .map_err(|_| transient(format!("connecting to {}:{} timed out", s.host, s.port)))?
            .map_err(|e| transient(format!("cannot connect to {}:{}: {e}", s.host, s.port)))?;
        tcp.set_nodelay(true).map_err(transient)?;
        let setup = async {
            let mut conn =
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
            if s.tls == TlsMode::StartTls {
                conn.starttls(TlsParameters::new(s.host.clone())?, &self.hello)
                    .await?;
            }
            if let Some((user, password)) = &s.credentials {
                let creds = Credentials::new(user.clone(), password.expose().to_owned());
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                    .await?;
            }
            Ok::<_, lettre::transport::smtp::Error>(conn)
        };
        tokio::time::timeout(limit, setup)
            .await
            .map_err(|_| transient("SMTP greeting timed out"))?
            .map_err(classify)
    }

    /// Sends one message on a pooled connection.
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let _permit = self.permits.acquire().await.map_err(transient)?;
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let reused = pooled.is_some();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect().await?,
        };
        match self.send_on(&mut conn, envelope, bytes).await {
            Ok(()) => {
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(conn);
                Ok(())
            }
            // A reused connection the server had closed: once more, fresh.
            Err(SendError::Transient(_)) if reused => {
                let mut fresh = self.connect().await?;
                self.send_on(&mut fresh, envelope, bytes).await?;
                self.idle
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(fresh);
                Ok(())
            }
            Err(e) => {
                // A rejected recipient leaves the session usable.
                if !conn.has_broken() && matches!(e, SendError::Permanent(_)) {
                    self.idle
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(conn);
                }
                Err(e)
            }
        }
    }

    async fn send_on(
        &self,
        conn: &mut AsyncSmtpConnection,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), SendError> {
        match tokio::time::timeout(self.settings.timeout, conn.send(envelope, bytes)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(e)),
            Err(_) => Err(transient("the SMTP server did not answer in time")),
        }
    }
}
