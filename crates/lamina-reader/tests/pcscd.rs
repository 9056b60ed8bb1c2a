//! Through the REAL `pcscd`: the emulated card served by the vpcd bridge, read
//! by plain PC/SC calls (`pcsc_ffi`), by pyscard (`tests/pcsc/emv_read.py`), by `pcsc_scan`,
//! and paid with by the terminal kernel — same outcome and cryptograms as the
//! in-process card.
//!
//! Isolation: every test runs in its own daemon. The test re-executes itself
//! (`--exact <name>`) under `unshare --mount --pid --fork --kill-child` with a
//! private tmpfs on `/run/pcscd` (so the daemon's socket and PID file are its
//! own) and a private reader configuration whose vpcd port is a free loopback
//! port (so it never meets a system `pcscd` or another test). When the pid
//! namespace ends, its `pcscd` dies with it. Without root (or user namespaces),
//! `unshare`, `pcscd` or the vpcd driver, each test fails and names what is
//! missing (`scripts/test.sh` installs it all).
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use lamina_applets::emv::CvnChoice;
use lamina_applets::emv::testing::{
    TEST_IMK_AC, TEST_IMK_SMI, TEST_PIN, build_card, rom, sample_personalization,
};
use lamina_card::{Card, CardChannel, EmulatedCard, Interface, SeededRng};
use lamina_reader::pcsc_channel::{PcscChannel, PreferredProtocol};
use lamina_reader::scan::{ScanOptions, scan};
use lamina_reader::vpcd::{
    Bridge, BridgeConfig, Event, ResponseStyle, SaveTo, VpcdCard, pseudo_atr,
};
use lamina_terminal::kernel::{DateTime, Devices, FixedClock, TransactionRequest, run};
use lamina_terminal::outcome::TransactionResult;
use lamina_terminal::testkit::{DetRng, DukptPinPad, HostDouble};
use lamina_terminal::ui::{RecordingScreen, ScriptedPinPad};

use lamina_reader::testing::{READER, which, with_private_pcscd as with_pcscd};

// ---------------------------------------------------------------------------
// Cards and the bridge
// ---------------------------------------------------------------------------

const AID: &str = "F04C414D494E4145";

fn emv_card(seed: u64) -> Card {
    let p = sample_personalization(CvnChoice::EmvCcd).unwrap();
    build_card(&p, None, seed).unwrap()
}

/// (command, response) pairs as the card saw them.
type CardLog = Arc<std::sync::Mutex<Vec<(Vec<u8>, Vec<u8>)>>>;

struct Served {
    stop: Arc<AtomicBool>,
    /// Every (command, response) the card saw.
    log: CardLog,
    thread: Option<JoinHandle<Card>>,
    image: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    fn start(card: Card, port: u16, interface: Interface) -> Served {
        Served::start_with(card, port, interface, ResponseStyle::Full)
    }

    fn start_with(card: Card, port: u16, interface: Interface, style: ResponseStyle) -> Served {
        let dir = tempfile::tempdir().unwrap();
        let image = dir.path().join("card.json");
        std::fs::write(&image, card.save_image()).unwrap();
        let mut cfg = BridgeConfig::new(format!("127.0.0.1:{port}"));
        cfg.interface = interface;
        cfg.style = style;
        cfg.save_to = SaveTo::Image(image.clone());
        cfg.backoff = Duration::from_millis(50);
        let mut bridge = Bridge::new(card, cfg);
        let stop = bridge.shutdown_flag();
        let log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        let thread = std::thread::spawn(move || {
            let verbose = std::env::var_os("LAMINA_VPCD_TRACE").is_some();
            bridge
                .run(&mut |e| {
                    if verbose {
                        eprintln!("bridge: {e:?}");
                    }
                    if let Event::Apdu { command, response } = e {
                        log2.lock().unwrap().push((command, response));
                    }
                })
                .unwrap();
            bridge.into_card()
        });
        Served {
            stop,
            log,
            thread: Some(thread),
            image,
            _dir: dir,
        }
    }

    /// Stops the bridge: the card and its saved image.
    fn stop(mut self) -> (Card, String) {
        self.stop.store(true, Ordering::SeqCst);
        let card = self.thread.take().unwrap().join().unwrap();
        (card, std::fs::read_to_string(&self.image).unwrap())
    }
}

fn open_reader() -> PcscChannel {
    // The daemon lists the vpcd reader as soon as it starts.
    let ch = PcscChannel::open(READER).unwrap();
    ch.wait_for_card(Duration::from_secs(15))
        .expect("the served card shows up in the virtual reader");
    ch
}

/// pcscd notices a removal at its next presence poll (~400 ms).
fn wait_for_removal() {
    assert!(
        lamina_reader::testing::wait_for_removal(READER, Duration::from_secs(5)),
        "pcscd did not notice the card removal"
    );
}

fn sw(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

fn apdu(h: &str) -> Vec<u8> {
    hex::decode(h.replace(' ', "")).unwrap()
}

/// `python3` (or Debian's `/usr/bin/python3`) with pyscard importable.
fn pyscard_python() -> Option<String> {
    ["python3", "/usr/bin/python3"].into_iter().find_map(|py| {
        let ok = Process::new(py)
            .args(["-c", "import smartcard"])
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| py.to_owned())
    })
}

fn run_pyscard(extra: &[&str]) -> String {
    let Some(py) = pyscard_python() else {
        panic!(
            "pyscard is not importable: apt install python3-pyscard (scripts/test.sh installs it)"
        );
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/pcsc/emv_read.py");
    let out = Process::new(&py)
        .arg(&script)
        .args(["--reader", READER])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    println!(
        "pyscard ({py}):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "emv_read.py failed");
    stdout
}

fn spaced(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

/// Contact: the ATR offers T=0 first and pcscd picks T=0; case-4 commands get
/// full data with 9000; the PSE directory is walked until 6A83; the card is
/// read by the `pcsc` crate, the scanner, pyscard and pcsc_scan; its image is
/// saved when the session ends.
#[test]
fn contact_card_through_real_pcscd() {
    with_pcscd("contact_card_through_real_pcscd", |port| {
        let card = emv_card(7);
        let expected_atr = VpcdCard::new(emv_card(7), Default::default()).atr();
        let served = Served::start(card, port, Interface::Contact);
        let _ = open_reader();

        // Plain PC/SC calls, as any PC/SC program makes them. Offered both,
        // pcsc-lite picks T=1; an application that asks for T=0 only gets T=0
        // (the ATR offers it).
        use lamina_reader::pcsc_ffi as ffi;
        let ctx = ffi::Context::establish().unwrap();
        let reader = std::ffi::CString::new(READER).unwrap();
        let c = ctx
            .connect(&reader, ffi::PROTOCOL_T0 | ffi::PROTOCOL_T1)
            .unwrap();
        let st = c.status().unwrap();
        assert_eq!(st.atr, expected_atr);
        assert_eq!(st.protocol, ffi::PROTOCOL_T1);
        c.disconnect(ffi::UNPOWER_CARD).unwrap();
        let c = ctx.connect(&reader, ffi::PROTOCOL_T0).unwrap();
        let st = c.status().unwrap();
        assert_eq!(st.protocol, ffi::PROTOCOL_T0, "T=0-only client");
        let r = c
            .transmit(&apdu("00A404000E315041592E5359532E444446303100"))
            .unwrap();
        assert_eq!(sw(&r), 0x9000, "full FCI with 9000 under T=0");
        assert_eq!(r[0], 0x6F);
        let mut n = 0;
        loop {
            n += 1;
            let r = c.transmit(&[0x00, 0xB2, n, 0x0C, 0x00]).unwrap();
            if sw(&r) == 0x6A83 {
                break;
            }
            assert_eq!(sw(&r), 0x9000);
            assert!(hex::encode_upper(&r).contains(AID));
        }
        assert_eq!(n, 2, "one directory entry, then 6A83");
        let r = c.transmit(&apdu(&format!("00A4040008{AID}00"))).unwrap();
        assert_eq!(sw(&r), 0x9000);
        let r = c.transmit(&apdu("00B2010C00")).unwrap();
        assert_eq!(sw(&r), 0x9000);
        assert_eq!(r[0], 0x70, "record template");
        c.disconnect(ffi::UNPOWER_CARD).unwrap();

        // The channel (T=0 handling) and the read-only scanner.
        let mut ch = open_reader().with_protocol(PreferredProtocol::T0);
        let report = scan(&mut ch, &ScanOptions::default()).unwrap();
        assert_eq!(ch.active_protocol(), None, "scan powers off at the end");
        assert_eq!(report.atr, expected_atr);
        let pse = report.pse.as_ref().expect("PSE");
        assert_eq!(hex::encode_upper(&pse.entries[0].aid), AID);
        assert_eq!(report.apps.len(), 1);
        let app = &report.apps[0];
        assert_eq!(app.records.len(), 3, "AFL: SFI 1 #1, SFI 2 #1-2");
        assert!(app.records.iter().all(|r| r.step.sw.is_ok()));
        assert_eq!(app.oda.aip, Some([0x1C, 0x00]));
        assert!(app.get_data.iter().any(|s| s.label.contains("9F36")));

        // A third-party tool: pyscard walking the PSE.
        {
            let out = run_pyscard(&["--pse"]);
            assert!(out.contains(&format!("aid={AID}")), "{out}");
            assert!(out.contains("records=3"));
            assert!(out.contains("pan=476173******0010"), "PAN masked");
        }

        // pcsc_scan shows the ATR through the virtual reader.
        assert!(
            which("pcsc_scan").is_some(),
            "pcsc_scan missing: apt install pcsc-tools (scripts/test.sh installs it)"
        );
        {
            let out = Process::new("timeout")
                .args(["5", "pcsc_scan", "-t", "2", "-n"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(&spaced(&expected_atr)),
                "pcsc_scan output lacks the ATR:\n{text}"
            );
            println!("pcsc_scan shows ATR {}", spaced(&expected_atr));
        }
        assert!(
            which("opensc-tool").is_some(),
            "opensc-tool missing: apt install opensc (scripts/test.sh installs it)"
        );
        {
            let out = Process::new("opensc-tool")
                .args(["-r", READER, "-a"])
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).to_uppercase();
            assert!(
                text.contains(&spaced(&expected_atr).replace(' ', ":")),
                "opensc-tool -a: {text}"
            );
        }

        drop(ch);
        let (card, saved) = served.stop();
        assert_eq!(
            saved,
            card.save_image(),
            "image saved at the end of the session"
        );
        Card::load_image(rom(None), SeededRng::new(1), &saved).unwrap();

        // The same card answering like a raw T=0 card (61xx, 6Cxx): pyscard's
        // T=0 handling reads it all the same.
        wait_for_removal();
        let served = Served::start_with(card, port, Interface::Contact, ResponseStyle::T0);
        let _ = open_reader();
        {
            let out = run_pyscard(&["--pse"]);
            assert!(out.contains(&format!("aid={AID}")), "{out}");
            assert!(out.contains("records=3"), "{out}");
        }
        let saw = served.log.lock().unwrap().clone();
        let _ = served.stop();
        assert!(
            saw.iter().any(|(c, _)| c.get(1) == Some(&0xC0)),
            "the client fetched with GET RESPONSE"
        );
    });
}

/// Contactless presentation: the PC/SC pseudo-ATR, SELECT PPSE, the payment
/// application, a record — with the channel and with pyscard.
#[test]
fn contactless_ppse_through_real_pcscd() {
    with_pcscd("contactless_ppse_through_real_pcscd", |port| {
        let served = Served::start(emv_card(9), port, Interface::Contactless);
        let mut ch = open_reader();
        let atr = ch.power_on(Interface::Contactless).unwrap();
        assert_eq!(atr, pseudo_atr(b"LAMINA"));
        let r = ch
            .transmit(&apdu("00A404000E325041592E5359532E444446303100"))
            .unwrap();
        assert_eq!(sw(&r), 0x9000);
        assert!(hex::encode_upper(&r).contains(&format!("4F08{AID}")));
        let r = ch.transmit(&apdu(&format!("00A4040008{AID}00"))).unwrap();
        assert_eq!(sw(&r), 0x9000);
        // GPO with the PDOL (9F1A 02) and a record from the AFL.
        let r = ch.transmit(&apdu("80A80000048302025000")).unwrap();
        assert_eq!(sw(&r), 0x9000, "{}", hex::encode_upper(&r));
        let r = ch.transmit(&apdu("00B2010C00")).unwrap();
        assert_eq!(sw(&r), 0x9000);
        assert_eq!(r[0], 0x70);
        ch.power_off();
        drop(ch);

        {
            let out = run_pyscard(&[]);
            assert!(out.contains("SELECT PPSE"), "{out}");
            assert!(out.contains(&format!("aid={AID}")), "{out}");
            assert!(out.contains("records=3"), "{out}");
            assert!(out.contains(&format!("atr={}", hex::encode_upper(pseudo_atr(b"LAMINA")))));
        }
        let _ = served.stop();
    });
}

/// One purchase with the shipped retail configuration and the host double.
fn pay(
    card: &mut dyn CardChannel,
    amount: u64,
) -> (TransactionResult, HostDouble, RecordingScreen) {
    let mut cfg = lamina_terminal::source::Builtin::terminal("retail").unwrap();
    cfg.random_selection.target_percent = 0;
    cfg.random_selection.max_target_percent = 0;
    let mut host = HostDouble::new(
        CvnChoice::EmvCcd.cvn(),
        TEST_IMK_AC,
        TEST_IMK_SMI,
        Some(TEST_PIN),
    );
    let mut request = TransactionRequest::purchase(amount);
    request.trace = true;
    let mut screen = RecordingScreen::default();
    let mut pad = ScriptedPinPad::new([Some(TEST_PIN)]);
    let mut dukpt = DukptPinPad::test().unwrap();
    let now = DateTime {
        year: 2026,
        month: 11,
        day: 25,
        hour: 10,
        minute: 30,
        second: 0,
    };
    let mut rng = DetRng(42);
    let result = run(
        &cfg,
        &request,
        Devices {
            card,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: Some(&mut host),
            pin_encryptor: Some(&mut dukpt),
        },
        &FixedClock(now),
        &mut rng,
    );
    (result, host, screen)
}

/// The issue's "done when": a payment through the real pcscd (PC/SC channel,
/// T=0) gives the same outcome, the same cryptograms and the same data sent to
/// the issuer (cryptogram inputs) as the same card in process; the served card's
/// NVM ends identical to the in-process card's.
#[test]
fn payment_through_real_pcscd_matches_in_process() {
    with_pcscd("payment_through_real_pcscd_matches_in_process", |port| {
        // In process.
        let mut local = EmulatedCard::new(emv_card(11));
        let (want, want_host, want_screen) = pay(&mut local, 7500);
        let local_card = local.into_card();

        // Through pcscd: T=1 (what pcsc-lite picks), then T=0 against a card
        // answering like a raw T=0 card (61xx: the channel fetches with GET
        // RESPONSE).
        for (style, proto) in [
            (ResponseStyle::Full, PreferredProtocol::Any),
            (ResponseStyle::T0, PreferredProtocol::T0),
        ] {
            let served = Served::start_with(emv_card(11), port, Interface::Contact, style);
            let mut ch = open_reader().with_protocol(proto);
            let (got, got_host, got_screen) = pay(&mut ch, 7500);
            assert_eq!(
                ch.active_protocol(),
                None,
                "powered off after the transaction"
            );
            drop(ch);
            let card_saw = served.log.lock().unwrap().clone();
            let (served_card, image) = served.stop();
            wait_for_removal();
            // What crossed the real daemon: under raw T=0 the card announced data
            // with 61xx / 6Cxx and the PC/SC channel fetched it; otherwise none.
            let announced = card_saw
                .iter()
                .filter(|(_, r)| matches!(r.first(), Some(0x61 | 0x6C)) && r.len() == 2)
                .count();
            let get_responses = card_saw
                .iter()
                .filter(|(c, _)| c.get(1) == Some(&0xC0))
                .count();
            println!(
                "{style:?}/{proto:?}: kernel sent {} APDUs, the card saw {} ({announced} 61xx/6Cxx, {get_responses} GET RESPONSE)",
                got.apdu_count,
                card_saw.len()
            );
            if style == ResponseStyle::T0 {
                assert!(announced > 0 && get_responses > 0);
            } else {
                assert_eq!(announced, 0, "full data with 9000");
                assert_eq!(card_saw.len(), got.apdu_count);
            }
            println!(
                "in-process: {:?} {:?}; over PC/SC: {:?} {:?}",
                want.outcome, want.cryptograms, got.outcome, got.cryptograms
            );
            assert_eq!(got.outcome, want.outcome);
            assert!(!got.cryptograms.is_empty(), "GENERATE AC reached");
            assert_eq!(got.cryptograms, want.cryptograms, "same AC, ATC, IAD, CID");
            assert_eq!(got.tvr.hex, want.tvr.hex);
            assert_eq!(got.tsi.hex, want.tsi.hex);
            assert_eq!(got.cvm_results.hex, want.cvm_results.hex);
            assert_eq!(got.arc, want.arc);
            assert_eq!(got.aid, want.aid);
            assert_eq!(got_screen.messages(), want_screen.messages());
            // The cryptogram inputs as the issuer saw them (field 55).
            assert_eq!(got_host.requests.len(), want_host.requests.len());
            for (g, w) in got_host.requests.iter().zip(&want_host.requests) {
                assert_eq!(
                    hex::encode_upper(&g.icc_data),
                    hex::encode_upper(&w.icc_data)
                );
            }
            assert!(
                got_host.decisions.iter().all(|d| d.arqc_ok),
                "ARQC verified"
            );
            assert_eq!(served_card.nvm(), local_card.nvm(), "same card state");
            assert_eq!(image, served_card.save_image(), "saved after the session");
        }
    });
}
