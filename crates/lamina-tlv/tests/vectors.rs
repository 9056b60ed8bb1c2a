//! Data-driven tests over real EMV card responses published in public traces
//! (`tests/vectors/*.txt`): SELECT PPSE / PSE / AID (FCI, EMV Book 1 §11.3.4,
//! Book 3 §6.5.5), PSE directory records (Book 1 §12.2.3), GET PROCESSING OPTIONS
//! in both response formats (Book 3 §6.5.8.4), READ RECORD (Book 3 §6.5.11.4)
//! and GENERATE AC in both formats (Book 3 §6.5.5.4).
//!
//! # Vector file format
//!
//! One response per file, UTF-8 text, one `key = value` per line:
//!
//! ```text
//! # Source: <repository + path + commit, or URL>     (required, first comment block)
//! # Card: <which card>   # Step: <which command in the trace>
//! name = mastercard_ppse_fci          # must equal the file stem
//! kind = fci                          # fci | pse_record | gpo1 | gpo2 | record | genac1 | genac2
//! canonical = no                      # optional, default yes; see below
//! hex = 6F3C840E...                   # response data without SW1 SW2; repeated
//! hex = ...                           #   `hex` lines are concatenated in order
//! expect = 6F/84 = 325041592E5359532E4444463031   # value at a tag path (repeatable);
//!                                                 # constructed: encoded children
//! count = 6F/A5/BF0C/61 = 3           # number of `61` children of 6F/A5/BF0C
//! ```
//!
//! Lines starting with `#` are comments; text after `#` on a `key = value` line is
//! a comment. Unknown keys are an error, so a typo cannot silently disable a check.
//!
//! `canonical = no` marks an input that is not the minimal encoding of its tree
//! (here: `00` padding inside a template, EMV Book 3 Annex B1). For those the
//! re-encoding is shorter than the input and the borrowing parser's `raw` slices
//! are checked against the input instead; every other vector must re-encode to
//! exactly its input bytes.
//!
//! Card data in these files comes from public traces of cards their owners chose to
//! publish. Test messages never print response bytes or values of cardholder tags
//! (PAN, track data, name): they report offsets, lengths and tag paths only.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use lamina_tlv::{Parser, Tag, Tlv, find_path, parse, parse_path};

/// The response kinds a vector may declare.
const KINDS: [&str; 7] = [
    "fci",
    "pse_record",
    "gpo1",
    "gpo2",
    "record",
    "genac1",
    "genac2",
];

/// Tags whose values are cardholder data and must never appear in test output.
const SENSITIVE: [u32; 7] = [0x5A, 0x57, 0x56, 0x9F6B, 0x5F20, 0x9F1F, 0x9F20];

#[derive(Debug)]
struct Vector {
    file: String,
    name: String,
    kind: String,
    canonical: bool,
    data: Vec<u8>,
    expects: Vec<(String, Vec<u8>)>,
    counts: Vec<(String, usize)>,
}

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("vectors")
}

fn load_all() -> Result<Vec<Vector>, String> {
    let dir = vectors_dir();
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().is_some_and(|x| x == "txt") {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| load_one(p)).collect()
}

fn load_one(path: &Path) -> Result<Vector, String> {
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .ok_or_else(|| format!("{}: bad file name", path.display()))?
        .to_string();
    let text = fs::read_to_string(path).map_err(|e| format!("{file}: {e}"))?;
    let mut has_source = false;
    let mut name = None;
    let mut kind = None;
    let mut canonical = true;
    let mut hex_text = String::new();
    let mut expects = Vec::new();
    let mut counts = Vec::new();

    for (i, raw_line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if let Some(src) = comment.trim_start().strip_prefix("Source:") {
                has_source |= !src.trim().is_empty();
            }
            continue;
        }
        let line = line.split('#').next().unwrap_or_default().trim();
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("{file}:{line_no}: expected `key = value`"))?;
        let value = value.trim();
        match key.trim() {
            "name" => name = Some(value.to_string()),
            "kind" => {
                if !KINDS.contains(&value) {
                    return Err(format!("{file}:{line_no}: unknown kind `{value}`"));
                }
                kind = Some(value.to_string());
            }
            "canonical" => {
                canonical = match value {
                    "yes" => true,
                    "no" => false,
                    _ => return Err(format!("{file}:{line_no}: canonical must be yes or no")),
                }
            }
            "hex" => hex_text.push_str(value),
            "expect" => {
                let (path, val) = value
                    .split_once('=')
                    .ok_or_else(|| format!("{file}:{line_no}: expected `expect = PATH = HEX`"))?;
                let path = path.trim().to_string();
                parse_path(&path).map_err(|e| format!("{file}:{line_no}: path {path}: {e}"))?;
                let val = hex::decode(val.trim())
                    .map_err(|e| format!("{file}:{line_no}: expected value: {e}"))?;
                expects.push((path, val));
            }
            "count" => {
                let (path, n) = value
                    .split_once('=')
                    .ok_or_else(|| format!("{file}:{line_no}: expected `count = PATH = N`"))?;
                let path = path.trim().to_string();
                let tags =
                    parse_path(&path).map_err(|e| format!("{file}:{line_no}: path {path}: {e}"))?;
                if tags.len() < 2 {
                    return Err(format!(
                        "{file}:{line_no}: count path needs a parent and a tag"
                    ));
                }
                let n = n
                    .trim()
                    .parse()
                    .map_err(|e| format!("{file}:{line_no}: count: {e}"))?;
                counts.push((path, n));
            }
            other => return Err(format!("{file}:{line_no}: unknown key `{other}`")),
        }
    }

    if !has_source {
        return Err(format!("{file}: missing `# Source:` line"));
    }
    let name = name.ok_or_else(|| format!("{file}: missing `name`"))?;
    if file.strip_suffix(".txt") != Some(name.as_str()) {
        return Err(format!(
            "{file}: name `{name}` does not match the file name"
        ));
    }
    let kind = kind.ok_or_else(|| format!("{file}: missing `kind`"))?;
    let data = hex::decode(&hex_text).map_err(|e| format!("{file}: hex: {e}"))?;
    if data.is_empty() {
        return Err(format!("{file}: empty `hex`"));
    }
    Ok(Vector {
        file,
        name,
        kind,
        canonical,
        data,
        expects,
        counts,
    })
}

/// Runs `check` on every vector and fails once, listing every vector that failed.
fn for_each_vector(check: impl Fn(&Vector) -> Result<(), String>) {
    let failures: Vec<String> = match load_all() {
        Ok(all) => all
            .iter()
            .filter_map(|v| check(v).err().map(|e| format!("{}: {e}", v.name)))
            .collect(),
        Err(e) => vec![format!("loading test vectors: {e}")],
    };
    assert!(
        failures.is_empty(),
        "{} vector(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A value for test messages: hex, or only its length for cardholder data and for
/// constructed values (which may contain cardholder data).
fn shown(tag: Tag, value: &[u8]) -> String {
    if SENSITIVE.contains(&tag.number()) || tag.is_constructed() {
        format!("<{} bytes, not shown>", value.len())
    } else {
        hex::encode_upper(value)
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

fn parse_tree(v: &Vector) -> Result<Vec<Tlv>, String> {
    Tlv::parse_all(&v.data).map_err(|e| format!("parse_all failed: {e}"))
}

/// The one top-level object every EMV response template is.
fn single_top(tree: &[Tlv]) -> Result<&Tlv, String> {
    match tree {
        [one] => Ok(one),
        _ => Err(format!(
            "expected one top-level object, found {}",
            tree.len()
        )),
    }
}

fn child(parent: &Tlv, tag: u32) -> Result<&Tlv, String> {
    parent
        .children()
        .iter()
        .find(|c| c.tag == Tag::new(tag))
        .ok_or_else(|| format!("{} has no {} child", parent.tag, Tag::new(tag)))
}

fn primitive(t: &Tlv) -> Result<&[u8], String> {
    t.value_bytes()
        .ok_or_else(|| format!("{} should be primitive", t.tag))
}

// ---------------------------------------------------------------- the set itself

#[test]
fn vector_set_is_complete() {
    let all = load_all().unwrap();
    assert!(all.len() >= 12, "only {} vectors", all.len());
    let mut names = HashSet::new();
    for v in &all {
        assert!(names.insert(v.name.clone()), "duplicate name {}", v.name);
        assert!(
            !v.expects.is_empty() || v.kind == "record",
            "{}: a non-record vector needs at least one `expect`",
            v.file
        );
    }
    for kind in KINDS {
        assert!(
            all.iter().any(|v| v.kind == kind),
            "no vector of kind {kind}"
        );
    }
    assert!(
        all.iter().any(|v| !v.canonical),
        "no vector exercises padding inside a template"
    );
}

// ---------------------------------------------------------------- decoding

#[test]
fn every_vector_parses_to_one_template() {
    for_each_vector(|v| {
        let tree = parse_tree(v)?;
        single_top(&tree)?;
        Ok(())
    });
}

#[test]
fn reencoding_reproduces_the_input() {
    for_each_vector(|v| {
        let tree = parse_tree(v)?;
        let enc = Tlv::encode_all(&tree);
        if v.canonical {
            if enc != v.data {
                return Err(format!(
                    "re-encoding differs from the input at byte {} ({} vs {} bytes)",
                    first_difference(&enc, &v.data),
                    enc.len(),
                    v.data.len()
                ));
            }
        } else if enc.len() >= v.data.len() {
            return Err(format!(
                "declared `canonical = no` but re-encodes to {} bytes from {}",
                enc.len(),
                v.data.len()
            ));
        }
        // Decoding the re-encoding must give the same tree (the padding carried no data).
        let again = Tlv::parse_all(&enc).map_err(|e| format!("re-encoding does not parse: {e}"))?;
        if again != tree {
            return Err("decode(encode(tree)) differs from tree".into());
        }
        Ok(())
    });
}

/// The borrowing parser's `raw` slices are the input bytes: at top level they
/// cover everything except padding, and each child lies inside its parent's value.
#[test]
fn raw_slices_cover_the_input() {
    fn check_level(parser: Parser<'_>, input: &[u8], scope: (usize, usize)) -> Result<(), String> {
        let (start, end) = scope;
        let mut covered = start;
        for item in parser {
            let r = item.map_err(|e| format!("borrowing parser: {e}"))?;
            let gap = input
                .get(covered..r.offset)
                .ok_or("object before previous one")?;
            if !gap.iter().all(|&b| b == 0x00 || b == 0xFF) {
                return Err(format!(
                    "non-padding bytes before {} at offset {}",
                    r.tag, r.offset
                ));
            }
            let stop = r.offset + r.raw.len();
            if stop > end || input.get(r.offset..stop) != Some(r.raw) {
                return Err(format!(
                    "{} at offset {}: raw is not the input slice",
                    r.tag, r.offset
                ));
            }
            let header = r.value_offset - r.offset;
            if r.raw.get(header..) != Some(r.value) {
                return Err(format!(
                    "{} at offset {}: value is not the tail of raw",
                    r.tag, r.offset
                ));
            }
            if r.is_constructed() {
                check_level(r.children(), input, (r.value_offset, stop))?;
            }
            covered = stop;
        }
        let tail = input
            .get(covered..end)
            .ok_or("objects run past their scope")?;
        if !tail.iter().all(|&b| b == 0x00 || b == 0xFF) {
            return Err(format!("non-padding bytes after offset {covered}"));
        }
        Ok(())
    }
    for_each_vector(|v| {
        check_level(parse(&v.data), &v.data, (0, v.data.len()))?;
        let first = parse(&v.data)
            .next()
            .ok_or("no object")?
            .map_err(|e| e.to_string())?;
        if first.raw != v.data.as_slice() {
            return Err("the response is not exactly one object".into());
        }
        Ok(())
    });
}

/// The owned tree and the borrowing parser see the same tags and values.
#[test]
fn borrowing_and_owned_views_agree() {
    fn agree(parser: Parser<'_>, owned: &[Tlv], at: &str) -> Result<(), String> {
        let refs: Vec<_> = parser
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{at}: {e}"))?;
        if refs.len() != owned.len() {
            return Err(format!(
                "{at}: {} borrowed vs {} owned objects",
                refs.len(),
                owned.len()
            ));
        }
        for (r, t) in refs.iter().zip(owned) {
            let here = if at.is_empty() {
                r.tag.to_string()
            } else {
                format!("{at}/{}", r.tag)
            };
            if r.tag != t.tag {
                return Err(format!("{here}: owned tag {}", t.tag));
            }
            if r.is_constructed() {
                agree(r.children(), t.children(), &here)?;
            } else if t.value_bytes() != Some(r.value) {
                return Err(format!("{here}: values differ"));
            }
        }
        Ok(())
    }
    for_each_vector(|v| agree(parse(&v.data), &parse_tree(v)?, ""));
}

// ---------------------------------------------------------------- published values

#[test]
fn expected_values_are_found() {
    for_each_vector(|v| {
        let tree = parse_tree(v)?;
        for (path, want) in &v.expects {
            let found = find_path(&tree, path).ok_or_else(|| format!("{path}: not found"))?;
            let got = found.value_encoded();
            if &got != want {
                return Err(format!(
                    "{path}: got {}, expected {}",
                    shown(found.tag, &got),
                    shown(found.tag, want)
                ));
            }
        }
        Ok(())
    });
}

#[test]
fn expected_counts_match() {
    for_each_vector(|v| {
        let tree = parse_tree(v)?;
        for (path, want) in &v.counts {
            let (parent, tag) = path.rsplit_once('/').ok_or("count path has no parent")?;
            let tag = Tag::parse_hex(tag).ok_or("bad tag in count path")?;
            let parent = find_path(&tree, parent).ok_or_else(|| format!("{parent}: not found"))?;
            let got = parent.children().iter().filter(|c| c.tag == tag).count();
            if got != *want {
                return Err(format!("{path}: {got} objects, expected {want}"));
            }
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- per-kind structure

/// AFL entries (EMV Book 3 §10.2): SFI 1–30 in the top five bits, first record
/// not zero, last record not before first, offline-authentication count not more
/// than the records in the range.
fn check_afl(afl: &[u8]) -> Result<(), String> {
    if afl.is_empty() || !afl.len().is_multiple_of(4) {
        return Err(format!(
            "AFL of {} bytes is not a non-empty multiple of 4",
            afl.len()
        ));
    }
    for entry in afl.chunks_exact(4) {
        let (sfi, first, last, oda) = (entry[0] >> 3, entry[1], entry[2], entry[3]);
        let ok = entry[0] & 0x07 == 0
            && (1..=30).contains(&sfi)
            && first >= 1
            && last >= first
            && u16::from(oda) <= u16::from(last - first) + 1;
        if !ok {
            return Err(format!("bad AFL entry {}", hex::encode_upper(entry)));
        }
    }
    Ok(())
}

fn check_fci(top: &Tlv) -> Result<(), String> {
    if top.tag != Tag::new(0x6F) {
        return Err(format!("FCI template is {}, expected 6F", top.tag));
    }
    let df_name = primitive(child(top, 0x84)?)?;
    if !(5..=16).contains(&df_name.len()) {
        return Err(format!("DF name of {} bytes", df_name.len()));
    }
    let prop = child(top, 0xA5)?;
    if df_name == b"2PAY.SYS.DDF01" {
        // PPSE: BF0C lists the applications, each 61 with an ADF name 4F (Book B §3.3).
        let dd = child(prop, 0xBF0C)?;
        let apps: Vec<_> = dd
            .children()
            .iter()
            .filter(|c| c.tag == Tag::new(0x61))
            .collect();
        if apps.is_empty() {
            return Err("PPSE FCI lists no application template".into());
        }
        for app in apps {
            let aid = primitive(child(app, 0x4F)?)?;
            if !(5..=16).contains(&aid.len()) {
                return Err(format!("ADF name of {} bytes", aid.len()));
            }
        }
    } else if df_name == b"1PAY.SYS.DDF01" {
        // PSE: A5 carries the SFI of the directory file (Book 1 §11.3.4, Table 43).
        let sfi = primitive(child(prop, 0x88)?)?;
        if !matches!(sfi, [1..=10]) {
            return Err(format!("directory SFI {}", hex::encode_upper(sfi)));
        }
    }
    Ok(())
}

fn check_kind(v: &Vector, top: &Tlv) -> Result<(), String> {
    match v.kind.as_str() {
        "fci" => check_fci(top),
        "pse_record" | "record" => {
            if top.tag != Tag::new(0x70) || top.children().is_empty() {
                return Err(format!(
                    "record template is {}, expected a non-empty 70",
                    top.tag
                ));
            }
            if v.kind == "pse_record" {
                let apps: Vec<_> = top
                    .children()
                    .iter()
                    .filter(|c| c.tag == Tag::new(0x61))
                    .collect();
                if apps.is_empty() {
                    return Err("directory record without application template 61".into());
                }
                for app in apps {
                    let aid = primitive(child(app, 0x4F)?)?;
                    if !(5..=16).contains(&aid.len()) {
                        return Err(format!("ADF name of {} bytes", aid.len()));
                    }
                }
            }
            Ok(())
        }
        "gpo1" => {
            if top.tag != Tag::new(0x80) {
                return Err(format!("format 1 template is {}, expected 80", top.tag));
            }
            // Value = AIP (2 bytes) || AFL.
            let value = primitive(top)?;
            let (_aip, afl) = value.split_at_checked(2).ok_or("shorter than an AIP")?;
            check_afl(afl)
        }
        "gpo2" => {
            if top.tag != Tag::new(0x77) {
                return Err(format!("format 2 template is {}, expected 77", top.tag));
            }
            let aip = primitive(child(top, 0x82)?)?;
            if aip.len() != 2 {
                return Err(format!("AIP of {} bytes", aip.len()));
            }
            check_afl(primitive(child(top, 0x94)?)?)
        }
        "genac1" => {
            if top.tag != Tag::new(0x80) {
                return Err(format!("format 1 template is {}, expected 80", top.tag));
            }
            // CID (1) || ATC (2) || AC (8) || optional IAD (up to 32).
            let value = primitive(top)?;
            if !(11..=43).contains(&value.len()) {
                return Err(format!("format 1 value of {} bytes", value.len()));
            }
            match value.first() {
                Some(cid) if cid & 0xC0 != 0xC0 => Ok(()),
                _ => Err("CID does not name AAC, TC or ARQC".into()),
            }
        }
        "genac2" => {
            if top.tag != Tag::new(0x77) {
                return Err(format!("format 2 template is {}, expected 77", top.tag));
            }
            for (tag, len) in [(0x9F27, 1), (0x9F36, 2), (0x9F26, 8)] {
                let value = primitive(child(top, tag)?)?;
                if value.len() != len {
                    return Err(format!(
                        "{} of {} bytes, expected {len}",
                        Tag::new(tag),
                        value.len()
                    ));
                }
            }
            let cid = primitive(child(top, 0x9F27)?)?;
            if cid.first().is_some_and(|c| c & 0xC0 == 0xC0) {
                return Err("CID does not name AAC, TC or ARQC".into());
            }
            Ok(())
        }
        other => Err(format!("unknown kind {other}")),
    }
}

#[test]
fn responses_have_the_structure_of_their_kind() {
    for_each_vector(|v| {
        let tree = parse_tree(v)?;
        check_kind(v, single_top(&tree)?)
    });
}

// ---------------------------------------------------------------- damaged input

/// Cutting a response anywhere inside its outer template is an error, never a
/// panic and never a silently shorter tree; the error points inside the input.
#[test]
fn truncation_inside_the_template_is_an_error() {
    for_each_vector(|v| {
        let outer_end = match parse(&v.data).next() {
            Some(Ok(r)) => r.offset + r.raw.len(),
            _ => return Err("no outer object".into()),
        };
        if outer_end != v.data.len() {
            return Err("trailing bytes after the outer template".into());
        }
        for cut in 1..outer_end {
            let prefix = &v.data[..cut];
            match Tlv::parse_all(prefix) {
                Ok(_) => return Err(format!("prefix of {cut} bytes parsed without error")),
                Err(e) if e.offset > cut => {
                    return Err(format!(
                        "prefix of {cut} bytes: error offset {} past the end",
                        e.offset
                    ));
                }
                Err(_) => {}
            }
            if !parse(prefix).any(|r| r.is_err()) {
                return Err(format!(
                    "prefix of {cut} bytes: borrowing parser saw no error"
                ));
            }
        }
        Ok(())
    });
}

/// An outer length one larger than the data is reported, not read past.
#[test]
fn overlong_outer_length_is_an_error() {
    for_each_vector(|v| {
        let first = match parse(&v.data).next() {
            Some(Ok(r)) => r,
            _ => return Err("no outer object".into()),
        };
        let mut damaged = v.data.clone();
        let last_len_byte = first.value_offset - 1;
        // Short form below 7F, or the low byte of a long form that is not FF.
        match damaged.get_mut(last_len_byte) {
            Some(b) if *b != 0x7F && *b != 0xFF => *b += 1,
            _ => return Ok(()),
        }
        match Tlv::parse_all(&damaged) {
            Ok(_) => Err("outer length + 1 parsed without error".into()),
            Err(e) if e.offset > damaged.len() => Err("error offset past the end".into()),
            Err(_) => Ok(()),
        }
    });
}
