use std::sync::Arc;
use std::time::Duration;

use lamina_host::keys::HostKeys;
use lamina_host::load::{LoadConfig, provision_cards, run_load};
use lamina_host::server::ServerConfig;
use lamina_host::service::{HostConfig, run};
use lamina_host::store::{Store, StoreOptions};
use lamina_iso8583::Mti;

/// The whole host (`service::run`) under the load generator: every authorization has a
/// valid ARQC and is approved; then the ledger checks out.
async fn service_under_load(url: String) {
    let dir = tempfile::tempdir().unwrap();
    let keys_path = dir.path().join("keys.json");
    std::fs::write(
        &keys_path,
        serde_json::to_string(&crate::common::key_file()).unwrap(),
    )
    .unwrap();
    let cfg = HostConfig {
        listen: "127.0.0.1:0".into(),
        http: Some("127.0.0.1:0".into()),
        db: url.clone(),
        keys: keys_path.clone(),
        fee_bps: 100,
        server: ServerConfig::default(),
        store: StoreOptions::default(),
    };
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let host = tokio::spawn(async move {
        run(
            &cfg,
            async move {
                let _ = rx.await;
            },
            move |iso, _http| {
                let _ = addr_tx.send(iso);
            },
        )
        .await
    });
    let addr = addr_rx.await.unwrap();
    let store = Store::connect(&url).await.unwrap();
    let keys = HostKeys::load(&keys_path).unwrap();
    let sims = provision_cards(&store, &keys, 20, "default", crate::common::NOW)
        .await
        .unwrap();
    let cfg = LoadConfig {
        host: addr.to_string(),
        rate: 400.0,
        duration: Duration::from_secs(1),
        connections: 2,
        mti: Mti::FINANCIAL_REQUEST,
        amount: 100,
        timeout: Duration::from_secs(10),
    };
    let report = run_load(&cfg, sims, Arc::new(|_| {})).await.unwrap();
    assert_eq!(report.sent, 400);
    assert_eq!(report.errors, 0, "{report:?}");
    assert_eq!(report.by_code.get("00"), Some(&400), "{report:?}");
    assert!(
        report.p50_ms > 0.0 && report.p50_ms <= report.p99_ms && report.p99_ms <= report.max_ms
    );
    // Provisioning again reuses the cards with their next ATC: still approved.
    let sims = provision_cards(&store, &keys, 20, "default", crate::common::NOW)
        .await
        .unwrap();
    let cfg = LoadConfig { rate: 200.0, ..cfg };
    let report = run_load(&cfg, sims, Arc::new(|_| {})).await.unwrap();
    assert_eq!(report.by_code.get("00"), Some(&200), "{report:?}");
    stop.send(()).unwrap();
    host.await.unwrap().unwrap();
    crate::common::assert_ledger_ok(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    service_under_load(format!("sqlite://{}", dir.path().join("host.db").display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres() {
    let url = crate::pg::fresh_database("load").await;
    service_under_load(url).await;
}
