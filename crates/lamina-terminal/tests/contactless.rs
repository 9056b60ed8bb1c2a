#![allow(clippy::unwrap_used, clippy::panic)]
//! Contactless scenario tests (issue 8, "Contactless EMV kernel"): the contactless
//! kernel against Lamina's EMV applet (lamina-applets) behind an ISO/IEC 14443-4
//! [`ContactlessLink`], with the shipped `terminals/retail-contactless.toml`, a
//! host double whose cryptography is real (ARQC verified from the issuer master
//! key, online PIN checked under DUKPT) and CDA with the test PKI.
//!
//! The cards get a contactless FCI (DGI 9103: PDOL with the TTQ `9F66`) and
//! contactless GPO data (DGI 9105), and a PPSE entry with kernel identifier
//! `9F2A` = 02.

mod support;

use lamina_applets::emv::provision::{install_entry, personalize_image_with_dgis};
use lamina_applets::emv::testing::rom;
use lamina_card::image::CardImage;
use lamina_card::{
    Aid, BitRate, Card, CardChannel, CardLifeCycle, ChannelError, ContactlessLink, EmulatedCard,
    Interface, LinkConfig, Removal, SeededRng,
};
use lamina_emv::bitmaps::{Tvr, TvrBit};
use lamina_terminal::contactless::{
    ContactlessConfig, ContactlessCvm, ContactlessDevices, ContactlessResult, Indicator,
    ReaderOutcome, StatusIndicator, run_contactless,
};
use lamina_terminal::kernel::{FixedClock, TransactionRequest};
use lamina_terminal::outcome::{AcType, Outcome, Termination};
use lamina_terminal::testkit::{DukptPinPad, HostDouble, IccRsaShim};
use lamina_terminal::ui::{Event, Message, RecordingScreen, ScriptedPinPad};
use lamina_tlv::Tlv;
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::*;

/// The contactless PDOL (as the bureau's `profiles/debit.toml`): TTQ, amounts,
/// country, TVR, currency, date, type, UN.
const CL_PDOL: &str = "9F66049F02069F03069F1A0295055F2A029A039C019F3704";

/// `ContactlessLink` over the CDA test card.
type ClCard = ContactlessLink<TestCard>;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn config() -> ContactlessConfig {
    let mut c = lamina_terminal::source::Builtin::contactless("retail-contactless").unwrap();
    c.terminal.random_selection.target_percent = 0;
    c.terminal.random_selection.max_target_percent = 0;
    c
}

/// A CDA card (support's personalization) with contactless FCI and GPO data, in
/// the PPSE with kernel identifier 02.
fn cl_test_card(seed: u64) -> TestCard {
    cl_test_card_with(seed, &[])
}

/// [`cl_test_card`] with extra objects in the contactless FCI (e.g. a CTQ `9F6C`).
fn cl_test_card_with(seed: u64, extra_fci: &[Tlv]) -> TestCard {
    cl_test_card_kernel(seed, extra_fci, 0x02)
}

/// [`cl_test_card_with`] listed in the PPSE with kernel identifier `kernel`.
fn cl_test_card_kernel(seed: u64, extra_fci: &[Tlv], kernel: u8) -> TestCard {
    let spec = CardSpec {
        oda: Oda::Cda,
        seed,
        ..CardSpec::default()
    };
    let p = personalization(&spec);
    let mut dgis: Vec<(u16, Vec<u8>)> = p
        .to_dgis()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.data.to_vec()))
        .collect();
    let mut fci = vec![
        Tlv::primitive(0x50u32, p.label.as_bytes().to_vec()),
        Tlv::primitive(0x87u32, vec![0x01]),
        Tlv::primitive(0x9F38u32, h(CL_PDOL)),
    ];
    fci.extend(extra_fci.iter().cloned());
    let fci = Tlv::encode_all(&fci);
    // Same AIP as on contact: the signed static data (9F4A = 82) covers it.
    let gpo = Tlv::encode_all(&[
        Tlv::primitive(0x82u32, p.aip.clone()),
        Tlv::primitive(0x94u32, p.afl.clone()),
    ]);
    dgis.push((0x9103, fci));
    dgis.push((0x9105, gpo));
    let rom = rom(None);
    let mut card = Card::new(rom.clone(), SeededRng::new(seed));
    card.install(
        install_entry(&p)
            .unwrap()
            .ppse_entry_extra(vec![0x9F, 0x2A, 0x01, kernel]),
    )
    .unwrap();
    card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
    let mut image = CardImage::from_json(&card.save_image()).unwrap();
    let aid = Aid::new(p.aid.clone()).unwrap();
    let refs: Vec<(u16, &[u8])> = dgis.iter().map(|(i, d)| (*i, d.as_slice())).collect();
    personalize_image_with_dgis(&mut image, &aid, &refs).unwrap();
    let card = Card::load_image(rom, SeededRng::new(seed), &image.to_json()).unwrap();
    IccRsaShim::new(EmulatedCard::new(card), pki().icc.clone(), seed)
}

/// An online approval on the contact interface first, so the card is not "new"
/// and its risk management may approve offline.
fn warmed(seed: u64) -> TestCard {
    warm(cl_test_card(seed))
}

fn warm(mut card: TestCard) -> TestCard {
    let mut h = host();
    let p = pay(&retail(), &mut card, 6000, &[Some("1234")], Some(&mut h));
    assert_eq!(
        p.result.outcome,
        Outcome::ApprovedOnline,
        "{}",
        trace_text(&p.result)
    );
    card
}

fn link(card: TestCard, rate: BitRate) -> ClCard {
    ContactlessLink::with_config(card, LinkConfig::default().bit_rate(rate))
}

#[derive(Default)]
struct Lights(Vec<Indicator>);

impl StatusIndicator for Lights {
    fn indicate(&mut self, i: Indicator) {
        self.0.push(i);
    }
}

struct Tapped {
    r: ContactlessResult,
    screen: RecordingScreen,
    lights: Vec<Indicator>,
    pin_requests: usize,
}

fn tap_with(
    reader: &mut dyn lamina_terminal::contactless::ContactlessReader,
    amount: u64,
    pins: &[Option<&str>],
    host: Option<&mut HostDouble>,
) -> Tapped {
    let cfg = config();
    let mut request = TransactionRequest::purchase(amount);
    request.trace = true;
    let mut screen = RecordingScreen::default();
    let mut pad = ScriptedPinPad::new(pins.iter().map(|p| p.map(str::to_owned)));
    let mut dukpt = DukptPinPad::test().unwrap();
    let mut lights = Lights::default();
    let mut rng = StdRng::seed_from_u64(7 + amount);
    let r = run_contactless(
        &cfg,
        &request,
        ContactlessDevices {
            reader,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: host.map(|h| h as &mut dyn lamina_terminal::online::AcquirerLink),
            pin_encryptor: Some(&mut dukpt),
            status: Some(&mut lights),
        },
        &FixedClock(NOW),
        &mut rng,
    );
    assert_eq!(
        r.indicators, lights.0,
        "status device sees every indication"
    );
    Tapped {
        r,
        screen,
        lights: lights.0,
        pin_requests: pad.requests,
    }
}

fn trace(r: &ContactlessResult) -> String {
    trace_text(&r.result)
}

/// APDUs of one tap of the test card: SELECT PPSE, SELECT AID, GPO, five READ
/// RECORDs (AFL 08010100 10010202 18010200), GENERATE AC.
const TAP_APDUS: u64 = 9;

#[test]
fn shipped_configuration_loads() {
    let c = config();
    assert_eq!(c.reader.transaction_limit, 15_000);
    assert_eq!(c.reader.cvm_required_limit, 5_000);
    assert_eq!(c.reader.kernel_ids, vec![2, 3]);
    assert!(c.terminal.online_capable);
    let bad = ContactlessConfig::from_toml(
        "base = \"retail.toml\"\n[contactless]\ntransaction_limit = 1\nfloor_limit = 0\ncvm_required_limit = 0\nbogus = 1\n",
        &lamina_terminal::source::Builtin,
    );
    assert!(bad.is_err(), "unknown fields are refused");
}

#[test]
fn one_tap_under_cvm_limit_approved_offline_with_cda() {
    let mut reader = link(warmed(11), BitRate::R106);
    let mut h = host();
    let t = tap_with(&mut reader, 2000, &[], Some(&mut h));
    let r = &t.r;
    assert_eq!(r.result.outcome, Outcome::ApprovedOffline, "{}", trace(r));
    assert_eq!(r.outcome, ReaderOutcome::Approved);
    assert_eq!(r.result.arc.as_deref(), Some("Y1"));
    assert_eq!(r.result.oda.as_deref(), Some("CDA"));
    assert_eq!(r.result.cryptograms.len(), 1, "one GENERATE AC");
    let c = &r.result.cryptograms[0];
    assert_eq!((c.requested, c.returned), (AcType::Tc, AcType::Tc));
    assert!(c.cda_verified, "TC authenticated by CDA");
    assert_eq!(r.result.tvr_raw, Tvr::new(), "{:?}", r.result.tvr);
    assert_eq!(r.cvm, Some(ContactlessCvm::NoCvm));
    assert_eq!(r.result.cvm_raw.0, [0x1F, 0x00, 0x02]);
    assert_eq!(r.kernel_id, Some(2));
    // TTQ: EMV mode, contact chip, online PIN, ODA for online; no online/CVM
    // required under the limits; CDCVM supported.
    assert_eq!(r.ttq.as_deref(), Some("35004000"));
    assert!(
        h.requests.is_empty(),
        "no authorisation under the floor limit"
    );
    assert!(r.card_read_ok);
    assert_eq!(
        t.lights,
        vec![
            Indicator::ReadyToRead,
            Indicator::CardReadOk,
            Indicator::Approved
        ]
    );
    assert_eq!(
        t.screen.messages(),
        vec![Message::RemoveCard, Message::Approved]
    );
    assert_eq!(r.result.apdu_count, 9, "{}", trace(r));
    // The PDOL data carried the TTQ.
    assert!(trace(r).contains("9F66"), "{}", trace(r));
    let receipt = r.result.receipt.as_ref().unwrap();
    assert!(receipt.merchant_copy.iter().any(|l| l == "CONTACTLESS"));
    assert!(
        receipt
            .merchant_copy
            .iter()
            .any(|l| l.contains("476173******0010"))
    );
    let stats = r.tap.unwrap();
    assert_eq!(stats.apdus, TAP_APDUS);
    assert!(stats.radio_us() > 0 && stats.activations == 1);
}

#[test]
fn over_cvm_limit_online_pin_after_the_card_left() {
    let mut reader = link(warmed(12), BitRate::R106);
    // The card leaves the field right after its GENERATE AC answer: the online
    // part must not need it.
    reader.remove_at(Removal::AfterApdus(TAP_APDUS));
    let mut h = host();
    let t = tap_with(&mut reader, 8000, &[Some(TEST_PIN_STR)], Some(&mut h));
    let r = &t.r;
    assert_eq!(r.result.outcome, Outcome::ApprovedOnline, "{}", trace(r));
    assert_eq!(r.outcome, ReaderOutcome::Approved);
    assert_eq!(r.result.arc.as_deref(), Some("00"));
    assert_eq!(r.cvm, Some(ContactlessCvm::OnlinePin));
    assert_eq!(r.result.cvm_raw.0, [0x02, 0x00, 0x00]);
    assert!(r.result.tvr_raw.is_set(TvrBit::OnlineCvmCaptured));
    assert!(r.result.tvr_raw.is_set(TvrBit::FloorLimitExceeded));
    // TTQ byte 2: online cryptogram required, CVM required.
    assert_eq!(r.ttq.as_deref(), Some("35C04000"));
    assert_eq!(r.result.cryptograms.len(), 1, "no second GENERATE AC");
    let c = &r.result.cryptograms[0];
    assert_eq!(c.returned, AcType::Arqc);
    assert!(c.cda_verified, "ARQC authenticated by CDA");
    assert_eq!(t.pin_requests, 1);
    // The issuer verified the ARQC and the PIN (real cryptography).
    assert_eq!(h.decisions.len(), 1);
    assert!(h.decisions[0].arqc_ok);
    assert_eq!(h.decisions[0].pin_ok, Some(true));
    let req = &h.requests[0];
    assert!(req.pin.is_some());
    assert!(!hex::encode_upper(&req.icc_data).is_empty());
    // Any command after GENERATE AC would have failed with "card removed".
    assert_eq!(r.result.apdu_count, 9, "{}", trace(r));
    assert_eq!(r.tap.unwrap().apdus, TAP_APDUS);
    assert!(
        reader.transmit(&[0x00, 0xB2, 0x01, 0x0C, 0x00]).is_err(),
        "the card is out of the field"
    );
    // Order: card read OK, then PIN, then online.
    assert_eq!(
        t.lights,
        vec![
            Indicator::ReadyToRead,
            Indicator::CardReadOk,
            Indicator::Processing,
            Indicator::Approved
        ]
    );
    assert_eq!(
        t.screen.messages(),
        vec![
            Message::RemoveCard,
            Message::EnterPin,
            Message::PleaseWait,
            Message::Approved
        ]
    );
    let online = t
        .screen
        .events
        .iter()
        .position(|e| *e == Event::GoingOnline)
        .unwrap();
    let removed = t
        .screen
        .events
        .iter()
        .position(|e| *e == Event::Message(Message::RemoveCard))
        .unwrap();
    assert!(removed < online);
    let receipt = r.result.receipt.as_ref().unwrap();
    assert!(
        receipt
            .merchant_copy
            .iter()
            .any(|l| l == "PIN VERIFIED ONLINE")
    );
}

const TEST_PIN_STR: &str = "1234";

#[test]
fn wrong_online_pin_declined_by_issuer() {
    let mut reader = link(warmed(13), BitRate::R106);
    let mut h = host();
    let t = tap_with(&mut reader, 8000, &[Some("9999")], Some(&mut h));
    assert_eq!(
        t.r.result.outcome,
        Outcome::DeclinedOnline,
        "{}",
        trace(&t.r)
    );
    assert_eq!(t.r.result.arc.as_deref(), Some("55"));
    assert_eq!(t.r.outcome, ReaderOutcome::Declined);
    assert_eq!(t.lights.last(), Some(&Indicator::Declined));
}

#[test]
fn above_contactless_transaction_limit_refused() {
    let mut reader = link(cl_test_card(14), BitRate::R106);
    let mut h = host();
    let t = tap_with(&mut reader, 20_000, &[], Some(&mut h));
    let r = &t.r;
    assert_eq!(
        r.result.outcome,
        Outcome::Terminated(Termination::NotAccepted)
    );
    assert_eq!(r.outcome, ReaderOutcome::TryAnotherInterface);
    assert_eq!(t.screen.messages(), vec![Message::InsertCard]);
    assert_eq!(r.result.apdu_count, 0, "no card command");
    assert!(r.tap.is_none());
    assert_eq!(reader.stats().activations, 0, "the field was not even used");
    assert!(h.requests.is_empty());
    assert_eq!(t.lights, vec![Indicator::ProcessingError]);
}

#[test]
fn card_removed_mid_tap_try_again_then_tap_again() {
    let mut reader = link(warmed(15), BitRate::R106);
    // Gone during the READ RECORDs.
    reader.remove_at(Removal::AfterApdus(4));
    let mut h = host();
    let t = tap_with(&mut reader, 2000, &[], Some(&mut h));
    let r = &t.r;
    assert_eq!(
        r.result.outcome,
        Outcome::Terminated(Termination::CardRemoved),
        "{}",
        trace(r)
    );
    assert_eq!(r.outcome, ReaderOutcome::TryAgain);
    assert!(!r.card_read_ok);
    assert!(r.result.cryptograms.is_empty());
    assert!(r.result.receipt.is_none());
    assert_eq!(t.screen.messages(), vec![Message::TryAgain]);
    assert_eq!(
        t.lights,
        vec![Indicator::ReadyToRead, Indicator::ProcessingError]
    );
    assert!(h.requests.is_empty());
    assert_eq!(r.tap.unwrap().apdus, 4);
    // Presented again: a clean new tap approves.
    reader.reinsert();
    let t = tap_with(&mut reader, 2000, &[], Some(&mut h));
    assert_eq!(
        t.r.result.outcome,
        Outcome::ApprovedOffline,
        "{}",
        trace(&t.r)
    );
}

#[test]
fn no_card_in_the_field() {
    let mut reader = link(cl_test_card(16), BitRate::R106);
    reader.remove_now();
    let t = tap_with(&mut reader, 2000, &[], None);
    assert_eq!(t.r.result.outcome, Outcome::Terminated(Termination::NoCard));
    assert_eq!(t.r.outcome, ReaderOutcome::TryAgain);
}

/// Flips one bit of the CDA signature (9F4B, the last object of the GENERATE AC
/// answer).
struct BadSdad(TestCard);

impl CardChannel for BadSdad {
    fn power_on(&mut self, i: Interface) -> Result<Vec<u8>, ChannelError> {
        self.0.power_on(i)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let mut r = self.0.transmit(apdu)?;
        if apdu.get(1) == Some(&0xAE) && r.len() > 10 {
            let i = r.len() - 3;
            r[i] ^= 0x01;
        }
        Ok(r)
    }
    fn power_off(&mut self) {
        self.0.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.0.reset()
    }
}

#[test]
fn cda_failure_declines() {
    let mut reader = ContactlessLink::new(BadSdad(warmed(17)));
    let mut h = host();
    let t = tap_with(&mut reader, 2000, &[], Some(&mut h));
    let r = &t.r;
    assert_eq!(r.result.outcome, Outcome::DeclinedOffline, "{}", trace(r));
    assert_eq!(r.result.arc.as_deref(), Some("Z1"));
    assert!(!r.result.cryptograms[0].cda_verified);
    assert_eq!(r.outcome, ReaderOutcome::Declined);
    assert!(h.requests.is_empty());
    assert_eq!(t.lights.last(), Some(&Indicator::Declined));
}

#[test]
fn online_only_reader_asks_an_arqc() {
    let mut cfg = config();
    cfg.reader.online_only = true;
    let pre = lamina_terminal::contactless::pre_process(&cfg, 100);
    assert!(!pre.cvm_required && !pre.floor_limit_exceeded);
    assert_eq!(hex::encode_upper(pre.ttq.0), "35804000");
    cfg.terminal.online_capable = false;
    cfg.reader.online_only = false;
    let pre = lamina_terminal::contactless::pre_process(&cfg, 100);
    // Offline-only reader: TTQ byte 1 bit 4; no online PIN.
    assert_eq!(hex::encode_upper(pre.ttq.0), "39004000");
}

#[test]
fn radio_time_at_106_and_424_kbits() {
    let mut figures = Vec::new();
    for (seed, rate) in [(21, BitRate::R106), (22, BitRate::R424)] {
        let mut reader = link(warmed(seed), rate);
        let t = tap_with(&mut reader, 2000, &[], None);
        assert_eq!(
            t.r.result.outcome,
            Outcome::ApprovedOffline,
            "{}",
            trace(&t.r)
        );
        let s = t.r.tap.unwrap();
        println!(
            "offline CDA tap at {rate}: radio {} µs, card processing {} µs, {} APDUs, {} frames, {} bytes on air, tap wall time {} µs",
            s.radio_us(),
            s.processing_us(),
            s.apdus,
            s.frames,
            s.bytes_on_air,
            t.r.tap_wall_time.as_micros()
        );
        figures.push(s);
    }
    let (slow, fast) = (figures[0], figures[1]);
    assert_eq!(slow.bytes_on_air + 8, fast.bytes_on_air, "PPS frames only");
    assert!(slow.radio_us() > fast.radio_us() * 2);
    assert!(slow.processing_us() > 0 && fast.processing_us() > 0);
}

#[test]
fn consumer_device_cvm_over_the_cvm_limit_needs_no_pin() {
    // CTQ 9F6C byte 2 bit 8: consumer device CVM performed (Book C-3 Annex A.2).
    let card = warm(cl_test_card_with(
        18,
        &[Tlv::primitive(0x9F6Cu32, vec![0x00, 0x80])],
    ));
    let mut reader = link(card, BitRate::R106);
    let mut h = host();
    let t = tap_with(&mut reader, 8000, &[], Some(&mut h));
    let r = &t.r;
    assert_eq!(r.result.outcome, Outcome::ApprovedOnline, "{}", trace(r));
    assert_eq!(r.cvm, Some(ContactlessCvm::ConsumerDevice));
    assert_eq!(r.result.cvm_raw.0, [0x01, 0x00, 0x02]);
    assert!(!r.result.tvr_raw.is_set(TvrBit::OnlineCvmCaptured));
    assert_eq!(t.pin_requests, 0);
    assert_eq!(h.decisions[0].pin_ok, None);
    assert!(h.decisions[0].arqc_ok);
    // The CTQ goes to the issuer in field 55.
    let icc = hex::encode_upper(&h.requests[0].icc_data);
    assert!(icc.contains("9F6C020080"), "{icc}");
}

#[test]
fn card_demanding_online_pin_gets_it_over_the_cvm_limit() {
    // CTQ byte 1 bit 8 "online PIN required" wins over the CDCVM bit.
    let card = warm(cl_test_card_with(
        19,
        &[Tlv::primitive(0x9F6Cu32, vec![0x80, 0x80])],
    ));
    let mut reader = link(card, BitRate::R106);
    let mut h = host();
    let t = tap_with(&mut reader, 8000, &[Some(TEST_PIN_STR)], Some(&mut h));
    assert_eq!(
        t.r.result.outcome,
        Outcome::ApprovedOnline,
        "{}",
        trace(&t.r)
    );
    assert_eq!(t.r.cvm, Some(ContactlessCvm::OnlinePin));
    assert_eq!(h.decisions[0].pin_ok, Some(true));
}

#[test]
fn unable_to_go_online_declines_without_a_second_tap() {
    let mut reader = link(warmed(20), BitRate::R106);
    let mut h = host();
    h.unreachable = true;
    let t = tap_with(&mut reader, 6000, &[], Some(&mut h));
    let r = &t.r;
    assert_eq!(r.result.outcome, Outcome::DeclinedOffline, "{}", trace(r));
    assert_eq!(r.result.arc.as_deref(), Some("Z3"));
    assert_eq!(r.outcome, ReaderOutcome::Declined);
    assert_eq!(r.cvm, Some(ContactlessCvm::OnlinePin));
    assert_eq!(r.result.cryptograms.len(), 1);
    assert_eq!(h.requests.len(), 1, "one attempt");
    let receipt = r.result.receipt.as_ref().unwrap();
    assert!(receipt.merchant_copy.iter().any(|l| l == "DECLINED"));
}

#[test]
fn ppse_entry_for_an_unsupported_kernel_is_skipped() {
    let mut reader = link(cl_test_card_kernel(23, &[], 0x07), BitRate::R106);
    let t = tap_with(&mut reader, 2000, &[], None);
    assert_eq!(
        t.r.result.outcome,
        Outcome::Terminated(Termination::NotAccepted),
        "{}",
        trace(&t.r)
    );
    assert_eq!(t.r.outcome, ReaderOutcome::TryAnotherInterface);
    assert_eq!(t.r.result.apdu_count, 1, "only SELECT PPSE");
    assert_eq!(t.screen.messages(), vec![Message::InsertCard]);
}

/// A "card" answering every command with bytes from a list (then `9000`).
struct Noise(Vec<Vec<u8>>);

impl CardChannel for Noise {
    fn power_on(&mut self, _: Interface) -> Result<Vec<u8>, ChannelError> {
        Ok(vec![0x05, 0x78, 0x80, 0x70, 0x02])
    }
    fn transmit(&mut self, _: &[u8]) -> Result<Vec<u8>, ChannelError> {
        Ok(if self.0.is_empty() {
            vec![0x90, 0x00]
        } else {
            self.0.remove(0)
        })
    }
    fn power_off(&mut self) {}
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        Ok(vec![0x05, 0x78, 0x80, 0x70, 0x02])
    }
}

impl lamina_terminal::contactless::ContactlessReader for Noise {
    fn take_link_stats(&mut self) -> Option<lamina_card::LinkStats> {
        None
    }
}

/// Answers of a minimal well-formed card (PPSE with the Lamina AID, FCI with a
/// PDOL asking the TTQ, GPO, one record, an ARQC), each ending `9000`.
fn good_answers() -> Vec<Vec<u8>> {
    [
        "6F21840E325041592E5359532E4444463031A50FBF0C0C610A4F08F04C414D494E4145 9000",
        "6F128408F04C414D494E4145A5069F38039F6604 9000",
        "770A82023D00940408010100 9000",
        "70155A0847617390010100105F24033012318C039F3704 9000",
        "77149F2701809F360200019F26080102030405060708 9000",
    ]
    .iter()
    .map(|a| h(a))
    .collect()
}

/// Well-formed answers, random bytes and error status words in any order.
fn answers() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(
        prop_oneof![
            prop::sample::select(good_answers()),
            prop::collection::vec(any::<u8>(), 0..64),
            Just(vec![0x6A, 0x82]),
            Just(vec![0x69, 0x85]),
        ],
        0..12,
    )
}

#[test]
fn minimal_card_reaches_the_issuer() {
    let mut reader = Noise(good_answers());
    let mut h = host();
    let t = tap_with(&mut reader, 6000, &[None], Some(&mut h));
    assert!(t.r.card_read_ok, "{}", trace(&t.r));
    assert_eq!(h.requests.len(), 1);
    // Its ARQC is not the issuer's: declined online.
    assert_eq!(t.r.result.outcome, Outcome::DeclinedOnline);
    assert_eq!(t.r.result.arc.as_deref(), Some("05"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// The kernel never panics, whatever the card answers.
    #[test]
    fn arbitrary_card_answers_never_panic(a in answers(), amount in 0u64..20_000) {
        let mut reader = Noise(a);
        let mut h = host();
        let t = tap_with(&mut reader, amount, &[Some("1234")], Some(&mut h));
        if !t.r.card_read_ok {
            prop_assert!(t.r.result.cryptograms.is_empty());
        }
    }
}
