//! Full purchases: cryptograms checked on the issuer side, card risk management,
//! CDA, the transaction log.

use lamina_applets::emv::{CvnChoice, OdaMethod, ResponseFormat};
use lamina_crypto::pki::{CdaTransactionData, verify_cda};
use lamina_tlv::Tlv;

use crate::support::*;

#[test]
fn cryptograms_verify_on_the_issuer_side_for_every_cvn() {
    for cvn in ALL_CVNS {
        for format in [ResponseFormat::Format1, ResponseFormat::Format2] {
            let mut p = perso(cvn);
            p.response_format = format;
            let aip: [u8; 2] = p.aip.clone().try_into().unwrap();
            let mut t = Term::new(p);
            t.start();
            assert_eq!(t.verify_plain("1234"), 0x9000);
            let un = [0xA1, 0xB2, 0xC3, 0xD4];
            let d1 = cdol1(1234, "0978", un);
            // New card: a TC request goes online.
            let a1 = parse_ac(&t.genac(0x40, &d1));
            assert_eq!(a1.cid, 0x80, "{cvn:?}");
            assert_eq!(a1.atc, 1);
            assert_eq!(a1.iad[0], 0x06);
            assert_eq!(a1.iad[2], cvn.code());
            assert_ne!(a1.iad[4] & 0x04, 0, "CVR: offline PIN performed");
            assert_ne!(a1.iad[5] & 0x10, 0, "CVR: new card");
            issuer_verify_ac(cvn, aip, &cdol1_values(&d1), &a1);
            let iad = issuer_auth_data(cvn, &a1, un, b"00");
            let un2 = [5, 6, 7, 8];
            let d2 = cdol2(cvn, b"00", Some(&iad), un2);
            let a2 = parse_ac(&t.genac(0x40, &d2));
            assert_eq!(a2.cid, 0x40, "{cvn:?}: approved online");
            assert_eq!(a2.atc, 2, "each cryptogram has its own ATC");
            assert_eq!(
                a2.iad[5] & 0x80,
                0,
                "the CVR reports the state at the start of the transaction"
            );
            let mut v = cdol1_values(&d1);
            v.insert(0x95, h("0000008000"));
            v.insert(0x9F37, un2.to_vec());
            issuer_verify_ac(cvn, aip, &v, &a2);
            assert_eq!(t.record("lonatc").unwrap(), vec![0, 1]);
            // A tampered input does not verify (the check can fail).
            let mut w = cdol1_values(&d1);
            w.insert(0x9F02, h("000000001235"));
            let k = issuer_keys(cvn);
            let r = std::panic::catch_unwind(|| issuer_verify_ac(cvn, aip, &w, &a1));
            assert!(r.is_err(), "{cvn:?}");
            let _ = k;
        }
    }
}

#[test]
fn offline_approvals_until_the_lower_limits() {
    let cvn = CvnChoice::EmvCcd;
    let mut t = Term::new(perso(cvn));
    online_purchase(&mut t, 100, [1; 4]);
    // LCOL 3: three offline TCs, the fourth goes online.
    for i in 0..3 {
        t.start();
        let a = parse_ac(&t.genac(0x40, &cdol1(1000, "0978", [2; 4])));
        assert_eq!(a.cid, 0x40, "offline approval {i}");
        assert_eq!(a.iad[5] & 0x20, 0);
    }
    assert_eq!(t.record("cons").unwrap(), vec![3]);
    assert_eq!(t.record("cum").unwrap(), 3000u64.to_be_bytes().to_vec());
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(1000, "0978", [2; 4])));
    assert_eq!(a.cid, 0x80);
    assert_ne!(a.iad[5] & 0x20, 0, "CVR: velocity counters exceeded");
    // The issuer approves: counters reset.
    let iad = issuer_auth_data(cvn, &a, [2; 4], b"00");
    let a2 = parse_ac(&t.genac(0x40, &cdol2(cvn, b"00", Some(&iad), [3; 4])));
    assert_eq!(a2.cid, 0x40);
    assert_eq!(t.record("cons").unwrap(), vec![0]);
    // Cumulative amount: 100.00 limit.
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(10_001, "0978", [2; 4])));
    assert_eq!(a.cid, 0x80, "over CTTAL");
    // Foreign currency goes online.
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(1, "0840", [2; 4])));
    assert_eq!(a.cid, 0x80, "foreign currency");
}

#[test]
fn unable_to_go_online_declines_over_the_upper_limits() {
    let cvn = CvnChoice::Visa10;
    let mut t = Term::new(perso(cvn));
    online_purchase(&mut t, 100, [1; 4]);
    let mut approved = 0;
    for _ in 0..8 {
        t.start();
        let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [4; 4])));
        assert_eq!(a.cid, 0x80);
        let a2 = parse_ac(&t.genac(0x40, &cdol2(cvn, b"Z3", None, [4; 4])));
        if a2.cid == 0x40 {
            approved += 1;
        } else {
            assert_ne!(a2.iad[5] & 0x20, 0);
        }
        assert_ne!(a2.iad[4] & 0x01, 0, "CVR: unable to go online");
    }
    assert_eq!(approved, 5, "UCOL 5");
    // The last online transaction was not completed.
    t.start();
    let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [4; 4])));
    assert_ne!(
        a.iad[5] & 0x80,
        0,
        "CVR: last online transaction not completed"
    );
}

#[test]
fn issuer_authentication_failure_and_not_performed() {
    let cvn = CvnChoice::Interac133;
    let mut t = Term::new(perso(cvn));
    t.start();
    let a1 = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [1; 4])));
    let mut iad = issuer_auth_data(cvn, &a1, [1; 4], b"00");
    iad[3] ^= 0x40;
    let a2 = parse_ac(&t.genac(0x40, &cdol2(cvn, b"00", Some(&iad), [1; 4])));
    assert_eq!(a2.cid, 0x00, "declined: ARPC wrong");
    assert_ne!(a2.iad[4] & 0x08, 0, "CVR: issuer authentication failed");
    t.start();
    let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [1; 4])));
    assert_ne!(a.iad[5] & 0x08, 0, "CVR: issuer auth failed on last online");
    // No ARPC at all while the AIP announces issuer authentication.
    let a2 = parse_ac(&t.genac(0x40, &cdol2(cvn, b"00", None, [1; 4])));
    assert_eq!(a2.cid, 0x40);
    t.start();
    let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [1; 4])));
    assert_ne!(
        a.iad[5] & 0x04,
        0,
        "CVR: issuer authentication not performed"
    );
    // Declined by the issuer: AAC even when the terminal asks a TC.
    let iad = issuer_auth_data(cvn, &a, [1; 4], b"05");
    let a2 = parse_ac(&t.genac(0x40, &cdol2(cvn, b"05", Some(&iad), [1; 4])));
    assert_eq!(a2.cid, 0x00);
}

#[test]
fn aac_requests_and_pin_try_limit() {
    let cvn = CvnChoice::Visa18;
    let mut t = Term::new(perso(cvn));
    t.start();
    let a = parse_ac(&t.genac(0x00, &cdol1(100, "0978", [1; 4])));
    assert_eq!(a.cid, 0x00);
    issuer_verify_ac(
        cvn,
        [0x1C, 0],
        &cdol1_values(&cdol1(100, "0978", [1; 4])),
        &a,
    );
    assert_eq!(
        sw(&t.genac(0x40, &cdol2(cvn, b"00", None, [1; 4]))),
        0x6985,
        "no 2nd after AAC"
    );
    online_purchase(&mut t, 100, [1; 4]);
    t.start();
    for _ in 0..3 {
        t.verify_plain("0000");
    }
    let a = parse_ac(&t.genac(0x40, &cdol1(100, "0978", [1; 4])));
    assert_eq!(a.cid, 0x80, "PIN try limit exceeded goes online");
    assert_ne!(a.iad[5] & 0x40, 0);
    assert_ne!(a.iad[4] & 0x02, 0, "offline PIN failed");
}

#[test]
fn transaction_log_is_readable() {
    let cvn = CvnChoice::EmvCcd;
    let mut t = Term::new(perso(cvn));
    for i in 0..12u64 {
        t.start();
        parse_ac(&t.genac(0x00, &cdol1(100 + i, "0978", [1; 4])));
    }
    t.select();
    // 10 records, record 1 the most recent (ATC 12), without GPO.
    for rec in 1..=10u8 {
        let r = t.send(&[0x00, 0xB2, rec, (11 << 3) | 4, 0x00]);
        assert_eq!(sw(&r), 0x9000);
        let d = data(&r);
        assert_eq!(d.len(), 15);
        let atc = u16::from_be_bytes([d[11], d[12]]);
        assert_eq!(atc, 13 - u16::from(rec));
        assert_eq!(
            &d[..6],
            h(&format!("{:012}", 100 + u64::from(atc) - 1)).as_slice()
        );
        assert_eq!((d[13], d[14]), (0x00, 0x00), "CID AAC, type 00");
    }
    assert_eq!(sw(&t.send(&[0x00, 0xB2, 11, (11 << 3) | 4, 0x00])), 0x6A83);
}

#[test]
fn cda_signature_verifies() {
    let cvn = CvnChoice::EmvCcd;
    let (p, key) = perso_rsa(cvn, OdaMethod::Cda);
    let mut t = Term::with(p, bridge(), 11);
    t.start();
    let un = [0x10, 0x20, 0x30, 0x40];
    let d1 = cdol1(4200, "0978", un);
    let a1 = parse_ac(&t.genac(0x90, &d1));
    assert_eq!(a1.cid, 0x80);
    assert!(a1.ac.is_none(), "the AC travels inside the signature");
    let sdad = a1.sdad.clone().unwrap();
    let objs = Tlv::parse_one(&a1.raw).unwrap();
    let without: Vec<Tlv> = objs
        .children()
        .iter()
        .filter(|c| c.tag != lamina_tlv::Tag::new(0x9F4B))
        .cloned()
        .collect();
    let tx = CdaTransactionData {
        pdol_data: &h("0250"),
        cdol1_data: &d1,
        cdol2_data: None,
        response_tlvs: &Tlv::encode_all(&without),
    };
    let dynamic = verify_cda(key.public_key(), &sdad, &un, a1.cid, &tx).unwrap();
    let mut a = a1.clone();
    a.ac = Some(dynamic.application_cryptogram);
    issuer_verify_ac(cvn, [0x1D, 0], &cdol1_values(&d1), &a);
    let other = CdaTransactionData {
        cdol1_data: &cdol1(4201, "0978", un),
        ..tx
    };
    assert!(verify_cda(key.public_key(), &sdad, &un, a1.cid, &other).is_err());
    // An AAC carries no signature.
    let a2 = parse_ac(&t.genac(0x10, &cdol2(cvn, b"Z3", None, un)));
    assert_eq!(a2.cid, 0x00);
    assert!(a2.sdad.is_none() && a2.ac.is_some());
}

#[test]
fn contactless_limit_goes_online() {
    use lamina_card::{CardChannel, Interface};
    let cvn = CvnChoice::EmvCcd;
    let mut t = Term::new(perso(cvn));
    online_purchase(&mut t, 100, [1; 4]);
    t.ch.power_off();
    t.ch.power_on(Interface::Contactless).unwrap();
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(4_000, "0978", [2; 4])));
    assert_eq!(a.cid, 0x40, "under the contactless limit");
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(5_001, "0978", [2; 4])));
    assert_eq!(a.cid, 0x80, "over the contactless limit");
}

/// A contactless one-tap online transaction (ARQC, card gone before the issuer
/// answers, no second GENERATE AC) does not arm "last online transaction not
/// completed": the next small tap is approved offline again. On the contact
/// interface an ARQC without its second GENERATE AC still arms it.
#[test]
fn contactless_one_tap_online_leaves_the_card_offline_capable() {
    use lamina_card::{CardChannel, Interface};
    let cvn = CvnChoice::EmvCcd;
    let mut t = Term::new(perso(cvn));
    online_purchase(&mut t, 100, [1; 4]);
    t.ch.power_off();
    // Online tap over the contactless limit: ARQC, then the card leaves the field.
    t.ch.power_on(Interface::Contactless).unwrap();
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(6_000, "0978", [2; 4])));
    assert_eq!(a.cid, 0x80, "over the contactless limit: online");
    t.ch.power_off();
    assert_eq!(t.record("flags").unwrap()[0] & 0x01, 0, "flag not armed");
    // The next small tap is approved offline, its CVR clean of the flag.
    t.ch.power_on(Interface::Contactless).unwrap();
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(1_000, "0978", [3; 4])));
    assert_eq!(a.cid, 0x40, "small tap after an online tap: offline TC");
    assert_eq!(a.iad[5] & 0x80, 0, "CVR: no 'last online not completed'");
    t.ch.power_off();
    // Contact: an ARQC without the second GENERATE AC (card pulled) arms the flag.
    t.ch.power_on(Interface::Contact).unwrap();
    t.start();
    let a = parse_ac(&t.genac(0x80, &cdol1(100, "0978", [4; 4])));
    assert_eq!(a.cid, 0x80);
    t.ch.power_off();
    assert_eq!(t.record("flags").unwrap()[0] & 0x01, 0x01, "flag armed");
    t.ch.power_on(Interface::Contact).unwrap();
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(100, "0978", [5; 4])));
    assert_eq!(a.cid, 0x80, "contact: the next TC request goes online");
    assert_ne!(
        a.iad[5] & 0x80,
        0,
        "CVR: last online transaction not completed"
    );
    t.ch.power_off();
    // ... and so does a later tap, until an online transaction completes on contact.
    t.ch.power_on(Interface::Contactless).unwrap();
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(1_000, "0978", [6; 4])));
    assert_eq!(a.cid, 0x80, "flag from the contact interface still counts");
}

/// The APDU transcript of a fixed online purchase with a script on the sample
/// cards, compared with `tests/vectors/emv_applet_transcript.txt` (a golden file:
/// no published vector exists for Lamina's applet; its cryptograms are checked
/// here independently with `verify_ac` and the issuer's keys).
#[test]
fn golden_transcript() {
    use std::fmt::Write as _;
    let mut out = String::new();
    for cvn in [CvnChoice::Visa10, CvnChoice::EmvCcd] {
        let p = perso(cvn);
        let mut t = Term::new(p);
        writeln!(out, "[{}]", cvn.name()).unwrap();
        let mut log = |t: &mut Term, apdu: Vec<u8>| -> Vec<u8> {
            let r = t.send(&apdu);
            writeln!(out, "C: {}", hex::encode_upper(&apdu)).unwrap();
            writeln!(out, "R: {}", hex::encode_upper(&r)).unwrap();
            r
        };
        let mut sel = vec![0x00, 0xA4, 0x04, 0x00, u8::try_from(t.p.aid.len()).unwrap()];
        sel.extend(t.p.aid.clone());
        sel.push(0);
        log(&mut t, sel);
        log(&mut t, h("80A80000048302025000"));
        for (sfi, rec) in [(1u8, 1u8), (2, 1), (2, 2)] {
            log(&mut t, vec![0x00, 0xB2, rec, (sfi << 3) | 4, 0x00]);
        }
        let mut v = h("0020008008");
        v.extend(h("241234FFFFFFFFFF"));
        log(&mut t, v);
        let un = [0xCA, 0xFE, 0xBA, 0xBE];
        let d1 = cdol1(4321, "0978", un);
        let mut g = vec![0x80, 0xAE, 0x80, 0x00, 33];
        g.extend(&d1);
        g.push(0);
        let a1 = parse_ac(&log(&mut t, g));
        issuer_verify_ac(cvn, [0x1C, 0], &cdol1_values(&d1), &a1);
        let iad = issuer_auth_data(cvn, &a1, un, b"00");
        let d2 = cdol2(cvn, b"00", Some(&iad), un);
        let mut g = vec![0x80, 0xAE, 0x40, 0x00, u8::try_from(d2.len()).unwrap()];
        g.extend(&d2);
        g.push(0);
        log(&mut t, g);
        let k = issuer_keys(cvn);
        let put = lamina_crypto::emv::script_command(
            cvn.cvn(),
            &k.smi,
            a1.atc,
            &a1.ac.unwrap(),
            [0x84, 0xDA, 0x9F, 0x14],
            &[0x05],
            8,
        )
        .unwrap();
        log(&mut t, put);
        log(&mut t, h("80CA9F3600"));
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/emv_applet_transcript.txt"
    );
    let file = std::fs::read_to_string(path).unwrap_or_default();
    let want: String = file
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(want, out, "transcript changed; actual:\n{out}");
}

#[test]
fn card_state_for_tools() {
    let cvn = CvnChoice::EmvCcd;
    let mut t = Term::new(perso(cvn));
    online_purchase(&mut t, 250, [1; 4]);
    t.start();
    t.verify_plain("0000");
    t.start();
    let a = parse_ac(&t.genac(0x40, &cdol1(300, "0978", [2; 4])));
    assert_eq!(a.cid, 0x40);
    let s = lamina_applets::emv::card_state(t.ch.card(), &aid(&t.p)).unwrap();
    assert!(s.personalized);
    assert_eq!(s.atc, Some(3));
    assert_eq!(s.last_online_atc, Some(1));
    assert_eq!((s.pin_tries_left, s.pin_try_limit), (Some(2), Some(3)));
    assert_eq!(s.consecutive_offline, Some(1));
    assert_eq!(s.cumulative_offline_amount, Some(300));
    assert_eq!(s.log.len(), 2);
    assert_eq!(s.log[0].values[0], ("9F02".into(), "000000000300".into()));
    assert_eq!(s.log[1].values[3], ("9F36".into(), "0002".into()));
    let json = serde_json::to_string(&s).unwrap();
    let k = issuer_keys(cvn);
    assert!(!json.contains(&hex::encode_upper(&k.ac)));
}

/// CDA on the second GENERATE AC: the Transaction Data Hash Code covers PDOL
/// data ‖ CDOL1 data ‖ CDOL2 data ‖ the response TLVs (EMV Book 2 §6.6.1).
#[test]
fn cda_on_the_second_generate_ac() {
    let cvn = CvnChoice::EmvCcd;
    let (p, key) = perso_rsa(cvn, OdaMethod::Cda);
    let mut t = Term::with(p, bridge(), 13);
    t.start();
    let un = [0x0A, 0x0B, 0x0C, 0x0D];
    let d1 = cdol1(777, "0978", un);
    let a1 = parse_ac(&t.genac(0x90, &d1));
    assert_eq!(a1.cid, 0x80);
    let arqc = {
        let objs = Tlv::parse_one(&a1.raw).unwrap();
        let without: Vec<Tlv> = objs
            .children()
            .iter()
            .filter(|c| c.tag != lamina_tlv::Tag::new(0x9F4B))
            .cloned()
            .collect();
        let tx = CdaTransactionData {
            pdol_data: &h("0250"),
            cdol1_data: &d1,
            cdol2_data: None,
            response_tlvs: &Tlv::encode_all(&without),
        };
        verify_cda(
            key.public_key(),
            a1.sdad.as_ref().unwrap(),
            &un,
            a1.cid,
            &tx,
        )
        .unwrap()
        .application_cryptogram
    };
    let mut a = a1.clone();
    a.ac = Some(arqc);
    let iad = issuer_auth_data(cvn, &a, un, b"00");
    let un2 = [0x1A, 0x1B, 0x1C, 0x1D];
    let d2 = cdol2(cvn, b"00", Some(&iad), un2);
    let a2 = parse_ac(&t.genac(0x50, &d2));
    assert_eq!(a2.cid, 0x40);
    let objs = Tlv::parse_one(&a2.raw).unwrap();
    let without: Vec<Tlv> = objs
        .children()
        .iter()
        .filter(|c| c.tag != lamina_tlv::Tag::new(0x9F4B))
        .cloned()
        .collect();
    let tx = CdaTransactionData {
        pdol_data: &h("0250"),
        cdol1_data: &d1,
        cdol2_data: Some(&d2),
        response_tlvs: &Tlv::encode_all(&without),
    };
    let tc = verify_cda(
        key.public_key(),
        a2.sdad.as_ref().unwrap(),
        &un2,
        a2.cid,
        &tx,
    )
    .unwrap()
    .application_cryptogram;
    let mut v = cdol1_values(&d1);
    v.insert(0x95, h("0000008000"));
    v.insert(0x9F37, un2.to_vec());
    let mut a = a2.clone();
    a.ac = Some(tc);
    issuer_verify_ac(cvn, [0x1D, 0], &v, &a);
}
