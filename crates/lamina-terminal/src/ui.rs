//! The cardholder and attendant interface: EMV standard messages (EMV Book 4 §11.2,
//! Table 9) and the [`Screen`] / [`PinPad`] traits the kernel talks through, so a
//! CLI, a web page or a test can be the terminal's face.

use lamina_crypto::pin::Pin;
use serde::Serialize;

/// The EMV standard messages (Book 4 §11.2, Table 9), with their message
/// identifiers. In JSON a message is its display text ("ENTER PIN").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// '01' AMOUNT.
    Amount,
    /// '02' AMOUNT OK?
    AmountOk,
    /// '03' APPROVED.
    Approved,
    /// '04' CALL YOUR BANK.
    CallYourBank,
    /// '05' CANCEL OR ENTER.
    CancelOrEnter,
    /// '06' CARD ERROR.
    CardError,
    /// '07' DECLINED.
    Declined,
    /// '08' ENTER AMOUNT.
    EnterAmount,
    /// '09' ENTER PIN.
    EnterPin,
    /// '0A' INCORRECT PIN.
    IncorrectPin,
    /// '0B' INSERT CARD.
    InsertCard,
    /// '0C' NOT ACCEPTED.
    NotAccepted,
    /// '0D' PIN OK.
    PinOk,
    /// '0E' PLEASE WAIT.
    PleaseWait,
    /// '0F' PROCESSING ERROR.
    ProcessingError,
    /// '10' REMOVE CARD.
    RemoveCard,
    /// '11' USE CHIP READER.
    UseChipReader,
    /// '12' USE MAG STRIPE.
    UseMagStripe,
    /// '13' TRY AGAIN.
    TryAgain,
}

impl Message {
    /// The message identifier (Book 4 Table 9).
    pub const fn id(self) -> u8 {
        match self {
            Message::Amount => 0x01,
            Message::AmountOk => 0x02,
            Message::Approved => 0x03,
            Message::CallYourBank => 0x04,
            Message::CancelOrEnter => 0x05,
            Message::CardError => 0x06,
            Message::Declined => 0x07,
            Message::EnterAmount => 0x08,
            Message::EnterPin => 0x09,
            Message::IncorrectPin => 0x0A,
            Message::InsertCard => 0x0B,
            Message::NotAccepted => 0x0C,
            Message::PinOk => 0x0D,
            Message::PleaseWait => 0x0E,
            Message::ProcessingError => 0x0F,
            Message::RemoveCard => 0x10,
            Message::UseChipReader => 0x11,
            Message::UseMagStripe => 0x12,
            Message::TryAgain => 0x13,
        }
    }

    /// The English text of Book 4 Table 9.
    pub const fn text(self) -> &'static str {
        match self {
            Message::Amount => "AMOUNT",
            Message::AmountOk => "AMOUNT OK?",
            Message::Approved => "APPROVED",
            Message::CallYourBank => "CALL YOUR BANK",
            Message::CancelOrEnter => "CANCEL OR ENTER",
            Message::CardError => "CARD ERROR",
            Message::Declined => "DECLINED",
            Message::EnterAmount => "ENTER AMOUNT",
            Message::EnterPin => "ENTER PIN",
            Message::IncorrectPin => "INCORRECT PIN",
            Message::InsertCard => "INSERT CARD",
            Message::NotAccepted => "NOT ACCEPTED",
            Message::PinOk => "PIN OK",
            Message::PleaseWait => "PLEASE WAIT",
            Message::ProcessingError => "PROCESSING ERROR",
            Message::RemoveCard => "REMOVE CARD",
            Message::UseChipReader => "USE CHIP READER",
            Message::UseMagStripe => "USE MAG STRIPE",
            Message::TryAgain => "TRY AGAIN",
        }
    }
}

impl Serialize for Message {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.text())
    }
}

impl core::fmt::Display for Message {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.text())
    }
}

/// Something the kernel tells the UI besides a standard message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// A standard message to display.
    Message(Message),
    /// The application chosen (label and AID in hex).
    ApplicationSelected {
        /// Application label or preferred name.
        label: String,
        /// AID, hex.
        aid: String,
    },
    /// PIN tries left after a wrong PIN (from `63Cx`).
    PinTriesLeft(u8),
    /// The last PIN try (Book 4 §6.3.4.1 allows an extra message).
    LastPinTry,
    /// Connecting to the acquirer.
    GoingOnline,
    /// Issuer referral or decline text from the acquirer.
    IssuerMessage(String),
    /// The cardholder must sign the receipt.
    SignatureRequired,
}

/// What a screen shows for the event: the standard message, the application
/// label in brackets, or a short note in parentheses.
impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Event::Message(m) => write!(f, "{m}"),
            Event::ApplicationSelected { label, .. } => write!(f, "[{label}]"),
            Event::PinTriesLeft(n) => write!(f, "({n} PIN tries left)"),
            Event::LastPinTry => f.write_str("LAST PIN TRY"),
            Event::GoingOnline => f.write_str("(online)"),
            Event::IssuerMessage(t) => write!(f, "issuer: {t}"),
            Event::SignatureRequired => f.write_str("SIGN RECEIPT"),
        }
    }
}

/// One application offered to the cardholder (Book 1 §12.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CandidateView {
    /// Label to show (preferred name, label, or terminal's name).
    pub label: String,
    /// AID in hex.
    pub aid: String,
    /// Application priority indicator, if any.
    pub priority: Option<u8>,
}

/// The display, and the cardholder's choices.
pub trait Screen {
    /// Shows an event (standard message or other information).
    fn show(&mut self, event: &Event);

    /// Lets the cardholder choose one of several applications (Book 1 §12.4 step 2);
    /// returns its index, or `None` to cancel. The default takes the first.
    fn choose_application(&mut self, candidates: &[CandidateView]) -> Option<usize> {
        if candidates.is_empty() { None } else { Some(0) }
    }

    /// Asks the cardholder to confirm the only application (Book 1 §12.4 step 1);
    /// the default confirms.
    fn confirm_application(&mut self, _candidate: &CandidateView) -> bool {
        true
    }
}

/// What the PIN pad returned.
#[derive(Debug)]
pub enum PinEntry {
    /// A PIN (digits held zeroized, never printed).
    Pin(Pin),
    /// The cardholder or attendant bypassed PIN entry (Book 4 §6.3.4.5).
    Bypassed,
    /// The PIN pad is not present or not working.
    Unavailable,
}

/// Why the kernel asks for a PIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PinPurpose {
    /// Offline PIN (plaintext or enciphered) verified by the card.
    Offline,
    /// Online PIN verified by the issuer.
    Online,
}

/// The PIN entry device.
pub trait PinPad {
    /// Prompts (the kernel has shown ENTER PIN) and returns the entry.
    fn request_pin(&mut self, purpose: PinPurpose, attempt: u8) -> PinEntry;
}

/// A screen that remembers every event (tests, JSON output).
#[derive(Debug, Default, Clone)]
pub struct RecordingScreen {
    /// Every event in order.
    pub events: Vec<Event>,
    /// Index chosen when several applications are offered.
    pub choice: Option<usize>,
}

impl RecordingScreen {
    /// The standard messages shown, in order.
    pub fn messages(&self) -> Vec<Message> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some(*m),
                _ => None,
            })
            .collect()
    }
}

impl Screen for RecordingScreen {
    fn show(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
    fn choose_application(&mut self, candidates: &[CandidateView]) -> Option<usize> {
        if candidates.is_empty() {
            None
        } else {
            Some(self.choice.unwrap_or(0).min(candidates.len() - 1))
        }
    }
}

/// A PIN pad that types the PINs of a list in turn (tests, the CLI's `--pin`).
#[derive(Debug, Default)]
pub struct ScriptedPinPad {
    entries: std::collections::VecDeque<Option<String>>,
    absent: bool,
    /// Number of PIN requests made.
    pub requests: usize,
}

impl ScriptedPinPad {
    /// Enters these PINs in order (`None` = bypass); then reports bypass.
    pub fn new<I: IntoIterator<Item = Option<S>>, S: Into<String>>(entries: I) -> Self {
        ScriptedPinPad {
            entries: entries.into_iter().map(|e| e.map(Into::into)).collect(),
            absent: false,
            requests: 0,
        }
    }

    /// A PIN pad that is not there (every request answers [`PinEntry::Unavailable`]).
    pub fn absent() -> Self {
        ScriptedPinPad {
            absent: true,
            ..Self::default()
        }
    }
}

impl PinPad for ScriptedPinPad {
    fn request_pin(&mut self, _purpose: PinPurpose, _attempt: u8) -> PinEntry {
        self.requests += 1;
        if self.absent {
            return PinEntry::Unavailable;
        }
        match self.entries.pop_front() {
            Some(Some(p)) => match Pin::new(&p) {
                Ok(pin) => PinEntry::Pin(pin),
                Err(_) => PinEntry::Unavailable,
            },
            Some(None) | None => PinEntry::Bypassed,
        }
    }
}
