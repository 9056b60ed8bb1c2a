//! Parsing of command-line inputs; every failure is an [`InputError`] (exit code 2).

use std::io::Read;

/// An input the user gave could not be used. Never contains secret values.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

/// Shorthand for an input error.
pub fn bad(msg: impl Into<String>) -> anyhow::Error {
    InputError(msg.into()).into()
}

/// Reads a hex argument: spaces, colons and newlines are ignored; `-` reads stdin.
/// `what` names the argument in errors.
pub fn hex_arg(s: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    let text = if s == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| bad(format!("{what}: cannot read stdin: {e}")))?;
        buf
    } else {
        s.to_owned()
    };
    let clean: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    if let Some(pos) = clean.find(|c: char| !c.is_ascii_hexdigit()) {
        return Err(bad(format!(
            "{what}: not hex: unexpected character at position {pos}"
        )));
    }
    if !clean.len().is_multiple_of(2) {
        return Err(bad(format!(
            "{what}: odd number of hex digits ({})",
            clean.len()
        )));
    }
    hex::decode(&clean).map_err(|e| bad(format!("{what}: {e}")))
}

/// Reads a text argument or, for `-`, stdin; `@path` reads a file.
pub fn text_arg(s: &str, what: &str) -> anyhow::Result<String> {
    if s == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| bad(format!("{what}: cannot read stdin: {e}")))?;
        Ok(buf)
    } else if let Some(path) = s.strip_prefix('@') {
        std::fs::read_to_string(path).map_err(|e| bad(format!("{what}: {path}: {e}")))
    } else {
        Ok(s.to_owned())
    }
}
