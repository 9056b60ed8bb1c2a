//! Cards issued by the personalization bureau from the shipped profiles
//! (`tests/fixtures/bureau-*.card.json`, see the README there): every command and
//! status word, and a full transaction (offline PIN if any, DDA/CDA per the AIP,
//! ARQC checked by the issuer, ARPC, TC).

use std::collections::BTreeMap;

use lamina_applets::emv::testing::rom;
use lamina_applets::emv::{CvnChoice, cryptogram_input};
use lamina_card::{Aid, Card, CardChannel, EmulatedCard, Interface, SeededRng};
use lamina_crypto::emv::{ArpcResponse, generate_arpc, verify_ac};
use lamina_crypto::pki::{CdaTransactionData, RsaPublicKey, verify_cda, verify_dda};
use lamina_emv::dol::Dol;
use lamina_tlv::{Tag, Tlv, find_recursive};

use crate::support::*;

const CARDS: [(&str, &str, &str); 3] = [
    (
        "debit",
        include_str!("../fixtures/bureau-debit.card.json"),
        "F04C414D494E414501",
    ),
    (
        "credit",
        include_str!("../fixtures/bureau-credit.card.json"),
        "F04C414D494E414502",
    ),
    (
        "prepaid",
        include_str!("../fixtures/bureau-prepaid.card.json"),
        "F04C414D494E414503",
    ),
];

fn find(objs: &[Tlv], tag: u32) -> Option<Vec<u8>> {
    find_recursive(objs, tag).and_then(|t| t.value_bytes().map(<[u8]>::to_vec))
}

#[test]
fn shipped_profiles_full_transaction() {
    for (name, image, aid) in CARDS {
        transaction(name, image, aid);
    }
}

fn transaction(name: &str, image: &str, aid_hex: &str) {
    let card = Card::load_image(rom(bridge()), SeededRng::new(1), image).unwrap();
    let aid = Aid::from_hex(aid_hex).unwrap();
    let rec = |card: &Card, k: &str| card.record(&aid, k).map(<[u8]>::to_vec);
    let mk_ac = rec(&card, "key.ac").unwrap();
    let has_pin = rec(&card, "pin").is_some();
    let icc_pk = match (rec(&card, "rsa.n"), rec(&card, "rsa.e")) {
        (Some(n), Some(e)) => Some(RsaPublicKey::new(&n, &e).unwrap()),
        _ => None,
    };
    let mut ch = EmulatedCard::new(card);
    ch.power_on(Interface::Contact).unwrap();
    let mut tx = |a: &[u8]| ch.transmit(a).unwrap();

    let fci = tx(&h(&format!("00A4040009{aid_hex}00")));
    assert_eq!(sw(&fci), 0x9000, "{name}");
    // No PDOL on contact: GPO with empty PDOL data.
    let gpo = tx(&h("80A8000002830000"));
    assert_eq!(sw(&gpo), 0x9000, "{name}");
    let gpo = Tlv::parse_one(data(&gpo)).unwrap();
    let gpo = std::slice::from_ref(&gpo);
    let aip: [u8; 2] = find(gpo, 0x82).unwrap().try_into().unwrap();
    let (dda, cda) = (aip[0] & 0x20 != 0, aip[0] & 0x01 != 0);
    let afl = find(gpo, 0x94).unwrap();
    let mut records = Vec::new();
    for e in afl.chunks(4) {
        for r in e[1]..=e[2] {
            let mut resp = tx(&[0x00, 0xB2, r, e[0] | 4, 0x00]);
            // A record longer than 256 bytes (the prepaid profile's SDA record)
            // comes in two parts: 61xx, then GET RESPONSE.
            while sw(&resp) >> 8 == 0x61 {
                let le = u8::try_from(sw(&resp) & 0xFF).unwrap();
                let mut more = tx(&[0x00, 0xC0, 0x00, 0x00, le]);
                resp.truncate(resp.len() - 2);
                resp.append(&mut more);
            }
            assert_eq!(sw(&resp), 0x9000, "{name}");
            records.extend(Tlv::parse_one(data(&resp)).unwrap().children().to_vec());
        }
    }
    let cdol1 = Dol::parse(&find(&records, 0x8C).unwrap()).unwrap();
    let cdol2 = Dol::parse(&find(&records, 0x8D).unwrap()).unwrap();
    let has_cert = find(&records, 0x9F46).is_some();
    assert_eq!(has_cert, dda || cda, "{name}: ICC certificate");

    // Offline PIN from the PIN mailer (debit only).
    let mut v = h("0020008008");
    v.extend(h("241839FFFFFFFFFF"));
    let want = if has_pin { 0x9000 } else { 0x6985 };
    assert_eq!(sw(&tx(&v)), want, "{name}: VERIFY");
    if has_pin && let Some(pk) = &icc_pk {
        // Enciphered offline PIN with the ICC key (Book 2 §7).
        let un: [u8; 8] = data(&tx(&h("0084000000"))).try_into().unwrap();
        let block: [u8; 8] = h("241839FFFFFFFFFF").try_into().unwrap();
        let enc =
            lamina_crypto::pki::encipher_pin_block(pk, &mut rand::rng(), &block, &un).unwrap();
        let mut v = vec![0x00, 0x20, 0x00, 0x88, u8::try_from(enc.len()).unwrap()];
        v.extend(enc);
        assert_eq!(sw(&tx(&v)), 0x9000, "{name}: enciphered PIN");
    }
    // INTERNAL AUTHENTICATE when the AIP says DDA or CDA.
    let ia = tx(&h("008800000401020304 00"));
    let mut term: BTreeMap<Tag, Vec<u8>> = BTreeMap::new();
    if dda || cda {
        assert_eq!(sw(&ia), 0x9000, "{name}");
        let sdad = find(&[Tlv::parse_one(data(&ia)).unwrap()], 0x9F4B).unwrap();
        let idn = verify_dda(icc_pk.as_ref().unwrap(), &sdad, &h("01020304")).unwrap();
        term.insert(Tag::new(0x9F4C), idn.icc_dynamic_number().unwrap().to_vec());
    } else {
        assert_eq!(sw(&ia), 0x6985, "{name}: no DDA");
    }

    // GENERATE AC 1: ARQC (with CDA when the AIP says so).
    let un = [0x55, 0x66, 0x77, 0x88];
    for (t, v) in [
        (0x9F02, h("000000012345")),
        (0x9F03, h("000000000000")),
        (0x9F1A, h("0250")),
        (0x95, h("0000008000")),
        (0x5F2A, h("0978")),
        (0x9A, h("261125")),
        (0x9C, h("00")),
        (0x9F37, un.to_vec()),
        (0x9F35, h("22")),
        (0x9F45, h("0000")),
        (0x9F34, h("410302")),
    ] {
        term.insert(Tag::new(t), v);
    }
    let d1 = cdol1.build(&term);
    let p1 = if cda { 0x90 } else { 0x80 };
    let mut g = vec![0x80, 0xAE, p1, 0x00, u8::try_from(d1.len()).unwrap()];
    g.extend(&d1);
    g.push(0);
    let r1 = tx(&g);
    let a1 = parse_ac(&r1);
    assert_eq!(a1.cid, 0x80, "{name}");
    let arqc = if cda {
        let objs = Tlv::parse_one(data(&r1)).unwrap();
        let without: Vec<Tlv> = objs
            .children()
            .iter()
            .filter(|c| c.tag != Tag::new(0x9F4B))
            .cloned()
            .collect();
        let t = CdaTransactionData {
            pdol_data: &[],
            cdol1_data: &d1,
            cdol2_data: None,
            response_tlvs: &Tlv::encode_all(&without),
        };
        let sdad = a1.sdad.clone().unwrap();
        verify_cda(icc_pk.as_ref().unwrap(), &sdad, &un, a1.cid, &t)
            .unwrap()
            .application_cryptogram
    } else {
        a1.ac.unwrap()
    };
    // The issuer checks the ARQC with the card's MK-AC (EMV CCD profile).
    let iad: [u8; 7] = a1.iad.clone().try_into().unwrap();
    let input = cryptogram_input(CvnChoice::EmvCcd.cvn(), &term, aip, a1.atc, &iad);
    verify_ac(CvnChoice::EmvCcd.cvn(), &mk_ac, a1.atc, un, &input, &arqc).unwrap();

    // GENERATE AC 2 with the ARPC (method 2, CSU).
    let csu = [0x00, 0x80, 0x00, 0x00];
    let arpc = generate_arpc(
        CvnChoice::EmvCcd.cvn(),
        &mk_ac,
        a1.atc,
        un,
        &arqc,
        ArpcResponse::Method2 {
            csu,
            proprietary: &[],
        },
    )
    .unwrap();
    term.insert(Tag::new(0x8A), b"00".to_vec());
    term.insert(Tag::new(0x91), [arpc, csu.to_vec()].concat());
    let d2 = cdol2.build(&term);
    let mut g = vec![0x80, 0xAE, 0x40, 0x00, u8::try_from(d2.len()).unwrap()];
    g.extend(&d2);
    g.push(0);
    let a2 = parse_ac(&tx(&g));
    assert_eq!(
        a2.cid, 0x40,
        "{name}: approved online with issuer authentication"
    );
    assert_eq!(a2.atc, a1.atc + 1);
}

#[test]
fn shipped_profiles_status_words() {
    for (name, image, aid_hex) in CARDS {
        let card = Card::load_image(rom(bridge()), SeededRng::new(1), image).unwrap();
        let mut ch = EmulatedCard::new(card);
        ch.power_on(Interface::Contact).unwrap();
        let mut sw_of = |a: &str| sw(&ch.transmit(&h(a)).unwrap());
        assert_eq!(sw_of(&format!("00A4040009{aid_hex}00")), 0x9000, "{name}");
        assert_eq!(
            sw_of("80AE80000100 00"),
            0x6985,
            "{name}: GENERATE AC before GPO"
        );
        assert_eq!(sw_of("80A800000483020000 00"), 0x6700, "{name}: PDOL data");
        assert_eq!(sw_of("80A8000002840000"), 0x6A80, "{name}: not tag 83");
        assert_eq!(sw_of("80A8010002830000"), 0x6A86, "{name}: P1");
        assert_eq!(sw_of("80A8000002830000"), 0x9000, "{name}");
        assert_eq!(sw_of("00B2090C00"), 0x6A83, "{name}: record");
        assert_eq!(sw_of("00B201F400"), 0x6A82, "{name}: SFI 30");
        assert_eq!(sw_of("80CA9F3600"), 0x9000, "{name}: ATC");
        assert_eq!(sw_of("80CA9F7F00"), 0x6A88, "{name}: unknown object");
        assert_eq!(sw_of("80FE000000"), 0x6D00, "{name}: instruction");
        assert_eq!(sw_of("90CA9F3600"), 0x6E00, "{name}: class");
        assert_eq!(sw_of("801E0000"), 0x6982, "{name}: script without SM");
        assert_eq!(
            sw_of("841E000008 0102030405060708"),
            0x6985,
            "{name}: no session key"
        );
        assert_eq!(
            sw_of("0082000008 0102030405060708"),
            0x6985,
            "{name}: no ARQC"
        );
        assert_eq!(
            sw_of("00200080 07 24123FFFFFFFFF"),
            0x6700,
            "{name}: PIN block length"
        );
    }
}
