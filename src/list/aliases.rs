//! What header names mean: the built-in aliases for each field (taken from
//! what real exports and templates say, in a few languages), the configured
//! extra aliases, and the normalisation both are compared under.
//!
//! Pure data and lookups; knows nothing of rows or files.
use super::ExtraAliases;

// Aliases are stored normalised (see `normalise`): lower-case letters and
// digits only.
const EMAIL_ALIASES: &[&str] = &[
    "subcontractoremailaddress",
    "subcontractoremail",
    "subemail",
    "email",
    "emailaddress",
    "emailaddr",
    "emailid",
    "mail",
    "mailaddress",
    "email1",
    "emailaddress1",
    "email1address",
    "primaryemail",
    "primaryemailaddress",
    "emailprimary",
    "workemail",
    "workemailaddress",
    "businessemail",
    "businessemailaddress",
    "contactemail",
    "contactemailaddress",
    "vendoremail",
    "vendoremailaddress",
    "supplieremail",
    "supplieremailaddress",
    "companyemail",
    "companyemailaddress",
    "officeemail",
    "estimatingemail",
    "courriel",
    "adressecourriel",
    "adresseemail",
    "adressemail",
    "adresseélectronique",
    "emailadresse",
    "mailadresse",
    "correo",
    "correoelectrónico",
    "correoelectronico",
];
const COMPANY_ALIASES: &[&str] = &[
    "subcontractorname",
    "subcontractor",
    "subcontractorcompany",
    "subcontractorcompanyname",
    "subname",
    "sub",
    "company",
    "companyname",
    "vendor",
    "vendorname",
    "supplier",
    "suppliername",
    "businessname",
    "business",
    "tradepartner",
    "tradepartnername",
    "firm",
    "firmname",
    "organization",
    "organisation",
    "organizationname",
    "organisationname",
    "contractor",
    "contractorname",
    "legalname",
    "accountname",
    "bidder",
    "biddername",
    "firma",
    "firmenname",
    "unternehmen",
    "société",
    "societe",
    "entreprise",
    "raisonsociale",
    "empresa",
    "nombredelaempresa",
];
const CONTACT_ALIASES: &[&str] = &[
    "contactname",
    "contact",
    "contactperson",
    "contactfullname",
    "primarycontact",
    "primarycontactname",
    "name",
    "fullname",
    "representative",
    "rep",
    "attention",
    "attn",
    "ansprechpartner",
    "kontakt",
    "kontaktperson",
    "nom",
    "nomcomplet",
    "interlocuteur",
    "contacto",
    "nombre",
    "nombrecompleto",
];
const FIRST_NAME_ALIASES: &[&str] = &[
    "firstname",
    "first",
    "givenname",
    "forename",
    "contactfirstname",
    "vorname",
    "prénom",
    "prenom",
];
const LAST_NAME_ALIASES: &[&str] = &[
    "lastname",
    "last",
    "surname",
    "familyname",
    "contactlastname",
    "nachname",
    "nomdefamille",
    "apellido",
    "apellidos",
];

/// Lower-cases and keeps only letters and digits, so "E-mail Address ",
/// "\u{feff}EMAIL_ADDRESS" and "e-mail\u{a0}address" all become
/// "emailaddress". `#` reads as "no", so "Vendor #" is not "Vendor".
pub(crate) fn normalise(header: &str) -> String {
    let mut out = String::with_capacity(header.len());
    for c in header.chars() {
        if c == '#' {
            out.push_str("no");
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// The header without parenthesised remarks: "Email (required)" -> "Email ".
fn without_remarks(header: &str) -> Option<String> {
    let mut out = String::with_capacity(header.len());
    let mut depth = 0usize;
    for c in header.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    (out.len() != header.len()).then_some(out)
}

/// The field a header cell names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Email,
    Company,
    Contact,
    FirstName,
    LastName,
}

/// Built-in plus configured aliases, normalised once.
#[derive(Debug, Clone)]
pub(crate) struct Aliases {
    extra: Vec<(String, Field)>,
}

impl Aliases {
    pub fn new(extra: &ExtraAliases) -> Aliases {
        let mut out = Vec::new();
        for (list, field) in [
            (&extra.email, Field::Email),
            (&extra.company, Field::Company),
            (&extra.contact, Field::Contact),
        ] {
            out.extend(
                list.iter()
                    .map(|a| normalise(a))
                    .filter(|a| !a.is_empty())
                    .map(|a| (a, field)),
            );
        }
        Aliases { extra: out }
    }

    /// Configured aliases win over built-in ones; a header that matches
    /// nothing is tried again without its parenthesised remarks.
    pub fn field(&self, header: &str) -> Option<Field> {
        self.field_exact(header)
            .or_else(|| without_remarks(header).and_then(|h| self.field_exact(&h)))
    }

    fn field_exact(&self, header: &str) -> Option<Field> {
        let n = normalise(header);
        if n.is_empty() {
            return None;
        }
        if let Some((_, f)) = self.extra.iter().find(|(a, _)| *a == n) {
            return Some(*f);
        }
        [
            (EMAIL_ALIASES, Field::Email),
            (COMPANY_ALIASES, Field::Company),
            (CONTACT_ALIASES, Field::Contact),
            (FIRST_NAME_ALIASES, Field::FirstName),
            (LAST_NAME_ALIASES, Field::LastName),
        ]
        .into_iter()
        .find(|(list, _)| list.contains(&n.as_str()))
        .map(|(_, f)| f)
    }

    /// How many of the required fields a row's cells name.
    pub fn required_hits(&self, cells: &[String]) -> usize {
        let email = cells.iter().any(|c| self.field(c) == Some(Field::Email));
        let company = cells.iter().any(|c| self.field(c) == Some(Field::Company));
        usize::from(email) + usize::from(company)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_punctuation_bom_and_nbsp() {
        for h in [
            "E-mail Address",
            " \u{feff}EMAIL_ADDRESS ",
            "e-mail\u{a0}address",
            "Email.Address:",
        ] {
            assert_eq!(normalise(h), "emailaddress", "{h:?}");
        }
        assert_eq!(normalise("Vendor #"), "vendorno");
    }

    #[test]
    fn every_built_in_alias_is_stored_normalised() {
        for list in [
            EMAIL_ALIASES,
            COMPANY_ALIASES,
            CONTACT_ALIASES,
            FIRST_NAME_ALIASES,
            LAST_NAME_ALIASES,
        ] {
            for a in list {
                assert_eq!(normalise(a), *a);
            }
        }
    }
}
