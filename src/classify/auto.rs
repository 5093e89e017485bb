//! Markers of a message no person wrote (DESIGN §3, RFC 3834): auto-replies,
//! vacation notices, mailing lists, bulk mail. Such a message is never
//! answered and never counts as consent. Delivery reports are `bounce`'s
//! business and are checked before this. `X-Auto-Response-Suppress` is a
//! request to others, not a marker, so it is ignored here.

use super::mime::{header, header_values, subject};
use mail_parser::Message;

/// Headers whose mere presence marks an automatic message.
const PRESENCE: &[&str] = &[
    "X-Autoreply",
    "X-Autorespond",
    "X-Autoresponder",
    "X-Auto-Reply",
    "X-AutoReply-From",
    "X-Mail-Autoreply",
    "X-MS-Exchange-Inbox-Rules-Loop",
    "X-MS-Exchange-Generated-Message-Source",
    "List-Id",
    "List-Unsubscribe",
];

/// `Precedence` values of automatic and list mail.
const PRECEDENCE: &[&str] = &["bulk", "junk", "list", "auto_reply", "auto-reply"];

/// Subjects of out-of-office notices, lower-case, matched as whole words.
const SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto:",
    "abwesenheitsnotiz",
    "automatische antwort",
    "abwesend",
    "réponse automatique",
    "reponse automatique",
    "absent du bureau",
    "absence",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "risposta automatica",
    "fuori sede",
    "fuori ufficio",
    "fora do escritório",
    "fora do escritorio",
    "resposta automática",
    "resposta automatica",
    "afwezig",
    "automatisch antwoord",
    "frånvaro",
    "autosvar",
    "automatiskt svar",
    "poza biurem",
    "odpowiedź automatyczna",
    "automatyczna odpowiedź",
];

/// Which marker shows the message to be automatic, if any.
pub(crate) fn marker(msg: &Message<'_>) -> Option<String> {
    for v in header_values(msg, "Auto-Submitted") {
        let keyword = v
            .split([';', '(', ' ', '\t'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !keyword.is_empty() && keyword != "no" {
            return Some(format!("Auto-Submitted: {v}"));
        }
    }
    if let Some(name) = PRESENCE.iter().find(|h| !header_values(msg, h).is_empty()) {
        return Some((*name).to_string());
    }
    for v in header_values(msg, "Precedence") {
        let v = v.trim().to_ascii_lowercase();
        if PRECEDENCE.contains(&v.as_str()) {
            return Some(format!("Precedence: {v}"));
        }
    }
    if empty_return_path(msg) {
        return Some("Return-Path: <>".to_string());
    }
    let subject = subject(msg)?.to_lowercase();
    SUBJECTS
        .iter()
        .find(|p| contains_words(&subject, p))
        .map(|p| format!("subject: {p}"))
}

/// Whether the envelope sender is the null path `<>`, as for reports.
pub(crate) fn empty_return_path(msg: &Message<'_>) -> bool {
    header(msg, "Return-Path").is_some_and(|v| {
        let v = v.trim();
        v.is_empty() || v.trim_matches(['<', '>', ' ']).is_empty()
    })
}

/// Whether `needle` occurs in `hay` not inside a longer word.
pub(crate) fn contains_words(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(i) = hay[from..].find(needle) {
        let start = from + i;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        let boundary = |c: Option<char>| c.is_none_or(|c| !c.is_alphanumeric());
        let after_ok = needle.ends_with(|c: char| !c.is_alphanumeric()) || boundary(after);
        if boundary(before) && after_ok {
            return true;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        assert!(contains_words(
            "automatic reply: invitation",
            "automatic reply"
        ));
        assert!(contains_words("re: auto: away", "auto:"));
        assert!(contains_words("absence", "absence"));
        assert!(!contains_words("absences", "absence"));
        assert!(!contains_words("re: our absenceplan", "absence"));
        assert!(!contains_words("knockout of office", "out of office"));
    }
}
