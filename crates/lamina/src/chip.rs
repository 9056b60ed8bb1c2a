//! The chip as the CLI runs it: the ROM of applet classes, the RSA engine for the
//! ICC's private-key operations, and building a chip image from the bureau's
//! prepared card.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use lamina_card::image::CardImage;
use lamina_card::{Aid, Card, CardRng, Rom};
use lamina_perso::card::PreparedCard;

/// The chip's RSA engine (DDA, CDA, offline enciphered PIN).
pub use lamina_applets::emv::PkiRsa as ChipRsa;

/// The chip's ROM: every applet class a Lamina card can carry — the EMV payment
/// applet (with its RSA engine), the closed-loop applets (purse, loyalty,
/// transit/parking records) and the chip OS's demo counter.
pub fn rom() -> Rom {
    use lamina_card::applets::counter::{CLASS, CounterApplet};
    let mut rom = Rom::new().with_class(CLASS, |_| Box::new(CounterApplet::new()));
    lamina_applets::emv::register(&mut rom, Some(Arc::new(ChipRsa)));
    lamina_closedloop::install::register(rom)
}

/// A deterministic chip RNG seeded per card (reproducible demo days).
#[derive(Debug)]
pub struct ChipRng(pub lamina_card::SeededRng);

impl CardRng for ChipRng {
    fn fill_bytes(&mut self, out: &mut [u8]) {
        self.0.fill_bytes(out);
    }
}

/// Builds the chip of a prepared card: the bureau's emulator image
/// ([`lamina_perso::chip::card_image`]) with every application whose applet is in
/// this ROM, each EMV application personalized by the applet's own DGI mapping.
pub fn chip_from_prepared(prepared: &PreparedCard, seed: u64) -> Result<Card> {
    let available = rom();
    let include = |a: &lamina_perso::card::AppInstall| available.class(&a.class).is_some();
    let personalize = |image: &mut CardImage, aid: &Aid, dgis: &[(u16, &[u8])]| {
        lamina_applets::emv::provision::personalize_image_with_dgis(image, aid, dgis)
            .map_err(|e| e.to_string())
    };
    let image = lamina_perso::chip::card_image(prepared, &include, &personalize)
        .map_err(|e| anyhow!("chip image: {e}"))?;
    Card::load_image(
        rom(),
        ChipRng(lamina_card::SeededRng::new(seed)),
        &image.to_json(),
    )
    .map_err(|e| anyhow!("loading the chip image: {e}"))
}
