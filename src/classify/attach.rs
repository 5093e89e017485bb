//! The list files attached to a mail: spreadsheet and CSV-like attachments
//! recognised by name or content type (also a CSV sent with a wrong content
//! type), with names made safe to show and to use as a file name. It never
//! reads the files; the list reader does.

use super::mime::{self, content_type, original_bytes};
use super::Attachment;
use mail_parser::{Message, MimeHeaders, PartType};

/// File name extensions of lists.
const LIST_EXTENSIONS: &[&str] = &["csv", "tsv", "txt", "xlsx", "xls", "xlsm", "ods"];

/// Content types of lists, with the extension a nameless one gets.
const LIST_TYPES: &[(&str, &str)] = &[
    ("text/csv", "csv"),
    ("text/comma-separated-values", "csv"),
    ("application/csv", "csv"),
    ("text/tab-separated-values", "tsv"),
    ("application/vnd.ms-excel", "xls"),
    (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsx",
    ),
    ("application/vnd.ms-excel.sheet.macroenabled.12", "xlsm"),
    ("application/vnd.oasis.opendocument.spreadsheet", "ods"),
];

/// The list files of `msg` and of the messages forwarded inside it, in order.
pub(crate) fn list_files(msg: &Message<'_>) -> Vec<Attachment> {
    let mut out = Vec::new();
    mime::walk(msg, &mut |owner, part, _| {
        let is_attachment = owner.attachments.iter().any(|id| {
            owner
                .parts
                .get(*id as usize)
                .is_some_and(|p| std::ptr::eq(p, part))
        });
        if !is_attachment || matches!(part.body, PartType::Message(_) | PartType::Multipart(_)) {
            return;
        }
        let ctype = content_type(part);
        let name = part.attachment_name().map(sanitize_name);
        let by_type = LIST_TYPES
            .iter()
            .find(|(t, _)| *t == ctype)
            .map(|(_, e)| *e);
        let name = match (name, by_type) {
            (Some(n), _) if is_list_name(&n) => n,
            (Some(n), Some(ext)) => format!("{n}.{ext}"),
            (None, Some(ext)) => format!("attachment.{ext}"),
            _ => return,
        };
        out.push(Attachment {
            name,
            data: original_bytes(owner, part),
        });
    });
    out
}

fn is_list_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let Some((stem, ext)) = lower.rsplit_once('.') else {
        return false;
    };
    // Exchange's ATT00001.txt holds the mail's own trailing text.
    let exchange_body = ext == "txt"
        && stem.len() > 3
        && stem.starts_with("att")
        && stem[3..].bytes().all(|b| b.is_ascii_digit());
    LIST_EXTENSIONS.contains(&ext) && !exchange_body
}

/// A file name without a path, control characters or `..`; never empty.
pub(crate) fn sanitize_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let mut name: String = base.chars().filter(|c| !c.is_control()).collect();
    while name.contains("..") {
        name = name.replace("..", "");
    }
    let name = name.trim().trim_start_matches('.').trim();
    let name: String = name.chars().take(200).collect();
    if name.is_empty() {
        "attachment".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        for (raw, want) in [
            ("../../etc/passwd.csv", "passwd.csv"),
            ("C:\\Users\\bob\\list.xlsx", "list.xlsx"),
            ("li\u{0}st\r\n.csv", "list.csv"),
            ("a..b.csv", "ab.csv"),
            ("...", "attachment"),
            ("", "attachment"),
            ("/", "attachment"),
            (".hidden.csv", "hidden.csv"),
        ] {
            assert_eq!(sanitize_name(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn list_names() {
        assert!(is_list_name("Subs.CSV"));
        assert!(is_list_name("list.xlsx"));
        assert!(is_list_name("notes.txt"));
        assert!(!is_list_name("ATT00001.txt"));
        assert!(!is_list_name("logo.png"));
        assert!(!is_list_name("csv"));
    }
}
