//! Installation helpers: the ROM classes, AIDs and install entries of the
//! closed-loop applications, and a ready-made multi-application test card.
//!
//! A bureau building an EMV + purse + loyalty + transit card calls
//! [`register`] on its ROM (beside the EMV class), then installs each
//! application with its own keys ([`purse_install`], [`loyalty_install`],
//! [`transit_install`], [`parking_install`]); every card key is derived from the
//! owning scheme's master key and the card id ([`crate::keys`]).
//!
//! Install parameters carry the card's keys (the emulator's equivalent of keys
//! personalized into the chip): a saved card image therefore contains them.

use lamina_card::{Aid, AppletContext, Card, CardError, CardLifeCycle, Install, Rom, SeededRng};
use lamina_crypto::sym::SecretKey;
use lamina_tlv::TlvBuilder;

use crate::keys::{CardId, KeyError, KeyUsage, derive_card_key};
use crate::loyalty::{self, CardProgram, LoyaltyParams};
use crate::purse::{self, IssuerMasterKeys, PurseKeys, PurseParams};
use crate::record::{self, RecordApplet, RecordKind, RecordParams};

/// AID of the purse: proprietary RID `F0` ‖ "LAMINA" ‖ `'P'`.
pub const PURSE_AID: &str = "F04C414D494E4150";
/// AID of the loyalty application (… `'L'`).
pub const LOYALTY_AID: &str = "F04C414D494E414C";
/// AID of the transit application (… `'T'`).
pub const TRANSIT_AID: &str = "F04C414D494E4154";
/// AID of the parking application (… `'K'`).
pub const PARKING_AID: &str = "F04C414D494E414B";

fn aid(hex: &str) -> Aid {
    // Only called with the constants above (valid 8-byte AIDs), never with input.
    Aid::from_hex(hex).expect("constant AID is valid")
}

/// The purse AID.
pub fn purse_aid() -> Aid {
    aid(PURSE_AID)
}

/// The loyalty AID.
pub fn loyalty_aid() -> Aid {
    aid(LOYALTY_AID)
}

/// The transit AID.
pub fn transit_aid() -> Aid {
    aid(TRANSIT_AID)
}

/// The parking AID.
pub fn parking_aid() -> Aid {
    aid(PARKING_AID)
}

/// Adds the classes of all closed-loop applets to a ROM.
pub fn register(rom: Rom) -> Rom {
    rom.with_class(purse::CLASS, |i| Box::new(purse::PurseApplet::new(i)))
        .with_class(loyalty::CLASS, |i| Box::new(loyalty::LoyaltyApplet::new(i)))
        .with_class(record::TRANSIT_CLASS, |i| {
            Box::new(RecordApplet::new(RecordKind::Transit, i))
        })
        .with_class(record::PARKING_CLASS, |i| {
            Box::new(RecordApplet::new(RecordKind::Parking, i))
        })
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

/// The purse installation entry, keys derived from the issuer's master keys.
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

/// A loyalty program's scheme-side definition.
#[derive(Debug, Clone)]
pub struct ProgramSpec {
    /// Program id (merchant group).
    pub id: u32,
    /// Program master key (held by the participating terminals).
    pub master: SecretKey,
    /// Days points stay valid after the last earning.
    pub validity_days: u16,
    /// Most points held on a card.
    pub max_points: u32,
}

/// The loyalty installation entry with the card's program keys.
pub fn loyalty_install(card: CardId, programs: &[ProgramSpec]) -> Result<Install, KeyError> {
    let programs = programs
        .iter()
        .take(loyalty::MAX_PROGRAMS)
        .map(|p| {
            Ok(CardProgram {
                id: p.id,
                validity_days: p.validity_days,
                max_points: p.max_points,
                key: derive_card_key(&p.master, KeyUsage::Loyalty(p.id), &card)?,
            })
        })
        .collect::<Result<Vec<_>, KeyError>>()?;
    let params = LoyaltyParams { card, programs };
    Ok(Install::new(loyalty_aid(), loyalty::CLASS)
        .label("LOYALTY")
        .priority(5)
        .params(params.encode()))
}

/// The transit installation entry with the card's transit key.
pub fn transit_install(transit_master: &SecretKey, card: CardId) -> Result<Install, KeyError> {
    let p = RecordParams::derive(RecordKind::Transit, transit_master, card)?;
    Ok(Install::new(transit_aid(), record::TRANSIT_CLASS)
        .label("TRANSIT")
        .priority(4)
        .params(p.encode()))
}

/// The parking installation entry with the card's parking key.
pub fn parking_install(parking_master: &SecretKey, card: CardId) -> Result<Install, KeyError> {
    let p = RecordParams::derive(RecordKind::Parking, parking_master, card)?;
    Ok(Install::new(parking_aid(), record::PARKING_CLASS)
        .label("PARKING")
        .priority(6)
        .params(p.encode()))
}

/// Why building a card failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// Key derivation.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The chip OS refused.
    #[error(transparent)]
    Card(#[from] CardError),
}

/// The master keys of every closed-loop scheme (issuer, transit operator,
/// parking operator, loyalty programs).
#[derive(Debug, Clone)]
pub struct Schemes {
    /// Purse issuer.
    pub purse: IssuerMasterKeys,
    /// Purse currency (BCD).
    pub currency: [u8; 2],
    /// Purse maximum balance.
    pub max_balance: u32,
    /// Transit master key.
    pub transit: SecretKey,
    /// Parking master key.
    pub parking: SecretKey,
    /// Loyalty programs.
    pub programs: Vec<ProgramSpec>,
}

impl Schemes {
    /// Fixed demonstration keys (public: for tests, examples and benchmarks
    /// only), EUR, maximum balance 150.00, one loyalty program `0x00C0FFEE`
    /// (points valid 365 days, at most 100 000).
    pub fn demo() -> Self {
        let k = |b: u8| SecretKey::new(vec![b; 16]);
        Schemes {
            purse: IssuerMasterKeys {
                load: k(0x11),
                debit: k(0x22),
                purchase: k(0x33),
            },
            currency: [0x09, 0x78],
            max_balance: 15_000,
            transit: k(0x44),
            parking: k(0x55),
            programs: vec![ProgramSpec {
                id: 0x00C0_FFEE,
                master: k(0x66),
                validity_days: 365,
                max_points: 100_000,
            }],
        }
    }

    /// All closed-loop install entries for one card.
    pub fn installs(&self, card: CardId) -> Result<Vec<Install>, KeyError> {
        Ok(vec![
            purse_install(&self.purse, card, self.currency, self.max_balance)?,
            loyalty_install(card, &self.programs)?,
            transit_install(&self.transit, card)?,
            parking_install(&self.parking, card)?,
        ])
    }
}

/// A personalized card with purse, loyalty, transit and parking (no EMV: add
/// the EMV class to `rom` and install it alongside for a full multi-application
/// card), on a [`SeededRng`].
pub fn test_card_with(
    rom: Rom,
    schemes: &Schemes,
    card: CardId,
    seed: u64,
) -> Result<Card, InstallError> {
    let mut c = Card::new(register(rom), SeededRng::new(seed));
    for i in schemes.installs(card)? {
        c.install(i)?;
    }
    c.set_life_cycle(CardLifeCycle::Personalized)?;
    Ok(c)
}

/// [`test_card_with`] an empty ROM and the [`Schemes::demo`] keys.
pub fn test_card(card: CardId, seed: u64) -> Result<Card, InstallError> {
    test_card_with(Rom::new(), &Schemes::demo(), card, seed)
}
