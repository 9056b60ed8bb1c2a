//! The architecture invariants that the manifests can show (ARCHITECTURE.md):
//! library crates depend only on crates of their own or a lower layer, and the
//! terminal side (`lamina-acquirer`) carries no host, database or web crate.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

/// The code map's layers, bottom first (ARCHITECTURE.md "Code map"); a crate
/// may depend only on crates of a lower layer.
const LAYERS: &[&[&str]] = &[
    &["lamina-tlv"],
    &["lamina-apdu", "lamina-emv"],
    &["lamina-iso8583", "lamina-crypto"],
    &["lamina-card"],
    &["lamina-applets", "lamina-closedloop"],
    &["lamina-terminal", "lamina-perso"],
    &["lamina-link"],
    &["lamina-host"],
    &["lamina-acquirer", "lamina-reader"],
    &["lamina-accept"],
    &["lamina"],
];

fn layer(name: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&name))
}

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// (crate, its `[dependencies]` names) for every workspace crate.
fn manifests() -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let doc: toml::Table = text.parse().unwrap();
        let name = doc["package"]["name"].as_str().unwrap().to_owned();
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        out.push((name, deps));
    }
    out
}

#[test]
fn every_crate_is_on_the_code_map() {
    for (name, _) in manifests() {
        assert!(
            layer(&name).is_some(),
            "{name} is not in ARCHITECTURE.md's code map (and LAYERS)"
        );
    }
}

#[test]
fn library_dependencies_point_down() {
    for (name, deps) in manifests() {
        let own = layer(&name).unwrap();
        for d in deps.iter().filter(|d| d.starts_with("lamina")) {
            let theirs = layer(d).unwrap_or(usize::MAX);
            assert!(
                theirs < own,
                "{name} (layer {own}) depends upward on {d} (layer {theirs})"
            );
        }
    }
}

#[test]
fn the_acquirer_side_has_no_host_database_or_web_crate() {
    let (_, deps) = manifests()
        .into_iter()
        .find(|(n, _)| n == "lamina-acquirer")
        .unwrap();
    for banned in ["lamina-host", "sqlx", "rusqlite", "axum"] {
        assert!(
            !deps.iter().any(|d| d == banned),
            "lamina-acquirer depends on {banned}"
        );
    }
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Codecs, crypto, applets and the terminal kernel do no I/O and read no clock
/// (ARCHITECTURE.md "Codecs, chip and kernel are pure"). The chip's ISO/IEC
/// 14443 transport measures the card's processing time and is the one
/// documented exception (`lamina-card/src/iso14443.rs`).
#[test]
fn pure_crates_do_no_io_and_read_no_clock() {
    let pure = [
        "lamina-tlv",
        "lamina-apdu",
        "lamina-emv",
        "lamina-iso8583",
        "lamina-crypto",
        "lamina-card",
        "lamina-applets",
        "lamina-terminal",
    ];
    let banned = ["std::fs", "std::net", "Instant::now", "SystemTime", "tokio"];
    for krate in pure {
        let mut files = Vec::new();
        rust_files(
            &workspace().join("crates").join(krate).join("src"),
            &mut files,
        );
        for f in files {
            if f.ends_with("lamina-card/src/iso14443.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&f).unwrap();
            for b in banned {
                assert!(!text.contains(b), "{} uses {b}", f.display());
            }
        }
    }
}

/// The binary holds no payment logic: it builds no ISO 8583 message (the
/// acquirer side is `lamina-acquirer` / `lamina-accept`, the host
/// `lamina-host`).
#[test]
fn the_binary_builds_no_iso8583_message() {
    let mut files = Vec::new();
    rust_files(&workspace().join("crates/lamina/src"), &mut files);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for banned in [
            "Message::new(",
            ".set(39",
            "set_original_data",
            "OriginalData",
        ] {
            assert!(!text.contains(banned), "{} uses {banned}", f.display());
        }
    }
}
