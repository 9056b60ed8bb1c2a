//! The terminal side's link to a card: APDU exchange with counters (for the
//! time-budget reports), SELECT, status checks, and the terminal error type.

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::{Aid, CardChannel, ChannelError};

use crate::keys::KeyError;

/// Why a terminal-side operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError {
    /// The card was removed or torn, or the reader failed.
    #[error("card channel: {0}")]
    Channel(#[from] ChannelError),
    /// The card refused a command.
    #[error("{command}: {} (status word {:04X})", crate::sw::meaning(*sw), sw.0)]
    Status {
        /// The command.
        command: &'static str,
        /// Its status word.
        sw: StatusWord,
    },
    /// A response had the wrong layout.
    #[error("{0}: malformed response")]
    BadResponse(&'static str),
    /// A card receipt MAC did not verify: the card is not genuine or the data was altered.
    #[error("{0}: card receipt MAC does not verify")]
    BadReceipt(&'static str),
    /// A key could not be used.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The application is not on the card (its AID, hex).
    #[error("this card has no {} application ({aid})", application_name(.0), aid = .0)]
    NoApplication(String),
    /// The card's answers contradict each other (e.g. a different card id).
    #[error("inconsistent card: {0}")]
    Inconsistent(&'static str),
    /// A configuration or business rule refused the operation.
    #[error("refused: {0}")]
    Refused(String),
}

/// The closed-loop application an AID names ("purse", "transit" …).
fn application_name(aid: &str) -> &'static str {
    use crate::install::{LOYALTY_AID, PARKING_AID, PURSE_AID, TRANSIT_AID};
    match aid {
        a if a.eq_ignore_ascii_case(PURSE_AID) => "purse",
        a if a.eq_ignore_ascii_case(LOYALTY_AID) => "loyalty",
        a if a.eq_ignore_ascii_case(TRANSIT_AID) => "transit",
        a if a.eq_ignore_ascii_case(PARKING_AID) => "parking",
        _ => "such",
    }
}

impl TerminalError {
    /// The status word, if the card refused.
    pub fn status(&self) -> Option<StatusWord> {
        match self {
            TerminalError::Status { sw, .. } => Some(*sw),
            _ => None,
        }
    }
}

/// Counters of one card interaction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LinkStats {
    /// Command APDUs sent.
    pub apdus: u32,
    /// Command bytes sent.
    pub bytes_out: usize,
    /// Response bytes received (data and status words).
    pub bytes_in: usize,
}

/// A terminal's connection to a card for one interaction.
pub struct CardLink<'a> {
    ch: &'a mut dyn CardChannel,
    /// What was exchanged so far.
    pub stats: LinkStats,
    selected: Option<Aid>,
}

impl std::fmt::Debug for CardLink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardLink")
            .field("stats", &self.stats)
            .field("selected", &self.selected)
            .finish_non_exhaustive()
    }
}

impl<'a> CardLink<'a> {
    /// Wraps a powered channel.
    pub fn new(ch: &'a mut dyn CardChannel) -> Self {
        CardLink {
            ch,
            stats: LinkStats::default(),
            selected: None,
        }
    }

    /// Sends a command; follows `61xx` with GET RESPONSE (ISO/IEC 7816-4 §5.3.4)
    /// and `6Cxx` with the corrected Le.
    pub fn transmit(&mut self, cmd: &Command) -> Result<Response, TerminalError> {
        let mut resp = self.raw(cmd)?;
        if resp.sw.sw1() == 0x6C {
            let again = cmd.clone().with_le(usize::from(resp.sw.sw2()).max(1));
            resp = self.raw(&again)?;
        }
        let mut data = std::mem::take(&mut resp.data);
        let mut guard = 0;
        while resp.sw.sw1() == 0x61 && guard < 64 {
            guard += 1;
            let le = match resp.sw.sw2() {
                0 => 256,
                n => usize::from(n),
            };
            resp = self.raw(&lamina_apdu::t0::get_response(0x00, le))?;
            data.append(&mut resp.data);
        }
        resp.data = data;
        Ok(resp)
    }

    fn raw(&mut self, cmd: &Command) -> Result<Response, TerminalError> {
        let bytes = cmd
            .to_bytes()
            .map_err(|_| TerminalError::Refused("command too long".into()))?;
        self.stats.apdus += 1;
        self.stats.bytes_out += bytes.len();
        let r = self.ch.transmit(&bytes);
        if r.is_err() {
            self.selected = None;
        }
        let r = r?;
        self.stats.bytes_in += r.len();
        Response::parse(&r).map_err(|_| TerminalError::BadResponse("response"))
    }

    /// Sends a command and requires `9000`; returns the data.
    pub fn ok(&mut self, command: &'static str, cmd: &Command) -> Result<Vec<u8>, TerminalError> {
        let r = self.transmit(cmd)?;
        if r.sw != StatusWord::OK {
            return Err(TerminalError::Status { command, sw: r.sw });
        }
        Ok(r.data)
    }

    /// Selects an application by AID unless it is already selected.
    pub fn select(&mut self, aid: &Aid) -> Result<(), TerminalError> {
        if self.selected.as_ref() == Some(aid) {
            return Ok(());
        }
        let cmd = Command::new(0x00, 0xA4, 0x04, 0x00)
            .with_data(aid.as_bytes().to_vec())
            .with_le(256);
        let r = self.transmit(&cmd)?;
        match r.sw {
            StatusWord::OK => {
                self.selected = Some(aid.clone());
                Ok(())
            }
            StatusWord::FILE_NOT_FOUND => Err(TerminalError::NoApplication(aid.to_hex())),
            sw => Err(TerminalError::Status {
                command: "SELECT",
                sw,
            }),
        }
    }

    /// Forgets the selection (after a power cycle).
    pub fn forget_selection(&mut self) {
        self.selected = None;
    }

    /// The channel.
    pub fn channel(&mut self) -> &mut dyn CardChannel {
        &mut *self.ch
    }
}

/// A monotonic stopwatch injected into terminal profiles to measure processing
/// time (the logic itself never reads a clock; timestamps are parameters).
pub trait Stopwatch {
    /// Microseconds since an arbitrary origin.
    fn now_us(&self) -> u64;
}

/// [`Stopwatch`] backed by `std::time::Instant`.
#[derive(Debug, Clone, Copy)]
pub struct StdStopwatch(std::time::Instant);

impl StdStopwatch {
    /// Starts at zero now.
    pub fn new() -> Self {
        StdStopwatch(std::time::Instant::now())
    }
}

impl Default for StdStopwatch {
    fn default() -> Self {
        Self::new()
    }
}

impl Stopwatch for StdStopwatch {
    fn now_us(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// Parses a 4-digit ISO 4217 numeric currency code (`"0978"`) into its 2-byte
/// BCD form (`09 78`), as in EMV tag `5F2A`.
pub fn currency_bcd(code: &str) -> Option<[u8; 2]> {
    if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = hex::decode(code).ok()?;
    <[u8; 2]>::try_from(v.as_slice()).ok()
}
