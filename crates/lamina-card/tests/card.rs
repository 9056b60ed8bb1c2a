//! Integration tests of the chip OS through the terminal's channel.

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::applets::counter::{CLASS, CounterApplet};
use lamina_card::atr::{self, parse_atr};
use lamina_card::{
    Aid, ApduResult, AppLifeCycle, Applet, AppletContext, Card, CardChannel, CardLifeCycle,
    ChannelError, EmulatedCard, ImageError, Install, Interface, PowerCut, Protocol, Rom, SeededRng,
};
use lamina_tlv::{Tlv, find_path};

const A1: &str = "F04C414D494E4101";
const A2: &str = "F04C414D494E4102";
const B1: &str = "F04C414D494E4201";
const CL: &str = "F04C414D494E4301";
const HIDDEN: &str = "F04C414D494E4401";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn aid(s: &str) -> Aid {
    Aid::from_hex(s).unwrap()
}

/// A test applet that leaves a transaction open, or writes and aborts.
struct Leaky;

impl Applet for Leaky {
    fn select(&mut self, _ctx: &mut AppletContext<'_>) -> ApduResult {
        Ok(Response::status(StatusWord::OK))
    }
    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        let mut nvm = ctx.nvm();
        match cmd.ins {
            // Begin, write, return without commit.
            0x01 => {
                nvm.begin()?;
                nvm.write("x", &[1])?;
                Ok(Response::status(StatusWord::OK))
            }
            // write_now inside a transaction, then abort.
            0x02 => {
                nvm.begin()?;
                nvm.write("y", &[2])?;
                nvm.write_now("atc", &[0, 7])?;
                nvm.abort()?;
                Ok(Response::status(StatusWord::OK))
            }
            // Nested begin: error maps to a status word.
            0x03 => {
                nvm.begin()?;
                nvm.begin()?;
                Ok(Response::status(StatusWord::OK))
            }
            // A long response: P1 P2 = length.
            0x05 => {
                let n = usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
                Ok(Response::new(
                    (0..n)
                        .map(|i| u8::try_from(i % 251).unwrap())
                        .collect::<Vec<_>>(),
                    StatusWord::OK,
                ))
            }
            // Read own records back.
            0x04 => {
                let keys = nvm.keys().join(",");
                Ok(Response::new(keys.into_bytes(), StatusWord::OK))
            }
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }
}

fn rom() -> Rom {
    Rom::new()
        .with_class(CLASS, |_| Box::new(CounterApplet::new()))
        .with_class("test.leaky", |_| Box::new(Leaky))
}

/// The standard test card: two counters sharing a prefix (both interfaces), one
/// contact-only, one contactless-only, one installed but not selectable.
fn make_card() -> Card {
    let mut card = Card::new(rom(), SeededRng::new(42));
    card.install(
        Install::new(aid(A1), CLASS)
            .label("COUNTER ONE")
            .priority(2)
            .params(h("1234")),
    )
    .unwrap();
    card.install(
        Install::new(aid(A2), CLASS)
            .label("COUNTER TWO")
            .preferred_name("Counter 2")
            .priority(1)
            .params(h("1234")),
    )
    .unwrap();
    card.install(
        Install::new(aid(B1), CLASS)
            .label("CONTACT ONLY")
            .interfaces(&[Interface::Contact]),
    )
    .unwrap();
    card.install(
        Install::new(aid(CL), CLASS)
            .label("TAP ONLY")
            .priority(3)
            .ppse_entry_extra(h("9F2A0102"))
            .interfaces(&[Interface::Contactless]),
    )
    .unwrap();
    card.install_with(
        Install::new(aid(HIDDEN), CLASS).label("HIDDEN"),
        AppLifeCycle::Installed,
    )
    .unwrap();
    card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
    card
}

fn powered(iface: Interface) -> EmulatedCard {
    let mut ch = EmulatedCard::new(make_card());
    ch.power_on(iface).unwrap();
    ch
}

fn tx(ch: &mut impl CardChannel, apdu: &str) -> Response {
    Response::parse(&ch.transmit(&h(apdu)).unwrap()).unwrap()
}

fn sw(ch: &mut impl CardChannel, apdu: &str) -> u16 {
    tx(ch, apdu).sw.0
}

fn select(ch: &mut impl CardChannel, name: &str, p2: u8) -> Response {
    let cmd = Command::new(0x00, 0xA4, 0x04, p2)
        .with_data(h(name))
        .with_le(256);
    Response::parse(&ch.transmit(&cmd.to_bytes().unwrap()).unwrap()).unwrap()
}

fn df_name(r: &Response) -> Vec<u8> {
    let t = Tlv::parse_all(&r.data).unwrap();
    find_path(&t, "6F/84")
        .unwrap()
        .value_bytes()
        .unwrap()
        .to_vec()
}

fn get(ch: &mut impl CardChannel) -> [u32; 4] {
    let r = tx(ch, "8014000000");
    assert_eq!(r.sw, StatusWord::OK);
    let mut out = [0u32; 4];
    for (i, c) in r.data.chunks(4).enumerate() {
        out[i] = u32::from_be_bytes(c.try_into().unwrap());
    }
    out
}

// ---------------------------------------------------------------- ATR / ATS

#[test]
fn contact_atr_offers_t0_and_t1_with_tck() {
    let mut ch = EmulatedCard::new(make_card());
    let atr = ch.power_on(Interface::Contact).unwrap();
    assert_eq!(atr[0], 0x3B, "TS direct convention");
    assert_eq!(atr[1] & 0x0F, 6, "K = 6 historical bytes");
    let info = parse_atr(&atr).unwrap();
    assert_eq!(info.protocols, vec![0, 1]);
    assert_eq!(info.historical, b"LAMINA");
    let tck = info.tck.expect("TCK present when T=1 is offered");
    assert_eq!(atr.iter().skip(1).fold(0u8, |a, b| a ^ b), 0);
    assert_eq!(*atr.last().unwrap(), tck);
    let names: Vec<_> = info
        .interface_bytes
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["TA1", "TB1", "TC1", "TD1", "TD2", "TA3", "TB3"]);
    let byte = |n: &str| info.interface_bytes.iter().find(|(m, _)| m == n).unwrap().1;
    assert_eq!((byte("TA1"), byte("TB1"), byte("TD1")), (0x13, 0x00, 0x80));
    assert_eq!((byte("TD2"), byte("TA3"), byte("TB3")), (0x31, 0xFE, 0x45));
}

#[test]
fn atr_decoder_on_published_atrs() {
    let text = include_str!("vectors/atr_jcalgtest.txt");
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split('|').collect();
        let protocols: Vec<u8> = parts[0].split(',').map(|p| p.parse().unwrap()).collect();
        let info = parse_atr(&h(parts[2])).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(info.protocols, protocols, "{line}");
        assert_eq!(info.historical, h(parts[1]), "{line}");
        assert_eq!(info.tck.is_some(), protocols.iter().any(|&p| p != 0));
        // A flipped last byte breaks TCK (or the structure).
        let mut bad = h(parts[2]);
        *bad.last_mut().unwrap() ^= 0x01;
        if info.tck.is_some() {
            assert!(parse_atr(&bad).is_err(), "{line}");
        }
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn ats_structure() {
    let mut ch = EmulatedCard::new(make_card());
    let ats = ch.power_on(Interface::Contactless).unwrap();
    assert_eq!(usize::from(ats[0]), ats.len(), "TL counts itself");
    assert_eq!(ats[1], 0x78, "TA, TB, TC present, FSCI 8");
    assert_eq!(&ats[2..5], &[0x80, 0x70, 0x02]);
    assert_eq!(&ats[5..], b"LAMINA");
    // Historical bytes longer than 15 are cut in the ATR, not in the ATS.
    let long = [0x11u8; 20];
    assert_eq!(atr::contact_atr(&long)[1], 0xFF);
    assert_eq!(atr::ats(&long).len(), 25);
}

// ---------------------------------------------------------------- SELECT

#[test]
fn select_by_full_aid_returns_fci() {
    let mut ch = powered(Interface::Contact);
    let r = select(&mut ch, A2, 0x00);
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(df_name(&r), h(A2));
    let t = Tlv::parse_all(&r.data).unwrap();
    assert_eq!(
        find_path(&t, "6F/A5/50").unwrap().value_bytes().unwrap(),
        b"COUNTER TWO"
    );
    assert_eq!(get(&mut ch), [0, 0, 0, 0]);
}

#[test]
fn select_partial_then_next_occurrence() {
    let mut ch = powered(Interface::Contact);
    let partial = "F04C414D494E41";
    let r = select(&mut ch, partial, 0x00);
    assert_eq!((r.sw, df_name(&r)), (StatusWord::OK, h(A1)));
    let r = select(&mut ch, partial, 0x02);
    assert_eq!((r.sw, df_name(&r)), (StatusWord::OK, h(A2)));
    let r = select(&mut ch, partial, 0x02);
    assert_eq!(r.sw, StatusWord::FILE_NOT_FOUND);
    // Selection unchanged after a failed SELECT: still A2.
    assert_eq!(sw(&mut ch, "8014000000"), 0x9000);
    // A shorter prefix also reaches the PSE? No: the PSE name starts with '1'.
    let r = select(&mut ch, "F04C414D49", 0x00);
    assert_eq!(df_name(&r), h(A1));
    let r = select(&mut ch, "F04C414D49", 0x02);
    assert_eq!(df_name(&r), h(A2));
    let r = select(&mut ch, "F04C414D49", 0x02);
    assert_eq!(df_name(&r), h(B1), "contact-only app reachable on contact");
    let r = select(&mut ch, "F04C414D49", 0x02);
    assert_eq!(
        r.sw,
        StatusWord::FILE_NOT_FOUND,
        "contactless-only and hidden apps skipped"
    );
    // P2 = 0C: no FCI.
    let r = select(&mut ch, A1, 0x0C);
    assert_eq!((r.sw, r.data.len()), (StatusWord::OK, 0));
}

#[test]
fn select_errors() {
    let mut ch = powered(Interface::Contact);
    assert_eq!(select(&mut ch, "A000000004", 0).sw.0, 0x6A82);
    assert_eq!(
        select(&mut ch, CL, 0).sw.0,
        0x6A82,
        "contactless-only on contact"
    );
    assert_eq!(
        select(&mut ch, HIDDEN, 0).sw.0,
        0x6A82,
        "INSTALLED is not selectable"
    );
    assert_eq!(
        select(
            &mut ch,
            "2PAY.SYS.DDF01"
                .as_bytes()
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
                .as_str(),
            0
        )
        .sw
        .0,
        0x6A82
    );
    assert_eq!(sw(&mut ch, "00A4000002 3F00 00"), 0x6A86, "P1 = 00");
    assert_eq!(
        sw(&mut ch, "00A4040108 F04C414D494E4101 00"),
        0x6A86,
        "P2 = 01 last"
    );
    assert_eq!(
        sw(&mut ch, "00A40404 08 F04C414D494E4101 00"),
        0x6A86,
        "P2 = 04 FCP"
    );
    assert_eq!(sw(&mut ch, "00A40400"), 0x6700, "no DF name");
    assert_eq!(
        sw(&mut ch, "00A4040011 F04C414D494E4101F04C414D494E410101 00"),
        0x6700
    );
    // Contactless: the contact-only app is absent.
    let mut ch = powered(Interface::Contactless);
    assert_eq!(select(&mut ch, B1, 0).sw.0, 0x6A82);
    assert_eq!(select(&mut ch, CL, 0).sw.0, 0x9000);
}

// ---------------------------------------------------------------- PSE / PPSE

fn ascii_hex(s: &str) -> String {
    hex::encode_upper(s.as_bytes())
}

#[test]
fn pse_walk_reads_directory_until_6a83() {
    let mut ch = powered(Interface::Contact);
    let r = select(&mut ch, &ascii_hex("1PAY.SYS.DDF01"), 0);
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(
        r.data,
        h("6F15 840E 315041592E5359532E4444463031 A503 880101")
    );
    let mut entries = Vec::new();
    for rec in 1..=10u8 {
        let r = tx(&mut ch, &format!("00B2{rec:02X}0C00"));
        if r.sw.0 == 0x6A83 {
            break;
        }
        assert_eq!(r.sw, StatusWord::OK);
        let t = Tlv::parse_all(&r.data).unwrap();
        let e = find_path(&t, "70/61").unwrap();
        let get = |p: &str| {
            e.find(&lamina_tlv::parse_path(p).unwrap())
                .and_then(|t| t.value_bytes())
                .map(<[u8]>::to_vec)
        };
        entries.push((
            get("4F").unwrap(),
            get("50").unwrap(),
            get("87"),
            get("9F12"),
        ));
    }
    assert_eq!(
        entries,
        vec![
            (h(A1), b"COUNTER ONE".to_vec(), Some(vec![2]), None),
            (
                h(A2),
                b"COUNTER TWO".to_vec(),
                Some(vec![1]),
                Some(b"Counter 2".to_vec())
            ),
            (h(B1), b"CONTACT ONLY".to_vec(), None, None),
        ]
    );
    // Exact encoding of record 2: 70 { 61 { 4F, 50, 9F12, 87 } }.
    assert_eq!(
        tx(&mut ch, "00B2020C00").data,
        h(
            "7028 6126 4F08F04C414D494E4102 500B434F554E5445522054574F 9F1209436F756E7465722032 870101"
        )
    );
    assert_eq!(sw(&mut ch, "00B2011400"), 0x6A82, "SFI 2 does not exist");
    assert_eq!(sw(&mut ch, "00B2010D00"), 0x6A86, "P2 b3..b1 must be 100");
    assert_eq!(sw(&mut ch, "00B2000C00"), 0x6A86, "record 0");
    assert_eq!(sw(&mut ch, "00B2010C01AA00"), 0x6700, "data in READ RECORD");
    assert_eq!(
        sw(&mut ch, "00CA9F3600"),
        0x6D00,
        "PSE knows only READ RECORD"
    );
    assert_eq!(
        sw(&mut ch, "80CA9F3600"),
        0x6E00,
        "no proprietary class on the PSE"
    );
}

#[test]
fn ppse_fci_lists_contactless_applications() {
    let mut ch = powered(Interface::Contactless);
    let r = select(&mut ch, &ascii_hex("2PAY.SYS.DDF01"), 0);
    assert_eq!(r.sw, StatusWord::OK);
    let t = Tlv::parse_all(&r.data).unwrap();
    assert_eq!(
        find_path(&t, "6F/84").unwrap().value_bytes().unwrap(),
        b"2PAY.SYS.DDF01"
    );
    let dir = find_path(&t, "6F/A5/BF0C").unwrap();
    type Entry = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);
    let got: Vec<Entry> = dir
        .children()
        .iter()
        .map(|e| {
            assert_eq!(e.tag.number(), 0x61);
            let v = |n: u32| {
                e.children()
                    .iter()
                    .find(|c| c.tag.number() == n)
                    .and_then(|c| c.value_bytes())
                    .map(<[u8]>::to_vec)
            };
            (v(0x4F).unwrap(), v(0x50).unwrap(), v(0x87))
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (h(A1), b"COUNTER ONE".to_vec(), Some(vec![2])),
            (h(A2), b"COUNTER TWO".to_vec(), Some(vec![1])),
            (h(CL), b"TAP ONLY".to_vec(), Some(vec![3])),
        ]
    );
    // Extra entry data (kernel identifier) is appended to the entry.
    let last = dir.children().last().unwrap();
    assert_eq!(last.children().last().unwrap().encode(), h("9F2A0102"));
    assert_eq!(sw(&mut ch, "00B2010C00"), 0x6A82, "the PPSE has no records");
    // The PSE does not exist on the contactless interface.
    assert_eq!(
        select(&mut ch, &ascii_hex("1PAY.SYS.DDF01"), 0).sw.0,
        0x6A82
    );
}

// ---------------------------------------------------------------- life cycles

#[test]
fn blocked_application_answers_6283_and_declines() {
    let mut card = make_card();
    card.set_app_life_cycle(&aid(A1), AppLifeCycle::Blocked)
        .unwrap();
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    let r = select(&mut ch, A1, 0);
    assert_eq!(r.sw, StatusWord::SELECTED_FILE_DEACTIVATED);
    assert_eq!(df_name(&r), h(A1), "FCI still returned");
    assert_eq!(sw(&mut ch, "801000000400000001"), 0x6985, "applet declines");
    // Still listed in the PSE (the terminal learns of the block at SELECT).
    select(&mut ch, &ascii_hex("1PAY.SYS.DDF01"), 0);
    assert_eq!(tx(&mut ch, "00B2010C00").sw, StatusWord::OK);
    // Unblock through the applet, then block again through the applet.
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "84180000"), 0x9000);
    assert_eq!(select(&mut ch, A1, 0).sw, StatusWord::OK);
    assert_eq!(sw(&mut ch, "841E0000"), 0x9000);
    assert_eq!(
        ch.card().app_life_cycle(&aid(A1)),
        Some(AppLifeCycle::Blocked)
    );
    assert_eq!(select(&mut ch, A1, 0).sw.0, 0x6283);
    // Other applications are unaffected.
    assert_eq!(select(&mut ch, A2, 0).sw.0, 0x9000);
    assert_eq!(ch.card().app_life_cycle(&aid("A000000004")), None);
}

#[test]
fn blocked_card_refuses_everything_with_6a81() {
    let mut ch = powered(Interface::Contact);
    select(&mut ch, A1, 0);
    assert_eq!(
        sw(&mut ch, "84160000"),
        0x9000,
        "CARD BLOCK itself succeeds"
    );
    for apdu in [
        "00A4040008F04C414D494E410100",
        "00A404000E315041592E5359532E444446303100",
        "8014000000",
        "00C0000010",
        "00B2010C00",
        "FF000000",
        "00",
    ] {
        assert_eq!(
            ch.transmit(&h(apdu)).unwrap(),
            if apdu == "00" {
                vec![0x67, 0x00]
            } else {
                vec![0x6A, 0x81]
            },
            "{apdu}"
        );
    }
    // Persistent: survives power cycles and the image.
    ch.power_off();
    ch.power_on(Interface::Contactless).unwrap();
    assert_eq!(
        sw(&mut ch, "00A404000E325041592E5359532E444446303100"),
        0x6A81
    );
    let image = ch.card().save_image();
    let card = Card::load_image(rom(), SeededRng::new(1), &image).unwrap();
    assert_eq!(card.life_cycle(), CardLifeCycle::Blocked);
}

#[test]
fn op_ready_card_refuses_counting() {
    let mut card = make_card();
    card.set_life_cycle(CardLifeCycle::OpReady).unwrap();
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "801000000400000001"), 0x6985);
    assert_eq!(sw(&mut ch, "8014000000"), 0x9000);
}

// ---------------------------------------------------------------- OS status words

#[test]
fn os_level_status_words() {
    let mut ch = powered(Interface::Contact);
    // Nothing selected.
    assert_eq!(sw(&mut ch, "00B2010C00"), 0x6D00);
    assert_eq!(sw(&mut ch, "8014000000"), 0x6E00);
    // Malformed APDUs.
    assert_eq!(ch.transmit(&h("00A4")).unwrap(), h("6700"));
    assert_eq!(sw(&mut ch, "00A404000200"), 0x6700);
    // Class byte.
    assert_eq!(sw(&mut ch, "FFA4040000"), 0x6E00);
    assert_eq!(sw(&mut ch, "20A4040000"), 0x6E00);
    assert_eq!(
        sw(&mut ch, "01A4040008F04C414D494E410100"),
        0x6881,
        "channel 1"
    );
    assert_eq!(
        sw(&mut ch, "41A4040008F04C414D494E410100"),
        0x6881,
        "channel 5"
    );
    assert_eq!(
        sw(&mut ch, "10A4040008F04C414D494E410100"),
        0x6884,
        "chaining"
    );
    assert_eq!(sw(&mut ch, "0070000001"), 0x6881, "MANAGE CHANNEL");
    assert_eq!(
        sw(&mut ch, "0CA4040008F04C414D494E410100"),
        0x6882,
        "SM on SELECT"
    );
    assert_eq!(sw(&mut ch, "0CC0000010"), 0x6882, "SM on GET RESPONSE");
    assert_eq!(
        sw(&mut ch, "00C0000010"),
        0x6985,
        "GET RESPONSE with nothing pending"
    );
    assert_eq!(sw(&mut ch, "00C0010010"), 0x6A86);
    // Through the applet.
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "8050000000"), 0x6D00, "unknown INS");
    assert_eq!(
        sw(&mut ch, "9014000000"),
        0x6E00,
        "class unknown to the applet"
    );
    assert_eq!(sw(&mut ch, "8014010000"), 0x6A86);
    assert_eq!(sw(&mut ch, "8010000003000001"), 0x6700);
    assert_eq!(sw(&mut ch, "80140000 01 AA 00"), 0x6700);
    assert_eq!(
        sw(&mut ch, "81140000 00"),
        0x6881,
        "proprietary class on channel 1"
    );
}

#[test]
fn get_challenge_uses_the_injected_rng() {
    let run = |seed| {
        let mut card = make_card();
        let image = card.save_image();
        card = Card::load_image(rom(), SeededRng::new(seed), &image).unwrap();
        let mut ch = EmulatedCard::new(card);
        ch.power_on(Interface::Contact).unwrap();
        select(&mut ch, A1, 0);
        let a = tx(&mut ch, "0084000000");
        let b = tx(&mut ch, "0084000000");
        assert_eq!((a.sw, a.data.len()), (StatusWord::OK, 8));
        assert_ne!(a.data, b.data);
        (a.data, b.data)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

#[test]
fn pin_try_counter() {
    let mut ch = powered(Interface::Contact);
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "0020008002 9999"), 0x63C2);
    assert_eq!(sw(&mut ch, "0020008002 1234"), 0x9000, "reset to 3");
    assert_eq!(sw(&mut ch, "0020008002 9999"), 0x63C2);
    assert_eq!(sw(&mut ch, "0020008002 9999"), 0x63C1);
    assert_eq!(sw(&mut ch, "0020008002 9999"), 0x63C0);
    assert_eq!(sw(&mut ch, "0020008002 1234"), 0x6983, "blocked");
    assert_eq!(sw(&mut ch, "0020008102 1234"), 0x6A86);
    assert_eq!(sw(&mut ch, "00200080"), 0x6700);
}

// ---------------------------------------------------------------- transport

#[test]
fn t0_get_response_and_6cxx() {
    let mut ch = EmulatedCard::new(make_card()).with_contact_protocol(Protocol::T0);
    ch.power_on(Interface::Contact).unwrap();
    // Case 4 under T=0: 61xx, then GET RESPONSE.
    let r = tx(&mut ch, &format!("00A4040008{A1}00"));
    assert_eq!(r.sw.sw1(), 0x61);
    let n = r.sw.sw2();
    assert_eq!(
        sw(&mut ch, &format!("00C00000{:02X}", n + 1)),
        0x6C00 | u16::from(n)
    );
    let r = tx(&mut ch, &format!("00C00000{n:02X}"));
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(df_name(&r), h(A1));
    // Case 2 with Le = 00: 6C10, then the right Le.
    assert_eq!(sw(&mut ch, "8014000000"), 0x6C10);
    assert_eq!(tx(&mut ch, "8014000010").data.len(), 16);
    // The terminal-side T=0 helper assembles the same answers.
    let cmd = Command::parse(&h("00A404000E315041592E5359532E444446303100")).unwrap();
    let r = lamina_apdu::t0::exchange(&cmd, 8, |c| {
        Response::parse(&ch.transmit(&c.to_bytes().unwrap()).unwrap())
    })
    .unwrap();
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(r.data, h("6F15840E315041592E5359532E4444463031A503880101"));
    // 6283 travels with the data through GET RESPONSE.
    ch.card_mut().power_off();
    ch.card_mut()
        .set_app_life_cycle(&aid(A2), AppLifeCycle::Blocked)
        .unwrap();
    ch.power_on(Interface::Contact).unwrap();
    let cmd = Command::parse(&h(&format!("00A4040008{A2}00"))).unwrap();
    let r = lamina_apdu::t0::exchange(&cmd, 8, |c| {
        Response::parse(&ch.transmit(&c.to_bytes().unwrap()).unwrap())
    })
    .unwrap();
    assert_eq!((r.sw.0, df_name(&r)), (0x6283, h(A2)));
}

#[test]
fn t1_short_le_chains_with_61xx() {
    let mut ch = powered(Interface::Contact);
    select(&mut ch, A1, 0);
    tx(&mut ch, "801000000400000009");
    let r = tx(&mut ch, "8014000004");
    assert_eq!((r.data, r.sw.0), (h("00000009"), 0x610C));
    let r = tx(&mut ch, "00C000000C");
    assert_eq!((r.data, r.sw.0), (h("0000000900000000 00000009"), 0x9000));
    // Any other command drops pending data.
    tx(&mut ch, "8014000004");
    tx(&mut ch, "8014000000");
    assert_eq!(sw(&mut ch, "00C000000C"), 0x6985);
}

// ---------------------------------------------------------------- channel, firewall, transactions

#[test]
fn channel_power_states() {
    let mut ch = EmulatedCard::new(make_card());
    assert_eq!(ch.transmit(&h("8014000000")), Err(ChannelError::PoweredOff));
    assert_eq!(ch.reset(), Err(ChannelError::PoweredOff));
    let atr = ch.power_on(Interface::Contact).unwrap();
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "8014000000"), 0x9000);
    // Warm reset: same ATR, selection lost.
    assert_eq!(ch.reset().unwrap(), atr);
    assert_eq!(sw(&mut ch, "8014000000"), 0x6E00);
    ch.remove();
    assert_eq!(ch.power_on(Interface::Contact), Err(ChannelError::NoCard));
    assert_eq!(ch.transmit(&h("8014000000")), Err(ChannelError::NoCard));
    ch.insert();
    ch.power_on(Interface::Contact).unwrap();
    assert!(ch.card().is_powered());
    ch.power_off();
    assert!(!ch.card().is_powered());
}

#[test]
fn applets_see_only_their_own_records() {
    let mut ch = powered(Interface::Contact);
    select(&mut ch, A1, 0);
    tx(&mut ch, "801000000400000005");
    select(&mut ch, A2, 0);
    assert_eq!(get(&mut ch), [0, 0, 0, 0]);
    tx(&mut ch, "801000000400000003");
    select(&mut ch, A1, 0);
    assert_eq!(get(&mut ch), [5, 5, 0, 5]);
    assert_eq!(ch.card().record(&aid(A2), "count"), Some(&[0, 0, 0, 3][..]));
}

#[test]
fn open_transaction_is_aborted_and_write_now_survives() {
    let mut card = Card::new(rom(), SeededRng::new(0));
    card.install(Install::new(aid(A1), "test.leaky").label("LEAKY"))
        .unwrap();
    assert!(matches!(
        card.install(Install::new(aid(A1), "test.leaky").label("LEAKY")),
        Err(lamina_card::CardError::DuplicateAid(_))
    ));
    assert!(matches!(
        card.install(Install::new(aid(A2), "nope")),
        Err(lamina_card::CardError::UnknownClass(_))
    ));
    for bad in [
        Install::new(aid(A2), "test.leaky").label("LABEL LONGER THAN 16"),
        Install::new(aid(A2), "test.leaky")
            .label("OK")
            .preferred_name(""),
        Install::new(aid(A2), "test.leaky")
            .label("OK")
            .ppse_entry_extra(h("9F2A05")),
    ] {
        assert!(matches!(
            card.install(bad),
            Err(lamina_card::CardError::BadInstall(_))
        ));
    }
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "80010000"), 0x9000);
    assert_eq!(ch.card().record(&aid(A1), "x"), None, "left open: aborted");
    assert!(ch.card().nvm().journal.entries.is_empty());
    assert_eq!(sw(&mut ch, "80020000"), 0x9000);
    assert_eq!(ch.card().record(&aid(A1), "y"), None);
    assert_eq!(ch.card().record(&aid(A1), "atc"), Some(&[0, 7][..]));
    assert_eq!(sw(&mut ch, "80030000"), 0x6581, "nested begin");
    assert_eq!(tx(&mut ch, "8004000000").data, b"atc");
}

// ---------------------------------------------------------------- tearing

/// A powered card loaded from `image`, with A1 selected.
fn from_image(image: &str) -> EmulatedCard {
    let card = Card::load_image(rom(), SeededRng::new(3), image).unwrap();
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    assert_eq!(select(&mut ch, A1, 0).sw, StatusWord::OK);
    ch
}

/// Runs `apdu` once to count its NVM writes, then tears it after every possible
/// number of writes `k`, recovers, and hands the state before and after to
/// `check`. Returns the number of cut points exercised.
fn tear_everywhere(
    prepare: &[&str],
    apdu: &str,
    mut check: impl FnMut(u64, [u32; 4], [u32; 4], u8),
) -> u64 {
    let mut ch = from_image(&make_card().save_image());
    for p in prepare {
        tx(&mut ch, p);
    }
    let before = get(&mut ch);
    let image = ch.card().save_image();
    // Count.
    let mut probe = from_image(&image);
    let probe_sw = sw(&mut probe, apdu);
    assert!(
        probe_sw == 0x9000 || probe_sw & 0xFFF0 == 0x63C0,
        "probe {probe_sw:04X}"
    );
    let n = probe.card().last_command_writes();
    assert!(n > 0);
    let mut points = 0;
    for k in 0..=n {
        let mut ch = from_image(&image);
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let res = ch.transmit(&h(apdu));
        if k < n {
            assert_eq!(res, Err(ChannelError::CardRemoved), "k={k}");
            assert!(!ch.card().is_powered());
            assert_eq!(ch.transmit(&h("8014000000")), Err(ChannelError::PoweredOff));
        } else {
            assert!(res.is_ok(), "no cut at k = n");
            ch.card_mut().disarm_power_cut();
        }
        ch.power_on(Interface::Contact).unwrap();
        assert!(ch.card().nvm().journal.entries.is_empty());
        assert!(ch.card().nvm().atomic.is_none());
        select(&mut ch, A1, 0);
        let after = get(&mut ch);
        let ptc = ch.card().record(&aid(A1), "ptc").map_or(3, |v| v[0]);
        check(k, before, after, ptc);
        points += 1;
    }
    points
}

#[test]
fn tearing_add_is_all_or_nothing() {
    let mut seen_old = false;
    let mut seen_new = false;
    let points = tear_everywhere(
        &["801000000400000007"],
        "801000000400000005",
        |k, b, a, _| {
            assert_eq!(a[0], a[1], "count == mirror, k={k}");
            if a[0] == b[0] {
                assert_eq!(a, b, "nothing changed, k={k}");
                seen_old = true;
            } else {
                assert_eq!(a, [12, 12, 0, 5], "everything changed, k={k}");
                seen_new = true;
            }
        },
    );
    assert!(seen_old && seen_new);
    // 3 journal appends + commit mark + 3 applies + journal clear.
    assert_eq!(points, 9);
    eprintln!("tearing ADD: {points} cut points exercised");
}

#[test]
fn tearing_sequence_is_written_before_the_transaction() {
    let points = tear_everywhere(&[], "801200000400000002", |k, b, a, _| {
        assert_eq!(a[0], a[1], "k={k}");
        assert!(
            a[2] == b[2] || a[2] == b[2] + 1,
            "seq moves by at most one, k={k}"
        );
        if a[0] != b[0] {
            assert_eq!(a[2], b[2] + 1, "count changed only after seq landed, k={k}");
        }
    });
    eprintln!("tearing ADD WITH SEQUENCE: {points} cut points exercised");
    assert_eq!(points, 3 + 8 + 1);
}

#[test]
fn tearing_verify_never_gives_a_free_try() {
    let points = tear_everywhere(&[], "0020008002 9999", |k, _, _, ptc| {
        // The comparison happens only after the decrement landed.
        assert!(ptc == 3 || ptc == 2, "k={k}");
    });
    eprintln!("tearing VERIFY: {points} cut points exercised");
}

#[test]
fn tearing_during_recovery() {
    // Tear ADD right after the commit mark, then tear recovery at every point.
    let base = make_card().save_image();
    let mut ch = from_image(&base);
    ch.card_mut().arm_power_cut(PowerCut::after_writes(4));
    assert_eq!(
        ch.transmit(&h("801000000400000005")),
        Err(ChannelError::CardRemoved)
    );
    let torn = ch.card().save_image();
    assert!(
        torn.contains("\"committed\": true"),
        "image keeps the journal"
    );
    let mut points = 0;
    for j in 0..8 {
        let mut card = Card::load_image(rom(), SeededRng::new(0), &torn).unwrap();
        card.arm_power_cut(PowerCut::after_writes(j));
        // Roll forward: 3 record writes and the journal clear.
        let ok = card.power_on(Interface::Contact, Protocol::T1).is_ok();
        assert_eq!(ok, j >= 4, "j={j}");
        if ok {
            assert_eq!(card.last_command_writes(), 4);
            card.disarm_power_cut();
        } else {
            assert!(!card.is_powered());
            card.power_on(Interface::Contact, Protocol::T1).unwrap();
        }
        assert_eq!(
            card.record(&aid(A1), "count"),
            Some(&[0, 0, 0, 5][..]),
            "j={j}"
        );
        assert_eq!(
            card.record(&aid(A1), "mirror"),
            Some(&[0, 0, 0, 5][..]),
            "j={j}"
        );
        assert!(card.nvm().journal.entries.is_empty());
        points += 1;
    }
    eprintln!("tearing recovery: {points} cut points exercised");
}

// ---------------------------------------------------------------- image

fn golden_card() -> Card {
    let mut ch = EmulatedCard::new(make_card());
    ch.power_on(Interface::Contact).unwrap();
    select(&mut ch, A1, 0);
    assert_eq!(sw(&mut ch, "801200000400000005"), 0x9000);
    assert_eq!(sw(&mut ch, "0020008002 9999"), 0x63C2);
    select(&mut ch, A2, 0);
    assert_eq!(sw(&mut ch, "841E0000"), 0x9000);
    ch.power_off();
    ch.into_card()
}

#[test]
fn image_matches_golden_file() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/card-image-v1.json"
    );
    let image = golden_card().save_image();
    if std::env::var_os("LAMINA_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &image).unwrap();
    }
    let golden = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        image, golden,
        "image format changed: bump the format version"
    );
    // Loading the golden image gives back the same card.
    let card = Card::load_image(rom(), SeededRng::new(0), &golden).unwrap();
    assert_eq!(card.save_image(), golden);
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    select(&mut ch, A1, 0);
    assert_eq!(get(&mut ch), [5, 5, 1, 5]);
    assert_eq!(sw(&mut ch, "0020008002 9999"), 0x63C1, "PIN tries kept");
    assert_eq!(select(&mut ch, A2, 0).sw.0, 0x6283, "block kept");
}

#[test]
fn torn_image_matches_golden_file_and_recovers() {
    // Tear ADD right after the commit mark: the image holds a committed journal.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/card-image-v1-torn.json"
    );
    let mut ch = from_image(&make_card().save_image());
    ch.card_mut().arm_power_cut(PowerCut::after_writes(4));
    assert_eq!(
        ch.transmit(&h("801000000400000005")),
        Err(ChannelError::CardRemoved)
    );
    let image = ch.card().save_image();
    if std::env::var_os("LAMINA_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &image).unwrap();
    }
    let golden = std::fs::read_to_string(path).unwrap();
    assert_eq!(
        image, golden,
        "image format changed: bump the format version"
    );
    let mut ch = from_image(&golden);
    assert_eq!(get(&mut ch), [5, 5, 0, 5], "rolled forward at power-on");
    assert!(!ch.card().save_image().contains("journal"));
}

#[test]
fn image_errors() {
    let good = make_card().save_image();
    let e = Card::load_image(
        rom(),
        SeededRng::new(0),
        &good.replace("lamina-card-image/1", "lamina-card-image/9"),
    );
    assert!(matches!(e, Err(ImageError::Format(f)) if f == "lamina-card-image/9"));
    let e = Card::load_image(
        rom(),
        SeededRng::new(0),
        &good
            .replace("test.leaky", "x")
            .replace(CLASS, "lamina.nope"),
    );
    assert!(matches!(e, Err(ImageError::UnknownClass(_))));
    let e = Card::load_image(rom(), SeededRng::new(0), &good.replace(A2, A1));
    assert!(matches!(e, Err(ImageError::DuplicateAid(_))));
    assert!(matches!(
        Card::load_image(rom(), SeededRng::new(0), "{"),
        Err(ImageError::Json(_))
    ));
    assert!(matches!(
        Card::load_image(rom(), SeededRng::new(0), "{}"),
        Err(ImageError::Format(_))
    ));
    let e = Card::load_image(
        rom(),
        SeededRng::new(0),
        &good.replace("\"pse\"", "\"psx\""),
    );
    assert!(
        matches!(e, Err(ImageError::Json(_))),
        "unknown fields refused"
    );
    let e = Card::load_image(rom(), SeededRng::new(0), &good.replace("\"0F\"", "\"0Z\""));
    assert!(matches!(e, Err(ImageError::Json(_))), "bad hex refused");
}

// ---------------------------------------------------------------- property test

mod property {
    use super::*;
    use proptest::prelude::*;

    fn apdu() -> impl Strategy<Value = Vec<u8>> {
        let names = prop::sample::select(vec![
            A1.to_owned(),
            A2.to_owned(),
            B1.to_owned(),
            CL.to_owned(),
            HIDDEN.to_owned(),
            "F04C414D494E41".to_owned(),
            "F04C414D49".to_owned(),
            ascii_hex("1PAY.SYS.DDF01"),
            ascii_hex("2PAY.SYS.DDF01"),
        ]);
        prop_oneof![
            (names, prop::sample::select(vec![0u8, 2, 0x0C, 1]))
                .prop_map(|(n, p2)| h(&format!("00A404{p2:02X}{:02X}{n}00", n.len() / 2))),
            (0u32..1000).prop_map(|a| h(&format!("8010000004{a:08X}"))),
            (0u32..1000).prop_map(|a| h(&format!("8012000004{a:08X}"))),
            (0u8..=32).prop_map(|le| h(&format!("80140000{le:02X}"))),
            prop::sample::select(vec!["0020008002 1234", "0020008002 9999"]).prop_map(h),
            Just(h("0084000000")),
            prop::sample::select(vec!["841E0000", "84180000", "84160000"]).prop_map(h),
            (0u8..5, prop::sample::select(vec![0x0Cu8, 0x14, 0x0D]))
                .prop_map(|(r, p2)| vec![0, 0xB2, r, p2, 0]),
            any::<u8>().prop_map(|le| vec![0, 0xC0, 0, 0, le]),
            prop::collection::vec(any::<u8>(), 0..24),
        ]
    }

    #[derive(Debug, Clone)]
    enum Step {
        Send(Vec<u8>),
        TornSend(Vec<u8>, u64),
        PowerCycle(bool),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            8 => apdu().prop_map(Step::Send),
            2 => (apdu(), 0u64..12).prop_map(|(a, k)| Step::TornSend(a, k)),
            1 => any::<bool>().prop_map(Step::PowerCycle),
        ]
    }

    /// Per counter applet: (count, seq) last seen.
    fn check_invariants(card: &Card, seen: &mut [(u32, u32); 4]) {
        assert!(
            card.nvm().journal.entries.is_empty(),
            "no journal between commands"
        );
        assert!(card.nvm().atomic.is_none());
        for (i, a) in [A1, A2, B1, CL].iter().enumerate() {
            let r = |k: &str| {
                card.record(&aid(a), k)
                    .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()))
            };
            assert_eq!(r("count"), r("mirror"), "{a}");
            assert!(r("count") >= seen[i].0, "count never goes back");
            assert!(r("seq") >= seen[i].1, "seq never goes back");
            seen[i] = (r("count"), r("seq"));
            assert!(
                card.record(&aid(a), "ptc")
                    .is_none_or(|v| v.len() == 1 && v[0] <= 3)
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn byte_stream_driver_never_fails(data in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut card = lamina_card::testing::demo_card(1);
            prop_assert_eq!(lamina_card::testing::run_stream(&mut card, &data), Ok(()));
        }

        #[test]
        fn random_apdus_and_tears(
            steps in prop::collection::vec(step(), 1..40),
            t0 in any::<bool>(),
        ) {
            let proto = if t0 { Protocol::T0 } else { Protocol::T1 };
            let mut ch = EmulatedCard::new(make_card()).with_contact_protocol(proto);
            ch.power_on(Interface::Contact).unwrap();
            let mut seen = [(0, 0); 4];
            for s in steps {
                match s {
                    Step::Send(a) => {
                        let r = ch.transmit(&a).unwrap();
                        prop_assert!(r.len() >= 2);
                    }
                    Step::TornSend(a, k) => {
                        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
                        match ch.transmit(&a) {
                            Ok(r) => {
                                prop_assert!(r.len() >= 2);
                                prop_assert!(ch.card().last_command_writes() <= k);
                                ch.card_mut().disarm_power_cut();
                            }
                            Err(e) => {
                                prop_assert_eq!(e, ChannelError::CardRemoved);
                                prop_assert!(!ch.card().is_powered());
                                ch.power_on(Interface::Contact).unwrap();
                            }
                        }
                    }
                    Step::PowerCycle(contactless) => {
                        ch.power_off();
                        let iface = if contactless { Interface::Contactless } else { Interface::Contact };
                        ch.power_on(iface).unwrap();
                    }
                }
                check_invariants(ch.card(), &mut seen);
            }
            // The image round-trips whatever happened.
            let image = ch.card().save_image();
            let back = Card::load_image(rom(), SeededRng::new(0), &image).unwrap();
            prop_assert_eq!(back.save_image(), image);
        }
    }
}

// ---------------------------------------------------------------- scenarios and vectors

/// Runs every `tests/scenarios/*.txt` file: `power contact|contactless [t0|t1]`,
/// `> APDU`, `< response` (`<+` continues it; `< * SW` checks only the status word).
#[test]
fn scenario_files() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 3);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            text.starts_with("# Source:"),
            "{name}: needs a # Source: line"
        );
        // (apdu, expected, any_data)
        let mut steps: Vec<(usize, String, String, bool)> = Vec::new();
        let mut ch = EmulatedCard::new(make_card());
        let run = |steps: &mut Vec<(usize, String, String, bool)>, ch: &mut EmulatedCard| {
            for (line, apdu, want, any) in steps.drain(..) {
                let got = ch.transmit(&h(&apdu)).unwrap();
                let want = h(&want);
                if any {
                    assert_eq!(got[got.len() - 2..], want[..], "{name}:{line}");
                } else {
                    assert_eq!(
                        hex::encode_upper(&got),
                        hex::encode_upper(&want),
                        "{name}:{line}"
                    );
                }
            }
        };
        let mut exchanges = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (op, rest) = line.split_once(' ').unwrap_or((line, ""));
            match op {
                "power" => {
                    run(&mut steps, &mut ch);
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let proto = if words.get(1) == Some(&"t0") {
                        Protocol::T0
                    } else {
                        Protocol::T1
                    };
                    ch = EmulatedCard::new(make_card()).with_contact_protocol(proto);
                    let iface = match words[0] {
                        "contact" => Interface::Contact,
                        "contactless" => Interface::Contactless,
                        other => panic!("{name}:{}: interface {other}", n + 1),
                    };
                    ch.power_on(iface).unwrap();
                }
                ">" => {
                    steps.push((n + 1, rest.to_owned(), String::new(), false));
                    exchanges += 1;
                }
                "<" => {
                    let last = steps.last_mut().expect("< without >");
                    match rest.strip_prefix("* ") {
                        Some(sw) => (last.2, last.3) = (sw.to_owned(), true),
                        None => last.2 = rest.to_owned(),
                    }
                }
                "<+" => steps.last_mut().expect("<+ without <").2.push_str(rest),
                other => panic!("{name}:{}: unknown line {other}", n + 1),
            }
        }
        run(&mut steps, &mut ch);
        eprintln!("scenario {name}: {exchanges} exchanges");
    }
}

#[test]
fn ats_matches_published_default() {
    let text = include_str!("vectors/ats.txt");
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (hist, want) = line.split_once('|').unwrap();
        assert_eq!(atr::ats(&h(hist)), h(want));
        let info = atr::parse_ats(&h(want)).unwrap();
        assert_eq!(info.historical, h(hist));
        n += 1;
    }
    assert_eq!(n, 1);
}

#[test]
fn card_is_send() {
    fn send<T: Send>() {}
    send::<Card>();
    send::<EmulatedCard>();
}

#[test]
fn long_responses_chain_under_t1_and_t0() {
    let image = {
        let mut card = Card::new(rom(), SeededRng::new(0));
        card.install(Install::new(aid(A1), "test.leaky").label("LEAKY"))
            .unwrap();
        card.save_image()
    };
    let expected: Vec<u8> = (0..300usize)
        .map(|i| u8::try_from(i % 251).unwrap())
        .collect();
    for proto in [Protocol::T1, Protocol::T0] {
        let card = Card::load_image(rom(), SeededRng::new(0), &image).unwrap();
        let mut ch = EmulatedCard::new(card).with_contact_protocol(proto);
        ch.power_on(Interface::Contact).unwrap();
        select(&mut ch, A1, 0);
        // Short Le 00 = 256.
        let cmd = Command::new(0x80, 0x05, 0x01, 0x2C).with_le(256);
        let r = lamina_apdu::t0::exchange(&cmd, 8, |c| {
            Response::parse(&ch.transmit(&c.to_bytes().unwrap()).unwrap())
        })
        .unwrap();
        assert_eq!((r.sw, &r.data), (StatusWord::OK, &expected), "{proto:?}");
        if proto == Protocol::T1 {
            let first = tx(&mut ch, "8005012C00");
            assert_eq!((first.data.len(), first.sw.0), (256, 0x612C));
            // Extended Le gets everything at once.
            let r = tx(&mut ch, "8005012C 000000");
            assert_eq!((r.data, r.sw), (expected.clone(), StatusWord::OK));
        } else {
            assert_eq!(
                sw(&mut ch, "8005012C00"),
                0x6100,
                "T=0: 256 or more available"
            );
        }
    }
}

#[test]
fn power_cut_on_write_is_one_based() {
    assert_eq!(PowerCut::on_write(1), PowerCut::after_writes(0));
    assert_eq!(PowerCut::on_write(5).writes_allowed(), 4);
}

#[test]
fn demo_card_stream_with_tears() {
    use lamina_card::testing::{demo_card, run_stream};
    // SELECT counter 1, tear ADD after 4 writes, ADD again, GET.
    let mut data = vec![14];
    data.extend(h("00A4040008F04C414D494E410100"));
    data.extend([0xF3, 4, 9]);
    data.extend(h("801000000400000005"));
    data.extend([14]);
    data.extend(h("00A4040008F04C414D494E410100"));
    data.extend([9]);
    data.extend(h("801000000400000005"));
    let mut card = demo_card(0);
    run_stream(&mut card, &data).unwrap();
    let a = aid(lamina_card::testing::DEMO_AID_1);
    // The torn ADD rolled forward (commit mark landed), then a second ADD.
    assert_eq!(card.record(&a, "count"), Some(&[0, 0, 0, 10][..]));
}
