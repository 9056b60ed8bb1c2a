//! The personalization script: the GlobalPlatform command sequence that writes
//! a [`PreparedCard`] into a chip, and the handler that replays it.
//!
//! Sequence (GlobalPlatform Card Specification v2.3.1):
//!
//! 1. `SELECT` the Issuer Security Domain (`A000000151000000`), then one
//!    `STORE DATA` with card-level DGI `7F01` (card id `DF01`, product `DF02`).
//! 2. Per application: `INSTALL [for install and make selectable]` (§11.5,
//!    `80 E6 0C 00`) naming the Lamina load file, the application AID and, in the
//!    `C9` application-specific parameters, the applet class `DF01`, label `50`,
//!    preferred name `9F12`, priority `87`, interfaces `DF02` (`01` contact,
//!    `02` contactless) and Kernel Identifier `9F2A` if any; then `INSTALL [for personalization]` (`80 E6 20 00`).
//! 3. `STORE DATA` (§11.11, `80 E2`) blocks carrying the application's DGIs
//!    ([`crate::card`]): P1 bit 8 marks the last block, bits 5–4 = `01` say the
//!    data is DGI-formatted; P2 is the block number from `00`. Each DGI starts a
//!    new block; a DGI longer than 255 bytes continues in the next blocks. Extra
//!    applications get their install parameters as DGI `7F02`.
//!
//! In the emulator's script the secret DGIs are not encrypted (see
//! [`crate::card`]): the script file is written with mode 0600.
//!
//! [`StoreDataHandler`] is the receiving side: it accepts exactly this sequence
//! and rebuilds the [`PreparedCard`]; replaying the script reproduces the card
//! image byte for byte (tested).

use lamina_apdu::Command;
use lamina_tlv::Tlv;

use crate::card::{AppInstall, Dgi, EmvData, PreparedApplication, PreparedCard};
use crate::profile::Interface;
use crate::{PersoError, Result};

/// AID of the Issuer Security Domain (GlobalPlatform default).
pub const ISD_AID: [u8; 8] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00, 0x00];
/// Executable Load File AID of Lamina's applets (test RID `F04C414D49` ‖ "LAMINA").
pub const LOAD_FILE_AID: [u8; 11] = [
    0xF0, 0x4C, 0x41, 0x4D, 0x49, 0x4C, 0x41, 0x4D, 0x49, 0x4E, 0x41,
];
/// Card-level DGI: card identity.
pub const DGI_CARD: u16 = 0x7F01;
/// Install parameters of an extra application.
pub const DGI_PARAMS: u16 = 0x7F02;

const CLA_GP: u8 = 0x80;
const INS_INSTALL: u8 = 0xE6;
const INS_STORE_DATA: u8 = 0xE2;
const INS_SELECT: u8 = 0xA4;
const P1_LAST: u8 = 0x80;
const P1_DGI: u8 = 0x08;
const MAX_BLOCK: usize = 255;

/// One command of the script with a comment saying what it does (comments
/// never contain secret values; `Debug` shows the header and data length only).
#[derive(Clone, PartialEq, Eq)]
pub struct ScriptStep {
    /// What the step does.
    pub comment: String,
    /// The command APDU.
    pub command: Command,
}

impl core::fmt::Debug for ScriptStep {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let c = &self.command;
        write!(
            f,
            "ScriptStep({:02X} {:02X} {:02X} {:02X}, {} data bytes: {})",
            c.cla,
            c.ins,
            c.p1,
            c.p2,
            c.data.len(),
            self.comment
        )
    }
}

fn err(m: impl Into<String>) -> PersoError {
    PersoError::Script(m.into())
}

fn lv(out: &mut Vec<u8>, v: &[u8]) -> Result<()> {
    out.push(u8::try_from(v.len()).map_err(|_| err("LV field longer than 255 bytes"))?);
    out.extend_from_slice(v);
    Ok(())
}

fn iface_bytes(i: &[Interface]) -> Vec<u8> {
    i.iter()
        .map(|x| match x {
            Interface::Contact => 1,
            Interface::Contactless => 2,
        })
        .collect()
}

fn install_params(a: &AppInstall) -> Vec<u8> {
    let mut list = vec![
        Tlv::primitive(0xDF01u32, a.class.as_bytes().to_vec()),
        Tlv::primitive(0x50u32, a.label.as_bytes().to_vec()),
    ];
    if let Some(n) = &a.preferred_name {
        list.push(Tlv::primitive(0x9F12u32, n.as_bytes().to_vec()));
    }
    if let Some(p) = a.priority {
        list.push(Tlv::primitive(0x87u32, vec![p]));
    }
    list.push(Tlv::primitive(0xDF02u32, iface_bytes(&a.interfaces)));
    if let Some(k) = a.kernel_id {
        list.push(Tlv::primitive(0x9F2Au32, vec![k]));
    }
    Tlv::primitive(0xC9u32, Tlv::encode_all(&list)).encode()
}

/// STORE DATA blocks for a list of DGIs.
fn store_data(dgis: &[Dgi], what: &str) -> Result<Vec<ScriptStep>> {
    let mut chunks: Vec<(String, Vec<u8>)> = Vec::new();
    for d in dgis {
        let mut enc = Vec::new();
        d.encode(&mut enc)?;
        let parts: Vec<&[u8]> = enc.chunks(MAX_BLOCK).collect();
        let n = parts.len();
        for (i, p) in parts.into_iter().enumerate() {
            let label = if n > 1 {
                format!("DGI {:04X} ({}) part {}/{n}", d.id, dgi_name(d.id), i + 1)
            } else {
                format!("DGI {:04X} ({})", d.id, dgi_name(d.id))
            };
            chunks.push((label, p.to_vec()));
        }
    }
    if chunks.len() > 256 {
        return Err(err(format!("{what}: more than 256 STORE DATA blocks")));
    }
    let total = chunks.len();
    chunks
        .into_iter()
        .enumerate()
        .map(|(i, (label, data))| {
            let last = i + 1 == total;
            let p2 = u8::try_from(i).map_err(|_| err("block number"))?;
            Ok(ScriptStep {
                comment: format!(
                    "STORE DATA block {p2:02X}{}: {label}",
                    if last { " (last)" } else { "" }
                ),
                command: Command::new(
                    CLA_GP,
                    INS_STORE_DATA,
                    P1_DGI | if last { P1_LAST } else { 0 },
                    p2,
                )
                .with_data(data),
            })
        })
        .collect()
}

/// A short name for a DGI (for script comments and `card show`).
pub fn dgi_name(id: u16) -> String {
    let [hi, lo] = id.to_be_bytes();
    match id {
        0x9102 => "FCI, contact".into(),
        0x9103 => "FCI, contactless".into(),
        0x9104 => "GPO data, contact".into(),
        0x9105 => "GPO data, contactless".into(),
        0xB001 => "risk management parameters".into(),
        0xB002 => "GET DATA objects".into(),
        0x8000 => "MK-AC, MK-SMI, MK-SMC".into(),
        0x8001 => "MK-IDN".into(),
        0x9000 => "key check values".into(),
        0x8010 => "reference PIN block".into(),
        0x9010 => "PIN try limit and counter".into(),
        0x8201 => "ICC RSA modulus".into(),
        0x8202 => "ICC RSA public exponent".into(),
        0x8203 => "ICC RSA private exponent".into(),
        0x8204 => "ICC RSA prime q".into(),
        0x8205 => "ICC RSA prime p".into(),
        DGI_CARD => "card identity".into(),
        DGI_PARAMS => "install parameters".into(),
        _ if (1..=30).contains(&hi) && lo != 0 => format!("SFI {hi} record {lo}"),
        _ => "unknown".into(),
    }
}

/// The full personalization script for a card.
pub fn script(card: &PreparedCard) -> Result<Vec<ScriptStep>> {
    let mut steps = vec![ScriptStep {
        comment: "SELECT Issuer Security Domain".into(),
        command: Command::new(0x00, INS_SELECT, 0x04, 0x00)
            .with_data(ISD_AID.to_vec())
            .with_le(256),
    }];
    let ident = Tlv::encode_all(&[
        Tlv::primitive(0xDF01u32, card.card_id.as_bytes().to_vec()),
        Tlv::primitive(0xDF02u32, card.product.as_bytes().to_vec()),
    ]);
    steps.extend(store_data(
        &[Dgi {
            id: DGI_CARD,
            data: ident,
        }],
        "card",
    )?);
    for app in &card.applications {
        let aid = &app.install.aid;
        let aid_hex = hex::encode_upper(aid);
        let mut data = Vec::new();
        lv(&mut data, &LOAD_FILE_AID)?;
        lv(&mut data, &LOAD_FILE_AID)?;
        lv(&mut data, aid)?;
        lv(&mut data, &[0x00])?;
        lv(&mut data, &install_params(&app.install))?;
        lv(&mut data, &[])?;
        steps.push(ScriptStep {
            comment: format!(
                "INSTALL [for install and make selectable] {aid_hex} ({})",
                app.install.class
            ),
            command: Command::new(CLA_GP, INS_INSTALL, 0x0C, 0x00)
                .with_data(data)
                .with_le(256),
        });
        let mut data = vec![0x00, 0x00];
        lv(&mut data, aid)?;
        data.extend_from_slice(&[0x00, 0x00, 0x00]);
        steps.push(ScriptStep {
            comment: format!("INSTALL [for personalization] {aid_hex}"),
            command: Command::new(CLA_GP, INS_INSTALL, 0x20, 0x00)
                .with_data(data)
                .with_le(256),
        });
        let mut dgis = match &app.emv {
            Some(e) => e.to_dgis()?,
            None => Vec::new(),
        };
        if !app.install.params.is_empty() {
            dgis.push(Dgi {
                id: DGI_PARAMS,
                data: app.install.params.clone(),
            });
        }
        steps.extend(store_data(&dgis, &aid_hex)?);
    }
    Ok(steps)
}

/// The script as text: `# comment` lines and one APDU in hex per line.
pub fn script_text(card: &PreparedCard) -> Result<String> {
    let mut out = format!(
        "# Lamina personalization script v1 — card {} ({})\n# GlobalPlatform INSTALL / STORE DATA; secret DGIs in clear: keep this file private.\n",
        card.card_id, card.product
    );
    for s in script(card)? {
        let bytes = s.command.to_bytes().map_err(|e| err(e.to_string()))?;
        out.push_str(&format!("# {}\n{}\n", s.comment, hex::encode_upper(bytes)));
    }
    Ok(out)
}

/// Parses a script text back into commands (comments and blank lines skipped).
pub fn parse_script(text: &str) -> Result<Vec<Command>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let bytes =
                hex::decode(l.trim()).map_err(|_| err(format!("line {}: not hex", i + 1)))?;
            Command::parse(&bytes).map_err(|e| err(format!("line {}: {e}", i + 1)))
        })
        .collect()
}

struct Target {
    install: AppInstall,
    buffer: Vec<u8>,
    next_block: u16,
    done: bool,
}

impl core::fmt::Debug for Target {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Target({}, {} bytes buffered, next block {}, done {})",
            hex::encode_upper(&self.install.aid),
            self.buffer.len(),
            self.next_block,
            self.done
        )
    }
}

/// Receives a personalization script and rebuilds the card (the chip side of
/// [`script`]).
#[derive(Debug, Default)]
pub struct StoreDataHandler {
    isd_selected: bool,
    card: Option<(String, String)>,
    card_block: u16,
    apps: Vec<Target>,
    /// Index of the application under personalization.
    current: Option<usize>,
}

/// Reads a `C9` install-parameter TLV list into an [`AppInstall`].
fn parse_install(aid: Vec<u8>, params: &[u8]) -> Result<AppInstall> {
    let c9 = Tlv::parse_one(params).map_err(|e| err(format!("install parameters: {e}")))?;
    if c9.tag.number() != 0xC9 {
        return Err(err("install parameters: no C9 template"));
    }
    let inner = Tlv::parse_all(c9.value_bytes().unwrap_or(&[]))
        .map_err(|e| err(format!("install parameters: {e}")))?;
    let get = |t: u32| {
        inner
            .iter()
            .find(|x| x.tag.number() == t)
            .and_then(|x| x.value_bytes())
    };
    let text = |t: u32| -> Result<Option<String>> {
        get(t)
            .map(|v| String::from_utf8(v.to_vec()).map_err(|_| err("install parameters: not text")))
            .transpose()
    };
    let interfaces = get(0xDF02)
        .unwrap_or(&[])
        .iter()
        .map(|b| match b {
            1 => Ok(Interface::Contact),
            2 => Ok(Interface::Contactless),
            _ => Err(err("install parameters: unknown interface")),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(AppInstall {
        aid,
        class: text(0xDF01)?.ok_or_else(|| err("install parameters: no class"))?,
        label: text(0x50)?.unwrap_or_default(),
        preferred_name: text(0x9F12)?,
        priority: match get(0x87) {
            Some([p]) => Some(*p),
            Some(_) => return Err(err("install parameters: priority must be 1 byte")),
            None => None,
        },
        interfaces,
        params: Vec::new(),
        kernel_id: match get(0x9F2A) {
            Some([k]) => Some(*k),
            Some(_) => return Err(err("install parameters: kernel identifier must be 1 byte")),
            None => None,
        },
    })
}

/// Splits `LV LV LV ...` fields.
fn lv_fields(mut d: &[u8], n: usize) -> Result<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (&len, rest) = d
            .split_first()
            .ok_or_else(|| err("INSTALL data truncated"))?;
        let v = rest
            .get(..usize::from(len))
            .ok_or_else(|| err("INSTALL data truncated"))?;
        out.push(v);
        d = rest.get(usize::from(len)..).unwrap_or(&[]);
    }
    Ok(out)
}

impl StoreDataHandler {
    /// A handler waiting for the first command.
    pub fn new() -> Self {
        Self::default()
    }

    /// Processes one command; errors name what was wrong (on a card they would
    /// be status words `6A86`, `6A80`, `6985` …).
    pub fn process(&mut self, cmd: &Command) -> Result<()> {
        match (cmd.cla, cmd.ins) {
            (0x00, INS_SELECT) => {
                if cmd.p1 != 0x04 || cmd.data != ISD_AID {
                    return Err(err("SELECT: only the ISD by name is expected"));
                }
                self.isd_selected = true;
                self.current = None;
                Ok(())
            }
            (CLA_GP, INS_INSTALL) => self.install(cmd),
            (CLA_GP, INS_STORE_DATA) => self.store_data(cmd),
            _ => Err(err(format!(
                "unexpected command {:02X} {:02X}",
                cmd.cla, cmd.ins
            ))),
        }
    }

    fn install(&mut self, cmd: &Command) -> Result<()> {
        match cmd.p1 {
            0x0C => {
                let f = lv_fields(&cmd.data, 6)?;
                let (elf, aid, params) = match f.as_slice() {
                    [elf, _module, aid, _priv, params, _token] => (*elf, *aid, *params),
                    _ => return Err(err("INSTALL data")),
                };
                if elf != LOAD_FILE_AID {
                    return Err(err("INSTALL: unknown load file"));
                }
                if self.apps.iter().any(|a| a.install.aid == aid) {
                    return Err(err("INSTALL: application already installed"));
                }
                self.apps.push(Target {
                    install: parse_install(aid.to_vec(), params)?,
                    buffer: Vec::new(),
                    next_block: 0,
                    done: false,
                });
                Ok(())
            }
            0x20 => {
                let f = lv_fields(cmd.data.get(2..).unwrap_or(&[]), 1)?;
                let aid = f
                    .first()
                    .ok_or_else(|| err("INSTALL [for personalization]: no AID"))?;
                let idx = self
                    .apps
                    .iter()
                    .position(|a| a.install.aid == *aid)
                    .ok_or_else(|| {
                        err("INSTALL [for personalization]: application not installed")
                    })?;
                self.current = Some(idx);
                Ok(())
            }
            p1 => Err(err(format!("INSTALL P1 {p1:02X} not supported"))),
        }
    }

    fn store_data(&mut self, cmd: &Command) -> Result<()> {
        if cmd.p1 & 0x78 != P1_DGI {
            return Err(err("STORE DATA: only plain DGI-formatted data is accepted"));
        }
        let last = cmd.p1 & P1_LAST != 0;
        match self.current {
            None => {
                if !self.isd_selected {
                    return Err(err("STORE DATA before SELECT"));
                }
                if u16::from(cmd.p2) != self.card_block || !last || self.card.is_some() {
                    return Err(err("STORE DATA (ISD): unexpected block"));
                }
                self.card_block += 1;
                let dgis = Dgi::parse_all(&cmd.data)?;
                let ident = match dgis.as_slice() {
                    [d] if d.id == DGI_CARD => {
                        Tlv::parse_all(&d.data).map_err(|e| err(e.to_string()))?
                    }
                    _ => return Err(err("STORE DATA (ISD): expected DGI 7F01 only")),
                };
                let text = |t: u32| -> Result<String> {
                    ident
                        .iter()
                        .find(|x| x.tag.number() == t)
                        .and_then(|x| x.value_bytes())
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .ok_or_else(|| err("DGI 7F01 incomplete"))
                };
                self.card = Some((text(0xDF01)?, text(0xDF02)?));
                Ok(())
            }
            Some(i) => {
                let t = self.apps.get_mut(i).ok_or_else(|| err("no target"))?;
                if t.done {
                    return Err(err("STORE DATA after the last block"));
                }
                if u16::from(cmd.p2) != t.next_block {
                    return Err(err(format!(
                        "STORE DATA: block {:02X} out of sequence (expected {:02X})",
                        cmd.p2, t.next_block
                    )));
                }
                t.next_block += 1;
                t.buffer.extend_from_slice(&cmd.data);
                t.done = last;
                Ok(())
            }
        }
    }

    /// The card after the last command: every application's data is complete.
    pub fn finish(self) -> Result<PreparedCard> {
        let (card_id, product) = self
            .card
            .ok_or_else(|| err("no card identity (DGI 7F01)"))?;
        let mut applications = Vec::new();
        for t in self.apps {
            let mut install = t.install;
            if !t.buffer.is_empty() && !t.done {
                return Err(err(format!(
                    "application {}: last STORE DATA block missing",
                    hex::encode_upper(&install.aid)
                )));
            }
            let mut dgis = Dgi::parse_all(&t.buffer)?;
            if let Some(pos) = dgis.iter().position(|d| d.id == DGI_PARAMS) {
                install.params = dgis.remove(pos).data;
            }
            let emv = if dgis.is_empty() {
                None
            } else {
                Some(EmvData::from_dgis(&dgis)?)
            };
            applications.push(PreparedApplication { install, emv });
        }
        Ok(PreparedCard {
            card_id,
            product,
            applications,
        })
    }
}

/// Replays commands through a fresh [`StoreDataHandler`].
pub fn replay(commands: &[Command]) -> Result<PreparedCard> {
    let mut h = StoreDataHandler::new();
    for c in commands {
        h.process(c)?;
    }
    h.finish()
}
