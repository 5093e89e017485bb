//! The new text of a reply: everything above the first quotation marker,
//! phone footer or signature delimiter that common mail clients write
//! (Gmail, Outlook desktop/web/mobile, Apple Mail, Thunderbird, iPhone,
//! Android), in English and the main European languages. Line based; it
//! never looks below the cut.

use super::html::HR_LINE;
use super::mime::cap;

/// Openers of an attribution line such as "On <date>, <name> wrote:".
const ATTRIBUTION_OPENERS: &[&str] = &[
    "on ", "am ", "le ", "el ", "em ", "il ", "op ", "w dniu ", "den ", "dne ",
];

/// The verbs of an attribution line.
const ATTRIBUTION_VERBS: &[&str] = &[
    "wrote",
    "writes",
    "schrieb",
    "geschrieben",
    "a écrit",
    "escribió",
    "escribio",
    "escreveu",
    "ha scritto",
    "schreef",
    "geschreven",
    "napisał",
    "napisal",
    "skrev",
];

/// "From:" in the header block Outlook puts above a quoted message.
const FROM_LABELS: &[&str] = &[
    "from:", "von:", "de :", "de:", "van:", "da:", "od:", "från:", "fra:", "*from:*",
];

/// The other labels of that block.
const HEADER_LABELS: &[&str] = &[
    "sent:",
    "date:",
    "to:",
    "cc:",
    "subject:",
    "gesendet:",
    "datum:",
    "an:",
    "betreff:",
    "envoyé :",
    "envoyé:",
    "date :",
    "à :",
    "à:",
    "objet :",
    "objet:",
    "enviado:",
    "enviado el:",
    "fecha:",
    "para:",
    "asunto:",
    "assunto:",
    "data:",
    "inviato:",
    "a:",
    "oggetto:",
    "verzonden:",
    "verstuurd:",
    "aan:",
    "onderwerp:",
    "wysłane:",
    "do:",
    "temat:",
    "skickat:",
    "till:",
    "ämne:",
    "*sent:*",
    "*to:*",
    "*subject:*",
];

/// Lines a phone or webmail client appends below the new text.
const FOOTERS: &[&str] = &[
    "sent from my ",
    "sent from outlook",
    "sent from mail for windows",
    "sent from yahoo mail",
    "sent from proton mail",
    "sent with proton mail",
    "get outlook for ",
    "von meinem ",
    "gesendet von meinem ",
    "von outlook für ",
    "envoyé de mon ",
    "envoyé à partir de ",
    "obtenir outlook pour ",
    "enviado desde mi ",
    "enviado do meu ",
    "enviado de meu ",
    "enviado a partir do ",
    "inviato da ",
    "verzonden vanaf mijn ",
    "verstuurd vanaf mijn ",
    "outlook voor ",
    "wysłane z ",
    "skickat från min ",
    "begin forwarded message:",
];

/// The text above the quotation in `body`, signature and phone footer
/// removed, trimmed. Each line keeps its own words; trailing spaces go.
pub fn new_text(body: &str) -> String {
    let lines: Vec<&str> = cap(body).lines().collect();
    let cut = (0..lines.len())
        .find(|&i| is_cut(&lines, i))
        .unwrap_or(lines.len());
    let kept: Vec<&str> = lines[..cut].iter().map(|l| l.trim_end()).collect();
    kept.join("\n").trim().to_string()
}

fn is_cut(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let lower = line.to_lowercase();
    line.starts_with('>')
        || line == "--"
        || is_separator(line)
        || FOOTERS.iter().any(|f| lower.starts_with(f))
        || is_attribution(&lower)
        || (starts_attribution(&lower)
            && next_line(lines, i)
                .is_some_and(|n| is_attribution(&format!("{lower} {}", n.trim().to_lowercase()))))
        || is_header_block(lines, i, &lower)
        || (is_underscores(line)
            && next_line(lines, i)
                .is_some_and(|n| starts_with_any(&n.trim().to_lowercase(), FROM_LABELS)))
}

/// The next non-blank line after `i`.
fn next_line<'a>(lines: &[&'a str], i: usize) -> Option<&'a str> {
    lines
        .iter()
        .skip(i + 1)
        .find(|l| !l.trim().is_empty())
        .copied()
}

fn starts_with_any(s: &str, prefixes: &[&str]) -> bool {
    prefixes.iter().any(|p| s.starts_with(p))
}

/// "-----Original Message-----", "----- Mensaje original -----",
/// "---------- Forwarded message ---------".
fn is_separator(line: &str) -> bool {
    line.len() > 6
        && line.starts_with("---")
        && line.ends_with("---")
        && line.chars().any(char::is_alphabetic)
}

fn is_underscores(line: &str) -> bool {
    (line.len() >= 8 && line.chars().all(|c| c == '_')) || line == HR_LINE
}

fn starts_attribution(lower: &str) -> bool {
    starts_with_any(lower, ATTRIBUTION_OPENERS)
}

/// "On <date>, <name> wrote:" and its translations; also "<name>
/// <addr> wrote:" without an opener when it names an address.
fn is_attribution(lower: &str) -> bool {
    let Some(body) = lower.strip_suffix(':') else {
        return false;
    };
    let body = body.trim_end();
    let has_verb = ATTRIBUTION_VERBS.iter().any(|v| body.contains(v));
    if !has_verb {
        return false;
    }
    let ends_with_verb = ATTRIBUTION_VERBS.iter().any(|v| {
        body.ends_with(v)
            || body
                .split_once(v)
                .is_some_and(|(_, rest)| rest.contains('@'))
    });
    (starts_attribution(lower) && (ends_with_verb || body.contains('@')))
        || (body.contains('@') && ends_with_verb)
}

/// Outlook's "From: / Sent: / To: / Subject:" block: a From label followed,
/// within a few lines, by at least two other header labels.
fn is_header_block(lines: &[&str], i: usize, lower: &str) -> bool {
    if !starts_with_any(lower, FROM_LABELS) {
        return false;
    }
    let labels = lines
        .iter()
        .skip(i + 1)
        .take(6)
        .filter(|l| starts_with_any(&l.trim().to_lowercase(), HEADER_LABELS))
        .count();
    labels >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_each_quoting_style() {
        let cases: &[(&str, &str)] = &[
            ("Yes please\n\n> old text\n> more", "Yes please"),
            (
                "Yes\n\nOn Tue, Mar 12, 2024 at 10:15 AM Site Office <invites@example.test> wrote:\n> x",
                "Yes",
            ),
            (
                "Yes\n\nOn Tue, Mar 12, 2024 at 10:15 AM Site Office <\ninvites@example.test> wrote:\n\nold",
                "Yes",
            ),
            ("Yes\n\nOn 12 Mar 2024, at 10:15, Site <a@b.test> wrote:\n\nold", "Yes"),
            ("Sure.\nOn 3/12/24 10:15, Site Office wrote:\nold", "Sure."),
            ("Ja\n\nAm 12.03.2024 um 10:15 schrieb Max <max@x.de>:\n> alt", "Ja"),
            ("Oui\n\nLe mar. 12 mars 2024 à 10:15, Jean <j@x.fr> a écrit :\n> x", "Oui"),
            ("Sí\n\nEl mar, 12 mar 2024 a las 10:15, Juan (<j@x.es>) escribió:\n> x", "Sí"),
            ("Sim\n\nEm ter., 12 de mar. de 2024 às 10:15, João <j@x.pt> escreveu:\n", "Sim"),
            ("Sì\n\nIl giorno mar 12 mar 2024 alle ore 10:15 Mario <m@x.it> ha scritto:\n", "Sì"),
            ("Ja\n\nOp di 12 mrt 2024 om 10:15 schreef Jan <j@x.nl>:\n", "Ja"),
            ("Yes\n\n-----Original Message-----\nFrom: a\nSent: b", "Yes"),
            (
                "Yes\r\n\r\nFrom: Site Office <invites@example.test>\r\nSent: Tuesday, March 12, 2024 10:15 AM\r\nTo: Bob <bob@x.test>\r\nSubject: Invitation\r\n\r\nold",
                "Yes",
            ),
            (
                "Ja\n\nVon: Site <a@b.test>\nGesendet: Dienstag, 12. März 2024 10:15\nAn: Bob\nBetreff: Einladung",
                "Ja",
            ),
            (
                "Oui\n\nDe : Site <a@b.test>\nEnvoyé : mardi 12 mars 2024 10:15\nÀ : Bob\nObjet : Invitation",
                "Oui",
            ),
            (
                "Sí\n\nDe: Site <a@b.test>\nEnviado: martes, 12 de marzo de 2024 10:15\nPara: Bob\nAsunto: Invitación",
                "Sí",
            ),
            (
                "Yes\n\n________________________________\nFrom: Site Office <invites@example.test>\nSent: Tuesday",
                "Yes",
            ),
            ("Yes\n\nSent from my iPhone\n\n> On ...", "Yes"),
            ("Yes\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n", "Yes"),
            ("OK\n\nSent from my Android", "OK"),
            ("Ja\n\nVon meinem iPhone gesendet", "Ja"),
            ("Yes, count us in.\n\n-- \nBob Builder\nBuilder Ltd", "Yes, count us in."),
            ("Yes\n--\nBob", "Yes"),
        ];
        for (body, want) in cases {
            assert_eq!(new_text(body), *want, "{body:?}");
        }
    }

    #[test]
    fn keeps_ordinary_text() {
        let body = "From: the site team we heard good things.\nThe --- mark stays.\nThanks___";
        assert_eq!(new_text(body), body);
        assert_eq!(new_text("  \n"), "");
        assert_eq!(
            new_text("Here is what Anna wrote:\nfine"),
            "Here is what Anna wrote:\nfine"
        );
    }

    #[test]
    fn underscores_without_from_stay() {
        assert_eq!(new_text("Yes\n____________\nBob"), "Yes\n____________\nBob");
    }
}
