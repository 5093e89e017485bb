//! IMAP intake: one blocking thread per mailbox (the `imap` crate is
//! synchronous). It logs in with the secret from the config, selects the
//! mailbox, takes every message past the UIDVALIDITY + UID checkpoint,
//! handles it through [`super::mail`], and only after the store has
//! committed moves it to the processed folder (MOVE, or COPY + delete where
//! MOVE is missing) and advances the checkpoint. Between rounds it waits in
//! IDLE (bounded, so shutdown is noticed) or polls where IDLE is missing, and
//! reconnects with backoff after any failure.

use super::mail::{handle_or_quarantine, handle_oversized};
use crate::clock;
use crate::config::{ImapSettings, Settings, TlsMode};
use crate::store::Store;
use imap::ConnectionMode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Longest single IDLE or poll wait, so a shutdown is noticed promptly.
const ROUND: Duration = Duration::from_secs(10);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

type Session = imap::Session<imap::Connection>;

#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("imap: {0}")]
    Imap(#[from] imap::Error),
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// Reads `mailbox` until `cancel` fires. Runs on a blocking thread.
pub fn run(
    store: Store,
    settings: Arc<Settings>,
    mailbox: ImapSettings,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let name = mailbox.name();
    let mut backoff = Duration::from_secs(1);
    while !cancel.is_cancelled() {
        let served = session(&mailbox).and_then(|s| {
            // Connected and logged in: the next loss starts the backoff anew.
            backoff = Duration::from_secs(1);
            serve(s, &store, &settings, &mailbox, &wake, &cancel)
        });
        match served {
            Ok(()) => break,
            Err(e) => {
                tracing::warn!(mailbox = %name, error = %e, retry_in = ?backoff, "IMAP connection lost; reconnecting");
                let deadline = std::time::Instant::now() + backoff;
                while std::time::Instant::now() < deadline && !cancel.is_cancelled() {
                    std::thread::sleep(Duration::from_millis(100));
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    tracing::info!(mailbox = %name, "IMAP reader stopped");
}

fn session(m: &ImapSettings) -> Result<Session, Failure> {
    let mode = match m.tls {
        TlsMode::None => ConnectionMode::Plaintext,
        TlsMode::StartTls => ConnectionMode::StartTls,
        TlsMode::Implicit => ConnectionMode::Tls,
    };
    let client = imap::ClientBuilder::new(&m.host, m.port)
        .mode(mode)
        .connect()?;
    let session = client
        .login(&m.username, m.password.expose())
        .map_err(|(e, _)| e)?;
    Ok(session)
}

fn serve(
    mut s: Session,
    store: &Store,
    settings: &Settings,
    m: &ImapSettings,
    wake: &Notify,
    cancel: &CancellationToken,
) -> Result<(), Failure> {
    let name = m.name();
    let caps = s.capabilities()?;
    let (can_move, can_idle) = (caps.has_str("MOVE"), caps.has_str("IDLE"));
    drop(caps);
    // The processed folder may exist already; a failure here shows at MOVE.
    let _ = s.create(&m.processed);
    let selected = s.select(&m.mailbox)?;
    let validity = selected.uid_validity.unwrap_or(0);
    let mut last = match store.checkpoint(&name)? {
        Some((v, uid)) if v == validity => uid,
        Some((v, _)) => {
            tracing::warn!(mailbox = %name, old = v, new = validity, "UIDVALIDITY changed; reading the mailbox again (handled messages are recognised)");
            0
        }
        None => 0,
    };
    tracing::info!(mailbox = %name, idle = can_idle, r#move = can_move, "IMAP reader ready");
    while !cancel.is_cancelled() {
        let mut uids: Vec<u32> = s
            .uid_search(format!("UID {}:*", last.saturating_add(1)))?
            .into_iter()
            .filter(|u| *u > last)
            .collect();
        uids.sort_unstable();
        for uid in uids {
            if cancel.is_cancelled() {
                break;
            }
            // A message over the size limit is answered from its header alone.
            let size = s
                .uid_fetch(uid.to_string(), "RFC822.SIZE")?
                .iter()
                .find_map(|f| f.size)
                .map_or(0, u64::from);
            let over = size > settings.intake.max_message_bytes;
            let what = if over {
                "BODY.PEEK[HEADER]"
            } else {
                "BODY.PEEK[]"
            };
            let fetches = s.uid_fetch(uid.to_string(), what)?;
            let Some(raw) = fetches
                .iter()
                .find_map(|f| if over { f.header() } else { f.body() }.map(<[u8]>::to_vec))
            else {
                continue;
            };
            drop(fetches);
            let span = tracing::info_span!("envelope", source = %name, uid);
            let _g = span.enter();
            let source = format!("{name}#{uid}");
            let summary = if over {
                handle_oversized(store, settings, &raw, size, &source, clock::now())?
            } else {
                handle_or_quarantine(store, settings, &raw, &source, clock::now())?
            };
            tracing::info!("{summary}");
            wake.notify_one();
            // Acknowledge only once the commit is on disk.
            store.flush()?;
            crate::crash::point("imap.committed");
            if can_move {
                s.uid_mv(uid.to_string(), &m.processed)?;
            } else {
                s.uid_copy(uid.to_string(), &m.processed)?;
                s.uid_store(uid.to_string(), "+FLAGS (\\Seen \\Deleted)")?;
                s.expunge()?;
            }
            crate::crash::point("imap.moved");
            store.set_checkpoint(&name, (validity, uid))?;
            last = uid;
        }
        if cancel.is_cancelled() {
            break;
        }
        let round = m.idle.min(ROUND);
        if can_idle {
            s.idle()
                .timeout(round)
                .keepalive(false)
                .wait_while(|_| false)?;
        } else {
            std::thread::sleep(round);
            s.noop()?;
        }
    }
    let _ = s.logout();
    Ok(())
}
