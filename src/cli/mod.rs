//! The command line (DESIGN §6, **contract**). Parses arguments with clap,
//! loads the settings, runs one command and maps the outcome to an exit
//! code: 0 ok, 1 invalid list or refused action, 2 unreadable input or
//! config (and any other failure).

use crate::actions::{self, Action, ActionError};
use crate::config::{ConfigError, Settings};
use crate::core::connection::Status;
use crate::core::email::EmailAddr;
use crate::import::{self, Outcome, Submission};
use crate::list::{self, ListFile, ListInput};
use crate::model::{Connection, Delivery, Origin};
use crate::outbox::compose::report_body;
use crate::{app, clock, outbox};
use anyhow::Context;
use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

mod args;
mod print;
pub use args::*;
use print::{print_connections, print_outbox, print_table};

/// An outcome the CLI reports with exit code 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// An input the CLI reports with exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    crate::crash::setup();
    match run(cli) {
        Ok(code) => code,
        // A closed pipe (`subinvite list | head`) is the reader's choice.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("subinvite: {e:#}");
            if e.downcast_ref::<Refused>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn init_tracing(cli: &Cli) {
    let default = if matches!(cli.command, Command::Run) {
        "info"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Human => b.try_init(),
        LogFormat::Json => b.json().try_init(),
    };
}

fn settings(cli_config: Option<&std::path::Path>) -> anyhow::Result<Settings> {
    Settings::load(cli_config)
        .map_err(|e: ConfigError| anyhow::Error::new(Unreadable(e.to_string())))
}

fn email_arg(s: &str) -> anyhow::Result<EmailAddr> {
    EmailAddr::parse(s)
        .map_err(|e| anyhow::Error::new(Unreadable(format!("{s:?} is not an email address: {e}"))))
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let cfg = cli.config.as_deref();
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Command::Run => {
            let settings = settings(cfg)?;
            let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
            rt.block_on(app::run(settings))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            file,
            json,
            contractor,
        } => {
            let settings = settings(cfg)?;
            let opts = match contractor {
                Some(id) => {
                    let c = settings
                        .contractor(&id)
                        .ok_or_else(|| Unreadable(format!("unknown contractor {id:?}")))?;
                    settings.list_options(c)
                }
                None => settings.list.clone(),
            };
            let report = ListFile::open(ListInput::Path(file.clone()), &opts)
                .and_then(|l| l.check())
                .map_err(|e| Unreadable(format!("{}: {e}", file.display())))?;
            if json {
                writeln!(out, "{}", serde_json::to_string(&report)?)?;
            } else {
                write!(out, "{}", report.to_text())?;
            }
            Ok(ExitCode::from(if report.valid { 0 } else { 1 }))
        }
        Command::Import {
            file,
            contractor,
            json,
        } => {
            let settings = settings(cfg)?;
            if settings.contractor(&contractor).is_none() {
                return Err(Unreadable(format!("unknown contractor {contractor:?}")).into());
            }
            let store = app::open_store(&settings)?;
            import::recover(&store, &settings)?;
            let input = ListInput::Path(file.clone());
            let digest = import::digest(&input)
                .map_err(|e| Unreadable(format!("{}: {e}", file.display())))?;
            let sub = Submission {
                contractor,
                input,
                source: format!("cli:{}", file.display()),
                digest,
                key: None,
                allow_repeat: true,
                report_to: None,
            };
            let outcome =
                import::import(&store, &settings, &sub, clock::now()).map_err(|e| match e {
                    import::ImportError::Unreadable(u) => {
                        anyhow::Error::new(Unreadable(format!("{}: {u}", file.display())))
                    }
                    other => anyhow::Error::new(other),
                })?;
            store.flush()?;
            let batch = outcome.batch();
            if json {
                let v = serde_json::json!({
                    "batch": batch.id,
                    "imported": matches!(outcome, Outcome::Imported { .. }),
                    "counts": batch.counts,
                    "report": match &outcome {
                        Outcome::Imported { report, .. } | Outcome::Rejected { report, .. } => serde_json::to_value(report)?,
                        Outcome::Duplicate { .. } => serde_json::Value::Null,
                    },
                });
                writeln!(out, "{v}")?;
            } else {
                write!(out, "{}", report_body(batch))?;
                if let Outcome::Rejected { report, .. } = &outcome {
                    write!(out, "\n{}", report.to_text())?;
                }
            }
            Ok(ExitCode::from(match outcome {
                Outcome::Rejected { .. } => 1,
                _ => 0,
            }))
        }
        Command::Template => {
            write!(out, "{}", list::template_csv())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::List {
            contractor,
            status,
            format,
        } => {
            let settings = settings(cfg)?;
            if settings.contractor(&contractor).is_none() {
                return Err(Unreadable(format!("unknown contractor {contractor:?}")).into());
            }
            let store = app::open_store(&settings)?;
            let rows: Vec<Connection> = store
                .connections(&contractor)
                .filter(|r| match r {
                    Ok(c) => {
                        c.status() != Status::Deleted && status.is_none_or(|s| c.status() == s)
                    }
                    Err(_) => true,
                })
                .collect::<Result<_, _>>()?;
            print_connections(out, &rows, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Deactivate(t) => act(cfg, t, Action::Deactivate, out),
        Command::Activate(t) => act(cfg, t, Action::Activate, out),
        Command::Delete(t) => act(cfg, t, Action::Delete, out),
        Command::Reinvite(t) => act(cfg, t, Action::Reinvite, out),
        Command::Outbox { command } => {
            let settings = settings(cfg)?;
            let store = app::open_store(&settings)?;
            match command {
                OutboxCommand::List { format, unsent } => {
                    let entries: Vec<_> = store
                        .outbox_entries()?
                        .into_iter()
                        .filter(|e| {
                            !unsent
                                || matches!(e.delivery, Delivery::Queued | Delivery::Failed { .. })
                        })
                        .collect();
                    print_outbox(out, &entries, format)?;
                }
                OutboxCommand::Send => {
                    let settings = std::sync::Arc::new(settings);
                    let rt = tokio::runtime::Runtime::new().context("cannot start the runtime")?;
                    let started = std::time::Instant::now();
                    // The SMTP pool lives on the runtime: build and drop it
                    // there. The sender runs on a worker, as in the daemon.
                    let n = rt.block_on(async {
                        let sender = app::sender(&store, &settings)?;
                        let drained = tokio::spawn(async move { sender.drain_once().await });
                        drained.await.context("the sender failed")
                    })?;
                    store.flush()?;
                    let secs = started.elapsed().as_secs_f64();
                    writeln!(
                        out,
                        "{n} message(s) handled in {secs:.3} s ({:.0}/s)",
                        n as f64 / secs.max(1e-9)
                    )?;
                }
                OutboxCommand::Retry { ids, all } => {
                    if ids.is_empty() && !all {
                        return Err(Unreadable("name message ids, or --all".into()).into());
                    }
                    let n = outbox::retry(&store, &ids, all, clock::now())
                        .map_err(|e| Refused(e.to_string()))?;
                    store.flush()?;
                    writeln!(out, "{n} message(s) queued again")?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect { file, json } => {
            let settings = settings(cfg)?;
            let raw =
                std::fs::read(&file).map_err(|e| Unreadable(format!("{}: {e}", file.display())))?;
            let class =
                crate::classify::classify(&raw, &crate::intake::mail::classify_config(&settings));
            let v = serde_json::to_value(&class)?;
            if json {
                writeln!(out, "{v}")?;
            } else {
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Quarantine { command } => {
            let settings = settings(cfg)?;
            let store = app::open_store(&settings)?;
            let all_q = store.quarantined()?;
            match command {
                QuarantineCommand::List { format } => {
                    if format == Format::Json {
                        let v: Vec<_> = all_q
                            .iter()
                            .map(|q| serde_json::json!({"id": q.id, "source": q.source, "key": q.key, "error": q.error, "at": clock::rfc3339(q.at), "bytes": q.raw.len()}))
                            .collect();
                        writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
                    } else {
                        let rows: Vec<[String; 4]> = all_q
                            .iter()
                            .map(|q| {
                                [
                                    q.id.to_string(),
                                    clock::rfc3339(q.at),
                                    q.source.clone(),
                                    q.error.clone(),
                                ]
                            })
                            .collect();
                        print_table(out, ["ID", "AT", "SOURCE", "ERROR"], &rows)?;
                        writeln!(out, "{} message(s)", rows.len())?;
                    }
                }
                QuarantineCommand::Retry { ids, all } => {
                    if ids.is_empty() && !all {
                        return Err(Unreadable("name quarantine ids, or --all".into()).into());
                    }
                    for id in &ids {
                        if !all_q.iter().any(|q| q.id == *id) {
                            return Err(Refused(format!("no quarantined message {id}")).into());
                        }
                    }
                    for q in all_q.iter().filter(|q| all || ids.contains(&q.id)) {
                        store.transact(|tx| {
                            tx.release(q.id)?;
                            tx.forget(&q.key)
                        })?;
                        let summary = crate::intake::mail::handle_or_quarantine(
                            &store,
                            &settings,
                            &q.raw,
                            &q.source,
                            clock::now(),
                        )?;
                        writeln!(out, "{}: {summary}", q.id)?;
                    }
                    store.flush()?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Remind { dry_run, json } => {
            let settings = settings(cfg)?;
            let store = app::open_store(&settings)?;
            let started = std::time::Instant::now();
            let rep = crate::reminders::pass(&store, &settings, clock::now(), dry_run)?;
            let took = started.elapsed().as_secs_f64();
            store.flush()?;
            if json {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"dry_run": dry_run, "reminded": rep.reminded, "expired": rep.expired, "dropped": rep.dropped, "seconds": took})
                )?;
            } else {
                let verb = if dry_run { "would remind" } else { "reminded" };
                for l in &rep.reminded {
                    writeln!(out, "{verb} {l}")?;
                }
                let verb = if dry_run { "would expire" } else { "expired" };
                for l in &rep.expired {
                    writeln!(out, "{verb} {l}")?;
                }
                writeln!(
                    out,
                    "{} reminder(s), {} expired, in {took:.3} s",
                    rep.reminded.len(),
                    rep.expired.len()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            let settings = settings(cfg)?;
            let store = app::open_store(&settings)?;
            let r = crate::status::report(&store, &settings)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                write!(out, "{r}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { json } => {
            let settings = settings(cfg)?;
            let store = app::open_store(&settings)?;
            let v = crate::verify::verify(&store)?;
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
            } else {
                for p in &v.problems {
                    writeln!(out, "{p}")?;
                }
                let verdict = if v.consistent() {
                    "consistent"
                } else {
                    "INCONSISTENT"
                };
                writeln!(
                    out,
                    "{verdict}: {} connections, {} outbox messages, {} lists, {} problems",
                    v.connections,
                    v.outbox,
                    v.batches,
                    v.problems.len()
                )?;
            }
            Ok(if v.consistent() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::CheckConfig => {
            let settings = settings(cfg)?;
            write!(out, "{settings}")?;
            writeln!(out, "ok")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn act(
    cfg: Option<&std::path::Path>,
    t: Target,
    action: Action,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let settings = settings(cfg)?;
    let email = email_arg(&t.email)?;
    let store = app::open_store(&settings)?;
    match actions::act(
        &store,
        &settings,
        &t.contractor,
        &email,
        action,
        Origin::Cli,
        clock::now(),
    ) {
        Ok(c) => {
            store.flush()?;
            writeln!(out, "{}: {} (now {})", c.email, action.verb(), c.status())?;
            Ok(ExitCode::SUCCESS)
        }
        Err(ActionError::Refused { email, reason }) => {
            Err(Refused(format!("{email}: refused: {reason}")).into())
        }
        Err(ActionError::UnknownContractor(id)) => {
            Err(Unreadable(format!("unknown contractor {id:?}")).into())
        }
        Err(e) => Err(e.into()),
    }
}
