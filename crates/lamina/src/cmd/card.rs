//! `lamina card personalize | apdu | state`: the emulated chip from the command line.
//!
//! A *chip image* is the card's non-volatile memory in the chip OS's format
//! (`lamina-card-image/1`, JSON): `card personalize` builds one from the bureau's
//! card file, `card apdu` sends raw APDUs to it (and saves the chip back, so
//! counters, PIN tries and logs persist), `card state` shows its counters — never
//! its keys.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use lamina_apdu::{Command, Response};
use lamina_card::{Card, Interface, Protocol};
use serde::Serialize;

use crate::chip::{ChipRng, chip_from_prepared, rom};
use crate::cmd::tlv::{Node, decode_nodes};
use crate::input::{bad, hex_arg};
use crate::outln;
use crate::output::{emit, hx, print_json};

#[derive(Debug, Args)]
pub struct PersonalizeArgs {
    /// The bureau's card file (`lamina card issue` writes `cards/<id>.img`).
    pub card: PathBuf,
    /// Where to write the chip image (default: next to it, `<id>.chip.json`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Seed of the chip's random number generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApduArgs {
    /// The chip image (JSON, `lamina-card-image/1`).
    pub card: PathBuf,
    /// Command APDUs in hex, sent in order.
    #[arg(required = true)]
    pub apdus: Vec<String>,
    /// Power the card on its contactless interface.
    #[arg(long)]
    pub contactless: bool,
    /// Do not save the chip back to the image.
    #[arg(long)]
    pub no_save: bool,
    /// Show PAN and track data in full (masked by default, also in the raw
    /// response hex).
    #[arg(long)]
    pub reveal_pan: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StateArgs {
    /// The chip image.
    pub card: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// Loads a chip image.
pub fn load_chip(path: &Path) -> Result<Card> {
    let json =
        std::fs::read_to_string(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    Card::load_image(
        rom(),
        ChipRng(lamina_card::SeededRng::new(rand::random::<u64>())),
        &json,
    )
    .map_err(|e| bad(format!("{}: not a chip image: {e}", path.display())))
}

/// Saves a chip image (mode 0600: it holds the chip's keys).
pub fn save_chip(path: &Path, card: &Card) -> Result<()> {
    lamina_perso::util::write_private(path, card.save_image().as_bytes())
        .with_context(|| format!("saving {}", path.display()))
}

pub fn personalize(a: PersonalizeArgs) -> Result<()> {
    let prepared = lamina_perso::image::load(&a.card)
        .map_err(|e| bad(format!("{}: {e}", a.card.display())))?;
    let card = chip_from_prepared(&prepared, a.seed)?;
    let out = a.out.unwrap_or_else(|| a.card.with_extension("chip.json"));
    save_chip(&out, &card)?;
    if a.json {
        return crate::output::print_json(&serde_json::json!({
            "card_id": prepared.card_id,
            "pan": prepared.masked_pan(),
            "chip_image": out.display().to_string(),
        }));
    }
    emit(&format!(
        "chip image of {} ({}) written to {}\n",
        prepared.card_id,
        prepared.masked_pan(),
        out.display()
    ))
}

#[derive(Debug, Serialize)]
struct Exchange {
    command: String,
    instruction: &'static str,
    response: String,
    sw: String,
    meaning: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_tlv: Option<Vec<Node>>,
}

pub fn apdu(a: ApduArgs) -> Result<()> {
    let mut card = load_chip(&a.card)?;
    let iface = if a.contactless {
        Interface::Contactless
    } else {
        Interface::Contact
    };
    let atr = card
        .power_on(iface, Protocol::T1)
        .map_err(|e| anyhow::anyhow!("power on: {e}"))?;
    let mut log = Vec::new();
    for (i, h) in a.apdus.iter().enumerate() {
        let bytes = hex_arg(h, &format!("APDU {}", i + 1))?;
        let cmd = Command::parse(&bytes).map_err(|e| bad(format!("APDU {}: {e}", i + 1)))?;
        let raw = card
            .process(&bytes)
            .map_err(|e| anyhow::anyhow!("card: {e}"))?;
        let r = Response::parse(&raw).map_err(|e| anyhow::anyhow!("card answered: {e}"))?;
        let data_tlv = (!r.data.is_empty())
            .then(|| decode_nodes(&r.data, a.reveal_pan).ok())
            .flatten();
        let command = if cmd.instruction().carries_pin() {
            format!(
                "{:02X}{:02X}{:02X}{:02X} REDACTED",
                cmd.cla, cmd.ins, cmd.p1, cmd.p2
            )
        } else {
            hx(&bytes)
        };
        log.push(Exchange {
            command,
            instruction: cmd.instruction().name(),
            response: if a.reveal_pan {
                hx(&r.data)
            } else {
                lamina_emv::dict::mask_pan_hex(&r.data)
            },
            sw: format!("{:04X}", r.sw.0),
            meaning: r.sw.meaning(),
            data_tlv,
        });
    }
    card.power_off();
    if !a.no_save {
        save_chip(&a.card, &card)?;
    }
    if a.json {
        return print_json(&serde_json::json!({ "atr": hx(&atr), "exchanges": log }));
    }
    let mut out = String::new();
    outln!(out, "ATR/ATS {}", hx(&atr));
    for x in &log {
        outln!(out, "> {}  ({})", x.command, x.instruction);
        match &x.data_tlv {
            Some(nodes) => {
                for line in crate::cmd::tlv::tree_lines(nodes) {
                    outln!(out, "  {line}");
                }
            }
            None if !x.response.is_empty() => outln!(out, "  {}", x.response),
            None => {}
        }
        outln!(out, "< {} {}", x.sw, x.meaning);
    }
    emit(&out)
}

/// Records a state listing may show (counters and logs; never keys or the PIN).
fn visible(key: &str) -> bool {
    !(key.starts_with("key.") || key.starts_with("rsa.") || key == "pin" || key == "kcv")
}

#[derive(Debug, Serialize)]
struct AppState {
    aid: String,
    class: String,
    label: String,
    life_cycle: String,
    counters: Vec<(String, String)>,
    hidden_secrets: usize,
}

pub fn state(a: StateArgs) -> Result<()> {
    let card = load_chip(&a.card)?;
    let image = lamina_card::image::CardImage::from_json(&card.save_image())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut apps = Vec::new();
    for inst in &image.applets {
        let ns = image.nvm.records.get(&inst.aid.to_hex());
        let mut counters = Vec::new();
        let mut hidden = 0;
        if let Some(ns) = ns {
            for (k, v) in ns {
                if !visible(k) {
                    hidden += 1;
                } else if k.starts_with("rec.") || k.starts_with("fci") || k == "getdata" {
                    // Records carry the PAN and track data: sizes only (decode them
                    // with `card apdu … READ RECORD`, which masks the PAN).
                    counters.push((k.clone(), format!("({} bytes)", v.0.len())));
                } else {
                    counters.push((k.clone(), hx(&v.0)));
                }
            }
        }
        apps.push(AppState {
            aid: inst.aid.to_hex(),
            class: inst.class.clone(),
            label: inst.label.clone(),
            life_cycle: format!("{:?}", card.app_life_cycle(&inst.aid)),
            counters,
            hidden_secrets: hidden,
        });
    }
    if a.json {
        return print_json(&serde_json::json!({
            "card_life_cycle": format!("{:?}", card.life_cycle()),
            "applications": apps,
        }));
    }
    let mut out = String::new();
    outln!(out, "card life cycle: {:?}", card.life_cycle());
    for app in &apps {
        outln!(
            out,
            "\n{} {} ({}), {}",
            app.aid,
            app.label,
            app.class,
            app.life_cycle
        );
        for (k, v) in &app.counters {
            let note = match k.as_str() {
                "atc" => "  application transaction counter",
                "lonatc" => "  last online ATC",
                "ptc" => "  PIN tries left",
                "ptl" => "  PIN try limit",
                "cons" => "  consecutive offline transactions",
                "cum" => "  cumulative offline amount",
                _ => "",
            };
            let shown = if v.len() > 48 {
                format!("{}… ({} bytes)", &v[..48], v.len() / 2)
            } else {
                v.clone()
            };
            outln!(out, "  {k:<10} {shown}{note}");
        }
        outln!(
            out,
            "  ({} secret records not shown: keys and PIN)",
            app.hidden_secrets
        );
    }
    emit(&out)
}
