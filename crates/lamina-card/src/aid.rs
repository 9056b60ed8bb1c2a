//! Application identifiers (ISO/IEC 7816-5 §5, EMV Book 1 §12.2.1).

use core::fmt;

/// An application identifier or DF name: 5 to 16 bytes (RID ‖ PIX).
///
/// The PSE and PPSE names (`1PAY.SYS.DDF01`, `2PAY.SYS.DDF01`, 14 bytes) are also
/// valid `Aid`s for selection purposes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Aid(Vec<u8>);

/// Why bytes are not an AID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AID of {len} bytes: expected 5..=16 (ISO/IEC 7816-5 §5)")]
pub struct AidError {
    /// The rejected length.
    pub len: usize,
}

impl Aid {
    /// Checks the length (5..=16 bytes).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Aid, AidError> {
        let v = bytes.into();
        if (5..=16).contains(&v.len()) {
            Ok(Aid(v))
        } else {
            Err(AidError { len: v.len() })
        }
    }

    /// From hex text (`"A0000000041010"`).
    pub fn from_hex(s: &str) -> Result<Aid, AidError> {
        let v = hex::decode(s).map_err(|_| AidError { len: s.len() / 2 })?;
        Aid::new(v)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Upper-case hex (the applet's NVM namespace name).
    pub fn to_hex(&self) -> String {
        hex::encode_upper(&self.0)
    }

    /// The Registered application provider IDentifier (first 5 bytes).
    pub fn rid(&self) -> &[u8] {
        self.0.get(..5).unwrap_or(&self.0)
    }

    /// True if `name` (the DF name of a SELECT) equals this AID or is a prefix of
    /// it (partial selection, ISO/IEC 7816-4 §11.2.2, EMV Book 1 §12.3.3).
    pub fn matches(&self, name: &[u8]) -> bool {
        !name.is_empty() && self.0.starts_with(name)
    }
}

impl fmt::Debug for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Aid({})", self.to_hex())
    }
}

impl fmt::Display for Aid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_matching() {
        assert!(Aid::new(vec![0xA0; 4]).is_err());
        assert!(Aid::new(vec![0xA0; 17]).is_err());
        assert!(Aid::from_hex("zz").is_err());
        let a = Aid::from_hex("A0000000041010").unwrap();
        assert!(a.matches(&[0xA0, 0, 0, 0, 4]));
        assert!(a.matches(a.as_bytes()));
        assert!(!a.matches(&[]));
        assert!(!a.matches(&hex::decode("A000000004101001").unwrap()));
        assert_eq!(a.rid(), &[0xA0, 0, 0, 0, 4]);
        assert_eq!(a.to_string(), "A0000000041010");
    }
}
