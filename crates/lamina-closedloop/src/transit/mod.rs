//! Transit: the card's transit state (journey, daily capping accumulator,
//! passes, pending payment), the fare table and engine, the gate terminal, and
//! the gate's online EMV open-loop alternative ([`openloop`]).
//!
//! The transit applet is a [`crate::record::RecordApplet`] of class
//! [`crate::record::TRANSIT_CLASS`] storing a [`TransitState`]. Stored value
//! comes from the purse (see [`crate::record`] for how a gate pays from the
//! purse and writes the transit state, tearing-safe); day and period passes
//! live in the transit state.

mod fare;
mod gate;
pub mod openloop;

pub use fare::{
    Decision, Direction, FareError, FareTable, PassProduct, Refusal, Station, Tap, TapKind,
    ZoneFare,
};
pub use gate::{GATE_BUDGET_US, GateTerminal, TapReport};

use serde::Serialize;

use crate::codec::{Reader, Short};
use crate::record::{PendingPayment, RecordKind, StateRecord};

/// Layout version of [`TransitState`].
pub const STATE_VERSION: u8 = 1;
/// Most passes held at once.
pub const MAX_PASSES: usize = 4;

/// Where the rider is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum JourneyStatus {
    /// Tapped in, journey open.
    In,
    /// Tapped out (the journey may continue with a transfer).
    Out,
}

/// The current or last journey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Journey {
    /// In or out.
    pub status: JourneyStatus,
    /// Station where the journey started.
    pub origin: u16,
    /// Its zone.
    pub origin_zone: u8,
    /// Start time.
    pub started: u32,
    /// Last station tapped.
    pub last_station: u16,
    /// Its zone.
    pub last_zone: u8,
    /// Last tap time.
    pub last_time: u32,
    /// Fare paid so far for this journey.
    pub paid: u32,
    /// Transfers made.
    pub transfers: u8,
}

/// Kind of pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PassKind {
    /// Valid for one service day.
    Day,
    /// Valid for a number of days.
    Period,
}

/// A pass held on the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pass {
    /// Kind.
    pub kind: PassKind,
    /// Lowest zone covered.
    pub zone_min: u8,
    /// Highest zone covered.
    pub zone_max: u8,
    /// Valid from (inclusive).
    pub valid_from: u32,
    /// Valid until (exclusive).
    pub valid_until: u32,
}

impl Pass {
    /// True if valid at `t` for a journey between zones `a` and `b`.
    pub fn covers(&self, t: u32, a: u8, b: u8) -> bool {
        self.valid_from <= t
            && t < self.valid_until
            && self.zone_min <= a.min(b)
            && a.max(b) <= self.zone_max
    }
}

/// The transit state record.
///
/// Layout (version 1): `01` ‖ journey flag 1 [‖ status 1 ‖ origin 2 ‖ origin
/// zone 1 ‖ started 4 ‖ last station 2 ‖ last zone 1 ‖ last time 4 ‖ paid 4 ‖
/// transfers 1] ‖ service day 4 ‖ spent today 4 ‖ pending (flag 1 [‖ terminal 8
/// ‖ seq 4 ‖ amount 4]) ‖ pass count 1 ‖ passes (kind 1 ‖ zone min 1 ‖ zone max
/// 1 ‖ from 4 ‖ until 4) × count. An empty record is the initial state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TransitState {
    /// Current or last journey.
    pub journey: Option<Journey>,
    /// Service day of the capping accumulator.
    pub day: u32,
    /// Fares paid in that service day.
    pub spent_today: u32,
    /// Payment recorded before the purse debit.
    pub pending: Option<PendingPayment>,
    /// Passes.
    pub passes: Vec<Pass>,
}

impl StateRecord for TransitState {
    const KIND: RecordKind = RecordKind::Transit;

    fn encode(&self) -> Vec<u8> {
        let mut v = vec![STATE_VERSION];
        match &self.journey {
            None => v.push(0),
            Some(j) => {
                v.push(1);
                v.push(match j.status {
                    JourneyStatus::In => 1,
                    JourneyStatus::Out => 2,
                });
                v.extend_from_slice(&j.origin.to_be_bytes());
                v.push(j.origin_zone);
                v.extend_from_slice(&j.started.to_be_bytes());
                v.extend_from_slice(&j.last_station.to_be_bytes());
                v.push(j.last_zone);
                v.extend_from_slice(&j.last_time.to_be_bytes());
                v.extend_from_slice(&j.paid.to_be_bytes());
                v.push(j.transfers);
            }
        }
        v.extend_from_slice(&self.day.to_be_bytes());
        v.extend_from_slice(&self.spent_today.to_be_bytes());
        PendingPayment::encode_opt(&self.pending, &mut v);
        let passes = &self.passes[..self.passes.len().min(MAX_PASSES)];
        v.push(u8::try_from(passes.len()).unwrap_or(0));
        for p in passes {
            v.push(match p.kind {
                PassKind::Day => 1,
                PassKind::Period => 2,
            });
            v.push(p.zone_min);
            v.push(p.zone_max);
            v.extend_from_slice(&p.valid_from.to_be_bytes());
            v.extend_from_slice(&p.valid_until.to_be_bytes());
        }
        v
    }

    fn decode(b: &[u8]) -> Result<Self, Short> {
        if b.is_empty() {
            return Ok(TransitState::default());
        }
        let mut r = Reader::new(b);
        if r.u8()? != STATE_VERSION {
            return Err(Short);
        }
        let journey = match r.u8()? {
            0 => None,
            1 => Some(Journey {
                status: match r.u8()? {
                    1 => JourneyStatus::In,
                    2 => JourneyStatus::Out,
                    _ => return Err(Short),
                },
                origin: r.u16()?,
                origin_zone: r.u8()?,
                started: r.u32()?,
                last_station: r.u16()?,
                last_zone: r.u8()?,
                last_time: r.u32()?,
                paid: r.u32()?,
                transfers: r.u8()?,
            }),
            _ => return Err(Short),
        };
        let day = r.u32()?;
        let spent_today = r.u32()?;
        let pending = PendingPayment::read_opt(&mut r)?;
        let n = usize::from(r.u8()?);
        if n > MAX_PASSES {
            return Err(Short);
        }
        let mut passes = Vec::with_capacity(n);
        for _ in 0..n {
            passes.push(Pass {
                kind: match r.u8()? {
                    1 => PassKind::Day,
                    2 => PassKind::Period,
                    _ => return Err(Short),
                },
                zone_min: r.u8()?,
                zone_max: r.u8()?,
                valid_from: r.u32()?,
                valid_until: r.u32()?,
            });
        }
        r.finish()?;
        Ok(TransitState {
            journey,
            day,
            spent_today,
            pending,
            passes,
        })
    }

    fn pending(&self) -> Option<PendingPayment> {
        self.pending
    }

    fn set_pending(&mut self, p: Option<PendingPayment>) {
        self.pending = p;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::TerminalId;

    #[test]
    fn state_round_trip() {
        let s = TransitState {
            journey: Some(Journey {
                status: JourneyStatus::In,
                origin: 1,
                origin_zone: 1,
                started: 10,
                last_station: 2,
                last_zone: 2,
                last_time: 20,
                paid: 30,
                transfers: 1,
            }),
            day: 5,
            spent_today: 100,
            pending: Some(PendingPayment {
                terminal: TerminalId::from_u64(9),
                seq: 3,
                amount: 250,
            }),
            passes: vec![Pass {
                kind: PassKind::Day,
                zone_min: 1,
                zone_max: 3,
                valid_from: 0,
                valid_until: 86400,
            }],
        };
        let b = s.encode();
        assert_eq!(TransitState::decode(&b).unwrap(), s);
        assert_eq!(TransitState::decode(&[]).unwrap(), TransitState::default());
        for n in 0..b.len() {
            assert!(
                TransitState::decode(&b[..n]).is_err() || n == 0,
                "prefix {n}"
            );
        }
        let mut bad = b.clone();
        bad[0] = 2;
        assert!(TransitState::decode(&bad).is_err());
    }
}
