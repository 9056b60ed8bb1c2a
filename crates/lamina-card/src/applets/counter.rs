//! A demonstration applet: a persistent counter updated in a transaction, a
//! sequence number written with `write_now` before the transaction (the ATC
//! pattern), a PIN with a try counter decremented before the comparison, GET
//! CHALLENGE from the card RNG, and APPLICATION BLOCK / UNBLOCK and CARD BLOCK.
//! It exercises the OS in tests and serves as a template for real applets.
//!
//! | command | APDU | effect |
//! |---|---|---|
//! | ADD | `80 10 00 00 04 <amount>` | transaction: `count += amount`, `mirror = count`, `last = amount`; returns `count` |
//! | ADD WITH SEQUENCE | `80 12 00 00 04 <amount>` | `seq += 1` with `write_now`, then ADD; returns `seq ‖ count` |
//! | GET | `80 14 00 00 00` | `count ‖ mirror ‖ seq ‖ last` (4 bytes each) |
//! | GET CHALLENGE | `00 84 00 00 00` | 8 random bytes (EMV Book 3 §6.5.6) |
//! | VERIFY | `00 20 00 80 <Lc> <PIN>` | plaintext PIN vs install parameters; `63Cx`, `6983` |
//! | APPLICATION BLOCK | `84 1E 00 00` | application blocked (no MAC check: demo only) |
//! | APPLICATION UNBLOCK | `84 18 00 00` | application selectable again |
//! | CARD BLOCK | `84 16 00 00` | card blocked |
//!
//! Records: `count`, `mirror`, `seq`, `last` (u32), `ptc` (u8, PIN try counter).
//! Invariants after any tear: `count == mirror`; `seq` never decreases.

use lamina_apdu::{Command, Response, StatusWord};
use lamina_crypto::sym::ct_eq;
use lamina_tlv::TlvBuilder;

use crate::applet::{ApduResult, Applet, AppletContext};
use crate::lifecycle::{AppLifeCycle, CardLifeCycle};

/// The ROM class name of [`CounterApplet`].
pub const CLASS: &str = "lamina.counter";
/// The PIN try limit.
pub const PIN_TRY_LIMIT: u8 = 3;

/// A decoded counter command (the decode error is the status word).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cmd {
    Add(u32),
    AddWithSeq(u32),
    Get,
    GetChallenge,
    Verify(Vec<u8>),
    AppBlock,
    AppUnblock,
    CardBlock,
}

fn amount(c: &Command) -> Result<u32, StatusWord> {
    <[u8; 4]>::try_from(c.data.as_slice())
        .map(u32::from_be_bytes)
        .map_err(|_| StatusWord::WRONG_LENGTH)
}

impl TryFrom<&Command> for Cmd {
    type Error = StatusWord;
    fn try_from(c: &Command) -> Result<Self, StatusWord> {
        let p1p2 = (c.p1, c.p2);
        let cmd = match (c.cla, c.ins) {
            (0x80, 0x10) => Cmd::Add(amount(c)?),
            (0x80, 0x12) => Cmd::AddWithSeq(amount(c)?),
            (0x80, 0x14) => Cmd::Get,
            (0x00, 0x84) => Cmd::GetChallenge,
            (0x00, 0x20) => {
                if p1p2 != (0x00, 0x80) {
                    return Err(StatusWord::INCORRECT_P1P2);
                }
                if !(1..=16).contains(&c.data.len()) {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                return Ok(Cmd::Verify(c.data.clone()));
            }
            (0x84, 0x1E) => Cmd::AppBlock,
            (0x84, 0x18) => Cmd::AppUnblock,
            (0x84, 0x16) => Cmd::CardBlock,
            (0x00 | 0x80 | 0x84, _) => return Err(StatusWord::INS_NOT_SUPPORTED),
            _ => return Err(StatusWord::CLA_NOT_SUPPORTED),
        };
        if p1p2 != (0, 0) {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let no_data = matches!(
            cmd,
            Cmd::Get | Cmd::GetChallenge | Cmd::AppBlock | Cmd::AppUnblock | Cmd::CardBlock
        );
        if no_data && !c.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        Ok(cmd)
    }
}

/// The counter applet. Its only volatile state is whether the PIN was verified in
/// this session.
#[derive(Debug, Default)]
pub struct CounterApplet {
    pin_verified: bool,
}

impl CounterApplet {
    /// A fresh instance (what the ROM factory returns at every power-up).
    pub fn new() -> Self {
        CounterApplet::default()
    }

    /// True if the PIN was verified in this session (volatile state).
    pub fn pin_verified(&self) -> bool {
        self.pin_verified
    }

    fn add(ctx: &mut AppletContext<'_>, amount: u32) -> Result<u32, StatusWord> {
        let mut nvm = ctx.nvm();
        let count = nvm.read_u32("count")?.unwrap_or(0);
        let new = count
            .checked_add(amount)
            .ok_or(StatusWord::INCORRECT_DATA)?;
        nvm.begin()?;
        nvm.write_u32("count", new)?;
        nvm.write_u32("last", amount)?;
        nvm.write_u32("mirror", new)?;
        nvm.commit()?;
        Ok(new)
    }

    fn verify(&mut self, ctx: &mut AppletContext<'_>, pin: &[u8]) -> ApduResult {
        let expected = ctx.install().params.0.clone();
        let mut nvm = ctx.nvm();
        let tries = nvm.read_u8("ptc")?.unwrap_or(PIN_TRY_LIMIT);
        if tries == 0 {
            return Err(StatusWord::AUTH_METHOD_BLOCKED);
        }
        // Decrement first, on its own: a tear after the comparison must not
        // give a free try (EMV Book 3 §6.5.12.4).
        nvm.write_now("ptc", &[tries - 1])?;
        if ct_eq(pin, &expected) {
            nvm.write_now("ptc", &[PIN_TRY_LIMIT])?;
            self.pin_verified = true;
            Ok(Response::status(StatusWord::OK))
        } else {
            self.pin_verified = false;
            Err(StatusWord::new(0x63, 0xC0 | ((tries - 1) & 0x0F)))
        }
    }
}

fn u32s(vals: &[u32]) -> Vec<u8> {
    vals.iter().flat_map(|v| v.to_be_bytes()).collect()
}

impl Applet for CounterApplet {
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult {
        self.pin_verified = false;
        let fci = TlvBuilder::new(0x6Fu32)
            .primitive(0x84u32, ctx.aid().as_bytes().to_vec())
            .nested(0xA5u32, |b| {
                b.primitive(0x50u32, ctx.install().label.as_bytes().to_vec())
            })
            .build();
        Ok(Response::new(fci.encode(), StatusWord::OK))
    }

    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult {
        let cmd = Cmd::try_from(cmd)?;
        // Life cycle gating: a blocked application declines everything except
        // its unblocking; an unpersonalized card does not count.
        if ctx.app_life_cycle() == AppLifeCycle::Blocked && cmd != Cmd::AppUnblock {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        if ctx.card_life_cycle() != CardLifeCycle::Personalized
            && matches!(cmd, Cmd::Add(_) | Cmd::AddWithSeq(_))
        {
            return Err(StatusWord::CONDITIONS_NOT_SATISFIED);
        }
        match cmd {
            Cmd::Add(a) => {
                let n = Self::add(ctx, a)?;
                Ok(Response::new(n.to_be_bytes(), StatusWord::OK))
            }
            Cmd::AddWithSeq(a) => {
                let seq = {
                    let mut nvm = ctx.nvm();
                    let seq = nvm
                        .read_u32("seq")?
                        .unwrap_or(0)
                        .checked_add(1)
                        .ok_or(StatusWord::CONDITIONS_NOT_SATISFIED)?;
                    nvm.write_now("seq", &seq.to_be_bytes())?;
                    seq
                };
                let n = Self::add(ctx, a)?;
                Ok(Response::new(u32s(&[seq, n]), StatusWord::OK))
            }
            Cmd::Get => {
                let nvm = ctx.nvm();
                let v = ["count", "mirror", "seq", "last"]
                    .iter()
                    .map(|k| nvm.read_u32(k).map(Option::unwrap_or_default))
                    .collect::<Result<Vec<u32>, _>>()?;
                Ok(Response::new(u32s(&v), StatusWord::OK))
            }
            Cmd::GetChallenge => Ok(Response::new(ctx.random::<8>(), StatusWord::OK)),
            Cmd::Verify(pin) => self.verify(ctx, &pin),
            Cmd::AppBlock => {
                ctx.block_application()?;
                Ok(Response::status(StatusWord::OK))
            }
            Cmd::AppUnblock => {
                ctx.unblock_application()?;
                Ok(Response::status(StatusWord::OK))
            }
            Cmd::CardBlock => {
                ctx.block_card()?;
                Ok(Response::status(StatusWord::OK))
            }
        }
    }

    fn deselect(&mut self, _ctx: &mut AppletContext<'_>) {
        self.pin_verified = false;
    }
}
