//! Shared helpers: the RSA bridge, a terminal-side driver and issuer-side checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use lamina_applets::emv::testing::{
    self, TEST_IMK_AC, TEST_IMK_SMC, TEST_IMK_SMI, TEST_PAN, TEST_PSN,
};
use lamina_applets::emv::{CvnChoice, EmvPersonalization, IccRsa, IccRsaKey, OdaMethod};
use lamina_card::{Aid, CardChannel, EmulatedCard, Interface};
use lamina_crypto::emv::{Cvn, derive_icc_mk};
use lamina_crypto::pki::{PublicExponent, RsaKeyPair};
use lamina_tlv::{Tag, Tlv};

/// The chip's RSA engine the tests register.
pub fn bridge() -> Option<Arc<dyn IccRsa>> {
    Some(Arc::new(lamina_applets::emv::PkiRsa))
}

pub fn perso(cvn: CvnChoice) -> EmvPersonalization {
    testing::sample_personalization(cvn).unwrap()
}

/// A personalization with an ICC RSA key (1024 bits, e = 3) and DDA or CDA.
pub fn perso_rsa(cvn: CvnChoice, oda: OdaMethod) -> (EmvPersonalization, RsaKeyPair) {
    let mut p = perso(cvn);
    let key = RsaKeyPair::generate(&mut rand::rng(), 1024, PublicExponent::Three).unwrap();
    p.icc_rsa = Some(IccRsaKey::from(&key.to_parts().unwrap()));
    p.oda = oda;
    p.aip[0] |= if oda == OdaMethod::Cda { 0x01 } else { 0x20 };
    (p, key)
}

pub fn aid(p: &EmvPersonalization) -> Aid {
    Aid::new(p.aid.clone()).unwrap()
}

pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// A powered card with the applet selected.
pub struct Term {
    pub ch: EmulatedCard,
    pub p: EmvPersonalization,
}

pub fn sw(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

pub fn data(r: &[u8]) -> &[u8] {
    &r[..r.len() - 2]
}

impl Term {
    pub fn new(p: EmvPersonalization) -> Term {
        Self::with(p, None, 7)
    }

    pub fn with(p: EmvPersonalization, rsa: Option<Arc<dyn IccRsa>>, seed: u64) -> Term {
        let mut ch = testing::test_card(&p, rsa, seed).unwrap();
        ch.power_on(Interface::Contact).unwrap();
        Term { ch, p }
    }

    pub fn send(&mut self, apdu: &[u8]) -> Vec<u8> {
        self.ch.transmit(apdu).unwrap()
    }

    pub fn sendh(&mut self, hex: &str) -> Vec<u8> {
        self.send(&h(hex))
    }

    pub fn select(&mut self) -> Vec<u8> {
        let mut a = vec![
            0x00,
            0xA4,
            0x04,
            0x00,
            u8::try_from(self.p.aid.len()).unwrap(),
        ];
        a.extend(&self.p.aid);
        a.push(0);
        self.send(&a)
    }

    pub fn gpo(&mut self) -> Vec<u8> {
        self.sendh("80A80000048302025000")
    }

    pub fn record(&self, key: &str) -> Option<Vec<u8>> {
        self.ch
            .card()
            .record(&aid(&self.p), key)
            .map(<[u8]>::to_vec)
    }

    pub fn atc(&self) -> u16 {
        u16::from_be_bytes(self.record("atc").unwrap().try_into().unwrap())
    }

    pub fn ptc(&self) -> u8 {
        self.record("ptc").unwrap()[0]
    }

    pub fn verify_plain(&mut self, pin: &str) -> u16 {
        let pin = lamina_crypto::pin::Pin::new(pin).unwrap();
        let block = lamina_crypto::pin::encode_iso2(&pin);
        let mut a = h("0020008008");
        a.extend(block.as_bytes());
        sw(&self.send(&a))
    }

    pub fn genac(&mut self, p1: u8, data: &[u8]) -> Vec<u8> {
        let mut a = vec![0x80, 0xAE, p1, 0x00, u8::try_from(data.len()).unwrap()];
        a.extend(data);
        a.push(0);
        self.send(&a)
    }

    /// SELECT, GPO, read every AFL record.
    pub fn start(&mut self) {
        assert_eq!(sw(&self.select()), 0x9000);
        assert_eq!(sw(&self.gpo()), 0x9000);
        for (sfi, rec) in [(1u8, 1u8), (2, 1), (2, 2)] {
            let r = self.send(&[0x00, 0xB2, rec, (sfi << 3) | 4, 0x00]);
            assert_eq!(sw(&r), 0x9000, "record {sfi}/{rec}");
        }
    }
}

/// CDOL1 data for the sample cards: amount (minor units), other 0, country 0250,
/// TVR, currency, date 26-11-25, type 00, UN, 9F35 22, 9F34 410302.
pub fn cdol1(amount: u64, currency: &str, un: [u8; 4]) -> Vec<u8> {
    let mut d = h(&format!("{amount:012}"));
    d.extend(h("000000000000 0250 0000008000"));
    d.extend(h(currency));
    d.extend(h("261125 00"));
    d.extend(un);
    d.extend(h("22 410302"));
    assert_eq!(d.len(), 33);
    d
}

/// Parsed GENERATE AC response (format 1 or 2; CDA has 9F4B instead of 9F26).
#[derive(Debug, Clone)]
pub struct AcResp {
    pub cid: u8,
    pub atc: u16,
    pub ac: Option<[u8; 8]>,
    pub iad: Vec<u8>,
    pub sdad: Option<Vec<u8>>,
    pub raw: Vec<u8>,
}

pub fn parse_ac(r: &[u8]) -> AcResp {
    assert_eq!(sw(r), 0x9000, "GENERATE AC failed: {:04X}", sw(r));
    let t = Tlv::parse_one(data(r)).unwrap();
    if t.tag == Tag::new(0x80) {
        let v = t.value_bytes().unwrap();
        return AcResp {
            cid: v[0],
            atc: u16::from_be_bytes([v[1], v[2]]),
            ac: Some(v[3..11].try_into().unwrap()),
            iad: v[11..].to_vec(),
            sdad: None,
            raw: data(r).to_vec(),
        };
    }
    let get = |tag: u32| {
        t.children()
            .iter()
            .find(|c| c.tag == Tag::new(tag))
            .map(|c| c.value_bytes().unwrap().to_vec())
    };
    AcResp {
        cid: get(0x9F27).unwrap()[0],
        atc: u16::from_be_bytes(get(0x9F36).unwrap().try_into().unwrap()),
        ac: get(0x9F26).map(|v| v.try_into().unwrap()),
        iad: get(0x9F10).unwrap(),
        sdad: get(0x9F4B),
        raw: data(r).to_vec(),
    }
}

/// The issuer's ICC master keys, derived from the test IMKs (independently of
/// the personalization).
pub struct IssuerKeys {
    pub ac: Vec<u8>,
    pub smi: Vec<u8>,
    pub smc: Vec<u8>,
}

pub fn issuer_keys(cvn: CvnChoice) -> IssuerKeys {
    let p = cvn.cvn().profile();
    let d = |imk: &str| {
        derive_icc_mk(p.algorithm, p.mk_derivation, &h(imk), TEST_PAN, TEST_PSN)
            .unwrap()
            .as_bytes()
            .to_vec()
    };
    IssuerKeys {
        ac: d(TEST_IMK_AC),
        smi: d(TEST_IMK_SMI),
        smc: d(TEST_IMK_SMC),
    }
}

/// Issuer side: rebuilds the cryptogram input by hand from the terminal's data
/// (EMV Book 2 §8.1.1 standard elements) and checks the AC with `verify_ac`.
pub fn issuer_verify_ac(
    cvn: CvnChoice,
    aip: [u8; 2],
    terminal: &BTreeMap<u32, Vec<u8>>,
    r: &AcResp,
) {
    let k = issuer_keys(cvn);
    let mut input = Vec::new();
    for (t, l) in [
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F37, 4),
    ] {
        input.extend(terminal.get(&t).cloned().unwrap_or(vec![0; l]));
    }
    input.extend(aip);
    input.extend(r.atc.to_be_bytes());
    let cvr = &r.iad[3..7];
    match cvn.cvn() {
        Cvn::Visa10 => input.extend(cvr),
        Cvn::Mastercard16 => {
            input.extend(cvr);
            input.extend([0, 0]);
        }
        _ => input.extend(&r.iad),
    }
    let un: [u8; 4] = terminal.get(&0x9F37).unwrap().clone().try_into().unwrap();
    lamina_crypto::emv::verify_ac(cvn.cvn(), &k.ac, r.atc, un, &input, &r.ac.unwrap())
        .unwrap_or_else(|_| panic!("{cvn:?}: issuer rejects the cryptogram"));
}

/// Terminal values of a CDOL1 data block (by the sample CDOL1).
pub fn cdol1_values(d: &[u8]) -> BTreeMap<u32, Vec<u8>> {
    let mut m = BTreeMap::new();
    let mut pos = 0;
    for (t, l) in [
        (0x9F02, 6),
        (0x9F03, 6),
        (0x9F1A, 2),
        (0x95, 5),
        (0x5F2A, 2),
        (0x9A, 3),
        (0x9C, 1),
        (0x9F37, 4),
        (0x9F35, 1),
        (0x9F34, 3),
    ] {
        m.insert(t, d[pos..pos + l].to_vec());
        pos += l;
    }
    m
}

/// Issuer Authentication Data (tag 91) for an ARQC with ARC "00".
pub fn issuer_auth_data(cvn: CvnChoice, r: &AcResp, un: [u8; 4], arc: &[u8; 2]) -> Vec<u8> {
    use lamina_crypto::emv::{ArpcMethod, ArpcResponse, generate_arpc};
    let k = issuer_keys(cvn);
    let ac = r.ac.unwrap();
    match cvn.cvn().profile().arpc {
        ArpcMethod::Method1 => {
            let mut v = generate_arpc(
                cvn.cvn(),
                &k.ac,
                r.atc,
                un,
                &ac,
                ArpcResponse::Method1 { arc: *arc },
            )
            .unwrap();
            v.extend(arc);
            v
        }
        ArpcMethod::Method2 => {
            let csu = [0x00, 0x80, 0x00, 0x00];
            let mut v = generate_arpc(
                cvn.cvn(),
                &k.ac,
                r.atc,
                un,
                &ac,
                ArpcResponse::Method2 {
                    csu,
                    proprietary: &[],
                },
            )
            .unwrap();
            v.extend(csu);
            v
        }
    }
}

/// CDOL2 data: ARC ‖ 91 (sized per the CVN) ‖ TVR ‖ UN.
pub fn cdol2(cvn: CvnChoice, arc: &[u8; 2], iad91: Option<&[u8]>, un: [u8; 4]) -> Vec<u8> {
    let len = match cvn.cvn().profile().arpc {
        lamina_crypto::emv::ArpcMethod::Method1 => 10,
        lamina_crypto::emv::ArpcMethod::Method2 => 8,
    };
    let mut d = arc.to_vec();
    let mut i = iad91.map(<[u8]>::to_vec).unwrap_or_default();
    i.resize(len, 0);
    d.extend(i);
    d.extend(h("0000008000"));
    d.extend(un);
    d
}

pub const ALL_CVNS: [CvnChoice; 6] = [
    CvnChoice::Visa10,
    CvnChoice::Visa18,
    CvnChoice::Mastercard16,
    CvnChoice::Interac133,
    CvnChoice::EmvCcd,
    CvnChoice::EmvAes,
];

/// An online purchase to completion: ARQC, issuer-authenticated TC. Returns the
/// first and second responses.
pub fn online_purchase(t: &mut Term, amount: u64, un: [u8; 4]) -> (AcResp, AcResp) {
    let cvn = t.p.cvn;
    t.start();
    let d1 = cdol1(amount, "0978", un);
    let a1 = parse_ac(&t.genac(0x80, &d1));
    assert_eq!(a1.cid & 0xC0, 0x80);
    let iad = issuer_auth_data(cvn, &a1, un, b"00");
    let d2 = cdol2(cvn, b"00", Some(&iad), un);
    let a2 = parse_ac(&t.genac(0x40, &d2));
    (a1, a2)
}
