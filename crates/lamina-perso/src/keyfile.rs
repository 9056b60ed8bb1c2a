//! The `lamina-rsa-key/1` key file: one RSA key pair as JSON (hex modulus,
//! exponents and primes), as `lamina crypto genkey` writes it and `lamina
//! crypto cert build --signer` reads it. It holds a private key: it is written
//! with mode 0600, also over an existing file ([`crate::util::write_private`]).

use std::path::Path;

use lamina_crypto::pki::{RsaKeyPair, RsaKeyParts};
use serde::{Deserialize, Serialize};

use crate::error::{PersoError, Result};
use crate::util::{read, write_private};

/// The format name in the file.
pub const FORMAT: &str = "lamina-rsa-key/1";

/// An RSA key pair as the file holds it.
#[derive(Clone, Serialize, Deserialize)]
pub struct RsaKeyFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// Modulus length in bits.
    pub bits: usize,
    /// Modulus, hex.
    pub modulus: String,
    /// Public exponent, hex.
    pub public_exponent: String,
    /// Private exponent, hex.
    pub private_exponent: String,
    /// First prime, hex.
    pub prime_p: String,
    /// Second prime, hex.
    pub prime_q: String,
}

impl core::fmt::Debug for RsaKeyFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RsaKeyFile")
            .field("bits", &self.bits)
            .field("modulus", &self.modulus)
            .field("public_exponent", &self.public_exponent)
            .finish_non_exhaustive()
    }
}

fn invalid(reason: impl Into<String>) -> PersoError {
    PersoError::Invalid {
        what: "RSA key file",
        reason: reason.into(),
    }
}

impl RsaKeyFile {
    /// The file of a key pair.
    pub fn of(key: &RsaKeyPair) -> Result<Self> {
        let p = key.to_parts().map_err(|e| invalid(e.to_string()))?;
        Ok(RsaKeyFile {
            format: FORMAT.into(),
            bits: p.modulus.len() * 8,
            modulus: hex::encode_upper(&p.modulus),
            public_exponent: hex::encode_upper(&p.public_exponent),
            private_exponent: hex::encode_upper(&*p.private_exponent),
            prime_p: hex::encode_upper(&*p.prime_p),
            prime_q: hex::encode_upper(&*p.prime_q),
        })
    }

    /// The key pair (checked: the primes must give the modulus).
    pub fn key_pair(&self) -> Result<RsaKeyPair> {
        if self.format != FORMAT {
            return Err(invalid(format!(
                "format {:?}, expected {FORMAT}",
                self.format
            )));
        }
        let h = |s: &str, what: &str| hex::decode(s).map_err(|e| invalid(format!("{what}: {e}")));
        let parts = RsaKeyParts {
            modulus: h(&self.modulus, "modulus")?,
            public_exponent: h(&self.public_exponent, "public_exponent")?,
            private_exponent: h(&self.private_exponent, "private_exponent")?.into(),
            prime_p: h(&self.prime_p, "prime_p")?.into(),
            prime_q: h(&self.prime_q, "prime_q")?.into(),
        };
        RsaKeyPair::from_parts(&parts).map_err(|e| invalid(e.to_string()))
    }

    /// Writes the file with mode 0600.
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| invalid(e.to_string()))?;
        write_private(path, json.as_bytes())
    }

    /// Reads a key file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = read(path)?;
        serde_json::from_slice(&bytes).map_err(|e| PersoError::File {
            file: path.display().to_string(),
            reason: format!("not a {FORMAT} file: {e}"),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mode_0600_over_an_existing_file() {
        let key = RsaKeyPair::generate(
            &mut rand::rng(),
            1024,
            lamina_crypto::pki::PublicExponent::F4,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        std::fs::write(&path, "old").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        RsaKeyFile::of(&key).unwrap().write(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "an existing file is made private");
        }
        let back = RsaKeyFile::read(&path).unwrap();
        assert_eq!(back.bits, 1024);
        assert_eq!(
            back.key_pair().unwrap().to_parts().unwrap().modulus,
            key.to_parts().unwrap().modulus
        );
        assert!(
            !format!("{back:?}").contains(&back.private_exponent),
            "Debug hides the private key"
        );
        let mut bad = back.clone();
        bad.format = "other".into();
        assert!(bad.key_pair().is_err());
    }
}
