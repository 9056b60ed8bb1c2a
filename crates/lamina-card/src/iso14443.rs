//! Contactless transport: the ISO/IEC 14443-4 half-duplex block transmission
//! protocol between a reader (PCD) and a card (PICC), with an air-time model.
//!
//! Three layers, from pure to stateful:
//!
//! 1. **Codec** (no state, no I/O): [`crc_a`] (ISO/IEC 14443-3 §6.2.4 and Annex B),
//!    [`Block`] — I-, R- and S-blocks with their PCB, optional CID and NAD
//!    (ISO/IEC 14443-4:2018 §7.1) — encoded and decoded with or without CRC_A,
//!    [`frame_size`] (FSCI/FSDI → FSC/FSD, §5.1 and §5.2.3), [`fwt`] (§7.2) and
//!    [`chain_blocks`] / [`unchain`] (chaining, §7.5.2). Decoders never panic: every
//!    malformed frame is a [`BlockError`].
//! 2. **PICC side** ([`Picc`]): the card's block handler. It wraps any
//!    [`CardChannel`] (normally [`EmulatedCard`](crate::EmulatedCard)), reassembles
//!    chained commands, measures the card's processing with [`Instant`], asks for
//!    waiting-time extensions (S(WTX)) when the modelled chip time exceeds FWT,
//!    and chains responses longer than FSD.
//! 3. **PCD side** ([`ContactlessLink`]): a [`CardChannel`] itself, so a terminal
//!    kernel uses it exactly as a contact reader. Each APDU is cut into frames,
//!    each frame is encoded with CRC_A, "sent" (counted on the air), decoded by the
//!    [`Picc`], and the answer frame is counted and decoded back. The link keeps
//!    [`LinkStats`] (frames, bytes on air, radio time, processing time, WTX,
//!    retransmissions) and can take the card out of the field at any point
//!    ([`Removal`]).
//!
//! ## Block numbering and handling rules (ISO/IEC 14443-4:2018 §7.5.3–7.5.4)
//!
//! | rule | side | what this module does |
//! |---|---|---|
//! | A | PCD | block number 0 at activation ([`ContactlessLink::power_on`]) |
//! | B | PCD | toggles when an I-block or R(ACK) with its current number arrives |
//! | C | PICC | block number 1 at activation ([`Picc::activate`]) |
//! | D | PICC | toggles on every I-block received |
//! | E | PICC | toggles on an R(ACK) with another number (then continues chaining) |
//! | 1 | both | the PCD sends first (the PICC only ever answers a frame) |
//! | 2 | both | a chained I-block is acknowledged with R(ACK) |
//! | 3 | both | S-blocks come in request/response pairs (WTX, DESELECT) |
//! | 4 | PCD | invalid block or FWT time-out → R(NAK) |
//! | 5 | PCD | the same during PICC chaining → R(ACK) |
//! | 6 | PCD | R(ACK) with another number → the last I-block is sent again |
//! | 7 | PCD | R(ACK) with its number → chaining continues |
//! | 8 | PCD | S(DESELECT) not answered → sent again (up to the retry limit) |
//! | 9 | PICC | may send S(WTX) instead of an I-block or R(ACK) |
//! | 10 | PICC | an unchained I-block is answered with an I-block |
//! | 11 | PICC | R(ACK)/R(NAK) with its number → the last block is sent again |
//! | 12 | PICC | R(NAK) with another number → R(ACK) |
//! | 13 | PICC | R(ACK) with another number while chaining → next chained block |
//!
//! A PICC ignores (stays mute on) frames with a bad CRC_A, undecodable blocks,
//! frames longer than FSC and frames for another CID (§7.5.5). The PCD counts
//! such silences as FWT time-outs. After [`LinkConfig::max_retransmissions`]
//! consecutive errors on one block the exchange fails with
//! [`ChannelError::Transport`].
//!
//! ## Air-time model
//!
//! Carrier frequency fc = 13.56 MHz (ISO/IEC 14443-2 §6). One bit lasts 128/fc
//! (≈ 9.44 µs) at 106 kbit/s, 64/fc at 212, 32/fc at 424, 16/fc at 848 kbit/s
//! (ISO/IEC 14443-2 §8, Type A). Times are counted exactly in carrier cycles
//! (1/fc) and converted at the end. Clause numbers of ISO/IEC 14443-3 are those
//! of the 2018 edition.
//!
//! * **Standard frame** (Type A, ISO/IEC 14443-3 §6.2.3.2): start of
//!   communication (1 bit), 8 data bits + 1 odd parity bit per byte, end of
//!   communication (1 bit): `(2 + 9·n)` bit durations for `n` bytes (CRC_A bytes
//!   included). The same framing is used at every bit rate; the extra
//!   synchronisation that ISO/IEC 14443-2 adds above 106 kbit/s (PICC BPSK
//!   preamble) is not modelled.
//! * **Short frame** (WUPA/REQA, §6.2.3.1): start + 7 bits + end = 9 bit
//!   durations.
//! * **Frame delay PCD → PICC** before every PICC frame: 1236/fc (≈ 91.2 µs), the
//!   minimum of ISO/IEC 14443-3 §6.2.1.1 for n = 9 and a last PCD bit of 1 (the
//!   106 kbit/s value, applied at every bit rate). The time the card spends
//!   computing is **not** radio time: it is reported as processing time.
//! * **Frame delay PICC → PCD** before every PCD frame: 1172/fc (≈ 86.4 µs), the
//!   minimum of ISO/IEC 14443-3 §6.2.1.2.
//! * **FWT time-out** (a PICC frame that never came or was invalid): FWT =
//!   (256·16/fc)·2^FWI (ISO/IEC 14443-4 §7.2) is added to the radio time.
//! * **Activation** ([`ContactlessLink::power_on`]) at 106 kbit/s: WUPA (short
//!   frame), ATQA (2 bytes), ANTICOLLISION CL1 (2), UID CL1 + BCC (5), SELECT (9
//!   with CRC), SAK (3), RATS (4), ATS (+2 CRC), then — above 106 kbit/s only —
//!   PPS request (5) and response (3) (ISO/IEC 14443-3 §6.3–6.5, ISO/IEC 14443-4
//!   §5.1–5.3; single-size 4-byte UID assumed), plus SFGT when the ATS asks for it
//!   (§5.2.5). The bit rate of [`LinkConfig::bit_rate`] applies after the PPS.
//!   The ATS's TA(1) (bit rates the card supports) is deliberately not checked:
//!   Lamina's ATS announces 106 kbit/s only, and the rate is a modelling
//!   parameter so that one transaction can be costed at every rate.
//!
//! ## Processing time and waiting-time extension
//!
//! The PICC measures each call into the card with [`Instant`]: that is the
//! *processing* time. A [`ChipTimeModel`] turns it into a modelled *chip* time
//! (`measured × scale + fixed`, by default the measured time itself) — a real
//! chip is much slower than this host. When the chip time exceeds FWT, the PICC
//! answers the last command I-block with S(WTX) requests (§7.3): the first is
//! sent at once with WTXM = ⌈chip/FWT⌉ (at most 59 and at most FWTmax/FWT, FWTmax
//! being FWT at FWI 14), further ones at the end of each granted extension,
//! until the extension covers the remaining time; the PCD answers each with the
//! same WTXM.
//!
//! ## Taking the card out of the field
//!
//! [`ContactlessLink::remove_at`] arms a [`Removal`]: after `n` more frames on
//! the air (in either direction, activation frames included), after `n` more
//! completed APDUs, or when the radio time since arming reaches a given
//! duration. The frame that would cross the limit is lost, the card loses power
//! (the emulated chip's RAM state is gone) and from then on every
//! [`CardChannel::transmit`] fails with [`ChannelError::CardRemoved`] and every
//! `power_on`/`reset` with [`ChannelError::NoCard`], until
//! [`ContactlessLink::reinsert`].
//!
//! ```
//! use lamina_card::iso14443::{BitRate, ContactlessLink, LinkConfig};
//! use lamina_card::{CardChannel, EmulatedCard, Interface, testing::demo_card};
//!
//! let card = EmulatedCard::new(demo_card(1));
//! let mut link = ContactlessLink::with_config(card, LinkConfig::default().bit_rate(BitRate::R424));
//! link.power_on(Interface::Contactless).unwrap();
//! let r = link.transmit(&hex::decode("00A404000E325041592E5359532E444446303100").unwrap()).unwrap();
//! assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
//! let stats = link.take_stats();
//! assert!(stats.frames >= 10 && stats.radio_us() > 0);
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::atr::{AtrError, Interface, parse_ats};
use crate::channel::{CardChannel, ChannelError};

// ---------------------------------------------------------------------------
// CRC_A
// ---------------------------------------------------------------------------

/// Initial register content of CRC_A (ISO/IEC 14443-3 §6.2.4: `6363`).
pub const CRC_A_INIT: u16 = 0x6363;

/// CRC_A of `data` (ISO/IEC 14443-3 §6.2.4, Annex B): CRC-16 with polynomial
/// x¹⁶ + x¹² + x⁵ + 1, bits processed LSB first, initial value `6363`, no final
/// XOR. Returned in transmission order (least significant byte first).
pub fn crc_a(data: &[u8]) -> [u8; 2] {
    let mut crc = CRC_A_INIT;
    for &byte in data {
        let [low, _] = crc.to_le_bytes();
        let mut x = byte ^ low;
        x ^= x << 4;
        let x = u16::from(x);
        crc = (crc >> 8) ^ (x << 8) ^ (x << 3) ^ (x >> 4);
    }
    crc.to_le_bytes()
}

/// Appends the CRC_A of `frame` to it.
pub fn append_crc_a(frame: &mut Vec<u8>) {
    let crc = crc_a(frame);
    frame.extend_from_slice(&crc);
}

/// Checks the two trailing CRC_A bytes of `frame` and returns the bytes before
/// them.
pub fn strip_crc_a(frame: &[u8]) -> Result<&[u8], BlockError> {
    let Some(body_len) = frame.len().checked_sub(2) else {
        return Err(BlockError::TooShort(frame.len()));
    };
    let (body, crc) = frame.split_at(body_len);
    let computed = crc_a(body);
    if crc != computed {
        let got = crc.first().copied().unwrap_or(0);
        let got = u16::from_le_bytes([got, crc.get(1).copied().unwrap_or(0)]);
        return Err(BlockError::BadCrc {
            got,
            computed: u16::from_le_bytes(computed),
        });
    }
    Ok(body)
}

// ---------------------------------------------------------------------------
// Frame sizes and waiting times
// ---------------------------------------------------------------------------

/// Frame sizes by FSCI/FSDI (ISO/IEC 14443-4:2018 §5.1 and §5.2.3): `0`–`8` give
/// 16–256 bytes, `9`–`C` (added in 2016) give 512–4096 bytes.
pub const FRAME_SIZES: [usize; 13] = [16, 24, 32, 40, 48, 64, 96, 128, 256, 512, 1024, 2048, 4096];

/// Frame size for an FSCI (card) or FSDI (reader) code. The RFU codes `D`–`F`
/// are read as `C` (4096 bytes, the largest defined size). (Editions before 2016
/// and EMV Contactless Book D define only `0`–`8`.)
/// The frame size counts the prologue, the INF field and the two CRC bytes.
pub fn frame_size(code: u8) -> usize {
    FRAME_SIZES.get(usize::from(code)).copied().unwrap_or(4096)
}

/// Carrier frequency fc in Hz (ISO/IEC 14443-2 §6).
pub const FC_HZ: u64 = 13_560_000;

/// FWI used when the ATS has no TB(1), and for the RFU value 15 (ISO/IEC
/// 14443-4:2018 §5.2.5).
pub const DEFAULT_FWI: u8 = 4;

/// Largest FWI (FWT ≈ 4949 ms); a WTX may not extend beyond FWT at FWI 14
/// (§7.3).
pub const MAX_FWI: u8 = 14;

/// Largest WTXM (§7.3).
pub const MAX_WTXM: u8 = 59;

/// FWT in carrier cycles: (256 · 16) · 2^FWI (ISO/IEC 14443-4:2018 §7.2). FWI 15
/// (RFU) is read as [`DEFAULT_FWI`].
pub fn fwt_cycles(fwi: u8) -> u64 {
    let fwi = if fwi > MAX_FWI { DEFAULT_FWI } else { fwi };
    4096u64 << fwi
}

/// FWT as a duration (FWI 0 ≈ 302 µs, FWI 7 ≈ 38.7 ms, FWI 14 ≈ 4949 ms).
pub fn fwt(fwi: u8) -> Duration {
    cycles_to_duration(fwt_cycles(fwi))
}

/// Converts carrier cycles (1/fc) into a duration (nanosecond resolution).
pub fn cycles_to_duration(cycles: u64) -> Duration {
    let ns = u128::from(cycles) * 1_000_000_000 / u128::from(FC_HZ);
    Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Converts a duration into carrier cycles, rounding up.
pub fn duration_to_cycles(d: Duration) -> u64 {
    let cycles = (d.as_nanos() * u128::from(FC_HZ)).div_ceil(1_000_000_000);
    u64::try_from(cycles).unwrap_or(u64::MAX)
}

// ---------------------------------------------------------------------------
// Blocks
// ---------------------------------------------------------------------------

/// Why a frame is not a valid ISO/IEC 14443-4 block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlockError {
    /// No bytes at all.
    #[error("empty block")]
    Empty,
    /// Fewer bytes than a PCB plus CRC_A.
    #[error("frame of {0} byte(s) is too short for a block with CRC_A")]
    TooShort(usize),
    /// The CRC_A does not match (ISO/IEC 14443-3 §6.2.4).
    #[error("CRC_A mismatch: frame carries {got:04X}, computed {computed:04X}")]
    BadCrc {
        /// CRC in the frame (as a little-endian number).
        got: u16,
        /// CRC computed over the frame body.
        computed: u16,
    },
    /// A PCB that is not an I-, R- or S-block this protocol knows
    /// (ISO/IEC 14443-4:2018 §7.1.1.1), including S(PARAMETERS).
    #[error("PCB {0:02X} is not a supported I-, R- or S-block")]
    BadPcb(u8),
    /// The PCB announces a CID or NAD byte that is missing.
    #[error("PCB {0:02X} announces a CID/NAD byte that is missing")]
    Truncated(u8),
    /// A CID byte with its RFU bits (b6–b5) set or CID 15 (§7.1.1.2).
    #[error("CID byte {0:02X}: RFU bits set or CID 15")]
    BadCid(u8),
    /// An R-block or S(DESELECT) with an INF field, or S(WTX) with more than one
    /// INF byte.
    #[error("{0} unexpected INF byte(s) in an R- or S-block")]
    UnexpectedInf(usize),
    /// S(WTX) without its INF byte.
    #[error("S(WTX) without its WTXM byte")]
    MissingWtxm,
    /// WTXM outside 1..=59 (§7.3).
    #[error("WTXM {0} outside 1..=59")]
    BadWtxm(u8),
}

/// An information block: application data, possibly chained
/// (ISO/IEC 14443-4:2018 §7.1.1.1, PCB `0000 0x1x` / `0001 0x1x` with chaining).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IBlock {
    /// Block number (b1 of the PCB; only bit 0 is used).
    pub number: u8,
    /// More blocks of the same chain follow (b5).
    pub chaining: bool,
    /// CID byte value (b4 of the PCB set when present).
    pub cid: Option<u8>,
    /// NAD byte (b3 of the PCB set when present).
    pub nad: Option<u8>,
    /// The INF field.
    pub inf: Vec<u8>,
}

/// A receive-ready block: positive (ACK) or negative (NAK) acknowledgement
/// (§7.1.1.1, PCB `1010 x01x` / `1011 x01x`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RBlock {
    /// NAK (b5 set) rather than ACK.
    pub nak: bool,
    /// Block number (b1; only bit 0 is used).
    pub number: u8,
    /// CID byte value when present.
    pub cid: Option<u8>,
}

/// The supervisory commands of this implementation (§7.1.1.1, §7.3, §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SCommand {
    /// S(DESELECT), PCB `1100 x010`, no INF.
    Deselect,
    /// S(WTX), PCB `1111 x010`, INF = WTXM (b6–b1; b8–b7 power level indication,
    /// ignored on decoding and sent as 0).
    Wtx(u8),
}

/// A supervisory block (§7.1.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SBlock {
    /// The command.
    pub command: SCommand,
    /// CID byte value when present.
    pub cid: Option<u8>,
}

/// One block of the half-duplex block transmission protocol (ISO/IEC
/// 14443-4:2018 §7.1): prologue (PCB, optional CID, optional NAD), INF, and on
/// the air the CRC_A epilogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// Information block.
    I(IBlock),
    /// Receive-ready block.
    R(RBlock),
    /// Supervisory block.
    S(SBlock),
}

const PCB_CID: u8 = 0x08;
const PCB_NAD: u8 = 0x04;
const PCB_CHAINING: u8 = 0x10;
const PCB_NAK: u8 = 0x10;

impl Block {
    /// An R(ACK) block.
    pub fn ack(number: u8, cid: Option<u8>) -> Block {
        Block::R(RBlock {
            nak: false,
            number: number & 1,
            cid,
        })
    }

    /// An R(NAK) block.
    pub fn nak(number: u8, cid: Option<u8>) -> Block {
        Block::R(RBlock {
            nak: true,
            number: number & 1,
            cid,
        })
    }

    /// An S(WTX) block (request from the PICC or response from the PCD).
    pub fn wtx(wtxm: u8, cid: Option<u8>) -> Block {
        Block::S(SBlock {
            command: SCommand::Wtx(wtxm),
            cid,
        })
    }

    /// An S(DESELECT) block.
    pub fn deselect(cid: Option<u8>) -> Block {
        Block::S(SBlock {
            command: SCommand::Deselect,
            cid,
        })
    }

    /// The CID of the block, if it carries one.
    pub fn cid(&self) -> Option<u8> {
        match self {
            Block::I(b) => b.cid,
            Block::R(b) => b.cid,
            Block::S(b) => b.cid,
        }
    }

    /// Encodes the block without CRC_A. Only the low bit of block numbers and
    /// the low four bits of a CID are used; WTXM is sent as given (b6–b1).
    pub fn encode(&self) -> Vec<u8> {
        let cid_flag = |cid: Option<u8>| if cid.is_some() { PCB_CID } else { 0 };
        let mut out = Vec::with_capacity(3);
        let (pcb, cid) = match self {
            Block::I(b) => {
                let mut pcb = 0x02 | (b.number & 1) | cid_flag(b.cid);
                if b.chaining {
                    pcb |= PCB_CHAINING;
                }
                if b.nad.is_some() {
                    pcb |= PCB_NAD;
                }
                (pcb, b.cid)
            }
            Block::R(b) => {
                let nak = if b.nak { PCB_NAK } else { 0 };
                (0xA2 | nak | (b.number & 1) | cid_flag(b.cid), b.cid)
            }
            Block::S(b) => {
                let base = match b.command {
                    SCommand::Deselect => 0xC2,
                    SCommand::Wtx(_) => 0xF2,
                };
                (base | cid_flag(b.cid), b.cid)
            }
        };
        out.push(pcb);
        if let Some(cid) = cid {
            out.push(cid & 0x0F);
        }
        match self {
            Block::I(b) => {
                if let Some(nad) = b.nad {
                    out.push(nad);
                }
                out.extend_from_slice(&b.inf);
            }
            Block::R(_) => {}
            Block::S(b) => {
                if let SCommand::Wtx(m) = b.command {
                    out.push(m & 0x3F);
                }
            }
        }
        out
    }

    /// Encodes the block and appends CRC_A: the frame as it goes on the air.
    pub fn to_frame(&self) -> Vec<u8> {
        let mut f = self.encode();
        append_crc_a(&mut f);
        f
    }

    /// Decodes a block without CRC_A.
    pub fn decode(bytes: &[u8]) -> Result<Block, BlockError> {
        let (&pcb, rest) = bytes.split_first().ok_or(BlockError::Empty)?;
        let mut rest = rest;
        let mut take = |flag: bool| -> Result<Option<u8>, BlockError> {
            if !flag {
                return Ok(None);
            }
            let (&b, tail) = rest.split_first().ok_or(BlockError::Truncated(pcb))?;
            rest = tail;
            Ok(Some(b))
        };
        let cid = take(pcb & PCB_CID != 0)?;
        if let Some(c) = cid
            && (c & 0x30 != 0 || c & 0x0F == 0x0F)
        {
            return Err(BlockError::BadCid(c));
        }
        let cid = cid.map(|c| c & 0x0F);
        match pcb & 0xC0 {
            0x00 => {
                // I-block: b8-b6 = 000, b2 = 1.
                if pcb & 0xE2 != 0x02 {
                    return Err(BlockError::BadPcb(pcb));
                }
                let nad = take(pcb & PCB_NAD != 0)?;
                Ok(Block::I(IBlock {
                    number: pcb & 1,
                    chaining: pcb & PCB_CHAINING != 0,
                    cid,
                    nad,
                    inf: rest.to_vec(),
                }))
            }
            0x80 => {
                // R-block: b8-b6 = 101, b3 = 0, b2 = 1.
                if pcb & 0xE6 != 0xA2 {
                    return Err(BlockError::BadPcb(pcb));
                }
                if !rest.is_empty() {
                    return Err(BlockError::UnexpectedInf(rest.len()));
                }
                Ok(Block::R(RBlock {
                    nak: pcb & PCB_NAK != 0,
                    number: pcb & 1,
                    cid,
                }))
            }
            0xC0 => {
                // S-block: b3 = 0, b2 = 1, b1 = 0; b6-b5 = 00 DESELECT, 11 WTX.
                if pcb & 0x07 != 0x02 {
                    return Err(BlockError::BadPcb(pcb));
                }
                let command = match pcb & 0x30 {
                    0x00 => {
                        if !rest.is_empty() {
                            return Err(BlockError::UnexpectedInf(rest.len()));
                        }
                        SCommand::Deselect
                    }
                    0x30 => {
                        let (&inf, tail) = rest.split_first().ok_or(BlockError::MissingWtxm)?;
                        if !tail.is_empty() {
                            return Err(BlockError::UnexpectedInf(tail.len()));
                        }
                        let m = inf & 0x3F;
                        if !(1..=MAX_WTXM).contains(&m) {
                            return Err(BlockError::BadWtxm(m));
                        }
                        SCommand::Wtx(m)
                    }
                    _ => return Err(BlockError::BadPcb(pcb)),
                };
                Ok(Block::S(SBlock { command, cid }))
            }
            _ => Err(BlockError::BadPcb(pcb)),
        }
    }

    /// Checks CRC_A and decodes the block of a received frame.
    pub fn from_frame(frame: &[u8]) -> Result<Block, BlockError> {
        if frame.len() < 3 {
            return Err(BlockError::TooShort(frame.len()));
        }
        Block::decode(strip_crc_a(frame)?)
    }
}

impl fmt::Display for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Block::I(b) => write!(
                f,
                "I({}{}) {} byte(s)",
                b.number,
                if b.chaining { ", chaining" } else { "" },
                b.inf.len()
            ),
            Block::R(b) => write!(f, "R({}, {})", if b.nak { "NAK" } else { "ACK" }, b.number),
            Block::S(SBlock {
                command: SCommand::Deselect,
                ..
            }) => write!(f, "S(DESELECT)"),
            Block::S(SBlock {
                command: SCommand::Wtx(m),
                ..
            }) => write!(f, "S(WTX {m})"),
        }
    }
}

/// Largest INF field that fits a frame of `frame_size` bytes with this prologue
/// (PCB, optional CID, optional NAD) and the two CRC bytes; at least 1.
pub fn max_inf(frame_size: usize, cid: bool, nad: bool) -> usize {
    let prologue = 1 + usize::from(cid) + usize::from(nad);
    frame_size.saturating_sub(prologue + 2).max(1)
}

/// Cuts `data` into the I-blocks of one chain (ISO/IEC 14443-4:2018 §7.5.2):
/// every frame at most `frame_size` bytes with CRC, all blocks but the last with
/// the chaining bit, block numbers alternating from `first_number` (each block
/// is acknowledged, which toggles the number), NAD in the first block only.
/// Empty `data` gives one empty I-block.
pub fn chain_blocks(
    data: &[u8],
    first_number: u8,
    frame_size: usize,
    cid: Option<u8>,
    nad: Option<u8>,
) -> Vec<IBlock> {
    let mut blocks = Vec::new();
    let mut number = first_number & 1;
    let mut rest = data;
    loop {
        let n = max_inf(
            frame_size,
            cid.is_some(),
            nad.is_some() && blocks.is_empty(),
        );
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        rest = tail;
        blocks.push(IBlock {
            number,
            chaining: !rest.is_empty(),
            cid,
            nad: if blocks.is_empty() { nad } else { None },
            inf: chunk.to_vec(),
        });
        number ^= 1;
        if rest.is_empty() {
            return blocks;
        }
    }
}

/// Why a sequence of I-blocks is not one chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// No blocks.
    #[error("no block")]
    Empty,
    /// A block before the last lacks the chaining bit, or the last has it.
    #[error("block {0}: chaining bit out of place")]
    Chaining(usize),
    /// Two consecutive blocks with the same number.
    #[error("block {0}: block number does not alternate")]
    Numbering(usize),
}

/// Joins the INF fields of one chain of I-blocks, checking the chaining bits and
/// the alternating block numbers.
pub fn unchain(blocks: &[IBlock]) -> Result<Vec<u8>, ChainError> {
    if blocks.is_empty() {
        return Err(ChainError::Empty);
    }
    let mut out = Vec::new();
    let mut prev: Option<u8> = None;
    for (i, b) in blocks.iter().enumerate() {
        let is_last = i + 1 == blocks.len();
        if b.chaining == is_last {
            return Err(ChainError::Chaining(i));
        }
        if prev == Some(b.number & 1) {
            return Err(ChainError::Numbering(i));
        }
        prev = Some(b.number & 1);
        out.extend_from_slice(&b.inf);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// Bit rates and air time
// ---------------------------------------------------------------------------

/// Bit rate of the link after activation (ISO/IEC 14443-2: fc/128, fc/64, fc/32,
/// fc/16).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum BitRate {
    /// 106 kbit/s (fc/128), the activation rate.
    #[default]
    R106,
    /// 212 kbit/s (fc/64).
    R212,
    /// 424 kbit/s (fc/32).
    R424,
    /// 848 kbit/s (fc/16).
    R848,
}

impl BitRate {
    /// All four rates.
    pub const ALL: [BitRate; 4] = [BitRate::R106, BitRate::R212, BitRate::R424, BitRate::R848];

    /// Nominal rate in kbit/s.
    pub fn kbps(self) -> u32 {
        match self {
            BitRate::R106 => 106,
            BitRate::R212 => 212,
            BitRate::R424 => 424,
            BitRate::R848 => 848,
        }
    }

    /// Carrier cycles per bit (128, 64, 32, 16).
    pub fn bit_cycles(self) -> u64 {
        match self {
            BitRate::R106 => 128,
            BitRate::R212 => 64,
            BitRate::R424 => 32,
            BitRate::R848 => 16,
        }
    }
}

impl fmt::Display for BitRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kbit/s", self.kbps())
    }
}

/// Carrier cycles of a Type A standard frame of `bytes` bytes (CRC included):
/// start bit, 9 bits per byte (8 data + odd parity), end bit (ISO/IEC 14443-3
/// §6.2.3.2).
pub fn standard_frame_cycles(bytes: usize, rate: BitRate) -> u64 {
    let bits = u64::try_from(bytes)
        .unwrap_or(u64::MAX)
        .saturating_mul(9)
        .saturating_add(2);
    bits.saturating_mul(rate.bit_cycles())
}

/// Carrier cycles of a short frame (WUPA/REQA: start, 7 bits, end; ISO/IEC
/// 14443-3 §6.2.3.1) at 106 kbit/s.
pub const SHORT_FRAME_CYCLES: u64 = 9 * 128;

/// Frame delay time PCD → PICC in carrier cycles before each PICC frame (ISO/IEC
/// 14443-3 §6.2.1.1, n = 9, last PCD bit 1: (9·128 + 84)/fc).
pub const FDT_PCD_PICC_CYCLES: u64 = 1236;

/// Minimum frame delay time PICC → PCD in carrier cycles before each PCD frame
/// (ISO/IEC 14443-3 §6.2.1.2: 1172/fc).
pub const FDT_PICC_PCD_CYCLES: u64 = 1172;

// ---------------------------------------------------------------------------
// Statistics, chip time, removal plans, configuration
// ---------------------------------------------------------------------------

/// Counters of a [`ContactlessLink`] since it was created or since the last
/// [`ContactlessLink::take_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Completed APDU exchanges.
    pub apdus: u64,
    /// Activations (field on, anticollision, RATS/ATS).
    pub activations: u64,
    /// Frames on the air, both directions.
    pub frames: u64,
    /// Frames sent by the PCD.
    pub pcd_frames: u64,
    /// Frames sent by the PICC.
    pub picc_frames: u64,
    /// Bytes on the air, CRC included, both directions (a short frame counts as
    /// one byte).
    pub bytes_on_air: u64,
    /// Radio time in carrier cycles (1/fc): frames, frame delay times, FWT
    /// time-outs, SFGT.
    pub radio_cycles: u64,
    /// Host time measured around the card's processing of each APDU.
    pub processing: Duration,
    /// Modelled chip time ([`ChipTimeModel`]) of the same calls.
    pub chip_time: Duration,
    /// S(WTX) requests received from the PICC.
    pub wtx: u64,
    /// Blocks sent again or R(NAK)/R(ACK) sent because of an error.
    pub retransmissions: u64,
    /// FWT time-outs and invalid frames seen by the PCD.
    pub timeouts: u64,
}

impl LinkStats {
    /// Radio time as a duration.
    pub fn radio_time(&self) -> Duration {
        cycles_to_duration(self.radio_cycles)
    }

    /// Radio time in whole microseconds.
    pub fn radio_us(&self) -> u64 {
        u64::try_from(self.radio_time().as_micros()).unwrap_or(u64::MAX)
    }

    /// Measured processing time in whole microseconds.
    pub fn processing_us(&self) -> u64 {
        u64::try_from(self.processing.as_micros()).unwrap_or(u64::MAX)
    }

    /// Modelled chip time in whole microseconds.
    pub fn chip_time_us(&self) -> u64 {
        u64::try_from(self.chip_time.as_micros()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for LinkStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} APDU(s), {} frame(s) ({} PCD, {} PICC), {} byte(s) on air, radio {} µs, \
             processing {} µs (chip model {} µs), {} WTX, {} retransmission(s), {} time-out(s)",
            self.apdus,
            self.frames,
            self.pcd_frames,
            self.picc_frames,
            self.bytes_on_air,
            self.radio_us(),
            self.processing_us(),
            self.chip_time_us(),
            self.wtx,
            self.retransmissions,
            self.timeouts
        )
    }
}

/// How the measured host processing time becomes the chip time that decides
/// waiting-time extensions: `measured × scale + fixed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChipTimeModel {
    /// Multiplier for the measured time (a smart-card CPU is much slower).
    pub scale: u32,
    /// Time added to every APDU (e.g. an NVM write or an RSA signature).
    pub fixed: Duration,
}

impl Default for ChipTimeModel {
    fn default() -> Self {
        ChipTimeModel {
            scale: 1,
            fixed: Duration::ZERO,
        }
    }
}

impl ChipTimeModel {
    /// The modelled chip time for a measured processing time.
    pub fn chip_time(&self, measured: Duration) -> Duration {
        measured
            .saturating_mul(self.scale)
            .saturating_add(self.fixed)
    }
}

/// When the card leaves the field, counted from the moment the plan is armed
/// ([`ContactlessLink::remove_at`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// `n` more frames reach the other side; frame `n` (0-based) is lost.
    AfterFrames(u64),
    /// `n` more APDU exchanges complete; the next one fails before its first
    /// frame.
    AfterApdus(u64),
    /// The card leaves when the radio time since arming reaches this duration;
    /// the frame that would cross it is lost.
    AtRadioTime(Duration),
}

/// Parameters of a [`ContactlessLink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    /// Bit rate after activation (the PPS asks for it in both directions).
    pub bit_rate: BitRate,
    /// FSDI sent in RATS (reader's frame size; default 8 = 256 bytes).
    pub fsdi: u8,
    /// CID to assign in RATS (0..=14, larger values are taken as 14); used in
    /// blocks only if the ATS says the card supports CID. `None` or `Some(0)`:
    /// CID 0, no CID byte in blocks.
    pub cid: Option<u8>,
    /// NAD to send in the first block of each command, if the card supports NAD.
    pub nad: Option<u8>,
    /// FWI to use instead of the ATS's (models a card that announces another
    /// FWI; EMV Contactless Book D limits FWI to 7).
    pub fwi: Option<u8>,
    /// The chip time model of the PICC.
    pub chip_time: ChipTimeModel,
    /// Consecutive errors tolerated on one block before the exchange fails.
    pub max_retransmissions: u32,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            bit_rate: BitRate::R106,
            fsdi: 8,
            cid: None,
            nad: None,
            fwi: None,
            chip_time: ChipTimeModel::default(),
            max_retransmissions: 2,
        }
    }
}

impl LinkConfig {
    /// Sets the bit rate.
    pub fn bit_rate(mut self, rate: BitRate) -> Self {
        self.bit_rate = rate;
        self
    }

    /// Sets FSDI (0..=12).
    pub fn fsdi(mut self, fsdi: u8) -> Self {
        self.fsdi = fsdi;
        self
    }

    /// Sets the CID to assign (0..=14; larger values are taken as 14).
    pub fn cid(mut self, cid: u8) -> Self {
        self.cid = Some(cid.min(14));
        self
    }

    /// Sets the NAD.
    pub fn nad(mut self, nad: u8) -> Self {
        self.nad = Some(nad);
        self
    }

    /// Overrides the card's FWI.
    pub fn fwi(mut self, fwi: u8) -> Self {
        self.fwi = Some(fwi);
        self
    }

    /// Sets the chip time model.
    pub fn chip_time(mut self, model: ChipTimeModel) -> Self {
        self.chip_time = model;
        self
    }
}

/// Link-level failures (reported to terminals as [`ChannelError::Transport`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The link only drives the contactless interface.
    #[error("a contactless link cannot power the contact interface")]
    ContactInterface,
    /// The ATS could not be decoded.
    #[error("ATS: {0}")]
    Ats(AtrError),
    /// The PICC answered with a block that makes no sense at this point.
    #[error("protocol error: unexpected {0}")]
    Unexpected(String),
    /// Too many consecutive errors on one block.
    #[error("no valid answer after {0} retransmission(s)")]
    TooManyErrors(u32),
}

impl From<LinkError> for ChannelError {
    fn from(e: LinkError) -> Self {
        ChannelError::Transport(e.to_string())
    }
}

// ---------------------------------------------------------------------------
// PICC
// ---------------------------------------------------------------------------

/// The card side of the block protocol: wraps a [`CardChannel`] to a card and
/// answers frames (ISO/IEC 14443-4:2018 §7.5, rules C–E and 9–13).
#[derive(Debug)]
pub struct Picc<C> {
    card: C,
    chip: ChipTimeModel,
    active: bool,
    number: u8,
    fsc: usize,
    fsd: usize,
    cid: Option<u8>,
    fwt_cycles: u64,
    command: Vec<u8>,
    reply_cid: Option<u8>,
    reply_nad: Option<u8>,
    out: VecDeque<Vec<u8>>,
    out_first: bool,
    wtx: VecDeque<u8>,
    awaiting_wtx: bool,
    last: Option<Block>,
    processing: Duration,
    chip_time: Duration,
}

impl<C: CardChannel> Picc<C> {
    /// A PICC around `card`, not yet activated.
    pub fn new(card: C, chip: ChipTimeModel) -> Self {
        Picc {
            card,
            chip,
            active: false,
            number: 1,
            fsc: 256,
            fsd: 256,
            cid: None,
            fwt_cycles: fwt_cycles(DEFAULT_FWI),
            command: Vec::new(),
            reply_cid: None,
            reply_nad: None,
            out: VecDeque::new(),
            out_first: false,
            wtx: VecDeque::new(),
            awaiting_wtx: false,
            last: None,
            processing: Duration::ZERO,
            chip_time: Duration::ZERO,
        }
    }

    /// Activation up to the ATS (ISO/IEC 14443-4:2018 §5.1–5.2): powers the card
    /// on the contactless interface and answers RATS with parameter byte `rats`
    /// (FSDI b8–b5, CID b4–b1). Block number 1 (rule C). `fwi` overrides the
    /// ATS's FWI. Returns the ATS without CRC.
    pub fn activate(&mut self, rats: u8, fwi: Option<u8>) -> Result<Vec<u8>, ChannelError> {
        let ats = self.card.power_on(Interface::Contactless)?;
        let info = parse_ats(&ats).map_err(LinkError::Ats)?;
        let cid_supported = info.tc.is_some_and(|tc| tc & 0x02 != 0);
        let rats_cid = rats & 0x0F;
        self.cid = (cid_supported && rats_cid != 0).then_some(rats_cid);
        self.fsc = frame_size(info.fsci);
        self.fsd = frame_size(rats >> 4);
        let ats_fwi = info.tb.map_or(DEFAULT_FWI, |tb| tb >> 4);
        self.fwt_cycles = fwt_cycles(fwi.unwrap_or(ats_fwi));
        self.active = true;
        self.number = 1;
        self.reset_exchange();
        self.last = None;
        Ok(ats)
    }

    /// Field off: the card loses power.
    pub fn deactivate(&mut self) {
        self.card.power_off();
        self.active = false;
        self.reset_exchange();
    }

    /// Whether the PICC is activated (between ATS and DESELECT/field off).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The card.
    pub fn card(&self) -> &C {
        &self.card
    }

    /// The card, mutable.
    pub fn card_mut(&mut self) -> &mut C {
        &mut self.card
    }

    /// Takes the card out.
    pub fn into_card(self) -> C {
        self.card
    }

    /// The measured processing time and modelled chip time accumulated since the
    /// last call.
    pub fn take_timing(&mut self) -> (Duration, Duration) {
        let t = (self.processing, self.chip_time);
        self.processing = Duration::ZERO;
        self.chip_time = Duration::ZERO;
        t
    }

    fn reset_exchange(&mut self) {
        self.command.clear();
        self.out.clear();
        self.wtx.clear();
        self.awaiting_wtx = false;
    }

    /// Whether a block with this CID is for this PICC (§7.1.1.2): a PICC with a
    /// CID other than 0 answers only blocks with its CID; otherwise blocks without
    /// CID or with CID 0.
    fn addressed(&self, cid: Option<u8>) -> bool {
        match (self.cid, cid) {
            (Some(own), Some(c)) => own == c,
            (Some(_), None) => false,
            (None, c) => c.unwrap_or(0) == 0,
        }
    }

    /// Handles one frame from the PCD and returns the answer frame (with CRC_A),
    /// or `None` when the PICC stays mute (not active, invalid frame, another
    /// CID, a block it must ignore). `Err` only when the card itself failed (for
    /// an emulated card: torn by a simulated power cut → `CardRemoved`).
    pub fn handle(&mut self, frame: &[u8]) -> Result<Option<Vec<u8>>, ChannelError> {
        if !self.active || frame.len() > self.fsc {
            return Ok(None);
        }
        let Ok(block) = Block::from_frame(frame) else {
            return Ok(None);
        };
        if !self.addressed(block.cid()) {
            return Ok(None);
        }
        // Every answer carries the CID of the block it answers (§7.1.1.2).
        self.reply_cid = block.cid();
        let reply = match block {
            Block::I(b) => self.on_i_block(b)?,
            Block::R(r) => self.on_r_block(r),
            Block::S(s) => self.on_s_block(s),
        };
        let Some(reply) = reply else {
            return Ok(None);
        };
        let frame = reply.to_frame();
        if matches!(
            reply,
            Block::S(SBlock {
                command: SCommand::Deselect,
                ..
            })
        ) {
            // §8: after S(DESELECT) the PICC enters HALT; this model powers the
            // chip off (its session is lost, as after a re-activation).
            self.deactivate();
        }
        self.last = Some(reply);
        Ok(Some(frame))
    }

    fn on_i_block(&mut self, b: IBlock) -> Result<Option<Block>, ChannelError> {
        // Rule D.
        self.number ^= 1;
        if self.command.is_empty() {
            // First block of a command: a new exchange starts.
            self.out.clear();
            self.wtx.clear();
            self.awaiting_wtx = false;
            self.reply_nad = b.nad;
        }
        self.command.extend_from_slice(&b.inf);
        if b.chaining {
            // Rule 2.
            return Ok(Some(Block::ack(self.number, self.reply_cid)));
        }
        let apdu = std::mem::take(&mut self.command);
        let start = Instant::now();
        let result = self.card.transmit(&apdu);
        let measured = start.elapsed();
        let chip = self.chip.chip_time(measured);
        self.processing += measured;
        self.chip_time += chip;
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                self.active = false;
                return Err(e);
            }
        };
        self.wtx = wtx_plan(chip, self.fwt_cycles).into();
        let max = max_inf(self.fsd, self.reply_cid.is_some(), false);
        let first = max_inf(self.fsd, self.reply_cid.is_some(), self.reply_nad.is_some());
        let (head, mut rest) = response.split_at(first.min(response.len()));
        self.out.push_back(head.to_vec());
        while !rest.is_empty() {
            let (chunk, tail) = rest.split_at(max.min(rest.len()));
            self.out.push_back(chunk.to_vec());
            rest = tail;
        }
        self.out_first = true;
        // Rules 9 and 10.
        Ok(self.next_out())
    }

    fn next_out(&mut self) -> Option<Block> {
        if let Some(m) = self.wtx.pop_front() {
            self.awaiting_wtx = true;
            return Some(Block::wtx(m, self.reply_cid));
        }
        let inf = self.out.pop_front()?;
        let nad = if self.out_first { self.reply_nad } else { None };
        self.out_first = false;
        Some(Block::I(IBlock {
            number: self.number,
            chaining: !self.out.is_empty(),
            cid: self.reply_cid,
            nad,
            inf,
        }))
    }

    fn on_r_block(&mut self, r: RBlock) -> Option<Block> {
        if r.number == self.number {
            // Rule 11.
            return self.last.clone();
        }
        if r.nak {
            // Rule 12.
            return Some(Block::ack(self.number, self.reply_cid));
        }
        let chaining = matches!(&self.last, Some(Block::I(b)) if b.chaining);
        if chaining && !self.out.is_empty() {
            // Rules E and 13.
            self.number ^= 1;
            return self.next_out();
        }
        None
    }

    fn on_s_block(&mut self, s: SBlock) -> Option<Block> {
        match s.command {
            SCommand::Deselect => Some(Block::deselect(s.cid)),
            SCommand::Wtx(_) if self.awaiting_wtx => {
                self.awaiting_wtx = false;
                self.next_out()
            }
            SCommand::Wtx(_) => None,
        }
    }
}

/// The WTXM values a PICC sends for a command that takes `chip` time with this
/// FWT (§7.3; see the module docs): empty when `chip` ≤ FWT.
pub fn wtx_plan(chip: Duration, fwt_in_cycles: u64) -> Vec<u8> {
    let fwt = fwt_in_cycles.max(1);
    let mut remaining = duration_to_cycles(chip);
    let mut plan = Vec::new();
    if remaining <= fwt {
        return plan;
    }
    let cap = (fwt_cycles(MAX_FWI) / fwt).clamp(1, u64::from(MAX_WTXM));
    // Bounded: each step consumes at least one FWT of a finite remaining time;
    // the cap on steps only guards against absurd chip times.
    while plan.len() < 100_000 {
        let m = remaining.div_ceil(fwt).clamp(1, cap);
        plan.push(u8::try_from(m).unwrap_or(MAX_WTXM));
        let window = fwt.saturating_mul(m);
        if remaining <= window {
            break;
        }
        remaining -= window;
    }
    plan
}

// ---------------------------------------------------------------------------
// PCD: the link
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Pcd,
    Picc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RemovalAt {
    Frame(u64),
    Apdu(u64),
    Cycle(u64),
}

/// A reader's contactless link to a card: a [`CardChannel`] that carries every
/// APDU in ISO/IEC 14443-4 blocks over a modelled radio (see the module docs).
#[derive(Debug)]
pub struct ContactlessLink<C> {
    picc: Picc<C>,
    config: LinkConfig,
    active: bool,
    removed: bool,
    number: u8,
    fsc: usize,
    fwt_cycles: u64,
    cid: Option<u8>,
    nad: Option<u8>,
    rate: BitRate,
    stats: LinkStats,
    life_frames: u64,
    life_apdus: u64,
    life_cycles: u64,
    removal: Option<RemovalAt>,
    corrupt: Vec<u64>,
}

impl<C: CardChannel> ContactlessLink<C> {
    /// A link at 106 kbit/s with the default configuration.
    pub fn new(card: C) -> Self {
        Self::with_config(card, LinkConfig::default())
    }

    /// A link with `config`.
    pub fn with_config(card: C, config: LinkConfig) -> Self {
        ContactlessLink {
            picc: Picc::new(card, config.chip_time),
            config,
            active: false,
            removed: false,
            number: 0,
            fsc: 256,
            fwt_cycles: fwt_cycles(DEFAULT_FWI),
            cid: None,
            nad: None,
            rate: BitRate::R106,
            stats: LinkStats::default(),
            life_frames: 0,
            life_apdus: 0,
            life_cycles: 0,
            removal: None,
            corrupt: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Changes the bit rate used from the next activation on.
    pub fn set_bit_rate(&mut self, rate: BitRate) {
        self.config.bit_rate = rate;
    }

    /// Counters since creation or the last [`Self::take_stats`].
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Returns the counters and resets them (one transaction's figures).
    pub fn take_stats(&mut self) -> LinkStats {
        std::mem::take(&mut self.stats)
    }

    /// FSC of the activated card (bytes per frame towards the card).
    pub fn fsc(&self) -> usize {
        self.fsc
    }

    /// Bit rate in force (106 kbit/s until the activation's PPS, then
    /// [`LinkConfig::bit_rate`]).
    pub fn bit_rate(&self) -> BitRate {
        self.rate
    }

    /// FWT in force (from the ATS or [`LinkConfig::fwi`]).
    pub fn fwt(&self) -> Duration {
        cycles_to_duration(self.fwt_cycles)
    }

    /// The PICC side.
    pub fn picc(&self) -> &Picc<C> {
        &self.picc
    }

    /// The card behind the PICC.
    pub fn card(&self) -> &C {
        self.picc.card()
    }

    /// The card behind the PICC, mutable (arm power cuts, inspect records …).
    pub fn card_mut(&mut self) -> &mut C {
        self.picc.card_mut()
    }

    /// Takes the card out.
    pub fn into_card(self) -> C {
        self.picc.into_card()
    }

    /// Arms a removal plan (replacing any previous one), counted from now.
    pub fn remove_at(&mut self, removal: Removal) {
        self.removal = Some(match removal {
            Removal::AfterFrames(n) => RemovalAt::Frame(self.life_frames.saturating_add(n)),
            Removal::AfterApdus(n) => RemovalAt::Apdu(self.life_apdus.saturating_add(n)),
            Removal::AtRadioTime(d) => {
                RemovalAt::Cycle(self.life_cycles.saturating_add(duration_to_cycles(d)))
            }
        });
    }

    /// Takes the card out of the field now.
    pub fn remove_now(&mut self) {
        self.field_lost();
    }

    /// Whether the card has left the field.
    pub fn is_removed(&self) -> bool {
        self.removed
    }

    /// Brings the card back into the field (not activated: call `power_on`) and
    /// disarms any removal plan.
    pub fn reinsert(&mut self) {
        self.removed = false;
        self.removal = None;
    }

    /// Test hook for the error-recovery rules: the frame `n` frames from now (in
    /// either direction, 0-based) arrives with one bit flipped in its CRC_A.
    pub fn corrupt_frame(&mut self, n: u64) {
        self.corrupt.push(self.life_frames.saturating_add(n));
    }

    fn field_lost(&mut self) {
        self.removed = true;
        self.active = false;
        self.removal = None;
        self.picc.deactivate();
    }

    /// Counts one frame on the air (delay before it + the frame), or loses it if
    /// the card leaves the field now. Returns whether the frame arrives intact.
    fn air(&mut self, side: Side, bytes: usize, frame_cycles: u64) -> Result<bool, ChannelError> {
        let fdt = match side {
            Side::Pcd => FDT_PICC_PCD_CYCLES,
            Side::Picc => FDT_PCD_PICC_CYCLES,
        };
        let cycles = fdt.saturating_add(frame_cycles);
        match self.removal {
            Some(RemovalAt::Frame(n)) if self.life_frames >= n => {
                self.field_lost();
                return Err(ChannelError::CardRemoved);
            }
            Some(RemovalAt::Cycle(c)) if self.life_cycles.saturating_add(cycles) > c => {
                let partial = c.saturating_sub(self.life_cycles);
                self.stats.radio_cycles += partial;
                self.life_cycles += partial;
                self.field_lost();
                return Err(ChannelError::CardRemoved);
            }
            _ => {}
        }
        let index = self.life_frames;
        self.life_frames += 1;
        self.life_cycles = self.life_cycles.saturating_add(cycles);
        self.stats.frames += 1;
        match side {
            Side::Pcd => self.stats.pcd_frames += 1,
            Side::Picc => self.stats.picc_frames += 1,
        }
        self.stats.bytes_on_air += u64::try_from(bytes).unwrap_or(u64::MAX);
        self.stats.radio_cycles = self.stats.radio_cycles.saturating_add(cycles);
        let corrupted = self.corrupt.contains(&index);
        self.corrupt.retain(|&i| i != index);
        Ok(!corrupted)
    }

    /// Counts a frame of `bytes` bytes at the link's current rate.
    fn air_frame(&mut self, side: Side, frame: &mut [u8]) -> Result<(), ChannelError> {
        let cycles = standard_frame_cycles(frame.len(), self.rate);
        if !self.air(side, frame.len(), cycles)?
            && let Some(last) = frame.last_mut()
        {
            *last ^= 0x01;
        }
        Ok(())
    }

    /// Adds waiting time without a frame (FWT time-out, SFGT).
    fn wait(&mut self, cycles: u64) {
        self.stats.radio_cycles = self.stats.radio_cycles.saturating_add(cycles);
        self.life_cycles = self.life_cycles.saturating_add(cycles);
    }

    /// Sends one block and returns the PICC's valid answer, or `None` after an
    /// FWT time-out or an invalid answer.
    fn exchange(&mut self, block: &Block) -> Result<Option<Block>, ChannelError> {
        let mut frame = block.to_frame();
        self.air_frame(Side::Pcd, &mut frame)?;
        let reply = self.picc.handle(&frame);
        let (processing, chip) = self.picc.take_timing();
        self.stats.processing += processing;
        self.stats.chip_time += chip;
        let reply = match reply {
            Ok(r) => r,
            Err(e) => {
                // The card died during the command (tear): it is mute and
                // unpowered, as if it had left the field.
                self.field_lost();
                return Err(e);
            }
        };
        let Some(mut answer) = reply else {
            self.stats.timeouts += 1;
            self.wait(self.fwt_cycles);
            return Ok(None);
        };
        self.air_frame(Side::Picc, &mut answer)?;
        let fsd = frame_size(self.config.fsdi);
        let decoded = if answer.len() > fsd {
            None
        } else {
            Block::from_frame(&answer).ok()
        };
        match decoded {
            Some(b) if b.cid() == self.cid => Ok(Some(b)),
            _ => {
                self.stats.timeouts += 1;
                Ok(None)
            }
        }
    }

    fn error(&mut self, errors: &mut u32) -> Result<(), ChannelError> {
        *errors += 1;
        if *errors > self.config.max_retransmissions {
            return Err(LinkError::TooManyErrors(self.config.max_retransmissions).into());
        }
        self.stats.retransmissions += 1;
        Ok(())
    }

    fn wtx_reply(&mut self, m: u8) -> Block {
        self.stats.wtx += 1;
        Block::wtx(m, self.cid)
    }

    /// Sends one chained I-block and waits for its R(ACK) (rules 2, 4, 6, 7, 9).
    fn send_chained(&mut self, block: &Block) -> Result<(), ChannelError> {
        let mut next = block.clone();
        let mut errors = 0;
        loop {
            match self.exchange(&next)? {
                Some(Block::R(r)) if !r.nak && r.number == self.number => {
                    // Rules B and 7.
                    self.number ^= 1;
                    return Ok(());
                }
                Some(Block::R(r)) if !r.nak => {
                    // Rule 6.
                    self.error(&mut errors)?;
                    next = block.clone();
                }
                Some(Block::S(SBlock {
                    command: SCommand::Wtx(m),
                    ..
                })) => next = self.wtx_reply(m),
                None => {
                    // Rule 4.
                    self.error(&mut errors)?;
                    next = Block::nak(self.number, self.cid);
                }
                Some(other) => return Err(LinkError::Unexpected(other.to_string()).into()),
            }
        }
    }

    /// Sends the last I-block of a command and collects the (possibly chained)
    /// response (rules 2, 4, 5, 6, 9, 10).
    fn send_last(&mut self, block: &Block) -> Result<Vec<u8>, ChannelError> {
        let mut data = Vec::new();
        let mut next = block.clone();
        let mut errors = 0;
        let mut picc_chaining = false;
        loop {
            match self.exchange(&next)? {
                Some(Block::I(b)) if b.number == self.number => {
                    // Rule B.
                    self.number ^= 1;
                    errors = 0;
                    data.extend_from_slice(&b.inf);
                    if !b.chaining {
                        return Ok(data);
                    }
                    picc_chaining = true;
                    next = Block::ack(self.number, self.cid);
                }
                Some(Block::S(SBlock {
                    command: SCommand::Wtx(m),
                    ..
                })) if !picc_chaining => next = self.wtx_reply(m),
                Some(Block::R(r)) if !r.nak && r.number != self.number && !picc_chaining => {
                    // Rule 6.
                    self.error(&mut errors)?;
                    next = block.clone();
                }
                None | Some(Block::I(_)) => {
                    // Rules 4 and 5.
                    self.error(&mut errors)?;
                    next = if picc_chaining {
                        Block::ack(self.number, self.cid)
                    } else {
                        Block::nak(self.number, self.cid)
                    };
                }
                Some(other) => return Err(LinkError::Unexpected(other.to_string()).into()),
            }
        }
    }

    fn transceive(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let blocks = chain_blocks(apdu, self.number, self.fsc, self.cid, self.nad);
        let Some((last, chained)) = blocks.split_last() else {
            return Err(LinkError::Unexpected("empty chain".into()).into());
        };
        for b in chained {
            // The number in force may differ from the precomputed one only if the
            // PICC misbehaved; the PCD always uses its current number.
            let mut b = b.clone();
            b.number = self.number;
            self.send_chained(&Block::I(b))?;
        }
        let mut last = last.clone();
        last.number = self.number;
        self.send_last(&Block::I(last))
    }

    /// Sends S(DESELECT) and waits for the answer (§8, rule 8); the card is then
    /// halted (unpowered in this model) and `power_on` activates it again.
    pub fn deselect(&mut self) -> Result<(), ChannelError> {
        if self.removed {
            return Err(ChannelError::CardRemoved);
        }
        if !self.active {
            return Err(ChannelError::PoweredOff);
        }
        let mut errors = 0;
        loop {
            match self.exchange(&Block::deselect(self.cid))? {
                Some(Block::S(SBlock {
                    command: SCommand::Deselect,
                    ..
                })) => {
                    self.active = false;
                    self.picc.deactivate();
                    return Ok(());
                }
                _ => self.error(&mut errors)?,
            }
        }
    }

    fn activate(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.rate = BitRate::R106;
        self.stats.activations += 1;
        // ISO/IEC 14443-3 §6.3–6.5: WUPA, ATQA, ANTICOLLISION CL1, UID + BCC,
        // SELECT CL1 (+ CRC), SAK (+ CRC); ISO/IEC 14443-4 §5.1: RATS (+ CRC).
        self.air(Side::Pcd, 1, SHORT_FRAME_CYCLES)?;
        for (side, len) in [
            (Side::Picc, 2),
            (Side::Pcd, 2),
            (Side::Picc, 5),
            (Side::Pcd, 9),
            (Side::Picc, 3),
            (Side::Pcd, 4),
        ] {
            self.air(side, len, standard_frame_cycles(len, BitRate::R106))?;
        }
        let cid = self.config.cid.unwrap_or(0).min(14);
        let fsdi = self.config.fsdi.min(0x0F);
        let rats = (fsdi << 4) | cid;
        let ats = self.picc.activate(rats, self.config.fwi)?;
        self.air(
            Side::Picc,
            ats.len() + 2,
            standard_frame_cycles(ats.len() + 2, BitRate::R106),
        )?;
        let info = parse_ats(&ats).map_err(LinkError::Ats)?;
        let tc = info.tc.unwrap_or(0);
        self.cid = (tc & 0x02 != 0 && cid != 0).then_some(cid);
        self.nad = self.config.nad.filter(|_| tc & 0x01 != 0);
        self.fsc = frame_size(info.fsci);
        let tb = info.tb.unwrap_or(DEFAULT_FWI << 4);
        self.fwt_cycles = fwt_cycles(self.config.fwi.unwrap_or(tb >> 4));
        let sfgi = tb & 0x0F;
        if (1..=14).contains(&sfgi) {
            // §5.2.5: SFGT = (256·16/fc)·2^SFGI.
            self.wait(4096u64 << sfgi);
        }
        let rate = self.config.bit_rate;
        if rate != BitRate::R106 {
            // §5.3: PPS request (PPSS, PPS0, PPS1 + CRC) and response (PPSS + CRC).
            // DSI = DRI = the same rate (the ATS's TA(1) is not checked).
            self.air(Side::Pcd, 5, standard_frame_cycles(5, BitRate::R106))?;
            self.air(Side::Picc, 3, standard_frame_cycles(3, BitRate::R106))?;
        }
        self.rate = rate;
        // Rule A.
        self.number = 0;
        self.active = true;
        Ok(ats)
    }
}

impl<C: CardChannel> CardChannel for ContactlessLink<C> {
    /// Field on and activation (see the module docs). Only
    /// [`Interface::Contactless`] is possible.
    fn power_on(&mut self, interface: Interface) -> Result<Vec<u8>, ChannelError> {
        if interface != Interface::Contactless {
            return Err(LinkError::ContactInterface.into());
        }
        if self.removed {
            return Err(ChannelError::NoCard);
        }
        if self.active {
            self.picc.deactivate();
            self.active = false;
        }
        self.activate()
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if self.removed {
            return Err(ChannelError::CardRemoved);
        }
        if !self.active {
            return Err(ChannelError::PoweredOff);
        }
        if let Some(RemovalAt::Apdu(n)) = self.removal
            && self.life_apdus >= n
        {
            self.field_lost();
            return Err(ChannelError::CardRemoved);
        }
        let response = self.transceive(apdu)?;
        self.stats.apdus += 1;
        self.life_apdus += 1;
        Ok(response)
    }

    fn power_off(&mut self) {
        self.picc.deactivate();
        self.active = false;
    }

    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        if self.removed {
            return Err(ChannelError::NoCard);
        }
        self.power_off();
        self.activate()
    }
}
