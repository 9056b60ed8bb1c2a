//! The ISO 8583 server against misbehaving peers, over real TCP (issue 16): connections
//! that pipeline and never read their answers, slowloris partial frames, idle
//! connections, too many connections from one address, undecodable MTIs.

use std::time::{Duration, Instant};

use lamina_host::server::ServerConfig;
use lamina_iso8583::{Message, Mti, Spec};
use lamina_link::client::HostClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{fixture, sqlite_store};
use crate::server::{Running, start, start_on};

/// Generous bound for "answered" / "closed": the tests assert behaviour, not speed.
const T: Duration = Duration::from_secs(10);

fn echo(stan: u32) -> Message {
    Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(7, "1125100000")
        .with(11, format!("{:06}", stan % 1_000_000))
        .with(41, "TERM0001")
        .with(70, "301")
}

fn framed(msg: &Message) -> Vec<u8> {
    let body = Spec::lamina().encode(msg).unwrap();
    let mut out = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend(body);
    out
}

async fn stop(srv: Running) {
    let Running { stop, handle, .. } = srv;
    stop.unwrap().send(()).unwrap();
    handle.await.unwrap().unwrap();
}

/// Reads until EOF or error; true if the server closed the connection within `T`.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

/// Eight connections (small receive buffer) pipeline 0800 echoes and never read the
/// answers. A fresh, well-behaved client must still be answered: the slow readers may
/// hold their own connection's share, not the server's global in-flight permits. The
/// write timeout is long here so that it is the fair share that is tested, not the
/// disconnection of the slow readers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_readers_do_not_starve_a_fresh_client() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store, 0).await;
    // Small socket buffers on the server side too (accepted sockets inherit them), so a
    // few thousand unread answers fill them.
    let listen = TcpSocket::new_v4().unwrap();
    listen.set_send_buffer_size(4096).unwrap();
    listen.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let srv = start_on(
        &f,
        ServerConfig {
            write_timeout: Duration::from_secs(120),
            ..ServerConfig::default()
        },
        listen.listen(1024).unwrap(),
    )
    .await;
    let addr: std::net::SocketAddr = srv.addr.parse().unwrap();
    let mut writers = vec![];
    for c in 0..8u32 {
        let sock = TcpSocket::new_v4().unwrap();
        sock.set_recv_buffer_size(2048).unwrap();
        let stream = sock.connect(addr).await.unwrap();
        writers.push(tokio::spawn(async move {
            let (_rd, mut wr) = stream.into_split();
            // Never read `_rd`; keep writing until the server stops reading us.
            let mut batch = Vec::new();
            for i in 0..20_000u32 {
                batch.extend(framed(&echo(c * 100_000 + i)));
                if batch.len() > 16 * 1024 {
                    if wr.write_all(&batch).await.is_err() {
                        return;
                    }
                    batch.clear();
                }
            }
            let _ = wr.write_all(&batch).await;
            // Hold the socket open, unread.
            std::future::pending::<()>().await;
        }));
    }
    // Let the slow readers fill their buffers and the server's queues.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let client = HostClient::connect(&srv.addr).await.unwrap();
    let started = Instant::now();
    let r = client.call(&echo(999_999), T).await;
    let took = started.elapsed();
    eprintln!("fresh client's 0800 with 8 slow readers: {r:?} after {took:?}");
    let r = r.expect("a fresh client is answered while slow readers stall");
    assert_eq!(r.get_str(39), Some("00"));
    for w in writers {
        w.abort();
    }
    stop(srv).await;
}

/// A peer that reads none of its answers is disconnected after the write timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_does_not_read_is_disconnected() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store, 0).await;
    let srv = start(
        &f,
        ServerConfig {
            write_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        },
    )
    .await;
    let addr: std::net::SocketAddr = srv.addr.parse().unwrap();
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(2048).unwrap();
    let stream = sock.connect(addr).await.unwrap();
    let (_rd, mut wr) = stream.into_split();
    let mut sent = 0u32;
    let mut closed = false;
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        let batch: Vec<u8> = (0..200).flat_map(|i| framed(&echo(sent + i))).collect();
        sent += 200;
        match tokio::time::timeout(Duration::from_secs(1), wr.write_all(&batch)).await {
            Ok(Ok(())) => {}
            // The server closed the connection (reset or broken pipe).
            Ok(Err(_)) => {
                closed = true;
                break;
            }
            // Blocked: the server stopped reading us; keep trying until it closes.
            Err(_) => {}
        }
    }
    assert!(closed, "a connection whose peer does not read is closed");
    // The server is still serving others.
    let client = HostClient::connect(&srv.addr).await.unwrap();
    assert_eq!(
        client.call(&echo(1), T).await.unwrap().get_str(39),
        Some("00")
    );
    stop(srv).await;
}

/// Slowloris: a frame that never completes is closed after the frame timeout; an idle
/// connection after the idle timeout; a keep-alive resets the idle timer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_frames_and_idle_connections_time_out() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store, 0).await;
    let srv = start(
        &f,
        ServerConfig {
            frame_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(600),
            ..ServerConfig::default()
        },
    )
    .await;
    // Slowloris: a length prefix and part of a message, one byte at a time.
    let mut slow = TcpStream::connect(&srv.addr).await.unwrap();
    let frame = framed(&echo(1));
    slow.write_all(&frame[..3]).await.unwrap();
    assert!(
        closed_by_server(&mut slow).await,
        "a partial frame is closed after the frame timeout"
    );

    // Idle: connects and sends nothing.
    let mut idle = TcpStream::connect(&srv.addr).await.unwrap();
    assert!(
        closed_by_server(&mut idle).await,
        "an idle connection is closed after the idle timeout"
    );

    // A well-behaved client that keeps sending is not closed: requests every 200 ms
    // over 1.2 s, twice the idle timeout.
    let client = HostClient::connect(&srv.addr).await.unwrap();
    for i in 0..6 {
        let r = client.call(&echo(10 + i), T).await.unwrap();
        assert_eq!(r.get_str(39), Some("00"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stop(srv).await;
}

/// The per-source-IP limit refuses the extra connection; the others keep working, and a
/// slot frees when one closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_source_connection_limit() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store, 0).await;
    let srv = start(
        &f,
        ServerConfig {
            max_connections_per_ip: 2,
            ..ServerConfig::default()
        },
    )
    .await;
    let a = HostClient::connect(&srv.addr).await.unwrap();
    let b = HostClient::connect(&srv.addr).await.unwrap();
    assert_eq!(a.call(&echo(1), T).await.unwrap().get_str(39), Some("00"));
    assert_eq!(b.call(&echo(2), T).await.unwrap().get_str(39), Some("00"));
    let mut third = TcpStream::connect(&srv.addr).await.unwrap();
    let _ = third.write_all(&framed(&echo(3))).await;
    assert!(
        closed_by_server(&mut third).await,
        "the third connection from one address is refused"
    );
    assert_eq!(a.call(&echo(4), T).await.unwrap().get_str(39), Some("00"));
    drop(b);
    // Once b is gone a new connection is accepted (retry while the server notices).
    let deadline = Instant::now() + T;
    loop {
        let c = HostClient::connect(&srv.addr).await.unwrap();
        if let Ok(r) = c.call(&echo(5), Duration::from_millis(500)).await {
            assert_eq!(r.get_str(39), Some("00"));
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot is reusable");
    }
    stop(srv).await;
}

/// A framed message whose MTI does not decode cannot be answered (a response needs the
/// MTI): the server closes the connection. Other connections are unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_mti_closes_the_connection() {
    let (store, _dir) = sqlite_store().await;
    let f = fixture(store, 0).await;
    let srv = start(&f, ServerConfig::default()).await;
    let mut s = TcpStream::connect(&srv.addr).await.unwrap();
    s.write_all(b"\x00\x04XXXX").await.unwrap();
    assert!(closed_by_server(&mut s).await);
    let client = HostClient::connect(&srv.addr).await.unwrap();
    assert_eq!(
        client.call(&echo(1), T).await.unwrap().get_str(39),
        Some("00")
    );
    stop(srv).await;
}
