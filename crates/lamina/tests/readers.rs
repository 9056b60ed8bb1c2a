//! `lamina terminal pay --reader` against `lamina card serve --vpcd` through the
//! REAL `pcscd` (vsmartcard's vpcd driver), in a private daemon per test (see
//! `lamina_reader::testing`). Skips with a message where the daemon cannot run.
#![cfg(feature = "pcsc")]
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
        assert!(text.contains("ApprovedOnline"), "{text}");
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
