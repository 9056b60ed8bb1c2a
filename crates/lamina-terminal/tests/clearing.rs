#![allow(clippy::unwrap_used, clippy::panic)]
//! Clearing of offline approvals (issue 8): the contactless and contact kernels
//! put an [`OfflineAdvice`] in the result of an offline approval (TC), and only
//! then; the advice carries the field 55 data the issuer needs and goes through
//! the store-and-forward [`AdviceQueue`]. Also the card side of a contactless
//! online tap: it does not force the next tap online.
//!
//! The ISO 8583 0220 upload to a real host is tested in `lamina-acquirer`.

mod clcard;
mod support;

use clcard::{ClReader, cl_config, warmed_cl_reader};
use lamina_applets::emv::testing::TEST_PAN;
use lamina_terminal::clearing::{
    AdviceAnswer, AdviceQueue, AdviceSender, CardInterface, PendingAdvice, REQUIRED_ICC_TAGS,
};
use lamina_terminal::contactless::{ContactlessDevices, ContactlessResult, run_contactless};
use lamina_terminal::kernel::{FixedClock, TransactionRequest};
use lamina_terminal::online::{AcquirerLink, LinkError};
use lamina_terminal::outcome::Outcome;
use lamina_terminal::testkit::{DukptPinPad, HostDouble};
use lamina_terminal::ui::{RecordingScreen, ScriptedPinPad};
use rand::SeedableRng;
use rand::rngs::StdRng;
use support::*;

fn tap(
    reader: &mut ClReader,
    stan: u32,
    amount: u64,
    pin: Option<&str>,
    host: &mut HostDouble,
) -> ContactlessResult {
    let cfg = cl_config();
    let mut request = TransactionRequest::purchase(amount);
    request.stan = stan;
    let mut screen = RecordingScreen::default();
    let mut pad = ScriptedPinPad::new([pin.map(str::to_owned)]);
    let mut dukpt = DukptPinPad::test().unwrap();
    let mut rng = StdRng::seed_from_u64(u64::from(stan));
    run_contactless(
        &cfg,
        &request,
        ContactlessDevices {
            reader,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: Some(host as &mut dyn AcquirerLink),
            pin_encryptor: Some(&mut dukpt),
            status: None,
        },
        &FixedClock(NOW),
        &mut rng,
    )
}

#[test]
fn contactless_offline_approval_carries_its_advice() {
    let mut card = warmed_cl_reader(31);
    let mut h = host();
    let r = tap(&mut card, 41, 1890, None, &mut h);
    assert_eq!(r.result.outcome, Outcome::ApprovedOffline);
    assert!(h.requests.is_empty(), "offline: nothing sent");
    let a = r.result.offline_advice.clone().expect("offline advice");
    assert_eq!(a.validate(), Ok(()));
    assert!(a.missing_icc_tags().is_empty());
    assert_eq!(a.interface, CardInterface::Contactless);
    assert_eq!(&a.arc, b"Y1");
    assert_eq!(a.pan, TEST_PAN);
    assert_eq!((a.stan, a.amount, a.currency), (41, 1890, 978));
    assert_eq!(a.date, [0x26, 0x11, 0x25]);
    assert_eq!(a.cid & 0xC0, 0x40, "a TC");
    // The advice's TC is the one the kernel verified with CDA.
    let c = &r.result.cryptograms[0];
    assert!(c.cda_verified);
    assert_eq!(hex::encode_upper(a.cryptogram), c.ac);
    assert_eq!(a.atc, c.atc);
    // Field 55 has the contactless objects too (TTQ 9F66), and fits DE 55.
    assert!(a.icc_value(0x9F66).is_some());
    assert!(a.icc_data.len() <= 255, "{}", a.icc_data.len());
    for tag in REQUIRED_ICC_TAGS {
        assert!(a.icc_value(tag).is_some(), "{tag:X}");
    }
    // The PAN never shows in Debug.
    assert!(!format!("{a:?}").contains(TEST_PAN));
}

#[test]
fn contact_offline_approval_carries_its_advice_and_online_ones_do_not() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    let online = pay(&cfg, &mut card, 6000, &[Some("1234")], Some(&mut h));
    assert_eq!(online.result.outcome, Outcome::ApprovedOnline);
    assert!(online.result.offline_advice.is_none(), "captured by STAN");
    let offline = pay(&cfg, &mut card, 1234, &[Some("1234")], Some(&mut h));
    assert_eq!(offline.result.outcome, Outcome::ApprovedOffline);
    let a = offline.result.offline_advice.expect("offline advice");
    assert_eq!(a.validate(), Ok(()));
    assert_eq!(a.interface, CardInterface::Contact);
    assert_eq!(&a.arc, b"Y1");
    assert_eq!(a.amount, 1234);
    assert_eq!(
        a.icc_value(0x9F26).unwrap(),
        hex::decode(&offline.result.cryptograms[0].ac).unwrap()
    );
}

/// A sender standing in for the acquirer link: records what it was given and
/// answers `00`, after losing the first answer.
#[derive(Default)]
struct LossyLink {
    sent: Vec<(u32, Option<String>)>,
    lost_once: bool,
}

impl AdviceSender for LossyLink {
    fn send_advice(&mut self, e: &mut PendingAdvice) -> Result<AdviceAnswer, LinkError> {
        if e.transmission.is_none() {
            e.transmission = Some(format!("T{}", e.advice.stan));
        }
        self.sent.push((e.advice.stan, e.transmission.clone()));
        if !self.lost_once {
            self.lost_once = true;
            return Err(LinkError("no answer".into()));
        }
        Ok(AdviceAnswer {
            response_code: "00".into(),
        })
    }
}

#[test]
fn kernel_advices_go_through_the_queue() {
    let mut card = warmed_cl_reader(32);
    let mut h = host();
    let mut q = AdviceQueue::default();
    for (stan, amount) in [(51, 500), (52, 700)] {
        let r = tap(&mut card, stan, amount, None, &mut h);
        assert_eq!(r.result.outcome, Outcome::ApprovedOffline);
        q.push(r.result.offline_advice.unwrap()).unwrap();
    }
    assert_eq!(q.pending_amount(), 1200);
    let mut link = LossyLink::default();
    let first = q.upload(&mut link);
    assert!(first.accepted.is_empty() && first.remaining == 2);
    let second = q.upload(&mut link);
    assert_eq!(second.accepted, vec![51, 52]);
    assert!(q.is_empty());
    assert_eq!(
        link.sent,
        vec![
            (51, Some("T51".into())),
            (51, Some("T51".into())),
            (52, Some("T52".into()))
        ],
        "the retry is a repeat of the first transmission"
    );
}

/// A contactless online tap (over the CVM limit: online PIN, one tap, no second
/// GENERATE AC) leaves the card able to approve the next small tap offline.
#[test]
fn small_tap_after_an_online_tap_is_approved_offline() {
    let mut card = warmed_cl_reader(33);
    let mut h = host();
    let online = tap(&mut card, 61, 8500, Some("1234"), &mut h);
    assert_eq!(online.result.outcome, Outcome::ApprovedOnline);
    assert_eq!(h.requests.len(), 1);
    let small = tap(&mut card, 62, 1500, None, &mut h);
    assert_eq!(
        small.result.outcome,
        Outcome::ApprovedOffline,
        "cryptograms {:?}",
        small.result.cryptograms
    );
    assert_eq!(h.requests.len(), 1, "the small tap stayed offline");
    assert!(small.result.offline_advice.is_some());
}
