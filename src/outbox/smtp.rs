//! A pool of SMTP sessions: plain (loopback), STARTTLS or implicit TLS,
//! with AUTH when configured. lettre parses replies and formats commands;
//! this module owns the sessions and drives each mail transaction:
//!
//! - TCP_NODELAY, and the body made transparent (RFC 5321 §4.5.2) here, in
//!   one pass, and written with its terminating `.` in one write: lettre
//!   escapes byte by byte and writes the two apart, and with Nagle's
//!   algorithm each message would wait out the server's delayed ACK;
//! - PIPELINING (RFC 2920) when the server offers it: `MAIL`, `RCPT` and
//!   `DATA` go out in one write and their replies are read in order, so a
//!   message costs two round trips instead of four;
//! - a refused transaction is reset (`RSET`) and its session kept; a broken
//!   or stale session is dropped and, when it was a reused one, the message
//!   is tried once on a fresh session;
//! - a session that cannot be set up (no connection, TLS refused, a login
//!   refused) is a temporary failure whatever the server's code: it says
//!   nothing about the message or its recipient, so nothing bounces.

use super::transport::SendError;
use crate::config::{SmtpSettings, TlsMode};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use std::fmt;
use std::sync::Mutex;
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

/// Pooled SMTP sessions to one server.
pub struct SmtpPool {
    settings: SmtpSettings,
    security: Security,
    hello: ClientId,
    idle: Mutex<Vec<Session>>,
    permits: Semaphore,
}

/// How a session is secured, and how the server's certificate is checked.
enum Security {
    /// No TLS (loopback only).
    Plain,
    StartTls(TlsParameters),
    Implicit(TlsParameters),
}

/// One open SMTP session and what its server offers.
struct Session {
    conn: AsyncSmtpConnection,
    /// The server advertised PIPELINING in its EHLO reply.
    pipelining: bool,
}

/// How a failed transaction leaves its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Left {
    /// Back at the start of a transaction: it can be pooled again.
    Usable,
    /// Given up on purpose (a timeout, a body we must not send).
    Closed,
    /// The connection failed: if it was a reused one, it had gone stale.
    Broken,
}

type Failed = (SendError, Left);

fn transient(e: impl fmt::Display) -> SendError {
    SendError::Transient(e.to_string())
}

fn classify(e: lettre::transport::smtp::Error) -> SendError {
    if e.is_permanent() {
        SendError::Permanent(e.to_string())
    } else {
        SendError::Transient(e.to_string())
    }
}

/// The server answered, and the answer was no (4xx or 5xx): the session
/// is still in step. Anything else (I/O, a reply that does not parse)
/// leaves it unusable.
fn is_refusal(e: &lettre::transport::smtp::Error) -> bool {
    e.is_transient() || e.is_permanent()
}

fn broken(e: lettre::transport::smtp::Error) -> Failed {
    (transient(e), Left::Broken)
}

/// `MAIL`, every `RCPT` and `DATA`, written as one.
struct Pipelined<'a> {
    mail: &'a Mail,
    rcpts: &'a [Rcpt],
}

impl fmt::Display for Pipelined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.mail)?;
        for rcpt in self.rcpts {
            write!(f, "{rcpt}")?;
        }
        write!(f, "{Data}")
    }
}

/// A message as the DATA phase carries it (RFC 5321 §4.5.2): a `.` that
/// begins a line is doubled, and a line holding only `.` ends it. Unlike
/// lettre's codec, a message that ends with CRLF gets no extra empty line.
struct Transparent<'a>(&'a str);

impl fmt::Display for Transparent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.0;
        if body.starts_with('.') {
            f.write_str(".")?;
        }
        let mut from = 0;
        for (at, _) in body.match_indices("\r\n.") {
            f.write_str(&body[from..at + 3])?;
            f.write_str(".")?;
            from = at + 3;
        }
        f.write_str(&body[from..])?;
        let end = if body.ends_with("\r\n") {
            ".\r\n"
        } else {
            "\r\n.\r\n"
        };
        f.write_str(end)
    }
}

impl SmtpPool {
    /// A pool for `settings`; sessions are opened as messages need them.
    /// Fails only on TLS settings that cannot be used (a `ca-file` that does
    /// not parse), so that shows at start-up; without TLS they are not read.
    pub fn new(
        settings: SmtpSettings,
        hello_domain: &str,
    ) -> Result<SmtpPool, lettre::transport::smtp::Error> {
        let security = match settings.tls {
            TlsMode::None => Security::Plain,
            TlsMode::StartTls => Security::StartTls(tls_parameters(&settings)?),
            TlsMode::Implicit => Security::Implicit(tls_parameters(&settings)?),
        };
        Ok(SmtpPool {
            security,
            permits: Semaphore::new(settings.pool_size as usize),
            hello: ClientId::Domain(hello_domain.to_owned()),
            idle: Mutex::new(Vec::new()),
            settings,
        })
    }

    fn take(&self) -> Option<Session> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()
    }

    fn put(&self, session: Session) {
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(session);
    }

    async fn connect(&self) -> Result<Session, SendError> {
        let s = &self.settings;
        let at = format!("{}:{}", s.host, s.port);
        let setup = async {
            let mut conn = if let Security::Implicit(tls) = &self.security {
                AsyncSmtpConnection::connect_tokio1(
                    (s.host.as_str(), s.port),
                    None,
                    &self.hello,
                    Some(tls.clone()),
                    None,
                )
                .await
                .map_err(|e| transient(format!("cannot open a TLS session with {at}: {e}")))?
            } else {
                let tcp = TcpStream::connect((s.host.as_str(), s.port))
                    .await
                    .map_err(|e| transient(format!("cannot connect to {at}: {e}")))?;
                tcp.set_nodelay(true).map_err(transient)?;
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello)
                    .await
                    .map_err(|e| transient(format!("{at} did not greet: {e}")))?
            };
            if let Security::StartTls(tls) = &self.security {
                conn.starttls(tls.clone(), &self.hello)
                    .await
                    .map_err(|e| transient(format!("STARTTLS with {at} failed: {e}")))?;
            }
            // lettre keeps only the extensions it knows of; ask once more
            // to learn whether the server pipelines.
            let ehlo = conn
                .command(Ehlo::new(self.hello.clone()))
                .await
                .map_err(|e| transient(format!("{at} did not answer EHLO: {e}")))?;
            let pipelining = ehlo.message().any(|line| {
                line.split_ascii_whitespace()
                    .next()
                    .is_some_and(|word| word.eq_ignore_ascii_case("PIPELINING"))
            });
            if let Some((user, password)) = &s.credentials {
                let creds = Credentials::new(user.clone(), password.expose().to_owned());
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &creds)
                    .await
                    .map_err(|e| transient(format!("{at} refused the login of {user}: {e}")))?;
            }
            Ok(Session { conn, pipelining })
        };
        tokio::time::timeout(s.timeout, setup)
            .await
            .map_err(|_| transient(format!("opening an SMTP session with {at} timed out")))?
    }

    /// Sends one message on a pooled session.
    pub async fn send(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let _permit = self.permits.acquire().await.map_err(transient)?;
        let pooled = self.take();
        let reused = pooled.is_some();
        let mut session = match pooled {
            Some(s) => s,
            None => self.connect().await?,
        };
        let (error, left) = match self.deliver(&mut session, envelope, bytes).await {
            Ok(()) => {
                self.put(session);
                return Ok(());
            }
            Err(failed) => failed,
        };
        match left {
            Left::Usable => self.put(session),
            // A reused session the server had closed: once more, fresh.
            Left::Broken if reused => {
                drop(session);
                let mut fresh = self.connect().await?;
                return match self.deliver(&mut fresh, envelope, bytes).await {
                    Ok(()) => {
                        self.put(fresh);
                        Ok(())
                    }
                    Err((error, left)) => {
                        if left == Left::Usable {
                            self.put(fresh);
                        }
                        Err(error)
                    }
                };
            }
            Left::Broken | Left::Closed => {}
        }
        Err(error)
    }

    /// One mail transaction within the configured timeout.
    async fn deliver(
        &self,
        session: &mut Session,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<(), Failed> {
        match tokio::time::timeout(self.settings.timeout, transaction(session, envelope, bytes))
            .await
        {
            Ok(result) => result,
            Err(_) => Err((
                transient("the SMTP server did not answer in time"),
                Left::Closed,
            )),
        }
    }
}

/// How the server's certificate is checked: against the built-in web roots
/// and the certificates of `transport.ca-file`, for the name `host`.
fn tls_parameters(s: &SmtpSettings) -> Result<TlsParameters, lettre::transport::smtp::Error> {
    let mut b = TlsParameters::builder(s.host.clone());
    if let Some(pem) = &s.ca_pem {
        b = b.add_root_certificate(Certificate::from_pem(pem)?);
    }
    b.build()
}

/// `MAIL`, `RCPT`s, `DATA`, then the body. A refusal before the body is
/// reset with `RSET` so the session can carry the next message.
async fn transaction(s: &mut Session, envelope: &Envelope, bytes: &[u8]) -> Result<(), Failed> {
    let info = s.conn.server_info();
    let mut params = Vec::new();
    let addresses = envelope.from().into_iter().chain(envelope.to());
    if addresses.map(AsRef::<str>::as_ref).any(|a| !a.is_ascii()) {
        if !info.supports_feature(Extension::SmtpUtfEight) {
            return Err((
                SendError::Permanent("the server cannot take non-ASCII addresses".into()),
                Left::Usable,
            ));
        }
        params.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() {
        if !info.supports_feature(Extension::EightBitMime) {
            return Err((
                SendError::Permanent("the server cannot take 8-bit messages".into()),
                Left::Usable,
            ));
        }
        params.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let mail = Mail::new(envelope.from().cloned(), params);
    let rcpts: Vec<Rcpt> = envelope
        .to()
        .iter()
        .map(|to| Rcpt::new(to.clone(), Vec::new()))
        .collect();

    let (refusal, data_accepted) = if s.pipelining {
        pipelined(s, &mail, &rcpts).await?
    } else {
        stepwise(s, &mail, &rcpts).await?
    };
    if let Some(e) = refusal {
        // The server waits for a body we must not send: only closing the
        // session abandons it.
        if data_accepted {
            return Err((classify(e), Left::Closed));
        }
        return match s.conn.command(Rset).await {
            Ok(_) => Err((classify(e), Left::Usable)),
            Err(_) => Err((classify(e), Left::Broken)),
        };
    }
    // A composed message is UTF-8 (headers encoded, bodies 7bit, 8bit,
    // quoted-printable or base64); anything else takes lettre's way.
    let sent = match std::str::from_utf8(bytes) {
        Ok(text) => s.conn.command(Transparent(text)).await,
        Err(_) => s.conn.message(bytes).await,
    };
    match sent {
        Ok(_) => Ok(()),
        // The reply to the final `.` ends the transaction either way.
        Err(e) if is_refusal(&e) => Err((classify(e), Left::Usable)),
        Err(e) => Err(broken(e)),
    }
}

/// The envelope commands in one write (RFC 2920). Returns the first
/// refusal, if any, and whether `DATA` was answered 354.
async fn pipelined(
    s: &mut Session,
    mail: &Mail,
    rcpts: &[Rcpt],
) -> Result<(Option<lettre::transport::smtp::Error>, bool), Failed> {
    let replies = rcpts.len() + 2;
    let mut refusal = None;
    let mut data_accepted = false;
    for i in 0..replies {
        let reply = if i == 0 {
            s.conn.command(Pipelined { mail, rcpts }).await
        } else {
            s.conn.read_response().await
        };
        match reply {
            Ok(_) => data_accepted = i + 1 == replies,
            Err(e) if is_refusal(&e) => {
                refusal.get_or_insert(e);
            }
            Err(e) => return Err(broken(e)),
        }
    }
    Ok((refusal, data_accepted))
}

/// The envelope commands one at a time, stopping at the first refusal.
async fn stepwise(
    s: &mut Session,
    mail: &Mail,
    rcpts: &[Rcpt],
) -> Result<(Option<lettre::transport::smtp::Error>, bool), Failed> {
    let step = |reply: Result<_, lettre::transport::smtp::Error>| match reply {
        Ok(_) => Ok(None),
        Err(e) if is_refusal(&e) => Ok(Some(e)),
        Err(e) => Err(broken(e)),
    };
    if let Some(e) = step(s.conn.command(mail).await)? {
        return Ok((Some(e), false));
    }
    for rcpt in rcpts {
        if let Some(e) = step(s.conn.command(rcpt).await)? {
            return Ok((Some(e), false));
        }
    }
    let refusal = step(s.conn.command(Data).await)?;
    let data_accepted = refusal.is_none();
    Ok((refusal, data_accepted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_commands_go_out_as_one_write_in_order() {
        let addr = |s: &str| s.parse::<lettre::Address>().expect("address");
        let mail = Mail::new(Some(addr("bounces+t@example.test")), Vec::new());
        let rcpts = [
            Rcpt::new(addr("a@subs.test"), Vec::new()),
            Rcpt::new(addr("b@subs.test"), Vec::new()),
        ];
        let written = Pipelined {
            mail: &mail,
            rcpts: &rcpts,
        }
        .to_string();
        assert_eq!(
            written,
            "MAIL FROM:<bounces+t@example.test>\r\nRCPT TO:<a@subs.test>\r\n\
             RCPT TO:<b@subs.test>\r\nDATA\r\n"
        );
    }

    #[test]
    fn a_body_is_made_transparent_and_terminated() {
        let data = |body: &str| Transparent(body).to_string();
        assert_eq!(data("Hi\r\n"), "Hi\r\n.\r\n");
        assert_eq!(data("Hi"), "Hi\r\n.\r\n");
        assert_eq!(data(".start\r\n"), "..start\r\n.\r\n");
        assert_eq!(
            data("a\r\n.\r\n..b\r\nc.d\r\n.\r\n."),
            "a\r\n..\r\n...b\r\nc.d\r\n..\r\n..\r\n.\r\n"
        );
        // Only a dot after CRLF begins a line, as in lettre's codec.
        assert_eq!(data("a\n.b\r.c"), "a\n.b\r.c\r\n.\r\n");
    }
}
