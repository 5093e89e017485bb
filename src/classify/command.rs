//! Email commands (DESIGN §1), in the manner of Mailman's: one command per
//! line of a mail's new text, or its subject when the text has none.
//! Case-insensitive; surrounding spaces and a trailing `.` are ignored, and
//! so are lines that are not commands ("Hi,", "Thanks", a signature) as long
//! as one line is. A line that starts with a command word but is malformed
//! (`DELETE` without an address, `STATUS banana`) is kept as
//! [`Command::Invalid`] so that it gets an answer.
//!
//! Pure and bounded: it reads text only, never the store, and stops after
//! [`MAX_COMMANDS`] commands. Carrying commands out is `crate::commands`.

use crate::core::connection::Status;
use crate::core::email::EmailAddr;
use std::fmt;

/// The most commands read from one mail; the line after them is reported
/// as invalid and the rest are not read.
pub const MAX_COMMANDS: usize = 50;

/// Lines longer than this (in bytes) are never commands.
const MAX_LINE: usize = 500;

/// Longest line quoted back in [`Command::Unknown`], in characters.
const MAX_UNKNOWN: usize = 100;

/// Reply and forward prefixes stripped from a subject before reading it.
const SUBJECT_PREFIXES: &[&str] = &[
    "re:", "fw:", "fwd:", "aw:", "wg:", "tr:", "sv:", "vs:", "antw:", "r:", "rif:", "enc:",
];

/// One command of an email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `HELP`: the list of commands.
    Help,
    /// `TEMPLATE`: the list template as a CSV attachment.
    Template,
    /// `STATUS [status]`: the contractor's connections as a CSV, optionally
    /// only those in one status.
    Status(Option<Status>),
    /// `INACTIVE email`: mark a connection inactive.
    Inactive(String),
    /// `ACTIVATE email`: resume an inactive connection.
    Activate(String),
    /// `DELETE email`: delete a connection.
    Delete(String),
    /// `REINVITE email`: invite again with a fresh token.
    Reinvite(String),
    /// A line starting with a command word that cannot be carried out:
    /// the line (normalised) and why.
    Invalid { line: String, why: String },
    /// Text that holds no command at all: its first line (shortened).
    Unknown(String),
}

impl Command {
    /// Whether it is a command that can be carried out (not invalid or
    /// unknown).
    pub fn is_well_formed(&self) -> bool {
        !matches!(self, Command::Invalid { .. } | Command::Unknown(_))
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Help => f.write_str("HELP"),
            Command::Template => f.write_str("TEMPLATE"),
            Command::Status(None) => f.write_str("STATUS"),
            Command::Status(Some(s)) => write!(f, "STATUS {s}"),
            Command::Inactive(e) => write!(f, "INACTIVE {e}"),
            Command::Activate(e) => write!(f, "ACTIVATE {e}"),
            Command::Delete(e) => write!(f, "DELETE {e}"),
            Command::Reinvite(e) => write!(f, "REINVITE {e}"),
            Command::Invalid { line, .. } => f.write_str(line),
            Command::Unknown(line) => f.write_str(line),
        }
    }
}

/// The commands of a mail: those of `text` (its new text), else those of
/// `subject`. When neither holds one, the first line of `text` (else the
/// subject) as [`Command::Unknown`]; nothing at all for an empty mail.
pub fn parse_commands(text: &str, subject: Option<&str>) -> Vec<Command> {
    let body = lines(text);
    if !body.is_empty() {
        return body;
    }
    let subject = subject.map(strip_subject_prefixes).unwrap_or("");
    let from_subject = lines(subject);
    if !from_subject.is_empty() {
        return from_subject;
    }
    text.lines()
        .chain(std::iter::once(subject))
        .map(normalise)
        .find(|l| !l.is_empty())
        .map(|l| Command::Unknown(shorten(&l)))
        .into_iter()
        .collect()
}

/// The commands named by normalised command lines, as
/// `Classification::Command::commands` holds them: the inverse of
/// [`Command`]'s `Display`.
pub fn from_lines<S: AsRef<str>>(lines: &[S]) -> Vec<Command> {
    let text: Vec<&str> = lines.iter().map(AsRef::as_ref).collect();
    parse_commands(&text.join("\n"), None)
}

/// The command lines of `text`, capped at [`MAX_COMMANDS`].
fn lines(text: &str) -> Vec<Command> {
    let mut found = Vec::new();
    for raw in text.lines() {
        if raw.len() > MAX_LINE {
            continue;
        }
        let line = normalise(raw);
        let Some(cmd) = parse_line(&line) else {
            continue;
        };
        if found.len() == MAX_COMMANDS {
            found.push(Command::Invalid {
                line,
                why: format!(
                    "too many commands: at most {MAX_COMMANDS} are read from one email, \
                     this line and the ones after it were not carried out"
                ),
            });
            break;
        }
        found.push(cmd);
    }
    found
}

/// Trimmed, without a trailing `.`, with runs of whitespace as one space.
fn normalise(raw: &str) -> String {
    let joined = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.strip_suffix('.') {
        Some(s) => s.trim_end().to_owned(),
        None => joined,
    }
}

fn shorten(line: &str) -> String {
    if line.chars().count() <= MAX_UNKNOWN {
        return line.to_owned();
    }
    let mut s: String = line.chars().take(MAX_UNKNOWN - 1).collect();
    s.push('…');
    s
}

fn strip_subject_prefixes(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        let lower = s.get(..6).unwrap_or(s).to_ascii_lowercase();
        match SUBJECT_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
            Some(p) => s = &s[p.len()..],
            None => return s,
        }
    }
}

/// The command of one normalised line, or `None` if the line does not start
/// with a command word.
fn parse_line(line: &str) -> Option<Command> {
    let (word, rest) = match line.split_once(' ') {
        Some((w, r)) => (w, r),
        None => (line, ""),
    };
    let word = word.to_ascii_uppercase();
    let invalid = |why: String| {
        Some(Command::Invalid {
            line: line.to_owned(),
            why,
        })
    };
    let address = |make: fn(String) -> Command| match address(rest) {
        Ok(a) => Some(make(a)),
        Err(why) => invalid(format!("{word} {why}")),
    };
    match word.as_str() {
        "HELP" | "TEMPLATE" if !rest.is_empty() => {
            invalid(format!("{word} takes nothing after it"))
        }
        "HELP" => Some(Command::Help),
        "TEMPLATE" => Some(Command::Template),
        "STATUS" => match status(rest) {
            Ok(s) => Some(Command::Status(s)),
            Err(why) => invalid(why),
        },
        "INACTIVE" | "DEACTIVATE" => address(Command::Inactive),
        "ACTIVATE" => address(Command::Activate),
        "DELETE" => address(Command::Delete),
        "REINVITE" => address(Command::Reinvite),
        _ => None,
    }
}

/// The status a `STATUS` line filters on, if any.
fn status(arg: &str) -> Result<Option<Status>, String> {
    if arg.is_empty() || arg.eq_ignore_ascii_case("all") {
        return Ok(None);
    }
    match arg.parse::<Status>() {
        Ok(s) if s != Status::Deleted => Ok(Some(s)),
        _ => Err(format!(
            "unknown status {arg:?}: write STATUS alone, or followed by one of \
             pending, active, inactive, declined, expired, bounced"
        )),
    }
}

/// The one address an action names: `a@b`, `<a@b>` or `mailto:a@b`, or the
/// same address written more than once (`a@b <mailto:a@b>`, as mail clients
/// turn links into text). Lower-cased.
fn address(arg: &str) -> Result<String, String> {
    let mut found: Option<String> = None;
    for piece in arg
        .split(|c: char| c.is_whitespace() || c == '<' || c == '>')
        .filter(|p| !p.is_empty())
    {
        let bare = match piece.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("mailto:") => &piece[7..],
            _ => piece,
        };
        let addr = EmailAddr::parse(bare)
            .map_err(|e| format!("needs one email address; {bare:?} is not one ({e})"))?;
        match &found {
            Some(prev) if prev != addr.as_str() => {
                return Err("takes one email address: write one command per line".to_owned())
            }
            _ => found = Some(addr.as_str().to_owned()),
        }
    }
    found.ok_or_else(|| "needs an email address, e.g. dana@example.com".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use Command as C;

    fn inv(line: &str) -> Command {
        match parse_line(line) {
            Some(c @ C::Invalid { .. }) => c,
            other => panic!("{line:?} is not invalid: {other:?}"),
        }
    }

    #[test]
    fn one_line_each() {
        let rows: Vec<(&str, Option<Command>)> = vec![
            ("HELP", Some(C::Help)),
            ("  help.  ", Some(C::Help)),
            ("Template", Some(C::Template)),
            ("STATUS", Some(C::Status(None))),
            ("status all", Some(C::Status(None))),
            ("Status Pending.", Some(C::Status(Some(Status::Pending)))),
            ("STATUS bounced", Some(C::Status(Some(Status::Bounced)))),
            (
                "INACTIVE dana@x.test",
                Some(C::Inactive("dana@x.test".into())),
            ),
            (
                "deactivate Dana@X.test",
                Some(C::Inactive("dana@x.test".into())),
            ),
            (
                "ACTIVATE <dana@x.test>",
                Some(C::Activate("dana@x.test".into())),
            ),
            (
                "delete mailto:dana@x.test",
                Some(C::Delete("dana@x.test".into())),
            ),
            (
                "DELETE <MAILTO:dana@x.test>.",
                Some(C::Delete("dana@x.test".into())),
            ),
            (
                "REINVITE dana@x.test <mailto:dana@x.test>",
                Some(C::Reinvite("dana@x.test".into())),
            ),
            (
                "reinvite\tdana@x.test",
                Some(C::Reinvite("dana@x.test".into())),
            ),
            ("Hi,", None),
            ("Thanks", None),
            ("Helpful people", None),
            ("", None),
        ];
        for (line, want) in rows {
            assert_eq!(parse_line(&normalise(line)), want, "{line:?}");
        }
    }

    #[test]
    fn malformed_command_lines_are_kept_as_invalid() {
        for line in [
            "DELETE",
            "STATUS banana",
            "STATUS deleted",
            "INACTIVE dana",
            "ACTIVATE a@x.test b@x.test",
            "REINVITE Dana Sparks <dana@x.test>",
            "HELP me",
            "TEMPLATE please",
        ] {
            let C::Invalid { line: l, why } = inv(&normalise(line)) else {
                unreachable!()
            };
            assert_eq!(l, normalise(line));
            assert!(!why.is_empty());
        }
    }

    #[test]
    fn several_per_mail_and_chatter_ignored() {
        let text = "Hi,\n\nINACTIVE dana@x.test\nstatus pending\n\nThanks\nSarah\n";
        assert_eq!(
            parse_commands(text, Some("Re: whatever")),
            vec![
                C::Inactive("dana@x.test".into()),
                C::Status(Some(Status::Pending))
            ]
        );
    }

    #[test]
    fn subject_when_the_body_has_none() {
        assert_eq!(
            parse_commands("", Some("Re: Fwd: status")),
            vec![C::Status(None)]
        );
        assert_eq!(
            parse_commands("Hi, see subject.\nThanks", Some("HELP")),
            vec![C::Help]
        );
        assert_eq!(parse_commands("HELP", Some("STATUS")), vec![C::Help]);
    }

    #[test]
    fn no_command_is_unknown() {
        assert_eq!(
            parse_commands("\n  Please send me the list \nThanks", Some("list")),
            vec![C::Unknown("Please send me the list".into())]
        );
        assert_eq!(
            parse_commands("", Some("gimme")),
            vec![C::Unknown("gimme".into())]
        );
        assert_eq!(parse_commands("  \n", None), vec![]);
        let long = "x".repeat(300);
        let C::Unknown(s) = &parse_commands(&long, None)[0] else {
            panic!("not unknown");
        };
        assert_eq!(s.chars().count(), MAX_UNKNOWN);
    }

    #[test]
    fn bounded() {
        let text = "STATUS\n".repeat(MAX_COMMANDS + 10);
        let got = parse_commands(&text, None);
        assert_eq!(got.len(), MAX_COMMANDS + 1);
        assert!(matches!(got[MAX_COMMANDS], C::Invalid { .. }));
        let huge = format!("DELETE {}@x.test", "a".repeat(MAX_LINE));
        assert_eq!(lines(&huge), vec![]);
    }

    #[test]
    fn display_is_normalised_and_parses_back() {
        let text = "help\nTEMPLATE.\nstatus\nSTATUS Active\ninactive <A@x.test>\n\
                    activate mailto:b@x.test\ndelete c@x.test\nreinvite d@x.test\n\
                    DELETE\nstatus   banana";
        let cmds = parse_commands(text, None);
        let shown: Vec<String> = cmds.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "HELP",
                "TEMPLATE",
                "STATUS",
                "STATUS active",
                "INACTIVE a@x.test",
                "ACTIVATE b@x.test",
                "DELETE c@x.test",
                "REINVITE d@x.test",
                "DELETE",
                "status banana",
            ]
        );
        assert_eq!(from_lines(&shown), cmds);
        let unknown = parse_commands("what is this", None);
        let shown: Vec<String> = unknown.iter().map(ToString::to_string).collect();
        assert_eq!(from_lines(&shown), unknown);
        assert!(cmds[..8].iter().all(Command::is_well_formed));
        assert!(!cmds[8].is_well_formed() && !unknown[0].is_well_formed());
    }
}
