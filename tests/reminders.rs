//! Reminders with the clock moved forward (`SUBINVITE_NOW`): the right
//! reminders on the right days, expiry after the last one, none to inactive
//! or deleted connections, passes that are idempotent, and a pass killed in
//! the middle that, run again, sends every reminder exactly once.

#[cfg(not(feature = "failpoints"))]
compile_error!(
    "the reminder tests need the crash points: build with `--features failpoints` (scripts/test does)"
);

mod common;
use common::*;

const T0: i64 = 1_800_000_000;
const DAY: i64 = 86_400;

fn remind(home: &Home, at: i64) -> serde_json::Value {
    serde_json::from_str(&home.at(at, &["remind", "--json"])).unwrap()
}

fn count(v: &serde_json::Value, what: &str) -> usize {
    v[what].as_array().unwrap().len()
}

fn outbox_kinds(home: &Home, kind: &str) -> usize {
    home.json(&["outbox", "list", "--format", "json"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .count()
}

#[test]
fn cadence_expiry_and_no_reminders_for_inactive_or_deleted() {
    let home = Home::new();
    std::fs::write(home.path().join("l.csv"), csv_list(5, "example.test")).unwrap();
    home.at(T0, &["import", "l.csv", "--contractor", "demo"]);
    home.at(
        T0,
        &["deactivate", "--contractor", "demo", "sub2@example.test"],
    );
    home.at(T0, &["delete", "--contractor", "demo", "sub3@example.test"]);

    assert_eq!(
        count(&remind(&home, T0 + DAY), "reminded"),
        0,
        "nothing before day 3"
    );
    let dry: serde_json::Value =
        serde_json::from_str(&home.at(T0 + 3 * DAY, &["remind", "--dry-run", "--json"])).unwrap();
    assert_eq!(count(&dry, "reminded"), 3);
    assert_eq!(
        outbox_kinds(&home, "reminder"),
        0,
        "a dry run changes nothing"
    );
    let first = remind(&home, T0 + 3 * DAY);
    let mut who: Vec<&str> = first["reminded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    who.sort();
    assert_eq!(
        who,
        [
            "demo sub1@example.test",
            "demo sub4@example.test",
            "demo sub5@example.test"
        ]
    );
    assert_eq!(
        count(&remind(&home, T0 + 3 * DAY), "reminded"),
        0,
        "a second pass the same day sends nothing"
    );
    assert_eq!(count(&remind(&home, T0 + 5 * DAY), "reminded"), 0);
    assert_eq!(
        count(&remind(&home, T0 + 7 * DAY), "reminded"),
        3,
        "second reminder 4 days later"
    );
    assert_eq!(
        count(&remind(&home, T0 + 10 * DAY), "reminded"),
        0,
        "at most two reminders"
    );
    let last = remind(&home, T0 + 14 * DAY);
    assert_eq!(
        count(&last, "expired"),
        3,
        "expired 7 days after the last reminder"
    );
    assert_eq!(outbox_kinds(&home, "reminder"), 6);
    let list = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    let status = |e: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|c| c["email"] == e)
            .map(|c| c["status"].as_str().unwrap().to_owned())
    };
    assert_eq!(status("sub1@example.test").as_deref(), Some("expired"));
    assert_eq!(status("sub2@example.test").as_deref(), Some("inactive"));
    assert_eq!(status("sub3@example.test"), None, "deleted");
    // Reactivated, the pending invite is reminded again from then on.
    home.at(
        T0 + 15 * DAY,
        &["activate", "--contractor", "demo", "sub2@example.test"],
    );
    assert_eq!(count(&remind(&home, T0 + 17 * DAY), "reminded"), 0);
    assert_eq!(count(&remind(&home, T0 + 18 * DAY), "reminded"), 1);
    // Expired ones can be invited again; the new invite starts a new cadence.
    home.at(
        T0 + 20 * DAY,
        &["reinvite", "--contractor", "demo", "sub1@example.test"],
    );
    // Day 23: sub1's first reminder of its new cadence, sub2's second.
    let v = remind(&home, T0 + 23 * DAY);
    let mut who: Vec<&str> = v["reminded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    who.sort();
    assert_eq!(who, ["demo sub1@example.test", "demo sub2@example.test"]);
}

#[test]
fn a_pass_killed_midway_then_run_again_reminds_each_invite_once() {
    let home = Home::new();
    // Passes commit 2,000 reminders at a time: three steps.
    let n = 5000;
    std::fs::write(home.path().join("l.csv"), csv_list(n, "example.test")).unwrap();
    home.at(T0, &["import", "l.csv", "--contractor", "demo"]);
    // Abort (as SIGKILL would) right after the first step has committed.
    let status = std::process::Command::new(BIN)
        .args(["remind"])
        .current_dir(home.path())
        .env("SUBINVITE_NOW", (T0 + 3 * DAY).to_string())
        .env("FAILPOINTS", "reminders.step=return")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(6),
        "the pass aborted at reminders.step"
    );
    let first = outbox_kinds(&home, "reminder");
    assert!(
        first > 0 && first < n,
        "the killed pass reminded part of the invites: {first}"
    );
    remind(&home, T0 + 3 * DAY);
    remind(&home, T0 + 3 * DAY);
    assert_eq!(
        outbox_kinds(&home, "reminder"),
        n,
        "every pending invite reminded exactly once"
    );
}
