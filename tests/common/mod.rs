//! Shared helpers for the integration tests: a temporary home with a config
//! file, the real `subinvite` binary, and waiting on conditions (never on
//! fixed sleeps).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_subinvite");

/// A temporary working directory with a `subinvite.toml`.
pub struct Home {
    pub dir: tempfile::TempDir,
}

pub const CONFIG: &str = r#"
[paths]
state-dir = "var"

[mail]
domain = "example.test"

[drop-folder]
settle-ms = 150

[outbox]
retry-base-secs = 1

[contractors.demo]
name = "Demo Builders"
notify = "gc1@example.test"
senders = ["gc1@example.test"]

[contractors.acme]
name = "Acme Construction"
notify = "gc2@example.test"
senders = ["acme.example.test"]
"#;

impl Home {
    pub fn new() -> Home {
        Self::with_config(CONFIG)
    }

    pub fn with_config(config: &str) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("subinvite.toml"), config).expect("write config");
        Home { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn var(&self, sub: &str) -> PathBuf {
        self.dir.path().join("var").join(sub)
    }

    /// Runs the binary to completion in this home.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env_remove("SUBINVITE_NOW")
            .output()
            .expect("run subinvite")
    }

    /// Runs and asserts the exit code; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.expect(args, 0)
    }

    pub fn expect(&self, args: &[&str], code: i32) -> String {
        let o = self.run(args);
        assert_eq!(
            o.status.code(),
            Some(code),
            "subinvite {args:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.ok(args);
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}):\n{out}"))
    }

    /// `subinvite verify --json`, asserted to find no problem: every state
    /// change has its outbox message and every record its counterpart.
    pub fn verified(&self) -> serde_json::Value {
        let verify = self.json(&["verify", "--json"]);
        assert_eq!(verify["problems"], serde_json::json!([]), "{verify:#}");
        verify
    }

    /// Starts the daemon; stopped (SIGTERM, then wait) when dropped.
    pub fn daemon(&self) -> Daemon {
        self.start_daemon(None)
    }

    /// Starts the daemon with its clock pinned at `now` (Unix seconds).
    pub fn daemon_at(&self, now: i64) -> Daemon {
        self.start_daemon(Some(now))
    }

    fn start_daemon(&self, now: Option<i64>) -> Daemon {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path().join("daemon.log"))
            .expect("log file");
        let mut cmd = Command::new(BIN);
        match now {
            Some(t) => cmd.env("SUBINVITE_NOW", t.to_string()),
            None => cmd.env_remove("SUBINVITE_NOW"),
        };
        let child = cmd
            .arg("run")
            .current_dir(self.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start daemon");
        Daemon {
            child: Some(child),
            log: self.path().join("daemon.log"),
        }
    }

    /// Copies a file into `drop/<folder>/` atomically (write elsewhere, rename in).
    pub fn drop_file(&self, folder: &str, name: &str, content: &[u8]) -> PathBuf {
        let dir = self.var("drop").join(folder);
        std::fs::create_dir_all(&dir).expect("drop dir");
        let tmp = self.path().join(format!(".{name}.incoming"));
        std::fs::write(&tmp, content).expect("write");
        let dest = dir.join(name);
        std::fs::rename(&tmp, &dest).expect("rename into drop");
        dest
    }
}

pub struct Daemon {
    child: Option<Child>,
    pub log: PathBuf,
}

impl Daemon {
    /// SIGTERM and wait; returns the exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("daemon did not stop on SIGTERM; log:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// Waits for the daemon to exit by itself (after a signal sent elsewhere).
    pub fn wait(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        child.wait().ok().and_then(|s| s.code())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `cond` until it holds or `secs` pass; panics with `what` on timeout.
/// `config` with contractor `gc1@example.test`'s lists and commands taken
/// only with a DMARC pass from the trusted `mx.example.test`.
pub fn authentication_required(config: &str) -> String {
    let out = config
        .replace(
            "[mail]\ndomain = \"example.test\"",
            "[mail]\ndomain = \"example.test\"\ntrusted-authserv-id = \"mx.example.test\"",
        )
        .replace(
            "senders = [\"gc1@example.test\"]",
            "senders = [\"gc1@example.test\"]\nrequire-authentication = true",
        );
    assert!(
        out.contains("require-authentication"),
        "a config with gc1's senders"
    );
    out
}

pub fn wait_for<T>(secs: u64, what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Files in `dir` whose names end with `suffix`, sorted.
pub fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A CSV list of `n` rows, addresses `sub<i>@<domain>`.
pub fn csv_list(n: usize, domain: &str) -> String {
    let mut s = String::from("Subcontractor Name,Contact Name,Subcontractor Email Address\n");
    for i in 1..=n {
        s.push_str(&format!("Company {i},Contact {i},sub{i}@{domain}\n"));
    }
    s
}

/// Unfolded value of header `name` in a raw email.
pub fn header(eml: &str, name: &str) -> Option<String> {
    let head = eml.split("\r\n\r\n").next().unwrap_or(eml);
    let mut out: Option<String> = None;
    let mut current = false;
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if current {
                if let Some(v) = out.as_mut() {
                    v.push_str(line.trim_start());
                    v.insert(v.len() - line.trim_start().len(), ' ');
                }
            }
            continue;
        }
        current = false;
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case(name) && out.is_none() {
                out = Some(v.trim().to_owned());
                current = true;
            }
        }
    }
    out
}

pub mod mail;

/// The decoded text and HTML bodies of a raw email, joined.
pub fn bodies(raw: &str) -> String {
    let msg = mail_parser::MessageParser::default()
        .parse(raw.as_bytes())
        .expect("parse email");
    let mut out = String::new();
    for i in 0..msg.text_body_count() {
        out.push_str(&msg.body_text(i).unwrap_or_default());
        out.push('\n');
    }
    for i in 0..msg.html_body_count() {
        out.push_str(&msg.body_html(i).unwrap_or_default());
        out.push('\n');
    }
    out
}

impl Home {
    /// Runs the binary with the clock pinned at `now` (Unix seconds).
    pub fn at(&self, now: i64, args: &[&str]) -> String {
        let o = Command::new(BIN)
            .args(args)
            .current_dir(self.path())
            .env("SUBINVITE_NOW", now.to_string())
            .output()
            .expect("run subinvite");
        assert!(
            o.status.success(),
            "subinvite {args:?} at {now}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Home {
    /// Every listed connection of `contractor`: email → status.
    pub fn statuses(&self, contractor: &str) -> std::collections::BTreeMap<String, String> {
        self.json(&["list", "--contractor", contractor, "--format", "json"])
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|c| {
                (
                    c["email"].as_str().unwrap_or_default().to_owned(),
                    c["status"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }
}

impl Home {
    /// How many connections of `contractor` are listed.
    pub fn count(&self, contractor: &str) -> usize {
        self.statuses(contractor).len()
    }

    /// The short references (first 8 token characters) of `contractor`'s connections.
    pub fn references(&self, contractor: &str) -> std::collections::BTreeSet<String> {
        self.json(&["list", "--contractor", contractor, "--format", "json"])
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|c| c["reference"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// The invite token in a message's `Reply-To: <local>+<token>@example.test`.
pub fn reply_token(mail: &str, local: &str) -> String {
    let reply_to = header(mail, "Reply-To").expect("Reply-To");
    reply_to
        .trim_matches(|c| c == '<' || c == '>')
        .strip_prefix(&format!("{local}+"))
        .and_then(|r| r.strip_suffix("@example.test"))
        .unwrap_or_else(|| panic!("Reply-To {reply_to}"))
        .to_owned()
}
