//! The command line (DESIGN §6, **contract**). Parses arguments with clap,
//! loads the settings, runs one command and maps the outcome to an exit
//! code: 0 ok, 1 invalid list or refused action, 2 unreadable input or
//! config (and any other failure).

use crate::actions::{self, Action, ActionError};
use crate::config::{ConfigError, Settings};
use crate::core::cell::neutralise as safe_cell;
use crate::core::connection::Status;
use crate::core::email::EmailAddr;
use crate::import::{self, Outcome, Submission};
use crate::list::{self, ListFile, ListInput};
use crate::model::{Connection, Delivery, Origin};
use crate::outbox::compose::report_body;
use crate::{app, clock, outbox};
use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "subinvite",
    version,
    about = "Connects contractors with their subcontractors by email"
)]
pub struct Cli {
    /// Config file (default: ./subinvite.toml if present, else the embedded
    /// defaults under ./var).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the daemon: drop folder, outbox sender.
    Run,
    /// Validate a list; exit 0 valid, 1 invalid, 2 unreadable.
    Check {
        file: PathBuf,
        #[arg(long)]
        json: bool,
        /// Use this contractor's extra header aliases.
        #[arg(long)]
        contractor: Option<String>,
    },
    /// Import a list for a contractor (all or nothing).
    Import {
        file: PathBuf,
        #[arg(long)]
        contractor: String,
        #[arg(long)]
        json: bool,
    },
    /// Print the CSV template.
    Template,
    /// List a contractor's connections.
    List {
        #[arg(long)]
        contractor: String,
        #[arg(long)]
        status: Option<Status>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Mark a connection inactive.
    Deactivate(Target),
    /// Reactivate an inactive connection.
    Activate(Target),
    /// Delete a connection (a later import restores it as pending).
    Delete(Target),
    /// Invite again (pending, declined, expired or bounced).
    Reinvite(Target),
    /// The outbox: list messages or retry failed ones.
    Outbox {
        #[command(subcommand)]
        command: OutboxCommand,
    },
    /// Classify one email (.eml) and print what subinvite would make of it;
    /// changes nothing.
    Inspect {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Messages whose handling failed: list them, or handle them again.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// One reminder pass now: remind pending invites that are due, expire
    /// those past their grace period.
    Remind {
        /// Say what would be sent; change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Queue depths, last intake per source, the next reminder pass, and
    /// connections by status.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Validate the config and print what it sets.
    CheckConfig,
}

#[derive(Subcommand, Debug)]
pub enum QuarantineCommand {
    /// List quarantined messages with their errors.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Handle quarantined messages again (they return to quarantine if they
    /// fail again).
    Retry {
        ids: Vec<u64>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct Target {
    #[arg(long)]
    pub contractor: String,
    pub email: String,
}

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// List outbox messages.
    List {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Only messages not yet sent (queued or failed).
        #[arg(long)]
        unsent: bool,
    },
    /// Send everything due now, then exit (the daemon does this on its own).
    Send,
    /// Queue failed messages again.
    Retry {
        ids: Vec<u64>,
        #[arg(long, conflicts_with = "ids")]
        all: bool,
    },
}

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
                    // The SMTP pool lives on the runtime: build and drop it there.
                    let n = rt.block_on(async {
                        anyhow::Ok(app::sender(&store, &settings)?.drain_once().await)
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

fn print_connections(
    out: &mut impl Write,
    rows: &[Connection],
    format: Format,
) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let v: Vec<_> = rows
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "email": c.email,
                        "company": c.company,
                        "contact": c.contact,
                        "status": c.status(),
                        "invited_at": clock::rfc3339(c.invited_at),
                        "reference": c.token.short_ref(),
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "Subcontractor Email Address",
                "Subcontractor Name",
                "Contact Name",
                "Status",
                "Invited",
            ])?;
            for c in rows {
                w.write_record([
                    safe_cell(c.email.as_str()).as_ref(),
                    &safe_cell(&c.company),
                    &safe_cell(c.contact.as_deref().unwrap_or("")),
                    c.status().as_str(),
                    &clock::rfc3339(c.invited_at),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let table: Vec<[String; 5]> = rows
                .iter()
                .map(|c| {
                    [
                        c.email.to_string(),
                        c.company.clone(),
                        c.contact.clone().unwrap_or_default(),
                        c.status().to_string(),
                        clock::rfc3339(c.invited_at),
                    ]
                })
                .collect();
            print_table(
                out,
                ["EMAIL", "COMPANY", "CONTACT", "STATUS", "INVITED"],
                &table,
            )?;
            writeln!(out, "{} connection(s)", rows.len())?;
        }
    }
    Ok(())
}

fn print_outbox(
    out: &mut impl Write,
    entries: &[crate::model::OutboxEntry],
    format: Format,
) -> anyhow::Result<()> {
    let delivery = |d: &Delivery| match d {
        Delivery::Queued => "queued".to_owned(),
        Delivery::Sent { at } => format!("sent {}", clock::rfc3339(*at)),
        Delivery::Failed { at } => format!("failed {}", clock::rfc3339(*at)),
        Delivery::Skipped { at } => format!("skipped {}", clock::rfc3339(*at)),
    };
    let kind = |e: &crate::model::OutboxEntry| {
        serde_json::to_value(&e.kind).map(|v| match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Object(m) => m.keys().next().cloned().unwrap_or_default(),
            other => other.to_string(),
        })
    };
    match format {
        Format::Json => {
            let v: Vec<_> = entries
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "id": e.id, "kind": e.kind, "contractor": e.contractor, "to": e.to,
                        "about": e.about, "state": delivery(&e.delivery), "attempts": e.attempts,
                        "due_at": clock::rfc3339(e.due_at), "last_error": e.last_error,
                    })
                })
                .collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        Format::Csv => {
            let mut w = csv::Writer::from_writer(out);
            w.write_record([
                "id",
                "kind",
                "contractor",
                "to",
                "state",
                "attempts",
                "last_error",
            ])?;
            for e in entries {
                w.write_record([
                    e.id.to_string(),
                    kind(e)?,
                    e.contractor.clone(),
                    e.to.to_string(),
                    delivery(&e.delivery),
                    e.attempts.to_string(),
                    safe_cell(e.last_error.as_deref().unwrap_or("")).into_owned(),
                ])?;
            }
            w.flush()?;
        }
        Format::Table => {
            let table: Vec<[String; 6]> = entries
                .iter()
                .map(|e| {
                    Ok([
                        e.id.to_string(),
                        kind(e)?,
                        e.to.to_string(),
                        delivery(&e.delivery),
                        e.attempts.to_string(),
                        e.last_error.clone().unwrap_or_default(),
                    ])
                })
                .collect::<anyhow::Result<_>>()?;
            print_table(
                out,
                ["ID", "KIND", "TO", "STATE", "ATTEMPTS", "LAST ERROR"],
                &table,
            )?;
            writeln!(out, "{} message(s)", entries.len())?;
        }
    }
    Ok(())
}

fn print_table<const N: usize>(
    out: &mut impl Write,
    head: [&str; N],
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut width = head.map(|h| h.chars().count());
    for r in rows {
        for (w, cell) in width.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> std::io::Result<()> {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == N {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        writeln!(out, "{}", s.trim_end())
    };
    line(out, head.to_vec())?;
    for r in rows {
        line(out, r.iter().map(String::as_str).collect())?;
    }
    Ok(())
}
