//! The embedded intake: a Maildir (`paths.inbox`). Watches `new/` with
//! notify (and a periodic scan as a safety net); each message is handled
//! through [`super::mail`], and only after the store has committed is it
//! moved to `cur/` with the Seen flag. A message found again after a crash
//! is recognised by its idempotency key and only moved.

use super::mail::{handle_or_quarantine, handle_oversized, OVERSIZED_HEAD_BYTES};
use crate::clock;
use crate::config::Settings;
use crate::store::Store;
use notify::{RecursiveMode, Watcher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How often `new/` is scanned when no event arrives.
const SCAN_EVERY: Duration = Duration::from_secs(2);

/// Creates `new/`, `cur/` and `tmp/` under `root`.
pub fn create(root: &Path) -> std::io::Result<()> {
    for d in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    Ok(())
}

/// Messages waiting in `new/`, oldest name first (Maildir names start with
/// the delivery time).
pub fn waiting(root: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("new"))
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Moves a handled message from `new/` to `cur/`, marked Seen.
fn acknowledge(root: &Path, path: &Path) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = name.split(":2,").next().unwrap_or(&name);
    std::fs::rename(path, root.join("cur").join(format!("{base}:2,S")))
}

/// Handles one message file; the error is the store's (the file stays).
pub fn take(
    store: &Store,
    settings: &Settings,
    root: &Path,
    path: &Path,
) -> anyhow::Result<String> {
    let source = format!("maildir:{}", path.display());
    let size = std::fs::metadata(path)?.len();
    let summary = if size > settings.intake.max_message_bytes {
        // Only the header section is read; the rest never enters memory.
        let mut head = Vec::with_capacity(OVERSIZED_HEAD_BYTES);
        std::fs::File::open(path)?
            .take(OVERSIZED_HEAD_BYTES as u64)
            .read_to_end(&mut head)?;
        handle_oversized(store, settings, &head, size, &source, clock::now())?
    } else {
        let raw = std::fs::read(path)?;
        handle_or_quarantine(store, settings, &raw, &source, clock::now())?
    };
    // Moving the file to `cur/` acknowledges it: the commit must be on disk.
    store.flush()?;
    crate::crash::point("maildir.committed");
    acknowledge(root, path)?;
    Ok(summary)
}

/// Runs until `cancel` fires.
pub async fn run(
    store: Store,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let root = settings.paths.inbox.clone();
    if let Err(e) = create(&root) {
        tracing::error!(dir = %root.display(), error = %e, "cannot create the Maildir");
        return;
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .and_then(|mut w| {
        w.watch(&root.join("new"), RecursiveMode::NonRecursive)
            .map(|()| w)
    });
    let _watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the Maildir; scanning periodically");
            None
        }
    };
    loop {
        for path in waiting(&root) {
            if cancel.is_cancelled() {
                break;
            }
            let (s, st, r, p) = (store.clone(), settings.clone(), root.clone(), path.clone());
            let span = tracing::info_span!("envelope", source = "maildir", file = %path.display());
            match tokio::task::spawn_blocking(move || take(&s, &st, &r, &p)).await {
                Ok(Ok(summary)) => {
                    let _g = span.enter();
                    tracing::info!("{summary}");
                    wake.notify_one();
                }
                Ok(Err(e)) => {
                    let _g = span.enter();
                    tracing::error!(error = %e, "cannot handle the message now; will try again");
                }
                Err(e) => tracing::error!(error = %e, "message handler panicked"),
            }
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = rx.recv() => {}
            _ = tokio::time::sleep(SCAN_EVERY) => {}
        }
        while rx.try_recv().is_ok() {}
    }
    tracing::info!("maildir watcher stopped");
}
