//! The transit gate's online EMV open-loop fare: a card without a transit
//! application or purse (or whose purse cannot pay) rides with its EMV
//! contactless payment application, as in open-loop metro systems (London's
//! contactless fares, for instance).
//!
//! ## Journey
//!
//! * **Tap in.** The gate runs the EMV contactless kernel (CDA, no PIN) and
//!   asks the issuer online for a **hold** of [`OpenLoopGate::hold_amount`] (the
//!   fare table's maximum fare) through the acquirer. The tap is recorded
//!   against the card's [`CardToken`], a keyed hash of PAN and PAN sequence
//!   number ([`TokenKey::token`]); the PAN itself is never kept.
//! * **Tap out.** The gate reads the card again (offline) to find its token,
//!   computes the fare with the same engine as the closed-loop transit
//!   application ([`FareTable::decide`]: zone fares, transfer window, daily
//!   capping, unresolved journeys), and the acquirer sends a completion
//!   (ISO 8583 0220) for that fare against the hold, releasing the rest. A fare
//!   of 0 (capped, re-tap) releases the whole hold.
//! * **Declines.** A declined authorization puts the token on the gate's deny
//!   list ([`OpenLoopGate::deny`]): later taps of that card are refused at the
//!   gate without going online.
//!
//! Everything here is pure: the caller runs the kernel and the acquirer link,
//! and applies a tap's outcome ([`Settlement`]) to the acquirer *before* it
//! keeps the new state (call the tap methods on a clone, settle, then keep the
//! clone). The state is serialisable ([`OpenLoopGate::to_json`]) so a
//! command-line gate can keep it in a file between runs.
//!
//! ## Token
//!
//! `token = AES-CMAC(K_token, "LAMINA-OPENLOOP-TOKEN" ‖ 00 ‖ len(PAN) ‖ PAN
//! (ASCII digits) ‖ PSN flag ‖ PSN)` (NIST SP 800-38B; CMAC as a PRF), 16
//! bytes. The length byte and the PSN flag make the input encoding injective.
//! No published vector exists for this construction; the tests check its
//! properties (deterministic, key-, PAN- and PSN-dependent).

use std::collections::BTreeMap;
use std::fmt;

use lamina_crypto::sym::{SecretKey, aes_cmac};
use serde::{Deserialize, Serialize};

use super::{Direction, FareError, FareTable, Journey, Tap, TapKind, TransitState};

/// Layout version of the serialised [`OpenLoopGate`].
pub const STATE_VERSION: u32 = 1;

/// Domain label of the token derivation.
const TOKEN_LABEL: &[u8] = b"LAMINA-OPENLOOP-TOKEN";

/// Why an open-loop operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenLoopError {
    /// The fare table refused the tap (unknown station, no fare).
    #[error(transparent)]
    Fare(#[from] FareError),
    /// The PAN is not 12–19 decimal digits (the PAN is not repeated here).
    #[error("PAN is not 12 to 19 digits")]
    InvalidPan,
    /// The token key is unusable.
    #[error("token key: {0}")]
    Key(String),
    /// The saved state did not parse.
    #[error("open-loop gate state: {0}")]
    State(String),
}

/// The gate operator's token key (AES-128/192/256). Never printed.
#[derive(Clone)]
pub struct TokenKey(SecretKey);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey(REDACTED)")
    }
}

impl TokenKey {
    /// A token key; AES key lengths only.
    pub fn new(key: SecretKey) -> Result<Self, OpenLoopError> {
        if !matches!(key.len(), 16 | 24 | 32) {
            return Err(OpenLoopError::Key(format!(
                "{} bytes, need 16, 24 or 32",
                key.len()
            )));
        }
        Ok(TokenKey(key))
    }

    /// The fixed, public demonstration key (tests, examples and the CLI's demo
    /// gates only).
    pub fn demo() -> Self {
        TokenKey(SecretKey::new(vec![0x77; 16]))
    }

    /// The card's token from its PAN (decimal digits, as in `5A` without the
    /// `F` padding) and PAN sequence number (`5F34`, if the card has one).
    pub fn token(&self, pan: &str, psn: Option<u8>) -> Result<CardToken, OpenLoopError> {
        if !(12..=19).contains(&pan.len()) || !pan.bytes().all(|b| b.is_ascii_digit()) {
            return Err(OpenLoopError::InvalidPan);
        }
        let mut data = Vec::with_capacity(TOKEN_LABEL.len() + 24);
        data.extend_from_slice(TOKEN_LABEL);
        data.push(0);
        data.push(u8::try_from(pan.len()).map_err(|_| OpenLoopError::InvalidPan)?);
        data.extend_from_slice(pan.as_bytes());
        match psn {
            Some(p) => data.extend_from_slice(&[1, p]),
            None => data.extend_from_slice(&[0, 0]),
        }
        let mac =
            aes_cmac(self.0.as_bytes(), &data).map_err(|e| OpenLoopError::Key(e.to_string()))?;
        Ok(CardToken(mac))
    }
}

/// A card's token: what the gate keeps instead of the PAN.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CardToken(pub [u8; 16]);

impl CardToken {
    /// Upper-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode_upper(self.0)
    }

    /// Parses 32 hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let v = hex::decode(s).ok()?;
        <[u8; 16]>::try_from(v.as_slice()).ok().map(CardToken)
    }
}

impl fmt::Display for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for CardToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardToken({})", self.to_hex())
    }
}

impl Serialize for CardToken {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for CardToken {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        CardToken::from_hex(&s).ok_or_else(|| serde::de::Error::custom("token: 32 hex digits"))
    }
}

/// An online authorization held for a journey (the acquirer's pre-authorization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hold {
    /// Trace number of the authorization.
    pub stan: u32,
    /// Amount held.
    pub amount: u32,
    /// Time of the tap that asked for it.
    pub time: u32,
    /// The acquirer's reference to the original authorization (e.g. ISO 8583
    /// elements to refer to it from a completion). Never card data.
    #[serde(default)]
    pub reference: BTreeMap<String, String>,
}

/// What the acquirer must do with a hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The hold.
    pub hold: Hold,
    /// Amount to capture (≤ the hold): 0 releases the whole hold.
    pub amount: u32,
}

/// One card's open-loop journey state (the open-loop counterpart of the
/// transit application's [`TransitState`], without passes or purse).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rider {
    /// Current or last journey.
    pub journey: Option<Journey>,
    /// Service day of the capping accumulator.
    pub day: u32,
    /// Fares charged in that service day.
    pub spent_today: u32,
    /// The authorization held for the open journey.
    pub hold: Option<Hold>,
    /// Fares that could not be collected (no hold to capture them from).
    #[serde(default)]
    pub unpaid: u32,
}

impl Rider {
    fn state(&self) -> TransitState {
        TransitState {
            journey: self.journey,
            day: self.day,
            spent_today: self.spent_today,
            pending: None,
            passes: Vec::new(),
        }
    }

    fn apply(&mut self, s: &TransitState) {
        self.journey = s.journey;
        self.day = s.day;
        self.spent_today = s.spent_today;
    }
}

/// A token refused at the gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Denial {
    /// When it was put on the list.
    pub time: u32,
    /// Why (e.g. the issuer's response code).
    pub reason: String,
}

/// What a tap in did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntryOutcome {
    /// Entry, transfer, re-tap or refused.
    pub kind: TapKind,
    /// The previous journey's hold to settle (an unresolved journey's fare, or
    /// 0 to release it).
    pub settle: Option<Settlement>,
    /// The new hold to release at once (re-tap, refused).
    pub release: Option<Hold>,
    /// Fare charged now for an unresolved previous journey (after capping).
    pub charged: u32,
    /// That fare before capping.
    pub uncapped: u32,
    /// Fares charged this service day after the tap.
    pub spent_today: u32,
}

impl EntryOutcome {
    /// True if the gate opens.
    pub fn opens(&self) -> bool {
        self.kind != TapKind::Refused
    }
}

/// What a tap out did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExitOutcome {
    /// Exit, exit without entry, re-tap or refused.
    pub kind: TapKind,
    /// Fare of this tap (after capping).
    pub fare: u32,
    /// Fare before capping.
    pub uncapped: u32,
    /// The journey's hold to capture `fare` from (0: release).
    pub settle: Option<Settlement>,
    /// Part of the fare no hold covers (a tap out without a tap in): the
    /// caller must authorize it online, or it stays owed on the token.
    pub unpaid: u32,
    /// Fares charged this service day after the tap.
    pub spent_today: u32,
}

impl ExitOutcome {
    /// True if the gate opens.
    pub fn opens(&self) -> bool {
        self.kind != TapKind::Refused
    }
}

/// The open-loop state of a gate line: journeys per token, the deny list and
/// the acquirer trace numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenLoopGate {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Next trace number (1–999 999).
    pub next_stan: u32,
    /// Journeys by token.
    pub riders: BTreeMap<CardToken, Rider>,
    /// Tokens refused at the gate.
    pub denied: BTreeMap<CardToken, Denial>,
}

impl Default for OpenLoopGate {
    fn default() -> Self {
        OpenLoopGate {
            version: STATE_VERSION,
            next_stan: 1,
            riders: BTreeMap::new(),
            denied: BTreeMap::new(),
        }
    }
}

impl OpenLoopGate {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads a saved state.
    pub fn from_json(s: &str) -> Result<Self, OpenLoopError> {
        let g: OpenLoopGate =
            serde_json::from_str(s).map_err(|e| OpenLoopError::State(e.to_string()))?;
        if g.version != STATE_VERSION {
            return Err(OpenLoopError::State(format!("version {}", g.version)));
        }
        Ok(g)
    }

    /// The state as JSON.
    pub fn to_json(&self) -> Result<String, OpenLoopError> {
        serde_json::to_string_pretty(self).map_err(|e| OpenLoopError::State(e.to_string()))
    }

    /// The amount held at tap in: the fare table's maximum fare (the most one
    /// journey can cost).
    pub fn hold_amount(table: &FareTable) -> u32 {
        table.max_fare
    }

    /// A fresh trace number for an authorization (never 0; wraps after 999 999).
    pub fn allocate_stan(&mut self) -> u32 {
        let n = self.next_stan.clamp(1, 999_999);
        self.next_stan = n % 999_999 + 1;
        n
    }

    /// True if the token is refused at the gate.
    pub fn is_denied(&self, token: &CardToken) -> bool {
        self.denied.contains_key(token)
    }

    /// Puts a token on the deny list.
    pub fn deny(&mut self, token: CardToken, time: u32, reason: impl Into<String>) {
        self.denied.insert(
            token,
            Denial {
                time,
                reason: reason.into(),
            },
        );
    }

    /// Takes a token off the deny list (the card's account was brought back in order).
    pub fn allow(&mut self, token: &CardToken) -> bool {
        self.denied.remove(token).is_some()
    }

    /// A token's journey state.
    pub fn rider(&self, token: &CardToken) -> Option<&Rider> {
        self.riders.get(token)
    }

    /// Tap in at `station` at `time`, the issuer having approved `hold`.
    ///
    /// Denied tokens are refused (the hold comes back in
    /// [`EntryOutcome::release`]). A re-tap keeps the journey's first hold and
    /// releases the new one. A tap in while a journey is still open charges
    /// that journey's unresolved fare from its hold. Otherwise the new hold
    /// becomes the journey's.
    pub fn tap_in(
        &mut self,
        table: &FareTable,
        token: CardToken,
        station: u16,
        time: u32,
        hold: Hold,
    ) -> Result<EntryOutcome, OpenLoopError> {
        let refused = |spent_today| EntryOutcome {
            kind: TapKind::Refused,
            settle: None,
            release: None,
            charged: 0,
            uncapped: 0,
            spent_today,
        };
        if self.is_denied(&token) {
            return Ok(EntryOutcome {
                release: Some(hold),
                ..refused(0)
            });
        }
        let rider = self.riders.entry(token).or_default();
        let tap = Tap {
            time,
            station,
            direction: Direction::In,
        };
        let d = table.decide(&rider.state(), &tap, u32::MAX)?;
        let Some(new) = d.new_state.as_ref().filter(|_| d.opens()) else {
            return Ok(EntryOutcome {
                kind: d.kind,
                release: Some(hold),
                ..refused(rider.spent_today)
            });
        };
        let settle = rider.hold.take().map(|old| Settlement {
            amount: d.charge.min(old.amount),
            hold: old,
        });
        let collected = settle.as_ref().map_or(0, |s| s.amount);
        rider.unpaid = rider
            .unpaid
            .saturating_add(d.charge.saturating_sub(collected));
        rider.apply(new);
        rider.hold = Some(hold);
        Ok(EntryOutcome {
            kind: d.kind,
            settle,
            release: None,
            charged: d.charge,
            uncapped: d.uncapped,
            spent_today: rider.spent_today,
        })
    }

    /// Tap out at `station` at `time`: the journey's fare is captured from its
    /// hold (the rest released). A tap out without a tap in owes the maximum
    /// fare (capped) in [`ExitOutcome::unpaid`]; denied tokens are refused.
    pub fn tap_out(
        &mut self,
        table: &FareTable,
        token: CardToken,
        station: u16,
        time: u32,
    ) -> Result<ExitOutcome, OpenLoopError> {
        let nothing = |kind, spent_today| ExitOutcome {
            kind,
            fare: 0,
            uncapped: 0,
            settle: None,
            unpaid: 0,
            spent_today,
        };
        if self.is_denied(&token) {
            return Ok(nothing(TapKind::Refused, 0));
        }
        let rider = self.riders.entry(token).or_default();
        let tap = Tap {
            time,
            station,
            direction: Direction::Out,
        };
        let d = table.decide(&rider.state(), &tap, u32::MAX)?;
        let Some(new) = d.new_state.as_ref().filter(|_| d.opens()) else {
            return Ok(nothing(d.kind, rider.spent_today));
        };
        let settle = rider.hold.take().map(|h| Settlement {
            amount: d.charge.min(h.amount),
            hold: h,
        });
        let unpaid = d
            .charge
            .saturating_sub(settle.as_ref().map_or(0, |s| s.amount));
        rider.unpaid = rider.unpaid.saturating_add(unpaid);
        rider.apply(new);
        Ok(ExitOutcome {
            kind: d.kind,
            fare: d.charge,
            uncapped: d.uncapped,
            settle,
            unpaid,
            spent_today: rider.spent_today,
        })
    }

    /// Records that `amount` of a token's unpaid fares was collected (the
    /// caller authorized and captured it online).
    pub fn paid(&mut self, token: &CardToken, amount: u32) {
        if let Some(r) = self.riders.get_mut(token) {
            r.unpaid = r.unpaid.saturating_sub(amount);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-25 08:00 UTC (09:00 local in the demo fare table).
    const T0: u32 = 1_795_564_800 + 8 * 3600;
    const PAN: &str = "9999001000000017";

    fn table() -> FareTable {
        FareTable::demo().unwrap()
    }

    fn tok() -> CardToken {
        TokenKey::demo().token(PAN, Some(1)).unwrap()
    }

    fn hold(stan: u32, t: u32) -> Hold {
        Hold {
            stan,
            amount: 450,
            time: t,
            reference: BTreeMap::from([("de41".to_owned(), "GATE0001".to_owned())]),
        }
    }

    #[test]
    fn token_is_keyed_deterministic_and_psn_dependent() {
        let k = TokenKey::demo();
        let t = k.token(PAN, Some(1)).unwrap();
        assert_eq!(t, k.token(PAN, Some(1)).unwrap());
        assert_ne!(t, k.token(PAN, Some(2)).unwrap());
        assert_ne!(t, k.token(PAN, None).unwrap());
        assert_ne!(t, k.token("9999001000000025", Some(1)).unwrap());
        let other = TokenKey::new(SecretKey::new(vec![0x78; 16])).unwrap();
        assert_ne!(t, other.token(PAN, Some(1)).unwrap());
        // The construction is AES-CMAC over the documented input.
        let mut data = b"LAMINA-OPENLOOP-TOKEN\x00\x10".to_vec();
        data.extend_from_slice(PAN.as_bytes());
        data.extend_from_slice(&[1, 1]);
        assert_eq!(t.0, aes_cmac(&[0x77; 16], &data).unwrap());
        // Neither the token nor the key shows the PAN or the key.
        assert!(!format!("{t:?} {t}").contains(PAN));
        assert_eq!(format!("{k:?}"), "TokenKey(REDACTED)");
        assert_eq!(CardToken::from_hex(&t.to_hex()), Some(t));
    }

    #[test]
    fn bad_pans_and_keys_are_errors() {
        let k = TokenKey::demo();
        for pan in [
            "",
            "12345678901",
            "99990010000000171234",
            "9999 0010 0000",
            "99990010000000F",
        ] {
            assert_eq!(k.token(pan, None), Err(OpenLoopError::InvalidPan), "{pan}");
        }
        assert!(TokenKey::new(SecretKey::new(vec![1; 15])).is_err());
    }

    #[test]
    fn a_journey_captures_its_fare_from_the_hold() {
        let t = table();
        let mut g = OpenLoopGate::new();
        let e = g.tap_in(&t, tok(), 1, T0, hold(1, T0)).unwrap();
        assert_eq!(e.kind, TapKind::Entry);
        assert!(e.opens() && e.settle.is_none() && e.release.is_none());
        assert_eq!(g.rider(&tok()).unwrap().hold.as_ref().unwrap().stan, 1);
        let x = g.tap_out(&t, tok(), 3, T0 + 1200).unwrap();
        assert_eq!(x.kind, TapKind::Exit);
        assert_eq!(x.fare, 250);
        let s = x.settle.unwrap();
        assert_eq!((s.hold.stan, s.amount), (1, 250));
        assert_eq!(s.hold.reference["de41"], "GATE0001");
        assert_eq!(x.unpaid, 0);
        assert!(g.rider(&tok()).unwrap().hold.is_none());
    }

    #[test]
    fn daily_cap_over_several_journeys_releases_what_is_not_due() {
        let t = table();
        let mut g = OpenLoopGate::new();
        let mut fares = Vec::new();
        for j in 0..4u32 {
            let at = T0 + j * 7200;
            g.tap_in(&t, tok(), 1, at, hold(j + 1, at)).unwrap();
            let x = g.tap_out(&t, tok(), 3, at + 1200).unwrap();
            let s = x.settle.unwrap();
            assert_eq!(s.hold.stan, j + 1);
            fares.push(s.amount);
        }
        // 2.50 + 2.50 + 2.00 (cap 7.00) + 0 (hold released).
        assert_eq!(fares, [250, 250, 200, 0]);
        assert_eq!(g.rider(&tok()).unwrap().spent_today, 700);
        // The next service day starts a new cap.
        let next = T0 + 86_400;
        g.tap_in(&t, tok(), 1, next, hold(9, next)).unwrap();
        assert_eq!(g.tap_out(&t, tok(), 3, next + 600).unwrap().fare, 250);
    }

    #[test]
    fn transfer_retap_and_unresolved_journeys() {
        let t = table();
        let mut g = OpenLoopGate::new();
        g.tap_in(&t, tok(), 1, T0, hold(1, T0)).unwrap();
        // Re-tap at the same gate: the new hold is released, the first kept.
        let r = g.tap_in(&t, tok(), 1, T0 + 30, hold(2, T0 + 30)).unwrap();
        assert_eq!(r.kind, TapKind::Retap);
        assert_eq!(r.release.unwrap().stan, 2);
        assert_eq!(g.rider(&tok()).unwrap().hold.as_ref().unwrap().stan, 1);
        // Out in zone 1 (1.80), transfer in zone 1, out in zone 2: 2.50 − 1.80.
        assert_eq!(g.tap_out(&t, tok(), 2, T0 + 600).unwrap().fare, 180);
        let tr = g.tap_in(&t, tok(), 1, T0 + 900, hold(3, T0 + 900)).unwrap();
        assert_eq!(tr.kind, TapKind::Transfer);
        let x = g.tap_out(&t, tok(), 3, T0 + 1500).unwrap();
        assert_eq!((x.fare, x.settle.unwrap().amount), (70, 70));
        // Tap in, no tap out, tap in again later: the open journey's hold pays
        // the maximum fare (capped: 7.00 − 2.50 = 4.50).
        g.tap_in(&t, tok(), 1, T0 + 9000, hold(4, T0 + 9000))
            .unwrap();
        let u = g
            .tap_in(&t, tok(), 4, T0 + 20_000, hold(5, T0 + 20_000))
            .unwrap();
        assert_eq!(u.kind, TapKind::Entry);
        assert_eq!(u.charged, 450);
        let s = u.settle.unwrap();
        assert_eq!((s.hold.stan, s.amount), (4, 450));
        assert_eq!(g.rider(&tok()).unwrap().hold.as_ref().unwrap().stan, 5);
    }

    #[test]
    fn exit_without_entry_is_owed_and_deny_list_refuses() {
        let t = table();
        let mut g = OpenLoopGate::new();
        let x = g.tap_out(&t, tok(), 3, T0).unwrap();
        assert_eq!(x.kind, TapKind::ExitWithoutEntry);
        assert_eq!((x.fare, x.unpaid), (450, 450));
        assert!(x.settle.is_none());
        assert_eq!(g.rider(&tok()).unwrap().unpaid, 450);
        g.paid(&tok(), 450);
        assert_eq!(g.rider(&tok()).unwrap().unpaid, 0);

        g.deny(tok(), T0 + 5, "issuer declined 51");
        assert!(g.is_denied(&tok()));
        let e = g.tap_in(&t, tok(), 1, T0 + 10, hold(7, T0 + 10)).unwrap();
        assert!(!e.opens());
        assert_eq!(e.release.unwrap().stan, 7);
        assert!(!g.tap_out(&t, tok(), 1, T0 + 20).unwrap().opens());
        assert!(g.allow(&tok()));
        assert!(
            g.tap_in(&t, tok(), 1, T0 + 30, hold(8, T0 + 30))
                .unwrap()
                .opens()
        );
        // Unknown stations are errors, not panics.
        assert!(matches!(
            g.tap_out(&t, tok(), 99, T0 + 40),
            Err(OpenLoopError::Fare(FareError::UnknownStation(99)))
        ));
    }

    #[test]
    fn state_round_trips_through_json_without_the_pan() {
        let t = table();
        let mut g = OpenLoopGate::new();
        assert_eq!(g.allocate_stan(), 1);
        assert_eq!(g.allocate_stan(), 2);
        g.tap_in(&t, tok(), 1, T0, hold(2, T0)).unwrap();
        g.deny(
            TokenKey::demo().token("9999001000000025", None).unwrap(),
            T0,
            "51",
        );
        let json = g.to_json().unwrap();
        assert!(!json.contains(PAN));
        assert!(json.contains(&tok().to_hex()));
        let back = OpenLoopGate::from_json(&json).unwrap();
        assert_eq!(back, g);
        assert!(OpenLoopGate::from_json("{").is_err());
        assert!(
            OpenLoopGate::from_json(&json.replace("\"version\": 1", "\"version\": 2")).is_err()
        );
        assert!(OpenLoopGate::from_json(&json.replace(&tok().to_hex(), "NOTHEX")).is_err());
        // STANs wrap within 6 digits and skip 0.
        g.next_stan = 999_999;
        assert_eq!(g.allocate_stan(), 999_999);
        assert_eq!(g.allocate_stan(), 1);
    }
}
