//! The command line's arguments (DESIGN §6, **contract**), as clap
//! derives them.

use crate::core::connection::Status;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

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
    /// Check the store's consistency: histories follow the state table,
    /// every state change has its email, indexes agree. Exit 1 if not.
    Verify {
        #[arg(long)]
        json: bool,
    },
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
