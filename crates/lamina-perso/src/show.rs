//! Decoding a card image for display (`lamina card show`): TLV trees with the
//! EMV dictionary's names, sensitive values masked, keys only as key check
//! values.

use lamina_crypto::sym;
use lamina_tlv::{Tlv, Value};
use serde::Serialize;

use crate::card::{EmvData, PreparedCard};
use crate::profile::Interface;
use crate::{Result, util};

/// One decoded data object.
#[derive(Debug, Clone, Serialize)]
pub struct TlvView {
    /// Tag in hex.
    pub tag: String,
    /// Name from the EMV dictionary (empty if unknown).
    pub name: String,
    /// Rendered value (masked when sensitive); absent for templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Children of a template.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<TlvView>,
}

/// A record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordView {
    /// SFI.
    pub sfi: u8,
    /// Record number.
    pub record: u8,
    /// Content.
    pub tlv: Vec<TlvView>,
}

/// A key as shown: name and check value.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    /// Key name.
    pub name: String,
    /// KCV (hex).
    pub kcv: String,
}

/// An EMV application's data as shown.
#[derive(Debug, Clone, Serialize)]
pub struct EmvView {
    /// FCI proprietary template, contact.
    pub fci: Vec<TlvView>,
    /// GPO data (AIP, AFL).
    pub gpo: Vec<TlvView>,
    /// Records.
    pub records: Vec<RecordView>,
    /// GET DATA objects.
    pub get_data: Vec<TlvView>,
    /// Risk parameters.
    pub risk: crate::card::RiskParams,
    /// ICC master keys as KCVs.
    pub keys: Vec<KeyView>,
    /// PIN try limit, if the card holds a reference PIN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_try_limit: Option<u8>,
    /// ICC RSA key: bits, exponent and the head of the modulus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icc_key: Option<String>,
}

/// An application as shown.
#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    /// AID.
    pub aid: String,
    /// Applet class.
    pub class: String,
    /// Label.
    pub label: String,
    /// Interfaces.
    pub interfaces: Vec<Interface>,
    /// Install parameters (extra applications: JSON text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<String>,
    /// Payment data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emv: Option<EmvView>,
}

/// A card as shown.
#[derive(Debug, Clone, Serialize)]
pub struct CardView {
    /// Card id.
    pub card_id: String,
    /// Product.
    pub product: String,
    /// Masked PAN.
    pub pan: String,
    /// Applications.
    pub applications: Vec<AppView>,
}

fn render(tag: u32, value: &[u8]) -> String {
    if lamina_emv::dict::is_sensitive(tag) && !lamina_emv::dict::PAN_TAGS.contains(&tag) {
        return format!("(hidden, {} bytes)", value.len());
    }
    match lamina_emv::dict::render_value(tag, value) {
        Some(s) => s,
        None if lamina_emv::dict::is_sensitive(tag) => format!("(hidden, {} bytes)", value.len()),
        None => hex::encode_upper(value),
    }
}

fn view(t: &Tlv) -> TlvView {
    let n = t.tag.number();
    let (value, children) = match &t.value {
        Value::Primitive(v) => (Some(render(n, v)), Vec::new()),
        Value::Constructed(c) => (None, c.iter().map(view).collect()),
    };
    TlvView {
        tag: lamina_emv::dict::tag_hex(n),
        name: lamina_emv::dict::name_of(n).unwrap_or("").to_string(),
        value,
        children,
    }
}

fn tlv_list(data: &[u8]) -> Vec<TlvView> {
    match Tlv::parse_all(data) {
        Ok(list) => list.iter().map(view).collect(),
        Err(e) => vec![TlvView {
            tag: "??".into(),
            name: format!("malformed TLV: {e}"),
            value: None,
            children: Vec::new(),
        }],
    }
}

fn emv_view(e: &EmvData) -> Result<EmvView> {
    let kcv = |name: &str, k: &util::SecretBytes| -> Result<KeyView> {
        Ok(KeyView {
            name: name.into(),
            kcv: hex::encode_upper(sym::kcv_tdes(k.expose())?),
        })
    };
    Ok(EmvView {
        fci: tlv_list(&e.fci),
        gpo: tlv_list(&Tlv::encode_all(&[
            Tlv::primitive(0x82u32, e.gpo.aip.clone()),
            Tlv::primitive(0x94u32, e.gpo.afl.clone()),
        ])),
        records: e
            .records
            .iter()
            .map(|r| RecordView {
                sfi: r.sfi,
                record: r.record,
                tlv: tlv_list(&r.data),
            })
            .collect(),
        get_data: tlv_list(&e.get_data),
        risk: e.risk.clone(),
        keys: vec![
            kcv("ICC MK-AC", &e.keys.mk_ac)?,
            kcv("ICC MK-SMI", &e.keys.mk_smi)?,
            kcv("ICC MK-SMC", &e.keys.mk_smc)?,
            kcv("ICC MK-IDN", &e.keys.mk_idn)?,
        ],
        pin_try_limit: e.pin.as_ref().map(|p| p.try_limit),
        icc_key: e.icc_key.as_ref().map(|k| {
            format!(
                "RSA-{} e={} modulus {}…",
                k.modulus.len() * 8,
                hex::encode_upper(&k.exponent),
                hex::encode_upper(k.modulus.get(..8).unwrap_or(&k.modulus))
            )
        }),
    })
}

/// Builds the display view of a card.
pub fn card_view(card: &PreparedCard) -> Result<CardView> {
    let mut applications = Vec::new();
    for a in &card.applications {
        applications.push(AppView {
            aid: hex::encode_upper(&a.install.aid),
            class: a.install.class.clone(),
            label: a.install.label.clone(),
            interfaces: a.install.interfaces.clone(),
            // Install parameters may carry the application's keys: described with
            // keys as check values, never printed raw.
            params: (!a.install.params.is_empty()).then(|| {
                crate::closedloop::describe_params(&a.install.class, &a.install.params)
                    .unwrap_or_else(|| format!("({} bytes)", a.install.params.len()))
            }),
            emv: a.emv.as_ref().map(emv_view).transpose()?,
        });
    }
    Ok(CardView {
        card_id: card.card_id.clone(),
        product: card.product.clone(),
        pan: card.masked_pan(),
        applications,
    })
}

fn push_tlv(out: &mut String, list: &[TlvView], depth: usize) {
    for t in list {
        let pad = "  ".repeat(depth);
        match &t.value {
            Some(v) => out.push_str(&format!("{pad}{} {}: {v}\n", t.tag, t.name)),
            None => out.push_str(&format!("{pad}{} {}\n", t.tag, t.name)),
        }
        push_tlv(out, &t.children, depth + 1);
    }
}

impl CardView {
    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "card {}  product {}  PAN {}\n",
            self.card_id, self.product, self.pan
        );
        for a in &self.applications {
            out.push_str(&format!(
                "\napplication {} ({}) \"{}\" on {:?}\n",
                a.aid, a.class, a.label, a.interfaces
            ));
            if let Some(p) = &a.params {
                out.push_str(&format!("  parameters: {p}\n"));
            }
            let Some(e) = &a.emv else { continue };
            out.push_str("  FCI (A5):\n");
            push_tlv(&mut out, &e.fci, 2);
            out.push_str("  GET PROCESSING OPTIONS:\n");
            push_tlv(&mut out, &e.gpo, 2);
            for r in &e.records {
                out.push_str(&format!("  record SFI {} #{}:\n", r.sfi, r.record));
                push_tlv(&mut out, &r.tlv, 2);
            }
            out.push_str("  GET DATA:\n");
            push_tlv(&mut out, &e.get_data, 2);
            let r = &e.risk;
            out.push_str(&format!(
                "  risk: CVN {} (MK option {}), currency {}, LCOL {} UCOL {}, cumulative {} / {}{}\n",
                r.cvn,
                r.mk_derivation,
                r.currency,
                r.lcol,
                r.ucol,
                r.cumulative_limit,
                r.cumulative_upper_limit,
                r.contactless_offline_limit
                    .map(|l| format!(", contactless offline {l}"))
                    .unwrap_or_default()
            ));
            out.push_str("  keys (KCV only):\n");
            for k in &e.keys {
                out.push_str(&format!("    {:<12} KCV {}\n", k.name, k.kcv));
            }
            if let Some(l) = e.pin_try_limit {
                out.push_str(&format!(
                    "  reference PIN: present (REDACTED), try limit {l}\n"
                ));
            }
            if let Some(k) = &e.icc_key {
                out.push_str(&format!("  ICC key: {k} (private part REDACTED)\n"));
            }
        }
        out
    }
}
