//! The card image: the whole chip as one JSON document, format
//! `lamina-card-image/1`.
//!
//! The personalization bureau writes it; [`crate::Card::save_image`] and
//! [`crate::Card::load_image`] keep a card's counters, PIN try counters and logs
//! between runs. Layout:
//!
//! ```json
//! {
//!   "format": "lamina-card-image/1",
//!   "chip": { "historical_bytes": "4C414D494E41", "pse": true, "ppse": true },
//!   "applets": [
//!     { "aid": "F04C414D494E4101", "class": "lamina.counter", "label": "COUNTER",
//!       "priority": 1, "interfaces": ["contact", "contactless"], "params": "1234",
//!       "ppse_entry_extra": "9F2A0102" }
//!   ],
//!   "nvm": {
//!     "records": {
//!       "os": { "card.life_cycle": "0F", "app.F04C414D494E4101.life_cycle": "07" },
//!       "F04C414D494E4101": { "count": "00000005" }
//!     },
//!     "journal": { "committed": false, "entries": [ { "ns": "…", "key": "…", "value": "…" } ] },
//!     "atomic": { "ns": "…", "key": "…", "value": "…" }
//!   }
//! }
//! ```
//!
//! * Every byte string — record values, install parameters, historical bytes and so
//!   the card's secret keys — is upper-case hex. An image holds secrets: store it
//!   like a key file.
//! * `records` maps namespace → key → value. Namespace `os` holds the life cycles
//!   as one GlobalPlatform byte (card: `01` OP_READY, `0F` SECURED/personalized,
//!   `7F` locked/blocked; application: `03` INSTALLED, `07` SELECTABLE, `83`
//!   LOCKED/blocked). Every other namespace is an applet AID; its keys are the
//!   applet's own.
//! * `journal` and `atomic` appear only in an image saved after a tear; recovery
//!   at the next power-on applies them (see [`crate::nvm`]).
//! * Unknown fields are refused; a different `format` string is refused. A future
//!   incompatible change gets `lamina-card-image/2`.
//!
//! Golden files `tests/golden/card-image-v1.json` (a used card) and
//! `card-image-v1-torn.json` (saved right after a tear, with a committed journal)
//! pin the format; after a deliberate change, regenerate them with
//! `LAMINA_UPDATE_GOLDEN=1 cargo test -p lamina-card` and review the diff.

use serde::{Deserialize, Serialize};

use crate::applet::Install;
use crate::nvm::{HexBytes, NvmContent};

/// The format identifier written in every image.
pub const FORMAT: &str = "lamina-card-image/1";

/// Why an image could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// Not valid JSON for this format (message from the decoder, with line and
    /// column).
    #[error("card image: {0}")]
    Json(String),
    /// The `format` field is not `lamina-card-image/1`.
    #[error("card image format {0:?}: expected \"lamina-card-image/1\"")]
    Format(String),
    /// An applet class the ROM does not have.
    #[error("card image names applet class {0:?}, not in the card ROM")]
    UnknownClass(String),
    /// Two applets with the same AID.
    #[error("card image installs AID {0} twice")]
    DuplicateAid(String),
    /// An applet entry with a bad label, preferred name or directory data.
    #[error("card image applet {0}: {1}")]
    BadInstall(String, String),
}

/// Chip-level configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChipConfig {
    /// Historical bytes of the ATR and ATS (hex; at most 15 used in the ATR).
    #[serde(default)]
    pub historical_bytes: HexBytes,
    /// The contact PSE `1PAY.SYS.DDF01` is present.
    #[serde(default = "yes")]
    pub pse: bool,
    /// The contactless PPSE `2PAY.SYS.DDF01` is present.
    #[serde(default = "yes")]
    pub ppse: bool,
    /// Language Preference (tag `5F2D`) in the PSE FCI, e.g. `"en"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

fn yes() -> bool {
    true
}

impl Default for ChipConfig {
    fn default() -> Self {
        ChipConfig {
            historical_bytes: HexBytes(b"LAMINA".to_vec()),
            pse: true,
            ppse: true,
            language: None,
        }
    }
}

/// The serialized card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardImage {
    /// Always [`FORMAT`].
    pub format: String,
    /// Chip configuration.
    pub chip: ChipConfig,
    /// The applet registry, in directory order.
    pub applets: Vec<Install>,
    /// The NVM.
    pub nvm: NvmContent,
}

impl CardImage {
    /// Pretty JSON with a trailing newline (stable: maps are sorted).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Decodes and checks the format string.
    pub fn from_json(s: &str) -> Result<CardImage, ImageError> {
        #[derive(Deserialize)]
        struct Probe {
            format: Option<String>,
        }
        let probe: Probe = serde_json::from_str(s).map_err(|e| ImageError::Json(e.to_string()))?;
        match probe.format.as_deref() {
            Some(FORMAT) => {}
            other => return Err(ImageError::Format(other.unwrap_or("").to_owned())),
        }
        serde_json::from_str(s).map_err(|e| ImageError::Json(e.to_string()))
    }
}
