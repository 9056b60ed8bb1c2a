//! Loader for known-answer vector files under `tests/vectors/`.
//!
//! File format (one shared format for every vector file of this crate):
//!
//! ```text
//! # Source: <publication, section, or URL>       <- required, names the source
//! # free comment lines start with '#'
//!
//! name = first record       <- records are groups of `key = value` lines
//! key = 0123456789ABCDEF
//! expected = ...
//!
//! name = second record      <- a blank line ends a record
//! ...
//! ```
//!
//! Values are taken verbatim after the first `=` (trimmed); an empty value is allowed.

#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

/// One record of a vector file.
#[derive(Debug, Clone)]
pub struct Record {
    pub line: usize,
    pub fields: BTreeMap<String, String>,
}

impl Record {
    /// A field's text; panics with the record's line number if missing (tests only).
    pub fn get(&self, k: &str) -> &str {
        self.fields
            .get(k)
            .unwrap_or_else(|| panic!("record at line {}: missing field `{k}`", self.line))
    }
    /// An optional field.
    pub fn opt(&self, k: &str) -> Option<&str> {
        self.fields.get(k).map(String::as_str)
    }
    /// A hex field decoded to bytes (spaces allowed).
    pub fn hex(&self, k: &str) -> Vec<u8> {
        let s: String = self.get(k).chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(&s).unwrap_or_else(|e| panic!("record at line {}: field `{k}`: {e}", self.line))
    }
    /// A decimal field.
    pub fn num(&self, k: &str) -> u64 {
        self.get(k)
            .parse()
            .unwrap_or_else(|e| panic!("record at line {}: field `{k}`: {e}", self.line))
    }
    /// The record's name, or its line number.
    pub fn name(&self) -> String {
        self.opt("name")
            .map_or_else(|| format!("line {}", self.line), str::to_owned)
    }
}

/// Loads `tests/vectors/<file>`; asserts it names its source and has records.
pub fn load(file: &str) -> Vec<Record> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "vectors", file]
        .iter()
        .collect();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("# Source:")),
        "{file}: vector files must name their source in a `# Source:` line"
    );
    let mut out = Vec::new();
    let mut cur: Option<Record> = None;
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.starts_with('#') {
            continue;
        }
        if l.is_empty() {
            if let Some(r) = cur.take() {
                out.push(r);
            }
            continue;
        }
        let (k, v) = l
            .split_once('=')
            .unwrap_or_else(|| panic!("{file}:{}: expected `key = value`", i + 1));
        cur.get_or_insert_with(|| Record {
            line: i + 1,
            fields: BTreeMap::new(),
        })
        .fields
        .insert(k.trim().to_owned(), v.trim().to_owned());
    }
    if let Some(r) = cur.take() {
        out.push(r);
    }
    assert!(!out.is_empty(), "{file}: no records");
    out
}
