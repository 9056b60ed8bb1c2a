//! Card and application life cycle states (GlobalPlatform Card Specification
//! v2.3 §5.1.1 and §5.3.1; EMV Book 3 §6.5.1 and §6.5.3).
//!
//! Both states are persistent: the OS keeps them in its own NVM namespace
//! (`"os"`, keys `card.life_cycle` and `app.<AID>.life_cycle`) as one byte with
//! the GlobalPlatform coding, so they change atomically (or inside the applet's
//! open transaction) like any other record.

use serde::{Deserialize, Serialize};

/// The card's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardLifeCycle {
    /// GP `OP_READY` (`01`): applets installed, personalization pending. The OS
    /// works; applets should refuse payment functions ([`AppletContext`] exposes
    /// the state).
    ///
    /// [`AppletContext`]: crate::AppletContext
    OpReady,
    /// GP `SECURED` (`0F`): personalized and issued.
    Personalized,
    /// GP `CARD_LOCKED` (`7F`), EMV CARD BLOCK: every command is answered `6A81`
    /// (EMV Book 3 §6.5.3.4, Book 1 §12.3.2).
    Blocked,
}

impl CardLifeCycle {
    /// The GlobalPlatform coding.
    pub const fn code(self) -> u8 {
        match self {
            CardLifeCycle::OpReady => 0x01,
            CardLifeCycle::Personalized => 0x0F,
            CardLifeCycle::Blocked => 0x7F,
        }
    }

    /// From the GlobalPlatform coding; unknown codes are treated as blocked (fail
    /// safe).
    pub const fn from_code(b: u8) -> Self {
        match b {
            0x01 => CardLifeCycle::OpReady,
            0x0F => CardLifeCycle::Personalized,
            _ => CardLifeCycle::Blocked,
        }
    }
}

/// An application's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppLifeCycle {
    /// GP `INSTALLED` (`03`): not selectable (SELECT answers `6A82`, not listed in
    /// the PSE or PPSE).
    Installed,
    /// GP `SELECTABLE` (`07`).
    Selectable,
    /// GP `LOCKED` (`83`), EMV APPLICATION BLOCK: SELECT answers the FCI with
    /// `6283`, the applet stays selected and must decline transactions (EMV Book 3
    /// §6.5.1.4, Book 1 §12.3.3).
    Blocked,
}

impl AppLifeCycle {
    /// The GlobalPlatform coding.
    pub const fn code(self) -> u8 {
        match self {
            AppLifeCycle::Installed => 0x03,
            AppLifeCycle::Selectable => 0x07,
            AppLifeCycle::Blocked => 0x83,
        }
    }

    /// From the GlobalPlatform coding; unknown codes are treated as blocked.
    pub const fn from_code(b: u8) -> Self {
        match b {
            0x03 => AppLifeCycle::Installed,
            0x07 => AppLifeCycle::Selectable,
            _ => AppLifeCycle::Blocked,
        }
    }
}

/// NVM namespace of the OS.
pub(crate) const OS_NS: &str = "os";
/// Key of the card life cycle record.
pub(crate) const CARD_LC_KEY: &str = "card.life_cycle";

/// Key of an application's life cycle record.
pub(crate) fn app_lc_key(aid_hex: &str) -> String {
    format!("app.{aid_hex}.life_cycle")
}
