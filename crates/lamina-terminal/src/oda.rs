//! Offline data authentication (EMV 4.4 Book 3 §10.3; Book 2 §5 SDA, §6 DDA/CDA):
//! CA key lookup, issuer and ICC public key recovery, the revocation list, and the
//! TVR bits for each failure.

use lamina_crypto::pki::{self, CdaTransactionData, Pan, RsaPublicKey};
use lamina_emv::bitmaps::{AipBit, TerminalCapabilitiesBit as Cap, TsiBit, TvrBit};
use lamina_emv::dol::Dol;
use lamina_emv::tags;
use rand::CryptoRng;

use crate::data;
use crate::io::cmd;
use crate::kernel::{Ctx, KernelError, OdaMethod};

/// Why ODA failed (for the TVR mapping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// A data object needed is missing: also sets "ICC data missing".
    Missing,
    /// Anything else (CA key unknown, certificate wrong, revoked, signature wrong).
    Failed,
}

fn fail_bit(m: OdaMethod) -> TvrBit {
    match m {
        OdaMethod::Sda => TvrBit::SdaFailed,
        OdaMethod::Dda => TvrBit::DdaFailed,
        OdaMethod::Cda => TvrBit::CdaFailed,
    }
}

/// Book 3 §10.3: selects and performs ODA. Only card removal terminates.
pub(crate) fn perform<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<(), KernelError> {
    let aip = ctx.aip();
    let caps = ctx.cfg.capabilities;
    let method = if aip.is_set(AipBit::CdaSupported) && caps.is_set(Cap::Cda) {
        OdaMethod::Cda
    } else if aip.is_set(AipBit::DdaSupported) && caps.is_set(Cap::Dda) {
        OdaMethod::Dda
    } else if aip.is_set(AipBit::SdaSupported) && caps.is_set(Cap::Sda) {
        OdaMethod::Sda
    } else {
        ctx.tvr.set(TvrBit::OfflineDataAuthenticationNotPerformed);
        return Ok(());
    };
    ctx.oda = Some(method);
    if method == OdaMethod::Sda {
        ctx.tvr.set(TvrBit::SdaSelected);
    }
    ctx.tsi.set(TsiBit::OfflineDataAuthenticationPerformed);
    let result = match method {
        OdaMethod::Sda => sda(ctx),
        OdaMethod::Dda => dda(ctx)?,
        OdaMethod::Cda => retrieve_icc_key(ctx).map(|k| {
            ctx.icc_key = Some(k);
        }),
    };
    if let Err(f) = result {
        if f == Failure::Missing {
            ctx.tvr.set(TvrBit::IccDataMissing);
        }
        ctx.tvr.set(fail_bit(method));
    }
    Ok(())
}

fn need<R: CryptoRng>(ctx: &Ctx<'_, R>, tag: u32) -> Result<Vec<u8>, Failure> {
    ctx.card
        .get(tag)
        .map(<[u8]>::to_vec)
        .ok_or(Failure::Missing)
}

fn card_pan<R: CryptoRng>(ctx: &Ctx<'_, R>) -> Result<Pan, Failure> {
    let digits = ctx.pan().ok_or(Failure::Missing)?;
    Pan::from_digits(&digits).map_err(|_| Failure::Failed)
}

/// Book 2 §5.3 / §6.3: the issuer public key from the CA key (RID ‖ `8F`), `90`,
/// `92`, `9F32`, with the revocation list (step 10). Cached in the context.
pub(crate) fn retrieve_issuer_key<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
) -> Result<RsaPublicKey, Failure> {
    if let Some(k) = &ctx.issuer_key {
        return Ok(k.clone());
    }
    let index = need(ctx, 0x8F)?.first().copied().ok_or(Failure::Missing)?;
    let cert = need(ctx, 0x90)?;
    let exponent = need(ctx, 0x9F32)?;
    let remainder = ctx
        .card
        .get(tags::ISSUER_PUBLIC_KEY_REMAINDER)
        .unwrap_or_default()
        .to_vec();
    let rid = ctx.df_name.get(..5).ok_or(Failure::Failed)?.to_vec();
    let today = ctx.today().ok_or(Failure::Failed)?;
    let ca = ctx
        .cfg
        .capks
        .get(&rid, index)
        .filter(|k| k.is_valid_on(today))
        .ok_or(Failure::Failed)?;
    let pan = card_pan(ctx)?;
    let key = pki::verify_issuer_certificate(ca, &cert, &remainder, &exponent, &pan, today)
        .map_err(|_| Failure::Failed)?;
    if ctx
        .cfg
        .revoked
        .iter()
        .any(|r| r.rid.as_slice() == rid && r.ca_index == index && r.serial == key.serial_number)
    {
        return Err(Failure::Failed);
    }
    ctx.issuer_key = Some(key.public_key.clone());
    Ok(key.public_key)
}

/// Book 2 §6.4: the ICC public key from `9F46`, `9F48`, `9F47` and the static data.
pub(crate) fn retrieve_icc_key<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
) -> Result<RsaPublicKey, Failure> {
    if let Some(k) = &ctx.icc_key {
        return Ok(k.clone());
    }
    // Presence first, so missing data is reported as such (Book 3 §10.3).
    for tag in [0x8F, 0x90, 0x9F32, 0x9F46, 0x9F47] {
        need(ctx, tag)?;
    }
    if !ctx.static_data_ok {
        return Err(Failure::Failed);
    }
    let issuer = retrieve_issuer_key(ctx)?;
    let cert = need(ctx, 0x9F46)?;
    let exponent = need(ctx, 0x9F47)?;
    let remainder = ctx
        .card
        .get(tags::ICC_PUBLIC_KEY_REMAINDER)
        .unwrap_or_default()
        .to_vec();
    let pan = card_pan(ctx)?;
    let today = ctx.today().ok_or(Failure::Failed)?;
    let key = pki::verify_icc_certificate(
        &issuer,
        &cert,
        &remainder,
        &exponent,
        &pan,
        &ctx.static_data,
        today,
    )
    .map_err(|_| Failure::Failed)?;
    ctx.icc_key = Some(key.public_key.clone());
    Ok(key.public_key)
}

/// Book 2 §7.1: the key for offline enciphered PIN: the ICC PIN Encipherment key
/// (`9F2D`, `9F2F`, `9F2E`) or else the ICC key.
pub(crate) fn retrieve_pin_key<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Option<RsaPublicKey> {
    if let (Some(cert), Some(exponent)) = (
        ctx.card
            .get(tags::ICC_PIN_ENCIPHERMENT_PUBLIC_KEY_CERTIFICATE)
            .map(<[u8]>::to_vec),
        ctx.card
            .get(tags::ICC_PIN_ENCIPHERMENT_PUBLIC_KEY_EXPONENT)
            .map(<[u8]>::to_vec),
    ) {
        let remainder = ctx
            .card
            .get(tags::ICC_PIN_ENCIPHERMENT_PUBLIC_KEY_REMAINDER)
            .unwrap_or_default()
            .to_vec();
        let issuer = retrieve_issuer_key(ctx).ok()?;
        let pan = card_pan(ctx).ok()?;
        let today = ctx.today()?;
        return pki::verify_icc_pin_encipherment_certificate(
            &issuer, &cert, &remainder, &exponent, &pan, today,
        )
        .ok()
        .map(|k| k.public_key);
    }
    retrieve_icc_key(ctx).ok()
}

/// Book 2 §5.4: static data authentication.
fn sda<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<(), Failure> {
    for tag in [0x8F, 0x90, 0x9F32, 0x93] {
        need(ctx, tag)?;
    }
    if !ctx.static_data_ok {
        return Err(Failure::Failed);
    }
    let issuer = retrieve_issuer_key(ctx)?;
    let ssad = need(ctx, 0x93)?;
    let dac = pki::verify_signed_static_data(&issuer, &ssad, &ctx.static_data)
        .map_err(|_| Failure::Failed)?;
    ctx.card.set(tags::DATA_AUTHENTICATION_CODE, dac.to_vec());
    Ok(())
}

/// Book 2 §6.5: dynamic data authentication with INTERNAL AUTHENTICATE.
fn dda<R: CryptoRng>(ctx: &mut Ctx<'_, R>) -> Result<Result<(), Failure>, KernelError> {
    let key = match retrieve_icc_key(ctx) {
        Ok(k) => k,
        Err(f) => return Ok(Err(f)),
    };
    // Book 3 §10.3: the card's DDOL, else the terminal's default DDOL; it must
    // ask for the Unpredictable Number.
    let ddol = match ctx.card.get(tags::DDOL) {
        Some(v) => match Dol::parse(v) {
            Ok(d) => d,
            Err(_) => return Ok(Err(Failure::Failed)),
        },
        None => ctx
            .aid
            .as_ref()
            .map(|a| a.default_ddol.clone())
            .unwrap_or_default(),
    };
    if !ddol
        .entries
        .iter()
        .any(|e| e.tag.number() == tags::UNPREDICTABLE_NUMBER)
    {
        return Ok(Err(if ctx.card.has(0x9F49) {
            Failure::Failed
        } else {
            Failure::Missing
        }));
    }
    let ddol_data = ctx.build_dol(&ddol);
    let r = ctx.exchange_dol(&cmd::internal_authenticate(&ddol_data), &ddol, &ddol_data)?;
    if !r.sw.is_ok() {
        return Err(KernelError::Card(format!(
            "INTERNAL AUTHENTICATE: {}",
            r.sw
        )));
    }
    let sdad = match data::parse(&r.data) {
        Ok(list) => match list.as_slice() {
            [t] if t.tag.number() == tags::RESPONSE_TEMPLATE_FORMAT_1 => {
                t.value_bytes().map(<[u8]>::to_vec)
            }
            [t] if t.tag.number() == tags::RESPONSE_TEMPLATE_FORMAT_2 => {
                data::child(t, tags::SIGNED_DYNAMIC_APPLICATION_DATA).map(<[u8]>::to_vec)
            }
            _ => None,
        },
        Err(e) => return Err(KernelError::Card(e.to_string())),
    };
    let Some(sdad) = sdad else {
        return Ok(Err(Failure::Missing));
    };
    match pki::verify_dda(&key, &sdad, &ddol_data) {
        Ok(dyn_data) => {
            if let Ok(n) = dyn_data.icc_dynamic_number() {
                ctx.card.set(tags::ICC_DYNAMIC_NUMBER, n.to_vec());
            }
            Ok(Ok(()))
        }
        Err(_) => Ok(Err(Failure::Failed)),
    }
}

/// Book 2 §6.6.2: verifies the CDA signature of a GENERATE AC answer; returns the
/// authenticated Application Cryptogram, or `None` (the caller sets "CDA failed").
pub(crate) fn verify_cda<R: CryptoRng>(
    ctx: &mut Ctx<'_, R>,
    sdad: Option<&[u8]>,
    cid: u8,
    cdol_data: &[u8],
    n: u8,
    response_tlvs: &[u8],
) -> Option<[u8; 8]> {
    let sdad = sdad?;
    let key = ctx.icc_key.clone()?;
    let cdol1 = if n == 1 {
        cdol_data.to_vec()
    } else {
        ctx.cdol1_data.clone()
    };
    let t = CdaTransactionData {
        pdol_data: &ctx.pdol_data,
        cdol1_data: &cdol1,
        cdol2_data: (n == 2).then_some(cdol_data),
        response_tlvs,
    };
    let d = pki::verify_cda(&key, sdad, &ctx.un, cid, &t).ok()?;
    ctx.card
        .set(tags::ICC_DYNAMIC_NUMBER, d.icc_dynamic_number.clone());
    Some(d.application_cryptogram)
}
