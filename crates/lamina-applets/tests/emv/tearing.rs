//! Tearing: power cut after every possible NVM write of a full purchase and an
//! issuer script run; PIN brute force under power cuts.

use lamina_applets::emv::testing::{build_card, rom};
use lamina_applets::emv::{CvnChoice, EmvPersonalization};
use lamina_card::{Card, CardChannel, ChannelError, EmulatedCard, Interface, PowerCut, SeededRng};
use lamina_crypto::emv::{IccKeys, pin_change_command, script_command};
use lamina_crypto::pin::{Pin, encode_iso2};

use crate::support::*;

/// What the terminal saw before the tear.
#[derive(Debug, Default)]
struct Obs {
    /// ATCs of answered GENERATE ACs.
    atcs: Vec<u16>,
    /// GENERATE ACs sent (answered or torn).
    genac_sent: u16,
    wrong_pin_answered: bool,
    right_pin_sent: bool,
    put_data_answered: bool,
    pin_change_answered: bool,
    /// Low-level NVM writes of the commands that completed.
    writes: u64,
    /// Commands completed.
    commands: usize,
}

const NEW_PIN: &str = "5678";

fn send(ch: &mut EmulatedCard, obs: &mut Obs, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
    let r = ch.transmit(apdu)?;
    obs.writes += ch.card().last_command_writes();
    obs.commands += 1;
    Ok(r)
}

fn verify_apdu(pin: &str) -> Vec<u8> {
    let mut a = h("0020008008");
    a.extend(encode_iso2(&Pin::new(pin).unwrap()).as_bytes());
    a
}

/// SELECT, GPO, READ RECORD ×3, VERIFY (wrong, right), GENERATE AC 1 (ARQC),
/// GENERATE AC 2 (TC with ARPC), then an issuer script: PUT DATA LCOL, PIN CHANGE.
fn scenario(
    ch: &mut EmulatedCard,
    p: &EmvPersonalization,
    obs: &mut Obs,
) -> Result<(), ChannelError> {
    let cvn = p.cvn;
    let mut sel = vec![0x00, 0xA4, 0x04, 0x00, u8::try_from(p.aid.len()).unwrap()];
    sel.extend(&p.aid);
    sel.push(0);
    assert_eq!(sw(&send(ch, obs, &sel)?), 0x9000);
    assert_eq!(sw(&send(ch, obs, &h("80A80000048302025000"))?), 0x9000);
    for (sfi, rec) in [(1u8, 1u8), (2, 1), (2, 2)] {
        assert_eq!(
            sw(&send(ch, obs, &[0x00, 0xB2, rec, (sfi << 3) | 4, 0])?),
            0x9000
        );
    }
    assert_eq!(sw(&send(ch, obs, &verify_apdu("0000"))?), 0x63C2);
    obs.wrong_pin_answered = true;
    obs.right_pin_sent = true;
    assert_eq!(sw(&send(ch, obs, &verify_apdu("1234"))?), 0x9000);
    let un = [0x11, 0x22, 0x33, 0x44];
    let mut a = h("80AE800021");
    a.extend(cdol1(2500, "0978", un));
    a.push(0);
    obs.genac_sent += 1;
    let a1 = parse_ac(&send(ch, obs, &a)?);
    obs.atcs.push(a1.atc);
    let iad = issuer_auth_data(cvn, &a1, un, b"00");
    let d2 = cdol2(cvn, b"00", Some(&iad), un);
    let mut a = vec![0x80, 0xAE, 0x40, 0x00, u8::try_from(d2.len()).unwrap()];
    a.extend(d2);
    a.push(0);
    obs.genac_sent += 1;
    let a2 = parse_ac(&send(ch, obs, &a)?);
    assert_eq!(a2.cid, 0x40);
    obs.atcs.push(a2.atc);
    let k = issuer_keys(cvn);
    let ac = a1.ac.unwrap();
    let put = script_command(
        cvn.cvn(),
        &k.smi,
        a1.atc,
        &ac,
        [0x84, 0xDA, 0x9F, 0x14],
        &[7],
        8,
    )
    .unwrap();
    assert_eq!(sw(&send(ch, obs, &put)?), 0x9000);
    obs.put_data_answered = true;
    let keys = IccKeys {
        ac: &k.ac,
        smi: &k.smi,
        smc: &k.smc,
    };
    let pc = pin_change_command(cvn.cvn(), keys, a1.atc, &ac, NEW_PIN, None).unwrap();
    assert_eq!(sw(&send(ch, obs, &pc)?), 0x9000);
    obs.pin_change_answered = true;
    Ok(())
}

fn rec(ch: &EmulatedCard, p: &EmvPersonalization, key: &str) -> Option<Vec<u8>> {
    ch.card().record(&aid(p), key).map(<[u8]>::to_vec)
}

fn check_after_power_up(ch: &EmulatedCard, p: &EmvPersonalization, obs: &Obs, k: u64) {
    let nvm = ch.card().nvm();
    assert!(
        nvm.journal.entries.is_empty() && !nvm.journal.committed,
        "k={k}: journal"
    );
    assert!(nvm.atomic.is_none(), "k={k}: atomic buffer");
    let u16r = |key: &str| u16::from_be_bytes(rec(ch, p, key).unwrap().try_into().unwrap());
    let atc = u16r("atc");
    let lonatc = u16r("lonatc");
    // ATC: at least every answered cryptogram's, at most one per GENERATE AC sent.
    assert!(obs.atcs.iter().all(|a| *a <= atc), "k={k}: ATC went back");
    assert!(
        atc <= obs.genac_sent,
        "k={k}: ATC {atc} > {} sent",
        obs.genac_sent
    );
    // PIN try counter: a wrong PIN answered stays counted until a correct VERIFY ran.
    let ptc = rec(ch, p, "ptc").unwrap()[0];
    assert!(ptc <= 3, "k={k}");
    if obs.wrong_pin_answered && !obs.right_pin_sent {
        assert_eq!(ptc, 2, "k={k}: PIN try counter restored by the cut");
    }
    if !obs.wrong_pin_answered {
        assert!(ptc >= 2, "k={k}");
    }
    // Risk state, counters and log move together.
    let flags = rec(ch, p, "flags").unwrap()[0];
    let log_count = rec(ch, p, "log.count").map_or(0, |v| v[0]);
    assert_eq!(lonatc != 0, log_count == 1, "k={k}: last online ATC vs log");
    if log_count == 1 {
        let l = rec(ch, p, "log.00").unwrap();
        let logged_atc = u16::from_be_bytes([l[11], l[12]]);
        assert_eq!(logged_atc, lonatc + 1, "k={k}: log ATC");
        assert_eq!(l[13], 0x40, "k={k}: log CID");
        assert_eq!(flags & 0x01, 0, "k={k}: online completed");
    }
    if flags & 0x01 != 0 {
        assert!(atc >= 1 && lonatc == 0, "k={k}");
    }
    // Script effects and the script counter in one transaction each.
    let scripts = flags >> 4;
    let lcol = rec(ch, p, "do.9F14").unwrap()[0];
    assert_eq!(lcol == 7, scripts >= 1, "k={k}: PUT DATA vs script count");
    let new_pin = encode_iso2(&Pin::new(NEW_PIN).unwrap()).as_bytes().to_vec();
    let pin_changed = rec(ch, p, "pin").unwrap() == new_pin;
    assert_eq!(
        pin_changed,
        scripts >= 2,
        "k={k}: PIN CHANGE vs script count"
    );
    if obs.put_data_answered {
        assert_eq!(lcol, 7, "k={k}");
    }
    if obs.pin_change_answered {
        assert!(pin_changed, "k={k}");
    }
}

#[test]
fn purchase_and_script_survive_a_cut_after_every_write() {
    let mut total_cuts = 0u64;
    let mut recovery_cuts = 0u64;
    for cvn in [CvnChoice::Visa10, CvnChoice::EmvCcd] {
        let p = perso(cvn);
        let image = build_card(&p, None, 1).unwrap().save_image();
        let fresh = || {
            let card = Card::load_image(rom(None), SeededRng::new(1), &image).unwrap();
            let mut ch = EmulatedCard::new(card);
            ch.power_on(Interface::Contact).unwrap();
            ch
        };
        // Count the writes once.
        let mut ch = fresh();
        let mut probe = Obs::default();
        scenario(&mut ch, &p, &mut probe).unwrap();
        let total = probe.writes;
        assert!(total > 40, "{cvn:?}: {total} writes");
        for k in 0..total {
            let mut ch = fresh();
            ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
            let mut obs = Obs::default();
            let r = scenario(&mut ch, &p, &mut obs);
            assert_eq!(r, Err(ChannelError::CardRemoved), "k={k}");
            // Tear the recovery itself at each of its writes, then recover.
            let torn = ch.card().save_image();
            ch.power_on(Interface::Contact).unwrap();
            let recovery_writes = ch.card().last_command_writes();
            for j in 0..recovery_writes {
                let card = Card::load_image(rom(None), SeededRng::new(1), &torn).unwrap();
                let mut again = EmulatedCard::new(card);
                again.card_mut().arm_power_cut(PowerCut::after_writes(j));
                assert!(again.power_on(Interface::Contact).is_err(), "k={k} j={j}");
                again.power_on(Interface::Contact).unwrap();
                check_after_power_up(&again, &p, &obs, k);
                assert_eq!(again.card().nvm(), ch.card().nvm(), "k={k} j={j}");
                recovery_cuts += 1;
            }
            check_after_power_up(&ch, &p, &obs, k);
            // After power-up a new online purchase never reuses an ATC and its
            // cryptograms verify.
            let before = u16::from_be_bytes(rec(&ch, &p, "atc").unwrap().try_into().unwrap());
            let mut t = Term { ch, p: p.clone() };
            let (a1, a2) = online_purchase(&mut t, 700, [7; 4]);
            assert!(obs.atcs.iter().all(|a| *a < a1.atc), "k={k}: ATC reused");
            assert_eq!((a1.atc, a2.atc), (before + 1, before + 2), "k={k}");
            issuer_verify_ac(
                cvn,
                [0x1C, 0],
                &cdol1_values(&cdol1(700, "0978", [7; 4])),
                &a1,
            );
            total_cuts += 1;
        }
        println!(
            "{cvn:?}: {} commands, {total} NVM writes, {total} cut points",
            probe.commands
        );
    }
    println!(
        "tearing: {total_cuts} cut points exercised, plus {recovery_cuts} cuts during power-up recovery"
    );
    assert!(recovery_cuts > 0);
}

#[test]
fn pin_brute_force_stops_at_the_limit_even_with_power_cuts() {
    let p = perso(CvnChoice::Visa18);
    let mut t = Term::new(p.clone());
    let mut answered_wrong = 0;
    let mut cuts = 0;
    let guesses = (0..10_000)
        .map(|i| format!("{i:04}"))
        .filter(|s| s != "1234");
    'outer: for guess in guesses {
        // First tear the attempt at every write of a VERIFY (3: the decrement).
        for k in 0..3 {
            let before = t.ptc();
            t.select();
            t.ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
            match t.ch.transmit(&verify_apdu(&guess)) {
                Err(ChannelError::CardRemoved) => {
                    cuts += 1;
                    t.ch.power_on(Interface::Contact).unwrap();
                    assert!(t.ptc() <= before, "a cut restored a try");
                }
                Ok(r) => {
                    // Already blocked: nothing written.
                    t.ch.card_mut().disarm_power_cut();
                    assert_eq!(sw(&r), 0x6983);
                    break 'outer;
                }
                Err(e) => panic!("{e}"),
            }
        }
        t.select();
        let s = sw(&t.send(&verify_apdu(&guess)));
        match s {
            0x63C0..=0x63CF => answered_wrong += 1,
            0x6983 => break,
            other => panic!("{other:04X}"),
        }
    }
    assert!(answered_wrong <= 3, "{answered_wrong} wrong answers");
    assert_eq!(t.ptc(), 0);
    t.ch.power_off();
    t.ch.power_on(Interface::Contact).unwrap();
    t.select();
    assert_eq!(
        t.verify_plain("1234"),
        0x6983,
        "blocked across power cycles"
    );
    println!("PIN brute force: {answered_wrong} answered tries, {cuts} torn attempts");

    // A cut during a correct VERIFY: the decrement (writes 1–3: buffer, record,
    // buffer clear) lands before the comparison, the reset (writes 4–6) after.
    for k in 0..6u64 {
        let mut t = Term::new(p.clone());
        t.select();
        assert_eq!(t.verify_plain("0000"), 0x63C2);
        t.ch.card_mut().arm_power_cut(PowerCut::after_writes(k));
        assert_eq!(
            t.ch.transmit(&verify_apdu("1234")),
            Err(ChannelError::CardRemoved)
        );
        t.ch.power_on(Interface::Contact).unwrap();
        let want = match k {
            0 => 2,
            1..=3 => 1,
            _ => 3,
        };
        assert_eq!(t.ptc(), want, "k={k}");
    }
}
