//! Invite tokens: 128 random bits written as 26 lower-case base32 letters
//! and digits, so they survive plus-addressing, case-folding mail systems and
//! URLs. This module only encodes; the shell supplies the random bytes.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of a token in characters.
pub const TOKEN_LEN: usize = 26;

/// An unguessable invite token.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Token(String);

/// A string that is not a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an invite token")]
pub struct NotAToken;

impl Token {
    /// The token for 16 random bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Token(
            data_encoding::BASE32_NOPAD
                .encode(&bytes)
                .to_ascii_lowercase(),
        )
    }

    /// Parses a token as found in an address or header (any letter case).
    pub fn parse(s: &str) -> Result<Self, NotAToken> {
        let ok = s.len() == TOKEN_LEN
            && s.bytes()
                .all(|b| b.is_ascii_alphabetic() || (b'2'..=b'7').contains(&b));
        if ok {
            Ok(Token(s.to_ascii_lowercase()))
        } else {
            Err(NotAToken)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The short reference shown in subjects: the first eight characters,
    /// upper-cased. Not enough to act on an invite; enough to find it.
    pub fn short_ref(&self) -> String {
        self.0[..8].to_ascii_uppercase()
    }
}

impl TryFrom<String> for Token {
    type Error = NotAToken;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Token::parse(&s)
    }
}

impl From<Token> for String {
    fn from(t: Token) -> String {
        t.0
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_26_url_and_address_safe_chars() {
        let t = Token::from_bytes([0xff; 16]);
        assert_eq!(t.as_str().len(), TOKEN_LEN);
        assert!(t
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()));
        assert_eq!(Token::parse(&t.as_str().to_uppercase()).unwrap(), t);
        assert_eq!(t.short_ref().len(), 8);
    }

    #[test]
    fn parse_rejects_other_strings() {
        for s in [
            "",
            "abc",
            "abcdefghijklmnopqrstuvwxy1",
            "abcdefghijklmnopqrstuvwxy-",
        ] {
            assert!(Token::parse(s).is_err(), "{s}");
        }
    }
}
