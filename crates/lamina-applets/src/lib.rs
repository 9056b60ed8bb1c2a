//! # lamina-applets — card applets for the Lamina chip OS
//!
//! | module | applet | spec |
//! |---|---|---|
//! | [`emv`] | EMV payment application (contact and contactless) | EMV 4.4 Books 2 and 3 |
//!
//! Applets plug into [`lamina_card`]: register their class in a [`lamina_card::Rom`]
//! and install instances on a [`lamina_card::Card`].
//!
//! ```
//! use lamina_applets::emv::{CvnChoice, testing};
//! use lamina_card::{CardChannel, Interface};
//!
//! let perso = testing::sample_personalization(CvnChoice::EmvCcd).unwrap();
//! let mut card = testing::test_card(&perso, None, 1).unwrap();
//! card.power_on(Interface::Contact).unwrap();
//! let r = card.transmit(&hex::decode("00A4040008F04C414D494E414500").unwrap()).unwrap();
//! assert_eq!(&r[r.len() - 2..], &[0x90, 0x00]);
//! // GET DATA ATC: 0000 on a new card.
//! let r = card.transmit(&hex::decode("80CA9F3600").unwrap()).unwrap();
//! assert_eq!(r, hex::decode("9F360200009000").unwrap());
//! ```

pub mod emv;
