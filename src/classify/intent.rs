//! What a person meant by a reply's new text: accept, decline or unclear.
//! Whole words, any letter case, English and the main European languages.
//! The first sentence or line that says anything decides; in it a negation
//! ("not interested", "don't accept") wins, accept and decline words together
//! are unclear, and so is a question or a "maybe". Never guesses from
//! anything but the words.

use super::mime::cap_at;
use super::Intent;

/// Single words that accept.
const ACCEPT: &[&str] = &[
    "yes",
    "yeah",
    "yep",
    "yup",
    "ok",
    "okay",
    "sure",
    "accept",
    "accepted",
    "accepting",
    "confirm",
    "confirmed",
    "agree",
    "agreed",
    "approve",
    "approved",
    "👍",
    // German
    "ja",
    "einverstanden",
    "bestätige",
    "bestaetige",
    "bestätigt",
    "bestätigen",
    "akzeptiere",
    "akzeptieren",
    "akzeptiert",
    "zustimmen",
    // French
    "oui",
    "d'accord",
    "j'accepte",
    "accepte",
    "acceptons",
    "confirme",
    "confirmons",
    // Spanish
    "sí",
    "si",
    "acepto",
    "aceptamos",
    "confirmo",
    "confirmamos",
    // Portuguese
    "sim",
    "aceito",
    "aceitamos",
    // Italian
    "sì",
    "accetto",
    "accettiamo",
    "confermo",
    "confermiamo",
    // Dutch
    "akkoord",
    // Polish
    "tak",
];

/// Single words that decline.
const DECLINE: &[&str] = &[
    "no",
    "nope",
    "decline",
    "declined",
    "declining",
    "reject",
    "rejected",
    "refuse",
    "stop",
    "unsubscribe",
    "👎",
    // German
    "nein",
    "ablehnen",
    "lehne",
    "lehnen",
    "abgelehnt",
    // French
    "non",
    "refuse",
    "refusons",
    "décline",
    "n'accepte",
    "n'acceptons",
    // Spanish
    "rechazo",
    "rechazamos",
    // Portuguese
    "não",
    "nao",
    "recuso",
    "recusamos",
    // Italian
    "rifiuto",
    "rifiutiamo",
    // Dutch
    "nee",
    // Polish
    "nie",
];

/// Phrases that decline even when they contain an accepting or neutral word.
const NEGATIONS: &[&str] = &[
    "not interested",
    "no thanks",
    "no thank you",
    "no thx",
    "remove me",
    "remove us",
    "take me off",
    "take us off",
    "kein interesse",
    "keine interesse",
    "nicht interessiert",
    "nein danke",
    "pas intéressé",
    "pas intéressés",
    "pas intéressée",
    "pas interessé",
    "pas interesse",
    "je refuse",
    "non merci",
    "no gracias",
    "no me interesa",
    "no nos interesa",
    "no estamos interesados",
    "não obrigado",
    "não tenho interesse",
    "não temos interesse",
    "nao obrigado",
    "non mi interessa",
    "non ci interessa",
    "non interessato",
    "non interessati",
    "no grazie",
    "geen interesse",
    "niet geïnteresseerd",
    "nee bedankt",
    "nie dziękuję",
    "nie dziekuje",
    "nie jestem zainteresowany",
    "nie jesteśmy zainteresowani",
];

/// Phrases that accept even though they contain a declining word.
const ACCEPT_PHRASES: &[&str] = &[
    "sounds good",
    "count us in",
    "count me in",
    "no problem",
    "no problems",
    "why not",
    "de acuerdo",
    "je confirme",
    "nous confirmons",
    "kein problem",
    "pas de problème",
    "sin problema",
    "nessun problema",
    "geen probleem",
    "sem problema",
];

/// Phrases and words that make a sentence unclear whatever else it says.
const UNSURE: &[&str] = &[
    "not sure",
    "no idea",
    "not yet",
    "maybe",
    "perhaps",
    "vielleicht",
    "nicht sicher",
    "peut-être",
    "pas sûr",
    "quizás",
    "quizas",
    "tal vez",
    "no estoy seguro",
    "talvez",
    "forse",
    "misschien",
    "może",
];

/// Words that turn a following accept word into a refusal.
const NEGATORS: &[&str] = &[
    "not", "don't", "dont", "cannot", "can't", "cant", "won't", "wont", "never", "didn't",
    "doesn't", "nicht", "kein", "keine", "niemals", "pas", "ne", "jamais", "no", "não", "nao",
    "non", "niet", "geen", "nie",
];

/// Only this much of the text is read: an answer comes first.
const MAX_INTENT_TEXT: usize = 64 * 1024;

/// The intent of a reply's new text.
pub fn intent(text: &str) -> Intent {
    for (segment, question) in segments(cap_at(text, MAX_INTENT_TEXT)) {
        let words = words(segment);
        let Some(found) = judge(&words) else {
            continue;
        };
        return match found {
            Intent::Accept if question => Intent::Unclear,
            other => other,
        };
    }
    Intent::Unclear
}

/// Sentences and lines, each with whether it ends in a question mark.
fn segments(text: &str) -> Vec<(&str, bool)> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '\n' | '.' | '!' | '?' | ';' | '¿' | '¡') {
            out.push((&text[start..i], c == '?'));
            start = i + c.len_utf8();
        }
    }
    out.push((&text[start..], false));
    out
}

/// Lower-cased words; apostrophes inside a word are kept, 👍/👎 are words.
fn words(segment: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in segment.chars() {
        let c = if matches!(c, '’' | '‘' | '`' | '´') {
            '\''
        } else {
            c
        };
        if c.is_alphanumeric() || (c == '\'' && !word.is_empty()) || (c == '-' && !word.is_empty())
        {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
            if c == '👍' || c == '👎' {
                out.push(c.to_string());
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

fn flush(word: &mut String, out: &mut Vec<String>) {
    let w = word.trim_end_matches(['\'', '-']);
    if !w.is_empty() {
        out.push(w.to_string());
    }
    word.clear();
}

/// The phrase from `list` starting at `words[i]`, as its word count.
fn phrase_at(words: &[String], i: usize, list: &[&str]) -> Option<usize> {
    list.iter()
        .filter_map(|p| {
            let mut n = 0;
            for part in p.split(' ') {
                if words.get(i + n).map(String::as_str) != Some(part) {
                    return None;
                }
                n += 1;
            }
            Some(n)
        })
        .max()
}

/// What one sentence says, if anything.
fn judge(words: &[String]) -> Option<Intent> {
    let (mut accept, mut decline, mut negation, mut unsure) = (0, 0, 0, 0);
    // Words that belong to a matched phrase do not negate what follows.
    let mut plain = vec![true; words.len()];
    let mut i = 0;
    while i < words.len() {
        if let Some(n) = phrase_at(words, i, NEGATIONS) {
            negation += 1;
            plain[i..i + n].iter_mut().for_each(|p| *p = false);
            i += n;
        } else if let Some(n) = phrase_at(words, i, UNSURE) {
            unsure += 1;
            plain[i..i + n].iter_mut().for_each(|p| *p = false);
            i += n;
        } else if let Some(n) = phrase_at(words, i, ACCEPT_PHRASES) {
            accept += 1;
            plain[i..i + n].iter_mut().for_each(|p| *p = false);
            i += n;
        } else {
            let w = words[i].as_str();
            if ACCEPT.contains(&w) {
                let before = (i.saturating_sub(3)..i)
                    .any(|j| plain[j] && NEGATORS.contains(&words[j].as_str()));
                let after = words
                    .get(i + 1)
                    .is_some_and(|n| matches!(n.as_str(), "nicht" | "pas" | "not"));
                if before || after {
                    negation += 1;
                } else {
                    accept += 1;
                }
            } else if DECLINE.contains(&w) {
                decline += 1;
            }
            i += 1;
        }
    }
    if negation > 0 {
        Some(Intent::Decline)
    } else if unsure > 0 || (accept > 0 && decline > 0) {
        Some(Intent::Unclear)
    } else if accept > 0 {
        Some(Intent::Accept)
    } else if decline > 0 {
        Some(Intent::Decline)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Intent::*;

    #[test]
    fn phrases_in_every_language() {
        let table: &[(&str, Intent)] = &[
            // English
            ("Yes", Accept),
            ("yes please!", Accept),
            ("Yeah, sounds good.", Accept),
            ("OK", Accept),
            ("Sure, count us in", Accept),
            ("We accept the invitation.", Accept),
            ("Confirmed.", Accept),
            ("Agreed", Accept),
            ("👍", Accept),
            ("👍🏼", Accept),
            ("No problem, we accept.", Accept),
            ("Hi Anna,\n\nyes, we would like to join.\n\nBest regards", Accept),
            ("No", Decline),
            ("Nope.", Decline),
            ("No thanks", Decline),
            ("No, thank you.", Decline),
            ("We are not interested.", Decline),
            ("Yes I'm sure we are not interested", Decline),
            ("We don't accept.", Decline),
            ("We do not agree to this.", Decline),
            ("We cannot confirm.", Decline),
            ("Please remove me from your list", Decline),
            ("STOP", Decline),
            ("unsubscribe", Decline),
            ("We decline.", Decline),
            ("Thanks for the invitation. Unfortunately we must decline. If anything changes, sure.", Decline),
            // unclear
            ("", Unclear),
            ("Who is this?", Unclear),
            ("Is this ok?", Unclear),
            ("Yes and no", Unclear),
            ("Maybe next month", Unclear),
            ("Not sure yet", Unclear),
            ("Please call me on Monday", Unclear),
            ("Ok, no.", Unclear),
            // German
            ("Ja, gerne.", Accept),
            ("Einverstanden", Accept),
            ("Ich bestätige die Einladung.", Accept),
            ("Wir akzeptieren.", Accept),
            ("Nein danke", Decline),
            ("Wir haben kein Interesse.", Decline),
            ("Ich bin nicht einverstanden", Decline),
            ("Wir lehnen ab.", Decline),
            ("Ablehnen", Decline),
            // French
            ("Oui, merci", Accept),
            ("D'accord !", Accept),
            ("D’accord", Accept),
            ("J'accepte l'invitation", Accept),
            ("Je confirme.", Accept),
            ("Non merci", Decline),
            ("Nous ne sommes pas intéressés", Decline),
            ("Je refuse.", Decline),
            ("Je n'accepte pas", Decline),
            // Spanish
            ("Sí, acepto", Accept),
            ("Si", Accept),
            ("De acuerdo", Accept),
            ("Confirmo la invitación", Accept),
            ("No, gracias", Decline),
            ("Rechazo la invitación", Decline),
            ("No acepto", Decline),
            // Portuguese
            ("Sim, aceito.", Accept),
            ("Confirmo", Accept),
            ("Não, obrigado.", Decline),
            ("Recuso o convite", Decline),
            // Italian
            ("Sì, accetto", Accept),
            ("Confermo", Accept),
            ("No grazie", Decline),
            ("Rifiuto l'invito", Decline),
            // Dutch
            ("Ja, akkoord", Accept),
            ("Akkoord", Accept),
            ("Nee, bedankt", Decline),
            ("Nee", Decline),
            // Polish
            ("Tak", Accept),
            ("Tak, dziękuję", Accept),
            ("Nie, dziękuję", Decline),
            ("Nie", Decline),
        ];
        for (text, want) in table {
            assert_eq!(intent(text), *want, "{text:?}");
        }
    }

    #[test]
    fn first_sentence_that_says_something_decides() {
        assert_eq!(
            intent("Hello,\nYes.\nNo idea when we start though."),
            Accept
        );
        assert_eq!(intent("Thanks.\nNo.\nBut yes to the next one"), Decline);
    }

    #[test]
    fn words_are_whole_words() {
        assert_eq!(intent("Notice the okapi in the yesterday report"), Unclear);
        assert_eq!(intent("Knowledge"), Unclear);
    }
}
