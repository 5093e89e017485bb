//! The drop folder: `drop/<contractor-id>/<file>`. Watches with notify (and
//! a periodic scan as a safety net), takes a file once its size and mtime
//! have been stable for `drop-folder.settle-ms`, imports it, and only after
//! the store has committed moves it to `archive/<contractor>/` or
//! `rejected/<contractor>/` with a report beside it. The idempotency key is
//! the content digest, so a file seen again after a crash is not imported
//! twice. Nothing here stops the daemon: a bad file is moved and reported.

use crate::clock;
use crate::config::Settings;
use crate::import::{self, ImportError, Outcome, Submission};
use crate::list::{ListFile, ListInput};
use crate::model::BatchState;
use crate::outbox::compose::report_body;
use crate::store::Store;
use notify::{RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long to leave a file alone after the store failed under it.
const STORE_RETRY: Duration = Duration::from_secs(30);

/// Names an editor, a spreadsheet or a copy in progress leaves behind.
pub fn ignored(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || name.starts_with("~$")
        || name.ends_with('~')
        || [
            ".tmp",
            ".part",
            ".crdownload",
            ".partial",
            ".swp",
            ".download",
        ]
        .iter()
        .any(|ext| lower.ends_with(ext))
}

/// Where a handled file went, and why.
#[derive(Debug)]
pub struct Handled {
    pub moved_to: PathBuf,
    pub accepted: bool,
    pub summary: String,
}

/// A file seen in the drop folder, waiting to settle.
struct Candidate {
    len: u64,
    modified: Option<SystemTime>,
    stable_since: Instant,
}

/// Runs until `cancel` fires.
pub async fn run(
    store: Store,
    settings: Arc<Settings>,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    let root = settings.paths.drop.clone();
    for id in settings.contractors.keys() {
        if let Err(e) = std::fs::create_dir_all(root.join(id)) {
            tracing::error!(dir = %root.join(id).display(), error = %e, "cannot create drop folder");
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |_res: notify::Result<notify::Event>| {
        let _ = tx.send(());
    })
    .and_then(|mut w| w.watch(&root, RecursiveMode::Recursive).map(|()| w));
    let _watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(error = %e, dir = %root.display(), "cannot watch the drop folder; scanning periodically");
            None
        }
    };
    let settle = settings.settle;
    let tick = (settle / 2).clamp(Duration::from_millis(50), Duration::from_secs(2));
    let mut pending: HashMap<PathBuf, Candidate> = HashMap::new();
    loop {
        for (path, contractor) in scan(&root) {
            if cancel.is_cancelled() {
                break;
            }
            if !due(&mut pending, &path, settle) {
                continue;
            }
            let (s, st) = (store.clone(), settings.clone());
            let p = path.clone();
            let res =
                tokio::task::spawn_blocking(move || handle(&s, &st, &p, contractor.as_deref()))
                    .await;
            match res {
                Ok(Ok(h)) => {
                    pending.remove(&path);
                    tracing::info!(file = %path.display(), to = %h.moved_to.display(), accepted = h.accepted, "{}", h.summary);
                    wake.notify_one();
                }
                Ok(Err(e)) => {
                    tracing::error!(file = %path.display(), error = %e, "cannot handle the file now; will try again");
                    if let Some(c) = pending.get_mut(&path) {
                        c.stable_since = Instant::now() + STORE_RETRY;
                    }
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "file handler panicked")
                }
            }
        }
        pending.retain(|p, _| p.exists());
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = rx.recv() => {}
            _ = tokio::time::sleep(tick) => {}
        }
        // Coalesce a burst of events into one scan.
        while rx.try_recv().is_ok() {}
    }
    tracing::info!("drop folder watcher stopped");
}

/// Files waiting in the drop folder: (path, contractor folder name or None
/// for a file at the top).
pub fn scan(root: &Path) -> Vec<(PathBuf, Option<String>)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ignored(&name) {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        if ft.is_file() {
            out.push((e.path(), None));
        } else if ft.is_dir() {
            let Ok(files) = std::fs::read_dir(e.path()) else {
                continue;
            };
            let mut files: Vec<_> = files
                .flatten()
                .filter(|f| f.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter(|f| !ignored(&f.file_name().to_string_lossy()))
                .map(|f| {
                    let m = f.metadata().and_then(|m| m.modified()).ok();
                    (m, f.path())
                })
                .collect();
            files.sort();
            out.extend(files.into_iter().map(|(_, p)| (p, Some(name.clone()))));
        }
    }
    out
}

/// Whether `path` has been stable for `settle`.
fn due(pending: &mut HashMap<PathBuf, Candidate>, path: &Path, settle: Duration) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let (len, modified) = (meta.len(), meta.modified().ok());
    let now = Instant::now();
    let c = pending.entry(path.to_owned()).or_insert(Candidate {
        len,
        modified,
        stable_since: now,
    });
    if c.len != len || c.modified != modified {
        *c = Candidate {
            len,
            modified,
            stable_since: now,
        };
        return false;
    }
    now >= c.stable_since && now.duration_since(c.stable_since) >= settle
}

/// Handles one settled file: import, then move it with its report. An error
/// means the store failed and the file stays where it is.
pub fn handle(
    store: &Store,
    settings: &Settings,
    path: &Path,
    folder: Option<&str>,
) -> Result<Handled, ImportError> {
    let name = path
        .file_name()
        .map(|n| stored_name(&n.to_string_lossy()))
        .unwrap_or_else(|| "list".into());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S").to_string();
    let reject = |sub: &str, why: String| -> Result<Handled, ImportError> {
        let dest = settings
            .paths
            .rejected
            .join(sub)
            .join(format!("{stamp}-{name}"));
        let text = format!("{name}: not imported.\n{why}\n");
        let json = serde_json::json!({ "valid": false, "errors": [{ "row": null, "column": null, "code": "rejected", "message": why }] });
        store.flush()?;
        crate::crash::point("drop.committed");
        move_with_report(path, &dest, &text, &json.to_string()).map_err(ImportError::Spool)?;
        Ok(Handled {
            moved_to: dest,
            accepted: false,
            summary: why,
        })
    };
    store.touch("drop", crate::clock::now())?;
    let Some(folder) = folder else {
        return reject(
            "_",
            "lists go in a contractor's folder: drop/<contractor-id>/".into(),
        );
    };
    let Some(contractor) = settings.contractor(folder) else {
        return reject(
            folder,
            format!("no contractor with id {folder:?} is configured"),
        );
    };
    let input = ListInput::Path(path.to_owned());
    let digest = match import::digest(&input) {
        Ok(d) => d,
        Err(e) => return reject(folder, format!("cannot read the file: {e}")),
    };
    let key = format!("file:{}:{digest}", contractor.id);
    let sub = Submission {
        contractor: contractor.id.clone(),
        input: input.clone(),
        source: format!("drop:{name}"),
        digest,
        key: Some(key.clone()),
        allow_repeat: false,
        report_to: None,
    };
    let outcome = if let Some(prev) = store.seen(&key)? {
        let batch = prev
            .rsplit(' ')
            .next()
            .and_then(|id| id.parse::<u64>().ok())
            .and_then(|id| store.batch(id).ok().flatten());
        match batch {
            Some(b) => Outcome::Duplicate { earlier: b },
            None => return reject(folder, format!("already handled: {prev}")),
        }
    } else {
        match import::import(store, settings, &sub, clock::now()) {
            Ok(o) => o,
            Err(ImportError::Unreadable(e)) => {
                return reject(folder, format!("cannot read the list: {e}"))
            }
            Err(e) => return Err(e),
        }
    };
    // The "earlier" handling of this very file stopped before its move (a
    // crash, or a restart that rolled a long list forward): finish the move
    // the way it would have been made.
    let outcome = match outcome {
        Outcome::Duplicate { earlier }
            if earlier.source == sub.source && !destination(settings, &earlier, &name).exists() =>
        {
            finished(&earlier, &input, settings, contractor)
        }
        o => o,
    };
    let (accepted, text, json) = match &outcome {
        Outcome::Imported { batch, report } => (true, report_body(batch), report_json(report)),
        Outcome::Rejected { batch, report } => (
            false,
            format!("{}\n{}", report_body(batch), report.to_text()),
            report_json(report),
        ),
        Outcome::Duplicate { earlier } => {
            let when = clock::rfc3339(earlier.received_at);
            let what = match earlier.state {
                BatchState::Rejected => "was rejected",
                _ => "was imported",
            };
            let text = format!(
                "{name}: the same content {what} as batch {} (from {}, {when}); nothing was imported again.\n\
                 To import it again on purpose, run: subinvite import FILE --contractor {}\n",
                earlier.id, earlier.source, contractor.id
            );
            let json = ListFile::open(input, &settings.list_options(contractor))
                .and_then(|l| l.check())
                .map(|r| report_json(&r))
                .unwrap_or_else(|_| "{}".into());
            (false, text, json)
        }
    };
    let dest = match &outcome {
        Outcome::Duplicate { earlier } => settings
            .paths
            .rejected
            .join(&contractor.id)
            .join(format!("{stamp}-b{}-{name}", earlier.id)),
        Outcome::Imported { batch, .. } | Outcome::Rejected { batch, .. } => {
            destination(settings, batch, &name)
        }
    };
    // The move acknowledges the file: the import must be on disk first.
    store.flush()?;
    crate::crash::point("drop.committed");
    move_with_report(path, &dest, &text, &json).map_err(ImportError::Spool)?;
    let summary = text.lines().next().unwrap_or_default().to_owned();
    Ok(Handled {
        moved_to: dest,
        accepted,
        summary,
    })
}

/// Where a file that became `batch` goes: named by the batch, so the place
/// is the same when a restart finishes an interrupted move.
fn destination(settings: &Settings, batch: &crate::model::Batch, name: &str) -> PathBuf {
    let base = match batch.state {
        BatchState::Rejected => &settings.paths.rejected,
        _ => &settings.paths.archive,
    };
    let stamp = chrono::DateTime::from_timestamp(batch.received_at, 0)
        .map(|d| d.format("%Y%m%dT%H%M%S").to_string())
        .unwrap_or_default();
    base.join(&batch.contractor)
        .join(format!("{stamp}-b{}-{name}", batch.id))
}

/// The outcome of a file whose import committed before a crash, rebuilt
/// from its batch and the file itself.
fn finished(
    batch: &crate::model::Batch,
    input: &ListInput,
    settings: &Settings,
    contractor: &crate::config::Contractor,
) -> Outcome {
    let report = ListFile::open(input.clone(), &settings.list_options(contractor))
        .and_then(|l| l.check())
        .unwrap_or_else(|e| crate::list::Report::unreadable(&e.to_string()));
    let batch = batch.clone();
    match batch.state {
        BatchState::Rejected => Outcome::Rejected { batch, report },
        _ => Outcome::Imported { batch, report },
    }
}

/// Longest file name kept for the moved file and its reports, in bytes:
/// with the time stamp, batch and `.report.json` added it stays well under
/// the usual 255-byte limit of a file name.
const MAX_STORED_NAME: usize = 160;

/// `name` shortened to [`MAX_STORED_NAME`] bytes when longer: its start,
/// `…`, and its end (which keeps the extension).
fn stored_name(name: &str) -> String {
    if name.len() <= MAX_STORED_NAME {
        return name.to_owned();
    }
    let mut head = 100;
    while !name.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = name.len() - 50;
    while !name.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}…{}", &name[..head], &name[tail..])
}

fn report_json(report: &crate::list::Report) -> String {
    serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into())
}

/// Writes `<dest>.report.txt` and `<dest>.report.json`, then moves the file
/// to `dest` (the move is the acknowledgement, so it comes last).
fn move_with_report(from: &Path, dest: &Path, text: &str, json: &str) -> std::io::Result<()> {
    if let Some(dir) = dest.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let with = |ext: &str| {
        let mut s = dest.as_os_str().to_owned();
        s.push(ext);
        PathBuf::from(s)
    };
    std::fs::write(with(".report.txt"), text)?;
    std::fs::write(with(".report.json"), json)?;
    crate::crash::point("drop.reported");
    match std::fs::rename(from, dest) {
        Ok(()) => Ok(()),
        Err(_) => {
            std::fs::copy(from, dest)?;
            std::fs::remove_file(from)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_shortened_keeping_the_extension() {
        let long = format!("{}.csv", "é".repeat(200));
        let short = stored_name(&long);
        assert!(short.len() <= MAX_STORED_NAME, "{}", short.len());
        assert!(short.ends_with("éé.csv") && short.contains('…'));
        assert_eq!(stored_name("list.csv"), "list.csv");
    }

    #[test]
    fn temporary_and_lock_files_are_ignored() {
        for n in [
            "~$list.xlsx",
            ".~lock.list.csv#",
            "list.csv.tmp",
            "big.part",
            ".hidden.csv",
            "x.crdownload",
            "list.csv~",
        ] {
            assert!(ignored(n), "{n}");
        }
        for n in ["list.csv", "Vendors 2026.xlsx", "subs.txt"] {
            assert!(!ignored(n), "{n}");
        }
    }
}
