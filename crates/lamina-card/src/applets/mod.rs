//! Small applets shipped with the OS.

pub mod counter;
