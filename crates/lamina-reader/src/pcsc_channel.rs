//! The terminal side over PC/SC: a [`CardChannel`] for any card in any reader
//! that `pcscd` (pcsc-lite) or WinSCard knows, through the system PC/SC library
//! loaded at run time ([`crate::pcsc_ffi`]).
//!
//! * Readers and card presence: [`list_readers`] (`SCardListReaders` +
//!   `SCardGetStatusChange`, PC/SC Part 5 §3.1).
//! * Connection: shared mode, T=0 or T=1 as the reader and ATR allow; the active
//!   protocol is kept.
//! * Under T=0 [`PcscChannel::transmit`] follows the transport rules itself
//!   (EMV Book 1 §9.3.1, ISO/IEC 7816-4 §5.3.4): `61xx` → GET RESPONSE with
//!   Le = xx (data accumulated), `6Cxx` → the same command re-sent with Le = xx,
//!   via [`lamina_apdu::t0::exchange`]. Under T=1 the response is returned as the
//!   card sent it.

use std::ffi::{CStr, CString};
use std::fmt;
use std::time::Duration;

use crate::pcsc_ffi::{self as ffi, Context, FfiError, ReaderState, ScardCode, state};
use lamina_apdu::{Command, Response};
use lamina_card::{CardChannel, ChannelError, Interface};

/// Most exchanges one command may take under T=0 (a misbehaving card cannot loop
/// the terminal forever).
pub const MAX_T0_STEPS: usize = 32;

/// Why a PC/SC operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// The system PC/SC library could not be loaded.
    #[error("PC/SC library not found ({0}): {hint}", hint = ffi::INSTALL_HINT)]
    NoLibrary(String),
    /// The PC/SC service is not running (`pcscd` on Linux).
    #[error(
        "PC/SC service not available: pcscd is not running (apt install pcscd, then start it: systemctl start pcscd, or pcscd as root)"
    )]
    NoService,
    /// No reader is connected.
    #[error("no smart-card reader found")]
    NoReaders,
    /// No reader matches the name given.
    #[error("no reader named {name:?} (readers: {available})")]
    NoSuchReader {
        /// The name asked for.
        name: String,
        /// The readers present, comma-separated.
        available: String,
    },
    /// Several readers match the name given.
    #[error("reader name {name:?} is ambiguous: {matches}")]
    AmbiguousReader {
        /// The name asked for.
        name: String,
        /// The matching readers, comma-separated.
        matches: String,
    },
    /// The reader holds no card.
    #[error("no card in reader {0:?}")]
    NoCard(String),
    /// The card was removed (or reset by another application) during the session.
    #[error("card removed from reader {0:?}")]
    Removed(String),
    /// The card does not answer (mute card, or the ATR could not be read).
    #[error("card in reader {0:?} does not respond")]
    Unresponsive(String),
    /// Waiting for a card or for the card's answer took too long.
    #[error("timed out")]
    Timeout,
    /// Another application holds the card exclusively.
    #[error("card in reader {0:?} is in exclusive use by another application")]
    Busy(String),
    /// The command APDU is malformed (T=0 handling needs to parse it).
    #[error("malformed command APDU: {0}")]
    BadApdu(String),
    /// The response is shorter than a status word.
    #[error("response of {0} byte(s) has no status word")]
    ShortResponse(usize),
    /// Not connected: call `power_on` first.
    #[error("not connected to a card")]
    NotConnected,
    /// Any other PC/SC error (its PC/SC name and code).
    #[error("PC/SC: {0}")]
    Pcsc(String),
}

impl ReaderError {
    fn from_ffi(e: FfiError, reader: &str) -> ReaderError {
        match e {
            FfiError::NoLibrary(why) => ReaderError::NoLibrary(why),
            FfiError::Code(c) => ReaderError::from_code(c, reader),
        }
    }

    fn from_code(c: ScardCode, reader: &str) -> ReaderError {
        let r = || reader.to_owned();
        match c {
            ScardCode::NO_SERVICE | ScardCode::SERVICE_STOPPED => ReaderError::NoService,
            ScardCode::NO_READERS_AVAILABLE => ReaderError::NoReaders,
            ScardCode::NO_SMARTCARD => ReaderError::NoCard(r()),
            ScardCode::REMOVED_CARD | ScardCode::RESET_CARD => ReaderError::Removed(r()),
            ScardCode::UNRESPONSIVE_CARD | ScardCode::UNPOWERED_CARD => {
                ReaderError::Unresponsive(r())
            }
            ScardCode::TIMEOUT => ReaderError::Timeout,
            ScardCode::SHARING_VIOLATION => ReaderError::Busy(r()),
            ScardCode::UNKNOWN_READER | ScardCode::READER_UNAVAILABLE => {
                ReaderError::NoSuchReader {
                    name: r(),
                    available: String::new(),
                }
            }
            other => ReaderError::Pcsc(other.to_string()),
        }
    }
}

fn is_timeout(e: &FfiError) -> bool {
    *e == FfiError::Code(ScardCode::TIMEOUT)
}

impl From<ReaderError> for ChannelError {
    fn from(e: ReaderError) -> Self {
        match e {
            ReaderError::NoCard(_) => ChannelError::NoCard,
            ReaderError::Removed(_) => ChannelError::CardRemoved,
            ReaderError::NotConnected => ChannelError::PoweredOff,
            other => ChannelError::Transport(other.to_string()),
        }
    }
}

/// A reader and what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderInfo {
    /// The reader's PC/SC name.
    pub name: String,
    /// A card is in the reader.
    pub card_present: bool,
    /// The card's ATR (empty when no card or unknown).
    pub atr: Vec<u8>,
    /// Another application holds the card exclusively.
    pub exclusive: bool,
    /// Another application is connected (shared).
    pub in_use: bool,
    /// The card does not answer reset.
    pub mute: bool,
}

impl ReaderInfo {
    /// One-word card state: `present`, `empty`, `mute`, `exclusive`.
    pub fn state_word(&self) -> &'static str {
        match (self.card_present, self.mute, self.exclusive) {
            (false, _, _) => "empty",
            (true, true, _) => "mute",
            (true, false, true) => "exclusive",
            (true, false, false) => "present",
        }
    }
}

fn context() -> Result<Context, ReaderError> {
    Context::establish().map_err(|e| ReaderError::from_ffi(e, ""))
}

fn reader_names(ctx: &Context) -> Result<Vec<CString>, ReaderError> {
    ctx.list_readers().map_err(|e| ReaderError::from_ffi(e, ""))
}

/// Reads the readers' states now (a status change with no wait).
fn poll_states(ctx: &Context, states: &mut [ReaderState], wait_ms: u32) -> Result<(), ReaderError> {
    match ctx.get_status_change(wait_ms, states) {
        Err(e) if !is_timeout(&e) => Err(ReaderError::from_ffi(e, "")),
        _ => Ok(()),
    }
}

/// Lists the readers with card presence and ATR.
pub fn list_readers() -> Result<Vec<ReaderInfo>, ReaderError> {
    let ctx = context()?;
    let names = reader_names(&ctx)?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let mut states: Vec<ReaderState> = names.into_iter().map(ReaderState::unaware).collect();
    poll_states(&ctx, &mut states, 0)?;
    Ok(states
        .iter()
        .map(|s| {
            let present = s.has(state::PRESENT);
            ReaderInfo {
                name: s.name.to_string_lossy().into_owned(),
                card_present: present,
                atr: if present { s.atr.clone() } else { Vec::new() },
                exclusive: s.has(state::EXCLUSIVE),
                in_use: s.has(state::INUSE),
                mute: s.has(state::MUTE),
            }
        })
        .collect())
}

/// Finds a reader by name: an exact match, else the only reader whose name
/// contains `name` (case-insensitive).
pub fn find_reader(names: &[String], name: &str) -> Result<String, ReaderError> {
    if let Some(n) = names.iter().find(|n| n.as_str() == name) {
        return Ok(n.clone());
    }
    let needle = name.to_lowercase();
    let matches: Vec<&String> = names
        .iter()
        .filter(|n| n.to_lowercase().contains(&needle))
        .collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(ReaderError::NoSuchReader {
            name: name.to_owned(),
            available: names.join(", "),
        }),
        many => Err(ReaderError::AmbiguousReader {
            name: name.to_owned(),
            matches: many
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// The protocol of a PC/SC connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveProtocol {
    /// T=0 (character protocol): the channel does `61xx`/`6Cxx`.
    T0,
    /// T=1 (block protocol).
    T1,
    /// Raw or unknown.
    Other,
}

/// Which protocols [`PcscChannel`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PreferredProtocol {
    /// T=0 or T=1, as the card and reader decide.
    #[default]
    Any,
    /// T=0 only.
    T0,
    /// T=1 only.
    T1,
}

impl PreferredProtocol {
    fn protocols(self) -> ffi::Dword {
        match self {
            PreferredProtocol::Any => ffi::PROTOCOL_T0 | ffi::PROTOCOL_T1,
            PreferredProtocol::T0 => ffi::PROTOCOL_T0,
            PreferredProtocol::T1 => ffi::PROTOCOL_T1,
        }
    }
}

/// A card in a PC/SC reader as a [`CardChannel`].
pub struct PcscChannel {
    ctx: Context,
    reader: String,
    reader_c: CString,
    preferred: PreferredProtocol,
    card: Option<ffi::Card>,
    protocol: Option<ActiveProtocol>,
}

impl fmt::Debug for PcscChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcscChannel")
            .field("reader", &self.reader)
            .field("connected", &self.card.is_some())
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl PcscChannel {
    /// Opens the reader named `name` (exact name, or a unique case-insensitive
    /// part of it); the card is connected at [`CardChannel::power_on`].
    pub fn open(name: &str) -> Result<Self, ReaderError> {
        let ctx = context()?;
        let names: Vec<String> = reader_names(&ctx)?
            .iter()
            .map(|n| n.to_string_lossy().into_owned())
            .collect();
        if names.is_empty() {
            return Err(ReaderError::NoReaders);
        }
        let reader = find_reader(&names, name)?;
        let reader_c = CString::new(reader.clone()).map_err(|_| ReaderError::NoSuchReader {
            name: name.to_owned(),
            available: names.join(", "),
        })?;
        Ok(PcscChannel {
            ctx,
            reader,
            reader_c,
            preferred: PreferredProtocol::Any,
            card: None,
            protocol: None,
        })
    }

    /// Chooses the protocols asked for at the next connection.
    pub fn with_protocol(mut self, p: PreferredProtocol) -> Self {
        self.preferred = p;
        self
    }

    /// The reader's full name.
    pub fn reader(&self) -> &str {
        &self.reader
    }

    /// The protocol of the current connection.
    pub fn active_protocol(&self) -> Option<ActiveProtocol> {
        self.protocol
    }

    /// Waits up to `timeout` for a card in the reader.
    pub fn wait_for_card(&self, timeout: Duration) -> Result<(), ReaderError> {
        let mut st = [ReaderState::unaware(self.reader_c.clone())];
        let deadline = std::time::Instant::now() + timeout;
        poll_states(&self.ctx, &mut st, 0).map_err(|e| self.named(e))?;
        loop {
            if st[0].has(state::PRESENT) && !st[0].has(state::MUTE) {
                return Ok(());
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return Err(ReaderError::Timeout);
            }
            st[0].sync();
            let wait = (deadline - now).min(Duration::from_millis(500));
            let wait_ms = u32::try_from(wait.as_millis()).unwrap_or(500);
            poll_states(&self.ctx, &mut st, wait_ms).map_err(|e| self.named(e))?;
        }
    }

    /// Puts this reader's name on an error raised without one.
    fn named(&self, e: ReaderError) -> ReaderError {
        match e {
            ReaderError::NoSuchReader { available, .. } => ReaderError::NoSuchReader {
                name: self.reader.clone(),
                available,
            },
            other => other,
        }
    }

    fn err(&self, e: FfiError) -> ReaderError {
        ReaderError::from_ffi(e, &self.reader)
    }

    fn record_protocol(&mut self) {
        self.protocol = self.card.as_ref().map(|c| match c.active_protocol() {
            ffi::PROTOCOL_T0 => ActiveProtocol::T0,
            ffi::PROTOCOL_T1 => ActiveProtocol::T1,
            _ => ActiveProtocol::Other,
        });
    }

    fn atr(&self) -> Result<Vec<u8>, ReaderError> {
        let card = self.card.as_ref().ok_or(ReaderError::NotConnected)?;
        card.status().map(|s| s.atr).map_err(|e| self.err(e))
    }

    /// Connects (or, when connected, cold-resets) and returns the ATR.
    pub fn connect(&mut self) -> Result<Vec<u8>, ReaderError> {
        let protocols = self.preferred.protocols();
        if let Some(card) = self.card.as_mut() {
            let r = card.reconnect(protocols, ffi::UNPOWER_CARD);
            r.map_err(|e| ReaderError::from_ffi(e, &self.reader))?;
        } else {
            let mut attempt = self.ctx.connect(&self.reader_c, protocols);
            // A card removed and put back within one presence poll (~400 ms)
            // reads as removed / unpowered once: wait for pcscd to see the new
            // card and try again.
            if let Err(FfiError::Code(
                ScardCode::REMOVED_CARD | ScardCode::UNPOWERED_CARD | ScardCode::UNRESPONSIVE_CARD,
            )) = attempt
            {
                std::thread::sleep(Duration::from_millis(500));
                self.wait_for_card(Duration::from_secs(1))?;
                attempt = self.ctx.connect(&self.reader_c, protocols);
            }
            self.card = Some(attempt.map_err(|e| self.err(e))?);
        }
        self.record_protocol();
        self.atr()
    }

    /// Sends one APDU as is and returns the response.
    pub fn transmit_raw(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        let card = self.card.as_ref().ok_or(ReaderError::NotConnected)?;
        let r = card.transmit(apdu).map_err(|e| self.err(e))?;
        if r.len() < 2 {
            return Err(ReaderError::ShortResponse(r.len()));
        }
        Ok(r)
    }

    /// Sends one command with the transport rules of the active protocol (T=0:
    /// `61xx` and `6Cxx` handled here).
    pub fn send(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ReaderError> {
        if self.protocol != Some(ActiveProtocol::T0) {
            return self.transmit_raw(apdu);
        }
        let cmd = Command::parse(apdu).map_err(|e| ReaderError::BadApdu(e.to_string()))?;
        let resp = lamina_apdu::t0::exchange(&cmd, MAX_T0_STEPS, |c| {
            let bytes = c
                .to_bytes()
                .map_err(|e| ReaderError::BadApdu(e.to_string()))?;
            let r = self.transmit_raw(&bytes)?;
            Response::parse(&r).map_err(|_| ReaderError::ShortResponse(r.len()))
        })?;
        let mut out = resp.data;
        out.extend_from_slice(&resp.sw.to_bytes());
        Ok(out)
    }

    /// Disconnects, leaving the card unpowered.
    pub fn disconnect(&mut self) {
        if let Some(card) = self.card.take() {
            let _ = card.disconnect(ffi::UNPOWER_CARD);
        }
        self.protocol = None;
    }

    /// The reader name as a C string.
    pub fn reader_c(&self) -> &CStr {
        &self.reader_c
    }
}

impl CardChannel for PcscChannel {
    /// Connects (cold reset when already connected). A PC/SC reader picks the
    /// interface itself; contactless readers report a pseudo-ATR (PC/SC Part 3
    /// §3.1.3.2.3).
    fn power_on(&mut self, _interface: Interface) -> Result<Vec<u8>, ChannelError> {
        Ok(self.connect()?)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        Ok(self.send(apdu)?)
    }

    fn power_off(&mut self) {
        self.disconnect();
    }

    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        let protocols = self.preferred.protocols();
        let card = self.card.as_mut().ok_or(ChannelError::PoweredOff)?;
        card.reconnect(protocols, ffi::RESET_CARD)
            .map_err(|e| ChannelError::from(ReaderError::from_ffi(e, &self.reader)))?;
        self.record_protocol();
        Ok(self.atr()?)
    }
}

impl Drop for PcscChannel {
    fn drop(&mut self) {
        self.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_lookup() {
        let names = vec![
            "Virtual PCD 00 00".to_owned(),
            "Virtual PCD 00 01".to_owned(),
            "ACS ACR39U ICC Reader 01 00".to_owned(),
        ];
        assert_eq!(
            find_reader(&names, "Virtual PCD 00 01").unwrap(),
            "Virtual PCD 00 01"
        );
        assert_eq!(find_reader(&names, "acr39").unwrap(), names[2]);
        assert!(matches!(
            find_reader(&names, "virtual"),
            Err(ReaderError::AmbiguousReader { .. })
        ));
        assert!(matches!(
            find_reader(&names, "omnikey"),
            Err(ReaderError::NoSuchReader { .. })
        ));
    }

    #[test]
    fn errors_map_to_channel_errors() {
        let code = |c| ReaderError::from_ffi(FfiError::Code(c), "r");
        assert_eq!(
            ChannelError::from(code(ScardCode::NO_SMARTCARD)),
            ChannelError::NoCard
        );
        assert_eq!(
            ChannelError::from(code(ScardCode::REMOVED_CARD)),
            ChannelError::CardRemoved
        );
        assert_eq!(code(ScardCode::NO_SERVICE), ReaderError::NoService);
        assert_eq!(code(ScardCode::TIMEOUT), ReaderError::Timeout);
        assert_eq!(
            code(ScardCode(0x8010_0013)).to_string(),
            "PC/SC: SCARD_F_COMM_ERROR (0x80100013)"
        );
    }

    #[test]
    fn a_missing_library_says_what_to_install() {
        let e = ReaderError::from_ffi(
            FfiError::NoLibrary("libpcsclite.so.1: not found".into()),
            "",
        );
        let text = e.to_string();
        assert!(text.contains("libpcsclite.so.1"), "{text}");
        assert!(text.contains(ffi::INSTALL_HINT), "{text}");
        assert!(!text.contains('\n'));
    }
}
