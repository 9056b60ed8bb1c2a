//! The kernel's only door to the card: command constructors (EMV Book 3 §6.5), the
//! T=0 rules (Book 1 §9.3.1, via `lamina_apdu::t0`), byte counting and the optional
//! decoded APDU trace.

use lamina_apdu::{Command, Response, StatusWord, t0};
use lamina_card::channel::{CardChannel, ChannelError};
use lamina_tlv::{Tlv, Value};
use serde::Serialize;

/// A failed exchange (no usable response APDU).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoError {
    /// The card was removed or lost power during the command.
    #[error("card removed")]
    CardRemoved,
    /// Reader or transport failure.
    #[error("transport: {0}")]
    Transport(String),
    /// The response was shorter than a status word.
    #[error("response shorter than SW1 SW2")]
    Malformed,
}

impl From<ChannelError> for IoError {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::NoCard | ChannelError::PoweredOff | ChannelError::CardRemoved => {
                IoError::CardRemoved
            }
            other => IoError::Transport(other.to_string()),
        }
    }
}

/// One decoded command/response pair.
#[derive(Debug, Clone, Serialize)]
pub struct TraceEntry {
    /// Command name (from INS).
    pub command: String,
    /// Command APDU in hex; the data of VERIFY is replaced by `REDACTED`.
    pub c_apdu: String,
    /// Command data decoded: DOL-related data split by the DOL (GET PROCESSING
    /// OPTIONS, GENERATE AC, INTERNAL AUTHENTICATE) or the DF name of SELECT;
    /// sensitive values masked.
    pub c_data: Vec<String>,
    /// Status word in hex.
    pub sw: String,
    /// Status word meaning.
    pub sw_meaning: String,
    /// Response data decoded as TLV, one line per object; PAN and track data masked.
    pub response: Vec<String>,
}

/// Command names for the trace (Book 3 §6.5, ISO/IEC 7816-4).
pub fn command_name(cla: u8, ins: u8) -> &'static str {
    // Secure messaging classes '84' / '04' carry the issuer script commands.
    let sm = cla & 0x0C == 0x04;
    match (cla & 0xF0, ins, sm) {
        (0x00, 0xA4, false) => "SELECT",
        (0x00, 0xB2, false) => "READ RECORD",
        (0x80, 0xA8, false) => "GET PROCESSING OPTIONS",
        (0x80, 0xCA, false) => "GET DATA",
        (0x00, 0x20, false) => "VERIFY",
        (0x00, 0x84, false) => "GET CHALLENGE",
        (0x00, 0x88, false) => "INTERNAL AUTHENTICATE",
        (0x80, 0xAE, false) => "GENERATE AC",
        (0x00, 0x82, false) => "EXTERNAL AUTHENTICATE",
        (0x00, 0xC0, false) => "GET RESPONSE",
        (0x80, 0x1E, true) => "APPLICATION BLOCK",
        (0x80, 0x18, true) => "APPLICATION UNBLOCK",
        (0x80, 0x16, true) => "CARD BLOCK",
        (0x80, 0x24, true) => "PIN CHANGE/UNBLOCK",
        (_, 0xDA, true) => "PUT DATA",
        (_, 0xDC, true) => "UPDATE RECORD",
        _ => "COMMAND",
    }
}

/// TLV lines with names from the EMV dictionary; sensitive values masked.
pub fn decode_lines(data: &[u8]) -> Vec<String> {
    fn walk(list: &[Tlv], depth: usize, out: &mut Vec<String>) {
        for t in list {
            let n = t.tag.number();
            let name = lamina_emv::dict::name_of(n).unwrap_or("?");
            let pad = "  ".repeat(depth);
            match &t.value {
                Value::Constructed(children) => {
                    out.push(format!("{pad}{} {name}", lamina_emv::dict::tag_hex(n)));
                    walk(children, depth + 1, out);
                }
                Value::Primitive(v) => {
                    let shown = if lamina_emv::dict::is_sensitive(n) {
                        lamina_emv::dict::render_value(n, v)
                            .unwrap_or_else(|| format!("(hidden, {} bytes)", v.len()))
                    } else {
                        hex::encode_upper(v)
                    };
                    out.push(format!(
                        "{pad}{} {name} [{}]: {shown}",
                        lamina_emv::dict::tag_hex(n),
                        v.len()
                    ));
                }
            }
        }
    }
    if data.is_empty() {
        return Vec::new();
    }
    match Tlv::parse_all(data) {
        Ok(list) => {
            let mut out = Vec::new();
            walk(&list, 0, &mut out);
            out
        }
        Err(e) => vec![format!("(not TLV: {e}) {} bytes", data.len())],
    }
}

/// DOL-related data split by its DOL, one line per entry, sensitive values masked.
pub fn decode_dol_data(dol: &lamina_emv::dol::Dol, data: &[u8]) -> Vec<String> {
    match dol.split(data) {
        Ok(parts) => parts
            .into_iter()
            .map(|(tag, v)| {
                let n = tag.number();
                let name = lamina_emv::dict::name_of(n).unwrap_or("?");
                let shown = if lamina_emv::dict::is_sensitive(n) {
                    lamina_emv::dict::render_value(n, v)
                        .unwrap_or_else(|| format!("(hidden, {} bytes)", v.len()))
                } else {
                    hex::encode_upper(v)
                };
                format!("{} {name}: {shown}", lamina_emv::dict::tag_hex(n))
            })
            .collect(),
        Err(e) => vec![format!("(does not match the DOL: {e})")],
    }
}

/// The card channel as the kernel uses it.
pub struct CardIo<'c> {
    channel: &'c mut dyn CardChannel,
    trace: Option<Vec<TraceEntry>>,
    /// APDU bytes exchanged (commands and responses, including GET RESPONSE).
    pub bytes: usize,
    /// Number of command APDUs sent.
    pub commands: usize,
}

impl core::fmt::Debug for CardIo<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CardIo")
            .field("bytes", &self.bytes)
            .field("commands", &self.commands)
            .finish_non_exhaustive()
    }
}

/// Maximum exchanges per command under T=0 (GET RESPONSE chains).
const MAX_T0_STEPS: usize = 16;

impl<'c> CardIo<'c> {
    /// Wraps a channel; `trace` keeps a decoded trace.
    pub fn new(channel: &'c mut dyn CardChannel, trace: bool) -> Self {
        CardIo {
            channel,
            trace: trace.then(Vec::new),
            bytes: 0,
            commands: 0,
        }
    }

    /// The trace so far (if enabled).
    pub fn take_trace(&mut self) -> Option<Vec<TraceEntry>> {
        self.trace.take()
    }

    /// Powers the card (cold reset, contact interface).
    pub fn power_on(&mut self) -> Result<Vec<u8>, IoError> {
        Ok(self
            .channel
            .power_on(lamina_card::atr::Interface::Contact)?)
    }

    /// Powers the card off.
    pub fn power_off(&mut self) {
        self.channel.power_off();
    }

    /// Sends `cmd`, following `61xx`/`6Cxx` (Book 1 §9.3.1).
    pub fn exchange(&mut self, cmd: &Command) -> Result<Response, IoError> {
        self.exchange_dol(cmd, None)
    }

    /// [`exchange`](Self::exchange) for a command whose data is DOL-related data
    /// (`dol_data` = the data without any wrapping template): the trace shows it
    /// split by the DOL.
    pub fn exchange_dol(
        &mut self,
        cmd: &Command,
        dol: Option<(&lamina_emv::dol::Dol, &[u8])>,
    ) -> Result<Response, IoError> {
        let mut bytes = 0usize;
        let mut commands = 0usize;
        let channel = &mut *self.channel;
        let resp = t0::exchange(cmd, MAX_T0_STEPS, |c: &Command| {
            let raw = c
                .to_bytes()
                .map_err(|e| IoError::Transport(e.to_string()))?;
            bytes += raw.len();
            commands += 1;
            let answer = channel.transmit(&raw)?;
            bytes += answer.len();
            Response::parse(&answer).map_err(|_| IoError::Malformed)
        });
        self.bytes += bytes;
        self.commands += commands;
        if let Some(trace) = self.trace.as_mut() {
            let c_apdu = if cmd.ins == 0x20 {
                format!(
                    "{:02X}{:02X}{:02X}{:02X} REDACTED",
                    cmd.cla, cmd.ins, cmd.p1, cmd.p2
                )
            } else {
                cmd.to_bytes()
                    .map(hex::encode_upper)
                    .unwrap_or_else(|_| "(unencodable)".into())
            };
            let (sw, meaning, response) = match &resp {
                Ok(r) => (
                    format!("{:04X}", r.sw.0),
                    r.sw.meaning().to_owned(),
                    decode_lines(&r.data),
                ),
                Err(e) => ("----".into(), e.to_string(), Vec::new()),
            };
            let c_data = match (dol, cmd.cla, cmd.ins) {
                (Some((d, data)), _, _) => decode_dol_data(d, data),
                (None, 0x00, 0xA4) => vec![format!(
                    "DF name: {}",
                    if cmd.data.iter().all(|b| b.is_ascii_graphic()) {
                        String::from_utf8_lossy(&cmd.data).into_owned()
                    } else {
                        hex::encode_upper(&cmd.data)
                    }
                )],
                _ => Vec::new(),
            };
            trace.push(TraceEntry {
                command: command_name(cmd.cla, cmd.ins).to_owned(),
                c_apdu,
                c_data,
                sw,
                sw_meaning: meaning,
                response,
            });
        }
        resp
    }
}

/// EMV command constructors (Book 3 §6.5; Book 1 §11.3 SELECT).
pub mod cmd {
    use super::Command;

    /// SELECT by DF name (Book 1 §11.3.2): P2 `00` first or only, `02` next occurrence.
    pub fn select(name: &[u8], next: bool) -> Command {
        Command::new(0x00, 0xA4, 0x04, if next { 0x02 } else { 0x00 })
            .with_data(name.to_vec())
            .with_le(256)
    }

    /// READ RECORD (Book 3 §6.5.11): record `rec` of short file `sfi`.
    pub fn read_record(sfi: u8, rec: u8) -> Command {
        Command::new(0x00, 0xB2, rec, (sfi << 3) | 0x04).with_le(256)
    }

    /// GET PROCESSING OPTIONS (Book 3 §6.5.8): command data `83 L PDOL-data`.
    pub fn get_processing_options(pdol_data: &[u8]) -> Command {
        let mut data = vec![0x83];
        lamina_tlv::encode_length(pdol_data.len(), &mut data);
        data.extend_from_slice(pdol_data);
        Command::new(0x80, 0xA8, 0x00, 0x00)
            .with_data(data)
            .with_le(256)
    }

    /// GET DATA (Book 3 §6.5.7) for a two-byte tag (`9F17`, `9F36`, `9F13`).
    pub fn get_data(tag: u16) -> Command {
        let [p1, p2] = tag.to_be_bytes();
        Command::new(0x80, 0xCA, p1, p2).with_le(256)
    }

    /// VERIFY (Book 3 §6.5.12): P2 `80` plaintext PIN, `88` enciphered PIN.
    pub fn verify(p2: u8, data: &[u8]) -> Command {
        Command::new(0x00, 0x20, 0x00, p2).with_data(data.to_vec())
    }

    /// GET CHALLENGE (Book 3 §6.5.6).
    pub fn get_challenge() -> Command {
        Command::new(0x00, 0x84, 0x00, 0x00).with_le(256)
    }

    /// INTERNAL AUTHENTICATE (Book 3 §6.5.9) with DDOL-related data.
    pub fn internal_authenticate(ddol_data: &[u8]) -> Command {
        Command::new(0x00, 0x88, 0x00, 0x00)
            .with_data(ddol_data.to_vec())
            .with_le(256)
    }

    /// GENERATE AC (Book 3 §6.5.5): P1 = reference control parameter.
    pub fn generate_ac(p1: u8, cdol_data: &[u8]) -> Command {
        Command::new(0x80, 0xAE, p1, 0x00)
            .with_data(cdol_data.to_vec())
            .with_le(256)
    }

    /// EXTERNAL AUTHENTICATE (Book 3 §6.5.4) with the Issuer Authentication Data.
    pub fn external_authenticate(data: &[u8]) -> Command {
        Command::new(0x00, 0x82, 0x00, 0x00).with_data(data.to_vec())
    }
}

/// True for the status words after which a script continues (Book 3 §10.10: SW1 '90',
/// '62' or '63').
pub fn script_sw_ok(sw: StatusWord) -> bool {
    matches!(sw.sw1(), 0x90 | 0x62 | 0x63)
}
