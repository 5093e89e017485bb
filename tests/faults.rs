//! Faults, each with a clear log line, no loss, and recovery once the fault
//! ends: SMTP answering 4xx or too slowly (Postfix's own smtp-sink), IMAP
//! connections dropped mid-backlog and the intake mailbox recreated under a
//! new UIDVALIDITY (the project's Dovecot), crashes at the IMAP crash
//! points, and the store's disk full or read-only (a small tmpfs).

#[cfg(not(feature = "failpoints"))]
compile_error!(
    "the fault tests need the crash points: build with `--features failpoints` (scripts/test does)"
);

mod common;
use common::mail::{self, list_message, stack, tag};
use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Postfix's smtp-sink on `port` with `args`; killed when dropped.
struct Sink(Child);

impl Sink {
    fn start(port: u16, args: &[&str]) -> Sink {
        // smtp-sink refuses to run as root without a user to become.
        let as_root = std::fs::read_to_string("/proc/self/status")
            .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")));
        let user: &[&str] = if as_root { &["-u", "nobody"] } else { &[] };
        let child = Command::new("smtp-sink")
            .args(user)
            .args(args)
            .arg(format!("127.0.0.1:{port}"))
            .arg("64")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink (from the postfix package) must be installed");
        wait_for(10, "smtp-sink listening", || {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        });
        Sink(child)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn smtp_config(port: u16, timeout_secs: u32) -> String {
    mail::smtp_config(
        &format!(
            "host = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\ntimeout-secs = {timeout_secs}"
        ),
        "gc1@example.test",
    )
}

/// Message-ID → copies, over the files smtp-sink dumped into `dir`.
fn dumped(dir: &Path) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for p in files(dir, "") {
        let raw = String::from_utf8_lossy(&std::fs::read(&p).expect("read dump")).into_owned();
        if let Some(id) = raw
            .lines()
            .find_map(|l| l.strip_prefix("Message-ID: ").map(str::to_owned))
        {
            *ids.entry(id).or_insert(0) += 1;
        }
    }
    ids
}

/// A fault on the SMTP side for a while, then a healthy sink on the same
/// port (with the fault's `-p`, if any: no PIPELINING on offer): every
/// message arrives, once.
fn smtp_fault_then_recovery(fault: &[&str], timeout_secs: u32, log_says: &str) {
    let port = free_port();
    let home = Home::with_config(&smtp_config(port, timeout_secs));
    let sick = Sink::start(port, fault);
    let mut d = home.daemon();
    home.drop_file("demo", "subs.csv", csv_list(20, "subs.test").as_bytes());
    wait_for(60, "three failed rounds", || {
        (d.log_text().matches(log_says).count() >= 3).then_some(())
    });
    drop(sick);
    let no_pipelining: Vec<&str> = fault.iter().copied().filter(|a| *a == "-p").collect();
    let (_healthy, dump) = dumping_sink(&home, port, &no_pipelining);
    wait_for(90, "all 21 messages delivered after the fault", || {
        (dumped(&dump).len() == 21).then_some(())
    });
    d.stop();
    let ids = dumped(&dump);
    let doubled: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "sent twice: {doubled:?}");
    all_sent_and_consistent(&home);
}

/// A healthy smtp-sink on `port` that dumps each message it takes into
/// `<home>/dump`.
fn dumping_sink(home: &Home, port: u16, args: &[&str]) -> (Sink, PathBuf) {
    // smtp-sink writes as nobody: let it reach its dump folder.
    let dump = home.path().join("dump");
    std::fs::create_dir_all(&dump).expect("dump dir");
    use std::os::unix::fs::PermissionsExt;
    for (p, mode) in [(home.path(), 0o755), (dump.as_path(), 0o777)] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
    let template = format!("{}/%H%M%S.", dump.display());
    let mut all = vec!["-d", template.as_str()];
    all.extend_from_slice(args);
    (Sink::start(port, &all), dump)
}

fn all_sent_and_consistent(home: &Home) {
    home.verified();
    let unsent = home.json(&["outbox", "list", "--unsent", "--format", "json"]);
    assert_eq!(unsent, serde_json::json!([]), "nothing left unsent");
}

/// Runs the daemon with `FAILPOINTS=<point>=<skip>*off->return` until it
/// aborts there.
fn abort_at(home: &Home, point: &str, skip: usize) {
    let log = std::fs::File::create(home.path().join("crash.log")).expect("log");
    let mut child = Command::new(BIN)
        .arg("run")
        .current_dir(home.path())
        .env("FAILPOINTS", format!("{point}={skip}*off->return"))
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .expect("run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let log = std::fs::read_to_string(home.path().join("crash.log")).unwrap_or_default();
            panic!("crash point {point} never reached; log:\n{log}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(6), "aborted at {point}");
}

#[test]
fn crashes_between_smtp_accepting_and_recording_resend_only_what_was_in_flight() {
    let port = free_port();
    let home = Home::with_config(&smtp_config(port, 5));
    let (_sink, dump) = dumping_sink(&home, port, &[]);
    home.drop_file("demo", "subs.csv", csv_list(40, "subs.test").as_bytes());
    // Accepted by SMTP, not yet recorded; then just after a group commit.
    let crashes = [
        ("outbox.sent", 3),
        ("outbox.recorded", 1),
        ("outbox.sent", 0),
    ];
    for (point, skip) in crashes {
        abort_at(&home, point, skip);
    }
    let mut d = home.daemon();
    wait_for(60, "all 41 messages delivered after the crashes", || {
        (dumped(&dump).len() == 41).then_some(())
    });
    d.stop();
    let doubled: usize = dumped(&dump).values().map(|n| n - 1).sum();
    eprintln!("41 emails, {doubled} sent twice (in flight at a crash)");
    // At most a group in flight (outbox.concurrency, 8 by default) and as
    // many awaiting their group commit, per crash.
    assert!(doubled <= crashes.len() * 16, "{doubled} sent twice");
    all_sent_and_consistent(&home);
}

#[test]
fn smtp_answering_4xx_then_recovering_delivers_everything_once() {
    smtp_fault_then_recovery(&["-r", "RCPT"], 5, "temporary failure");
}

#[test]
fn smtp_without_pipelining_answering_4xx_then_recovering_delivers_everything_once() {
    smtp_fault_then_recovery(&["-p", "-r", "RCPT"], 5, "temporary failure");
}

#[test]
fn smtp_too_slow_times_out_then_delivers_everything_once() {
    // smtp-sink waits 10 s before answering DATA; we give up after 1 s.
    smtp_fault_then_recovery(&["-w", "10"], 1, "temporary failure");
}

/// Drops every IMAP connection of `user`; says whether there was one.
fn kick(user: &str) -> bool {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mailstack");
    let out = Command::new(script)
        .args(["doveadm", "kick"])
        .arg(format!("{user}@example.test"))
        .output()
        .expect("scripts/mailstack doveadm kick");
    // doveadm exits 68 when the user has no connection to drop.
    assert!(
        out.status.success() || out.status.code() == Some(68),
        "doveadm kick {user}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.status.success()
}

fn imap_session(port: u16, user: &str) -> imap::Session<imap::Connection> {
    imap::ClientBuilder::new("127.0.0.1", port)
        .mode(imap::ConnectionMode::Plaintext)
        .connect()
        .expect("IMAP connect")
        .login(format!("{user}@example.test"), "secret")
        .map_err(|(e, _)| e)
        .expect("IMAP login")
}

/// Appends `n` one-row lists from gc1, numbered from `from`, to `mailbox`.
fn append_lists(port: u16, user: &str, mailbox: &str, t: &str, from: usize, n: usize) {
    let mut s = imap_session(port, user);
    for i in from..from + n {
        let raw = list_message("gc1@example.test", &format!("{user}@example.test"), t, i);
        s.append(mailbox, raw.as_bytes()).finish().expect("APPEND");
    }
    let _ = s.logout();
}

fn messages_in(port: u16, user: &str, mailbox: &str) -> u32 {
    let mut s = imap_session(port, user);
    let n = s.examine(mailbox).expect("EXAMINE").exists;
    let _ = s.logout();
    n
}

fn imap_config(port: u16, user: &str) -> String {
    format!(
        r#"
[paths]
state-dir = "var"
[mail]
domain = "example.test"
[intake]
maildir = false
[[intake.imap]]
host = "127.0.0.1"
port = {port}
tls = "none"
username = "{user}@example.test"
password-env = "MAILSTACK_PASSWORD"
mailbox = "Intake"
idle-secs = 1
[contractors.demo]
name = "Demo Builders"
notify = "gc1@example.test"
senders = ["gc1@example.test"]
"#
    )
}

/// A fresh, empty `Intake` mailbox for `user` (a new UIDVALIDITY).
fn fresh_intake(user: &str) {
    let mut s = imap_session(stack().imap_port, user);
    let _ = s.delete("Intake");
    let _ = s.delete("Processed");
    s.create("Intake").expect("CREATE Intake");
    let _ = s.logout();
}

fn imported_once_each(home: &Home, n: usize) {
    assert_eq!(home.count("demo"), n, "every list imported");
    let outbox = home.json(&["outbox", "list", "--format", "json"]);
    let invites = outbox
        .as_array()
        .expect("array")
        .iter()
        .filter(|e| e["kind"] == "invite_new")
        .count();
    assert_eq!(invites, n, "each list imported once: one invite each");
    home.verified();
}

#[test]
fn imap_crash_points_then_a_restart_handle_each_message_once() {
    let s = stack();
    let (user, t) = ("sub21", tag("imapcrash"));
    fresh_intake(user);
    let home = Home::with_config(&imap_config(s.imap_port, user));
    append_lists(s.imap_port, user, "Intake", &t, 0, 12);
    for (point, skip) in [
        ("imap.committed", 2),
        ("imap.moved", 3),
        ("imap.committed", 0),
    ] {
        abort_at(&home, point, skip);
    }
    let mut d = home.daemon();
    wait_for(60, "the Intake mailbox emptied", || {
        (messages_in(s.imap_port, user, "Intake") == 0).then_some(())
    });
    d.stop();
    imported_once_each(&home, 12);
}

#[test]
fn imap_dropped_mid_backlog_and_a_new_uidvalidity_lose_nothing() {
    let s = stack();
    let (user, t) = ("sub22", tag("imapdrop"));
    fresh_intake(user);
    let home = Home::with_config(&imap_config(s.imap_port, user));
    append_lists(s.imap_port, user, "Intake", &t, 0, 30);
    let mut d = home.daemon();
    let lines = |d: &Daemon, what: &str| d.log_text().matches(what).count();
    let (ready, lost) = ("IMAP reader ready", "IMAP connection lost; reconnecting");
    // Drop the daemon's connection each time it is connected and has made
    // progress; each drop must show in the log before the next.
    let (mut kicks, mut left) = (0, 30);
    while kicks < 5 {
        left = wait_for(60, "progress after a reconnect", || {
            let now = messages_in(s.imap_port, user, "Intake");
            (now < left).then_some(now)
        });
        if left == 0 {
            break;
        }
        // Connected: more sessions have started than have been lost.
        wait_for(30, "the daemon connected again", || {
            (lines(&d, ready) > lines(&d, lost)).then_some(())
        });
        assert!(kick(user), "the daemon's connection is there to drop");
        kicks += 1;
        wait_for(30, "a clear log line for the drop", || {
            (lines(&d, lost) >= kicks).then_some(())
        });
    }
    wait_for(60, "the backlog handled", || {
        (messages_in(s.imap_port, user, "Intake") == 0).then_some(())
    });
    d.stop();
    assert!(
        kicks >= 2,
        "the connection was dropped mid-backlog ({kicks} kicks)"
    );
    imported_once_each(&home, 30);

    // The mailbox is recreated: UIDs start again at 1 under a new
    // UIDVALIDITY, below the checkpoint; none of them may be skipped.
    fresh_intake(user);
    append_lists(s.imap_port, user, "Intake", &t, 30, 5);
    let mut d = home.daemon();
    wait_for(60, "the new mailbox read from its first UID", || {
        (messages_in(s.imap_port, user, "Intake") == 0).then_some(())
    });
    d.stop();
    assert!(
        d.log_text().contains("UIDVALIDITY changed"),
        "{}",
        d.log_text()
    );
    imported_once_each(&home, 35);
}

/// A small tmpfs mounted over `dir`; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).expect("mount point");
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(
            st.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs(dir.to_owned())
    }

    fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .expect("remount");
        assert!(st.success(), "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Waits for the daemon to exit by itself; returns its exit code.
fn exits(d: &mut Daemon, what: &str) -> Option<i32> {
    let pid = d.pid();
    wait_for(60, what, || {
        (!Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z ")))
        .then_some(())
    });
    d.wait()
}

#[test]
fn a_full_then_read_only_store_disk_stops_cleanly_and_loses_nothing() {
    let home = Home::new();
    let disk = Tmpfs::mount(&home.var("store"), "3m");
    let mut d = home.daemon();
    home.drop_file("demo", "big.csv", csv_list(3000, "subs.test").as_bytes());
    let code = exits(&mut d, "the daemon to stop on a full disk");
    assert_ne!(code, Some(0), "a failed store is a failure exit");
    let log = d.log_text();
    assert!(log.contains("No space left on device"), "{log}");
    assert!(log.contains("the store cannot write"), "{log}");
    assert!(
        home.var("drop").join("demo").join("big.csv").exists(),
        "the list is not acknowledged"
    );

    // Space again: the restart imports the list, whole, once.
    disk.remount("size=256m");
    let mut d = home.daemon();
    wait_for(120, "the list archived", || {
        (files(&home.var("archive").join("demo"), "big.csv").len() == 1).then_some(())
    });
    d.stop();
    assert_eq!(home.count("demo"), 3000);
    home.verified();

    // Read-only: the daemon says so and stops; the dropped list waits.
    disk.remount("ro");
    let mut d = home.daemon();
    home.drop_file("demo", "more.csv", csv_list(3, "more.test").as_bytes());
    let code = exits(&mut d, "the daemon to stop on a read-only store");
    assert_ne!(code, Some(0));
    assert!(
        d.log_text().contains("Read-only file system"),
        "{}",
        d.log_text()
    );
    assert!(home.var("drop").join("demo").join("more.csv").exists());
    disk.remount("rw");
    let mut d = home.daemon();
    wait_for(60, "the second list archived", || {
        (files(&home.var("archive").join("demo"), "more.csv").len() == 1).then_some(())
    });
    d.stop();
    assert_eq!(home.count("demo"), 3003);
    home.verified();
}
