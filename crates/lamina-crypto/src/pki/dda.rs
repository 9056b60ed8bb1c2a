//! Dynamic Data Authentication (Book 2 §6.5, Tables 17–18) and Combined DDA /
//! Application Cryptogram Generation (Book 2 §6.6, Tables 19–22): Signed Dynamic
//! Application Data, format `05` (tag `9F4B`).

use rand::CryptoRng;

use super::frame::{self, HASH_LEN, OVERHEAD, PAD, sha1};
use super::key::{RsaKeyPair, RsaPublicKey};
use super::{HASH_ALGORITHM_SHA1, PkiError};
use crate::sym::ct_eq;

const DDA: &str = "signed dynamic application data";
const FORMAT: u8 = 0x05;
/// Format, hash algorithm, L_DD.
const FIXED: usize = 3;

/// ICC Dynamic Data for DDA: ICC Dynamic Number length ‖ ICC Dynamic Number
/// (tag `9F4C`, 2..=8 bytes) (Book 2 Table 18).
pub fn dda_icc_dynamic_data(icc_dynamic_number: &[u8]) -> Result<Vec<u8>, PkiError> {
    let len = u8::try_from(icc_dynamic_number.len())
        .ok()
        .filter(|l| (2..=8).contains(l))
        .ok_or(PkiError::Invalid {
            what: "ICC dynamic number",
            reason: "must be 2..=8 bytes",
        })?;
    let mut out = Vec::with_capacity(icc_dynamic_number.len() + 1);
    out.push(len);
    out.extend_from_slice(icc_dynamic_number);
    Ok(out)
}

/// Card side: signs `05 ‖ 01 ‖ L_DD ‖ ICC dynamic data ‖ BB…` with the ICC private
/// key; the hash also covers `terminal_dynamic_data` (the DDOL-related data for
/// DDA, the Unpredictable Number for CDA) (Book 2 §6.5.1, Table 17).
pub fn sign_dynamic_data<R: CryptoRng + ?Sized>(
    icc: &RsaKeyPair,
    rng: &mut R,
    icc_dynamic_data: &[u8],
    terminal_dynamic_data: &[u8],
) -> Result<Vec<u8>, PkiError> {
    let k = icc.modulus_len();
    let len = k.checked_sub(OVERHEAD).ok_or(PkiError::KeyLayout {
        what: DDA,
        reason: "ICC key too short",
    })?;
    // 0 <= L_DD <= N_IC - 25
    let ldd = u8::try_from(icc_dynamic_data.len())
        .ok()
        .filter(|l| usize::from(*l) + FIXED <= len)
        .ok_or(PkiError::Invalid {
            what: "ICC dynamic data",
            reason: "longer than N_IC - 25 bytes",
        })?;
    let mut data = Vec::with_capacity(len);
    data.extend_from_slice(&[FORMAT, HASH_ALGORITHM_SHA1, ldd]);
    data.extend_from_slice(icc_dynamic_data);
    data.resize(len, PAD);
    frame::sign(icc, rng, &data, &[terminal_dynamic_data])
}

/// Signed Dynamic Application Data after recovery (Book 2 §6.5.2 steps 1–3,
/// §6.6.2 steps 1–4); authenticate with [`verify`](Self::verify) (DDA) or
/// [`verify_cda`](Self::verify_cda).
#[derive(Debug, Clone)]
pub struct RecoveredDynamicData {
    data: Vec<u8>,
    hash: [u8; HASH_LEN],
}

impl RecoveredDynamicData {
    /// Hash Algorithm Indicator as recovered.
    pub fn hash_algorithm(&self) -> u8 {
        self.data.get(1).copied().unwrap_or(0)
    }
    /// ICC Dynamic Data as recovered (not yet authenticated).
    pub fn icc_dynamic_data(&self) -> &[u8] {
        let ldd = usize::from(self.data.get(2).copied().unwrap_or(0));
        self.data.get(FIXED..FIXED + ldd).unwrap_or(&[])
    }
    /// The recovered Hash Result.
    pub fn hash_result(&self) -> &[u8; HASH_LEN] {
        &self.hash
    }

    /// DDA, Book 2 §6.5.2 steps 4–7: SHA-1 over the recovered data ‖
    /// `terminal_dynamic_data` (DDOL-related data) equals the hash result.
    pub fn verify(&self, terminal_dynamic_data: &[u8]) -> Result<IccDynamicData, PkiError> {
        frame::check_hash(
            DDA,
            self.hash_algorithm(),
            &self.data,
            &[terminal_dynamic_data],
            &self.hash,
        )?;
        Ok(IccDynamicData(self.icc_dynamic_data().to_vec()))
    }

    /// CDA, Book 2 §6.6.2 steps 5–9: the CID in the signature equals the CID of
    /// the GENERATE AC response; SHA-1 over the recovered data ‖ Unpredictable
    /// Number equals the hash result; the Transaction Data Hash Code matches
    /// `transaction`. Returns the authenticated dynamic data (AC, CID ...).
    pub fn verify_cda(
        &self,
        unpredictable_number: &[u8; 4],
        cid_from_response: u8,
        transaction: &CdaTransactionData<'_>,
    ) -> Result<CdaDynamicData, PkiError> {
        if self.hash_algorithm() != HASH_ALGORITHM_SHA1 {
            return Err(PkiError::HashAlgorithm {
                what: DDA,
                got: self.hash_algorithm(),
            });
        }
        let dynamic = CdaDynamicData::parse(self.icc_dynamic_data())?;
        if dynamic.cid != cid_from_response {
            return Err(PkiError::CidMismatch);
        }
        frame::check_hash(
            DDA,
            self.hash_algorithm(),
            &self.data,
            &[unpredictable_number],
            &self.hash,
        )?;
        if !ct_eq(
            &transaction_data_hash_code(transaction),
            &dynamic.transaction_data_hash_code,
        ) {
            return Err(PkiError::TransactionDataHash);
        }
        Ok(dynamic)
    }
}

/// Authenticated ICC Dynamic Data from DDA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IccDynamicData(Vec<u8>);

impl IccDynamicData {
    /// The whole ICC Dynamic Data.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The ICC Dynamic Number (tag `9F4C`) from its leading length byte.
    pub fn icc_dynamic_number(&self) -> Result<&[u8], PkiError> {
        let len = usize::from(*self.0.first().ok_or(PkiError::Invalid {
            what: "ICC dynamic data",
            reason: "empty",
        })?);
        if !(2..=8).contains(&len) {
            return Err(PkiError::Invalid {
                what: "ICC dynamic number",
                reason: "length not 2..=8",
            });
        }
        self.0.get(1..1 + len).ok_or(PkiError::Invalid {
            what: "ICC dynamic data",
            reason: "truncated dynamic number",
        })
    }
}

/// Applies the ICC public key to Signed Dynamic Application Data (tag `9F4B`):
/// length, trailer, header, format `05`, and L_DD within bounds
/// (Book 2 §6.5.2 steps 1–3, §6.6.2 steps 1–4).
pub fn recover_signed_dynamic_data(
    icc_key: &RsaPublicKey,
    sdad: &[u8],
) -> Result<RecoveredDynamicData, PkiError> {
    let f = frame::recover(icc_key, sdad, DDA)?;
    frame::check_format(DDA, &f.data, FORMAT)?;
    let ldd = usize::from(f.data.get(2).copied().ok_or(PkiError::KeyLayout {
        what: DDA,
        reason: "ICC key too short",
    })?);
    if FIXED + ldd > f.data.len() {
        return Err(PkiError::Invalid {
            what: "ICC dynamic data",
            reason: "length exceeds the signature",
        });
    }
    Ok(RecoveredDynamicData {
        data: f.data,
        hash: f.hash,
    })
}

/// DDA terminal side (Book 2 §6.5.2): recovers and verifies, returning the ICC Dynamic Data.
pub fn verify_dda(
    icc_key: &RsaPublicKey,
    sdad: &[u8],
    terminal_dynamic_data: &[u8],
) -> Result<IccDynamicData, PkiError> {
    recover_signed_dynamic_data(icc_key, sdad)?.verify(terminal_dynamic_data)
}

/// The data a CDA Transaction Data Hash Code covers (Book 2 §6.6.1): raw bytes
/// as the terminal sent and received them.
#[derive(Debug, Clone, Copy, Default)]
pub struct CdaTransactionData<'a> {
    /// PDOL-related data (values sent in GET PROCESSING OPTIONS, without tag `83`).
    pub pdol_data: &'a [u8],
    /// CDOL1-related data (command data of the first GENERATE AC).
    pub cdol1_data: &'a [u8],
    /// CDOL2-related data, for the second GENERATE AC only.
    pub cdol2_data: Option<&'a [u8]>,
    /// The TLV data objects of the GENERATE AC response (template `77` content),
    /// in order, excluding the Signed Dynamic Application Data `9F4B`.
    pub response_tlvs: &'a [u8],
}

/// Transaction Data Hash Code: SHA-1 over PDOL data ‖ CDOL1 data ‖ [CDOL2 data]
/// ‖ response TLVs without `9F4B` (Book 2 §6.6.1).
pub fn transaction_data_hash_code(t: &CdaTransactionData<'_>) -> [u8; HASH_LEN] {
    sha1(&[
        t.pdol_data,
        t.cdol1_data,
        t.cdol2_data.unwrap_or(&[]),
        t.response_tlvs,
    ])
}

/// ICC Dynamic Data for CDA (Book 2 Table 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdaDynamicData {
    /// ICC Dynamic Number (tag `9F4C`), 2..=8 bytes.
    pub icc_dynamic_number: Vec<u8>,
    /// Cryptogram Information Data (tag `9F27`).
    pub cid: u8,
    /// Application Cryptogram (tag `9F26`).
    pub application_cryptogram: [u8; 8],
    /// Transaction Data Hash Code.
    pub transaction_data_hash_code: [u8; HASH_LEN],
    /// Signed data after the Transaction Data Hash Code: empty in Book 2 CDA;
    /// contactless kernels append fields here (e.g. EMV Book C-2 DS summaries).
    pub additional_data: Vec<u8>,
}

impl CdaDynamicData {
    /// `len ‖ ICC dynamic number ‖ CID ‖ AC ‖ TDHC` (Book 2 Table 19).
    pub fn to_bytes(&self) -> Result<Vec<u8>, PkiError> {
        let mut out = dda_icc_dynamic_data(&self.icc_dynamic_number)?;
        out.push(self.cid);
        out.extend_from_slice(&self.application_cryptogram);
        out.extend_from_slice(&self.transaction_data_hash_code);
        out.extend_from_slice(&self.additional_data);
        Ok(out)
    }

    /// Parses Table 19 ICC Dynamic Data; bytes after the TDHC go to
    /// [`additional_data`](Self::additional_data).
    pub fn parse(bytes: &[u8]) -> Result<Self, PkiError> {
        let bad = |reason| PkiError::Invalid {
            what: "CDA ICC dynamic data",
            reason,
        };
        let (&len, rest) = bytes.split_first().ok_or(bad("empty"))?;
        let len = usize::from(len);
        if !(2..=8).contains(&len) {
            return Err(bad("ICC dynamic number length not 2..=8"));
        }
        if rest.len() < len + 1 + 8 + HASH_LEN {
            return Err(bad("too short"));
        }
        let (number, rest) = rest.split_at(len);
        let (&cid, rest) = rest.split_first().ok_or(bad("truncated"))?;
        let (ac, rest) = rest.split_at(8);
        let (tdhc, additional) = rest.split_at(HASH_LEN);
        Ok(Self {
            icc_dynamic_number: number.to_vec(),
            cid,
            application_cryptogram: ac.try_into().map_err(|_| bad("truncated"))?,
            transaction_data_hash_code: tdhc.try_into().map_err(|_| bad("truncated"))?,
            additional_data: additional.to_vec(),
        })
    }
}

/// CDA card side (Book 2 §6.6.1): signs the Table 19 dynamic data, hash over
/// the Table 22 data ‖ the terminal's Unpredictable Number (`9F37`).
pub fn sign_cda<R: CryptoRng + ?Sized>(
    icc: &RsaKeyPair,
    rng: &mut R,
    dynamic: &CdaDynamicData,
    unpredictable_number: &[u8; 4],
) -> Result<Vec<u8>, PkiError> {
    sign_dynamic_data(icc, rng, &dynamic.to_bytes()?, unpredictable_number)
}

/// CDA terminal side (Book 2 §6.6.2): recovers the SDAD, checks the CID against
/// the response, the signature hash and the Transaction Data Hash Code; returns
/// the authenticated AC and CID.
pub fn verify_cda(
    icc_key: &RsaPublicKey,
    sdad: &[u8],
    unpredictable_number: &[u8; 4],
    cid_from_response: u8,
    transaction: &CdaTransactionData<'_>,
) -> Result<CdaDynamicData, PkiError> {
    recover_signed_dynamic_data(icc_key, sdad)?.verify_cda(
        unpredictable_number,
        cid_from_response,
        transaction,
    )
}
