//! `classify`: raw email bytes in, what the mail is out (DESIGN §4) — a list
//! submission, an invite reply with its intent, a bounce, an auto-reply, a
//! command or anything else. Pure: no I/O, no clock, no store; it never
//! panics and bounds its work on any input. `subinvite inspect --json`
//! prints the [`Classification`] as DESIGN §6 describes.
//!
//! The rules apply in order: a delivery report is a bounce (checked first,
//! and only for real reports); anything automatic is an auto-reply; a token
//! in the address or the thread makes an invite reply; a message beyond the
//! work limits (parts, nesting) is too complex to read further; list
//! attachments make a list submission; a mail to the bare intake address is
//! a command, and so is one elsewhere whose new text holds a well-formed
//! command line ([`command`]); the rest is other.

mod attach;
mod auto;
mod bounce;
pub mod command;
mod correlate;
mod html;
mod intent;
mod mime;
mod quote;

pub use intent::intent;
pub use quote::new_text;

use mail_parser::MessageParser;
use serde::Serialize;

/// Where our addresses live and how they are built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifyConfig {
    /// The mail domain, e.g. `example.test`.
    pub domain: String,
    /// Local part of the intake and reply address (`invites`).
    pub invites_local: String,
    /// Local part of the envelope sender (`bounces`).
    pub bounces_local: String,
    /// Plus-addressing separator between local part and token (`+`).
    pub separator: char,
}

impl ClassifyConfig {
    /// The usual addresses (`invites`, `bounces`, `+`) at `domain`.
    pub fn with_domain(domain: impl Into<String>) -> Self {
        ClassifyConfig {
            domain: domain.into(),
            invites_local: "invites".to_string(),
            bounces_local: "bounces".to_string(),
            separator: '+',
        }
    }
}

/// What a reply means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    Accept,
    Decline,
    /// Neither, or both: changes nothing.
    Unclear,
}

/// Where a reply's intent came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntentSource {
    /// The `-yes`/`-no` address of a mailto link.
    Address,
    /// The words of the new text.
    Text,
}

/// A list file attached to a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Sanitised file name: no path, no control characters, no `..`.
    pub name: String,
    /// The content with the transfer encoding undone, charset untouched.
    pub data: Vec<u8>,
}

/// What a mail is. `from` is always the bare, lower-cased sender address;
/// `text` is the new text above the quotation ([`new_text`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Classification {
    /// A contractor sent one or more lists.
    ListSubmission {
        from: Option<String>,
        subject: Option<String>,
        /// The list files' names, in order.
        attachments: Vec<String>,
        text: String,
        #[serde(skip)]
        files: Vec<Attachment>,
    },
    /// A subcontractor answered an invite.
    InviteReply {
        from: Option<String>,
        /// The 26-character lower-case invite token.
        token: Option<String>,
        intent: Intent,
        intent_source: IntentSource,
        text: String,
    },
    /// A delivery failed (`permanent`) or is delayed.
    Bounce {
        /// The addresses that failed.
        recipients: Vec<String>,
        permanent: bool,
        /// The enhanced status code, e.g. `5.1.1`.
        status: Option<String>,
        /// The invite whose mail bounced, when the report names it.
        token: Option<String>,
    },
    /// Written by a machine: never answered, never consent.
    AutoReply {
        from: Option<String>,
        /// The marker that showed it, e.g. `Auto-Submitted: auto-replied`.
        reason: String,
        /// The invite it refers to, for the log.
        token: Option<String>,
    },
    /// A person wrote to the intake address without a list or a token, or
    /// wrote a command line to another of our addresses.
    Command {
        from: Option<String>,
        /// The normalised command lines (`"STATUS pending"`, `"HELP"`);
        /// [`command::from_lines`] gives them back as [`command::Command`]s.
        commands: Vec<String>,
        text: String,
    },
    /// A message beyond the work limits (too many parts, nested too
    /// deep): not read further, so no list or command in it is acted on.
    TooComplex {
        from: Option<String>,
        /// What is beyond the limits, e.g. `has more than 100 parts`.
        reason: String,
    },
    /// Anything else a person wrote.
    Other { from: Option<String>, text: String },
}

/// Parses `raw` as MIME, or `None`. mail-parser asserts on some malformed
/// multipart nestings (a `debug_assert!`, so a panic in debug builds and a
/// best effort in release); either way a mail it cannot take apart is
/// classified from its raw text, and nothing a sender writes can panic here.
fn parse_mime(raw: &[u8]) -> Option<mail_parser::Message<'_>> {
    std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .ok()
        .flatten()
        .filter(|m| !m.parts.is_empty())
}

/// Classifies one raw message. Never panics.
pub fn classify(raw: &[u8], cfg: &ClassifyConfig) -> Classification {
    let parsed = parse_mime(raw);
    let Some(msg) = parsed else {
        let head = &raw[..raw.len().min(mime::MAX_TEXT)];
        return Classification::Other {
            from: None,
            text: new_text(&String::from_utf8_lossy(head)),
        };
    };
    let from = mime::from_addr(&msg);

    match bounce::check(&msg, cfg) {
        Some(bounce::Report::Failure(f)) => {
            return Classification::Bounce {
                recipients: f.recipients,
                permanent: f.permanent,
                status: f.status,
                token: bounce::token(&msg, cfg),
            };
        }
        Some(bounce::Report::NotFailure(reason)) => {
            return Classification::AutoReply {
                from,
                reason,
                token: correlate::reply_token(&msg, cfg).map(|f| f.token),
            };
        }
        None => {}
    }
    if let Some(reason) = auto::marker(&msg) {
        return Classification::AutoReply {
            from,
            reason,
            token: correlate::reply_token(&msg, cfg).map(|f| f.token),
        };
    }

    let text = new_text(&mime::best_text(&msg));
    if let Some(found) = correlate::reply_token(&msg, cfg) {
        let (intent, intent_source) = match found.intent {
            Some(i) => (i, IntentSource::Address),
            None => (intent(&text), IntentSource::Text),
        };
        return Classification::InviteReply {
            from,
            token: Some(found.token),
            intent,
            intent_source,
            text,
        };
    }
    if let Some(reason) = mime::beyond_limits(&msg) {
        return Classification::TooComplex { from, reason };
    }
    let files = attach::list_files(&msg);
    if !files.is_empty() {
        return Classification::ListSubmission {
            from,
            subject: mime::subject(&msg).filter(|s| !s.is_empty()),
            attachments: files.iter().map(|f| f.name.clone()).collect(),
            text,
            files,
        };
    }
    if correlate::to_intake(&msg, cfg)
        || command::parse_commands(&text, None)
            .iter()
            .any(command::Command::is_well_formed)
    {
        let subject = mime::subject(&msg);
        let commands = command::parse_commands(&text, subject.as_deref())
            .iter()
            .map(ToString::to_string)
            .collect();
        return Classification::Command {
            from,
            commands,
            text,
        };
    }
    Classification::Other { from, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ClassifyConfig {
        ClassifyConfig::with_domain("example.test")
    }

    #[test]
    fn garbage_is_other() {
        assert_eq!(
            classify(b"", &cfg()),
            Classification::Other {
                from: None,
                text: String::new()
            }
        );
        let _ = classify(b"\xff\xfe: \r\n\r\n", &cfg());
    }

    #[test]
    fn mailto_yes_with_empty_body() {
        let raw = b"From: Bob <Bob@Sub.test>\r\nTo: invites+abcdefghijklmnopqrstuvwxyz-yes@example.test\r\n\
                    Subject: Yes [ref ABCDEFGH]\r\n\r\n";
        let c = classify(raw, &cfg());
        assert_eq!(
            c,
            Classification::InviteReply {
                from: Some("bob@sub.test".into()),
                token: Some("abcdefghijklmnopqrstuvwxyz".into()),
                intent: Intent::Accept,
                intent_source: IntentSource::Address,
                text: String::new(),
            }
        );
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["kind"], "invite_reply");
        assert_eq!(json["intent_source"], "address");
    }

    #[test]
    fn help_to_intake_is_a_command() {
        let raw = b"From: gc@contractor.test\r\nTo: invites@example.test\r\nSubject: help\r\n\r\nHELP\r\n";
        let json = serde_json::to_value(classify(raw, &cfg())).unwrap();
        assert_eq!(json["kind"], "command");
        assert_eq!(json["commands"], serde_json::json!(["HELP"]));
        assert_eq!(json["text"], "HELP");
    }

    /// Elsewhere (an alias, a Bcc), only a well-formed command line in the
    /// new text makes a command; a subject alone does not.
    #[test]
    fn command_lines_elsewhere() {
        let raw = b"From: gc@contractor.test\r\nTo: support@example.test\r\nSubject: hi\r\n\r\n\
                    Hi,\r\nstatus pending.\r\nThanks\r\n";
        let json = serde_json::to_value(classify(raw, &cfg())).unwrap();
        assert_eq!(json["kind"], "command");
        assert_eq!(json["commands"], serde_json::json!(["STATUS pending"]));
        for raw in [
            &b"From: a@sub.test\r\nTo: support@example.test\r\nSubject: Help\r\n\r\nI cannot log in\r\n"[..],
            b"From: a@sub.test\r\nTo: support@example.test\r\nSubject: x\r\n\r\nDelete my data please\r\n",
        ] {
            let json = serde_json::to_value(classify(raw, &cfg())).unwrap();
            assert_eq!(json["kind"], "other");
        }
    }

    /// Multiparts nested up to the limit are read; one level more is too
    /// complex, whatever it holds.
    fn nested(depth: usize) -> String {
        let mut raw = String::from("From: gc@contractor.test\r\nTo: invites@example.test\r\n");
        let mut tail = String::new();
        for i in 0..depth {
            raw.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"n{i}\"\r\n\r\n--n{i}\r\n"
            ));
            tail = format!("\r\n--n{i}--\r\n{tail}");
        }
        raw.push_str("Content-Type: text/csv; name=\"l.csv\"\r\n\r\na,b\r\n");
        raw + &tail
    }

    #[test]
    fn nesting_beyond_the_limit_is_too_complex() {
        let json =
            serde_json::to_value(classify(nested(mime::MAX_DEPTH).as_bytes(), &cfg())).unwrap();
        assert_eq!(json["kind"], "list_submission", "{json}");
        let json =
            serde_json::to_value(classify(nested(mime::MAX_DEPTH + 1).as_bytes(), &cfg())).unwrap();
        assert_eq!(json["kind"], "too_complex", "{json}");
        assert_eq!(json["reason"], "is nested more than 10 levels deep");
    }

    #[test]
    fn human_saying_bounced_is_not_a_bounce() {
        let raw = b"From: gc@contractor.test\r\nTo: someone@example.test\r\n\
                    Subject: Undeliverable: your invite bounced\r\n\r\nMy mail bounced.\r\n";
        let json = serde_json::to_value(classify(raw, &cfg())).unwrap();
        assert_eq!(json["kind"], "other");
    }

    /// Each client's HTML alternative, read alone (as for HTML-only mail),
    /// gives the same new text as its text/plain part.
    #[test]
    fn html_and_text_bodies_agree() {
        for name in [
            "reply-gmail-yes",
            "reply-gmail-german-nein",
            "reply-outlook-desktop-no",
            "reply-outlook-ios-yes",
            "reply-apple-mail-yes",
            "reply-android-no",
            "command-help",
        ] {
            let path = format!(
                "{}/tests/fixtures/mail/{name}.eml",
                env!("CARGO_MANIFEST_DIR")
            );
            let raw = std::fs::read(path).unwrap();
            let msg = MessageParser::default().parse(&raw).unwrap();
            let body = |ids: &[u32]| match &msg.parts[ids[0] as usize].body {
                mail_parser::PartType::Text(t) => new_text(t),
                mail_parser::PartType::Html(h) => new_text(&html::to_text(h)),
                _ => panic!("{name}: no body"),
            };
            assert_eq!(body(&msg.text_body), body(&msg.html_body), "{name}");
        }
    }
}
