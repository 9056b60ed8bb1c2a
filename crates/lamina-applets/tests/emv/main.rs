//! Integration tests of the EMV applet (one test binary).

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

mod bureau;
mod commands;
mod perso;
mod props;
mod purchase;
mod scripts;
mod support;
mod tearing;
