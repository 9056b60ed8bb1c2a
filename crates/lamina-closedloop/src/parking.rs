//! Parking: entry writes a ticket (site, time, gate) to the card; exit computes
//! the fee from the duration with a tariff table (TOML) and pays from the purse.
//!
//! The parking applet is a [`crate::record::RecordApplet`] of class
//! [`crate::record::PARKING_CLASS`] storing a [`ParkingState`]. The fee
//! computation ([`Tariff::fee`]) is pure and public, so an EMV variant
//! (pre-authorization at entry, completion `0220` at exit) can use it.

use lamina_card::{Aid, CardChannel, Interface};
use lamina_crypto::sym::SecretKey;
use serde::{Deserialize, Serialize};

use crate::codec::{Reader, Short};
use crate::keys::TerminalId;
use crate::purse::{Sam, read_status};
use crate::record::{
    PendingPayment, RecordClient, RecordKind, StateRecord, pay_and_write, resolve_pending,
};
use crate::terminal::{CardLink, LinkStats, TerminalError};

/// A tariff band: stays up to `up_to_minutes` cost `amount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// Upper bound of the band (minutes, inclusive).
    pub up_to_minutes: u32,
    /// Fee.
    pub amount: u32,
}

/// A parking tariff (see `data/parking.toml`).
///
/// Fee for a stay of `m` minutes (rounded up): 0 if `m ≤ grace_minutes`;
/// otherwise `d × daily_max + min(daily_max, band(r))` with `d = ⌊m / 1440⌋`,
/// `r = m mod 1440`, `band(r)` the amount of the first band whose bound is
/// `≥ r` (`daily_max` past the last band; 0 if `r = 0`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tariff {
    /// ISO 4217 numeric currency.
    pub currency: String,
    /// Free minutes.
    pub grace_minutes: u32,
    /// Maximum per 24 hours.
    pub daily_max: u32,
    /// Bands, increasing.
    pub bands: Vec<Band>,
}

/// Why a tariff or a fee computation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TariffError {
    /// TOML error.
    #[error("tariff: {0}")]
    Toml(String),
    /// Inconsistent tariff.
    #[error("tariff: {0}")]
    Invalid(&'static str),
    /// Exit before entry.
    #[error("exit time before entry time")]
    TimeReversed,
}

impl Tariff {
    /// Parses and validates a TOML tariff.
    pub fn from_toml(s: &str) -> Result<Self, TariffError> {
        let t: Tariff = toml::from_str(s).map_err(|e| TariffError::Toml(e.to_string()))?;
        if crate::terminal::currency_bcd(&t.currency).is_none() {
            return Err(TariffError::Invalid("currency"));
        }
        if t.bands.is_empty()
            || t.bands
                .windows(2)
                .any(|w| matches!(w, [a, b] if a.up_to_minutes >= b.up_to_minutes))
        {
            return Err(TariffError::Invalid(
                "bands must be non-empty and increasing",
            ));
        }
        Ok(t)
    }

    /// The demo tariff in `data/parking.toml`.
    pub fn demo() -> Result<Self, TariffError> {
        Self::from_toml(include_str!("../data/parking.toml"))
    }

    /// The fee for a stay from `entry` to `exit` (seconds since 1970).
    pub fn fee(&self, entry: u32, exit: u32) -> Result<u32, TariffError> {
        let secs = exit.checked_sub(entry).ok_or(TariffError::TimeReversed)?;
        let minutes = secs.div_ceil(60);
        if minutes <= self.grace_minutes {
            return Ok(0);
        }
        let days = minutes / 1440;
        let rest = minutes % 1440;
        let band = if rest == 0 {
            0
        } else {
            self.bands
                .iter()
                .find(|b| b.up_to_minutes >= rest)
                .map_or(self.daily_max, |b| b.amount)
                .min(self.daily_max)
        };
        Ok(days.saturating_mul(self.daily_max).saturating_add(band))
    }
}

/// A ticket written at entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ticket {
    /// Site id.
    pub site: u32,
    /// Entry time.
    pub entry: u32,
    /// Entry gate.
    pub gate: TerminalId,
}

/// The last completed stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stay {
    /// Site.
    pub site: u32,
    /// Entry time.
    pub entry: u32,
    /// Exit time.
    pub exit: u32,
    /// Fee paid.
    pub fee: u32,
}

/// The parking state record. Layout: `01` ‖ ticket flag [‖ site 4 ‖ entry 4 ‖
/// gate 8] ‖ stay flag [‖ site 4 ‖ entry 4 ‖ exit 4 ‖ fee 4] ‖ pending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ParkingState {
    /// The open ticket.
    pub ticket: Option<Ticket>,
    /// The last stay.
    pub last: Option<Stay>,
    /// Payment recorded before the purse debit.
    pub pending: Option<PendingPayment>,
}

impl StateRecord for ParkingState {
    const KIND: RecordKind = RecordKind::Parking;

    fn encode(&self) -> Vec<u8> {
        let mut v = vec![1u8];
        match &self.ticket {
            None => v.push(0),
            Some(t) => {
                v.push(1);
                v.extend_from_slice(&t.site.to_be_bytes());
                v.extend_from_slice(&t.entry.to_be_bytes());
                v.extend_from_slice(&t.gate.0);
            }
        }
        match &self.last {
            None => v.push(0),
            Some(s) => {
                v.push(1);
                for x in [s.site, s.entry, s.exit, s.fee] {
                    v.extend_from_slice(&x.to_be_bytes());
                }
            }
        }
        PendingPayment::encode_opt(&self.pending, &mut v);
        v
    }

    fn decode(b: &[u8]) -> Result<Self, Short> {
        if b.is_empty() {
            return Ok(ParkingState::default());
        }
        let mut r = Reader::new(b);
        if r.u8()? != 1 {
            return Err(Short);
        }
        let ticket = match r.u8()? {
            0 => None,
            1 => Some(Ticket {
                site: r.u32()?,
                entry: r.u32()?,
                gate: TerminalId(r.array()?),
            }),
            _ => return Err(Short),
        };
        let last = match r.u8()? {
            0 => None,
            1 => Some(Stay {
                site: r.u32()?,
                entry: r.u32()?,
                exit: r.u32()?,
                fee: r.u32()?,
            }),
            _ => return Err(Short),
        };
        let pending = PendingPayment::read_opt(&mut r)?;
        r.finish()?;
        Ok(ParkingState {
            ticket,
            last,
            pending,
        })
    }

    fn pending(&self) -> Option<PendingPayment> {
        self.pending
    }

    fn set_pending(&mut self, p: Option<PendingPayment>) {
        self.pending = p;
    }
}

/// What a parking gate did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ParkingOutcome {
    /// Ticket written.
    Entered,
    /// Already inside this site: nothing written.
    AlreadyInside,
    /// Fee paid, ticket closed.
    Exited(Stay),
    /// Refused: no ticket for this site (attendant needed).
    NoTicket,
    /// Refused: the purse cannot pay the fee.
    InsufficientBalance {
        /// Fee.
        fee: u32,
        /// Balance.
        balance: u32,
    },
}

/// The gate's words for the outcome (amounts in minor units).
impl core::fmt::Display for ParkingOutcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParkingOutcome::Entered => f.write_str("TICKET WRITTEN"),
            ParkingOutcome::AlreadyInside => f.write_str("ALREADY INSIDE"),
            ParkingOutcome::Exited(_) => f.write_str("PAID, BARRIER UP"),
            ParkingOutcome::NoTicket => f.write_str("NO TICKET, CALL ATTENDANT"),
            ParkingOutcome::InsufficientBalance { fee, balance } => {
                write!(f, "INSUFFICIENT BALANCE (fee {fee}, balance {balance})")
            }
        }
    }
}

/// Report of a parking gate interaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParkingReport {
    /// Outcome.
    pub outcome: ParkingOutcome,
    /// Purse balance after.
    pub balance: u32,
    /// APDUs and bytes.
    pub stats: LinkStats,
}

/// A parking gate (entry or exit) at a site.
#[derive(Debug)]
pub struct ParkingTerminal {
    /// Site id.
    pub site: u32,
    tariff: Tariff,
    client: RecordClient,
    sam: Sam,
}

impl ParkingTerminal {
    /// A gate of `site` with the parking master key and a purse SAM.
    pub fn new(
        site: u32,
        tariff: Tariff,
        parking_master: SecretKey,
        parking_aid: Aid,
        sam: Sam,
    ) -> Self {
        ParkingTerminal {
            site,
            tariff,
            client: RecordClient::new(RecordKind::Parking, parking_master, parking_aid),
            sam,
        }
    }

    /// The tariff.
    pub fn tariff(&self) -> &Tariff {
        &self.tariff
    }

    /// The SAM.
    pub fn sam_mut(&mut self) -> &mut Sam {
        &mut self.sam
    }

    /// Entry at `time`.
    pub fn entry(
        &mut self,
        ch: &mut dyn CardChannel,
        time: u32,
    ) -> Result<ParkingReport, TerminalError> {
        self.run(ch, time, true)
    }

    /// Exit at `time`: fee from the ticket, paid from the purse.
    pub fn exit(
        &mut self,
        ch: &mut dyn CardChannel,
        time: u32,
    ) -> Result<ParkingReport, TerminalError> {
        self.run(ch, time, false)
    }

    fn run(
        &mut self,
        ch: &mut dyn CardChannel,
        time: u32,
        entry: bool,
    ) -> Result<ParkingReport, TerminalError> {
        ch.power_on(Interface::Contactless)?;
        let res = self.interact(ch, time, entry);
        ch.power_off();
        res
    }

    fn interact(
        &mut self,
        ch: &mut dyn CardChannel,
        time: u32,
        entry: bool,
    ) -> Result<ParkingReport, TerminalError> {
        let mut link = CardLink::new(ch);
        let mut balance = read_status(&mut link, self.sam.aid())?.balance;
        let mut sess = self.client.read::<ParkingState>(&mut link)?;
        let resolved = match resolve_pending(&mut link, &mut sess, &mut self.sam, time)? {
            crate::record::Resolution::Nothing => false,
            crate::record::Resolution::Recovered(d) | crate::record::Resolution::Charged(d) => {
                balance = d.balance;
                true
            }
        };
        let site = self.site;
        let (outcome, new, fee) = match (entry, sess.state.ticket) {
            (true, Some(t)) if t.site == site => (ParkingOutcome::AlreadyInside, None, 0),
            (true, _) => {
                let mut s = sess.state.clone();
                s.ticket = Some(Ticket {
                    site,
                    entry: time,
                    gate: self.sam.terminal(),
                });
                (ParkingOutcome::Entered, Some(s), 0)
            }
            (false, Some(t)) if t.site == site => {
                let fee = self
                    .tariff
                    .fee(t.entry, time)
                    .map_err(|e| TerminalError::Refused(e.to_string()))?;
                if fee > balance {
                    (
                        ParkingOutcome::InsufficientBalance { fee, balance },
                        None,
                        0,
                    )
                } else {
                    let stay = Stay {
                        site,
                        entry: t.entry,
                        exit: time,
                        fee,
                    };
                    let mut s = sess.state.clone();
                    s.ticket = None;
                    s.last = Some(stay);
                    (ParkingOutcome::Exited(stay), Some(s), fee)
                }
            }
            (false, _) => (ParkingOutcome::NoTicket, None, 0),
        };
        match new {
            Some(s) => {
                if let Some(d) = pay_and_write(
                    &mut link,
                    &self.client,
                    &mut sess,
                    &mut self.sam,
                    s,
                    fee,
                    time,
                )? {
                    balance = d.balance;
                }
            }
            None if resolved => {
                let cleared = sess.state.clone();
                self.client.write(&mut link, &mut sess, cleared)?;
            }
            None => {}
        }
        Ok(ParkingReport {
            outcome,
            balance,
            stats: link.stats,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tariff_fees() {
        let t = Tariff::demo().unwrap();
        assert_eq!(t.fee(0, 10 * 60).unwrap(), 0);
        assert_eq!(t.fee(0, 10 * 60 + 1).unwrap(), 250);
        assert_eq!(t.fee(0, 3600).unwrap(), 250);
        assert_eq!(t.fee(0, 3601).unwrap(), 600);
        assert_eq!(t.fee(0, 3 * 3600).unwrap(), 600);
        assert_eq!(t.fee(0, 5 * 3600).unwrap(), 1200);
        assert_eq!(t.fee(0, 23 * 3600).unwrap(), 2000);
        assert_eq!(t.fee(0, 24 * 3600).unwrap(), 2000);
        assert_eq!(t.fee(0, 24 * 3600 + 1800).unwrap(), 2250);
        assert_eq!(t.fee(10, 5), Err(TariffError::TimeReversed));
        assert!(
            Tariff::from_toml("currency = \"0978\"\ngrace_minutes = 0\ndaily_max = 1\nbands = []")
                .is_err()
        );
    }

    #[test]
    fn state_round_trip() {
        let s = ParkingState {
            ticket: Some(Ticket {
                site: 7,
                entry: 100,
                gate: TerminalId::from_u64(3),
            }),
            last: Some(Stay {
                site: 7,
                entry: 1,
                exit: 2,
                fee: 3,
            }),
            pending: None,
        };
        assert_eq!(ParkingState::decode(&s.encode()).unwrap(), s);
        assert!(ParkingState::decode(&[2]).is_err());
    }
}
