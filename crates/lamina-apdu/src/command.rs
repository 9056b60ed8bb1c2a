//! Command APDUs (ISO/IEC 7816-4 §5.1, ISO/IEC 7816-3 §12.1.3).

use core::fmt;

use crate::ins::Ins;

/// Why a command APDU could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Fewer than the 4 header bytes.
    #[error("APDU too short: {len} byte(s), expected at least the 4 header bytes CLA INS P1 P2")]
    TooShort { len: usize },
    /// The body does not match any of the cases 1–4 (short or extended).
    #[error(
        "at offset {offset}: body of {body_len} byte(s) does not match any APDU case: {reason}"
    )]
    BadBody {
        offset: usize,
        body_len: usize,
        reason: &'static str,
    },
    /// Data longer than extended Lc allows.
    #[error("command data of {len} bytes exceeds 65535")]
    DataTooLong { len: usize },
    /// Le outside 1..=65536.
    #[error("Le {le} outside 1..=65536")]
    BadLe { le: usize },
    /// A response APDU shorter than the status word.
    #[error("response too short: {len} byte(s), expected at least SW1 SW2")]
    ResponseTooShort { len: usize },
}

/// The ISO/IEC 7816-3 case of a command APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// No data, no response data expected.
    Case1,
    /// No data, response data expected (Le).
    Case2,
    /// Data, no response data expected (Lc).
    Case3,
    /// Data and response data expected (Lc and Le).
    Case4,
}

/// A command APDU.
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (Lc bytes).
    pub data: Vec<u8>,
    /// Expected response length Ne (1..=65536), `None` if no data is expected.
    /// A short Le byte `00` means 256; an extended `0000` means 65536.
    pub le: Option<usize>,
    /// True if the APDU was (or must be) encoded with extended lengths.
    pub extended: bool,
}

impl Command {
    /// A case 1 command (header only).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
            extended: false,
        }
    }

    /// Sets the command data (case 3, or case 4 with [`Command::with_le`]).
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets Ne (1..=65536); 256 is written as a short Le `00`.
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// The instruction as a known code (or `Ins::Other`).
    pub fn instruction(&self) -> Ins {
        Ins::from(self.ins)
    }

    /// The case implied by data and Le.
    pub fn case(&self) -> Case {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => Case::Case1,
            (true, true) => Case::Case2,
            (false, false) => Case::Case3,
            (false, true) => Case::Case4,
        }
    }

    /// Decodes a command APDU (ISO/IEC 7816-3 §12.1.3 decoding rules).
    pub fn parse(bytes: &[u8]) -> Result<Command, Error> {
        let [cla, ins, p1, p2, body @ ..] = bytes else {
            return Err(Error::TooShort { len: bytes.len() });
        };
        let mut cmd = Command::new(*cla, *ins, *p1, *p2);
        let bad = |reason| Error::BadBody {
            offset: 4,
            body_len: body.len(),
            reason,
        };
        match body {
            // Case 1
            [] => {}
            // Case 2S
            [le] => cmd.le = Some(short_le(*le)),
            // Extended forms start with 00 and have at least 3 body bytes.
            [0, hi, lo, rest @ ..] if body.len() >= 3 => {
                let n = usize::from(u16::from_be_bytes([*hi, *lo]));
                cmd.extended = true;
                if rest.is_empty() {
                    // Case 2E
                    cmd.le = Some(ext_le(n));
                } else {
                    // Case 3E or 4E: Lc = n (non-zero)
                    if n == 0 {
                        return Err(bad("extended Lc of 0000"));
                    }
                    match rest.len().checked_sub(n) {
                        Some(0) => cmd.data = rest.to_vec(),
                        Some(2) => {
                            cmd.data = rest.get(..n).unwrap_or_default().to_vec();
                            let le = rest.get(n..).unwrap_or_default();
                            let v = le.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
                            cmd.le = Some(ext_le(v));
                        }
                        _ => return Err(bad("extended Lc does not match the data length")),
                    }
                }
            }
            // Case 3S / 4S
            [lc, rest @ ..] => {
                let n = usize::from(*lc);
                if n == 0 {
                    return Err(bad("Lc of 00 with a body longer than 1 byte"));
                }
                match rest.len().checked_sub(n) {
                    Some(0) => cmd.data = rest.to_vec(),
                    Some(1) => {
                        cmd.data = rest.get(..n).unwrap_or_default().to_vec();
                        cmd.le = rest.get(n).map(|&b| short_le(b));
                    }
                    Some(_) => return Err(bad("bytes left after Lc data and Le")),
                    None => return Err(bad("Lc says more data than present")),
                }
            }
        }
        Ok(cmd)
    }

    /// Encodes the command: short form when Lc ≤ 255 and Ne ≤ 256 and
    /// `extended` is false, extended form otherwise.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        if self.data.len() > 65535 {
            return Err(Error::DataTooLong {
                len: self.data.len(),
            });
        }
        if let Some(le) = self.le
            && !(1..=65536).contains(&le)
        {
            return Err(Error::BadLe { le });
        }
        let ext = self.extended || self.data.len() > 255 || self.le.is_some_and(|l| l > 256);
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        let lc = u16::try_from(self.data.len()).unwrap_or(u16::MAX);
        if !self.data.is_empty() {
            if ext {
                out.push(0);
                out.extend_from_slice(&lc.to_be_bytes());
            } else {
                out.push(lc.to_be_bytes()[1]);
            }
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            let v = u16::try_from(le % 65536).unwrap_or(0);
            if ext {
                if self.data.is_empty() {
                    out.push(0);
                }
                out.extend_from_slice(&v.to_be_bytes());
            } else {
                out.push(v.to_be_bytes()[1]);
            }
        }
        Ok(out)
    }
}

fn short_le(b: u8) -> usize {
    if b == 0 { 256 } else { usize::from(b) }
}

fn ext_le(n: usize) -> usize {
    if n == 0 { 65536 } else { n }
}

impl fmt::Debug for Command {
    /// Shows the header and data length; VERIFY and PIN CHANGE data (PINs) are redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Command");
        d.field("cla", &format_args!("{:02X}", self.cla))
            .field(
                "ins",
                &format_args!("{:02X} {}", self.ins, self.instruction().name()),
            )
            .field("p1", &format_args!("{:02X}", self.p1))
            .field("p2", &format_args!("{:02X}", self.p2));
        if self.instruction().carries_pin() {
            d.field(
                "data",
                &format_args!("REDACTED ({} bytes)", self.data.len()),
            );
        } else {
            d.field("data", &format_args!("{} bytes", self.data.len()));
        }
        d.field("le", &self.le).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn cases_short() {
        let c = Command::parse(&h("00A4040007A000000004101000")).unwrap();
        assert_eq!(c.case(), Case::Case4);
        assert_eq!(c.data, h("A0000000041010"));
        assert_eq!(c.le, Some(256));
        assert_eq!(c.to_bytes().unwrap(), h("00A4040007A000000004101000"));

        let c = Command::parse(&h("0084000008")).unwrap();
        assert_eq!((c.case(), c.le), (Case::Case2, Some(8)));
        let c = Command::parse(&h("80AE8000021122")).unwrap();
        assert_eq!((c.case(), c.data.len()), (Case::Case3, 2));
        let c = Command::parse(&h("00B2010C")).unwrap();
        assert_eq!(c.case(), Case::Case1);
    }

    #[test]
    fn cases_extended() {
        let c = Command::parse(&h("00B0000000 0100".replace(' ', "").as_str())).unwrap();
        assert_eq!((c.case(), c.le, c.extended), (Case::Case2, Some(256), true));
        let mut data = h("00DA000000012C");
        data.extend(std::iter::repeat_n(0xAB, 300));
        let c = Command::parse(&data).unwrap();
        assert_eq!((c.case(), c.data.len()), (Case::Case3, 300));
        assert_eq!(c.to_bytes().unwrap(), data);
        data.extend([0x00, 0x00]);
        let c = Command::parse(&data).unwrap();
        assert_eq!((c.case(), c.le), (Case::Case4, Some(65536)));
        assert_eq!(c.to_bytes().unwrap(), data);
    }

    #[test]
    fn malformed() {
        assert!(matches!(
            Command::parse(&h("00A4")),
            Err(Error::TooShort { len: 2 })
        ));
        assert!(Command::parse(&h("00A4040007A0000000")).is_err());
        assert!(Command::parse(&h("00A404000200")).is_err());
        assert!(Command::parse(&h("00A40400020000FFFF")).is_err());
    }

    #[test]
    fn verify_data_is_redacted_in_debug() {
        let c = Command::parse(&h("0020008008241234FFFFFFFFFF")).unwrap();
        let s = format!("{c:?}");
        assert!(s.contains("REDACTED"));
        assert!(!s.contains("1234"));
    }
}
