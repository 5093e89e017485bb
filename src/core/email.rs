//! `EmailAddr`: one syntactically valid email address, trimmed and
//! lower-cased, and `EmailProblem`: the specific reason a cell is not one.
//!
//! This module owns the address syntax subinvite accepts (a practical subset
//! of RFC 5321: dot-atom local part, ASCII host name with at least one dot).
//! It is pure and allocation-light because the list checker calls it for
//! every row; it never looks up domains or touches the network.
use serde::{Deserialize, Serialize};

/// Longest local part (before the `@`) RFC 5321 allows.
pub const MAX_LOCAL_LEN: usize = 64;
/// Longest whole address that fits in an SMTP path.
pub const MAX_ADDR_LEN: usize = 254;

/// A syntactically valid address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddr(String);

/// Why a cell is not one valid address. The `Display` text is a short
/// reason meant to follow the quoted value: `'bob@@x.com': two @ signs`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailProblem {
    /// Nothing but whitespace.
    #[error("empty")]
    Empty,
    /// `mailto:bob@x.com`, pasted from a link.
    #[error("starts with 'mailto:': write only the address")]
    MailtoPrefix,
    /// `Bob Smith <bob@x.com>`; carries the address found between the brackets.
    #[error("a name and an address: write only the address ({0})")]
    DisplayName(String),
    /// `a@x.com; b@y.com` or `a@x.com, b@y.com`.
    #[error("several addresses in one cell: put one address per row")]
    Several,
    /// `bob smith@x.com`.
    #[error("spaces inside the address")]
    Spaces,
    /// `bob.x.com`.
    #[error("no @ sign")]
    NoAt,
    /// `bob@@x.com` or `bob@x@y.com`.
    #[error("two @ signs")]
    TwoAt,
    /// `jürgen@x.com`: internationalised addresses are not supported.
    #[error("non-ASCII character '{0}': addresses with accents or other non-ASCII letters are not supported")]
    NonAscii(char),
    /// `@x.com`.
    #[error("nothing before the @")]
    EmptyLocal,
    /// `bob@`.
    #[error("nothing after the @")]
    EmptyDomain,
    /// `bob@gmail`: carries the domain.
    #[error("the domain '{0}' has no dot")]
    NoDotInDomain(String),
    /// `.bob@x.com`.
    #[error("starts with a dot")]
    LeadingDot,
    /// `bob.@x.com`.
    #[error("a dot right before the @")]
    DotBeforeAt,
    /// `bob@.x.com`.
    #[error("a dot right after the @")]
    DotAfterAt,
    /// `bob@x.com.`.
    #[error("ends with a dot")]
    TrailingDot,
    /// `bob..smith@x.com` or `bob@x..com`.
    #[error("two dots in a row")]
    DoubleDot,
    /// `bob(work)@x.com`, `bob@x_y.com`: carries the character.
    #[error("character '{0}' is not allowed in an address")]
    BadCharacter(char),
    /// `bob@-x.com`: a domain label starting or ending with a hyphen.
    #[error("the domain part '{0}' starts or ends with a hyphen")]
    BadHyphen(String),
    /// `bob@x.123`: the last part of the domain is a number.
    #[error("the domain '{0}' does not end in a name")]
    NumericTld(String),
    /// A domain label longer than 63 characters.
    #[error("a part of the domain is {0} characters long (at most 63)")]
    LabelTooLong(usize),
    /// Local part longer than [`MAX_LOCAL_LEN`]; carries its length.
    #[error("the part before the @ is {0} characters long (at most 64)")]
    LocalTooLong(usize),
    /// Whole address longer than [`MAX_ADDR_LEN`]; carries its length.
    #[error("the address is {0} characters long (at most 254)")]
    TooLong(usize),
}

/// Characters allowed in a dot-atom local part besides letters, digits and dots.
const LOCAL_SPECIALS: &[u8] = b"!#$%&'*+-/=?^_`{|}~";

/// Trims whitespace (including NBSP) and the invisible characters spreadsheets
/// and copy-paste leave at the edges of a cell.
pub fn trim_cell(raw: &str) -> &str {
    let b = raw.as_bytes();
    match (b.first(), b.last()) {
        (Some(f), Some(l)) if f.is_ascii_graphic() && l.is_ascii_graphic() => raw,
        _ => raw.trim_matches(|c: char| c.is_whitespace() || matches!(c, '\u{200B}' | '\u{FEFF}')),
    }
}

/// Validates `raw` and writes the normalised (trimmed, lower-cased) address
/// into `out`, reusing its allocation. This is the hot-path form of
/// [`EmailAddr::parse`]; `out` is unspecified when an error is returned.
pub fn normalise_into(raw: &str, out: &mut String) -> Result<(), EmailProblem> {
    let s = trim_cell(raw);
    if !plainly_valid(s.as_bytes()) {
        check_shape(s)?;
    }
    out.clear();
    out.push_str(s);
    out.make_ascii_lowercase();
    Ok(())
}

/// Byte classes for the one-pass fast check.
const LOCAL_OK: u8 = 1;
const DOMAIN_OK: u8 = 2;
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
            t[i] = LOCAL_OK | DOMAIN_OK;
        }
        i += 1;
    }
    let mut j = 0;
    while j < LOCAL_SPECIALS.len() {
        t[LOCAL_SPECIALS[j] as usize] |= LOCAL_OK;
        j += 1;
    }
    t
};

/// One pass over the bytes accepting the common, clean address; anything
/// unusual goes to [`check_shape`] for a verdict and a reason. Accepts only
/// what `check_shape` accepts (tested).
fn plainly_valid(b: &[u8]) -> bool {
    if b.len() < 5 || b.len() > MAX_ADDR_LEN {
        return false;
    }
    let Some(at) = b.iter().position(|&c| c == b'@') else {
        return false;
    };
    let (local, domain) = (&b[..at], &b[at + 1..]);
    if local.is_empty() || local.len() > MAX_LOCAL_LEN || local[0] == b'.' || local[at - 1] == b'.'
    {
        return false;
    }
    let mut prev = 0u8;
    for &c in local {
        if CLASS[usize::from(c)] & LOCAL_OK == 0 || (c == b'.' && prev == b'.') {
            return false;
        }
        prev = c;
    }
    // domain: labels of [a-z0-9-], not starting or ending with '-', 1..=63 long
    let (mut label_len, mut dots, mut label_digits) = (0usize, 0usize, true);
    prev = b'.';
    for &c in domain {
        if CLASS[usize::from(c)] & DOMAIN_OK == 0 {
            return false;
        }
        if c == b'.' {
            if prev == b'.' || prev == b'-' {
                return false;
            }
            dots += 1;
            (label_len, label_digits) = (0, true);
        } else {
            if c == b'-' && prev == b'.' {
                return false;
            }
            label_len += 1;
            label_digits &= c.is_ascii_digit();
            if label_len > 63 {
                return false;
            }
        }
        prev = c;
    }
    dots > 0 && label_len > 0 && prev != b'-' && !label_digits
}

/// Every rule, in the order that gives the most helpful reason first.
fn check_shape(s: &str) -> Result<(), EmailProblem> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Err(EmailProblem::Empty);
    }
    if b.len() >= 7 && b[..7].eq_ignore_ascii_case(b"mailto:") {
        return Err(EmailProblem::MailtoPrefix);
    }
    if let Some(open) = s.find('<') {
        if let Some(close) = s[open..].find('>') {
            let inner = trim_cell(&s[open + 1..open + close]);
            return Err(EmailProblem::DisplayName(inner.to_string()));
        }
    }
    let ats = b.iter().filter(|&&c| c == b'@').count();
    if ats >= 2 {
        let with_at = s
            .split(|c: char| c == ';' || c == ',' || c == '/' || c.is_whitespace())
            .filter(|t| t.contains('@'))
            .count();
        return Err(if with_at >= 2 {
            EmailProblem::Several
        } else {
            EmailProblem::TwoAt
        });
    }
    if s.chars().any(char::is_whitespace) {
        return Err(EmailProblem::Spaces);
    }
    let Some((local, domain)) = s.split_once('@') else {
        return Err(EmailProblem::NoAt);
    };
    if let Some(c) = s.chars().find(|c| !c.is_ascii()) {
        return Err(EmailProblem::NonAscii(c));
    }
    if local.is_empty() {
        return Err(EmailProblem::EmptyLocal);
    }
    if domain.is_empty() {
        return Err(EmailProblem::EmptyDomain);
    }
    if s.len() > MAX_ADDR_LEN {
        return Err(EmailProblem::TooLong(s.len()));
    }
    if local.len() > MAX_LOCAL_LEN {
        return Err(EmailProblem::LocalTooLong(local.len()));
    }
    if let Some(&c) = local
        .as_bytes()
        .iter()
        .find(|&&c| !(c.is_ascii_alphanumeric() || c == b'.' || LOCAL_SPECIALS.contains(&c)))
    {
        return Err(EmailProblem::BadCharacter(char::from(c)));
    }
    if local.starts_with('.') {
        return Err(EmailProblem::LeadingDot);
    }
    if local.ends_with('.') {
        return Err(EmailProblem::DotBeforeAt);
    }
    if let Some(&c) = domain
        .as_bytes()
        .iter()
        .find(|&&c| !(c.is_ascii_alphanumeric() || c == b'.' || c == b'-'))
    {
        return Err(EmailProblem::BadCharacter(char::from(c)));
    }
    if domain.starts_with('.') {
        return Err(EmailProblem::DotAfterAt);
    }
    if domain.ends_with('.') {
        return Err(EmailProblem::TrailingDot);
    }
    if s.contains("..") {
        return Err(EmailProblem::DoubleDot);
    }
    if !domain.contains('.') {
        return Err(EmailProblem::NoDotInDomain(domain.to_string()));
    }
    for label in domain.split('.') {
        if label.len() > 63 {
            return Err(EmailProblem::LabelTooLong(label.len()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(EmailProblem::BadHyphen(label.to_string()));
        }
    }
    if domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|c| c.is_ascii_digit()))
    {
        return Err(EmailProblem::NumericTld(domain.to_string()));
    }
    Ok(())
}

impl EmailAddr {
    /// Trims, validates and lower-cases one address.
    pub fn parse(raw: &str) -> Result<Self, EmailProblem> {
        let mut out = String::new();
        normalise_into(raw, &mut out)?;
        Ok(EmailAddr(out))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, d)| d)
    }

    /// The part before the `@`.
    pub fn local(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(l, _)| l)
    }
}

impl TryFrom<String> for EmailAddr {
    type Error = EmailProblem;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<EmailAddr> for String {
    fn from(e: EmailAddr) -> String {
        e.0
    }
}

impl std::str::FromStr for EmailAddr {
    type Err = EmailProblem;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for EmailAddr {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EmailAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::EmailProblem as P;
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        for (raw, want) in [
            ("dana.sparky@example.test", "dana.sparky@example.test"),
            ("  Dana.Sparky@Example.TEST \t", "dana.sparky@example.test"),
            ("\u{a0}bob@x.co.uk\u{200b}", "bob@x.co.uk"),
            (
                "o'brien+bids@sub-domain.example.test",
                "o'brien+bids@sub-domain.example.test",
            ),
            ("a@b.io", "a@b.io"),
            ("x_y-z{1}@a1.b2.example", "x_y-z{1}@a1.b2.example"),
        ] {
            let got = EmailAddr::parse(raw).map(|e| e.to_string());
            assert_eq!(got.as_deref(), Ok(want), "input {raw:?}");
        }
    }

    #[test]
    fn each_reason() {
        let long_local = format!("{}@x.com", "a".repeat(65));
        let long_total = format!("a@{}.com", "b.".repeat(130));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let cases: Vec<(&str, P)> = vec![
            ("", P::Empty),
            ("   ", P::Empty),
            ("mailto:bob@x.com", P::MailtoPrefix),
            ("MAILTO:bob@x.com", P::MailtoPrefix),
            ("Bob Smith <bob@x.com>", P::DisplayName("bob@x.com".into())),
            ("<bob@x.com>", P::DisplayName("bob@x.com".into())),
            ("a@x.com; b@y.com", P::Several),
            ("a@x.com, b@y.com", P::Several),
            ("a@x.com b@y.com", P::Several),
            ("a@x.com/b@y.com", P::Several),
            ("bob@@x.com", P::TwoAt),
            ("bob@x@y.com", P::TwoAt),
            ("bob smith@x.com", P::Spaces),
            ("bob@x .com", P::Spaces),
            ("bob.x.com", P::NoAt),
            ("jürgen@x.com", P::NonAscii('ü')),
            ("bob@exämple.com", P::NonAscii('ä')),
            ("@x.com", P::EmptyLocal),
            ("bob@", P::EmptyDomain),
            ("bob@gmail", P::NoDotInDomain("gmail".into())),
            (".bob@x.com", P::LeadingDot),
            ("bob.@x.com", P::DotBeforeAt),
            ("bob@.x.com", P::DotAfterAt),
            ("bob@x.com.", P::TrailingDot),
            ("bob..smith@x.com", P::DoubleDot),
            ("bob@x..com", P::DoubleDot),
            ("bob(work)@x.com", P::BadCharacter('(')),
            ("bob\"@x.com", P::BadCharacter('"')),
            ("bob@x_y.com", P::BadCharacter('_')),
            ("bob@[1.2.3.4]", P::BadCharacter('[')),
            ("bob@-x.com", P::BadHyphen("-x".into())),
            ("bob@x-.com", P::BadHyphen("x-".into())),
            ("bob@10.0.0.1", P::NumericTld("10.0.0.1".into())),
            (&long_label, P::LabelTooLong(64)),
            (&long_local, P::LocalTooLong(65)),
            (&long_total, P::TooLong(long_total.len())),
        ];
        for (raw, want) in cases {
            assert_eq!(EmailAddr::parse(raw), Err(want), "input {raw:?}");
        }
    }

    #[test]
    fn fast_path_agrees_with_the_full_rules() {
        let alphabet = [
            'a', 'B', '0', '.', '-', '@', '_', '+', ' ', '<', ',', 'é', '#', '9',
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200_000 {
            let len = (next() % 14) as usize + 1;
            let mut s: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if next() % 2 == 0 {
                s.push_str("@x.io");
            }
            let fast = plainly_valid(s.as_bytes());
            let full = check_shape(&s).is_ok();
            assert!(
                !fast || full,
                "fast path accepted {s:?}: {:?}",
                check_shape(&s)
            );
            if full && s.is_ascii() && s.len() >= 5 {
                assert!(fast, "fast path refused valid {s:?}");
            }
        }
    }

    #[test]
    fn messages_read_well_after_the_value() {
        assert_eq!(P::TwoAt.to_string(), "two @ signs");
        assert_eq!(
            P::DisplayName("a@b.com".into()).to_string(),
            "a name and an address: write only the address (a@b.com)"
        );
        assert!(P::NonAscii('é').to_string().contains("not supported"));
    }

    #[test]
    fn parts_and_serde() {
        let e = EmailAddr::parse("Dana.Sparky@Example.test").unwrap_or_else(|p| panic!("{p}"));
        assert_eq!(e.local(), "dana.sparky");
        assert_eq!(e.domain(), "example.test");
        let json = serde_json::to_string(&e).unwrap_or_default();
        assert_eq!(json, "\"dana.sparky@example.test\"");
        let back: EmailAddr = serde_json::from_str(&json).unwrap_or_else(|x| panic!("{x}"));
        assert_eq!(back, e);
        assert!(serde_json::from_str::<EmailAddr>("\"nope\"").is_err());
    }
}
