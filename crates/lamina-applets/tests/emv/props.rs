//! Random APDU sequences (with power cuts): no panic, NVM invariants hold.

use lamina_applets::emv::CvnChoice;
use lamina_card::{CardChannel, ChannelError, Interface, PowerCut};
use proptest::prelude::*;

use crate::support::*;

#[derive(Debug, Clone)]
enum Op {
    Select,
    Gpo(Vec<u8>),
    ReadRecord(u8, u8),
    GetData(u16),
    GetChallenge,
    Verify(String),
    GenAc(u8, u64, bool),
    ExtAuth(Vec<u8>),
    Script(u8, u8, u8, Vec<u8>),
    Raw(Vec<u8>),
    Cut(u64, Box<Op>),
}

fn op() -> impl Strategy<Value = Op> {
    let base = prop_oneof![
        Just(Op::Select),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(Op::Gpo),
        (0u8..4, 0u8..0x70).prop_map(|(a, b)| Op::ReadRecord(a, b)),
        prop_oneof![
            Just(0x9F36u16),
            Just(0x9F13),
            Just(0x9F17),
            Just(0x9F4F),
            any::<u16>()
        ]
        .prop_map(Op::GetData),
        Just(Op::GetChallenge),
        prop_oneof![Just("1234".to_owned()), "[0-9]{4,6}"].prop_map(Op::Verify),
        (
            prop_oneof![
                Just(0x00u8),
                Just(0x40),
                Just(0x80),
                Just(0x90),
                any::<u8>()
            ],
            0u64..20_000,
            any::<bool>()
        )
            .prop_map(|(p1, amt, good)| Op::GenAc(p1, amt, good)),
        prop::collection::vec(any::<u8>(), 0..18).prop_map(Op::ExtAuth),
        (
            prop_oneof![Just(0x84u8), Just(0x04), Just(0x80)],
            prop_oneof![
                Just(0x1Eu8),
                Just(0x18),
                Just(0x16),
                Just(0x24),
                Just(0xDA),
                Just(0xDC),
                Just(0xE2)
            ],
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(c, i, p2, d)| Op::Script(c, i, p2, d)),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Op::Raw),
    ];
    prop_oneof![
        8 => base.clone(),
        1 => (0u64..12, base).prop_map(|(k, o)| Op::Cut(k, Box::new(o))),
    ]
}

fn apdu(t: &Term, op: &Op) -> Vec<u8> {
    match op {
        Op::Select => {
            let mut a = vec![0x00, 0xA4, 0x04, 0x00, u8::try_from(t.p.aid.len()).unwrap()];
            a.extend(&t.p.aid);
            a.push(0);
            a
        }
        Op::Gpo(d) => {
            let mut a = vec![
                0x80,
                0xA8,
                0,
                0,
                u8::try_from(d.len() + 2).unwrap(),
                0x83,
                u8::try_from(d.len()).unwrap(),
            ];
            a.extend(d);
            a.push(0);
            a
        }
        Op::ReadRecord(r, p2) => vec![0x00, 0xB2, *r, *p2, 0],
        Op::GetData(tag) => {
            let [a, b] = tag.to_be_bytes();
            vec![0x80, 0xCA, a, b, 0]
        }
        Op::GetChallenge => h("0084000000"),
        Op::Verify(pin) => {
            let mut a = h("0020008008");
            a.extend(
                lamina_crypto::pin::encode_iso2(&lamina_crypto::pin::Pin::new(pin).unwrap())
                    .as_bytes(),
            );
            a
        }
        Op::GenAc(p1, amount, good) => {
            let mut d = cdol1(*amount, "0978", [3; 4]);
            if !good {
                d.truncate(usize::try_from(amount % 33).unwrap());
            }
            let mut a = vec![0x80, 0xAE, *p1, 0, u8::try_from(d.len()).unwrap()];
            a.extend(d);
            a.push(0);
            a
        }
        Op::ExtAuth(d) => {
            let mut a = vec![0x00, 0x82, 0, 0, u8::try_from(d.len()).unwrap()];
            a.extend(d);
            a
        }
        Op::Script(c, i, p2, d) => {
            let mut a = vec![*c, *i, 0, *p2, u8::try_from(d.len()).unwrap()];
            a.extend(d);
            a
        }
        Op::Raw(b) => b.clone(),
        Op::Cut(_, o) => apdu(t, o),
    }
}

struct State {
    atc: u16,
    ptc: u8,
}

fn state(t: &Term) -> State {
    State {
        atc: t.atc(),
        ptc: t.ptc(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn random_apdu_sequences_keep_nvm_invariants(ops in prop::collection::vec(op(), 1..40)) {
        let mut t = Term::new(perso(CvnChoice::EmvCcd));
        for op in &ops {
            let before = state(&t);
            if let Op::Cut(k, _) = op {
                t.ch.card_mut().arm_power_cut(PowerCut::after_writes(*k));
            }
            let a = apdu(&t, op);
            let r = t.ch.transmit(&a);
            t.ch.card_mut().disarm_power_cut();
            let answered = match r {
                Ok(resp) => {
                    prop_assert!(resp.len() >= 2);
                    Some(sw(&resp))
                }
                Err(ChannelError::CardRemoved) => {
                    t.ch.power_on(Interface::Contact).unwrap();
                    None
                }
                Err(e) => panic!("{e}"),
            };
            let nvm = t.ch.card().nvm();
            prop_assert!(nvm.journal.entries.is_empty() && nvm.atomic.is_none());
            let after = state(&t);
            prop_assert!(after.atc >= before.atc, "ATC went back");
            prop_assert!(after.atc <= before.atc + 1);
            prop_assert!(after.ptc <= 3);
            // Only the right PIN (answered, or torn after its comparison) resets.
            let right_pin = |o: &Op| matches!(o, Op::Verify(p) if p == "1234");
            let pin_ok = match op {
                Op::Cut(_, o) => right_pin(o),
                o => right_pin(o) && answered == Some(0x9000),
            };
            if !pin_ok {
                prop_assert!(after.ptc <= before.ptc, "PIN try counter increased");
            }
            let log = t.record("log.count").map_or(0, |v| v[0]);
            prop_assert!(log <= 10);
            let lonatc = u16::from_be_bytes(t.record("lonatc").unwrap().try_into().unwrap());
            prop_assert!(lonatc <= after.atc);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Random and mangled STORE DATA blocks on a blank card: no panic, the journal
    /// is empty after every command, and the card is personalized only by a
    /// complete, valid script.
    #[test]
    fn random_store_data_never_half_personalizes(
        mangle in prop::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 0..6),
        junk in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..40), 0..4),
    ) {
        use lamina_applets::emv::provision::install_entry;
        use lamina_applets::emv::testing::rom;
        use lamina_card::{Card, EmulatedCard, SeededRng};
        let p = perso(CvnChoice::Visa18);
        let mut card = Card::new(rom(None), SeededRng::new(1));
        card.install(install_entry(&p).unwrap()).unwrap();
        let mut ch = EmulatedCard::new(card);
        ch.power_on(Interface::Contact).unwrap();
        let mut sel = vec![0x00, 0xA4, 0x04, 0x00, u8::try_from(p.aid.len()).unwrap()];
        sel.extend(&p.aid);
        sel.push(0);
        ch.transmit(&sel).unwrap();
        let mut script = p.store_data_script().unwrap();
        let mut mangled = false;
        for (block, pos, x) in &mangle {
            let n = script.len();
            let b = &mut script[usize::from(*block) % n];
            let i = 5 + pos % (b.len() - 5);
            if *x != 0 {
                b[i] ^= x;
                mangled = true;
            }
        }
        for j in &junk {
            let mut a = vec![0x80, 0xE2, 0x00, 0x00, u8::try_from(j.len()).unwrap()];
            a.extend(j);
            ch.transmit(&a).unwrap();
        }
        let mut all_ok = true;
        for a in &script {
            let r = ch.transmit(a).unwrap();
            all_ok &= sw(&r) == 0x9000;
            let nvm = ch.card().nvm();
            prop_assert!(nvm.journal.entries.is_empty());
        }
        let personalized = ch.card().record(&aid(&p), "perso").is_some();
        prop_assert!(!personalized || all_ok);
        if !mangled && junk.is_empty() {
            prop_assert!(personalized);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// The chip OS's byte-stream driver (APDUs, power cycles on both interfaces and
    /// T=0, tears) on an EMV card: no panic, no misbehaviour, NVM invariants.
    #[test]
    fn chip_os_stream_driver_on_an_emv_card(
        stream in prop::collection::vec(any::<u8>(), 0..400),
        prefix in any::<bool>(),
    ) {
        let p = perso(CvnChoice::Visa18);
        let mut card = lamina_applets::emv::testing::build_card(&p, None, 3).unwrap();
        // Optionally start with SELECT + GPO so random bytes reach deeper states.
        let mut data = Vec::new();
        if prefix {
            let mut sel = vec![0x00, 0xA4, 0x04, 0x00, u8::try_from(p.aid.len()).unwrap()];
            sel.extend(&p.aid);
            sel.push(0);
            data.push(u8::try_from(sel.len()).unwrap());
            data.extend(sel);
            let gpo = h("80A80000048302025000");
            data.push(u8::try_from(gpo.len()).unwrap());
            data.extend(gpo);
        }
        data.extend(stream);
        let before = u16::from_be_bytes(card.record(&aid(&p), "atc").unwrap().try_into().unwrap());
        let r = lamina_card::testing::run_stream(&mut card, &data);
        prop_assert!(r.is_ok(), "{r:?}");
        let after = u16::from_be_bytes(card.record(&aid(&p), "atc").unwrap().try_into().unwrap());
        prop_assert!(after >= before);
        prop_assert!(card.record(&aid(&p), "ptc").unwrap()[0] <= 3);
    }
}
