//! The terminal side's view of a card: [`CardChannel`], shared by the
//! in-process emulator ([`EmulatedCard`]), PC/SC readers and vpcd bridges.

use crate::atr::{Interface, Protocol};
use crate::os::{Card, CardError};

/// Why an exchange with a card failed (no response APDU).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// No card in the reader or field.
    #[error("no card present")]
    NoCard,
    /// The card is present but not powered: call `power_on` first.
    #[error("card not powered")]
    PoweredOff,
    /// The card stopped answering during the command (removed from the field, or
    /// a simulated tear); it is now unpowered.
    #[error("card lost power during the command (removed or torn)")]
    CardRemoved,
    /// A transport failure of a reader (PC/SC, vpcd …).
    #[error("transport: {0}")]
    Transport(String),
}

impl From<CardError> for ChannelError {
    fn from(e: CardError) -> Self {
        match e {
            CardError::PoweredOff => ChannelError::PoweredOff,
            CardError::PowerLost => ChannelError::CardRemoved,
            other => ChannelError::Transport(other.to_string()),
        }
    }
}

/// A connection to a card, as a terminal sees it.
pub trait CardChannel {
    /// Cold reset (contact) or field on and RATS (contactless): returns the ATR or
    /// the ATS.
    fn power_on(&mut self, interface: Interface) -> Result<Vec<u8>, ChannelError>;
    /// Sends a command APDU and returns the response APDU (data ‖ SW1 SW2).
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError>;
    /// Power off (contact deactivation, or field off).
    fn power_off(&mut self);
    /// Warm reset on the same interface: returns the ATR or ATS again.
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError>;
}

/// The in-process emulator as a [`CardChannel`].
#[derive(Debug)]
pub struct EmulatedCard {
    card: Card,
    contact_protocol: Protocol,
    present: bool,
    interface: Option<Interface>,
}

impl EmulatedCard {
    /// Inserts `card`; on the contact interface the terminal uses T=1.
    pub fn new(card: Card) -> Self {
        EmulatedCard {
            card,
            contact_protocol: Protocol::T1,
            present: true,
            interface: None,
        }
    }

    /// Chooses the contact protocol (T=0 or T=1; the ATR offers both).
    pub fn with_contact_protocol(mut self, p: Protocol) -> Self {
        self.contact_protocol = p;
        self
    }

    /// The card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The card, mutable (to arm power cuts, inspect records …).
    pub fn card_mut(&mut self) -> &mut Card {
        &mut self.card
    }

    /// Takes the card out.
    pub fn into_card(self) -> Card {
        self.card
    }

    /// Removes the card from the reader (it loses power).
    pub fn remove(&mut self) {
        self.card.power_off();
        self.present = false;
        self.interface = None;
    }

    /// Puts the card back.
    pub fn insert(&mut self) {
        self.present = true;
    }
}

impl CardChannel for EmulatedCard {
    fn power_on(&mut self, interface: Interface) -> Result<Vec<u8>, ChannelError> {
        if !self.present {
            return Err(ChannelError::NoCard);
        }
        self.interface = Some(interface);
        Ok(self.card.power_on(interface, self.contact_protocol)?)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        if !self.present {
            return Err(ChannelError::NoCard);
        }
        Ok(self.card.process(apdu)?)
    }

    fn power_off(&mut self) {
        self.card.power_off();
        self.interface = None;
    }

    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        let iface = self.interface.ok_or(ChannelError::PoweredOff)?;
        self.card.power_off();
        self.power_on(iface)
    }
}
