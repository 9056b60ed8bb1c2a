//! TLS on the ISO 8583 link: real TCP + rustls end to end on SQLite, mutual TLS, wrong
//! CA, wrong server name, a plain client and a silent client against a TLS listener, the
//! load generator over TLS. Certificates are generated per test (`TestPki`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test binary

#[allow(dead_code)] // shared fixtures; this binary uses a few of them
#[path = "host/common.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use lamina_host::keys::HostKeys;
use lamina_host::load::{LoadConfig, provision_cards, run_load_with};
use lamina_host::metrics::Metrics;
use lamina_host::server::{ServerConfig, ServerState, serve};
use lamina_iso8583::{Message, Mti};
use lamina_link::client::{ClientError, HostClient};
use lamina_link::tls::{ClientTls, TestPki, acceptor};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{Fixture, assert_ledger_ok, fixture, sqlite_store};

const T: Duration = Duration::from_secs(10);

struct Running {
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<std::io::Result<()>>,
    metrics: Arc<Metrics>,
}

impl Running {
    /// Graceful shutdown; the server must end cleanly.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(T, self.handle)
            .await
            .expect("server stops in time")
            .unwrap()
            .unwrap();
    }
}

async fn start(f: &Fixture, pki: &TestPki, mtls: bool, config: ServerConfig) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let metrics = Arc::new(Metrics::default());
    let state = ServerState {
        issuer: f.issuer.clone(),
        metrics: Arc::clone(&metrics),
        config: ServerConfig {
            tls: Some(acceptor(pki.server_config(mtls).unwrap())),
            ..config
        },
    };
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(serve(listener, state, async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop,
        handle,
        metrics,
    }
}

/// A 0100/0200 for the fixture's card with a valid ARQC.
fn iso_request(f: &mut Fixture, mti: Mti, amount: i64, stan: u32) -> Message {
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

fn echo(stan: u32) -> Message {
    Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(7, "1125100000")
        .with(11, format!("{stan:06}"))
        .with(41, "TERM0001")
        .with(70, "301")
}

/// The `lamina_host_in_flight` gauge.
fn in_flight(m: &Metrics) -> u64 {
    m.render()
        .lines()
        .find_map(|l| l.strip_prefix("lamina_host_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// A client refused by the server: the handshake fails, or (TLS 1.3, where the server
/// checks the client's certificate after the client has finished) the first call fails.
async fn assert_refused(addr: &str, tls: &ClientTls, msg: &Message) {
    match HostClient::connect_with(addr, Some(tls)).await {
        Err(ClientError::Tls(_)) => {}
        Err(e) => panic!("unexpected error: {e}"),
        Ok(client) => {
            let r = client.call(msg, T).await;
            assert!(
                matches!(r, Err(ClientError::Closed | ClientError::Tls(_))),
                "refused client got {r:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_end_to_end_authorization_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    let mut f = fixture(store.clone(), 10_000).await;
    let pki = TestPki::generate(&[]).unwrap();
    let srv = start(&f, &pki, true, ServerConfig::default()).await;

    let client = HostClient::connect_tls(&srv.addr, "localhost", pki.client_config(true).unwrap())
        .await
        .unwrap();
    assert!(client.is_tls());
    let r = client.call(&echo(1), T).await.unwrap();
    assert_eq!(
        (r.mti, r.get_str(39)),
        (Mti::NETWORK_MANAGEMENT_RESPONSE, Some("00"))
    );

    // 0200 approved and posted; the ARPC comes back in DE 55.
    let r = client
        .call(&iso_request(&mut f, Mti::FINANCIAL_REQUEST, 1_250, 2), T)
        .await
        .unwrap();
    assert_eq!(r.mti, Mti::FINANCIAL_RESPONSE);
    assert_eq!(r.get_str(39), Some("00"), "{r}");
    assert!(r.get_bytes(55).is_some());
    assert_eq!(f.account().await.ledger_balance, 10_000 - 1_250);

    // Pipelined over the same TLS session: ten requests sent before any answer.
    let mut calls = Vec::new();
    let client = Arc::new(client);
    for stan in 10..20u32 {
        let req = iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 10, stan);
        let c = Arc::clone(&client);
        calls.push(tokio::spawn(async move { c.call(&req, T).await }));
    }
    let mut approved = 0;
    for c in calls {
        let r = c.await.unwrap().unwrap();
        // Requests race for the card row: ATC order decides; each gets an answer.
        assert_eq!(r.mti, Mti::AUTHORIZATION_RESPONSE);
        approved += usize::from(r.get_str(39) == Some("00"));
    }
    assert!(approved >= 1);

    // The IP address in the certificate works as a server name as well.
    let by_ip = HostClient::connect_tls(&srv.addr, "127.0.0.1", pki.client_config(true).unwrap())
        .await
        .unwrap();
    assert_eq!(
        by_ip.call(&echo(30), T).await.unwrap().get_str(39),
        Some("00")
    );

    assert!(
        srv.metrics
            .render()
            .contains("lamina_host_requests_total{mti=\"0200\",code=\"00\"} 1")
    );
    drop((client, by_ip));
    srv.stop().await;
    assert_ledger_ok(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_refuses_a_client_without_certificate_or_from_another_ca() {
    let (store, _dir) = sqlite_store().await;
    let mut f = fixture(store.clone(), 10_000).await;
    let pki = TestPki::generate(&[]).unwrap();
    let srv = start(&f, &pki, true, ServerConfig::default()).await;

    // No client certificate: refused, nothing posted.
    let anonymous = ClientTls::new(pki.client_config(false).unwrap(), "localhost").unwrap();
    let req = iso_request(&mut f, Mti::FINANCIAL_REQUEST, 500, 1);
    assert_refused(&srv.addr, &anonymous, &req).await;

    // A client certificate from another CA (the client trusts the right server CA).
    let other = TestPki::generate(&[]).unwrap();
    let foreign_identity = lamina_link::tls::client_config_pem(
        pki.ca_cert_pem.as_bytes(),
        Some((
            other.client_cert_pem.as_bytes(),
            other.client_key_pem.as_bytes(),
        )),
    )
    .unwrap();
    let foreign = ClientTls::new(foreign_identity, "localhost").unwrap();
    let req = iso_request(&mut f, Mti::FINANCIAL_REQUEST, 500, 2);
    assert_refused(&srv.addr, &foreign, &req).await;
    assert_eq!(f.account().await.ledger_balance, 10_000, "nothing posted");

    // The server is still up for a proper client.
    let good = HostClient::connect_tls(&srv.addr, "localhost", pki.client_config(true).unwrap())
        .await
        .unwrap();
    let r = good
        .call(&iso_request(&mut f, Mti::FINANCIAL_REQUEST, 500, 3), T)
        .await
        .unwrap();
    assert_eq!(r.get_str(39), Some("00"), "{r}");
    assert_eq!(f.account().await.ledger_balance, 9_500);
    drop(good);
    srv.stop().await;
    assert_ledger_ok(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refuses_a_server_from_another_ca_or_with_another_name() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store.clone(), 10_000).await;
    let pki = TestPki::generate(&[]).unwrap();
    let srv = start(&f, &pki, false, ServerConfig::default()).await;

    // The client trusts a different CA: the handshake fails on the client side.
    let other = TestPki::generate(&[]).unwrap();
    let e = HostClient::connect_tls(&srv.addr, "localhost", other.client_config(false).unwrap())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls(_)), "{e}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // Right CA, but the certificate does not name this host.
    let e = HostClient::connect_tls(
        &srv.addr,
        "acquirer.example",
        pki.client_config(false).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, ClientError::Tls(_)), "{e}");

    // Without mTLS a client without a certificate is served.
    let ok = HostClient::connect_tls(&srv.addr, "localhost", pki.client_config(false).unwrap())
        .await
        .unwrap();
    assert_eq!(ok.call(&echo(1), T).await.unwrap().get_str(39), Some("00"));
    drop(ok);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_silent_clients_do_not_take_a_tls_listener_down() {
    let (store, _dir) = sqlite_store().await;
    let mut f = fixture(store.clone(), 10_000).await;
    let pki = TestPki::generate(&[]).unwrap();
    let srv = start(
        &f,
        &pki,
        true,
        ServerConfig {
            tls_handshake_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    )
    .await;

    // A plain ISO 8583 client: its frame is not a TLS record; the server closes it.
    let plain = HostClient::connect(&srv.addr).await.unwrap();
    let r = plain
        .call(&iso_request(&mut f, Mti::FINANCIAL_REQUEST, 700, 1), T)
        .await;
    assert!(matches!(r, Err(ClientError::Closed)), "{r:?}");
    assert!(!plain.is_tls());

    // A client that connects and sends nothing is closed after the handshake timeout.
    let mut silent = tokio::net::TcpStream::connect(&srv.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(T, silent.read(&mut buf))
        .await
        .expect("closed by the handshake timeout")
        .unwrap_or(0);
    assert_eq!(n, 0, "EOF, nothing sent");

    // Garbage bytes: closed as well.
    let mut junk = tokio::net::TcpStream::connect(&srv.addr).await.unwrap();
    junk.write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0])
        .await
        .unwrap();
    let n = tokio::time::timeout(T, junk.read(&mut buf)).await.unwrap();
    // rustls may answer with an alert record before closing; either way it ends.
    if let Ok(k) = n
        && k > 0
    {
        assert_eq!(buf[0], 0x15, "a TLS alert record");
    }

    // A proper client is still served, and nothing was posted by the others.
    let good = HostClient::connect_tls(&srv.addr, "localhost", pki.client_config(true).unwrap())
        .await
        .unwrap();
    let r = good
        .call(&iso_request(&mut f, Mti::FINANCIAL_REQUEST, 700, 2), T)
        .await
        .unwrap();
    assert_eq!(r.get_str(39), Some("00"), "{r}");
    assert_eq!(f.account().await.ledger_balance, 10_000 - 700);
    drop(good);
    srv.stop().await;
    assert_ledger_ok(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_tls_requests_in_flight() {
    let (store, _dir) = sqlite_store().await;
    let mut f = fixture(store.clone(), 10_000).await;
    let pki = TestPki::generate(&[]).unwrap();
    let srv = start(&f, &pki, true, ServerConfig::default()).await;
    let client = Arc::new(
        HostClient::connect_tls(&srv.addr, "localhost", pki.client_config(true).unwrap())
            .await
            .unwrap(),
    );
    let mut calls = Vec::new();
    for stan in 1..=5u32 {
        let req = iso_request(&mut f, Mti::AUTHORIZATION_REQUEST, 10, stan);
        let c = Arc::clone(&client);
        calls.push(tokio::spawn(async move { c.call(&req, T).await }));
    }
    // Once the server has taken all five (answered or in flight), stop it.
    let metrics = Arc::clone(&srv.metrics);
    tokio::time::timeout(T, async {
        while metrics.total() + in_flight(&metrics) < 5 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the server received the requests");
    srv.stop().await;
    let mut answered = 0;
    for c in calls {
        let r = c.await.unwrap().unwrap();
        assert_eq!(r.mti, Mti::AUTHORIZATION_RESPONSE);
        answered += 1;
    }
    assert_eq!(
        answered, 5,
        "every request taken before the stop was answered"
    );
    assert_ledger_ok(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn load_generator_over_mutual_tls() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store.clone(), 10_000).await;
    let pki = TestPki::generate(&[]).unwrap();
    let srv = start(&f, &pki, true, ServerConfig::default()).await;
    let keys = HostKeys::from_file(&common::key_file()).unwrap();
    let sims = provision_cards(&store, &keys, 4, "default", common::NOW)
        .await
        .unwrap();
    let cfg = LoadConfig {
        host: srv.addr.clone(),
        rate: 80.0,
        duration: Duration::from_millis(500),
        connections: 2,
        mti: Mti::FINANCIAL_REQUEST,
        amount: 100,
        timeout: T,
    };
    let tls = ClientTls::new(pki.client_config(true).unwrap(), "localhost").unwrap();
    let report = run_load_with(&cfg, Some(&tls), sims, Arc::new(|_| {}))
        .await
        .unwrap();
    assert_eq!(report.sent, 40);
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.by_code.get("00"), Some(&40), "{report:?}");

    // Without a client certificate the load generator cannot even start.
    let anonymous = ClientTls::new(pki.client_config(false).unwrap(), "localhost").unwrap();
    let sims = provision_cards(&store, &keys, 1, "default", common::NOW)
        .await
        .unwrap();
    let r = run_load_with(
        &LoadConfig {
            duration: Duration::from_millis(100),
            rate: 10.0,
            timeout: Duration::from_secs(2),
            ..cfg
        },
        Some(&anonymous),
        sims,
        Arc::new(|_| {}),
    )
    .await;
    // TLS 1.3: the handshake succeeds on the client side; the requests then fail.
    match r {
        Err(_) => {}
        Ok(rep) => assert_eq!(rep.errors, rep.sent, "{rep:?}"),
    }
    srv.stop().await;
    assert_ledger_ok(&store).await;
}
