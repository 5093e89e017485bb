//! Crashes on the embedded default (drop folder, Maildir, file transport):
//! the real daemon is aborted at each crash point between taking an input
//! and acknowledging it, and between handing a message over and recording
//! it (`src/crash.rs`), and killed with SIGKILL at random moments. After each
//! restart: every list, file and reply handled exactly once, nothing
//! imported twice, no message lost, a message sent twice only if it was in
//! flight, and `subinvite verify` finds the store consistent.

#[cfg(not(feature = "failpoints"))]
compile_error!(
    "the crash tests need the crash points: build with `--features failpoints` (scripts/test does)"
);

mod common;
use common::*;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const LISTS: [(&str, &str, usize); 3] = [
    ("demo", "a.csv", 30),
    ("demo", "b.csv", 30),
    ("acme", "c.csv", 600),
];
const BASE: usize = 6;
const COMMANDS: usize = 2;
/// How many emails a crash may leave sent but unrecorded: up to
/// `outbox.concurrency` (8) in flight plus as many awaiting their group
/// commit.
const IN_FLIGHT: usize = 16;

fn config() -> String {
    CONFIG.replace(
        "[drop-folder]",
        "[import]\nrows-per-transaction = 250\n\n[drop-folder]",
    )
}

/// A list of `n` rows with addresses `<prefix><i>@subs.test`.
fn list(prefix: &str, n: usize) -> String {
    let mut s = String::from("Subcontractor Name,Contact Name,Subcontractor Email Address\n");
    for i in 1..=n {
        s.push_str(&format!(
            "{prefix} Co {i},Contact {i},{prefix}{i}@subs.test\n"
        ));
    }
    s
}

fn eml(id: &str, from: &str, to: &str, extra: &str, body: &str) -> String {
    format!(
        "Message-ID: <{id}@client.test>\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nFrom: {from}\r\n\
         To: {to}\r\nSubject: Re: your invitation\r\nMIME-Version: 1.0\r\n{extra}\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
}

/// Delivers `raw` into the Maildir as a mail server would (tmp/, then new/).
fn deliver(home: &Home, name: &str, raw: &str) {
    let inbox = home.var("inbox");
    for d in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(inbox.join(d)).expect("maildir");
    }
    let tmp = inbox.join("tmp").join(name);
    std::fs::write(&tmp, raw).expect("write message");
    std::fs::rename(&tmp, inbox.join("new").join(name)).expect("deliver");
}

/// Message-ID → how many `.eml` files carry it.
fn sent_ids(home: &Home) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for p in files(&home.var("sent"), ".eml") {
        let raw = std::fs::read_to_string(&p).expect("read sent");
        let id = header(&raw, "Message-ID").expect("Message-ID");
        *ids.entry(id).or_insert(0) += 1;
    }
    ids
}

/// The workload: a base list imported and its invites sent (by the CLI),
/// then, waiting for the daemon, three good lists and a bad one in the drop
/// folder, and in the Maildir an accept, a decline and an unclear reply to
/// base invites, a duplicate copy of one of them, and two STATUS commands.
fn prepare() -> Home {
    let home = Home::with_config(&config());
    std::fs::write(home.path().join("base.csv"), list("base", BASE)).expect("base list");
    home.ok(&["import", "base.csv", "--contractor", "demo"]);
    home.ok(&["outbox", "send"]);
    let ids = sent_ids(&home);
    let token = |n: usize| -> String {
        let raw = files(&home.var("sent"), ".eml")
            .iter()
            .map(|p| std::fs::read_to_string(p).expect("read"))
            .find(|m| header(m, "To").is_some_and(|t| t.contains(&format!("base{n}@"))))
            .expect("base invite");
        reply_token(&raw, "invites")
    };
    assert_eq!(ids.len(), BASE + 1, "base invites and report sent");
    let (t1, t2, t3) = (token(1), token(2), token(3));
    for (gc, name, n) in LISTS {
        home.drop_file(gc, name, list(&name[..1], n).as_bytes());
    }
    home.drop_file(
        "demo",
        "bad.csv",
        b"Subcontractor Name,Subcontractor Email Address\nGood Co,good@subs.test\nBad Co,not-an-address\n",
    );
    let yes = eml(
        "r1",
        "base1@subs.test",
        &format!("invites+{t1}-yes@example.test"),
        "",
        "",
    );
    deliver(&home, "1.m", &yes);
    deliver(&home, "1b.m", &yes);
    deliver(
        &home,
        "2.m",
        &eml(
            "r2",
            "base2@subs.test",
            &format!("invites+{t2}@example.test"),
            "",
            "No thanks, not interested.",
        ),
    );
    deliver(
        &home,
        "3.m",
        &eml(
            "r3",
            "base3@subs.test",
            &format!("invites+{t3}@example.test"),
            "",
            "Who are you?",
        ),
    );
    for i in 0..COMMANDS {
        deliver(
            &home,
            &format!("c{i}.m"),
            &eml(
                &format!("cmd{i}"),
                "gc1@example.test",
                "invites@example.test",
                "",
                "STATUS",
            ),
        );
    }
    home
}

/// Starts the daemon with `FAILPOINTS` set.
fn start(home: &Home, failpoints: &str) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(home.path().join("daemon.log"))
        .expect("log");
    Command::new(BIN)
        .arg("run")
        .current_dir(home.path())
        .env("RUST_LOG", "info")
        .env("FAILPOINTS", failpoints)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start daemon")
}

/// Runs the daemon until it aborts at `point` (after `skip` passes).
fn crash_at(home: &Home, point: &str, skip: usize) {
    let spec = if skip == 0 {
        format!("{point}=return")
    } else {
        format!("{point}={skip}*off->return")
    };
    let mut child = start(home, &spec);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "crash point {spec} never reached; log:\n{}",
                std::fs::read_to_string(home.path().join("daemon.log")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(6),
        "aborted at {spec}, not {status:?}"
    );
}

/// Every input taken: the drop folders and the Maildir's `new/` are empty.
fn inputs_taken(home: &Home) -> bool {
    let drop_empty = ["demo", "acme"]
        .iter()
        .all(|gc| files(&home.var("drop").join(gc), ".csv").is_empty());
    drop_empty && files(&home.var("inbox").join("new"), "").is_empty()
}

/// Restarts normally until every input is taken, stops, sends what is left,
/// and checks the promises. `in_flight` is how many messages may have been
/// sent twice (those handed over but not yet recorded at the crash).
fn settle_and_check(home: &Home, in_flight: usize) {
    let mut d = home.daemon();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !inputs_taken(home) {
        if Instant::now() > deadline {
            let mut left = files(&home.var("inbox").join("new"), "");
            for gc in ["demo", "acme"] {
                left.extend(files(&home.var("drop").join(gc), ""));
            }
            let log = d.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            panic!(
                "inputs not taken after the restart: {left:?}\nlog (last lines, newest first):\n{}",
                tail.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    d.stop();
    home.ok(&["outbox", "send"]);

    let verify = home.verified();
    // Nothing imported twice: one batch per list, the bad one included.
    assert_eq!(verify["batches"], 1 + LISTS.len() + 1, "{verify:#}");
    let demo = home.statuses("demo");
    assert_eq!(demo.len(), BASE + 60, "demo connections");
    assert_eq!(home.count("acme"), 600, "acme connections");
    assert!(
        !demo.contains_key("good@subs.test"),
        "the bad list imported nothing"
    );
    assert_eq!(demo["base1@subs.test"], "active");
    assert_eq!(demo["base2@subs.test"], "declined");
    assert_eq!(demo["base3@subs.test"], "pending");
    for (gc, name, _) in LISTS {
        assert_eq!(
            files(&home.var("archive").join(gc), name).len(),
            1,
            "{name} archived once"
        );
    }
    assert_eq!(
        files(&home.var("rejected").join("demo"), "bad.csv").len(),
        1
    );
    // Every reply and command taken once (the duplicate copy too).
    assert_eq!(
        files(&home.var("inbox").join("cur"), "").len(),
        4 + COMMANDS
    );
    let outbox = home.json(&["outbox", "list", "--format", "json"]);
    let entries = outbox.as_array().expect("outbox array");
    let of = |kind: &str| entries.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(
        of("command_reply"),
        COMMANDS,
        "one answer per command email"
    );
    assert_eq!(of("ask_yes_no"), 1, "the unclear reply asked about once");
    assert_eq!(of("ack_subcontractor"), 2, "one ack per answer");
    // No message lost: every entry was sent, and each has its file.
    let unsent: Vec<_> = entries
        .iter()
        .filter(|e| !e["state"].as_str().unwrap_or_default().starts_with("sent"))
        .collect();
    assert!(unsent.is_empty(), "unsent: {unsent:#?}");
    let ids = sent_ids(home);
    assert_eq!(
        ids.len(),
        entries.len(),
        "one distinct email per outbox entry"
    );
    let doubled: usize = ids.values().map(|n| n - 1).sum();
    eprintln!(
        "{} emails, {doubled} sent twice (in flight at a crash)",
        ids.len()
    );
    assert!(
        doubled <= in_flight,
        "{doubled} emails sent twice, {in_flight} allowed: {:?}",
        ids.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
}

fn crash_then_check(point: &str, skips: &[usize], in_flight: usize) {
    for &skip in skips {
        let home = prepare();
        crash_at(&home, point, skip);
        settle_and_check(&home, in_flight);
    }
}

#[test]
fn crash_after_a_dropped_list_commits_before_its_move() {
    crash_then_check("drop.committed", &[0, 2], IN_FLIGHT);
}

#[test]
fn crash_after_the_reports_are_written_before_the_move() {
    crash_then_check("drop.reported", &[1, 3], IN_FLIGHT);
}

#[test]
fn crash_between_the_transactions_of_a_long_list() {
    crash_then_check("import.applied", &[0, 1], IN_FLIGHT);
}

#[test]
fn crash_after_a_long_list_is_finished_and_its_spooled_copy_removed() {
    crash_then_check("import.finished", &[0], IN_FLIGHT);
}

#[test]
fn crash_after_a_message_commits_before_it_leaves_new() {
    crash_then_check("maildir.committed", &[0, 4], IN_FLIGHT);
}

#[test]
fn crash_after_handing_an_email_over_before_recording_it() {
    crash_then_check("outbox.sent", &[0, 30], IN_FLIGHT);
}

#[test]
fn crash_after_recording_a_group_of_sent_emails() {
    crash_then_check("outbox.recorded", &[0, 5], IN_FLIGHT);
}

/// A small xorshift generator: the kill moments, reproducible from the seed
/// printed on failure.
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, max: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % max
    }
}

#[test]
fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let iterations: usize = std::env::var("SUBINVITE_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let seed = std::env::var("SUBINVITE_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64 | 1)
                .unwrap_or(1)
        });
    eprintln!("SUBINVITE_CRASH_SEED={seed}");
    let mut moments = Moments(seed);
    for i in 0..iterations {
        let home = prepare();
        // Three kills at random moments in each run, then a clean finish.
        for _ in 0..3 {
            let mut child = start(&home, "");
            std::thread::sleep(Duration::from_millis(100 + moments.next_ms(1500)));
            let _ = child.kill();
            let _ = child.wait();
        }
        eprintln!("iteration {i}: killed 3 times");
        settle_and_check(&home, 3 * IN_FLIGHT);
    }
}
