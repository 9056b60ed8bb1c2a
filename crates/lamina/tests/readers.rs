//! `lamina terminal pay --reader` against `lamina card serve --vpcd` through the
//! REAL `pcscd` (vsmartcard's vpcd driver), in a private daemon per test (see
//! `lamina_reader::testing`). Fails naming what is missing where the daemon
//! cannot run (`scripts/test.sh` installs it).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lamina_applets::emv::CvnChoice;
use lamina_applets::emv::testing::{TEST_PIN, build_card, sample_personalization};
use lamina_reader::testing::{READER, with_private_pcscd};

const BIN: &str = env!("CARGO_BIN_EXE_lamina");

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `lamina readers --json` shows a card in the reader.
fn wait_for_card() -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if let Ok(out) = Command::new(BIN).args(["readers", "--json"]).output() {
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains(READER) && text.contains("present") {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

#[test]
fn terminal_pay_through_pcscd_against_card_serve() {
    with_private_pcscd("terminal_pay_through_pcscd_against_card_serve", |port| {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("card.json");
        let card =
            build_card(&sample_personalization(CvnChoice::EmvCcd).unwrap(), None, 7).unwrap();
        std::fs::write(&image, card.save_image()).unwrap();
        let before = std::fs::read_to_string(&image).unwrap();
        let _serve = Serve(
            Command::new(BIN)
                .arg("card")
                .arg("serve")
                .arg(&image)
                .args(["--vpcd", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        assert!(
            wait_for_card(),
            "the served card never appeared in {READER}"
        );
        let out = Command::new(BIN)
            .args([
                "terminal", "pay", "--reader", READER, "--amount", "12.34", "--pin", TEST_PIN,
                "--json",
            ])
            .args([
                "--config",
                concat!(env!("CARGO_MANIFEST_DIR"), "/../../terminals/retail.toml"),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("approved_online"), "{text}");
        // The served card saved its state back: the ATC moved.
        let start = Instant::now();
        while std::fs::read_to_string(&image).unwrap() == before
            && start.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_ne!(
            std::fs::read_to_string(&image).unwrap(),
            before,
            "card image not saved"
        );
    });
}

/// `card serve --once --json` stops by itself when the first session ends (a
/// `card scan` that powers the card off), and reports its events as JSON lines.
#[test]
fn card_serve_once_stops_after_the_first_session() {
    with_private_pcscd("card_serve_once_stops_after_the_first_session", |port| {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("card.json");
        let card =
            build_card(&sample_personalization(CvnChoice::EmvCcd).unwrap(), None, 5).unwrap();
        std::fs::write(&image, card.save_image()).unwrap();
        let mut serve = Serve(
            Command::new(BIN)
                .args(["card", "serve", "--once", "--json"])
                .arg(&image)
                .args(["--vpcd", &format!("127.0.0.1:{port}")])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        assert!(
            wait_for_card(),
            "the served card never appeared in {READER}"
        );
        let out = Command::new(BIN)
            .args(["card", "scan", "--reader", READER, "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let start = Instant::now();
        let status = loop {
            if let Some(st) = serve.0.try_wait().unwrap() {
                break st;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "card serve --once still running after the session"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "{status:?}");
        let mut events = String::new();
        std::io::Read::read_to_string(serve.0.stdout.as_mut().unwrap(), &mut events).unwrap();
        for line in events.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["event"].is_string(), "{line}");
        }
        assert!(events.contains("\"powered_off\""), "{events}");
    });
}

/// Without the PC/SC library, `lamina readers` and `card scan` say what is
/// missing and what to install, in one line, and exit 1.
#[test]
fn readers_without_the_pcsc_library_say_what_to_install() {
    for args in [
        &["readers"][..],
        &["card", "scan", "--reader", "Virtual PCD"][..],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env("LAMINA_PCSC_LIBRARY", "/nonexistent/libpcsclite.so.1")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("PC/SC library not found"), "{err}");
        assert!(err.contains("libpcsclite1"), "names the package: {err}");
    }
}

/// Without `pcscd` (its socket pointed at a path where none listens), the
/// commands say that the daemon is not running and how to start it, and exit 1.
#[test]
fn readers_without_pcscd_say_so() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["readers"][..],
        &["card", "scan", "--reader", "Virtual PCD"][..],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env("PCSCLITE_CSOCK_NAME", dir.path().join("no-pcscd.comm"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.contains("pcscd is not running"), "{err}");
        assert!(err.contains("apt install pcscd"), "{err}");
    }
}
