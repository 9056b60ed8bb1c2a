//! A simulated EMV card for tests and the load generator: computes the ARQC exactly as
//! the Lamina card applet does (ICC master key from the issuer key, EMV Book 2 A1.4;
//! cryptogram over [`crate::issuer::decision::cryptogram_input`]) and
//! builds the field 55 a terminal would send.

use lamina_crypto::emv::{self, Cvn};
use lamina_crypto::sym::SecretKey;
use lamina_tlv::Tlv;

use crate::error::Result;
use crate::issuer::decision::{cryptogram_input, psn_bcd};
use crate::keys::mask_pan;

/// A simulated card.
#[derive(Clone)]
pub struct SimCard {
    /// PAN.
    pub pan: String,
    /// PSN (0–99).
    pub psn: u8,
    /// Expiry YYMM.
    pub expiry: String,
    /// Cryptogram profile.
    pub cvn: Cvn,
    /// The card's MK_AC.
    pub mk_ac: SecretKey,
    /// Next ATC to use.
    pub atc: u16,
    /// Terminal Verification Results (95) the simulated terminal reports.
    pub tvr: [u8; 5],
    /// CVM Results (9F34) the simulated terminal reports.
    pub cvm_results: [u8; 3],
}

impl std::fmt::Debug for SimCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimCard")
            .field("pan", &mask_pan(&self.pan))
            .field("cvn", &self.cvn)
            .field("atc", &self.atc)
            .finish_non_exhaustive()
    }
}

/// Lamina's 7-byte Issuer Application Data: `06 ‖ DKI ‖ CVN ‖ CVR(4)` (VIS layout).
pub fn lamina_iad(cvn: Cvn) -> Vec<u8> {
    let code = cvn.profile().number.unwrap_or(0x22);
    vec![0x06, 0x01, code, 0x03, 0xA0, 0x00, 0x00]
}

fn bcd_n(mut v: u64, bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes];
    for b in out.iter_mut().rev() {
        let lo = u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        let hi = u8::try_from(v % 10).unwrap_or(0);
        v /= 10;
        *b = (hi << 4) | lo;
    }
    out
}

impl SimCard {
    /// A card whose MK_AC is derived from `imk_ac` like the issuer derives it.
    pub fn new(pan: &str, psn: u8, expiry: &str, cvn: Cvn, imk_ac: &SecretKey) -> Result<SimCard> {
        let p = cvn.profile();
        let mk_ac = emv::derive_icc_mk(
            p.algorithm,
            p.mk_derivation,
            imk_ac.as_bytes(),
            pan,
            psn_bcd(psn),
        )?;
        Ok(SimCard {
            pan: pan.to_owned(),
            psn,
            expiry: expiry.to_owned(),
            cvn,
            mk_ac,
            atc: 1,
            tvr: [0; 5],
            // Online PIN, successful? No: 42 03 00 = enciphered PIN online, always, unknown.
            cvm_results: [0x42, 0x03, 0x00],
        })
    }

    /// Field 55 of an online request for `amount` (minor units) in `currency` (ISO 4217
    /// numeric), with the next ATC (then incremented), date YYMMDD and unpredictable
    /// number `un`.
    pub fn arqc_field55(
        &mut self,
        amount: u64,
        currency: u16,
        date: [u8; 3],
        un: [u8; 4],
    ) -> Result<Vec<u8>> {
        let atc = self.atc;
        self.atc = self.atc.wrapping_add(1);
        self.field55_with_atc(amount, currency, date, un, atc)
    }

    /// As [`SimCard::arqc_field55`] with an explicit ATC (for replay tests).
    pub fn field55_with_atc(
        &self,
        amount: u64,
        currency: u16,
        date: [u8; 3],
        un: [u8; 4],
        atc: u16,
    ) -> Result<Vec<u8>> {
        let cur = bcd_n(u64::from(currency), 2);
        let mut tlvs = vec![
            Tlv::primitive(0x9F02u32, bcd_n(amount, 6)),
            Tlv::primitive(0x9F03u32, vec![0; 6]),
            Tlv::primitive(0x9F1Au32, cur.clone()),
            Tlv::primitive(0x95u32, self.tvr.to_vec()),
            Tlv::primitive(0x5F2Au32, cur),
            Tlv::primitive(0x9Au32, date.to_vec()),
            Tlv::primitive(0x9Cu32, vec![0x00]),
            Tlv::primitive(0x9F37u32, un.to_vec()),
            Tlv::primitive(0x82u32, vec![0x39, 0x00]),
            Tlv::primitive(0x9F36u32, atc.to_be_bytes().to_vec()),
            Tlv::primitive(0x9F10u32, lamina_iad(self.cvn)),
            Tlv::primitive(0x9F27u32, vec![0x80]),
            Tlv::primitive(0x9F34u32, self.cvm_results.to_vec()),
        ];
        let data = cryptogram_input(self.cvn, &tlvs)
            .ok_or_else(|| crate::error::invalid("ICC data", "incomplete"))?;
        let ac = emv::generate_ac(self.cvn, self.mk_ac.as_bytes(), atc, un, &data)?;
        tlvs.push(Tlv::primitive(0x9F26u32, ac.to_vec()));
        Ok(Tlv::encode_all(&tlvs))
    }
}
