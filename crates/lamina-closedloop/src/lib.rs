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
//! | [`transit`] | transit state layout | [`transit::FareTable`] (TOML), [`transit::GateTerminal`] with a time budget, [`transit::openloop`] (EMV open-loop fares per card token) |
//! | [`parking`] | parking state layout | [`parking::Tariff`] (TOML), [`parking::ParkingTerminal`] |
//! | [`select`] | — | PPSE parsing, [`select::Profiles`] (TOML): application choice by terminal profile and card priority |
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

//! ## Example: load the purse, then tap in and out at metro gates
//!
//! ```
//! use lamina_card::{CardChannel, EmulatedCard, Interface};
//! use lamina_closedloop::install::{self, Schemes, test_card};
//! use lamina_closedloop::purse::{Clearing, IssuerHost, Sam, load_purse};
//! use lamina_closedloop::terminal::{CardLink, StdStopwatch};
//! use lamina_closedloop::transit::{Direction, FareTable, GateTerminal};
//! use lamina_closedloop::{CardId, TerminalId};
//!
//! let schemes = Schemes::demo();
//! let mut ch = EmulatedCard::new(test_card(CardId::from_u64(1), 7).unwrap());
//!
//! // Online load of 20.00, authorized by the issuer host.
//! let mut issuer = IssuerHost::new(schemes.purse.clone());
//! ch.power_on(Interface::Contactless).unwrap();
//! load_purse(&mut CardLink::new(&mut ch), &install::purse_aid(), &mut issuer, 2_000, 1_764_054_000).unwrap();
//! ch.power_off();
//!
//! // Two gates, each with its own SAM (purchase master key, terminal id).
//! let gate = |station, dir, tid| {
//!     let sam = Sam::new(TerminalId::from_u64(tid), schemes.purse.purchase.clone(), install::purse_aid(), 1);
//!     GateTerminal::new(station, dir, FareTable::demo().unwrap(), schemes.transit.clone(),
//!                       install::transit_aid(), sam, 300_000, Box::new(StdStopwatch::new()))
//! };
//! let mut entry = gate(1, Direction::In, 0x10);
//! let mut exit = gate(3, Direction::Out, 0x11);
//! assert!(entry.tap(&mut ch, 1_764_054_000).unwrap().open);
//! let out = exit.tap(&mut ch, 1_764_055_200).unwrap();
//! assert_eq!((out.charged, out.balance), (250, 1_750));
//!
//! // The exit gate uploads its proof; the clearing settles it once.
//! let mut clearing = Clearing::new(schemes.purse.clone());
//! clearing.register_terminal(TerminalId::from_u64(0x11), "METRO");
//! let proofs = exit.take_proofs();
//! assert!(clearing.submit(&proofs[0]).is_ok());
//! assert!(clearing.submit(&proofs[0]).is_err()); // duplicate
//! assert_eq!(clearing.settle()[0].net, 250);
//! ```

pub mod codec;
pub mod install;
pub mod keys;
pub mod log;
pub mod loyalty;
pub mod parking;
pub mod purse;
pub mod record;
pub mod select;
pub mod sw;
pub mod terminal;
pub mod transit;

pub use keys::{CardId, TerminalId};
pub use terminal::{CardLink, TerminalError};
