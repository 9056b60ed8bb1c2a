//! # lamina-accept — acceptance at the terminal
//!
//! What a terminal does around the kernels and applets, as library calls the
//! CLI, the demo and tests share:
//!
//! | module | what |
//! |---|---|
//! | [`field`] | an emulated chip in a contactless reader's field over ISO/IEC 14443-4: every exchange's radio and processing time, and the card identity a gate reader sees |
//! | [`openloop`] | the transit gate's open-loop EMV fare: tokenizing acquirer link with the gate's deny list, pre-authorization at tap in, completion (0220) or reversal (0400) of the hold, the gate state kept between taps |
//!
//! It sits above `lamina-acquirer` (the ISO 8583 link) and `lamina-closedloop`
//! (fares, journeys, capping): the binary parses arguments and prints reports.

pub mod field;
pub mod openloop;
