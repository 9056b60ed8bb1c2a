//! Runs `lamina demo --json` in a temp dir: every scripted step gets its expected
//! outcome, the day settles and the ledger balances, and the HTML report is written.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;

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
