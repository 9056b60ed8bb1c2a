//! The issuer's key store: one JSON file holding the CA and issuer RSA keys and
//! the issuer master keys, encrypted with AES-256-GCM (NIST SP 800-38D) under a
//! key derived from a passphrase with Argon2id (RFC 9106).
//!
//! File layout (`keystore.json`, written with mode 0600):
//!
//! ```json
//! { "format": "lamina-keystore", "version": 1,
//!   "protection": "argon2id-aes256gcm",
//!   "kdf": { "m_cost": 19456, "t_cost": 2, "p_cost": 1, "salt": "<hex 16>" },
//!   "nonce": "<hex 12>", "ciphertext": "<hex: AES-256-GCM(JSON of the keys) ‖ tag>" }
//! ```
//!
//! The associated data binds the header (format, version, KDF parameters and
//! salt), so changing any header field makes decryption fail. With
//! `--insecure-dev-keys` the file instead has `"protection": "plaintext"` and
//! the keys in clear under `"keys"`.
//!
//! The passphrase comes from the environment variable
//! [`PASSPHRASE_ENV`] (`LAMINA_KEYSTORE_PASSPHRASE`). Keys are displayed only as
//! key check values ([`IssuerKeys::kcvs`]).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use lamina_crypto::pki::{RsaKeyPair, RsaKeyParts};
use lamina_crypto::sym;
use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::util::{SecretBytes, hex_bytes};
use crate::{PersoError, Result};

/// Environment variable holding the key store passphrase.
pub const PASSPHRASE_ENV: &str = "LAMINA_KEYSTORE_PASSPHRASE";

const FORMAT: &str = "lamina-keystore";
const VERSION: u32 = 1;
const PROT_ENC: &str = "argon2id-aes256gcm";
const PROT_PLAIN: &str = "plaintext";

/// An RSA private key as stored (n, e public; d, p, q secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRsaKey {
    /// Modulus.
    #[serde(with = "hex_bytes")]
    pub modulus: Vec<u8>,
    /// Public exponent.
    #[serde(with = "hex_bytes")]
    pub exponent: Vec<u8>,
    /// Private exponent.
    pub d: SecretBytes,
    /// Prime p.
    pub p: SecretBytes,
    /// Prime q.
    pub q: SecretBytes,
}

impl StoredRsaKey {
    /// From a key pair.
    pub fn from_key(k: &RsaKeyPair) -> Result<Self> {
        let parts = k.to_parts()?;
        Ok(StoredRsaKey {
            modulus: parts.modulus.clone(),
            exponent: parts.public_exponent.clone(),
            d: SecretBytes::new(parts.private_exponent.to_vec()),
            p: SecretBytes::new(parts.prime_p.to_vec()),
            q: SecretBytes::new(parts.prime_q.to_vec()),
        })
    }
    /// Rebuilds the key pair (validates the parts).
    pub fn to_key(&self) -> Result<RsaKeyPair> {
        let parts = RsaKeyParts {
            modulus: self.modulus.clone(),
            public_exponent: self.exponent.clone(),
            private_exponent: Zeroizing::new(self.d.expose().to_vec()),
            prime_p: Zeroizing::new(self.p.expose().to_vec()),
            prime_q: Zeroizing::new(self.q.expose().to_vec()),
        };
        Ok(RsaKeyPair::from_parts(&parts)?)
    }
}

/// Everything secret an issuer holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssuerKeys {
    /// The test CA's private key (a real issuer never holds this: it is here
    /// because the bureau also plays the scheme CA for test cards).
    pub ca_key: StoredRsaKey,
    /// The issuer RSA key that certifies ICC keys and signs static data.
    pub issuer_key: StoredRsaKey,
    /// Issuer master key for application cryptograms (MK-AC), 16 bytes.
    pub mk_ac: SecretBytes,
    /// Issuer master key for secure messaging integrity (MK-SMI).
    pub mk_smi: SecretBytes,
    /// Issuer master key for secure messaging confidentiality (MK-SMC).
    pub mk_smc: SecretBytes,
    /// Issuer master key for ICC dynamic numbers (MK-IDN).
    pub mk_idn: SecretBytes,
    /// Card verification key pair CVK A ‖ CVK B (CVV, CVV2, iCVV).
    pub cvk: SecretBytes,
    /// PIN verification key pair (Visa PVV).
    pub pvk: SecretBytes,
    /// DUKPT base derivation key for the acquirer side (X9.24-1 TDES BDK).
    pub bdk: SecretBytes,
    /// AES-256 key that encrypts PANs in the issuance manifest.
    pub pan_enc_key: SecretBytes,
    /// AES-256 key for the PAN lookup token (AES-CMAC of the PAN).
    pub pan_token_key: SecretBytes,
}

/// A key name and its check value, for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kcv {
    /// Key name.
    pub name: &'static str,
    /// Algorithm and length (`TDES-2K`, `AES-256`, `RSA-1152`).
    pub kind: String,
    /// Key check value (hex): TDES: 3 bytes of E(K)[0…0]; AES: 5 bytes of
    /// AES-CMAC(K)[0…0] (ANSI X9.24-1:2017 / X9.24-3 style); RSA: first 3 bytes of
    /// the modulus hash is not standard, so RSA keys show their modulus head.
    pub kcv: String,
}

fn random_tdes<R: CryptoRng + ?Sized>(rng: &mut R) -> SecretBytes {
    let mut k = Zeroizing::new([0u8; 16]);
    rng.fill_bytes(k.as_mut_slice());
    sym::adjust_odd_parity(k.as_mut_slice());
    SecretBytes::new(k.to_vec())
}

fn random_aes256<R: CryptoRng + ?Sized>(rng: &mut R) -> SecretBytes {
    let mut k = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(k.as_mut_slice());
    SecretBytes::new(k.to_vec())
}

impl IssuerKeys {
    /// Generates fresh symmetric keys around the given RSA keys.
    pub fn generate<R: CryptoRng + ?Sized>(
        rng: &mut R,
        ca_key: &RsaKeyPair,
        issuer_key: &RsaKeyPair,
    ) -> Result<Self> {
        Ok(IssuerKeys {
            ca_key: StoredRsaKey::from_key(ca_key)?,
            issuer_key: StoredRsaKey::from_key(issuer_key)?,
            mk_ac: random_tdes(rng),
            mk_smi: random_tdes(rng),
            mk_smc: random_tdes(rng),
            mk_idn: random_tdes(rng),
            cvk: random_tdes(rng),
            pvk: random_tdes(rng),
            bdk: random_tdes(rng),
            pan_enc_key: random_aes256(rng),
            pan_token_key: random_aes256(rng),
        })
    }

    /// Key check values of every key.
    pub fn kcvs(&self) -> Result<Vec<Kcv>> {
        let tdes = |name: &'static str, k: &SecretBytes| -> Result<Kcv> {
            Ok(Kcv {
                name,
                kind: "TDES-2K".into(),
                kcv: hex::encode_upper(sym::kcv_tdes(k.expose())?),
            })
        };
        let aes = |name: &'static str, k: &SecretBytes| -> Result<Kcv> {
            Ok(Kcv {
                name,
                kind: format!("AES-{}", k.len() * 8),
                kcv: hex::encode_upper(sym::kcv_aes_cmac(k.expose())?),
            })
        };
        let rsa = |name: &'static str, k: &StoredRsaKey| Kcv {
            name,
            kind: format!("RSA-{}", k.modulus.len() * 8),
            kcv: format!(
                "modulus {}…",
                hex::encode_upper(k.modulus.get(..6).unwrap_or(&k.modulus))
            ),
        };
        Ok(vec![
            rsa("CA private key", &self.ca_key),
            rsa("issuer private key", &self.issuer_key),
            tdes("MK-AC", &self.mk_ac)?,
            tdes("MK-SMI", &self.mk_smi)?,
            tdes("MK-SMC", &self.mk_smc)?,
            tdes("MK-IDN", &self.mk_idn)?,
            tdes("CVK", &self.cvk)?,
            tdes("PVK", &self.pvk)?,
            tdes("BDK", &self.bdk)?,
            aes("PAN encryption key", &self.pan_enc_key)?,
            aes("PAN token key", &self.pan_token_key)?,
        ])
    }
}

/// Argon2id parameters as stored in the file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_cost: u32,
    /// Iterations.
    pub t_cost: u32,
    /// Parallelism.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// The `argon2` crate's defaults (OWASP: 19 MiB, 2 passes, 1 lane).
    fn default() -> Self {
        KdfParams {
            m_cost: argon2::Params::DEFAULT_M_COST,
            t_cost: argon2::Params::DEFAULT_T_COST,
            p_cost: argon2::Params::DEFAULT_P_COST,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Kdf {
    algorithm: String,
    #[serde(flatten)]
    params: KdfParams,
    #[serde(with = "hex_bytes")]
    salt: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    version: u32,
    protection: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kdf: Option<Kdf>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::util::opt_hex_bytes"
    )]
    nonce: Option<Vec<u8>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::util::opt_hex_bytes"
    )]
    ciphertext: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<IssuerKeys>,
}

/// How the key store is protected.
#[derive(Debug, Clone)]
pub enum Protection {
    /// Encrypted under a passphrase.
    Passphrase(Zeroizing<String>, KdfParams),
    /// Plaintext (development only).
    InsecurePlaintext,
}

/// The passphrase from [`PASSPHRASE_ENV`], if set and not empty.
pub fn passphrase_from_env() -> Option<Zeroizing<String>> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new)
}

/// Passphrase protection with default Argon2id costs, from [`PASSPHRASE_ENV`].
pub fn protection_from_env() -> Option<Protection> {
    passphrase_from_env().map(|p| Protection::Passphrase(p, KdfParams::default()))
}

fn derive_key(pass: &str, salt: &[u8], p: KdfParams) -> Result<Zeroizing<[u8; 32]>> {
    let params = argon2::Params::new(p.m_cost, p.t_cost, p.p_cost, Some(32))
        .map_err(|e| PersoError::KeyStore(format!("argon2 parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(pass.as_bytes(), salt, out.as_mut_slice())
        .map_err(|e| PersoError::KeyStore(format!("argon2: {e}")))?;
    Ok(out)
}

fn aad(kdf: &Kdf) -> Vec<u8> {
    format!(
        "{FORMAT}/{VERSION}/{PROT_ENC}/{}/m={}/t={}/p={}/salt={}",
        kdf.algorithm,
        kdf.params.m_cost,
        kdf.params.t_cost,
        kdf.params.p_cost,
        hex::encode_upper(&kdf.salt)
    )
    .into_bytes()
}

/// Serializes the key store file.
pub fn seal<R: CryptoRng + ?Sized>(
    keys: &IssuerKeys,
    protection: &Protection,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let file = match protection {
        Protection::InsecurePlaintext => File {
            format: FORMAT.into(),
            version: VERSION,
            protection: PROT_PLAIN.into(),
            kdf: None,
            nonce: None,
            ciphertext: None,
            keys: Some(keys.clone()),
        },
        Protection::Passphrase(pass, params) => {
            let mut salt = vec![0u8; 16];
            rng.fill_bytes(&mut salt);
            let mut nonce = [0u8; 12];
            rng.fill_bytes(&mut nonce);
            let kdf = Kdf {
                algorithm: "argon2id-v19".into(),
                params: *params,
                salt,
            };
            let key = derive_key(pass, &kdf.salt, *params)?;
            let cipher = Aes256Gcm::new_from_slice(key.as_slice())
                .map_err(|_| PersoError::KeyStore("AES key".into()))?;
            let plain = Zeroizing::new(
                serde_json::to_vec(keys).map_err(|e| PersoError::KeyStore(e.to_string()))?,
            );
            let ct = cipher
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: &plain,
                        aad: &aad(&kdf),
                    },
                )
                .map_err(|_| PersoError::KeyStore("encryption failed".into()))?;
            File {
                format: FORMAT.into(),
                version: VERSION,
                protection: PROT_ENC.into(),
                kdf: Some(kdf),
                nonce: Some(nonce.to_vec()),
                ciphertext: Some(ct),
                keys: None,
            }
        }
    };
    let mut out =
        serde_json::to_vec_pretty(&file).map_err(|e| PersoError::KeyStore(e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

/// True if the key store file is plaintext (written with `--insecure-dev-keys`).
pub fn is_plaintext(bytes: &[u8]) -> Result<bool> {
    let f: File = serde_json::from_slice(bytes).map_err(|e| PersoError::KeyStore(e.to_string()))?;
    Ok(f.protection == PROT_PLAIN)
}

/// Opens a key store file. `passphrase` is required unless the file is plaintext.
pub fn open(bytes: &[u8], passphrase: Option<&str>) -> Result<IssuerKeys> {
    let f: File = serde_json::from_slice(bytes).map_err(|e| PersoError::KeyStore(e.to_string()))?;
    if f.format != FORMAT {
        return Err(PersoError::KeyStore(format!(
            "not a key store (format {:?})",
            f.format
        )));
    }
    if f.version != VERSION {
        return Err(PersoError::KeyStore(format!(
            "unsupported version {}",
            f.version
        )));
    }
    match f.protection.as_str() {
        PROT_PLAIN => f
            .keys
            .ok_or_else(|| PersoError::KeyStore("plaintext key store without keys".into())),
        PROT_ENC => {
            let pass = passphrase.ok_or(PersoError::NoPassphrase(PASSPHRASE_ENV))?;
            let (Some(kdf), Some(nonce), Some(ct)) = (f.kdf, f.nonce, f.ciphertext) else {
                return Err(PersoError::KeyStore(
                    "missing kdf, nonce or ciphertext".into(),
                ));
            };
            if kdf.algorithm != "argon2id-v19" {
                return Err(PersoError::KeyStore(format!(
                    "unknown KDF {:?}",
                    kdf.algorithm
                )));
            }
            let nonce: [u8; 12] = nonce
                .as_slice()
                .try_into()
                .map_err(|_| PersoError::KeyStore("nonce must be 12 bytes".into()))?;
            let key = derive_key(pass, &kdf.salt, kdf.params)?;
            let cipher = Aes256Gcm::new_from_slice(key.as_slice())
                .map_err(|_| PersoError::KeyStore("AES key".into()))?;
            let plain = Zeroizing::new(
                cipher
                    .decrypt(
                        &Nonce::from(nonce),
                        Payload {
                            msg: &ct,
                            aad: &aad(&kdf),
                        },
                    )
                    .map_err(|_| PersoError::KeyStoreAuth)?,
            );
            serde_json::from_slice(&plain).map_err(|_| PersoError::KeyStore("key material".into()))
        }
        other => Err(PersoError::KeyStore(format!(
            "unknown protection {other:?}"
        ))),
    }
}
