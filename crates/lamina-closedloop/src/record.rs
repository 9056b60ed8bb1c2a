//! A MAC-protected state record: the card side of the transit and parking
//! applications, and the terminal-side client that pays through the purse.
//!
//! The card keeps one state record (a typed binary layout, [`StateRecord`]), a
//! write counter and a history. Fares and fees are computed by the terminal,
//! which holds the application's key (as in DESFire-style transit schemes); the
//! card guarantees that only key holders change the state, that an old state
//! cannot be replayed (the MAC covers the counter and a fresh card challenge),
//! that each write is atomic, and it keeps the history.
//!
//! ## Commands (CLA `80`)
//!
//! | INS | command | data | response data |
//! |---|---|---|---|
//! | `60` | READ STATE | — | card id 8 ‖ counter 4 ‖ challenge 8 ‖ state |
//! | `62` | WRITE STATE | state ‖ MAC 8 | counter 4 ‖ next challenge 8 ‖ receipt 8 |
//! | `66` | READ HISTORY | — (P1 = index, 0 = newest) | counter 4 ‖ state after that write |
//!
//! MAC = AES-CMAC-64(K, `RW` ‖ kind ‖ card id ‖ counter ‖ challenge ‖ state);
//! receipt = AES-CMAC-64(K, `RR` ‖ kind ‖ card id ‖ new counter ‖ state); kind
//! is `54` (`'T'`, transit) or `4B` (`'K'`, parking). The challenge lives in RAM
//! for the power session (it survives the selection of another application, so
//! a gate can debit the purse between two writes) and is consumed by every
//! WRITE STATE, which returns the next one.
//!
//! WRITE STATE: (1) MAC and layout checks; (2) `counter + 1` with `write_now`;
//! (3) one NVM transaction: state and history entry.
//!
//! ## Paying through the purse: the pending marker
//!
//! [`pay_and_write`]: write the new state **with** a pending payment (terminal
//! id, terminal sequence, amount) → purse INITIALIZE DEBIT / DEBIT with exactly
//! that terminal reference → write the state again **without** the marker.
//! [`resolve_pending`], run first by every terminal: if the card's state holds
//! a marker, ask the purse RECOVER for that reference; found → the payment was
//! made (collect the proof); not found → it was not: charge it now. Either way
//! the marker is then cleared with the next write. Limits: RECOVER searches the
//! purse log (10 entries); a card used for more than ten other purse
//! transactions between a torn tap and the next tap would be charged again (the
//! host sees both proofs and can refund).

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::{Aid, ApduResult, AppLifeCycle, Applet, AppletContext, CardLifeCycle, Install};
use lamina_crypto::sym::{SecretKey, ct_eq};

use crate::codec::{Reader, Short, cat};
use crate::keys::{CardId, KeyError, KeyUsage, TerminalId, derive_card_key, key16, mac8};
use crate::purse::{DebitOutcome, Sam};
use crate::sw;
use crate::terminal::{CardLink, TerminalError};

/// ROM class of the transit applet.
pub const TRANSIT_CLASS: &str = "lamina.transit";
/// ROM class of the parking applet.
pub const PARKING_CLASS: &str = "lamina.parking";
/// History entries kept.
pub const HISTORY_CAPACITY: u32 = 8;
/// Largest state record accepted.
pub const MAX_STATE_LEN: usize = 200;

/// Instruction bytes.
pub mod ins {
    /// READ STATE.
    pub const READ: u8 = 0x60;
    /// WRITE STATE.
    pub const WRITE: u8 = 0x62;
    /// READ HISTORY.
    pub const HISTORY: u8 = 0x66;
}

/// Which application a record applet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// Transit ([`crate::transit::TransitState`]).
    Transit,
    /// Parking ([`crate::parking::ParkingState`]).
    Parking,
}

impl RecordKind {
    /// The kind byte in MACs.
    pub fn code(self) -> u8 {
        match self {
            RecordKind::Transit => b'T',
            RecordKind::Parking => b'K',
        }
    }

    /// The key usage.
    pub fn usage(self) -> KeyUsage {
        match self {
            RecordKind::Transit => KeyUsage::Transit,
            RecordKind::Parking => KeyUsage::Parking,
        }
    }

    fn valid(self, state: &[u8]) -> bool {
        state.len() <= MAX_STATE_LEN
            && match self {
                RecordKind::Transit => crate::transit::TransitState::decode(state).is_ok(),
                RecordKind::Parking => crate::parking::ParkingState::decode(state).is_ok(),
            }
    }
}

/// A payment recorded in a state before the purse debit (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PendingPayment {
    /// The terminal that charges.
    pub terminal: TerminalId,
    /// Its sequence number for the debit.
    pub seq: u32,
    /// Amount.
    pub amount: u32,
}

impl PendingPayment {
    /// Encodes as `flag 1 [‖ terminal 8 ‖ seq 4 ‖ amount 4]`.
    pub fn encode_opt(p: &Option<PendingPayment>, out: &mut Vec<u8>) {
        match p {
            None => out.push(0),
            Some(p) => {
                out.push(1);
                out.extend_from_slice(&p.terminal.0);
                out.extend_from_slice(&p.seq.to_be_bytes());
                out.extend_from_slice(&p.amount.to_be_bytes());
            }
        }
    }

    /// Decodes the optional form.
    pub fn read_opt(r: &mut Reader<'_>) -> Result<Option<PendingPayment>, Short> {
        match r.u8()? {
            0 => Ok(None),
            1 => Ok(Some(PendingPayment {
                terminal: TerminalId(r.array()?),
                seq: r.u32()?,
                amount: r.u32()?,
            })),
            _ => Err(Short),
        }
    }
}

/// A typed state layout stored by a record applet.
pub trait StateRecord: Sized + Clone {
    /// The application.
    const KIND: RecordKind;
    /// Binary encoding.
    fn encode(&self) -> Vec<u8>;
    /// Decoding (an empty record is the initial state).
    fn decode(b: &[u8]) -> Result<Self, Short>;
    /// The pending payment marker.
    fn pending(&self) -> Option<PendingPayment>;
    /// Sets or clears the marker.
    fn set_pending(&mut self, p: Option<PendingPayment>);
}

/// Install parameters (24 bytes: card id 8 ‖ key 16).
#[derive(Debug, Clone)]
pub struct RecordParams {
    /// Card id.
    pub card: CardId,
    /// The card's key for this application.
    pub key: SecretKey,
}

impl RecordParams {
    /// Derives the card key from the application master key.
    pub fn derive(kind: RecordKind, master: &SecretKey, card: CardId) -> Result<Self, KeyError> {
        Ok(RecordParams {
            card,
            key: derive_card_key(master, kind.usage(), &card)?,
        })
    }

    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        cat(&[&self.card.0, self.key.as_bytes()])
    }

    /// Decodes.
    pub fn decode(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        let p = RecordParams {
            card: CardId(r.array()?),
            key: key16(&mut r)?,
        };
        r.finish()?;
        Ok(p)
    }
}

fn write_mac(
    kind: RecordKind,
    key: &SecretKey,
    card: &CardId,
    ctr: u32,
    challenge: &[u8; 8],
    state: &[u8],
) -> Result<[u8; 8], KeyError> {
    mac8(
        key,
        b"RW",
        &[
            &[kind.code()],
            &card.0,
            &ctr.to_be_bytes(),
            challenge,
            state,
        ],
    )
}

fn receipt(
    kind: RecordKind,
    key: &SecretKey,
    card: &CardId,
    ctr: u32,
    state: &[u8],
) -> Result<[u8; 8], KeyError> {
    mac8(
        key,
        b"RR",
        &[&[kind.code()], &card.0, &ctr.to_be_bytes(), state],
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Read,
    Write { state: Vec<u8>, mac: [u8; 8] },
    History(u8),
}

impl TryFrom<&Command> for Cmd {
    type Error = StatusWord;
    fn try_from(c: &Command) -> Result<Self, StatusWord> {
        if c.cla != 0x80 {
            return Err(if matches!(c.cla & 0xF0, 0x00 | 0x80) {
                StatusWord::INS_NOT_SUPPORTED
            } else {
                StatusWord::CLA_NOT_SUPPORTED
            });
        }
        match c.ins {
            ins::READ | ins::WRITE if (c.p1, c.p2) != (0, 0) => Err(StatusWord::INCORRECT_P1P2),
            ins::READ if c.data.is_empty() => Ok(Cmd::Read),
            ins::WRITE if (8..=MAX_STATE_LEN + 8).contains(&c.data.len()) => {
                let (state, mac) = c.data.split_at(c.data.len() - 8);
                Ok(Cmd::Write {
                    state: state.to_vec(),
                    mac: <[u8; 8]>::try_from(mac).map_err(|_| StatusWord::WRONG_LENGTH)?,
                })
            }
            ins::HISTORY if c.p2 != 0 => Err(StatusWord::INCORRECT_P1P2),
            ins::HISTORY if c.data.is_empty() => Ok(Cmd::History(c.p1)),
            ins::READ | ins::WRITE | ins::HISTORY => Err(StatusWord::WRONG_LENGTH),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }
}

/// The record applet (transit or parking, by class).
#[derive(Debug)]
pub struct RecordApplet {
    kind: RecordKind,
    params: Option<RecordParams>,
    challenge: Option<[u8; 8]>,
}

impl RecordApplet {
    /// An instance (unusable, `6985`, if the install parameters are malformed).
    pub fn new(kind: RecordKind, install: &Install) -> Self {
        RecordApplet {
            kind,
            params: RecordParams::decode(&install.params.0).ok(),
            challenge: None,
        }
    }
}

impl Applet for RecordApplet {
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        self.params.as_ref().ok_or(sw::CONDITIONS)?;
        Ok(Response::new(crate::install::fci(ctx), StatusWord::OK))
    }

    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        let cmd = Cmd::try_from(cmd)?;
        let p = self.params.clone().ok_or(sw::CONDITIONS)?;
        if ctx.app_life_cycle() == AppLifeCycle::Blocked
            || ctx.card_life_cycle() != CardLifeCycle::Personalized
        {
            return Err(sw::CONDITIONS);
        }
        let internal = |_| StatusWord(0x6F00);
        match cmd {
            Cmd::Read => {
                let challenge = ctx.random::<8>();
                self.challenge = Some(challenge);
                let nvm = ctx.nvm();
                let ctr = nvm.read_u32("ctr")?.unwrap_or(0);
                let state = nvm.read("state").unwrap_or_default();
                Ok(Response::new(
                    cat(&[&p.card.0, &ctr.to_be_bytes(), &challenge, state]),
                    StatusWord::OK,
                ))
            }
            Cmd::Write { state, mac } => {
                let challenge = self.challenge.take().ok_or(sw::CONDITIONS)?;
                let mut nvm = ctx.nvm();
                let ctr = nvm.read_u32("ctr")?.unwrap_or(0);
                let expected = write_mac(self.kind, &p.key, &p.card, ctr, &challenge, &state)
                    .map_err(internal)?;
                if !ct_eq(&expected, &mac) {
                    return Err(sw::BAD_MAC);
                }
                if !self.kind.valid(&state) {
                    return Err(sw::BAD_DATA);
                }
                let n = ctr.checked_add(1).ok_or(sw::CONDITIONS)?;
                nvm.write_now("ctr", &n.to_be_bytes())?;
                nvm.begin()?;
                nvm.write("state", &state)?;
                crate::log::append(
                    &mut nvm,
                    "hist",
                    HISTORY_CAPACITY,
                    &cat(&[&n.to_be_bytes(), &state]),
                )?;
                nvm.commit()?;
                let r = receipt(self.kind, &p.key, &p.card, n, &state).map_err(internal)?;
                let next = ctx.random::<8>();
                self.challenge = Some(next);
                Ok(Response::new(
                    cat(&[&n.to_be_bytes(), &next, &r]),
                    StatusWord::OK,
                ))
            }
            Cmd::History(i) => {
                let nvm = ctx.nvm();
                Ok(Response::new(
                    crate::log::read(&nvm, "hist", HISTORY_CAPACITY, u32::from(i))?,
                    StatusWord::OK,
                ))
            }
        }
    }
}

/// A terminal's open session with a record applet.
#[derive(Debug, Clone)]
pub struct RecordSession<S> {
    /// Card id.
    pub card: CardId,
    /// Write counter.
    pub counter: u32,
    /// The state as last read or written.
    pub state: S,
    challenge: [u8; 8],
    key: SecretKey,
}

/// Terminal side of a record application: holds the application master key.
#[derive(Debug, Clone)]
pub struct RecordClient {
    kind: RecordKind,
    master: SecretKey,
    aid: Aid,
}

impl RecordClient {
    /// A client for `kind` at `aid`.
    pub fn new(kind: RecordKind, master: SecretKey, aid: Aid) -> Self {
        RecordClient { kind, master, aid }
    }

    /// The AID.
    pub fn aid(&self) -> &Aid {
        &self.aid
    }

    /// SELECT + READ STATE.
    pub fn read<S: StateRecord>(
        &self,
        link: &mut CardLink<'_>,
    ) -> Result<RecordSession<S>, TerminalError> {
        link.select(&self.aid)?;
        let d = link.ok(
            "READ STATE",
            &Command::new(0x80, ins::READ, 0, 0).with_le(256),
        )?;
        let mut r = Reader::new(&d);
        let head = (|| Ok::<_, Short>((CardId(r.array()?), r.u32()?, r.array::<8>()?)))()
            .map_err(|_| TerminalError::BadResponse("READ STATE"))?;
        let (card, counter, challenge) = head;
        let state = S::decode(r.rest()).map_err(|_| TerminalError::BadResponse("READ STATE"))?;
        let key = derive_card_key(&self.master, self.kind.usage(), &card)?;
        Ok(RecordSession {
            card,
            counter,
            state,
            challenge,
            key,
        })
    }

    /// WRITE STATE (re-selects the application if needed); checks the receipt.
    pub fn write<S: StateRecord>(
        &self,
        link: &mut CardLink<'_>,
        sess: &mut RecordSession<S>,
        new: S,
    ) -> Result<(), TerminalError> {
        link.select(&self.aid)?;
        let bytes = new.encode();
        let mac = write_mac(
            self.kind,
            &sess.key,
            &sess.card,
            sess.counter,
            &sess.challenge,
            &bytes,
        )?;
        let d = link.ok(
            "WRITE STATE",
            &Command::new(0x80, ins::WRITE, 0, 0)
                .with_data(cat(&[&bytes, &mac]))
                .with_le(256),
        )?;
        let mut r = Reader::new(&d);
        let (n, next, rc) = (|| Ok::<_, Short>((r.u32()?, r.array::<8>()?, r.array::<8>()?)))()
            .map_err(|_| TerminalError::BadResponse("WRITE STATE"))?;
        let expected = receipt(self.kind, &sess.key, &sess.card, n, &bytes)?;
        if !ct_eq(&expected, &rc) || n != sess.counter.wrapping_add(1) {
            return Err(TerminalError::BadReceipt("WRITE STATE"));
        }
        sess.counter = n;
        sess.challenge = next;
        sess.state = new;
        Ok(())
    }
}

/// What resolving a pending marker did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// No marker.
    Nothing,
    /// The purse had done the debit: its proof was recovered.
    Recovered(DebitOutcome),
    /// The purse had not: it was charged now.
    Charged(DebitOutcome),
}

/// Resolves a pending payment marker found in `sess.state` (see the module
/// docs). The marker stays in `sess.state` cleared **locally**: the caller's
/// next write clears it on the card.
pub fn resolve_pending<S: StateRecord>(
    link: &mut CardLink<'_>,
    sess: &mut RecordSession<S>,
    sam: &mut Sam,
    time: u32,
) -> Result<Resolution, TerminalError> {
    let Some(p) = sess.state.pending() else {
        return Ok(Resolution::Nothing);
    };
    let res = match sam.recover(link, p.terminal, p.seq)? {
        Some((proof, balance)) => Resolution::Recovered(DebitOutcome {
            proof,
            balance,
            recovered: true,
        }),
        None => {
            let seq = sam.reserve_seq();
            Resolution::Charged(sam.debit_with_seq(link, p.amount, time, seq)?)
        }
    };
    sess.state.set_pending(None);
    Ok(res)
}

/// Writes `new` and pays `amount` from the purse, tearing-safe: state with a
/// pending marker → purse debit → state without the marker. With `amount` 0,
/// one plain write.
pub fn pay_and_write<S: StateRecord>(
    link: &mut CardLink<'_>,
    client: &RecordClient,
    sess: &mut RecordSession<S>,
    sam: &mut Sam,
    mut new: S,
    amount: u32,
    time: u32,
) -> Result<Option<DebitOutcome>, TerminalError> {
    if amount == 0 {
        new.set_pending(None);
        client.write(link, sess, new)?;
        return Ok(None);
    }
    let before = sess.state.clone();
    let seq = sam.reserve_seq();
    new.set_pending(Some(PendingPayment {
        terminal: sam.terminal(),
        seq,
        amount,
    }));
    client.write(link, sess, new.clone())?;
    let debit = match sam.debit_with_seq(link, amount, time, seq) {
        Ok(d) => d,
        Err(e @ TerminalError::Status { .. }) => {
            // The purse refused (e.g. insufficient funds): nothing was debited,
            // put the previous state back.
            let mut old = before;
            old.set_pending(None);
            client.write(link, sess, old)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    new.set_pending(None);
    client.write(link, sess, new)?;
    Ok(Some(debit))
}
