//! Finding the invite a message belongs to (DESIGN §3): the token in a
//! plus-address (`invites+<token>[-yes|-no]@`, `bounces+<token>@`), in a
//! Message-ID we wrote (`invite.<token>@`, `reminder.<token>.<n>@`), or in
//! returned text. Only addresses at the configured domain count, and a token
//! is only what `Token::parse` accepts. It never guesses from a subject's
//! short `[ref …]`: eight characters prove nothing.

use super::mime::{addresses_in, header_addresses};
use super::{ClassifyConfig, Intent};
use crate::core::token::Token;
use mail_parser::Message;

/// Headers naming the address a mail was sent to, in the order they count.
pub(crate) const RECIPIENT_HEADERS: &[&str] = &["To", "Cc", "Delivered-To", "X-Original-To"];

/// A token, with the intent its address gave (`-yes`, `-no`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub token: String,
    pub intent: Option<Intent>,
}

fn at_domain<'a>(addr: &'a str, cfg: &ClassifyConfig) -> Option<&'a str> {
    let (local, domain) = addr.trim().trim_matches(['<', '>']).rsplit_once('@')?;
    domain
        .eq_ignore_ascii_case(cfg.domain.trim())
        .then_some(local)
}

/// The token of `<local><sep><token>[-yes|-no]@<domain>`.
pub(crate) fn address_token(addr: &str, local: &str, cfg: &ClassifyConfig) -> Option<Found> {
    let lp = at_domain(addr, cfg)?.to_lowercase();
    let rest = lp
        .strip_prefix(&local.to_lowercase())?
        .strip_prefix(cfg.separator.to_ascii_lowercase())?;
    let (tok, intent) = if let Some(t) = rest.strip_suffix("-yes") {
        (t, Some(Intent::Accept))
    } else if let Some(t) = rest.strip_suffix("-no") {
        (t, Some(Intent::Decline))
    } else {
        (rest, None)
    };
    let token = Token::parse(tok).ok()?;
    Some(Found {
        token: token.to_string(),
        intent,
    })
}

/// The token of a Message-ID we wrote: `invite.<token>@<domain>` or
/// `reminder.<token>.<n>@<domain>`.
pub(crate) fn message_id_token(id: &str, cfg: &ClassifyConfig) -> Option<String> {
    let lp = at_domain(id, cfg)?.to_lowercase();
    let tok = if let Some(rest) = lp.strip_prefix("invite.") {
        rest
    } else {
        let rest = lp.strip_prefix("reminder.")?;
        let (tok, n) = rest.split_once('.')?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return None;
        }
        tok
    };
    Token::parse(tok).ok().map(|t| t.to_string())
}

/// The token a reply names: first the address it was sent to, then the
/// Message-IDs in `In-Reply-To` and `References`.
pub(crate) fn reply_token(msg: &Message<'_>, cfg: &ClassifyConfig) -> Option<Found> {
    let by_address = header_addresses(msg, RECIPIENT_HEADERS)
        .into_iter()
        .find_map(|a| address_token(&a, &cfg.invites_local, cfg));
    by_address.or_else(|| {
        header_addresses(msg, &["In-Reply-To", "References"])
            .into_iter()
            .find_map(|id| message_id_token(&id, cfg))
            .map(|token| Found {
                token,
                intent: None,
            })
    })
}

/// The VERP token of a bounce: `bounces+<token>@` in the headers naming
/// where it was delivered.
pub(crate) fn verp_token(msg: &Message<'_>, cfg: &ClassifyConfig) -> Option<String> {
    header_addresses(msg, &["To", "Delivered-To", "X-Original-To", "Envelope-To"])
        .into_iter()
        .find_map(|a| address_token(&a, &cfg.bounces_local, cfg))
        .map(|f| f.token)
}

/// The first token in free text, such as the headers of a returned message:
/// one of our Message-IDs, `invites+<token>@` or `bounces+<token>@`.
pub(crate) fn text_token(text: &str, cfg: &ClassifyConfig) -> Option<String> {
    addresses_in(text).into_iter().find_map(|a| {
        message_id_token(&a, cfg)
            .or_else(|| address_token(&a, &cfg.invites_local, cfg).map(|f| f.token))
            .or_else(|| address_token(&a, &cfg.bounces_local, cfg).map(|f| f.token))
    })
}

/// Whether the mail was sent to the bare intake address `invites@<domain>`.
pub(crate) fn to_intake(msg: &Message<'_>, cfg: &ClassifyConfig) -> bool {
    header_addresses(msg, RECIPIENT_HEADERS)
        .iter()
        .any(|a| at_domain(a, cfg).is_some_and(|l| l.eq_ignore_ascii_case(&cfg.invites_local)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ClassifyConfig {
        ClassifyConfig::with_domain("example.test")
    }

    const T: &str = "abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn address_tokens_and_intents() {
        let c = cfg();
        let f = address_token(&format!("invites+{T}@example.test"), "invites", &c).unwrap();
        assert_eq!((f.token.as_str(), f.intent), (T, None));
        let f = address_token(
            &format!("Invites+{}-YES@Example.Test", T.to_uppercase()),
            "invites",
            &c,
        )
        .unwrap();
        assert_eq!((f.token.as_str(), f.intent), (T, Some(Intent::Accept)));
        let f = address_token(&format!("<invites+{T}-no@example.test>"), "invites", &c).unwrap();
        assert_eq!(f.intent, Some(Intent::Decline));
        for bad in [
            format!("invites+{T}@other.test"),
            format!("bounces+{T}@example.test"),
            "invites+abcdefgh@example.test".to_string(),
            "invites@example.test".to_string(),
            format!("invites+{T}-maybe@example.test"),
        ] {
            assert_eq!(address_token(&bad, "invites", &c), None, "{bad}");
        }
    }

    #[test]
    fn message_id_tokens() {
        let c = cfg();
        assert_eq!(
            message_id_token(&format!("invite.{T}@example.test"), &c).as_deref(),
            Some(T)
        );
        assert_eq!(
            message_id_token(&format!("<reminder.{T}.3@example.test>"), &c).as_deref(),
            Some(T)
        );
        assert_eq!(
            message_id_token(&format!("reminder.{T}@example.test"), &c),
            None
        );
        assert_eq!(
            message_id_token(&format!("invite.{T}@example.org"), &c),
            None
        );
    }

    #[test]
    fn text_tokens() {
        let c = cfg();
        let text =
            format!("Message-ID: <CAF1@mail.gmail.com>\nReply-To: invites+{T}@example.test\n");
        assert_eq!(text_token(&text, &c).as_deref(), Some(T));
        assert_eq!(text_token("nothing here a@b.c", &c), None);
    }
}
