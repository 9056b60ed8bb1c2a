//! The host's logs (issue 16): everything the ISO 8583 server and the issuer log at every
//! level, captured while it serves authorizations with a PIN, malformed messages and a
//! garbage frame, holds no full PAN and no PIN block; the masked PAN, the connection
//! events and their reasons are there. Its own test binary: it installs the process-wide
//! subscriber.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test binary

#[allow(dead_code)]
#[path = "host/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "host/pg.rs"]
mod pg;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lamina_crypto::dukpt::tdes::{Ksn, Originator, derive_ipek, encrypt_pin_block};
use lamina_crypto::pin::{Pan, Pin, encode_iso0};
use lamina_crypto::sym::SecretKey;
use lamina_host::metrics::Metrics;
use lamina_host::server::{ServerConfig, ServerState, serve};
use lamina_iso8583::{Message, Mti, Spec};
use lamina_link::client::HostClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PAN: &str = "5413330089600010";

fn request(f: &mut common::Fixture, stan: u32, pin: Option<(&[u8; 8], &[u8])>) -> Message {
    let icc = f
        .sim
        .arqc_field55(100, 978, [0x26, 0x11, 0x25], [1, 2, 3, 4])
        .unwrap();
    let mut m = Message::new(Mti::AUTHORIZATION_REQUEST)
        .with(2, PAN)
        .with(3, "000000")
        .with(4, "000000000100")
        .with(7, "1125100000")
        .with(11, format!("{stan:06}"))
        .with(14, "2812")
        .with(22, "051")
        .with(23, "001")
        .with(32, "12345")
        .with(37, format!("{stan:012}"))
        .with(41, "TERM0001")
        .with(42, "MERCHANT0000001")
        .with(49, "978")
        .with(55, icc);
    if let Some((block, ksn)) = pin {
        m.set(52, block.to_vec());
        m.set(53, ksn.to_vec());
    }
    m
}

#[test]
fn logs_hold_no_pan_or_pin_block() {
    let out = Captured::default();
    let sink = out.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut blocks = vec![];
    rt.block_on(async {
        let (store, _dir) = common::sqlite_store().await;
        let mut f = common::fixture(store, 10_000).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = ServerState {
            issuer: f.issuer.clone(),
            metrics: Arc::new(Metrics::default()),
            config: ServerConfig {
                frame_timeout: Duration::from_millis(200),
                ..ServerConfig::default()
            },
        };
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async move {
            let _ = rx.await;
        }));
        let client = HostClient::connect(&addr).await.unwrap();
        let t = Duration::from_secs(10);

        // Online PIN, right then wrong (DUKPT, ISO 9564 format 0).
        let bdk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let ksn0 = Ksn::from_hex("FFFF9876543210E00000").unwrap();
        let mut pinpad = Originator::new(&derive_ipek(&bdk, &ksn0).unwrap(), &ksn0).unwrap();
        for (stan, pin) in [(1u32, "1234"), (2, "9999")] {
            let (ksn, key) = pinpad.next_transaction().unwrap();
            let pan = Pan::new(PAN).unwrap();
            let block =
                encrypt_pin_block(&key, &encode_iso0(&Pin::new(pin).unwrap(), &pan)).unwrap();
            blocks.push(block);
            let m = request(&mut f, stan, Some((&block, ksn.as_bytes())));
            let r = client.call(&m, t).await.unwrap();
            assert!(matches!(r.get_str(39), Some("00" | "55")), "{r}");
        }
        // A malformed request carrying the PAN (a letter in DE 4): answered 30.
        let good = Spec::lamina().encode(&request(&mut f, 3, None)).unwrap();
        let text = String::from_utf8_lossy(&good).to_string();
        let pos = text.find("000000000100").unwrap();
        let mut bad = good.clone();
        bad[pos + 5] = b'X';
        let rx = client.expect("000003", "TERM0001");
        client.send_raw(bad).await.unwrap();
        let r = tokio::time::timeout(t, rx).await.unwrap().unwrap();
        assert_eq!(r.get_str(39), Some("30"));
        // A bad DE 7: answered 30.
        let mut m = request(&mut f, 4, None);
        m.set(7, "9999999999");
        assert_eq!(client.call(&m, t).await.unwrap().get_str(39), Some("30"));
        // A garbage frame starting with the PAN (its MTI does not decode): closed.
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut frame = vec![0, 16];
        frame.extend_from_slice(PAN.as_bytes());
        s.write_all(&frame).await.unwrap();
        let mut buf = [0u8; 64];
        let _ = tokio::time::timeout(t, s.read(&mut buf)).await;
        // A slowloris frame with the PAN in it: closed after the frame timeout.
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let mut frame = vec![0, 200];
        frame.extend_from_slice(PAN.as_bytes());
        s.write_all(&frame).await.unwrap();
        let _ = tokio::time::timeout(t, s.read(&mut buf)).await;
        drop(client);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    });
    let logs = String::from_utf8_lossy(&out.0.lock().unwrap()).to_string();
    if std::env::var_os("LAMINA_SHOW_LOGS").is_some() {
        eprintln!("{logs}");
    }
    assert!(!logs.contains(PAN), "full PAN in the logs:\n{logs}");
    for b in &blocks {
        for form in [
            hex::encode(b),
            hex::encode_upper(b),
            format!("{b:?}"),
            format!("{:?}", &b[..4]),
        ] {
            assert!(
                !logs.contains(&form),
                "PIN block {form} in the logs:\n{logs}"
            );
        }
    }
    // What must be there: the masked PAN of each answered request, connection events with
    // their reasons, the framing errors.
    assert!(logs.contains("541333******0010"), "{logs}");
    for needle in [
        "connection opened",
        "connection closed",
        "MTI does not decode",
        "partial frame timed out",
        "malformed message",
    ] {
        assert!(logs.contains(needle), "no {needle:?} in the logs:\n{logs}");
    }
}
