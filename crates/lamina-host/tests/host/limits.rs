//! Input limits of the back office and the ledger (issue 16): paged lists, amounts beyond
//! what the ledger can hold, account names, PIN try limits, DE 7.

use std::sync::Arc;

use lamina_host::api::{ApiState, serve_http};
use lamina_host::ledger::{self, AccountKind, NewAccount};
use lamina_host::metrics::Metrics;
use lamina_host::server::ServerConfig;
use lamina_host::store::Store;
use lamina_iso8583::Mti;
use lamina_link::client::HostClient;
use serde_json::{Value, json};

use crate::api::{http, j};
use crate::both_backends;
use crate::common::{Fixture, NOW, fixture};

struct Api {
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn api(f: &Fixture) -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let state = ApiState {
        issuer: f.issuer.clone(),
        metrics: Arc::new(Metrics::default()),
        fee_bps: 100,
    };
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, state, async move {
        let _ = rx.await;
    }));
    Api { addr, stop, server }
}

impl Api {
    async fn close(self) {
        self.stop.send(()).unwrap();
        self.server.await.unwrap().unwrap();
    }
}

const ADMIN: Option<&str> = Some("admin-token");
const READ: Option<&str> = Some("read-token");

fn account(name: &str, opening: i64) -> NewAccount {
    NewAccount {
        name: name.into(),
        currency: "978".into(),
        credit_limit: 0,
        opening_balance: opening,
        daily_amount_limit: 0,
        daily_count_limit: 0,
    }
}

/// Walks a paged list route; returns every item and the number of pages.
async fn walk(addr: &str, path: &str, limit: usize) -> (Vec<Value>, usize) {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = vec![];
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            None => format!("{path}{sep}limit={limit}"),
            Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
        };
        let (st, body) = http(addr, "GET", &url, READ, None).await;
        assert_eq!(st, 200, "{url}: {body}");
        let page = j(&body);
        let got = page["items"].as_array().expect("a page has items").clone();
        assert!(got.len() <= limit, "a page holds at most `limit` items");
        pages += 1;
        items.extend(got);
        match page["next"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10_000, "paging terminates");
    }
    (items, pages)
}

/// 251 postings on one account (several per millisecond: the id breaks ties) are walked
/// page by page exactly once, in order; limits outside 1..=1000 and unknown cursors are
/// 400; every list route answers a page.
async fn lists_are_paged(store: Store) {
    let f = fixture(store.clone(), 1_000_000).await;
    let other = ledger::create_account(&store, &account("Bob", 0), NOW)
        .await
        .unwrap();
    let mut w = store.begin_write().await.unwrap();
    for i in 0..250i64 {
        ledger::post_entry(
            &mut w.tx,
            &[(&f.account.id, -(i + 1)), (&other.id, i + 1)],
            "978",
            None,
            "transfer",
            NOW + i / 7,
        )
        .await
        .unwrap();
    }
    w.commit().await.unwrap();
    let all = ledger::postings(&store, &f.account.id).await.unwrap();
    assert_eq!(all.len(), 251);

    let a = api(&f).await;
    let path = format!("/accounts/{}/postings", f.account.id);
    let (items, pages) = walk(&a.addr, &path, 100).await;
    assert_eq!(pages, 3);
    let got: Vec<(String, i64)> = items
        .iter()
        .map(|p| {
            (
                p["entry_id"].as_str().unwrap().to_owned(),
                p["amount"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: Vec<(String, i64)> = all.iter().map(|p| (p.entry_id.clone(), p.amount)).collect();
    assert_eq!(got, want, "every posting exactly once, oldest first");
    // Default page size: 100.
    let (st, body) = http(&a.addr, "GET", &path, READ, None).await;
    assert_eq!(st, 200);
    assert_eq!(j(&body)["items"].as_array().unwrap().len(), 100);
    assert!(j(&body)["next"].is_string());
    // Exactly one page: no next.
    let (_, body) = http(&a.addr, "GET", &format!("{path}?limit=1000"), READ, None).await;
    assert_eq!(j(&body)["items"].as_array().unwrap().len(), 251);
    assert!(j(&body)["next"].is_null());

    // Limits outside 1..=1000 are refused (not clamped); bad cursors too.
    for bad in [
        "limit=1001",
        "limit=0",
        "limit=-5",
        "limit=abc",
        "cursor=zz",
        "cursor=6869",
        "cursor=",
    ] {
        let (st, body) = http(&a.addr, "GET", &format!("{path}?{bad}"), READ, None).await;
        assert_eq!(st, 400, "{bad}: {body}");
    }
    // A cursor of another list's shape (settlements: 3 parts) is refused too.
    let (st, _) = http(
        &a.addr,
        "GET",
        &format!("{path}?cursor={}", hex_of("2026-11-25\u{1f}M\u{1f}978")),
        READ,
        None,
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = http(&a.addr, "GET", "/accounts/nope/postings", READ, None).await;
    assert_eq!(st, 404);

    // Accounts, 1 per page: cardholders Alice and Bob (the funding account is a system
    // account).
    let (items, pages) = walk(&a.addr, "/accounts?kind=cardholder", 1).await;
    assert_eq!(pages, 2);
    let names: Vec<&str> = items.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Alice", "Bob"]);
    // Every other list route answers a page and refuses limit 1001.
    let card = f.card.id.clone();
    for route in [
        "/accounts".to_owned(),
        "/cards".to_owned(),
        format!("/cards/{card}/scripts"),
        format!("/transactions?card_id={card}"),
        "/settlements".to_owned(),
    ] {
        let (st, body) = http(&a.addr, "GET", &route, READ, None).await;
        assert_eq!(st, 200, "{route}: {body}");
        assert!(j(&body)["items"].is_array(), "{route}: {body}");
        let sep = if route.contains('?') { '&' } else { '?' };
        let (st, _) = http(
            &a.addr,
            "GET",
            &format!("{route}{sep}limit=1001"),
            READ,
            None,
        )
        .await;
        assert_eq!(st, 400, "{route}");
    }
    a.close().await;
}
both_backends!(lists_are_paged_test, super::lists_are_paged);

fn hex_of(s: &str) -> String {
    hex::encode(s.as_bytes())
}

/// Transactions page newest first, each exactly once.
async fn transactions_are_paged(store: Store) {
    let mut f = fixture(store.clone(), 1_000_000).await;
    for _ in 0..7 {
        let r = f
            .go(lamina_host::issuer::RequestKind::Authorization, 10)
            .await;
        assert_eq!(r.response_code, "00");
    }
    let a = api(&f).await;
    let (items, pages) = walk(&a.addr, &format!("/transactions?card_id={}", f.card.id), 3).await;
    assert_eq!(pages, 3);
    let stans: Vec<&str> = items.iter().map(|t| t["stan"].as_str().unwrap()).collect();
    assert_eq!(
        stans,
        [
            "000007", "000006", "000005", "000004", "000003", "000002", "000001"
        ]
    );
    a.close().await;
}
both_backends!(transactions_are_paged_test, super::transactions_are_paged);

/// Amounts beyond what the ledger can hold are refused with 400 and nothing is written:
/// the ledger check and the account list keep working.
async fn amounts_are_range_checked(store: Store) {
    let f = fixture(store.clone(), 10_000).await;
    let a = api(&f).await;
    for (what, body) in [
        (
            "i64::MAX opening balance",
            json!({"name": "Max", "currency": "978", "opening_balance": i64::MAX}),
        ),
        (
            "10^12 opening balance",
            json!({"name": "Big", "currency": "978", "opening_balance": 1_000_000_000_000i64}),
        ),
        (
            "beyond 64 bits",
            json!({"name": "Huge", "currency": "978", "opening_balance": 1e20}),
        ),
        (
            "huge credit limit",
            json!({"name": "Credit", "currency": "978", "credit_limit": i64::MAX}),
        ),
        (
            "huge daily limit",
            json!({"name": "Daily", "currency": "978", "daily_amount_limit": i64::MAX}),
        ),
        (
            "negative",
            json!({"name": "Neg", "currency": "978", "opening_balance": -1}),
        ),
    ] {
        let (st, resp) = http(&a.addr, "POST", "/accounts", ADMIN, Some(body)).await;
        assert_eq!(st, 400, "{what}: {resp}");
    }
    // Twice the largest amount still fits: funding and accounts stay integers.
    for name in ["Top1", "Top2"] {
        let (st, resp) = http(
            &a.addr,
            "POST",
            "/accounts",
            ADMIN,
            Some(json!({"name": name, "currency": "978", "opening_balance": 999_999_999_999i64})),
        )
        .await;
        assert_eq!(st, 201, "{resp}");
    }
    let (st, body) = http(&a.addr, "GET", "/accounts", READ, None).await;
    assert_eq!(st, 200, "{body}");
    let (st, body) = http(&a.addr, "GET", "/ledger/check", READ, None).await;
    assert_eq!((st, j(&body)["ok"].clone()), (200, json!(true)), "{body}");

    // The library refuses it too (the CLI maps this to exit 2), and writes nothing.
    let before = ledger::list_accounts(&store, None).await.unwrap().len();
    let e = ledger::create_account(&store, &account("Max", i64::MAX), NOW).await;
    assert!(
        matches!(e, Err(lamina_host::HostError::Invalid { .. })),
        "{e:?}"
    );
    assert_eq!(
        ledger::list_accounts(&store, None).await.unwrap().len(),
        before
    );
    // A posting that would take a balance beyond the maximum is refused; the transaction
    // is rolled back whole.
    let funding = ledger::list_accounts(&store, Some(AccountKind::Funding))
        .await
        .unwrap()
        .remove(0);
    let top = ledger::create_account(&store, &account("Sink", 0), NOW)
        .await
        .unwrap();
    let mut w = store.begin_write().await.unwrap();
    let r = ledger::post_entry(
        &mut w.tx,
        &[(&funding.id, -i64::MAX), (&top.id, i64::MAX)],
        "978",
        None,
        "overflow",
        NOW,
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    drop(w);
    let mut w = store.begin_write().await.unwrap();
    let r = ledger::post_entry(
        &mut w.tx,
        &[(&funding.id, -(i64::MAX / 2)), (&top.id, i64::MAX / 2)],
        "978",
        None,
        "overflow",
        NOW,
    )
    .await;
    assert!(r.is_err(), "{r:?}");
    drop(w);
    let report = ledger::check_ledger(&store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    a.close().await;
}
both_backends!(
    amounts_are_range_checked_test,
    super::amounts_are_range_checked
);

/// A 1.5 MB account name and PIN try limits outside 1..=15 are refused with 400.
async fn names_and_pin_try_limits(store: Store) {
    let f = fixture(store.clone(), 10_000).await;
    let a = api(&f).await;
    let long = "x".repeat(1_500_000);
    for name in [long.as_str(), "", "   ", &"é".repeat(101), "a\u{0}b"] {
        let (st, body) = http(
            &a.addr,
            "POST",
            "/accounts",
            ADMIN,
            Some(json!({"name": name, "currency": "978"})),
        )
        .await;
        assert_eq!(
            st,
            400,
            "name of {} chars: {}",
            name.len(),
            &body[..body.len().min(200)]
        );
    }
    let (st, body) = http(
        &a.addr,
        "POST",
        "/accounts",
        ADMIN,
        Some(json!({"name": "é".repeat(100), "currency": "978"})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let acc = j(&body)["id"].as_str().unwrap().to_owned();
    // One valid PAN: a refused card is not stored, so only the limit can be at fault.
    let pan = "4761739001010010";
    for limit in [-1i64, 0, 16, i64::MAX] {
        let (st, body) = http(
            &a.addr,
            "POST",
            "/cards",
            ADMIN,
            Some(json!({"pan": pan, "expiry": "2912", "account_id": acc, "pin_try_limit": limit})),
        )
        .await;
        assert_eq!(st, 400, "pin_try_limit {limit}: {body}");
    }
    let (st, body) = http(
        &a.addr,
        "POST",
        "/cards",
        ADMIN,
        Some(json!({"pan": pan, "expiry": "2912", "account_id": acc, "pin_try_limit": 15})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    a.close().await;
}
both_backends!(
    names_and_pin_try_limits_test,
    super::names_and_pin_try_limits
);

/// DE 7 that is not a date and time (MMDDhhmmss) is a format error (30), not an approval.
async fn de7_is_validated(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    let srv = crate::server::start(&f, ServerConfig::default()).await;
    let client = HostClient::connect(&srv.addr).await.unwrap();
    let t = std::time::Duration::from_secs(10);
    for (i, de7) in ["9999999999", "1332100000", "0230100000", "1125246000"]
        .into_iter()
        .enumerate()
    {
        let stan = 10 + u32::try_from(i).unwrap();
        let mut m = crate::server::iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 100, stan);
        m.set(7, de7);
        let r = client.call(&m, t).await.unwrap();
        assert_eq!(r.get_str(39), Some("30"), "DE 7 {de7}");
    }
    assert_eq!(f.account().await.held, 0, "nothing held");
    let m = crate::server::iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 100, 20);
    assert_eq!(client.call(&m, t).await.unwrap().get_str(39), Some("00"));
    let crate::server::Running { stop, handle, .. } = srv;
    stop.unwrap().send(()).unwrap();
    handle.await.unwrap().unwrap();
}
both_backends!(de7_is_validated_test, super::de7_is_validated);
