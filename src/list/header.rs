//! Finding the header row and mapping its columns to the fields subinvite
//! needs (email, company, contact), with generous built-in aliases taken
//! from what real exports say plus the configured [`ExtraAliases`].
//!
//! Pure: takes header cells, returns a [`Mapping`] and the header-level
//! problems. It never reads files and never looks at data rows.
use super::aliases::{Aliases, Field};
use super::report::{Code, Columns, Problem};

/// How many non-blank rows from the top may be looked at to find the header
/// (past title rows).
pub(crate) const HEADER_SCAN_ROWS: usize = 10;

/// Canonical header for the company column (as in the template).
pub(crate) const COMPANY_HEADER: &str = "Subcontractor Name";
/// Canonical header for the email column (as in the template).
pub(crate) const EMAIL_HEADER: &str = "Subcontractor Email Address";

/// One mapped column: its index and its header as found (trimmed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub index: usize,
    pub header: String,
}

/// The header row and what its columns mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    /// Excel row number of the header.
    pub row: u32,
    /// Number of cells in the header row (up to the last non-empty one).
    pub width: usize,
    pub email: Option<Column>,
    pub company: Option<Column>,
    /// One column, or first name then last name, joined by a space.
    pub contact: Vec<Column>,
    /// missing/ambiguous column errors.
    pub errors: Vec<Problem>,
    /// ignored column and ignored (title) row warnings.
    pub warnings: Vec<Problem>,
}

impl Mapping {
    /// The mapping as reported.
    pub fn columns(&self) -> Columns {
        let contact = match self.contact.as_slice() {
            [] => None,
            [one] => Some(one.header.clone()),
            parts => Some(
                parts
                    .iter()
                    .map(|c| c.header.as_str())
                    .collect::<Vec<_>>()
                    .join(" + "),
            ),
        };
        Columns {
            email: self.email.as_ref().map(|c| c.header.clone()),
            company: self.company.as_ref().map(|c| c.header.clone()),
            contact,
        }
    }

    /// Both required columns were found, unambiguously.
    pub fn usable(&self) -> bool {
        self.email.is_some() && self.company.is_some() && self.errors.is_empty()
    }
}

/// Spreadsheet column letters: 0 -> A, 26 -> AA.
pub(crate) fn column_letters(index: usize) -> String {
    let mut n = index + 1;
    let mut out = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        out.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    out.iter().rev().collect()
}

/// A non-blank row read while looking for the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CandidateRow {
    pub row: u32,
    pub cells: Vec<String>,
}

/// Picks the header among the first non-blank rows: the first that names a
/// required field (past title rows), else the first non-blank row. Returns
/// `None` when there is no non-blank row at all.
pub(crate) fn find_header(rows: &[CandidateRow], aliases: &Aliases) -> Option<Mapping> {
    let pick = rows
        .iter()
        .position(|r| aliases.required_hits(&r.cells) > 0)
        .unwrap_or(0);
    let header = rows.get(pick)?;
    let mut mapping = map_header(header, aliases);
    let titles: Vec<Problem> = rows[..pick]
        .iter()
        .map(|title| {
            let text: Vec<&str> = title
                .cells
                .iter()
                .map(|c| c.trim())
                .filter(|c| !c.is_empty())
                .collect();
            Problem {
                row: Some(title.row),
                column: None,
                code: Code::IgnoredRow,
                value: Some(super::validate::shorten(&text.join(" | "))),
                message: format!("above the header row (row {}): ignored", header.row),
            }
        })
        .collect();
    mapping.warnings.splice(0..0, titles);
    Some(mapping)
}

fn missing(field: &str, header: &str, examples: &str, looks_like_data: bool) -> Problem {
    let mut message =
        format!("no column for the {field}: name a column \"{header}\" (or {examples})");
    if looks_like_data {
        message.push_str("; the first row looks like data: add a header row above it");
    }
    Problem {
        row: None,
        column: Some(header.to_string()),
        code: Code::MissingColumn,
        value: None,
        message,
    }
}

fn ambiguous(row: u32, first: &Column, second: &Column, field: &str) -> Problem {
    Problem {
        row: Some(row),
        column: Some(second.header.clone()),
        code: Code::AmbiguousColumn,
        value: None,
        message: format!(
            "both \"{}\" (column {}) and \"{}\" (column {}) look like the {field} column: rename or remove one",
            first.header,
            column_letters(first.index),
            second.header,
            column_letters(second.index)
        ),
    }
}

fn ignored(row: u32, col: &Column, why: &str) -> Problem {
    Problem {
        row: Some(row),
        column: Some(col.header.clone()),
        code: Code::IgnoredColumn,
        value: None,
        message: format!("column {} {why}", column_letters(col.index)),
    }
}

/// Maps one header row's cells to fields and lists the header problems.
fn map_header(header: &CandidateRow, aliases: &Aliases) -> Mapping {
    let row = header.row;
    let width = header
        .cells
        .iter()
        .rposition(|c| !c.trim().is_empty())
        .map_or(0, |i| i + 1);
    let mut by_field: Vec<(Field, Vec<Column>)> = [
        Field::Email,
        Field::Company,
        Field::Contact,
        Field::FirstName,
        Field::LastName,
    ]
    .into_iter()
    .map(|f| (f, Vec::new()))
    .collect();
    let mut unknown = Vec::new();
    for (index, cell) in header.cells.iter().enumerate() {
        let text = cell.trim().trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            continue;
        }
        let col = Column {
            index,
            header: text.to_string(),
        };
        match aliases.field(text) {
            Some(f) => {
                if let Some((_, cols)) = by_field.iter_mut().find(|(g, _)| *g == f) {
                    cols.push(col);
                }
            }
            None => unknown.push(col),
        }
    }
    let mut take = |f: Field| {
        by_field
            .iter_mut()
            .find(|(g, _)| *g == f)
            .map(|(_, cols)| std::mem::take(cols))
            .unwrap_or_default()
    };
    let (emails, companies, contacts) = (
        take(Field::Email),
        take(Field::Company),
        take(Field::Contact),
    );
    let (firsts, lasts) = (take(Field::FirstName), take(Field::LastName));

    let mut errors = Vec::new();
    let mut ignored_cols: Vec<(usize, Problem)> = Vec::new();
    for (cols, field) in [
        (&emails, "email"),
        (&companies, "subcontractor name"),
        (&contacts, "contact name"),
    ] {
        for extra in cols.iter().skip(1) {
            errors.push(ambiguous(row, &cols[0], extra, field));
        }
    }
    let contact = if !contacts.is_empty() {
        for c in firsts.iter().chain(&lasts) {
            let why = format!("ignored: the contact comes from \"{}\"", contacts[0].header);
            ignored_cols.push((c.index, ignored(row, c, &why)));
        }
        contacts.into_iter().take(1).collect()
    } else {
        for (cols, field) in [(&firsts, "first name"), (&lasts, "last name")] {
            for extra in cols.iter().skip(1) {
                errors.push(ambiguous(row, &cols[0], extra, field));
            }
        }
        firsts
            .into_iter()
            .take(1)
            .chain(lasts.into_iter().take(1))
            .collect()
    };
    let looks_like_data = header
        .cells
        .iter()
        .any(|c| crate::core::email::EmailAddr::parse(c).is_ok());
    if emails.is_empty() {
        errors.insert(
            0,
            missing(
                "email address",
                EMAIL_HEADER,
                "Email, E-mail, Email Address",
                looks_like_data,
            ),
        );
    }
    if companies.is_empty() {
        let at = usize::from(emails.is_empty());
        errors.insert(
            at,
            missing(
                "subcontractor name",
                COMPANY_HEADER,
                "Company, Vendor Name, Subcontractor",
                looks_like_data,
            ),
        );
    }
    for col in &unknown {
        ignored_cols.push((col.index, ignored(row, col, "is not used")));
    }
    ignored_cols.sort_by_key(|(index, _)| *index);
    let warnings = ignored_cols.into_iter().map(|(_, p)| p).collect();
    Mapping {
        row,
        width,
        email: emails.into_iter().next(),
        company: companies.into_iter().next(),
        contact,
        errors,
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::ExtraAliases;

    fn map(cells: &[&str]) -> Mapping {
        map_with(cells, &ExtraAliases::default())
    }

    fn map_with(cells: &[&str], extra: &ExtraAliases) -> Mapping {
        let row = CandidateRow {
            row: 1,
            cells: cells.iter().map(|c| c.to_string()).collect(),
        };
        find_header(&[row], &Aliases::new(extra)).unwrap_or_else(|| panic!("no header"))
    }

    #[test]
    fn maps_template_and_erp_headers() {
        let m = map(&[
            "Subcontractor Name",
            "Contact Name",
            "Subcontractor Email Address",
        ]);
        assert!(m.usable());
        assert_eq!(m.columns().contact.as_deref(), Some("Contact Name"));
        let m = map(&[
            "Vendor No.",
            "Vendor Name",
            "Contact",
            "E-Mail",
            "Phone No.",
            "City",
        ]);
        assert!(m.usable());
        assert_eq!(m.email.as_ref().map(|c| c.index), Some(3));
        assert_eq!(m.warnings.len(), 3);
        assert!(m.warnings.iter().all(|w| w.code == Code::IgnoredColumn));
    }

    #[test]
    fn first_and_last_name_combine_into_contact() {
        let m = map(&["Company", "First Name", "Last Name", "Email"]);
        assert_eq!(
            m.columns().contact.as_deref(),
            Some("First Name + Last Name")
        );
        assert_eq!(m.contact.len(), 2);
    }

    #[test]
    fn remarks_and_number_signs() {
        let m = map(&[
            "Vendor #",
            "Vendor Name",
            "Email (required)",
            "Contact [optional]",
        ]);
        assert!(m.usable(), "{:?}", m.errors);
        assert_eq!(m.company.as_ref().map(|c| c.index), Some(1));
        assert_eq!(m.contact.len(), 1);
    }

    #[test]
    fn two_email_columns_are_ambiguous() {
        let m = map(&["Company", "Email", "E-mail"]);
        assert_eq!(m.errors.len(), 1);
        assert_eq!(m.errors[0].code, Code::AmbiguousColumn);
        assert!(m.errors[0].message.contains("column B"));
    }

    #[test]
    fn missing_columns_are_reported_with_a_hint() {
        let m = map(&["Acme", "bob@acme.example.test"]);
        assert_eq!(m.errors.len(), 2);
        assert!(m.errors.iter().all(|e| e.code == Code::MissingColumn));
        assert!(m.errors[0].message.contains("looks like data"));
    }

    #[test]
    fn extra_aliases_win() {
        let extra = ExtraAliases {
            email: vec!["Correspondence".into()],
            company: vec!["Trade Contractor".into()],
            contact: vec![],
        };
        let m = map_with(&["Trade Contractor", "Correspondence"], &extra);
        assert!(m.usable());
    }

    #[test]
    fn header_below_a_title_row() {
        let rows = [
            CandidateRow {
                row: 1,
                cells: vec!["Project X subcontractor list".into()],
            },
            CandidateRow {
                row: 3,
                cells: vec!["Company".into(), "Email".into()],
            },
        ];
        let m = find_header(&rows, &Aliases::new(&ExtraAliases::default()));
        let m = m.unwrap_or_else(|| panic!("no header"));
        assert_eq!(m.row, 3);
        assert_eq!(m.warnings[0].code, Code::IgnoredRow);
    }

    #[test]
    fn column_letters_like_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(701), "ZZ");
        assert_eq!(column_letters(702), "AAA");
    }
}
