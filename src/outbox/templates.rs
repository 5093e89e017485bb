//! The email templates: a subject line, a plain-text body and an HTML body
//! for every kind of message, compiled into the binary from
//! `config/templates/` and optionally replaced, file by file, from
//! `mail.templates-dir`. This module owns the variables templates see
//! ([`Vars`]) and checks every template when it is loaded, so a broken
//! override stops start-up instead of a send. It never reads the store or
//! the clock, and it never builds headers: [`super::compose`] does.
//!
//! Text templates (`.subject`, `.txt`) are rendered without escaping; `.html`
//! templates escape every value as HTML.

use crate::model::Counts;
use minijinja::{AutoEscape, Environment, ErrorKind, Output, State, Value};
use serde::Serialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};

/// Compiles in `config/templates/<name>` for each name.
macro_rules! builtin {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../config/templates/", $name)))),*]
    };
}

/// The compiled-in templates, by file name.
#[rustfmt::skip]
const BUILTIN: &[(&str, &str)] = builtin![
    "_layout.html",
    "invite_new.subject", "invite_new.txt", "invite_new.html",
    "invite_known.subject", "invite_known.txt", "invite_known.html",
    "reminder.subject", "reminder.txt", "reminder.html",
    "import_imported.subject", "import_imported.txt", "import_imported.html",
    "import_rejected.subject", "import_rejected.txt", "import_rejected.html",
    "contractor_notice.subject", "contractor_notice.txt", "contractor_notice.html",
    "ack_subcontractor.subject", "ack_subcontractor.txt", "ack_subcontractor.html",
    "action_confirmation.subject", "action_confirmation.txt", "action_confirmation.html",
    "ask_yes_no.subject", "ask_yes_no.txt", "ask_yes_no.html",
    "sender_refused.subject", "sender_refused.txt", "sender_refused.html",
    "command_reply.subject", "command_reply.txt", "command_reply.html",
];

/// Which set of templates (subject, text, HTML) a message is rendered from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    InviteNew,
    InviteKnown,
    Reminder,
    /// The green import report.
    ImportImported,
    /// The red import report.
    ImportRejected,
    ContractorNotice,
    AckSubcontractor,
    ActionConfirmation,
    AskYesNo,
    SenderRefused,
    CommandReply,
}

impl Kind {
    pub const ALL: [Kind; 11] = [
        Kind::InviteNew,
        Kind::InviteKnown,
        Kind::Reminder,
        Kind::ImportImported,
        Kind::ImportRejected,
        Kind::ContractorNotice,
        Kind::AckSubcontractor,
        Kind::ActionConfirmation,
        Kind::AskYesNo,
        Kind::SenderRefused,
        Kind::CommandReply,
    ];

    /// The file name stem: `<stem>.subject`, `<stem>.txt`, `<stem>.html`.
    pub fn stem(self) -> &'static str {
        match self {
            Kind::InviteNew => "invite_new",
            Kind::InviteKnown => "invite_known",
            Kind::Reminder => "reminder",
            Kind::ImportImported => "import_imported",
            Kind::ImportRejected => "import_rejected",
            Kind::ContractorNotice => "contractor_notice",
            Kind::AckSubcontractor => "ack_subcontractor",
            Kind::ActionConfirmation => "action_confirmation",
            Kind::AskYesNo => "ask_yes_no",
            Kind::SenderRefused => "sender_refused",
            Kind::CommandReply => "command_reply",
        }
    }
}

/// Why the templates could not be loaded or rendered. Every variant names
/// the file (or built-in template) at fault.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The override folder or one of its files cannot be read.
    #[error("cannot read template {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A template does not compile (a syntax error).
    #[error("template {file}: {message}")]
    Syntax { file: String, message: String },
    /// A template compiles but fails when rendered (unknown filter, bad
    /// `extends`, ...).
    #[error("template {file}: {message}")]
    Render { file: String, message: String },
}

/// A message's three rendered parts. The subject is not yet one line:
/// `compose` takes care of that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The compiled templates.
pub struct Templates {
    env: Environment<'static>,
    /// Where each template came from (`built-in` or the override's path),
    /// for error messages.
    origins: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates")
            .field("origins", &self.origins)
            .finish_non_exhaustive()
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(html_formatter);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env
}

/// Auto-escaping as minijinja does it, except that `/` is left alone so
/// links read as links in the HTML source; `&`, `<`, `>`, `"` and `'` are
/// what matter in text and in quoted attributes.
fn html_formatter(out: &mut Output, state: &State, value: &Value) -> Result<(), minijinja::Error> {
    if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() {
        if let Some(s) = value.as_str() {
            let mut buf = String::with_capacity(s.len() + 8);
            for c in s.chars() {
                match c {
                    '&' => buf.push_str("&amp;"),
                    '<' => buf.push_str("&lt;"),
                    '>' => buf.push_str("&gt;"),
                    '"' => buf.push_str("&quot;"),
                    '\'' => buf.push_str("&#x27;"),
                    c => buf.push(c),
                }
            }
            return out.write_str(&buf).map_err(|_| {
                minijinja::Error::new(ErrorKind::WriteFailure, "cannot write output")
            });
        }
    }
    minijinja::escape_formatter(out, state, value)
}

impl Templates {
    /// The compiled-in templates only. Infallible: a unit test proves every
    /// built-in compiles and renders; if one ever did not, it is logged and
    /// left out, and rendering it fails as a compose error.
    pub fn builtin() -> Templates {
        let mut env = environment();
        let mut origins = Vec::with_capacity(BUILTIN.len());
        for (name, source) in BUILTIN {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "built-in template does not compile");
            }
            origins.push((*name, "built-in".to_owned()));
        }
        Templates { env, origins }
    }

    /// The built-in templates, each replaced by the file of the same name in
    /// `dir` when there is one. Other files in `dir` are ignored. Every
    /// template is compiled and test-rendered here, so a broken override is
    /// reported now, with its path.
    pub fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
        let mut sources: Vec<(&'static str, Cow<'static, str>, String)> = BUILTIN
            .iter()
            .map(|(n, s)| (*n, Cow::Borrowed(*s), "built-in".to_owned()))
            .collect();
        if let Some(dir) = dir {
            let read_err = |path: &Path| {
                let path = path.to_path_buf();
                move |source| TemplateError::Read { path, source }
            };
            for item in std::fs::read_dir(dir).map_err(read_err(dir))? {
                let path = item.map_err(read_err(dir))?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let Some(slot) = sources.iter_mut().find(|(n, ..)| *n == name) else {
                    continue;
                };
                if !path.is_file() {
                    continue;
                }
                let text = std::fs::read_to_string(&path).map_err(read_err(&path))?;
                slot.1 = Cow::Owned(text);
                slot.2 = path.display().to_string();
            }
        }
        let mut env = environment();
        let mut origins = Vec::with_capacity(sources.len());
        for (name, source, origin) in sources {
            env.add_template_owned(name, source)
                .map_err(|e| TemplateError::Syntax {
                    file: describe(name, &origin),
                    message: e.to_string(),
                })?;
            origins.push((name, origin));
        }
        let templates = Templates { env, origins };
        for (kind, vars) in samples() {
            templates.render(kind, &vars)?;
        }
        Ok(templates)
    }

    /// Renders the subject, text and HTML templates of `kind`.
    pub fn render(&self, kind: Kind, vars: &Vars) -> Result<Rendered, TemplateError> {
        let stem = kind.stem();
        // Converted once for the three templates.
        let vars = Value::from_serialize(vars);
        Ok(Rendered {
            subject: self.render_one(&format!("{stem}.subject"), &vars)?,
            text: self.render_one(&format!("{stem}.txt"), &vars)?,
            html: self.render_one(&format!("{stem}.html"), &vars)?,
        })
    }

    /// Renders the plain-text body of `kind` only.
    pub fn render_text(&self, kind: Kind, vars: &Vars) -> Result<String, TemplateError> {
        self.render_one(
            &format!("{}.txt", kind.stem()),
            &Value::from_serialize(vars),
        )
    }

    fn render_one(&self, name: &str, vars: &Value) -> Result<String, TemplateError> {
        let fail = |e: minijinja::Error| TemplateError::Render {
            file: self.origin_of(name),
            message: e.to_string(),
        };
        self.env
            .get_template(name)
            .map_err(fail)?
            .render(vars)
            .map_err(fail)
    }

    fn origin_of(&self, name: &str) -> String {
        match self.origins.iter().find(|(n, _)| *n == name) {
            Some((n, o)) => describe(n, o),
            None => name.to_owned(),
        }
    }
}

fn describe(name: &str, origin: &str) -> String {
    if origin == "built-in" {
        format!("{name} (built-in)")
    } else {
        origin.to_owned()
    }
}

/// Everything a template sees. Strings from lists are already on one line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Vars {
    /// The contractor's display name.
    pub contractor: String,
    /// The product's name (`mail.from-name`).
    pub product: String,
    /// The entry's free text: the new status of a notice (`active`,
    /// `declined`, `bounced`, `expired`), the answer acknowledged
    /// (`accepted`, `declined`), the confirmation sentence, the refusal
    /// reason, or the command reply's body.
    pub detail: String,
    /// The subcontractor the message is to or about.
    pub sub: Option<SubVars>,
    /// For invites, reminders and the yes-or-no question.
    pub invite: Option<InviteVars>,
    /// For import reports.
    pub report: Option<ReportVars>,
    /// File names of the attachments, in order.
    pub attachments: Vec<String>,
}

/// A subcontractor, as named in the list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubVars {
    pub company: String,
    pub contact: Option<String>,
    pub email: String,
}

/// How to answer an invite.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InviteVars {
    pub token: String,
    /// The short reference shown in subjects.
    pub reference: String,
    /// `invites+<token>@domain`: replying with yes or no works.
    pub reply_addr: String,
    pub yes_addr: String,
    pub no_addr: String,
    /// `mailto:` links with a subject, for the HTML body.
    pub yes_mailto: String,
    pub no_mailto: String,
    /// Only for invitations to someone new to the directory.
    pub signup_link: Option<String>,
    pub reminders_sent: u32,
}

/// An import report (green or red).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReportVars {
    pub batch: u64,
    pub source: String,
    pub counts: Counts,
    pub invited_new: Vec<RowVars>,
    pub invited_known: Vec<RowVars>,
    pub unchanged: Vec<RowVars>,
    /// Rows counted but not listed (the lists are capped).
    pub invited_new_more: u64,
    pub invited_known_more: u64,
    pub unchanged_more: u64,
    /// What the check assumed about the file, when its report is known.
    pub assumed: Option<Assumed>,
    pub errors: Vec<ProblemVars>,
    /// Errors found, including those not listed.
    pub errors_total: u64,
    pub errors_more: u64,
    pub warnings: Vec<ProblemVars>,
    pub warnings_more: u64,
    /// The name of the attached CSV of rows to fix, when attached.
    pub fix_rows: Option<String>,
}

/// One row named in a report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RowVars {
    pub row: u32,
    pub company: String,
    pub email: String,
    /// Why it was left unchanged.
    pub why: Option<String>,
}

/// What was assumed about a list file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Assumed {
    /// `CSV`, `XLSX`, ...
    pub format: String,
    pub encoding: Option<String>,
    /// In words: `comma`, `semicolon`, `tab`, ...
    pub delimiter: Option<String>,
    pub header_row: Option<u64>,
    pub email_column: Option<String>,
    pub company_column: Option<String>,
    pub contact_column: Option<String>,
}

/// One problem of a list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProblemVars {
    pub row: Option<u64>,
    pub column: Option<String>,
    pub code: String,
    pub value: Option<String>,
    pub message: String,
}

/// A plausible set of variables for every kind, used to test-render
/// templates at load time (and by the unit tests).
pub fn samples() -> Vec<(Kind, Vars)> {
    let sub = SubVars {
        company: "Sample Electric".into(),
        contact: Some("Sam Sample".into()),
        email: "sam@example.test".into(),
    };
    let invite = InviteVars {
        token: "aaaaaaaaaaaaaaaaaaaaaaaaaa".into(),
        reference: "AAAAAAAA".into(),
        reply_addr: "invites+aaaaaaaaaaaaaaaaaaaaaaaaaa@example.test".into(),
        yes_addr: "invites+aaaaaaaaaaaaaaaaaaaaaaaaaa-yes@example.test".into(),
        no_addr: "invites+aaaaaaaaaaaaaaaaaaaaaaaaaa-no@example.test".into(),
        yes_mailto: "mailto:invites+aaaaaaaaaaaaaaaaaaaaaaaaaa-yes@example.test?subject=Yes".into(),
        no_mailto: "mailto:invites+aaaaaaaaaaaaaaaaaaaaaaaaaa-no@example.test?subject=No".into(),
        signup_link: Some("https://app.example.test/signup?token=aaaa".into()),
        reminders_sent: 1,
    };
    let row = RowVars {
        row: 2,
        company: sub.company.clone(),
        email: sub.email.clone(),
        why: Some("already connected".into()),
    };
    let problem = ProblemVars {
        row: Some(3),
        column: Some("Email".into()),
        code: "invalid_email".into(),
        value: Some("x@@y".into()),
        message: "is not one valid address".into(),
    };
    let report = ReportVars {
        batch: 1,
        source: "drop:list.csv".into(),
        counts: Counts {
            rows: 3,
            invited_new: 1,
            invited_known: 1,
            unchanged: 1,
            ..Counts::default()
        },
        invited_new: vec![row.clone()],
        invited_known: vec![row.clone()],
        unchanged: vec![row],
        invited_new_more: 1,
        invited_known_more: 1,
        unchanged_more: 1,
        assumed: Some(Assumed {
            format: "CSV".into(),
            encoding: Some("UTF-8".into()),
            delimiter: Some("comma".into()),
            header_row: Some(1),
            email_column: Some("Email".into()),
            company_column: Some("Company".into()),
            contact_column: None,
        }),
        errors: vec![problem.clone()],
        errors_total: 2,
        errors_more: 1,
        warnings: vec![problem],
        warnings_more: 1,
        fix_rows: Some("rows-to-fix.csv".into()),
    };
    let base = Vars {
        contractor: "Sample Builders".into(),
        product: "subinvite".into(),
        detail: "active".into(),
        sub: Some(sub),
        invite: Some(invite),
        report: Some(report),
        attachments: vec!["status.csv".into()],
    };
    Kind::ALL.iter().map(|k| (*k, base.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_compiles_and_renders() {
        let t = Templates::load(None).unwrap();
        for (kind, vars) in samples() {
            let r = t.render(kind, &vars).unwrap();
            assert!(!r.subject.trim().is_empty(), "{kind:?}");
            assert!(!r.text.trim().is_empty(), "{kind:?}");
            assert!(r.html.contains("</html>"), "{kind:?}");
        }
        // Every kind has its three files, and nothing else is built in.
        assert_eq!(BUILTIN.len(), Kind::ALL.len() * 3 + 1);
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let t = Templates::builtin();
        let mut vars = samples().remove(0).1;
        if let Some(s) = vars.sub.as_mut() {
            s.company = "<script>alert(1)</script> & Sons".into();
        }
        let r = t.render(Kind::InviteNew, &vars).unwrap();
        assert!(!r.html.contains("<script>"), "{}", r.html);
        assert!(r.html.contains("&lt;script&gt;"), "{}", r.html);
        assert!(r.text.contains("<script>alert(1)</script> & Sons"));
    }

    #[test]
    fn an_override_replaces_its_template_and_unknown_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("invite_new.subject"),
            "Join {{ contractor }} now",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.md"), "{% broken").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let (kind, vars) = samples().remove(0);
        assert_eq!(kind, Kind::InviteNew);
        assert_eq!(
            t.render(kind, &vars).unwrap().subject,
            "Join Sample Builders now"
        );
        // The other templates are still the built-in ones.
        let builtin = Templates::builtin().render(Kind::Reminder, &vars).unwrap();
        assert_eq!(t.render(Kind::Reminder, &vars).unwrap(), builtin);
    }

    #[test]
    fn a_broken_override_is_reported_with_its_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("reminder.html");
        std::fs::write(&path, "<p>{% if invite %}unclosed</p>").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(matches!(err, TemplateError::Syntax { .. }), "{err:?}");
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        // A template that compiles but fails to render is caught at load too.
        std::fs::write(&path, "{{ detail | no_such_filter }}").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("reminder.html"), "{err}");
    }

    #[test]
    fn a_missing_override_dir_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Templates::load(Some(&dir.path().join("nope"))).unwrap_err();
        assert!(matches!(err, TemplateError::Read { .. }), "{err:?}");
    }
}
