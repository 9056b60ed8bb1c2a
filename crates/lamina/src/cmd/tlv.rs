//! `lamina tlv decode|encode`.

use anyhow::Result;
use clap::{Args, Subcommand};
use lamina_emv::{bitmaps, dict};
use lamina_tlv::{MAX_DEPTH, Parser, Tag, Tlv, TlvRef};
use serde::{Deserialize, Serialize};

use crate::input::{bad, hex_arg, text_arg};
use crate::outln;
use crate::output::{emit, hx, masked_value, print_json};

#[derive(Debug, Subcommand)]
pub enum TlvCommand {
    /// Decode BER-TLV hex into a tree with EMV tag names and decoded bitmaps.
    Decode(DecodeArgs),
    /// Encode a tree (JSON, or indented `TAG value` lines) into BER-TLV hex.
    Encode(EncodeArgs),
}

#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Hex bytes (several arguments are joined; spaces allowed), or `-` for stdin.
    #[arg(required = true)]
    pub hex: Vec<String>,
    /// Print JSON instead of the indented tree.
    #[arg(long)]
    pub json: bool,
    /// Show PAN and track data in full (masked by default).
    #[arg(long)]
    pub reveal_pan: bool,
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// The tree: JSON (`{"6F": {"84": "A0000000041010"}}` or the array printed by
    /// `tlv decode --json`), or indented lines `TAG HEX` / `TAG "text"`; `-` for stdin,
    /// `@file` for a file.
    pub input: String,
    /// Print JSON (`{"hex": ...}`) instead of bare hex.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: TlvCommand) -> Result<()> {
    match cmd {
        TlvCommand::Decode(a) => decode(a),
        TlvCommand::Encode(a) => encode(a),
    }
}

/// A decoded node, as printed by `--json` and accepted back by `tlv encode`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Node {
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_deserializing, skip_serializing_if = "Vec::is_empty")]
    pub explain: Vec<bitmaps::Explained>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub children: Option<Vec<Node>>,
}

/// Decodes `data` into nodes; errors carry the byte offset.
pub fn decode_nodes(data: &[u8], reveal_pan: bool) -> Result<Vec<Node>, lamina_tlv::Error> {
    level(lamina_tlv::parse(data), 0, reveal_pan)
}

fn level(p: Parser<'_>, depth: usize, reveal: bool) -> Result<Vec<Node>, lamina_tlv::Error> {
    let mut out = Vec::new();
    for item in p {
        let t = item?;
        out.push(node(&t, depth, reveal)?);
    }
    Ok(out)
}

fn node(t: &TlvRef<'_>, depth: usize, reveal: bool) -> Result<Node, lamina_tlv::Error> {
    let n = t.tag.number();
    let mut node = Node {
        tag: t.tag.to_string(),
        name: dict::name_of(n).map(str::to_owned),
        offset: Some(t.offset),
        length: Some(t.value.len()),
        value: None,
        text: None,
        explain: Vec::new(),
        children: None,
    };
    if t.is_constructed() {
        if depth + 1 >= MAX_DEPTH {
            return Err(lamina_tlv::Error {
                offset: t.offset,
                kind: lamina_tlv::ErrorKind::TooDeep,
            });
        }
        node.children = Some(level(t.children(), depth + 1, reveal)?);
    } else if dict::is_sensitive(n) && !reveal {
        node.value = Some(masked_value(n, t.value));
        node.text = Some("(masked; --reveal-pan to show)".into());
    } else {
        node.value = Some(hx(t.value));
        node.text = dict::render_value(n, t.value).or_else(|| printable(t.value));
        node.explain = bitmaps::explain(n, t.value).unwrap_or_default();
    }
    Ok(node)
}

/// ASCII text of a binary value when every byte is printable (AIDs spelled as
/// names, DF names such as `1PAY.SYS.DDF01`).
fn printable(v: &[u8]) -> Option<String> {
    (v.len() >= 4 && v.iter().all(|b| b.is_ascii_graphic() || *b == b' '))
        .then(|| String::from_utf8_lossy(v).into_owned())
}

/// The indented text tree of decoded nodes, one line per entry.
pub fn tree_lines(nodes: &[Node]) -> Vec<String> {
    let mut out = String::new();
    print_tree(&mut out, nodes, 0);
    out.lines().map(str::to_owned).collect()
}

fn print_tree(out: &mut String, nodes: &[Node], indent: usize) {
    for n in nodes {
        let pad = "  ".repeat(indent);
        let name = n.name.as_deref().unwrap_or("(unknown tag)");
        let len = n.length.unwrap_or(0);
        match &n.children {
            Some(children) => {
                outln!(out, "{pad}{} {name} [{len} bytes]", n.tag);
                print_tree(out, children, indent + 1);
            }
            None => {
                let value = n.value.as_deref().unwrap_or("");
                match &n.text {
                    Some(t) if !t.is_empty() && t != value => {
                        outln!(out, "{pad}{} {name} [{len}]: {value}  \"{t}\"", n.tag)
                    }
                    _ => outln!(out, "{pad}{} {name} [{len}]: {value}", n.tag),
                }
                for e in &n.explain {
                    outln!(out, "{pad}    · {}: {}", e.label, e.detail);
                }
            }
        }
    }
}

fn decode(a: DecodeArgs) -> Result<()> {
    let data = hex_arg(&a.hex.join(""), "HEX")?;
    let nodes = decode_nodes(&data, a.reveal_pan).map_err(|e| bad(format!("TLV {e}")))?;
    if a.json {
        print_json(&nodes)
    } else {
        let mut out = String::new();
        print_tree(&mut out, &nodes, 0);
        emit(&out)
    }
}

fn encode(a: EncodeArgs) -> Result<()> {
    let text = text_arg(&a.input, "INPUT")?;
    let list = parse_tree_text(&text)?;
    let h = hx(&Tlv::encode_all(&list));
    if a.json {
        print_json(&serde_json::json!({ "hex": h }))
    } else {
        emit(&format!("{h}\n"))
    }
}

/// Parses the `tlv encode` input: JSON or indented lines.
pub fn parse_tree_text(text: &str) -> Result<Vec<Tlv>> {
    let t = text.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        let v: serde_json::Value =
            serde_json::from_str(t).map_err(|e| bad(format!("INPUT: JSON: {e}")))?;
        from_json(&v, "")
    } else {
        from_lines(text)
    }
}

fn tag_of(s: &str, at: &str) -> Result<Tag> {
    Tag::parse_hex(s).ok_or_else(|| bad(format!("INPUT{at}: `{s}` is not a complete hex tag")))
}

fn value_of(s: &str, at: &str) -> Result<Vec<u8>> {
    let s = s.trim();
    if let Some(q) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        return Ok(q.as_bytes().to_vec());
    }
    hex_arg(s, &format!("INPUT{at}"))
}

fn from_json(v: &serde_json::Value, at: &str) -> Result<Vec<Tlv>> {
    use serde_json::Value as J;
    match v {
        J::Object(map) if map.contains_key("tag") => Ok(vec![json_node(v, at)?]),
        J::Object(map) => map
            .iter()
            .map(|(k, val)| {
                let here = format!("{at}/{k}");
                let tag = tag_of(k, &here)?;
                match val {
                    J::String(s) => Ok(Tlv::primitive(tag, value_of(s, &here)?)),
                    J::Object(_) | J::Array(_) => Ok(Tlv::constructed(tag, from_json(val, &here)?)),
                    _ => Err(bad(format!(
                        "INPUT{here}: expected a hex string or an object"
                    ))),
                }
            })
            .collect(),
        J::Array(items) => {
            let mut out = Vec::new();
            for (i, item) in items.iter().enumerate() {
                out.extend(from_json(item, &format!("{at}[{i}]"))?);
            }
            Ok(out)
        }
        _ => Err(bad(format!("INPUT{at}: expected an object or an array"))),
    }
}

fn json_node(v: &serde_json::Value, at: &str) -> Result<Tlv> {
    let node: Node =
        serde_json::from_value(v.clone()).map_err(|e| bad(format!("INPUT{at}: {e}")))?;
    let here = format!("{at}/{}", node.tag);
    let tag = tag_of(&node.tag, &here)?;
    match (node.children, node.value) {
        (Some(children), _) => {
            let mut kids = Vec::new();
            for (i, c) in children.iter().enumerate() {
                let j = serde_json::to_value(c)?;
                kids.push(json_node(&j, &format!("{here}[{i}]"))?);
            }
            Ok(Tlv::constructed(tag, kids))
        }
        (None, Some(value)) => Ok(Tlv::primitive(tag, value_of(&value, &here)?)),
        (None, None) => Ok(Tlv::primitive(tag, Vec::new())),
    }
}

/// Indented lines: `TAG` opens a constructed object (children indented below it),
/// `TAG HEX` or `TAG "text"` is a primitive; `#` starts a comment.
fn from_lines(text: &str) -> Result<Vec<Tlv>> {
    // (indent, tag, value or None for constructed, line number)
    let mut rows = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split_once(" #").map_or(raw, |(a, _)| a);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let body = line.trim();
        let at = format!(" line {}", i + 1);
        let (tag_s, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
        let tag_s = tag_s.trim_end_matches(':');
        let tag = tag_of(tag_s, &at)?;
        let value = if rest.trim().is_empty() {
            None
        } else {
            Some(value_of(rest, &at)?)
        };
        rows.push((indent, tag, value, i + 1));
    }
    let mut pos = 0;
    build_level(&rows, &mut pos, None)
}

type Row = (usize, Tag, Option<Vec<u8>>, usize);

fn build_level(rows: &[Row], pos: &mut usize, parent_indent: Option<usize>) -> Result<Vec<Tlv>> {
    let mut out = Vec::new();
    let mut level_indent = None;
    while let Some((indent, tag, value, line)) = rows.get(*pos) {
        if parent_indent.is_some_and(|p| *indent <= p) {
            break;
        }
        match level_indent {
            None => level_indent = Some(*indent),
            Some(l) if *indent != l => {
                return Err(bad(format!("INPUT line {line}: inconsistent indentation")));
            }
            _ => {}
        }
        *pos += 1;
        match value {
            Some(v) => out.push(Tlv::primitive(*tag, v.clone())),
            None if tag.is_constructed() => {
                let children = build_level(rows, pos, Some(*indent))?;
                out.push(Tlv::constructed(*tag, children));
            }
            None => out.push(Tlv::primitive(*tag, Vec::new())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_json_agree() {
        let lines = "6F\n  84 315041592E5359532E4444463031\n  A5\n    88 02\n    5F2D \"en\"\n";
        let json = r#"{"6F": {"84": "315041592E5359532E4444463031", "A5": {"88": "02", "5F2D": "\"en\""}}}"#;
        let want = "6F1A840E315041592E5359532E4444463031A5088801025F2D02656E";
        assert_eq!(hx(&Tlv::encode_all(&parse_tree_text(lines).unwrap())), want);
        assert_eq!(hx(&Tlv::encode_all(&parse_tree_text(json).unwrap())), want);
        // the decode JSON form round-trips
        let nodes = decode_nodes(&hex::decode(want).unwrap(), true).unwrap();
        let j = serde_json::to_string(&nodes).unwrap();
        assert_eq!(hx(&Tlv::encode_all(&parse_tree_text(&j).unwrap())), want);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(parse_tree_text("6F\n 84 ZZ").is_err());
        assert!(parse_tree_text("9F 01").is_err());
        assert!(parse_tree_text("{\"6F\": 5}").is_err());
    }
}
