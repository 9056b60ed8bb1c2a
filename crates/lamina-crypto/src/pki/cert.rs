//! Issuer (format `02`) and ICC (format `04`) public key certificates
//! (Book 2 §5.1, §5.3, §6.1, §6.3, §6.4; Tables 6, 13, 14, 24).

use rand::CryptoRng;

use super::ca::CaPublicKey;
use super::frame::{self, HASH_LEN, OVERHEAD, PAD};
use super::key::{RsaKeyPair, RsaPublicKey};
use super::types::{CertExpiry, Date, Pan, cn_digits};
use super::{HASH_ALGORITHM_SHA1, PK_ALGORITHM_RSA, PkiError};

const ISSUER: &str = "issuer public key certificate";
const ICC: &str = "ICC public key certificate";
const ICC_PIN: &str = "ICC PIN encipherment public key certificate";

/// Layout of a certificate format.
#[derive(Debug, Clone, Copy)]
struct Layout {
    what: &'static str,
    format: u8,
    /// Issuer Identifier (4) or Application PAN (10).
    id_len: usize,
}

const ISSUER_LAYOUT: Layout = Layout {
    what: ISSUER,
    format: 0x02,
    id_len: 4,
};
const ICC_LAYOUT: Layout = Layout {
    what: ICC,
    format: 0x04,
    id_len: 10,
};
const ICC_PIN_LAYOUT: Layout = Layout {
    what: ICC_PIN,
    format: 0x04,
    id_len: 10,
};

impl Layout {
    /// Fixed fields before the key digits: format, id, expiry (2), serial (3),
    /// hash algorithm, PK algorithm, PK length, exponent length.
    fn fixed(&self) -> usize {
        1 + self.id_len + 2 + 3 + 4
    }
    /// Certificate bytes not available for key digits: 36 (issuer) or 42 (ICC).
    fn overhead(&self) -> usize {
        self.fixed() + OVERHEAD
    }
}

/// A public key certificate with the data a card stores next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyCertificate {
    /// The certificate (tag `90`, `9F46` or `9F2D`), as long as the certifier's modulus.
    pub certificate: Vec<u8>,
    /// Public Key Remainder (tag `92`, `9F48` or `9F2F`); empty when the key fits.
    pub remainder: Vec<u8>,
    /// Public Key Exponent (tag `9F32`, `9F47` or `9F2E`).
    pub exponent: Vec<u8>,
}

/// What the CA certifies for an issuer (Book 2 Table 13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerCertificateContent {
    /// Leftmost 3–8 PAN digits, right-padded with `F` ([`issuer_identifier_from_pan`]).
    pub issuer_identifier: [u8; 4],
    /// Certificate Expiration Date.
    pub expiry: CertExpiry,
    /// Certificate Serial Number, unique per CA.
    pub serial_number: [u8; 3],
    /// The issuer public key; at most as long as the CA key.
    pub public_key: RsaPublicKey,
}

/// What the issuer certifies for a card (Book 2 Table 14 / Table 24).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccCertificateContent {
    /// Application PAN.
    pub pan: Pan,
    /// Certificate Expiration Date.
    pub expiry: CertExpiry,
    /// Certificate Serial Number.
    pub serial_number: [u8; 3],
    /// The ICC (or ICC PIN encipherment) public key; at most as long as the issuer key.
    pub public_key: RsaPublicKey,
}

/// The Issuer Identifier for a PAN: its leftmost `digits` (3..=8) digits,
/// right-padded with `F` (Book 2 Table 13).
pub fn issuer_identifier_from_pan(pan: &Pan, digits: usize) -> Result<[u8; 4], PkiError> {
    if !(3..=8).contains(&digits) {
        return Err(PkiError::Invalid {
            what: "issuer identifier",
            reason: "must take 3..=8 PAN digits",
        });
    }
    let head = pan.digit_values().get(..digits).ok_or(PkiError::Invalid {
        what: "issuer identifier",
        reason: "PAN shorter than requested digits",
    })?;
    let cn = super::types::digits_to_cn(head, 4)?;
    cn.try_into().map_err(|_| PkiError::Invalid {
        what: "issuer identifier",
        reason: "encoding",
    })
}

/// Shared signing: Table 13 / Table 14 data, split key, sign.
#[allow(clippy::too_many_arguments)]
fn certify<R: CryptoRng + ?Sized>(
    layout: Layout,
    signer: &RsaKeyPair,
    rng: &mut R,
    id: &[u8],
    expiry: CertExpiry,
    serial: [u8; 3],
    key: &RsaPublicKey,
    extra: &[u8],
) -> Result<PublicKeyCertificate, PkiError> {
    let k = signer.modulus_len();
    let n = key.modulus_len();
    if n > k {
        return Err(PkiError::KeyLayout {
            what: layout.what,
            reason: "certified key is longer than the certifying key",
        });
    }
    let room = k
        .checked_sub(layout.overhead())
        .ok_or(PkiError::KeyLayout {
            what: layout.what,
            reason: "certifying key too short",
        })?;
    let n_byte = u8::try_from(n).map_err(|_| PkiError::KeyLayout {
        what: layout.what,
        reason: "key too long",
    })?;
    let e_len = u8::try_from(key.exponent().len()).map_err(|_| PkiError::KeyLayout {
        what: layout.what,
        reason: "exponent too long",
    })?;
    let modulus = key.modulus();
    let (left, remainder) = modulus.split_at(n.min(room));

    let mut data = Vec::with_capacity(k - OVERHEAD);
    data.push(layout.format);
    data.extend_from_slice(id);
    data.extend_from_slice(&expiry.to_mmyy());
    data.extend_from_slice(&serial);
    data.extend_from_slice(&[HASH_ALGORITHM_SHA1, PK_ALGORITHM_RSA, n_byte, e_len]);
    data.extend_from_slice(left);
    data.resize(k - OVERHEAD, PAD);

    let certificate = frame::sign(signer, rng, &data, &[remainder, key.exponent(), extra])?;
    Ok(PublicKeyCertificate {
        certificate,
        remainder: remainder.to_vec(),
        exponent: key.exponent().to_vec(),
    })
}

/// Builds an Issuer Public Key Certificate signed by the CA key (Book 2 §5.1, Table 13).
pub(crate) fn certify_issuer<R: CryptoRng + ?Sized>(
    ca: &RsaKeyPair,
    rng: &mut R,
    c: &IssuerCertificateContent,
) -> Result<PublicKeyCertificate, PkiError> {
    certify(
        ISSUER_LAYOUT,
        ca,
        rng,
        &c.issuer_identifier,
        c.expiry,
        c.serial_number,
        &c.public_key,
        &[],
    )
}

/// Builds an ICC Public Key Certificate signed by the issuer key (Book 2 §6.1, Table 14).
///
/// `static_data` is the Static Data to be Authenticated (records named by the
/// AFL, then the data listed in the Static Data Authentication Tag List, i.e. the
/// AIP; Book 3 §10.3 / Book 2 §6.4): the hash covers it.
pub fn certify_icc<R: CryptoRng + ?Sized>(
    issuer: &RsaKeyPair,
    rng: &mut R,
    c: &IccCertificateContent,
    static_data: &[u8],
) -> Result<PublicKeyCertificate, PkiError> {
    let pan = c.pan.to_cn(ICC_LAYOUT.id_len)?;
    certify(
        ICC_LAYOUT,
        issuer,
        rng,
        &pan,
        c.expiry,
        c.serial_number,
        &c.public_key,
        static_data,
    )
}

/// Builds an ICC PIN Encipherment Public Key Certificate (tag `9F2D`, Book 2
/// §7.1, Table 24): the ICC certificate format `04` without static data in the hash.
pub fn certify_icc_pin_encipherment<R: CryptoRng + ?Sized>(
    issuer: &RsaKeyPair,
    rng: &mut R,
    c: &IccCertificateContent,
) -> Result<PublicKeyCertificate, PkiError> {
    let pan = c.pan.to_cn(ICC_PIN_LAYOUT.id_len)?;
    certify(
        ICC_PIN_LAYOUT,
        issuer,
        rng,
        &pan,
        c.expiry,
        c.serial_number,
        &c.public_key,
        &[],
    )
}

/// A certificate recovered with the certifier's key: length, trailer, header and
/// format checked; hash and content not yet verified.
#[derive(Debug, Clone)]
struct RecoveredCert {
    layout: Layout,
    data: Vec<u8>,
    hash: [u8; HASH_LEN],
}

impl RecoveredCert {
    fn recover(layout: Layout, key: &RsaPublicKey, cert: &[u8]) -> Result<Self, PkiError> {
        if key.modulus_len() < layout.overhead() {
            return Err(PkiError::KeyLayout {
                what: layout.what,
                reason: "certifying key too short",
            });
        }
        let f = frame::recover(key, cert, layout.what)?;
        frame::check_format(layout.what, &f.data, layout.format)?;
        Ok(Self {
            layout,
            data: f.data,
            hash: f.hash,
        })
    }

    /// Field at `offset`, `len` bytes (offsets within the recovered data).
    fn field(&self, offset: usize, len: usize) -> &[u8] {
        // recover() ensured data.len() >= fixed(); fields lie inside it
        self.data.get(offset..offset + len).unwrap_or(&[])
    }
    fn id(&self) -> &[u8] {
        self.field(1, self.layout.id_len)
    }
    fn expiry_raw(&self) -> [u8; 2] {
        let f = self.field(1 + self.layout.id_len, 2);
        [
            f.first().copied().unwrap_or(0),
            f.get(1).copied().unwrap_or(0),
        ]
    }
    fn serial(&self) -> [u8; 3] {
        let f = self.field(3 + self.layout.id_len, 3);
        let mut s = [0u8; 3];
        if f.len() == 3 {
            s.copy_from_slice(f);
        }
        s
    }
    fn byte(&self, i: usize) -> u8 {
        self.data
            .get(6 + self.layout.id_len + i)
            .copied()
            .unwrap_or(0)
    }
    fn hash_algorithm(&self) -> u8 {
        self.byte(0)
    }
    fn pk_algorithm(&self) -> u8 {
        self.byte(1)
    }
    fn key_len(&self) -> usize {
        usize::from(self.byte(2))
    }
    fn exponent_len(&self) -> usize {
        usize::from(self.byte(3))
    }
    fn key_digits(&self) -> &[u8] {
        self.data.get(self.layout.fixed()..).unwrap_or(&[])
    }

    /// Hash check (steps 5–7), with `extra` = static data for ICC certificates.
    fn check_hash(&self, remainder: &[u8], exponent: &[u8], extra: &[u8]) -> Result<(), PkiError> {
        frame::check_hash(
            self.layout.what,
            self.hash_algorithm(),
            &self.data,
            &[remainder, exponent, extra],
            &self.hash,
        )
    }

    /// Expiry check (step 9).
    fn check_expiry(&self, today: Date) -> Result<CertExpiry, PkiError> {
        let expiry = CertExpiry::from_mmyy(self.expiry_raw())?;
        if expiry.is_valid_on(today) {
            Ok(expiry)
        } else {
            Err(PkiError::Expired {
                what: self.layout.what,
            })
        }
    }

    /// Algorithm check (step 11) and key reassembly (step 12).
    fn public_key(&self, remainder: &[u8], exponent: &[u8]) -> Result<RsaPublicKey, PkiError> {
        let what = self.layout.what;
        if self.pk_algorithm() != PK_ALGORITHM_RSA {
            return Err(PkiError::PkAlgorithm {
                what,
                got: self.pk_algorithm(),
            });
        }
        if self.exponent_len() != exponent.len() {
            return Err(PkiError::KeyLayout {
                what,
                reason: "exponent length differs from the certificate",
            });
        }
        let n = self.key_len();
        let digits = self.key_digits();
        let modulus = if n <= digits.len() {
            if !remainder.is_empty() {
                return Err(PkiError::KeyLayout {
                    what,
                    reason: "unexpected public key remainder",
                });
            }
            digits.get(..n).unwrap_or(&[]).to_vec()
        } else {
            if digits.len() + remainder.len() != n {
                return Err(PkiError::KeyLayout {
                    what,
                    reason: "public key remainder has the wrong length",
                });
            }
            [digits, remainder].concat()
        };
        RsaPublicKey::new(&modulus, exponent)
    }
}

macro_rules! recovered_accessors {
    () => {
        /// Certificate Expiration Date as recovered (`MMYY`, not yet validated).
        pub fn expiry_bytes(&self) -> [u8; 2] {
            self.0.expiry_raw()
        }
        /// Certificate Serial Number.
        pub fn serial_number(&self) -> [u8; 3] {
            self.0.serial()
        }
        /// Hash Algorithm Indicator.
        pub fn hash_algorithm(&self) -> u8 {
            self.0.hash_algorithm()
        }
        /// Public Key Algorithm Indicator.
        pub fn pk_algorithm(&self) -> u8 {
            self.0.pk_algorithm()
        }
        /// Public Key Length in bytes, as certified.
        pub fn public_key_length(&self) -> usize {
            self.0.key_len()
        }
        /// Public Key Exponent Length, as certified.
        pub fn exponent_length(&self) -> usize {
            self.0.exponent_len()
        }
        /// The public key (or its leftmost digits), including any `BB` padding.
        pub fn public_key_digits(&self) -> &[u8] {
            self.0.key_digits()
        }
        /// The recovered Hash Result.
        pub fn hash_result(&self) -> &[u8; 20] {
            &self.0.hash
        }
    };
}

/// An Issuer Public Key Certificate after recovery (Book 2 §6.3 steps 1–4);
/// call [`verify`](Self::verify) to authenticate it.
#[derive(Debug, Clone)]
pub struct RecoveredIssuerCertificate(RecoveredCert);

impl RecoveredIssuerCertificate {
    /// Issuer Identifier as recovered.
    pub fn issuer_identifier(&self) -> [u8; 4] {
        let mut id = [0u8; 4];
        if let Ok(f) = <[u8; 4]>::try_from(self.0.id()) {
            id = f;
        }
        id
    }
    recovered_accessors!();

    /// Book 2 §6.3 steps 5–12 (§5.3 for SDA): hash over the certificate data ‖
    /// remainder (`92`) ‖ exponent (`9F32`); Issuer Identifier matches the PAN;
    /// not expired on `today`; RSA; modulus = digits ‖ remainder.
    ///
    /// Step 10 (revocation list, optional) is left to the caller, who checks
    /// RID ‖ CA index ‖ [`serial_number`](RecoveredIssuerKey::serial_number).
    pub fn verify(
        &self,
        remainder: &[u8],
        exponent: &[u8],
        pan: &Pan,
        today: Date,
    ) -> Result<RecoveredIssuerKey, PkiError> {
        self.0.check_hash(remainder, exponent, &[])?;
        check_issuer_identifier(self.0.id(), pan)?;
        let expiry = self.0.check_expiry(today)?;
        let public_key = self.0.public_key(remainder, exponent)?;
        Ok(RecoveredIssuerKey {
            public_key,
            issuer_identifier: self.issuer_identifier(),
            expiry,
            serial_number: self.0.serial(),
        })
    }
}

/// Step 8: the Issuer Identifier (3–8 digits, `F`-padded) is a prefix of the PAN.
fn check_issuer_identifier(id: &[u8], pan: &Pan) -> Result<(), PkiError> {
    let digits = cn_digits(id).ok_or(PkiError::IssuerIdentifier)?;
    if !(3..=8).contains(&digits.len()) {
        return Err(PkiError::IssuerIdentifier);
    }
    match pan.digit_values().get(..digits.len()) {
        Some(prefix) if prefix == digits.as_slice() => Ok(()),
        _ => Err(PkiError::IssuerIdentifier),
    }
}

/// An authenticated issuer public key with its certificate's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredIssuerKey {
    /// The issuer public key.
    pub public_key: RsaPublicKey,
    /// Issuer Identifier (`F`-padded PAN prefix).
    pub issuer_identifier: [u8; 4],
    /// Certificate Expiration Date.
    pub expiry: CertExpiry,
    /// Certificate Serial Number (for the terminal's revocation list).
    pub serial_number: [u8; 3],
}

/// Applies the CA public key to an Issuer Public Key Certificate (tag `90`) and
/// checks length, trailer, header and format `02` (Book 2 §6.3 steps 1–4).
pub fn recover_issuer_certificate(
    ca_key: &RsaPublicKey,
    certificate: &[u8],
) -> Result<RecoveredIssuerCertificate, PkiError> {
    RecoveredCert::recover(ISSUER_LAYOUT, ca_key, certificate).map(RecoveredIssuerCertificate)
}

/// Retrieves the issuer public key (Book 2 §5.3 / §6.3, all steps but revocation).
pub fn verify_issuer_certificate(
    ca: &CaPublicKey,
    certificate: &[u8],
    remainder: &[u8],
    exponent: &[u8],
    pan: &Pan,
    today: Date,
) -> Result<RecoveredIssuerKey, PkiError> {
    recover_issuer_certificate(&ca.public_key()?, certificate)?
        .verify(remainder, exponent, pan, today)
}

/// An ICC (or ICC PIN encipherment) Public Key Certificate after recovery
/// (Book 2 §6.4 steps 1–4); call [`verify`](Self::verify) to authenticate it.
#[derive(Debug, Clone)]
pub struct RecoveredIccCertificate(RecoveredCert);

impl RecoveredIccCertificate {
    /// Application PAN field as recovered (10 bytes, `F`-padded).
    pub fn pan_bytes(&self) -> &[u8] {
        self.0.id()
    }
    recovered_accessors!();

    /// Book 2 §6.4 steps 5–11: hash over the certificate data ‖ remainder
    /// (`9F48`) ‖ exponent (`9F47`) ‖ `static_data`; the certified PAN equals the
    /// Application PAN; not expired on `today`; RSA; modulus = digits ‖ remainder.
    ///
    /// For an ICC PIN Encipherment certificate (`9F2D`) pass empty `static_data`.
    pub fn verify(
        &self,
        remainder: &[u8],
        exponent: &[u8],
        pan: &Pan,
        static_data: &[u8],
        today: Date,
    ) -> Result<RecoveredIccKey, PkiError> {
        self.0.check_hash(remainder, exponent, static_data)?;
        match cn_digits(self.0.id()) {
            Some(d) if d.as_slice() == pan.digit_values() => {}
            _ => return Err(PkiError::PanMismatch),
        }
        let expiry = self.0.check_expiry(today)?;
        let public_key = self.0.public_key(remainder, exponent)?;
        Ok(RecoveredIccKey {
            public_key,
            expiry,
            serial_number: self.0.serial(),
        })
    }
}

/// An authenticated ICC public key with its certificate's details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveredIccKey {
    /// The ICC (or ICC PIN encipherment) public key.
    pub public_key: RsaPublicKey,
    /// Certificate Expiration Date.
    pub expiry: CertExpiry,
    /// Certificate Serial Number.
    pub serial_number: [u8; 3],
}

/// Applies the issuer public key to an ICC Public Key Certificate (`9F46`) or an
/// ICC PIN Encipherment Public Key Certificate (`9F2D`) and checks length,
/// trailer, header and format `04` (Book 2 §6.4 steps 1–4).
pub fn recover_icc_certificate(
    issuer_key: &RsaPublicKey,
    certificate: &[u8],
) -> Result<RecoveredIccCertificate, PkiError> {
    RecoveredCert::recover(ICC_LAYOUT, issuer_key, certificate).map(RecoveredIccCertificate)
}

/// Retrieves the ICC public key (Book 2 §6.4); `static_data` as for [`certify_icc`].
pub fn verify_icc_certificate(
    issuer_key: &RsaPublicKey,
    certificate: &[u8],
    remainder: &[u8],
    exponent: &[u8],
    pan: &Pan,
    static_data: &[u8],
    today: Date,
) -> Result<RecoveredIccKey, PkiError> {
    recover_icc_certificate(issuer_key, certificate)?.verify(
        remainder,
        exponent,
        pan,
        static_data,
        today,
    )
}

/// Retrieves the ICC PIN Encipherment public key (tags `9F2D`, `9F2F`, `9F2E`;
/// Book 2 §7.1): as [`verify_icc_certificate`] without static data.
pub fn verify_icc_pin_encipherment_certificate(
    issuer_key: &RsaPublicKey,
    certificate: &[u8],
    remainder: &[u8],
    exponent: &[u8],
    pan: &Pan,
    today: Date,
) -> Result<RecoveredIccKey, PkiError> {
    RecoveredCert::recover(ICC_PIN_LAYOUT, issuer_key, certificate)
        .map(RecoveredIccCertificate)?
        .verify(remainder, exponent, pan, &[], today)
}
