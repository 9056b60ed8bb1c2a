//! The card face: the "laser engraving" step.
//!
//! [`svg`] lays out the front of an ID-1 card (ISO/IEC 7810: 85.60 × 53.98 mm,
//! corner radius 3.18 mm) in a 856 × 540 user-unit canvas (0.1 mm per unit):
//! issuer name and product label, the chip's contact plate where ISO/IEC 7816-2
//! puts it (about 10 mm from the left edge, 19 mm from the top), the contactless
//! indicator next to it, the PAN in groups of four in an embossed style
//! (ISO/IEC 7811 embossing area), "VALID THRU" with MM/YY, and the cardholder
//! name. [`png`] renders it with `resvg`.
//!
//! The face carries the full PAN — it *is* the card. Nothing here logs it.

use std::sync::{Arc, OnceLock};

use resvg::{tiny_skia, usvg};

use crate::prepare::FaceData;
use crate::{PersoError, Result};

/// Canvas width (0.1 mm units).
pub const WIDTH: u32 = 856;
/// Canvas height.
pub const HEIGHT: u32 = 540;

fn esc(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '&' => "&amp;".to_string(),
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&apos;".to_string(),
            c if c.is_control() => String::new(),
            c => c.to_string(),
        })
        .collect()
}

/// The PAN in groups of four digits.
pub fn group_pan(pan: &str) -> String {
    pan.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Embossed text: a dark shadow below-right, a light edge above-left, then the
/// silver face of the characters.
fn embossed(x: u32, y: u32, size: u32, text: &str, spacing: f32) -> String {
    let t = esc(text);
    format!(
        r##"<g font-family="OCR A Std, OCR A Extended, DejaVu Sans Mono, monospace" font-size="{size}" font-weight="bold" letter-spacing="{spacing}">
    <text x="{sx}" y="{sy}" fill="#0b1a2e" fill-opacity="0.75">{t}</text>
    <text x="{hx}" y="{hy}" fill="#ffffff" fill-opacity="0.55">{t}</text>
    <text x="{x}" y="{y}" fill="url(#silver)">{t}</text>
  </g>"##,
        sx = x + 2,
        sy = y + 3,
        hx = x.saturating_sub(1),
        hy = y.saturating_sub(1),
    )
}

/// The card face as an SVG document.
pub fn svg(face: &FaceData) -> String {
    let pan = group_pan(&face.pan);
    let contactless = if face.contactless {
        // EMVCo contactless indicator: four concentric arcs
        r##"<g transform="translate(262,232)" fill="none" stroke="#e8eef7" stroke-width="7" stroke-linecap="round">
    <path d="M 0 -20 A 28 28 0 0 1 0 20"/>
    <path d="M 16 -34 A 48 48 0 0 1 16 34"/>
    <path d="M 32 -48 A 68 68 0 0 1 32 48"/>
    <path d="M 48 -62 A 88 88 0 0 1 48 62"/>
  </g>"##
    } else {
        ""
    };
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="85.6mm" height="54mm" viewBox="0 0 {WIDTH} {HEIGHT}">
  <title>{product} — card face</title>
  <defs>
    <linearGradient id="bg" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#1d3b6e"/>
      <stop offset="0.55" stop-color="#14284d"/>
      <stop offset="1" stop-color="#0a1630"/>
    </linearGradient>
    <linearGradient id="gold" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="#f6e39b"/>
      <stop offset="0.5" stop-color="#d4af37"/>
      <stop offset="1" stop-color="#a8841f"/>
    </linearGradient>
    <linearGradient id="silver" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#ffffff"/>
      <stop offset="0.6" stop-color="#d9dee6"/>
      <stop offset="1" stop-color="#aab3c0"/>
    </linearGradient>
  </defs>
  <rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" rx="32" ry="32" fill="url(#bg)"/>
  <path d="M 0 400 C 250 300 520 520 856 330 L 856 540 L 0 540 Z" fill="#ffffff" fill-opacity="0.05"/>
  <text x="60" y="92" font-family="DejaVu Sans, sans-serif" font-size="40" font-weight="bold" fill="#ffffff">{issuer}</text>
  <text x="796" y="92" text-anchor="end" font-family="DejaVu Sans, sans-serif" font-size="30" fill="#c9d6ea">{product}</text>
  <g transform="translate(102,178)">
    <rect x="0" y="0" width="118" height="92" rx="14" ry="14" fill="url(#gold)" stroke="#8a6a12" stroke-width="2"/>
    <g fill="none" stroke="#8a6a12" stroke-width="2.5">
      <path d="M 0 31 H 38 M 0 61 H 38 M 80 31 H 118 M 80 61 H 118"/>
      <path d="M 38 0 V 92 M 80 0 V 92"/>
      <rect x="38" y="22" width="42" height="48" rx="6"/>
    </g>
  </g>
  {contactless}
  {pan_text}
  <text x="430" y="432" font-family="DejaVu Sans, sans-serif" font-size="14" fill="#c9d6ea">VALID</text>
  <text x="430" y="448" font-family="DejaVu Sans, sans-serif" font-size="14" fill="#c9d6ea">THRU</text>
  {expiry_text}
  {name_text}
  <g transform="translate(730,468)">
    <circle cx="-22" cy="0" r="34" fill="#e8eef7" fill-opacity="0.85"/>
    <circle cx="22" cy="0" r="34" fill="#7fa7d9" fill-opacity="0.85"/>
  </g>
</svg>
"##,
        issuer = esc(&face.issuer),
        product = esc(&face.product),
        pan_text = embossed(70, 380, 54, &pan, 3.0),
        expiry_text = embossed(490, 448, 34, &face.expiry, 2.0),
        name_text = embossed(70, 500, 34, &face.name, 2.0),
    )
}

fn fontdb() -> Arc<usvg::fontdb::Database> {
    static DB: OnceLock<Arc<usvg::fontdb::Database>> = OnceLock::new();
    DB.get_or_init(|| {
        let mut db = usvg::fontdb::Database::new();
        db.load_system_fonts();
        db.set_monospace_family("DejaVu Sans Mono");
        db.set_sans_serif_family("DejaVu Sans");
        Arc::new(db)
    })
    .clone()
}

/// Renders an SVG document to PNG at `scale` × the canvas size (scale 1 gives
/// 856 × 540 pixels, 254 dpi at true card size).
pub fn render_png(svg_text: &str, scale: f32) -> Result<Vec<u8>> {
    let opts = usvg::Options {
        fontdb: fontdb(),
        ..usvg::Options::default()
    };
    let tree =
        usvg::Tree::from_str(svg_text, &opts).map_err(|e| PersoError::Render(e.to_string()))?;
    let scale = if scale.is_finite() && scale > 0.0 && scale <= 8.0 {
        scale
    } else {
        1.0
    };
    let w = (WIDTH as f32 * scale).round();
    let h = (HEIGHT as f32 * scale).round();
    // w and h are in 1..=6848 here: the casts cannot truncate
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (pw, ph) = (w as u32, h as u32);
    let mut pixmap = tiny_skia::Pixmap::new(pw, ph)
        .ok_or_else(|| PersoError::Render("cannot allocate the pixmap".into()))?;
    let ts = tree.size();
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(w / ts.width(), h / ts.height()),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PersoError::Render(e.to_string()))
}

/// The card face as PNG (856 × 540 pixels).
pub fn png(face: &FaceData) -> Result<Vec<u8>> {
    render_png(&svg(face), 1.0)
}

/// The face data of an existing card image: PAN `5A`, expiry `5F24`, name
/// `5F20` (`SURNAME/FIRST` → `FIRST SURNAME`), product; the issuer name is
/// not stored on the chip and is passed in.
pub fn face_from_card(card: &crate::card::PreparedCard, issuer_name: &str) -> Result<FaceData> {
    let emv = card
        .emv()
        .ok_or_else(|| PersoError::Render("card has no payment application".into()))?;
    let pan = card
        .pan()
        .ok_or_else(|| PersoError::Render("card has no PAN (5A)".into()))?;
    let exp = emv
        .record_value(0x5F24)
        .filter(|v| v.len() == 3)
        .ok_or_else(|| PersoError::Render("card has no expiry (5F24)".into()))?;
    let exp = hex::encode_upper(exp);
    let name = emv
        .record_value(0x5F20)
        .map(|v| String::from_utf8_lossy(&v).trim().to_string())
        .unwrap_or_default();
    let name = match name.split_once('/') {
        Some((last, first)) => format!("{} {}", first.trim(), last.trim()),
        None => name,
    };
    Ok(FaceData {
        pan: zeroize::Zeroizing::new(pan),
        expiry: format!(
            "{}/{}",
            exp.get(2..4).unwrap_or("00"),
            exp.get(0..2).unwrap_or("00")
        ),
        name,
        issuer: issuer_name.to_string(),
        product: card.product.clone(),
        contactless: card.applications.iter().any(|a| {
            a.install
                .interfaces
                .contains(&crate::profile::Interface::Contactless)
        }),
    })
}
