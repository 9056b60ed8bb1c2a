//! # lamina-applets — card applets for the Lamina chip OS
//!
//! | module | applet | spec |
//! |---|---|---|
//! | [`emv`] | EMV payment application (contact and contactless) | EMV 4.4 Books 2 and 3 |
//!
//! Applets plug into [`lamina_card`]: register their class in a [`lamina_card::Rom`]
//! and install instances on a [`lamina_card::Card`].

pub mod emv;
