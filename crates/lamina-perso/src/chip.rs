//! The emulator's card image (`lamina-card-image/1`, [`lamina_card::image`])
//! built from a [`PreparedCard`].
//!
//! The chip OS image holds the applet registry and the NVM. The bureau fills:
//!
//! * `chip`: historical bytes `LAMINA`, PSE and PPSE, language from `5F2D`;
//! * `applets`: one [`Install`] per application (AID, class, label, preferred
//!   name, priority, interfaces, install parameters);
//! * NVM namespace `os`: card life cycle *personalized* (`0F`, GlobalPlatform
//!   SECURED) and each application *selectable* (`07`);
//! * each EMV application's own namespace: written by the caller's
//!   `personalize` hook from the application's DGIs — the EMV applet crate
//!   (`lamina-applets`, `emv::provision::personalize_image_with_dgis`) owns the
//!   mapping of DGIs to its records, so the bureau and the applet cannot
//!   disagree about it.
//!
//! This is the same data as the bureau's own image ([`crate::image`]) and the
//! STORE DATA script ([`crate::storedata`]): one [`PreparedCard`], three
//! encodings.

use lamina_card::image::{CardImage, ChipConfig};
use lamina_card::nvm::{HexBytes, NvmContent};
use lamina_card::{Aid, AppLifeCycle, CardLifeCycle, Install};

use crate::card::{AppInstall, PreparedCard};
use crate::profile::Interface;
use crate::{PersoError, Result};

/// Writes an EMV application's records into its NVM namespace from its DGIs
/// (`(DGI, data)` pairs in script order). The error is a message.
pub type Personalizer<'a> =
    &'a (dyn Fn(&mut CardImage, &Aid, &[(u16, &[u8])]) -> core::result::Result<(), String> + Sync);

/// The chip OS install entry of an application.
pub fn install_entry(a: &AppInstall) -> Result<Install> {
    let aid = Aid::new(a.aid.clone())
        .map_err(|e| PersoError::Image(format!("AID {}: {e}", hex::encode_upper(&a.aid))))?;
    let mut i = Install::new(aid, a.class.clone()).label(a.label.clone());
    if let Some(n) = &a.preferred_name {
        i = i.preferred_name(n.clone());
    }
    if let Some(p) = a.priority {
        i = i.priority(p);
    }
    let ifaces: Vec<lamina_card::Interface> = a
        .interfaces
        .iter()
        .map(|x| match x {
            Interface::Contact => lamina_card::Interface::Contact,
            Interface::Contactless => lamina_card::Interface::Contactless,
        })
        .collect();
    i = i.interfaces(&ifaces).params(a.params.clone());
    if let Some(k) = a.kernel_id {
        // PPSE directory entry: Kernel Identifier (EMV Book B §3.3)
        i = i.ppse_entry_extra(vec![0x9F, 0x2A, 0x01, k]);
    }
    i.validate().map_err(|e| {
        PersoError::Image(format!("application {}: {e}", hex::encode_upper(&a.aid)))
    })?;
    Ok(i)
}

/// Builds the emulator image of `card`. Applications for which `include`
/// returns false (e.g. classes whose applets the emulator's ROM does not have
/// yet) are left out.
pub fn card_image(
    card: &PreparedCard,
    include: &dyn Fn(&AppInstall) -> bool,
    personalize: Personalizer<'_>,
) -> Result<CardImage> {
    let language = card.emv().and_then(|e| {
        lamina_tlv::Tlv::parse_all(&e.fci).ok().and_then(|l| {
            l.iter()
                .find(|t| t.tag.number() == 0x5F2D)
                .and_then(|t| t.value_bytes())
                .map(|v| String::from_utf8_lossy(v).into_owned())
        })
    });
    let mut image = CardImage {
        format: lamina_card::FORMAT.to_owned(),
        chip: ChipConfig {
            language,
            ..ChipConfig::default()
        },
        applets: Vec::new(),
        nvm: NvmContent::default(),
    };
    let os = image.nvm.records.entry("os".to_owned()).or_default();
    os.insert(
        "card.life_cycle".to_owned(),
        HexBytes(vec![CardLifeCycle::Personalized.code()]),
    );
    for app in card.applications.iter().filter(|a| include(&a.install)) {
        let inst = install_entry(&app.install)?;
        image
            .nvm
            .records
            .entry("os".to_owned())
            .or_default()
            .insert(
                format!("app.{}.life_cycle", inst.aid.to_hex()),
                HexBytes(vec![AppLifeCycle::Selectable.code()]),
            );
        let aid = inst.aid.clone();
        image.applets.push(inst);
        if let Some(emv) = &app.emv {
            let dgis = emv.to_dgis()?;
            let pairs: Vec<(u16, &[u8])> = dgis.iter().map(|d| (d.id, d.data.as_slice())).collect();
            personalize(&mut image, &aid, &pairs)
                .map_err(|e| PersoError::Image(format!("personalizing {}: {e}", aid.to_hex())))?;
        }
    }
    Ok(image)
}
