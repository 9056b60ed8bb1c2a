//! `lamina dol build|parse`.

use anyhow::Result;
use clap::{Args, Subcommand};
use lamina_emv::dict;
use lamina_emv::dol::Dol;
use lamina_tlv::Tag;
use serde::Serialize;

use crate::input::{bad, hex_arg};
use crate::outln;
use crate::output::{emit, hx, masked_value, print_json};

#[derive(Debug, Subcommand)]
pub enum DolCommand {
    /// Build the data a DOL asks for (EMV Book 3 §5.4 padding/truncation rules).
    Build(BuildArgs),
    /// List the entries of a DOL.
    Parse(ParseArgs),
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The DOL as hex (e.g. the value of 9F38 or 8C).
    #[arg(long)]
    pub dol: String,
    /// Data elements as TAG=HEX (repeatable), e.g. --data 9F02=000000001000.
    #[arg(long = "data", value_name = "TAG=HEX")]
    pub data: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The DOL as hex.
    pub dol: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: DolCommand) -> Result<()> {
    match cmd {
        DolCommand::Build(a) => build(a),
        DolCommand::Parse(a) => parse(a),
    }
}

#[derive(Debug, Serialize)]
struct EntryOut {
    tag: String,
    name: Option<&'static str>,
    format: Option<String>,
    length: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplied: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<String>,
}

fn entries(dol: &Dol) -> Vec<EntryOut> {
    dol.entries
        .iter()
        .map(|e| EntryOut {
            tag: e.tag.to_string(),
            name: dict::name_of(e.tag.number()),
            format: dict::format_of(e.tag.number()).map(|f| f.to_string()),
            length: e.len,
            supplied: None,
            value: None,
        })
        .collect()
}

fn parse(a: ParseArgs) -> Result<()> {
    let dol = Dol::parse(&hex_arg(&a.dol, "DOL")?).map_err(|e| bad(format!("DOL: {e}")))?;
    let list = entries(&dol);
    if a.json {
        return print_json(&serde_json::json!({ "entries": list, "data_length": dol.data_len() }));
    }
    let mut out = String::new();
    for e in &list {
        outln!(
            out,
            "{:<6} {:>3}  {:<4} {}",
            e.tag,
            e.length,
            e.format.as_deref().unwrap_or("?"),
            e.name.unwrap_or("(unknown tag)")
        );
    }
    outln!(out, "total {} bytes", dol.data_len());
    emit(&out)
}

fn build(a: BuildArgs) -> Result<()> {
    let dol = Dol::parse(&hex_arg(&a.dol, "--dol")?).map_err(|e| bad(format!("--dol: {e}")))?;
    let mut source: Vec<(Tag, Vec<u8>)> = Vec::new();
    for d in &a.data {
        let (t, v) = d
            .split_once('=')
            .ok_or_else(|| bad(format!("--data `{d}`: expected TAG=HEX")))?;
        let tag = Tag::parse_hex(t)
            .ok_or_else(|| bad(format!("--data `{t}=…`: `{t}` is not a complete hex tag")))?;
        source.push((tag, hex_arg(v, &format!("--data {t}"))?));
    }
    let data = dol.build(source.as_slice());
    let parts = dol
        .split(&data)
        .map_err(|e| bad(format!("internal DOL split: {e}")))?;
    let mut list = entries(&dol);
    for (e, (tag, v)) in list.iter_mut().zip(parts) {
        e.supplied = Some(source.iter().any(|(t, _)| *t == tag));
        e.value = Some(if dict::is_sensitive(tag.number()) {
            masked_value(tag.number(), v)
        } else {
            hx(v)
        });
    }
    let masked = dol
        .entries
        .iter()
        .any(|e| dict::is_sensitive(e.tag.number()));
    let data_hex = if masked {
        format!("(contains masked data, {} bytes)", data.len())
    } else {
        hx(&data)
    };
    if a.json {
        return print_json(
            &serde_json::json!({ "data": data_hex, "length": data.len(), "entries": list }),
        );
    }
    let mut out = String::new();
    outln!(out, "{data_hex}");
    for e in &list {
        outln!(
            out,
            "  {:<6} {:>3}  {:<4} {:<40} {}{}",
            e.tag,
            e.length,
            e.format.as_deref().unwrap_or("?"),
            e.name.unwrap_or("(unknown tag)"),
            e.value.as_deref().unwrap_or(""),
            if e.supplied == Some(true) {
                ""
            } else {
                "  (not supplied: zeros)"
            }
        );
    }
    emit(&out)
}
