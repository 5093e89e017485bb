//! The systemd unit: `systemd-analyze verify` accepts it (with ExecStart
//! pointed at the built binary) and `systemd-analyze security` rates its
//! exposure 2.0 or lower. The daemon's side of Type=notify (READY, STOPPING,
//! WATCHDOG) is exercised with a real notify socket.

mod common;
use std::os::unix::net::UnixDatagram;
use std::process::Command;

const UNIT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/subinvite.service");

fn analyze(args: &[&str]) -> std::process::Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze is needed (Debian package systemd); .ci/run installs it")
}

#[test]
fn the_unit_verifies_and_is_hardened() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(UNIT)
        .unwrap()
        .replace("/usr/local/bin/subinvite", common::BIN);
    let path = dir.path().join("subinvite.service");
    std::fs::write(&path, unit).unwrap();
    let v = analyze(&["verify", path.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&v.stderr);
    assert!(
        v.status.success() && !err.contains("subinvite.service:"),
        "verify: {err}"
    );
    let s = analyze(&["security", "--offline=true", path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&s.stdout);
    let level: f64 = out
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for subinvite.service:")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{out}"));
    assert!(level <= 2.0, "exposure {level} > 2.0:\n{out}");
}

#[test]
fn the_daemon_notifies_ready_watchdog_and_stopping() {
    let home = common::Home::new();
    let sock = home.path().join("notify.sock");
    let listener = UnixDatagram::bind(&sock).unwrap();
    listener
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    // As systemd does, WATCHDOG_PID names the daemon's own pid: the shell's,
    // which `exec` hands to the daemon.
    let child = Command::new("sh")
        .arg("-c")
        .arg(format!("WATCHDOG_PID=$$ exec {} run", common::BIN))
        .current_dir(home.path())
        .env("NOTIFY_SOCKET", &sock)
        .env("WATCHDOG_USEC", "400000")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = child.id();
    let mut child = Reap(child);
    let mut seen = Vec::new();
    let mut buf = [0u8; 512];
    while !(seen.iter().any(|m: &String| m.contains("READY=1"))
        && seen.iter().any(|m| m.contains("WATCHDOG=1")))
    {
        let n = listener.recv(&mut buf).expect("a notification within 20 s");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    loop {
        let n = listener.recv(&mut buf).expect("STOPPING=1 within 20 s");
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            break;
        }
    }
    assert!(child.0.wait().unwrap().success());
}
