//! Property tests of two DESIGN promises, on random inputs:
//!
//! - the connection state machine keeps the DESIGN §2 table: the table is
//!   written again here, independently, as a model, and random sequences of
//!   events are run through `decide` and the model side by side, with the
//!   invariants the table implies checked at every step;
//! - an import is all or nothing (§8.1): random lists, valid or with bad rows
//!   at random places, some longer than `rows-per-transaction` so the spooled
//!   path runs, are imported through the library into a temporary store that
//!   already holds connections; a list with any problem changes nothing but
//!   its rejected batch and red report, and a valid one adds exactly one
//!   connection and one invite per new address.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use subinvite::config::Settings;
use subinvite::core::connection::{decide, Effect, Event, Standing, Status};
use subinvite::core::email::EmailAddr;
use subinvite::import::{self, Outcome, Submission};
use subinvite::list::ListInput;
use subinvite::model::{BatchState, MessageKind, OutboxEntry};
use subinvite::store::Store;

// ---------------------------------------------------------------------------
// The state machine against the DESIGN §2 table.

/// What the table's "sends" column names, in the words of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Sends {
    /// A fresh token with an invite: "pending, new token".
    NewToken,
    Invite,
    Reminder,
    /// "ack" to the subcontractor.
    Ack,
    /// "notice" to the contractor.
    Notice,
    /// "confirmation" to the contractor.
    Confirmation,
}

fn sends(effects: &[Effect]) -> Vec<Sends> {
    let mut v: Vec<Sends> = effects
        .iter()
        .map(|e| match e {
            Effect::IssueToken => Sends::NewToken,
            Effect::SendInvite => Sends::Invite,
            Effect::SendReminder => Sends::Reminder,
            Effect::AckSubcontractor => Sends::Ack,
            Effect::NotifyContractor => Sends::Notice,
            Effect::ConfirmToContractor => Sends::Confirmation,
        })
        .collect();
    v.sort();
    v
}

/// Where the model says a connection stands: the status and, for inactive,
/// the state it left.
type ModelState = Option<(Status, Option<Status>)>;

/// A row of the table: where the connection goes and what is sent.
type Row = ((Status, Option<Status>), Vec<Sends>);

/// The DESIGN §2 table, row by row. `None` means "unchanged, nothing sent".
fn table(cur: ModelState, event: Event) -> Option<Row> {
    use Sends::*;
    use Status::*;
    let status = cur.map(|(s, _)| s);
    let invite = vec![NewToken, Invite];
    match (status, event) {
        // (none) or deleted + row in an imported list -> pending, invite
        (None | Some(Deleted), Event::Listed) => Some(((Pending, None), invite)),
        // any other state + row -> unchanged
        (Some(_), Event::Listed) => None,
        // pending + accept -> active, ack + notice
        (Some(Pending), Event::ReplyAccepted) => Some(((Active, None), vec![Ack, Notice])),
        // pending + decline -> declined, ack + notice
        (Some(Pending), Event::ReplyDeclined) => Some(((Declined, None), vec![Ack, Notice])),
        // pending + bounce -> bounced, notice
        (Some(Pending), Event::Bounced) => Some(((Bounced, None), vec![Notice])),
        // pending + reminder due -> pending, reminder
        (Some(Pending), Event::ReminderDue) => Some(((Pending, None), vec![Reminder])),
        // pending + last reminder past its grace -> expired, notice
        (Some(Pending), Event::GraceElapsed) => Some(((Expired, None), vec![Notice])),
        // active / pending + INACTIVE -> inactive, remembering where it was
        (Some(s @ (Active | Pending)), Event::DeactivateRequested) => {
            Some(((Inactive, Some(s)), vec![Confirmation]))
        }
        // inactive + ACTIVATE -> the state it left
        (Some(Inactive), Event::ActivateRequested) => {
            let back = cur.and_then(|(_, left)| left).unwrap_or(Active);
            Some(((back, None), vec![Confirmation]))
        }
        // any but deleted + DELETE -> deleted
        (Some(s), Event::DeleteRequested) if s != Deleted => {
            Some(((Deleted, None), vec![Confirmation]))
        }
        // pending / declined / expired / bounced + REINVITE -> pending, new
        // token, invite; the contractor's command is answered (DESIGN §1).
        (Some(Pending | Declined | Expired | Bounced), Event::ReinviteRequested) => {
            Some(((Pending, None), vec![NewToken, Invite, Confirmation]))
        }
        // everything else (replies to inactive or deleted connections,
        // reminders of anything but pending, commands on unknown ones) is
        // recorded and changes nothing.
        _ => None,
    }
}

fn any_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        Just(Event::Listed),
        Just(Event::ReplyAccepted),
        Just(Event::ReplyDeclined),
        Just(Event::Bounced),
        Just(Event::ReminderDue),
        Just(Event::GraceElapsed),
        Just(Event::DeactivateRequested),
        Just(Event::ActivateRequested),
        Just(Event::DeleteRequested),
        Just(Event::ReinviteRequested),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Random event sequences from a connection that does not exist yet:
    /// every step matches the table, and the invariants hold throughout.
    #[test]
    fn state_machine_keeps_the_design_table(events in prop::collection::vec(any_event(), 1..60)) {
        let mut real: Option<Standing> = None;
        let mut model: ModelState = None;
        // Whether an accept has been seen since the current invite was sent.
        let mut accepted_since_invite = false;
        for (step, &event) in events.iter().enumerate() {
            let before = real;
            let got = decide(real, event);
            let want = table(model, event);
            match (&got, &want) {
                (Ok(t), Some(((status, left), effects))) => {
                    prop_assert_eq!(t.to.status, *status, "step {}: {:?} + {:?}", step, before, event);
                    prop_assert_eq!(t.to.resume, *left, "step {}: {:?} + {:?}", step, before, event);
                    prop_assert_eq!(&sends(t.effects), effects, "step {}: {:?} + {:?}", step, before, event);
                }
                (Err(keep), None) => {
                    // Unchanged. A row for a declined, expired or bounced
                    // connection is reported with how to re-invite.
                    let listed_closed = event == Event::Listed
                        && matches!(before.map(|s| s.status), Some(Status::Declined | Status::Expired | Status::Bounced));
                    if listed_closed {
                        prop_assert!(keep.to_string().contains("REINVITE"), "step {}: {:?}", step, keep);
                    }
                }
                _ => prop_assert!(false, "step {}: {:?} + {:?}: decide gave {:?}, the table {:?}", step, before, event, got, want),
            }
            if let Ok(t) = got {
                let from = before.map(|s| s.status);
                let to = t.to.status;
                // No state change without its email (§8.3): every
                // transition sends something.
                prop_assert!(!t.effects.is_empty(), "silent transition {:?} + {:?}", before, event);
                // Every invite carries a fresh token, and a fresh token is
                // only ever minted for an invite.
                prop_assert_eq!(t.effects.contains(&Effect::IssueToken), t.effects.contains(&Effect::SendInvite));
                // Reminders go to pending connections only.
                if t.effects.contains(&Effect::SendReminder) {
                    prop_assert_eq!(from, Some(Status::Pending));
                }
                // Only INACTIVE leads to inactive, and it remembers where from.
                prop_assert_eq!(to == Status::Inactive, t.to.resume.is_some());
                // A deleted connection comes back only through a list.
                if from == Some(Status::Deleted) {
                    prop_assert_eq!(event, Event::Listed);
                }
                if t.effects.contains(&Effect::SendInvite) {
                    accepted_since_invite = false;
                }
                if event == Event::ReplyAccepted {
                    accepted_since_invite = true;
                }
                // Nothing but an accept (or restoring an accepted one from
                // inactive) makes a connection active.
                if to == Status::Active {
                    prop_assert!(accepted_since_invite, "active without an accept: {:?} + {:?}", before, event);
                }
                real = Some(t.to);
                model = Some((t.to.status, t.to.resume));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Imports, all or nothing.

/// Rows per store transaction in these tests: lists longer than this take
/// the spooled, several-transaction path.
const ROWS_PER_TX: usize = 6;

/// A temporary home: settings and an open store.
struct Home {
    _dir: tempfile::TempDir,
    settings: Settings,
    store: Store,
}

fn home() -> Home {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        r#"
[paths]
state-dir = "var"

[mail]
domain = "example.test"

[import]
rows-per-transaction = {ROWS_PER_TX}

[contractors.demo]
name = "Demo Builders"
notify = "gc@example.test"
senders = ["gc@example.test"]
"#
    );
    let path = dir.path().join("subinvite.toml");
    std::fs::write(&path, config).expect("write config");
    let settings = Settings::from_file(&path).expect("valid config");
    std::fs::create_dir_all(&settings.paths.store).expect("store dir");
    let store = Store::open(&settings.paths.store, settings.store_cache_mib).expect("open store");
    Home {
        _dir: dir,
        settings,
        store,
    }
}

/// Builds a CSV list from rows of (company, contact, email).
fn csv(rows: &[(String, String, String)]) -> Vec<u8> {
    let mut s = String::from("Subcontractor Name,Contact Name,Subcontractor Email Address\r\n");
    for (company, contact, email) in rows {
        s.push_str(&format!("{company},{contact},{email}\r\n"));
    }
    s.into_bytes()
}

fn submit(h: &Home, data: Vec<u8>, source: &str) -> Outcome {
    let input = ListInput::Bytes {
        name: "list.csv".into(),
        data: Arc::from(data),
    };
    let sub = Submission {
        contractor: "demo".into(),
        digest: import::digest(&input).expect("digest"),
        input,
        source: source.into(),
        key: Some(format!("test:{source}")),
        allow_repeat: true,
        report_to: None,
    };
    import::import(&h.store, &h.settings, &sub, 1_700_000_000).expect("import runs")
}

/// Everything an import may touch, as comparable text.
#[derive(Debug, PartialEq)]
struct Snapshot {
    /// email -> status and token.
    connections: BTreeMap<String, String>,
    outbox: Vec<String>,
}

fn outbox_line(e: &OutboxEntry) -> String {
    format!(
        "{} {:?} to={} about={:?} token={:?}",
        e.id,
        e.kind,
        e.to.as_str(),
        e.about.as_ref().map(EmailAddr::as_str),
        e.token.as_ref().map(|t| t.as_str().to_string())
    )
}

fn snapshot(h: &Home) -> Snapshot {
    let connections = h
        .store
        .connections("demo")
        .map(|c| {
            let c = c.expect("read connection");
            (
                c.email.as_str().to_string(),
                format!("{} {}", c.standing.status, c.token.as_str()),
            )
        })
        .collect();
    let outbox = h
        .store
        .outbox_entries()
        .expect("read outbox")
        .iter()
        .map(outbox_line)
        .collect();
    Snapshot {
        connections,
        outbox,
    }
}

/// One way to spoil a row.
#[derive(Debug, Clone, Copy)]
enum Bad {
    InvalidEmail,
    MissingEmail,
    /// The address of another row of the list, in other letter case.
    DuplicateEmail,
    MissingCompany,
    CompanyTooLong,
    ControlCharacter,
}

fn any_bad() -> impl Strategy<Value = Bad> {
    prop_oneof![
        Just(Bad::InvalidEmail),
        Just(Bad::MissingEmail),
        Just(Bad::DuplicateEmail),
        Just(Bad::MissingCompany),
        Just(Bad::CompanyTooLong),
        Just(Bad::ControlCharacter),
    ]
}

/// A valid row for address number `n` of a pool of 60; `upper` varies the
/// letter case (the same address either way).
fn good_row(n: usize, upper: bool, contact: bool) -> (String, String, String) {
    let email = format!("estimating.{n}@sub{}.example.test", n % 7);
    let email = if upper { email.to_uppercase() } else { email };
    let contact = if contact {
        format!("Contact {n}")
    } else {
        String::new()
    };
    (format!("Company {n} Builders"), contact, email)
}

/// A list: distinct addresses drawn from the pool, each with its letter case
/// and whether it names a contact.
fn any_rows(max: usize) -> impl Strategy<Value = Vec<(String, String, String)>> {
    prop::collection::btree_set(0usize..60, 1..max).prop_flat_map(|ids| {
        let ids: Vec<usize> = ids.into_iter().collect();
        let n = ids.len();
        (
            Just(ids),
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(any::<bool>(), n),
        )
            .prop_map(|(ids, upper, contact)| {
                ids.iter()
                    .zip(upper)
                    .zip(contact)
                    .map(|((&id, u), c)| good_row(id, u, c))
                    .collect()
            })
    })
}

/// Applies `bad` to row `at` of `rows` (in place).
fn spoil(rows: &mut [(String, String, String)], at: usize, bad: Bad) {
    let other = if at == 0 { 1 } else { 0 };
    match bad {
        Bad::InvalidEmail => rows[at].2 = format!("{}@@example.test", at),
        Bad::MissingEmail => rows[at].2.clear(),
        Bad::DuplicateEmail if rows.len() > 1 => {
            rows[at].2 = rows[other].2.to_uppercase();
            if rows[at].2 == rows[other].2 {
                rows[at].2 = rows[other].2.to_lowercase();
            }
        }
        Bad::DuplicateEmail => rows[at].2 = "no-at-sign.example.test".into(),
        Bad::MissingCompany => rows[at].0.clear(),
        Bad::CompanyTooLong => rows[at].0 = "X".repeat(subinvite::list::MAX_NAME_CHARS + 1),
        Bad::ControlCharacter => rows[at].0 = format!("Company\u{7}{at}"),
    }
}

fn lower(rows: &[(String, String, String)]) -> BTreeSet<String> {
    rows.iter().map(|r| r.2.to_lowercase()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A list with one or more bad rows anywhere changes nothing in a store
    /// that already holds connections, beyond its rejected batch and the red
    /// report; this holds for short lists and for lists longer than one
    /// transaction.
    #[test]
    fn a_list_with_a_problem_changes_nothing(
        base in any_rows(12),
        mut list in any_rows(30),
        spoilers in prop::collection::vec((any::<prop::sample::Index>(), any_bad()), 1..4),
    ) {
        let h = home();
        let first = submit(&h, csv(&base), "base");
        prop_assert!(matches!(first, Outcome::Imported { .. }), "base list: {:?}", first.batch());
        let before = snapshot(&h);

        for (at, bad) in &spoilers {
            let at = at.index(list.len());
            spoil(&mut list, at, *bad);
            // A row spoiled twice down to nothing is a blank row, which is
            // skipped, not wrong: keep a contact in it.
            if list[at].0.is_empty() && list[at].2.is_empty() {
                list[at].1 = "Someone".into();
            }
        }
        let outcome = submit(&h, csv(&list), "spoiled");
        let Outcome::Rejected { batch, report } = outcome else {
            panic!("a spoiled list was not rejected: {spoilers:?}\n{}", String::from_utf8_lossy(&csv(&list)));
        };
        prop_assert!(!report.valid);
        prop_assert!(report.errors_total >= 1);
        prop_assert_eq!(batch.state, BatchState::Rejected);
        prop_assert_eq!(batch.counts.invited_new + batch.counts.invited_known, 0);

        let after = snapshot(&h);
        prop_assert_eq!(&after.connections, &before.connections, "connections changed");
        // The outbox gained the red report and nothing else.
        prop_assert_eq!(&after.outbox[..before.outbox.len()], &before.outbox[..]);
        let added = &after.outbox[before.outbox.len()..];
        prop_assert_eq!(added.len(), 1, "outbox gained {:?}", added);
        let report_kind = format!("{:?}", MessageKind::ImportReport { batch: batch.id });
        prop_assert!(added[0].contains(&report_kind), "outbox gained {:?}", added);
        prop_assert!(h.store.unfinished_batches().expect("batches").is_empty());
    }

    /// A valid list, short or spooled over several transactions, ends with
    /// one connection per distinct address; each address new to the
    /// contractor is pending with exactly one invite carrying its token, and
    /// connections that existed before are left as they were.
    #[test]
    fn a_valid_list_connects_each_address_once(
        base in any_rows(12),
        list in any_rows(30),
    ) {
        let h = home();
        let first = submit(&h, csv(&base), "base");
        prop_assert!(matches!(first, Outcome::Imported { .. }), "base list: {:?}", first.batch());
        let before = snapshot(&h);

        let outcome = submit(&h, csv(&list), "list");
        let Outcome::Imported { batch, report } = outcome else {
            panic!("a valid list was not imported:\n{}", String::from_utf8_lossy(&csv(&list)));
        };
        prop_assert!(report.valid);
        prop_assert_eq!(report.rows as usize, list.len());
        prop_assert_eq!(batch.state, BatchState::Imported);
        prop_assert!(h.store.unfinished_batches().expect("batches").is_empty());

        let after = snapshot(&h);
        let listed = lower(&list);
        let old: BTreeSet<String> = before.connections.keys().cloned().collect();
        let new: BTreeSet<String> = listed.difference(&old).cloned().collect();
        let all: BTreeSet<String> = old.union(&listed).cloned().collect();
        prop_assert_eq!(after.connections.keys().cloned().collect::<BTreeSet<_>>(), all);
        for (email, was) in &before.connections {
            prop_assert_eq!(&after.connections[email], was, "existing connection {} changed", email);
        }
        prop_assert_eq!(batch.counts.invited_new + batch.counts.invited_known, new.len() as u64);
        prop_assert_eq!(batch.counts.unchanged, (listed.len() - new.len()) as u64);

        // The outbox gained one invite per new address, with its token, and
        // the green report.
        prop_assert_eq!(&after.outbox[..before.outbox.len()], &before.outbox[..]);
        let entries = h.store.outbox_entries().expect("outbox");
        let added: Vec<&OutboxEntry> = entries.iter().filter(|e| !before.outbox.contains(&outbox_line(e))).collect();
        let mut invited = BTreeSet::new();
        let mut reports = 0;
        for e in &added {
            match e.kind {
                MessageKind::InviteNew | MessageKind::InviteKnown => {
                    let email = e.to.as_str().to_string();
                    prop_assert!(new.contains(&email), "invite to {} who is not new", email);
                    prop_assert!(invited.insert(email.clone()), "two invites to {}", email);
                    let conn = h.store.connection("demo", &e.to).expect("read").expect("connection");
                    prop_assert_eq!(conn.standing.status, Status::Pending);
                    prop_assert_eq!(e.token.as_ref(), Some(&conn.token));
                }
                MessageKind::ImportReport { batch: b } if b == batch.id => reports += 1,
                ref other => prop_assert!(false, "unexpected outbox entry {:?}", other),
            }
        }
        prop_assert_eq!(invited, new);
        prop_assert_eq!(reports, 1);
    }
}
