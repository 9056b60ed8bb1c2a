//! Ready-made test cards for this crate's tests, the terminal kernel's tests and
//! demos: a sample personalization per CVN with **published-nowhere, test-only**
//! issuer master keys, the ICC master keys derived from them exactly as a bureau
//! would (EMV Book 2 A1.4), and a personalized [`EmulatedCard`].
//!
//! The keys here are public test values: never use them for real cards.

use std::sync::Arc;

use lamina_card::image::CardImage;
use lamina_card::{Card, CardLifeCycle, EmulatedCard, Rom, SeededRng};
use lamina_crypto::emv::derive_icc_mk;
use lamina_crypto::sym::SecretKey;

use super::provision::{install_entry, personalize_image};
use super::{
    CvnChoice, EmvError, EmvLimits, EmvPersonalization, EmvRecord, IccMasterKeys, IccRsa,
    LogConfig, OdaMethod, ResponseFormat, SecretBytes, register,
};

/// PAN of the sample cards (a test PAN).
pub const TEST_PAN: &str = "4761739001010010";
/// PAN Sequence Number of the sample cards (`5F34`).
pub const TEST_PSN: u8 = 0x01;
/// Test Issuer Master Key for AC (double-length TDES; also used as AES-128).
pub const TEST_IMK_AC: &str = "0123456789ABCDEFFEDCBA9876543210";
/// Test Issuer Master Key for secure messaging integrity.
pub const TEST_IMK_SMI: &str = "1032547698BADCFEEFCDAB8967452301";
/// Test Issuer Master Key for secure messaging confidentiality.
pub const TEST_IMK_SMC: &str = "89ABCDEF0123456776543210FEDCBA98";
/// The sample cards' PIN.
pub const TEST_PIN: &str = "1234";

/// Derives the ICC master key from a test IMK with the CVN's derivation option,
/// exactly as the bureau does and as the issuer host does to verify.
pub fn derive_test_icc_mk(cvn: CvnChoice, imk_hex: &str) -> Result<SecretKey, EmvError> {
    let p = cvn.cvn().profile();
    let imk = hex::decode(imk_hex).map_err(|_| EmvError::Perso("test IMK hex"))?;
    derive_icc_mk(p.algorithm, p.mk_derivation, &imk, TEST_PAN, TEST_PSN)
        .map_err(|_| EmvError::Perso("ICC master key derivation"))
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap_or_default()
}

/// CDOL1 of the sample cards: `9F02 06 9F03 06 9F1A 02 95 05 5F2A 02 9A 03 9C 01
/// 9F37 04 9F35 01 9F34 03` (33 bytes of data).
pub const TEST_CDOL1: &str = "9F02069F03069F1A0295055F2A029A039C019F37049F35019F3403";

/// A sample personalization for `cvn`: contact and contactless, PDOL `9F1A 02`,
/// AFL SFI 1 record 1 and SFI 2 records 1–2 (track 2, PAN, CVM list with offline
/// plaintext PIN, IACs, CDOL1 [`TEST_CDOL1`], CDOL2 `8A 02 91 xx 95 05 9F37 04`,
/// DDOL `9F37 04`), limits LCOL 3 / UCOL 5 / CTTAL 100.00 / CTTAUL 500.00 /
/// contactless 50.00 (EUR, country 0250), PIN
/// [`TEST_PIN`] with 3 tries, no ODA, response format 2, a 10-record log in SFI 11
/// (`9F02 06 5F2A 02 9A 03 9F36 02 9F27 01 9C 01`).
pub fn sample_personalization(cvn: CvnChoice) -> Result<EmvPersonalization, EmvError> {
    let aid = match cvn {
        CvnChoice::Visa10 | CvnChoice::Visa18 => "A0000000031010",
        CvnChoice::Mastercard16 => "A0000000041010",
        CvnChoice::Interac133 => "A0000002771010",
        CvnChoice::EmvCcd | CvnChoice::EmvAes => "F04C414D494E4145",
    };
    let iad_len = match cvn.cvn().profile().arpc {
        lamina_crypto::emv::ArpcMethod::Method1 => "0A",
        lamina_crypto::emv::ArpcMethod::Method2 => "08",
    };
    let cdol2 = format!("8A0291{iad_len}95059F3704");
    let cvm = "000000000000000041031E031F00";
    let tpl = |body: &str| {
        let b = h(body);
        let mut v = vec![0x70, u8::try_from(b.len()).unwrap_or(0)];
        v.extend(b);
        v
    };
    let track2 = format!("{TEST_PAN}D30122011234567890");
    let records = vec![
        EmvRecord {
            sfi: 1,
            record: 1,
            data: tpl(&format!(
                "5711{track2} 5F200B4C414D494E412F54455354 9F1F0430303030"
            )),
        },
        EmvRecord {
            sfi: 2,
            record: 1,
            data: tpl(&format!(
                "5A08{TEST_PAN} 5F340101 5F2403301231 5F2503250101 9F0702FF00 5F28020250 8E0E{cvm} 9F0D05FC50A8A000 9F0E050000000000 9F0F05FC70B8F800"
            )),
        },
        EmvRecord {
            sfi: 2,
            record: 2,
            data: tpl(&format!(
                "8C1B{TEST_CDOL1} 8D{:02X}{cdol2} 9F4903 9F3704 9F080200 96",
                cdol2.len() / 2
            )),
        },
    ];
    let key = |imk| -> Result<SecretBytes, EmvError> {
        Ok(SecretBytes::new(
            derive_test_icc_mk(cvn, imk)?.as_bytes().to_vec(),
        ))
    };
    Ok(EmvPersonalization {
        aid: h(aid),
        label: "LAMINA DEBIT".to_owned(),
        preferred_name: None,
        priority: Some(1),
        language: Some("enfr".to_owned()),
        pdol: h("9F1A02"),
        fci_issuer_data: Vec::new(),
        aip: h("1C00"),
        afl: h("08010100 10010200"),
        records,
        get_data: h("9F510209 78"),
        currency_code: h("0978"),
        limits: EmvLimits {
            lcol: 3,
            ucol: 5,
            cttal: 10_000,
            cttaul: 50_000,
            contactless: Some(5_000),
        },
        pin: Some(SecretBytes::new(TEST_PIN.as_bytes().to_vec())),
        pin_try_limit: 3,
        keys: IccMasterKeys {
            ac: key(TEST_IMK_AC)?,
            smi: key(TEST_IMK_SMI)?,
            smc: key(TEST_IMK_SMC)?,
        },
        dki: 1,
        cvn,
        oda: OdaMethod::None,
        icc_rsa: None,
        response_format: ResponseFormat::Format2,
        log: Some(LogConfig {
            sfi: 11,
            records: 10,
            format: h("9F02065F2A029A039F36029F27019C01"),
        }),
    })
}

/// A ROM with the EMV class.
pub fn rom(rsa: Option<Arc<dyn IccRsa>>) -> Rom {
    let mut rom = Rom::new();
    register(&mut rom, rsa);
    rom
}

/// A personalized card (life cycle personalized) holding one EMV application
/// built from `perso`, with a deterministic RNG seeded by `seed`.
pub fn build_card(
    perso: &EmvPersonalization,
    rsa: Option<Arc<dyn IccRsa>>,
    seed: u64,
) -> Result<Card, EmvError> {
    let rom = rom(rsa);
    let mut card = Card::new(rom.clone(), SeededRng::new(seed));
    let card_err = |e: lamina_card::CardError| EmvError::Card(e.to_string());
    card.install(install_entry(perso)?).map_err(card_err)?;
    card.set_life_cycle(CardLifeCycle::Personalized)
        .map_err(card_err)?;
    let mut image =
        CardImage::from_json(&card.save_image()).map_err(|e| EmvError::Card(e.to_string()))?;
    personalize_image(&mut image, perso)?;
    Card::load_image(rom, SeededRng::new(seed), &image.to_json())
        .map_err(|e| EmvError::Card(e.to_string()))
}

/// [`build_card`] in an [`EmulatedCard`] (terminal side, T=1 on contact).
pub fn test_card(
    perso: &EmvPersonalization,
    rsa: Option<Arc<dyn IccRsa>>,
    seed: u64,
) -> Result<EmulatedCard, EmvError> {
    Ok(EmulatedCard::new(build_card(perso, rsa, seed)?))
}
