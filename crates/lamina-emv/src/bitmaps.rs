//! Bit-level decoders for the EMV bitmap data elements, with the bit tables as data.
//!
//! Byte and bit numbering follow the books: byte 1 is the first byte of the value, bit 8 is
//! its most significant bit ("byte 1 bit 8" = mask `0x80` of `value[0]`).
//!
//! | Tag    | Element                            | Table                                   |
//! |--------|------------------------------------|-----------------------------------------|
//! | '95'   | Terminal Verification Results      | EMV 4.4 Book 3 Annex C5 (Table 46)      |
//! | '9B'   | Transaction Status Information     | EMV 4.4 Book 3 Annex C6 (Table 47)      |
//! | '82'   | Application Interchange Profile    | EMV 4.4 Book 3 Annex C1; Book C-2 A.1.16|
//! | '9F07' | Application Usage Control          | EMV 4.4 Book 3 Annex C2                 |
//! | '8E'   | CVM List                           | EMV 4.4 Book 3 Annex C3                 |
//! | '9F34' | CVM Results                        | EMV 4.4 Book 4 Annex A4 (Table 33)      |
//! | '9F33' | Terminal Capabilities              | EMV 4.4 Book 4 Annex A2 (Tables 25-27)  |
//! | '9F40' | Additional Terminal Capabilities   | EMV 4.4 Book 4 Annex A3 (Tables 28-32)  |
//! | '9F66' | Terminal Transaction Qualifiers    | EMV Contactless Book A 5.7; Book C-3    |
//! | '9F6C' | Card Transaction Qualifiers        | EMV Contactless Book C-3 Annex A.2      |
//! | '9F27' | Cryptogram Information Data        | EMV 4.4 Book 3 §6.5.5.4                 |
//! | '9F35' | Terminal Type                      | EMV 4.4 Book 4 Annex A1 (Table 24)      |
//! | '9F5B' | Issuer Script Results              | EMV 4.4 Book 4 Annex A5 (Table 34)      |
//! | —      | Lamina CVR (inside '9F10')         | Lamina's own definition, see [`Cvr`]    |
//!
//! The Issuer and Terminal Action Codes ('9F0D', '9F0E', '9F0F', 'DF8120'-'DF8122') have the
//! TVR layout and are explained with the TVR table.

use serde::Serialize;

/// One named bit of a bitmap data element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct BitDef {
    /// Byte number, 1-based as in the books.
    pub byte: usize,
    /// Mask within that byte (`0x80` = bit 8).
    pub mask: u8,
    /// Meaning when the bit is 1.
    pub meaning: &'static str,
}

impl BitDef {
    /// Bit number 1-8 as in the books (of the most significant bit of `mask`).
    pub const fn bit(&self) -> u8 {
        let mut bit = 8;
        while bit > 0 {
            if self.mask & (1 << (bit - 1)) != 0 {
                return bit;
            }
            bit -= 1;
        }
        0
    }

    /// Whether this bit is set in `value` (false if `value` is too short).
    pub fn is_set_in(&self, value: &[u8]) -> bool {
        self.byte
            .checked_sub(1)
            .and_then(|i| value.get(i))
            .is_some_and(|b| b & self.mask != 0)
    }
}

/// One line of an explanation, for humans and JSON output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explained {
    /// Where ("Byte 1 bit 8", "Rule 1", "Length").
    pub label: String,
    /// What it means.
    pub detail: String,
}

impl Explained {
    fn new(label: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            detail: detail.into(),
        }
    }
}

/// Errors decoding a bitmap or list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BitmapError {
    /// The value does not have the element's fixed length.
    #[error("wrong length: expected {expected} bytes, got {actual}")]
    WrongLength {
        /// Required length.
        expected: usize,
        /// Length received.
        actual: usize,
    },
    /// A CVM List shorter than the 8 bytes of amounts X and Y.
    #[error("CVM List too short: {0} bytes, at least 8 needed")]
    CvmListTooShort(usize),
    /// A CVM List whose rules part is not a whole number of 2-byte CV Rules.
    #[error("CVM List has {0} bytes of CV Rules, not a multiple of 2")]
    CvmListOddRules(usize),
}

/// Explains every set bit of `value` against `table`: one entry per set bit, label
/// "Byte B bit N", detail the meaning or "RFU" if the table does not name it.
pub fn explain_bits(value: &[u8], table: &[BitDef]) -> Vec<Explained> {
    let mut out = Vec::new();
    for (i, byte) in value.iter().enumerate() {
        for bit in (1..=8u8).rev() {
            let mask = 1u8 << (bit - 1);
            if byte & mask == 0 {
                continue;
            }
            let meaning = table
                .iter()
                .find(|d| d.byte == i + 1 && d.mask == mask)
                .map_or("RFU", |d| d.meaning);
            out.push(Explained::new(format!("Byte {} bit {bit}", i + 1), meaning));
        }
    }
    out
}

fn hex(value: &[u8]) -> String {
    value.iter().map(|b| format!("{b:02X}")).collect()
}

macro_rules! bitmap {
    (
        $(#[$smeta:meta])*
        struct $name:ident([u8; $len:literal]) = $init:expr;
        $(#[$emeta:meta])*
        enum $bit:ident;
        $(#[$tmeta:meta])*
        table $table:ident;
        $( $(#[$vmeta:meta])* $variant:ident = ($byte:literal, $mask:literal, $meaning:literal), )+
    ) => {
        $(#[$tmeta])*
        pub const $table: &[BitDef] = &[
            $( BitDef { byte: $byte, mask: $mask, meaning: $meaning }, )+
        ];

        $(#[$emeta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $bit {
            $( $(#[$vmeta])* #[doc = concat!("Byte ", $byte, ", mask ", stringify!($mask), ": ", $meaning, ".")] $variant, )+
        }

        impl $bit {
            /// Every named bit, in table order.
            pub const ALL: &'static [$bit] = &[ $( $bit::$variant, )+ ];

            /// Position and meaning of this bit.
            pub const fn def(self) -> BitDef {
                match self {
                    $( $bit::$variant => BitDef { byte: $byte, mask: $mask, meaning: $meaning }, )+
                }
            }

            /// Meaning of this bit, as in the book.
            pub const fn meaning(self) -> &'static str {
                self.def().meaning
            }
        }

        impl core::fmt::Display for $bit {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.meaning())
            }
        }

        $(#[$smeta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub struct $name(pub [u8; $len]);

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            /// Length of the value in bytes.
            pub const LEN: usize = $len;

            /// The initial value (no bit set).
            pub const fn new() -> Self {
                Self($init)
            }

            /// Decodes a value; it must have exactly [`Self::LEN`] bytes.
            pub fn from_slice(value: &[u8]) -> Result<Self, BitmapError> {
                <[u8; $len]>::try_from(value).map(Self).map_err(|_| BitmapError::WrongLength {
                    expected: $len,
                    actual: value.len(),
                })
            }

            /// Sets a bit.
            pub fn set(&mut self, bit: $bit) {
                let d = bit.def();
                if let Some(b) = d.byte.checked_sub(1).and_then(|i| self.0.get_mut(i)) {
                    *b |= d.mask;
                }
            }

            /// Clears a bit.
            pub fn clear(&mut self, bit: $bit) {
                let d = bit.def();
                if let Some(b) = d.byte.checked_sub(1).and_then(|i| self.0.get_mut(i)) {
                    *b &= !d.mask;
                }
            }

            /// Returns a copy with `bit` set.
            #[must_use]
            pub fn with(mut self, bit: $bit) -> Self {
                self.set(bit);
                self
            }

            /// Whether a bit is set.
            pub fn is_set(&self, bit: $bit) -> bool {
                bit.def().is_set_in(&self.0)
            }

            /// The named bits that are set, in table order.
            pub fn bits(&self) -> impl Iterator<Item = $bit> + use<> {
                let me = *self;
                $bit::ALL.iter().copied().filter(move |b| me.is_set(*b))
            }

            /// The raw bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// One entry per set bit (named or RFU).
            pub fn explain(&self) -> Vec<Explained> {
                explain_bits(&self.0, $table)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(b: [u8; $len]) -> Self {
                Self(b)
            }
        }

        impl From<$name> for [u8; $len] {
            fn from(v: $name) -> Self {
                v.0
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), hex(&self.0))
            }
        }
    };
}

bitmap! {
    /// Terminal Verification Results, tag '95' (EMV 4.4 Book 3 Annex C5, Table 46).
    struct Tvr([u8; 5]) = [0; 5];
    /// A named bit of the [`Tvr`].
    enum TvrBit;
    /// TVR bit table (EMV 4.4 Book 3 Annex C5).
    table TVR_BITS;
    OfflineDataAuthenticationNotPerformed = (1, 0x80, "Offline data authentication was not performed"),
    SdaFailed = (1, 0x40, "SDA failed"),
    IccDataMissing = (1, 0x20, "ICC data missing"),
    CardOnExceptionFile = (1, 0x10, "Card appears on terminal exception file"),
    DdaFailed = (1, 0x08, "DDA failed"),
    CdaFailed = (1, 0x04, "CDA failed"),
    SdaSelected = (1, 0x02, "SDA selected"),
    /// RFU before EMV 4.4.
    XdaSelected = (1, 0x01, "XDA selected"),
    DifferentApplicationVersions = (2, 0x80, "ICC and terminal have different application versions"),
    ExpiredApplication = (2, 0x40, "Expired application"),
    ApplicationNotYetEffective = (2, 0x20, "Application not yet effective"),
    ServiceNotAllowed = (2, 0x10, "Requested service not allowed for card product"),
    NewCard = (2, 0x08, "New card"),
    BiometricPerformedSuccessful = (2, 0x02, "Biometric performed and successful"),
    BiometricTemplateFormatNotSupported = (2, 0x01, "Biometric template format not supported"),
    CardholderVerificationNotSuccessful = (3, 0x80, "Cardholder verification was not successful"),
    UnrecognisedCvm = (3, 0x40, "Unrecognised CVM"),
    PinTryLimitExceeded = (3, 0x20, "PIN Try Limit exceeded"),
    PinPadNotPresentOrNotWorking = (3, 0x10, "PIN entry required and PIN pad not present or not working"),
    PinNotEntered = (3, 0x08, "PIN entry required, PIN pad present, but PIN was not entered"),
    /// EMV 4.3: "Online PIN entered".
    OnlineCvmCaptured = (3, 0x04, "Online CVM captured"),
    BiometricCaptureDeviceNotWorking = (3, 0x02, "Biometric required but Biometric capture device not working"),
    BiometricSubtypeBypassed = (3, 0x01, "Biometric required, Biometric capture device present, but Biometric Subtype entry was bypassed"),
    FloorLimitExceeded = (4, 0x80, "Transaction exceeds floor limit"),
    LowerConsecutiveOfflineLimitExceeded = (4, 0x40, "Lower consecutive offline limit exceeded"),
    UpperConsecutiveOfflineLimitExceeded = (4, 0x20, "Upper consecutive offline limit exceeded"),
    RandomlySelectedOnline = (4, 0x10, "Transaction selected randomly for online processing"),
    MerchantForcedOnline = (4, 0x08, "Merchant forced transaction online"),
    BiometricTryLimitExceeded = (4, 0x04, "Biometric Try Limit exceeded"),
    BiometricTypeNotSupported = (4, 0x02, "A selected Biometric Type not supported"),
    XdaSignatureVerificationFailed = (4, 0x01, "XDA signature verification failed"),
    DefaultTdolUsed = (5, 0x80, "Default TDOL used"),
    IssuerAuthenticationFailed = (5, 0x40, "Issuer authentication failed"),
    ScriptFailedBeforeFinalGenerateAc = (5, 0x20, "Script processing failed before final GENERATE AC"),
    ScriptFailedAfterFinalGenerateAc = (5, 0x10, "Script processing failed after final GENERATE AC"),
    /// Book C-2 uses it for "Relay resistance threshold exceeded".
    ContactlessReservedByte5Bit4 = (5, 0x08, "Reserved for use by the EMV Contactless Specifications"),
    CaEccKeyMissing = (5, 0x04, "CA ECC key missing"),
    EccKeyRecoveryFailed = (5, 0x02, "ECC key recovery failed"),
    ContactlessReservedByte5Bit1 = (5, 0x01, "Reserved for use by the EMV Contactless Specifications"),
}

bitmap! {
    /// Transaction Status Information, tag '9B' (EMV 4.4 Book 3 Annex C6, Table 47).
    struct Tsi([u8; 2]) = [0; 2];
    /// A named bit of the [`Tsi`].
    enum TsiBit;
    /// TSI bit table (EMV 4.4 Book 3 Annex C6).
    table TSI_BITS;
    OfflineDataAuthenticationPerformed = (1, 0x80, "Offline data authentication was performed"),
    CardholderVerificationPerformed = (1, 0x40, "Cardholder verification was performed"),
    CardRiskManagementPerformed = (1, 0x20, "Card risk management was performed"),
    IssuerAuthenticationPerformed = (1, 0x10, "Issuer authentication was performed"),
    TerminalRiskManagementPerformed = (1, 0x08, "Terminal risk management was performed"),
    ScriptProcessingPerformed = (1, 0x04, "Script processing was performed"),
}

bitmap! {
    /// Application Interchange Profile, tag '82' (EMV 4.4 Book 3 Annex C1, Table 41; the bits
    /// Book 3 reserves for the contactless specifications are named per Book C-2 A.1.16).
    struct Aip([u8; 2]) = [0; 2];
    /// A named bit of the [`Aip`].
    enum AipBit;
    /// AIP bit table (EMV 4.4 Book 3 Annex C1; Book C-2 Annex A.1.16).
    table AIP_BITS;
    /// RFU before EMV 4.4.
    XdaSupported = (1, 0x80, "XDA supported"),
    SdaSupported = (1, 0x40, "SDA supported"),
    DdaSupported = (1, 0x20, "DDA supported"),
    CardholderVerificationSupported = (1, 0x10, "Cardholder verification is supported"),
    TerminalRiskManagementToBePerformed = (1, 0x08, "Terminal risk management is to be performed"),
    IssuerAuthenticationSupported = (1, 0x04, "Issuer authentication is supported"),
    OnDeviceCardholderVerificationSupported = (1, 0x02, "On device cardholder verification is supported (Book C-2)"),
    CdaSupported = (1, 0x01, "CDA supported"),
    EmvModeSupported = (2, 0x80, "EMV mode is supported (Book C-2)"),
    MobilePhone = (2, 0x40, "Mobile phone (Book C-2)"),
    ContactlessTransaction = (2, 0x20, "Contactless transaction (Book C-2)"),
    RelayResistanceProtocolSupported = (2, 0x01, "Relay Resistance Protocol is supported (Book C-2)"),
}

bitmap! {
    /// Application Usage Control, tag '9F07' (EMV 4.4 Book 3 Annex C2, Table 42).
    struct Auc([u8; 2]) = [0; 2];
    /// A named bit of the [`Auc`].
    enum AucBit;
    /// AUC bit table (EMV 4.4 Book 3 Annex C2).
    table AUC_BITS;
    DomesticCash = (1, 0x80, "Valid for domestic cash transactions"),
    InternationalCash = (1, 0x40, "Valid for international cash transactions"),
    DomesticGoods = (1, 0x20, "Valid for domestic goods"),
    InternationalGoods = (1, 0x10, "Valid for international goods"),
    DomesticServices = (1, 0x08, "Valid for domestic services"),
    InternationalServices = (1, 0x04, "Valid for international services"),
    Atm = (1, 0x02, "Valid at ATMs"),
    NonAtm = (1, 0x01, "Valid at terminals other than ATMs"),
    DomesticCashback = (2, 0x80, "Domestic cashback allowed"),
    InternationalCashback = (2, 0x40, "International cashback allowed"),
}

bitmap! {
    /// Terminal Capabilities, tag '9F33' (EMV 4.4 Book 4 Annex A2, Tables 25-27).
    struct TerminalCapabilities([u8; 3]) = [0; 3];
    /// A named bit of the [`TerminalCapabilities`].
    enum TerminalCapabilitiesBit;
    /// Terminal Capabilities bit table (EMV 4.4 Book 4 Annex A2).
    table TERMINAL_CAPABILITIES_BITS;
    ManualKeyEntry = (1, 0x80, "Manual key entry"),
    MagneticStripe = (1, 0x40, "Magnetic stripe"),
    IcWithContacts = (1, 0x20, "IC with contacts"),
    PlaintextPinForIccVerification = (2, 0x80, "Plaintext PIN for ICC verification"),
    EncipheredPinForOnlineVerification = (2, 0x40, "Enciphered PIN for online verification"),
    Signature = (2, 0x20, "Signature"),
    EncipheredPinForOfflineVerificationRsa = (2, 0x10, "Enciphered PIN for offline verification (RSA ODE)"),
    NoCvmRequired = (2, 0x08, "No CVM Required"),
    OnlineBiometric = (2, 0x04, "Online Biometric"),
    OfflineBiometric = (2, 0x02, "Offline Biometric"),
    EncipheredPinForOfflineVerificationEcc = (2, 0x01, "Enciphered PIN for offline verification (ECC ODE)"),
    Sda = (3, 0x80, "SDA"),
    Dda = (3, 0x40, "DDA"),
    CardCapture = (3, 0x20, "Card capture"),
    Cda = (3, 0x08, "CDA"),
    Xda = (3, 0x04, "XDA"),
}

bitmap! {
    /// Additional Terminal Capabilities, tag '9F40' (EMV 4.4 Book 4 Annex A3, Tables 28-32).
    struct AdditionalTerminalCapabilities([u8; 5]) = [0; 5];
    /// A named bit of the [`AdditionalTerminalCapabilities`].
    enum AdditionalTerminalCapabilitiesBit;
    /// Additional Terminal Capabilities bit table (EMV 4.4 Book 4 Annex A3).
    table ADDITIONAL_TERMINAL_CAPABILITIES_BITS;
    Cash = (1, 0x80, "Cash"),
    Goods = (1, 0x40, "Goods"),
    Services = (1, 0x20, "Services"),
    Cashback = (1, 0x10, "Cashback"),
    Inquiry = (1, 0x08, "Inquiry"),
    Transfer = (1, 0x04, "Transfer"),
    Payment = (1, 0x02, "Payment"),
    Administrative = (1, 0x01, "Administrative"),
    CashDeposit = (2, 0x80, "Cash Deposit"),
    NumericKeys = (3, 0x80, "Numeric keys"),
    AlphabeticAndSpecialCharactersKeys = (3, 0x40, "Alphabetic and special characters keys"),
    CommandKeys = (3, 0x20, "Command keys"),
    FunctionKeys = (3, 0x10, "Function keys"),
    PrintOrElectronicAttendant = (4, 0x80, "Print or electronic, attendant"),
    PrintOrElectronicCardholder = (4, 0x40, "Print or electronic, cardholder"),
    DisplayAttendant = (4, 0x20, "Display, attendant"),
    DisplayCardholder = (4, 0x10, "Display, cardholder"),
    CodeTable10 = (4, 0x02, "Code table 10"),
    CodeTable9 = (4, 0x01, "Code table 9"),
    CodeTable8 = (5, 0x80, "Code table 8"),
    CodeTable7 = (5, 0x40, "Code table 7"),
    CodeTable6 = (5, 0x20, "Code table 6"),
    CodeTable5 = (5, 0x10, "Code table 5"),
    CodeTable4 = (5, 0x08, "Code table 4"),
    CodeTable3 = (5, 0x04, "Code table 3"),
    CodeTable2 = (5, 0x02, "Code table 2"),
    CodeTable1 = (5, 0x01, "Code table 1"),
}

bitmap! {
    /// Terminal Transaction Qualifiers, tag '9F66' (EMV Contactless Book A §5.7; Book C-3).
    struct Ttq([u8; 4]) = [0; 4];
    /// A named bit of the [`Ttq`].
    enum TtqBit;
    /// TTQ bit table (EMV Contactless Book A / Book C-3).
    table TTQ_BITS;
    MagStripeModeSupported = (1, 0x80, "Mag-stripe mode supported"),
    EmvModeSupported = (1, 0x20, "EMV mode supported"),
    EmvContactChipSupported = (1, 0x10, "EMV contact chip supported"),
    OfflineOnlyReader = (1, 0x08, "Offline-only reader"),
    OnlinePinSupported = (1, 0x04, "Online PIN supported"),
    SignatureSupported = (1, 0x02, "Signature supported"),
    OdaForOnlineAuthorisationsSupported = (1, 0x01, "Offline Data Authentication for Online Authorizations supported"),
    OnlineCryptogramRequired = (2, 0x80, "Online cryptogram required"),
    CvmRequired = (2, 0x40, "CVM required"),
    ContactChipOfflinePinSupported = (2, 0x20, "(Contact Chip) Offline PIN supported"),
    IssuerUpdateProcessingSupported = (3, 0x80, "Issuer Update Processing supported"),
    ConsumerDeviceCvmSupported = (3, 0x40, "Consumer Device CVM supported"),
}

bitmap! {
    /// Card Transaction Qualifiers, tag '9F6C' (EMV Contactless Book C-3 Annex A.2).
    struct Ctq([u8; 2]) = [0; 2];
    /// A named bit of the [`Ctq`].
    enum CtqBit;
    /// CTQ bit table (EMV Contactless Book C-3 Annex A.2).
    table CTQ_BITS;
    OnlinePinRequired = (1, 0x80, "Online PIN Required"),
    SignatureRequired = (1, 0x40, "Signature Required"),
    GoOnlineIfOdaFails = (1, 0x20, "Go Online if Offline Data Authentication Fails and Reader is online capable"),
    SwitchInterfaceIfOdaFails = (1, 0x10, "Switch Interface if Offline Data Authentication fails and Reader supports contact chip"),
    GoOnlineIfApplicationExpired = (1, 0x08, "Go Online if Application Expired"),
    SwitchInterfaceForCash = (1, 0x04, "Switch Interface for Cash Transactions"),
    SwitchInterfaceForCashback = (1, 0x02, "Switch Interface for Cashback Transactions"),
    ConsumerDeviceCvmPerformed = (2, 0x80, "Consumer Device CVM Performed"),
    IssuerUpdateProcessingSupported = (2, 0x40, "Card supports Issuer Update Processing at the POS"),
}

bitmap! {
    /// Card Verification Results of Lamina's own applet, carried in Issuer Application Data
    /// '9F10'.
    ///
    /// **Lamina's definition** (4 bytes; the layout is modelled on the publicly documented
    /// 4-byte Visa VIS CVR, but it is Lamina's own and no compatibility is claimed):
    ///
    /// | Byte | Bits | Meaning |
    /// |------|------|---------|
    /// | 1 | 8-1 | Length of the following CVR bytes: always `03` |
    /// | 2 | 8-7 | AC returned in second GENERATE AC: `00` AAC, `01` TC, `10` not requested, `11` RFU ([`SecondAc`]) |
    /// | 2 | 6-5 | AC returned in first GENERATE AC: `00` AAC, `01` TC, `10` ARQC, `11` RFU ([`FirstAc`]) |
    /// | 2 | 4-1 | named bits, see [`CvrBit`] |
    /// | 3 | 8-1 | named bits, see [`CvrBit`] |
    /// | 4 | 8-5 | Number of issuer script commands containing secure messaging processed (0-15) |
    /// | 4 | 4-2 | named bits, see [`CvrBit`]; bit 1 RFU |
    struct Cvr([u8; 4]) = [0x03, 0, 0, 0];
    /// A named single bit of the [`Cvr`].
    enum CvrBit;
    /// Lamina CVR single-bit table (multi-bit fields are decoded by [`Cvr`] itself).
    table CVR_BITS;
    IssuerAuthenticationFailed = (2, 0x08, "Issuer authentication performed and failed"),
    OfflinePinPerformed = (2, 0x04, "Offline PIN verification performed"),
    OfflinePinFailed = (2, 0x02, "Offline PIN verification failed"),
    UnableToGoOnline = (2, 0x01, "Unable to go online"),
    LastOnlineTransactionNotCompleted = (3, 0x80, "Last online transaction not completed"),
    PinTryLimitExceeded = (3, 0x40, "PIN Try Limit exceeded"),
    VelocityCountersExceeded = (3, 0x20, "Exceeded velocity checking counters"),
    NewCard = (3, 0x10, "New card"),
    IssuerAuthenticationFailedLastOnline = (3, 0x08, "Issuer authentication failure on last online transaction"),
    IssuerAuthenticationNotPerformed = (3, 0x04, "Issuer authentication not performed after online authorisation"),
    BlockedPinTryLimitExceeded = (3, 0x02, "Application blocked by card because PIN Try Limit exceeded"),
    OfflineSdaFailedLastTransaction = (3, 0x01, "Offline static data authentication failed on last transaction and transaction declined offline"),
    IssuerScriptFailed = (4, 0x08, "Issuer script processing failed"),
    OfflineDdaFailedLastTransaction = (4, 0x04, "Offline dynamic data authentication failed on last transaction and transaction declined offline"),
    OfflineDdaPerformed = (4, 0x02, "Offline dynamic data authentication performed"),
}

/// AC type returned in the first GENERATE AC, [`Cvr`] byte 2 bits 6-5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FirstAc {
    /// `00`: AAC.
    Aac,
    /// `01`: TC.
    Tc,
    /// `10`: ARQC.
    Arqc,
}

/// AC type returned in the second GENERATE AC, [`Cvr`] byte 2 bits 8-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum SecondAc {
    /// `00`: AAC.
    Aac,
    /// `01`: TC.
    Tc,
    /// `10`: second GENERATE AC not requested.
    NotRequested,
}

impl Cvr {
    /// Value of byte 1: the number of CVR bytes that follow.
    pub const LENGTH_INDICATOR: u8 = 0x03;

    fn byte2(&self) -> u8 {
        self.0.get(1).copied().unwrap_or(0)
    }

    fn set_byte2_field(&mut self, mask: u8, value: u8) {
        if let Some(b) = self.0.get_mut(1) {
            *b = (*b & !mask) | (value & mask);
        }
    }

    /// AC returned in the first GENERATE AC; `None` for the RFU code `11`.
    pub fn first_ac(&self) -> Option<FirstAc> {
        match (self.byte2() >> 4) & 0x03 {
            0 => Some(FirstAc::Aac),
            1 => Some(FirstAc::Tc),
            2 => Some(FirstAc::Arqc),
            _ => None,
        }
    }

    /// Records the AC returned in the first GENERATE AC.
    pub fn set_first_ac(&mut self, ac: FirstAc) {
        let code = match ac {
            FirstAc::Aac => 0,
            FirstAc::Tc => 1,
            FirstAc::Arqc => 2,
        };
        self.set_byte2_field(0x30, code << 4);
    }

    /// AC returned in the second GENERATE AC; `None` for the RFU code `11`.
    pub fn second_ac(&self) -> Option<SecondAc> {
        match (self.byte2() >> 6) & 0x03 {
            0 => Some(SecondAc::Aac),
            1 => Some(SecondAc::Tc),
            2 => Some(SecondAc::NotRequested),
            _ => None,
        }
    }

    /// Records the AC returned in the second GENERATE AC.
    pub fn set_second_ac(&mut self, ac: SecondAc) {
        let code = match ac {
            SecondAc::Aac => 0,
            SecondAc::Tc => 1,
            SecondAc::NotRequested => 2,
        };
        self.set_byte2_field(0xC0, code << 6);
    }

    /// Number of issuer script commands containing secure messaging processed (byte 4 bits
    /// 8-5).
    pub fn script_commands_with_sm(&self) -> u8 {
        self.0.get(3).copied().unwrap_or(0) >> 4
    }

    /// Sets the script command counter, saturating at 15.
    pub fn set_script_commands_with_sm(&mut self, n: u8) {
        if let Some(b) = self.0.get_mut(3) {
            *b = (*b & 0x0F) | (n.min(15) << 4);
        }
    }

    /// Full explanation: length byte, both AC fields, the script counter, then one entry per
    /// set single bit (RFU bits included).
    pub fn explain_all(&self) -> Vec<Explained> {
        let mut out = Vec::new();
        let len = self.0.first().copied().unwrap_or(0);
        out.push(Explained::new(
            "Byte 1",
            if len == Self::LENGTH_INDICATOR {
                "Length of CVR data: 3".to_owned()
            } else {
                format!("Length of CVR data: {len} (expected 3)")
            },
        ));
        out.push(Explained::new(
            "Byte 2 bits 8-7",
            match self.second_ac() {
                Some(SecondAc::Aac) => "AAC returned in second GENERATE AC",
                Some(SecondAc::Tc) => "TC returned in second GENERATE AC",
                Some(SecondAc::NotRequested) => "Second GENERATE AC not requested",
                None => "RFU (11)",
            },
        ));
        out.push(Explained::new(
            "Byte 2 bits 6-5",
            match self.first_ac() {
                Some(FirstAc::Aac) => "AAC returned in first GENERATE AC",
                Some(FirstAc::Tc) => "TC returned in first GENERATE AC",
                Some(FirstAc::Arqc) => "ARQC returned in first GENERATE AC",
                None => "RFU (11)",
            },
        ));
        out.push(Explained::new(
            "Byte 4 bits 8-5",
            format!(
                "{} issuer script command(s) with secure messaging processed",
                self.script_commands_with_sm()
            ),
        ));
        // Single bits: skip byte 1 and the multi-bit fields.
        let mut masked = self.0;
        masked[0] = 0;
        masked[1] &= 0x0F;
        masked[3] &= 0x0F;
        out.extend(explain_bits(&masked, CVR_BITS));
        out
    }
}

/// Explains a Lamina CVR (see [`Cvr`]); a wrong length gives one entry saying so.
pub fn explain_cvr(value: &[u8]) -> Vec<Explained> {
    match Cvr::from_slice(value) {
        Ok(cvr) => cvr.explain_all(),
        Err(e) => vec![Explained::new("Length", e.to_string())],
    }
}

/// A Cardholder Verification Method code, bits 6-1 of CV Rule byte 1 (EMV 4.4 Book 3 Annex
/// C3, Table 43). Open enum: unknown values are kept in [`CvmMethod::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CvmMethod {
    /// `000000` Fail CVM processing.
    FailCvmProcessing,
    /// `000001` Plaintext PIN verification performed by ICC.
    PlaintextPinByIcc,
    /// `000010` Enciphered PIN verified online.
    EncipheredPinOnline,
    /// `000011` Plaintext PIN verification performed by ICC and signature (paper).
    PlaintextPinByIccAndSignature,
    /// `000100` Enciphered PIN verification performed by ICC.
    EncipheredPinByIcc,
    /// `000101` Enciphered PIN verification performed by ICC and signature (paper).
    EncipheredPinByIccAndSignature,
    /// `000110` Facial biometric verified offline (by ICC).
    FacialBiometricOffline,
    /// `000111` Facial biometric verified online.
    FacialBiometricOnline,
    /// `001000` Finger biometric verified offline (by ICC).
    FingerBiometricOffline,
    /// `001001` Finger biometric verified online.
    FingerBiometricOnline,
    /// `001010` Palm biometric verified offline (by ICC).
    PalmBiometricOffline,
    /// `001011` Palm biometric verified online.
    PalmBiometricOnline,
    /// `001100` Iris biometric verified offline (by ICC).
    IrisBiometricOffline,
    /// `001101` Iris biometric verified online.
    IrisBiometricOnline,
    /// `001110` Voice biometric verified offline (by ICC).
    VoiceBiometricOffline,
    /// `001111` Voice biometric verified online.
    VoiceBiometricOnline,
    /// `011110` Signature (paper).
    Signature,
    /// `011111` No CVM required.
    NoCvmRequired,
    /// `111111` in CVM Results: no CVM performed (Book 4 Annex A4); not for use in a CVM List.
    NoCvmPerformed,
    /// Any other code (RFU, payment system or issuer ranges).
    Other(u8),
}

impl CvmMethod {
    /// Decodes bits 6-1 of a CV Rule's first byte (bits 8-7 are ignored).
    pub const fn from_code(code: u8) -> Self {
        match code & 0x3F {
            0x00 => Self::FailCvmProcessing,
            0x01 => Self::PlaintextPinByIcc,
            0x02 => Self::EncipheredPinOnline,
            0x03 => Self::PlaintextPinByIccAndSignature,
            0x04 => Self::EncipheredPinByIcc,
            0x05 => Self::EncipheredPinByIccAndSignature,
            0x06 => Self::FacialBiometricOffline,
            0x07 => Self::FacialBiometricOnline,
            0x08 => Self::FingerBiometricOffline,
            0x09 => Self::FingerBiometricOnline,
            0x0A => Self::PalmBiometricOffline,
            0x0B => Self::PalmBiometricOnline,
            0x0C => Self::IrisBiometricOffline,
            0x0D => Self::IrisBiometricOnline,
            0x0E => Self::VoiceBiometricOffline,
            0x0F => Self::VoiceBiometricOnline,
            0x1E => Self::Signature,
            0x1F => Self::NoCvmRequired,
            0x3F => Self::NoCvmPerformed,
            other => Self::Other(other),
        }
    }

    /// The 6-bit code.
    pub const fn code(self) -> u8 {
        match self {
            Self::FailCvmProcessing => 0x00,
            Self::PlaintextPinByIcc => 0x01,
            Self::EncipheredPinOnline => 0x02,
            Self::PlaintextPinByIccAndSignature => 0x03,
            Self::EncipheredPinByIcc => 0x04,
            Self::EncipheredPinByIccAndSignature => 0x05,
            Self::FacialBiometricOffline => 0x06,
            Self::FacialBiometricOnline => 0x07,
            Self::FingerBiometricOffline => 0x08,
            Self::FingerBiometricOnline => 0x09,
            Self::PalmBiometricOffline => 0x0A,
            Self::PalmBiometricOnline => 0x0B,
            Self::IrisBiometricOffline => 0x0C,
            Self::IrisBiometricOnline => 0x0D,
            Self::VoiceBiometricOffline => 0x0E,
            Self::VoiceBiometricOnline => 0x0F,
            Self::Signature => 0x1E,
            Self::NoCvmRequired => 0x1F,
            Self::NoCvmPerformed => 0x3F,
            Self::Other(c) => c & 0x3F,
        }
    }

    /// The short name payment engineers use on receipts and reports ("Online
    /// PIN", "Offline enciphered PIN", "No CVM"); [`Self::description`] gives
    /// Book 3's full wording.
    pub const fn short_name(self) -> &'static str {
        match self {
            Self::FailCvmProcessing => "Fail CVM",
            Self::PlaintextPinByIcc => "Offline plaintext PIN",
            Self::EncipheredPinOnline => "Online PIN",
            Self::PlaintextPinByIccAndSignature => "Offline plaintext PIN and signature",
            Self::EncipheredPinByIcc => "Offline enciphered PIN",
            Self::EncipheredPinByIccAndSignature => "Offline enciphered PIN and signature",
            Self::FacialBiometricOffline => "Offline facial biometric",
            Self::FacialBiometricOnline => "Online facial biometric",
            Self::FingerBiometricOffline => "Offline finger biometric",
            Self::FingerBiometricOnline => "Online finger biometric",
            Self::PalmBiometricOffline => "Offline palm biometric",
            Self::PalmBiometricOnline => "Online palm biometric",
            Self::IrisBiometricOffline => "Offline iris biometric",
            Self::IrisBiometricOnline => "Online iris biometric",
            Self::VoiceBiometricOffline => "Offline voice biometric",
            Self::VoiceBiometricOnline => "Online voice biometric",
            Self::Signature => "Signature",
            Self::NoCvmRequired => "No CVM",
            Self::NoCvmPerformed => "No CVM performed",
            Self::Other(_) => self.description(),
        }
    }

    /// Meaning as in Book 3 Table 43 (ranges for unknown codes).
    pub const fn description(self) -> &'static str {
        match self {
            Self::FailCvmProcessing => "Fail CVM processing",
            Self::PlaintextPinByIcc => "Plaintext PIN verification performed by ICC",
            Self::EncipheredPinOnline => "Enciphered PIN verified online",
            Self::PlaintextPinByIccAndSignature => {
                "Plaintext PIN verification performed by ICC and signature (paper)"
            }
            Self::EncipheredPinByIcc => "Enciphered PIN verification performed by ICC",
            Self::EncipheredPinByIccAndSignature => {
                "Enciphered PIN verification performed by ICC and signature (paper)"
            }
            Self::FacialBiometricOffline => "Facial biometric verified offline (by ICC)",
            Self::FacialBiometricOnline => "Facial biometric verified online",
            Self::FingerBiometricOffline => "Finger biometric verified offline (by ICC)",
            Self::FingerBiometricOnline => "Finger biometric verified online",
            Self::PalmBiometricOffline => "Palm biometric verified offline (by ICC)",
            Self::PalmBiometricOnline => "Palm biometric verified online",
            Self::IrisBiometricOffline => "Iris biometric verified offline (by ICC)",
            Self::IrisBiometricOnline => "Iris biometric verified online",
            Self::VoiceBiometricOffline => "Voice biometric verified offline (by ICC)",
            Self::VoiceBiometricOnline => "Voice biometric verified online",
            Self::Signature => "Signature (paper)",
            Self::NoCvmRequired => "No CVM required",
            Self::NoCvmPerformed => "No CVM performed",
            Self::Other(c) => match c & 0x3F {
                0x20..=0x2F => "Reserved for use by the individual payment systems",
                0x30..=0x3E => "Reserved for use by the issuer",
                _ => "RFU",
            },
        }
    }
}

/// A CVM Condition Code, CV Rule byte 2 (EMV 4.4 Book 3 Annex C3, Table 44). Open enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CvmCondition {
    /// `00` Always.
    Always,
    /// `01` If unattended cash.
    UnattendedCash,
    /// `02` If not unattended cash and not manual cash and not purchase with cashback.
    NotCashOrCashback,
    /// `03` If terminal supports the CVM.
    TerminalSupportsCvm,
    /// `04` If manual cash.
    ManualCash,
    /// `05` If purchase with cashback.
    PurchaseWithCashback,
    /// `06` If transaction is in the application currency and is under X value.
    UnderX,
    /// `07` If transaction is in the application currency and is over X value.
    OverX,
    /// `08` If transaction is in the application currency and is under Y value.
    UnderY,
    /// `09` If transaction is in the application currency and is over Y value.
    OverY,
    /// Any other code (`0A`-`7F` RFU, `80`-`FF` payment systems).
    Other(u8),
}

impl CvmCondition {
    /// Decodes a condition code.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0x00 => Self::Always,
            0x01 => Self::UnattendedCash,
            0x02 => Self::NotCashOrCashback,
            0x03 => Self::TerminalSupportsCvm,
            0x04 => Self::ManualCash,
            0x05 => Self::PurchaseWithCashback,
            0x06 => Self::UnderX,
            0x07 => Self::OverX,
            0x08 => Self::UnderY,
            0x09 => Self::OverY,
            other => Self::Other(other),
        }
    }

    /// The code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Always => 0x00,
            Self::UnattendedCash => 0x01,
            Self::NotCashOrCashback => 0x02,
            Self::TerminalSupportsCvm => 0x03,
            Self::ManualCash => 0x04,
            Self::PurchaseWithCashback => 0x05,
            Self::UnderX => 0x06,
            Self::OverX => 0x07,
            Self::UnderY => 0x08,
            Self::OverY => 0x09,
            Self::Other(c) => c,
        }
    }

    /// Meaning as in Book 3 Table 44.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::UnattendedCash => "If unattended cash",
            Self::NotCashOrCashback => {
                "If not unattended cash and not manual cash and not purchase with cashback"
            }
            Self::TerminalSupportsCvm => "If terminal supports the CVM",
            Self::ManualCash => "If manual cash",
            Self::PurchaseWithCashback => "If purchase with cashback",
            Self::UnderX => "If transaction is in the application currency and is under X value",
            Self::OverX => "If transaction is in the application currency and is over X value",
            Self::UnderY => "If transaction is in the application currency and is under Y value",
            Self::OverY => "If transaction is in the application currency and is over Y value",
            Self::Other(c) => {
                if c >= 0x80 {
                    "Reserved for use by individual payment systems"
                } else {
                    "RFU"
                }
            }
        }
    }
}

/// One Cardholder Verification Rule (EMV 4.4 Book 3 Annex C3): 2 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct CvRule {
    /// CVM code (byte 1 bits 6-1).
    pub method: CvmMethod,
    /// Byte 1 bit 7: apply succeeding CV Rule if this CVM is unsuccessful (else fail
    /// cardholder verification).
    pub apply_next_if_unsuccessful: bool,
    /// CVM Condition Code (byte 2).
    pub condition: CvmCondition,
}

impl CvRule {
    /// Decodes a rule from its two bytes (byte 1 bit 8 is RFU and ignored).
    pub const fn from_bytes(b1: u8, b2: u8) -> Self {
        Self {
            method: CvmMethod::from_code(b1),
            apply_next_if_unsuccessful: b1 & 0x40 != 0,
            condition: CvmCondition::from_code(b2),
        }
    }

    /// Encodes the rule.
    pub const fn to_bytes(self) -> [u8; 2] {
        let b1 = self.method.code()
            | if self.apply_next_if_unsuccessful {
                0x40
            } else {
                0
            };
        [b1, self.condition.code()]
    }

    /// "Method; condition; apply succeeding rule / fail cardholder verification".
    pub fn describe(&self) -> String {
        format!(
            "{}; {}; {}",
            self.method.description(),
            self.condition.description(),
            if self.apply_next_if_unsuccessful {
                "apply succeeding CV Rule if this CVM is unsuccessful"
            } else {
                "fail cardholder verification if this CVM is unsuccessful"
            }
        )
    }
}

/// Cardholder Verification Method (CVM) List, tag '8E' (EMV 4.4 Book 3 Annex C3): amount X
/// (4 bytes), amount Y (4 bytes), then 2-byte CV Rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CvmList {
    /// Amount X, binary, in the application currency.
    pub amount_x: u32,
    /// Amount Y, binary, in the application currency.
    pub amount_y: u32,
    /// CV Rules in list order.
    pub rules: Vec<CvRule>,
}

impl CvmList {
    /// Parses a CVM List. A list with no rules (8 bytes) is accepted; Book 3 §10.5 tells the
    /// terminal what to do with it.
    pub fn parse(value: &[u8]) -> Result<Self, BitmapError> {
        let (Some(x), Some(y), Some(rest)) = (
            value.get(0..4).and_then(|s| <[u8; 4]>::try_from(s).ok()),
            value.get(4..8).and_then(|s| <[u8; 4]>::try_from(s).ok()),
            value.get(8..),
        ) else {
            return Err(BitmapError::CvmListTooShort(value.len()));
        };
        if rest.len() % 2 != 0 {
            return Err(BitmapError::CvmListOddRules(rest.len()));
        }
        let rules = rest
            .chunks_exact(2)
            .map(|c| match c {
                [a, b] => CvRule::from_bytes(*a, *b),
                _ => CvRule::from_bytes(0, 0), // unreachable: chunks_exact(2)
            })
            .collect();
        Ok(Self {
            amount_x: u32::from_be_bytes(x),
            amount_y: u32::from_be_bytes(y),
            rules,
        })
    }

    /// Encodes the list.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 2 * self.rules.len());
        out.extend_from_slice(&self.amount_x.to_be_bytes());
        out.extend_from_slice(&self.amount_y.to_be_bytes());
        for r in &self.rules {
            out.extend_from_slice(&r.to_bytes());
        }
        out
    }

    /// One entry for the amounts, then one entry per rule.
    pub fn explain(&self) -> Vec<Explained> {
        let mut out = vec![Explained::new(
            "Amounts",
            format!("X = {}, Y = {}", self.amount_x, self.amount_y),
        )];
        for (i, r) in self.rules.iter().enumerate() {
            let [b1, b2] = r.to_bytes();
            out.push(Explained::new(
                format!("Rule {} ({b1:02X}{b2:02X})", i + 1),
                r.describe(),
            ));
        }
        out
    }
}

/// Result of the last CVM performed, CVM Results byte 3 (EMV 4.4 Book 4 Annex A4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CvmResult {
    /// `00` Unknown (for example, for signature).
    Unknown,
    /// `01` Failed.
    Failed,
    /// `02` Successful.
    Successful,
    /// Any other value.
    Other(u8),
}

impl CvmResult {
    /// Decodes byte 3.
    pub const fn from_code(code: u8) -> Self {
        match code {
            0 => Self::Unknown,
            1 => Self::Failed,
            2 => Self::Successful,
            c => Self::Other(c),
        }
    }

    /// The code.
    pub const fn code(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Failed => 1,
            Self::Successful => 2,
            Self::Other(c) => c,
        }
    }
}

/// Cardholder Verification Method (CVM) Results, tag '9F34' (EMV 4.4 Book 4 Annex A4,
/// Table 33): CVM performed ('3F' if none), condition, result.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct CvmResults(pub [u8; 3]);

impl CvmResults {
    /// Length in bytes.
    pub const LEN: usize = 3;

    /// Builds a value from its three fields. For "no CVM performed" Book 4 Annex A4 gives
    /// method byte '3F' and condition '00'; the result is '1' if no CV Rule condition was
    /// satisfied or the CVM was not recognised.
    pub const fn new(method_byte: u8, condition: CvmCondition, result: CvmResult) -> Self {
        Self([method_byte, condition.code(), result.code()])
    }

    /// Builds from a rule.
    pub const fn from_rule(rule: CvRule, result: CvmResult) -> Self {
        let [b1, b2] = rule.to_bytes();
        Self([b1, b2, result.code()])
    }

    /// Decodes a value of exactly 3 bytes.
    pub fn from_slice(value: &[u8]) -> Result<Self, BitmapError> {
        <[u8; 3]>::try_from(value)
            .map(Self)
            .map_err(|_| BitmapError::WrongLength {
                expected: 3,
                actual: value.len(),
            })
    }

    /// CVM performed (byte 1 bits 6-1).
    pub const fn method(&self) -> CvmMethod {
        CvmMethod::from_code(self.0[0])
    }

    /// Byte 1 bit 7 of the rule performed.
    pub const fn apply_next_if_unsuccessful(&self) -> bool {
        self.0[0] & 0x40 != 0
    }

    /// CVM condition (byte 2).
    pub const fn condition(&self) -> CvmCondition {
        CvmCondition::from_code(self.0[1])
    }

    /// CVM result (byte 3).
    pub const fn result(&self) -> CvmResult {
        CvmResult::from_code(self.0[2])
    }

    /// One entry describing method, condition and result.
    pub fn explain(&self) -> Vec<Explained> {
        let result = match self.result() {
            CvmResult::Unknown => "unknown".to_owned(),
            CvmResult::Failed => "failed".to_owned(),
            CvmResult::Successful => "successful".to_owned(),
            CvmResult::Other(c) => format!("RFU ({c:02X})"),
        };
        vec![Explained::new(
            "CVM Results",
            format!(
                "{}; condition: {}; result: {}",
                self.method().description(),
                self.condition().description(),
                result
            ),
        )]
    }
}

impl core::fmt::Debug for CvmResults {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CvmResults({})", hex(&self.0))
    }
}

/// Explains a Cryptogram Information Data byte, tag '9F27' (EMV 4.4 Book 3 §6.5.5.4).
fn explain_cid(cid: u8) -> Vec<Explained> {
    let ac = match cid >> 6 {
        0 => "AAC",
        1 => "TC",
        2 => "ARQC",
        _ => "RFU",
    };
    let mut out = vec![Explained::new("Bits 8-7", format!("Cryptogram type: {ac}"))];
    let ps = (cid >> 4) & 0x03;
    if ps != 0 {
        out.push(Explained::new(
            "Bits 6-5",
            format!("Payment System-specific cryptogram ({ps})"),
        ));
    }
    if cid & 0x08 != 0 {
        out.push(Explained::new("Bit 4", "Advice required"));
    }
    let reason = match cid & 0x07 {
        0 => None,
        1 => Some("Service not allowed"),
        2 => Some("PIN Try Limit exceeded"),
        3 => Some("Issuer authentication failed"),
        _ => Some("RFU"),
    };
    if let Some(r) = reason {
        out.push(Explained::new(
            "Bits 3-1",
            format!("Reason/advice code: {r}"),
        ));
    }
    out
}

fn fixed<const N: usize>(value: &[u8], table: &[BitDef]) -> Vec<Explained> {
    if value.len() == N {
        explain_bits(value, table)
    } else {
        vec![wrong_length(N, value.len())]
    }
}

fn wrong_length(expected: usize, actual: usize) -> Explained {
    Explained::new(
        "Length",
        BitmapError::WrongLength { expected, actual }.to_string(),
    )
}

/// Explains a one-byte element coded as byte `byte` of `table` (the Book C-2 tags that carry
/// one byte of Terminal Capabilities: 'DF8117', 'DF8118', 'DF8119', 'DF811F').
fn explain_byte_of(value: &[u8], table: &[BitDef], byte: usize) -> Vec<Explained> {
    let one: Vec<BitDef> = table
        .iter()
        .filter(|d| d.byte == byte)
        .map(|d| BitDef { byte: 1, ..*d })
        .collect();
    fixed::<1>(value, &one)
}

/// Explains Terminal Type '9F35' (EMV 4.4 Book 4 Annex A1, Table 24).
fn explain_terminal_type(value: &[u8]) -> Vec<Explained> {
    let [tt] = value else {
        return vec![wrong_length(1, value.len())];
    };
    let control = match tt >> 4 {
        1 => "Financial institution",
        2 => "Merchant",
        3 => "Cardholder",
        _ => "RFU",
    };
    let environment = match tt & 0x0F {
        1 => "Attended, online only",
        2 => "Attended, offline with online capability",
        3 => "Attended, offline only",
        4 => "Unattended, online only",
        5 => "Unattended, offline with online capability",
        6 => "Unattended, offline only",
        _ => "RFU",
    };
    vec![
        Explained::new("Operational control", control),
        Explained::new("Environment", environment),
    ]
}

/// Explains Issuer Script Results (EMV 4.4 Book 4 Annex A5, Table 34; tag '9F5B' in Book
/// C-3): 5 bytes per script, one entry per script.
fn explain_script_results(value: &[u8]) -> Vec<Explained> {
    if value.is_empty() || !value.len().is_multiple_of(5) {
        return vec![Explained::new(
            "Length",
            format!(
                "wrong length: expected a non-zero multiple of 5 bytes, got {}",
                value.len()
            ),
        )];
    }
    value
        .chunks_exact(5)
        .enumerate()
        .map(|(i, c)| {
            let b1 = c.first().copied().unwrap_or(0);
            let result = match b1 >> 4 {
                0 => "script not performed",
                1 => "script processing failed",
                2 => "script processing successful",
                _ => "RFU",
            };
            let seq = match b1 & 0x0F {
                0 => "sequence number not specified".to_owned(),
                0x0F => "sequence number 15 or above".to_owned(),
                n => format!("sequence number {n}"),
            };
            Explained::new(
                format!("Script {}", i + 1),
                format!(
                    "{result}, {seq}, script identifier {}",
                    hex(c.get(1..).unwrap_or(&[]))
                ),
            )
        })
        .collect()
}

/// Tags [`explain`] knows.
pub const EXPLAINED_TAGS: &[u32] = &[
    0x82, 0x8E, 0x95, 0x9B, 0x9F07, 0x9F0D, 0x9F0E, 0x9F0F, 0x9F27, 0x9F33, 0x9F34, 0x9F35, 0x9F40,
    0x9F5B, 0x9F66, 0x9F6C, 0xDF8117, 0xDF8118, 0xDF8119, 0xDF811F, 0xDF8120, 0xDF8121, 0xDF8122,
];

/// Explains the value of a bitmap-like tag for humans (used by the CLI).
///
/// * bitmaps: one entry per set bit, label "Byte B bit N", detail the meaning ("RFU" for bits
///   the table does not name);
/// * CVM List '8E': one entry for amounts X/Y, then one per CV Rule;
/// * CVM Results '9F34', CID '9F27', Terminal Type '9F35': decoded fields;
/// * Issuer Script Results '9F5B': one entry per script;
/// * Book C-2 one-byte capability tags 'DF8117'-'DF8119', 'DF811F': as the matching byte of
///   Terminal Capabilities;
/// * a value of the wrong length: one entry saying so.
///
/// Returns `None` for a tag not in [`EXPLAINED_TAGS`]. Never panics.
pub fn explain(tag: u32, value: &[u8]) -> Option<Vec<Explained>> {
    Some(match tag {
        0x95 | 0x9F0D | 0x9F0E | 0x9F0F | 0xDF8120 | 0xDF8121 | 0xDF8122 => {
            fixed::<5>(value, TVR_BITS)
        }
        0x9B => fixed::<2>(value, TSI_BITS),
        0x82 => fixed::<2>(value, AIP_BITS),
        0x9F07 => fixed::<2>(value, AUC_BITS),
        0x9F33 => fixed::<3>(value, TERMINAL_CAPABILITIES_BITS),
        0x9F40 => fixed::<5>(value, ADDITIONAL_TERMINAL_CAPABILITIES_BITS),
        0x9F66 => fixed::<4>(value, TTQ_BITS),
        0x9F6C => fixed::<2>(value, CTQ_BITS),
        0x8E => match CvmList::parse(value) {
            Ok(list) => list.explain(),
            Err(e) => vec![Explained::new("Length", e.to_string())],
        },
        0x9F34 => match CvmResults::from_slice(value) {
            Ok(r) => r.explain(),
            Err(_) => vec![wrong_length(3, value.len())],
        },
        0x9F35 => explain_terminal_type(value),
        0x9F5B => explain_script_results(value),
        0xDF8117 => explain_byte_of(value, TERMINAL_CAPABILITIES_BITS, 1),
        0xDF8118 | 0xDF8119 => explain_byte_of(value, TERMINAL_CAPABILITIES_BITS, 2),
        0xDF811F => explain_byte_of(value, TERMINAL_CAPABILITIES_BITS, 3),
        0x9F27 => match value {
            [cid] => explain_cid(*cid),
            _ => vec![wrong_length(1, value.len())],
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_tables() -> [(&'static str, &'static [BitDef], usize); 9] {
        [
            ("TVR", TVR_BITS, 5),
            ("TSI", TSI_BITS, 2),
            ("AIP", AIP_BITS, 2),
            ("AUC", AUC_BITS, 2),
            ("TC", TERMINAL_CAPABILITIES_BITS, 3),
            ("ATC", ADDITIONAL_TERMINAL_CAPABILITIES_BITS, 5),
            ("TTQ", TTQ_BITS, 4),
            ("CTQ", CTQ_BITS, 2),
            ("CVR", CVR_BITS, 4),
        ]
    }

    #[test]
    fn tables_are_single_bits_in_range_without_duplicates() {
        for (name, table, len) in all_tables() {
            for (i, d) in table.iter().enumerate() {
                assert_eq!(d.mask.count_ones(), 1, "{name} {d:?}");
                assert!((1..=len).contains(&d.byte), "{name} {d:?}");
                assert!(!d.meaning.is_empty());
                for e in table.iter().skip(i + 1) {
                    assert!(!(d.byte == e.byte && d.mask == e.mask), "{name} dup {d:?}");
                }
            }
        }
    }

    #[test]
    fn enum_and_table_agree() {
        assert_eq!(TvrBit::ALL.len(), TVR_BITS.len());
        for (b, d) in TvrBit::ALL.iter().zip(TVR_BITS) {
            assert_eq!(b.def(), *d);
        }
        assert_eq!(TvrBit::FloorLimitExceeded.def().bit(), 8);
        assert_eq!(TvrBit::XdaSelected.def().bit(), 1);
    }

    #[test]
    fn set_clear_roundtrip() {
        let mut t = Tvr::new();
        t.set(TvrBit::FloorLimitExceeded);
        assert_eq!(t.0, [0, 0, 0, 0x80, 0]);
        assert!(t.is_set(TvrBit::FloorLimitExceeded));
        t.clear(TvrBit::FloorLimitExceeded);
        assert_eq!(t, Tvr::new());
        assert_eq!(format!("{:?}", Tvr([1, 2, 3, 4, 5])), "Tvr(0102030405)");
    }

    #[test]
    fn cvr_fields() {
        let mut c = Cvr::new();
        assert_eq!(c.0, [0x03, 0, 0, 0]);
        c.set_first_ac(FirstAc::Arqc);
        c.set_second_ac(SecondAc::NotRequested);
        c.set_script_commands_with_sm(20);
        c.set(CvrBit::OfflinePinPerformed);
        assert_eq!(c.0, [0x03, 0xA4, 0x00, 0xF0]);
        assert_eq!(c.first_ac(), Some(FirstAc::Arqc));
        assert_eq!(c.second_ac(), Some(SecondAc::NotRequested));
        assert_eq!(c.script_commands_with_sm(), 15);
        c.set_first_ac(FirstAc::Tc);
        assert_eq!(c.0[1], 0x94);
        assert_eq!(Cvr([3, 0x30, 0, 0]).first_ac(), None);
    }

    #[test]
    fn cv_rule_bytes_roundtrip() {
        for b1 in 0..=0x7Fu8 {
            for b2 in [0u8, 3, 9, 0x0A, 0x80, 0xFF] {
                assert_eq!(CvRule::from_bytes(b1, b2).to_bytes(), [b1, b2]);
            }
        }
    }
}
