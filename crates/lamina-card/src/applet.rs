//! The applet API: what an applet implements ([`Applet`]) and what the OS gives
//! it ([`AppletContext`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use lamina_apdu::{Command, Response, StatusWord};
use serde::{Deserialize, Serialize};

use crate::aid::Aid;
use crate::atr::{Interface, Protocol};
use crate::lifecycle::{AppLifeCycle, CARD_LC_KEY, CardLifeCycle, OS_NS, app_lc_key};
use crate::nvm::{HexBytes, Namespace, Nvm, NvmError};
use crate::rng::CardRng;

/// What the OS answers for a command, or the status word that refuses it
/// (opcard-rs style: a parse or check failure *is* the status word).
pub type ApduResult = Result<Response, StatusWord>;

/// A card application.
///
/// The applet object itself is **volatile** (RAM): the OS creates it from its
/// [`Rom`] class at every power-up and reset and drops it at power loss, so its
/// fields hold per-session state (the selected state, a verified PIN flag,
/// GENERATE AC progress …). Everything that must survive goes through
/// [`AppletContext::nvm`].
///
/// The OS handles SELECT (by AID, partial AID, next occurrence), GET RESPONSE,
/// MANAGE CHANNEL, class checks for interindustry commands and the life cycle;
/// see the [crate documentation](crate) for the dispatch rules.
pub trait Applet: Send {
    /// The applet is being selected. Return the FCI (EMV Book 1 §11.3.4: `6F`
    /// template with `84` DF name and `A5` proprietary template) with `9000`; if
    /// the application is blocked ([`AppletContext::app_life_cycle`]), the OS
    /// replaces the status word with `6283`. An `Err` refuses the selection: the
    /// status word is returned and no applet is selected.
    fn select(&mut self, ctx: &mut AppletContext<'_>) -> ApduResult;

    /// Processes a command while selected. Return `Err(StatusWord::INS_NOT_SUPPORTED)`
    /// (`6D00`) for an unknown instruction, `6E00` for an unknown class, `6A86` for
    /// wrong P1/P2 and `6700` for a wrong length.
    ///
    /// A transaction left open when this returns is aborted by the OS (Java Card
    /// Runtime Environment §7.6). After a simulated power loss every NVM call
    /// returns [`NvmError::PowerLost`]: propagate it (the OS discards the response
    /// anyway).
    fn process(&mut self, ctx: &mut AppletContext<'_>, cmd: &Command) -> ApduResult;

    /// Another DF is being selected (not called at power loss or reset: RAM is gone).
    fn deselect(&mut self, _ctx: &mut AppletContext<'_>) {}
}

/// How an applet instance is installed: its AID, directory entry data and
/// install parameters. This is the registry entry stored in the card image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Install {
    /// Application identifier (hex in the image).
    #[serde(with = "aid_hex")]
    pub aid: Aid,
    /// Name of the applet class in the card's [`Rom`].
    pub class: String,
    /// Application Label (tag `50`, EMV Book 3 Annex A: 1–16 characters ans).
    pub label: String,
    /// Application Preferred Name (tag `9F12`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_name: Option<String>,
    /// Application Priority Indicator (tag `87`, EMV Book 1 §12.2.3), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Interfaces on which the application is selectable and listed (PSE on
    /// contact, PPSE on contactless).
    pub interfaces: Vec<Interface>,
    /// Install parameters for the class (hex in the image).
    #[serde(default)]
    pub params: HexBytes,
    /// Extra BER-TLV objects appended to this application's `61` entry in the
    /// PSE directory (e.g. `73` Directory Discretionary Template; EMV Book 1
    /// §12.2.3 Table 47).
    #[serde(default, skip_serializing_if = "HexBytes::is_empty")]
    pub pse_entry_extra: HexBytes,
    /// Extra BER-TLV objects appended to this application's `61` entry in the
    /// PPSE FCI (e.g. `9F2A` Kernel Identifier, `9F0A` Application Selection
    /// Registered Proprietary Data; EMV Contactless Book B §3.3.1).
    #[serde(default, skip_serializing_if = "HexBytes::is_empty")]
    pub ppse_entry_extra: HexBytes,
}

impl Install {
    /// An installation of `class` under `aid`, on both interfaces, with an empty
    /// label.
    pub fn new(aid: Aid, class: impl Into<String>) -> Self {
        Install {
            aid,
            class: class.into(),
            label: String::new(),
            preferred_name: None,
            priority: None,
            interfaces: vec![Interface::Contact, Interface::Contactless],
            params: HexBytes::default(),
            pse_entry_extra: HexBytes::default(),
            ppse_entry_extra: HexBytes::default(),
        }
    }

    /// Sets the Application Label.
    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    /// Sets the Application Preferred Name.
    pub fn preferred_name(mut self, name: impl Into<String>) -> Self {
        self.preferred_name = Some(name.into());
        self
    }

    /// Sets the Application Priority Indicator.
    pub fn priority(mut self, p: u8) -> Self {
        self.priority = Some(p);
        self
    }

    /// Restricts the interfaces.
    pub fn interfaces(mut self, i: &[Interface]) -> Self {
        self.interfaces = i.to_vec();
        self
    }

    /// Sets the install parameters.
    pub fn params(mut self, p: impl Into<Vec<u8>>) -> Self {
        self.params = HexBytes(p.into());
        self
    }

    /// Sets extra TLV objects for the PSE directory entry.
    pub fn pse_entry_extra(mut self, tlv: impl Into<Vec<u8>>) -> Self {
        self.pse_entry_extra = HexBytes(tlv.into());
        self
    }

    /// Sets extra TLV objects for the PPSE directory entry (e.g. `9F2A01 02`).
    pub fn ppse_entry_extra(mut self, tlv: impl Into<Vec<u8>>) -> Self {
        self.ppse_entry_extra = HexBytes(tlv.into());
        self
    }

    /// Checks the entry: label and preferred name 1–16 printable ASCII characters
    /// (EMV Book 3 Annex A: format ans 1–16), the extra directory data well-formed
    /// BER-TLV.
    pub fn validate(&self) -> Result<(), String> {
        let ans =
            |s: &str| (1..=16).contains(&s.len()) && s.bytes().all(|b| (0x20..=0x7E).contains(&b));
        if !ans(&self.label) {
            return Err(format!(
                "label {:?}: expected 1-16 printable ASCII characters",
                self.label
            ));
        }
        if let Some(n) = &self.preferred_name
            && !ans(n)
        {
            return Err(format!(
                "preferred name {n:?}: expected 1-16 printable ASCII characters"
            ));
        }
        for (what, v) in [
            ("PSE", &self.pse_entry_extra),
            ("PPSE", &self.ppse_entry_extra),
        ] {
            lamina_tlv::Tlv::parse_all(&v.0)
                .map_err(|e| format!("{what} directory extra data: {e}"))?;
        }
        Ok(())
    }

    /// True if the application is available on `iface`.
    pub fn on(&self, iface: Interface) -> bool {
        self.interfaces.contains(&iface)
    }
}

mod aid_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::aid::Aid;

    pub fn serialize<S: Serializer>(a: &Aid, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&a.to_hex())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Aid, D::Error> {
        let s = String::deserialize(d)?;
        Aid::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// Creates an applet instance from its [`Install`] entry.
pub type AppletFactory = Arc<dyn Fn(&Install) -> Box<dyn Applet> + Send + Sync>;

/// The applet classes present on the chip ("ROM" or loaded packages), by name.
#[derive(Clone, Default)]
pub struct Rom {
    classes: BTreeMap<String, AppletFactory>,
}

impl Rom {
    /// A ROM without classes.
    pub fn new() -> Self {
        Rom::default()
    }

    /// Adds a class.
    pub fn with_class(
        mut self,
        name: impl Into<String>,
        factory: impl Fn(&Install) -> Box<dyn Applet> + Send + Sync + 'static,
    ) -> Self {
        self.classes.insert(name.into(), Arc::new(factory));
        self
    }

    /// The factory of a class.
    pub fn class(&self, name: &str) -> Option<&AppletFactory> {
        self.classes.get(name)
    }

    /// Names of the classes.
    pub fn class_names(&self) -> impl Iterator<Item = &str> {
        self.classes.keys().map(String::as_str)
    }
}

impl fmt::Debug for Rom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rom")
            .field("classes", &self.classes.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// What the OS gives an applet for one call: its own NVM namespace (the firewall:
/// there is no way to reach another applet's records), the card RNG, the
/// interface and protocol, and the life cycle states.
pub struct AppletContext<'a> {
    pub(crate) nvm: &'a mut Nvm,
    pub(crate) ns: &'a str,
    pub(crate) rng: &'a mut dyn CardRng,
    pub(crate) interface: Interface,
    pub(crate) protocol: Protocol,
    pub(crate) install: &'a Install,
}

impl fmt::Debug for AppletContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppletContext")
            .field("aid", &self.install.aid)
            .field("interface", &self.interface)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl AppletContext<'_> {
    /// The applet's NVM namespace (records, transactions, `write_now`).
    pub fn nvm(&mut self) -> Namespace<'_> {
        Namespace::new(self.nvm, self.ns)
    }

    /// The card's random number generator (GET CHALLENGE, ICC Dynamic Number).
    pub fn rng(&mut self) -> &mut dyn CardRng {
        &mut *self.rng
    }

    /// `N` random bytes from the card RNG.
    pub fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        self.rng.fill_bytes(&mut out);
        out
    }

    /// The interface the card is powered on.
    pub fn interface(&self) -> Interface {
        self.interface
    }

    /// The transmission protocol in use.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// This applet's installation entry (AID, label, priority, install parameters).
    pub fn install(&self) -> &Install {
        self.install
    }

    /// This applet's AID.
    pub fn aid(&self) -> &Aid {
        &self.install.aid
    }

    /// The card life cycle state.
    pub fn card_life_cycle(&self) -> CardLifeCycle {
        card_life_cycle(self.nvm)
    }

    /// This application's life cycle state.
    pub fn app_life_cycle(&self) -> AppLifeCycle {
        app_life_cycle(self.nvm, self.ns)
    }

    /// Blocks this application (EMV APPLICATION BLOCK, Book 3 §6.5.1): part of the
    /// open transaction if any, atomic otherwise.
    pub fn block_application(&mut self) -> Result<(), NvmError> {
        let key = app_lc_key(self.ns);
        self.nvm
            .write(OS_NS, &key, Some(&[AppLifeCycle::Blocked.code()]))
    }

    /// Unblocks this application (EMV APPLICATION UNBLOCK, Book 3 §6.5.2).
    pub fn unblock_application(&mut self) -> Result<(), NvmError> {
        let key = app_lc_key(self.ns);
        self.nvm
            .write(OS_NS, &key, Some(&[AppLifeCycle::Selectable.code()]))
    }

    /// Blocks the card permanently (EMV CARD BLOCK, Book 3 §6.5.3): this command
    /// still gets its response; every later command is answered `6A81`.
    pub fn block_card(&mut self) -> Result<(), NvmError> {
        self.nvm
            .write(OS_NS, CARD_LC_KEY, Some(&[CardLifeCycle::Blocked.code()]))
    }
}

pub(crate) fn card_life_cycle(nvm: &Nvm) -> CardLifeCycle {
    match nvm.read(OS_NS, CARD_LC_KEY) {
        Some([b]) => CardLifeCycle::from_code(*b),
        None => CardLifeCycle::OpReady,
        Some(_) => CardLifeCycle::Blocked,
    }
}

pub(crate) fn app_life_cycle(nvm: &Nvm, aid_hex: &str) -> AppLifeCycle {
    match nvm.read(OS_NS, &app_lc_key(aid_hex)) {
        Some([b]) => AppLifeCycle::from_code(*b),
        None => AppLifeCycle::Installed,
        Some(_) => AppLifeCycle::Blocked,
    }
}
