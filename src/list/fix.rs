//! The rows to fix: for a list with problems, a CSV of each row that has
//! one, as the sender wrote it, with the problems in an added column. It is
//! attached to the red email, so every cell is made spreadsheet-safe: a
//! name like `=HYPERLINK(...)` opens as text, never as a formula.

use super::source::RawRow;
use super::{ListFile, Report, Unreadable};
use crate::core::cell::neutralise;
use std::collections::BTreeMap;

impl ListFile {
    /// The CSV of rows to fix, or `None` when no problem names a data row.
    pub fn rows_to_fix(&self, report: &Report) -> Result<Option<String>, Unreadable> {
        let header_row = self.header.as_ref().map(|m| m.row).unwrap_or(0);
        let mut problems: BTreeMap<u32, Vec<String>> = BTreeMap::new();
        for p in &report.errors {
            if let Some(row) = p.row.filter(|r| *r > header_row) {
                problems.entry(row).or_default().push(p.message.clone());
            }
        }
        if problems.is_empty() {
            return Ok(None);
        }
        let mut out = csv::WriterBuilder::new().from_writer(Vec::new());
        let mut src = self.source()?;
        let mut raw = RawRow::default();
        let mut width = 0;
        while src.next_row(&mut raw, &self.input)? {
            if raw.row == header_row {
                width = raw.len();
                let mut head = vec!["Row".to_owned()];
                head.extend(raw.to_strings().iter().map(|c| neutralise(c).into_owned()));
                head.push("Problems".to_owned());
                write(&mut out, &head)?;
            } else if let Some(msgs) = problems.get(&raw.row) {
                let mut cells = vec![raw.row.to_string()];
                let mut values = raw.to_strings();
                values.resize(width.max(values.len()), String::new());
                cells.extend(values.iter().map(|c| neutralise(c).into_owned()));
                cells.push(neutralise(&msgs.join("; ")).into_owned());
                write(&mut out, &cells)?;
            }
            if raw.row >= *problems.keys().next_back().unwrap_or(&0) {
                break;
            }
        }
        let bytes = out
            .into_inner()
            .map_err(|e| Unreadable::Corrupt(e.to_string()))?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }
}

fn write(out: &mut csv::Writer<Vec<u8>>, cells: &[String]) -> Result<(), Unreadable> {
    out.write_record(cells)
        .map_err(|e| Unreadable::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use crate::list::{ListFile, ListInput, ListOptions};
    use std::sync::Arc;

    fn fix(text: &str) -> Option<String> {
        let input = ListInput::Bytes {
            name: "l.csv".into(),
            data: Arc::from(text.as_bytes()),
        };
        let f = ListFile::open(input, &ListOptions::default()).unwrap();
        let report = f.check().unwrap();
        f.rows_to_fix(&report).unwrap()
    }

    #[test]
    fn only_rows_with_problems_with_the_reason_and_safe_cells() {
        let csv = fix("Company,Email,City\nGood Co,a@x.test,Rome\n=HYPERLINK(\"http://evil\"),b@@x.test,-2+3\nOk,c@x.test,Oslo\n,d@x.test,\n").unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "Row,Company,Email,City,Problems");
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(
            lines[1].starts_with("3,\"'=HYPERLINK(\"\"http://evil\"\")\",b@@x.test,'-2+3,"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("two @ signs"), "{}", lines[1]);
        assert!(lines[2].starts_with("5,,d@x.test,,"), "{}", lines[2]);
    }

    #[test]
    fn a_valid_list_has_nothing_to_fix() {
        assert_eq!(fix("Company,Email\nA,a@x.test\n"), None);
    }
}
