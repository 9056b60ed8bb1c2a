//! The host's secret keys and the PAN vault.
//!
//! * PAN protection (PCI DSS v4.0 req. 3.5.1: PAN unreadable wherever stored): the card
//!   table holds `HMAC-SHA256(K_lookup, PAN)` for lookup (a keyed hash, req. 3.5.1.1) and
//!   `nonce ‖ AES-256-GCM(K_enc, PAN)` (NIST SP 800-38D, 96-bit random nonce) for the rare
//!   cases the clear PAN is needed; never the plain PAN.
//! * Issuer master keys for application cryptograms (IMK-AC), secure messaging (IMK-SMI,
//!   IMK-SMC) by named key set (EMV Book 2 A1.4: the ICC master keys are derived from these
//!   per card at authorization time, never stored).
//! * The acquirer's DUKPT base derivation key and the PIN verification key (ANSI X9.24-1,
//!   ISO 9564 / Visa PVV).
//!
//! Keys are loaded from a JSON key file (hex values) kept apart from the database. Every
//! key prints as `REDACTED`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, KeyInit, Mac};
use lamina_crypto::sym::SecretKey;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{HostError, Result};

/// One issuer master key set (TDES or AES, hex in the key file).
#[derive(Clone, Serialize, Deserialize)]
pub struct IssuerKeySet {
    /// Issuer master key for application cryptograms (IMK-AC).
    pub imk_ac: String,
    /// Issuer master key for secure messaging integrity (IMK-SMI), for issuer scripts.
    #[serde(default)]
    pub imk_smi: Option<String>,
    /// Issuer master key for secure messaging confidentiality (IMK-SMC).
    #[serde(default)]
    pub imk_smc: Option<String>,
}

impl fmt::Debug for IssuerKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IssuerKeySet(REDACTED)")
    }
}

/// The key file's JSON form.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyFile {
    /// 32-byte HMAC key for PAN lookup hashes (hex).
    pub pan_lookup: String,
    /// 32-byte AES-256-GCM key for PAN encryption (hex).
    pub pan_encryption: String,
    /// Issuer master key sets by name (the card's `key_ref`).
    pub issuer: BTreeMap<String, IssuerKeySet>,
    /// Acquirer TDES DUKPT base derivation key (hex), for online PIN.
    #[serde(default)]
    pub bdk: Option<String>,
    /// PIN verification key (TDES, hex) for PVV / IBM 3624 offsets.
    #[serde(default)]
    pub pvk: Option<String>,
    /// Back-office API bearer tokens: admin role.
    #[serde(default)]
    pub admin_tokens: Vec<String>,
    /// Back-office API bearer tokens: read-only role.
    #[serde(default)]
    pub read_tokens: Vec<String>,
}

impl fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyFile(REDACTED)")
    }
}

/// Loaded, parsed host keys.
pub struct HostKeys {
    pan_lookup: Zeroizing<Vec<u8>>,
    pan_cipher: Aes256Gcm,
    issuer: BTreeMap<String, IssuerKeys>,
    bdk: Option<SecretKey>,
    pvk: Option<SecretKey>,
    admin_tokens: Vec<Zeroizing<String>>,
    read_tokens: Vec<Zeroizing<String>>,
}

/// Parsed issuer master keys of one key set.
#[derive(Debug, Clone)]
pub struct IssuerKeys {
    /// IMK-AC.
    pub imk_ac: SecretKey,
    /// IMK-SMI.
    pub imk_smi: Option<SecretKey>,
    /// IMK-SMC.
    pub imk_smc: Option<SecretKey>,
}

impl fmt::Debug for HostKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostKeys")
            .field("pan_lookup", &"REDACTED")
            .field("pan_encryption", &"REDACTED")
            .field("issuer_key_sets", &self.issuer.keys().collect::<Vec<_>>())
            .field("bdk", &self.bdk.as_ref().map(|_| "REDACTED"))
            .field("pvk", &self.pvk.as_ref().map(|_| "REDACTED"))
            .finish()
    }
}

/// Role of a back-office API caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May read and change (block cards, queue scripts, settle).
    Admin,
    /// May only read.
    ReadOnly,
}

fn key_hex(what: &'static str, s: &str, lens: &[usize]) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = Zeroizing::new(
        hex::decode(s.trim()).map_err(|_| HostError::Config(format!("{what}: not hex")))?,
    );
    if !lens.contains(&bytes.len()) {
        return Err(HostError::Config(format!(
            "{what}: {} bytes, expected one of {lens:?}",
            bytes.len()
        )));
    }
    Ok(bytes)
}

impl HostKeys {
    /// Parses a key file's contents.
    pub fn from_file(file: &KeyFile) -> Result<Self> {
        let pan_lookup = key_hex("pan_lookup", &file.pan_lookup, &[32])?;
        let enc = key_hex("pan_encryption", &file.pan_encryption, &[32])?;
        let pan_cipher = Aes256Gcm::new_from_slice(&enc)
            .map_err(|_| HostError::Config("pan_encryption: bad key".into()))?;
        let mut issuer = BTreeMap::new();
        for (name, set) in &file.issuer {
            let opt = |v: &Option<String>| -> Result<Option<SecretKey>> {
                v.as_deref()
                    .map(|h| {
                        key_hex("issuer key", h, &[16, 24, 32]).map(|k| SecretKey::new(k.to_vec()))
                    })
                    .transpose()
            };
            issuer.insert(
                name.clone(),
                IssuerKeys {
                    imk_ac: SecretKey::new(key_hex("imk_ac", &set.imk_ac, &[16, 24, 32])?.to_vec()),
                    imk_smi: opt(&set.imk_smi)?,
                    imk_smc: opt(&set.imk_smc)?,
                },
            );
        }
        let tdes = |what, v: &Option<String>| -> Result<Option<SecretKey>> {
            v.as_deref()
                .map(|h| key_hex(what, h, &[16, 24]).map(|k| SecretKey::new(k.to_vec())))
                .transpose()
        };
        Ok(HostKeys {
            pan_lookup,
            pan_cipher,
            issuer,
            bdk: tdes("bdk", &file.bdk)?,
            pvk: tdes("pvk", &file.pvk)?,
            admin_tokens: file
                .admin_tokens
                .iter()
                .map(|t| Zeroizing::new(t.clone()))
                .collect(),
            read_tokens: file
                .read_tokens
                .iter()
                .map(|t| Zeroizing::new(t.clone()))
                .collect(),
        })
    }

    /// Reads and parses a JSON key file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            HostError::Config(format!(
                "cannot read key file {}: {e} (create one with `lamina host init-keys --out {}`)",
                path.display(),
                path.display()
            ))
        })?);
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
            HostError::Config(format!(
                "key file {} is not valid JSON: {e}",
                path.display()
            ))
        })?;
        Self::from_file(&file)
    }

    /// A new key file with random PAN keys, one random TDES issuer key set named
    /// `default`, a random BDK and PVK, and one random admin and one read-only token.
    pub fn generate_file() -> KeyFile {
        let rand_hex = |n: usize| {
            let mut b = Zeroizing::new(vec![0u8; n]);
            rand::fill(&mut b[..]);
            hex::encode_upper(&b[..])
        };
        let mut issuer = BTreeMap::new();
        issuer.insert(
            "default".to_owned(),
            IssuerKeySet {
                imk_ac: rand_hex(16),
                imk_smi: Some(rand_hex(16)),
                imk_smc: Some(rand_hex(16)),
            },
        );
        KeyFile {
            pan_lookup: rand_hex(32),
            pan_encryption: rand_hex(32),
            issuer,
            bdk: Some(rand_hex(16)),
            pvk: Some(rand_hex(16)),
            admin_tokens: vec![rand_hex(16).to_lowercase()],
            read_tokens: vec![rand_hex(16).to_lowercase()],
        }
    }

    /// Keyed lookup hash of a PAN: hex `HMAC-SHA256(K_lookup, PAN)`.
    pub fn pan_hash(&self, pan: &str) -> Result<String> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.pan_lookup)
            .map_err(|_| HostError::Crypto("HMAC key".into()))?;
        mac.update(pan.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    /// Encrypts a PAN: hex `nonce(12) ‖ ciphertext ‖ tag(16)`, the PAN hash as associated
    /// data is not needed since the row binds both.
    pub fn encrypt_pan(&self, pan: &str) -> Result<String> {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let ct = self
            .pan_cipher
            .encrypt(&Nonce::from(nonce), pan.as_bytes())
            .map_err(|_| HostError::Crypto("PAN encryption".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(hex::encode(out))
    }

    /// Decrypts a PAN encrypted by [`HostKeys::encrypt_pan`].
    pub fn decrypt_pan(&self, enc: &str) -> Result<Zeroizing<String>> {
        let raw = hex::decode(enc).map_err(|_| HostError::Corrupt("encrypted PAN".into()))?;
        let (nonce, ct) = raw
            .split_first_chunk::<12>()
            .ok_or_else(|| HostError::Corrupt("encrypted PAN".into()))?;
        let pt = Zeroizing::new(
            self.pan_cipher
                .decrypt(&Nonce::from(*nonce), ct)
                .map_err(|_| HostError::Crypto("PAN decryption (wrong key or tampered)".into()))?,
        );
        String::from_utf8(pt.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| HostError::Corrupt("encrypted PAN".into()))
    }

    /// The issuer key set named `name`.
    pub fn issuer(&self, name: &str) -> Option<&IssuerKeys> {
        self.issuer.get(name)
    }

    /// The acquirer DUKPT BDK, if configured.
    pub fn bdk(&self) -> Option<&SecretKey> {
        self.bdk.as_ref()
    }

    /// The PIN verification key, if configured.
    pub fn pvk(&self) -> Option<&SecretKey> {
        self.pvk.as_ref()
    }

    /// The role of a bearer token, compared in constant time.
    pub fn role_of(&self, token: &str) -> Option<Role> {
        let eq = |t: &Zeroizing<String>| lamina_crypto::sym::ct_eq(t.as_bytes(), token.as_bytes());
        if self.admin_tokens.iter().any(eq) {
            Some(Role::Admin)
        } else if self.read_tokens.iter().any(eq) {
            Some(Role::ReadOnly)
        } else {
            None
        }
    }
}

/// Masks a PAN as first six ‖ `*` ‖ last four (PCI DSS v4.0 req. 3.4.1).
pub fn mask_pan(pan: &str) -> String {
    lamina_iso8583::mask_pan(pan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pan_vault_round_trip_and_redaction() {
        let file = HostKeys::generate_file();
        let keys = HostKeys::from_file(&file).unwrap();
        let pan = "5413330089600010";
        let h1 = keys.pan_hash(pan).unwrap();
        assert_eq!(h1, keys.pan_hash(pan).unwrap());
        assert_ne!(h1, keys.pan_hash("5413330089600028").unwrap());
        let e1 = keys.encrypt_pan(pan).unwrap();
        let e2 = keys.encrypt_pan(pan).unwrap();
        assert_ne!(e1, e2, "random nonce");
        assert!(!e1.contains("5413330089600010"));
        assert_eq!(keys.decrypt_pan(&e1).unwrap().as_str(), pan);
        // Tampering is detected.
        let mut bad = hex::decode(&e1).unwrap();
        *bad.last_mut().unwrap() ^= 1;
        assert!(keys.decrypt_pan(&hex::encode(bad)).is_err());
        assert!(keys.decrypt_pan("00").is_err());
        let dbg = format!("{keys:?} {file:?}");
        assert!(dbg.contains("REDACTED"));
        assert!(!dbg.contains(&file.pan_lookup));
        assert_eq!(mask_pan(pan), "541333******0010");
    }

    #[test]
    fn hmac_matches_rfc4231_case2() {
        // RFC 4231 §4.3 test case 2 (key "Jefe"), checked through the same HMAC type.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tokens_and_bad_files() {
        let mut file = HostKeys::generate_file();
        let keys = HostKeys::from_file(&file).unwrap();
        assert_eq!(keys.role_of(&file.admin_tokens[0]), Some(Role::Admin));
        assert_eq!(keys.role_of(&file.read_tokens[0]), Some(Role::ReadOnly));
        assert_eq!(keys.role_of("nope"), None);
        file.pan_lookup = "zz".into();
        assert!(HostKeys::from_file(&file).is_err());
    }
}
