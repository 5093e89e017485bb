//! Reading `Authentication-Results` (RFC 8601): whether a server we trust
//! says the message's From domain passed DMARC, or passed DKIM with a
//! signature aligned to it. Pure: header values in, a yes or no out.

/// Whether any of `headers` (values of Authentication-Results) was added by
/// `trusted` (its authserv-id) and shows DMARC pass for `from_domain`, or a
/// DKIM pass whose `header.d` is `from_domain` or a parent of it.
pub fn authenticated(headers: &[String], trusted: &str, from_domain: &str) -> bool {
    let from_domain = from_domain.to_ascii_lowercase();
    headers.iter().any(|h| {
        let mut parts = h.split(';');
        let id = parts
            .next()
            .and_then(|p| p.split_whitespace().next())
            .unwrap_or("");
        if !id.eq_ignore_ascii_case(trusted) {
            return false;
        }
        parts.any(|result| passes(result, &from_domain))
    })
}

fn passes(result: &str, from_domain: &str) -> bool {
    let mut words = result.split_whitespace();
    let Some(head) = words.next() else {
        return false;
    };
    let Some((method, outcome)) = head.split_once('=') else {
        return false;
    };
    if !outcome.eq_ignore_ascii_case("pass") {
        return false;
    }
    let props: Vec<(String, String)> = words
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.trim_matches('"').to_ascii_lowercase(),
            )
        })
        .collect();
    let prop = |name: &str| {
        props
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    // Relaxed alignment to a parent domain, but never to a bare TLD.
    let aligned =
        |d: &str| from_domain == d || (d.contains('.') && from_domain.ends_with(&format!(".{d}")));
    match method.to_ascii_lowercase().as_str() {
        "dmarc" => prop("header.from").is_none_or(aligned),
        "dkim" => prop("header.d")
            .or(prop("header.i").map(|i| i.rsplit('@').next().unwrap_or(i)))
            .is_some_and(aligned),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<String> {
        vec![s.to_owned()]
    }

    #[test]
    fn dmarc_or_aligned_dkim_from_the_trusted_server() {
        let t = "mx.example.test";
        assert!(authenticated(
            &h("mx.example.test; dmarc=pass header.from=gc.test"),
            t,
            "gc.test"
        ));
        assert!(authenticated(
            &h("mx.example.test 1; spf=pass; dkim=pass header.d=gc.test header.s=s1"),
            t,
            "gc.test"
        ));
        assert!(authenticated(
            &h("mx.example.test; dkim=pass header.d=gc.test"),
            t,
            "mail.gc.test"
        ));
    }

    #[test]
    fn anything_else_is_not_authenticated() {
        let t = "mx.example.test";
        // Added by someone else (a spoofer can write any header).
        assert!(!authenticated(
            &h("evil.test; dmarc=pass header.from=gc.test"),
            t,
            "gc.test"
        ));
        // Failures, unaligned DKIM, SPF alone.
        assert!(!authenticated(
            &h("mx.example.test; dmarc=fail header.from=gc.test"),
            t,
            "gc.test"
        ));
        assert!(!authenticated(
            &h("mx.example.test; dkim=pass header.d=other.test"),
            t,
            "gc.test"
        ));
        assert!(!authenticated(
            &h("mx.example.test; spf=pass smtp.mailfrom=gc.test"),
            t,
            "gc.test"
        ));
        assert!(!authenticated(
            &h("mx.example.test; dmarc=pass header.from=other.test"),
            t,
            "gc.test"
        ));
        assert!(!authenticated(&[], t, "gc.test"));
        assert!(!authenticated(
            &h("mx.example.test; dkim=pass header.d=test"),
            t,
            "gc.test"
        ));
    }
}
