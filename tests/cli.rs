//! The CLI contract (DESIGN §6) on the real binary, in a temporary home:
//! check, import, list, the connection actions, outbox, template,
//! check-config, and all-or-nothing imports.

mod common;
use common::*;

fn statuses(home: &Home, contractor: &str) -> Vec<(String, String)> {
    let v = home.json(&["list", "--contractor", contractor, "--format", "json"]);
    v.as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["email"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn write(home: &Home, name: &str, content: &str) -> String {
    let p = home.path().join(name);
    std::fs::write(&p, content).unwrap();
    p.to_string_lossy().into_owned()
}

fn invites_in_outbox(home: &Home) -> usize {
    let v = home.json(&["outbox", "list", "--format", "json"]);
    v.as_array()
        .unwrap()
        .iter()
        .filter(|e| matches!(e["kind"].as_str(), Some("invite_new" | "invite_known")))
        .count()
}

#[test]
fn import_then_list_shows_each_connection_pending() {
    let home = Home::new();
    let f = write(&home, "l.csv", "Company,Contact,Email\nSparky Electric,Dana Sparks,dana@sparky.test\nPipe Bros,,  Ops@PipeBros.test \n");
    let v = home.json(&["import", &f, "--contractor", "demo", "--json"]);
    assert_eq!(v["imported"], true);
    assert_eq!(v["counts"]["rows"], 2);
    assert_eq!(v["counts"]["invited_new"], 2);
    let list = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let dana = rows
        .iter()
        .find(|r| r["email"] == "dana@sparky.test")
        .expect("dana listed");
    assert_eq!(dana["company"], "Sparky Electric");
    assert_eq!(dana["contact"], "Dana Sparks");
    assert_eq!(dana["status"], "pending");
    // Case and surrounding spaces are normalised, not errors.
    assert!(rows
        .iter()
        .any(|r| r["email"] == "ops@pipebros.test" && r["contact"].is_null()));
    // Other contractors see nothing.
    assert!(statuses(&home, "acme").is_empty());
    // Two invites (sign-up kind) and one report are queued.
    assert_eq!(invites_in_outbox(&home), 2);
    let table = home.ok(&["list", "--contractor", "demo"]);
    assert!(
        table.contains("STATUS")
            && table.contains("dana@sparky.test")
            && table.contains("2 connection(s)"),
        "{table}"
    );
    let csv = home.ok(&[
        "list",
        "--contractor",
        "demo",
        "--format",
        "csv",
        "--status",
        "pending",
    ]);
    assert!(csv.starts_with("Subcontractor Email Address,"), "{csv}");
    assert_eq!(csv.lines().count(), 3);
}

#[test]
fn deactivate_activate_and_refusals() {
    let home = Home::new();
    let f = write(&home, "l.csv", &csv_list(2, "example.test"));
    home.ok(&["import", &f, "--contractor", "demo"]);
    home.ok(&["deactivate", "--contractor", "demo", "sub1@example.test"]);
    assert!(statuses(&home, "demo").contains(&("sub1@example.test".into(), "inactive".into())));
    // Refused actions exit 1 with the reason.
    let o = home.run(&["deactivate", "--contractor", "demo", "sub1@example.test"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("inactive"),
        "{o:?}"
    );
    home.expect(
        &["activate", "--contractor", "demo", "sub2@example.test"],
        1,
    );
    home.expect(
        &["reinvite", "--contractor", "demo", "sub1@example.test"],
        1,
    );
    // ACTIVATE restores the state it left (pending).
    home.ok(&["activate", "--contractor", "demo", "SUB1@example.test"]);
    assert!(statuses(&home, "demo").contains(&("sub1@example.test".into(), "pending".into())));
    home.expect(
        &["activate", "--contractor", "demo", "sub1@example.test"],
        1,
    );
    // Unknown connection, bad address, unknown contractor.
    home.expect(
        &["delete", "--contractor", "demo", "nobody@example.test"],
        1,
    );
    home.expect(&["delete", "--contractor", "demo", "not-an-address"], 2);
    home.expect(&["delete", "--contractor", "nope", "sub1@example.test"], 2);
    // Each accepted action queued its confirmation to the contractor.
    let v = home.json(&["outbox", "list", "--format", "json"]);
    let confirmations = v
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "action_confirmation")
        .count();
    assert_eq!(confirmations, 2);
}

#[test]
fn delete_then_reimport_restores_pending_with_a_new_token() {
    let home = Home::new();
    let f = write(&home, "l.csv", &csv_list(3, "example.test"));
    home.ok(&["import", &f, "--contractor", "demo"]);
    let before = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    let ref_of = |v: &serde_json::Value, email: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == email)
            .map(|r| r["reference"].as_str().unwrap().to_owned())
    };
    let old_ref = ref_of(&before, "sub2@example.test").unwrap();
    home.ok(&["delete", "--contractor", "demo", "sub2@example.test"]);
    assert_eq!(
        statuses(&home, "demo").len(),
        2,
        "deleted connections are not listed"
    );
    let v = home.json(&["import", &f, "--contractor", "demo", "--json"]);
    assert_eq!(v["counts"]["restored"], 1);
    assert_eq!(v["counts"]["unchanged"], 2);
    let after = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    assert_eq!(after.as_array().unwrap().len(), 3);
    assert_eq!(
        after
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["email"] == "sub2@example.test")
            .unwrap()["status"],
        "pending"
    );
    let new_ref = ref_of(&after, "sub2@example.test").unwrap();
    assert_ne!(old_ref, new_ref, "a restored connection gets a new token");
    // The restored invite goes to an account that now exists: confirm kind.
    let out = home.json(&["outbox", "list", "--format", "json"]);
    let known = out
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "invite_known")
        .count();
    assert_eq!(known, 1);
}

#[test]
fn importing_the_same_list_again_sends_nothing() {
    let home = Home::new();
    let f = write(&home, "l.csv", &csv_list(5, "example.test"));
    home.ok(&["import", &f, "--contractor", "demo"]);
    assert_eq!(invites_in_outbox(&home), 5);
    let v = home.json(&["import", &f, "--contractor", "demo", "--json"]);
    assert_eq!(v["counts"]["unchanged"], 5);
    assert_eq!(v["counts"]["invited_new"], 0);
    assert_eq!(invites_in_outbox(&home), 5);
}

#[test]
fn the_same_subcontractor_for_a_second_contractor_gets_the_confirm_invite() {
    let home = Home::new();
    let f = write(&home, "l.csv", &csv_list(1, "example.test"));
    home.ok(&["import", &f, "--contractor", "demo"]);
    let v = home.json(&["import", &f, "--contractor", "acme", "--json"]);
    assert_eq!(v["counts"]["invited_known"], 1);
    assert_eq!(v["counts"]["invited_new"], 0);
}

#[test]
fn a_long_list_with_one_bad_row_imports_nothing_and_names_the_row() {
    let home = Home::new();
    let mut list = csv_list(10_000, "example.test");
    list = list.replace("sub5000@example.test", "sub5000@@example.test");
    let f = write(&home, "big.csv", &list);
    let o = home.run(&["import", &f, "--contractor", "demo", "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["imported"], false);
    let errors = v["report"]["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    // Header is row 1, so data row 5000 is Excel row 5001.
    assert_eq!(errors[0]["row"], 5001);
    assert_eq!(errors[0]["code"], "invalid_email");
    assert!(statuses(&home, "demo").is_empty(), "nothing imported");
    assert_eq!(invites_in_outbox(&home), 0);
    // The red report is queued for the contractor.
    let out = home.json(&["outbox", "list", "--format", "json"]);
    assert_eq!(out.as_array().unwrap().len(), 1);
    assert_eq!(out[0]["to"], "gc1@example.test");
}

#[test]
fn a_list_longer_than_one_transaction_is_imported_whole() {
    let cfg = CONFIG.replace(
        "[drop-folder]",
        "[import]\nrows-per-transaction = 1000\n\n[drop-folder]",
    );
    let home = Home::with_config(&cfg);
    let f = write(&home, "l.csv", &csv_list(3_500, "example.test"));
    let v = home.json(&["import", &f, "--contractor", "demo", "--json"]);
    assert_eq!(v["counts"]["invited_new"], 3500);
    assert_eq!(statuses(&home, "demo").len(), 3500);
    assert_eq!(invites_in_outbox(&home), 3500);
    assert!(
        std::fs::read_dir(home.var("store").join("spool"))
            .map(|d| d.count())
            .unwrap_or(0)
            == 0,
        "spool cleaned"
    );
}

#[test]
fn check_exit_codes_and_json_shape() {
    let home = Home::new();
    let good = write(&home, "good.csv", &csv_list(3, "example.test"));
    let v = home.json(&["check", &good, "--json"]);
    assert_eq!(v["valid"], true);
    assert_eq!(v["rows"], 3);
    assert_eq!(v["delimiter"], ",");
    assert!(v["encoding"].is_string());
    assert!(v["columns"].is_object());
    assert!(v["errors"].as_array().unwrap().is_empty());
    let bad = write(
        &home,
        "bad.csv",
        "Company,Email\nA,a@x.test\n,b@x.test\nC,c@x\n",
    );
    let o = home.run(&["check", &bad, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let codes: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["missing_value", "invalid_email"]);
    assert_eq!(v["errors"][0]["row"], 3);
    home.expect(&["check", "/nonexistent/list.csv"], 2);
    let text = home.expect(&["check", &bad], 1);
    assert!(text.contains("row 4"), "{text}");
}

#[test]
fn template_is_a_valid_header() {
    let home = Home::new();
    let t = home.ok(&["template"]);
    assert!(t
        .lines()
        .next()
        .unwrap()
        .contains("Subcontractor Email Address"));
    let f = write(&home, "t.csv", &t);
    home.ok(&["check", &f]);
}

#[test]
fn check_config_reports_every_problem_and_exits_2() {
    let home = Home::with_config(
        "[mail]\ndomain = \"nodot\"\n[contractors.Bad]\nname = \"\"\nnotify = \"x\"\n",
    );
    let o = home.run(&["check-config"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    for needle in ["mail.domain", "contractors.Bad", ".name", ".notify"] {
        assert!(err.contains(needle), "{needle} missing in {err}");
    }
    let good = Home::new();
    assert!(good.ok(&["check-config"]).contains("contractor demo"));
    let unknown = Home::with_config("[mail]\ndomian = \"x.test\"\n");
    unknown.expect(&["check-config"], 2);
}

#[test]
fn embedded_defaults_need_no_config() {
    let dir = tempfile::tempdir().unwrap();
    let o = std::process::Command::new(BIN)
        .arg("check-config")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("embedded defaults") && s.contains("contractor demo"),
        "{s}"
    );
}

#[test]
fn outbox_retry_requeues_and_refuses_unknown_ids() {
    let home = Home::new();
    let f = write(&home, "l.csv", &csv_list(1, "example.test"));
    home.ok(&["import", &f, "--contractor", "demo"]);
    home.expect(&["outbox", "retry", "999999"], 1);
    home.expect(&["outbox", "retry"], 2);
    let s = home.ok(&["outbox", "retry", "--all"]);
    assert!(s.contains("0 message(s)"), "nothing has failed: {s}");
}

#[test]
fn status_shows_queues_reminders_and_connections_by_status() {
    let home = Home::new();
    let f = write(&home, "l.csv", &csv_list(3, "example.test"));
    home.ok(&["import", &f, "--contractor", "demo"]);
    home.ok(&["deactivate", "--contractor", "demo", "sub1@example.test"]);
    let v = home.json(&["status", "--json"]);
    assert_eq!(
        v["outbox_queued"], 5,
        "3 invites, the report, the confirmation: {v}"
    );
    assert_eq!(v["outbox_failed"], 0);
    assert_eq!(v["quarantined"], 0);
    assert_eq!(v["connections"]["demo"]["pending"], 2);
    assert_eq!(v["connections"]["demo"]["inactive"], 1);
    assert!(
        v["next_reminder_pass"].is_string() && v["next_reminder_due"].is_string(),
        "{v}"
    );
    let text = home.ok(&["status"]);
    assert!(
        text.contains("contractor demo: pending 2, inactive 1"),
        "{text}"
    );
}

#[test]
fn the_cli_says_clearly_when_the_daemon_holds_the_store() {
    let home = Home::new();
    home.ok(&["check-config"]);
    let mut d = home.daemon();
    wait_for(20, "the store open", || {
        d.log_text().contains("subinvite running").then_some(())
    });
    let o = home.run(&["list", "--contractor", "demo"]);
    d.stop();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("in use by another subinvite process"), "{err}");
}
