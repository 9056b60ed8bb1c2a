//! # lamina-apdu — command and response APDUs (ISO/IEC 7816-4 §5, ISO/IEC 7816-3 §12)
//!
//! * [`Command`]: cases 1–4 in short and extended length form, parse and encode;
//! * [`Response`] and [`StatusWord`]: the status word with its ISO 7816-4 and EMV
//!   meaning from a table ([`status::TABLE`]);
//! * [`Ins`]: instruction codes used by EMV and ISO 7816-4 (open enum);
//! * [`t0`]: the T=0 helpers (GET RESPONSE after `61xx`, re-send after `6Cxx`).
//!
//! Pure code: no I/O, no panics on input.

mod command;
mod ins;
pub mod status;
pub mod t0;

pub use command::{Case, Command, Error};
pub use ins::Ins;
pub use status::{Response, StatusWord};
