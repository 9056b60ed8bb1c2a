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
