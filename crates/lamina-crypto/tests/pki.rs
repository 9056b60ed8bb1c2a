//! EMV RSA PKI (EMV Book 2 §5–§7): known-answer tests on published scheme test
//! keys and test-card certificates, round trips over key sizes and exponents, and
//! tamper tests proving each verification step rejects bad input.

mod common;

use std::sync::OnceLock;

use lamina_crypto::pki::{
    self, CaKeyPair, CaPublicKey, CdaDynamicData, CdaTransactionData, CertExpiry, Date,
    IccCertificateContent, IssuerCertificateContent, Pan, PkiError, PublicExponent, RsaKeyPair,
    RsaPublicKey,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha1::{Digest, Sha1};

// ---------------------------------------------------------------- helpers

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

fn date(s: &str) -> Date {
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse().ok()).expect("YYYYMMDD");
    Date::new(
        n(0..4),
        u8::try_from(n(4..6)).expect("month"),
        u8::try_from(n(6..8)).expect("day"),
    )
    .expect("valid date")
}

fn far_future() -> Date {
    Date::new(2099, 12, 31).expect("date")
}

fn today() -> Date {
    Date::new(2026, 11, 25).expect("date")
}

fn exp(e: u64) -> PublicExponent {
    if e == 3 {
        PublicExponent::Three
    } else {
        PublicExponent::F4
    }
}

/// Test keys, generated once per test binary from fixed seeds.
fn key(bits: usize, e: u64) -> &'static RsaKeyPair {
    static POOL: OnceLock<Vec<((usize, u64), RsaKeyPair)>> = OnceLock::new();
    let pool = POOL.get_or_init(|| {
        let mut v = Vec::new();
        for (i, bits) in [1024usize, 1152, 1408, 1984].into_iter().enumerate() {
            for (j, e) in [3u64, 65537].into_iter().enumerate() {
                let seed = u64::try_from(i * 2 + j).expect("small");
                let k = RsaKeyPair::generate(&mut rng(seed), bits, exp(e)).expect("keygen");
                v.push(((bits, e), k));
            }
        }
        v
    });
    &pool
        .iter()
        .find(|(id, _)| *id == (bits, e))
        .expect("pool key")
        .1
}

fn ca(bits: usize, e: u64) -> CaKeyPair {
    CaKeyPair::from_key(
        [0xA0, 0, 0, 0x99, 0x99],
        0xF0,
        far_future(),
        key(bits, e).clone(),
    )
}

fn pan() -> Pan {
    Pan::from_digits("5413330089010010").expect("pan")
}

fn expiry(mm: u8, yyyy: u16) -> CertExpiry {
    CertExpiry::new(mm, yyyy).expect("expiry")
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().to_vec()
}

/// Re-signs a signed object after editing its recovered message: recovers with
/// the public key, applies `edit` to the whole `6A ‖ … ‖ BC` message, and, if
/// `rehash_extra` is given, recomputes the hash over the edited data ‖ extra.
/// This builds objects that are validly signed but wrong in exactly one field.
fn resign(
    signer: &RsaKeyPair,
    signed: &[u8],
    edit: impl Fn(&mut Vec<u8>),
    rehash_extra: Option<&[&[u8]]>,
) -> Vec<u8> {
    let mut msg = signer.public_key().public_op(signed).expect("recover");
    edit(&mut msg);
    if let Some(extra) = rehash_extra {
        let k = msg.len();
        let data = msg[1..k - 21].to_vec();
        let mut parts: Vec<&[u8]> = vec![&data];
        parts.extend_from_slice(extra);
        let h = sha1(&parts);
        msg[k - 21..k - 1].copy_from_slice(&h);
    }
    signer
        .private_op(&mut rng(99), &msg)
        .expect("sign")
        .to_vec()
}

// ---------------------------------------------------------------- KATs: CA keys

#[test]
fn capk_checksum_kat() {
    let records = common::load("pki_capk.txt");
    assert!(records.len() >= 7);
    for r in &records {
        let capk = CaPublicKey {
            rid: r.hex("rid").try_into().expect("rid"),
            index: r.hex("index")[0],
            modulus: r.hex("modulus"),
            exponent: r.hex("exponent"),
            expiry: far_future(), // not covered by the checksum
            hash_algorithm: pki::HASH_ALGORITHM_SHA1,
            pk_algorithm: pki::PK_ALGORITHM_RSA,
        };
        assert_eq!(capk.checksum().to_vec(), r.hex("checksum"), "{}", r.name());
        capk.verify_checksum(&r.hex("checksum"))
            .expect("checksum verifies");
        let pk = capk.public_key().expect("valid RSA key");
        assert_eq!(pk.modulus_len(), capk.modulus.len());

        // any one-byte change breaks the checksum
        let mut bad = capk.clone();
        bad.modulus[7] ^= 0x01;
        assert_eq!(
            bad.verify_checksum(&r.hex("checksum")),
            Err(PkiError::Checksum),
            "{}",
            r.name()
        );
        let mut bad = capk.clone();
        bad.index ^= 0x01;
        assert_eq!(
            bad.verify_checksum(&r.hex("checksum")),
            Err(PkiError::Checksum)
        );
        let mut bad = capk.clone();
        bad.rid[4] ^= 0x80;
        assert_eq!(
            bad.verify_checksum(&r.hex("checksum")),
            Err(PkiError::Checksum)
        );
    }
}

#[test]
fn capk_algorithm_indicators_and_expiry() {
    let mut capk = ca(1024, 3).public_key();
    assert!(capk.is_valid_on(today()));
    assert!(!capk.is_valid_on(Date::new(2100, 1, 1).expect("date")));
    capk.hash_algorithm = 0x02;
    assert!(matches!(
        capk.public_key(),
        Err(PkiError::HashAlgorithm { .. })
    ));
    capk.hash_algorithm = 0x01;
    capk.pk_algorithm = 0x02;
    assert!(matches!(
        capk.public_key(),
        Err(PkiError::PkAlgorithm { .. })
    ));
}

// ---------------------------------------------------------------- KATs: test cards

struct Card {
    r: common::Record,
}

impl Card {
    fn capk(&self) -> CaPublicKey {
        CaPublicKey {
            rid: self.r.hex("capk_rid").try_into().expect("rid"),
            index: self.r.hex("capk_index")[0],
            modulus: self.r.hex("capk_modulus"),
            exponent: self.r.hex("capk_exponent"),
            expiry: far_future(),
            hash_algorithm: 1,
            pk_algorithm: 1,
        }
    }
    fn pan(&self) -> Pan {
        Pan::from_digits(self.r.get("pan")).expect("pan")
    }
    fn today(&self) -> Date {
        date(self.r.get("today"))
    }
}

fn cards() -> Vec<Card> {
    common::load("pki_test_cards.txt")
        .into_iter()
        .map(|r| Card { r })
        .collect()
}

#[test]
fn test_card_issuer_certificate_kat() {
    for c in cards() {
        let r = &c.r;
        let name = r.name();
        let capk = c.capk();
        let cert = r.hex("issuer_cert");
        let (rem, e) = (r.hex("issuer_remainder"), r.hex("issuer_exponent"));

        let got = pki::verify_issuer_certificate(&capk, &cert, &rem, &e, &c.pan(), c.today())
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        assert_eq!(
            got.public_key.modulus(),
            r.hex("issuer_modulus").as_slice(),
            "{name}"
        );
        assert_eq!(got.public_key.exponent(), e.as_slice());
        assert_eq!(got.issuer_identifier.to_vec(), r.hex("issuer_identifier"));
        assert_eq!(got.expiry.to_mmyy().to_vec(), r.hex("issuer_expiry"));
        assert_eq!(got.serial_number.to_vec(), r.hex("issuer_serial"));

        // the recovered (unverified) view shows the same fields
        let rec = pki::recover_issuer_certificate(&capk.public_key().expect("ca"), &cert)
            .expect("recover");
        assert_eq!(rec.issuer_identifier().to_vec(), r.hex("issuer_identifier"));
        assert_eq!(rec.hash_algorithm(), 1);
        assert_eq!(rec.pk_algorithm(), 1);
        assert_eq!(rec.public_key_length(), r.hex("issuer_modulus").len());

        // failures on the real certificate
        let other_pan = Pan::from_digits("4000000000000002").expect("pan");
        assert_eq!(
            pki::verify_issuer_certificate(&capk, &cert, &rem, &e, &other_pan, c.today()),
            Err(PkiError::IssuerIdentifier),
            "{name}"
        );
        let exp = got.expiry;
        let after = if exp.month() == 12 {
            Date::new(exp.year() + 1, 1, 1)
        } else {
            Date::new(exp.year(), exp.month() + 1, 1)
        }
        .expect("date");
        assert!(matches!(
            pki::verify_issuer_certificate(&capk, &cert, &rem, &e, &c.pan(), after),
            Err(PkiError::Expired { .. })
        ));
        let last_day_ok = Date::new(exp.year(), exp.month(), 28).expect("date");
        assert!(
            pki::verify_issuer_certificate(&capk, &cert, &rem, &e, &c.pan(), last_day_ok).is_ok()
        );
        assert!(matches!(
            pki::verify_issuer_certificate(&capk, &cert, &rem, &[1, 0, 1], &c.pan(), c.today()),
            Err(PkiError::Hash { .. })
        ));
        let mut bad = cert.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert!(
            pki::verify_issuer_certificate(&capk, &bad, &rem, &e, &c.pan(), c.today()).is_err()
        );
        assert!(matches!(
            pki::verify_issuer_certificate(&capk, &cert[1..], &rem, &e, &c.pan(), c.today()),
            Err(PkiError::Length { .. })
        ));
    }
}

#[test]
fn test_card_icc_certificate_kat() {
    for c in cards() {
        let r = &c.r;
        let name = r.name();
        let issuer = RsaPublicKey::new(&r.hex("issuer_modulus"), &r.hex("issuer_exponent"))
            .expect("issuer key");
        let rec = pki::recover_icc_certificate(&issuer, &r.hex("icc_cert")).expect("recover");
        assert_eq!(rec.pan_bytes(), r.hex("icc_pan_field").as_slice(), "{name}");
        assert_eq!(rec.expiry_bytes().to_vec(), r.hex("icc_expiry"));
        assert_eq!(rec.serial_number().to_vec(), r.hex("icc_serial"));
        assert_eq!(rec.hash_result().to_vec(), r.hex("icc_hash"));
        assert_eq!(rec.hash_algorithm(), 1);
        assert_eq!(rec.pk_algorithm(), 1);
        let modulus = r.hex("icc_modulus");
        assert_eq!(rec.public_key_length(), modulus.len());
        let remainder = r.hex("icc_remainder");
        let digits = rec.public_key_digits();
        assert_eq!(
            [digits, remainder.as_slice()].concat(),
            modulus,
            "{name}: key reassembly"
        );

        // the static data was not published: the hash check must refuse a guess
        assert!(matches!(
            rec.verify(&remainder, &r.hex("icc_exponent"), &c.pan(), b"", c.today()),
            Err(PkiError::Hash { .. })
        ));
    }
}

#[test]
fn test_card_ssad_kat() {
    let c = cards()
        .into_iter()
        .find(|c| c.r.opt("ssad").is_some())
        .expect("SSAD record");
    let r = &c.r;
    let issuer =
        RsaPublicKey::new(&r.hex("issuer_modulus"), &r.hex("issuer_exponent")).expect("issuer key");
    let rec = pki::recover_signed_static_data(&issuer, &r.hex("ssad")).expect("recover");
    assert_eq!(rec.data_authentication_code().to_vec(), r.hex("ssad_dac"));
    assert_eq!(rec.hash_result().to_vec(), r.hex("ssad_hash"));
    assert_eq!(rec.hash_algorithm(), 1);
    assert!(matches!(
        rec.verify(b"not the static data"),
        Err(PkiError::Hash { .. })
    ));
    // the SSAD is not an issuer certificate
    let capk = c.capk();
    let mut bad = r.hex("ssad");
    bad[5] ^= 0x10;
    assert!(pki::recover_signed_static_data(&issuer, &bad).is_err());
    assert!(matches!(
        pki::recover_icc_certificate(&issuer, &r.hex("ssad")),
        Err(PkiError::Format {
            expected: 0x04,
            got: 0x03,
            ..
        })
    ));
    assert!(
        pki::recover_issuer_certificate(&capk.public_key().expect("ca"), &r.hex("ssad")).is_err()
    );
}

#[test]
fn test_card_cda_kat() {
    let c = cards()
        .into_iter()
        .find(|c| c.r.opt("sdad").is_some())
        .expect("CDA record");
    let r = &c.r;
    let icc =
        RsaPublicKey::new(&r.hex("icc_modulus"), &r.hex("icc_exponent")).expect("768-bit ICC key");
    let sdad = r.hex("sdad");
    let un: [u8; 4] = r.hex("unpredictable_number").try_into().expect("UN");
    let cid = r.hex("cid")[0];

    let rec = pki::recover_signed_dynamic_data(&icc, &sdad).expect("recover");
    assert_eq!(rec.hash_result().to_vec(), r.hex("sdad_hash"));
    let dynamic = CdaDynamicData::parse(rec.icc_dynamic_data()).expect("Table 19 data");
    assert_eq!(dynamic.icc_dynamic_number, r.hex("icc_dynamic_number"));
    assert_eq!(dynamic.cid, cid);
    assert_eq!(dynamic.application_cryptogram.to_vec(), r.hex("ac"));
    assert_eq!(dynamic.transaction_data_hash_code.to_vec(), r.hex("tdhc"));
    assert!(dynamic.additional_data.is_empty());

    // the signature hash over Table 22 data ‖ UN verifies in full
    let dd = rec
        .verify(&un)
        .expect("signature hash over the unpredictable number");
    assert_eq!(
        dd.icc_dynamic_number().expect("number"),
        r.hex("icc_dynamic_number").as_slice()
    );
    let mut other_un = un;
    other_un[0] ^= 1;
    assert!(matches!(rec.verify(&other_un), Err(PkiError::Hash { .. })));

    // CDA checks: CID first, then the hash, then the transaction data hash code
    let none = CdaTransactionData::default();
    assert_eq!(
        rec.verify_cda(&un, cid ^ 0x40, &none),
        Err(PkiError::CidMismatch)
    );
    assert!(matches!(
        rec.verify_cda(&other_un, cid, &none),
        Err(PkiError::Hash { .. })
    ));
    // PDOL/CDOL/response data were not published: a guess must fail the TDHC check
    assert_eq!(
        pki::verify_cda(&icc, &sdad, &un, cid, &none),
        Err(PkiError::TransactionDataHash)
    );
}

#[test]
fn test_card_chain_mastercard_full_issuer_then_icc_digits() {
    // The Mastercard card: issuer key from the CAPK (verified), then the ICC
    // certificate recovered with that key (structure checked; hash needs static data).
    let c = cards()
        .into_iter()
        .find(|c| c.r.opt("sdad").is_some())
        .expect("CDA record");
    let r = &c.r;
    let issuer = pki::verify_issuer_certificate(
        &c.capk(),
        &r.hex("issuer_cert"),
        &r.hex("issuer_remainder"),
        &r.hex("issuer_exponent"),
        &c.pan(),
        c.today(),
    )
    .expect("issuer");
    assert_eq!(issuer.public_key.modulus_len() * 8, 896);
    let rec = pki::recover_icc_certificate(&issuer.public_key, &r.hex("icc_cert")).expect("icc");
    assert_eq!(rec.public_key_length() * 8, 768);
}

// ---------------------------------------------------------------- round trips

/// Full chain: CA → issuer → ICC; SDA, DDA, CDA, enciphered PIN.
fn chain(ca_bits: usize, ca_e: u64, iss_bits: usize, iss_e: u64, icc_bits: usize, icc_e: u64) {
    let label = format!("CA {ca_bits}/{ca_e}, issuer {iss_bits}/{iss_e}, ICC {icc_bits}/{icc_e}");
    let mut g = rng(7);
    let ca = ca(ca_bits, ca_e);
    let issuer = key(iss_bits, iss_e);
    let icc = key(icc_bits, icc_e);
    let pan = pan();

    // issuer certificate
    let content = IssuerCertificateContent {
        issuer_identifier: pki::issuer_identifier_from_pan(&pan, 6).expect("id"),
        expiry: expiry(12, 2030),
        serial_number: [0x01, 0x02, 0x03],
        public_key: issuer.public_key().clone(),
    };
    let ic = ca.certify_issuer(&mut g, &content).expect("certify issuer");
    assert_eq!(ic.certificate.len(), ca_bits / 8, "{label}");
    let expect_rem = (iss_bits / 8).saturating_sub(ca_bits / 8 - 36);
    assert_eq!(ic.remainder.len(), expect_rem, "{label}");
    let got = pki::verify_issuer_certificate(
        &ca.public_key(),
        &ic.certificate,
        &ic.remainder,
        &ic.exponent,
        &pan,
        today(),
    )
    .map_err(|e| format!("{label}: {e}"))
    .expect("certificate verifies");
    assert_eq!(&got.public_key, issuer.public_key(), "{label}");
    assert_eq!(got.issuer_identifier, [0x54, 0x13, 0x33, 0xFF]);
    assert_eq!(got.serial_number, [1, 2, 3]);

    // ICC certificate over static data
    let static_data = b"\x5A\x08\x54\x13\x33\x00\x89\x01\x00\x10\x5F\x24\x03\x30\x12\x31\x58\x00";
    let cc = IccCertificateContent {
        pan: pan.clone(),
        expiry: expiry(12, 2030),
        serial_number: [0, 0, 9],
        public_key: icc.public_key().clone(),
    };
    let icert = pki::certify_icc(issuer, &mut g, &cc, static_data).expect("certify icc");
    assert_eq!(icert.certificate.len(), iss_bits / 8);
    assert_eq!(
        icert.remainder.len(),
        (icc_bits / 8).saturating_sub(iss_bits / 8 - 42),
        "{label}"
    );
    let icc_pk = pki::verify_icc_certificate(
        &got.public_key,
        &icert.certificate,
        &icert.remainder,
        &icert.exponent,
        &pan,
        static_data,
        today(),
    )
    .map_err(|e| format!("{label}: {e}"))
    .expect("certificate verifies");
    assert_eq!(&icc_pk.public_key, icc.public_key());

    // ICC PIN encipherment certificate (no static data in the hash)
    let pcert = pki::certify_icc_pin_encipherment(issuer, &mut g, &cc).expect("certify pin key");
    let pin_pk = pki::verify_icc_pin_encipherment_certificate(
        &got.public_key,
        &pcert.certificate,
        &pcert.remainder,
        &pcert.exponent,
        &pan,
        today(),
    )
    .expect("pin key certificate");
    assert_eq!(&pin_pk.public_key, icc.public_key());

    // SDA
    let ssad = pki::sign_static_data(issuer, &mut g, [0xDA, 0xC1], static_data).expect("sda");
    assert_eq!(
        pki::verify_signed_static_data(&got.public_key, &ssad, static_data),
        Ok([0xDA, 0xC1])
    );

    // DDA with a DDOL of 9F37 04
    let ddol_data = [0x11, 0x22, 0x33, 0x44];
    let dd =
        pki::dda_icc_dynamic_data(&[0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8]).expect("dd");
    let sdad = pki::sign_dynamic_data(icc, &mut g, &dd, &ddol_data).expect("dda sign");
    let v = pki::verify_dda(&icc_pk.public_key, &sdad, &ddol_data).expect("dda verify");
    assert_eq!(
        v.icc_dynamic_number().expect("n"),
        &[0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8]
    );

    // CDA
    let tx = CdaTransactionData {
        pdol_data: &[0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
        cdol1_data: &[0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x09, 0x78],
        cdol2_data: None,
        response_tlvs: &[0x9F, 0x27, 0x01, 0x40, 0x9F, 0x36, 0x02, 0x00, 0x01],
    };
    let cda = CdaDynamicData {
        icc_dynamic_number: vec![1, 2, 3, 4],
        cid: 0x40,
        application_cryptogram: [9, 8, 7, 6, 5, 4, 3, 2],
        transaction_data_hash_code: pki::transaction_data_hash_code(&tx),
        additional_data: Vec::new(),
    };
    let un = [0xDE, 0xAD, 0xBE, 0xEF];
    let sdad = pki::sign_cda(icc, &mut g, &cda, &un).expect("cda sign");
    assert_eq!(
        pki::verify_cda(&icc_pk.public_key, &sdad, &un, 0x40, &tx),
        Ok(cda.clone())
    );

    // offline enciphered PIN with the certified key
    let pin_block = [0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let icc_un = [1, 2, 3, 4, 5, 6, 7, 8];
    let enc =
        pki::encipher_pin_block(&pin_pk.public_key, &mut g, &pin_block, &icc_un).expect("encipher");
    assert_eq!(enc.len(), icc_bits / 8);
    let dec = pki::decipher_pin_block(icc, &mut g, &enc, &icc_un).expect("decipher");
    assert_eq!(*dec, pin_block);
}

#[test]
fn chain_1984_all_exponent_3_and_f4() {
    chain(1984, 3, 1984, 65537, 1984, 3);
    chain(1984, 65537, 1984, 3, 1984, 65537);
}

#[test]
fn chain_1408() {
    chain(1408, 3, 1408, 65537, 1152, 3);
    chain(1408, 65537, 1408, 3, 1408, 65537);
}

#[test]
fn chain_1152_and_1024() {
    chain(1152, 3, 1152, 65537, 1024, 65537);
    chain(1152, 65537, 1024, 3, 1024, 3);
    chain(1024, 3, 1024, 65537, 1024, 3);
    chain(1024, 65537, 1024, 3, 1024, 65537);
}

#[test]
fn chain_short_keys_fit_without_remainder() {
    // 1024-bit issuer key fits a 1984-bit CA certificate (212 bytes of room): BB padding, no remainder
    chain(1984, 3, 1024, 3, 1024, 65537);
    chain(1984, 65537, 1152, 65537, 1024, 3);
}

// ---------------------------------------------------------------- tamper tests

struct Fixture {
    ca: CaKeyPair,
    issuer: &'static RsaKeyPair,
    icc: &'static RsaKeyPair,
    issuer_cert: pki::PublicKeyCertificate,
    icc_cert: pki::PublicKeyCertificate,
    static_data: Vec<u8>,
}

fn fixture() -> Fixture {
    let mut g = rng(11);
    let ca = ca(1408, 3);
    let issuer = key(1152, 65537);
    let icc = key(1024, 3);
    let issuer_cert = ca
        .certify_issuer(
            &mut g,
            &IssuerCertificateContent {
                issuer_identifier: pki::issuer_identifier_from_pan(&pan(), 8).expect("id"),
                expiry: expiry(6, 2027),
                serial_number: [0, 0, 1],
                public_key: issuer.public_key().clone(),
            },
        )
        .expect("issuer cert");
    let static_data = b"static data to be authenticated || AIP 5800".to_vec();
    let icc_cert = pki::certify_icc(
        issuer,
        &mut g,
        &IccCertificateContent {
            pan: pan(),
            expiry: expiry(6, 2027),
            serial_number: [0, 0, 2],
            public_key: icc.public_key().clone(),
        },
        &static_data,
    )
    .expect("icc cert");
    Fixture {
        ca,
        issuer,
        icc,
        issuer_cert,
        icc_cert,
        static_data,
    }
}

fn verify_issuer(
    f: &Fixture,
    cert: &[u8],
    pan: &Pan,
    today: Date,
) -> Result<pki::RecoveredIssuerKey, PkiError> {
    let c = &f.issuer_cert;
    pki::verify_issuer_certificate(
        &f.ca.public_key(),
        cert,
        &c.remainder,
        &c.exponent,
        pan,
        today,
    )
}

#[test]
fn issuer_certificate_every_check_fails_on_one_byte() {
    let f = fixture();
    let c = &f.issuer_cert;
    let ca_key = f.ca.key();
    let extra: [&[u8]; 2] = [&c.remainder, &c.exponent];
    verify_issuer(&f, &c.certificate, &pan(), today()).expect("baseline verifies");
    let k = c.certificate.len();

    // header (validly signed, header 6B)
    let bad = resign(ca_key, &c.certificate, |m| m[0] = 0x6B, None);
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Header { .. })
    ));
    // trailer
    let bad = resign(ca_key, &c.certificate, |m| m[k - 1] = 0xBD, None);
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Trailer { .. })
    ));
    // format 04 instead of 02 (hash recomputed so only the format is wrong)
    let bad = resign(ca_key, &c.certificate, |m| m[1] = 0x04, Some(&extra));
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Format {
            expected: 0x02,
            got: 0x04,
            ..
        })
    ));
    // one byte of the hash result
    let bad = resign(ca_key, &c.certificate, |m| m[k - 5] ^= 0x01, None);
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Hash { .. })
    ));
    // one byte of the key digits, hash left as signed
    let bad = resign(ca_key, &c.certificate, |m| m[20] ^= 0x01, None);
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Hash { .. })
    ));
    // issuer identifier 54133301 -> 54133302 (hash recomputed)
    let bad = resign(ca_key, &c.certificate, |m| m[5] ^= 0x03, Some(&extra));
    assert_eq!(
        verify_issuer(&f, &bad, &pan(), today()).map(|_| ()),
        Err(PkiError::IssuerIdentifier)
    );
    // expiry 0627 -> 0626 (hash recomputed): expired today
    let bad = resign(ca_key, &c.certificate, |m| m[7] = 0x26, Some(&extra));
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Expired { .. })
    ));
    // expiry not BCD
    let bad = resign(ca_key, &c.certificate, |m| m[6] = 0x13, Some(&extra));
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::Invalid { .. })
    ));
    // hash algorithm indicator 02
    let bad = resign(ca_key, &c.certificate, |m| m[11] = 0x02, Some(&extra));
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::HashAlgorithm { got: 2, .. })
    ));
    // public key algorithm indicator 02
    let bad = resign(ca_key, &c.certificate, |m| m[12] = 0x02, Some(&extra));
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::PkAlgorithm { got: 2, .. })
    ));
    // key length one byte longer than digits + remainder
    let bad = resign(ca_key, &c.certificate, |m| m[13] += 1, Some(&extra));
    assert!(matches!(
        verify_issuer(&f, &bad, &pan(), today()),
        Err(PkiError::KeyLayout { .. })
    ));

    // PAN mismatch (certificate untouched)
    let other = Pan::from_digits("5413339999999999").expect("pan");
    assert_eq!(
        verify_issuer(&f, &c.certificate, &other, today()).map(|_| ()),
        Err(PkiError::IssuerIdentifier)
    );
    // expiry: valid through the end of 06/2027, not after
    assert!(
        verify_issuer(
            &f,
            &c.certificate,
            &pan(),
            Date::new(2027, 6, 30).expect("d")
        )
        .is_ok()
    );
    assert!(matches!(
        verify_issuer(
            &f,
            &c.certificate,
            &pan(),
            Date::new(2027, 7, 1).expect("d")
        ),
        Err(PkiError::Expired { .. })
    ));
    // every single-byte flip of the certificate itself is rejected
    for i in 0..k {
        let mut bad = c.certificate.clone();
        bad[i] ^= 0x01;
        assert!(
            verify_issuer(&f, &bad, &pan(), today()).is_err(),
            "flip at {i}"
        );
    }
    // remainder and exponent are covered by the hash
    let mut rem = c.remainder.clone();
    rem[0] ^= 0x01;
    assert!(matches!(
        pki::verify_issuer_certificate(
            &f.ca.public_key(),
            &c.certificate,
            &rem,
            &c.exponent,
            &pan(),
            today()
        ),
        Err(PkiError::Hash { .. })
    ));
    assert!(matches!(
        pki::verify_issuer_certificate(
            &f.ca.public_key(),
            &c.certificate,
            &c.remainder,
            &[3],
            &pan(),
            today()
        ),
        Err(PkiError::Hash { .. })
    ));
    // a certificate not smaller than the modulus is rejected before exponentiation
    let ff = vec![0xFF; k];
    assert!(matches!(
        verify_issuer(&f, &ff, &pan(), today()),
        Err(PkiError::OutOfRange { .. })
    ));
}

#[test]
fn icc_certificate_every_check_fails_on_one_byte() {
    let f = fixture();
    let ipk = f.issuer.public_key();
    let c = &f.icc_cert;
    let extra: [&[u8]; 3] = [&c.remainder, &c.exponent, &f.static_data];
    let verify = |cert: &[u8], pan: &Pan, sd: &[u8], today: Date| {
        pki::verify_icc_certificate(ipk, cert, &c.remainder, &c.exponent, pan, sd, today)
    };
    verify(&c.certificate, &pan(), &f.static_data, today()).expect("baseline");
    let k = c.certificate.len();

    let bad = resign(f.issuer, &c.certificate, |m| m[0] = 0x6B, None);
    assert!(matches!(
        verify(&bad, &pan(), &f.static_data, today()),
        Err(PkiError::Header { .. })
    ));
    let bad = resign(f.issuer, &c.certificate, |m| m[k - 1] = 0xBB, None);
    assert!(matches!(
        verify(&bad, &pan(), &f.static_data, today()),
        Err(PkiError::Trailer { .. })
    ));
    let bad = resign(f.issuer, &c.certificate, |m| m[1] = 0x02, Some(&extra));
    assert!(matches!(
        verify(&bad, &pan(), &f.static_data, today()),
        Err(PkiError::Format { .. })
    ));
    let bad = resign(f.issuer, &c.certificate, |m| m[k - 2] ^= 0x80, None);
    assert!(matches!(
        verify(&bad, &pan(), &f.static_data, today()),
        Err(PkiError::Hash { .. })
    ));
    // PAN digit changed inside the certificate (hash recomputed)
    let bad = resign(f.issuer, &c.certificate, |m| m[9] ^= 0x01, Some(&extra));
    assert_eq!(
        verify(&bad, &pan(), &f.static_data, today()).map(|_| ()),
        Err(PkiError::PanMismatch)
    );
    // expiry in the past (hash recomputed)
    let bad = resign(f.issuer, &c.certificate, |m| m[13] = 0x25, Some(&extra));
    assert!(matches!(
        verify(&bad, &pan(), &f.static_data, today()),
        Err(PkiError::Expired { .. })
    ));
    // PAN mismatch with the card's 5A (a longer PAN with the same prefix too)
    let other = Pan::from_digits("54133300890100101").expect("pan");
    assert_eq!(
        verify(&c.certificate, &other, &f.static_data, today()).map(|_| ()),
        Err(PkiError::PanMismatch)
    );
    // static data is covered: one flipped byte
    let mut sd = f.static_data.clone();
    sd[3] ^= 0x20;
    assert!(matches!(
        verify(&c.certificate, &pan(), &sd, today()),
        Err(PkiError::Hash { .. })
    ));
    // wrong length
    assert!(matches!(
        verify(&c.certificate[..k - 1], &pan(), &f.static_data, today()),
        Err(PkiError::Length { .. })
    ));
    for i in 0..k {
        let mut bad = c.certificate.clone();
        bad[i] ^= 0x40;
        assert!(
            verify(&bad, &pan(), &f.static_data, today()).is_err(),
            "flip at {i}"
        );
    }
}

#[test]
fn sda_tamper() {
    let f = fixture();
    let mut g = rng(3);
    let ipk = f.issuer.public_key();
    let ssad = pki::sign_static_data(f.issuer, &mut g, [0x12, 0x34], &f.static_data).expect("sign");
    assert_eq!(
        pki::verify_signed_static_data(ipk, &ssad, &f.static_data),
        Ok([0x12, 0x34])
    );
    let extra: [&[u8]; 1] = [&f.static_data];
    let k = ssad.len();
    let bad = resign(f.issuer, &ssad, |m| m[0] = 0x4A, None);
    assert!(matches!(
        pki::verify_signed_static_data(ipk, &bad, &f.static_data),
        Err(PkiError::Header { .. })
    ));
    let bad = resign(f.issuer, &ssad, |m| m[k - 1] = 0xCB, None);
    assert!(matches!(
        pki::verify_signed_static_data(ipk, &bad, &f.static_data),
        Err(PkiError::Trailer { .. })
    ));
    let bad = resign(f.issuer, &ssad, |m| m[1] = 0x05, Some(&extra));
    assert!(matches!(
        pki::verify_signed_static_data(ipk, &bad, &f.static_data),
        Err(PkiError::Format {
            expected: 3,
            got: 5,
            ..
        })
    ));
    // DAC changed without re-hashing
    let bad = resign(f.issuer, &ssad, |m| m[3] ^= 0x01, None);
    assert!(matches!(
        pki::verify_signed_static_data(ipk, &bad, &f.static_data),
        Err(PkiError::Hash { .. })
    ));
    let mut sd = f.static_data.clone();
    sd.push(0);
    assert!(matches!(
        pki::verify_signed_static_data(ipk, &ssad, &sd),
        Err(PkiError::Hash { .. })
    ));
    // signed by another key
    let other = pki::sign_static_data(f.icc, &mut g, [0x12, 0x34], &f.static_data).expect("sign");
    assert!(pki::verify_signed_static_data(ipk, &other, &f.static_data).is_err());
}

#[test]
fn dda_and_cda_tamper() {
    let f = fixture();
    let mut g = rng(4);
    let pk = f.icc.public_key();
    let dd = pki::dda_icc_dynamic_data(&[1, 2]).expect("dd");
    let term = [9u8, 9, 9, 9, 0x09, 0x78, 0x25, 0x11, 0x25];
    let sdad = pki::sign_dynamic_data(f.icc, &mut g, &dd, &term).expect("sign");
    assert_eq!(
        pki::verify_dda(pk, &sdad, &term).expect("ok").as_bytes(),
        dd.as_slice()
    );
    let mut t2 = term;
    t2[8] ^= 1;
    assert!(matches!(
        pki::verify_dda(pk, &sdad, &t2),
        Err(PkiError::Hash { .. })
    ));
    let k = sdad.len();
    let bad = resign(f.icc, &sdad, |m| m[0] = 0x00, None);
    assert!(matches!(
        pki::verify_dda(pk, &bad, &term),
        Err(PkiError::Header { .. })
    ));
    let bad = resign(f.icc, &sdad, |m| m[k - 1] = 0x00, None);
    assert!(matches!(
        pki::verify_dda(pk, &bad, &term),
        Err(PkiError::Trailer { .. })
    ));
    let bad = resign(f.icc, &sdad, |m| m[1] = 0x03, Some(&[&term]));
    assert!(matches!(
        pki::verify_dda(pk, &bad, &term),
        Err(PkiError::Format { .. })
    ));
    // L_DD beyond the signature
    let bad = resign(f.icc, &sdad, |m| m[3] = 0xFF, Some(&[&term]));
    assert!(matches!(
        pki::verify_dda(pk, &bad, &term),
        Err(PkiError::Invalid { .. })
    ));
    // dynamic data too long for the key: N_IC - 25 bytes is the maximum
    assert!(pki::sign_dynamic_data(f.icc, &mut g, &vec![0; k - 25], &term).is_ok());
    assert!(pki::sign_dynamic_data(f.icc, &mut g, &vec![0; k - 24], &term).is_err());
    assert!(pki::dda_icc_dynamic_data(&[1]).is_err());
    assert!(pki::dda_icc_dynamic_data(&[0; 9]).is_err());

    // CDA
    let pdol = [0x01u8, 0x02];
    let cdol1 = [0x03u8; 29];
    let cdol2 = [0x04u8; 4];
    let resp = [0x9F, 0x27, 0x01, 0x80, 0x9F, 0x36, 0x02, 0x00, 0x07];
    let tx = CdaTransactionData {
        pdol_data: &pdol,
        cdol1_data: &cdol1,
        cdol2_data: Some(&cdol2),
        response_tlvs: &resp,
    };
    let expected_tdhc = sha1(&[&pdol, &cdol1, &cdol2, &resp]);
    assert_eq!(pki::transaction_data_hash_code(&tx).to_vec(), expected_tdhc);
    let cda = CdaDynamicData {
        icc_dynamic_number: vec![5; 8],
        cid: 0x80,
        application_cryptogram: [0xAC; 8],
        transaction_data_hash_code: pki::transaction_data_hash_code(&tx),
        additional_data: Vec::new(),
    };
    let un = [1, 2, 3, 4];
    let sdad = pki::sign_cda(f.icc, &mut g, &cda, &un).expect("sign");
    assert_eq!(pki::verify_cda(pk, &sdad, &un, 0x80, &tx), Ok(cda.clone()));
    assert_eq!(
        pki::verify_cda(pk, &sdad, &un, 0x40, &tx),
        Err(PkiError::CidMismatch)
    );
    assert!(matches!(
        pki::verify_cda(pk, &sdad, &[1, 2, 3, 5], 0x80, &tx),
        Err(PkiError::Hash { .. })
    ));
    let mut resp2 = resp;
    resp2[3] = 0x40;
    let tx2 = CdaTransactionData {
        response_tlvs: &resp2,
        ..tx
    };
    assert_eq!(
        pki::verify_cda(pk, &sdad, &un, 0x80, &tx2),
        Err(PkiError::TransactionDataHash)
    );
    let tx3 = CdaTransactionData {
        cdol2_data: None,
        ..tx
    };
    assert_eq!(
        pki::verify_cda(pk, &sdad, &un, 0x80, &tx3),
        Err(PkiError::TransactionDataHash)
    );
    // fields after the TDHC (contactless kernels) are signed and returned
    let ext = CdaDynamicData {
        additional_data: vec![0xDF, 0x81, 0x01, 0x02, 0xAA, 0xBB],
        ..cda.clone()
    };
    let sdad = pki::sign_cda(f.icc, &mut g, &ext, &un).expect("sign");
    assert_eq!(pki::verify_cda(pk, &sdad, &un, 0x80, &tx), Ok(ext.clone()));
    let short = &ext.to_bytes().expect("bytes")[..1 + 8 + 1 + 8 + 19];
    assert!(CdaDynamicData::parse(short).is_err());
    // a DDA signature is not a CDA signature
    let dda_sig = pki::sign_dynamic_data(f.icc, &mut g, &dd, &un).expect("sign");
    assert!(matches!(
        pki::verify_cda(pk, &dda_sig, &un, 0x80, &tx),
        Err(PkiError::Invalid { .. })
    ));
}

#[test]
fn enciphered_pin_checks() {
    let f = fixture();
    let mut g = rng(5);
    let pk = f.icc.public_key();
    let pin_block = [0x24, 0x12, 0x34, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let un = [8, 7, 6, 5, 4, 3, 2, 1];
    let enc = pki::encipher_pin_block(pk, &mut g, &pin_block, &un).expect("encipher");
    let enc2 = pki::encipher_pin_block(pk, &mut g, &pin_block, &un).expect("encipher");
    assert_ne!(
        enc, enc2,
        "random padding makes each encipherment different"
    );
    assert_eq!(
        *pki::decipher_pin_block(f.icc, &mut g, &enc, &un).expect("ok"),
        pin_block
    );
    assert_eq!(
        *pki::decipher_pin_block(f.icc, &mut g, &enc2, &un).expect("ok"),
        pin_block
    );

    // the plaintext has the Book 2 §7.1 layout
    let plain = f.icc.private_op(&mut g, &enc).expect("raw");
    assert_eq!(plain[0], 0x7F);
    assert_eq!(&plain[1..9], &pin_block);
    assert_eq!(&plain[9..17], &un);

    let mut other_un = un;
    other_un[7] ^= 1;
    assert_eq!(
        pki::decipher_pin_block(f.icc, &mut g, &enc, &other_un).map(|_| ()),
        Err(PkiError::UnpredictableNumber)
    );
    let mut msg = vec![0x3F; pk.modulus_len()];
    msg[9..17].copy_from_slice(&un);
    let no_header = pk.public_op(&msg).expect("raw");
    assert_eq!(
        pki::decipher_pin_block(f.icc, &mut g, &no_header, &un).map(|_| ()),
        Err(PkiError::PinHeader)
    );
    assert!(matches!(
        pki::decipher_pin_block(f.icc, &mut g, &enc[1..], &un).map(|_| ()),
        Err(PkiError::Length { .. })
    ));
    // enciphered for another key
    let enc_other =
        pki::encipher_pin_block(f.issuer.public_key(), &mut g, &pin_block, &un).expect("enc");
    assert!(pki::decipher_pin_block(f.icc, &mut g, &enc_other, &un).is_err());
}

// ---------------------------------------------------------------- keys, types

#[test]
fn key_parts_round_trip_and_redaction() {
    let kp = key(1152, 65537);
    let parts = kp.to_parts().expect("parts");
    assert_eq!(parts.modulus.len(), 144);
    assert_eq!(parts.private_exponent.len(), 144);
    assert_eq!(parts.prime_p.len(), 72);
    assert_eq!(parts.public_exponent, vec![1, 0, 1]);
    let back = RsaKeyPair::from_parts(&parts).expect("from parts");
    assert_eq!(back.public_key(), kp.public_key());
    let mut msg = vec![0x55; 144];
    msg[0] = 0x6A;
    let a = kp.private_op(&mut rng(1), &msg).expect("op");
    let b = back.private_op(&mut rng(2), &msg).expect("op");
    assert_eq!(*a, *b, "raw RSA is deterministic whatever the blinding");
    assert_eq!(kp.public_key().public_op(&a).expect("recover"), msg);

    // inconsistent parts are refused
    let mut bad = parts.clone();
    bad.private_exponent[100] ^= 1;
    assert!(RsaKeyPair::from_parts(&bad).is_err());

    // no private material in Debug
    let d_hex = hex::encode_upper(&*parts.private_exponent);
    let p_hex = hex::encode_upper(&*parts.prime_p);
    for s in [
        format!("{kp:?}"),
        format!("{parts:?}"),
        format!("{:?}", ca(1024, 3)),
    ] {
        assert!(s.contains("REDACTED"), "{s}");
        assert!(
            !s.contains(&d_hex[..16]) && !s.contains(&p_hex[..16]),
            "{s}"
        );
        assert!(!s.to_lowercase().contains(&d_hex[..16].to_lowercase()));
    }
}

#[test]
fn key_size_and_exponent_policy() {
    let mut g = rng(6);
    assert!(matches!(
        RsaKeyPair::generate(&mut g, 1016, PublicExponent::Three),
        Err(PkiError::ModulusSize { .. })
    ));
    assert!(matches!(
        RsaKeyPair::generate(&mut g, 1992, PublicExponent::Three),
        Err(PkiError::ModulusSize { .. })
    ));
    assert!(matches!(
        RsaKeyPair::generate(&mut g, 1028, PublicExponent::F4),
        Err(PkiError::ModulusSize { .. })
    ));
    let m = key(1024, 3).public_key().modulus().to_vec();
    assert_eq!(RsaPublicKey::new(&m, &[5]), Err(PkiError::Exponent));
    assert_eq!(
        RsaPublicKey::new(&m, &[0, 1, 0, 1]),
        Err(PkiError::Exponent)
    );
    assert!(RsaPublicKey::new(&m, &[0, 0, 3]).is_ok());
    let mut lead0 = vec![0];
    lead0.extend_from_slice(&m);
    assert!(matches!(
        RsaPublicKey::new(&lead0, &[3]),
        Err(PkiError::Invalid { .. })
    ));
    let mut too_long = m.clone();
    too_long.extend_from_slice(&[0xFF; 121]);
    assert!(matches!(
        RsaPublicKey::new(&too_long, &[3]),
        Err(PkiError::ModulusSize { .. })
    ));
    assert!(matches!(
        RsaPublicKey::new(&m[..60], &[3]),
        Err(PkiError::ModulusSize { .. })
    ));
    let pk = key(1024, 3).public_key();
    assert!(matches!(
        pk.public_op(&[0xFF; 128]),
        Err(PkiError::OutOfRange { .. })
    ));
    assert!(matches!(
        pk.public_op(&[1; 127]),
        Err(PkiError::Length { .. })
    ));
    // a certified key may not be longer than the certifying key
    let content = IssuerCertificateContent {
        issuer_identifier: [0x54, 0x13, 0x33, 0xFF],
        expiry: expiry(1, 2030),
        serial_number: [0; 3],
        public_key: key(1408, 3).public_key().clone(),
    };
    assert!(matches!(
        ca(1152, 3).certify_issuer(&mut g, &content),
        Err(PkiError::KeyLayout { .. })
    ));
}

#[test]
fn generated_key_has_requested_size() {
    let k = RsaKeyPair::generate(&mut rng(42), 1088, PublicExponent::Three).expect("keygen");
    assert_eq!(k.modulus_len(), 136);
    assert_eq!(k.public_key().exponent(), &[3]);
    assert!(k.public_key().modulus()[0] >= 0x80);
}

#[test]
fn pan_date_expiry_types() {
    let p = pan();
    assert_eq!(format!("{p:?}"), "Pan(541333******0010)");
    assert_eq!(format!("{p}"), "541333******0010");
    assert_eq!(
        p.to_cn(10).expect("cn"),
        hex::decode("5413330089010010FFFF").expect("hex")
    );
    assert_eq!(
        Pan::from_cn(&hex::decode("4761739001010119").expect("hex"))
            .expect("pan")
            .len(),
        16
    );
    assert_eq!(
        Pan::from_cn(&hex::decode("476173900101011F").expect("hex"))
            .expect("pan")
            .len(),
        15
    );
    assert!(Pan::from_cn(&hex::decode("47F173900101011F").expect("hex")).is_err());
    assert!(Pan::from_digits("12345a7890").is_err());
    assert_eq!(
        pki::issuer_identifier_from_pan(&p, 3).expect("id"),
        [0x54, 0x1F, 0xFF, 0xFF]
    );
    assert_eq!(
        pki::issuer_identifier_from_pan(&p, 8).expect("id"),
        [0x54, 0x13, 0x33, 0x00]
    );
    assert!(pki::issuer_identifier_from_pan(&p, 2).is_err());
    assert!(pki::issuer_identifier_from_pan(&p, 9).is_err());

    assert_eq!(
        Date::from_yymmdd([0x25, 0x05, 0x06]).expect("d"),
        Date::new(2025, 5, 6).expect("d")
    );
    assert_eq!(
        Date::from_yymmdd([0x99, 0x12, 0x31]).expect("d").year(),
        1999
    );
    assert!(Date::from_yymmdd([0x25, 0x02, 0x30]).is_err());
    assert!(Date::new(2024, 2, 29).is_ok());
    assert!(Date::new(2023, 2, 29).is_err());
    let e = CertExpiry::from_mmyy([0x12, 0x31]).expect("e");
    assert_eq!((e.month(), e.year()), (12, 2031));
    assert_eq!(e.to_mmyy(), [0x12, 0x31]);
    assert!(CertExpiry::from_mmyy([0x13, 0x31]).is_err());
    assert!(CertExpiry::from_mmyy([0x1A, 0x31]).is_err());
    assert!(e.is_valid_on(Date::new(2031, 12, 31).expect("d")));
    assert!(!e.is_valid_on(Date::new(2032, 1, 1).expect("d")));
}

#[test]
fn errors_convert_to_crate_error_without_secrets() {
    let e: lamina_crypto::Error = PkiError::Hash {
        what: "issuer public key certificate",
    }
    .into();
    assert_eq!(
        e,
        lamina_crypto::Error::Verification("issuer public key certificate")
    );
    let e: lamina_crypto::Error = PkiError::Rsa("private operation failed").into();
    assert_eq!(e, lamina_crypto::Error::Rsa("private operation failed"));
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Arbitrary bytes never panic the recovery paths and are (overwhelmingly) rejected.
        #[test]
        fn random_signatures_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 128)) {
            let pk = key(1024, 3).public_key();
            prop_assert!(pki::recover_issuer_certificate(pk, &bytes).is_err());
            prop_assert!(pki::recover_icc_certificate(pk, &bytes).is_err());
            prop_assert!(pki::recover_signed_static_data(pk, &bytes).is_err());
            prop_assert!(pki::recover_signed_dynamic_data(pk, &bytes).is_err());
        }

        #[test]
        fn mmyy_round_trip(m in 1u8..=12, y in 1950u16..=2049) {
            let e = CertExpiry::new(m, y).expect("expiry");
            prop_assert_eq!(CertExpiry::from_mmyy(e.to_mmyy()).expect("parse"), e);
        }

        #[test]
        fn issuer_identifier_matches_its_pan(digits in "[0-9]{12,19}", n in 3usize..=8) {
            let p = Pan::from_digits(&digits).expect("pan");
            let id = pki::issuer_identifier_from_pan(&p, n).expect("id");
            let mut hexid = hex::encode_upper(id);
            hexid.truncate(n);
            prop_assert_eq!(hexid, &digits[..n]);
        }
    }
}
