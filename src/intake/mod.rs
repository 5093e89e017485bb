//! Intake: sources that only yield envelopes (the drop folder, the Maildir,
//! IMAP mailboxes), each handled and acknowledged only after the store
//! commits. `mail` is the one place an email is understood and acted on.

pub mod dropdir;
pub mod imap;
pub mod mail;
pub mod maildir;
