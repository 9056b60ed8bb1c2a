//! A private, throwaway PostgreSQL cluster for the tests: `initdb` + `pg_ctl` on a free
//! loopback port, one cluster per test binary, one fresh database per test. When the
//! binaries are missing the PostgreSQL variants fail and name what to install.
//!
//! As root, PostgreSQL refuses to run, so the cluster runs as the `postgres` (or `nobody`)
//! user via `runuser`, in a temp directory owned by that user. A watchdog shell stops the
//! cluster and removes its directory when the test process exits.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

fn find_bin(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push("/usr/local/bin".into());
    if let Ok(rd) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = rd.flatten().map(|e| e.path().join("bin")).collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

struct Cluster {
    port: u16,
}

fn run_as(user: Option<&str>, prog: &Path, args: &[&str]) -> bool {
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.arg("-u").arg(u).arg("--").arg(prog);
            c
        }
        None => Command::new(prog),
    };
    cmd.args(args).stdout(Stdio::null()).stderr(Stdio::null());
    cmd.status().map(|s| s.success()).unwrap_or(false)
}

fn start() -> Result<Cluster, String> {
    let initdb = find_bin("initdb").ok_or("initdb not found")?;
    let pg_ctl = find_bin("pg_ctl").ok_or("pg_ctl not found")?;
    let user = if is_root() {
        let u = ["postgres", "nobody"]
            .into_iter()
            .find(|u| {
                Command::new("id")
                    .arg(u)
                    .output()
                    .map(|o| o.status.success())
                    .unwrap_or(false)
            })
            .ok_or("running as root and no postgres/nobody user")?;
        Some(u)
    } else {
        None
    };
    let dir = std::env::temp_dir().join(format!(
        "lamina-pg-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if let Some(u) = user {
        Command::new("chown")
            .arg(u)
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
    }
    let data = dir.join("data");
    let data_s = data.to_string_lossy().to_string();
    if !run_as(
        user,
        &initdb,
        &[
            "-D",
            &data_s,
            "-U",
            "lamina",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    ) {
        return Err("initdb failed".into());
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())?;
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
        dir.to_string_lossy()
    );
    let log = dir.join("log").to_string_lossy().to_string();
    if !run_as(
        user,
        &pg_ctl,
        &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"],
    ) {
        return Err(format!("pg_ctl start failed (see {log})"));
    }
    // Watchdog: stop the cluster and remove it once this test process is gone.
    let me = std::process::id();
    let stop = match user {
        Some(u) => format!(
            "runuser -u {u} -- {} -D {data_s} -m immediate stop",
            pg_ctl.display()
        ),
        None => format!("{} -D {data_s} -m immediate stop", pg_ctl.display()),
    };
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 0.5; done; {stop} >/dev/null 2>&1; rm -rf {}",
        dir.display()
    );
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    Ok(Cluster { port })
}

fn rand_suffix() -> String {
    let mut b = [0u8; 4];
    rand::fill(&mut b);
    hex::encode(b)
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static DB_SEQ: AtomicU32 = AtomicU32::new(0);

/// The URL of a fresh, empty database in the shared test cluster.
///
/// # Panics
///
/// When PostgreSQL is not available here (the message names what to install).
pub async fn fresh_database(test: &str) -> String {
    let cluster = CLUSTER.get_or_init(start);
    let port = match cluster {
        Ok(c) => c.port,
        Err(why) => panic!(
            "{test} cannot run on PostgreSQL: {why} (apt install postgresql; scripts/test.sh \
             installs it)"
        ),
    };
    let name = format!(
        "t{}_{}",
        DB_SEQ.fetch_add(1, Ordering::SeqCst),
        rand_suffix()
    );
    sqlx::any::install_default_drivers();
    let admin = format!("postgres://lamina@127.0.0.1:{port}/postgres");
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin)
        .await
        .expect("connect to test cluster");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    format!("postgres://lamina@127.0.0.1:{port}/{name}")
}
