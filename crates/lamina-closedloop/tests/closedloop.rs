//! Scenario, tearing and property tests of the closed-loop applications.

#![allow(clippy::unwrap_used, clippy::panic)]

use lamina_apdu::{Command, StatusWord};
use lamina_card::{Aid, Card, CardChannel, ChannelError, EmulatedCard, Interface, PowerCut};
use lamina_closedloop::install::{self, Schemes, test_card};
use lamina_closedloop::keys::{CardId, KeyUsage, TerminalId, derive_card_key, kbkdf_ctr_cmac};
use lamina_closedloop::loyalty::{EarnRule, LoyaltyTerminal};
use lamina_closedloop::parking::{ParkingOutcome, ParkingTerminal, Tariff};
use lamina_closedloop::purse::{
    self, Clearing, ClearingError, IssuerHost, Proof, Sam, load_purse, verify_proof,
};
use lamina_closedloop::record::StateRecord;
use lamina_closedloop::terminal::{CardLink, StdStopwatch, TerminalError};
use lamina_closedloop::transit::{
    Direction, FareTable, GateTerminal, JourneyStatus, TapKind, TransitState,
};

/// 2025-11-25 08:00 local (UTC+1).
const T0: u32 = 1_764_054_000;
const CARD: CardId = CardId::from_u64(0x4C41_4D49_0000_0001);
const PROGRAM: u32 = 0x00C0_FFEE;

fn card(seed: u64) -> EmulatedCard {
    EmulatedCard::new(test_card(CARD, seed).unwrap())
}

fn sam(tid: u64) -> Sam {
    Sam::new(
        TerminalId::from_u64(tid),
        Schemes::demo().purse.purchase,
        install::purse_aid(),
        1,
    )
}

fn issuer() -> IssuerHost {
    IssuerHost::new(Schemes::demo().purse)
}

fn with_link<T>(
    ch: &mut EmulatedCard,
    f: impl FnOnce(&mut CardLink<'_>) -> Result<T, TerminalError>,
) -> Result<T, TerminalError> {
    ch.power_on(Interface::Contactless)?;
    let r = {
        let mut link = CardLink::new(ch);
        f(&mut link)
    };
    ch.power_off();
    r
}

fn load(ch: &mut EmulatedCard, host: &mut IssuerHost, amount: u32, time: u32) {
    with_link(ch, |l| {
        load_purse(l, &install::purse_aid(), host, amount, time)
    })
    .unwrap();
}

fn u32rec(c: &Card, aid: &Aid, key: &str) -> u32 {
    c.record(aid, key)
        .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()))
}

fn u64rec(c: &Card, aid: &Aid, key: &str) -> u64 {
    c.record(aid, key)
        .map_or(0, |v| u64::from_be_bytes(v.try_into().unwrap()))
}

/// (balance, counter); panics unless balance == total in − total out ≤ max.
fn purse_invariant(c: &Card) -> (u32, u32) {
    let a = install::purse_aid();
    let bal = u32rec(c, &a, "bal");
    let (tin, tout) = (u64rec(c, &a, "tin"), u64rec(c, &a, "tout"));
    assert_eq!(u64::from(bal), tin - tout, "balance != in - out");
    assert!(bal <= Schemes::demo().max_balance);
    (bal, u32rec(c, &a, "ptc"))
}

fn transit_state(c: &Card) -> TransitState {
    TransitState::decode(
        c.record(&install::transit_aid(), "state")
            .unwrap_or_default(),
    )
    .unwrap()
}

fn sw(r: &[u8]) -> StatusWord {
    StatusWord::new(r[r.len() - 2], r[r.len() - 1])
}

fn apdu(ch: &mut EmulatedCard, cla: u8, ins: u8, p1: u8, data: &[u8]) -> Vec<u8> {
    let c = Command::new(cla, ins, p1, 0)
        .with_data(data.to_vec())
        .with_le(256);
    ch.transmit(&c.to_bytes().unwrap()).unwrap()
}

fn select(ch: &mut EmulatedCard, aid: &Aid) {
    let r = apdu(ch, 0x00, 0xA4, 0x04, aid.as_bytes());
    assert_eq!(sw(&r), StatusWord::OK);
}

// ---------------------------------------------------------------- vectors

#[test]
fn kbkdf_cavp_vector() {
    let text = include_str!("vectors/sp800_108_kdfctr_cmac_aes128.txt");
    assert!(text.starts_with("# Source: NIST CAVP"));
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let f: Vec<Vec<u8>> = line
            .split_whitespace()
            .map(|h| hex::decode(h).unwrap())
            .collect();
        assert_eq!(kbkdf_ctr_cmac(&f[0], &f[1], f[2].len()).unwrap(), f[2]);
        n += 1;
    }
    assert_eq!(n, 1);
}

#[test]
fn card_key_derivation_is_the_documented_kdf() {
    // K = CMAC(MK, 01 ‖ label ‖ 00 ‖ card id ‖ 0080), cross-checked against the
    // generic KDF (itself checked against CAVP).
    let mk = Schemes::demo().transit;
    let mut fixed = b"LAMINA-TRANSIT".to_vec();
    fixed.push(0);
    fixed.extend_from_slice(&CARD.0);
    fixed.extend_from_slice(&[0x00, 0x80]);
    let k = derive_card_key(&mk, KeyUsage::Transit, &CARD).unwrap();
    assert_eq!(
        k.as_bytes(),
        kbkdf_ctr_cmac(mk.as_bytes(), &fixed, 16)
            .unwrap()
            .as_slice()
    );
    let one = lamina_crypto::sym::aes_cmac(mk.as_bytes(), &[&[1u8][..], &fixed].concat()).unwrap();
    assert_eq!(k.as_bytes(), &one[..]);
}

#[test]
fn protocol_vectors_cross_checked() {
    let text = include_str!("vectors/closedloop_protocol.txt");
    let v: std::collections::BTreeMap<&str, Vec<u8>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, h) = l.split_once(' ').unwrap();
            (k, hex::decode(h.trim()).unwrap())
        })
        .collect();
    assert_eq!(v.len(), 8);
    let card = CardId::from_hex("4C414D4900000001").unwrap();
    let d = Schemes::demo();
    let keys = purse::PurseKeys::derive(&d.purse, &card).unwrap();
    assert_eq!(keys.load.as_bytes(), v["purse_load_key"].as_slice());
    assert_eq!(keys.debit.as_bytes(), v["purse_debit_key"].as_slice());
    assert_eq!(keys.purchase.as_bytes(), v["purse_purchase_key"].as_slice());
    let ky = derive_card_key(&d.programs[0].master, KeyUsage::Loyalty(PROGRAM), &card).unwrap();
    assert_eq!(ky.as_bytes(), v["loyalty_key_00C0FFEE"].as_slice());
    let kt = derive_card_key(&d.transit, KeyUsage::Transit, &card).unwrap();
    assert_eq!(kt.as_bytes(), v["transit_key"].as_slice());
    let cur = [0x09, 0x78];
    assert_eq!(
        purse::load_mac(&keys.load, false, &card, 1, 1000, 1000, &cur, T0)
            .unwrap()
            .as_slice(),
        v["load_mac_n1_1000"].as_slice()
    );
    let e = purse::LogEntry {
        kind: purse::TxKind::Debit,
        counter: 2,
        amount: 250,
        balance: 750,
        terminal: TerminalId::from_u64(0xA11),
        terminal_seq: 7,
        time: T0,
        original: 0,
    };
    assert_eq!(
        purse::proof_mac(&keys.debit, &card, &cur, &e)
            .unwrap()
            .as_slice(),
        v["debit_proof_n2_250"].as_slice()
    );
    assert_eq!(
        purse::receipt_mac(&keys.purchase, &card, &cur, &e)
            .unwrap()
            .as_slice(),
        v["debit_receipt_n2_250"].as_slice()
    );
    // The host verifies a proof built from these values.
    let proof = Proof {
        card,
        currency: cur,
        entry: e,
        mac: v["debit_proof_n2_250"].clone().try_into().unwrap(),
    };
    verify_proof(&d.purse, &proof).unwrap();
}

// ---------------------------------------------------------------- purse

#[test]
fn purse_load_debit_cancel_settle() {
    let mut ch = card(1);
    let mut host = issuer();
    load(&mut ch, &mut host, 5_000, T0);
    assert!(host.load_confirmed(&CARD, 1));
    let mut s = sam(0xA1);
    let d = with_link(&mut ch, |l| s.debit(l, 320, T0 + 60)).unwrap();
    assert_eq!(d.balance, 4_680);
    assert_eq!(d.proof.entry.counter, 2);
    verify_proof(&Schemes::demo().purse, &d.proof).unwrap();
    // A tampered proof fails.
    let mut bad = d.proof.clone();
    bad.entry.amount = 1;
    assert!(verify_proof(&Schemes::demo().purse, &bad).is_err());
    // Cancel the last debit: money back.
    let c = with_link(&mut ch, |l| s.cancel_last(l, T0 + 90)).unwrap();
    assert_eq!(c.balance, 5_000);
    assert_eq!(c.proof.entry.original, 2);
    // A second cancel is refused by the SAM (nothing left to cancel).
    assert!(with_link(&mut ch, |l| s.cancel_last(l, T0 + 91)).is_err());
    // Proofs round-trip through JSON and settle to zero net.
    let proofs = s.take_proofs();
    let json = serde_json::to_string(&proofs).unwrap();
    let back: Vec<Proof> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, proofs);
    let mut clearing = Clearing::new(Schemes::demo().purse);
    clearing.register_terminal(TerminalId::from_u64(0xA1), "SHOP");
    assert!(clearing.submit_all(&back).iter().all(Result::is_ok));
    let st = clearing.settle();
    assert_eq!(st.len(), 1);
    assert_eq!((st[0].debits, st[0].cancels, st[0].net), (1, 1, 0));
    // The card log, newest first.
    ch.power_on(Interface::Contactless).unwrap();
    select(&mut ch, &install::purse_aid());
    let kinds: Vec<purse::TxKind> = (0..4)
        .map_while(|i| {
            let r = apdu(&mut ch, 0x80, purse::ins::READ_LOG, i, &[]);
            (sw(&r) == StatusWord::OK)
                .then(|| purse::LogEntry::decode(&r[..r.len() - 2]).unwrap().kind)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            purse::TxKind::Cancel,
            purse::TxKind::Debit,
            purse::TxKind::Load
        ]
    );
    purse_invariant(ch.card());
}

#[test]
fn purse_status_words() {
    let mut ch = card(2);
    let mut host = issuer();
    let masters = Schemes::demo().purse;
    let keys = purse::PurseKeys::derive(&masters, &CARD).unwrap();
    let cur = [0x09, 0x78];
    ch.power_on(Interface::Contactless).unwrap();
    select(&mut ch, &install::purse_aid());
    // LOAD with a wrong MAC: 6982.
    let data = [
        &100u32.to_be_bytes()[..],
        &100u32.to_be_bytes(),
        &T0.to_be_bytes(),
        &[0u8; 8],
    ]
    .concat();
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::LOAD, 0, &data)),
        StatusWord(0x6982)
    );
    // LOAD beyond the maximum balance with a genuine MAC: 9402.
    let st = purse::PurseStatus {
        card: CARD,
        currency: cur,
        balance: 0,
        max_balance: 15_000,
        counter: 0,
    };
    let auth = host.authorize_load(&st, 15_001, T0).unwrap();
    let data = [
        &15_001u32.to_be_bytes()[..],
        &15_001u32.to_be_bytes(),
        &T0.to_be_bytes(),
        &auth.mac,
    ]
    .concat();
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::LOAD, 0, &data)),
        StatusWord(0x9402)
    );
    // Inconsistent new balance: 6A80 (with a MAC over the wrong balance, it is the MAC check that fails first).
    let mac = purse::load_mac(&keys.load, false, &CARD, 1, 100, 150, &cur, T0).unwrap();
    let data = [
        &100u32.to_be_bytes()[..],
        &150u32.to_be_bytes(),
        &T0.to_be_bytes(),
        &mac,
    ]
    .concat();
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::LOAD, 0, &data)),
        StatusWord(0x6A80)
    );
    // A good load of 10.00.
    let mac = purse::load_mac(&keys.load, false, &CARD, 1, 1_000, 1_000, &cur, T0).unwrap();
    let data = [
        &1_000u32.to_be_bytes()[..],
        &1_000u32.to_be_bytes(),
        &T0.to_be_bytes(),
        &mac,
    ]
    .concat();
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::LOAD, 0, &data)),
        StatusWord::OK
    );
    // Replaying it: the counter moved, the MAC no longer verifies.
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::LOAD, 0, &data)),
        StatusWord(0x6982)
    );
    // DEBIT without INITIALIZE DEBIT: 6985.
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::DEBIT, 0, &[0; 12])),
        StatusWord(0x6985)
    );
    // INITIALIZE DEBIT, then a DEBIT with a wrong MAC: 6982, and the session is gone.
    let tid = TerminalId::from_u64(7);
    let init = |ch: &mut EmulatedCard| {
        let r = apdu(
            ch,
            0x80,
            purse::ins::INIT_DEBIT,
            0,
            &[&tid.0[..], &5u32.to_be_bytes(), &T0.to_be_bytes()].concat(),
        );
        assert_eq!(sw(&r), StatusWord::OK);
        (
            u32::from_be_bytes(r[8..12].try_into().unwrap()),
            <[u8; 8]>::try_from(&r[18..26]).unwrap(),
        )
    };
    init(&mut ch);
    assert_eq!(
        sw(&apdu(
            &mut ch,
            0x80,
            purse::ins::DEBIT,
            0,
            &[&50u32.to_be_bytes()[..], &[1u8; 8]].concat()
        )),
        StatusWord(0x6982)
    );
    assert_eq!(
        sw(&apdu(
            &mut ch,
            0x80,
            purse::ins::DEBIT,
            0,
            &[&50u32.to_be_bytes()[..], &[1u8; 8]].concat()
        )),
        StatusWord(0x6985)
    );
    // Insufficient funds with a genuine terminal MAC: 9401.
    let (ptc, chal) = init(&mut ch);
    let mac =
        purse::terminal_debit_mac(&keys.purchase, &CARD, ptc, &chal, &tid, 5, T0, 1_001, &cur)
            .unwrap();
    assert_eq!(
        sw(&apdu(
            &mut ch,
            0x80,
            purse::ins::DEBIT,
            0,
            &[&1_001u32.to_be_bytes()[..], &mac].concat()
        )),
        StatusWord(0x9401)
    );
    // Exactly the balance works.
    let (ptc, chal) = init(&mut ch);
    let mac =
        purse::terminal_debit_mac(&keys.purchase, &CARD, ptc, &chal, &tid, 5, T0, 1_000, &cur)
            .unwrap();
    assert_eq!(
        sw(&apdu(
            &mut ch,
            0x80,
            purse::ins::DEBIT,
            0,
            &[&1_000u32.to_be_bytes()[..], &mac].concat()
        )),
        StatusWord::OK
    );
    // Length, P1/P2, INS, CLA errors.
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::STATUS, 0, &[1])),
        StatusWord::WRONG_LENGTH
    );
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::STATUS, 1, &[])),
        StatusWord::INCORRECT_P1P2
    );
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, 0x01, 0, &[])),
        StatusWord::INS_NOT_SUPPORTED
    );
    assert_eq!(
        sw(&apdu(&mut ch, 0x90, 0x5C, 0, &[])),
        StatusWord::CLA_NOT_SUPPORTED
    );
    // RECOVER of an unknown reference: 6A88.
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::RECOVER, 0, &[0u8; 12])),
        StatusWord(0x6A88)
    );
    ch.power_off();
    assert_eq!(purse_invariant(ch.card()), (0, 2));
}

#[test]
fn sam_refuses_forged_receipts_and_clearing_rejects_duplicates() {
    let mut ch = card(3);
    let mut host = issuer();
    load(&mut ch, &mut host, 2_000, T0);
    // A SAM with another purchase master key cannot debit: the card answers 6982.
    let mut rogue = Sam::new(
        TerminalId::from_u64(9),
        lamina_crypto::sym::SecretKey::new(vec![0x99; 16]),
        install::purse_aid(),
        1,
    );
    let e = with_link(&mut ch, |l| rogue.debit(l, 100, T0)).unwrap_err();
    assert_eq!(e.status(), Some(StatusWord(0x6982)));
    let mut s = sam(0xB1);
    let d = with_link(&mut ch, |l| s.debit(l, 100, T0)).unwrap();
    let mut clearing = Clearing::new(Schemes::demo().purse);
    clearing.register_terminal(TerminalId::from_u64(0xB1), "SHOP");
    clearing.submit(&d.proof).unwrap();
    assert!(matches!(
        clearing.submit(&d.proof),
        Err(ClearingError::Duplicate { .. })
    ));
    let mut forged = d.proof.clone();
    forged.entry.counter += 10;
    assert!(matches!(
        clearing.submit(&forged),
        Err(ClearingError::Invalid(_))
    ));
    let mut unknown = d.proof.clone();
    unknown.entry.terminal = TerminalId::from_u64(1);
    assert!(clearing.submit(&unknown).is_err());
}

/// Tears a purse operation at every NVM write index; after each tear the
/// invariants hold and the operation happened completely or not at all; the
/// SAM then completes it exactly once.
#[test]
fn purse_tearing_every_write() {
    // LOAD
    let mut n_load = 0;
    for k in 0.. {
        let mut ch = card(4);
        let mut host = issuer();
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let r = with_link(&mut ch, |l| {
            load_purse(l, &install::purse_aid(), &mut host, 1_000, T0)
        });
        ch.card_mut().disarm_power_cut();
        ch.power_on(Interface::Contactless).unwrap();
        ch.power_off();
        let (bal, ptc) = purse_invariant(ch.card());
        match r {
            Ok(_) => {
                assert_eq!((bal, ptc), (1_000, 1));
                assert_eq!(host.confirmed_total(&CARD), 1_000);
                n_load = k;
                break;
            }
            Err(TerminalError::Channel(ChannelError::CardRemoved)) => {
                assert!(bal == 0 || bal == 1_000, "k={k}")
            }
            Err(e) => panic!("k={k}: {e}"),
        }
        // The load terminal retries: loaded exactly once, and the issuer's
        // books agree with the card.
        let again = with_link(&mut ch, |l| {
            load_purse(l, &install::purse_aid(), &mut host, 1_000, T0 + 5)
        })
        .unwrap();
        assert_eq!(again.recovered, bal == 1_000, "k={k}");
        assert_eq!(purse_invariant(ch.card()).0, 1_000, "k={k}");
        assert_eq!(host.confirmed_total(&CARD), 1_000, "k={k}");
        assert!(host.unconfirmed(&CARD).is_empty(), "k={k}");
    }
    // DEBIT: after the tear the same SAM is presented the card again.
    let mut n_debit = 0;
    for k in 0.. {
        let mut ch = card(5);
        let mut host = issuer();
        load(&mut ch, &mut host, 1_000, T0);
        let mut s = sam(0xC1);
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let first = with_link(&mut ch, |l| s.debit(l, 250, T0 + 10));
        ch.card_mut().disarm_power_cut();
        ch.power_on(Interface::Contactless).unwrap();
        ch.power_off();
        let (bal, _) = purse_invariant(ch.card());
        assert!(bal == 1_000 || bal == 750, "k={k}");
        let done = first.is_ok();
        if !done {
            let again = with_link(&mut ch, |l| s.debit(l, 250, T0 + 20)).unwrap();
            assert_eq!(again.recovered, bal == 750, "k={k}");
        }
        let (bal, _) = purse_invariant(ch.card());
        assert_eq!(bal, 750, "k={k}: charged exactly once");
        let proofs = s.take_proofs();
        assert_eq!(proofs.len(), 1, "k={k}");
        verify_proof(&Schemes::demo().purse, &proofs[0]).unwrap();
        if done {
            n_debit = k;
            break;
        }
    }
    println!(
        "purse cut points: LOAD {n_load}, DEBIT {n_debit} (NVM writes per command incl. recovery)"
    );
    assert!(n_load >= 10 && n_debit >= 10);
}

// ---------------------------------------------------------------- transit

fn gate(station: u16, dir: Direction, tid: u64) -> GateTerminal {
    GateTerminal::new(
        station,
        dir,
        FareTable::demo().unwrap(),
        Schemes::demo().transit,
        install::transit_aid(),
        sam(tid),
        300_000,
        Box::new(StdStopwatch::new()),
    )
}

#[test]
fn transit_ten_taps_with_capping_and_settlement() {
    let mut ch = card(6);
    let mut host = issuer();
    load(&mut ch, &mut host, 2_000, T0 - 3600);
    let m = 60;
    // (station, direction, minutes after 08:00, expected kind, expected charge)
    let taps = [
        (1, Direction::In, 0, TapKind::Entry, 0),
        (3, Direction::Out, 20, TapKind::Exit, 250),
        (4, Direction::In, 40, TapKind::Transfer, 0),
        (5, Direction::Out, 60, TapKind::Exit, 200), // 1→3 = 450, 250 already paid
        (5, Direction::In, 240, TapKind::Entry, 0),
        (1, Direction::Out, 280, TapKind::Exit, 250), // 450 capped: 700 − 450
        (1, Direction::In, 600, TapKind::Entry, 0),
        (2, Direction::Out, 615, TapKind::Exit, 0), // capped
        (2, Direction::In, 616, TapKind::Entry, 0),
        (2, Direction::Out, 617, TapKind::Exit, 0),
    ];
    let mut gates: Vec<GateTerminal> = Vec::new();
    let mut total = 0;
    let mut clearing = Clearing::new(Schemes::demo().purse);
    for (i, (station, dir, min, kind, charge)) in taps.iter().enumerate() {
        let tid = 0x6A7E_0000 + u64::from(*station) * 2 + u64::from(*dir == Direction::Out);
        if !gates
            .iter()
            .any(|g| g.station == *station && g.direction == *dir)
        {
            gates.push(gate(*station, *dir, tid));
            clearing.register_terminal(TerminalId::from_u64(tid), "METRO");
        }
        let g = gates
            .iter_mut()
            .find(|g| g.station == *station && g.direction == *dir)
            .unwrap();
        let r = g.tap(&mut ch, T0 + min * m).unwrap();
        println!(
            "tap {:>2}: {:?} at {} {:?}: charged {:>3}, balance {:>4}, {} APDUs, {} µs, within budget {}",
            i + 1,
            r.decision.kind,
            station,
            dir,
            r.charged,
            r.balance,
            r.stats.apdus,
            r.processing_us,
            r.within_budget
        );
        assert_eq!(
            (r.decision.kind, r.charged),
            (*kind, *charge),
            "tap {}",
            i + 1
        );
        assert!(r.open && r.within_budget);
        total += r.charged;
    }
    assert_eq!(total, 700, "daily cap");
    let st = transit_state(ch.card());
    assert_eq!((st.spent_today, st.pending), (700, None));
    assert_eq!(st.journey.unwrap().status, JourneyStatus::Out);
    let (bal, _) = purse_invariant(ch.card());
    assert_eq!(bal, 2_000 - 700);
    // Upload: every proof accepted once, then all rejected as duplicates.
    let proofs: Vec<Proof> = gates
        .iter_mut()
        .flat_map(GateTerminal::take_proofs)
        .collect();
    assert_eq!(proofs.len(), 3);
    assert!(clearing.submit_all(&proofs).iter().all(Result::is_ok));
    assert!(
        clearing
            .submit_all(&proofs)
            .iter()
            .all(|r| matches!(r, Err(ClearingError::Duplicate { .. })))
    );
    let s = clearing.settle();
    assert_eq!(
        (s[0].merchant.as_str(), s[0].debits, s[0].net),
        ("METRO", 3, 700)
    );
    // The transit history holds the last writes.
    ch.power_on(Interface::Contactless).unwrap();
    select(&mut ch, &install::transit_aid());
    assert_eq!(sw(&apdu(&mut ch, 0x80, 0x66, 0, &[])), StatusWord::OK);
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, 0x66, 8, &[])),
        StatusWord::RECORD_NOT_FOUND
    );
}

#[test]
fn transit_refusals_passes_and_unresolved_journeys() {
    let mut ch = card(7);
    let mut host = issuer();
    // No money: entry refused (needs the maximum fare).
    let mut g_in = gate(1, Direction::In, 1);
    let r = g_in.tap(&mut ch, T0).unwrap();
    assert!(!r.open);
    assert_eq!(r.decision.kind, TapKind::Refused);
    load(&mut ch, &mut host, 3_000, T0);
    // Buy a day pass for zones 1-2 (600), then ride 1→2 free.
    let pass = g_in.sell_pass(&mut ch, "day-1-2", T0 + 10).unwrap();
    assert!(pass.covers(T0 + 100, 1, 2));
    assert_eq!(purse_invariant(ch.card()).0, 2_400);
    assert_eq!(
        g_in.tap(&mut ch, T0 + 60).unwrap().decision.kind,
        TapKind::Entry
    );
    // Same gate again within the grace period: re-tap, nothing written.
    let before = ch
        .card()
        .record(&install::transit_aid(), "ctr")
        .map(<[u8]>::to_vec);
    assert_eq!(
        g_in.tap(&mut ch, T0 + 90).unwrap().decision.kind,
        TapKind::Retap
    );
    assert_eq!(
        ch.card()
            .record(&install::transit_aid(), "ctr")
            .map(<[u8]>::to_vec),
        before
    );
    let mut g_out = gate(3, Direction::Out, 2);
    let r = g_out.tap(&mut ch, T0 + 1200).unwrap();
    assert_eq!(
        (r.decision.kind, r.charged, r.decision.by_pass),
        (TapKind::Exit, 0, true)
    );
    // Leaving the pass zones: 1→3 is charged.
    g_in.tap(&mut ch, T0 + 5000).unwrap();
    let r = gate(5, Direction::Out, 3).tap(&mut ch, T0 + 6000).unwrap();
    assert_eq!(r.charged, 450);
    // Tap in, no tap out, tap in again later elsewhere: unresolved journey = max fare.
    g_in.tap(&mut ch, T0 + 10_000).unwrap();
    let r = gate(4, Direction::In, 4).tap(&mut ch, T0 + 20_000).unwrap();
    assert_eq!((r.decision.kind, r.charged), (TapKind::Entry, 250)); // 700 cap − 450 spent
    // Next service day (cap reset, day pass expired): the open journey from
    // zone 2 ends in zone 1: 250 (the penalty paid the earlier journey).
    let r = gate(2, Direction::Out, 5)
        .tap(&mut ch, T0 + 86_400 + 100)
        .unwrap();
    assert_eq!((r.decision.kind, r.charged), (TapKind::Exit, 250));
    assert!(transit_state(ch.card()).passes.is_empty());
    // Exit without entry: the maximum fare.
    let r = gate(3, Direction::Out, 6)
        .tap(&mut ch, T0 + 86_400 + 9000)
        .unwrap();
    assert_eq!(
        (r.decision.kind, r.charged),
        (TapKind::ExitWithoutEntry, 450)
    );
    assert_eq!(
        purse_invariant(ch.card()).0,
        3_000 - 600 - 450 - 250 - 250 - 450
    );
}

/// A charging tap-out torn at every NVM write of the whole gate interaction
/// (both applets), then tapped again: charged exactly once, no marker left.
#[test]
fn transit_gate_tearing_every_write() {
    let fare = 250;
    let mut cut_points = 0;
    for k in 0.. {
        let mut ch = card(8);
        let mut host = issuer();
        load(&mut ch, &mut host, 1_000, T0 - 60);
        gate(1, Direction::In, 0x10).tap(&mut ch, T0).unwrap();
        let mut g = gate(3, Direction::Out, 0x11);
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let first = g.tap(&mut ch, T0 + 1200);
        ch.card_mut().disarm_power_cut();
        if first.is_err() {
            assert!(
                matches!(
                    first,
                    Err(TerminalError::Channel(ChannelError::CardRemoved))
                ),
                "k={k}: {first:?}"
            );
            ch.power_on(Interface::Contactless).unwrap();
            ch.power_off();
            purse_invariant(ch.card());
            let again = g.tap(&mut ch, T0 + 1230).unwrap();
            assert!(again.open, "k={k}");
        }
        let (bal, _) = purse_invariant(ch.card());
        assert_eq!(bal, 1_000 - fare, "k={k}: charged exactly once");
        let st = transit_state(ch.card());
        assert_eq!(st.pending, None, "k={k}");
        assert_eq!(st.spent_today, fare, "k={k}");
        assert_eq!(st.journey.unwrap().status, JourneyStatus::Out);
        let proofs = g.take_proofs();
        let mut clearing = Clearing::new(Schemes::demo().purse);
        clearing.register_terminal(TerminalId::from_u64(0x11), "METRO");
        assert!(
            clearing.submit_all(&proofs).iter().all(Result::is_ok),
            "k={k}"
        );
        assert_eq!(clearing.settle()[0].net, i64::from(fare), "k={k}");
        if first.is_ok() {
            cut_points = k;
            break;
        }
    }
    println!("transit gate tap-out: {cut_points} cut points (NVM writes across transit + purse)");
    assert!(cut_points > 20);
}

/// The same tear, but the card next goes through another gate (a tap in at
/// another station): the pending payment is resolved there; whatever the cut
/// point, the purse paid exactly what the transit state counts as spent, and
/// the clearing accepts each debit once.
#[test]
fn transit_tearing_resolved_at_another_gate() {
    let mut cuts = 0;
    for k in 0.. {
        let mut ch = card(16);
        let mut host = issuer();
        load(&mut ch, &mut host, 1_000, T0 - 60);
        gate(1, Direction::In, 0x10).tap(&mut ch, T0).unwrap();
        let mut a = gate(3, Direction::Out, 0x11);
        let mut b = gate(2, Direction::In, 0x12);
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let first = a.tap(&mut ch, T0 + 1200);
        ch.card_mut().disarm_power_cut();
        if first.is_ok() {
            cuts = k;
            break;
        }
        ch.power_on(Interface::Contactless).unwrap();
        ch.power_off();
        let r = b.tap(&mut ch, T0 + 1800).unwrap();
        assert!(r.open, "k={k}");
        let st = transit_state(ch.card());
        let (bal, _) = purse_invariant(ch.card());
        assert_eq!(st.pending, None, "k={k}");
        assert_eq!(
            bal,
            1_000 - st.spent_today,
            "k={k}: purse and transit disagree"
        );
        let mut clearing = Clearing::new(Schemes::demo().purse);
        clearing.register_terminal(TerminalId::from_u64(0x11), "METRO");
        clearing.register_terminal(TerminalId::from_u64(0x12), "METRO");
        let proofs: Vec<Proof> = a.take_proofs().into_iter().chain(b.take_proofs()).collect();
        for res in clearing.submit_all(&proofs) {
            assert!(
                matches!(res, Ok(()) | Err(ClearingError::Duplicate { .. })),
                "k={k}"
            );
        }
        let net: i64 = clearing.settle().iter().map(|s| s.net).sum();
        assert_eq!(net, i64::from(st.spent_today), "k={k}");
    }
    println!("transit tap-out resolved at another gate: {cuts} cut points");
}

#[test]
fn purse_cancel_tearing_every_write() {
    let mut n = 0;
    for k in 0.. {
        let mut ch = card(17);
        let mut host = issuer();
        load(&mut ch, &mut host, 1_000, T0);
        let mut s = sam(0xC2);
        with_link(&mut ch, |l| s.debit(l, 300, T0 + 1)).unwrap();
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let r = with_link(&mut ch, |l| s.cancel_last(l, T0 + 2));
        ch.card_mut().disarm_power_cut();
        ch.power_on(Interface::Contactless).unwrap();
        ch.power_off();
        let (bal, _) = purse_invariant(ch.card());
        assert!(bal == 700 || bal == 1_000, "k={k}");
        if r.is_ok() {
            assert_eq!(bal, 1_000);
            n = k;
            break;
        }
    }
    println!("purse CANCEL LAST: {n} cut points");
    assert!(n >= 10);
}

/// A channel that loses the response of one instruction: the card processed
/// the command, then left the field before the reader got the answer.
struct LosesResponse {
    inner: EmulatedCard,
    ins: Option<u8>,
}

impl CardChannel for LosesResponse {
    fn power_on(&mut self, i: Interface) -> Result<Vec<u8>, ChannelError> {
        self.inner.power_on(i)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let r = self.inner.transmit(apdu)?;
        if self.ins.is_some() && apdu.get(1).copied() == self.ins {
            self.ins = None;
            self.inner.power_off();
            return Err(ChannelError::CardRemoved);
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

fn with_lossy<T>(
    ch: &mut LosesResponse,
    f: impl FnOnce(&mut CardLink<'_>) -> Result<T, TerminalError>,
) -> Result<T, TerminalError> {
    ch.power_on(Interface::Contactless)?;
    let r = f(&mut CardLink::new(ch));
    ch.power_off();
    r
}

#[test]
fn sam_lost_debit_answer_retry_and_new_purchase() {
    let mut ch = LosesResponse {
        inner: card(18),
        ins: Some(purse::ins::DEBIT),
    };
    let mut host = issuer();
    load(&mut ch.inner, &mut host, 1_000, T0);
    let mut s = sam(0xC3);
    // The DEBIT of 100 is done by the card but its answer is lost.
    assert!(with_lossy(&mut ch, |l| s.debit(l, 100, T0)).is_err());
    assert_eq!(purse_invariant(ch.inner.card()).0, 900);
    assert!(s.pending().is_some());
    // The customer taps again for the same purchase: recovered, not debited twice.
    let d = with_lossy(&mut ch, |l| s.debit(l, 100, T0 + 5)).unwrap();
    assert!(d.recovered);
    assert_eq!((d.balance, s.pending()), (900, None));
    // Lost again; this time the card comes back for another purchase: the old
    // proof is kept and the new amount is debited.
    ch.ins = Some(purse::ins::DEBIT);
    assert!(with_lossy(&mut ch, |l| s.debit(l, 50, T0 + 10)).is_err());
    let d = with_lossy(&mut ch, |l| s.debit(l, 70, T0 + 20)).unwrap();
    assert!(!d.recovered);
    assert_eq!(d.balance, 780);
    let amounts: Vec<u32> = s.take_proofs().iter().map(|p| p.entry.amount).collect();
    assert_eq!(amounts, [100, 50, 70]);
}

/// Non-charging taps and a pass sale torn at every write: the state is the
/// old or the new one, never a mix; after a re-tap the result is as untorn.
#[test]
fn transit_tap_in_and_pass_sale_tearing_every_write() {
    let mut n_in = 0;
    for k in 0.. {
        let mut ch = card(19);
        let mut host = issuer();
        load(&mut ch, &mut host, 1_000, T0 - 60);
        let mut g = gate(1, Direction::In, 0x10);
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let first = g.tap(&mut ch, T0);
        ch.card_mut().disarm_power_cut();
        let st = transit_state(ch.card());
        assert!(
            st.journey.is_none() || st.journey.unwrap().status == JourneyStatus::In,
            "k={k}"
        );
        if first.is_ok() {
            n_in = k;
            break;
        }
        let r = g.tap(&mut ch, T0 + 10).unwrap();
        assert!(
            matches!(r.decision.kind, TapKind::Entry | TapKind::Retap),
            "k={k}"
        );
        assert_eq!(
            transit_state(ch.card()).journey.unwrap().status,
            JourneyStatus::In
        );
        assert_eq!(purse_invariant(ch.card()).0, 1_000);
    }
    let mut n_pass = 0;
    for k in 0.. {
        let mut ch = card(20);
        let mut host = issuer();
        load(&mut ch, &mut host, 1_000, T0 - 60);
        let mut g = gate(1, Direction::In, 0x10);
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let first = g.sell_pass(&mut ch, "day-1-2", T0);
        ch.card_mut().disarm_power_cut();
        if first.is_ok() {
            n_pass = k;
            break;
        }
        // Next tap anywhere resolves a pending payment for the pass.
        g.tap(&mut ch, T0 + 60).unwrap();
        let st = transit_state(ch.card());
        let bal = purse_invariant(ch.card()).0;
        assert_eq!(st.pending, None, "k={k}");
        // Paid iff the pass is on the card.
        assert_eq!(
            bal == 400,
            st.passes.len() == 1,
            "k={k}: balance {bal}, passes {}",
            st.passes.len()
        );
        assert!(bal == 400 || bal == 1_000, "k={k}");
    }
    println!("transit tap-in: {n_in} cut points; pass sale: {n_pass} cut points");
    assert!(n_in >= 10 && n_pass > 20);
}

/// A fare left pending by a tear, then the money spent elsewhere: the next
/// gate refuses (unpaid fare) without error; after a top-up it is charged once.
#[test]
fn transit_unpaid_pending_fare_refused_until_top_up() {
    let mut ch = card(21);
    let mut host = issuer();
    load(&mut ch, &mut host, 1_000, T0 - 60);
    gate(1, Direction::In, 0x10).tap(&mut ch, T0).unwrap();
    let mut out = gate(3, Direction::Out, 0x11);
    // 11 writes = the transit write with the pending marker; the purse debit is torn.
    ch.card_mut().arm_power_cut(PowerCut::after_writes(11));
    assert!(out.tap(&mut ch, T0 + 1200).is_err());
    ch.card_mut().disarm_power_cut();
    assert!(transit_state(ch.card()).pending.is_some());
    assert_eq!(purse_invariant(ch.card()).0, 1_000);
    // The rider spends everything in a shop.
    let mut shop = sam(0x5409);
    with_link(&mut ch, |l| shop.debit(l, 1_000, T0 + 1300)).unwrap();
    let r = gate(2, Direction::In, 0x12)
        .tap(&mut ch, T0 + 1400)
        .unwrap();
    assert!(!r.open);
    assert_eq!(
        r.decision.refusal,
        Some(lamina_closedloop::transit::Refusal::UnpaidFare {
            amount: 250,
            balance: 0
        })
    );
    // Top up, tap again: the old fare is charged, then the new entry.
    load(&mut ch, &mut host, 2_000, T0 + 1500);
    let r = gate(2, Direction::In, 0x12)
        .tap(&mut ch, T0 + 1600)
        .unwrap();
    assert!(r.open);
    assert_eq!(r.resolved, Some(("charged", 250)));
    assert_eq!(purse_invariant(ch.card()).0, 2_000 - 250);
    assert_eq!(transit_state(ch.card()).pending, None);
}

// ---------------------------------------------------------------- parking

#[test]
fn parking_entry_exit() {
    let mut ch = card(9);
    let mut host = issuer();
    load(&mut ch, &mut host, 5_000, T0);
    let mk = || {
        ParkingTerminal::new(
            42,
            Tariff::demo().unwrap(),
            Schemes::demo().parking,
            install::parking_aid(),
            sam(0xCA4),
        )
    };
    let mut entry = mk();
    let mut exit = mk();
    // Exit without a ticket: refused.
    assert_eq!(
        exit.exit(&mut ch, T0).unwrap().outcome,
        ParkingOutcome::NoTicket
    );
    assert_eq!(
        entry.entry(&mut ch, T0).unwrap().outcome,
        ParkingOutcome::Entered
    );
    assert_eq!(
        entry.entry(&mut ch, T0 + 30).unwrap().outcome,
        ParkingOutcome::AlreadyInside
    );
    let r = exit.exit(&mut ch, T0 + 2 * 3600).unwrap();
    let ParkingOutcome::Exited(stay) = r.outcome else {
        panic!("{r:?}")
    };
    assert_eq!(stay.fee, 600);
    assert_eq!(r.balance, 4_400);
    assert_eq!(exit.tariff().fee(stay.entry, stay.exit).unwrap(), 600);
    assert_eq!(
        exit.exit(&mut ch, T0 + 3 * 3600).unwrap().outcome,
        ParkingOutcome::NoTicket
    );
    let proofs = exit.sam_mut().take_proofs();
    assert_eq!(proofs.len(), 1);
    verify_proof(&Schemes::demo().purse, &proofs[0]).unwrap();
    // Not enough money for a long stay.
    entry.entry(&mut ch, T0 + 10 * 3600).unwrap();
    let r = exit.exit(&mut ch, T0 + 10 * 3600 + 3 * 86_400).unwrap();
    assert_eq!(
        r.outcome,
        ParkingOutcome::InsufficientBalance {
            fee: 6_000,
            balance: 4_400
        }
    );
    purse_invariant(ch.card());
}

#[test]
fn parking_exit_tearing_every_write() {
    let mut n = 0;
    for k in 0.. {
        let mut ch = card(10);
        let mut host = issuer();
        load(&mut ch, &mut host, 5_000, T0);
        let mut t = ParkingTerminal::new(
            42,
            Tariff::demo().unwrap(),
            Schemes::demo().parking,
            install::parking_aid(),
            sam(0xCA5),
        );
        t.entry(&mut ch, T0).unwrap();
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let first = t.exit(&mut ch, T0 + 3000);
        ch.card_mut().disarm_power_cut();
        if first.is_err() {
            ch.power_on(Interface::Contactless).unwrap();
            ch.power_off();
            purse_invariant(ch.card());
            let r = t.exit(&mut ch, T0 + 3100).unwrap();
            // Either the ticket was still open (pay now) or it was closed and paid or its payment resolved.
            assert!(
                matches!(
                    r.outcome,
                    ParkingOutcome::Exited(_) | ParkingOutcome::NoTicket
                ),
                "k={k}: {r:?}"
            );
        }
        assert_eq!(purse_invariant(ch.card()).0, 5_000 - 250, "k={k}");
        if first.is_ok() {
            n = k;
            break;
        }
    }
    println!("parking exit: {n} cut points");
}

// ---------------------------------------------------------------- loyalty

fn loyalty_terminal(tid: u64) -> LoyaltyTerminal {
    LoyaltyTerminal::new(TerminalId::from_u64(tid), install::loyalty_aid()).with_program(
        PROGRAM,
        Schemes::demo().programs[0].master.clone(),
        EarnRule {
            points_per_unit: 2,
            unit: 100,
            value_per_point: 1,
        },
    )
}

#[test]
fn loyalty_earn_redeem_expiry_history() {
    let mut ch = card(11);
    let t = loyalty_terminal(0x10);
    // After an (EMV) purchase of 42.50 with the card still in the field.
    ch.power_on(Interface::Contactless).unwrap();
    let o = t
        .on_emv_purchase(&mut ch, PROGRAM, 4_250, T0)
        .unwrap()
        .unwrap();
    assert_eq!((o.points, o.balance), (84, 84));
    assert_eq!(o.expiry, T0 + 365 * 86_400);
    ch.power_off();
    // A program the card is not enrolled in: no points, no error.
    let other = LoyaltyTerminal::new(TerminalId::from_u64(1), install::loyalty_aid()).with_program(
        7,
        lamina_crypto::sym::SecretKey::new(vec![1; 16]),
        EarnRule {
            points_per_unit: 1,
            unit: 1,
            value_per_point: 1,
        },
    );
    assert_eq!(other.tap_earn(&mut ch, 7, 100, T0).unwrap(), None);
    // Redeem 50 points for 0.50.
    let r = with_link(&mut ch, |l| t.redeem(l, PROGRAM, 50, T0 + 100)).unwrap();
    assert_eq!((r.balance, r.value), (34, 50));
    // Not enough points: 9401 (the terminal checks first).
    let e = with_link(&mut ch, |l| t.redeem(l, PROGRAM, 35, T0 + 200)).unwrap_err();
    assert_eq!(e.status(), Some(StatusWord(0x9401)));
    // History, newest first.
    let h = with_link(&mut ch, |l| t.history(l)).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!((h[0].points, h[0].balance, h[1].amount), (50, 34, 4_250));
    // After the expiry the points are gone.
    let after = T0 + 366 * 86_400;
    assert_eq!(
        with_link(&mut ch, |l| t.balance(l, PROGRAM, after)).unwrap(),
        0
    );
    assert_eq!(
        with_link(&mut ch, |l| t.balance(l, PROGRAM, T0 + 300)).unwrap(),
        34
    );
    // Max points: 9402.
    let e = with_link(&mut ch, |l| t.earn(l, PROGRAM, 6_000_000, T0 + 400)).unwrap_err();
    assert_eq!(e.status(), Some(StatusWord(0x9402)));
}

#[test]
fn loyalty_bad_mac_and_session() {
    let mut ch = card(12);
    ch.power_on(Interface::Contactless).unwrap();
    select(&mut ch, &install::loyalty_aid());
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, 0x72, 0, &[0; 16])),
        StatusWord(0x6985)
    );
    let init = [&PROGRAM.to_be_bytes()[..], &[0; 8], &T0.to_be_bytes()].concat();
    assert_eq!(sw(&apdu(&mut ch, 0x80, 0x70, 0, &init)), StatusWord::OK);
    assert_eq!(
        sw(&apdu(
            &mut ch,
            0x80,
            0x72,
            0,
            &[&10u32.to_be_bytes()[..], &[0; 4], &[0; 8]].concat()
        )),
        StatusWord(0x6982)
    );
    let unknown = [&1u32.to_be_bytes()[..], &[0; 8], &T0.to_be_bytes()].concat();
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, 0x70, 0, &unknown)),
        StatusWord(0x6A88)
    );
    let r = apdu(&mut ch, 0x80, 0x78, 0, &[]);
    assert_eq!(r.len(), 12 + 2);
}

#[test]
fn loyalty_tearing_every_write() {
    let pts = |c: &Card| {
        c.record(&install::loyalty_aid(), &format!("p.{PROGRAM:08X}"))
            .map(|v| u32::from_be_bytes(v[..4].try_into().unwrap()))
            .unwrap_or(0)
    };
    let hist = |c: &Card| u32rec(c, &install::loyalty_aid(), "hist.n");
    let mut n = 0;
    for k in 0.. {
        let mut ch = card(13);
        let t = loyalty_terminal(0x20);
        with_link(&mut ch, |l| t.earn(l, PROGRAM, 1_000, T0)).unwrap();
        ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        let r = with_link(&mut ch, |l| t.redeem(l, PROGRAM, 5, T0 + 10));
        ch.card_mut().disarm_power_cut();
        ch.power_on(Interface::Contactless).unwrap();
        ch.power_off();
        let (p, h) = (pts(ch.card()), hist(ch.card()));
        assert!(
            (p, h) == (20, 1) || (p, h) == (15, 2),
            "k={k}: points {p}, history {h}"
        );
        if r.is_ok() {
            assert_eq!(p, 15);
            n = k;
            break;
        }
    }
    println!("loyalty DEBIT POINTS: {n} cut points");
    assert!(n >= 10);
}

// ---------------------------------------------------------------- multi-application card

#[test]
fn multi_application_card_lists_all_applications() {
    let ch = card(14);
    let labels: Vec<&str> = ch
        .card()
        .installed()
        .iter()
        .map(|i| i.label.as_str())
        .collect();
    assert_eq!(labels, ["PURSE", "LOYALTY", "TRANSIT", "PARKING"]);
    // Each application has its own keys: the transit key is not the parking key.
    let t = ch.card().installed()[2].params.0.clone();
    let p = ch.card().installed()[3].params.0.clone();
    assert_eq!(t[..8], p[..8]);
    assert_ne!(t[8..], p[8..]);
    // The image round-trips with the registered ROM.
    let img = ch.card().save_image();
    let back = Card::load_image(
        install::register(lamina_card::Rom::new()),
        lamina_card::SeededRng::new(1),
        &img,
    )
    .unwrap();
    assert_eq!(back.installed().len(), 4);
}

#[test]
fn coexists_with_another_application_and_lists_in_ppse() {
    use lamina_card::testing::{DEMO_AID_1, demo_rom};
    let rom = demo_rom();
    let mut c = install::test_card_with(rom, &Schemes::demo(), CARD, 22).unwrap();
    // The demo counter stands in for the EMV application here (priority 1).
    c.install(
        lamina_card::Install::new(
            Aid::from_hex(DEMO_AID_1).unwrap(),
            lamina_card::applets::counter::CLASS,
        )
        .label("BANK")
        .priority(1)
        .params(vec![0x12, 0x34]),
    )
    .unwrap();
    let mut ch = EmulatedCard::new(c);
    ch.power_on(Interface::Contactless).unwrap();
    let r = apdu(&mut ch, 0x00, 0xA4, 0x04, b"2PAY.SYS.DDF01");
    assert_eq!(sw(&r), StatusWord::OK);
    let fci = hex::encode_upper(&r);
    for a in [
        install::PURSE_AID,
        install::LOYALTY_AID,
        install::TRANSIT_AID,
        install::PARKING_AID,
        DEMO_AID_1,
    ] {
        assert!(fci.contains(a), "{a} missing from the PPSE");
    }
    // Firewall: the other application's commands do not reach the purse.
    select(&mut ch, &Aid::from_hex(DEMO_AID_1).unwrap());
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, 0x10, 0, &5u32.to_be_bytes())),
        StatusWord::OK
    );
    ch.power_off();
    assert_eq!(purse_invariant(ch.card()), (0, 0));
    // A blocked purse: SELECT answers 6283, commands 6985.
    ch.card_mut()
        .set_app_life_cycle(&install::purse_aid(), lamina_card::AppLifeCycle::Blocked)
        .unwrap();
    ch.power_on(Interface::Contactless).unwrap();
    let r = apdu(&mut ch, 0x00, 0xA4, 0x04, install::purse_aid().as_bytes());
    assert_eq!(sw(&r), StatusWord(0x6283));
    assert_eq!(
        sw(&apdu(&mut ch, 0x80, purse::ins::STATUS, 0, &[])),
        StatusWord(0x6985)
    );
}

/// Stored formats must not change silently: the encodings of the state
/// records and log entries are compared with golden files.
#[test]
fn golden_stored_formats() {
    use lamina_closedloop::parking::{ParkingState, Stay, Ticket};
    use lamina_closedloop::record::PendingPayment;
    use lamina_closedloop::transit::{Journey, Pass, PassKind};
    let transit = TransitState {
        journey: Some(Journey {
            status: JourneyStatus::In,
            origin: 1,
            origin_zone: 1,
            started: T0,
            last_station: 4,
            last_zone: 2,
            last_time: T0 + 2400,
            paid: 250,
            transfers: 1,
        }),
        day: 20_416,
        spent_today: 250,
        pending: Some(PendingPayment {
            terminal: TerminalId::from_u64(0x11),
            seq: 9,
            amount: 200,
        }),
        passes: vec![Pass {
            kind: PassKind::Period,
            zone_min: 1,
            zone_max: 3,
            valid_from: T0,
            valid_until: T0 + 7 * 86_400,
        }],
    };
    let parking = ParkingState {
        ticket: Some(Ticket {
            site: 42,
            entry: T0,
            gate: TerminalId::from_u64(0xCA4),
        }),
        last: Some(Stay {
            site: 42,
            entry: T0 - 7200,
            exit: T0 - 3600,
            fee: 250,
        }),
        pending: None,
    };
    let entry = purse::LogEntry {
        kind: purse::TxKind::Cancel,
        counter: 5,
        amount: 300,
        balance: 1_000,
        terminal: TerminalId::from_u64(0xC2),
        terminal_seq: 3,
        time: T0,
        original: 4,
    };
    let actual = format!(
        "transit {}\nparking {}\npurse_log {}\n",
        hex::encode_upper(transit.encode()),
        hex::encode_upper(parking.encode()),
        hex::encode_upper(entry.encode())
    );
    let golden = include_str!("golden/stored-formats-v1.txt");
    let body: String = golden
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        actual, body,
        "stored format changed: bump the layout version"
    );
    assert_eq!(TransitState::decode(&transit.encode()).unwrap(), transit);
}

// ---------------------------------------------------------------- properties

mod props {
    use super::*;
    use lamina_closedloop::transit::Tap;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the taps, no charge exceeds the maximum fare and no service
        /// day charges more than the cap; states always re-encode.
        #[test]
        fn fare_engine_respects_max_fare_and_cap(
            taps in prop::collection::vec((1u16..=5, any::<bool>(), 0u32..7200, 0u32..4000), 1..40)
        ) {
            let table = FareTable::demo().unwrap();
            let mut st = TransitState::default();
            let mut t = T0;
            let mut per_day = std::collections::BTreeMap::<u32, u32>::new();
            for (station, out, dt, balance) in taps {
                t += dt;
                let dir = if out { Direction::Out } else { Direction::In };
                let d = table.decide(&st, &Tap { time: t, station, direction: dir }, balance).unwrap();
                prop_assert!(d.charge <= table.max_fare);
                prop_assert!(d.charge <= balance);
                if let Some(ns) = d.new_state {
                    prop_assert_eq!(TransitState::decode(&ns.encode()).unwrap(), ns.clone());
                    st = ns;
                }
                *per_day.entry(table.service_day(t)).or_default() += d.charge;
            }
            for total in per_day.values() {
                prop_assert!(*total <= table.daily_cap);
            }
        }

        /// The card-side decoders never panic on arbitrary bytes.
        #[test]
        fn decoders_never_panic(b in prop::collection::vec(any::<u8>(), 0..120)) {
            let _ = TransitState::decode(&b);
            let _ = lamina_closedloop::parking::ParkingState::decode(&b);
            let _ = lamina_closedloop::loyalty::LoyaltyParams::decode(&b);
            let _ = purse::PurseParams::decode(&b);
            let _ = purse::LogEntry::decode(&b);
            let _ = purse::PurseStatus::decode(&b);
        }
    }

    fn arb_apdu() -> impl Strategy<Value = Vec<u8>> {
        let ins = prop::sample::select(vec![
            0x50u8, 0x54, 0x56, 0x58, 0x5A, 0x5C, 0x5E, 0x60, 0x62, 0x66, 0x70, 0x72, 0x74, 0x76,
            0x78, 0xA4, 0x00,
        ]);
        let cla = prop::sample::select(vec![0x80u8, 0x00, 0x84, 0x90]);
        (
            cla,
            ins,
            0u8..3,
            0u8..2,
            prop::collection::vec(any::<u8>(), 0..40),
            prop::option::of(0u8..4),
        )
            .prop_map(|(cla, ins, p1, p2, data, le)| {
                let mut v = vec![cla, ins, p1, p2];
                if !data.is_empty() {
                    v.push(u8::try_from(data.len()).unwrap());
                    v.extend_from_slice(&data);
                }
                if let Some(le) = le {
                    v.push(le);
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_apdus_never_panic_nor_break_the_purse(
            steps in prop::collection::vec((0usize..4, arb_apdu(), prop::option::of(0u64..40)), 1..40)
        ) {
            let mut ch = card(15);
            let mut host = issuer();
            load(&mut ch, &mut host, 1_234, T0);
            let aids = [install::purse_aid(), install::loyalty_aid(), install::transit_aid(), install::parking_aid()];
            ch.power_on(Interface::Contactless).unwrap();
            for (app, apdu, cut) in steps {
                let sel = Command::new(0, 0xA4, 4, 0).with_data(aids[app].as_bytes().to_vec()).with_le(256);
                ch.transmit(&sel.to_bytes().unwrap()).unwrap();
                if let Some(k) = cut {
                    ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
                }
                match ch.transmit(&apdu) {
                    Ok(r) => prop_assert!(r.len() >= 2),
                    Err(ChannelError::CardRemoved) => {
                        ch.power_on(Interface::Contactless).unwrap();
                    }
                    Err(e) => prop_assert!(false, "{e}"),
                }
                ch.card_mut().disarm_power_cut();
                let (bal, _) = purse_invariant(ch.card());
                // Random MACs never verify: the balance cannot move.
                prop_assert_eq!(bal, 1_234);
            }
            // The card still works for a genuine debit.
            ch.power_off();
            let mut s = sam(0xD1);
            let d = with_link(&mut ch, |l| s.debit(l, 34, T0)).unwrap();
            prop_assert_eq!(d.balance, 1_200);
        }
    }
}
