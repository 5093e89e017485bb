//! The daemon on the embedded transport, end to end: files dropped in,
//! `.eml` files out with the right headers and tokens the store knows,
//! reports beside archived and rejected files, duplicates recognised, and a
//! restart with files waiting handling each exactly once.

mod common;
use common::*;
use std::collections::BTreeSet;

fn sent(home: &Home) -> Vec<String> {
    files(&home.var("sent"), ".eml")
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect()
}

fn invites(home: &Home) -> Vec<String> {
    sent(home)
        .into_iter()
        .filter(|m| header(m, "Message-ID").is_some_and(|id| id.starts_with("<invite.")))
        .collect()
}

#[test]
fn dropped_list_becomes_invites_with_tokens_the_store_knows() {
    let home = Home::new();
    let mut d = home.daemon();
    let list = "Subcontractor Name,Contact Name,Subcontractor Email Address\n\
                Sparky Electric,Dana Sparks,dana@example.test\n\
                \"Pipe Bros\nPlumbing\",,ops@example.test\n\
                Roof Co,Rita Roof,rita@example.test\n";
    home.drop_file("demo", "subs.csv", list.as_bytes());
    let mails = wait_for(20, "three invites in var/sent", || {
        let v = invites(&home);
        (v.len() == 3).then_some(v)
    });
    // The file is archived with its two reports.
    let archived = wait_for(10, "archived file", || {
        let v = files(&home.var("archive").join("demo"), "subs.csv");
        (!v.is_empty()).then_some(v)
    });
    let txt = std::fs::read_to_string(format!("{}.report.txt", archived[0].display())).unwrap();
    assert!(txt.contains("imported: 3 rows"), "{txt}");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{}.report.json", archived[0].display())).unwrap(),
    )
    .unwrap();
    assert_eq!(json["valid"], true);
    assert!(!home.var("drop").join("demo").join("subs.csv").exists());
    d.stop();

    let refs = home.references("demo");
    for m in &mails {
        let token = reply_token(m, "invites");
        assert_eq!(token.len(), 26);
        assert_eq!(
            header(m, "Message-ID").unwrap(),
            format!("<invite.{token}@example.test>")
        );
        assert_eq!(
            header(m, "Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        assert_eq!(
            header(m, "X-Auto-Response-Suppress").as_deref(),
            Some("All")
        );
        let short = token[..8].to_ascii_uppercase();
        assert!(header(m, "Subject")
            .unwrap()
            .contains(&format!("[ref {short}]")));
        assert!(refs.contains(&short), "token {token} unknown to the store");
        assert!(bodies(m).contains(&format!("invites+{token}-yes@example.test")));
        assert!(bodies(m).contains(&format!("invites+{token}-no@example.test")));
        assert!(
            bodies(m).contains(&format!("signup?token={token}")),
            "new accounts get the sign-up link"
        );
        assert!(header(m, "From").unwrap().contains("Demo Builders"));
        assert!(header(m, "Date").is_some());
    }
    // The multi-line company name is one row and one line in the Subject.
    let pipe = mails
        .iter()
        .find(|m| header(m, "To").unwrap().contains("ops@example.test"))
        .unwrap();
    assert!(header(pipe, "Subject")
        .unwrap()
        .contains("Pipe Bros Plumbing"));
    // The contractor got the green report.
    let report = sent(&home)
        .into_iter()
        .find(|m| header(m, "To").is_some_and(|t| t.contains("gc1@example.test")))
        .expect("report to gc1");
    assert!(header(&report, "Subject")
        .unwrap()
        .starts_with("List imported: 3 rows"));
}

#[test]
fn bad_files_are_rejected_with_reasons_and_the_daemon_keeps_going() {
    let home = Home::new();
    let mut d = home.daemon();
    home.drop_file(
        "demo",
        "bad.csv",
        b"Company,Email\nA,not-an-address\n,b@example.test\n",
    );
    home.drop_file("nosuch", "list.csv", csv_list(1, "example.test").as_bytes());
    home.drop_file("demo", "junk.csv", &[0u8, 159, 146, 150, 255, 0, 1, 2, 3]);
    // Temporary and lock files are left alone.
    home.drop_file("demo", "~$open.xlsx", b"lock");
    home.drop_file("demo", "upload.csv.part", b"partial");
    home.drop_file("demo", "good.csv", csv_list(2, "example.test").as_bytes());
    wait_for(20, "good list imported", || {
        (invites(&home).len() == 2).then_some(())
    });
    let rejected = wait_for(20, "three rejected files", || {
        let mut v = files(&home.var("rejected").join("demo"), ".csv");
        v.extend(files(&home.var("rejected").join("nosuch"), ".csv"));
        (v.len() == 3).then_some(v)
    });
    let reports: Vec<String> = rejected
        .iter()
        .map(|p| std::fs::read_to_string(format!("{}.report.txt", p.display())).unwrap())
        .collect();
    assert!(
        reports
            .iter()
            .any(|r| r.contains("no contractor with id \"nosuch\"")),
        "{reports:?}"
    );
    let bad = reports
        .iter()
        .find(|r| r.contains("bad.csv"))
        .expect("bad.csv report");
    assert!(bad.contains("row 2") && bad.contains("row 3"), "{bad}");
    assert!(home.var("drop").join("demo").join("~$open.xlsx").exists());
    assert!(home
        .var("drop")
        .join("demo")
        .join("upload.csv.part")
        .exists());
    d.stop();
    assert_eq!(home.count("demo"), 2);
}

#[test]
fn the_same_content_dropped_twice_is_reported_not_imported_twice() {
    let home = Home::new();
    let mut d = home.daemon();
    let list = csv_list(3, "example.test");
    home.drop_file("demo", "first.csv", list.as_bytes());
    wait_for(20, "first imported", || {
        (files(&home.var("archive").join("demo"), "first.csv").len() == 1).then_some(())
    });
    home.drop_file("demo", "again.csv", list.as_bytes());
    let dup = wait_for(20, "duplicate rejected", || {
        let v = files(&home.var("rejected").join("demo"), "again.csv");
        (v.len() == 1).then_some(v)
    });
    let txt = std::fs::read_to_string(format!("{}.report.txt", dup[0].display())).unwrap();
    assert!(txt.contains("nothing was imported again"), "{txt}");
    d.stop();
    assert_eq!(invites(&home).len(), 3);
}

#[test]
fn restart_with_files_waiting_handles_each_once() {
    let home = Home::new();
    // Files arrive while the daemon is down.
    for i in 0..3 {
        let mut list = String::from("Company,Email\n");
        for j in 0..4 {
            list.push_str(&format!("Co {i}-{j},s{i}x{j}@example.test\n"));
        }
        home.drop_file("demo", &format!("l{i}.csv"), list.as_bytes());
    }
    let mut d = home.daemon();
    wait_for(30, "three files archived", || {
        (files(&home.var("archive").join("demo"), ".csv").len() == 3).then_some(())
    });
    wait_for(20, "twelve invites", || {
        (invites(&home).len() == 12).then_some(())
    });
    assert_eq!(d.stop(), Some(0), "clean exit on SIGTERM");
    // A restart finds nothing left to do and sends nothing more.
    let mut d = home.daemon();
    home.drop_file(
        "demo",
        "late.csv",
        b"Company,Email\nLate Co,late@example.test\n",
    );
    wait_for(20, "late file archived", || {
        (files(&home.var("archive").join("demo"), "late.csv").len() == 1).then_some(())
    });
    wait_for(20, "thirteen invites", || {
        (invites(&home).len() == 13).then_some(())
    });
    d.stop();
    let ids: BTreeSet<String> = invites(&home)
        .iter()
        .map(|m| header(m, "Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), 13, "no invite sent twice");
    assert_eq!(home.count("demo"), 13);
}

#[test]
fn stopping_mid_backlog_then_restarting_handles_every_file_once() {
    let home = Home::new();
    for i in 0..20 {
        home.drop_file(
            "demo",
            &format!("b{i:02}.csv"),
            format!("Company,Email\nCo {i},m{i}@example.test\n").as_bytes(),
        );
    }
    let mut d = home.daemon();
    wait_for(30, "first file archived", || {
        (!files(&home.var("archive").join("demo"), ".csv").is_empty()).then_some(())
    });
    assert_eq!(d.stop(), Some(0));
    let mut d = home.daemon();
    wait_for(60, "all twenty archived", || {
        (files(&home.var("archive").join("demo"), ".csv").len() == 20).then_some(())
    });
    wait_for(30, "twenty invites", || {
        (invites(&home).len() == 20).then_some(())
    });
    d.stop();
    assert!(files(&home.var("drop").join("demo"), ".csv").is_empty());
    let ids: BTreeSet<String> = invites(&home)
        .iter()
        .map(|m| header(m, "Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), 20);
    assert_eq!(home.count("demo"), 20);
}

#[test]
fn a_file_left_in_drop_after_its_import_committed_is_not_imported_again() {
    // What a crash between the commit and the move leaves behind: the file
    // still in drop/ although its import committed.
    let home = Home::new();
    let list = csv_list(2, "example.test");
    let mut d = home.daemon();
    home.drop_file("demo", "l.csv", list.as_bytes());
    let archived = wait_for(20, "archived", || {
        let v = files(&home.var("archive").join("demo"), "l.csv");
        (v.len() == 1).then_some(v)
    });
    d.stop();
    std::fs::copy(&archived[0], home.var("drop").join("demo").join("l.csv")).unwrap();
    let mut d = home.daemon();
    wait_for(20, "handled again", || {
        (!home.var("drop").join("demo").join("l.csv").exists()).then_some(())
    });
    d.stop();
    assert_eq!(invites(&home).len(), 2);
    assert_eq!(home.count("demo"), 2);
}

fn interrupted_import(signal: &str) {
    let cfg = CONFIG.replace(
        "[drop-folder]",
        "[import]\nrows-per-transaction = 500\n\n[drop-folder]",
    );
    let home = Home::with_config(&cfg);
    let n = 20_000;
    let mut d = home.daemon();
    home.drop_file("demo", "big.csv", csv_list(n, "example.test").as_bytes());
    // Wait until the import is under way: the settle time has passed.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let pid = d.pid();
    let _ = std::process::Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .status();
    d.wait();
    // Whatever the moment, a restart ends with the whole list imported once.
    let mut d = home.daemon();
    wait_for(120, "the list archived", || {
        (files(&home.var("archive").join("demo"), "big.csv").len() == 1).then_some(())
    });
    d.stop();
    let v = home.json(&["list", "--contractor", "demo", "--format", "json"]);
    assert_eq!(v.as_array().unwrap().len(), n, "all or nothing, then all");
    let out = home.json(&["outbox", "list", "--format", "json"]);
    let invites: BTreeSet<String> = out
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "invite_new")
        .map(|e| e["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(invites.len(), n, "one invite per row");
    let total_invites = out
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "invite_new")
        .count();
    assert_eq!(total_invites, n, "no row invited twice");
}

#[test]
fn sigterm_during_an_import_leaves_nothing_half_done() {
    interrupted_import("-TERM");
}

#[test]
fn sigkill_during_an_import_is_rolled_forward_on_restart() {
    interrupted_import("-KILL");
}
