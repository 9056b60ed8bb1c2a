//! One module per top-level command.

pub mod apdu;
pub mod card;
pub mod closedloop;
pub mod crypto;
pub mod demo;
pub mod dol;
pub mod host;
pub mod issuer;
pub mod perso;
pub mod reader;
pub mod terminal;
pub mod tlv;
