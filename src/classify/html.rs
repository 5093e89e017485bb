//! HTML mail bodies to plain text, for replies sent without a text/plain
//! part. The conversion stops where a mail client starts its quotation
//! (`<blockquote>`, Gmail's `gmail_quote`, Outlook's `appendonsend` and
//! `divRplyFwdMsg`, Thunderbird's `moz-cite-prefix`, Yahoo's `yahoo_quoted`),
//! and writes `<hr>` as an underscore line so the text rules in `quote` see
//! Outlook's "____ / From:" separator. It is no general HTML renderer.

/// Tags whose content is never text.
const SKIPPED: &[&str] = &["head", "style", "script", "title", "xml"];

/// Tags that end a line.
const BLOCKS: &[&str] = &[
    "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
    "section", "article", "header", "footer", "center", "dt", "dd",
];

/// Class or id fragments that open a quotation.
const QUOTE_MARKERS: &[&str] = &[
    "gmail_quote",
    "appendonsend",
    "divrplyfwdmsg",
    "moz-cite-prefix",
    "yahoo_quoted",
    "mail-editor-reference-message-container",
    "outlookmessageheader",
    "stopspelling",
    "zmail_extra",
];

/// The line written for `<hr>`.
pub(crate) const HR_LINE: &str = "________________________________";

/// The visible text of `html` above the first quotation.
pub(crate) fn to_text(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len() / 2);
    let mut pos = 0;
    while pos < html.len() {
        let Some(rel) = lower[pos..].find('<') else {
            push_text(&mut out, &html[pos..]);
            break;
        };
        let lt = pos + rel;
        push_text(&mut out, &html[pos..lt]);
        if lower[lt..].starts_with("<!--") {
            pos = match lower[lt..].find("-->") {
                Some(e) => lt + e + 3,
                None => html.len(),
            };
            continue;
        }
        let Some(end) = tag_end(&lower, lt) else {
            break;
        };
        let tag = &lower[lt + 1..end];
        pos = end + 1;
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
            .collect();
        if !closing && opens_quote(&name, tag) {
            break;
        }
        if !closing && SKIPPED.contains(&name.as_str()) {
            pos = match lower[pos..].find(&format!("</{name}")) {
                Some(e) => match tag_end(&lower, pos + e) {
                    Some(gt) => gt + 1,
                    None => html.len(),
                },
                None => html.len(),
            };
            continue;
        }
        if name == "hr" {
            out.push('\n');
            out.push_str(HR_LINE);
            out.push('\n');
        } else if name == "br" || (BLOCKS.contains(&name.as_str()) && !out.ends_with('\n')) {
            out.push('\n');
        } else if name == "td" || name == "th" {
            out.push(' ');
        }
    }
    tidy(&out)
}

/// The index of the `>` closing the tag opened at `lt`, skipping quoted
/// attribute values.
fn tag_end(lower: &str, lt: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, b) in lower.bytes().enumerate().skip(lt + 1) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"') | (None, b'\'') => quote = Some(b),
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

fn opens_quote(name: &str, tag: &str) -> bool {
    if name == "blockquote" {
        return true;
    }
    (name == "div" || name == "span" || name == "hr" || name == "table")
        && QUOTE_MARKERS
            .iter()
            .any(|m| attr_contains(tag, "class", m) || attr_contains(tag, "id", m))
}

/// Whether the (lower-cased) attribute `attr` of `tag` contains `needle`.
fn attr_contains(tag: &str, attr: &str, needle: &str) -> bool {
    let mut rest = tag;
    while let Some(i) = rest.find(attr) {
        let before_ok = i == 0 || rest.as_bytes()[i - 1].is_ascii_whitespace();
        let after = rest[i + attr.len()..].trim_start();
        if before_ok {
            if let Some(v) = after.strip_prefix('=') {
                let v = v.trim_start();
                let value = match v.chars().next() {
                    Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or(""),
                    _ => v
                        .split(|c: char| c.is_whitespace() || c == '>')
                        .next()
                        .unwrap_or(""),
                };
                if value.contains(needle) {
                    return true;
                }
            }
        }
        rest = &rest[i + attr.len()..];
    }
    false
}

/// Appends a text node: entities decoded, white space collapsed as a
/// browser does.
fn push_text(out: &mut String, raw: &str) {
    let decoded = decode_entities(raw);
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !out.ends_with([' ', '\n']) && !out.is_empty() {
                out.push(' ');
            }
        } else if c == '\u{a0}' {
            out.push(' ');
        } else {
            out.push(c);
        }
    }
}

fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest[1..]
            .char_indices()
            .take(10)
            .find(|(_, c)| *c == ';')
            .map(|(j, _)| j + 1);
        let decoded = end.and_then(|e| entity(&rest[1..e]).map(|c| (c, e)));
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code);
    }
    let c = match name {
        "nbsp" => '\u{a0}',
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "rsquo" | "lsquo" => '\'',
        "ldquo" | "rdquo" | "bdquo" => '"',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "euro" => '€',
        "copy" => '©',
        "szlig" => 'ß',
        "auml" => 'ä',
        "ouml" => 'ö',
        "uuml" => 'ü',
        "Auml" => 'Ä',
        "Ouml" => 'Ö',
        "Uuml" => 'Ü',
        "aacute" => 'á',
        "eacute" => 'é',
        "iacute" => 'í',
        "oacute" => 'ó',
        "uacute" => 'ú',
        "Eacute" => 'É',
        "agrave" => 'à',
        "egrave" => 'è',
        "igrave" => 'ì',
        "ograve" => 'ò',
        "ugrave" => 'ù',
        "acirc" => 'â',
        "ecirc" => 'ê',
        "icirc" => 'î',
        "ocirc" => 'ô',
        "ucirc" => 'û',
        "atilde" => 'ã',
        "otilde" => 'õ',
        "ntilde" => 'ñ',
        "ccedil" => 'ç',
        "euml" => 'ë',
        "iuml" => 'ï',
        "aring" => 'å',
        "oslash" => 'ø',
        _ => return None,
    };
    Some(c)
}

/// Lines trimmed, runs of blank lines cut to one.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_and_entities() {
        let t = to_text(
            "<html><head><style>p{}</style></head><body><p>Yes,&nbsp;we&#39;re in</p>\
             <div>Caf&eacute; &amp; Co<br>Line</div></body></html>",
        );
        assert_eq!(t, "Yes, we're in\nCafé & Co\nLine");
    }

    #[test]
    fn stops_at_quotes() {
        for html in [
            "<div>Yes</div><div class=\"gmail_quote\"><div>On Mon wrote:</div></div>",
            "<div>Yes</div><blockquote type=\"cite\">old</blockquote>",
            "<p>Yes</p><div id=\"appendonsend\"></div><hr><div id=\"divRplyFwdMsg\">From: x</div>",
            "<p>Yes</p><div class=\"moz-cite-prefix\">On 1/1 x wrote:</div>",
        ] {
            assert_eq!(to_text(html), "Yes", "{html}");
        }
    }

    #[test]
    fn hr_becomes_an_underscore_line() {
        assert_eq!(to_text("a<hr>b"), format!("a\n{HR_LINE}\nb"));
    }

    #[test]
    fn broken_html_does_not_panic() {
        for html in [
            "<",
            "<div",
            "&",
            "&#xffffffff;",
            "<a href='>",
            "<!--",
            "<style>x",
        ] {
            let _ = to_text(html);
        }
    }
}
