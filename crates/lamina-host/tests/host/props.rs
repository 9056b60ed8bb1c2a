//! Property tests: random sequences of authorizations, purchases, completions, reversals
//! and retransmissions keep every ledger invariant, never overdraw a debit account and never
//! post a retransmission twice.

use lamina_host::issuer::{AuthRequest, RequestKind};
use lamina_host::ledger;
use proptest::prelude::*;

use crate::common::{fixture, sqlite_store};

#[derive(Debug, Clone)]
enum Op {
    Auth(i64),
    Purchase(i64),
    Complete(usize, i64),
    Reverse(usize),
    Retransmit(usize),
    Settle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..4_000).prop_map(Op::Auth),
        (1i64..4_000).prop_map(Op::Purchase),
        (0usize..8, 1i64..4_000).prop_map(|(i, a)| Op::Complete(i, a)),
        (0usize..8).prop_map(Op::Reverse),
        (0usize..8).prop_map(Op::Retransmit),
        Just(Op::Settle),
    ]
}

async fn run(ops: Vec<Op>) {
    let (store, _dir) = sqlite_store().await;
    let mut f = fixture(store.clone(), 10_000).await;
    let mut sent: Vec<AuthRequest> = Vec::new();
    for op in ops {
        let req = match op {
            Op::Auth(a) => Some(f.request(RequestKind::Authorization, a)),
            Op::Purchase(a) => Some(f.request(RequestKind::Financial, a)),
            Op::Complete(i, a) => sent
                .get(i % sent.len().max(1))
                .cloned()
                .map(|o| f.follow_up(RequestKind::Completion, &o, a)),
            Op::Reverse(i) => sent
                .get(i % sent.len().max(1))
                .cloned()
                .map(|o| f.follow_up(RequestKind::Reversal, &o, o.amount)),
            Op::Retransmit(i) => {
                if let Some(o) = sent.get(i % sent.len().max(1)).cloned() {
                    let before = f.account().await;
                    let r = f.issuer.authorize(o).await.unwrap();
                    assert!(r.duplicate, "a retransmission is answered from the record");
                    let after = f.account().await;
                    assert_eq!(
                        (before.ledger_balance, before.held),
                        (after.ledger_balance, after.held)
                    );
                }
                None
            }
            Op::Settle => {
                let date = lamina_host::clock::business_date(crate::common::NOW);
                lamina_host::settle::settle(&store, &date, 100, crate::common::NOW)
                    .await
                    .unwrap();
                None
            }
        };
        if let Some(req) = req {
            let r = f.issuer.authorize(req.clone()).await.unwrap();
            assert!(!r.duplicate);
            sent.push(req);
        }
        let a = f.account().await;
        assert!(a.available() >= 0, "debit account overdrawn: {a:?}");
        assert!(a.held >= 0);
    }
    let report = ledger::check_ledger(&store).await.unwrap();
    assert!(report.ok(), "{report:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_the_ledger(ops in proptest::collection::vec(op(), 1..25)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]
    /// Any decodable message maps to a request or a format error, never a panic; the
    /// response to it never carries the PAN.
    #[test]
    fn iso_mapping_total(mti in prop::sample::select(vec!["0100", "0200", "0220", "0400", "0420", "0121"]),
                         fields in proptest::collection::btree_map(2u8..=90, "[0-9A-Z=]{0,20}", 0..12)) {
        let mut m = lamina_iso8583::Message::new(mti.parse().unwrap());
        for (n, v) in &fields {
            m.set(*n, v.as_str());
        }
        m.set(2, "5413330089600010");
        let _ = lamina_host::iso::to_request(&m);
        if let Some(resp) = lamina_host::iso::code_response(&m, lamina_iso8583::ResponseCode::FORMAT_ERROR) {
            prop_assert!(!resp.has(2));
        }
    }
}
