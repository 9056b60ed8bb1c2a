//! `lamina apdu decode`.

use anyhow::Result;
use clap::{Args, Subcommand};
use lamina_apdu::{Command, Ins, Response, StatusWord};
use serde::Serialize;

use crate::cmd::tlv::{Node, decode_nodes};
use crate::input::{bad, hex_arg};
use crate::outln;
use crate::output::{emit, hx, print_json};

#[derive(Debug, Subcommand)]
pub enum ApduCommand {
    /// Decode a command APDU (default) or a response APDU (`--response`).
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Hex bytes (several arguments are joined), or `-` for stdin. Two bytes alone
    /// decode as a status word.
    #[arg(required = true)]
    pub hex: Vec<String>,
    /// Decode as a response APDU (data ‖ SW1 SW2).
    #[arg(long, short)]
    pub response: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: ApduCommand) -> Result<()> {
    match cmd {
        ApduCommand::Decode(a) => decode(a),
    }
}

#[derive(Debug, Serialize)]
struct SwOut {
    sw: String,
    meaning: &'static str,
    category: String,
}

fn sw_out(sw: StatusWord) -> SwOut {
    SwOut {
        sw: format!("{:04X}", sw.0),
        meaning: sw.meaning(),
        category: format!("{:?}", sw.category()),
    }
}

#[derive(Debug, Serialize)]
struct CommandOut {
    kind: &'static str,
    cla: String,
    ins: String,
    instruction: &'static str,
    p1: String,
    p2: String,
    case: String,
    extended: bool,
    lc: usize,
    data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_tlv: Option<Vec<Node>>,
    le: Option<usize>,
    notes: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ResponseOut {
    kind: &'static str,
    data: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_tlv: Option<Vec<Node>>,
    status: SwOut,
}

fn decode(a: DecodeArgs) -> Result<()> {
    let mut out = String::new();
    let bytes = hex_arg(&a.hex.join(""), "HEX")?;
    if a.response || bytes.len() == 2 {
        let r = Response::parse(&bytes).map_err(|e| bad(e.to_string()))?;
        let data_tlv = if r.data.is_empty() {
            None
        } else {
            decode_nodes(&r.data, false).ok()
        };
        let resp = ResponseOut {
            kind: "response",
            data: hx(&r.data),
            data_tlv,
            status: sw_out(r.sw),
        };
        if a.json {
            return print_json(&resp);
        }
        if !r.data.is_empty() {
            outln!(
                out,
                "Data ({} bytes): {}",
                r.data.len(),
                if resp.data_tlv.is_some() {
                    "BER-TLV"
                } else {
                    "not TLV"
                }
            );
            match &resp.data_tlv {
                Some(nodes) => {
                    let j = serde_json::to_value(nodes)?;
                    print_nodes(&mut out, &j, 1);
                }
                None => outln!(out, "  {}", resp.data),
            }
        }
        outln!(out, "SW1 SW2: {} — {}", resp.status.sw, resp.status.meaning);
        return emit(&out);
    }
    let c = Command::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let ins = c.instruction();
    let mut notes = Vec::new();
    let mut data_text = None;
    let mut data_tlv = None;
    let mut data_hex = Some(hx(&c.data));
    match ins {
        Ins::Select => {
            notes.push(
                match c.p1 {
                    0x04 => "P1=04: select by DF name (AID)",
                    0x00 => "P1=00: select MF, DF or EF by file identifier",
                    _ => "P1: other selection method",
                }
                .into(),
            );
            notes.push(
                match c.p2 & 0x03 {
                    0 => "P2: first or only occurrence",
                    2 => "P2: next occurrence",
                    _ => "P2: last/previous occurrence",
                }
                .into(),
            );
            if c.data.iter().all(|b| b.is_ascii_graphic()) && !c.data.is_empty() {
                data_text = Some(String::from_utf8_lossy(&c.data).into_owned());
            }
        }
        Ins::ReadRecord => {
            notes.push(format!("record {} of SFI {}", c.p1, c.p2 >> 3));
            if c.p2 & 0x07 != 0x04 {
                notes.push("P2 low bits are not 100 (P1 is not a record number)".into());
            }
        }
        Ins::GenerateAc => {
            let t = match c.p1 & 0xC0 {
                0x00 => "AAC",
                0x40 => "TC",
                0x80 => "ARQC",
                _ => "RFU",
            };
            notes.push(format!("reference control parameter: {t} requested"));
            if c.p1 & 0x10 != 0 {
                notes.push("CDA signature requested".into());
            }
        }
        Ins::Verify => {
            notes.push(
                match c.p2 {
                    0x80 => "P2=80: plaintext PIN (format 2 PIN block)",
                    0x88 => "P2=88: enciphered PIN",
                    _ => "P2: other reference data",
                }
                .into(),
            );
            // The PIN block is never printed.
            data_hex = Some(format!("REDACTED ({} bytes)", c.data.len()));
        }
        Ins::PinChangeUnblock => {
            data_hex = Some(format!("REDACTED ({} bytes)", c.data.len()));
        }
        Ins::GetProcessingOptions => {
            data_tlv = decode_nodes(&c.data, false).ok();
            notes.push("data: tag 83 with the PDOL-related data".into());
        }
        Ins::GetData => notes.push(format!("data object {:02X}{:02X}", c.p1, c.p2)),
        _ => {}
    }
    if c.data.is_empty() {
        data_hex = None;
    }
    let cmd = CommandOut {
        kind: "command",
        cla: format!("{:02X}", c.cla),
        ins: format!("{:02X}", c.ins),
        instruction: ins.name(),
        p1: format!("{:02X}", c.p1),
        p2: format!("{:02X}", c.p2),
        case: format!("{:?}", c.case()),
        extended: c.extended,
        lc: c.data.len(),
        data: data_hex,
        data_text,
        data_tlv,
        le: c.le,
        notes,
    };
    if a.json {
        return print_json(&cmd);
    }
    outln!(
        out,
        "Command APDU ({:?}{})",
        c.case(),
        if c.extended { ", extended" } else { "" }
    );
    outln!(
        out,
        "  CLA {}  INS {} {}  P1 {}  P2 {}",
        cmd.cla,
        cmd.ins,
        cmd.instruction,
        cmd.p1,
        cmd.p2
    );
    for n in &cmd.notes {
        outln!(out, "    · {n}");
    }
    if let Some(d) = &cmd.data {
        outln!(out, "  Lc {}  data {}", cmd.lc, d);
        if let Some(t) = &cmd.data_text {
            outln!(out, "    \"{t}\"");
        }
        if let Some(nodes) = &cmd.data_tlv {
            print_nodes(&mut out, &serde_json::to_value(nodes)?, 2);
        }
    }
    match c.le {
        Some(le) => outln!(out, "  Le {le}"),
        None => outln!(out, "  no Le"),
    }
    emit(&out)
}

fn print_nodes(out: &mut String, v: &serde_json::Value, indent: usize) {
    let Some(items) = v.as_array() else { return };
    for n in items {
        let pad = "  ".repeat(indent);
        let tag = n["tag"].as_str().unwrap_or("?");
        let name = n["name"].as_str().unwrap_or("(unknown tag)");
        match n.get("children") {
            Some(c) => {
                outln!(out, "{pad}{tag} {name}");
                print_nodes(out, c, indent + 1);
            }
            None => outln!(
                out,
                "{pad}{tag} {name}: {}",
                n["value"].as_str().unwrap_or("")
            ),
        }
    }
}
