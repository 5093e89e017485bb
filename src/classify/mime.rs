//! A bounded, read-only view of a message parsed by `mail-parser`: raw header
//! values, addresses, the best text body, part text and original part bytes.
//! It owns the work limits (parts, nesting depth, text size) so no other
//! classify module walks the MIME tree on its own. It never decides what a
//! message is.

use super::html;
use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};
use mail_parser::{Encoding, Message, MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;

/// At most this many MIME parts are looked at, over all nested messages.
pub(crate) const MAX_PARTS: usize = 100;
/// Nested messages deeper than this are not opened.
pub(crate) const MAX_DEPTH: usize = 10;
/// Text beyond this many bytes is ignored.
pub(crate) const MAX_TEXT: usize = 1 << 20;

/// `s` cut to at most [`MAX_TEXT`] bytes, on a character boundary.
pub(crate) fn cap(s: &str) -> &str {
    cap_at(s, MAX_TEXT)
}

/// `s` cut to at most `max` bytes, on a character boundary.
pub(crate) fn cap_at(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Every value of the header `name` (any letter case) in `part`, unfolded
/// and trimmed, still MIME-encoded.
pub(crate) fn part_header_values(
    msg: &Message<'_>,
    part: &MessagePart<'_>,
    name: &str,
) -> Vec<String> {
    part.headers
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case(name))
        .filter_map(|h| {
            msg.raw_message
                .get(h.offset_start() as usize..h.offset_end() as usize)
                .map(|b| unfold(&String::from_utf8_lossy(b)))
        })
        .collect()
}

/// Every value of the top-level header `name`; see [`part_header_values`].
pub(crate) fn header_values(msg: &Message<'_>, name: &str) -> Vec<String> {
    match msg.parts.first() {
        Some(root) => part_header_values(msg, root, name),
        None => Vec::new(),
    }
}

/// The first value of the top-level header `name`.
pub(crate) fn header(msg: &Message<'_>, name: &str) -> Option<String> {
    header_values(msg, name).into_iter().next()
}

fn unfold(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, line) in raw.split('\n').enumerate() {
        let line = line.trim_end_matches('\r');
        if i > 0 && !line.trim().is_empty() {
            out.push(' ');
        }
        out.push_str(line.trim());
    }
    out.trim().to_string()
}

/// Every address-like `local@domain` in `text`, lower-cased, in order.
/// Quoted local parts are not supported; they never carry a token.
pub(crate) fn addresses_in(text: &str) -> Vec<String> {
    let is_local = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c);
    let is_domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
    let bytes: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (at, &c) in bytes.iter().enumerate() {
        if c != '@' {
            continue;
        }
        let mut start = at;
        while start > 0 && is_local(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && is_domain(bytes[end]) {
            end += 1;
        }
        let local: String = bytes[start..at].iter().collect();
        let domain: String = bytes[at + 1..end].iter().collect();
        let local = local.trim_start_matches('.');
        let domain = domain.trim_end_matches(['.', '-']);
        if !local.is_empty() && !domain.is_empty() {
            out.push(format!("{local}@{domain}").to_ascii_lowercase());
        }
    }
    out
}

/// Addresses named in the top-level headers `names`, in header order.
pub(crate) fn header_addresses(msg: &Message<'_>, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .flat_map(|n| header_values(msg, n))
        .flat_map(|v| addresses_in(&v))
        .collect()
}

/// The sender's bare address, lower-cased.
pub(crate) fn from_addr(msg: &Message<'_>) -> Option<String> {
    if msg.parts.is_empty() {
        return None;
    }
    let parsed = msg
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address.as_deref())
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty());
    parsed.or_else(|| header(msg, "From").and_then(|v| addresses_in(&v).into_iter().next()))
}

/// The decoded subject, trimmed.
pub(crate) fn subject(msg: &Message<'_>) -> Option<String> {
    if msg.parts.is_empty() {
        return None;
    }
    msg.subject().map(|s| cap(s).trim().to_string())
}

/// `type/subtype` of a part, lower-cased; `text/plain` when absent.
pub(crate) fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".to_string(),
    }
}

/// A content-type parameter of a part, e.g. `report-type`.
pub(crate) fn content_type_param(part: &MessagePart<'_>, name: &str) -> Option<String> {
    part.content_type()
        .and_then(|ct| ct.attribute(name))
        .map(|v| v.trim().to_ascii_lowercase())
}

/// The new text's source: the first text body, or the first HTML body as
/// text when the mail has no plain text.
pub(crate) fn best_text(msg: &Message<'_>) -> String {
    let bodies = msg.text_body.iter().chain(msg.html_body.iter());
    for id in bodies.take(MAX_PARTS) {
        match msg.parts.get(*id as usize).map(|p| &p.body) {
            Some(PartType::Text(t)) => return cap(t).to_string(),
            Some(PartType::Html(h)) => return html::to_text(cap(h)),
            _ => continue,
        }
    }
    String::new()
}

/// The text of any part: decoded text, HTML as is, binary as lossy UTF-8, a
/// nested message as its raw source. Capped at [`MAX_TEXT`].
pub(crate) fn part_text<'a>(part: &'a MessagePart<'_>) -> Cow<'a, str> {
    let text: Cow<'a, str> = match &part.body {
        PartType::Text(t) | PartType::Html(t) => Cow::Borrowed(t.as_ref()),
        PartType::Binary(b) | PartType::InlineBinary(b) => {
            String::from_utf8_lossy(&b[..b.len().min(MAX_TEXT)])
        }
        PartType::Message(m) => {
            let raw = m.raw_message();
            Cow::Owned(String::from_utf8_lossy(&raw[..raw.len().min(MAX_TEXT)]).into_owned())
        }
        PartType::Multipart(_) => Cow::Borrowed(""),
    };
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(cap(s)),
        Cow::Owned(s) if s.len() > MAX_TEXT => Cow::Owned(cap(&s).to_string()),
        owned => owned,
    }
}

/// The part's content as it was sent, with only the transfer encoding
/// undone: text parts keep their original charset, so a Latin-1 CSV reaches
/// the list reader unchanged.
pub(crate) fn original_bytes(msg: &Message<'_>, part: &MessagePart<'_>) -> Vec<u8> {
    if !matches!(part.body, PartType::Text(_) | PartType::Html(_)) || part.is_encoding_problem {
        return part.contents().to_vec();
    }
    let Some(raw) = msg
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
    else {
        return part.contents().to_vec();
    };
    let decoded = match part.encoding {
        Encoding::Base64 => {
            let clean: Vec<u8> = raw
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64_decode(&clean)
        }
        Encoding::QuotedPrintable => quoted_printable_decode(raw),
        Encoding::None => Some(raw.to_vec()),
    };
    decoded.unwrap_or_else(|| part.contents().to_vec())
}

/// Why `msg` is beyond the work limits, if it is: more than [`MAX_PARTS`]
/// parts over all nested messages, or containers (multiparts and attached
/// messages) nested more than [`MAX_DEPTH`] levels, or an attached message
/// the parser left unopened because of its depth. Such a message is not
/// read further: a list inside it would be found only in part. Iterative,
/// so any depth is safe.
pub(crate) fn beyond_limits(msg: &Message<'_>) -> Option<String> {
    let mut parts = 0usize;
    // (message, part index, container depth)
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(msg, 0, 0)];
    while let Some((m, id, depth)) = stack.pop() {
        let Some(part) = m.parts.get(id as usize) else {
            continue;
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Some(format!("has more than {MAX_PARTS} parts"));
        }
        if depth > MAX_DEPTH {
            return Some(format!("is nested more than {MAX_DEPTH} levels deep"));
        }
        match &part.body {
            PartType::Multipart(children) => {
                stack.extend(children.iter().rev().map(|c| (m, *c, depth + 1)));
            }
            PartType::Message(nested) => stack.push((nested, 0, depth + 1)),
            // The parser opens attached messages only a few levels deep.
            PartType::Binary(_)
                if part.is_encoding_problem && content_type(part) == "message/rfc822" =>
            {
                return Some(format!("is nested more than {MAX_DEPTH} levels deep"));
            }
            _ => {}
        }
    }
    None
}

/// Calls `f` on every part of `msg` and of its nested messages, depth first,
/// within [`MAX_PARTS`] and [`MAX_DEPTH`]. `f` gets the message owning the
/// part (for raw header access) and the nesting depth (0 = top level).
pub(crate) fn walk<'m>(
    msg: &'m Message<'m>,
    f: &mut dyn FnMut(&'m Message<'m>, &'m MessagePart<'m>, usize),
) {
    let mut budget = MAX_PARTS;
    walk_inner(msg, 0, &mut budget, f);
}

fn walk_inner<'m>(
    msg: &'m Message<'m>,
    depth: usize,
    budget: &mut usize,
    f: &mut dyn FnMut(&'m Message<'m>, &'m MessagePart<'m>, usize),
) {
    for part in &msg.parts {
        if *budget == 0 {
            return;
        }
        *budget -= 1;
        f(msg, part, depth);
        if let PartType::Message(nested) = &part.body {
            if depth < MAX_DEPTH {
                walk_inner(nested, depth + 1, budget, f);
            }
        }
    }
}
