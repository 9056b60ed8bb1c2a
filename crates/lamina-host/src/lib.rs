//! # lamina-host — Lamina's issuer and acquirer host
//!
//! * [`store`]: storage behind one interface, SQLite (WAL) or PostgreSQL, same migrations;
//! * [`keys`]: host keys and the PAN vault (keyed hash + AES-GCM, never the plain PAN);
//! * [`clock`]: injected time.
//!
//! See `docs/host.md` for the design and the ISO 8583 usage.

pub mod api;
mod batch;
pub mod cards;
pub mod client;
pub mod clock;
pub mod error;
pub mod iso;
pub mod issuer;
pub mod keys;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod server;
pub mod service;
pub mod settle;
pub mod sim;
pub mod store;

pub use error::{HostError, Result};
