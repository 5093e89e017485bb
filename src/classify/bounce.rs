//! Delivery failure reports: RFC 3464 `multipart/report` DSNs (Postfix,
//! Exim, Exchange/Office 365, Gmail, Sendmail) and the older plain-text
//! notices (qmail, Exim, Sendmail) sent from `MAILER-DAEMON`/`postmaster` or
//! with an empty return path. It finds the failed recipients, whether the
//! failure is permanent, the status code and the invite token. A message
//! from an ordinary sender with an ordinary subject is never a bounce, however
//! often it says "bounced".

use super::auto::{contains_words, empty_return_path};
use super::correlate::{text_token, verp_token};
use super::mime::{self, addresses_in, best_text, content_type, content_type_param, part_text};
use super::ClassifyConfig;
use mail_parser::Message;

/// A failed (or delayed) delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub recipients: Vec<String>,
    pub permanent: bool,
    pub status: Option<String>,
}

/// What a report turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Report {
    /// A delivery failed or is delayed.
    Failure(Failure),
    /// A report that is no failure (delivered, read receipt, abuse
    /// feedback): automatic, nothing more. The string says which.
    NotFailure(String),
}

/// Local parts of the senders of delivery notices.
const DAEMONS: &[&str] = &["mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"];

/// Subjects of delivery notices, lower-case, matched as whole words.
const SUBJECTS: &[&str] = &[
    "undelivered mail",
    "undeliverable",
    "undelivered",
    "delivery status notification",
    "mail delivery failed",
    "delivery failure",
    "delivery failed",
    "failure notice",
    "returned mail",
    "could not be delivered",
    "couldn't be delivered",
    "delivery has failed",
    "delivery delayed",
    "delayed mail",
    "warning: could not send message",
    "message not delivered",
    "nondeliverable",
    "non-delivery",
    "unzustellbar",
    "non remis",
    "no se puede entregar",
    "non recapitabile",
    "onbestelbaar",
    "niet bezorgd",
];

/// Lines after which a notice quotes the returned message.
const COPY_MARKERS: &[&str] = &[
    "this is a copy of the message",
    "below this line is a copy of the message",
    "original message follows",
    "original message headers",
    "----- original message -----",
    "------ original message ------",
    "unsent message below",
    "----- message header follows -----",
];

/// Words of a delay warning rather than a failure.
const DELAY_WORDS: &[&str] = &[
    "(delay)",
    "delayed",
    "delay",
    "warning: could not send",
    "this is only a warning",
    "will continue trying",
    "will retry",
    "still trying",
    "verzögert",
    "retardée",
];

/// The report `msg` is, or `None` for an ordinary message.
pub(crate) fn check(msg: &Message<'_>, cfg: &ClassifyConfig) -> Option<Report> {
    let mut report_type: Option<Option<String>> = None;
    let mut status_text: Option<String> = None;
    mime::walk(msg, &mut |_, part, depth| {
        if depth > 0 {
            return;
        }
        let ct = content_type(part);
        if ct == "multipart/report" && report_type.is_none() {
            report_type = Some(content_type_param(part, "report-type"));
        }
        let is_status = ct == "message/delivery-status" || ct == "message/global-delivery-status";
        if is_status && status_text.is_none() {
            status_text = Some(part_text(part).into_owned());
        }
    });
    let daemon = from_daemon(msg) || empty_return_path(msg);
    let dsn = match &report_type {
        Some(Some(rt)) if rt == "delivery-status" || rt == "global-delivery-status" => true,
        Some(Some(rt)) => return Some(Report::NotFailure(format!("report: {rt}"))),
        Some(None) => status_text.is_some(),
        None => status_text.is_some() && daemon,
    };
    let subject = mime::subject(msg).unwrap_or_default().to_lowercase();
    if dsn {
        if let Some(report) = status_text.as_deref().and_then(from_status_fields) {
            return Some(report);
        }
    } else if !(daemon && SUBJECTS.iter().any(|s| contains_words(&subject, s))) {
        return report_type.map(|_| Report::NotFailure("report".to_string()));
    }
    Some(Report::Failure(from_notice(msg, cfg, &subject)))
}

/// The token of the invite that bounced: from the VERP address, else from
/// the returned message (its Message-ID, Reply-To or envelope sender).
pub(crate) fn token(msg: &Message<'_>, cfg: &ClassifyConfig) -> Option<String> {
    if let Some(t) = verp_token(msg, cfg) {
        return Some(t);
    }
    let mut found = None;
    let mut budget = 4 * mime::MAX_TEXT;
    mime::walk(msg, &mut |_, part, _| {
        if found.is_some() || budget == 0 {
            return;
        }
        let text = part_text(part);
        budget = budget.saturating_sub(text.len().max(1));
        found = text_token(&text, cfg);
    });
    found
}

fn from_daemon(msg: &Message<'_>) -> bool {
    let from = mime::from_addr(msg);
    let ret = mime::header(msg, "Return-Path").and_then(|v| addresses_in(&v).into_iter().next());
    [from, ret].into_iter().flatten().any(|a| {
        let local = a.split('@').next().unwrap_or("");
        DAEMONS.contains(&local) || local.starts_with("microsoftexchange")
    })
}

/// One recipient block of a `message/delivery-status` part.
#[derive(Debug, Default)]
struct Recipient {
    address: Option<String>,
    action: String,
    status: Option<String>,
}

/// Reads the per-recipient fields: `Original-Recipient` (the address we
/// sent to) or `Final-Recipient`, `Action`, `Status`.
fn recipients(text: &str) -> Vec<Recipient> {
    let mut out = Vec::new();
    let mut cur = Recipient::default();
    let mut original: Option<String> = None;
    let mut last: Option<(String, String)> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    // Unfold continuation lines, then split blocks at blank lines.
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = last.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some(f) = last.take() {
            fields.push(f);
        }
        if line.trim().is_empty() {
            fields.push((String::new(), String::new()));
        } else if let Some((k, v)) = line.split_once(':') {
            last = Some((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    fields.extend(last);
    fields.push((String::new(), String::new()));
    for (k, v) in fields {
        match k.as_str() {
            "" => {
                if let Some(o) = original.take() {
                    cur.address = Some(o);
                }
                if cur.address.is_some() {
                    out.push(std::mem::take(&mut cur));
                } else {
                    cur = Recipient::default();
                }
            }
            "final-recipient" if cur.address.is_none() => cur.address = address_field(&v),
            "original-recipient" => original = address_field(&v),
            "action" => cur.action = v.to_ascii_lowercase(),
            "status" => {
                let code: String = v
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                cur.status = (!code.is_empty()).then_some(code);
            }
            _ => {}
        }
    }
    out
}

/// `rfc822; user@example.com` → `user@example.com`.
fn address_field(v: &str) -> Option<String> {
    let value = v.split_once(';').map_or(v, |(_, a)| a).trim();
    addresses_in(value).into_iter().next()
}

fn from_status_fields(text: &str) -> Option<Report> {
    let all = recipients(text);
    let failed: Vec<&Recipient> = all
        .iter()
        .filter(|r| match r.action.as_str() {
            "failed" | "delayed" => true,
            "" => r
                .status
                .as_deref()
                .is_some_and(|s| s.starts_with(['4', '5'])),
            _ => false,
        })
        .collect();
    if failed.is_empty() {
        return all.first().map(|r| match r.action.as_str() {
            "" => Report::NotFailure("delivery report".to_string()),
            action => Report::NotFailure(format!("delivery report: {action}")),
        });
    }
    let permanent_of = |r: &Recipient| {
        let five = r.status.as_deref().is_none_or(|s| s.starts_with('5'));
        match r.action.as_str() {
            "failed" => five,
            "delayed" => false,
            _ => r.status.as_deref().is_some_and(|s| s.starts_with('5')),
        }
    };
    let permanent = failed.iter().any(|r| permanent_of(r));
    let status = failed
        .iter()
        .find(|r| permanent_of(r) == permanent)
        .and_then(|r| r.status.clone());
    let mut addresses: Vec<String> = Vec::new();
    for r in &failed {
        if let Some(a) = &r.address {
            if !addresses.contains(a) {
                addresses.push(a.clone());
            }
        }
    }
    Some(Report::Failure(Failure {
        recipients: addresses,
        permanent,
        status,
    }))
}

/// A failure read from the human-readable notice: the addresses it names
/// above the returned copy (not ours, not the reporting system's) and the
/// first enhanced status code.
fn from_notice(msg: &Message<'_>, cfg: &ClassifyConfig, subject: &str) -> Failure {
    let body = best_text(msg);
    let mut notice = String::new();
    for line in body.lines() {
        let lower = line.trim().to_lowercase();
        if COPY_MARKERS.iter().any(|m| lower.contains(m))
            || lower.starts_with("received: ")
            || lower.starts_with("return-path:")
        {
            break;
        }
        notice.push_str(line);
        notice.push('\n');
    }
    let sender = mime::from_addr(msg);
    let domain = cfg.domain.to_ascii_lowercase();
    let mut recipients: Vec<String> = Vec::new();
    for a in addresses_in(&notice) {
        let (local, dom) = a.split_once('@').unwrap_or(("", ""));
        let ours = dom == domain || dom.ends_with(&format!(".{domain}"));
        let system = DAEMONS.contains(&local) || sender.as_deref() == Some(a.as_str());
        if !ours && !system && !recipients.contains(&a) {
            recipients.push(a);
        }
    }
    let status = find_status(&notice);
    let lower = notice.to_lowercase();
    let delay = DELAY_WORDS.iter().any(|w| subject.contains(w))
        || status.as_deref().is_some_and(|s| s.starts_with('4'))
        || (status.is_none() && DELAY_WORDS.iter().any(|w| lower.contains(w)));
    Failure {
        recipients,
        permanent: !delay,
        status,
    }
}

/// The first enhanced status code (`5.1.1`, `4.4.7`) of class 4 or 5.
fn find_status(text: &str) -> Option<String> {
    let b = text.as_bytes();
    for i in 0..b.len() {
        if !matches!(b[i], b'4' | b'5')
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            continue;
        }
        let mut j = i + 1;
        let mut groups = 0;
        while groups < 2 && j < b.len() && b[j] == b'.' {
            let start = j + 1;
            let mut k = start;
            while k < b.len() && b[k].is_ascii_digit() && k - start < 3 {
                k += 1;
            }
            if k == start {
                break;
            }
            groups += 1;
            j = k;
        }
        let end_ok = j >= b.len()
            || !(b[j].is_ascii_alphanumeric()
                || (b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit)));
        if groups == 2 && end_ok {
            return Some(text[i..j].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        assert_eq!(
            find_status("550 5.1.1 <a@b> User unknown").as_deref(),
            Some("5.1.1")
        );
        assert_eq!(
            find_status("said: 452 4.2.2 Mailbox full").as_deref(),
            Some("4.2.2")
        );
        assert_eq!(find_status("version 1.5.4.3 and 10.4.1.2"), None);
        assert_eq!(find_status("nothing"), None);
    }

    #[test]
    fn status_fields() {
        let text = "Reporting-MTA: dns; mx.example.test\n\nFinal-Recipient: rfc822; a@x.test\n\
                    Original-Recipient: rfc822;A@X.test\nAction: failed\nStatus: 5.1.1\n\
                    Diagnostic-Code: smtp; 550 5.1.1\n    user unknown\n";
        let Some(Report::Failure(f)) = from_status_fields(text) else {
            panic!("not a failure");
        };
        assert_eq!(f.recipients, ["a@x.test"]);
        assert!(f.permanent);
        assert_eq!(f.status.as_deref(), Some("5.1.1"));

        let delayed = "Final-Recipient: rfc822; b@x.test\nAction: delayed\nStatus: 4.4.7\n";
        let Some(Report::Failure(f)) = from_status_fields(delayed) else {
            panic!("not a failure");
        };
        assert!(!f.permanent);

        let ok = "Final-Recipient: rfc822; b@x.test\nAction: delivered\nStatus: 2.0.0\n";
        assert_eq!(
            from_status_fields(ok),
            Some(Report::NotFailure("delivery report: delivered".into()))
        );
    }
}
