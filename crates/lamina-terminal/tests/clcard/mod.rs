//! A contactless Lamina EMV applet card (lamina-applets) for clearing tests: the
//! `support` CDA card with a contactless FCI (DGI 9103: PDOL with the TTQ `9F66`),
//! contactless GPO data (DGI 9105) and a PPSE entry with kernel identifier 02 —
//! the same card as `tests/contactless.rs` builds. Shared with
//! `lamina-acquirer`'s tests (included there by path, beside `support`).
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use lamina_applets::emv::provision::{install_entry, personalize_image_with_dgis};
use lamina_applets::emv::testing::rom;
use lamina_card::image::CardImage;
use lamina_card::{
    Aid, BitRate, Card, CardLifeCycle, ContactlessLink, EmulatedCard, LinkConfig, SeededRng,
};
use lamina_terminal::contactless::ContactlessConfig;
use lamina_terminal::outcome::Outcome;
use lamina_terminal::testkit::IccRsaShim;
use lamina_tlv::Tlv;

use crate::support::{CardSpec, Oda, TestCard, host, pay, personalization, pki, retail};

/// The contactless PDOL (as the bureau's `profiles/debit.toml`): TTQ, amounts,
/// country, TVR, currency, date, type, UN.
pub const CL_PDOL: &str = "9F66049F02069F03069F1A0295055F2A029A039C019F3704";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// The shipped `terminals/retail-contactless.toml` with random selection off.
pub fn cl_config() -> ContactlessConfig {
    let mut c = lamina_terminal::source::Builtin::contactless("retail-contactless").unwrap();
    c.terminal.random_selection.target_percent = 0;
    c.terminal.random_selection.max_target_percent = 0;
    c
}

/// A CDA card with contactless FCI and GPO data, in the PPSE with kernel 02.
pub fn cl_card(seed: u64) -> TestCard {
    let spec = CardSpec {
        oda: Oda::Cda,
        seed,
        ..CardSpec::default()
    };
    let p = personalization(&spec);
    let mut dgis: Vec<(u16, Vec<u8>)> = p
        .to_dgis()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.data.to_vec()))
        .collect();
    let fci = Tlv::encode_all(&[
        Tlv::primitive(0x50u32, p.label.as_bytes().to_vec()),
        Tlv::primitive(0x87u32, vec![0x01]),
        Tlv::primitive(0x9F38u32, h(CL_PDOL)),
    ]);
    // Same AIP as on contact: the signed static data (9F4A = 82) covers it.
    let gpo = Tlv::encode_all(&[
        Tlv::primitive(0x82u32, p.aip.clone()),
        Tlv::primitive(0x94u32, p.afl.clone()),
    ]);
    dgis.push((0x9103, fci));
    dgis.push((0x9105, gpo));
    let rom = rom(None);
    let mut card = Card::new(rom.clone(), SeededRng::new(seed));
    card.install(
        install_entry(&p)
            .unwrap()
            .ppse_entry_extra(vec![0x9F, 0x2A, 0x01, 0x02]),
    )
    .unwrap();
    card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
    let mut image = CardImage::from_json(&card.save_image()).unwrap();
    let aid = Aid::new(p.aid.clone()).unwrap();
    let refs: Vec<(u16, &[u8])> = dgis.iter().map(|(i, d)| (*i, d.as_slice())).collect();
    personalize_image_with_dgis(&mut image, &aid, &refs).unwrap();
    let card = Card::load_image(rom, SeededRng::new(seed), &image.to_json()).unwrap();
    IccRsaShim::new(EmulatedCard::new(card), pki().icc.clone(), seed)
}

/// [`cl_card`] after one online approval on the contact interface (the host
/// double), so it is not "new" and its risk management may approve offline.
pub fn warmed_cl_card(seed: u64) -> TestCard {
    let mut card = cl_card(seed);
    let mut hd = host();
    let p = pay(&retail(), &mut card, 6000, &[Some("1234")], Some(&mut hd));
    assert_eq!(p.result.outcome, Outcome::ApprovedOnline);
    card
}

/// The card in a reader's field: an ISO/IEC 14443-4 link at 106 kbit/s.
pub type ClReader = ContactlessLink<TestCard>;

/// [`warmed_cl_card`] in a reader's field.
pub fn warmed_cl_reader(seed: u64) -> ClReader {
    ContactlessLink::with_config(
        warmed_cl_card(seed),
        LinkConfig::default().bit_rate(BitRate::R106),
    )
}
