//! Issuance records: how the bureau registers each card and its account with
//! the issuer's host.
//!
//! The host's store comes later; until then [`ManifestWriter`] appends one JSON
//! object per line (`manifest.jsonl`) that the host imports. The host plugs in
//! by implementing [`IssuanceSink`] over its database.
//!
//! A record never holds the clear PAN: it carries
//! * `pan_token`: AES-CMAC (NIST SP 800-38B) of the PAN under the issuer's PAN
//!   token key — a keyed hash the host uses as a lookup key (unlike a plain hash
//!   it cannot be brute-forced over the ~10⁹ PANs of a BIN without the key);
//! * `pan_encrypted`: AES-256-GCM (SP 800-38D) of the PAN under the PAN
//!   encryption key, hex `nonce(12) ‖ ciphertext ‖ tag(16)`, no associated
//!   data — the layout of `lamina-host`'s `HostKeys::encrypt_pan`, so a host
//!   whose key file shares the key (`lamina issuer export-host-keys`,
//!   [`host_key_file`]) decrypts it with its own code;
//! * `pan_masked`: `999900******0010` for display.
//!
//! The other fields follow the host's card-issuance request (`psn`, `expiry`
//! YYMM, `account_id`, `cvn`, `key_ref`, `pvki`, `pvv`, `pin_try_limit`); the
//! host creates the account (`account_type`, `limits`) first, then the card.

use std::io::Write;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::keystore::IssuerKeys;
use crate::{PersoError, Result};

/// Schema identifier carried by every record.
pub const RECORD_SCHEMA: &str = "lamina-issuance-record/1";

/// Limits the host enforces or the card was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// ISO 4217 numeric currency.
    pub currency: u16,
    /// Currency exponent.
    pub currency_exponent: u8,
    /// Credit limit (credit products), minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limit: Option<u64>,
    /// Initial balance (prepaid products), minor units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_balance: Option<u64>,
    /// Card's cumulative offline amount limit.
    pub cumulative_offline_limit: u64,
    /// Card's cumulative offline amount upper limit.
    pub cumulative_offline_upper_limit: u64,
    /// Lower consecutive offline limit.
    pub lcol: u8,
    /// Upper consecutive offline limit.
    pub ucol: u8,
}

/// One card as registered with the issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceRecord {
    /// Always [`RECORD_SCHEMA`].
    pub schema: String,
    /// Card identifier.
    pub card_id: String,
    /// Keyed PAN token (hex).
    pub pan_token: String,
    /// Encrypted PAN (hex nonce ‖ ciphertext ‖ tag).
    pub pan_encrypted: String,
    /// Masked PAN.
    pub pan_masked: String,
    /// PAN Sequence Number.
    pub psn: u8,
    /// Expiry `YYMM`.
    pub expiry: String,
    /// Effective date `YYMMDD`.
    pub effective: String,
    /// Service code.
    pub service_code: String,
    /// Account identifier at the issuer.
    pub account_id: String,
    /// Name of the issuer master key set in the host's key file.
    pub key_ref: String,
    /// Wrong PIN limit (online PIN tries for the host; offline PIN Try Limit).
    pub pin_try_limit: u8,
    /// Account type (`debit`, `credit`, `prepaid`).
    pub account_type: String,
    /// Product name.
    pub product: String,
    /// Cardholder name as embossed.
    pub cardholder: String,
    /// AIDs of the payment applications (hex).
    pub aids: Vec<String>,
    /// CVN profile (for ARQC verification).
    pub cvn: String,
    /// ICC master key derivation option (`A`/`B`).
    pub mk_derivation: String,
    /// PIN Verification Key Index and PVV, for online PIN (absent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvki: Option<u8>,
    /// Visa PVV (4 digits), for online PIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvv: Option<String>,
    /// Limits.
    pub limits: Limits,
}

/// Where the bureau registers issued cards (a manifest file today, the host's
/// database later).
pub trait IssuanceSink {
    /// Registers one card. Called once per card, in card order.
    fn register(&mut self, record: &IssuanceRecord) -> Result<()>;
}

/// Keyed PAN token: hex of AES-CMAC(token key, PAN ASCII digits).
pub fn pan_token(keys: &IssuerKeys, pan: &str) -> Result<String> {
    Ok(hex::encode_upper(lamina_crypto::sym::aes_cmac(
        keys.pan_token_key.expose(),
        pan.as_bytes(),
    )?))
}

/// Encrypts the PAN for the manifest (AES-256-GCM, random 96-bit nonce).
pub fn encrypt_pan<R: CryptoRng + ?Sized>(
    keys: &IssuerKeys,
    pan: &str,
    rng: &mut R,
) -> Result<String> {
    let cipher = Aes256Gcm::new_from_slice(keys.pan_enc_key.expose())
        .map_err(|_| PersoError::KeyStore("PAN encryption key must be 32 bytes".into()))?;
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: pan.as_bytes(),
                aad: &[],
            },
        )
        .map_err(|_| PersoError::KeyStore("PAN encryption failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    Ok(hex::encode_upper(out))
}

/// Decrypts a record's `pan_encrypted` (what the host does on import).
pub fn decrypt_pan(keys: &IssuerKeys, record: &IssuanceRecord) -> Result<String> {
    let raw = hex::decode(&record.pan_encrypted)
        .map_err(|_| PersoError::invalid("encrypted PAN", "not hex"))?;
    let (nonce, ct) = raw
        .split_at_checked(12)
        .ok_or_else(|| PersoError::invalid("encrypted PAN", "too short"))?;
    let nonce: [u8; 12] = nonce
        .try_into()
        .map_err(|_| PersoError::invalid("encrypted PAN", "nonce"))?;
    let cipher = Aes256Gcm::new_from_slice(keys.pan_enc_key.expose())
        .map_err(|_| PersoError::KeyStore("PAN encryption key must be 32 bytes".into()))?;
    let pt = cipher
        .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &[] })
        .map_err(|_| PersoError::invalid("encrypted PAN", "authentication failed"))?;
    String::from_utf8(pt).map_err(|_| PersoError::invalid("encrypted PAN", "not digits"))
}

/// Default name of the issuer master key set in the host's key file.
pub const DEFAULT_KEY_REF: &str = "default";

/// The host's key file (`lamina-host` `KeyFile` JSON) holding this issuer's
/// keys: PAN lookup and encryption keys, the master key set under `key_ref`,
/// BDK and PVK. Secret: write it with mode 0600.
///
/// The file carries one fresh back-office API token of each kind (16 random
/// bytes, lowercase hex): without them the host's API would answer 401 to
/// every call.
pub fn host_key_file<R: CryptoRng + ?Sized>(
    keys: &IssuerKeys,
    key_ref: &str,
    rng: &mut R,
) -> serde_json::Value {
    let h = |k: &crate::util::SecretBytes| hex::encode_upper(k.expose());
    let mut token = || {
        let mut b = [0u8; 16];
        rng.fill_bytes(&mut b);
        hex::encode(b)
    };
    let (admin, read) = (token(), token());
    serde_json::json!({
        "pan_lookup": h(&keys.pan_token_key),
        "pan_encryption": h(&keys.pan_enc_key),
        "issuer": { key_ref: {
            "imk_ac": h(&keys.mk_ac),
            "imk_smi": h(&keys.mk_smi),
            "imk_smc": h(&keys.mk_smc),
        }},
        "bdk": h(&keys.bdk),
        "pvk": h(&keys.pvk),
        "admin_tokens": [admin],
        "read_tokens": [read],
    })
}

/// Writes records as JSON Lines (one record per line) to a file.
#[derive(Debug)]
pub struct ManifestWriter {
    file: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
}

impl ManifestWriter {
    /// Creates (truncates) the manifest file, mode 0600: it holds PVVs.
    pub fn create(path: &Path) -> Result<Self> {
        let f = crate::util::create_private(path)?;
        Ok(ManifestWriter {
            file: std::io::BufWriter::new(f),
            path: path.to_path_buf(),
        })
    }
    /// Flushes the file.
    pub fn finish(mut self) -> Result<()> {
        self.file.flush().map_err(|e| PersoError::io(&self.path, e))
    }
}

impl IssuanceSink for ManifestWriter {
    fn register(&mut self, record: &IssuanceRecord) -> Result<()> {
        let mut line =
            serde_json::to_vec(record).map_err(|e| PersoError::invalid("record", e.to_string()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .map_err(|e| PersoError::io(&self.path, e))
    }
}

impl IssuanceSink for Vec<IssuanceRecord> {
    fn register(&mut self, record: &IssuanceRecord) -> Result<()> {
        self.push(record.clone());
        Ok(())
    }
}

/// Reads a manifest file (the host's import side).
pub fn read_manifest(path: &Path) -> Result<Vec<IssuanceRecord>> {
    let text = std::fs::read_to_string(path).map_err(|e| PersoError::io(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            let r: IssuanceRecord = serde_json::from_str(l)
                .map_err(|e| PersoError::invalid("manifest", format!("line {}: {e}", i + 1)))?;
            if r.schema != RECORD_SCHEMA {
                return Err(PersoError::invalid(
                    "manifest",
                    format!("line {}: unknown schema", i + 1),
                ));
            }
            Ok(r)
        })
        .collect()
}
