//! The pure core: no I/O, no clock, no environment. Every function takes its
//! inputs (and `now` where time matters) and returns data.

pub mod auth;
pub mod cell;
pub mod connection;
pub mod email;
pub mod reminders;
pub mod token;
