//! Command APDUs of the EMV applet decoded into typed commands (EMV Book 3 §6.3,
//! §6.5). The decode error *is* the status word: `6E00` class, `6D00`
//! instruction, `6A86` P1/P2, `6700` length, `6982` for an issuer script
//! command sent without secure messaging (class `00`/`80`).

use lamina_apdu::{Command, StatusWord};

/// GENERATE AC reference control parameter P1 bits 8–7 (EMV Book 3 Table 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcType {
    /// `00`: Application Authentication Cryptogram (decline).
    Aac,
    /// `40`: Transaction Certificate (approve offline).
    Tc,
    /// `80`: Authorisation Request Cryptogram (go online).
    Arqc,
}

impl AcType {
    /// Cryptogram Information Data bits 8–7 (EMV Book 3 Table 15).
    pub fn cid(self) -> u8 {
        match self {
            AcType::Aac => 0x00,
            AcType::Tc => 0x40,
            AcType::Arqc => 0x80,
        }
    }
}

/// A decoded command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmvCommand {
    /// GET PROCESSING OPTIONS, §6.5.8: the PDOL-related data (value of `83`).
    Gpo(Vec<u8>),
    /// READ RECORD, §6.5.11.
    ReadRecord { sfi: u8, record: u8 },
    /// GET DATA, §6.5.7.
    GetData(u16),
    /// GET CHALLENGE, §6.5.6.
    GetChallenge,
    /// VERIFY, §6.5.12: `enciphered` for P2 = `88`.
    Verify { enciphered: bool, data: Vec<u8> },
    /// INTERNAL AUTHENTICATE, §6.5.9: DDOL-related data.
    InternalAuthenticate(Vec<u8>),
    /// GENERATE AC, §6.5.5.
    GenerateAc {
        ac: AcType,
        cda: bool,
        data: Vec<u8>,
    },
    /// EXTERNAL AUTHENTICATE, §6.5.4: Issuer Authentication Data.
    ExternalAuthenticate(Vec<u8>),
    /// A secure-messaging issuer script command (§6.5.1–3, §6.5.10, PUT DATA,
    /// UPDATE RECORD); MAC checked by the applet.
    Script(ScriptKind),
    /// STORE DATA (GlobalPlatform v2.3 §11.11).
    StoreData { last: bool, seq: u8, data: Vec<u8> },
}

/// The issuer script commands (EMV Book 3 §6.5.1–§6.5.3, §6.5.10; PUT DATA and
/// UPDATE RECORD per ISO/IEC 7816-4 §11.4, §11.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScriptKind {
    ApplicationBlock,
    ApplicationUnblock,
    CardBlock,
    PinChangeUnblock { p2: u8 },
    PutData { tag: u16 },
    UpdateRecord { sfi: u8, record: u8 },
}

fn p1p2(c: &Command, p1: u8, p2: u8) -> Result<(), StatusWord> {
    if c.p1 == p1 && c.p2 == p2 {
        Ok(())
    } else {
        Err(StatusWord::INCORRECT_P1P2)
    }
}

fn no_data(c: &Command) -> Result<(), StatusWord> {
    if c.data.is_empty() {
        Ok(())
    } else {
        Err(StatusWord::WRONG_LENGTH)
    }
}

fn some_data(c: &Command) -> Result<(), StatusWord> {
    if c.data.is_empty() {
        Err(StatusWord::WRONG_LENGTH)
    } else {
        Ok(())
    }
}

fn record_ref(c: &Command) -> Result<(u8, u8), StatusWord> {
    // P2 = SFI (bits 8–4) ‖ 100 (P1 is a record number), EMV Book 3 Table 20.
    if c.p1 == 0 || c.p2 & 0x07 != 0x04 || c.p2 >> 3 == 0 {
        return Err(StatusWord::INCORRECT_P1P2);
    }
    Ok((c.p2 >> 3, c.p1))
}

impl TryFrom<&Command> for EmvCommand {
    type Error = StatusWord;

    fn try_from(c: &Command) -> Result<Self, StatusWord> {
        let known_cla = matches!(c.cla, 0x00 | 0x04 | 0x80 | 0x84 | 0x8C);
        if !known_cla {
            return Err(StatusWord::CLA_NOT_SUPPORTED);
        }
        let wrong_cla = Err(StatusWord::CLA_NOT_SUPPORTED);
        Ok(match c.ins {
            0xA8 => {
                if c.cla != 0x80 {
                    return wrong_cla;
                }
                p1p2(c, 0, 0)?;
                // Data: tag 83 with the PDOL-related data (Book 3 §6.5.8.3).
                let (tag, rest) = c.data.split_first().ok_or(StatusWord::WRONG_LENGTH)?;
                if *tag != 0x83 {
                    return Err(StatusWord::INCORRECT_DATA);
                }
                let (len, value) = match rest.split_first() {
                    Some((l, v)) if *l < 0x80 => (usize::from(*l), v),
                    Some((0x81, v)) => {
                        let (l, v) = v.split_first().ok_or(StatusWord::WRONG_LENGTH)?;
                        (usize::from(*l), v)
                    }
                    _ => return Err(StatusWord::WRONG_LENGTH),
                };
                if value.len() != len {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                EmvCommand::Gpo(value.to_vec())
            }
            0xB2 => {
                if c.cla != 0x00 {
                    return wrong_cla;
                }
                let (sfi, record) = record_ref(c)?;
                no_data(c)?;
                EmvCommand::ReadRecord { sfi, record }
            }
            0xCA => {
                if c.cla != 0x80 {
                    return wrong_cla;
                }
                no_data(c)?;
                EmvCommand::GetData(u16::from_be_bytes([c.p1, c.p2]))
            }
            0x84 => {
                if c.cla != 0x00 {
                    return wrong_cla;
                }
                p1p2(c, 0, 0)?;
                no_data(c)?;
                EmvCommand::GetChallenge
            }
            0x20 => {
                if c.cla != 0x00 {
                    return wrong_cla;
                }
                let enciphered = match (c.p1, c.p2) {
                    (0x00, 0x80) => false,
                    (0x00, 0x88) => true,
                    _ => return Err(StatusWord::INCORRECT_P1P2),
                };
                if !enciphered && c.data.len() != 8 {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                some_data(c)?;
                EmvCommand::Verify {
                    enciphered,
                    data: c.data.clone(),
                }
            }
            0x88 => {
                if c.cla != 0x00 {
                    return wrong_cla;
                }
                p1p2(c, 0, 0)?;
                some_data(c)?;
                EmvCommand::InternalAuthenticate(c.data.clone())
            }
            0xAE => {
                if c.cla != 0x80 {
                    return wrong_cla;
                }
                // P1: b8-b7 cryptogram type, b5 CDA signature requested, others 0.
                if c.p2 != 0 || c.p1 & 0x2F != 0 {
                    return Err(StatusWord::INCORRECT_P1P2);
                }
                let ac = match c.p1 & 0xC0 {
                    0x00 => AcType::Aac,
                    0x40 => AcType::Tc,
                    0x80 => AcType::Arqc,
                    _ => return Err(StatusWord::INCORRECT_P1P2),
                };
                EmvCommand::GenerateAc {
                    ac,
                    cda: c.p1 & 0x10 != 0,
                    data: c.data.clone(),
                }
            }
            0x82 => {
                if c.cla != 0x00 {
                    return wrong_cla;
                }
                p1p2(c, 0, 0)?;
                if !(8..=16).contains(&c.data.len()) {
                    return Err(StatusWord::WRONG_LENGTH);
                }
                EmvCommand::ExternalAuthenticate(c.data.clone())
            }
            0xE2 => {
                if !matches!(c.cla, 0x80 | 0x84) {
                    return wrong_cla;
                }
                some_data(c)?;
                EmvCommand::StoreData {
                    last: c.p1 & 0x80 != 0,
                    seq: c.p2,
                    data: c.data.clone(),
                }
            }
            0x1E | 0x18 | 0x16 | 0x24 => {
                if matches!(c.cla, 0x00 | 0x80) {
                    // The command exists but only with secure messaging.
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                if !matches!(c.cla, 0x84 | 0x8C) {
                    return wrong_cla;
                }
                let kind = match c.ins {
                    0x1E => ScriptKind::ApplicationBlock,
                    0x18 => ScriptKind::ApplicationUnblock,
                    0x16 => ScriptKind::CardBlock,
                    _ => {
                        if c.p1 != 0 || c.p2 > 2 {
                            return Err(StatusWord::INCORRECT_P1P2);
                        }
                        ScriptKind::PinChangeUnblock { p2: c.p2 }
                    }
                };
                if c.ins != 0x24 {
                    p1p2(c, 0, 0)?;
                }
                EmvCommand::Script(kind)
            }
            0xDA => {
                if matches!(c.cla, 0x00 | 0x80) {
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                if !matches!(c.cla, 0x04 | 0x84) {
                    return wrong_cla;
                }
                EmvCommand::Script(ScriptKind::PutData {
                    tag: u16::from_be_bytes([c.p1, c.p2]),
                })
            }
            0xDC => {
                if matches!(c.cla, 0x00 | 0x80) {
                    return Err(StatusWord::SECURITY_STATUS_NOT_SATISFIED);
                }
                if !matches!(c.cla, 0x04 | 0x84) {
                    return wrong_cla;
                }
                let (sfi, record) = record_ref(c)?;
                EmvCommand::Script(ScriptKind::UpdateRecord { sfi, record })
            }
            _ => return Err(StatusWord::INS_NOT_SUPPORTED),
        })
    }
}
