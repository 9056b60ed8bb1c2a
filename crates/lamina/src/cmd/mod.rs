//! One module per top-level command.

pub mod apdu;
pub mod crypto;
pub mod demo;
pub mod dol;
pub mod tlv;
