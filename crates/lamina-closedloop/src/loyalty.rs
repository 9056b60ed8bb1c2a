//! Loyalty: points programs keyed by merchant group, earned and redeemed at
//! terminals holding the program key, with expiry and a history log.
//!
//! ## Card side (class [`CLASS`], CLA `80`)
//!
//! | INS | command | data | response data |
//! |---|---|---|---|
//! | `70` | INITIALIZE | program id 4 ‖ terminal id 8 ‖ time 4 | card id 8 ‖ counter 4 ‖ points 4 ‖ expiry 4 ‖ challenge 8 (`6A88`: program not on the card) |
//! | `72` | CREDIT POINTS | points 4 ‖ purchase amount 4 ‖ MAC 8 | counter 4 ‖ points 4 ‖ expiry 4 ‖ receipt 8 |
//! | `74` | DEBIT POINTS | points 4 ‖ MAC 8 | counter 4 ‖ points 4 ‖ expiry 4 ‖ receipt 8 (`9401`: not enough points) |
//! | `76` | READ HISTORY | — (P1 = index, 0 = newest) | entry 33 |
//! | `78` | LIST PROGRAMS | — | (program id 4 ‖ points 4 ‖ expiry 4) × n, points as stored (the card has no time here: the reader applies the expiry) |
//!
//! Points reported by INITIALIZE are the points valid at the terminal's time:
//! points expire `validity_days` after the last earning (each CREDIT moves the
//! expiry; redemption does not). MACs (AES-CMAC-64 under the card's program
//! key, [`crate::keys::KeyUsage::Loyalty`]):
//!
//! * CREDIT: `LC` ‖ card id ‖ program ‖ counter ‖ challenge ‖ terminal ‖ time ‖ points ‖ amount
//! * DEBIT: `LD` ‖ card id ‖ program ‖ counter ‖ challenge ‖ terminal ‖ time ‖ points
//! * receipt: `LR` ‖ kind ‖ card id ‖ program ‖ new counter ‖ points moved ‖ new points ‖ expiry
//!
//! CREDIT / DEBIT: MAC and limits checked, then `counter + 1` with `write_now`,
//! then one NVM transaction for the points record and the history entry.

use std::collections::BTreeMap;

use lamina_apdu::{Command, Response, StatusWord};
use lamina_card::{
    Aid, ApduResult, AppLifeCycle, Applet, AppletContext, CardChannel, CardLifeCycle, Install,
    Interface,
};
use lamina_crypto::sym::{SecretKey, ct_eq};
use serde::Serialize;

use crate::codec::{Reader, Short, cat};
use crate::keys::{CardId, KeyError, KeyUsage, TerminalId, derive_card_key, key16, mac8};
use crate::sw;
use crate::terminal::{CardLink, TerminalError};

/// ROM class name.
pub const CLASS: &str = "lamina.loyalty";
/// History entries kept.
pub const HISTORY_CAPACITY: u32 = 10;
/// Most programs on one card.
pub const MAX_PROGRAMS: usize = 8;

/// Instruction bytes.
pub mod ins {
    /// INITIALIZE.
    pub const INIT: u8 = 0x70;
    /// CREDIT POINTS.
    pub const CREDIT: u8 = 0x72;
    /// DEBIT POINTS.
    pub const DEBIT: u8 = 0x74;
    /// READ HISTORY.
    pub const HISTORY: u8 = 0x76;
    /// LIST PROGRAMS.
    pub const LIST: u8 = 0x78;
}

/// A program as personalized on a card.
#[derive(Debug, Clone)]
pub struct CardProgram {
    /// Program id (merchant group).
    pub id: u32,
    /// Days points stay valid after the last earning.
    pub validity_days: u16,
    /// Most points held.
    pub max_points: u32,
    /// The card's program key.
    pub key: SecretKey,
}

/// Install parameters: card id 8 ‖ n 1 ‖ n × (program id 4 ‖ validity days 2 ‖
/// max points 4 ‖ key 16).
#[derive(Debug, Clone)]
pub struct LoyaltyParams {
    /// Card id.
    pub card: CardId,
    /// Programs.
    pub programs: Vec<CardProgram>,
}

impl LoyaltyParams {
    /// Encodes.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.card.0.to_vec();
        v.push(u8::try_from(self.programs.len()).unwrap_or(0));
        for p in &self.programs {
            v.extend_from_slice(&p.id.to_be_bytes());
            v.extend_from_slice(&p.validity_days.to_be_bytes());
            v.extend_from_slice(&p.max_points.to_be_bytes());
            v.extend_from_slice(p.key.as_bytes());
        }
        v
    }

    /// Decodes.
    pub fn decode(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        let card = CardId(r.array()?);
        let n = usize::from(r.u8()?);
        if n > MAX_PROGRAMS {
            return Err(Short);
        }
        let mut programs = Vec::with_capacity(n);
        for _ in 0..n {
            programs.push(CardProgram {
                id: r.u32()?,
                validity_days: r.u16()?,
                max_points: r.u32()?,
                key: key16(&mut r)?,
            });
        }
        r.finish()?;
        Ok(LoyaltyParams { card, programs })
    }
}

/// Kind of a history entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PointsKind {
    /// Points earned.
    Credit,
    /// Points redeemed.
    Debit,
}

/// A history entry (33 bytes: kind 1 ‖ program 4 ‖ counter 4 ‖ points 4 ‖
/// balance 4 ‖ amount 4 ‖ terminal 8 ‖ time 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// Credit or debit.
    pub kind: PointsKind,
    /// Program.
    pub program: u32,
    /// Counter.
    pub counter: u32,
    /// Points moved.
    pub points: u32,
    /// Points after.
    pub balance: u32,
    /// Purchase amount (credits).
    pub amount: u32,
    /// Terminal.
    pub terminal: TerminalId,
    /// Time.
    pub time: u32,
}

impl HistoryEntry {
    fn encode(&self) -> Vec<u8> {
        cat(&[
            &[match self.kind {
                PointsKind::Credit => 1,
                PointsKind::Debit => 2,
            }],
            &self.program.to_be_bytes(),
            &self.counter.to_be_bytes(),
            &self.points.to_be_bytes(),
            &self.balance.to_be_bytes(),
            &self.amount.to_be_bytes(),
            &self.terminal.0,
            &self.time.to_be_bytes(),
        ])
    }

    /// Decodes an entry.
    pub fn decode(b: &[u8]) -> Result<Self, Short> {
        let mut r = Reader::new(b);
        let e = HistoryEntry {
            kind: match r.u8()? {
                1 => PointsKind::Credit,
                2 => PointsKind::Debit,
                _ => return Err(Short),
            },
            program: r.u32()?,
            counter: r.u32()?,
            points: r.u32()?,
            balance: r.u32()?,
            amount: r.u32()?,
            terminal: TerminalId(r.array()?),
            time: r.u32()?,
        };
        r.finish()?;
        Ok(e)
    }
}

#[allow(clippy::too_many_arguments)]
fn op_mac(
    key: &SecretKey,
    credit: bool,
    card: &CardId,
    program: u32,
    ctr: u32,
    challenge: &[u8; 8],
    terminal: &TerminalId,
    time: u32,
    points: u32,
    amount: u32,
) -> Result<[u8; 8], KeyError> {
    let (pid, ctr, time, pts, amt) = (
        program.to_be_bytes(),
        ctr.to_be_bytes(),
        time.to_be_bytes(),
        points.to_be_bytes(),
        amount.to_be_bytes(),
    );
    if credit {
        mac8(
            key,
            b"LC",
            &[
                &card.0,
                &pid,
                &ctr,
                challenge,
                &terminal.0,
                &time,
                &pts,
                &amt,
            ],
        )
    } else {
        mac8(
            key,
            b"LD",
            &[&card.0, &pid, &ctr, challenge, &terminal.0, &time, &pts],
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn receipt_mac(
    key: &SecretKey,
    credit: bool,
    card: &CardId,
    program: u32,
    ctr: u32,
    moved: u32,
    balance: u32,
    expiry: u32,
) -> Result<[u8; 8], KeyError> {
    mac8(
        key,
        b"LR",
        &[
            &[u8::from(credit)],
            &card.0,
            &program.to_be_bytes(),
            &ctr.to_be_bytes(),
            &moved.to_be_bytes(),
            &balance.to_be_bytes(),
            &expiry.to_be_bytes(),
        ],
    )
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Init {
        program: u32,
        terminal: TerminalId,
        time: u32,
    },
    Credit {
        points: u32,
        amount: u32,
        mac: [u8; 8],
    },
    Debit {
        points: u32,
        mac: [u8; 8],
    },
    History(u8),
    List,
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
        let len = |n: usize| {
            if c.data.len() == n {
                Ok(())
            } else {
                Err(StatusWord::WRONG_LENGTH)
            }
        };
        let p00 = || {
            if (c.p1, c.p2) == (0, 0) {
                Ok(())
            } else {
                Err(StatusWord::INCORRECT_P1P2)
            }
        };
        let mut r = Reader::new(&c.data);
        let wl = |_: Short| StatusWord::WRONG_LENGTH;
        match c.ins {
            ins::INIT => {
                len(16)?;
                p00()?;
                Ok(Cmd::Init {
                    program: r.u32().map_err(wl)?,
                    terminal: TerminalId(r.array().map_err(wl)?),
                    time: r.u32().map_err(wl)?,
                })
            }
            ins::CREDIT => {
                len(16)?;
                p00()?;
                Ok(Cmd::Credit {
                    points: r.u32().map_err(wl)?,
                    amount: r.u32().map_err(wl)?,
                    mac: r.array().map_err(wl)?,
                })
            }
            ins::DEBIT => {
                len(12)?;
                p00()?;
                Ok(Cmd::Debit {
                    points: r.u32().map_err(wl)?,
                    mac: r.array().map_err(wl)?,
                })
            }
            ins::HISTORY => {
                len(0)?;
                if c.p2 != 0 {
                    return Err(StatusWord::INCORRECT_P1P2);
                }
                Ok(Cmd::History(c.p1))
            }
            ins::LIST => {
                len(0)?;
                p00()?;
                Ok(Cmd::List)
            }
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }
}

#[derive(Debug, Clone)]
struct Session {
    program: u32,
    terminal: TerminalId,
    time: u32,
    challenge: [u8; 8],
    ctr: u32,
}

/// The loyalty applet; volatile state: the INITIALIZE session (consumed by the
/// next command).
#[derive(Debug)]
pub struct LoyaltyApplet {
    params: Option<LoyaltyParams>,
    session: Option<Session>,
}

impl LoyaltyApplet {
    /// An instance (unusable, `6985`, with malformed install parameters).
    pub fn new(install: &Install) -> Self {
        LoyaltyApplet {
            params: LoyaltyParams::decode(&install.params.0).ok(),
            session: None,
        }
    }
}

fn prog_key(pid: u32) -> String {
    format!("p.{pid:08X}")
}

/// (points, expiry) of a program record.
fn read_points(nvm: &lamina_card::Namespace<'_>, pid: u32) -> Result<(u32, u32), StatusWord> {
    match nvm.read(&prog_key(pid)) {
        None => Ok((0, 0)),
        Some(v) => {
            let mut r = Reader::new(v);
            let p = (
                r.u32().map_err(|_| StatusWord(0x6F00))?,
                r.u32().map_err(|_| StatusWord(0x6F00))?,
            );
            Ok(p)
        }
    }
}

fn effective(points: u32, expiry: u32, time: u32) -> u32 {
    if expiry != 0 && time >= expiry {
        0
    } else {
        points
    }
}

impl Applet for LoyaltyApplet {
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        self.params.as_ref().ok_or(sw::CONDITIONS)?;
        Ok(Response::new(crate::install::fci(ctx), StatusWord::OK))
    }

    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        let cmd = Cmd::try_from(cmd)?;
        let params = self.params.clone().ok_or(sw::CONDITIONS)?;
        if ctx.app_life_cycle() == AppLifeCycle::Blocked
            || ctx.card_life_cycle() != CardLifeCycle::Personalized
        {
            return Err(sw::CONDITIONS);
        }
        let session = self.session.take();
        let internal = |_| StatusWord(0x6F00);
        let card = params.card;
        match cmd {
            Cmd::Init {
                program,
                terminal,
                time,
            } => {
                params
                    .programs
                    .iter()
                    .find(|p| p.id == program)
                    .ok_or(sw::NOT_FOUND)?;
                let challenge = ctx.random::<8>();
                let nvm = ctx.nvm();
                let ctr = nvm.read_u32("ctr")?.unwrap_or(0);
                let (pts, exp) = read_points(&nvm, program)?;
                self.session = Some(Session {
                    program,
                    terminal,
                    time,
                    challenge,
                    ctr,
                });
                Ok(Response::new(
                    cat(&[
                        &card.0,
                        &ctr.to_be_bytes(),
                        &effective(pts, exp, time).to_be_bytes(),
                        &exp.to_be_bytes(),
                        &challenge,
                    ]),
                    StatusWord::OK,
                ))
            }
            Cmd::Credit { .. } | Cmd::Debit { .. } => {
                let (credit, points, amount, mac) = match cmd {
                    Cmd::Credit {
                        points,
                        amount,
                        mac,
                    } => (true, points, amount, mac),
                    Cmd::Debit { points, mac } => (false, points, 0, mac),
                    _ => return Err(sw::CONDITIONS),
                };
                let mut nvm = ctx.nvm();
                let ctr = nvm.read_u32("ctr")?.unwrap_or(0);
                let s = session.filter(|s| s.ctr == ctr).ok_or(sw::CONDITIONS)?;
                let prog = params
                    .programs
                    .iter()
                    .find(|p| p.id == s.program)
                    .ok_or(sw::NOT_FOUND)?;
                let expected = op_mac(
                    &prog.key,
                    credit,
                    &card,
                    s.program,
                    ctr,
                    &s.challenge,
                    &s.terminal,
                    s.time,
                    points,
                    amount,
                )
                .map_err(internal)?;
                if !ct_eq(&expected, &mac) {
                    return Err(sw::BAD_MAC);
                }
                if points == 0 {
                    return Err(sw::BAD_DATA);
                }
                let (pts, exp) = read_points(&nvm, s.program)?;
                let held = effective(pts, exp, s.time);
                let (balance, expiry) = if credit {
                    let b = held
                        .checked_add(points)
                        .filter(|b| *b <= prog.max_points)
                        .ok_or(sw::MAX_BALANCE_EXCEEDED)?;
                    (
                        b,
                        s.time
                            .saturating_add(u32::from(prog.validity_days).saturating_mul(86_400)),
                    )
                } else {
                    (held.checked_sub(points).ok_or(sw::INSUFFICIENT_FUNDS)?, exp)
                };
                let n = ctr.checked_add(1).ok_or(sw::CONDITIONS)?;
                nvm.write_now("ctr", &n.to_be_bytes())?;
                nvm.begin()?;
                nvm.write(
                    &prog_key(s.program),
                    &cat(&[&balance.to_be_bytes(), &expiry.to_be_bytes()]),
                )?;
                let entry = HistoryEntry {
                    kind: if credit {
                        PointsKind::Credit
                    } else {
                        PointsKind::Debit
                    },
                    program: s.program,
                    counter: n,
                    points,
                    balance,
                    amount,
                    terminal: s.terminal,
                    time: s.time,
                };
                crate::log::append(&mut nvm, "hist", HISTORY_CAPACITY, &entry.encode())?;
                nvm.commit()?;
                let rc = receipt_mac(
                    &prog.key, credit, &card, s.program, n, points, balance, expiry,
                )
                .map_err(internal)?;
                Ok(Response::new(
                    cat(&[
                        &n.to_be_bytes(),
                        &balance.to_be_bytes(),
                        &expiry.to_be_bytes(),
                        &rc,
                    ]),
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
            Cmd::List => {
                let nvm = ctx.nvm();
                let mut out = Vec::new();
                for p in &params.programs {
                    let (pts, exp) = read_points(&nvm, p.id)?;
                    out.extend_from_slice(&cat(&[
                        &p.id.to_be_bytes(),
                        &pts.to_be_bytes(),
                        &exp.to_be_bytes(),
                    ]));
                }
                Ok(Response::new(out, StatusWord::OK))
            }
        }
    }

    fn deselect(&mut self, _ctx: &mut AppletContext<'_>) {
        self.session = None;
    }
}

/// How a program turns purchases into points and points into value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct EarnRule {
    /// Points earned per whole `unit` of purchase amount.
    pub points_per_unit: u32,
    /// Purchase unit in minor units (100 = per euro).
    pub unit: u32,
    /// Value of one point in minor units when redeemed.
    pub value_per_point: u32,
}

impl EarnRule {
    /// Points for a purchase amount (rounded down).
    pub fn points_for(&self, amount: u32) -> u32 {
        if self.unit == 0 {
            return 0;
        }
        (amount / self.unit).saturating_mul(self.points_per_unit)
    }
}

/// Result of an earn or redeem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PointsOutcome {
    /// Program.
    pub program: u32,
    /// Points moved.
    pub points: u32,
    /// Points after.
    pub balance: u32,
    /// Expiry (0 = none yet).
    pub expiry: u32,
    /// For a redemption: the value granted (minor units).
    pub value: u32,
}

/// A terminal of participating merchants: holds program master keys.
#[derive(Debug)]
pub struct LoyaltyTerminal {
    terminal: TerminalId,
    aid: Aid,
    programs: BTreeMap<u32, (SecretKey, EarnRule)>,
}

struct Init {
    card: CardId,
    ctr: u32,
    points: u32,
    challenge: [u8; 8],
    key: SecretKey,
}

impl LoyaltyTerminal {
    /// A terminal with no programs.
    pub fn new(terminal: TerminalId, aid: Aid) -> Self {
        LoyaltyTerminal {
            terminal,
            aid,
            programs: BTreeMap::new(),
        }
    }

    /// Adds a program this terminal's merchant participates in.
    pub fn with_program(mut self, program: u32, master: SecretKey, rule: EarnRule) -> Self {
        self.programs.insert(program, (master, rule));
        self
    }

    fn init(
        &self,
        link: &mut CardLink<'_>,
        program: u32,
        time: u32,
    ) -> Result<Init, TerminalError> {
        let (master, _) = self
            .programs
            .get(&program)
            .ok_or_else(|| TerminalError::Refused(format!("program {program} not held")))?;
        link.select(&self.aid)?;
        let d = link.ok(
            "INITIALIZE",
            &Command::new(0x80, ins::INIT, 0, 0)
                .with_data(cat(&[
                    &program.to_be_bytes(),
                    &self.terminal.0,
                    &time.to_be_bytes(),
                ]))
                .with_le(256),
        )?;
        let mut r = Reader::new(&d);
        let (card, ctr, points, _exp, challenge) = (|| {
            Ok::<_, Short>((
                CardId(r.array()?),
                r.u32()?,
                r.u32()?,
                r.u32()?,
                r.array::<8>()?,
            ))
        })()
        .map_err(|_| TerminalError::BadResponse("INITIALIZE"))?;
        let key = derive_card_key(master, KeyUsage::Loyalty(program), &card)?;
        Ok(Init {
            card,
            ctr,
            points,
            challenge,
            key,
        })
    }

    fn op(
        &self,
        link: &mut CardLink<'_>,
        program: u32,
        credit: bool,
        points: u32,
        amount: u32,
        time: u32,
    ) -> Result<PointsOutcome, TerminalError> {
        let i = self.init(link, program, time)?;
        if !credit && i.points < points {
            return Err(TerminalError::Status {
                command: "DEBIT POINTS",
                sw: sw::INSUFFICIENT_FUNDS,
            });
        }
        let mac = op_mac(
            &i.key,
            credit,
            &i.card,
            program,
            i.ctr,
            &i.challenge,
            &self.terminal,
            time,
            points,
            amount,
        )?;
        let cmd = if credit {
            Command::new(0x80, ins::CREDIT, 0, 0).with_data(cat(&[
                &points.to_be_bytes(),
                &amount.to_be_bytes(),
                &mac,
            ]))
        } else {
            Command::new(0x80, ins::DEBIT, 0, 0).with_data(cat(&[&points.to_be_bytes(), &mac]))
        };
        let name = if credit {
            "CREDIT POINTS"
        } else {
            "DEBIT POINTS"
        };
        let d = link.ok(name, &cmd.with_le(256))?;
        let mut r = Reader::new(&d);
        let (n, balance, expiry, rc) =
            (|| Ok::<_, Short>((r.u32()?, r.u32()?, r.u32()?, r.array::<8>()?)))()
                .map_err(|_| TerminalError::BadResponse(name))?;
        let expected = receipt_mac(&i.key, credit, &i.card, program, n, points, balance, expiry)?;
        if !ct_eq(&expected, &rc) || n != i.ctr.wrapping_add(1) {
            return Err(TerminalError::BadReceipt(name));
        }
        Ok(PointsOutcome {
            program,
            points,
            balance,
            expiry,
            value: 0,
        })
    }

    /// Credits the points a purchase of `amount` earns under the program's rule.
    pub fn earn(
        &self,
        link: &mut CardLink<'_>,
        program: u32,
        amount: u32,
        time: u32,
    ) -> Result<PointsOutcome, TerminalError> {
        let rule = self
            .programs
            .get(&program)
            .map(|p| p.1)
            .ok_or_else(|| TerminalError::Refused(format!("program {program} not held")))?;
        let points = rule.points_for(amount);
        if points == 0 {
            return Err(TerminalError::Refused(
                "purchase too small to earn points".into(),
            ));
        }
        self.op(link, program, true, points, amount, time)
    }

    /// Redeems `points`; the outcome's `value` is the discount to apply.
    pub fn redeem(
        &self,
        link: &mut CardLink<'_>,
        program: u32,
        points: u32,
        time: u32,
    ) -> Result<PointsOutcome, TerminalError> {
        let rule = self
            .programs
            .get(&program)
            .map(|p| p.1)
            .ok_or_else(|| TerminalError::Refused(format!("program {program} not held")))?;
        let mut o = self.op(link, program, false, points, 0, time)?;
        o.value = points.saturating_mul(rule.value_per_point);
        Ok(o)
    }

    /// Points valid at `time`.
    pub fn balance(
        &self,
        link: &mut CardLink<'_>,
        program: u32,
        time: u32,
    ) -> Result<u32, TerminalError> {
        Ok(self.init(link, program, time)?.points)
    }

    /// The card's history, newest first.
    pub fn history(&self, link: &mut CardLink<'_>) -> Result<Vec<HistoryEntry>, TerminalError> {
        link.select(&self.aid)?;
        let mut out = Vec::new();
        for i in 0..u8::try_from(HISTORY_CAPACITY).unwrap_or(u8::MAX) {
            let r = link.transmit(&Command::new(0x80, ins::HISTORY, i, 0).with_le(256))?;
            if r.sw == StatusWord::RECORD_NOT_FOUND {
                break;
            }
            if !r.sw.is_ok() {
                return Err(TerminalError::Status {
                    command: "READ HISTORY",
                    sw: r.sw,
                });
            }
            out.push(
                HistoryEntry::decode(&r.data)
                    .map_err(|_| TerminalError::BadResponse("READ HISTORY"))?,
            );
        }
        Ok(out)
    }

    /// "Earned automatically": called by the payment terminal after an EMV
    /// purchase of `amount` was approved with the same card, still in the field
    /// (`ch` powered). Selects the loyalty application; returns `Ok(None)` if the
    /// card has no loyalty application or is not enrolled in `program`.
    pub fn on_emv_purchase(
        &self,
        ch: &mut dyn CardChannel,
        program: u32,
        amount: u32,
        time: u32,
    ) -> Result<Option<PointsOutcome>, TerminalError> {
        let mut link = CardLink::new(ch);
        match self.earn(&mut link, program, amount, time) {
            Ok(o) => Ok(Some(o)),
            Err(TerminalError::NoApplication(_)) => Ok(None),
            Err(TerminalError::Status { sw, .. }) if sw == sw::NOT_FOUND => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Convenience for a separate tap: powers the card on (contactless), earns, powers off.
    pub fn tap_earn(
        &self,
        ch: &mut dyn CardChannel,
        program: u32,
        amount: u32,
        time: u32,
    ) -> Result<Option<PointsOutcome>, TerminalError> {
        ch.power_on(Interface::Contactless)?;
        let r = self.on_emv_purchase(ch, program, amount, time);
        ch.power_off();
        r
    }
}
