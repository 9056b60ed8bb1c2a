//! Status words (ISO/IEC 7816-4 §5.6 Tables 5–6, EMV Book 3 §6.3.5 and Annex, EMV
//! Book 1 §9.4.1) and response APDUs.

use core::fmt;

use crate::command::Error;

/// ISO/IEC 7816-4's grouping of status words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// `9000`, `61xx`: process completed.
    Normal,
    /// `62xx`, `63xx`: completed with a warning.
    Warning,
    /// `64xx`–`66xx`: execution error.
    ExecutionError,
    /// `67xx`–`6Fxx`: checking error.
    CheckingError,
    /// Anything else (proprietary `9xxx` etc.).
    Other,
}

/// One row of the status word table: `sw & mask == pattern`.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// Value after masking.
    pub pattern: u16,
    /// Mask applied to the status word.
    pub mask: u16,
    /// Meaning (ISO 7816-4 wording; EMV use in parentheses).
    pub meaning: &'static str,
}

const fn row(pattern: u16, mask: u16, meaning: &'static str) -> Row {
    Row {
        pattern,
        mask,
        meaning,
    }
}

/// Known status words, most specific first.
pub const TABLE: &[Row] = &[
    row(0x9000, 0xFFFF, "Process completed normally"),
    row(
        0x6100,
        0xFF00,
        "Response bytes still available (use GET RESPONSE with Le = SW2)",
    ),
    row(
        0x6200,
        0xFFFF,
        "Warning: no information given, state of non-volatile memory unchanged",
    ),
    row(
        0x6281,
        0xFFFF,
        "Warning: part of returned data may be corrupted",
    ),
    row(
        0x6282,
        0xFFFF,
        "Warning: end of file or record reached before reading Ne bytes",
    ),
    row(
        0x6283,
        0xFFFF,
        "Warning: selected file deactivated (EMV: application blocked)",
    ),
    row(
        0x6284,
        0xFFFF,
        "Warning: file control information not formatted correctly",
    ),
    row(
        0x6300,
        0xFFFF,
        "Warning: verification failed, no information given",
    ),
    row(
        0x63C0,
        0xFFF0,
        "Warning: verification failed, counter = low nibble of SW2 (EMV: PIN tries remaining)",
    ),
    row(
        0x6400,
        0xFFFF,
        "Execution error: state of non-volatile memory unchanged",
    ),
    row(0x6581, 0xFFFF, "Execution error: memory failure"),
    row(0x6700, 0xFFFF, "Wrong length"),
    row(
        0x6881,
        0xFFFF,
        "Function in CLA not supported: logical channel not supported",
    ),
    row(
        0x6882,
        0xFFFF,
        "Function in CLA not supported: secure messaging not supported",
    ),
    row(
        0x6981,
        0xFFFF,
        "Command not allowed: command incompatible with file structure",
    ),
    row(
        0x6982,
        0xFFFF,
        "Command not allowed: security status not satisfied",
    ),
    row(
        0x6983,
        0xFFFF,
        "Command not allowed: authentication method blocked (EMV: PIN try limit exceeded)",
    ),
    row(
        0x6984,
        0xFFFF,
        "Command not allowed: reference data not usable (EMV: referenced data invalidated)",
    ),
    row(
        0x6985,
        0xFFFF,
        "Command not allowed: conditions of use not satisfied",
    ),
    row(0x6986, 0xFFFF, "Command not allowed: no current EF"),
    row(
        0x6987,
        0xFFFF,
        "Command not allowed: expected secure messaging data objects missing",
    ),
    row(
        0x6988,
        0xFFFF,
        "Command not allowed: incorrect secure messaging data objects",
    ),
    row(
        0x6A80,
        0xFFFF,
        "Wrong parameters: incorrect parameters in the command data field",
    ),
    row(
        0x6A81,
        0xFFFF,
        "Wrong parameters: function not supported (EMV: card or application blocked)",
    ),
    row(
        0x6A82,
        0xFFFF,
        "Wrong parameters: file or application not found",
    ),
    row(0x6A83, 0xFFFF, "Wrong parameters: record not found"),
    row(
        0x6A84,
        0xFFFF,
        "Wrong parameters: not enough memory space in the file",
    ),
    row(
        0x6A86,
        0xFFFF,
        "Wrong parameters: incorrect parameters P1-P2",
    ),
    row(
        0x6A88,
        0xFFFF,
        "Wrong parameters: referenced data or reference data not found",
    ),
    row(0x6B00, 0xFFFF, "Wrong parameters P1-P2"),
    row(
        0x6C00,
        0xFF00,
        "Wrong Le field: SW2 gives the exact number of available data bytes",
    ),
    row(0x6D00, 0xFFFF, "Instruction code not supported or invalid"),
    row(0x6E00, 0xFFFF, "Class not supported"),
    row(0x6F00, 0xFFFF, "No precise diagnosis"),
];

/// A status word SW1 SW2.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl StatusWord {
    /// `9000`.
    pub const OK: StatusWord = StatusWord(0x9000);
    /// `6283` selected file deactivated (application blocked).
    pub const SELECTED_FILE_DEACTIVATED: StatusWord = StatusWord(0x6283);
    /// `6700` wrong length.
    pub const WRONG_LENGTH: StatusWord = StatusWord(0x6700);
    /// `6982` security status not satisfied.
    pub const SECURITY_STATUS_NOT_SATISFIED: StatusWord = StatusWord(0x6982);
    /// `6983` authentication method blocked.
    pub const AUTH_METHOD_BLOCKED: StatusWord = StatusWord(0x6983);
    /// `6984` reference data not usable.
    pub const REFERENCE_DATA_NOT_USABLE: StatusWord = StatusWord(0x6984);
    /// `6985` conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: StatusWord = StatusWord(0x6985);
    /// `6A80` incorrect data.
    pub const INCORRECT_DATA: StatusWord = StatusWord(0x6A80);
    /// `6A81` function not supported.
    pub const FUNCTION_NOT_SUPPORTED: StatusWord = StatusWord(0x6A81);
    /// `6A82` file or application not found.
    pub const FILE_NOT_FOUND: StatusWord = StatusWord(0x6A82);
    /// `6A83` record not found.
    pub const RECORD_NOT_FOUND: StatusWord = StatusWord(0x6A83);
    /// `6A86` incorrect P1-P2.
    pub const INCORRECT_P1P2: StatusWord = StatusWord(0x6A86);
    /// `6A88` referenced data not found.
    pub const DATA_NOT_FOUND: StatusWord = StatusWord(0x6A88);
    /// `6D00` instruction not supported.
    pub const INS_NOT_SUPPORTED: StatusWord = StatusWord(0x6D00);
    /// `6E00` class not supported.
    pub const CLA_NOT_SUPPORTED: StatusWord = StatusWord(0x6E00);

    /// From the two bytes.
    pub const fn new(sw1: u8, sw2: u8) -> Self {
        StatusWord(((sw1 as u16) << 8) | sw2 as u16)
    }
    /// SW1.
    pub const fn sw1(self) -> u8 {
        (self.0 >> 8) as u8
    }
    /// SW2.
    pub const fn sw2(self) -> u8 {
        (self.0 & 0xFF) as u8
    }
    /// The two bytes.
    pub const fn to_bytes(self) -> [u8; 2] {
        self.0.to_be_bytes()
    }
    /// `9000`.
    pub const fn is_ok(self) -> bool {
        self.0 == 0x9000
    }
    /// `9000` or `61xx`.
    pub const fn is_success(self) -> bool {
        self.0 == 0x9000 || self.sw1() == 0x61
    }
    /// `63Cx`: the counter value x (EMV: PIN tries remaining).
    pub const fn counter(self) -> Option<u8> {
        if self.0 & 0xFFF0 == 0x63C0 {
            Some(self.sw2() & 0x0F)
        } else {
            None
        }
    }
    /// `61xx`: number of bytes available (00 means 256).
    pub const fn bytes_available(self) -> Option<usize> {
        if self.sw1() == 0x61 {
            Some(if self.sw2() == 0 {
                256
            } else {
                self.sw2() as usize
            })
        } else {
            None
        }
    }
    /// `6Cxx`: the exact Le to re-send with (00 means 256).
    pub const fn correct_le(self) -> Option<usize> {
        if self.sw1() == 0x6C {
            Some(if self.sw2() == 0 {
                256
            } else {
                self.sw2() as usize
            })
        } else {
            None
        }
    }
    /// The ISO 7816-4 category.
    pub const fn category(self) -> Category {
        match self.sw1() {
            0x90 | 0x61 => Category::Normal,
            0x62 | 0x63 => Category::Warning,
            0x64..=0x66 => Category::ExecutionError,
            0x67..=0x6F => Category::CheckingError,
            _ => Category::Other,
        }
    }
    /// The meaning from [`TABLE`], or a generic text by category.
    pub fn meaning(self) -> &'static str {
        TABLE
            .iter()
            .find(|r| self.0 & r.mask == r.pattern)
            .map(|r| r.meaning)
            .unwrap_or(match self.category() {
                Category::Normal => "Normal processing",
                Category::Warning => "Warning (unlisted)",
                Category::ExecutionError => "Execution error (unlisted)",
                Category::CheckingError => "Checking error (unlisted)",
                Category::Other => "Proprietary or unknown status",
            })
    }
}

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SW {:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.meaning())
    }
}

/// A response APDU: data and status word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

impl Response {
    /// A response with data and status.
    pub fn new(data: impl Into<Vec<u8>>, sw: StatusWord) -> Self {
        Response {
            data: data.into(),
            sw,
        }
    }
    /// A status-only response.
    pub fn status(sw: StatusWord) -> Self {
        Response {
            data: Vec::new(),
            sw,
        }
    }
    /// Decodes `data ‖ SW1 SW2`.
    pub fn parse(bytes: &[u8]) -> Result<Response, Error> {
        match bytes {
            [data @ .., sw1, sw2] => Ok(Response {
                data: data.to_vec(),
                sw: StatusWord::new(*sw1, *sw2),
            }),
            _ => Err(Error::ResponseTooShort { len: bytes.len() }),
        }
    }
    /// Encodes `data ‖ SW1 SW2`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.data.len() + 2);
        v.extend_from_slice(&self.data);
        v.extend_from_slice(&self.sw.to_bytes());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meanings() {
        assert_eq!(StatusWord(0x9000).meaning(), "Process completed normally");
        assert!(StatusWord(0x6283).meaning().contains("deactivated"));
        assert_eq!(StatusWord(0x63C2).counter(), Some(2));
        assert!(StatusWord(0x63C2).meaning().contains("counter"));
        assert_eq!(StatusWord(0x6110).bytes_available(), Some(16));
        assert_eq!(StatusWord(0x6C00).correct_le(), Some(256));
        assert_eq!(StatusWord(0x6A82).category(), Category::CheckingError);
        assert!(StatusWord(0x6985).meaning().contains("conditions of use"));
        assert_eq!(StatusWord(0x9F00).category(), Category::Other);
        for r in TABLE {
            assert_eq!(r.pattern & r.mask, r.pattern, "row {:04X}", r.pattern);
        }
    }

    #[test]
    fn response_roundtrip() {
        let r = Response::parse(&[0x6F, 0x00, 0x90, 0x00]).unwrap();
        assert_eq!(r.data, vec![0x6F, 0x00]);
        assert!(r.sw.is_ok());
        assert_eq!(r.to_bytes(), vec![0x6F, 0x00, 0x90, 0x00]);
        assert!(Response::parse(&[0x90]).is_err());
    }
}
