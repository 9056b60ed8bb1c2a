//! Where a terminal configuration finds the files it names (the CAPK file of a
//! terminal, the base terminal of a contactless reader), without the kernel
//! crate reading files itself: the caller hands over a [`ConfigSource`].
//!
//! * [`Builtin`]: the shipped configurations (`terminals/*.toml`), compiled in,
//!   so `lamina terminal pay` works from any directory;
//! * [`MapSource`]: named texts in memory (tests, a web terminal);
//! * a directory source is an edge's business (the `lamina` binary has one).

use std::collections::BTreeMap;

use crate::config::{ConfigError, TerminalConfig};
use crate::contactless::ContactlessConfig;

/// Gives the text of a file a configuration names.
pub trait ConfigSource {
    /// The text of `name` (a file name as the configuration writes it).
    fn read(&self, name: &str) -> Result<String, ConfigError>;
}

/// The shipped terminal configurations, by file name (`terminals/` in the
/// repository): retail (contact), offline, transit gate, their contactless
/// readers, and the TEST scheme CA public keys they use.
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "retail.toml",
        include_str!("../../../terminals/retail.toml"),
    ),
    (
        "retail-contactless.toml",
        include_str!("../../../terminals/retail-contactless.toml"),
    ),
    (
        "offline.toml",
        include_str!("../../../terminals/offline.toml"),
    ),
    (
        "transit-gate.toml",
        include_str!("../../../terminals/transit-gate.toml"),
    ),
    (
        "transit-gate-contactless.toml",
        include_str!("../../../terminals/transit-gate-contactless.toml"),
    ),
    (
        "capk-test.toml",
        include_str!("../../../terminals/capk-test.toml"),
    ),
];

/// The shipped configurations ([`BUILTIN`]) as a source.
#[derive(Debug, Clone, Copy, Default)]
pub struct Builtin;

impl Builtin {
    /// The names of the built-in files.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(n, _)| *n)
    }

    /// The built-in file `name`; `name` may also be written `terminals/NAME`
    /// or without `.toml`.
    pub fn text(name: &str) -> Option<&'static str> {
        let short = name.strip_prefix("terminals/").unwrap_or(name);
        BUILTIN
            .iter()
            .find(|(n, _)| *n == short || n.strip_suffix(".toml") == Some(short))
            .map(|(_, t)| *t)
    }

    /// A built-in contact terminal configuration (`retail`, `offline`,
    /// `transit-gate`).
    pub fn terminal(name: &str) -> Result<TerminalConfig, ConfigError> {
        TerminalConfig::from_toml(&Builtin.read(name)?, &Builtin)
    }

    /// A built-in contactless reader configuration (`retail-contactless`,
    /// `transit-gate-contactless`).
    pub fn contactless(name: &str) -> Result<ContactlessConfig, ConfigError> {
        ContactlessConfig::from_toml(&Builtin.read(name)?, &Builtin)
    }
}

impl ConfigSource for Builtin {
    fn read(&self, name: &str) -> Result<String, ConfigError> {
        Builtin::text(name)
            .map(str::to_owned)
            .ok_or_else(|| ConfigError::Io {
                path: name.to_owned(),
                reason: format!(
                    "not a built-in terminal file (built in: {})",
                    Builtin::names().collect::<Vec<_>>().join(", ")
                ),
            })
    }
}

/// Named texts in memory, falling back to [`Builtin`] for names it lacks when
/// asked to.
#[derive(Debug, Clone, Default)]
pub struct MapSource {
    files: BTreeMap<String, String>,
    builtin_fallback: bool,
}

impl MapSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn with(mut self, name: &str, text: impl Into<String>) -> Self {
        self.files.insert(name.to_owned(), text.into());
        self
    }

    /// Names not in the map are read from [`Builtin`].
    pub fn or_builtin(mut self) -> Self {
        self.builtin_fallback = true;
        self
    }
}

impl ConfigSource for MapSource {
    fn read(&self, name: &str) -> Result<String, ConfigError> {
        match self.files.get(name) {
            Some(t) => Ok(t.clone()),
            None if self.builtin_fallback => Builtin.read(name),
            None => Err(ConfigError::Io {
                path: name.to_owned(),
                reason: "no such file in this configuration source".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_file_parses() {
        for name in ["retail", "offline", "transit-gate"] {
            let cfg = Builtin::terminal(name);
            assert!(cfg.is_ok(), "{name}: {:?}", cfg.err());
        }
        for name in ["retail-contactless", "transit-gate-contactless"] {
            let cfg = Builtin::contactless(name);
            assert!(cfg.is_ok(), "{name}: {:?}", cfg.err());
        }
        assert!(Builtin::text("terminals/retail.toml").is_some());
        assert!(Builtin.read("nope.toml").is_err());
    }

    #[test]
    fn a_map_source_overrides_and_falls_back() {
        let src = MapSource::new().with("capk-test.toml", "").or_builtin();
        let cfg = TerminalConfig::from_toml(&Builtin.read("retail").unwrap_or_default(), &src);
        assert!(
            cfg.is_ok_and(|c| c.capks.is_empty()),
            "the map's empty CAPK file wins"
        );
        assert!(MapSource::new().read("retail.toml").is_err());
    }
}
