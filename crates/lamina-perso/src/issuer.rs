//! Scheme CA and issuer set-up (`lamina issuer init`).
//!
//! An issuer directory holds three files:
//!
//! | file | content | secret |
//! |---|---|---|
//! | `capk.toml` | the test CA public key as terminals load it ([`CapkFile`]) | no |
//! | `issuer.toml` | issuer public data: Issuer Public Key Certificate `90`, remainder `92`, exponent `9F32`, CA index `8F`, KCVs ([`IssuerPublic`]) | no |
//! | `keystore.json` | the private keys ([`crate::keystore`]), mode 0600 | yes |
//!
//! The CA is a *test* CA under the RID [`TEST_RID`] (`F04C414D49`: ISO/IEC 7816-5
//! category `F`, proprietary and unregistered — the Lamina test scheme, as in
//! the terminal's `terminals/*.toml`); its key certifies the issuer key with an Issuer Public Key
//! Certificate, format `02` (EMV Book 2 §5.1, Table 13).

use std::path::Path;

use lamina_crypto::pki::{
    CaKeyPair, CaPublicKey, CertExpiry, Date, IssuerCertificateContent, Pan, PublicExponent,
    RsaKeyPair, issuer_identifier_from_pan,
};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::keystore::{self, IssuerKeys, Kcv, Protection};
use crate::util::{self, hex_bytes};
use crate::{PersoError, Result};

/// The Lamina test scheme RID `F04C414D49` (`F0` ‖ "LAMI"): ISO/IEC 7816-5
/// category `F` (proprietary, not registered), never a real scheme's RID.
pub const TEST_RID: [u8; 5] = [0xF0, 0x4C, 0x41, 0x4D, 0x49];

/// File names inside an issuer directory.
pub const CAPK_FILE: &str = "capk.toml";
/// Issuer public data file.
pub const ISSUER_FILE: &str = "issuer.toml";
/// Key store file.
pub const KEYSTORE_FILE: &str = "keystore.json";

/// One CA public key entry of a CAPK file (EMV Book 2 §11.2, Table 23).
///
/// ```toml
/// [[capk]]
/// rid = "F04C414D49"          # Registered Application Provider Identifier
/// index = "F1"                # CA Public Key Index (tag 8F on the card)
/// modulus = "C5…"             # CA Public Key Modulus, hex
/// exponent = "03"             # CA Public Key Exponent (03 or 010001)
/// checksum = "1A2B…"          # SHA-1 over RID ‖ index ‖ modulus ‖ exponent
/// expiry = "2031-12-31"       # last day the key may be used
/// hash_algorithm = 1          # 01 = SHA-1
/// pk_algorithm = 1            # 01 = RSA
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapkEntry {
    /// RID, 5 bytes hex.
    pub rid: String,
    /// CA Public Key Index, 1 byte hex.
    pub index: String,
    /// Modulus, hex.
    pub modulus: String,
    /// Exponent, hex.
    pub exponent: String,
    /// Check sum, 20 bytes hex.
    pub checksum: String,
    /// Expiry date `YYYY-MM-DD`.
    pub expiry: String,
    /// Hash algorithm indicator.
    pub hash_algorithm: u8,
    /// Public key algorithm indicator.
    pub pk_algorithm: u8,
}

/// A CAPK file: the CA public keys a terminal trusts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapkFile {
    /// Entries.
    pub capk: Vec<CapkEntry>,
}

fn bad(file: &str, reason: impl Into<String>) -> PersoError {
    PersoError::File {
        file: file.into(),
        reason: reason.into(),
    }
}

fn parse_date(file: &str, s: &str) -> Result<Date> {
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad(file, format!("date {s:?} is not YYYY-MM-DD")));
    };
    let y: u16 = y.parse().map_err(|_| bad(file, "bad year"))?;
    let m: u8 = m.parse().map_err(|_| bad(file, "bad month"))?;
    let d: u8 = d.parse().map_err(|_| bad(file, "bad day"))?;
    Date::new(y, m, d).map_err(|e| bad(file, e.to_string()))
}

fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
}

impl CapkEntry {
    /// From a CA public key (computes the check sum).
    pub fn from_key(k: &CaPublicKey) -> Self {
        CapkEntry {
            rid: hex::encode_upper(k.rid),
            index: format!("{:02X}", k.index),
            modulus: hex::encode_upper(&k.modulus),
            exponent: hex::encode_upper(&k.exponent),
            checksum: hex::encode_upper(k.checksum()),
            expiry: fmt_date(k.expiry),
            hash_algorithm: k.hash_algorithm,
            pk_algorithm: k.pk_algorithm,
        }
    }

    /// The CA public key, after checking the encoding and the check sum.
    pub fn to_key(&self) -> Result<CaPublicKey> {
        const F: &str = CAPK_FILE;
        let h =
            |s: &str, what: &str| hex::decode(s).map_err(|_| bad(F, format!("{what}: not hex")));
        let rid: [u8; 5] = h(&self.rid, "rid")?
            .try_into()
            .map_err(|_| bad(F, "rid must be 5 bytes"))?;
        let index = match h(&self.index, "index")?.as_slice() {
            [i] => *i,
            _ => return Err(bad(F, "index must be 1 byte")),
        };
        let key = CaPublicKey {
            rid,
            index,
            modulus: h(&self.modulus, "modulus")?,
            exponent: h(&self.exponent, "exponent")?,
            expiry: parse_date(F, &self.expiry)?,
            hash_algorithm: self.hash_algorithm,
            pk_algorithm: self.pk_algorithm,
        };
        key.verify_checksum(&h(&self.checksum, "checksum")?)
            .map_err(|_| {
                bad(
                    F,
                    format!(
                        "check sum mismatch for RID {} index {}",
                        self.rid, self.index
                    ),
                )
            })?;
        key.public_key()?;
        Ok(key)
    }
}

impl CapkFile {
    /// Parses a CAPK TOML file.
    pub fn from_toml(text: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| bad(CAPK_FILE, e.to_string()))
    }
    /// The file as TOML text with a header comment.
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string(self).map_err(|e| bad(CAPK_FILE, e.to_string()))?;
        Ok(format!(
            "# Lamina CAPK file: Certification Authority public keys for terminals\n\
             # (EMV Book 2 §11.2, Table 23). checksum = SHA-1(RID ‖ index ‖ modulus ‖ exponent).\n\
             # TEST KEYS of the Lamina test scheme (RID F04C414D49, unregistered): never for production.\n\n{body}"
        ))
    }
    /// All keys, each checked.
    pub fn keys(&self) -> Result<Vec<CaPublicKey>> {
        self.capk.iter().map(CapkEntry::to_key).collect()
    }
    /// The key for `rid` and `index`.
    pub fn find(&self, rid: [u8; 5], index: u8) -> Result<CaPublicKey> {
        for k in self.keys()? {
            if k.rid == rid && k.index == index {
                return Ok(k);
            }
        }
        Err(bad(
            CAPK_FILE,
            format!(
                "no key for RID {} index {index:02X}",
                hex::encode_upper(rid)
            ),
        ))
    }
}

/// The issuer's public data (`issuer.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerPublic {
    /// Issuer name.
    pub name: String,
    /// RID of the CA that certified the issuer key.
    #[serde(with = "hex_bytes")]
    pub rid: Vec<u8>,
    /// CA Public Key Index `8F`.
    pub ca_index: u8,
    /// Issuer Identifier digits (leftmost 3..=8 PAN digits); every BIN issued
    /// under this key must start with them.
    pub issuer_identifier: String,
    /// Issuer Public Key Certificate `90`.
    #[serde(with = "hex_bytes")]
    pub certificate: Vec<u8>,
    /// Issuer Public Key Remainder `92` (may be empty).
    #[serde(with = "hex_bytes")]
    pub remainder: Vec<u8>,
    /// Issuer Public Key Exponent `9F32`.
    #[serde(with = "hex_bytes")]
    pub exponent: Vec<u8>,
    /// Issuer public key modulus (for reference; terminals recover it from `90`).
    #[serde(with = "hex_bytes")]
    pub modulus: Vec<u8>,
    /// Certificate expiry `MM/YY`.
    pub certificate_expiry: String,
    /// Certificate serial number.
    #[serde(with = "hex_bytes")]
    pub serial_number: Vec<u8>,
}

/// Options for [`init`].
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Issuer name.
    pub name: String,
    /// RID of the test CA.
    pub rid: [u8; 5],
    /// CA Public Key Index.
    pub ca_index: u8,
    /// CA key bits (≥ issuer key bits).
    pub ca_bits: usize,
    /// Issuer key bits (≥ ICC key bits of the profiles used).
    pub issuer_bits: usize,
    /// Issuer Identifier digits (3..=8).
    pub issuer_identifier: String,
    /// Today (for expiry dates).
    pub today: Date,
}

impl InitOptions {
    /// Defaults: test RID, index `F1`, 1408-bit CA, 1152-bit issuer key,
    /// issuer identifier `9999`.
    pub fn new(today: Date) -> Self {
        InitOptions {
            name: "Lamina Test Bank".into(),
            rid: TEST_RID,
            ca_index: 0xF1,
            ca_bits: 1408,
            issuer_bits: 1152,
            issuer_identifier: "9999".into(),
            today,
        }
    }
}

/// An issuer loaded with its private keys.
#[derive(Debug, Clone)]
pub struct Issuer {
    /// Public data.
    pub public: IssuerPublic,
    /// The CA public key (from the CAPK file).
    pub ca: CaPublicKey,
    /// Secret keys.
    pub keys: IssuerKeys,
    /// The issuer RSA key pair (rebuilt from the key store).
    pub issuer_key: RsaKeyPair,
}

/// Generates the test CA, the issuer key, its certificate and the master keys.
pub fn init<R: CryptoRng + ?Sized>(rng: &mut R, opts: &InitOptions) -> Result<Issuer> {
    let id = &opts.issuer_identifier;
    if !(3..=8).contains(&id.len()) || !id.bytes().all(|c| c.is_ascii_digit()) {
        return Err(PersoError::invalid(
            "issuer identifier",
            "must be 3..=8 digits",
        ));
    }
    if opts.issuer_bits > opts.ca_bits {
        return Err(PersoError::invalid(
            "issuer key size",
            "must not exceed the CA key size",
        ));
    }
    let ca_expiry = Date::new(opts.today.year().saturating_add(10), 12, 31)?;
    let ca = CaKeyPair::generate(
        rng,
        opts.rid,
        opts.ca_index,
        opts.ca_bits,
        PublicExponent::Three,
        ca_expiry,
    )?;
    let issuer_key = RsaKeyPair::generate(rng, opts.issuer_bits, PublicExponent::Three)?;
    // a PAN-like digit string starting with the identifier, for the encoding helper
    let probe = format!("{id:0<12}");
    let issuer_identifier = issuer_identifier_from_pan(&Pan::from_digits(&probe)?, id.len())?;
    let mut serial = [0u8; 3];
    rng.fill_bytes(&mut serial);
    let expiry = CertExpiry::new(12, opts.today.year().saturating_add(8))?;
    let cert = ca.certify_issuer(
        rng,
        &IssuerCertificateContent {
            issuer_identifier,
            expiry,
            serial_number: serial,
            public_key: issuer_key.public_key().clone(),
        },
    )?;
    let keys = IssuerKeys::generate(rng, ca.key(), &issuer_key)?;
    let public = IssuerPublic {
        name: opts.name.clone(),
        rid: opts.rid.to_vec(),
        ca_index: opts.ca_index,
        issuer_identifier: id.clone(),
        certificate: cert.certificate,
        remainder: cert.remainder,
        exponent: cert.exponent,
        modulus: issuer_key.public_key().modulus().to_vec(),
        certificate_expiry: format!("{:02}/{:02}", expiry.month(), expiry.year() % 100),
        serial_number: serial.to_vec(),
    };
    Ok(Issuer {
        public,
        ca: ca.public_key(),
        keys,
        issuer_key,
    })
}

impl Issuer {
    /// Writes `capk.toml`, `issuer.toml` and `keystore.json` (mode 0600) into `dir`.
    pub fn save<R: CryptoRng + ?Sized>(
        &self,
        dir: &Path,
        protection: &Protection,
        rng: &mut R,
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| PersoError::io(dir, e))?;
        let capk = CapkFile {
            capk: vec![CapkEntry::from_key(&self.ca)],
        };
        util::write_public(&dir.join(CAPK_FILE), capk.to_toml()?.as_bytes())?;
        let issuer = toml::to_string(&self.public).map_err(|e| bad(ISSUER_FILE, e.to_string()))?;
        util::write_public(
            &dir.join(ISSUER_FILE),
            format!("# Lamina issuer public data (EMV Book 2 §5.1 Table 13: tags 90, 92, 9F32, 8F)\n\n{issuer}").as_bytes(),
        )?;
        let ks = keystore::seal(&self.keys, protection, rng)?;
        util::write_private(&dir.join(KEYSTORE_FILE), &ks)
    }

    /// Loads an issuer directory; `passphrase` opens an encrypted key store.
    pub fn open(dir: &Path, passphrase: Option<&str>) -> Result<Issuer> {
        let text = |f: &str| -> Result<String> {
            let p = dir.join(f);
            std::fs::read_to_string(&p).map_err(|e| PersoError::io(&p, e))
        };
        let public: IssuerPublic =
            toml::from_str(&text(ISSUER_FILE)?).map_err(|e| bad(ISSUER_FILE, e.to_string()))?;
        let rid: [u8; 5] = public
            .rid
            .as_slice()
            .try_into()
            .map_err(|_| bad(ISSUER_FILE, "rid must be 5 bytes"))?;
        let ca = CapkFile::from_toml(&text(CAPK_FILE)?)?.find(rid, public.ca_index)?;
        let keys = keystore::open(&util::read(&dir.join(KEYSTORE_FILE))?, passphrase)?;
        let issuer_key = keys.issuer_key.to_key()?;
        if issuer_key.public_key().modulus() != public.modulus.as_slice() {
            return Err(bad(KEYSTORE_FILE, "issuer key does not match issuer.toml"));
        }
        Ok(Issuer {
            public,
            ca,
            keys,
            issuer_key,
        })
    }

    /// Loads an issuer directory with the passphrase from
    /// [`keystore::PASSPHRASE_ENV`] (if set).
    pub fn open_with_env(dir: &Path) -> Result<Issuer> {
        let pass = keystore::passphrase_from_env();
        Self::open(dir, pass.as_ref().map(|p| p.as_str()))
    }

    /// Key check values of all keys.
    pub fn kcvs(&self) -> Result<Vec<Kcv>> {
        self.keys.kcvs()
    }
}
