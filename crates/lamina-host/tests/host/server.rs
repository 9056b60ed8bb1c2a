use std::sync::Arc;
use std::time::Duration;

use lamina_host::metrics::Metrics;
use lamina_host::server::{ServerConfig, ServerState, serve};
use lamina_host::store::Store;
use lamina_iso8583::{Message, Mti, OriginalData, Spec};
use lamina_link::client::HostClient;

use crate::both_backends;
use crate::common::{Fixture, fixture};

pub struct Running {
    pub addr: String,
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<std::io::Result<()>>,
    pub metrics: Arc<Metrics>,
}

pub async fn start(f: &Fixture, config: ServerConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(f, config, listener).await
}

/// [`start`] on a given listener (e.g. with small socket buffers).
pub async fn start_on(
    f: &Fixture,
    config: ServerConfig,
    listener: tokio::net::TcpListener,
) -> Running {
    let addr = listener.local_addr().unwrap().to_string();
    let metrics = Arc::new(Metrics::default());
    let state = ServerState {
        issuer: f.issuer.clone(),
        metrics: Arc::clone(&metrics),
        config,
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        handle,
        metrics,
    }
}

/// An ISO 8583 0100/0200 for the fixture's card with a valid ARQC.
pub fn iso_request(f: &mut Fixture, mti: Mti, amount: i64, stan: u32) -> Message {
    let icc = f
        .sim
        .arqc_field55(amount as u64, 978, [0x26, 0x11, 0x25], [1, 2, 3, 4])
        .unwrap();
    Message::new(mti)
        .with(2, f.sim.pan.as_str())
        .with(3, "000000")
        .with(4, format!("{amount:012}"))
        .with(7, "1125100000")
        .with(11, format!("{stan:06}"))
        .with(12, "100000")
        .with(13, "1125")
        .with(18, "5999")
        .with(19, "250")
        .with(22, "051")
        .with(23, "001")
        .with(25, "00")
        .with(32, "12345")
        .with(37, format!("{stan:012}"))
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(49, "978")
        .with(55, icc)
}

const T: Duration = Duration::from_secs(10);

async fn iso_over_tcp(store: Store) {
    let mut f = fixture(store.clone(), 10_000).await;
    let srv = start(&f, ServerConfig::default()).await;
    let client = HostClient::connect(&srv.addr).await.unwrap();

    // 0800 echo.
    let echo = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(7, "1125100000")
        .with(11, "000001")
        .with(41, "TERM0001")
        .with(70, "301");
    let r = client.call(&echo, T).await.unwrap();
    assert_eq!(
        (r.mti, r.get_str(39)),
        (Mti::NETWORK_MANAGEMENT_RESPONSE, Some("00"))
    );

    // 0100 approved with ARPC, available balance in DE 54.
    let req = iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 1_250, 2);
    let r = client.call(&req, T).await.unwrap();
    let first = r.clone();
    assert_eq!(r.mti, Mti::AUTHORIZATION_RESPONSE);
    assert_eq!(r.get_str(39), Some("00"), "{r}");
    assert_eq!(r.get_str(38).map(str::len), Some(6));
    assert_eq!(r.get_str(54), Some("0002978C000000008750"));
    assert!(r.get_bytes(55).is_some());
    assert!(!r.has(2), "the PAN is not echoed");

    // Malformed: a letter in DE 4 (n) → 0110 with 30, and the connection stays usable.
    let good = Spec::lamina()
        .encode(&iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 100, 3))
        .unwrap();
    let text = String::from_utf8_lossy(&good).to_string();
    let pos = text.find("000000000100").unwrap();
    let mut bad = good.clone();
    bad[pos + 5] = b'X';
    let rx = client.expect("000003", "TERM0001");
    client.send_raw(bad).await.unwrap();
    let r = tokio::time::timeout(T, rx).await.unwrap().unwrap();
    assert_eq!(
        (r.mti, r.get_str(39)),
        (Mti::AUTHORIZATION_RESPONSE, Some("30"))
    );
    // (A framed message whose MTI does not decode closes the connection: see
    // robust.rs.) Keep-alive (empty frame) is ignored.
    client.send_raw(vec![]).await.unwrap();
    let r = client
        .call(&echo.clone().with(11, "000004"), T)
        .await
        .unwrap();
    assert_eq!(
        r.get_str(39),
        Some("00"),
        "connection still open after malformed input"
    );

    // Pipelining: 40 requests in flight on one connection, answered and matched.
    let mut waits = vec![];
    for i in 0..40u32 {
        let mut m = iso_request(&mut f, Mti::FINANCIAL_REQUEST, 10, 100 + i);
        m.remove(55); // no cryptogram: ATC order does not matter
        let stan = format!("{:06}", 100 + i);
        let rx = client.expect(&stan, "TERM0001");
        client
            .send_raw(Spec::lamina().encode(&m).unwrap())
            .await
            .unwrap();
        waits.push((stan, rx));
    }
    for (stan, rx) in waits {
        let r = tokio::time::timeout(T, rx).await.unwrap().unwrap();
        assert_eq!(r.get_str(11), Some(stan.as_str()));
        assert_eq!(r.get_str(39), Some("00"));
    }
    assert_eq!(f.account().await.ledger_balance, 10_000 - 400);

    // Retransmission of the 0100 as 0101: same answer, nothing held twice.
    let mut repeat = req.clone();
    repeat.mti = Mti::AUTHORIZATION_REQUEST_REPEAT;
    let r2 = client.call(&repeat, T).await.unwrap();
    assert_eq!(r2.get_str(38), first.get_str(38));
    assert_eq!(r2.get_bytes(55), first.get_bytes(55));
    assert_eq!(f.account().await.held, 1_250);

    // 0400 reversal of the 0100 releases the hold.
    let od = OriginalData::of(&req).unwrap();
    let mut rev = Message::new(Mti::REVERSAL_REQUEST)
        .with(2, f.sim.pan.as_str())
        .with(3, "000000")
        .with(4, "000000001250")
        .with(7, "1125100100")
        .with(11, "000500")
        .with(32, "12345")
        .with(37, "000000000500")
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(49, "978");
    rev.set_original_data(&od).unwrap();
    let r = client.call(&rev, T).await.unwrap();
    assert_eq!((r.mti, r.get_str(39)), (Mti::REVERSAL_RESPONSE, Some("00")));
    assert_eq!(f.account().await.held, 0);
    // A reversal without DE 90 is a format error.
    rev.remove(90);
    rev.set(11, "000501");
    assert_eq!(client.call(&rev, T).await.unwrap().get_str(39), Some("30"));

    // 0500 reconciliation: 40 sales of 10 today.
    let recon = |stan: &str, totals: &str| {
        Message::new(Mti::RECONCILIATION_REQUEST)
            .with(3, "920000")
            .with(7, "1125180000")
            .with(11, stan)
            .with(12, "180000")
            .with(13, "1125")
            .with(32, "12345")
            .with(41, "TERM0001")
            .with(42, "MERCHANT0000001")
            .with(49, "978")
            .with(63, totals)
    };
    let r = client
        .call(&recon("000600", "00400000000004000000000000000000"), T)
        .await
        .unwrap();
    assert_eq!(
        (r.mti, r.get_str(39)),
        (Mti::RECONCILIATION_RESPONSE, Some("00"))
    );
    let r = client
        .call(&recon("000601", "00410000000004100000000000000000"), T)
        .await
        .unwrap();
    assert_eq!(r.get_str(39), Some("95"));
    assert_eq!(r.get_str(63), Some("00400000000004000000000000000000"));

    let text = srv.metrics.render();
    assert!(
        text.contains("lamina_host_requests_total{mti=\"0200\",code=\"00\"} 40"),
        "{text}"
    );
    let Running { stop, handle, .. } = srv;
    stop.unwrap().send(()).unwrap();
    handle.await.unwrap().unwrap();
}
both_backends!(iso_over_tcp_test, super::iso_over_tcp);

async fn graceful_shutdown_and_timeouts(store: Store) {
    let mut f = fixture(store.clone(), 100_000).await;
    let srv = start(&f, ServerConfig::default()).await;
    let client = HostClient::connect(&srv.addr).await.unwrap();
    let mut waits = vec![];
    for i in 0..30u32 {
        let mut m = iso_request(&mut f, Mti::FINANCIAL_REQUEST, 10, 1 + i);
        m.remove(55);
        let stan = format!("{:06}", 1 + i);
        let rx = client.expect(&stan, "TERM0001");
        client
            .send_raw(Spec::lamina().encode(&m).unwrap())
            .await
            .unwrap();
        waits.push(rx);
    }
    // Give the server a moment to read the frames, then shut down: every request read
    // is answered before the connection closes.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let Running { stop, handle, .. } = srv;
    stop.unwrap().send(()).unwrap();
    let mut answered = 0;
    for rx in waits {
        if let Ok(Ok(r)) = tokio::time::timeout(T, rx).await {
            assert_eq!(r.get_str(39), Some("00"));
            answered += 1;
        }
    }
    handle.await.unwrap().unwrap();
    assert!(answered > 0);
    let a = f.account().await;
    assert_eq!(
        a.ledger_balance,
        100_000 - 10 * answered,
        "every posted request was answered"
    );

    // While another transaction holds the card row (PostgreSQL) or the write lock
    // (SQLite), a request cannot finish within a 300 ms timeout: it is answered 91.
    let srv = start(
        &f,
        ServerConfig {
            request_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    )
    .await;
    let mut blocker = store.begin_write().await.unwrap();
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT id FROM cards WHERE id = $1{}",
        store.for_update()
    ));
    sqlx::query(sql)
        .bind(&f.card.id)
        .fetch_one(&mut *blocker.tx)
        .await
        .unwrap();
    let client = HostClient::connect(&srv.addr).await.unwrap();
    let m = iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 10, 900);
    assert_eq!(client.call(&m, T).await.unwrap().get_str(39), Some("91"));
    drop(blocker);
    assert_eq!(
        f.account().await.held,
        0,
        "a timed-out request holds nothing"
    );
    let Running { stop, handle, .. } = srv;
    stop.unwrap().send(()).unwrap();
    handle.await.unwrap().unwrap();
}
both_backends!(shutdown_test, super::graceful_shutdown_and_timeouts);
