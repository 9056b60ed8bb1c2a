//! EMV data element formats (EMV Book 3 §4.3 "Data Element Format Conventions").

use serde::{Deserialize, Serialize};

/// The format of a data element's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// `a` — alphabetic (a–z, A–Z), one character per byte.
    A,
    /// `an` — alphanumeric.
    An,
    /// `ans` — alphanumeric and special characters.
    Ans,
    /// `b` — binary.
    B,
    /// `cn` — compressed numeric: BCD, left-justified, padded on the right with F.
    Cn,
    /// `n` — numeric: BCD, right-justified, padded on the left with 0.
    N,
    /// `var` — variable / proprietary (constructed templates, issuer data).
    Var,
}

impl Format {
    /// The notation used in EMV Book 3 ("an", "cn", ...).
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::A => "a",
            Format::An => "an",
            Format::Ans => "ans",
            Format::B => "b",
            Format::Cn => "cn",
            Format::N => "n",
            Format::Var => "var",
        }
    }

    /// Parses the Book 3 notation.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim() {
            "a" => Format::A,
            "an" => Format::An,
            "ans" => Format::Ans,
            "b" => Format::B,
            "cn" => Format::Cn,
            "n" => Format::N,
            "var" => Format::Var,
            _ => return None,
        })
    }
}

impl core::fmt::Display for Format {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}
