//! Integration tests of lamina-host: every storage-level test runs on SQLite and on a
//! private PostgreSQL cluster (see `host/pg.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test binary

#[path = "host/api.rs"]
mod api;
#[path = "host/common.rs"]
mod common;
#[path = "host/issuer.rs"]
mod issuer;
#[path = "host/ledger.rs"]
mod ledger;
#[path = "host/limits.rs"]
mod limits;
#[path = "host/load.rs"]
mod load;
#[path = "host/pg.rs"]
mod pg;
#[path = "host/props.rs"]
mod props;
#[path = "host/robust.rs"]
mod robust;
#[path = "host/server.rs"]
mod server;
#[path = "host/settle.rs"]
mod settle;
