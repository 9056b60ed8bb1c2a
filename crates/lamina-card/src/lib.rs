//! # lamina-card — the chip OS of Lamina's smart-card emulator
//!
//! A card here is what a Java Card or MULTOS chip is: an OS that owns the
//! persistent memory, answers reset, routes APDUs to applets and enforces the
//! life cycles; and applets (EMV payment, purse, loyalty, transit …) that see
//! only their own memory. Pure code: no I/O, no clock, no threads; randomness is
//! injected ([`CardRng`]).
//!
//! ## Map
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`nvm`] | persistent records, transactions, `write_now`, power-cut simulator | Java Card RE §7 |
//! | [`image`] | the card as JSON, format `lamina-card-image/1` | — |
//! | [`atr`] | ATR (contact), ATS (contactless), ATR decoder | ISO/IEC 7816-3 §8, ISO/IEC 14443-4 §5.2 |
//! | [`os`] | [`Card`]: power, dispatch, SELECT, PSE/PPSE, GET RESPONSE | ISO/IEC 7816-4 §5, §11; EMV Book 1 §11–12 |
//! | [`applet`] | [`Applet`] trait, [`AppletContext`], [`Install`], [`Rom`] | — |
//! | [`lifecycle`] | card and application life cycles | GlobalPlatform 2.3 §5; EMV Book 3 §6.5.1–3 |
//! | [`channel`] | [`CardChannel`] for terminals, [`EmulatedCard`] | PC/SC-style |
//! | [`applets::counter`] | demo applet used by the tests | — |
//! | [`testing`] | ready-made demo card, invariant check, fuzzing driver | — |
//!
//! ## Writing an applet (for the EMV payment applet and others)
//!
//! 1. Implement [`Applet`]: `select` returns the FCI, `process` answers every
//!    other command routed to the applet, `deselect` clears session state. Return
//!    `Err(status_word)` to refuse: decode each APDU into a typed command with
//!    `TryFrom<&Command, Error = StatusWord>`, so the decode error *is* the
//!    status word (`6700` length, `6A86` P1/P2, `6D00` instruction, `6E00` class).
//! 2. **Volatile state** (RAM) is the applet struct's fields: the OS builds the
//!    applet from its [`Rom`] factory at every power-up/reset and drops it when
//!    power is lost. Keep there what EMV keeps per transaction (GPO done, CVM
//!    result, first GENERATE AC answered …).
//! 3. **Persistent state** (NVM) goes through [`AppletContext::nvm`], a
//!    [`nvm::Namespace`] that can only reach this applet's records (the firewall is
//!    a type: applets never see [`nvm::Nvm`]). Records are `key → bytes` with
//!    typed helpers (`read_u16`/`write_u16` for the ATC …).
//!    * Group the writes of one logical update in `begin()` … `commit()`: after a
//!      tear, all or none of them are in NVM. A transaction still open when
//!      `process` returns is aborted.
//!    * Counters that must never repeat and try counters use
//!      [`nvm::Namespace::write_now`] **before** the action they guard: the ATC is
//!      incremented with `write_now` before the cryptogram is computed; the PIN
//!      try counter is decremented with `write_now` before the PIN is compared,
//!      and reset with `write_now` after a match.
//!    * Propagate [`nvm::NvmError`] with `?`: it converts into a status word
//!      (`6581`); after a simulated tear the OS discards the response anyway.
//! 4. Randomness (GET CHALLENGE, ICC Dynamic Number `9F4C`, unpredictable data for
//!    signatures) comes from [`AppletContext::rng`] / [`AppletContext::random`].
//! 5. Life cycle: [`AppletContext::card_life_cycle`] (refuse payment functions
//!    before `Personalized`), [`AppletContext::app_life_cycle`] (when `Blocked`,
//!    SELECT still succeeds with `6283` and the applet must decline: GPO `6985`);
//!    issuer script commands call [`AppletContext::block_application`],
//!    [`AppletContext::unblock_application`], [`AppletContext::block_card`].
//! 6. Register the class in a [`Rom`] (`Rom::new().with_class("lamina.emv", |i|
//!    Box::new(EmvApplet::new(i)))`) and install instances with [`Install`]
//!    (AID, label `50`, priority `87`, preferred name `9F12`, interfaces, install
//!    parameters, extra directory-entry TLVs such as `9F2A` Kernel Identifier).
//!    The OS builds the PSE/PPSE directories from these entries.
//!
//! ## What the OS answers itself
//!
//! In this order, for every command APDU:
//!
//! 1. malformed length fields (not a valid case 1–4 APDU) → `6700`;
//! 2. card blocked → `6A81` for every command;
//! 3. class: `FF` and `20`–`3F` → `6E00`; logical channels other than 0 → `6881`;
//!    command chaining → `6884`; secure messaging on SELECT, GET RESPONSE or
//!    MANAGE CHANNEL → `6882` (other commands with SM go to the applet);
//! 4. interindustry GET RESPONSE (`00 C0`) → remaining data (`6985` when none);
//! 5. interindustry SELECT (`00 A4`): P1 must be `04` (by DF name) and P2 `00`
//!    (first) / `02` (next occurrence), optionally `0C` (no FCI) → else `6A86`;
//!    name length 1..=16 → else `6700`; the name matches an AID it equals or
//!    prefixes (partial selection), among the PSE (contact), the PPSE
//!    (contactless) and the applets available on the interface whose life cycle is
//!    not `Installed`, in installation order; next occurrence searches after the
//!    current DF; no match → `6A82` (selection unchanged); on a match the current
//!    applet is deselected first, and if the new applet's `select` refuses, no DF
//!    stays selected;
//! 6. MANAGE CHANNEL → `6881` (one channel only);
//! 7. everything else goes to the selected applet; with the PSE selected, READ
//!    RECORD reads the directory (SFI 1, one entry per record, `6A83` after the
//!    last, other SFI `6A82`); proprietary classes without an applet → `6E00`,
//!    other instructions → `6D00`.
//!
//! Response data then follows the transmission protocol ([`atr::Protocol`]): under
//! T=0 `61xx` + GET RESPONSE and `6Cxx`; under T=1 and ISO/IEC 14443-4 data longer
//! than Ne is cut and the rest announced with `61xx`.
//!
//! ## Tearing
//!
//! [`Card::arm_power_cut`] with [`PowerCut::after_writes`]`(k)` lets `k` low-level
//! NVM writes land and tears the card on the next: [`Card::process`] returns
//! [`CardError::PowerLost`], RAM is gone, and [`Card::power_on`] recovers the NVM.
//! [`Card::last_command_writes`] gives the number of writes of a command, so a
//! test can tear it at every point.
//!
//! ```
//! use lamina_card::{Aid, Card, CardChannel, EmulatedCard, Install, Interface, Rom, SeededRng};
//! use lamina_card::applets::counter::{CounterApplet, CLASS};
//! use lamina_card::lifecycle::CardLifeCycle;
//!
//! let rom = Rom::new().with_class(CLASS, |_| Box::new(CounterApplet::new()));
//! let mut card = Card::new(rom, SeededRng::new(1));
//! let aid = Aid::from_hex("F04C414D494E4101").unwrap();
//! card.install(Install::new(aid, CLASS).label("COUNTER").priority(1)).unwrap();
//! card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
//!
//! let mut ch = EmulatedCard::new(card);
//! let atr = ch.power_on(Interface::Contact).unwrap();
//! assert_eq!(atr[0], 0x3B);
//! let r = ch.transmit(&hex::decode("00A4040008F04C414D494E410100").unwrap()).unwrap();
//! assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
//! let r = ch.transmit(&hex::decode("801000000400000005").unwrap()).unwrap();
//! assert_eq!(r, hex::decode("000000059000").unwrap());
//! ```

pub mod aid;
pub mod applet;
pub mod applets;
pub mod atr;
pub mod channel;
pub mod image;
pub mod iso14443;
pub mod lifecycle;
pub mod nvm;
pub mod os;
pub mod rng;
pub mod testing;

pub use aid::{Aid, AidError};
pub use applet::{ApduResult, Applet, AppletContext, AppletFactory, Install, Rom};
pub use atr::{Interface, Protocol};
pub use channel::{CardChannel, ChannelError, EmulatedCard};
pub use image::{ChipConfig, FORMAT, ImageError};
pub use iso14443::{BitRate, ContactlessLink, LinkConfig, LinkStats, Removal};
pub use lifecycle::{AppLifeCycle, CardLifeCycle};
pub use nvm::{Namespace, NvmError, PowerCut};
pub use os::{Card, CardError};
pub use rng::{CardRng, RandBridge, SeededRng};
