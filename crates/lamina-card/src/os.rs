//! The chip OS: power, answer-to-reset, command dispatch, SELECT, the PSE and
//! PPSE directories, GET RESPONSE and the life cycles.

use std::fmt;

use lamina_apdu::{Command, Response, StatusWord};
use lamina_tlv::{Tlv, TlvBuilder};

use crate::aid::Aid;
use crate::applet::{
    ApduResult, Applet, AppletContext, Install, Rom, app_life_cycle, card_life_cycle,
};
use crate::atr::{Interface, Protocol, ats, contact_atr};
use crate::image::{CardImage, ChipConfig, FORMAT, ImageError};
use crate::lifecycle::{AppLifeCycle, CARD_LC_KEY, CardLifeCycle, OS_NS, app_lc_key};
use crate::nvm::{Nvm, NvmContent, NvmError, PowerCut};
use crate::rng::CardRng;

/// DF name of the contact Payment System Environment (EMV Book 1 §12.2.2).
pub const PSE_NAME: &[u8] = b"1PAY.SYS.DDF01";
/// DF name of the contactless Proximity PSE (EMV Contactless Book B §3.3).
pub const PPSE_NAME: &[u8] = b"2PAY.SYS.DDF01";
/// SFI of the PSE directory file.
pub const PSE_DIRECTORY_SFI: u8 = 1;

/// Why the card could not do what was asked (the terminal sees these as a mute or
/// absent card, never as a status word).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// A command was sent while the card is not powered.
    #[error("card is not powered")]
    PoweredOff,
    /// The card lost power during the command (simulated tear): no response.
    #[error("card lost power during the command (tear)")]
    PowerLost,
    /// The ROM has no such applet class.
    #[error("no applet class {0:?} in the card ROM")]
    UnknownClass(String),
    /// An applet with this AID is already installed.
    #[error("AID {0} already installed")]
    DuplicateAid(Aid),
    /// An install entry with a bad label, preferred name or directory data.
    #[error("install entry: {0}")]
    BadInstall(String),
    /// Installing or changing state needs the card to be powered off.
    #[error("the card must be powered off for this operation")]
    Powered,
    /// An NVM failure outside a command.
    #[error("NVM: {0}")]
    Nvm(#[from] NvmError),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Df {
    Pse,
    Ppse,
    App(usize),
}

struct Session {
    interface: Interface,
    protocol: Protocol,
    selected: Option<Df>,
    /// Response data waiting for GET RESPONSE, and the final status word.
    pending: Option<(Vec<u8>, StatusWord)>,
    /// Instances created at power-up (volatile).
    applets: Vec<Box<dyn Applet>>,
}

/// An emulated smart card: ROM (applet classes), NVM (records, journal, life
/// cycles), RNG and, while powered, the volatile session.
pub struct Card {
    rom: Rom,
    chip: ChipConfig,
    installs: Vec<Install>,
    nvm: Nvm,
    rng: Box<dyn CardRng>,
    session: Option<Session>,
    last_writes: u64,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("life_cycle", &self.life_cycle())
            .field(
                "applets",
                &self.installs.iter().map(|i| &i.aid).collect::<Vec<_>>(),
            )
            .field("powered", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// The SELECT command, decoded (ISO/IEC 7816-4 §11.2.2, EMV Book 1 §11.3).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Select {
    name: Vec<u8>,
    next: bool,
    fci: bool,
}

impl TryFrom<&Command> for Select {
    type Error = StatusWord;
    fn try_from(c: &Command) -> Result<Self, StatusWord> {
        // P1 = 04: select by DF name. P2 b2b1 = 00 first / 10 next occurrence,
        // b4b3 = 00 return FCI / 11 no response data.
        if c.p1 != 0x04 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        let (next, fci) = match c.p2 {
            0x00 => (false, true),
            0x02 => (true, true),
            0x0C => (false, false),
            0x0E => (true, false),
            _ => return Err(StatusWord::INCORRECT_P1P2),
        };
        if !(1..=16).contains(&c.data.len()) {
            return Err(StatusWord::WRONG_LENGTH);
        }
        Ok(Select {
            name: c.data.clone(),
            next,
            fci,
        })
    }
}

/// READ RECORD on the PSE directory (EMV Book 3 §6.5.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ReadRecord {
    record: u8,
    sfi: u8,
}

impl TryFrom<&Command> for ReadRecord {
    type Error = StatusWord;
    fn try_from(c: &Command) -> Result<Self, StatusWord> {
        if c.p2 & 0x07 != 0x04 || c.p1 == 0 {
            return Err(StatusWord::INCORRECT_P1P2);
        }
        if !c.data.is_empty() {
            return Err(StatusWord::WRONG_LENGTH);
        }
        Ok(ReadRecord {
            record: c.p1,
            sfi: c.p2 >> 3,
        })
    }
}

/// How the OS reads the class byte (ISO/IEC 7816-4 §5.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// `0x`–`1x` first interindustry class, channel 0.
    Interindustry,
    /// Proprietary class (`80`–`FE`), channel 0: only the applet knows it.
    Proprietary,
}

fn classify(cla: u8) -> Result<Class, StatusWord> {
    match cla {
        0xFF | 0x20..=0x3F => Err(StatusWord::CLA_NOT_SUPPORTED),
        // Further interindustry class: logical channels 4–19.
        0x40..=0x7F => Err(StatusWord(0x6881)),
        0x00..=0x1F if cla & 0x10 != 0 => Err(StatusWord(0x6884)),
        0x00..=0x1F if cla & 0x03 != 0 => Err(StatusWord(0x6881)),
        0x00..=0x1F => Ok(Class::Interindustry),
        // GlobalPlatform: proprietary classes 80-BF keep channel bits b2b1.
        0x80..=0xBF if cla & 0x03 != 0 => Err(StatusWord(0x6881)),
        _ => Ok(Class::Proprietary),
    }
}

impl Card {
    /// A blank card (life cycle `OP_READY`, no applets) with the applet classes of
    /// `rom` and the RNG `rng`.
    pub fn new(rom: Rom, rng: impl CardRng + 'static) -> Card {
        Card {
            rom,
            chip: ChipConfig::default(),
            installs: Vec::new(),
            nvm: Nvm::new(),
            rng: Box::new(rng),
            session: None,
            last_writes: 0,
        }
    }

    /// Sets the chip configuration (historical bytes, PSE/PPSE). Card powered off.
    pub fn set_chip(&mut self, chip: ChipConfig) -> Result<(), CardError> {
        self.require_off()?;
        self.chip = chip;
        Ok(())
    }

    /// The chip configuration.
    pub fn chip(&self) -> &ChipConfig {
        &self.chip
    }

    fn require_off(&self) -> Result<(), CardError> {
        if self.session.is_some() {
            Err(CardError::Powered)
        } else {
            Ok(())
        }
    }

    /// Installs an applet instance (the bureau's job; the card must be powered off).
    /// The application starts `SELECTABLE`.
    pub fn install(&mut self, install: Install) -> Result<(), CardError> {
        self.install_with(install, AppLifeCycle::Selectable)
    }

    /// Installs an applet instance in a given application life cycle state.
    pub fn install_with(&mut self, install: Install, state: AppLifeCycle) -> Result<(), CardError> {
        self.require_off()?;
        if self.rom.class(&install.class).is_none() {
            return Err(CardError::UnknownClass(install.class));
        }
        install.validate().map_err(CardError::BadInstall)?;
        if self.installs.iter().any(|i| i.aid == install.aid) {
            return Err(CardError::DuplicateAid(install.aid));
        }
        self.nvm.write(
            OS_NS,
            &app_lc_key(&install.aid.to_hex()),
            Some(&[state.code()]),
        )?;
        self.installs.push(install);
        Ok(())
    }

    /// The installed applets, in installation (directory) order.
    pub fn installed(&self) -> &[Install] {
        &self.installs
    }

    /// Sets the card life cycle (the bureau's job; powered off).
    pub fn set_life_cycle(&mut self, state: CardLifeCycle) -> Result<(), CardError> {
        self.require_off()?;
        self.nvm.write(OS_NS, CARD_LC_KEY, Some(&[state.code()]))?;
        Ok(())
    }

    /// Sets an application's life cycle (the bureau's job; powered off).
    pub fn set_app_life_cycle(&mut self, aid: &Aid, state: AppLifeCycle) -> Result<(), CardError> {
        self.require_off()?;
        self.nvm
            .write(OS_NS, &app_lc_key(&aid.to_hex()), Some(&[state.code()]))?;
        Ok(())
    }

    /// The card life cycle state.
    pub fn life_cycle(&self) -> CardLifeCycle {
        card_life_cycle(&self.nvm)
    }

    /// An application's life cycle state (`None` if not installed).
    pub fn app_life_cycle(&self, aid: &Aid) -> Option<AppLifeCycle> {
        self.installs
            .iter()
            .any(|i| &i.aid == aid)
            .then(|| app_life_cycle(&self.nvm, &aid.to_hex()))
    }

    /// A committed record of an applet's namespace, for inspection by tests and
    /// tools (not reachable from APDUs).
    pub fn record(&self, aid: &Aid, key: &str) -> Option<&[u8]> {
        self.nvm
            .content()
            .records
            .get(&aid.to_hex())
            .and_then(|m| m.get(key))
            .map(|v| v.0.as_slice())
    }

    /// The NVM content (records, and the journal after a tear).
    pub fn nvm(&self) -> &NvmContent {
        self.nvm.content()
    }

    /// Arms a simulated power loss for the next NVM writes (see [`PowerCut`]).
    pub fn arm_power_cut(&mut self, cut: PowerCut) {
        self.nvm.arm(cut);
    }

    /// Removes an armed power cut that has not fired.
    pub fn disarm_power_cut(&mut self) {
        self.nvm.disarm();
    }

    /// Low-level NVM writes done by the last command (or power-up recovery).
    pub fn last_command_writes(&self) -> u64 {
        self.last_writes
    }

    /// True while powered.
    pub fn is_powered(&self) -> bool {
        self.session.is_some()
    }

    /// The interface in use, if powered.
    pub fn interface(&self) -> Option<Interface> {
        self.session.as_ref().map(|s| s.interface)
    }

    /// Powers the card on (cold reset or field on, then RATS): runs NVM recovery,
    /// creates the applet instances and returns the ATR (contact) or ATS
    /// (contactless). `protocol` is the one the terminal will use (after PPS);
    /// contactless always uses ISO/IEC 14443-4.
    pub fn power_on(
        &mut self,
        interface: Interface,
        protocol: Protocol,
    ) -> Result<Vec<u8>, CardError> {
        self.session = None;
        let recovered = self.nvm.recover();
        self.last_writes = self.nvm.writes();
        if recovered.is_err() {
            self.nvm.power_off();
            return Err(CardError::PowerLost);
        }
        let protocol = match interface {
            Interface::Contactless => Protocol::Iso14443,
            Interface::Contact if protocol == Protocol::Iso14443 => Protocol::T1,
            Interface::Contact => protocol,
        };
        let mut applets = Vec::with_capacity(self.installs.len());
        for i in &self.installs {
            // Classes are checked at install and image load.
            let factory = self
                .rom
                .class(&i.class)
                .ok_or_else(|| CardError::UnknownClass(i.class.clone()))?;
            applets.push(factory(i));
        }
        self.session = Some(Session {
            interface,
            protocol,
            selected: None,
            pending: None,
            applets,
        });
        let hist = &self.chip.historical_bytes.0;
        Ok(match interface {
            Interface::Contact => contact_atr(hist),
            Interface::Contactless => ats(hist),
        })
    }

    /// Powers the card off: all volatile state (selection, applet RAM, open
    /// transaction) is lost.
    pub fn power_off(&mut self) {
        self.session = None;
        self.nvm.power_off();
    }

    /// Processes one command APDU and returns the response APDU.
    ///
    /// `Err(CardError::PowerLost)` means the card was torn during the command: it
    /// is now unpowered, and the NVM holds whatever the writes before the tear
    /// left (recovery runs at the next [`Card::power_on`]).
    pub fn process(&mut self, apdu: &[u8]) -> Result<Vec<u8>, CardError> {
        let before = self.nvm.writes();
        let Some(mut session) = self.session.take() else {
            return Err(CardError::PoweredOff);
        };
        let out = self.dispatch(&mut session, apdu);
        if self.nvm.in_transaction() && !self.nvm.power_lost() {
            // JCRE §7.6: a transaction still open when the applet returns is aborted.
            let _ = self.nvm.abort();
        }
        self.last_writes = self.nvm.writes().saturating_sub(before);
        if self.nvm.power_lost() {
            drop(session);
            self.nvm.power_off();
            return Err(CardError::PowerLost);
        }
        self.session = Some(session);
        Ok(out)
    }

    fn dispatch(&mut self, s: &mut Session, apdu: &[u8]) -> Vec<u8> {
        // 1. The APDU's length fields must be consistent.
        let cmd = match Command::parse(apdu) {
            Ok(c) => c,
            Err(_) => {
                s.pending = None;
                return StatusWord::WRONG_LENGTH.to_bytes().to_vec();
            }
        };
        // 2. A blocked card refuses everything (EMV Book 3 §6.5.3.4).
        if self.life_cycle() == CardLifeCycle::Blocked {
            s.pending = None;
            return StatusWord::FUNCTION_NOT_SUPPORTED.to_bytes().to_vec();
        }
        // 3. Class.
        let class = match classify(cmd.cla) {
            Ok(c) => c,
            Err(sw) => {
                s.pending = None;
                return sw.to_bytes().to_vec();
            }
        };
        // Secure messaging (CLA b4-b3) is the applet's business; the OS's own
        // commands do not support it.
        let os_command = matches!(cmd.ins, 0xA4 | 0xC0 | 0x70);
        if class == Class::Interindustry && os_command && cmd.cla & 0x0C != 0 {
            s.pending = None;
            return StatusWord(0x6882).to_bytes().to_vec();
        }
        // 4. GET RESPONSE continues the previous response.
        if class == Class::Interindustry && cmd.ins == 0xC0 {
            return get_response(s, &cmd);
        }
        s.pending = None;
        let resp = match (class, cmd.ins) {
            (Class::Interindustry, 0xA4) => self.select(s, &cmd),
            (Class::Interindustry, 0x70) => Err(StatusWord(0x6881)),
            _ => self.route(s, class, &cmd),
        };
        let resp = resp.unwrap_or_else(Response::status);
        shape(s, &cmd, resp)
    }

    /// Calls `f` with applet `i` and its context (its own namespace only).
    fn with_applet<R>(
        &mut self,
        s: &mut Session,
        i: usize,
        f: impl FnOnce(&mut dyn Applet, &mut AppletContext<'_>) -> R,
    ) -> Option<R> {
        let install = self.installs.get(i)?;
        let applet = s.applets.get_mut(i)?;
        let ns = install.aid.to_hex();
        let mut ctx = AppletContext {
            nvm: &mut self.nvm,
            ns: &ns,
            rng: &mut *self.rng,
            interface: s.interface,
            protocol: s.protocol,
            install,
        };
        Some(f(applet.as_mut(), &mut ctx))
    }

    fn route(&mut self, s: &mut Session, class: Class, cmd: &Command) -> ApduResult {
        match s.selected {
            Some(Df::App(i)) => self
                .with_applet(s, i, |a, ctx| a.process(ctx, cmd))
                .unwrap_or(Err(StatusWord(0x6F00))),
            _ if class == Class::Proprietary => Err(StatusWord::CLA_NOT_SUPPORTED),
            Some(Df::Pse) if cmd.ins == 0xB2 => self.pse_record(s.interface, cmd),
            Some(Df::Ppse) if cmd.ins == 0xB2 => Err(StatusWord::FILE_NOT_FOUND),
            _ => Err(StatusWord::INS_NOT_SUPPORTED),
        }
    }

    /// DF names selectable on `iface`, in directory order.
    fn candidates(&self, iface: Interface) -> Vec<(Df, Vec<u8>)> {
        let mut v = Vec::new();
        if self.chip.pse && iface == Interface::Contact {
            v.push((Df::Pse, PSE_NAME.to_vec()));
        }
        if self.chip.ppse && iface == Interface::Contactless {
            v.push((Df::Ppse, PPSE_NAME.to_vec()));
        }
        for (i, inst) in self.installs.iter().enumerate() {
            if self.listed(inst, iface) {
                v.push((Df::App(i), inst.aid.as_bytes().to_vec()));
            }
        }
        v
    }

    fn listed(&self, inst: &Install, iface: Interface) -> bool {
        inst.on(iface) && app_life_cycle(&self.nvm, &inst.aid.to_hex()) != AppLifeCycle::Installed
    }

    fn select(&mut self, s: &mut Session, cmd: &Command) -> ApduResult {
        let sel = Select::try_from(cmd)?;
        let cands = self.candidates(s.interface);
        let start = match (sel.next, s.selected) {
            (true, Some(cur)) => cands
                .iter()
                .position(|(d, _)| *d == cur)
                .map_or(0, |p| p + 1),
            _ => 0,
        };
        let Some(df) = cands
            .iter()
            .skip(start)
            .find(|(_, name)| name.starts_with(&sel.name))
            .map(|(d, _)| *d)
        else {
            return Err(StatusWord::FILE_NOT_FOUND);
        };
        // Deselect the current applet.
        if let Some(Df::App(i)) = s.selected.take() {
            self.with_applet(s, i, |a, ctx| a.deselect(ctx));
        }
        let mut resp = match df {
            Df::Pse => Response::new(self.pse_fci().encode(), StatusWord::OK),
            Df::Ppse => Response::new(self.ppse_fci(s.interface).encode(), StatusWord::OK),
            Df::App(i) => {
                let mut r = self
                    .with_applet(s, i, |a, ctx| a.select(ctx))
                    .unwrap_or(Err(StatusWord(0x6F00)))?;
                let blocked = self.installs.get(i).is_some_and(|inst| {
                    app_life_cycle(&self.nvm, &inst.aid.to_hex()) == AppLifeCycle::Blocked
                });
                if blocked {
                    r.sw = StatusWord::SELECTED_FILE_DEACTIVATED;
                }
                r
            }
        };
        s.selected = Some(df);
        if !sel.fci {
            resp.data.clear();
        }
        Ok(resp)
    }

    /// FCI of the PSE (EMV Book 1 §11.3.4 Table 43): `6F { 84 name, A5 { 88 SFI } }`.
    fn pse_fci(&self) -> Tlv {
        TlvBuilder::new(0x6Fu32)
            .primitive(0x84u32, PSE_NAME.to_vec())
            .nested(0xA5u32, |b| {
                let b = b.primitive(0x88u32, vec![PSE_DIRECTORY_SFI]);
                match &self.chip.language {
                    Some(l) => b.primitive(0x5F2Du32, l.as_bytes().to_vec()),
                    None => b,
                }
            })
            .build()
    }

    /// A directory entry (EMV Book 1 §12.2.3 Table 47):
    /// `61 { 4F AID, 50 label, 9F12 preferred name?, 87 priority? }`.
    fn directory_entry(inst: &Install) -> Tlv {
        let mut b = TlvBuilder::new(0x61u32)
            .primitive(0x4Fu32, inst.aid.as_bytes().to_vec())
            .primitive(0x50u32, inst.label.as_bytes().to_vec());
        if let Some(n) = &inst.preferred_name {
            b = b.primitive(0x9F12u32, n.as_bytes().to_vec());
        }
        if let Some(p) = inst.priority {
            b = b.primitive(0x87u32, vec![p]);
        }
        for t in Tlv::parse_all(&inst.pse_entry_extra.0).unwrap_or_default() {
            b = b.child(t);
        }
        b.build()
    }

    /// FCI of the PPSE (EMV Contactless Book B §3.3.1 Table 3-2):
    /// `6F { 84 name, A5 { BF0C { 61 { 4F, 50, 87 } … } } }`.
    fn ppse_fci(&self, iface: Interface) -> Tlv {
        let entries = self
            .installs
            .iter()
            .filter(|i| self.listed(i, iface))
            .map(|i| {
                let mut b = TlvBuilder::new(0x61u32)
                    .primitive(0x4Fu32, i.aid.as_bytes().to_vec())
                    .primitive(0x50u32, i.label.as_bytes().to_vec());
                if let Some(p) = i.priority {
                    b = b.primitive(0x87u32, vec![p]);
                }
                for t in Tlv::parse_all(&i.ppse_entry_extra.0).unwrap_or_default() {
                    b = b.child(t);
                }
                b.build()
            })
            .collect();
        TlvBuilder::new(0x6Fu32)
            .primitive(0x84u32, PPSE_NAME.to_vec())
            .nested(0xA5u32, |b| b.child(Tlv::constructed(0xBF0Cu32, entries)))
            .build()
    }

    /// READ RECORD in the PSE directory: one entry per record, record 1 first,
    /// `6A83` after the last (EMV Book 1 §12.3.2).
    fn pse_record(&self, iface: Interface, cmd: &Command) -> ApduResult {
        let rr = ReadRecord::try_from(cmd)?;
        if rr.sfi != PSE_DIRECTORY_SFI {
            return Err(StatusWord::FILE_NOT_FOUND);
        }
        let index = usize::from(rr.record)
            .checked_sub(1)
            .ok_or(StatusWord::INCORRECT_P1P2)?;
        let inst = self
            .installs
            .iter()
            .filter(|i| self.listed(i, iface))
            .nth(index)
            .ok_or(StatusWord::RECORD_NOT_FOUND)?;
        let rec = Tlv::constructed(0x70u32, vec![Self::directory_entry(inst)]);
        Ok(Response::new(rec.encode(), StatusWord::OK))
    }

    /// Serializes the whole card (chip configuration, applet registry, NVM) as a
    /// `lamina-card-image/1` JSON document; see [`crate::image`].
    pub fn save_image(&self) -> String {
        let image = CardImage {
            format: FORMAT.to_owned(),
            chip: self.chip.clone(),
            applets: self.installs.clone(),
            nvm: self.nvm.content().clone(),
        };
        image.to_json()
    }

    /// Rebuilds a card from an image (powered off; recovery runs at power-on).
    pub fn load_image(
        rom: Rom,
        rng: impl CardRng + 'static,
        image: &str,
    ) -> Result<Card, ImageError> {
        let img = CardImage::from_json(image)?;
        for (n, i) in img.applets.iter().enumerate() {
            if rom.class(&i.class).is_none() {
                return Err(ImageError::UnknownClass(i.class.clone()));
            }
            i.validate()
                .map_err(|e| ImageError::BadInstall(i.aid.to_hex(), e))?;
            if img.applets.iter().take(n).any(|j| j.aid == i.aid) {
                return Err(ImageError::DuplicateAid(i.aid.to_hex()));
            }
        }
        Ok(Card {
            rom,
            chip: img.chip,
            installs: img.applets,
            nvm: Nvm::from_content(img.nvm),
            rng: Box::new(rng),
            session: None,
            last_writes: 0,
        })
    }
}

/// GET RESPONSE (ISO/IEC 7816-4 §11.7.1, EMV Book 1 §9.3.1.3).
fn get_response(s: &mut Session, cmd: &Command) -> Vec<u8> {
    if cmd.p1 != 0 || cmd.p2 != 0 {
        return StatusWord::INCORRECT_P1P2.to_bytes().to_vec();
    }
    let Some(le) = cmd.le.filter(|_| cmd.data.is_empty()) else {
        return StatusWord::WRONG_LENGTH.to_bytes().to_vec();
    };
    let Some((data, sw)) = s.pending.take() else {
        return StatusWord::CONDITIONS_NOT_SATISFIED.to_bytes().to_vec();
    };
    if s.protocol == Protocol::T0 && le > data.len() {
        // Wrong Le: announce the exact length, keep the data (ISO/IEC 7816-3 §10.3.5).
        let announce = StatusWord::new(0x6C, low_byte(data.len()));
        s.pending = Some((data, sw));
        return announce.to_bytes().to_vec();
    }
    split(s, data, sw, le)
}

fn low_byte(n: usize) -> u8 {
    u8::try_from(n % 256).unwrap_or(0)
}

/// Returns up to `ne` bytes; the rest waits for GET RESPONSE (`61xx`).
fn split(s: &mut Session, mut data: Vec<u8>, sw: StatusWord, ne: usize) -> Vec<u8> {
    if data.len() > ne {
        let rest = data.split_off(ne);
        let announce = StatusWord::new(0x61, low_byte(rest.len().min(256)));
        s.pending = Some((rest, sw));
        data.extend_from_slice(&announce.to_bytes());
        data
    } else {
        data.extend_from_slice(&sw.to_bytes());
        data
    }
}

/// Applies the transport rules to a response (EMV Book 1 §9.3.1, ISO/IEC 7816-3
/// §12.2): under T=0 data is announced with `61xx` (and a case 2 command with the
/// wrong Le gets `6Cxx`); under T=1 and ISO/IEC 14443-4 data longer than Ne is cut
/// and the rest announced with `61xx`. Without Le, T=1 returns all data.
fn shape(s: &mut Session, cmd: &Command, resp: Response) -> Vec<u8> {
    let Response { data, sw } = resp;
    if data.is_empty() {
        return sw.to_bytes().to_vec();
    }
    match (s.protocol, cmd.le) {
        (Protocol::T0, Some(le)) if cmd.data.is_empty() && le == data.len() => {
            let mut d = data;
            d.extend_from_slice(&sw.to_bytes());
            d
        }
        (Protocol::T0, Some(_)) if cmd.data.is_empty() && data.len() < 256 => {
            StatusWord::new(0x6C, low_byte(data.len()))
                .to_bytes()
                .to_vec()
        }
        (Protocol::T0, _) => {
            let announce = StatusWord::new(0x61, low_byte(data.len().min(256)));
            s.pending = Some((data, sw));
            announce.to_bytes().to_vec()
        }
        (_, Some(ne)) => split(s, data, sw, ne),
        (_, None) => {
            let mut d = data;
            d.extend_from_slice(&sw.to_bytes());
            d
        }
    }
}
