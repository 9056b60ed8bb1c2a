//! The fare table (TOML data) and the fare engine: tap-in/tap-out with zone
//! fares, transfer windows, daily capping, passes, unresolved journeys.
//!
//! ## Rules
//!
//! * **Service day** = `⌊(t + utc_offset − day_start) / 86400⌋`; the capping
//!   accumulator restarts each service day.
//! * **Tap in**: no charge for the ride itself, but the purse must hold the
//!   ride's worst case, `min(max_fare, cap left)`, unless a valid pass covers the
//!   zone. A tap in within `transfer_window` seconds after a tap out, at another
//!   station, with fewer than `max_transfers` transfers, continues the journey
//!   (transfer). A tap in while a journey is still open (no tap out) charges the
//!   **unresolved-journey** fare `max_fare − paid`. A second tap at the same
//!   station within `retap_grace` seconds is a re-tap: nothing changes.
//! * **Tap out**: fare = zone fare from the journey's origin zone to this zone
//!   (0 if a pass valid now covers both zones), minus what the journey already
//!   paid. A tap out without a tap in charges `max_fare`.
//! * **Capping**: every charge is limited to `daily_cap − spent_today`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Journey, JourneyStatus, Pass, PassKind, TransitState};

/// Why a fare table or a tap was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FareError {
    /// The TOML did not parse.
    #[error("fare table: {0}")]
    Toml(String),
    /// The table is inconsistent.
    #[error("fare table: {0}")]
    Invalid(String),
    /// A station id not in the table.
    #[error("unknown station {0}")]
    UnknownStation(u16),
    /// No fare between two zones.
    #[error("no fare between zones {0} and {1}")]
    NoFare(u8, u8),
    /// Unknown pass product.
    #[error("unknown pass {0:?}")]
    UnknownPass(String),
}

/// A station.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Station {
    /// Station id (written on the card).
    pub id: u16,
    /// Name.
    pub name: String,
    /// Fare zone.
    pub zone: u8,
}

/// The fare between two zones (either direction).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneFare {
    /// The two zones.
    pub zones: [u8; 2],
    /// Fare in minor units.
    pub amount: u32,
}

/// A pass product sold by ticket machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassProduct {
    /// Product name.
    pub name: String,
    /// Day or period.
    pub kind: PassKind,
    /// Lowest and highest zone covered.
    pub zones: [u8; 2],
    /// Price.
    pub price: u32,
    /// Validity in service days (1 for a day pass).
    #[serde(default = "one")]
    pub days: u32,
}

fn one() -> u32 {
    1
}

/// A fare table, read from TOML (see `data/fares.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FareTable {
    /// ISO 4217 numeric currency (`"0978"`).
    pub currency: String,
    /// Seconds added to UTC to get local time.
    pub utc_offset: i32,
    /// Local time (seconds after midnight) at which the service day starts.
    pub day_start: u32,
    /// Transfer window (seconds after a tap out).
    pub transfer_window: u32,
    /// Transfers allowed in one journey.
    pub max_transfers: u8,
    /// Re-tap grace (seconds).
    pub retap_grace: u32,
    /// Daily cap.
    pub daily_cap: u32,
    /// Maximum fare (unresolved journeys, entry balance check).
    pub max_fare: u32,
    /// Stations.
    pub stations: Vec<Station>,
    /// Zone fares.
    pub fares: Vec<ZoneFare>,
    /// Pass products.
    #[serde(default)]
    pub passes: Vec<PassProduct>,
    #[serde(skip)]
    index: BTreeMap<u16, u8>,
}

/// Direction of a gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Entry gate.
    In,
    /// Exit gate.
    Out,
}

/// One tap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tap {
    /// Time (seconds since 1970, UTC), given by the gate.
    pub time: u32,
    /// Station id.
    pub station: u16,
    /// Gate direction.
    pub direction: Direction,
}

/// What a tap was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TapKind {
    /// Start of a journey.
    Entry,
    /// Continuation of a journey within the transfer window.
    Transfer,
    /// End of a journey.
    Exit,
    /// Tap out without a tap in.
    ExitWithoutEntry,
    /// Same gate again within the grace period: no change.
    Retap,
    /// Refused.
    Refused,
}

/// Why a tap was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Refusal {
    /// The purse does not hold enough.
    InsufficientBalance {
        /// Needed.
        needed: u32,
        /// Held.
        balance: u32,
    },
    /// A fare of an earlier, interrupted tap is still unpaid and the purse
    /// cannot pay it (the card must be topped up first).
    UnpaidFare {
        /// The unpaid amount.
        amount: u32,
        /// Held.
        balance: u32,
    },
}

/// The engine's decision for a tap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// What the tap is.
    pub kind: TapKind,
    /// Amount to charge now (after capping).
    pub charge: u32,
    /// Amount before capping.
    pub uncapped: u32,
    /// True if a pass made the ride free.
    pub by_pass: bool,
    /// The state to write (without pending marker); `None`: write nothing.
    pub new_state: Option<TransitState>,
    /// Why refused.
    pub refusal: Option<Refusal>,
}

impl Decision {
    /// True if the gate opens.
    pub fn opens(&self) -> bool {
        self.kind != TapKind::Refused
    }
}

impl FareTable {
    /// Parses and validates a TOML fare table.
    pub fn from_toml(s: &str) -> Result<Self, FareError> {
        let mut t: FareTable = toml::from_str(s).map_err(|e| FareError::Toml(e.to_string()))?;
        t.index = t.stations.iter().map(|s| (s.id, s.zone)).collect();
        t.validate()?;
        Ok(t)
    }

    /// The demo fare table shipped in `data/fares.toml`.
    pub fn demo() -> Result<Self, FareError> {
        Self::from_toml(include_str!("../../data/fares.toml"))
    }

    fn validate(&self) -> Result<(), FareError> {
        if crate::terminal::currency_bcd(&self.currency).is_none() {
            return Err(FareError::Invalid(format!("currency {:?}", self.currency)));
        }
        if self.index.len() != self.stations.len() {
            return Err(FareError::Invalid("duplicate station id".into()));
        }
        if self.day_start >= 86400 {
            return Err(FareError::Invalid("day_start beyond 24 h".into()));
        }
        let zones: std::collections::BTreeSet<u8> = self.stations.iter().map(|s| s.zone).collect();
        for a in &zones {
            for b in &zones {
                let f = self.fare(*a, *b)?;
                if f > self.max_fare {
                    return Err(FareError::Invalid(format!("fare {a}-{b} above max_fare")));
                }
            }
        }
        for p in &self.passes {
            if p.zones[0] > p.zones[1] || p.days == 0 {
                return Err(FareError::Invalid(format!("pass {:?}", p.name)));
            }
        }
        Ok(())
    }

    /// The currency as BCD.
    pub fn currency_bcd(&self) -> [u8; 2] {
        crate::terminal::currency_bcd(&self.currency).unwrap_or([0, 0])
    }

    /// Zone of a station.
    pub fn zone_of(&self, station: u16) -> Result<u8, FareError> {
        self.index
            .get(&station)
            .copied()
            .ok_or(FareError::UnknownStation(station))
    }

    /// Station by name.
    pub fn station(&self, name: &str) -> Option<&Station> {
        self.stations.iter().find(|s| s.name == name)
    }

    /// Fare between two zones.
    pub fn fare(&self, a: u8, b: u8) -> Result<u32, FareError> {
        let (lo, hi) = (a.min(b), a.max(b));
        self.fares
            .iter()
            .find(|f| f.zones[0].min(f.zones[1]) == lo && f.zones[0].max(f.zones[1]) == hi)
            .map(|f| f.amount)
            .ok_or(FareError::NoFare(lo, hi))
    }

    /// The service day of a time.
    pub fn service_day(&self, t: u32) -> u32 {
        let local = i64::from(t) + i64::from(self.utc_offset) - i64::from(self.day_start);
        u32::try_from(local.div_euclid(86_400)).unwrap_or(0)
    }

    /// First second (UTC) of a service day.
    pub fn day_begins(&self, day: u32) -> u32 {
        let t = i64::from(day) * 86_400 + i64::from(self.day_start) - i64::from(self.utc_offset);
        u32::try_from(t.max(0)).unwrap_or(u32::MAX)
    }

    /// A pass product by name.
    pub fn pass_product(&self, name: &str) -> Result<&PassProduct, FareError> {
        self.passes
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| FareError::UnknownPass(name.to_owned()))
    }

    /// The pass a product gives when bought at `t` (valid from the start of the
    /// current service day for `days` days).
    pub fn issue_pass(&self, product: &PassProduct, t: u32) -> Pass {
        let day = self.service_day(t);
        Pass {
            kind: product.kind,
            zone_min: product.zones[0],
            zone_max: product.zones[1],
            valid_from: self.day_begins(day),
            valid_until: self.day_begins(day.saturating_add(product.days)),
        }
    }

    fn pass_covers(state: &TransitState, t: u32, a: u8, b: u8) -> bool {
        state.passes.iter().any(|p| p.covers(t, a, b))
    }

    /// Decides a tap from the card's state (its pending marker already
    /// resolved) and the purse balance.
    pub fn decide(
        &self,
        state: &TransitState,
        tap: &Tap,
        balance: u32,
    ) -> Result<Decision, FareError> {
        let zone = self.zone_of(tap.station)?;
        let today = self.service_day(tap.time);
        let mut s = state.clone();
        s.pending = None;
        s.passes.retain(|p| p.valid_until > tap.time);
        if s.day != today {
            s.day = today;
            s.spent_today = 0;
        }
        let cap_left = |s: &TransitState| self.daily_cap.saturating_sub(s.spent_today);
        let fresh = Journey {
            status: JourneyStatus::In,
            origin: tap.station,
            origin_zone: zone,
            started: tap.time,
            last_station: tap.station,
            last_zone: zone,
            last_time: tap.time,
            paid: 0,
            transfers: 0,
        };
        let retap = |j: &Journey, st: JourneyStatus| {
            j.status == st
                && j.last_station == tap.station
                && tap.time.saturating_sub(j.last_time) <= self.retap_grace
        };
        let no_change = |kind| Decision {
            kind,
            charge: 0,
            uncapped: 0,
            by_pass: false,
            new_state: None,
            refusal: None,
        };
        let (kind, uncapped, by_pass) = match tap.direction {
            Direction::In => {
                let mut due = 0;
                let mut kind = TapKind::Entry;
                let mut journey = fresh;
                match s.journey {
                    Some(j) if retap(&j, JourneyStatus::In) => {
                        return Ok(no_change(TapKind::Retap));
                    }
                    Some(j) if j.status == JourneyStatus::In => {
                        due = self.max_fare.saturating_sub(j.paid)
                    }
                    Some(j)
                        if tap.time.saturating_sub(j.last_time) <= self.transfer_window
                            && j.transfers < self.max_transfers
                            && j.last_station != tap.station =>
                    {
                        kind = TapKind::Transfer;
                        journey = Journey {
                            status: JourneyStatus::In,
                            last_station: tap.station,
                            last_zone: zone,
                            last_time: tap.time,
                            transfers: j.transfers + 1,
                            ..j
                        };
                    }
                    _ => {}
                }
                s.journey = Some(journey);
                (kind, due, false)
            }
            Direction::Out => match s.journey {
                Some(j) if retap(&j, JourneyStatus::Out) => return Ok(no_change(TapKind::Retap)),
                Some(j) if j.status == JourneyStatus::In => {
                    let by_pass = Self::pass_covers(&s, tap.time, j.origin_zone, zone);
                    let fare = if by_pass {
                        0
                    } else {
                        self.fare(j.origin_zone, zone)?
                    };
                    s.journey = Some(Journey {
                        status: JourneyStatus::Out,
                        last_station: tap.station,
                        last_zone: zone,
                        last_time: tap.time,
                        ..j
                    });
                    (TapKind::Exit, fare.saturating_sub(j.paid), by_pass)
                }
                _ => {
                    s.journey = Some(Journey {
                        status: JourneyStatus::Out,
                        ..fresh
                    });
                    (TapKind::ExitWithoutEntry, self.max_fare, false)
                }
            },
        };
        let charge = uncapped.min(cap_left(&s));
        s.spent_today = s.spent_today.saturating_add(charge);
        // A tap-in charge pays the previous, unresolved journey, not this one.
        if tap.direction == Direction::Out
            && let Some(j) = s.journey.as_mut()
        {
            j.paid = j.paid.saturating_add(charge);
        }
        // Entry: the purse must also cover the ride's worst case.
        let reserve =
            if tap.direction == Direction::In && !Self::pass_covers(&s, tap.time, zone, zone) {
                self.max_fare.min(cap_left(&s))
            } else {
                0
            };
        let needed = charge.saturating_add(reserve);
        if balance < needed {
            return Ok(Decision {
                kind: TapKind::Refused,
                charge: 0,
                uncapped,
                by_pass,
                new_state: None,
                refusal: Some(Refusal::InsufficientBalance { needed, balance }),
            });
        }
        Ok(Decision {
            kind,
            charge,
            uncapped,
            by_pass,
            new_state: Some(s),
            refusal: None,
        })
    }
}
