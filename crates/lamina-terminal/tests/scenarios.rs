#![allow(clippy::unwrap_used, clippy::panic)]
//! Scenario tests (issue 6 "Done when"): the kernel against Lamina's EMV applet
//! (lamina-applets) on the in-process card emulator, with the shipped retail
//! configuration and a host double whose cryptography is real (ARQC verified from
//! the issuer master key, ARPC computed, online PIN checked under DUKPT).

mod support;

use lamina_apdu::StatusWord;
use lamina_card::{CardChannel, ChannelError, Interface};
use lamina_emv::bitmaps::{Tsi, TsiBit, Tvr, TvrBit};
use lamina_terminal::outcome::{AcType, Outcome, Termination};
use lamina_terminal::testkit::ScriptCommand;
use lamina_terminal::ui::{Event, Message};
use support::*;

fn tvr_bits(t: &Tvr) -> Vec<TvrBit> {
    t.bits().collect()
}

fn has(t: &Tsi, b: TsiBit) -> bool {
    t.is_set(b)
}

/// An online approval first, so the card is not "new" and may approve offline.
fn warm_up(card: &mut TestCard) {
    let mut h = host();
    let p = pay(&retail(), card, 6000, &[Some("1234")], Some(&mut h));
    assert_eq!(
        p.result.outcome,
        Outcome::ApprovedOnline,
        "{}",
        trace_text(&p.result)
    );
}

#[test]
fn offline_approval_under_floor_limit() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    warm_up(&mut card);
    let mut h = host();
    let p = pay(&cfg, &mut card, 1234, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(r.outcome, Outcome::ApprovedOffline, "{}", trace_text(r));
    assert_eq!(r.tvr_raw, Tvr::new(), "{:?}", tvr_bits(&r.tvr_raw));
    assert!(
        h.requests.is_empty(),
        "no online request under the floor limit"
    );
    assert_eq!(r.arc.as_deref(), Some("Y1"));
    assert_eq!(r.cryptograms.len(), 1);
    assert_eq!(r.cryptograms[0].returned, AcType::Tc);
    assert!(has(&r.tsi_raw, TsiBit::OfflineDataAuthenticationPerformed));
    assert!(has(&r.tsi_raw, TsiBit::TerminalRiskManagementPerformed));
    assert!(has(&r.tsi_raw, TsiBit::CardRiskManagementPerformed));
    assert!(!has(&r.tsi_raw, TsiBit::IssuerAuthenticationPerformed));
    assert_eq!(
        p.screen.messages(),
        vec![
            Message::EnterPin,
            Message::PinOk,
            Message::Approved,
            Message::RemoveCard
        ]
    );
    // Receipt and batch record: PAN masked.
    let rec = r.record.as_ref().unwrap();
    assert_eq!(rec.pan_masked, "476173******0010");
    let receipt = r.receipt.as_ref().unwrap();
    let text = receipt.merchant_copy.join("\n") + &receipt.cardholder_copy.join("\n");
    assert!(text.contains("476173******0010") && !text.contains("4761739001010010"));
    assert!(text.contains("12.34 EUR"), "{text}");
    let json = serde_json::to_string(r).unwrap();
    assert!(!json.contains("4761739001010010"), "PAN leaked in JSON");
}

#[test]
fn online_approval_with_issuer_authentication() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    let p = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(r.outcome, Outcome::ApprovedOnline, "{}", trace_text(r));
    assert!(r.tvr_raw.is_set(TvrBit::FloorLimitExceeded));
    assert_eq!(h.decisions.len(), 1);
    assert!(h.decisions[0].arqc_ok, "the host verified the ARQC");
    assert_eq!(r.arc.as_deref(), Some("00"));
    assert!(has(&r.tsi_raw, TsiBit::IssuerAuthenticationPerformed));
    assert!(!r.tvr_raw.is_set(TvrBit::IssuerAuthenticationFailed));
    assert_eq!(r.cryptograms[0].returned, AcType::Arqc);
    assert_eq!(r.cryptograms[1].returned, AcType::Tc);
    assert!(p.screen.messages().contains(&Message::PleaseWait));
    assert!(p.screen.events.contains(&Event::GoingOnline));
    // The request never prints the PAN; field 55 carried the cryptogram data.
    let dbg = format!("{:?}", h.requests[0]);
    assert!(!dbg.contains("4761739001010010") && dbg.contains("476173******0010"));
    let json = serde_json::to_string(&h.requests[0]).unwrap();
    assert!(!json.contains("4761739001010010"));
    let icc = &h.requests[0].icc_data;
    assert!(hex::encode_upper(icc).contains("9F2608"));
    assert!(!r.reversal_sent);
}

#[test]
fn online_decline() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    h.decline = true;
    let p = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(r.outcome, Outcome::DeclinedOnline);
    assert_eq!(r.arc.as_deref(), Some("05"));
    assert_eq!(r.cryptograms[1].requested, AcType::Aac);
    assert_eq!(r.cryptograms[1].returned, AcType::Aac);
    assert!(p.screen.messages().contains(&Message::Declined));
    assert!(!r.reversal_sent);
}

#[test]
fn wrong_arpc_sets_issuer_authentication_failed() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    h.corrupt_arpc = true;
    let p = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    // The card checks the ARPC (91 in CDOL2) and declines; the approval is reversed.
    assert_eq!(r.cryptograms[1].returned, AcType::Aac, "{}", trace_text(r));
    assert_eq!(r.outcome, Outcome::DeclinedOnline);
    assert!(r.reversal_sent);
    assert_eq!(h.reversals.len(), 1);
}

#[test]
fn unable_to_go_online_uses_default_action() {
    let cfg = retail();
    // Over the floor limit: TAC-default has "floor limit exceeded": decline, Z3.
    let mut card = card(&CardSpec::default());
    let mut h = host();
    h.unreachable = true;
    let p = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(h.requests.len(), 1);
    assert_eq!(r.arc.as_deref(), Some("Z3"), "{}", trace_text(r));
    assert_eq!(r.cryptograms[1].requested, AcType::Aac);
    assert_eq!(r.outcome, Outcome::DeclinedOffline);
    // Under the floor limit the terminal asks a TC, the new card wants to go
    // online (ARQC), the host is unreachable: default action approves, Y3.
    let mut fresh = support::card(&CardSpec::default());
    let p = pay(&cfg, &mut fresh, 1000, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(r.cryptograms[0].requested, AcType::Tc);
    assert_eq!(r.cryptograms[0].returned, AcType::Arqc);
    assert_eq!(r.arc.as_deref(), Some("Y3"), "{}", trace_text(r));
    assert_eq!(r.outcome, Outcome::ApprovedOffline);
}

fn oda_case(spec: CardSpec) -> lamina_terminal::outcome::TransactionResult {
    let cfg = retail();
    let mut card = card(&spec);
    let mut h = host();
    pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h)).result
}

#[test]
fn sda_success() {
    let r = oda_case(CardSpec {
        oda: Oda::Sda,
        ..CardSpec::default()
    });
    assert_eq!(r.oda.as_deref(), Some("SDA"));
    assert_eq!(
        tvr_bits(&r.tvr_raw),
        vec![TvrBit::SdaSelected, TvrBit::FloorLimitExceeded]
    );
    assert!(has(&r.tsi_raw, TsiBit::OfflineDataAuthenticationPerformed));
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
}

#[test]
fn dda_success() {
    let r = oda_case(CardSpec::default());
    assert_eq!(r.oda.as_deref(), Some("DDA"));
    assert_eq!(tvr_bits(&r.tvr_raw), vec![TvrBit::FloorLimitExceeded]);
}

#[test]
fn cda_success() {
    let r = oda_case(CardSpec {
        oda: Oda::Cda,
        ..CardSpec::default()
    });
    assert_eq!(r.oda.as_deref(), Some("CDA"));
    assert_eq!(
        tvr_bits(&r.tvr_raw),
        vec![TvrBit::FloorLimitExceeded],
        "{}",
        trace_text(&r)
    );
    assert!(
        r.cryptograms[0].cda_verified,
        "CDA signature on the ARQC verified"
    );
    assert!(
        r.cryptograms[1].cda_verified,
        "CDA signature on the TC verified"
    );
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
}

#[test]
fn cda_offline_approval_is_signed() {
    let cfg = retail();
    let mut card = card(&CardSpec {
        oda: Oda::Cda,
        ..CardSpec::default()
    });
    warm_up(&mut card);
    let p = pay(&cfg, &mut card, 1000, &[Some("1234")], None);
    assert_eq!(
        p.result.outcome,
        Outcome::ApprovedOffline,
        "{}",
        trace_text(&p.result)
    );
    assert!(p.result.cryptograms[0].cda_verified);
}

/// Each ODA method with each failure: bad issuer certificate, unknown CAPK index,
/// tampered signed record; the method's failure bit and no other ODA bit.
#[test]
fn oda_failures() {
    for (oda, bit, name) in [
        (Oda::Sda, TvrBit::SdaFailed, "SDA"),
        (Oda::Dda, TvrBit::DdaFailed, "DDA"),
        (Oda::Cda, TvrBit::CdaFailed, "CDA"),
    ] {
        let cases: [(&str, CardSpec); 3] = [
            (
                "bad issuer certificate",
                CardSpec {
                    oda,
                    bad_issuer_cert: true,
                    ..CardSpec::default()
                },
            ),
            (
                "unknown CAPK index",
                CardSpec {
                    oda,
                    ca_index: 0x93,
                    ..CardSpec::default()
                },
            ),
            (
                "tampered record",
                CardSpec {
                    oda,
                    tamper: true,
                    ..CardSpec::default()
                },
            ),
        ];
        for (what, spec) in cases {
            let r = oda_case(spec);
            assert!(
                r.tvr_raw.is_set(bit),
                "{name} {what}: {:?}",
                tvr_bits(&r.tvr_raw)
            );
            assert!(!r.tvr_raw.is_set(TvrBit::IccDataMissing), "{name} {what}");
            assert!(
                has(&r.tsi_raw, TsiBit::OfflineDataAuthenticationPerformed),
                "{name} {what}"
            );
            // TAC-online has the ODA failure bits: the transaction goes online.
            assert_eq!(r.cryptograms[0].returned, AcType::Arqc, "{name} {what}");
            if oda == Oda::Cda {
                assert!(
                    r.cryptograms.iter().all(|c| !c.cda_verified),
                    "{name} {what}"
                );
            }
        }
    }
}

#[test]
fn oda_data_missing_sets_icc_data_missing() {
    let r = oda_case(CardSpec {
        omit: vec![0x9F46],
        ..CardSpec::default()
    });
    assert!(r.tvr_raw.is_set(TvrBit::IccDataMissing));
    assert!(r.tvr_raw.is_set(TvrBit::DdaFailed));
}

#[test]
fn revoked_issuer_certificate_fails_sda() {
    let mut cfg = retail();
    cfg.revoked.push(lamina_terminal::capk::RevokedCertificate {
        rid: lamina_terminal::testkit::TEST_RID,
        ca_index: lamina_terminal::testkit::TEST_CA_INDEX,
        serial: pki().issuer_serial,
    });
    let mut card = card(&CardSpec {
        oda: Oda::Sda,
        ..CardSpec::default()
    });
    let mut h = host();
    let r = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h)).result;
    assert!(r.tvr_raw.is_set(TvrBit::SdaFailed));
}

#[test]
fn no_oda_when_card_supports_none() {
    let r = oda_case(CardSpec {
        oda: Oda::None,
        ..CardSpec::default()
    });
    assert!(
        r.tvr_raw
            .is_set(TvrBit::OfflineDataAuthenticationNotPerformed)
    );
    assert!(!has(&r.tsi_raw, TsiBit::OfflineDataAuthenticationPerformed));
}

#[test]
fn offline_pin_wrong_then_right() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    let p = pay(
        &cfg,
        &mut card,
        7500,
        &[Some("9999"), Some("1234")],
        Some(&mut h),
    );
    let m = p.screen.messages();
    assert_eq!(
        &m[..4],
        &[
            Message::EnterPin,
            Message::IncorrectPin,
            Message::EnterPin,
            Message::PinOk
        ]
    );
    assert!(p.screen.events.contains(&Event::PinTriesLeft(2)));
    assert_eq!(p.result.cvm_results.hex, "410302");
    assert!(
        !p.result
            .tvr_raw
            .is_set(TvrBit::CardholderVerificationNotSuccessful)
    );
    assert_eq!(p.result.outcome, Outcome::ApprovedOnline);
}

#[test]
fn offline_pin_blocked() {
    let cfg = retail();
    // CVM List: plaintext PIN always, fail if unsuccessful (X = Y = 0).
    let mut card = card(&CardSpec {
        cvm_list: Some("00000000 00000000 0100".into()),
        ..CardSpec::default()
    });
    let mut h = host();
    let p = pay(
        &cfg,
        &mut card,
        7500,
        &[Some("1111"), Some("2222"), Some("3333")],
        Some(&mut h),
    );
    let r = &p.result;
    assert_eq!(p.pin_requests, 3);
    assert!(r.tvr_raw.is_set(TvrBit::PinTryLimitExceeded));
    assert!(
        r.tvr_raw
            .is_set(TvrBit::CardholderVerificationNotSuccessful)
    );
    assert_eq!(r.cvm_results.hex, "010001");
    assert_eq!(
        p.screen
            .messages()
            .iter()
            .filter(|m| **m == Message::IncorrectPin)
            .count(),
        3
    );
    // Next transaction: the PIN Try Counter is 0, no prompt.
    let p2 = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    assert_eq!(p2.pin_requests, 0);
    assert!(p2.result.tvr_raw.is_set(TvrBit::PinTryLimitExceeded));
}

#[test]
fn cvm_fallback_to_signature_when_pin_bypassed() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    let p = pay(&cfg, &mut card, 7500, &[None], Some(&mut h));
    let r = &p.result;
    assert!(r.tvr_raw.is_set(TvrBit::PinNotEntered));
    assert!(
        !r.tvr_raw
            .is_set(TvrBit::CardholderVerificationNotSuccessful)
    );
    assert_eq!(r.cvm_results.hex, "1E0300");
    assert!(r.signature_required);
    assert!(p.screen.events.contains(&Event::SignatureRequired));
    let receipt = r.receipt.as_ref().unwrap();
    assert!(
        receipt
            .merchant_copy
            .iter()
            .any(|l| l.starts_with("SIGNATURE"))
    );
}

#[test]
fn offline_enciphered_pin() {
    let cfg = retail();
    // Enciphered PIN verified by ICC if the terminal supports it, else no CVM.
    let mut card = card(&CardSpec {
        cvm_list: Some("00000000 00000000 4403 1F00".into()),
        ..CardSpec::default()
    });
    let mut h = host();
    let p = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(r.cvm_results.hex, "440302", "{}", trace_text(r));
    assert!(trace_text(r).contains("GET CHALLENGE"));
    assert!(trace_text(r).contains("VERIFY 00200088"));
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
    // Wrong enciphered PIN then right.
    let p = pay(
        &cfg,
        &mut card,
        7500,
        &[Some("4321"), Some("1234")],
        Some(&mut h),
    );
    assert!(p.screen.messages().contains(&Message::IncorrectPin));
    assert_eq!(p.result.cvm_results.hex, "440302");
}

#[test]
fn online_pin_verified_by_host() {
    let cfg = retail();
    let mut card = card(&CardSpec {
        cvm_list: Some("00000000 00000000 4203 1F00".into()),
        ..CardSpec::default()
    });
    let mut h = host();
    let p = pay(&cfg, &mut card, 2500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert_eq!(r.cvm_results.hex, "420300");
    assert!(r.tvr_raw.is_set(TvrBit::OnlineCvmCaptured));
    assert_eq!(h.decisions[0].pin_ok, Some(true));
    let pin = h.requests[0].pin.as_ref().unwrap();
    assert_eq!(pin.ksn.len(), 10);
    assert_eq!(hex::encode_upper(&pin.ksn), "FFFF9876543210E00001");
    assert!(!format!("{pin:?}").contains(&hex::encode_upper(pin.block)));
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
    // A wrong online PIN: the issuer answers 55 and the card declines.
    let p = pay(&cfg, &mut card, 2500, &[Some("9876")], Some(&mut h));
    assert_eq!(h.decisions[1].pin_ok, Some(false));
    assert_eq!(p.result.arc.as_deref(), Some("55"));
    assert_eq!(p.result.outcome, Outcome::DeclinedOnline);
}

#[test]
fn expired_card() {
    let r = oda_case(CardSpec {
        expiry: Some("251031".into()),
        ..CardSpec::default()
    });
    assert!(r.tvr_raw.is_set(TvrBit::ExpiredApplication));
    // TAC-online has "expired application": online, and the issuer declines (54).
    assert_eq!(r.arc.as_deref(), Some("54"));
    assert_eq!(r.outcome, Outcome::DeclinedOnline);
}

#[test]
fn auc_denial() {
    // Valid for domestic services at non-ATM terminals only: a goods purchase is
    // refused (TVR "requested service not allowed", TAC-denial) with an AAC.
    let r = oda_case(CardSpec {
        auc: Some("0900".into()),
        ..CardSpec::default()
    });
    assert!(r.tvr_raw.is_set(TvrBit::ServiceNotAllowed));
    assert_eq!(r.cryptograms.len(), 1);
    assert_eq!(r.cryptograms[0].requested, AcType::Aac);
    assert_eq!(r.outcome, Outcome::DeclinedOffline);
    assert_eq!(r.arc.as_deref(), Some("Z1"));
    assert!(r.messages.contains(&Message::Declined));
}

#[test]
fn issuer_script_blocks_application_then_declined() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    h.scripts.push(ScriptCommand {
        template: 0x71,
        header: [0x84, 0x1E, 0x00, 0x00],
        data: Vec::new(),
    });
    let p = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h));
    let r = &p.result;
    assert!(has(&r.tsi_raw, TsiBit::ScriptProcessingPerformed));
    assert_eq!(
        r.script_results.as_deref(),
        Some("2000000001"),
        "{}",
        trace_text(r)
    );
    assert!(trace_text(r).contains("APPLICATION BLOCK"));
    // The blocked application answers the second GENERATE AC with an AAC: the
    // issuer's approval is reversed.
    assert_eq!(r.cryptograms[1].returned, AcType::Aac);
    assert_eq!(r.outcome, Outcome::DeclinedOnline);
    assert!(r.reversal_sent);
    // The next transaction: the application is blocked (SELECT 6283).
    h.scripts.clear();
    let p = pay(&cfg, &mut card, 1000, &[Some("1234")], Some(&mut h));
    assert_eq!(
        p.result.outcome,
        Outcome::Terminated(Termination::NotAccepted)
    );
    assert!(p.screen.messages().contains(&Message::NotAccepted));
}

#[test]
fn failed_script_sets_tvr() {
    let cfg = retail();
    let mut card = card(&CardSpec::default());
    let mut h = host();
    // An unknown proprietary command: the card refuses it.
    h.scripts.push(ScriptCommand {
        template: 0x72,
        header: [0x84, 0xEE, 0x00, 0x00],
        data: vec![1, 2, 3],
    });
    let r = pay(&cfg, &mut card, 7500, &[Some("1234")], Some(&mut h)).result;
    assert!(r.tvr_raw.is_set(TvrBit::ScriptFailedAfterFinalGenerateAc));
    assert_eq!(r.script_results.as_deref(), Some("1100000001"));
    assert_eq!(r.outcome, Outcome::ApprovedOnline);
}

/// Pulls the card out right after it answers the first GENERATE AC.
struct PullAfterFirstAc(TestCard, bool);

impl CardChannel for PullAfterFirstAc {
    fn power_on(&mut self, i: Interface) -> Result<Vec<u8>, ChannelError> {
        self.0.power_on(i)
    }
    fn transmit(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let r = self.0.transmit(apdu)?;
        if apdu.get(..2) == Some(&[0x80, 0xAE]) && !self.1 {
            self.1 = true;
            self.0.inner_mut().remove();
        }
        Ok(r)
    }
    fn power_off(&mut self) {
        self.0.power_off();
    }
    fn reset(&mut self) -> Result<Vec<u8>, ChannelError> {
        self.0.reset()
    }
}

#[test]
fn card_pulled_after_first_generate_ac() {
    let cfg = retail();
    let mut channel = PullAfterFirstAc(card(&CardSpec::default()), false);
    let mut h = host();
    let mut screen = lamina_terminal::ui::RecordingScreen::default();
    let mut pad = lamina_terminal::ui::ScriptedPinPad::new([Some("1234")]);
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1);
    let r = lamina_terminal::run(
        &cfg,
        &lamina_terminal::TransactionRequest::purchase(7500),
        lamina_terminal::Devices {
            card: &mut channel,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: Some(&mut h),
            pin_encryptor: None,
        },
        &lamina_terminal::FixedClock(NOW),
        &mut rng,
    );
    assert_eq!(r.outcome, Outcome::Terminated(Termination::CardRemoved));
    assert_eq!(h.requests.len(), 1, "the ARQC went online");
    assert_eq!(h.reversals.len(), 1, "the approval was reversed");
    assert!(r.reversal_sent);
    assert!(screen.messages().contains(&Message::CardError));
    assert!(r.receipt.is_none());
}

#[test]
fn card_removed_before_selection() {
    let cfg = retail();
    let mut c = card(&CardSpec::default());
    c.inner_mut().remove();
    let p = pay(&cfg, &mut c, 100, &[], None);
    assert_eq!(p.result.outcome, Outcome::Terminated(Termination::NoCard));
    assert_eq!(p.screen.messages(), vec![Message::InsertCard]);
}

#[test]
fn duplicate_tag_in_records_is_card_error() {
    let cfg = retail();
    let mut c = card(&CardSpec {
        extra: vec![lamina_tlv::Tlv::primitive(
            0x5F24u32,
            vec![0x30, 0x12, 0x31],
        )],
        ..CardSpec::default()
    });
    let p = pay(&cfg, &mut c, 100, &[], None);
    match &p.result.outcome {
        Outcome::Terminated(Termination::CardError(s)) => assert!(s.contains("5F24"), "{s}"),
        o => panic!("{o:?}"),
    }
    assert!(p.screen.messages().contains(&Message::CardError));
}

#[test]
fn missing_mandatory_data_is_card_error() {
    let cfg = retail();
    let mut c = card(&CardSpec {
        omit: vec![0x5F24],
        ..CardSpec::default()
    });
    let p = pay(&cfg, &mut c, 100, &[], None);
    match &p.result.outcome {
        Outcome::Terminated(Termination::CardError(s)) => assert!(s.contains("5F24"), "{s}"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn cvm_amount_conditions() {
    // No CVM under X = 20.00, else plaintext PIN; application currency EUR.
    let cfg = retail();
    let mut c = card(&CardSpec {
        cvm_list: Some("000007D0 00000000 1F06 0100".into()),
        app_currency: true,
        ..CardSpec::default()
    });
    let mut h = host();
    let small = pay(&cfg, &mut c, 1500, &[], Some(&mut h));
    assert_eq!(small.result.cvm_results.hex, "1F0602");
    assert_eq!(small.pin_requests, 0);
    let big = pay(&cfg, &mut c, 2500, &[Some("1234")], Some(&mut h));
    assert_eq!(big.result.cvm_results.hex, "010002");
}

#[test]
fn unrecognised_cvm() {
    let cfg = retail();
    let mut c = card(&CardSpec {
        cvm_list: Some("00000000 00000000 6A00 1F00".into()),
        ..CardSpec::default()
    });
    let mut h = host();
    let r = pay(&cfg, &mut c, 7500, &[], Some(&mut h)).result;
    assert!(r.tvr_raw.is_set(TvrBit::UnrecognisedCvm));
    assert_eq!(r.cvm_results.hex, "1F0002");
}

#[test]
fn velocity_check_on_a_new_card() {
    let cfg = retail();
    let mut c = card(&CardSpec {
        extra: vec![
            lamina_tlv::Tlv::primitive(0x9F14u32, vec![3]),
            lamina_tlv::Tlv::primitive(0x9F23u32, vec![5]),
        ],
        ..CardSpec::default()
    });
    let mut h = host();
    let r = pay(&cfg, &mut c, 1000, &[Some("1234")], Some(&mut h)).result;
    assert!(
        r.tvr_raw
            .is_set(TvrBit::LowerConsecutiveOfflineLimitExceeded),
        "{}",
        trace_text(&r)
    );
    assert!(
        r.tvr_raw
            .is_set(TvrBit::UpperConsecutiveOfflineLimitExceeded)
    );
    assert!(trace_text(&r).contains("GET DATA 80CA9F36"));
}

#[test]
fn exception_file_and_forced_online() {
    let mut cfg = retail();
    cfg.exception_file.push("4761739001010010".into());
    let mut c = card(&CardSpec::default());
    let mut h = host();
    let mut req = lamina_terminal::TransactionRequest::purchase(500);
    req.force_online = true;
    let r = pay_with(&cfg, &mut c, req, &[Some("1234")], Some(&mut h)).result;
    assert!(r.tvr_raw.is_set(TvrBit::CardOnExceptionFile));
    assert!(r.tvr_raw.is_set(TvrBit::MerchantForcedOnline));
    assert_eq!(r.cryptograms[0].requested, AcType::Arqc);
}

#[test]
fn offline_only_terminal() {
    let cfg = lamina_terminal::source::Builtin::terminal("offline").unwrap();
    let mut c = card(&CardSpec::default());
    warm_up(&mut c);
    let p = pay(&cfg, &mut c, 1500, &[Some("1234")], None);
    assert_eq!(
        p.result.outcome,
        Outcome::ApprovedOffline,
        "{}",
        trace_text(&p.result)
    );
    assert_eq!(p.result.aid.as_deref(), Some("F04C414D494E4145"));
}

#[test]
fn trace_masks_pan_and_pin() {
    let cfg = retail();
    let mut c = card(&CardSpec::default());
    let mut h = host();
    let r = pay(&cfg, &mut c, 7500, &[Some("1234")], Some(&mut h)).result;
    let t = trace_text(&r);
    assert!(!t.contains("4761739001010010"));
    assert!(t.contains("476173******0010"));
    assert!(t.contains("VERIFY 00200080 REDACTED"));
    // Command data decoded by its DOL.
    let gen_ac = r
        .trace
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.command == "GENERATE AC")
        .unwrap();
    assert!(
        gen_ac
            .c_data
            .iter()
            .any(|l| l.starts_with("9F02 ") && l.ends_with("000000007500"))
    );
    let select = &r.trace.as_ref().unwrap()[0];
    assert_eq!(select.c_data, vec!["DF name: 1PAY.SYS.DDF01".to_owned()]);
    assert!(r.apdu_bytes > 500 && r.apdu_count > 10);
    let _ = StatusWord::OK;
}

/// Issuer authentication by EXTERNAL AUTHENTICATE (Book 3 §10.9) when CDOL2 does
/// not ask for the Issuer Authentication Data, for ARPC methods 1 and 2 (Visa
/// CVN 10 and 18 profiles of the applet).
#[test]
fn external_authenticate_for_each_arpc_method() {
    use lamina_applets::emv::CvnChoice;
    let cfg = retail();
    for cvn in [CvnChoice::Visa10, CvnChoice::Visa18, CvnChoice::EmvCcd] {
        for corrupt in [false, true] {
            let mut c = card(&CardSpec {
                cvn,
                oda: Oda::None,
                cdol2: Some("8A02 9505 9F3704".into()),
                ..CardSpec::default()
            });
            let mut h = host_for(cvn);
            h.corrupt_arpc = corrupt;
            let r = pay(&cfg, &mut c, 7500, &[Some("1234")], Some(&mut h)).result;
            let t = trace_text(&r);
            assert!(h.decisions[0].arqc_ok, "{cvn:?}: ARQC verified by the host");
            assert!(t.contains("EXTERNAL AUTHENTICATE"), "{cvn:?}\n{t}");
            assert!(has(&r.tsi_raw, TsiBit::IssuerAuthenticationPerformed));
            assert_eq!(
                r.tvr_raw.is_set(TvrBit::IssuerAuthenticationFailed),
                corrupt,
                "{cvn:?} corrupt={corrupt}\n{t}"
            );
            if corrupt {
                assert!(r.reversal_sent, "{cvn:?}");
            } else {
                assert_eq!(r.outcome, Outcome::ApprovedOnline, "{cvn:?}\n{t}");
            }
        }
    }
}

#[test]
fn pin_pad_not_present() {
    let cfg = retail();
    let mut c = card(&CardSpec::default());
    let mut h = host();
    let mut screen = lamina_terminal::ui::RecordingScreen::default();
    let mut pad = lamina_terminal::ui::ScriptedPinPad::absent();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(5);
    let r = lamina_terminal::run(
        &cfg,
        &lamina_terminal::TransactionRequest::purchase(7500),
        lamina_terminal::Devices {
            card: &mut c,
            screen: &mut screen,
            pin_pad: &mut pad,
            acquirer: Some(&mut h),
            pin_encryptor: None,
        },
        &lamina_terminal::FixedClock(NOW),
        &mut rng,
    );
    assert!(r.tvr_raw.is_set(TvrBit::PinPadNotPresentOrNotWorking));
    // The CVM List goes on to signature.
    assert_eq!(r.cvm_results.hex, "1E0300");
}
