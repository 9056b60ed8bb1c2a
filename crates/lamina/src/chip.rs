//! The chip as the CLI runs it: the ROM of applet classes, the RSA engine for the
//! ICC's private-key operations, and building a chip image from the bureau's
//! prepared card.

use std::sync::Arc;

use anyhow::{Result, anyhow};
use lamina_applets::emv::IccRsa;
use lamina_card::image::CardImage;
use lamina_card::{Aid, Card, CardRng, Rom};
use lamina_crypto::pki::{self, PkiError, RsaKeyPair};
use lamina_perso::card::PreparedCard;
use zeroize::Zeroizing;

/// The card RNG bridge for the ICC's RSA operations (DDA, CDA, enciphered PIN):
/// `lamina_crypto::pki` takes a `rand` generator, the chip OS gives a `CardRng`.
struct RngBridge<'a>(&'a mut dyn CardRng);

impl rand::TryRng for RngBridge<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.fill_bytes(&mut b);
        Ok(u32::from_be_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.fill_bytes(&mut b);
        Ok(u64::from_be_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}
impl rand::TryCryptoRng for RngBridge<'_> {}

/// The chip's RSA engine: lamina-crypto's EMV PKI over the card's RNG.
#[derive(Debug)]
pub struct ChipRsa;

impl IccRsa for ChipRsa {
    fn sign_dynamic_data(
        &self,
        key: &RsaKeyPair,
        rng: &mut dyn CardRng,
        icc_dynamic_data: &[u8],
        terminal_dynamic_data: &[u8],
    ) -> Result<Vec<u8>, PkiError> {
        pki::sign_dynamic_data(
            key,
            &mut RngBridge(rng),
            icc_dynamic_data,
            terminal_dynamic_data,
        )
    }
    fn decipher_pin_block(
        &self,
        key: &RsaKeyPair,
        rng: &mut dyn CardRng,
        enciphered: &[u8],
        un: &[u8; 8],
    ) -> Result<Zeroizing<[u8; 8]>, PkiError> {
        pki::decipher_pin_block(key, &mut RngBridge(rng), enciphered, un)
    }
}

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
