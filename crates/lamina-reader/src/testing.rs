//! Test support: run a test body against a **real** `pcscd` with vsmartcard's
//! virtual reader, isolated from any other daemon and any other test.
//!
//! [`with_private_pcscd`] re-executes the current test binary (`--exact NAME`)
//! under `unshare --mount --pid --fork --kill-child` (root), or with
//! `--user --map-root-user` added (unprivileged user namespaces). Inside, a
//! private tmpfs on `/run/pcscd` holds the daemon's socket and PID file, and the
//! daemon reads a private reader configuration whose vpcd port is a free
//! loopback port. When the test body ends, the pid namespace ends and its
//! `pcscd` dies with it. Tests in one binary can run in parallel.
//!
//! Without namespaces (some containers), the body runs against the system
//! `pcscd` (the one `scripts/pcsc-setup.sh` starts), one test at a time, when its
//! first virtual reader is free. Without either, the test fails and names what
//! is missing (`scripts/test.sh` installs and starts it all).
//!
//! ```no_run
//! # use lamina_reader::testing::{with_private_pcscd, READER};
//! #[test]
//! fn reads_through_pcscd() {
//!     // The name must be the test's full libtest name (module path included).
//!     with_private_pcscd("reads_through_pcscd", |port| {
//!         // serve a card on 127.0.0.1:{port}, then open READER with PC/SC …
//!     });
//! }
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::pcsc_channel::list_readers;

/// Environment variable set inside the private daemon.
pub const INNER_VAR: &str = "LAMINA_PCSC_INNER";
/// Environment variable carrying the private vpcd port.
pub const PORT_VAR: &str = "LAMINA_VPCD_PORT";
/// The first slot of the (private or system) vpcd reader.
pub const READER: &str = "Virtual PCD 00 00";

const READY: &str = "LAMINA-PCSCD-READY";

const SCRIPT: &str = r#"
set -e
exe="$1"; name="$2"; conf="$3"; log="$4"
mkdir -p /run/pcscd
mount -t tmpfs -o mode=0755 tmpfs /run/pcscd
pcscd --foreground --debug --apdu --config "$conf" >"$log" 2>&1 &
i=0
until [ -S /run/pcscd/pcscd.comm ]; do
  i=$((i+1)); [ "$i" -gt 200 ] && { echo "pcscd did not create its socket" >&2; exit 97; }
  sleep 0.05
done
echo LAMINA-PCSCD-READY
"$exe" --exact "$name" --nocapture --test-threads=1
"#;

/// A program on the `PATH` (or in `/usr/sbin`, `/sbin`).
pub fn which(cmd: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(cmd))
        .find(|p| p.is_file())
}

/// The vpcd driver library, from the system reader configuration.
fn vpcd_driver() -> Option<String> {
    let text = std::fs::read_to_string("/etc/reader.conf.d/vpcd").ok();
    let from_conf = text.and_then(|t| {
        t.lines().find_map(|l| {
            l.trim()
                .strip_prefix("LIBPATH")
                .map(|p| p.trim().to_owned())
        })
    });
    from_conf
        .into_iter()
        .chain(["/usr/lib/pcsc/drivers/serial/libifdvpcd.so".to_owned()])
        .find(|p| Path::new(p).is_file())
}

/// Two consecutive free loopback ports (vpcd opens `port` and `port + 1`).
fn free_port_pair() -> Option<u16> {
    for _ in 0..50 {
        let l = TcpListener::bind("127.0.0.1:0").ok()?;
        let p = l.local_addr().ok()?.port();
        if p < 65000 && TcpListener::bind(("127.0.0.1", p + 1)).is_ok() {
            return Some(p);
        }
    }
    None
}

/// A fresh private directory under the system temporary directory.
fn private_dir() -> std::io::Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "lamina-pcscd-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(d.join("reader.conf.d"))?;
    Ok(d)
}

/// Runs `body(vpcd_port)` inside a private `pcscd` (see the module docs), or
/// against the system daemon, or fails saying why it cannot run. `test` is
/// the test's libtest name, used to re-execute just this test.
///
/// # Panics
///
/// When the test body fails inside the private daemon (the daemon's log tail
/// is printed), or when neither a private nor the system daemon can run.
// A test that cannot run fails (names what is missing) rather than passing.
#[allow(clippy::panic)]
pub fn with_private_pcscd(test: &str, body: impl FnOnce(u16)) {
    if std::env::var_os(INNER_VAR).is_some() {
        match std::env::var(PORT_VAR).ok().and_then(|p| p.parse().ok()) {
            Some(port) => body(port),
            None => panic!("{test}: {PORT_VAR} not set inside the private daemon"),
        }
        return;
    }
    let reasons = match run_isolated(test) {
        Ok(()) => return,
        Err(r) => r,
    };
    // No namespaces (e.g. a container without CAP_SYS_ADMIN): the system
    // daemon, one test at a time (cargo runs one test binary at a time).
    static SYSTEM_DAEMON: Mutex<()> = Mutex::new(());
    let _serial = SYSTEM_DAEMON.lock().unwrap_or_else(|e| e.into_inner());
    match system_daemon() {
        Ok(port) => {
            println!("{test}: no private pcscd ({reasons}); using the system pcscd");
            body(port);
            let _ = wait_for_removal(READER, Duration::from_secs(5));
        }
        Err(why) => panic!(
            "{test} cannot run: no private pcscd ({reasons}) and {why}; \
             scripts/test.sh installs pcscd, vsmartcard-vpcd and pcsc-tools and starts pcscd"
        ),
    }
}

/// Runs the test in a private daemon: `Ok` when it ran (and passed), `Err`
/// with the reasons it could not start.
fn run_isolated(test: &str) -> Result<(), String> {
    let missing: Vec<&str> = ["unshare", "pcscd"]
        .into_iter()
        .filter(|t| which(t).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!("missing {}", missing.join(", ")));
    }
    let driver = vpcd_driver().ok_or("vsmartcard-vpcd driver not installed")?;
    let port = free_port_pair().ok_or("no free loopback port")?;
    let dir = private_dir().map_err(|e| format!("temporary directory: {e}"))?;
    let conf = dir.join("reader.conf.d");
    std::fs::write(
        conf.join("vpcd"),
        format!(
            "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x{port:X}\nLIBPATH {driver}\nCHANNELID 0x{port:X}\n"
        ),
    )
    .map_err(|e| format!("reader configuration: {e}"))?;
    let log = dir.join("pcscd.log");
    let exe = std::env::current_exe().map_err(|e| format!("test binary: {e}"))?;
    let as_root: &[&str] = &["--mount", "--pid", "--fork", "--kill-child"];
    let as_user: &[&str] = &[
        "--user",
        "--map-root-user",
        "--mount",
        "--pid",
        "--fork",
        "--kill-child",
    ];
    let mut reasons = Vec::new();
    for ns in [as_root, as_user] {
        let out = Command::new("unshare")
            .args(ns)
            .args(["sh", "-c", SCRIPT, "sh"])
            .arg(&exe)
            .arg(test)
            .arg(&conf)
            .arg(&log)
            .env(INNER_VAR, "1")
            .env(PORT_VAR, port.to_string())
            .output();
        let out = match out {
            Ok(o) => o,
            Err(e) => {
                reasons.push(format!("unshare: {e}"));
                continue;
            }
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stdout.contains(READY) {
            reasons.push(format!("unshare {}: {}", ns.join(" "), stderr.trim()));
            continue;
        }
        println!("{stdout}");
        eprintln!("{stderr}");
        let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = daemon_log.lines().rev().take(40).collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{test} failed inside the private pcscd; pcscd log tail:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Err(reasons.join(" | "))
}

/// The system pcscd with vpcd: its port, if the daemon answers and the first
/// virtual reader is empty.
fn system_daemon() -> Result<u16, String> {
    let readers = list_readers().map_err(|e| format!("no usable system pcscd: {e}"))?;
    let ours = readers
        .iter()
        .find(|r| r.name == READER)
        .ok_or_else(|| "the system pcscd has no vpcd reader".to_owned())?;
    if ours.card_present {
        return Err(format!("{READER} of the system pcscd is in use"));
    }
    let conf = std::fs::read_to_string("/etc/reader.conf.d/vpcd").unwrap_or_default();
    Ok(conf
        .lines()
        .find_map(|l| l.trim().strip_prefix("CHANNELID"))
        .and_then(|v| u16::from_str_radix(v.trim().trim_start_matches("0x"), 16).ok())
        .unwrap_or(crate::vpcd::DEFAULT_PORT))
}

/// Waits until pcscd reports `reader` empty (it notices a removal at its next
/// presence poll, ~400 ms). `false` on timeout.
pub fn wait_for_removal(reader: &str, timeout: Duration) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        let empty = list_readers()
            .map(|rs| rs.iter().any(|r| r.name == reader && !r.card_present))
            .unwrap_or(false);
        if empty {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}
