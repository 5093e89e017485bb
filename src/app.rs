//! The daemon: opens the store, rolls forward interrupted imports, spawns
//! the tasks (drop folder, outbox) on one TaskTracker, tells systemd it is
//! ready, and on SIGTERM or SIGINT stops them at safe points, waits (with a
//! grace limit) and flushes the store. A second signal exits at once.

use crate::config::Settings;
use crate::outbox::templates::Templates;
use crate::outbox::transport::Transport;
use crate::outbox::worker::Sender;
use crate::store::Store;
use crate::{import, intake};
use anyhow::Context;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long running tasks get to finish after the first signal.
const GRACE: Duration = Duration::from_secs(60);

/// Creates the folders the settings name.
pub fn prepare_dirs(settings: &Settings) -> anyhow::Result<()> {
    let p = &settings.paths;
    for dir in [
        &p.store,
        &p.drop,
        &p.archive,
        &p.rejected,
        &p.sent,
        &p.inbox,
    ] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    Ok(())
}

/// Opens the store the settings name.
pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&settings.paths.store)
        .with_context(|| format!("cannot create {}", settings.paths.store.display()))?;
    Ok(Store::open(
        &settings.paths.store,
        settings.store_cache_mib,
    )?)
}

fn notify_systemd(state: &[sd_notify::NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(false, state) {
            tracing::warn!(error = %e, "cannot notify systemd");
        }
    }
}

async fn signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

/// The outbox sender the settings describe: transport and templates.
pub fn sender(store: &Store, settings: &Arc<Settings>) -> anyhow::Result<Arc<Sender>> {
    let transport = match &settings.transport {
        crate::config::Transport::File => Transport::file(settings.paths.sent.clone())
            .with_context(|| format!("cannot use {}", settings.paths.sent.display()))?,
        crate::config::Transport::Smtp(s) => {
            Transport::smtp(s, &settings.mail.domain).context("cannot set up SMTP")?
        }
    };
    let templates = Templates::load(settings.mail.templates_dir.as_deref())
        .context("cannot load the email templates")?;
    Ok(Arc::new(Sender::new(
        store.clone(),
        settings.clone(),
        transport,
        templates,
    )))
}

/// Runs the daemon until a signal.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    prepare_dirs(&settings)?;
    let store = open_store(&settings)?;
    let settings = Arc::new(settings);
    {
        let (s, st) = (store.clone(), settings.clone());
        let recovered = tokio::task::spawn_blocking(move || import::recover(&s, &st))
            .await
            .context("recovery task")??;
        for b in recovered {
            tracing::info!(
                batch = b.id,
                rows = b.counts.rows,
                "interrupted import completed"
            );
        }
    }
    let sender = sender(&store, &settings)?;
    let cancel = CancellationToken::new();
    let tracker = TaskTracker::new();
    let wake = Arc::new(Notify::new());
    tracker.spawn(sender.run(wake.clone(), cancel.clone()));
    for mailbox in settings.intake.imap.clone() {
        let (s, st, w, c) = (
            store.clone(),
            settings.clone(),
            wake.clone(),
            cancel.clone(),
        );
        tracker.spawn_blocking(move || intake::imap::run(s, st, mailbox, w, c));
    }
    tracker.spawn(crate::reminders::run(
        store.clone(),
        settings.clone(),
        wake.clone(),
        cancel.clone(),
    ));
    if settings.intake.maildir {
        tracker.spawn(intake::maildir::run(
            store.clone(),
            settings.clone(),
            wake.clone(),
            cancel.clone(),
        ));
    }
    tracker.spawn(intake::dropdir::run(
        store.clone(),
        settings.clone(),
        wake.clone(),
        cancel.clone(),
    ));
    // WATCHDOG=1 at half the interval the unit asks for (WatchdogSec=).
    let mut usec = 0;
    if std::env::var_os("NOTIFY_SOCKET").is_some() && sd_notify::watchdog_enabled(false, &mut usec)
    {
        let (every, c) = (Duration::from_micros(usec / 2), cancel.clone());
        tracker.spawn(async move {
            loop {
                tokio::select! {
                    _ = c.cancelled() => break,
                    _ = tokio::time::sleep(every) => notify_systemd(&[sd_notify::NotifyState::Watchdog]),
                }
            }
        });
    }
    tracker.close();
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    tracing::info!(
        drop = %settings.paths.drop.display(),
        sent = %settings.paths.sent.display(),
        contractors = settings.contractors.len(),
        "subinvite running"
    );

    let mut failed = None;
    tokio::select! {
        r = signal() => r.context("cannot listen for signals")?,
        _ = tracker.wait() => tracing::error!("a task ended on its own"),
        why = store_failure(&store) => {
            tracing::error!(error = %why, "the store cannot write any more; stopping, so that a restart (Restart=on-failure) reopens it once the disk is fixed. Inputs not yet acknowledged stay where they are");
            failed = Some(why);
        }
    }
    tracing::info!("shutting down: finishing the items in hand");
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    cancel.cancel();
    tokio::select! {
        _ = tracker.wait() => {}
        _ = signal() => {
            tracing::warn!("second signal: exiting now");
            let _ = store.flush();
            std::process::exit(130);
        }
        _ = tokio::time::sleep(GRACE) => tracing::warn!("tasks did not stop within {GRACE:?}"),
    }
    if let Some(why) = failed {
        anyhow::bail!("the store cannot write: {why}");
    }
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.flush())
        .await
        .context("flush task")??;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves once the disk under the store has refused a write.
async fn store_failure(store: &Store) -> String {
    loop {
        if let Some(why) = store.failure() {
            return why.to_owned();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
