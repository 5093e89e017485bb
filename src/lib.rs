//! subinvite: connects construction contractors with their subcontractors by
//! email. The library holds everything; `main.rs` is a thin shell over [`cli`].
#![forbid(unsafe_code)]

pub mod core;
pub mod list;
pub mod config;
pub mod import;
pub mod model;
pub mod store;
pub mod clock;
pub mod outbox;
pub mod actions;
pub mod intake;
pub mod app;
pub mod cli;
