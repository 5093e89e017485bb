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
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
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
            let mut conn = AsyncSmtpConnection::connect_with_transport(
                Box::new(Coalescing::new(tcp)),
                &self.hello,
            )
            .await?;
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

/// A TCP stream that sends a message body and its terminating `.` in one
/// write: lettre flushes them separately, which costs a packet (and a
/// syscall on both ends) per message. Everything else passes straight
/// through: commands are flushed as lettre flushes them.
#[derive(Debug)]
struct Coalescing {
    inner: TcpStream,
    buf: Vec<u8>,
    /// `DATA` was sent; the next reply says whether the body follows.
    awaiting_data_reply: bool,
    /// Between `354` and the terminating `.`: hold flushes.
    in_body: bool,
}

impl Coalescing {
    fn new(inner: TcpStream) -> Coalescing {
        Coalescing {
            inner,
            buf: Vec::with_capacity(8 * 1024),
            awaiting_data_reply: false,
            in_body: false,
        }
    }

    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.buf.is_empty() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.buf) {
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()))
                }
                Poll::Ready(Ok(n)) => {
                    self.buf.drain(..n);
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }
}

impl lettre::transport::smtp::client::AsyncTokioStream for Coalescing {
    fn peer_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.inner.peer_addr()
    }
}

impl AsyncRead for Coalescing {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = out.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, out);
        if let Poll::Ready(Ok(())) = polled {
            let new = &out.filled()[before..];
            if self.awaiting_data_reply && !new.is_empty() {
                self.in_body = new.starts_with(b"354");
                self.awaiting_data_reply = false;
            }
        }
        polled
    }
}

impl AsyncWrite for Coalescing {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.in_body && !this.buf.ends_with(b"\r\n.\r\n") {
            return Poll::Ready(Ok(()));
        }
        let is_data = this.buf.eq_ignore_ascii_case(b"DATA\r\n");
        let ends_body = this.in_body;
        match this.poll_send(cx) {
            Poll::Ready(Ok(())) => {
                if is_data {
                    this.awaiting_data_reply = true;
                }
                if ends_body {
                    this.in_body = false;
                }
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.poll_send(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }
}
