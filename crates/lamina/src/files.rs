//! Terminal configuration files at the edge: the kernel crate reads no file
//! (`lamina_terminal::source`), so the CLI hands it either a file from disk
//! (and the files it names, relative to it) or a built-in configuration.
//!
//! A `--config`/`--reader-config` path that exists is read from disk; one that
//! does not exist but names a shipped configuration (`terminals/retail.toml`,
//! `retail`) is the built-in copy, so the commands work from any directory.

use std::path::{Path, PathBuf};

use anyhow::Result;
use lamina_terminal::capk::CapkStore;
use lamina_terminal::config::{ConfigError, TerminalConfig};
use lamina_terminal::contactless::ContactlessConfig;
use lamina_terminal::source::{Builtin, ConfigSource};

use crate::input::bad;

/// Files named by a configuration, relative to its directory.
#[derive(Debug)]
pub struct DirSource {
    dir: PathBuf,
}

impl DirSource {
    /// Files relative to `dir`.
    pub fn new(dir: &Path) -> Self {
        DirSource {
            dir: dir.to_owned(),
        }
    }

    /// Files relative to the directory of `file`.
    pub fn beside(file: &Path) -> Self {
        DirSource {
            dir: file.parent().unwrap_or(Path::new(".")).to_owned(),
        }
    }
}

impl ConfigSource for DirSource {
    fn read(&self, name: &str) -> Result<String, ConfigError> {
        let p = Path::new(name);
        let path = if p.is_absolute() {
            p.to_owned()
        } else {
            self.dir.join(p)
        };
        std::fs::read_to_string(&path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

/// Reads `path` from disk when it exists, else the built-in file of that name.
fn text_and_source(path: &Path, flag: &str) -> Result<(String, Box<dyn ConfigSource>)> {
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| bad(format!("{flag} {}: {e}", path.display())))?;
        return Ok((text, Box::new(DirSource::beside(path))));
    }
    let name = path.to_string_lossy();
    match Builtin::text(&name) {
        Some(text) => Ok((text.to_owned(), Box::new(Builtin))),
        None => Err(bad(format!(
            "{flag} {}: no such file, and not a built-in configuration ({})",
            path.display(),
            Builtin::names().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// A contact terminal configuration (`--config`).
pub fn terminal_config(path: &Path) -> Result<TerminalConfig> {
    let (text, source) = text_and_source(path, "--config")?;
    TerminalConfig::from_toml(&text, source.as_ref())
        .map_err(|e| bad(format!("--config {}: {e}", path.display())))
}

/// A contactless reader configuration (`--reader-config`).
pub fn contactless_config(path: &Path) -> Result<ContactlessConfig> {
    let (text, source) = text_and_source(path, "--reader-config")?;
    ContactlessConfig::from_toml(&text, source.as_ref())
        .map_err(|e| bad(format!("--reader-config {}: {e}", path.display())))
}

/// A CAPK file (`--capk`).
pub fn capk_file(path: &Path) -> Result<CapkStore> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("--capk {}: {e}", path.display())))?;
    CapkStore::from_toml(&text).map_err(|e| bad(format!("--capk {}: {e}", path.display())))
}
