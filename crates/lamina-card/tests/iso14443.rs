//! Tests of the ISO/IEC 14443-4 contactless transport (`lamina_card::iso14443`).

// Test helpers outside #[test] functions unwrap too.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::iso14443::{
    BitRate, Block, BlockError, ChainError, ChipTimeModel, ContactlessLink, FDT_PCD_PICC_CYCLES,
    FDT_PICC_PCD_CYCLES, IBlock, LinkConfig, Picc, RBlock, Removal, SBlock, SCommand, chain_blocks,
    crc_a, frame_size, fwt, fwt_cycles, standard_frame_cycles, strip_crc_a, unchain, wtx_plan,
};
use lamina_card::{
    Aid, ApduResult, Applet, AppletContext, Card, CardChannel, CardLifeCycle, ChannelError,
    EmulatedCard, Install, Interface, PowerCut, Rom, SeededRng,
};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

// ---------------------------------------------------------------------------
// A payment-like test applet and card
// ---------------------------------------------------------------------------

const TAP_AID: &str = "A0000000041010";
const SELECT_PPSE: &str = "00A404000E325041592E5359532E444446303100";
const SELECT_TAP: &str = "00A4040007A000000004101000";
const GPO: &str = "80A80000 12 8310 79000000 000000001000 12345678 0978 00";

/// Answers GPO like an EMV card (format 2, ~80 bytes, ATC incremented with
/// `write_now`), `80 05 P1 P2` with P1P2 bytes, `80 06` with the data length and
/// the XOR of the data.
struct Tap;

impl Applet for Tap {
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        let aid = ctx.aid().as_bytes().to_vec();
        let mut fci = vec![0x84, u8::try_from(aid.len()).unwrap()];
        fci.extend(aid);
        fci.extend(h("A514 5003544150 9F380C 9F6604 9F0206 9F3704 5F2A02"));
        let mut out = vec![0x6F, u8::try_from(fci.len()).unwrap()];
        out.extend(fci);
        Ok(Response::new(out, StatusWord::OK))
    }

    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        match (cmd.cla, cmd.ins) {
            (0x80, 0xA8) => {
                let mut nvm = ctx.nvm();
                let atc = nvm
                    .read("atc")
                    .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
                    + 1;
                nvm.write_now("atc", &atc.to_be_bytes())?;
                let mut body = h("8202 3900 9404 08010100");
                body.extend(h("9F3602"));
                body.extend(atc.to_be_bytes());
                body.extend(h("9F2701 80 9F2608 0102030405060708"));
                body.extend(h("9F1012 0110A00003220000000000000000000000FF"));
                body.extend(h("5712 5413330089600010D2512201000000000000 5F3401 01"));
                let mut out = vec![0x77, u8::try_from(body.len()).unwrap()];
                out.extend(body);
                Ok(Response::new(out, StatusWord::OK))
            }
            (0x80, 0x05) => {
                let n = usize::from(u16::from_be_bytes([cmd.p1, cmd.p2]));
                Ok(Response::new(
                    (0..n)
                        .map(|i| u8::try_from(i % 251).unwrap())
                        .collect::<Vec<_>>(),
                    StatusWord::OK,
                ))
            }
            (0x80, 0x06) => {
                let mut out = u16::try_from(cmd.data.len())
                    .unwrap()
                    .to_be_bytes()
                    .to_vec();
                out.push(cmd.data.iter().fold(0, |a, b| a ^ b));
                Ok(Response::new(out, StatusWord::OK))
            }
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }
}

fn tap_card() -> Card {
    let rom = Rom::new().with_class("test.tap", |_| Box::new(Tap));
    let mut card = Card::new(rom, SeededRng::new(7));
    card.install(
        Install::new(Aid::from_hex(TAP_AID).unwrap(), "test.tap")
            .label("TAP")
            .priority(1),
    )
    .unwrap();
    card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
    card
}

fn atc(link: &ContactlessLink<EmulatedCard>) -> u16 {
    let aid = Aid::from_hex(TAP_AID).unwrap();
    link.card()
        .card()
        .record(&aid, "atc")
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

/// A card whose ATS is patched (FSCI, TB(1), TC(1)): to test small FSC, other
/// FWI/SFGI, CID and NAD support.
#[derive(Debug)]
struct Patched {
    inner: EmulatedCard,
    fsci: u8,
    tb: u8,
    tc: u8,
}

impl CardChannel for Patched {
    fn power_on(&mut self, i: Interface) -> Result<Vec<u8>, ChannelError> {
        let mut ats = self.inner.power_on(i)?;
        ats[1] = (ats[1] & 0xF0) | self.fsci;
        ats[3] = self.tb;
        ats[4] = self.tc;
        Ok(ats)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        self.inner.transmit(apdu)
    }
    fn power_off(&mut self) {
        self.inner.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.inner.reset()
    }
}

fn new_link(config: LinkConfig) -> ContactlessLink<EmulatedCard> {
    ContactlessLink::with_config(EmulatedCard::new(tap_card()), config)
}

/// The one-tap flow: activation, SELECT PPSE, SELECT the application, GPO.
fn tap_flow(link: &mut impl CardChannel) -> Result<Vec<Vec<u8>>, ChannelError> {
    link.power_on(Interface::Contactless)?;
    let mut out = Vec::new();
    for apdu in [SELECT_PPSE, SELECT_TAP, GPO] {
        out.push(link.transmit(&h(apdu))?);
    }
    Ok(out)
}

/// The same APDUs sent straight to the emulator (no transport).
fn direct(apdus: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut card = EmulatedCard::new(tap_card());
    card.power_on(Interface::Contactless).unwrap();
    apdus.iter().map(|a| card.transmit(a).unwrap()).collect()
}

fn sw_ok(r: &[u8]) -> bool {
    r.ends_with(&[0x90, 0x00])
}

// ---------------------------------------------------------------------------
// CRC_A known answers
// ---------------------------------------------------------------------------

#[test]
fn crc_a_vectors() {
    let text = include_str!("vectors/crc_a.txt");
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (data, crc) = line.split_once('|').unwrap();
        let data = h(data);
        let crc = h(crc);
        assert_eq!(
            crc_a(&data).to_vec(),
            crc,
            "CRC_A of {}",
            hex::encode(&data)
        );
        let mut frame = data.clone();
        frame.extend(&crc);
        assert_eq!(strip_crc_a(&frame).unwrap(), &data[..]);
        // Every single-bit error is detected.
        for bit in 0..frame.len() * 8 {
            let mut bad = frame.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(matches!(strip_crc_a(&bad), Err(BlockError::BadCrc { .. })));
        }
        n += 1;
    }
    assert_eq!(n, 5);
    assert_eq!(strip_crc_a(&[0x12]), Err(BlockError::TooShort(1)));
}

// ---------------------------------------------------------------------------
// Codec
// ---------------------------------------------------------------------------

#[test]
fn pcb_codings() {
    // ISO/IEC 14443-4:2018 §7.1.1.1, written from the bit tables.
    let i = |number, chaining, cid, nad, inf: &[u8]| {
        Block::I(IBlock {
            number,
            chaining,
            cid,
            nad,
            inf: inf.to_vec(),
        })
    };
    let cases: Vec<(Block, &str)> = vec![
        (i(0, false, None, None, &[0x90, 0x00]), "02 9000"),
        (i(1, false, None, None, &[]), "03"),
        (i(0, true, None, None, &[0xAA]), "12 AA"),
        (i(1, true, Some(1), None, &[0xAA]), "1B 01 AA"),
        (i(0, false, Some(3), Some(0x21), &[0xAA]), "0E 03 21 AA"),
        (i(1, false, None, Some(0x12), &[]), "07 12"),
        (Block::ack(0, None), "A2"),
        (Block::ack(1, None), "A3"),
        (Block::nak(0, None), "B2"),
        (Block::nak(1, Some(5)), "BB 05"),
        (Block::deselect(None), "C2"),
        (Block::deselect(Some(2)), "CA 02"),
        (Block::wtx(1, None), "F2 01"),
        (Block::wtx(59, Some(14)), "FA 0E 3B"),
    ];
    for (block, enc) in cases {
        assert_eq!(block.encode(), h(enc), "{block}");
        assert_eq!(Block::decode(&h(enc)).unwrap(), block);
        let frame = block.to_frame();
        assert_eq!(Block::from_frame(&frame).unwrap(), block);
    }
    // S(DESELECT) on air, CRC included: C2 E0 B4 (the same CRC_A value public
    // readers use for this frame).
    assert_eq!(Block::deselect(None).to_frame(), h("C2E0B4"));
    // The power level indication (b8-b7) of CID and WTX bytes is ignored.
    assert_eq!(
        Block::decode(&h("FA C1 C5")).unwrap(),
        Block::S(SBlock {
            command: SCommand::Wtx(5),
            cid: Some(1)
        })
    );
    assert_eq!(
        Block::decode(&h("A3")).unwrap(),
        Block::R(RBlock {
            nak: false,
            number: 1,
            cid: None
        })
    );
}

#[test]
fn malformed_blocks() {
    let cases: &[(&str, BlockError)] = &[
        ("", BlockError::Empty),
        ("01", BlockError::BadPcb(0x01)),
        ("22", BlockError::BadPcb(0x22)),
        ("42", BlockError::BadPcb(0x42)),
        ("82", BlockError::BadPcb(0x82)),
        ("A6", BlockError::BadPcb(0xA6)),
        ("E2 00", BlockError::BadPcb(0xE2)),
        ("D2", BlockError::BadPcb(0xD2)),
        ("C3", BlockError::BadPcb(0xC3)),
        ("0A", BlockError::Truncated(0x0A)),
        ("06", BlockError::Truncated(0x06)),
        ("0A 1F", BlockError::BadCid(0x1F)),
        ("0A 0F", BlockError::BadCid(0x0F)),
        ("A2 00", BlockError::UnexpectedInf(1)),
        ("C2 00", BlockError::UnexpectedInf(1)),
        ("F2", BlockError::MissingWtxm),
        ("F2 01 02", BlockError::UnexpectedInf(1)),
        ("F2 00", BlockError::BadWtxm(0)),
        ("F2 3C", BlockError::BadWtxm(60)),
    ];
    for (bytes, err) in cases {
        assert_eq!(Block::decode(&h(bytes)).as_ref(), Err(err), "{bytes}");
    }
    assert_eq!(Block::from_frame(&h("02 90")), Err(BlockError::TooShort(2)));
    let mut f = Block::ack(0, None).to_frame();
    f[2] ^= 0x80;
    assert!(matches!(
        Block::from_frame(&f),
        Err(BlockError::BadCrc { .. })
    ));
}

#[test]
fn frame_sizes_and_waiting_times() {
    let fsc: Vec<usize> = (0..=15).map(frame_size).collect();
    assert_eq!(
        fsc,
        [
            16, 24, 32, 40, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096, 4096, 4096, 4096
        ]
    );
    // FWT = 256·16/fc · 2^FWI.
    assert_eq!(fwt_cycles(0), 4096);
    assert_eq!(fwt_cycles(7), 4096 * 128);
    assert_eq!(fwt_cycles(15), fwt_cycles(4));
    assert_eq!(fwt(0).as_nanos(), 302_064); // 4096 / 13.56 MHz
    assert_eq!(fwt(7).as_micros(), 38_664);
    assert_eq!(fwt(14).as_millis(), 4949);
}

#[test]
fn chaining_codec() {
    // 300 bytes of response data in frames of at most 64 bytes (FSD 64): 61 INF
    // bytes per block without CID/NAD.
    let data: Vec<u8> = (0..300u16)
        .map(|i| u8::try_from(i % 256).unwrap())
        .collect();
    let blocks = chain_blocks(&data, 1, 64, None, None);
    assert_eq!(blocks.len(), 5);
    assert_eq!(
        blocks.iter().map(|b| b.inf.len()).collect::<Vec<_>>(),
        [61, 61, 61, 61, 56]
    );
    assert_eq!(
        blocks.iter().map(|b| b.number).collect::<Vec<_>>(),
        [1, 0, 1, 0, 1]
    );
    for b in &blocks {
        assert!(Block::I(b.clone()).to_frame().len() <= 64);
    }
    assert_eq!(unchain(&blocks).unwrap(), data);
    // With CID and NAD: NAD in the first block only.
    let blocks = chain_blocks(&data, 0, 64, Some(2), Some(0x10));
    assert_eq!(blocks[0].inf.len(), 59);
    assert_eq!(blocks[1].inf.len(), 60);
    assert!(blocks.iter().skip(1).all(|b| b.nad.is_none()));
    assert_eq!(unchain(&blocks).unwrap(), data);
    // Broken chains.
    let mut bad = chain_blocks(&data, 0, 64, None, None);
    bad[1].number ^= 1;
    assert_eq!(unchain(&bad), Err(ChainError::Numbering(1)));
    let mut bad = chain_blocks(&data, 0, 64, None, None);
    bad[4].chaining = true;
    assert_eq!(unchain(&bad), Err(ChainError::Chaining(4)));
    assert_eq!(unchain(&[]), Err(ChainError::Empty));
    // Empty data: one empty block.
    assert_eq!(chain_blocks(&[], 0, 16, None, None).len(), 1);
}

#[test]
fn wtx_plans() {
    // FWT at FWI 7 is 38.66 ms: 10 ms needs nothing, 100 ms one WTX of 3.
    assert!(wtx_plan(Duration::from_millis(10), fwt_cycles(7)).is_empty());
    assert_eq!(wtx_plan(Duration::from_millis(100), fwt_cycles(7)), [3]);
    // WTXM is at most 59: 3 s at FWI 7 (≈ 77.6 FWTs) needs 59, then 19.
    assert_eq!(wtx_plan(Duration::from_secs(3), fwt_cycles(7)), [59, 19]);
    // FWT·WTXM may not exceed FWT at FWI 14 (4949 ms): at FWI 14, WTXM is 1.
    assert_eq!(wtx_plan(Duration::from_secs(5), fwt_cycles(14)), [1, 1]);
    // FWI 13: FWT 2474 ms, WTXM at most 2; 12 s → 2 (4949 ms), 2, then 1.
    assert_eq!(wtx_plan(Duration::from_secs(12), fwt_cycles(13)), [2, 2, 1]);
}

// ---------------------------------------------------------------------------
// The link
// ---------------------------------------------------------------------------

#[test]
fn link_is_transparent() {
    let apdus: Vec<Vec<u8>> = [SELECT_PPSE, SELECT_TAP, GPO, "8005012C00", "80CA9F1700"]
        .iter()
        .map(|a| h(a))
        .collect();
    let expected = direct(&apdus);
    for rate in BitRate::ALL {
        for (fsdi, cid, nad) in [
            (8, None, None),
            (0, Some(3), Some(0x12)),
            (5, Some(1), None),
        ] {
            let mut config = LinkConfig::default().bit_rate(rate).fsdi(fsdi);
            config.cid = cid;
            config.nad = nad;
            let card = Patched {
                inner: EmulatedCard::new(tap_card()),
                fsci: 2,
                tb: 0x70,
                tc: 0x03,
            };
            let mut link = ContactlessLink::with_config(card, config);
            let ats = link.power_on(Interface::Contactless).unwrap();
            assert_eq!(&ats[1..5], &[0x72, 0x80, 0x70, 0x03]);
            assert_eq!(link.fsc(), 32);
            for (a, e) in apdus.iter().zip(&expected) {
                assert_eq!(&link.transmit(a).unwrap(), e, "{rate} FSDI {fsdi}");
            }
            let s = link.stats();
            assert_eq!(s.apdus, 5);
            assert!(s.pcd_frames > 5, "long APDUs are chained at FSC 32");
            assert_eq!(s.retransmissions + s.timeouts + s.wtx, 0);
        }
    }
}

#[test]
fn long_command_is_chained_by_the_pcd() {
    // Extended Lc: 400 data bytes with FSC 32 → 15 chained I-blocks.
    let data: Vec<u8> = (0..400u16)
        .map(|i| u8::try_from(i % 253).unwrap())
        .collect();
    let mut apdu = h("80060000 000190");
    apdu.extend(&data);
    apdu.extend(h("0000"));
    let card = Patched {
        inner: EmulatedCard::new(tap_card()),
        fsci: 2,
        tb: 0x70,
        tc: 0x00,
    };
    let mut link = ContactlessLink::new(card);
    link.power_on(Interface::Contactless).unwrap();
    link.transmit(&h(SELECT_TAP)).unwrap();
    link.take_stats();
    let r = link.transmit(&apdu).unwrap();
    let xor = data.iter().fold(0, |a, b| a ^ b);
    assert_eq!(r, [0x01, 0x90, xor, 0x90, 0x00]);
    let s = link.take_stats();
    let blocks = apdu.len().div_ceil(29);
    assert_eq!(s.pcd_frames, u64::try_from(blocks).unwrap());
    assert_eq!(
        s.picc_frames, s.pcd_frames,
        "one R(ACK) per chained block, then the answer"
    );
}

#[test]
fn response_of_300_bytes_with_fsd_64() {
    let mut link = new_link(LinkConfig::default().fsdi(5));
    link.power_on(Interface::Contactless).unwrap();
    link.transmit(&h(SELECT_TAP)).unwrap();
    link.take_stats();
    // Case 2 extended, Le 0000 (65536): 300 bytes + 9000 = 302 bytes.
    let r = link.transmit(&h("8005012C 000000")).unwrap();
    assert_eq!(r.len(), 302);
    assert!(sw_ok(&r));
    assert_eq!(
        r[..300],
        direct(&[h(SELECT_TAP), h("8005012C000000")])[1][..300]
    );
    let s = link.take_stats();
    // 302 bytes in INF fields of at most 64 - 3 = 61 bytes: 5 I-blocks from the
    // PICC; the PCD sends the command and 4 R(ACK).
    assert_eq!((s.pcd_frames, s.picc_frames), (5, 5));
    // Bytes on air: command frame 1+7+2, 4 R(ACK) of 3, PICC frames 4×64 + (1+58+2).
    assert_eq!(s.bytes_on_air, 10 + 4 * 3 + 4 * 64 + 61);

    // The same at the PICC level, frame by frame.
    let mut picc = Picc::new(EmulatedCard::new(tap_card()), ChipTimeModel::default());
    picc.activate(0x50, None).unwrap();
    let mut number = 0u8;
    let send = |picc: &mut Picc<EmulatedCard>, b: Block| {
        let f = picc.handle(&b.to_frame()).unwrap().unwrap();
        assert!(f.len() <= 64);
        Block::from_frame(&f).unwrap()
    };
    let select = Block::I(IBlock {
        number,
        chaining: false,
        cid: None,
        nad: None,
        inf: h(SELECT_TAP),
    });
    assert!(matches!(send(&mut picc, select), Block::I(b) if b.number == 0 && !b.chaining));
    number ^= 1;
    let mut next = Block::I(IBlock {
        number,
        chaining: false,
        cid: None,
        nad: None,
        inf: h("8005012C000000"),
    });
    let mut got: Vec<u8> = Vec::new();
    let mut blocks = Vec::new();
    loop {
        let Block::I(b) = send(&mut picc, next) else {
            panic!("I-block expected")
        };
        assert_eq!(b.number, number);
        number ^= 1;
        got.extend(&b.inf);
        blocks.push(b.clone());
        if !b.chaining {
            break;
        }
        next = Block::ack(number, None);
    }
    assert_eq!(blocks.len(), 5);
    assert_eq!(got, r);
    assert_eq!(unchain(&blocks).unwrap(), r);
}

#[test]
fn waiting_time_extension() {
    // The chip needs 100 ms for every APDU; FWT at FWI 7 is 38.66 ms: one S(WTX)
    // with WTXM 3 before each response.
    let slow = ChipTimeModel {
        scale: 1,
        fixed: Duration::from_millis(100),
    };
    let mut link = new_link(LinkConfig::default().chip_time(slow));
    let responses = tap_flow(&mut link).unwrap();
    let s = link.take_stats();
    assert_eq!(s.wtx, 3);
    assert_eq!(
        s.pcd_frames,
        4 + 3 + 3,
        "activation, 3 I-blocks, 3 S(WTX) responses"
    );
    assert!(s.chip_time >= Duration::from_millis(300));
    assert!(s.processing < s.chip_time);
    assert_eq!(responses, direct(&[h(SELECT_PPSE), h(SELECT_TAP), h(GPO)]));

    // FWI 0 (302 µs) and 30 ms per APDU: WTXM = ⌈30 ms / 302 µs⌉ = 100 > 59, so
    // two requests (59, then 41) per APDU.
    let slow = ChipTimeModel {
        scale: 1,
        fixed: Duration::from_millis(30),
    };
    let mut link = new_link(LinkConfig::default().chip_time(slow).fwi(0));
    link.power_on(Interface::Contactless).unwrap();
    assert_eq!(link.fwt(), fwt(0));
    link.take_stats();
    assert!(sw_ok(&link.transmit(&h(SELECT_PPSE)).unwrap()));
    assert_eq!(wtx_plan(Duration::from_millis(30), fwt_cycles(0)), [59, 41]);
    assert_eq!(link.take_stats().wtx, 2);

    // Measured processing drives the model too: scale the host time by 10⁴
    // (any real processing of a few µs then exceeds FWT 302 µs).
    let mut link = new_link(
        LinkConfig::default()
            .chip_time(ChipTimeModel {
                scale: 10_000,
                fixed: Duration::ZERO,
            })
            .fwi(0),
    );
    link.power_on(Interface::Contactless).unwrap();
    link.transmit(&h(SELECT_PPSE)).unwrap();
    let s = link.take_stats();
    assert!(s.processing > Duration::ZERO);
    assert!(s.wtx >= 1, "{s}");
}

#[test]
fn radio_time_model_and_figures() {
    // One SELECT PPSE exchange, recomputed by hand from the model: PCD frame
    // FDT 1172/fc + (2 + 9·(1 + 20 + 2)) bits; PICC frame FDT 1236/fc +
    // (2 + 9·(1 + n + 2)) bits, with 128/fc per bit at 106 kbit/s.
    for rate in BitRate::ALL {
        let mut link = new_link(LinkConfig::default().bit_rate(rate));
        link.power_on(Interface::Contactless).unwrap();
        link.take_stats();
        let r = link.transmit(&h(SELECT_PPSE)).unwrap();
        let bit = 128 / u64::from(rate.kbps() / 106);
        let n = u64::try_from(r.len()).unwrap();
        let expected = FDT_PICC_PCD_CYCLES
            + (2 + 9 * 23) * bit
            + FDT_PCD_PICC_CYCLES
            + (2 + 9 * (n + 3)) * bit;
        let s = link.take_stats();
        assert_eq!(s.radio_cycles, expected, "{rate}");
        assert_eq!(s.frames, 2);
        assert_eq!(s.bytes_on_air, 23 + n + 3);
    }
    assert_eq!(standard_frame_cycles(1, BitRate::R106), 11 * 128);

    // The whole tap at 106 and 424 kbit/s, reported beside processing time.
    let mut figures = Vec::new();
    for rate in [BitRate::R106, BitRate::R212, BitRate::R424, BitRate::R848] {
        let mut link = new_link(LinkConfig::default().bit_rate(rate));
        tap_flow(&mut link).unwrap();
        let s = link.take_stats();
        println!("one tap (activation, SELECT PPSE, SELECT AID, GPO) at {rate}: {s}");
        figures.push(s);
    }
    for pair in figures.windows(2) {
        assert!(pair[1].radio_cycles < pair[0].radio_cycles);
    }
    for s in &figures[1..] {
        assert_eq!(s.bytes_on_air, figures[0].bytes_on_air + 8, "PPS above 106");
    }
    // Plausibility: the 106 kbit/s tap carries a few hundred bytes, 9.44 µs per
    // bit → a few ms of radio.
    let r106 = figures[0].radio_us();
    assert!((2_000..100_000).contains(&r106), "{r106} µs");
    assert!(figures[2].radio_us() < r106 / 2);
}

#[test]
fn removal_at_every_frame_of_the_tap() {
    let mut clean = new_link(LinkConfig::default());
    let expected = tap_flow(&mut clean).unwrap();
    let total = clean.stats().frames;
    assert_eq!(atc(&clean), 1);
    assert!(total > 10);
    for k in 0..=total {
        let mut link = new_link(LinkConfig::default());
        link.remove_at(Removal::AfterFrames(k));
        let result = tap_flow(&mut link);
        if k == total {
            assert_eq!(result.unwrap(), expected);
            assert!(!link.is_removed());
            continue;
        }
        assert_eq!(result, Err(ChannelError::CardRemoved), "frame {k}");
        assert!(link.is_removed());
        assert!(!link.card().card().is_powered(), "the card lost power");
        assert_eq!(link.stats().frames, k, "frames before the removal");
        // Every further exchange fails cleanly.
        assert_eq!(link.transmit(&h(GPO)), Err(ChannelError::CardRemoved));
        assert_eq!(
            link.power_on(Interface::Contactless),
            Err(ChannelError::NoCard)
        );
        assert_eq!(link.reset(), Err(ChannelError::NoCard));
        // Removed while the PICC sent the GPO answer: the card counted the
        // transaction (ATC 1), the terminal got nothing.
        let last_frame = k + 1 == total;
        assert_eq!(atc(&link), u16::from(last_frame), "frame {k}");
    }

    // Back in the field: a new tap works.
    let mut link = new_link(LinkConfig::default());
    link.remove_at(Removal::AfterFrames(3));
    assert!(tap_flow(&mut link).is_err());
    link.reinsert();
    assert_eq!(tap_flow(&mut link).unwrap(), expected);
}

#[test]
fn removal_after_apdus_and_at_radio_time() {
    // The card leaves after SELECT PPSE and SELECT AID: GPO never goes out.
    let mut link = new_link(LinkConfig::default());
    link.power_on(Interface::Contactless).unwrap();
    link.remove_at(Removal::AfterApdus(2));
    assert!(sw_ok(&link.transmit(&h(SELECT_PPSE)).unwrap()));
    assert!(sw_ok(&link.transmit(&h(SELECT_TAP)).unwrap()));
    let frames = link.stats().frames;
    assert_eq!(link.transmit(&h(GPO)), Err(ChannelError::CardRemoved));
    assert_eq!(link.stats().frames, frames);
    assert_eq!(atc(&link), 0);

    // At a radio time: half of the full tap's radio time.
    let mut clean = link_at(BitRate::R106);
    tap_flow(&mut clean).unwrap();
    let full = clean.stats().radio_time();
    let mut link = link_at(BitRate::R106);
    link.remove_at(Removal::AtRadioTime(full / 2));
    assert_eq!(tap_flow(&mut link), Err(ChannelError::CardRemoved));
    let s = link.stats();
    let diff = s.radio_time().abs_diff(full / 2);
    assert!(
        diff < Duration::from_micros(1),
        "{:?} vs {:?}",
        s.radio_time(),
        full / 2
    );
    assert!(s.frames < clean.stats().frames);
}

fn link_at(rate: BitRate) -> ContactlessLink<EmulatedCard> {
    new_link(LinkConfig::default().bit_rate(rate))
}

#[test]
fn error_recovery_at_every_frame() {
    // An exchange with PCD chaining (FSC 32), a WTX and PICC chaining (FSD 64):
    // corrupt each of its frames in turn; the block rules recover every time.
    // Without and with CID.
    for cid in [None, Some(5)] {
        error_recovery(cid);
    }
}

fn error_recovery(cid: Option<u8>) {
    let make = || {
        let card = Patched {
            inner: EmulatedCard::new(tap_card()),
            fsci: 2,
            tb: 0x70,
            tc: 0x02,
        };
        let mut config = LinkConfig::default().fsdi(5).chip_time(ChipTimeModel {
            scale: 1,
            fixed: Duration::from_millis(50),
        });
        config.cid = cid;
        let mut link = ContactlessLink::with_config(card, config);
        link.power_on(Interface::Contactless).unwrap();
        link.transmit(&h(SELECT_TAP)).unwrap();
        link.take_stats();
        link
    };
    // Case 4 extended: 60 data bytes, Le 65536; the applet answers 80 05 with
    // P1P2 = 0x00C8 = 200 bytes (data ignored).
    let mut apdu = h("800500C8 00003C");
    apdu.extend([0x5A; 60]);
    apdu.extend(h("0000"));
    let mut clean = make();
    let expected = clean.transmit(&apdu).unwrap();
    assert_eq!(expected.len(), 202);
    let s = clean.take_stats();
    assert_eq!(s.wtx, 1);
    for k in 0..s.frames {
        let mut link = make();
        link.corrupt_frame(k);
        assert_eq!(link.transmit(&apdu).unwrap(), expected, "frame {k}");
        let t = link.take_stats();
        assert!(t.retransmissions >= 1 && t.timeouts >= 1, "frame {k}: {t}");
    }
    // Three consecutive errors on one block: the PCD gives up.
    let mut link = make();
    for k in 0..3 {
        link.corrupt_frame(k);
    }
    assert!(matches!(
        link.transmit(&apdu),
        Err(ChannelError::Transport(_))
    ));
}

#[test]
fn tear_deselect_and_interfaces() {
    // A power cut inside GPO: the card is gone, as if removed.
    let mut link = new_link(LinkConfig::default());
    link.power_on(Interface::Contactless).unwrap();
    link.transmit(&h(SELECT_TAP)).unwrap();
    link.card_mut()
        .card_mut()
        .arm_power_cut(PowerCut::after_writes(0));
    assert_eq!(link.transmit(&h(GPO)), Err(ChannelError::CardRemoved));
    assert!(link.is_removed());

    // DESELECT halts the card; a new activation starts a new session.
    let mut link = link_at(BitRate::R212);
    link.power_on(Interface::Contactless).unwrap();
    link.transmit(&h(SELECT_TAP)).unwrap();
    link.deselect().unwrap();
    assert_eq!(link.transmit(&h(GPO)), Err(ChannelError::PoweredOff));
    link.power_on(Interface::Contactless).unwrap();
    let r = link.transmit(&h(GPO)).unwrap();
    assert_eq!(r, h("6E00"), "no application selected after re-activation");

    // Contact is not a contactless link's business.
    let mut link = link_at(BitRate::R106);
    assert!(matches!(
        link.power_on(Interface::Contact),
        Err(ChannelError::Transport(_))
    ));
    assert_eq!(link.transmit(&h(GPO)), Err(ChannelError::PoweredOff));
}

#[test]
fn picc_ignores_foreign_and_broken_frames() {
    let card = Patched {
        inner: EmulatedCard::new(tap_card()),
        fsci: 8,
        tb: 0x70,
        tc: 0x02,
    };
    let mut picc = Picc::new(card, ChipTimeModel::default());
    // Not activated: mute.
    assert_eq!(picc.handle(&Block::ack(0, None).to_frame()).unwrap(), None);
    // RATS with CID 3: only blocks with CID 3 are answered.
    picc.activate(0x83, None).unwrap();
    let select = |cid| {
        Block::I(IBlock {
            number: 0,
            chaining: false,
            cid,
            nad: None,
            inf: h(SELECT_PPSE),
        })
        .to_frame()
    };
    assert_eq!(picc.handle(&select(None)).unwrap(), None);
    assert_eq!(picc.handle(&select(Some(4))).unwrap(), None);
    let mut bad = select(Some(3));
    bad[5] ^= 0x10;
    assert_eq!(picc.handle(&bad).unwrap(), None);
    let answer = picc.handle(&select(Some(3))).unwrap().unwrap();
    let Block::I(b) = Block::from_frame(&answer).unwrap() else {
        panic!("I-block expected")
    };
    assert_eq!((b.number, b.cid), (0, Some(3)));
    // Rule 11: R(NAK) with the current number → the last block again.
    assert_eq!(
        picc.handle(&Block::nak(0, Some(3)).to_frame())
            .unwrap()
            .unwrap(),
        answer
    );
    // Rule 12: R(NAK) with the other number → R(ACK).
    assert_eq!(
        Block::from_frame(
            &picc
                .handle(&Block::nak(1, Some(3)).to_frame())
                .unwrap()
                .unwrap()
        )
        .unwrap(),
        Block::ack(0, Some(3))
    );
    // An S(WTX) response nobody asked for: mute.
    assert_eq!(
        picc.handle(&Block::wtx(1, Some(3)).to_frame()).unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

fn arb_block() -> impl Strategy<Value = Block> {
    let cid = proptest::option::of(0u8..15);
    prop_oneof![
        (
            0u8..2,
            any::<bool>(),
            cid.clone(),
            proptest::option::of(any::<u8>()),
            proptest::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(number, chaining, cid, nad, inf)| Block::I(IBlock {
                number,
                chaining,
                cid,
                nad,
                inf
            })),
        (any::<bool>(), 0u8..2, cid.clone()).prop_map(|(nak, number, cid)| Block::R(RBlock {
            nak,
            number,
            cid
        })),
        cid.clone().prop_map(Block::deselect),
        (1u8..=59, cid).prop_map(|(m, cid)| Block::wtx(m, cid)),
    ]
}

proptest! {
    #[test]
    fn blocks_round_trip(block in arb_block()) {
        let frame = block.to_frame();
        prop_assert_eq!(Block::from_frame(&frame).unwrap(), block.clone());
        prop_assert_eq!(Block::decode(&block.encode()).unwrap(), block);
    }

    #[test]
    fn random_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Block::decode(&bytes);
        let _ = Block::from_frame(&bytes);
        // With a valid CRC the PCB decoding is reached.
        let mut framed = bytes.clone();
        framed.extend(crc_a(&bytes));
        if let Ok(b) = Block::from_frame(&framed) {
            // What decodes re-encodes to a block that decodes the same.
            prop_assert_eq!(Block::decode(&b.encode()).unwrap(), b);
        }
    }

    #[test]
    fn picc_survives_random_frames(
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..20),
        with_crc in any::<bool>(),
    ) {
        let mut picc = Picc::new(EmulatedCard::new(tap_card()), ChipTimeModel::default());
        picc.activate(0x80, None).unwrap();
        for mut f in frames {
            if with_crc {
                let crc = crc_a(&f);
                f.extend(crc);
            }
            if let Ok(Some(answer)) = picc.handle(&f) {
                prop_assert!(Block::from_frame(&answer).is_ok());
            }
        }
    }

    #[test]
    fn chains_round_trip(
        data in proptest::collection::vec(any::<u8>(), 0..700),
        fsdi in 0u8..=12,
        first in 0u8..2,
        cid in proptest::option::of(0u8..15),
        nad in proptest::option::of(any::<u8>()),
    ) {
        let size = frame_size(fsdi);
        let blocks = chain_blocks(&data, first, size, cid, nad);
        for b in &blocks {
            prop_assert!(Block::I(b.clone()).to_frame().len() <= size);
        }
        prop_assert_eq!(unchain(&blocks).unwrap(), data);
    }

    #[test]
    fn link_equals_direct_card(
        n in 0u16..600,
        fsdi in 0u8..=8,
        fsci in 0u8..=8,
    ) {
        let apdu = {
            let mut a = h("80050000 000000");
            a[2..4].copy_from_slice(&n.to_be_bytes());
            a
        };
        let expected = direct(&[h(SELECT_TAP), apdu.clone()]);
        let card = Patched { inner: EmulatedCard::new(tap_card()), fsci, tb: 0x70, tc: 0x00 };
        let mut link = ContactlessLink::with_config(card, LinkConfig::default().fsdi(fsdi));
        link.power_on(Interface::Contactless).unwrap();
        prop_assert_eq!(link.transmit(&h(SELECT_TAP)).unwrap(), expected[0].clone());
        prop_assert_eq!(link.transmit(&apdu).unwrap(), expected[1].clone());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any pattern of corrupted frames: the exchange returns the card's exact
    /// response or fails cleanly with a transport error — never wrong data.
    #[test]
    fn corrupted_frames_never_give_wrong_data(
        corrupt in proptest::collection::btree_set(0u64..40, 0..6),
        cid in proptest::option::of(1u8..15),
    ) {
        let card = Patched { inner: EmulatedCard::new(tap_card()), fsci: 2, tb: 0x00, tc: 0x02 };
        let mut config = LinkConfig::default().fsdi(4).chip_time(ChipTimeModel {
            scale: 1,
            fixed: Duration::from_millis(2),
        });
        config.cid = cid;
        let mut link = ContactlessLink::with_config(card, config);
        link.power_on(Interface::Contactless).unwrap();
        link.transmit(&h(SELECT_TAP)).unwrap();
        let mut apdu = h("80050096 000028");
        apdu.extend([0xA5; 40]);
        apdu.extend(h("0000"));
        let expected = direct(&[h(SELECT_TAP), apdu.clone()]).pop().unwrap();
        for k in &corrupt {
            link.corrupt_frame(*k);
        }
        match link.transmit(&apdu) {
            Ok(r) => prop_assert_eq!(r, expected),
            Err(e) => prop_assert!(matches!(e, ChannelError::Transport(_)), "{e}"),
        }
    }

    /// The card leaves at a random radio time: clean success or CardRemoved.
    #[test]
    fn removal_at_random_radio_time(us in 0u64..40_000, rate in 0usize..4) {
        let mut link = new_link(LinkConfig::default().bit_rate(BitRate::ALL[rate]));
        link.remove_at(Removal::AtRadioTime(Duration::from_micros(us)));
        match tap_flow(&mut link) {
            Ok(r) => {
                prop_assert!(!link.is_removed());
                prop_assert!(link.stats().radio_us() <= us);
                prop_assert_eq!(r, direct(&[h(SELECT_PPSE), h(SELECT_TAP), h(GPO)]));
            }
            Err(e) => {
                prop_assert_eq!(e, ChannelError::CardRemoved);
                prop_assert!(link.is_removed());
                prop_assert!(link.stats().radio_us() <= us);
            }
        }
    }
}
