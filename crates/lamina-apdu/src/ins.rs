//! Instruction codes (ISO/IEC 7816-4 §5.3 Table 4, EMV Book 3 §6.5, GlobalPlatform).

/// Declares the open `Ins` enum and its name table from one list of rows.
macro_rules! instructions {
    ($( $(#[$m:meta])* $name:ident = $code:literal, $text:literal, $pin:literal; )*) => {
        /// An instruction byte; unknown values are kept in `Other`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Ins {
            $( $(#[$m])* $name, )*
            /// Any other instruction byte.
            Other(u8),
        }

        impl From<u8> for Ins {
            fn from(b: u8) -> Self {
                match b {
                    $( $code => Ins::$name, )*
                    other => Ins::Other(other),
                }
            }
        }

        impl Ins {
            /// The instruction byte.
            pub fn code(self) -> u8 {
                match self {
                    $( Ins::$name => $code, )*
                    Ins::Other(b) => b,
                }
            }
            /// The command's name as written in the standards.
            pub fn name(self) -> &'static str {
                match self {
                    $( Ins::$name => $text, )*
                    Ins::Other(_) => "(unknown instruction)",
                }
            }
            /// True for commands whose data carries a PIN (must never be logged).
            pub fn carries_pin(self) -> bool {
                match self {
                    $( Ins::$name => $pin, )*
                    Ins::Other(_) => false,
                }
            }
        }
    };
}

instructions! {
    /// `A4` SELECT (ISO 7816-4 §11.2.2, EMV Book 1 §11.3).
    Select = 0xA4, "SELECT", false;
    /// `B2` READ RECORD (EMV Book 3 §6.5.11).
    ReadRecord = 0xB2, "READ RECORD", false;
    /// `B0` READ BINARY.
    ReadBinary = 0xB0, "READ BINARY", false;
    /// `A8` GET PROCESSING OPTIONS (EMV Book 3 §6.5.8).
    GetProcessingOptions = 0xA8, "GET PROCESSING OPTIONS", false;
    /// `AE` GENERATE APPLICATION CRYPTOGRAM (EMV Book 3 §6.5.5).
    GenerateAc = 0xAE, "GENERATE AC", false;
    /// `CA` GET DATA (EMV Book 3 §6.5.7).
    GetData = 0xCA, "GET DATA", false;
    /// `20` VERIFY (EMV Book 3 §6.5.12).
    Verify = 0x20, "VERIFY", true;
    /// `24` PIN CHANGE/UNBLOCK (EMV Book 3 §6.5.10 / issuer script).
    PinChangeUnblock = 0x24, "PIN CHANGE/UNBLOCK", true;
    /// `88` INTERNAL AUTHENTICATE (EMV Book 3 §6.5.9).
    InternalAuthenticate = 0x88, "INTERNAL AUTHENTICATE", false;
    /// `82` EXTERNAL AUTHENTICATE (EMV Book 3 §6.5.4).
    ExternalAuthenticate = 0x82, "EXTERNAL AUTHENTICATE", false;
    /// `84` GET CHALLENGE (EMV Book 3 §6.5.6).
    GetChallenge = 0x84, "GET CHALLENGE", false;
    /// `C0` GET RESPONSE (ISO 7816-4, T=0).
    GetResponse = 0xC0, "GET RESPONSE", false;
    /// `1E` APPLICATION BLOCK (EMV Book 3 §6.5.1).
    ApplicationBlock = 0x1E, "APPLICATION BLOCK", false;
    /// `18` APPLICATION UNBLOCK (EMV Book 3 §6.5.2).
    ApplicationUnblock = 0x18, "APPLICATION UNBLOCK", false;
    /// `16` CARD BLOCK (EMV Book 3 §6.5.3).
    CardBlock = 0x16, "CARD BLOCK", false;
    /// `DA` PUT DATA.
    PutData = 0xDA, "PUT DATA", false;
    /// `DC` UPDATE RECORD.
    UpdateRecord = 0xDC, "UPDATE RECORD", false;
    /// `D6` UPDATE BINARY.
    UpdateBinary = 0xD6, "UPDATE BINARY", false;
    /// `E2` APPEND RECORD.
    AppendRecord = 0xE2, "APPEND RECORD", false;
    /// `2A` COMPUTE CRYPTOGRAPHIC CHECKSUM (contactless mag-stripe mode).
    ComputeCryptographicChecksum = 0x2A, "COMPUTE CRYPTOGRAPHIC CHECKSUM", false;
    /// `50` INITIALIZE UPDATE (GlobalPlatform).
    InitializeUpdate = 0x50, "INITIALIZE UPDATE", false;
    /// `E6` INSTALL (GlobalPlatform).
    Install = 0xE6, "INSTALL", false;
    /// `F2` GET STATUS (GlobalPlatform).
    GetStatus = 0xF2, "GET STATUS", false;
    /// `70` MANAGE CHANNEL.
    ManageChannel = 0x70, "MANAGE CHANNEL", false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_all_bytes() {
        for b in 0..=255u8 {
            assert_eq!(Ins::from(b).code(), b);
        }
        assert_eq!(Ins::from(0xAE).name(), "GENERATE AC");
        assert!(Ins::Verify.carries_pin());
    }
}
