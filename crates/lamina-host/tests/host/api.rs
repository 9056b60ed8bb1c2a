use std::sync::Arc;

use lamina_host::api::{ApiState, serve_http};
use lamina_host::issuer::RequestKind;
use lamina_host::metrics::Metrics;
use lamina_host::store::Store;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::common::fixture;

/// Minimal HTTP/1.1 client (Connection: close).
pub async fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out).to_string();
    let status: u16 = text.split(' ').nth(1).unwrap().parse().unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    // Decode a chunked body if needed.
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut b = String::new();
        let mut r = rest;
        loop {
            let (len, tail) = r.split_once("\r\n").unwrap();
            let n = usize::from_str_radix(len.trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            b.push_str(&tail[..n]);
            r = &tail[n + 2..];
        }
        b
    } else {
        rest.to_string()
    };
    (status, body)
}

pub fn j(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

async fn back_office(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let metrics = Arc::new(Metrics::default());
    metrics.record("0100", "00", std::time::Duration::from_millis(1));
    let state = ApiState {
        issuer: f.issuer.clone(),
        metrics,
        fee_bps: 100,
    };
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve_http(listener, state, async move {
        let _ = rx.await;
    }));
    let (admin, read) = (Some("admin-token"), Some("read-token"));

    assert_eq!(http(&addr, "GET", "/health", None, None).await.0, 200);
    let (st, body) = http(&addr, "GET", "/openapi.json", None, None).await;
    assert_eq!(st, 200);
    let doc = j(&body);
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["components"]["schemas"]["NewCard"]["properties"]["pin_offset"].is_object());
    assert!(doc["components"]["schemas"]["Settlement"]["properties"]["refunds"].is_object());
    assert!(doc["paths"]["/cards/{id}/block"]["post"].is_object());
    let (st, body) = http(&addr, "GET", "/metrics", None, None).await;
    assert_eq!(st, 200);
    assert!(body.contains("lamina_host_requests_total{mti=\"0100\",code=\"00\"} 1"));

    // Authentication and roles.
    assert_eq!(http(&addr, "GET", "/accounts", None, None).await.0, 401);
    assert_eq!(
        http(&addr, "GET", "/accounts", Some("wrong"), None).await.0,
        401
    );
    let (st, body) = http(&addr, "GET", "/accounts?kind=cardholder", read, None).await;
    assert_eq!(st, 200);
    assert_eq!(j(&body)["items"][0]["available"], 10_000);
    let card_path = format!("/cards/{}/block", f.card.id);
    assert_eq!(http(&addr, "POST", &card_path, read, None).await.0, 403);

    // Block through the API: the next authorization is declined 62.
    assert_eq!(http(&addr, "POST", &card_path, admin, None).await.0, 200);
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "62"
    );
    let unblock = format!("/cards/{}/unblock", f.card.id);
    assert_eq!(http(&addr, "POST", &unblock, admin, None).await.0, 200);
    assert_eq!(
        f.go(RequestKind::Authorization, 100).await.response_code,
        "00"
    );
    assert_eq!(
        http(&addr, "POST", "/cards/nope/lost", admin, None).await.0,
        404
    );
    // Refunds switched off and on again (admin only).
    let off = format!("/cards/{}/refunds/disable", f.card.id);
    assert_eq!(http(&addr, "POST", &off, read, None).await.0, 403);
    assert_eq!(http(&addr, "POST", &off, admin, None).await.0, 200);
    assert!(!f.card().await.refunds_allowed);
    let on = format!("/cards/{}/refunds/enable", f.card.id);
    let (st, body) = http(&addr, "POST", &on, admin, None).await;
    assert_eq!(st, 200);
    assert_eq!(j(&body)["refunds_allowed"], true);
    assert!(f.card().await.refunds_allowed);
    assert_eq!(
        http(&addr, "POST", "/cards/nope/refunds/enable", admin, None)
            .await
            .0,
        404
    );
    assert!(doc["paths"]["/cards/{id}/refunds/disable"]["post"].is_object());

    // Card JSON never carries the PAN.
    let (st, body) = http(&addr, "GET", &format!("/cards/{}", f.card.id), read, None).await;
    assert_eq!(st, 200);
    assert!(!body.contains("5413330089600010"));
    assert_eq!(j(&body)["pan_masked"], "541333******0010");

    // Accounts and cards.
    let (st, body) = http(
        &addr,
        "POST",
        "/accounts",
        admin,
        Some(json!({"name": "Bob", "currency": "978", "opening_balance": 500})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let bob = j(&body)["id"].as_str().unwrap().to_string();
    let (st, _) = http(
        &addr,
        "POST",
        "/accounts",
        admin,
        Some(json!({"name": "Bad", "currency": "EUR"})),
    )
    .await;
    assert_eq!(st, 400);
    let (st, body) = http(
        &addr,
        "POST",
        "/cards",
        admin,
        Some(json!({"pan": "4761739001010010", "psn": 0, "expiry": "2912", "account_id": bob, "cvn": "visa10"})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let bob_card = j(&body)["id"].as_str().unwrap().to_string();
    assert_eq!(j(&body)["refunds_allowed"], true);
    // A card with an IBM 3624 PIN offset instead of a PVV, refusing refunds.
    let (st, body) = http(
        &addr,
        "POST",
        "/cards",
        admin,
        Some(
            json!({"pan": "1122334455667788", "psn": 0, "expiry": "2912", "account_id": bob,
            "pin_offset": "7710", "decimalization": "1234567890123456", "refunds_allowed": false}),
        ),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    assert_eq!(j(&body)["refunds_allowed"], false);
    assert!(!body.contains("7710") && !body.contains("1234567890123456"));
    let ibm_card = j(&body)["id"].as_str().unwrap().to_string();
    let mut conn = store.pool().acquire().await.unwrap();
    let c = lamina_host::cards::get_card(&mut conn, &ibm_card)
        .await
        .unwrap()
        .unwrap();
    drop(conn);
    assert_eq!(c.pin_offset.as_deref(), Some("7710"));
    assert_eq!(c.ibm3624.unwrap().to_stored(), "1234567890123456:0:16:F");
    // Both a PVV and an offset, or a bad offset: 400.
    for bad in [
        json!({"pan": "1122334455667796", "expiry": "2912", "account_id": bob, "pvv": "1234", "pin_offset": "7710"}),
        json!({"pan": "1122334455667796", "expiry": "2912", "account_id": bob, "pin_offset": "77A0"}),
        json!({"pan": "1122334455667796", "expiry": "2912", "account_id": bob, "pin_offset": "7710", "pin_validation_start": 20}),
    ] {
        let (st, body) = http(&addr, "POST", "/cards", admin, Some(bad)).await;
        assert_eq!(st, 400, "{body}");
    }
    let (st, body) = http(
        &addr,
        "POST",
        &format!("/cards/{bob_card}/scripts"),
        admin,
        Some(json!({"kind": "pin_unblock"})),
    )
    .await;
    assert_eq!(st, 201, "{body}");
    let (_, body) = http(
        &addr,
        "GET",
        &format!("/cards/{bob_card}/scripts"),
        read,
        None,
    )
    .await;
    assert_eq!(j(&body)["items"][0]["status"], "queued");

    // Transactions by card, masked.
    let (st, body) = http(
        &addr,
        "GET",
        &format!("/transactions?card_id={}&limit=10", f.card.id),
        read,
        None,
    )
    .await;
    assert_eq!(st, 200);
    let txns = j(&body)["items"].clone();
    assert_eq!(txns.as_array().unwrap().len(), 2);
    assert_eq!(txns[0]["pan_masked"], "541333******0010");

    // Settlement and ledger check.
    f.go(RequestKind::Financial, 1_000).await;
    let date = lamina_host::clock::business_date(crate::common::NOW);
    let (st, body) = http(
        &addr,
        "POST",
        "/settlements",
        admin,
        Some(json!({"date": date})),
    )
    .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(j(&body)[0]["fees"], 10);
    let (_, body) = http(
        &addr,
        "GET",
        &format!("/settlements?date={date}"),
        read,
        None,
    )
    .await;
    assert_eq!(j(&body)["items"][0]["net"], 990);
    let (_, body) = http(&addr, "GET", "/ledger/check", read, None).await;
    assert_eq!(j(&body)["ok"], true);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
both_backends!(back_office_test, super::back_office);
