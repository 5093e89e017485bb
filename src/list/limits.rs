//! Size limits checked before a list is parsed: the file's own size
//! (`import.max-file-bytes`) and, for a zip container (XLSX, XLSB, ODS),
//! what it unpacks to (`import.max-unpacked-bytes`, the zip-bomb guard).
//!
//! The zip guard reads the central directory first (entry count and the
//! declared sizes, which cost nothing to check), then inflates every entry
//! into a counting sink, never further than its declared size plus one
//! byte: an entry that lies about its size is caught after that many bytes,
//! not after gigabytes. Memory stays flat. It never parses the workbook;
//! a container the zip reader cannot open is left to calamine, which says
//! why in its own words.
use super::report::{Code, Problem};
use super::source::InputReader;
use super::{ListInput, Unreadable};
use std::io::{self, Read};

/// Most entries a spreadsheet container may have. A workbook with one
/// sheet has about a dozen; thousands mean something else.
pub(crate) const MAX_ZIP_ENTRIES: usize = 10_000;

/// The size of the input in bytes, without reading it.
pub(crate) fn input_len(input: &ListInput) -> Result<u64, Unreadable> {
    match input {
        ListInput::Path(p) => std::fs::metadata(p)
            .map(|m| m.len())
            .map_err(|e| Unreadable::io(input, e)),
        ListInput::Bytes { data, .. } => Ok(data.len() as u64),
    }
}

/// The problem with a file of `size` bytes when the limit is `limit`.
pub(crate) fn file_too_large(size: u64, limit: u64) -> Option<Problem> {
    (size > limit).then(|| {
        Problem::file(
            Code::TooLarge,
            format!(
                "the file is {size} bytes, over the limit of {limit} bytes: it was not read; \
                 split the list into smaller files"
            ),
        )
    })
}

fn unpacks_too_far(what: String) -> Problem {
    Problem::file(
        Code::TooLarge,
        format!("the spreadsheet {what}: it was not read; save it again from Excel or send a CSV"),
    )
}

/// Why a zip container must not be read, or `None` when it stays within
/// `max_unpacked` bytes and [`MAX_ZIP_ENTRIES`] entries (or cannot be
/// opened as a zip at all, which the spreadsheet reader reports).
pub(crate) fn zip_bomb(
    input: &ListInput,
    max_unpacked: u64,
) -> Result<Option<Problem>, Unreadable> {
    let Ok(mut zip) = zip::ZipArchive::new(InputReader::open(input)?) else {
        return Ok(None);
    };
    if zip.len() > MAX_ZIP_ENTRIES {
        return Ok(Some(unpacks_too_far(format!(
            "holds {} files, over the limit of {MAX_ZIP_ENTRIES}",
            zip.len()
        ))));
    }
    let mut declared: u64 = 0;
    for i in 0..zip.len() {
        let Ok(entry) = zip.by_index_raw(i) else {
            continue;
        };
        declared = declared.saturating_add(entry.size());
    }
    if declared > max_unpacked {
        return Ok(Some(unpacks_too_far(format!(
            "unpacks to {declared} bytes, over the limit of {max_unpacked} bytes"
        ))));
    }
    let mut inflated: u64 = 0;
    for i in 0..zip.len() {
        // Encrypted or unsupported entries are the spreadsheet reader's to report.
        let Ok(entry) = zip.by_index(i) else {
            continue;
        };
        let size = entry.size();
        let name = entry.name().to_owned();
        let mut bounded = entry.take(size.saturating_add(1));
        let n = match io::copy(&mut bounded, &mut io::sink()) {
            Ok(n) => n,
            // A damaged stream: calamine says so when it reads it.
            Err(_) => continue,
        };
        if n > size {
            return Ok(Some(unpacks_too_far(format!(
                "has an entry ({name}) that unpacks to more than the {size} bytes it declares"
            ))));
        }
        inflated = inflated.saturating_add(n);
        if inflated > max_unpacked {
            return Ok(Some(unpacks_too_far(format!(
                "unpacks to more than {max_unpacked} bytes"
            ))));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Arc;

    fn zip_of(entries: &[(&str, usize)]) -> ListInput {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, size) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(&vec![b' '; *size]).unwrap();
        }
        let data = w.finish().unwrap().into_inner();
        ListInput::Bytes {
            name: "t.xlsx".into(),
            data: Arc::from(data),
        }
    }

    #[test]
    fn declared_sizes_over_the_limit_are_refused() {
        let input = zip_of(&[("a.xml", 600), ("b.xml", 600)]);
        assert_eq!(zip_bomb(&input, 2000).unwrap(), None);
        let p = zip_bomb(&input, 1000).unwrap().unwrap();
        assert_eq!(p.code, Code::TooLarge);
        assert!(
            p.message
                .contains("unpacks to 1200 bytes, over the limit of 1000 bytes"),
            "{}",
            p.message
        );
    }

    #[test]
    fn not_a_zip_is_left_to_the_reader() {
        let input = ListInput::Bytes {
            name: "t.xlsx".into(),
            data: Arc::from(&b"PK\x03\x04 junk"[..]),
        };
        assert_eq!(zip_bomb(&input, 1000).unwrap(), None);
    }

    #[test]
    fn file_size_limit() {
        assert!(file_too_large(10, 10).is_none());
        let p = file_too_large(11, 10).unwrap();
        assert!(p.message.contains("11 bytes, over the limit of 10 bytes"));
    }
}
