//! # lamina-link — the ISO 8583 link
//!
//! What both ends of an ISO 8583 connection share, and nothing of either end's
//! business: the acquirer side (`lamina-acquirer`, the gates, the load
//! generator) and the host's listener (`lamina-host`) both build on it.
//!
//! | module | what | spec |
//! |---|---|---|
//! | [`framing`] | 2-byte big-endian length prefix per message | Lamina ISO 8583 profile (docs/iso8583.md §2) |
//! | [`client`] | a pipelining client: many requests in flight on one connection, answers matched by DE 11 + DE 41 | ISO 8583:1987 §4 (STAN, terminal id) |
//! | [`tls`] | rustls server and client configuration from PEM, mutual TLS, a generated test PKI | RFC 8446 |
//!
//! `cargo tree -p lamina-acquirer` holds no database, web framework or host
//! code: the link is all it needs of the network.

pub mod client;
pub mod framing;
pub mod tls;

pub use client::{ClientError, HostClient};
