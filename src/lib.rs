//! subinvite: connects construction contractors with their subcontractors by
//! email. The library holds everything; `main.rs` is a thin shell over [`cli`].
#![forbid(unsafe_code)]

pub mod actions;
pub mod app;
pub mod classify;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod core;
pub mod crash;
pub mod effects;
pub mod import;
pub mod intake;
pub mod list;
pub mod model;
pub mod outbox;
pub mod reminders;
pub mod status;
pub mod store;
pub mod verify;
