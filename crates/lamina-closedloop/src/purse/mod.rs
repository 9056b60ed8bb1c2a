//! Prepaid purse: stored value on the card, loaded online by the issuer and
//! spent offline at terminals holding a purchase key (SAM role).
//!
//! In the spirit of EN 1546 (Inter-sector electronic purse) and the Common
//! Electronic Purse Specifications, but Lamina's own protocol, documented here.
//!
//! ## Parties and keys
//!
//! See [`crate::keys`] for the derivation. The card holds its three purse keys;
//! the issuer host holds `IMK-LOAD` and `IMK-DEBIT` ([`IssuerMasterKeys`]); each
//! terminal's SAM holds the purchase master key `PMK` ([`Sam`]).
//!
//! ## Commands (CLA `80`)
//!
//! | INS | command | data | response data |
//! |---|---|---|---|
//! | `5C` | GET STATUS | — | card id 8 ‖ currency 2 ‖ balance 4 ‖ max balance 4 ‖ counter 4 |
//! | `58` | LOAD | amount 4 ‖ new balance 4 ‖ time 4 ‖ load MAC 8 | counter 4 ‖ balance 4 ‖ confirmation MAC 8 |
//! | `50` | INITIALIZE DEBIT | terminal id 8 ‖ terminal seq 4 ‖ time 4 | card id 8 ‖ counter 4 ‖ balance 4 ‖ currency 2 ‖ challenge 8 |
//! | `54` | DEBIT | amount 4 ‖ terminal MAC 8 | counter 4 ‖ balance 4 ‖ proof MAC 8 ‖ receipt MAC 8 |
//! | `56` | CANCEL LAST | amount 4 ‖ original counter 4 ‖ terminal MAC 8 | counter 4 ‖ balance 4 ‖ proof MAC 8 ‖ receipt MAC 8 |
//! | `5A` | RECOVER | terminal id 8 ‖ terminal seq 4 | card id 8 ‖ currency 2 ‖ log entry 33 ‖ proof MAC 8 ‖ receipt MAC 8 (`6A88` if none of the logged debits/cancels has this reference) |
//! | `5A` P1=`01` | RECOVER LOAD | counter 4 | card id 8 ‖ currency 2 ‖ log entry 33 ‖ load confirmation MAC 8 (`6A88` if no logged load has this number) |
//! | `5E` | READ LOG | — (P1 = index, 0 = newest) | log entry 33 (`6A83` after the last) |
//!
//! `counter` is the purse transaction counter (PTC). Each LOAD, DEBIT and
//! CANCEL uses the number `PTC + 1`, written to NVM with `write_now` *before*
//! the value changes, so a number is never used twice even across tears.
//!
//! ## MAC inputs (AES-CMAC-64 over tag ‖ fields, [`crate::keys::mac8`])
//!
//! | MAC | key | tag | fields |
//! |---|---|---|---|
//! | load | load | `LM` | card id ‖ N ‖ amount ‖ new balance ‖ currency ‖ time |
//! | load confirmation | load | `LK` | card id ‖ N ‖ amount ‖ new balance ‖ currency ‖ time |
//! | terminal debit | purchase | `TD` | card id ‖ PTC ‖ challenge ‖ terminal id ‖ terminal seq ‖ time ‖ amount ‖ currency |
//! | terminal cancel | purchase | `TC` | card id ‖ PTC ‖ challenge ‖ terminal id ‖ terminal seq ‖ time ‖ amount ‖ original N |
//! | debit / cancel proof | debit | `DP` / `CP` | card id ‖ N ‖ amount ‖ balance ‖ currency ‖ terminal id ‖ terminal seq ‖ time ‖ original N |
//! | debit / cancel receipt | purchase | `DR` / `CR` | same fields as the proof |
//!
//! The proof lets the issuer verify (and the acquirer settle) a debit without
//! trusting the terminal; the receipt lets the terminal check that the genuine
//! card debited before it releases goods, without holding the debit key.
//!
//! ## Tearing
//!
//! DEBIT: (1) MAC check, funds check (no writes); (2) `PTC ← N` with `write_now`;
//! (3) one NVM transaction: balance, totals, log entry. A tear before (3)
//! commits leaves the balance unchanged (N is burnt); after it, the debit is
//! done and the terminal gets its proof back with RECOVER (the log entry holds
//! every proof field). LOAD follows the same order; after a tear the load
//! terminal asks RECOVER LOAD for the number the issuer authorized: found, the
//! card returns the load confirmation and the issuer books it; not found, the
//! authorization is void (the number is burnt or still unused) and a new one is
//! issued. Invariant after any tear: `balance == total in − total out`.

mod card;
mod host;
mod sam;

pub use card::PurseApplet;
pub use host::{Clearing, ClearingError, IssuerHost, MerchantSettlement, ProofError, verify_proof};
pub use sam::{DebitOutcome, LoadOutcome, Sam, load_purse, read_status};

use lamina_crypto::sym::SecretKey;
use serde::{Deserialize, Serialize};

use crate::codec::{Reader, Short, cat};
use crate::keys::{CardId, KeyError, KeyUsage, TerminalId, derive_card_key, key16, mac8};

/// ROM class name of the purse applet.
pub const CLASS: &str = "lamina.purse";
/// Entries kept in the card's transaction log.
pub const LOG_CAPACITY: u32 = 10;

/// Instruction bytes (CLA `80`).
pub mod ins {
    /// INITIALIZE DEBIT.
    pub const INIT_DEBIT: u8 = 0x50;
    /// DEBIT.
    pub const DEBIT: u8 = 0x54;
    /// CANCEL LAST.
    pub const CANCEL: u8 = 0x56;
    /// LOAD.
    pub const LOAD: u8 = 0x58;
    /// RECOVER.
    pub const RECOVER: u8 = 0x5A;
    /// GET STATUS.
    pub const STATUS: u8 = 0x5C;
    /// READ LOG.
    pub const READ_LOG: u8 = 0x5E;
}

/// Pure command constructors (CLA `80`, Le 256) for terminals, tools and the CLI.
pub mod commands {
    use lamina_apdu::Command;

    use super::ins;
    use crate::codec::cat;
    use crate::keys::TerminalId;

    fn cmd(ins: u8, p1: u8, data: Vec<u8>) -> Command {
        Command::new(0x80, ins, p1, 0).with_data(data).with_le(256)
    }

    /// GET STATUS.
    pub fn status() -> Command {
        cmd(ins::STATUS, 0, Vec::new())
    }

    /// LOAD with the issuer's MAC.
    pub fn load(amount: u32, new_balance: u32, time: u32, mac: &[u8; 8]) -> Command {
        cmd(
            ins::LOAD,
            0,
            cat(&[
                &amount.to_be_bytes(),
                &new_balance.to_be_bytes(),
                &time.to_be_bytes(),
                mac,
            ]),
        )
    }

    /// INITIALIZE DEBIT.
    pub fn init_debit(terminal: &TerminalId, seq: u32, time: u32) -> Command {
        cmd(
            ins::INIT_DEBIT,
            0,
            cat(&[&terminal.0, &seq.to_be_bytes(), &time.to_be_bytes()]),
        )
    }

    /// DEBIT with the terminal MAC.
    pub fn debit(amount: u32, mac: &[u8; 8]) -> Command {
        cmd(ins::DEBIT, 0, cat(&[&amount.to_be_bytes(), mac]))
    }

    /// CANCEL LAST with the terminal MAC.
    pub fn cancel(amount: u32, original: u32, mac: &[u8; 8]) -> Command {
        cmd(
            ins::CANCEL,
            0,
            cat(&[&amount.to_be_bytes(), &original.to_be_bytes(), mac]),
        )
    }

    /// RECOVER a debit or cancel by terminal reference.
    pub fn recover(terminal: &TerminalId, seq: u32) -> Command {
        cmd(ins::RECOVER, 0, cat(&[&terminal.0, &seq.to_be_bytes()]))
    }

    /// RECOVER LOAD by transaction number.
    pub fn recover_load(counter: u32) -> Command {
        cmd(ins::RECOVER, 0x01, counter.to_be_bytes().to_vec())
    }

    /// READ LOG entry `index` (0 = newest).
    pub fn read_log(index: u8) -> Command {
        Command::new(0x80, ins::READ_LOG, index, 0).with_le(256)
    }
}

/// The issuer's purse master keys.
#[derive(Debug, Clone)]
pub struct IssuerMasterKeys {
    /// `IMK-LOAD` (issuer only).
    pub load: SecretKey,
    /// `IMK-DEBIT` (issuer only): verifies proofs.
    pub debit: SecretKey,
    /// `PMK`, the purchase master key distributed to SAMs.
    pub purchase: SecretKey,
}

/// One card's purse keys.
#[derive(Debug, Clone)]
pub struct PurseKeys {
    /// Load key.
    pub load: SecretKey,
    /// Debit (proof) key.
    pub debit: SecretKey,
    /// Purchase key (shared with SAMs by derivation).
    pub purchase: SecretKey,
}

impl PurseKeys {
    /// Derives a card's keys from the master keys.
    pub fn derive(m: &IssuerMasterKeys, card: &CardId) -> Result<Self, KeyError> {
        Ok(PurseKeys {
            load: derive_card_key(&m.load, KeyUsage::PurseLoad, card)?,
            debit: derive_card_key(&m.debit, KeyUsage::PurseDebit, card)?,
            purchase: derive_card_key(&m.purchase, KeyUsage::PursePurchase, card)?,
        })
    }
}

/// Install parameters of a purse instance (62 bytes: card id 8 ‖ currency 2 ‖
/// max balance 4 ‖ load key 16 ‖ debit key 16 ‖ purchase key 16).
#[derive(Debug, Clone)]
pub struct PurseParams {
    /// Card id.
    pub card: CardId,
    /// ISO 4217 numeric currency, BCD (`09 78` = EUR).
    pub currency: [u8; 2],
    /// Maximum balance in minor units.
    pub max_balance: u32,
    /// The card's keys.
    pub keys: PurseKeys,
}

impl PurseParams {
    /// Encodes the install parameters.
    pub fn encode(&self) -> Vec<u8> {
        cat(&[
            &self.card.0,
            &self.currency,
            &self.max_balance.to_be_bytes(),
            self.keys.load.as_bytes(),
            self.keys.debit.as_bytes(),
            self.keys.purchase.as_bytes(),
        ])
    }

    /// Decodes install parameters.
    pub fn decode(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        let p = PurseParams {
            card: CardId(r.array()?),
            currency: r.array()?,
            max_balance: r.u32()?,
            keys: PurseKeys {
                load: key16(&mut r)?,
                debit: key16(&mut r)?,
                purchase: key16(&mut r)?,
            },
        };
        r.finish()?;
        Ok(p)
    }
}

/// Kind of a purse transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxKind {
    /// Issuer-authorized load.
    Load,
    /// Offline debit.
    Debit,
    /// Cancellation of the last debit.
    Cancel,
}

impl TxKind {
    fn code(self) -> u8 {
        match self {
            TxKind::Load => 1,
            TxKind::Debit => 2,
            TxKind::Cancel => 3,
        }
    }
    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(TxKind::Load),
            2 => Some(TxKind::Debit),
            3 => Some(TxKind::Cancel),
            _ => None,
        }
    }
}

/// One entry of the card's transaction log (33 bytes on the card: kind 1 ‖
/// counter 4 ‖ amount 4 ‖ balance 4 ‖ terminal id 8 ‖ terminal seq 4 ‖ time 4 ‖
/// original counter 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Kind.
    pub kind: TxKind,
    /// Purse transaction number N.
    pub counter: u32,
    /// Amount in minor units.
    pub amount: u32,
    /// Balance after the transaction.
    pub balance: u32,
    /// Terminal id (zero for loads).
    pub terminal: TerminalId,
    /// Terminal sequence number (zero for loads).
    pub terminal_seq: u32,
    /// Time given by the terminal or host (seconds since 1970, UTC).
    pub time: u32,
    /// For a cancel: the counter of the cancelled debit; else 0.
    pub original: u32,
}

impl LogEntry {
    /// Encoded length.
    pub const LEN: usize = 33;

    /// Encodes the entry.
    pub fn encode(&self) -> Vec<u8> {
        cat(&[
            &[self.kind.code()],
            &self.counter.to_be_bytes(),
            &self.amount.to_be_bytes(),
            &self.balance.to_be_bytes(),
            &self.terminal.0,
            &self.terminal_seq.to_be_bytes(),
            &self.time.to_be_bytes(),
            &self.original.to_be_bytes(),
        ])
    }

    /// Decodes an entry from the front of `r`.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, Short> {
        Ok(LogEntry {
            kind: TxKind::from_code(r.u8()?).ok_or(Short)?,
            counter: r.u32()?,
            amount: r.u32()?,
            balance: r.u32()?,
            terminal: TerminalId(r.array()?),
            terminal_seq: r.u32()?,
            time: r.u32()?,
            original: r.u32()?,
        })
    }

    /// Decodes exactly one entry.
    pub fn decode(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        let e = Self::read(&mut r)?;
        r.finish()?;
        Ok(e)
    }

    fn proof_fields(&self, card: &CardId, currency: &[u8; 2]) -> Vec<u8> {
        cat(&[
            &card.0,
            &self.counter.to_be_bytes(),
            &self.amount.to_be_bytes(),
            &self.balance.to_be_bytes(),
            currency,
            &self.terminal.0,
            &self.terminal_seq.to_be_bytes(),
            &self.time.to_be_bytes(),
            &self.original.to_be_bytes(),
        ])
    }
}

/// Proof MAC (under the card's debit key) of a debit or cancel log entry.
pub fn proof_mac(
    debit_key: &SecretKey,
    card: &CardId,
    currency: &[u8; 2],
    e: &LogEntry,
) -> Result<[u8; 8], KeyError> {
    let tag = if e.kind == TxKind::Cancel {
        b"CP"
    } else {
        b"DP"
    };
    mac8(debit_key, tag, &[&e.proof_fields(card, currency)])
}

/// Receipt MAC (under the card's purchase key) of a debit or cancel log entry.
pub fn receipt_mac(
    purchase_key: &SecretKey,
    card: &CardId,
    currency: &[u8; 2],
    e: &LogEntry,
) -> Result<[u8; 8], KeyError> {
    let tag = if e.kind == TxKind::Cancel {
        b"CR"
    } else {
        b"DR"
    };
    mac8(purchase_key, tag, &[&e.proof_fields(card, currency)])
}

/// The terminal's DEBIT MAC (under the card's purchase key).
#[allow(clippy::too_many_arguments)]
pub fn terminal_debit_mac(
    purchase_key: &SecretKey,
    card: &CardId,
    ptc: u32,
    challenge: &[u8; 8],
    terminal: &TerminalId,
    seq: u32,
    time: u32,
    amount: u32,
    currency: &[u8; 2],
) -> Result<[u8; 8], KeyError> {
    mac8(
        purchase_key,
        b"TD",
        &[
            &card.0,
            &ptc.to_be_bytes(),
            challenge,
            &terminal.0,
            &seq.to_be_bytes(),
            &time.to_be_bytes(),
            &amount.to_be_bytes(),
            currency,
        ],
    )
}

/// The terminal's CANCEL LAST MAC (under the card's purchase key).
#[allow(clippy::too_many_arguments)]
pub fn terminal_cancel_mac(
    purchase_key: &SecretKey,
    card: &CardId,
    ptc: u32,
    challenge: &[u8; 8],
    terminal: &TerminalId,
    seq: u32,
    time: u32,
    amount: u32,
    original: u32,
) -> Result<[u8; 8], KeyError> {
    mac8(
        purchase_key,
        b"TC",
        &[
            &card.0,
            &ptc.to_be_bytes(),
            challenge,
            &terminal.0,
            &seq.to_be_bytes(),
            &time.to_be_bytes(),
            &amount.to_be_bytes(),
            &original.to_be_bytes(),
        ],
    )
}

/// The issuer's LOAD MAC (`LM`) or the card's load confirmation (`LK`), under the load key.
#[allow(clippy::too_many_arguments)]
pub fn load_mac(
    load_key: &SecretKey,
    confirmation: bool,
    card: &CardId,
    counter: u32,
    amount: u32,
    new_balance: u32,
    currency: &[u8; 2],
    time: u32,
) -> Result<[u8; 8], KeyError> {
    let tag = if confirmation { b"LK" } else { b"LM" };
    mac8(
        load_key,
        tag,
        &[
            &card.0,
            &counter.to_be_bytes(),
            &amount.to_be_bytes(),
            &new_balance.to_be_bytes(),
            currency,
            &time.to_be_bytes(),
        ],
    )
}

/// What GET STATUS returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurseStatus {
    /// Card id.
    pub card: CardId,
    /// Currency (BCD).
    pub currency: [u8; 2],
    /// Balance (minor units).
    pub balance: u32,
    /// Maximum balance.
    pub max_balance: u32,
    /// Purse transaction counter (last number used).
    pub counter: u32,
}

impl PurseStatus {
    /// Decodes the GET STATUS response data.
    pub fn decode(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        let s = PurseStatus {
            card: CardId(r.array()?),
            currency: r.array()?,
            balance: r.u32()?,
            max_balance: r.u32()?,
            counter: r.u32()?,
        };
        r.finish()?;
        Ok(s)
    }
}

/// A debit or cancel proof as stored by a terminal and uploaded to the host
/// (JSON with hex fields).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Card id.
    pub card: CardId,
    /// Currency (BCD hex, e.g. `"0978"`).
    #[serde(with = "hex_arr")]
    pub currency: [u8; 2],
    /// The log entry the card MACed.
    #[serde(flatten)]
    pub entry: LogEntry,
    /// Proof MAC under the card's debit key.
    #[serde(with = "hex_arr")]
    pub mac: [u8; 8],
}

impl Proof {
    /// The duplicate-detection key: (card id, purse transaction number).
    pub fn key(&self) -> (CardId, u32) {
        (self.card, self.entry.counter)
    }
}

pub(crate) mod hex_arr {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode_upper(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        let s = String::deserialize(d)?;
        let v = hex::decode(&s).map_err(serde::de::Error::custom)?;
        <[u8; N]>::try_from(v.as_slice()).map_err(|_| serde::de::Error::custom("wrong length"))
    }
}
