//! Issue 16 through the binary, on SQLite: `host add-account` refuses an amount the ledger
//! cannot hold (exit 2, nothing written, `check-ledger` still passes); `host serve
//! --log-format json` logs structured events (connection opened/closed with the reason)
//! as JSON lines on stderr.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_lamina");

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lamina(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn add_account_refuses_amounts_beyond_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("host.db").display());
    for balance in ["9223372036854775807", "1000000000000"] {
        let out = lamina(&[
            "host",
            "add-account",
            "--db",
            &db,
            "--name",
            "Max",
            "--balance",
            balance,
        ]);
        assert_eq!(out.status.code(), Some(2), "--balance {balance}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("opening_balance"));
    }
    let name = "x".repeat(101);
    let out = lamina(&["host", "add-account", "--db", &db, "--name", &name]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let ok = lamina(&[
        "host",
        "add-account",
        "--db",
        &db,
        "--name",
        "Alice",
        "--balance",
        "999999999999",
    ]);
    assert!(ok.status.success(), "{ok:?}");
    let check = lamina(&["host", "check-ledger", "--json", "--db", &db]);
    assert!(check.status.success(), "{check:?}");
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(
        report["report"]["accounts"], 2,
        "Alice and the funding account"
    );
}

#[test]
fn serve_logs_json_events() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let db = format!("sqlite://{}", dir.path().join("host.db").display());
    assert!(
        lamina(&["host", "init-keys", "--out", s(&keys)])
            .status
            .success()
    );
    let mut child = Command::new(BIN)
        .args([
            "host",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--db",
            &db,
            "--keys",
            s(&keys),
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the host starts");
        if let Some(rest) = line.strip_prefix("lamina host: ISO 8583 on ") {
            break rest.trim().to_owned();
        }
    };
    // A garbage frame: its MTI does not decode, the host closes the connection.
    let mut sock = std::net::TcpStream::connect(&addr).unwrap();
    sock.write_all(b"\x00\x04XXXX").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    let _ = sock.read(&mut buf);
    let mut events = vec![];
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            let done = v["fields"]["message"] == "connection closed";
            events.push(v);
            if done {
                break;
            }
        }
    }
    let closed = events
        .iter()
        .find(|e| e["fields"]["message"] == "connection closed")
        .unwrap_or_else(|| panic!("no close event in {events:?}"));
    assert_eq!(closed["level"], "WARN");
    assert_eq!(
        closed["fields"]["reason"],
        "framing error: MTI does not decode"
    );
    assert!(
        closed["fields"]["peer"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(
        events
            .iter()
            .any(|e| e["fields"]["message"] == "connection opened")
    );
}
