//! Issuer scripts with secure messaging.

use lamina_applets::emv::CvnChoice;
use lamina_crypto::emv::{IccKeys, pin_change_command, script_command};

use crate::support::*;

/// Runs an online transaction up to the second GENERATE AC; returns (ATC, ARQC).
fn online(t: &mut Term) -> (u16, [u8; 8]) {
    let (a1, _) = online_purchase(t, 100, [1; 4]);
    (a1.atc, a1.ac.unwrap())
}

fn script(t: &Term, atc: u16, ac: &[u8; 8], header: [u8; 4], body: &[u8]) -> Vec<u8> {
    let k = issuer_keys(t.p.cvn);
    script_command(t.p.cvn.cvn(), &k.smi, atc, ac, header, body, 8).unwrap()
}

#[test]
fn pin_change_and_unblock_for_every_cvn() {
    for cvn in ALL_CVNS {
        let mut t = Term::new(perso(cvn));
        t.start();
        for _ in 0..3 {
            t.verify_plain("0000");
        }
        assert_eq!(t.ptc(), 0);
        let (atc, ac) = online(&mut t);
        let k = issuer_keys(cvn);
        let keys = IccKeys {
            ac: &k.ac,
            smi: &k.smi,
            smc: &k.smc,
        };
        let current = (cvn.cvn().profile().pin_block == lamina_crypto::emv::ChangePinBlock::Vis)
            .then_some("1234");
        let apdu = pin_change_command(cvn.cvn(), keys, atc, &ac, "987654", current).unwrap();
        assert_eq!(sw(&t.send(&apdu)), 0x9000, "{cvn:?}");
        assert_eq!(t.ptc(), 3, "{cvn:?}: unblocked");
        t.start();
        assert_eq!(t.verify_plain("1234"), 0x63C2, "{cvn:?}");
        assert_eq!(t.verify_plain("987654"), 0x9000, "{cvn:?}");
        // PIN UNBLOCK only (P2 = 00).
        t.verify_plain("0000");
        let (atc, ac) = online(&mut t);
        let apdu = script(&t, atc, &ac, [0x84, 0x24, 0x00, 0x00], &[]);
        assert_eq!(sw(&t.send(&apdu)), 0x9000);
        assert_eq!(t.ptc(), 3);
    }
}

#[test]
fn wrong_mac_is_6988_and_reported() {
    let mut t = Term::new(perso(CvnChoice::Visa18));
    t.start();
    assert_eq!(
        sw(&t.sendh("841E00000801020304050607 08")),
        0x6985,
        "no session keys yet"
    );
    let (atc, ac) = online(&mut t);
    let mut apdu = script(&t, atc, &ac, [0x84, 0xDA, 0x9F, 0x14], &[0x09]);
    let last = apdu.len() - 1;
    apdu[last] ^= 1;
    assert_eq!(sw(&t.send(&apdu)), 0x6988);
    assert_eq!(sw(&t.sendh("80CA9F1400")), 0x9000);
    assert_eq!(data(&t.sendh("80CA9F1400")), h("9F140103"), "not applied");
    assert_eq!(
        sw(&t.sendh("841E000004010203")),
        0x6700,
        "shorter than a MAC"
    );
    t.start();
    let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [1; 4])));
    assert_ne!(a.iad[6] & 0x08, 0, "CVR: issuer script failed");
    assert_eq!(a.iad[6] >> 4, 1, "CVR: one script command");
}

#[test]
fn put_data_and_update_record() {
    let mut t = Term::new(perso(CvnChoice::EmvCcd));
    let (atc, ac) = online(&mut t);
    let apdu = script(&t, atc, &ac, [0x04, 0xDA, 0x9F, 0x14], &[0x07]);
    assert_eq!(sw(&t.send(&apdu)), 0x9000);
    assert_eq!(data(&t.sendh("80CA9F1400")), h("9F140107"));
    let apdu = script(&t, atc, &ac, [0x84, 0xDA, 0xDF, 0x03], &h("000000020000"));
    assert_eq!(sw(&t.send(&apdu)), 0x9000);
    assert_eq!(data(&t.sendh("80CADF0300")), h("DF0306000000020000"));
    let apdu = script(&t, atc, &ac, [0x84, 0xDA, 0xDF, 0x03], &h("0000000200"));
    assert_eq!(sw(&t.send(&apdu)), 0x6700);
    let apdu = script(&t, atc, &ac, [0x84, 0xDA, 0x9F, 0x4F], &h("9F3602"));
    assert_eq!(sw(&t.send(&apdu)), 0x6985, "log format is not updatable");
    let apdu = script(&t, atc, &ac, [0x84, 0xDA, 0x9F, 0x51], &h("0840"));
    assert_eq!(sw(&t.send(&apdu)), 0x9000, "a personalized GET DATA object");
    assert_eq!(data(&t.sendh("80CA9F5100")), h("9F51020840"));
    let apdu = script(&t, atc, &ac, [0x84, 0xDA, 0x5A, 0x00], &h("01"));
    assert_eq!(sw(&t.send(&apdu)), 0x6A88);
    let apdu = script(
        &t,
        atc,
        &ac,
        [0x04, 0xDC, 0x01, 0x0C],
        &h("70075F20044E45572F"),
    );
    assert_eq!(sw(&t.send(&apdu)), 0x9000);
    assert_eq!(data(&t.sendh("00B2010C00")), h("70075F20044E45572F"));
    let apdu = script(
        &t,
        atc,
        &ac,
        [0x04, 0xDC, 0x05, 0x0C],
        &h("70075F20044E45572F"),
    );
    assert_eq!(sw(&t.send(&apdu)), 0x6A83);
    let apdu = script(
        &t,
        atc,
        &ac,
        [0x04, 0xDC, 0x01, 0x1C],
        &h("70075F20044E45572F"),
    );
    assert_eq!(sw(&t.send(&apdu)), 0x6A82);
    let apdu = script(&t, atc, &ac, [0x04, 0xDC, 0x01, 0x0C], &h("700A01"));
    assert_eq!(sw(&t.send(&apdu)), 0x6A80);
}

#[test]
fn application_block_unblock_and_card_block() {
    let cvn = CvnChoice::Visa10;
    let mut t = Term::new(perso(cvn));
    let (atc, ac) = online(&mut t);
    let apdu = script(&t, atc, &ac, [0x84, 0x1E, 0x00, 0x00], &[]);
    assert_eq!(sw(&t.send(&apdu)), 0x9000);
    // Blocked: SELECT answers 6283 with the FCI; GENERATE AC declines.
    let r = t.select();
    assert_eq!(sw(&r), 0x6283);
    assert_eq!(data(&r)[0], 0x6F);
    assert_eq!(sw(&t.gpo()), 0x9000);
    let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [1; 4])));
    assert_eq!(a.cid, 0x00, "blocked application: AAC");
    issuer_verify_ac(
        cvn,
        [0x1C, 0],
        &cdol1_values(&cdol1(100, "0978", [1; 4])),
        &a,
    );
    // The issuer unblocks in the same session (keys from the AAC).
    let apdu = script(&t, a.atc, &a.ac.unwrap(), [0x84, 0x18, 0x00, 0x00], &[]);
    assert_eq!(sw(&t.send(&apdu)), 0x9000);
    assert_eq!(sw(&t.select()), 0x9000);
    // CARD BLOCK: answered, then everything is 6A81.
    let (atc, ac) = online(&mut t);
    let apdu = script(&t, atc, &ac, [0x84, 0x16, 0x00, 0x00], &[]);
    assert_eq!(sw(&t.send(&apdu)), 0x9000);
    assert_eq!(sw(&t.select()), 0x6A81);
    assert_eq!(sw(&t.sendh("80CA9F3600")), 0x6A81);
    assert_eq!(sw(&t.sendh("00B2010C00")), 0x6A81);
}
