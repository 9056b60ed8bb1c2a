//! Test support: Lamina EMV applet cards (lamina-applets) personalized with the
//! test PKI for SDA/DDA/CDA, the shipped retail configuration, and a `pay` helper.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;

use lamina_applets::emv::testing::{
    TEST_IMK_AC, TEST_IMK_SMI, TEST_PAN, TEST_PIN, sample_personalization, test_card,
};
use lamina_applets::emv::{CvnChoice, EmvPersonalization, EmvRecord, OdaMethod};
use lamina_card::EmulatedCard;
use lamina_terminal::config::TerminalConfig;
use lamina_terminal::kernel::{DateTime, Devices, FixedClock, TransactionRequest, run};
use lamina_terminal::outcome::TransactionResult;
use lamina_terminal::testkit::{DukptPinPad, HostDouble, IccRsaShim, TestPki, static_data};
use lamina_terminal::ui::{RecordingScreen, ScriptedPinPad};
use lamina_tlv::Tlv;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Offline data authentication the card is personalized for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Oda {
    None,
    Sda,
    Dda,
    Cda,
}

/// What to change from the applet's sample personalization.
#[derive(Debug, Clone)]
pub struct CardSpec {
    pub oda: Oda,
    /// CVM List value (hex), replacing the sample's.
    pub cvm_list: Option<String>,
    /// AUC (hex).
    pub auc: Option<String>,
    /// Expiry YYMMDD (hex).
    pub expiry: Option<String>,
    /// Add Application Currency Code 9F42 = 0978.
    pub app_currency: bool,
    /// Change a signed record byte after signing.
    pub tamper: bool,
    /// Corrupt the issuer certificate.
    pub bad_issuer_cert: bool,
    /// CA index written in 8F.
    pub ca_index: u8,
    /// Extra TLVs in SFI 1 record 1 (not signed).
    pub extra: Vec<Tlv>,
    /// Tags to leave out of the records.
    pub omit: Vec<u32>,
    pub pin_try_limit: u8,
    pub seed: u64,
    /// Cryptogram version (the host double must use the same).
    pub cvn: CvnChoice,
    /// CDOL2 (hex) replacing the sample's.
    pub cdol2: Option<String>,
}

impl Default for CardSpec {
    fn default() -> Self {
        CardSpec {
            oda: Oda::Dda,
            cvm_list: None,
            auc: None,
            expiry: None,
            app_currency: false,
            tamper: false,
            bad_issuer_cert: false,
            ca_index: lamina_terminal::testkit::TEST_CA_INDEX,
            extra: Vec::new(),
            omit: Vec::new(),
            pin_try_limit: 3,
            seed: 7,
            cvn: CvnChoice::EmvCcd,
            cdol2: None,
        }
    }
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

pub fn pki() -> &'static TestPki {
    static PKI: std::sync::OnceLock<TestPki> = std::sync::OnceLock::new();
    PKI.get_or_init(|| TestPki::new(TEST_PAN).unwrap())
}

fn edit_record(rec: &mut EmvRecord, f: impl FnOnce(&mut Vec<Tlv>)) {
    let t = Tlv::parse_one(&rec.data).unwrap();
    let mut children = t.children().to_vec();
    f(&mut children);
    rec.data = Tlv::constructed(0x70u32, children).encode();
}

fn set(children: &mut Vec<Tlv>, tag: u32, value: Vec<u8>) {
    if let Some(c) = children.iter_mut().find(|c| c.tag.number() == tag) {
        *c = Tlv::primitive(tag, value);
    } else {
        children.push(Tlv::primitive(tag, value));
    }
}

/// The personalization for `spec`.
pub fn personalization(spec: &CardSpec) -> EmvPersonalization {
    let mut p = sample_personalization(spec.cvn).unwrap();
    p.pin_try_limit = spec.pin_try_limit;
    let mut aip = [0x1C, 0x00];
    match spec.oda {
        Oda::None => {}
        Oda::Sda => aip[0] |= 0x40,
        Oda::Dda => aip[0] |= 0x20,
        Oda::Cda => aip[0] |= 0x21,
    }
    p.aip = aip.to_vec();
    // SFI 2 record 1: PAN, dates, AUC, CVM list, IACs.
    {
        let r = p
            .records
            .iter_mut()
            .find(|r| r.sfi == 2 && r.record == 1)
            .unwrap();
        edit_record(r, |c| {
            if let Some(cvm) = &spec.cvm_list {
                set(c, 0x8E, h(cvm));
            }
            if let Some(auc) = &spec.auc {
                set(c, 0x9F07, h(auc));
            }
            if let Some(e) = &spec.expiry {
                set(c, 0x5F24, h(e));
            }
            if spec.app_currency {
                set(c, 0x9F42, h("0978"));
            }
        });
    }
    {
        let r = p
            .records
            .iter_mut()
            .find(|r| r.sfi == 1 && r.record == 1)
            .unwrap();
        let extra = spec.extra.clone();
        edit_record(r, |c| c.extend(extra));
    }
    if let Some(cdol2) = &spec.cdol2 {
        for r in &mut p.records {
            edit_record(r, |c| {
                if c.iter().any(|t| t.tag.number() == 0x8D) {
                    set(c, 0x8D, h(cdol2));
                }
            });
        }
    }
    if spec.oda != Oda::None {
        let pki = pki();
        p.afl = h("08010100 10010202 18010200");
        let recs: Vec<(u8, u8, Vec<u8>)> = p
            .records
            .iter()
            .map(|r| (r.sfi, r.record, r.data.clone()))
            .collect();
        let sd = static_data(&recs, &p.afl, Some(aip));
        let mut issuer = pki.issuer_tlvs();
        for t in &mut issuer {
            match t.tag.number() {
                0x8F => *t = Tlv::primitive(0x8Fu32, vec![spec.ca_index]),
                0x90 if spec.bad_issuer_cert => {
                    let mut v = t.value_bytes().unwrap().to_vec();
                    v[10] ^= 0x01;
                    *t = Tlv::primitive(0x90u32, v);
                }
                _ => {}
            }
        }
        issuer.push(Tlv::primitive(0x9F4Au32, vec![0x82]));
        let second = match spec.oda {
            Oda::Sda => vec![pki.sda_tlv(&sd).unwrap()],
            _ => pki.icc_tlvs(TEST_PAN, &sd).unwrap(),
        };
        p.records.push(EmvRecord {
            sfi: 3,
            record: 1,
            data: Tlv::constructed(0x70u32, issuer).encode(),
        });
        p.records.push(EmvRecord {
            sfi: 3,
            record: 2,
            data: Tlv::constructed(0x70u32, second).encode(),
        });
        // DDA/CDA/enciphered PIN RSA runs in the IccRsaShim in front of the card
        // (the applet's own RSA hook needs a `zeroize` dev-dependency to implement).
        p.oda = match spec.oda {
            Oda::Sda => OdaMethod::Sda,
            _ => OdaMethod::None,
        };
        if spec.tamper {
            let r = p
                .records
                .iter_mut()
                .find(|r| r.sfi == 2 && r.record == 1)
                .unwrap();
            edit_record(r, |c| set(c, 0x5F28, h("0251")));
        }
    }
    for r in &mut p.records {
        let omit = spec.omit.clone();
        edit_record(r, |c| c.retain(|t| !omit.contains(&t.tag.number())));
    }
    p
}

/// The card type the tests use: the applet on the emulator behind the RSA shim.
pub type TestCard = IccRsaShim<EmulatedCard>;

/// A card for `spec`.
pub fn card(spec: &CardSpec) -> TestCard {
    let p = personalization(spec);
    let c = test_card(&p, None, spec.seed).unwrap();
    IccRsaShim::new(c, pki().icc.clone(), spec.seed)
}

pub fn terminals_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../terminals")
}

/// The shipped retail configuration with random selection off (deterministic tests).
pub fn retail() -> TerminalConfig {
    let mut c = lamina_terminal::source::Builtin::terminal("retail").unwrap();
    c.random_selection.target_percent = 0;
    c.random_selection.max_target_percent = 0;
    c
}

pub fn host() -> HostDouble {
    host_for(CvnChoice::EmvCcd)
}

pub fn host_for(cvn: CvnChoice) -> HostDouble {
    HostDouble::new(cvn.cvn(), TEST_IMK_AC, TEST_IMK_SMI, Some(TEST_PIN))
}

pub const NOW: DateTime = DateTime {
    year: 2026,
    month: 11,
    day: 25,
    hour: 10,
    minute: 30,
    second: 0,
};

/// Everything one `pay` call produced.
pub struct Paid {
    pub result: TransactionResult,
    pub screen: RecordingScreen,
    pub pin_requests: usize,
}

/// Runs one transaction.
pub fn pay(
    cfg: &TerminalConfig,
    card: &mut TestCard,
    amount: u64,
    pins: &[Option<&str>],
    host: Option<&mut HostDouble>,
) -> Paid {
    pay_with(cfg, card, TransactionRequest::purchase(amount), pins, host)
}

pub fn pay_with(
    cfg: &TerminalConfig,
    card: &mut TestCard,
    mut request: TransactionRequest,
    pins: &[Option<&str>],
    host: Option<&mut HostDouble>,
) -> Paid {
    request.trace = true;
    let mut screen = RecordingScreen::default();
    let mut pad = ScriptedPinPad::new(pins.iter().map(|p| p.map(str::to_owned)));
    let mut dukpt = DukptPinPad::test().unwrap();
    let mut rng = StdRng::seed_from_u64(42 + request.amount);
    let result = run(
        cfg,
        &request,
        Devices {
            card,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: host.map(|h| h as &mut dyn lamina_terminal::online::AcquirerLink),
            pin_encryptor: Some(&mut dukpt),
        },
        &FixedClock(NOW),
        &mut rng,
    );
    Paid {
        result,
        screen,
        pin_requests: pad.requests,
    }
}

pub fn trace_text(r: &TransactionResult) -> String {
    let mut s = String::new();
    for t in r.trace.iter().flatten() {
        s.push_str(&format!("> {} {}\n", t.command, t.c_apdu));
        for l in &t.c_data {
            s.push_str(&format!("  : {l}\n"));
        }
        s.push_str(&format!("< {} {}\n", t.sw, t.sw_meaning));
        for l in &t.response {
            s.push_str(&format!("    {l}\n"));
        }
    }
    s
}
