//! Identifiers, key derivation and MACs shared by the closed-loop applications.
//!
//! ## Key hierarchy
//!
//! Every card key is an AES-128 key derived from a 16-byte master key held by
//! the party that must verify it, so no card key is ever stored by a terminal or
//! the host:
//!
//! | card key | master key held by | used for |
//! |---|---|---|
//! | purse load key | issuer host (`IMK-LOAD`) | load MAC (host → card), load confirmation (card → host) |
//! | purse debit key | issuer host (`IMK-DEBIT`) | debit / cancel proofs (card → host, via the terminal) |
//! | purse purchase key | terminals' SAMs (`PMK`) | terminal MAC (terminal → card), receipts (card → terminal) |
//! | loyalty program key | terminals of the merchant group (program master key) | CREDIT / DEBIT POINTS MACs and receipts |
//! | transit key | transit gates and ticket machines (`TMK`) | transit state writes |
//! | parking key | parking gates (`KMK`) | parking state writes |
//!
//! The derivation is NIST SP 800-108r1 §4.1 (KDF in counter mode) with AES-CMAC
//! (NIST SP 800-38B) as the PRF, one 8-bit counter before the fixed input, and
//! one output block (`L` = 128 bits):
//!
//! ```text
//! K_card = CMAC(MK, 01 ‖ Label ‖ 00 ‖ Context ‖ 0080)
//! Label   = ASCII "LAMINA-PURSE-LOAD" | "LAMINA-PURSE-DEBIT" | "LAMINA-PURSE-PURCHASE"
//!           | "LAMINA-LOYALTY" | "LAMINA-TRANSIT" | "LAMINA-PARKING"
//! Context = card id (8 bytes) [‖ program id (4 bytes) for loyalty]
//! ```
//!
//! The generic function [`kbkdf_ctr_cmac`] is checked against the NIST CAVP
//! `KDFCTR_gen.txt` vector (`tests/vectors/sp800_108_kdfctr_cmac_aes128.txt`).
//!
//! ## MACs
//!
//! Every MAC in the protocols is AES-CMAC truncated to its leftmost 64 bits
//! (SP 800-38B §5.5 and Appendix A allow truncation; 64 bits is the EMV/CEPS
//! tradition), computed over a 2-byte ASCII domain tag followed by fixed-size
//! big-endian fields ([`mac8`]). Each message kind has its own tag so a MAC of
//! one kind is never accepted as another.

use std::fmt;

use lamina_crypto::sym::{SecretKey, aes_cmac};
use serde::{Deserialize, Serialize};

use crate::codec::cat;

/// A MAC or derivation failed because a key has the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key error: {0}")]
pub struct KeyError(pub String);

impl From<lamina_crypto::Error> for KeyError {
    fn from(e: lamina_crypto::Error) -> Self {
        KeyError(e.to_string())
    }
}

macro_rules! id8 {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub [u8; 8]);

        impl $name {
            /// Parses 16 hex digits.
            pub fn from_hex(s: &str) -> Option<Self> {
                let v = hex::decode(s).ok()?;
                <[u8; 8]>::try_from(v.as_slice()).ok().map($name)
            }
            /// The identifier from a number (big-endian), handy in tests and demos.
            pub const fn from_u64(n: u64) -> Self {
                $name(n.to_be_bytes())
            }
            /// Upper-case hex.
            pub fn to_hex(&self) -> String {
                hex::encode_upper(self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::from_hex(&s).ok_or_else(|| serde::de::Error::custom("expected 16 hex digits"))
            }
        }
    };
}

id8!(
    /// The closed-loop card identifier (8 bytes), the same in every closed-loop
    /// application of one card. Not a PAN: printed in full.
    CardId
);
id8!(
    /// A terminal identifier (8 bytes): the SAM's identity in proofs.
    TerminalId
);

/// What a derived card key is for (the SP 800-108 label and context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    /// Purse load key (issuer).
    PurseLoad,
    /// Purse debit key (issuer: debit proofs).
    PurseDebit,
    /// Purse purchase key (terminal SAMs).
    PursePurchase,
    /// Loyalty program key for a program id.
    Loyalty(u32),
    /// Transit state key.
    Transit,
    /// Parking state key.
    Parking,
}

impl KeyUsage {
    /// The SP 800-108 label.
    pub fn label(self) -> &'static [u8] {
        match self {
            KeyUsage::PurseLoad => b"LAMINA-PURSE-LOAD",
            KeyUsage::PurseDebit => b"LAMINA-PURSE-DEBIT",
            KeyUsage::PursePurchase => b"LAMINA-PURSE-PURCHASE",
            KeyUsage::Loyalty(_) => b"LAMINA-LOYALTY",
            KeyUsage::Transit => b"LAMINA-TRANSIT",
            KeyUsage::Parking => b"LAMINA-PARKING",
        }
    }
}

/// NIST SP 800-108r1 §4.1 KDF in counter mode with AES-CMAC, an 8-bit counter
/// placed before `fixed_input`, producing `out_len` bytes (1..=255 blocks).
pub fn kbkdf_ctr_cmac(key: &[u8], fixed_input: &[u8], out_len: usize) -> Result<Vec<u8>, KeyError> {
    let blocks = out_len.div_ceil(16);
    if blocks == 0 || blocks > 255 {
        return Err(KeyError(format!("output length {out_len} out of range")));
    }
    let mut out = Vec::with_capacity(blocks * 16);
    for i in 1..=blocks {
        let ctr = u8::try_from(i).map_err(|_| KeyError("counter overflow".into()))?;
        out.extend_from_slice(&aes_cmac(key, &cat(&[&[ctr], fixed_input]))?);
    }
    out.truncate(out_len);
    Ok(out)
}

/// Derives a card's AES-128 key from a master key (see the module documentation).
pub fn derive_card_key(
    master: &SecretKey,
    usage: KeyUsage,
    card: &CardId,
) -> Result<SecretKey, KeyError> {
    let mut context = card.0.to_vec();
    if let KeyUsage::Loyalty(pid) = usage {
        context.extend_from_slice(&pid.to_be_bytes());
    }
    let fixed = cat(&[usage.label(), &[0x00], &context, &[0x00, 0x80]]);
    Ok(SecretKey::new(kbkdf_ctr_cmac(
        master.as_bytes(),
        &fixed,
        16,
    )?))
}

/// AES-CMAC truncated to 64 bits over `tag ‖ parts…`.
pub fn mac8(key: &SecretKey, tag: &[u8; 2], parts: &[&[u8]]) -> Result<[u8; 8], KeyError> {
    let mut data = tag.to_vec();
    for p in parts {
        data.extend_from_slice(p);
    }
    let full = aes_cmac(key.as_bytes(), &data)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(full.get(..8).unwrap_or(&[0u8; 8]));
    Ok(out)
}

/// Reads a 16-byte key from fixed-layout install parameters.
pub(crate) fn key16(r: &mut crate::codec::Reader<'_>) -> Result<SecretKey, crate::codec::Short> {
    Ok(SecretKey::new(r.take(16)?.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_hex_and_serde() {
        let c = CardId::from_u64(0x0102);
        assert_eq!(c.to_hex(), "0000000000000102");
        assert_eq!(CardId::from_hex("0000000000000102"), Some(c));
        assert_eq!(CardId::from_hex("01"), None);
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, "\"0000000000000102\"");
        assert_eq!(serde_json::from_str::<CardId>(&j).unwrap(), c);
    }

    #[test]
    fn derivations_are_separated() {
        let mk = SecretKey::new(vec![0x11; 16]);
        let c = CardId::from_u64(1);
        let a = derive_card_key(&mk, KeyUsage::PurseLoad, &c).unwrap();
        let b = derive_card_key(&mk, KeyUsage::PurseDebit, &c).unwrap();
        let d = derive_card_key(&mk, KeyUsage::PurseLoad, &CardId::from_u64(2)).unwrap();
        let l1 = derive_card_key(&mk, KeyUsage::Loyalty(1), &c).unwrap();
        let l2 = derive_card_key(&mk, KeyUsage::Loyalty(2), &c).unwrap();
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
        assert_ne!(a, d);
        assert_ne!(l1, l2);
        // Deterministic.
        assert_eq!(a, derive_card_key(&mk, KeyUsage::PurseLoad, &c).unwrap());
    }

    #[test]
    fn mac8_depends_on_tag_and_data() {
        let k = SecretKey::new(vec![0x22; 16]);
        let m1 = mac8(&k, b"AB", &[&[1, 2]]).unwrap();
        assert_ne!(m1, mac8(&k, b"AC", &[&[1, 2]]).unwrap());
        assert_ne!(m1, mac8(&k, b"AB", &[&[1, 3]]).unwrap());
        assert!(mac8(&SecretKey::new(vec![0; 5]), b"AB", &[]).is_err());
    }
}
