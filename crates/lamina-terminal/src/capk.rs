//! The terminal's Certification Authority public key store (EMV Book 2 §11.2,
//! Table 23) and certificate revocation list (Book 2 §5.3 step 10, §6.3 step 10).
//!
//! CAPK file format (TOML, one `[[capk]]` table per key): the bureau's format
//! (`lamina_perso::issuer::CapkFile`, written by `lamina issuer`), read here
//! without depending on the bureau crate:
//!
//! ```toml
//! [[capk]]
//! rid = "A000000999"        # Registered Application Provider Identifier (5 bytes)
//! index = "F1"              # CA Public Key Index (tag 8F)
//! modulus = "C2...."        # N_CA bytes
//! exponent = "03"           # 03 or 010001
//! checksum = "1A2B...."     # SHA-1 over RID ‖ index ‖ modulus ‖ exponent (20 bytes)
//! expiry = "2035-12-31"     # last day the key may be used
//! hash_algorithm = 1        # optional, 01 = SHA-1 (the only one defined)
//! pk_algorithm = 1          # optional, 01 = RSA
//! ```
//!
//! Every key's checksum is verified on load; a wrong checksum refuses the file.

use lamina_crypto::pki::{CaPublicKey, Date, HASH_ALGORITHM_SHA1, PK_ALGORITHM_RSA};
use serde::Deserialize;

use crate::config::{ConfigError, hex_any, hex_n};

/// A revoked issuer public key certificate: RID, CA index and certificate serial
/// number (Book 2 §5.3 step 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevokedCertificate {
    /// RID.
    pub rid: [u8; 5],
    /// CA Public Key Index.
    pub ca_index: u8,
    /// Issuer certificate serial number.
    pub serial: [u8; 3],
}

/// The CA public keys a terminal holds.
#[derive(Debug, Clone, Default)]
pub struct CapkStore {
    keys: Vec<CaPublicKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    capk: Vec<RawKey>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKey {
    rid: String,
    index: String,
    modulus: String,
    exponent: String,
    checksum: String,
    expiry: String,
    #[serde(default = "one")]
    hash_algorithm: u8,
    #[serde(default = "one")]
    pk_algorithm: u8,
}

fn one() -> u8 {
    1
}

fn parse_date(name: &str, s: &str) -> Result<Date, ConfigError> {
    let bad = || ConfigError::Field {
        field: name.to_owned(),
        reason: "expected a date YYYY-MM-DD".to_owned(),
    };
    let mut it = s.split('-');
    let (Some(y), Some(m), Some(d), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(bad());
    };
    let (y, m, d) = (
        y.parse::<u16>().map_err(|_| bad())?,
        m.parse::<u8>().map_err(|_| bad())?,
        d.parse::<u8>().map_err(|_| bad())?,
    );
    Date::new(y, m, d).map_err(|_| bad())
}

impl CapkStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a CAPK file (format in the module documentation), verifying checksums.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| ConfigError::Toml(e.to_string()))?;
        let mut store = CapkStore::new();
        for (i, k) in raw.capk.iter().enumerate() {
            let name = format!("capk[{i}]");
            let key = CaPublicKey {
                rid: hex_n::<5>(&format!("{name}.rid"), &k.rid)?,
                index: hex_n::<1>(&format!("{name}.index"), &k.index)?[0],
                modulus: hex_any(&format!("{name}.modulus"), &k.modulus)?,
                exponent: hex_any(&format!("{name}.exponent"), &k.exponent)?,
                expiry: parse_date(&format!("{name}.expiry"), &k.expiry)?,
                hash_algorithm: k.hash_algorithm,
                pk_algorithm: k.pk_algorithm,
            };
            if key.hash_algorithm != HASH_ALGORITHM_SHA1 || key.pk_algorithm != PK_ALGORITHM_RSA {
                return Err(ConfigError::Field {
                    field: name,
                    reason: "only SHA-1 (01) and RSA (01) are defined (Book 2 Annex B2)".into(),
                });
            }
            let checksum = hex_any(&format!("{name}.checksum"), &k.checksum)?;
            key.verify_checksum(&checksum)
                .map_err(|e| ConfigError::Field {
                    field: format!("{name}.checksum"),
                    reason: e.to_string(),
                })?;
            key.public_key().map_err(|e| ConfigError::Field {
                field: format!("{name}.modulus"),
                reason: e.to_string(),
            })?;
            store.add(key);
        }
        Ok(store)
    }

    /// Writes the store in the CAPK file format.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        for k in &self.keys {
            out.push_str(&format!(
                "[[capk]]\nrid = \"{}\"\nindex = \"{:02X}\"\nmodulus = \"{}\"\nexponent = \"{}\"\nchecksum = \"{}\"\nexpiry = \"{:04}-{:02}-{:02}\"\nhash_algorithm = {}\npk_algorithm = {}\n\n",
                hex::encode_upper(k.rid),
                k.index,
                hex::encode_upper(&k.modulus),
                hex::encode_upper(&k.exponent),
                hex::encode_upper(k.checksum()),
                k.expiry.year(),
                k.expiry.month(),
                k.expiry.day(),
                k.hash_algorithm,
                k.pk_algorithm
            ));
        }
        out
    }

    /// Adds (or replaces) a key.
    pub fn add(&mut self, key: CaPublicKey) {
        self.keys
            .retain(|k| !(k.rid == key.rid && k.index == key.index));
        self.keys.push(key);
    }

    /// The key for RID and index (Book 2 §5.1: the terminal uses RID ‖ `8F`).
    pub fn get(&self, rid: &[u8], index: u8) -> Option<&CaPublicKey> {
        self.keys.iter().find(|k| k.rid == rid && k.index == index)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}
