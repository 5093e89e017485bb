//! Intake: sources that yield envelopes (for now the drop folder), each
//! handled through the import and acknowledged only after the store commits.

pub mod dropdir;
