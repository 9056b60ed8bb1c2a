//! # lamina-host — Lamina's issuer and acquirer host
//!
//! ISO 8583 over TCP in, an issuer decision, a double-entry ledger on SQLite or
//! PostgreSQL, clearing and settlement, a back-office HTTP API. Design and conventions:
//! `docs/host.md`; figures: `docs/performance.md`.
//!
//! * [`store`]: one interface, SQLite (WAL) or PostgreSQL, the same migrations;
//! * [`keys`]: host keys and the PAN vault (keyed hash + AES-GCM, never the plain PAN);
//! * [`ledger`]: accounts, balanced entries, holds, [`ledger::check_ledger`];
//! * [`cards`]: issuance, status, issuer script queue;
//! * [`issuer`]: [`issuer::Issuer::authorize`], the in-process API (0100/0200/0220/0400),
//!   with the pure decision in [`issuer::decision`];
//! * [`iso`], [`server`], [`client`]: ISO 8583 mapping, the tokio TCP server, a pipelining
//!   client;
//! * [`settle`]: clearing, settlement, 0500 reconciliation;
//! * [`api`], [`metrics`], [`page`]: axum back office, `/metrics`, `/openapi.json`,
//!   keyset paging of every list;
//! * [`load`], [`sim`]: load generator and the simulated card computing real ARQCs;
//! * [`service`]: run the whole host; [`clock`]: injected time.

pub mod api;
mod batch;
pub mod cards;
pub mod clock;
pub mod error;
mod hot;
pub mod iso;
pub mod issuer;
pub mod keys;
pub mod ledger;
pub mod load;
pub mod metrics;
pub mod page;
pub mod server;
pub mod service;
pub mod settle;
pub mod sim;
pub mod store;

pub use error::{HostError, Result};
