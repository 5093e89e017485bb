//! Email commands carried out on a real (temporary) store: STATUS lists with
//! safe cells, actions with refusals that do not stop the other commands,
//! HELP for what is not understood, TEMPLATE attached, and exactly one
//! answer per email with the email marked handled.

use std::sync::Arc;
use subinvite::classify::command::{parse_commands, Command};
use subinvite::commands::{execute, HELP, STATUS_NAME, TEMPLATE_NAME};
use subinvite::config::Settings;
use subinvite::core::connection::Status;
use subinvite::core::email::EmailAddr;
use subinvite::import::{self, Outcome, Submission};
use subinvite::list::{template_csv, ListInput};
use subinvite::model::{MessageKind, OutboxEntry};
use subinvite::store::Store;

const CONFIG: &str = r#"
[paths]
state-dir = "var"

[mail]
domain = "example.test"

[contractors.demo]
name = "Demo Builders"
notify = "gc1@example.test"
senders = ["gc1@example.test"]
"#;

const LIST: &str = "Subcontractor Name,Contact Name,Subcontractor Email Address\n\
                    Sparky Electric,Dana Sparks,dana@sparky.test\n\
                    =cmd(),Eve Evil,eve@evil.test\n\
                    Lee Concrete,Sam Lee,sam@lee.test\n";

const NOW: i64 = 1_700_000_000;

struct World {
    _dir: tempfile::TempDir,
    settings: Settings,
    store: Store,
    from: EmailAddr,
}

impl World {
    /// A store with LIST imported for `demo`: three pending connections.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("subinvite.toml");
        std::fs::write(&path, CONFIG).unwrap();
        let settings = Settings::from_file(&path).unwrap();
        let store = Store::open(&settings.paths.store, 8).unwrap();
        let w = World {
            _dir: dir,
            settings,
            store,
            from: EmailAddr::parse("gc1@example.test").unwrap(),
        };
        w.import(LIST, NOW);
        w
    }

    fn import(&self, csv: &str, now: i64) {
        let input = ListInput::Bytes {
            name: "subs.csv".into(),
            data: Arc::from(csv.as_bytes()),
        };
        let sub = Submission {
            contractor: "demo".into(),
            digest: import::digest(&input).unwrap(),
            input,
            source: "test:subs.csv".into(),
            key: None,
            allow_repeat: true,
            report_to: None,
        };
        let outcome = import::import(&self.store, &self.settings, &sub, now).unwrap();
        assert!(matches!(outcome, Outcome::Imported { .. }), "{outcome:?}");
    }

    /// Runs the commands of `text` as the email with key `key`; returns the
    /// summary and the answer it queued.
    fn run(&self, key: &str, text: &str) -> (String, OutboxEntry) {
        let cmds = parse_commands(text, None);
        let gc = self.settings.contractor("demo").unwrap();
        let before = self.replies().len();
        let summary = execute(
            &self.store,
            &self.settings,
            gc,
            &self.from,
            &cmds,
            key,
            NOW + 60,
        )
        .unwrap();
        assert_eq!(self.store.seen(key).unwrap().as_deref(), Some(&*summary));
        let mut replies = self.replies();
        assert_eq!(replies.len(), before + 1, "one answer for {key}: {summary}");
        (summary, replies.pop().unwrap())
    }

    fn replies(&self) -> Vec<OutboxEntry> {
        self.store
            .outbox_entries()
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == MessageKind::CommandReply)
            .collect()
    }

    fn status_of(&self, email: &str) -> Status {
        let e = EmailAddr::parse(email).unwrap();
        self.store.connection("demo", &e).unwrap().unwrap().status()
    }
}

fn csv_rows(entry: &OutboxEntry) -> Vec<Vec<String>> {
    let a = entry.attachment.as_ref().expect("an attachment");
    assert_eq!(a.filename, STATUS_NAME);
    assert!(a.content_type.starts_with("text/csv"));
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&a.data[..]);
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn status_lists_every_connection_with_safe_cells() {
    let w = World::new();
    let (summary, reply) = w.run("k1", "Hi,\nSTATUS\nThanks");
    assert!(summary.contains("STATUS (3 row(s))"), "{summary}");
    assert_eq!(reply.to, w.from);
    assert_eq!(reply.contractor, "demo");
    let rows = csv_rows(&reply);
    assert_eq!(
        rows[0],
        [
            "Subcontractor Email Address",
            "Subcontractor Name",
            "Contact Name",
            "Status",
            "Invited"
        ]
    );
    assert_eq!(rows.len(), 4);
    let eve = rows.iter().find(|r| r[0] == "eve@evil.test").unwrap();
    assert_eq!(eve[1], "'=cmd()");
    assert_eq!(eve[3], "pending");
    assert!(
        reply.detail.contains("pending 3, active 0"),
        "{}",
        reply.detail
    );
    assert!(!reply.detail.contains(HELP));
}

#[test]
fn status_filters_and_inactive_is_done() {
    let w = World::new();
    let (summary, reply) = w.run("k1", "inactive <dana@sparky.test>.\nstatus pending");
    assert_eq!(w.status_of("dana@sparky.test"), Status::Inactive);
    assert!(
        reply
            .detail
            .contains("> INACTIVE dana@sparky.test\n  done: Sparky Electric <dana@sparky.test>"),
        "{}",
        reply.detail
    );
    assert!(summary.contains("INACTIVE dana@sparky.test (done)"));
    // STATUS ran after INACTIVE: two pending rows left, both listed.
    let rows = csv_rows(&reply);
    let emails: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(emails, ["eve@evil.test", "sam@lee.test"]);
    assert!(rows[1..].iter().all(|r| r[3] == "pending"));
    assert!(reply.detail.contains("2 of 3 subcontractor(s) pending"));
    // The action's own confirmation went to the contractor's notify address.
    let confirmations = w
        .store
        .outbox_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == MessageKind::ActionConfirmation)
        .count();
    assert_eq!(confirmations, 1);
}

#[test]
fn delete_then_reimport_restores_pending() {
    let w = World::new();
    let (_, reply) = w.run("k1", "DELETE mailto:sam@lee.test");
    assert!(reply.detail.contains("done:"), "{}", reply.detail);
    assert_eq!(w.status_of("sam@lee.test"), Status::Deleted);
    let (_, status) = w.run("k2", "STATUS");
    assert_eq!(csv_rows(&status).len(), 3, "the deleted one is not listed");
    w.import("Subcontractor Name,Contact Name,Subcontractor Email Address\nLee Concrete,Sam Lee,sam@lee.test\n", NOW + 120);
    assert_eq!(w.status_of("sam@lee.test"), Status::Pending);
}

#[test]
fn a_refusal_does_not_stop_the_other_commands() {
    let w = World::new();
    // Dana accepted the invitation (written directly: no reply needed).
    let dana = EmailAddr::parse("dana@sparky.test").unwrap();
    w.store
        .transact(|tx| {
            let mut c = tx.connection("demo", &dana)?.unwrap();
            c.standing.status = Status::Active;
            tx.put_connection(&c)
        })
        .unwrap();
    let (summary, reply) = w.run(
        "k1",
        "REINVITE dana@sparky.test\nINACTIVE sam@lee.test\nREINVITE eve@evil.test",
    );
    assert!(
        reply.detail.contains(
            "> REINVITE dana@sparky.test\n  refused: already connected; nothing to re-invite"
        ),
        "{}",
        reply.detail
    );
    assert_eq!(w.status_of("dana@sparky.test"), Status::Active);
    assert_eq!(w.status_of("sam@lee.test"), Status::Inactive);
    assert!(
        summary.contains("REINVITE dana@sparky.test (refused)"),
        "{summary}"
    );
    assert!(
        summary.contains("REINVITE eve@evil.test (done)"),
        "{summary}"
    );
    assert_eq!(w.replies().len(), 1);
}

#[test]
fn unknown_and_invalid_commands_get_help() {
    let w = World::new();
    let (_, reply) = w.run("k1", "please send the list");
    assert!(reply
        .detail
        .contains("unknown command: please send the list"));
    assert!(reply.detail.contains(HELP));
    assert!(reply.attachment.is_none());

    let (_, reply) = w.run("k2", "DELETE\nSTATUS banana");
    assert!(reply
        .detail
        .contains("> DELETE\n  error: DELETE needs an email address"));
    assert!(reply
        .detail
        .contains("> STATUS banana\n  error: unknown status"));
    assert!(reply.detail.contains(HELP));

    let (_, reply) = w.run("k3", "help");
    assert!(reply.detail.contains(HELP));
    let gc = w.settings.contractor("demo").unwrap();
    execute(&w.store, &w.settings, gc, &w.from, &[], "k4", NOW).unwrap();
    let last = w.replies().pop().unwrap();
    assert!(last.detail.starts_with("No command was found"));
    assert!(last.detail.contains(HELP));
}

#[test]
fn template_is_attached_unless_status_takes_the_place() {
    let w = World::new();
    let (_, reply) = w.run("k1", "TEMPLATE");
    let a = reply.attachment.unwrap();
    assert_eq!(a.filename, TEMPLATE_NAME);
    assert!(a.content_type.starts_with("text/csv"));
    assert_eq!(a.data, template_csv().as_bytes());

    let (_, reply) = w.run("k2", "TEMPLATE\nSTATUS active");
    assert_eq!(csv_rows(&reply).len(), 1, "only the header: none active");
    assert!(reply
        .detail
        .contains("send TEMPLATE on its own to get template.csv"));
}

#[test]
fn exactly_one_answer_per_email_and_the_key_is_seen() {
    let w = World::new();
    let cmds = parse_commands("STATUS\nTEMPLATE\nINACTIVE dana@sparky.test\nHELP", None);
    assert_eq!(cmds.len(), 4);
    let gc = w.settings.contractor("demo").unwrap();
    let first = execute(&w.store, &w.settings, gc, &w.from, &cmds, "key-1", NOW).unwrap();
    assert!(first.ends_with("answer queued"), "{first}");
    assert_eq!(w.store.seen("key-1").unwrap().as_deref(), Some(&*first));
    // The same email again (redelivery) does nothing more.
    let again = execute(&w.store, &w.settings, gc, &w.from, &cmds, "key-1", NOW).unwrap();
    assert!(again.starts_with("already handled"), "{again}");
    assert_eq!(w.replies().len(), 1);
    assert_eq!(w.status_of("dana@sparky.test"), Status::Inactive);
    // The sub-key that recorded the action is gone once the answer is queued.
    assert_eq!(w.store.seen("key-1:2").unwrap(), None);
}

#[test]
fn an_action_done_before_a_crash_is_not_done_again() {
    let w = World::new();
    let gc = w.settings.contractor("demo").unwrap();
    // First run: the action commits, then (simulated crash) the answer is
    // lost: forget the key and drop the reply as if never queued.
    let cmds = vec![Command::Inactive("dana@sparky.test".into())];
    w.store
        .transact(|tx| {
            tx.mark_seen(
                "key-1:0",
                "done: Sparky Electric <dana@sparky.test> marked inactive (now inactive)",
            )
        })
        .unwrap();
    execute(&w.store, &w.settings, gc, &w.from, &cmds, "key-1", NOW).unwrap();
    let reply = w.replies().pop().unwrap();
    assert!(
        reply.detail.contains("done: Sparky Electric"),
        "{}",
        reply.detail
    );
    // The recorded result was reused: the connection was not touched.
    assert_eq!(w.status_of("dana@sparky.test"), Status::Pending);
}

#[test]
fn the_answer_composes_with_its_attachment() {
    use subinvite::outbox::compose::{compose, Context};
    use subinvite::outbox::templates::Templates;
    let w = World::new();
    let (_, reply) = w.run("k1", "STATUS\nINACTIVE nobody@x.test");
    let templates = Templates::builtin();
    let ctx = Context {
        mail: &w.settings.mail,
        contractor: w.settings.contractor("demo").unwrap(),
        connection: None,
        batch: None,
        templates: &templates,
    };
    let msg = compose(&reply, &ctx, NOW).unwrap();
    let text = String::from_utf8_lossy(&msg.formatted()).into_owned();
    assert!(text.contains("Subject: Re: your commands"), "{text}");
    assert!(text.contains("filename=\"status.csv\""), "{text}");
    assert!(text.contains("> INACTIVE nobody@x.test"), "{text}");
    assert!(text.contains("refused: no such connection"), "{text}");
}
