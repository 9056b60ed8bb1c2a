//! Test fixtures shared by the kernel's tests, its benchmark and the CLI demo:
//!
//! * [`TestPki`]: Lamina's **test** PKI (CA, issuer and ICC RSA keys whose private
//!   parts are public, `data/test_pki.txt`) and the certificates a card carries
//!   (EMV Book 2 §5–6);
//! * [`static_data`]: the Static Data to be Authenticated of a set of records, as a
//!   bureau computes it before signing (Book 3 §10.3);
//! * [`HostDouble`]: an [`AcquirerLink`] whose cryptography is real: it verifies the
//!   ARQC from the issuer master key (Book 2 §8.1), decrypts and checks an online
//!   PIN under DUKPT (X9.24-1), answers with an ARPC (Book 2 §8.2) and can send
//!   issuer scripts with secure messaging (Book 2 §9.2);
//! * [`DukptPinPad`]: an [`OnlinePinEncryptor`] holding a TDES DUKPT IPEK and KSN;
//! * [`CardRngBridge`]: a card RNG seen as a `rand` generator (for the card's RSA).
//!
//! Nothing here is for production: keys are public test values.

use std::collections::BTreeMap;
use std::convert::Infallible;

use lamina_crypto::dukpt::tdes;
use lamina_crypto::emv::{self, ArpcMethod, ArpcResponse, Cvn};
use lamina_crypto::pin::{self, ClearPinBlock};
use lamina_crypto::pki::{
    self, CaKeyPair, CaPublicKey, CdaTransactionData, CertExpiry, Date, IccCertificateContent,
    IssuerCertificateContent, Pan, PkiError, PublicKeyCertificate, RsaKeyPair, RsaKeyParts,
};
use lamina_crypto::sym::SecretKey;
use lamina_tlv::Tlv;

use crate::capk::CapkStore;
use crate::online::{
    AcquirerLink, Advice, AuthorizationRequest, AuthorizationResponse, EncryptedPin, LinkError,
    OnlinePinEncryptor, PinEncryptionError, Reversal,
};

/// RID of Lamina's test scheme (the first five bytes of the test AIDs `F04C414D49…`).
pub const TEST_RID: [u8; 5] = [0xF0, 0x4C, 0x41, 0x4D, 0x49];
/// CA Public Key Index of the test CA.
pub const TEST_CA_INDEX: u8 = 0x92;
/// The ANSI X9.24-1:2009 Annex A example BDK (a published test key).
pub const TEST_BDK: &str = "0123456789ABCDEFFEDCBA9876543210";
/// The ANSI X9.24-1:2009 Annex A example initial KSN.
pub const TEST_KSN: &str = "FFFF9876543210E00000";

const TEST_PKI: &str = include_str!("../data/test_pki.txt");

/// The card RNG as a `rand` generator (the chip OS's bridge).
pub use lamina_card::RandBridge as CardRngBridge;

fn parts(name: &str) -> Result<RsaKeyParts, PkiError> {
    let get = |field: &str| -> Result<Vec<u8>, PkiError> {
        let key = format!("{name}_{field}=");
        TEST_PKI
            .lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .and_then(|h| hex::decode(h.trim()).ok())
            .ok_or(PkiError::Invalid {
                what: "test PKI file",
                reason: "missing or bad key part",
            })
    };
    Ok(RsaKeyParts {
        modulus: get("N")?,
        public_exponent: get("E")?,
        private_exponent: get("D")?.into(),
        prime_p: get("P")?.into(),
        prime_q: get("Q")?.into(),
    })
}

/// Lamina's test PKI: CA, issuer and ICC keys, and the issuer certificate.
#[derive(Debug)]
pub struct TestPki {
    /// The test CA (RID [`TEST_RID`], index [`TEST_CA_INDEX`]).
    pub ca: CaKeyPair,
    /// The test issuer key.
    pub issuer: RsaKeyPair,
    /// The test ICC key (shared by all test cards).
    pub icc: RsaKeyPair,
    /// Issuer public key certificate (tags `90`, `92`, `9F32`).
    pub issuer_cert: PublicKeyCertificate,
    /// Serial number of the issuer certificate.
    pub issuer_serial: [u8; 3],
}

/// Issuer identifier digits certified (the test PANs share this prefix length).
const ISSUER_ID_DIGITS: usize = 6;

impl TestPki {
    /// Loads the keys and certifies the issuer for PANs starting with `pan`'s
    /// first six digits.
    pub fn new(pan: &str) -> Result<Self, PkiError> {
        let ca_key = RsaKeyPair::from_parts(&parts("CA")?)?;
        let expiry = Date::new(2040, 12, 31)?;
        let ca = CaKeyPair::from_key(TEST_RID, TEST_CA_INDEX, expiry, ca_key);
        let issuer = RsaKeyPair::from_parts(&parts("ISSUER")?)?;
        let icc = RsaKeyPair::from_parts(&parts("ICC")?)?;
        let p = Pan::from_digits(pan)?;
        let serial = [0x00, 0x00, 0x01];
        let content = IssuerCertificateContent {
            issuer_identifier: pki::issuer_identifier_from_pan(&p, ISSUER_ID_DIGITS)?,
            expiry: CertExpiry::new(12, 2039)?,
            serial_number: serial,
            public_key: issuer.public_key().clone(),
        };
        let mut rng = DetRng(0x1551);
        let issuer_cert = ca.certify_issuer(&mut rng, &content)?;
        Ok(TestPki {
            ca,
            issuer,
            icc,
            issuer_cert,
            issuer_serial: serial,
        })
    }

    /// The CA public key as a terminal holds it.
    pub fn capk(&self) -> CaPublicKey {
        self.ca.public_key()
    }

    /// A CAPK store with the test CA.
    pub fn capk_store(&self) -> CapkStore {
        let mut s = CapkStore::new();
        s.add(self.capk());
        s
    }

    /// `8F`, `90`, `92` (if any), `9F32`.
    pub fn issuer_tlvs(&self) -> Vec<Tlv> {
        let mut v = vec![
            Tlv::primitive(0x8Fu32, vec![TEST_CA_INDEX]),
            Tlv::primitive(0x90u32, self.issuer_cert.certificate.clone()),
        ];
        if !self.issuer_cert.remainder.is_empty() {
            v.push(Tlv::primitive(0x92u32, self.issuer_cert.remainder.clone()));
        }
        v.push(Tlv::primitive(0x9F32u32, self.issuer_cert.exponent.clone()));
        v
    }

    /// Signed Static Application Data `93` over `static_data` (Book 2 §5.2), DAC `DA C0`.
    pub fn sda_tlv(&self, static_data: &[u8]) -> Result<Tlv, PkiError> {
        let ssad =
            pki::sign_static_data(&self.issuer, &mut DetRng(0x5DA), [0xDA, 0xC0], static_data)?;
        Ok(Tlv::primitive(0x93u32, ssad))
    }

    /// ICC public key certificate `9F46`, remainder `9F48`, exponent `9F47` over
    /// `static_data` (Book 2 §6.1).
    pub fn icc_tlvs(&self, pan: &str, static_data: &[u8]) -> Result<Vec<Tlv>, PkiError> {
        let content = IccCertificateContent {
            pan: Pan::from_digits(pan)?,
            expiry: CertExpiry::new(12, 2035)?,
            serial_number: [0x00, 0x00, 0x02],
            public_key: self.icc.public_key().clone(),
        };
        let c = pki::certify_icc(&self.issuer, &mut DetRng(0x1CC), &content, static_data)?;
        let mut v = vec![Tlv::primitive(0x9F46u32, c.certificate)];
        if !c.remainder.is_empty() {
            v.push(Tlv::primitive(0x9F48u32, c.remainder));
        }
        v.push(Tlv::primitive(0x9F47u32, c.exponent));
        Ok(v)
    }
}

/// Deterministic filler for signature padding in fixtures (SplitMix64). Not secure.
#[derive(Debug, Clone)]
pub struct DetRng(pub u64);

impl rand::TryRng for DetRng {
    type Error = Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::try_from(self.try_next_u64()? >> 32).unwrap_or(0))
    }
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_be_bytes();
            chunk.copy_from_slice(v.get(..chunk.len()).unwrap_or_default());
        }
        Ok(())
    }
}

impl rand::TryCryptoRng for DetRng {}

/// Static Data to be Authenticated (Book 3 §10.3) of `records` (SFI, record
/// number, record bytes) for the AFL `afl`, with the AIP appended when `aip` is
/// given (Static Data Authentication Tag List `9F4A` = `82`). Records not in the
/// AFL's ODA range are ignored.
pub fn static_data(records: &[(u8, u8, Vec<u8>)], afl: &[u8], aip: Option<[u8; 2]>) -> Vec<u8> {
    let mut out = Vec::new();
    for e in afl.chunks_exact(4) {
        let [a, first, last, oda] = [e[0], e[1], e[2], e[3]];
        let sfi = a >> 3;
        for rec in first..=last {
            if u16::from(rec) >= u16::from(first) + u16::from(oda) {
                continue;
            }
            let Some((_, _, bytes)) = records.iter().find(|(s, r, _)| *s == sfi && *r == rec)
            else {
                continue;
            };
            if sfi <= 10 {
                if let Some(Ok(t)) = lamina_tlv::parse(bytes).next() {
                    out.extend_from_slice(t.value);
                }
            } else {
                out.extend_from_slice(bytes);
            }
        }
    }
    if let Some(aip) = aip {
        out.extend_from_slice(&aip);
    }
    out
}

/// An issuer script command for the host double to send.
#[derive(Debug, Clone)]
pub struct ScriptCommand {
    /// `0x71` (before the second GENERATE AC) or `0x72` (after).
    pub template: u32,
    /// CLA INS P1 P2 (e.g. APPLICATION BLOCK `84 1E 00 00`).
    pub header: [u8; 4],
    /// Command data before the MAC.
    pub data: Vec<u8>,
}

/// What the host double decided for one authorisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDecision {
    /// The ARQC verified under the issuer master key.
    pub arqc_ok: bool,
    /// Online PIN: `Some(true)` verified, `Some(false)` wrong, `None` none sent.
    pub pin_ok: Option<bool>,
    /// Response code sent.
    pub response_code: [u8; 2],
}

/// An issuer host double with real cryptography (see the module docs).
pub struct HostDouble {
    cvn: Cvn,
    imk_ac: SecretKey,
    imk_smi: SecretKey,
    bdk: SecretKey,
    expected_pin: Option<String>,
    /// Decline every authorisation (response code `05`).
    pub decline: bool,
    /// Act as unreachable (`authorize` fails).
    pub unreachable: bool,
    /// Send an ARPC that does not verify.
    pub corrupt_arpc: bool,
    /// Scripts to attach to the next responses.
    pub scripts: Vec<ScriptCommand>,
    /// Decisions taken, in order.
    pub decisions: Vec<HostDecision>,
    /// Requests received.
    pub requests: Vec<AuthorizationRequest>,
    /// Reversals received.
    pub reversals: Vec<Reversal>,
    /// Advices received.
    pub advices: Vec<Advice>,
}

impl core::fmt::Debug for HostDouble {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostDouble")
            .field("cvn", &self.cvn)
            .field("keys", &"REDACTED")
            .field("decisions", &self.decisions)
            .finish_non_exhaustive()
    }
}

fn tlv_map(data: &[u8]) -> BTreeMap<u32, Vec<u8>> {
    let mut m = BTreeMap::new();
    for t in lamina_tlv::parse(data).flatten() {
        m.insert(t.tag.number(), t.value.to_vec());
    }
    m
}

impl HostDouble {
    /// A host for cards of `cvn` whose ICC master keys derive from these issuer
    /// master keys (hex); online PIN is checked against `expected_pin` with the
    /// keys derived from [`TEST_BDK`].
    pub fn new(cvn: Cvn, imk_ac_hex: &str, imk_smi_hex: &str, expected_pin: Option<&str>) -> Self {
        let key = |h: &str| SecretKey::new(hex::decode(h).unwrap_or_default());
        HostDouble {
            cvn,
            imk_ac: key(imk_ac_hex),
            imk_smi: key(imk_smi_hex),
            bdk: key(TEST_BDK),
            expected_pin: expected_pin.map(str::to_owned),
            decline: false,
            unreachable: false,
            corrupt_arpc: false,
            scripts: Vec::new(),
            decisions: Vec::new(),
            requests: Vec::new(),
            reversals: Vec::new(),
            advices: Vec::new(),
        }
    }

    fn mk(&self, imk: &SecretKey, pan: &str, psn: u8) -> Option<SecretKey> {
        let p = self.cvn.profile();
        emv::derive_icc_mk(p.algorithm, p.mk_derivation, imk.as_bytes(), pan, psn).ok()
    }

    /// The cryptogram input of Lamina's cards, rebuilt from field 55 (Book 2 §8.1.1:
    /// `9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36`, then by CVN the CVR or the IAD).
    fn ac_input(&self, icc: &BTreeMap<u32, Vec<u8>>) -> Vec<u8> {
        let mut d = Vec::new();
        for (tag, len) in [
            (0x9F02u32, 6usize),
            (0x9F03, 6),
            (0x9F1A, 2),
            (0x95, 5),
            (0x5F2A, 2),
            (0x9A, 3),
            (0x9C, 1),
            (0x9F37, 4),
            (0x82, 2),
            (0x9F36, 2),
        ] {
            let mut v = icc.get(&tag).cloned().unwrap_or_default();
            v.resize(len, 0);
            d.extend_from_slice(&v);
        }
        let iad = icc.get(&0x9F10).cloned().unwrap_or_default();
        let cvr = iad.get(3..7).unwrap_or_default();
        match self.cvn {
            Cvn::Visa10 => d.extend_from_slice(cvr),
            Cvn::Mastercard16 => {
                d.extend_from_slice(cvr);
                d.extend_from_slice(&[0, 0]);
            }
            _ => d.extend_from_slice(&iad),
        }
        d
    }

    fn check_pin(&self, pin: &EncryptedPin, pan: &str) -> bool {
        let Ok(ksn) = tdes::Ksn::from_bytes(&pin.ksn) else {
            return false;
        };
        let Ok(key) = tdes::derive_current_key_from_bdk(&self.bdk, &ksn) else {
            return false;
        };
        let Ok(clear) = tdes::decrypt_pin_block(&key, &pin.block) else {
            return false;
        };
        let (Ok(p), Some(expected)) = (pin::Pan::new(pan), self.expected_pin.as_deref()) else {
            return false;
        };
        match (
            pin::decode_iso0(clear.as_bytes(), &p),
            pin::Pin::new(expected),
        ) {
            (Ok(got), Ok(want)) => got.ct_eq(&want),
            _ => false,
        }
    }
}

impl AcquirerLink for HostDouble {
    fn authorize(
        &mut self,
        request: &AuthorizationRequest,
    ) -> Result<AuthorizationResponse, LinkError> {
        self.requests.push(request.clone());
        if self.unreachable {
            return Err(LinkError("host unreachable (test double)".into()));
        }
        let icc = tlv_map(&request.icc_data);
        let psn = request.pan_sequence.unwrap_or(0);
        let (Some(mk_ac), Some(mk_smi)) = (
            self.mk(&self.imk_ac, &request.pan, psn),
            self.mk(&self.imk_smi, &request.pan, psn),
        ) else {
            return Err(LinkError("cannot derive ICC keys".into()));
        };
        let atc = icc
            .get(&0x9F36)
            .and_then(|v| <[u8; 2]>::try_from(v.as_slice()).ok())
            .map(u16::from_be_bytes)
            .unwrap_or(0);
        let un = icc
            .get(&0x9F37)
            .and_then(|v| <[u8; 4]>::try_from(v.as_slice()).ok())
            .unwrap_or([0; 4]);
        let arqc = icc
            .get(&0x9F26)
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .unwrap_or([0; 8]);
        let arqc_ok = emv::verify_ac(
            self.cvn,
            mk_ac.as_bytes(),
            atc,
            un,
            &self.ac_input(&icc),
            &arqc,
        )
        .is_ok();
        let pin_ok = request
            .pin
            .as_ref()
            .map(|p| self.check_pin(p, &request.pan));
        // Expired card (Book 3 Annex A 5F24 against the transaction date 9A).
        let today = icc.get(&0x9A).cloned().unwrap_or_default();
        let expired = today.len() == 3 && request.expiry.as_slice() < today.as_slice();
        let response_code = if !arqc_ok || self.decline {
            *b"05"
        } else if expired {
            *b"54"
        } else if pin_ok == Some(false) {
            *b"55"
        } else {
            *b"00"
        };
        self.decisions.push(HostDecision {
            arqc_ok,
            pin_ok,
            response_code,
        });
        let approved = response_code == *b"00";
        let iad = match self.cvn.profile().arpc {
            ArpcMethod::Method1 => {
                let arpc = emv::generate_arpc(
                    self.cvn,
                    mk_ac.as_bytes(),
                    atc,
                    un,
                    &arqc,
                    ArpcResponse::Method1 { arc: response_code },
                )
                .map_err(|e| LinkError(e.to_string()))?;
                [arpc, response_code.to_vec()].concat()
            }
            ArpcMethod::Method2 => {
                let csu = [0x00, if approved { 0x80 } else { 0x00 }, 0x00, 0x00];
                let arpc = emv::generate_arpc(
                    self.cvn,
                    mk_ac.as_bytes(),
                    atc,
                    un,
                    &arqc,
                    ArpcResponse::Method2 {
                        csu,
                        proprietary: &[],
                    },
                )
                .map_err(|e| LinkError(e.to_string()))?;
                [arpc, csu.to_vec()].concat()
            }
        };
        let mut iad = iad;
        if self.corrupt_arpc
            && let Some(b) = iad.first_mut()
        {
            *b ^= 0xFF;
        }
        let mut scripts = Vec::new();
        for (i, s) in self.scripts.iter().enumerate() {
            let apdu = emv::script_command(
                self.cvn,
                mk_smi.as_bytes(),
                atc,
                &arqc,
                s.header,
                &s.data,
                8,
            )
            .map_err(|e| LinkError(e.to_string()))?;
            let id = u32::try_from(i + 1).unwrap_or(0).to_be_bytes();
            scripts.extend(
                Tlv::constructed(
                    s.template,
                    vec![
                        Tlv::primitive(0x9F18u32, id.to_vec()),
                        Tlv::primitive(0x86u32, apdu),
                    ],
                )
                .encode(),
            );
        }
        Ok(AuthorizationResponse {
            response_code,
            auth_code: approved.then(|| "LAM001".to_owned()),
            issuer_authentication_data: Some(iad),
            scripts,
        })
    }

    fn advise(&mut self, advice: &Advice) -> Result<(), LinkError> {
        self.advices.push(advice.clone());
        Ok(())
    }

    fn reverse(&mut self, reversal: &Reversal) -> Result<(), LinkError> {
        self.reversals.push(reversal.clone());
        Ok(())
    }
}

/// A PIN pad's online PIN encryption under TDES DUKPT (ANSI X9.24-1:2009): the
/// IPEK and initial KSN are loaded from the BDK; each PIN uses the next key.
pub struct DukptPinPad {
    originator: tdes::Originator,
}

impl core::fmt::Debug for DukptPinPad {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DukptPinPad")
            .field(
                "next_ksn",
                &self
                    .originator
                    .next_ksn()
                    .map(|k| hex::encode_upper(k.as_bytes())),
            )
            .finish_non_exhaustive()
    }
}

impl DukptPinPad {
    /// Loads the IPEK derived from `bdk_hex` for the initial KSN `ksn_hex`.
    pub fn from_bdk(bdk_hex: &str, ksn_hex: &str) -> Result<Self, PinEncryptionError> {
        let err = |e: &dyn core::fmt::Display| PinEncryptionError(e.to_string());
        let bdk = SecretKey::from_hex(bdk_hex).map_err(|e| err(&e))?;
        let ksn = tdes::Ksn::from_hex(ksn_hex).map_err(|e| err(&e))?;
        let ipek = tdes::derive_ipek(&bdk, &ksn).map_err(|e| err(&e))?;
        Self::from_ipek(&ipek, &ksn)
    }

    /// Loads an IPEK and its initial KSN (what the key injection facility gives the pad).
    pub fn from_ipek(ipek: &SecretKey, ksn: &tdes::Ksn) -> Result<Self, PinEncryptionError> {
        Ok(DukptPinPad {
            originator: tdes::Originator::new(ipek, ksn)
                .map_err(|e| PinEncryptionError(e.to_string()))?,
        })
    }

    /// The test pad: [`TEST_BDK`], [`TEST_KSN`].
    pub fn test() -> Result<Self, PinEncryptionError> {
        Self::from_bdk(TEST_BDK, TEST_KSN)
    }
}

impl OnlinePinEncryptor for DukptPinPad {
    fn encrypt(&mut self, clear_block: &[u8; 8]) -> Result<EncryptedPin, PinEncryptionError> {
        let err = |e: &dyn core::fmt::Display| PinEncryptionError(e.to_string());
        let (ksn, key) = self.originator.next_transaction().map_err(|e| err(&e))?;
        let clear = ClearPinBlock::from_bytes(clear_block).map_err(|e| err(&e))?;
        let block = tdes::encrypt_pin_block(&key, &clear).map_err(|e| err(&e))?;
        Ok(EncryptedPin {
            block,
            ksn: ksn.as_bytes().to_vec(),
        })
    }
}

/// A card channel that adds the ICC's RSA operations in front of a card whose
/// applet is built without its RSA hook: INTERNAL AUTHENTICATE (DDA, Book 2 §6.5),
/// the CDA signature of GENERATE AC (Book 2 §6.6: the applet computes the
/// cryptogram, the shim signs it) and offline enciphered PIN (Book 2 §7.2: the
/// shim deciphers and forwards a plaintext VERIFY). From the terminal's side the
/// card behaves like a DDA/CDA card with the ICC key `icc`.
pub struct IccRsaShim<C> {
    inner: C,
    icc: RsaKeyPair,
    rng: DetRng,
    pdol_data: Vec<u8>,
    cdol1_data: Vec<u8>,
    challenge: Option<[u8; 8]>,
    generate_ac_count: u8,
}

impl<C> core::fmt::Debug for IccRsaShim<C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IccRsaShim").finish_non_exhaustive()
    }
}

impl<C: lamina_card::CardChannel> IccRsaShim<C> {
    /// Wraps `inner` with the ICC key.
    pub fn new(inner: C, icc: RsaKeyPair, seed: u64) -> Self {
        IccRsaShim {
            inner,
            icc,
            rng: DetRng(seed),
            pdol_data: Vec::new(),
            cdol1_data: Vec::new(),
            challenge: None,
            generate_ac_count: 0,
        }
    }

    /// The wrapped channel.
    pub fn inner_mut(&mut self) -> &mut C {
        &mut self.inner
    }

    fn icc_dynamic_number(&mut self) -> [u8; 8] {
        let mut n = [0u8; 8];
        rand::Rng::fill_bytes(&mut self.rng, &mut n);
        n
    }

    fn sw(sw: u16) -> Vec<u8> {
        sw.to_be_bytes().to_vec()
    }

    fn cda(&mut self, cmd: &lamina_apdu::Command) -> Result<Vec<u8>, lamina_card::ChannelError> {
        let mut plain = cmd.clone();
        plain.p1 &= !0x10;
        let raw = plain.to_bytes().unwrap_or_default();
        let answer = self.inner.transmit(&raw)?;
        let Ok(resp) = lamina_apdu::Response::parse(&answer) else {
            return Ok(answer);
        };
        if !resp.sw.is_ok() {
            return Ok(answer);
        }
        let Ok(t) = Tlv::parse_one(&resp.data) else {
            return Ok(answer);
        };
        let get = |tag: u32| {
            t.children()
                .iter()
                .find(|c| c.tag.number() == tag)
                .and_then(Tlv::value_bytes)
                .map(<[u8]>::to_vec)
        };
        let (Some(cid), Some(ac)) = (get(0x9F27), get(0x9F26)) else {
            return Ok(answer);
        };
        let cid = cid.first().copied().unwrap_or(0);
        if cid & 0xC0 == 0 {
            return Ok(answer); // AAC: no signature (Book 2 §6.6.1)
        }
        let others: Vec<Tlv> = t
            .children()
            .iter()
            .filter(|c| c.tag.number() != 0x9F26)
            .cloned()
            .collect();
        let response_tlvs = Tlv::encode_all(&others);
        let second = self.generate_ac_count == 2;
        let tdhc = pki::transaction_data_hash_code(&CdaTransactionData {
            pdol_data: &self.pdol_data,
            cdol1_data: &self.cdol1_data,
            cdol2_data: second.then_some(cmd.data.as_slice()),
            response_tlvs: &response_tlvs,
        });
        let Some(un) = self.cda_un(cmd) else {
            return Ok(answer);
        };
        let dynamic = pki::CdaDynamicData {
            icc_dynamic_number: self.icc_dynamic_number().to_vec(),
            cid,
            application_cryptogram: <[u8; 8]>::try_from(ac.as_slice()).unwrap_or([0; 8]),
            transaction_data_hash_code: tdhc,
            additional_data: Vec::new(),
        };
        let Ok(sdad) = pki::sign_cda(&self.icc, &mut self.rng, &dynamic, &un) else {
            return Ok(Self::sw(0x6F00));
        };
        let mut children = others;
        children.push(Tlv::primitive(0x9F4Bu32, sdad));
        let mut out = Tlv::constructed(0x77u32, children).encode();
        out.extend(Self::sw(0x9000));
        Ok(out)
    }

    /// The Unpredictable Number in the CDOL data: Lamina's CDOL1 puts `9F37` at
    /// offset 25 (after 9F02 9F03 9F1A 95 5F2A 9A 9C), its CDOL2 at offset
    /// 2 + L(91) + 5; the shim knows these layouts (it stands in for the applet).
    fn cda_un(&self, cmd: &lamina_apdu::Command) -> Option<[u8; 4]> {
        let off = if self.generate_ac_count == 1 {
            25
        } else {
            cmd.data.len().checked_sub(4)?
        };
        cmd.data.get(off..off + 4)?.try_into().ok()
    }
}

impl<C: lamina_card::CardChannel> lamina_card::CardChannel for IccRsaShim<C> {
    fn power_on(
        &mut self,
        interface: lamina_card::Interface,
    ) -> Result<Vec<u8>, lamina_card::ChannelError> {
        self.generate_ac_count = 0;
        self.challenge = None;
        self.inner.power_on(interface)
    }

    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, lamina_card::ChannelError> {
        let Ok(cmd) = lamina_apdu::Command::parse(apdu) else {
            return self.inner.transmit(apdu);
        };
        match (cmd.cla, cmd.ins, cmd.p2) {
            (0x00, 0xA4, _) => {
                self.generate_ac_count = 0;
                self.inner.transmit(apdu)
            }
            (0x80, 0xA8, _) => {
                self.pdol_data = cmd.data.get(2..).unwrap_or_default().to_vec();
                self.inner.transmit(apdu)
            }
            (0x00, 0x88, _) => {
                let idn = self.icc_dynamic_number();
                let dd = pki::dda_icc_dynamic_data(&idn).unwrap_or_default();
                match pki::sign_dynamic_data(&self.icc, &mut self.rng, &dd, &cmd.data) {
                    Ok(sdad) => {
                        let mut out = Tlv::primitive(0x80u32, sdad).encode();
                        out.extend(Self::sw(0x9000));
                        Ok(out)
                    }
                    Err(_) => Ok(Self::sw(0x6985)),
                }
            }
            (0x00, 0x84, _) => {
                let mut c = [0u8; 8];
                rand::Rng::fill_bytes(&mut self.rng, &mut c);
                self.challenge = Some(c);
                let mut out = c.to_vec();
                out.extend(Self::sw(0x9000));
                Ok(out)
            }
            (0x00, 0x20, 0x88) => {
                let Some(ch) = self.challenge.take() else {
                    return Ok(Self::sw(0x6985));
                };
                match pki::decipher_pin_block(&self.icc, &mut self.rng, &cmd.data, &ch) {
                    Ok(block) => {
                        let mut plain = vec![0x00, 0x20, 0x00, 0x80, 0x08];
                        plain.extend_from_slice(&block[..]);
                        self.inner.transmit(&plain)
                    }
                    Err(_) => Ok(Self::sw(0x6A80)),
                }
            }
            (0x80, 0xAE, _) => {
                self.generate_ac_count = self.generate_ac_count.saturating_add(1);
                if self.generate_ac_count == 1 {
                    self.cdol1_data = cmd.data.clone();
                }
                if cmd.p1 & 0x10 != 0 {
                    self.cda(&cmd)
                } else {
                    self.inner.transmit(apdu)
                }
            }
            _ => self.inner.transmit(apdu),
        }
    }

    fn power_off(&mut self) {
        self.inner.power_off();
    }

    fn reset(&mut self) -> Result<Vec<u8>, lamina_card::ChannelError> {
        self.inner.reset()
    }
}
