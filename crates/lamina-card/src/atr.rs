//! Answer-to-Reset (ISO/IEC 7816-3 §8, EMV Book 1 §8.3) and Answer-to-Select
//! (ISO/IEC 14443-4 §5.2).

use serde::{Deserialize, Serialize};

/// The card's physical interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interface {
    /// Contact (ISO/IEC 7816-3): the card answers reset with an ATR.
    Contact,
    /// Contactless (ISO/IEC 14443-4): the card answers RATS with an ATS.
    Contactless,
}

/// The transmission protocol in use, which decides how response data is returned
/// (ISO/IEC 7816-3 §10–11, EMV Book 1 §9.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// T=0: response data is announced with `61xx` and fetched with GET RESPONSE;
    /// a case 2 command with the wrong Le gets `6Cxx`.
    T0,
    /// T=1 (block protocol): data and status word together.
    T1,
    /// ISO/IEC 14443-4 (contactless half-duplex block protocol): like T=1.
    Iso14443,
}

/// Maximum historical bytes (ISO/IEC 7816-3 §8.2.2: K is 4 bits).
pub const MAX_HISTORICAL: usize = 15;

/// Builds the contact ATR offering T=0 (first, the default) and T=1:
///
/// `3B FK 13 00 00 80 31 FE 45 <K historical bytes> TCK`
///
/// * TS `3B` direct convention; T0 `F` + K: TA1, TB1, TC1, TD1 present.
/// * TA1 `13`: Fi = 372, Di = 4 (EMV Book 1 §8.3.3.1 accepts `11`–`13`).
/// * TB1 `00`: no VPP (EMV Book 1 §8.3.3.2). TC1 `00`: no extra guard time.
/// * TD1 `80`: TD2 follows, T=0. TD2 `31`: TA3 and TB3 follow, T=1.
/// * TA3 `FE`: IFSC 254. TB3 `45`: BWI 4, CWI 5 (EMV Book 1 §8.3.3.10).
/// * TCK: present because T=1 is offered; XOR of T0..TCK is zero (ISO/IEC 7816-3
///   §8.2.5).
///
/// Historical bytes beyond 15 are cut.
pub fn contact_atr(historical: &[u8]) -> Vec<u8> {
    let hist = historical.get(..MAX_HISTORICAL).unwrap_or(historical);
    let k = u8::try_from(hist.len()).unwrap_or(0) & 0x0F;
    let mut atr = vec![0x3B, 0xF0 | k, 0x13, 0x00, 0x00, 0x80, 0x31, 0xFE, 0x45];
    atr.extend_from_slice(hist);
    let tck = atr.iter().skip(1).fold(0u8, |a, b| a ^ b);
    atr.push(tck);
    atr
}

/// Builds the ATS (ISO/IEC 14443-4 §5.2), without CRC:
///
/// `TL 78 80 70 02 <historical bytes>`
///
/// * TL: length of the ATS including TL.
/// * T0 `78`: TA(1), TB(1), TC(1) present; FSCI 8 (FSC = 256 bytes).
/// * TA(1) `80`: same bit rate both directions, 106 kbit/s only.
/// * TB(1) `70`: FWI 7, SFGI 0 (EMV Contactless Book D §5.7 limits FWI ≤ 7).
/// * TC(1) `02`: CID supported, NAD not supported.
///
/// The whole ATS is at most 255 bytes (FSD 256 minus CRC), so historical bytes are
/// cut at 250.
pub fn ats(historical: &[u8]) -> Vec<u8> {
    let hist = historical.get(..250).unwrap_or(historical);
    let tl = u8::try_from(5 + hist.len()).unwrap_or(u8::MAX);
    let mut ats = vec![tl, 0x78, 0x80, 0x70, 0x02];
    ats.extend_from_slice(hist);
    ats
}

/// The parts of an ATR that matter to a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtrInfo {
    /// Protocols offered, distinct, in order of appearance (`0` for T=0, `1` for
    /// T=1 …); `[0]` when no TD byte is present.
    pub protocols: Vec<u8>,
    /// Interface bytes as `(name, value)`, e.g. `("TA1", 0x13)`.
    pub interface_bytes: Vec<(String, u8)>,
    /// Historical bytes.
    pub historical: Vec<u8>,
    /// TCK if present.
    pub tck: Option<u8>,
}

/// Why an ATR could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AtrError {
    /// TS is not `3B` (direct) or `3F` (inverse).
    #[error("TS {0:02X}: expected 3B or 3F")]
    BadTs(u8),
    /// The ATR ended early.
    #[error("ATR truncated at offset {0}")]
    Truncated(usize),
    /// The XOR of T0..TCK is not zero.
    #[error("TCK check failed (XOR of T0..TCK = {0:02X})")]
    BadTck(u8),
    /// Bytes after TCK.
    #[error("{0} extra byte(s) after the ATR")]
    Trailing(usize),
}

/// Decodes an ATR (ISO/IEC 7816-3 §8.2) and checks TCK.
pub fn parse_atr(atr: &[u8]) -> Result<AtrInfo, AtrError> {
    let byte = |i: usize| atr.get(i).copied().ok_or(AtrError::Truncated(i));
    let ts = byte(0)?;
    if ts != 0x3B && ts != 0x3F {
        return Err(AtrError::BadTs(ts));
    }
    let t0 = byte(1)?;
    let k = usize::from(t0 & 0x0F);
    let mut y = t0 >> 4;
    let mut pos = 2;
    let mut i = 1;
    let mut protocols = Vec::new();
    let mut interface_bytes = Vec::new();
    loop {
        for (bit, name) in [(1u8, "TA"), (2, "TB"), (4, "TC")] {
            if y & bit != 0 {
                interface_bytes.push((format!("{name}{i}"), byte(pos)?));
                pos += 1;
            }
        }
        if y & 8 == 0 {
            break;
        }
        let td = byte(pos)?;
        interface_bytes.push((format!("TD{i}"), td));
        pos += 1;
        if !protocols.contains(&(td & 0x0F)) {
            protocols.push(td & 0x0F);
        }
        y = td >> 4;
        i += 1;
    }
    if protocols.is_empty() {
        protocols.push(0);
    }
    let historical = atr
        .get(pos..pos + k)
        .ok_or(AtrError::Truncated(atr.len()))?
        .to_vec();
    pos += k;
    let tck = if protocols.iter().any(|&p| p != 0) {
        let t = byte(pos)?;
        pos += 1;
        let x = atr
            .get(1..pos)
            .unwrap_or_default()
            .iter()
            .fold(0, |a, b| a ^ b);
        if x != 0 {
            return Err(AtrError::BadTck(x));
        }
        Some(t)
    } else {
        None
    };
    if atr.len() > pos {
        return Err(AtrError::Trailing(atr.len() - pos));
    }
    Ok(AtrInfo {
        protocols,
        interface_bytes,
        historical,
        tck,
    })
}

/// The parts of an ATS (ISO/IEC 14443-4 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtsInfo {
    /// FSCI (b4–b1 of T0): the card's maximum frame size code.
    pub fsci: u8,
    /// TA(1), TB(1), TC(1) when present.
    pub ta: Option<u8>,
    /// TB(1): FWI (high nibble) and SFGI (low nibble).
    pub tb: Option<u8>,
    /// TC(1): b2 CID supported, b1 NAD supported.
    pub tc: Option<u8>,
    /// Historical bytes.
    pub historical: Vec<u8>,
}

/// Decodes an ATS without CRC (ISO/IEC 14443-4 §5.2). `TL = 01` (no T0) gives the
/// defaults: FSCI 2, no interface bytes.
pub fn parse_ats(ats: &[u8]) -> Result<AtsInfo, AtrError> {
    let tl = usize::from(*ats.first().ok_or(AtrError::Truncated(0))?);
    if ats.len() < tl || tl == 0 {
        return Err(AtrError::Truncated(ats.len()));
    }
    if ats.len() > tl {
        return Err(AtrError::Trailing(ats.len() - tl));
    }
    let Some(&t0) = ats.get(1) else {
        return Ok(AtsInfo {
            fsci: 2,
            ta: None,
            tb: None,
            tc: None,
            historical: Vec::new(),
        });
    };
    let mut pos = 2;
    let mut take = |bit: u8| -> Result<Option<u8>, AtrError> {
        if t0 & bit == 0 {
            return Ok(None);
        }
        let b = *ats.get(pos).ok_or(AtrError::Truncated(pos))?;
        pos += 1;
        Ok(Some(b))
    };
    let ta = take(0x10)?;
    let tb = take(0x20)?;
    let tc = take(0x40)?;
    Ok(AtsInfo {
        fsci: t0 & 0x0F,
        ta,
        tb,
        tc,
        historical: ats.get(pos..).unwrap_or_default().to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_atr_and_ats_structure() {
        let atr = contact_atr(b"LAMINA");
        let info = parse_atr(&atr).unwrap();
        assert_eq!(info.protocols, vec![0, 1]);
        assert_eq!(info.historical, b"LAMINA");
        assert_eq!(atr.iter().skip(1).fold(0, |a, b| a ^ b), 0);
        let ats = ats(b"LAMINA");
        assert_eq!(usize::from(ats[0]), ats.len());
        assert_eq!(&ats[1..5], &[0x78, 0x80, 0x70, 0x02]);
        let info = parse_ats(&ats).unwrap();
        assert_eq!(
            (info.fsci, info.ta, info.tb, info.tc),
            (8, Some(0x80), Some(0x70), Some(0x02))
        );
        assert_eq!(info.historical, b"LAMINA");
        assert!(parse_ats(&ats[..4]).is_err());
        assert_eq!(parse_ats(&[1]).unwrap().fsci, 2);
        let mut bad = atr.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(parse_atr(&bad), Err(AtrError::BadTck(_))));
        assert!(matches!(parse_atr(&atr[..5]), Err(AtrError::Truncated(_))));
    }
}
