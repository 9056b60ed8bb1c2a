//! Putting a personalized EMV application on a card image (the typed
//! personalization route, for the bureau, tools and tests).

use lamina_card::image::CardImage;
use lamina_card::nvm::HexBytes;
use lamina_card::{Aid, Install};

use super::{CLASS, EmvError, EmvPersonalization, records_from_dgis};

/// The install entry of a personalized EMV application (label, priority,
/// preferred name from the personalization; both interfaces).
pub fn install_entry(perso: &EmvPersonalization) -> Result<Install, EmvError> {
    let aid = Aid::new(perso.aid.clone()).map_err(|_| EmvError::Perso("aid"))?;
    let mut i = Install::new(aid, CLASS).label(perso.label.clone());
    if let Some(p) = perso.priority {
        i = i.priority(p);
    }
    if let Some(n) = &perso.preferred_name {
        i = i.preferred_name(n.clone());
    }
    Ok(i)
}

/// The typed personalization route: writes the applet's records
/// ([`EmvPersonalization::nvm_records`]) into its namespace of a card image. The
/// application must be installed in the image under `perso.aid`.
pub fn personalize_image(
    image: &mut CardImage,
    perso: &EmvPersonalization,
) -> Result<(), EmvError> {
    let aid = Aid::new(perso.aid.clone()).map_err(|_| EmvError::Perso("aid"))?;
    if !image
        .applets
        .iter()
        .any(|i| i.aid == aid && i.class == CLASS)
    {
        return Err(EmvError::Perso("application not installed in the image"));
    }
    let ns = image.nvm.records.entry(aid.to_hex()).or_default();
    for (k, v) in perso.nvm_records()? {
        ns.insert(k, HexBytes(v));
    }
    Ok(())
}

/// The typed route from DGIs (e.g. the bureau's `EmvData::to_dgis()`): writes
/// [`records_from_dgis`] into the namespace of the application `aid`, which must
/// be installed in the image with class [`CLASS`].
pub fn personalize_image_with_dgis(
    image: &mut CardImage,
    aid: &Aid,
    dgis: &[(u16, &[u8])],
) -> Result<(), EmvError> {
    if !image
        .applets
        .iter()
        .any(|i| &i.aid == aid && i.class == CLASS)
    {
        return Err(EmvError::Perso("application not installed in the image"));
    }
    let records = records_from_dgis(dgis)?;
    let ns = image.nvm.records.entry(aid.to_hex()).or_default();
    for (k, v) in records {
        ns.insert(k, HexBytes(v));
    }
    Ok(())
}
