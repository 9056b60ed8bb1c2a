#![allow(clippy::unwrap_used, clippy::panic)]
//! Kernel steps against scripted cards built from constructed data: application
//! selection (PSE, list of AIDs, priority, confirmation, retry), GPO formats,
//! malformed answers, T=0 chaining, configuration and CAPK file errors, and
//! property tests: random or mutated card responses never panic the kernel.

mod support;

use std::collections::VecDeque;

use lamina_card::{CardChannel, ChannelError, Interface};
use lamina_terminal::capk::CapkStore;
use lamina_terminal::config::{ConfigError, TerminalConfig};
use lamina_terminal::kernel::{date_number, format_amount, parse_afl};
use lamina_terminal::outcome::{Outcome, Termination};
use lamina_terminal::source::Builtin;
use lamina_terminal::ui::{CandidateView, Event, Message, RecordingScreen, Screen, ScriptedPinPad};
use lamina_terminal::{Devices, FixedClock, TransactionRequest, run};
use lamina_tlv::Tlv;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::*;

/// A card that answers by rules: the first rule whose command prefix matches.
#[derive(Default)]
struct FakeCard {
    rules: Vec<(Vec<u8>, VecDeque<Vec<u8>>)>,
    log: Vec<Vec<u8>>,
}

impl FakeCard {
    fn on(mut self, prefix: &str, responses: &[&str]) -> Self {
        self.rules.push((
            hex::decode(prefix).unwrap(),
            responses.iter().map(|r| hex::decode(r).unwrap()).collect(),
        ));
        self
    }
}

impl CardChannel for FakeCard {
    fn power_on(&mut self, _: Interface) -> Result<Vec<u8>, ChannelError> {
        Ok(vec![0x3B, 0x00])
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.log.push(apdu.to_vec());
        for (prefix, resp) in &mut self.rules {
            if apdu.starts_with(prefix) {
                // The last response repeats.
                return Ok(if resp.len() > 1 {
                    resp.pop_front().unwrap()
                } else {
                    resp.front().cloned().unwrap_or_else(|| vec![0x6F, 0x00])
                });
            }
        }
        Ok(vec![0x6D, 0x00])
    }
    fn power_off(&mut self) {}
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        Ok(vec![0x3B, 0x00])
    }
}

fn tlv(tag: u32, v: &[u8]) -> Tlv {
    Tlv::primitive(tag, v.to_vec())
}

fn hexs(t: &Tlv) -> String {
    hex::encode_upper(t.encode()) + "9000"
}

fn fci(aid: &str, label: &str, priority: Option<u8>) -> String {
    let mut a5 = vec![tlv(0x50, label.as_bytes())];
    if let Some(p) = priority {
        a5.push(tlv(0x87, &[p]));
    }
    hexs(&Tlv::constructed(
        0x6Fu32,
        vec![
            tlv(0x84, &hex::decode(aid).unwrap()),
            Tlv::constructed(0xA5u32, a5),
        ],
    ))
}

fn pse_fci() -> String {
    hexs(&Tlv::constructed(
        0x6Fu32,
        vec![
            tlv(0x84, b"1PAY.SYS.DDF01"),
            Tlv::constructed(0xA5u32, vec![tlv(0x88, &[1])]),
        ],
    ))
}

fn dir_entry(aid: &str, label: &str, priority: u8) -> Tlv {
    Tlv::constructed(
        0x61u32,
        vec![
            tlv(0x4F, &hex::decode(aid).unwrap()),
            tlv(0x50, label.as_bytes()),
            tlv(0x87, &[priority]),
        ],
    )
}

const LAMINA: &str = "F04C414D494E4145";
const VISA: &str = "A0000000031010";

fn select_cmd(aid: &str) -> String {
    format!("00A40400{:02X}{aid}", aid.len() / 2)
}

struct Run {
    outcome: Outcome,
    screen: RecordingScreen,
    log: Vec<Vec<u8>>,
}

fn run_fake(card: FakeCard, cfg: &TerminalConfig, screen: RecordingScreen) -> Run {
    let mut card = card;
    let mut screen = screen;
    let mut pad = ScriptedPinPad::new([Some("1234")]);
    let mut rng = StdRng::seed_from_u64(3);
    let r = run(
        cfg,
        &TransactionRequest::purchase(100),
        Devices {
            card: &mut card,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: None,
            pin_encryptor: None,
        },
        &FixedClock(NOW),
        &mut rng,
    );
    Run {
        outcome: r.outcome,
        screen,
        log: card.log,
    }
}

fn selects(log: &[Vec<u8>]) -> Vec<String> {
    log.iter()
        .filter(|c| c.starts_with(&[0x00, 0xA4]))
        .map(|c| hex::encode_upper(&c[5..c.len() - 1]))
        .collect()
}

#[test]
fn pse_candidates_by_priority_with_retry_after_failed_final_select() {
    let dir = Tlv::constructed(
        0x70u32,
        vec![
            dir_entry(VISA, "VISA", 0x02),
            dir_entry(LAMINA, "LAMINA", 0x01),
        ],
    );
    let card = FakeCard::default()
        .on(
            &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
            &[&pse_fci()],
        )
        .on("00B2010C", &[&hexs(&dir)])
        .on("00B2020C", &["6A83"])
        // The first choice (priority 1) fails its final SELECT.
        .on(&select_cmd(LAMINA), &["6A82"])
        .on(&select_cmd(VISA), &[&fci(VISA, "VISA", Some(0x02))])
        .on("80A8", &["6985"]);
    let mut cfg = retail();
    cfg.cardholder_confirmation = false;
    let r = run_fake(card, &cfg, RecordingScreen::default());
    assert_eq!(
        selects(&r.log),
        vec![
            hex::encode_upper(b"1PAY.SYS.DDF01"),
            LAMINA.to_owned(),
            VISA.to_owned()
        ]
    );
    // GPO 6985 removes the last candidate: not accepted.
    assert_eq!(r.outcome, Outcome::Terminated(Termination::NotAccepted));
    let m = r.screen.messages();
    assert_eq!(m.iter().filter(|x| **x == Message::TryAgain).count(), 2);
    assert!(m.contains(&Message::NotAccepted));
}

#[test]
fn cardholder_chooses_among_candidates() {
    struct Chooser(RecordingScreen, Vec<Vec<CandidateView>>);
    impl Screen for Chooser {
        fn show(&mut self, e: &Event) {
            self.0.show(e);
        }
        fn choose_application(&mut self, c: &[CandidateView]) -> Option<usize> {
            self.1.push(c.to_vec());
            c.iter().position(|v| v.label == "VISA")
        }
    }
    let dir = Tlv::constructed(
        0x70u32,
        vec![
            dir_entry(VISA, "VISA", 0x02),
            dir_entry(LAMINA, "LAMINA", 0x01),
        ],
    );
    let mut card = FakeCard::default()
        .on(
            &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
            &[&pse_fci()],
        )
        .on("00B2010C", &[&hexs(&dir)])
        .on("00B2020C", &["6A83"])
        .on(&select_cmd(VISA), &[&fci(VISA, "VISA", Some(0x02))])
        .on("80A8", &["6985"]);
    let cfg = retail();
    let mut screen = Chooser(RecordingScreen::default(), Vec::new());
    let mut pad = ScriptedPinPad::absent();
    let mut rng = StdRng::seed_from_u64(3);
    let _ = run(
        &cfg,
        &TransactionRequest::purchase(100),
        Devices {
            card: &mut card,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: None,
            pin_encryptor: None,
        },
        &FixedClock(NOW),
        &mut rng,
    );
    // Offered in priority order; the cardholder took VISA.
    let offered: Vec<String> = screen.1[0].iter().map(|c| c.label.clone()).collect();
    assert_eq!(offered, vec!["LAMINA", "VISA"]);
    assert_eq!(selects(&card.log)[1], VISA);
}

#[test]
fn list_of_aids_when_no_pse_and_blocked_application_skipped() {
    let card = FakeCard::default()
        .on(
            &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
            &["6A82"],
        )
        // Lamina: application blocked (6283), not a candidate.
        .on(
            &select_cmd(LAMINA),
            &[&fci(LAMINA, "LAMINA", None).replace("9000", "6283")],
        )
        .on(&select_cmd(VISA), &[&fci(VISA, "VISA", None)])
        .on("80A8", &["6985"]);
    let r = run_fake(card, &retail(), RecordingScreen::default());
    assert_eq!(
        selects(&r.log),
        vec![
            hex::encode_upper(b"1PAY.SYS.DDF01"),
            LAMINA.to_owned(),
            VISA.to_owned(),
            "A0000000041010".to_owned(),
            "A0000002771010".to_owned(),
            VISA.to_owned()
        ]
    );
    assert_eq!(r.outcome, Outcome::Terminated(Termination::NotAccepted));
}

#[test]
fn partial_aid_match_selects_next_occurrence() {
    let long = format!("{LAMINA}01");
    let long2 = format!("{LAMINA}02");
    let card = FakeCard::default()
        .on(
            &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
            &["6A82"],
        )
        .on(
            &format!("00A40402{:02X}{LAMINA}", LAMINA.len() / 2),
            &[&fci(&long2, "LAMINA 2", Some(2)), "6A82"],
        )
        .on(&select_cmd(LAMINA), &[&fci(&long, "LAMINA 1", Some(1))])
        .on(&select_cmd(&long), &[&fci(&long, "LAMINA 1", Some(1))])
        .on(&select_cmd(&long2), &[&fci(&long2, "LAMINA 2", Some(2))])
        .on("80A8", &["6985"]);
    let mut cfg = retail();
    cfg.cardholder_confirmation = false;
    let r = run_fake(card, &cfg, RecordingScreen::default());
    let s = selects(&r.log);
    assert!(s.contains(&long) && s.contains(&long2), "{s:?}");
}

#[test]
fn card_blocked_on_pse() {
    let card = FakeCard::default().on(
        &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
        &["6A81"],
    );
    let r = run_fake(card, &retail(), RecordingScreen::default());
    assert_eq!(r.outcome, Outcome::Terminated(Termination::CardBlocked));
}

fn gpo_card(gpo: &str) -> FakeCard {
    FakeCard::default()
        .on(
            &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
            &["6A82"],
        )
        .on(&select_cmd(LAMINA), &[&fci(LAMINA, "LAMINA", None)])
        .on("80A8", &[gpo])
}

#[test]
fn malformed_answers_are_card_errors() {
    for (gpo, what) in [
        ("77058202", "truncated TLV"),
        ("8001189000", "format 1 too short"),
        ("770482021C009000", "AFL missing"),
        ("80061C000801019000", "AFL not a multiple of 4"),
        ("80061C0000010100", "status word only in the data"),
        ("800A1C0008010100080101019000", "AFL with SFI 0"),
        ("800A1C00080201000801010090009000", "AFL last before first"),
        ("9000", "empty GPO"),
        ("6F00", "GPO refused"),
        ("90", "response shorter than SW"),
    ] {
        let r = run_fake(gpo_card(gpo), &retail(), RecordingScreen::default());
        assert!(
            matches!(r.outcome, Outcome::Terminated(Termination::CardError(_))),
            "{what}: {:?}",
            r.outcome
        );
        assert!(r.screen.messages().contains(&Message::CardError), "{what}");
    }
}

#[test]
fn gpo_format_1_and_record_outside_template_70() {
    // Format 1 AIP/AFL; the record in SFI 1 is not template 70: card error.
    let card = gpo_card("80061C00080101009000").on("00B2010C", &["5A0847617390010100109000"]);
    let r = run_fake(card, &retail(), RecordingScreen::default());
    match r.outcome {
        Outcome::Terminated(Termination::CardError(s)) => assert!(s.contains("template 70"), "{s}"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn t0_get_response_is_followed() {
    // The FCI comes with 61xx (T=0): the kernel fetches it with GET RESPONSE.
    let f = fci(LAMINA, "LAMINA", None);
    let body = &f[..f.len() - 4];
    let card = FakeCard::default()
        .on(
            &select_cmd(&hex::encode_upper(b"1PAY.SYS.DDF01")),
            &["6A82"],
        )
        .on(&select_cmd(LAMINA), &[&format!("61{:02X}", body.len() / 2)])
        .on("00C00000", &[&f])
        .on("80A8", &["6985"]);
    let r = run_fake(card, &retail(), RecordingScreen::default());
    assert!(r.log.iter().any(|c| c.starts_with(&[0x00, 0xC0])));
    assert_eq!(r.outcome, Outcome::Terminated(Termination::NotAccepted));
}

#[test]
fn afl_rules() {
    assert_eq!(parse_afl(&[0x08, 1, 2, 1]).unwrap()[0].sfi, 1);
    assert!(
        parse_afl(&[0x08, 1, 2, 3]).is_err(),
        "more ODA records than records"
    );
    assert!(parse_afl(&[0xF8, 1, 1, 0]).is_err(), "SFI 31");
    assert!(parse_afl(&[0x09, 1, 1, 0]).is_err(), "low bits set");
    assert!(parse_afl(&[]).is_err());
}

#[test]
fn dates_and_amounts() {
    assert_eq!(date_number(&[0x30, 0x12, 0x31]), Some(20301231));
    assert_eq!(date_number(&[0x99, 0x12, 0x31]), Some(19991231));
    assert_eq!(date_number(&[0x30, 0x13, 0x01]), None);
    assert_eq!(date_number(&[0x3A, 0x12, 0x01]), None);
    assert_eq!(format_amount(1234, 2), "12.34");
    assert_eq!(format_amount(5, 2), "0.05");
    assert_eq!(format_amount(500, 0), "500");
}

#[test]
fn shipped_configurations_load() {
    for f in ["retail.toml", "offline.toml"] {
        let c = Builtin::terminal(f).unwrap();
        assert_eq!(c.capks.len(), 1, "{f}");
        assert!(c.aid_for(&hex::decode(LAMINA).unwrap()).is_some());
    }
    let c = Builtin::terminal("retail").unwrap();
    assert_eq!(c.terminal_type, 0x22);
    assert_eq!(c.capabilities.0, [0xE0, 0xF8, 0xE8]);
    assert_eq!(c.aids[0].floor_limit, 5000);
    assert!(!c.is_unattended() && !c.is_atm());
}

#[test]
fn shipped_capk_file_is_the_test_ca() {
    let store = CapkStore::from_toml(Builtin::text("capk-test.toml").unwrap()).unwrap();
    let k = store
        .get(
            &lamina_terminal::testkit::TEST_RID,
            lamina_terminal::testkit::TEST_CA_INDEX,
        )
        .unwrap();
    assert_eq!(*k, pki().capk());
    let round = CapkStore::from_toml(&store.to_toml()).unwrap();
    assert_eq!(round.len(), 1);
}

#[test]
fn configuration_errors_name_the_field() {
    let base = Builtin::text("retail.toml").unwrap().to_owned();
    let dir = Builtin;
    let cases = [
        (
            base.replace("capabilities = \"E0F8E8\"", "capabilities = \"E0F8\""),
            "terminal.capabilities",
        ),
        (
            base.replace("denial = \"0010000000\"", "denial = \"zz\""),
            "tac.denial",
        ),
        (
            base.replace("aid = \"A0000000031010\"", "aid = \"A000\""),
            "aid[1].aid",
        ),
        (
            base.replace("target_percent = 5", "target_percent = 50"),
            "random_selection",
        ),
        (
            base.replace("file = \"capk-test.toml\"", "file = \"missing.toml\""),
            "missing.toml",
        ),
    ];
    for (text, field) in cases {
        let e = TerminalConfig::from_toml(&text, &dir).unwrap_err();
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    let e = TerminalConfig::from_toml(&format!("{base}\nbogus = 1\n"), &dir).unwrap_err();
    assert!(matches!(e, ConfigError::Toml(_)));
}

#[test]
fn capk_checksum_is_checked() {
    let text = Builtin::text("capk-test.toml").unwrap();
    let bad = text.replace("checksum = \"1", "checksum = \"2");
    let e = CapkStore::from_toml(&bad).unwrap_err();
    assert!(e.to_string().contains("checksum"), "{e}");
}

#[test]
fn random_selection_is_biased_between_threshold_and_floor() {
    // Target 50 %, max 99 %, threshold 10.00, floor 50.00: at 49.99 almost all are
    // selected, at 5.00 about half, over many seeds.
    let mut cfg = retail();
    cfg.random_selection.threshold = 1000;
    cfg.random_selection.target_percent = 50;
    cfg.random_selection.max_target_percent = 99;
    let count = |amount: u64| {
        (0..40u64)
            .filter(|seed| {
                let mut c = card(&CardSpec {
                    oda: Oda::None,
                    seed: *seed,
                    ..CardSpec::default()
                });
                let mut req = TransactionRequest::purchase(amount);
                req.stan = u32::try_from(*seed).unwrap();
                let mut screen = RecordingScreen::default();
                let mut pad = ScriptedPinPad::new([Some("1234")]);
                let mut rng = StdRng::seed_from_u64(*seed);
                let r = run(
                    &cfg,
                    &req,
                    Devices {
                        card: &mut c,
                        screen: &mut screen,
                        pin_pad: &mut pad,
                        acquirer: None,
                        pin_encryptor: None,
                    },
                    &FixedClock(NOW),
                    &mut rng,
                );
                r.tvr_raw
                    .is_set(lamina_emv::bitmaps::TvrBit::RandomlySelectedOnline)
            })
            .count()
    };
    let high = count(4999);
    let low = count(500);
    assert!(high >= 35, "high {high}");
    assert!((8..=32).contains(&low), "low {low}");
}

/// Responses drawn at random, status words included.
fn arb_response() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        (
            proptest::collection::vec(any::<u8>(), 0..40),
            prop_oneof![
                Just([0x90u8, 0x00]),
                Just([0x61, 0x10]),
                Just([0x6C, 0x05]),
                Just([0x63, 0xC1]),
                Just([0x69, 0x85])
            ]
        )
            .prop_map(|(mut d, sw)| {
                d.extend_from_slice(&sw);
                d
            }),
    ]
}

struct RandomCard(VecDeque<Vec<u8>>);

impl CardChannel for RandomCard {
    fn power_on(&mut self, _: Interface) -> Result<Vec<u8>, ChannelError> {
        Ok(vec![0x3B, 0x00])
    }
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.0.pop_front().ok_or(ChannelError::CardRemoved)
    }
    fn power_off(&mut self) {}
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        Ok(vec![0x3B, 0x00])
    }
}

/// A real card whose n-th response has a byte flipped (or is cut short).
struct MutatingCard {
    inner: TestCard,
    n: usize,
    target: usize,
    pos: usize,
    xor: u8,
    cut: bool,
}

impl CardChannel for MutatingCard {
    fn power_on(&mut self, i: Interface) -> Result<Vec<u8>, ChannelError> {
        self.inner.power_on(i)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let mut r = self.inner.transmit(apdu)?;
        self.n += 1;
        if self.n == self.target && !r.is_empty() {
            let p = self.pos % r.len();
            if self.cut {
                r.truncate(p);
            } else {
                r[p] ^= self.xor;
            }
        }
        Ok(r)
    }
    fn power_off(&mut self) {
        self.inner.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.inner.reset()
    }
}

fn run_any(card: &mut dyn CardChannel, amount: u64) -> lamina_terminal::TransactionResult {
    let cfg = retail();
    let mut h = host();
    let mut screen = RecordingScreen::default();
    let mut pad = ScriptedPinPad::new([Some("1234"), Some("1234"), Some("1234")]);
    let mut dukpt = lamina_terminal::testkit::DukptPinPad::test().unwrap();
    let mut rng = StdRng::seed_from_u64(amount);
    run(
        &cfg,
        &TransactionRequest::purchase(amount),
        Devices {
            card,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: Some(&mut h),
            pin_encryptor: Some(&mut dukpt),
        },
        &FixedClock(NOW),
        &mut rng,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_card_responses_never_panic(responses in proptest::collection::vec(arb_response(), 0..24)) {
        let mut c = RandomCard(responses.into());
        let r = run_any(&mut c, 1234);
        // Random garbage can not produce an approval.
        prop_assert!(!r.outcome.is_approved());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mutated_card_responses_never_panic(
        target in 1usize..24, pos in any::<usize>(), xor in 1u8..=255, cut in any::<bool>(),
        oda in prop_oneof![Just(Oda::Sda), Just(Oda::Dda), Just(Oda::Cda)],
    ) {
        let mut c = MutatingCard {
            inner: card(&CardSpec { oda, ..CardSpec::default() }),
            n: 0, target, pos, xor, cut,
        };
        let r = run_any(&mut c, 7500);
        // Whatever happened, the TVR/TSI were reported and nothing panicked.
        prop_assert_eq!(r.tvr.hex.len(), 10);
    }
}
