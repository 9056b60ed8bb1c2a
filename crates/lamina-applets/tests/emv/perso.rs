//! Personalization: both routes give the same NVM; STORE DATA status words;
//! serialization; secrets stay out of Debug.

use lamina_applets::emv::provision::{install_entry, personalize_image_with_dgis};
use lamina_applets::emv::testing::{build_card, rom};
use lamina_applets::emv::{CvnChoice, EmvPersonalization, OdaMethod};
use lamina_card::{Card, CardChannel, CardLifeCycle, EmulatedCard, Interface, SeededRng};

use crate::support::*;

fn blank(p: &EmvPersonalization) -> EmulatedCard {
    let mut card = Card::new(rom(None), SeededRng::new(1));
    card.install(install_entry(p).unwrap()).unwrap();
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    ch
}

fn select(ch: &mut EmulatedCard, p: &EmvPersonalization) -> Vec<u8> {
    let mut a = vec![0x00, 0xA4, 0x04, 0x00, u8::try_from(p.aid.len()).unwrap()];
    a.extend(&p.aid);
    a.push(0);
    ch.transmit(&a).unwrap()
}

#[test]
fn store_data_and_typed_route_give_identical_nvm() {
    for (cvn, rsa) in [
        (CvnChoice::Visa18, false),
        (CvnChoice::EmvCcd, true),
        (CvnChoice::Mastercard16, false),
    ] {
        let mut p = if rsa {
            perso_rsa(cvn, OdaMethod::Cda).0
        } else {
            perso(cvn)
        };
        if cvn == CvnChoice::Mastercard16 {
            // A GET DATA object of 300 bytes: DGI B002 spans two STORE DATA blocks.
            p.get_data.extend(h("DF7F82012C"));
            p.get_data.extend([0x5A; 300]);
        }
        let mut ch = blank(&p);
        assert_eq!(sw(&select(&mut ch, &p)), 0x9000);
        assert_eq!(
            sw(&ch.transmit(&h("80CA9F3600")).unwrap()),
            0x6985,
            "not personalized"
        );
        let script = p.store_data_script().unwrap();
        assert!(script.len() > 1);
        for apdu in &script {
            assert_eq!(sw(&ch.transmit(apdu).unwrap()), 0x9000);
        }
        // Card life cycle still OP_READY: payment commands refused.
        assert_eq!(
            sw(&ch.transmit(&h("80A80000048302025000")).unwrap()),
            0x6985
        );
        assert_eq!(
            sw(&ch.transmit(&script[0]).unwrap()),
            0x6985,
            "once personalized"
        );
        ch.power_off();
        ch.card_mut()
            .set_life_cycle(CardLifeCycle::Personalized)
            .unwrap();
        let typed = build_card(&p, None, 1).unwrap();
        let ns = aid(&p).to_hex();
        assert_eq!(
            ch.card().nvm().records.get(&ns),
            typed.nvm().records.get(&ns),
            "{cvn:?}"
        );
        assert_eq!(
            ch.card().nvm().records.get(&ns).unwrap().len(),
            typed.nvm().records[&ns].len()
        );
        // And the card works.
        ch.power_on(Interface::Contact).unwrap();
        let mut t = Term { ch, p };
        online_purchase(&mut t, 100, [1; 4]);
    }
}

#[test]
fn store_data_status_words() {
    let p = perso(CvnChoice::Visa18);
    let script = p.store_data_script().unwrap();
    let mut ch = blank(&p);
    select(&mut ch, &p);
    assert_eq!(
        sw(&ch.transmit(&script[1]).unwrap()),
        0x6A86,
        "out of sequence"
    );
    assert_eq!(
        sw(&ch.transmit(&h("80E2880003010105")).unwrap()),
        0x6A80,
        "truncated DGI"
    );
    assert_eq!(
        sw(&ch.transmit(&h("80E20000047F000100")).unwrap()),
        0x6A80,
        "unknown DGI"
    );
    assert_eq!(
        sw(&ch.transmit(&h("80E2000000")).unwrap()),
        0x6700,
        "no data"
    );
    assert_eq!(
        sw(&ch.transmit(&h("00E2000003B00100")).unwrap()),
        0x6E00,
        "class"
    );
    // First block fine, then a "last" block missing everything else: 6985.
    assert_eq!(sw(&ch.transmit(&script[0]).unwrap()), 0x9000);
    assert_eq!(sw(&ch.transmit(&h("80E2800103B00100")).unwrap()), 0x6985);
    assert!(ch.card().record(&aid(&p), "perso").is_none());
}

#[test]
fn serde_round_trip_and_redacted_debug() {
    let (p, _) = perso_rsa(CvnChoice::Visa10, OdaMethod::Dda);
    let json = serde_json::to_string_pretty(&p).unwrap();
    let back: EmvPersonalization = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.nvm_records().unwrap(), p.nvm_records().unwrap());
    let dbg = format!("{p:?} {:?} {:?}", p.keys, p.icc_rsa);
    assert!(dbg.contains("REDACTED"));
    assert!(!dbg.contains(&hex::encode_upper(p.keys.ac.expose())));
    assert!(!dbg.contains("1234"));
    assert!(
        !dbg.contains(
            &hex::encode_upper(p.icc_rsa.as_ref().unwrap().private_exponent.expose())[..16]
        )
    );
}

#[test]
fn validation_names_the_field() {
    let mut p = perso(CvnChoice::Visa18);
    p.aip = vec![0x1C];
    assert!(p.validate().unwrap_err().to_string().contains("aip"));
    let mut p = perso(CvnChoice::Visa18);
    p.pin = Some(lamina_applets::emv::SecretBytes::new(b"12a4".to_vec()));
    assert!(p.validate().unwrap_err().to_string().contains("pin"));
    let mut p = perso(CvnChoice::Visa18);
    p.oda = OdaMethod::Cda;
    assert!(p.validate().unwrap_err().to_string().contains("icc_rsa"));
    let mut p = perso(CvnChoice::Visa18);
    p.records[0].data = h("6F00");
    assert!(p.validate().is_err());
}

#[test]
fn dgi_route_matches_the_typed_route() {
    let p = perso(CvnChoice::Interac133);
    let typed = build_card(&p, None, 1).unwrap();
    let mut card = Card::new(rom(None), SeededRng::new(1));
    card.install(install_entry(&p).unwrap()).unwrap();
    card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
    let mut image = lamina_card::image::CardImage::from_json(&card.save_image()).unwrap();
    let dgis = p.to_dgis().unwrap();
    let list: Vec<(u16, &[u8])> = dgis.iter().map(|d| (d.id, d.data.as_slice())).collect();
    personalize_image_with_dgis(&mut image, &aid(&p), &list).unwrap();
    let ns = aid(&p).to_hex();
    assert_eq!(image.nvm.records.get(&ns), typed.nvm().records.get(&ns));
    // A wrong KCV, an unknown CVN or a missing DGI are refused.
    let mut bad: Vec<(u16, Vec<u8>)> = dgis.iter().map(|d| (d.id, d.data.to_vec())).collect();
    bad.iter_mut().find(|d| d.0 == 0x9000).unwrap().1[0] ^= 1;
    let l: Vec<(u16, &[u8])> = bad.iter().map(|(i, d)| (*i, d.as_slice())).collect();
    assert!(
        lamina_applets::emv::records_from_dgis(&l)
            .unwrap_err()
            .to_string()
            .contains("KCV")
    );
    let l: Vec<(u16, &[u8])> = list.iter().copied().filter(|(i, _)| *i != 0x9104).collect();
    assert!(lamina_applets::emv::records_from_dgis(&l).is_err());
    let l: Vec<(u16, &[u8])> = list.iter().copied().filter(|(i, _)| *i >> 8 > 30).collect();
    let e = lamina_applets::emv::records_from_dgis(&l).unwrap_err();
    assert!(e.to_string().contains("CDOL1"), "{e}");
}
