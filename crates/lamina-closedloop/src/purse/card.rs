//! The purse applet (card side): parse → typed command → execute → status word.

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::{
    ApduResult, AppLifeCycle, Applet, AppletContext, CardLifeCycle, Install, Namespace, NvmError,
};
use lamina_crypto::sym::ct_eq;

use super::{
    LOG_CAPACITY, LogEntry, PurseParams, TxKind, ins, load_mac, proof_mac, receipt_mac,
    terminal_cancel_mac, terminal_debit_mac,
};
use crate::codec::{Reader, cat};
use crate::keys::TerminalId;
use crate::sw;

const K_BAL: &str = "bal";
const K_PTC: &str = "ptc";
const K_IN: &str = "tin";
const K_OUT: &str = "tout";
const LOG: &str = "log";

/// A decoded purse command (the decode error is the status word).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Status,
    Load {
        amount: u32,
        new_balance: u32,
        time: u32,
        mac: [u8; 8],
    },
    InitDebit {
        terminal: TerminalId,
        seq: u32,
        time: u32,
    },
    Debit {
        amount: u32,
        mac: [u8; 8],
    },
    Cancel {
        amount: u32,
        original: u32,
        mac: [u8; 8],
    },
    Recover {
        terminal: TerminalId,
        seq: u32,
    },
    RecoverLoad(u32),
    ReadLog(u8),
}

fn fixed<T>(
    c: &Command,
    len: usize,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, crate::codec::Short>,
) -> Result<T, StatusWord> {
    if c.data.len() != len {
        return Err(StatusWord::WRONG_LENGTH);
    }
    f(&mut Reader::new(&c.data)).map_err(|_| StatusWord::WRONG_LENGTH)
}

impl TryFrom<&Command> for Cmd {
    type Error = StatusWord;
    fn try_from(c: &Command) -> Result<Self, StatusWord> {
        if c.cla != 0x80 {
            return Err(if c.cla & 0xF0 == 0x00 || c.cla & 0xF0 == 0x80 {
                StatusWord::INS_NOT_SUPPORTED
            } else {
                StatusWord::CLA_NOT_SUPPORTED
            });
        }
        let p1p2_zero = c.p1 == 0 && c.p2 == 0;
        let cmd = match c.ins {
            ins::STATUS => fixed(c, 0, |_| Ok(Cmd::Status))?,
            ins::LOAD => fixed(c, 20, |r| {
                Ok(Cmd::Load {
                    amount: r.u32()?,
                    new_balance: r.u32()?,
                    time: r.u32()?,
                    mac: r.array()?,
                })
            })?,
            ins::INIT_DEBIT => fixed(c, 16, |r| {
                Ok(Cmd::InitDebit {
                    terminal: TerminalId(r.array()?),
                    seq: r.u32()?,
                    time: r.u32()?,
                })
            })?,
            ins::DEBIT => fixed(c, 12, |r| {
                Ok(Cmd::Debit {
                    amount: r.u32()?,
                    mac: r.array()?,
                })
            })?,
            ins::CANCEL => fixed(c, 16, |r| {
                Ok(Cmd::Cancel {
                    amount: r.u32()?,
                    original: r.u32()?,
                    mac: r.array()?,
                })
            })?,
            ins::RECOVER if (c.p1, c.p2) == (0x01, 0x00) => {
                return fixed(c, 4, |r| Ok(Cmd::RecoverLoad(r.u32()?)));
            }
            ins::RECOVER => fixed(c, 12, |r| {
                Ok(Cmd::Recover {
                    terminal: TerminalId(r.array()?),
                    seq: r.u32()?,
                })
            })?,
            ins::READ_LOG => {
                if c.p2 != 0 {
                    return Err(StatusWord::INCORRECT_P1P2);
                }
                return fixed(c, 0, |_| Ok(Cmd::ReadLog(c.p1)));
            }
            _ => return Err(StatusWord::INS_NOT_SUPPORTED),
        };
        if !p1p2_zero {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        Ok(cmd)
    }
}

/// Volatile state of an INITIALIZE DEBIT session.
#[derive(Debug, Clone)]
struct DebitSession {
    terminal: TerminalId,
    seq: u32,
    time: u32,
    challenge: [u8; 8],
    ptc: u32,
}

/// The purse applet. Volatile state: the open debit session (consumed by DEBIT
/// or CANCEL LAST, whatever their outcome, so a MAC cannot be guessed against
/// one challenge).
#[derive(Debug)]
pub struct PurseApplet {
    params: Option<PurseParams>,
    session: Option<DebitSession>,
}

impl PurseApplet {
    /// An instance for an installation (unusable, `6985`, if the install
    /// parameters are malformed).
    pub fn new(install: &Install) -> Self {
        PurseApplet {
            params: PurseParams::decode(&install.params.0).ok(),
            session: None,
        }
    }

    fn params(&self) -> Result<&PurseParams, StatusWord> {
        self.params.as_ref().ok_or(sw::CONDITIONS)
    }
}

struct State {
    balance: u32,
    ptc: u32,
    total_in: u64,
    total_out: u64,
}

fn read_u64(nvm: &Namespace<'_>, key: &str) -> Result<u64, NvmError> {
    match nvm.read(key) {
        None => Ok(0),
        Some(v) => {
            <[u8; 8]>::try_from(v)
                .map(u64::from_be_bytes)
                .map_err(|_| NvmError::WrongSize {
                    key: key.to_owned(),
                    len: v.len(),
                    expected: 8,
                })
        }
    }
}

fn state(nvm: &Namespace<'_>) -> Result<State, NvmError> {
    Ok(State {
        balance: nvm.read_u32(K_BAL)?.unwrap_or(0),
        ptc: nvm.read_u32(K_PTC)?.unwrap_or(0),
        total_in: read_u64(nvm, K_IN)?,
        total_out: read_u64(nvm, K_OUT)?,
    })
}

/// Burns the next transaction number with `write_now` (before the value moves).
fn next_counter(nvm: &mut Namespace<'_>, ptc: u32) -> Result<u32, StatusWord> {
    let n = ptc.checked_add(1).ok_or(sw::CONDITIONS)?;
    nvm.write_now(K_PTC, &n.to_be_bytes())?;
    Ok(n)
}

/// The value change, its totals and its log entry in one NVM transaction.
fn apply(
    nvm: &mut Namespace<'_>,
    st: &State,
    e: &LogEntry,
    credit: bool,
) -> Result<(), StatusWord> {
    nvm.begin()?;
    nvm.write_u32(K_BAL, e.balance)?;
    if credit {
        nvm.write(
            K_IN,
            &st.total_in
                .saturating_add(u64::from(e.amount))
                .to_be_bytes(),
        )?;
    } else {
        nvm.write(
            K_OUT,
            &st.total_out
                .saturating_add(u64::from(e.amount))
                .to_be_bytes(),
        )?;
    }
    crate::log::append(nvm, LOG, LOG_CAPACITY, &e.encode())?;
    nvm.commit()?;
    Ok(())
}

impl Applet for PurseApplet {
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        self.params()?;
        Ok(Response::new(crate::install::fci(ctx), StatusWord::OK))
    }

    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        let cmd = Cmd::try_from(cmd)?;
        let p = self.params()?.clone();
        if ctx.app_life_cycle() == AppLifeCycle::Blocked
            || ctx.card_life_cycle() != CardLifeCycle::Personalized
        {
            return Err(sw::CONDITIONS);
        }
        // Any command other than the one that consumes it closes the session.
        let session = self.session.take();
        let mut nvm = ctx.nvm();
        let st = state(&nvm)?;
        match cmd {
            Cmd::Status => Ok(Response::new(
                cat(&[
                    &p.card.0,
                    &p.currency,
                    &st.balance.to_be_bytes(),
                    &p.max_balance.to_be_bytes(),
                    &st.ptc.to_be_bytes(),
                ]),
                StatusWord::OK,
            )),
            Cmd::Load {
                amount,
                new_balance,
                time,
                mac,
            } => {
                let n = st.ptc.checked_add(1).ok_or(sw::CONDITIONS)?;
                let expected = load_mac(
                    &p.keys.load,
                    false,
                    &p.card,
                    n,
                    amount,
                    new_balance,
                    &p.currency,
                    time,
                )
                .map_err(|_| StatusWord(0x6F00))?;
                if !ct_eq(&mac, &expected) {
                    return Err(sw::BAD_MAC);
                }
                if amount == 0 || st.balance.checked_add(amount) != Some(new_balance) {
                    return Err(sw::BAD_DATA);
                }
                if new_balance > p.max_balance {
                    return Err(sw::MAX_BALANCE_EXCEEDED);
                }
                let n = next_counter(&mut nvm, st.ptc)?;
                let e = LogEntry {
                    kind: TxKind::Load,
                    counter: n,
                    amount,
                    balance: new_balance,
                    terminal: TerminalId::default(),
                    terminal_seq: 0,
                    time,
                    original: 0,
                };
                apply(&mut nvm, &st, &e, true)?;
                let conf = load_mac(
                    &p.keys.load,
                    true,
                    &p.card,
                    n,
                    amount,
                    new_balance,
                    &p.currency,
                    time,
                )
                .map_err(|_| StatusWord(0x6F00))?;
                Ok(Response::new(
                    cat(&[&n.to_be_bytes(), &new_balance.to_be_bytes(), &conf]),
                    StatusWord::OK,
                ))
            }
            Cmd::InitDebit {
                terminal,
                seq,
                time,
            } => {
                let challenge = ctx.random::<8>();
                self.session = Some(DebitSession {
                    terminal,
                    seq,
                    time,
                    challenge,
                    ptc: st.ptc,
                });
                Ok(Response::new(
                    cat(&[
                        &p.card.0,
                        &st.ptc.to_be_bytes(),
                        &st.balance.to_be_bytes(),
                        &p.currency,
                        &challenge,
                    ]),
                    StatusWord::OK,
                ))
            }
            Cmd::Debit { amount, mac } => {
                let s = session.filter(|s| s.ptc == st.ptc).ok_or(sw::CONDITIONS)?;
                let expected = terminal_debit_mac(
                    &p.keys.purchase,
                    &p.card,
                    s.ptc,
                    &s.challenge,
                    &s.terminal,
                    s.seq,
                    s.time,
                    amount,
                    &p.currency,
                )
                .map_err(|_| StatusWord(0x6F00))?;
                if !ct_eq(&mac, &expected) {
                    return Err(sw::BAD_MAC);
                }
                if amount == 0 {
                    return Err(sw::BAD_DATA);
                }
                let balance = st
                    .balance
                    .checked_sub(amount)
                    .ok_or(sw::INSUFFICIENT_FUNDS)?;
                let n = next_counter(&mut nvm, st.ptc)?;
                let e = LogEntry {
                    kind: TxKind::Debit,
                    counter: n,
                    amount,
                    balance,
                    terminal: s.terminal,
                    terminal_seq: s.seq,
                    time: s.time,
                    original: 0,
                };
                apply(&mut nvm, &st, &e, false)?;
                answer(&p, &e)
            }
            Cmd::Cancel {
                amount,
                original,
                mac,
            } => {
                let s = session.filter(|s| s.ptc == st.ptc).ok_or(sw::CONDITIONS)?;
                let expected = terminal_cancel_mac(
                    &p.keys.purchase,
                    &p.card,
                    s.ptc,
                    &s.challenge,
                    &s.terminal,
                    s.seq,
                    s.time,
                    amount,
                    original,
                )
                .map_err(|_| StatusWord(0x6F00))?;
                if !ct_eq(&mac, &expected) {
                    return Err(sw::BAD_MAC);
                }
                // Only the newest transaction, a debit by the same terminal, for
                // the same amount and number.
                let last = crate::log::read(&nvm, LOG, LOG_CAPACITY, 0)
                    .ok()
                    .and_then(|b| LogEntry::decode(&b).ok())
                    .ok_or(sw::CONDITIONS)?;
                if last.kind != TxKind::Debit
                    || last.terminal != s.terminal
                    || last.counter != original
                    || last.amount != amount
                {
                    return Err(sw::CONDITIONS);
                }
                let balance = st
                    .balance
                    .checked_add(amount)
                    .ok_or(sw::MAX_BALANCE_EXCEEDED)?;
                let n = next_counter(&mut nvm, st.ptc)?;
                let e = LogEntry {
                    kind: TxKind::Cancel,
                    counter: n,
                    amount,
                    balance,
                    terminal: s.terminal,
                    terminal_seq: s.seq,
                    time: s.time,
                    original,
                };
                // A cancel returns value: it counts as "in" for the totals.
                apply(&mut nvm, &st, &e, true)?;
                answer(&p, &e)
            }
            Cmd::Recover { terminal, seq } => {
                let found = crate::log::entries(&nvm, LOG, LOG_CAPACITY)?
                    .iter()
                    .filter_map(|b| LogEntry::decode(b).ok())
                    .find(|e| {
                        e.kind != TxKind::Load && e.terminal == terminal && e.terminal_seq == seq
                    })
                    .ok_or(sw::NOT_FOUND)?;
                let proof = proof_mac(&p.keys.debit, &p.card, &p.currency, &found)
                    .map_err(|_| StatusWord(0x6F00))?;
                let receipt = receipt_mac(&p.keys.purchase, &p.card, &p.currency, &found)
                    .map_err(|_| StatusWord(0x6F00))?;
                Ok(Response::new(
                    cat(&[&p.card.0, &p.currency, &found.encode(), &proof, &receipt]),
                    StatusWord::OK,
                ))
            }
            Cmd::RecoverLoad(counter) => {
                let found = crate::log::entries(&nvm, LOG, LOG_CAPACITY)?
                    .iter()
                    .filter_map(|b| LogEntry::decode(b).ok())
                    .find(|e| e.kind == TxKind::Load && e.counter == counter)
                    .ok_or(sw::NOT_FOUND)?;
                let conf = load_mac(
                    &p.keys.load,
                    true,
                    &p.card,
                    found.counter,
                    found.amount,
                    found.balance,
                    &p.currency,
                    found.time,
                )
                .map_err(|_| StatusWord(0x6F00))?;
                Ok(Response::new(
                    cat(&[&p.card.0, &p.currency, &found.encode(), &conf]),
                    StatusWord::OK,
                ))
            }
            Cmd::ReadLog(i) => Ok(Response::new(
                crate::log::read(&nvm, LOG, LOG_CAPACITY, u32::from(i))?,
                StatusWord::OK,
            )),
        }
    }

    fn deselect(&mut self, _ctx: &mut AppletContext<'_>) {
        self.session = None;
    }
}

fn answer(p: &PurseParams, e: &LogEntry) -> ApduResult {
    let proof =
        proof_mac(&p.keys.debit, &p.card, &p.currency, e).map_err(|_| StatusWord(0x6F00))?;
    let receipt =
        receipt_mac(&p.keys.purchase, &p.card, &p.currency, e).map_err(|_| StatusWord(0x6F00))?;
    Ok(Response::new(
        cat(&[
            &e.counter.to_be_bytes(),
            &e.balance.to_be_bytes(),
            &proof,
            &receipt,
        ]),
        StatusWord::OK,
    ))
}
