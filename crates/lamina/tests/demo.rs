//! Runs `lamina demo --json` in a temp dir: every scripted step gets its expected
//! outcome, the day settles and the ledger balances, and the HTML report is written.
#![allow(clippy::unwrap_used, clippy::panic)]

use assert_cmd::Command;

mod debugtext;
use debugtext::debug_text;

#[test]
fn demo_runs_the_day_and_balances_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("lamina")
        .unwrap()
        .args(["demo", "--json", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    let doc: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(doc["ok"], true, "{doc:#}");
    let steps = doc["steps"].as_array().unwrap();
    assert!(steps.len() >= 10);
    for s in steps {
        assert_eq!(s["as_expected"], true, "step {}: {s:#}", s["title"]);
        // no full PAN anywhere in a row
        let card = s["card"].as_str().unwrap();
        assert!(card == "-" || card.contains("******"), "{card}");
    }
    let titles: Vec<&str> = steps.iter().map(|s| s["title"].as_str().unwrap()).collect();
    for want in [
        "approved online",
        "Wrong PIN",
        "Insufficient funds",
        "Retransmitted",
        "Reversal",
        "stolen",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "missing step {want}: {titles:?}"
        );
    }
    // Offline approvals reach the issuer: the contactless CDA tap queues its
    // advice, the day's batch posts every queued advice (0220), a repeated advice
    // (0221 after a lost 0230) posts nothing again, and the retail merchant's
    // settlement counts the offline approvals.
    let step = |part: &str| {
        steps
            .iter()
            .find(|s| s["title"].as_str().unwrap().contains(part))
            .unwrap_or_else(|| panic!("missing step {part}: {titles:?}"))
    };
    let tap = step("Contactless tap under the CVM limit");
    assert_eq!(tap["response_code"], "Y1");
    assert!(
        tap["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("offline advice queued")),
        "{tap:#}"
    );
    let upload = step("Batch upload: offline advices");
    let posted = upload["outcome"].as_str().unwrap();
    let (done, all) = posted.trim_end_matches(" POSTED").split_once('/').unwrap();
    assert_eq!(done, all, "{upload:#}");
    assert!(done.parse::<u32>().unwrap() >= 1);
    assert_eq!(step("Repeated advice")["outcome"], "POSTED ONCE");
    assert_eq!(
        step("Settlement includes the offline approvals")["outcome"],
        "SETTLED"
    );
    // Open-loop metro ride with a credit card: maximum fare held at tap in, the
    // fare completed at tap out.
    let tap_in = step("Metro tap in by credit card");
    assert_eq!(tap_in["response_code"], "00", "{tap_in:#}");
    assert_eq!(tap_in["outcome"], "GATE OPENS");
    let tap_out = step("Metro tap out: fare completed");
    assert_eq!(tap_out["outcome"], "FARE CAPTURED", "{tap_out:#}");
    assert!(tap_out["amount_minor"].as_i64().unwrap() > 0);
    assert!(
        doc["settlement"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m.to_string().contains("METRO")),
        "{}",
        doc["settlement"]
    );
    let declined = steps
        .iter()
        .find(|s| s["title"].as_str().unwrap().contains("Insufficient"))
        .unwrap();
    assert_eq!(declined["response_code"], "51");
    assert_eq!(doc["ledger"]["balanced"], true);
    assert!(
        doc["not_yet"].as_array().unwrap().is_empty(),
        "{}",
        doc["not_yet"]
    );
    // contactless rows report their radio time
    assert!(
        steps
            .iter()
            .filter(|s| s["interface"] == "contactless")
            .all(|s| s["radio_ms"].as_f64().is_some_and(|r| r > 0.0))
    );
    assert!(!doc["settlement"].as_array().unwrap().is_empty());
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("<table"),
        "report lacks chart or table"
    );
    assert!(html.contains("Cards issued"));
    // the dev key store exists and is private
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let ks = dir.path().join("issuer").join("keystore.json");
        assert_eq!(
            std::fs::metadata(ks).unwrap().permissions().mode() & 0o077,
            0
        );
    }
}

#[test]
fn debug_text_detector_finds_what_it_looks_for() {
    for bad in [
        "cvm Some(NoCvm)",
        "ENDED (NotAccepted)",
        "outcome: ApprovedOnline",
        "session=None",
        "lamina_terminal::Outcome",
        "Cryptogram { generate_ac: 1",
        "(Entry)",
    ] {
        assert!(!debug_text(bad, &[]).is_empty(), "{bad}");
    }
    assert!(debug_text("APPROVED (2 PIN tries left) No CVM (status: Approved)", &[]).is_empty());
}

/// What the demo shows people (text, JSON, report.html) holds no Rust debug
/// formatting: EMV's names instead (CVM "Online PIN", "No CVM"; outcome "NOT
/// ACCEPTED").
#[test]
fn demo_outputs_have_no_debug_formatting() {
    let dir = tempfile::tempdir().unwrap();
    let text = Command::cargo_bin("lamina")
        .unwrap()
        .args(["demo", "--dir"])
        .arg(dir.path().join("text"))
        .assert()
        .success();
    let text = String::from_utf8(text.get_output().stdout.clone()).unwrap();
    let json = Command::cargo_bin("lamina")
        .unwrap()
        .args(["demo", "--json", "--dir"])
        .arg(dir.path().join("json"))
        .assert()
        .success();
    let json = String::from_utf8(json.get_output().stdout.clone()).unwrap();
    let html = std::fs::read_to_string(dir.path().join("text/report.html")).unwrap();
    // Proper names: the card faces' font family, the database.
    let allowed = ["DejaVu", "SQLite", "PostgreSQL"];
    for (what, out) in [("text", &text), ("JSON", &json), ("report.html", &html)] {
        let bad = debug_text(out, &allowed);
        assert!(
            bad.is_empty(),
            "debug formatting in the demo's {what}: {bad:?}"
        );
    }
    for cvm in ["Offline enciphered PIN", "Online PIN", "No CVM"] {
        assert!(text.contains(cvm), "CVM column names {cvm}:\n{text}");
    }
    assert!(text.contains("NOT ACCEPTED"), "{text}");
    // Every contactless row's processing time was measured.
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    for s in doc["steps"].as_array().unwrap() {
        if s["interface"] == "contactless" {
            let ms = s["processing_ms"].as_f64();
            assert!(ms.is_some_and(|m| m > 0.0), "{s:#}");
        }
    }
    assert!(html.contains("Card transactions per hour"), "hourly chart");
    // The README's excerpt is what the demo prints (rows with timings aside).
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let excerpt = readme
        .split("$ cargo run --release -- demo\n")
        .nth(1)
        .and_then(|r| r.split("```").next())
        .expect("the README's demo excerpt");
    for l in excerpt.lines() {
        let timed = l.starts_with(|c: char| c.is_ascii_digit());
        if l.is_empty() || l == "…" || timed {
            continue;
        }
        assert!(
            text.contains(l),
            "README excerpt line not in the demo's output: {l}"
        );
    }
    assert!(
        html.contains("Approval rate per terminal"),
        "approval chart"
    );
}

/// Luhn check digit test of a digit string.
fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Full PANs of the demo's BIN (999900) in `data`, as digits, also when the
/// digits are grouped by spaces (card faces).
fn pans_in(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    let mut found = Vec::new();
    for (i, _) in text.match_indices("9999") {
        let digits: String = text[i..]
            .chars()
            .take(24)
            .filter(|c| *c != ' ')
            .take_while(char::is_ascii_digit)
            .collect();
        if digits.starts_with("999900") && digits.len() >= 16 && luhn(&digits[..16]) {
            found.push(digits[..16].to_owned());
        }
    }
    found
}

/// Every file the demo writes, by path relative to its directory.
fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// No full PAN outside the bureau's protected outputs: the host's database and
/// WAL, the terminals' files, the report and what the demo prints hold none;
/// the bureau's card images, scripts, PIN mailers and faces that do are mode
/// 0600.
#[test]
fn the_demo_leaks_no_pan() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("lamina")
        .unwrap()
        .args(["demo", "--json", "--dir"])
        .arg(dir.path())
        .assert()
        .success();
    assert!(
        pans_in(&out.get_output().stdout).is_empty(),
        "PAN in the demo's JSON"
    );
    let mut files = Vec::new();
    files_under(dir.path(), &mut files);
    assert!(files.len() > 10, "{files:?}");
    let mut protected = 0;
    for f in files {
        let pans = pans_in(&std::fs::read(&f).unwrap());
        if pans.is_empty() {
            continue;
        }
        let rel = f
            .strip_prefix(dir.path())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(rel.starts_with("cards/"), "full PAN in {rel}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{rel} holds a PAN and is mode {mode:o}");
        }
        protected += 1;
    }
    assert!(protected > 0, "the detector finds the bureau's PANs");
}
