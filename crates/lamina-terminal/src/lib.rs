//! # lamina-terminal — the EMV contact terminal kernel
//!
//! The transaction flow of EMV 4.4 Book 3 §10 and Book 4 §6 (application selection
//! from Book 1 §12) as named, typed steps (see [`kernel`]), with no I/O of its own:
//! the card, the screen and PIN pad, the acquirer, the clock and the random
//! generator are passed in.
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`config`] | terminal configuration in TOML (9F33, 9F35, 9F40, TACs, AIDs …) | Book 4 Annex A, Book 3 §10.6–10.7 |
//! | [`capk`] | CA public key store, CAPK file, revocation list | Book 2 §11.2, §5.3 |
//! | [`source`] | where a configuration finds the files it names: the built-in `terminals/*.toml`, texts in memory (no file I/O here) | — |
//! | [`kernel`] | selection → GPO → records → ODA → restrictions → CVM → TRM → TAA → GENERATE AC → online → scripts → completion | Book 1 §12, Book 3 §10 |
//! | `oda`, `cvm` | offline data authentication, cardholder verification | Book 3 §10.3, §10.5; Book 2 §5–7 |
//! | [`online`] | [`AcquirerLink`](online::AcquirerLink), online PIN encryption | Book 4 §12 |
//! | [`ui`] | standard messages, [`Screen`](ui::Screen), [`PinPad`](ui::PinPad) | Book 4 §11.2 |
//! | [`outcome`] | outcome, decoded TVR/TSI/CVM Results, receipt, batch record | Book 4 §11.4, §12.4 |
//! | [`clearing`] | offline advice of an offline approval (TC), store-and-forward queue | Book 4 §12.3, §12.4 |
//! | [`io`] | command constructors, T=0, APDU trace | Book 3 §6.5, Book 1 §9.3 |
//! | `testkit` (feature `testkit`) | a reference EMV test card, a host double with real cryptography, TEST keys | — |

pub mod capk;
pub mod clearing;
pub mod config;
pub mod contactless;
mod cvm;
pub mod data;
pub mod io;
pub mod kernel;
mod oda;
pub mod online;
pub mod outcome;
pub mod source;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod ui;

pub use clearing::{AdviceQueue, OfflineAdvice};
pub use config::TerminalConfig;
pub use contactless::{ContactlessConfig, ContactlessDevices, ContactlessResult, run_contactless};
pub use kernel::{Clock, DateTime, Devices, FixedClock, KernelError, TransactionRequest, run};
pub use outcome::{Outcome, Termination, TransactionResult};
