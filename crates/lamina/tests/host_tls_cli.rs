//! `lamina host tls-certs`, `host serve --tls-…` with mutual TLS, `host load --tls-ca …`
//! against it, refusals without a client certificate or without TLS, graceful stop and
//! `host check-ledger`: the binary end to end, on SQLite.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_lamina");

/// Kills the server if the test fails half way.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lamina(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn tls_certs_then_mutual_tls_serve_and_load() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let db = format!("sqlite://{}", dir.path().join("host.db").display());
    let tls = dir.path().join("tls");
    assert!(
        lamina(&["host", "init-keys", "--out", s(&keys)])
            .status
            .success()
    );

    // Test certificates, labelled as such; no silent overwrite.
    let out = lamina(&["host", "tls-certs", "--out", s(&tls)]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("TEST certificates"), "{text}");
    for f in [
        "ca.pem",
        "server.pem",
        "server.key",
        "client.pem",
        "client.key",
    ] {
        assert!(tls.join(f).is_file(), "{f}");
    }
    let again = lamina(&["host", "tls-certs", "--out", s(&tls)]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));

    // A key that does not belong to the certificate: refused at start.
    let bad = lamina(&[
        "host",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--db",
        &db,
        "--keys",
        s(&keys),
        "--tls-cert",
        s(&tls.join("server.pem")),
        "--tls-key",
        s(&tls.join("client.key")),
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!err.contains("PRIVATE KEY"), "{err}");

    let mut child = Command::new(BIN)
        .args([
            "host",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--db",
            &db,
            "--keys",
            s(&keys),
            "--sqlite-sync",
            "normal",
            "--tls-cert",
            s(&tls.join("server.pem")),
            "--tls-key",
            s(&tls.join("server.key")),
            "--tls-client-ca",
            s(&tls.join("ca.pem")),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the host starts");
        if let Some(rest) = line.strip_prefix("lamina host: ISO 8583 on ") {
            assert!(
                rest.ends_with("(TLS, client certificates required)"),
                "{line}"
            );
            break rest.split(' ').next().unwrap().to_owned();
        }
    };

    let load = |extra: &[&str]| {
        let mut args = vec![
            "host",
            "load",
            "--host",
            &addr,
            "--db",
            &db,
            "--keys",
            s(&keys),
            "--cards",
            "2",
            "--rate",
            "20",
            "--duration",
            "0.5",
            "--connections",
            "1",
            "--json",
        ];
        args.extend_from_slice(extra);
        lamina(&args)
    };

    // Mutual TLS: every authorization approved.
    let ca = tls.join("ca.pem");
    let (cert, key) = (tls.join("client.pem"), tls.join("client.key"));
    let out = load(&[
        "--tls-ca",
        s(&ca),
        "--tls-cert",
        s(&cert),
        "--tls-key",
        s(&key),
    ]);
    assert!(out.status.success(), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sent"], 10, "{report}");
    assert_eq!(report["errors"], 0, "{report}");
    assert_eq!(report["by_code"]["00"], 10, "{report}");

    // No client certificate, or no TLS at all: nothing is answered, the
    // report says why, and the load fails (exit 1) beyond --max-error-rate.
    for extra in [&["--tls-ca", s(&ca)][..], &[][..]] {
        let out = load(extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {out:?}");
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["sent"], 10, "{extra:?}: {r}");
        assert_eq!(r["errors"], 10, "{extra:?}: {r}");
        assert!(r["by_code"].as_object().unwrap().is_empty(), "{r}");
        let reasons = r["error_reasons"].as_object().unwrap();
        assert!(!reasons.is_empty(), "{r}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("10 of 10 requests failed"), "{err}");
    }
    // Only one of --tls-cert/--tls-key: a usage error.
    assert!(
        !load(&["--tls-ca", s(&ca), "--tls-cert", s(&cert)])
            .status
            .success()
    );

    // Graceful stop (SIGINT, as Ctrl-C), then the ledger checks out.
    let pid = server.0.id().to_string();
    if Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .is_ok_and(|s| s.success())
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while server.0.try_wait().unwrap().is_none() {
            assert!(std::time::Instant::now() < deadline, "host did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    drop(server);
    let out = lamina(&["host", "check-ledger", "--db", &db, "--keys", s(&keys)]);
    assert!(out.status.success(), "{out:?}");
}

/// `lamina terminal pay --host … --tls-ca … --tls-cert … --tls-key …`: the terminal kernel
/// and the test card go online over mutual TLS to a host holding the test card's account.
#[test]
fn terminal_pay_over_mutual_tls() {
    use lamina_applets::emv::testing::{TEST_IMK_AC, TEST_IMK_SMI, TEST_PAN, TEST_PSN};
    use lamina_host::keys::{HostKeys, IssuerKeySet, KeyFile};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let pki = lamina_link::tls::TestPki::generate(&[]).unwrap();
    let files = pki.write(&dir.path().join("tls")).unwrap();
    let (ca, cert, key) = (&files[0], &files[3], &files[4]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut sets = std::collections::BTreeMap::new();
    sets.insert(
        "default".to_string(),
        IssuerKeySet {
            imk_ac: TEST_IMK_AC.into(),
            imk_smi: Some(TEST_IMK_SMI.into()),
            imk_smc: None,
        },
    );
    let keys = Arc::new(
        HostKeys::from_file(&KeyFile {
            pan_lookup: "00".repeat(32),
            pan_encryption: "01".repeat(32),
            issuer: sets,
            bdk: None,
            pvk: None,
            admin_tokens: vec![],
            read_tokens: vec![],
        })
        .unwrap(),
    );
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    let (store, account, addr, stop) = rt.block_on(async {
        let store = lamina_host::store::Store::connect(&url).await.unwrap();
        let now = lamina_host::clock::SystemClock.now_ms_value();
        let account = lamina_host::ledger::create_account(
            &store,
            &lamina_host::ledger::NewAccount {
                name: "TLS test".into(),
                currency: "978".into(),
                credit_limit: 0,
                opening_balance: 100_000,
                daily_amount_limit: 0,
                daily_count_limit: 0,
            },
            now,
        )
        .await
        .unwrap();
        lamina_host::cards::issue_card(
            &store,
            &keys,
            &lamina_host::cards::NewCard {
                pan: TEST_PAN.into(),
                psn: TEST_PSN,
                expiry: "3012".into(),
                account_id: account.id.clone(),
                cvn: lamina_crypto::emv::Cvn::EmvCcd,
                key_ref: "default".into(),
                pvv: None,
                pin_try_limit: 3,
            },
            now,
        )
        .await
        .unwrap();
        let state = lamina_host::server::ServerState {
            issuer: lamina_host::issuer::Issuer::new(
                store.clone(),
                Arc::clone(&keys),
                Arc::new(lamina_host::clock::SystemClock),
            ),
            metrics: Arc::new(lamina_host::metrics::Metrics::default()),
            config: lamina_host::server::ServerConfig {
                tls: Some(lamina_link::tls::acceptor(pki.server_config(true).unwrap())),
                ..Default::default()
            },
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(lamina_host::server::serve(listener, state, async move {
            let _ = rx.await;
        }));
        (store, account, addr, tx)
    });
    let available = || {
        rt.block_on(async {
            let mut conn = store.pool().acquire().await.unwrap();
            lamina_host::ledger::get_account(&mut conn, &account.id)
                .await
                .unwrap()
                .unwrap()
                .available()
        })
    };
    let pay = |tls: &[&str]| {
        let mut args = vec![
            "terminal",
            "pay",
            "--config",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../../terminals/retail.toml"),
            "--card",
            "test:cda",
            "--amount",
            "12.34",
            "--pin",
            "1234",
            "--force-online",
            "--host",
            &addr,
            "--json",
        ];
        args.extend_from_slice(tls);
        Command::new(BIN).args(&args).output().unwrap()
    };

    // Without a client certificate the host refuses the link: no online
    // approval, the terminal says why it could not go online, and the command
    // fails unless the offline fallback was asked for.
    let out = pay(&["--tls-ca", s(ca)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(doc["result"]["outcome"], "approved_online", "{doc}");
    let why = doc["result"]["online_failure"].as_str().unwrap_or_default();
    assert!(!why.is_empty(), "the reason is in the JSON: {doc}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not be reached") && err.contains("--offline-fallback"),
        "{err}"
    );
    assert_eq!(available(), 100_000);
    let out = pay(&["--tls-ca", s(ca), "--offline-fallback"]);
    assert!(out.status.success(), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["result"]["online_failure"].is_string(), "{doc}");
    assert_eq!(available(), 100_000);

    let out = pay(&[
        "--tls-ca",
        s(ca),
        "--tls-cert",
        s(cert),
        "--tls-key",
        s(key),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("approved_online"), "{text}");
    assert_eq!(available(), 100_000 - 1_234);

    // --tls-ca without --host is a usage error.
    let out = Command::new(BIN)
        .args([
            "terminal", "pay", "--card", "test", "--amount", "1.00", "--tls-ca",
        ])
        .arg(ca)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let _ = stop.send(());
    let report = rt
        .block_on(lamina_host::ledger::check_ledger(&store))
        .unwrap();
    assert!(report.ok(), "{report:?}");
}
