//! Installation helpers: the ROM classes, AIDs and install entries of the
//! closed-loop applications, and a ready-made multi-application test card.
//!
//! A bureau building an EMV + purse + loyalty + transit card calls
//! [`register`] on its ROM (beside the EMV class), then installs each
//! application with its own keys ([`purse_install`], [`loyalty_install`],
//! [`transit_install`], [`parking_install`]).

use lamina_card::{Aid, AppletContext, Install, Rom};
use lamina_tlv::TlvBuilder;

use crate::keys::{CardId, KeyError};
use crate::purse::{self, IssuerMasterKeys, PurseKeys, PurseParams};

/// AID of the purse: proprietary RID `F0` ‖ "LAMINA" ‖ `'P'`.
pub const PURSE_AID: &str = "F04C414D494E4150";

/// The purse AID.
pub fn purse_aid() -> Aid {
    aid(PURSE_AID)
}

fn aid(hex: &str) -> Aid {
    // Only called with the constants above (valid 8-byte AIDs), never with input.
    Aid::from_hex(hex).expect("constant AID is valid")
}

/// Adds the classes of all closed-loop applets to a ROM.
pub fn register(rom: Rom) -> Rom {
    rom.with_class(purse::CLASS, |i| Box::new(purse::PurseApplet::new(i)))
}

/// The FCI returned on SELECT (ISO/IEC 7816-4 §5.3.3: `6F` with `84` DF name
/// and `A5` proprietary template holding the label `50`).
pub(crate) fn fci(ctx: &AppletContext<'_>) -> Vec<u8> {
    TlvBuilder::new(0x6Fu32)
        .primitive(0x84u32, ctx.aid().as_bytes().to_vec())
        .nested(0xA5u32, |b| {
            b.primitive(0x50u32, ctx.install().label.as_bytes().to_vec())
        })
        .build()
        .encode()
}

/// The purse installation entry for a card, with keys derived from the
/// issuer's master keys.
pub fn purse_install(
    masters: &IssuerMasterKeys,
    card: CardId,
    currency: [u8; 2],
    max_balance: u32,
) -> Result<Install, KeyError> {
    let params = PurseParams {
        card,
        currency,
        max_balance,
        keys: PurseKeys::derive(masters, &card)?,
    };
    Ok(Install::new(purse_aid(), purse::CLASS)
        .label("PURSE")
        .priority(3)
        .params(params.encode()))
}
