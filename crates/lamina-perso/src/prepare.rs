//! Data preparation: everything one card needs, computed from the issuer's keys
//! and a profile.
//!
//! | step | data | reference |
//! |---|---|---|
//! | PAN | BIN ‖ account digits ‖ Luhn check digit | ISO/IEC 7812-1 Annex B |
//! | dates | `5F25` effective (issuance month), `5F24` expiry (last day of the month) | Book 3 Annex A |
//! | Track 2 `57` | PAN `D` YYMM service code ‖ PVKI ‖ PVV ‖ iCVV | ISO/IEC 7813 layout, Book 3 Annex A |
//! | ICC master keys | MK-AC/SMI/SMC/IDN from the issuer master keys | Book 2 A1.4 (option A/B) |
//! | ICC key pair and certificate `9F46` | over the static data to be authenticated | Book 2 §6.1, Table 14; Book 3 §10.3 |
//! | SDA `93` | Signed Static Application Data | Book 2 §5.2, Table 7 |
//! | PIN | given or random; PIN block for the chip, PVV for the host | ISO 9564-1 format 2; Visa PVV |
//!
//! The random number generator is injected: with a seeded generator the same
//! inputs give the same card, byte for byte.

use lamina_crypto::emv::{self, MkDerivation};
use lamina_crypto::pin::{self, Pin};
use lamina_crypto::pki::{self, CertExpiry, Date, IccCertificateContent, RsaKeyPair};
use lamina_crypto::sym::{Algorithm, SecretKey};
use lamina_tlv::Tlv;
use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::card::{
    AppInstall, CardKeys, EmvData, GpoData, PreparedApplication, PreparedCard, Record,
    ReferencePin, RiskParams,
};
use crate::closedloop;
use crate::issuer::Issuer;

use crate::keystore::StoredRsaKey;
use crate::manifest::{self, IssuanceRecord, Limits};
use crate::profile::{ApplicationProfile, Interface, OdaMethod, Profile};
use crate::util::{self, SecretBytes};
use crate::{PersoError, Result};

/// What the caller may fix for one card; everything else is drawn from the RNG.
/// `Debug` redacts the PIN.
#[derive(Clone, Default)]
pub struct CardRequest {
    /// Card identifier (default: random `LC` + 10 hex digits).
    pub card_id: Option<String>,
    /// Account digits between BIN and check digit (default: random).
    pub account_number: Option<u64>,
    /// Cardholder (first name, last name) (default: from a list of test names).
    pub cardholder: Option<(String, String)>,
    /// PIN digits (default: random, of the profile's PIN length).
    pub pin: Option<Zeroizing<String>>,
}

impl core::fmt::Debug for CardRequest {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CardRequest")
            .field("card_id", &self.card_id)
            .field("account_number", &self.account_number.map(|_| "REDACTED"))
            .field("cardholder", &self.cardholder)
            .field("pin", &self.pin.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

/// The PIN mailer: delivered separately from the card (written mode 0600).
#[derive(Clone)]
pub struct PinMailer {
    /// Card identifier.
    pub card_id: String,
    /// Masked PAN.
    pub masked_pan: String,
    /// Cardholder name.
    pub cardholder: String,
    /// The PIN.
    pub pin: Zeroizing<String>,
}

impl core::fmt::Debug for PinMailer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PinMailer")
            .field("card_id", &self.card_id)
            .field("masked_pan", &self.masked_pan)
            .field("pin", &"REDACTED")
            .finish()
    }
}

impl PinMailer {
    /// The mailer text (what is printed inside the sealed envelope).
    pub fn to_text(&self) -> String {
        format!(
            "LAMINA PIN MAILER — CONFIDENTIAL\n\ncard:        {}\ncard number: {}\ncardholder:  {}\n\nYOUR PIN:    {}\n\nMemorise your PIN and destroy this letter.\n",
            self.card_id,
            self.masked_pan,
            self.cardholder,
            self.pin.as_str()
        )
    }
}

/// Everything data preparation produces for one card.
#[derive(Debug, Clone)]
pub struct PreparedOutput {
    /// The chip data.
    pub card: PreparedCard,
    /// The PIN mailer.
    pub pin_mailer: PinMailer,
    /// The issuance record for the host.
    pub record: IssuanceRecord,
    /// What goes on the plastic.
    pub face: FaceData,
}

/// The data engraved on the card face. Holds the full PAN: the face *is* the card.
#[derive(Clone)]
pub struct FaceData {
    /// PAN digits.
    pub pan: Zeroizing<String>,
    /// Expiry `MM/YY`.
    pub expiry: String,
    /// Cardholder name as embossed (`JANE DOE`).
    pub name: String,
    /// Issuer name.
    pub issuer: String,
    /// Product label.
    pub product: String,
    /// Contactless symbol.
    pub contactless: bool,
}

impl core::fmt::Debug for FaceData {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FaceData")
            .field("pan", &util::mask_pan(&self.pan))
            .field("expiry", &self.expiry)
            .field("name", &self.name)
            .finish()
    }
}

const FIRST_NAMES: &[&str] = &[
    "ADA", "ALAN", "GRACE", "EDSGER", "BARBARA", "DONALD", "RADIA", "KEN", "FRANCES", "JOHN",
    "MARGARET", "DENNIS", "SOPHIE", "CLAUDE", "HEDY", "TIM",
];
const LAST_NAMES: &[&str] = &[
    "LOVELACE",
    "TURING",
    "HOPPER",
    "DIJKSTRA",
    "LISKOV",
    "KNUTH",
    "PERLMAN",
    "THOMPSON",
    "ALLEN",
    "BACKUS",
    "HAMILTON",
    "RITCHIE",
    "WILSON",
    "SHANNON",
    "LAMARR",
    "BERNERS-LEE",
];

/// A uniformly random decimal digit (rejection sampling, no modulo bias).
fn random_digit<R: CryptoRng + ?Sized>(rng: &mut R) -> u8 {
    loop {
        let mut b = [0u8; 1];
        rng.fill_bytes(&mut b);
        if b[0] < 250 {
            return b[0] % 10;
        }
    }
}

fn random_index<R: CryptoRng + ?Sized>(rng: &mut R, n: usize) -> usize {
    let mut b = [0u8; 4];
    rng.fill_bytes(&mut b);
    usize::try_from(u32::from_be_bytes(b)).unwrap_or(0) % n.max(1)
}

/// True for PINs that are too easy to guess (all equal digits, ascending or
/// descending runs).
fn weak_pin(d: &[u8]) -> bool {
    let all_eq = d.windows(2).all(|w| w[0] == w[1]);
    let asc = d.windows(2).all(|w| (w[0] + 1) % 10 == w[1]);
    let desc = d.windows(2).all(|w| (w[1] + 1) % 10 == w[0]);
    all_eq || asc || desc
}

fn random_pin<R: CryptoRng + ?Sized>(rng: &mut R, len: usize) -> Zeroizing<String> {
    loop {
        let d: Zeroizing<Vec<u8>> = Zeroizing::new((0..len).map(|_| random_digit(rng)).collect());
        if !weak_pin(&d) {
            return Zeroizing::new(d.iter().map(|x| char::from(b'0' + x)).collect());
        }
    }
}

/// `(year, month)` `months` after `d`.
fn add_months(d: Date, months: u16) -> (u16, u8) {
    let total = u32::from(d.year()) * 12 + u32::from(d.month() - 1) + u32::from(months);
    (
        u16::try_from(total / 12).unwrap_or(u16::MAX),
        u8::try_from(total % 12 + 1).unwrap_or(1),
    )
}

fn last_day(year: u16, month: u8) -> u8 {
    (28..=31)
        .rev()
        .find(|d| Date::new(year, month, *d).is_ok())
        .unwrap_or(28)
}

fn yymmdd(y: u16, m: u8, d: u8) -> [u8; 3] {
    let yy = u8::try_from(y % 100).unwrap_or(0);
    [
        util::to_bcd_byte(yy),
        util::to_bcd_byte(m),
        util::to_bcd_byte(d),
    ]
}

fn n_bcd(v: u16, digits: usize) -> Result<Vec<u8>> {
    util::digits_to_bcd(&format!("{v:0digits$}"))
}

/// The issuer key's algorithm for the card's CVN.
fn cvn_algorithm(profile: &Profile) -> Algorithm {
    profile.cvn.profile().algorithm
}

/// Prepares one card.
///
/// `today` dates the card (effective date, expiry, certificate expiry).
pub fn prepare_card<R: CryptoRng + ?Sized>(
    issuer: &Issuer,
    profile: &Profile,
    req: &CardRequest,
    today: Date,
    rng: &mut R,
) -> Result<PreparedOutput> {
    let keys = &issuer.keys;
    if !profile.bin.starts_with(&issuer.public.issuer_identifier) {
        return Err(PersoError::invalid(
            "BIN",
            format!(
                "profile BIN {} is not under the issuer identifier {} of the issuer certificate",
                profile.bin, issuer.public.issuer_identifier
            ),
        ));
    }
    if profile.oda != OdaMethod::None {
        for app in &profile.applications {
            if app.aid.get(..5) != Some(issuer.public.rid.as_slice()) {
                return Err(PersoError::invalid(
                    "AID",
                    format!(
                        "application {} is not under the issuer's CA RID {}: terminals find the CA key by the AID's RID",
                        hex::encode_upper(&app.aid),
                        hex::encode_upper(&issuer.public.rid)
                    ),
                ));
            }
        }
    }
    if profile.oda.needs_icc_key() && profile.icc_key_bits / 8 > issuer.issuer_key.modulus_len() {
        return Err(PersoError::invalid(
            "ICC key size",
            "longer than the issuer key: the issuer cannot certify it",
        ));
    }

    // -- identity
    let card_id = match &req.card_id {
        Some(id) => id.clone(),
        None => {
            let mut b = [0u8; 5];
            rng.fill_bytes(&mut b);
            format!("LC{}", hex::encode_upper(b))
        }
    };
    let acct_len = profile.pan_length - profile.bin.len() - 1;
    let account = match req.account_number {
        Some(a) => {
            let s = format!("{a:0acct_len$}");
            if s.len() != acct_len {
                return Err(PersoError::invalid(
                    "account number",
                    format!("more than {acct_len} digits"),
                ));
            }
            s
        }
        None => (0..acct_len)
            .map(|_| char::from(b'0' + random_digit(rng)))
            .collect(),
    };
    let body = format!("{}{account}", profile.bin);
    let check =
        util::luhn_check_digit(&body).ok_or_else(|| PersoError::invalid("PAN", "not digits"))?;
    let pan = Zeroizing::new(format!("{body}{check}"));
    let masked = util::mask_pan(&pan);

    // -- dates
    let (ey, em) = add_months(today, profile.validity_months);
    let expiry_5f24 = yymmdd(ey, em, last_day(ey, em));
    let effective_5f25 = yymmdd(today.year(), today.month(), 1);
    let yymm = format!("{:02}{:02}", ey % 100, em);
    let psn = util::to_bcd_byte(profile.psn);

    // -- cardholder
    let (first, last) = match &req.cardholder {
        Some((f, l)) => (f.to_uppercase(), l.to_uppercase()),
        None => (
            FIRST_NAMES[random_index(rng, FIRST_NAMES.len())].to_string(),
            LAST_NAMES[random_index(rng, LAST_NAMES.len())].to_string(),
        ),
    };
    let name_5f20 = format!("{last}/{first}");
    if name_5f20.len() < 2
        || name_5f20.len() > 26
        || !name_5f20.bytes().all(|b| (0x20..0x7F).contains(&b))
    {
        return Err(PersoError::invalid(
            "cardholder name",
            "2..=26 printable ASCII characters",
        ));
    }
    let embossed_name = format!("{first} {last}");

    // -- PIN, PVV, iCVV
    let pin_digits = match &req.pin {
        Some(p) => {
            if !(4..=12).contains(&p.len()) || !p.bytes().all(|c| c.is_ascii_digit()) {
                return Err(PersoError::invalid("PIN", "must be 4..=12 digits"));
            }
            p.clone()
        }
        None => random_pin(rng, profile.pin.length),
    };
    let pin = Pin::new(&pin_digits)?;
    let pvk = SecretKey::new(keys.pvk.expose().to_vec());
    let pvv = if profile.pin.online {
        let p = lamina_crypto::pvv::visa_pvv(&pvk, &pin::Pan::new(&pan)?, profile.pvki, &pin)?;
        Some(String::from_utf8_lossy(&p).into_owned())
    } else {
        None
    };
    let icvv = lamina_crypto::cvv::icvv(keys.cvk.expose(), &pan, &yymm)?;
    let discretionary = Zeroizing::new(format!(
        "{}{}{}",
        if pvv.is_some() { profile.pvki } else { 0 },
        pvv.as_deref().unwrap_or("0000"),
        icvv.as_str()
    ));
    let track2 = util::nibbles_to_cn(&format!(
        "{}D{yymm}{}{}",
        pan.as_str(),
        profile.service_code,
        discretionary.as_str()
    ))?;

    // -- ICC master keys (Book 2 A1.4)
    let alg = cvn_algorithm(profile);
    let derive = |imk: &SecretBytes| -> Result<SecretBytes> {
        let k = emv::derive_icc_mk(alg, profile.mk_derivation, imk.expose(), &pan, psn)?;
        Ok(SecretBytes::new(k.as_bytes().to_vec()))
    };
    let card_keys = CardKeys {
        mk_ac: derive(&keys.mk_ac)?,
        mk_smi: derive(&keys.mk_smi)?,
        mk_smc: derive(&keys.mk_smc)?,
        mk_idn: derive(&keys.mk_idn)?,
    };

    // -- ICC key pair
    let icc_key = if profile.oda.needs_icc_key() {
        Some(RsaKeyPair::generate(
            rng,
            profile.icc_key_bits,
            profile.icc_exponent,
        )?)
    } else {
        None
    };

    let common = CommonData {
        pan: &pan,
        track2,
        name_5f20,
        expiry_5f24,
        effective_5f25,
        psn,
        discretionary: discretionary.clone(),
    };
    let cert_expiry = CertExpiry::new(em, ey)?;

    let mut applications = Vec::new();
    for app in &profile.applications {
        let emv = prepare_emv_app(
            issuer,
            profile,
            app,
            &common,
            &card_keys,
            icc_key.as_ref(),
            cert_expiry,
            &pin_digits,
            rng,
        )?;
        applications.push(PreparedApplication {
            install: AppInstall {
                aid: app.aid.clone(),
                class: app.class.clone(),
                label: app.label.clone(),
                preferred_name: app.preferred_name.clone(),
                priority: app.priority,
                interfaces: app.interfaces.clone(),
                params: Vec::new(),
                kernel_id: app.contactless.as_ref().and_then(|c| c.kernel_id),
            },
            emv: Some(emv),
        });
    }
    let schemes = closedloop::scheme_keys();
    let closed_loop_id = if profile
        .extras
        .iter()
        .any(|e| closedloop::is_closed_loop(&e.kind))
    {
        Some(closedloop::card_id(&card_id)?)
    } else {
        None
    };
    for extra in &profile.extras {
        if let Some(id) = closed_loop_id
            && let Some(install) = closedloop::extra_install(extra, id, &schemes)?
        {
            applications.push(PreparedApplication { install, emv: None });
            continue;
        }
        applications.push(PreparedApplication {
            install: AppInstall {
                aid: extra.aid.clone(),
                class: extra.kind.clone(),
                label: extra.label.clone(),
                preferred_name: None,
                priority: None,
                interfaces: extra.interfaces.clone(),
                params: serde_json::to_vec(&extra.config)
                    .map_err(|e| PersoError::invalid("extra application config", e.to_string()))?,
                kernel_id: None,
            },
            emv: None,
        });
    }
    let card = PreparedCard {
        card_id: card_id.clone(),
        product: profile.name.clone(),
        applications,
    };

    let first_app = profile.applications.first();
    let mut acct = [0u8; 5];
    rng.fill_bytes(&mut acct);
    let record = IssuanceRecord {
        schema: manifest::RECORD_SCHEMA.into(),
        card_id: card_id.clone(),
        pan_token: manifest::pan_token(keys, &pan)?,
        pan_encrypted: manifest::encrypt_pan(keys, &pan, rng)?,
        pan_masked: masked.clone(),
        psn: profile.psn,
        expiry: yymm.clone(),
        effective: hex::encode_upper(effective_5f25),
        service_code: profile.service_code.clone(),
        account_id: format!(
            "{}-{}",
            profile.kind.as_str().to_uppercase(),
            hex::encode_upper(acct)
        ),
        key_ref: manifest::DEFAULT_KEY_REF.into(),
        pin_try_limit: profile.pin.try_limit,
        account_type: profile.kind.as_str().into(),
        product: profile.name.clone(),
        cardholder: embossed_name.clone(),
        aids: profile
            .applications
            .iter()
            .map(|a| hex::encode_upper(&a.aid))
            .collect(),
        cvn: profile.cvn_name.clone(),
        mk_derivation: mk_name(profile.mk_derivation).into(),
        pvki: pvv.as_ref().map(|_| profile.pvki),
        pvv,
        limits: Limits {
            currency: profile.currency,
            currency_exponent: profile.currency_exponent,
            credit_limit: profile.credit_limit,
            initial_balance: profile.initial_balance,
            cumulative_offline_limit: first_app.map(|a| a.cumulative_limit).unwrap_or(0),
            cumulative_offline_upper_limit: first_app
                .map(|a| a.cumulative_upper_limit)
                .unwrap_or(0),
            lcol: first_app.map(|a| a.lcol).unwrap_or(0),
            ucol: first_app.map(|a| a.ucol).unwrap_or(0),
        },
    };
    let face = FaceData {
        pan: pan.clone(),
        expiry: format!("{em:02}/{:02}", ey % 100),
        name: embossed_name.clone(),
        issuer: profile.issuer_name.clone(),
        product: profile.name.clone(),
        contactless: profile
            .applications
            .iter()
            .any(|a| a.interfaces.contains(&Interface::Contactless)),
    };
    Ok(PreparedOutput {
        card,
        pin_mailer: PinMailer {
            card_id,
            masked_pan: masked,
            cardholder: embossed_name,
            pin: pin_digits,
        },
        record,
        face,
    })
}

fn mk_name(m: MkDerivation) -> &'static str {
    match m {
        MkDerivation::OptionA => "A",
        MkDerivation::OptionB => "B",
    }
}

struct CommonData<'a> {
    pan: &'a str,
    track2: Vec<u8>,
    name_5f20: String,
    expiry_5f24: [u8; 3],
    effective_5f25: [u8; 3],
    psn: u8,
    discretionary: Zeroizing<String>,
}

/// Static Data to be Authenticated (EMV Book 3 §10.3): for each AFL entry, its
/// first `oda` records — without the `70` tag and length for SFI 1–10, whole for
/// SFI 11–30 — then the values of the tags in the SDA Tag List (`9F4A`, only
/// `82` allowed: the AIP).
pub fn static_data_to_authenticate(data: &EmvData, afl: &[u8], with_aip: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for entry in afl.chunks(4) {
        let [sfi_byte, first, last, oda] = entry else {
            return Err(PersoError::invalid("AFL", "length not a multiple of 4"));
        };
        let sfi = sfi_byte >> 3;
        for n in *first..=*last {
            if u16::from(n) >= u16::from(*first) + u16::from(*oda) {
                break;
            }
            let rec = data
                .records
                .iter()
                .find(|r| r.sfi == sfi && r.record == n)
                .ok_or_else(|| {
                    PersoError::invalid("AFL", format!("SFI {sfi} record {n} missing"))
                })?;
            if sfi <= 10 {
                let t = lamina_tlv::parse(&rec.data)
                    .next()
                    .and_then(|r| r.ok())
                    .ok_or_else(|| PersoError::invalid("record", "not TLV"))?;
                out.extend_from_slice(t.value);
            } else {
                out.extend_from_slice(&rec.data);
            }
        }
    }
    if with_aip {
        out.extend_from_slice(&data.gpo.aip);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn prepare_emv_app<R: CryptoRng + ?Sized>(
    issuer: &Issuer,
    profile: &Profile,
    app: &ApplicationProfile,
    c: &CommonData<'_>,
    keys: &CardKeys,
    icc_key: Option<&RsaKeyPair>,
    cert_expiry: CertExpiry,
    pin_digits: &Zeroizing<String>,
    rng: &mut R,
) -> Result<EmvData> {
    use std::collections::BTreeMap;
    // values of every data object a record may carry
    let mut v: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    v.insert(0x5A, util::nibbles_to_cn(c.pan)?);
    v.insert(0x57, c.track2.clone());
    v.insert(0x5F20, c.name_5f20.as_bytes().to_vec());
    v.insert(0x5F24, c.expiry_5f24.to_vec());
    v.insert(0x5F25, c.effective_5f25.to_vec());
    v.insert(0x5F28, n_bcd(profile.country, 4)?);
    v.insert(
        0x5F30,
        util::digits_to_bcd(&format!("0{}", profile.service_code))?,
    );
    v.insert(0x5F34, vec![c.psn]);
    v.insert(0x5F2D, profile.languages.as_bytes().to_vec());
    v.insert(0x9F1F, c.discretionary.as_bytes().to_vec());
    v.insert(0x8C, app.cdol1.clone());
    v.insert(0x8D, app.cdol2.clone());
    v.insert(0x8E, app.cvm_list.clone());
    v.insert(0x9F0D, app.iac_default.to_vec());
    v.insert(0x9F0E, app.iac_denial.to_vec());
    v.insert(0x9F0F, app.iac_online.to_vec());
    v.insert(0x9F07, app.auc.to_vec());
    v.insert(0x9F08, app.app_version.to_vec());
    v.insert(0x9F42, n_bcd(profile.currency, 4)?);
    v.insert(0x9F44, vec![profile.currency_exponent]);
    v.insert(0x9F49, app.ddol.clone());
    v.insert(0x9F14, vec![app.lcol]);
    v.insert(0x9F23, vec![app.ucol]);
    v.insert(0x9F4A, vec![0x82]);
    if let Some(cl) = &app.contactless {
        if let Some(ctq) = cl.ctq {
            v.insert(0x9F6C, ctq.to_vec());
        }
        if let Some(ffi) = &cl.ffi {
            v.insert(0x9F6E, ffi.clone());
        }
    }
    if profile.oda != OdaMethod::None {
        v.insert(0x8F, vec![issuer.public.ca_index]);
        v.insert(0x90, issuer.public.certificate.clone());
        v.insert(0x92, issuer.public.remainder.clone());
        v.insert(0x9F32, issuer.public.exponent.clone());
    }
    for (t, val) in &app.data {
        v.insert(*t, val.clone());
    }

    let afl: Vec<u8> = app.afl.iter().flat_map(|e| e.to_bytes()).collect();
    let gpo = GpoData {
        aip: app.aip.to_vec(),
        afl: afl.clone(),
    };
    // tags computed from the static data come last
    let late = [0x93u32, 0x9F46, 0x9F47, 0x9F48];
    let build = |v: &BTreeMap<u32, Vec<u8>>, allow_missing: bool| -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for entry in &app.afl {
            for n in entry.first..=entry.last {
                let layout = app
                    .records
                    .iter()
                    .find(|r| r.sfi == entry.sfi && r.record == n)
                    .ok_or_else(|| PersoError::invalid("profile", "AFL record without layout"))?;
                let mut children = Vec::new();
                for tag in &layout.tags {
                    match v.get(tag) {
                        Some(val) if val.is_empty() => {} // absent (e.g. no remainder)
                        Some(val) => children.push(Tlv::primitive(*tag, val.clone())),
                        None if allow_missing && late.contains(tag) => {}
                        None => {
                            return Err(PersoError::invalid(
                                "record data",
                                format!(
                                    "no value for tag {} in SFI {} record {n}",
                                    lamina_emv::dict::tag_hex(*tag),
                                    entry.sfi
                                ),
                            ));
                        }
                    }
                }
                out.push(Record {
                    sfi: entry.sfi,
                    record: n,
                    data: Tlv::constructed(0x70u32, children).encode(),
                });
            }
        }
        Ok(out)
    };

    let with_aip = app.records.iter().any(|r| r.tags.contains(&0x9F4A));
    let mut data = EmvData {
        fci: fci(app, &app.pdol, profile),
        fci_contactless: app
            .contactless
            .as_ref()
            .map(|cl| fci(app, &cl.pdol, profile)),
        gpo,
        gpo_contactless: app.contactless.as_ref().map(|cl| GpoData {
            aip: cl.aip.to_vec(),
            afl: afl.clone(),
        }),
        records: build(&v, true)?,
        get_data: get_data_objects(profile),
        risk: RiskParams {
            cvn: profile.cvn_name.clone(),
            mk_derivation: mk_name(profile.mk_derivation).into(),
            currency: profile.currency,
            lcol: app.lcol,
            ucol: app.ucol,
            cumulative_limit: app.cumulative_limit,
            cumulative_upper_limit: app.cumulative_upper_limit,
            contactless_offline_limit: app.contactless.as_ref().and_then(|c| c.offline_limit),
        },
        keys: keys.clone(),
        pin: if profile.pin.offline {
            Some(ReferencePin {
                block: SecretBytes::new(
                    pin::encode_iso2(&Pin::new(pin_digits)?).as_bytes().to_vec(),
                ),
                try_limit: profile.pin.try_limit,
            })
        } else {
            None
        },
        icc_key: icc_key.map(StoredRsaKey::from_key).transpose()?,
    };

    let static_data = static_data_to_authenticate(&data, &afl, with_aip)?;
    match profile.oda {
        OdaMethod::None => {}
        OdaMethod::Sda => {
            let mut dac = [0u8; 2];
            rng.fill_bytes(&mut dac);
            let ssad = pki::sign_static_data(&issuer.issuer_key, rng, dac, &static_data)?;
            v.insert(0x93, ssad);
        }
        OdaMethod::Dda | OdaMethod::Cda => {
            let key = icc_key.ok_or_else(|| PersoError::invalid("ICC key", "missing"))?;
            let mut serial = [0u8; 3];
            rng.fill_bytes(&mut serial);
            let cert = pki::certify_icc(
                &issuer.issuer_key,
                rng,
                &IccCertificateContent {
                    pan: pki::Pan::from_digits(c.pan)?,
                    expiry: cert_expiry,
                    serial_number: serial,
                    public_key: key.public_key().clone(),
                },
                &static_data,
            )?;
            v.insert(0x9F46, cert.certificate);
            v.insert(0x9F47, cert.exponent);
            v.insert(0x9F48, cert.remainder);
        }
    }
    data.records = build(&v, false)?;
    // the signed records must not have changed
    if static_data_to_authenticate(&data, &afl, with_aip)? != static_data {
        return Err(PersoError::invalid(
            "records",
            "ODA records changed after signing",
        ));
    }
    Ok(data)
}

/// FCI Proprietary Template content (EMV Book 1 §11.3.4, Table 45): label,
/// priority, PDOL, language preference, preferred name.
fn fci(app: &ApplicationProfile, pdol: &[u8], profile: &Profile) -> Vec<u8> {
    let mut list = vec![Tlv::primitive(0x50u32, app.label.as_bytes().to_vec())];
    if let Some(p) = app.priority {
        list.push(Tlv::primitive(0x87u32, vec![p]));
    }
    if !pdol.is_empty() {
        list.push(Tlv::primitive(0x9F38u32, pdol.to_vec()));
    }
    list.push(Tlv::primitive(
        0x5F2Du32,
        profile.languages.as_bytes().to_vec(),
    ));
    if let Some(n) = &app.preferred_name {
        list.push(Tlv::primitive(0x9F12u32, n.as_bytes().to_vec()));
    }
    Tlv::encode_all(&list)
}

/// GET DATA objects (EMV Book 3 §6.5.7): ATC `9F36`, Last Online ATC Register
/// `9F13`, PIN Try Counter `9F17` (when the card holds a PIN).
fn get_data_objects(profile: &Profile) -> Vec<u8> {
    let mut list = vec![
        Tlv::primitive(0x9F36u32, vec![0, 0]),
        Tlv::primitive(0x9F13u32, vec![0, 0]),
    ];
    if profile.pin.offline {
        list.push(Tlv::primitive(0x9F17u32, vec![profile.pin.try_limit]));
    }
    Tlv::encode_all(&list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let d = Date::new(2026, 11, 25).unwrap();
        assert_eq!(add_months(d, 36), (2029, 11));
        assert_eq!(add_months(d, 2), (2027, 1));
        assert_eq!(last_day(2028, 2), 29);
        assert_eq!(last_day(2027, 2), 28);
        assert_eq!(last_day(2027, 4), 30);
    }

    #[test]
    fn weak_pins() {
        assert!(weak_pin(&[1, 1, 1, 1]));
        assert!(weak_pin(&[1, 2, 3, 4]));
        assert!(weak_pin(&[9, 0, 1, 2]));
        assert!(weak_pin(&[4, 3, 2, 1]));
        assert!(!weak_pin(&[1, 9, 7, 3]));
    }
}
