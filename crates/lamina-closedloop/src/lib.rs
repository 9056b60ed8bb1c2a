//! # lamina-closedloop — closed-loop applications of a Lamina card
//!
//! Card applets (for the [`lamina_card`] chip OS) and their terminal- and
//! host-side logic for payments that stay inside one scheme: a prepaid purse,
//! loyalty points, transit fares and parking.
//!
//! | module | card side | terminal / host side |
//! |---|---|---|
//! | [`purse`] | [`purse::PurseApplet`]: stored value, LOAD, offline DEBIT with proofs, CANCEL LAST, RECOVER, log | [`purse::Sam`], [`purse::load_purse`], [`purse::IssuerHost`], [`purse::verify_proof`], [`purse::Clearing`] |
//! | [`loyalty`] | [`loyalty::LoyaltyApplet`]: programs per merchant group, MAC-protected CREDIT / DEBIT POINTS, expiry, history | [`loyalty::LoyaltyTerminal`] (earn after an EMV purchase, redeem) |
//! | [`record`] | [`record::RecordApplet`]: a MAC-protected, counter-protected state record (transit and parking) | [`record::RecordClient`], payment via the purse with a pending marker |
//! | [`transit`] | transit state layout | [`transit::FareTable`] (TOML), [`transit::GateTerminal`] with a time budget |
//! | [`parking`] | parking state layout | [`parking::Tariff`] (TOML), [`parking::ParkingTerminal`] |
//! | [`install`] | [`install::register`], install entries per application, [`install::test_card`] | — |
//!
//! ## Principles
//!
//! * **No clock in the card or the logic.** Every timestamp (seconds since
//!   1970-01-01 UTC, `u32`) is passed in by the terminal or host. Processing
//!   time is measured through an injected [`terminal::Stopwatch`].
//! * **Parse → typed command → execute → status word** on the card; see
//!   [`sw`] for the status words.
//! * **Tearing-safe.** Every persistent change goes through one NVM transaction;
//!   counters that must never repeat are written with `write_now` *before* the
//!   change they protect. The tests tear every command at every NVM write.
//! * **Keys per card** derived from master keys ([`keys`], NIST SP 800-108 with
//!   AES-CMAC); every MAC is AES-CMAC-64 with a domain tag and is compared in
//!   constant time.
//!
//! ## One card, several applications
//!
//! The chip OS gives each applet its own NVM namespace and no way into another's
//! (the firewall). The transit and parking applications therefore do not hold
//! money: they pay from the purse *through the terminal*, and the terminal
//! makes the two-applet operation tearing-safe by first writing a **pending
//! payment** (terminal id, terminal sequence, amount) into the transit/parking
//! state, then debiting the purse with exactly that terminal reference, then
//! clearing the marker. Any later terminal that finds a pending marker asks the
//! purse (RECOVER) whether that debit happened: if so it collects the proof,
//! otherwise it charges now. So a fare is charged exactly once whatever the
//! tearing point ([`record`] has the details).

pub mod codec;
pub mod install;
pub mod keys;
pub mod log;
pub mod loyalty;
pub mod parking;
pub mod purse;
pub mod record;
pub mod sw;
pub mod terminal;
pub mod transit;

pub use keys::{CardId, TerminalId};
pub use terminal::{CardLink, TerminalError};
