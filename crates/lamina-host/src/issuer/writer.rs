//! The SQLite authorization writer: one OS thread with its own `rusqlite` connection to
//! the database file, committing authorizations (0100) and financial requests (0200) in
//! groups.
//!
//! Why a thread of its own: through sqlx every SQL statement is handed to the driver's
//! worker thread and answered through a channel (two thread wake-ups per statement);
//! here the whole group runs on one thread with cached prepared statements, and the only
//! hand-offs left are one per request in (the queue) and one per request out (its
//! answer). See `docs/performance.md`.
//!
//! A group: take the process's writer lock (the same one sqlx writers take), `BEGIN
//! IMMEDIATE`, then for each request a `SAVEPOINT` — the request runs
//! ([`Issuer::auth_or_financial`], the same code as on PostgreSQL, through
//! [`LiteConn`]) and is released, or rolled back to its savepoint alone if it failed —
//! then one `COMMIT` (one fsync with `synchronous=FULL`), and only then are the
//! requests answered. If the commit itself fails, the whole group is rolled back and
//! every request gets [`HostError::GroupCommit`], which [`Issuer::authorize`] retries.

use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

use super::{Issuer, Job, MAX_BATCH};
use crate::error::{HostError, Result};
use crate::hot::{LiteConn, run_now};
use crate::issuer::types::AuthResponse;
use crate::store::SqliteSync;

/// Opens the writer's connection with the pool's settings (WAL is already set on the
/// file by [`crate::store::Store::connect_with`]).
fn open(path: &str, sync: SqliteSync) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        },
    )?;
    // A page cache large enough for the hot indexes (the default is 2 MB), and no
    // checkpoints on this thread: the checkpointer thread copies the WAL back into the
    // database file beside it (see `checkpointer`).
    conn.pragma_update(None, "cache_size", -65_536)?;
    // Savepoint and statement journals in memory: they only ever serve a rollback inside
    // the open transaction, and on disk they cost a write() per page first touched.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // When the WAL starts over, a file grown past 64 MiB is cut back to that size.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Checkpoint passes run before the one under the writer lock.
const UNLOCKED_PASSES: usize = 3;

/// Keeps the WAL file small beside a writer that never pauses, until `stop`
/// disconnects (the writer thread ended). Every [`CHECKPOINT_EVERY`]:
///
/// 1. `wal_checkpoint(PASSIVE)` without any lock, [`UNLOCKED_PASSES`] times: each pass
///    copies the committed frames into the database file while the writer goes on
///    appending, and each leaves fewer frames behind than the one before;
/// 2. once more while holding the process's writer lock (between two groups): only the
///    frames appended during the last pass are left, so the pause is short, and afterwards
///    the whole WAL is in the database file, so the writer's next transaction starts
///    the WAL over from its beginning (SQLite restarts a fully checkpointed WAL).
///
/// Without step 2 a busy writer always has frames newer than the checkpoint and the WAL
/// grows without bound (gigabytes after a minute at 5,000 authorizations per second).
fn checkpointer(
    conn: Connection,
    write_lock: std::sync::Arc<tokio::sync::Mutex<()>>,
    stop: std::sync::mpsc::Receiver<()>,
) {
    let checkpoint = || conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY)
    {
        let r = (0..UNLOCKED_PASSES)
            .try_for_each(|_| checkpoint())
            .and_then(|()| {
                let _guard = write_lock.blocking_lock();
                checkpoint()
            });
        if let Err(e) = r {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
    // A last full checkpoint so the database file is complete on a clean stop.
    let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
}

/// Starts the writer thread for `core`'s SQLite file; requests are sent on the returned
/// queue. The thread ends when every sender is dropped.
pub(super) fn spawn(core: Issuer) -> Result<mpsc::Sender<Job>> {
    let path = core
        .store
        .sqlite_file()
        .ok_or_else(|| HostError::Config("the SQLite writer needs a database file".into()))?
        .to_owned();
    let conn = open(&path, core.store.sqlite_sync())?;
    let ckpt = open(&path, core.store.sqlite_sync())?;
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("lamina-sqlite-ckpt".into())
        .spawn({
            let lock = core.store.write_lock();
            move || checkpointer(ckpt, lock, stop_rx)
        })
        .map_err(|e| HostError::Config(format!("checkpoint thread: {e}")))?;
    let (tx, rx) = mpsc::channel(MAX_BATCH * 16);
    std::thread::Builder::new()
        .name("lamina-sqlite-writer".into())
        .spawn(move || {
            run(&core, &conn, rx);
            drop(stop_tx);
        })
        .map_err(|e| HostError::Config(format!("writer thread: {e}")))?;
    Ok(tx)
}

fn run(core: &Issuer, conn: &Connection, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // A requester that gave up (per-request timeout, answered 91) is not applied
        // behind its back.
        jobs.retain(|j| !j.done.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let results = group(core, conn, &jobs);
        for (j, r) in jobs.into_iter().zip(results) {
            let _ = j.done.send(r);
        }
    }
}

/// Runs a cached statement without parameters.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// One group in one transaction; one result per job, in order.
fn group(core: &Issuer, conn: &Connection, jobs: &[Job]) -> Vec<Result<AuthResponse>> {
    let lock = core.store.write_lock();
    let _guard = lock.blocking_lock();
    match run_group(core, conn, jobs) {
        Ok(results) => results,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            // A system account created and cached in this group no longer exists.
            core.store.clear_system_cache();
            tracing::warn!(error = %e, requests = jobs.len(), "SQLite group commit failed");
            let msg = e.to_string();
            jobs.iter()
                .map(|_| Err(HostError::GroupCommit(msg.clone())))
                .collect()
        }
    }
}

fn run_group(
    core: &Issuer,
    conn: &Connection,
    jobs: &[Job],
) -> rusqlite::Result<Vec<Result<AuthResponse>>> {
    exec(conn, "BEGIN IMMEDIATE")?;
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        exec(conn, "SAVEPOINT req")?;
        let mut lite = LiteConn::new(conn);
        let r = run_now(core.auth_or_financial(&mut lite, &j.req, &j.fp));
        if r.is_ok() {
            exec(conn, "RELEASE req")?;
        } else {
            exec(conn, "ROLLBACK TO req")?;
            exec(conn, "RELEASE req")?;
        }
        out.push(r);
    }
    exec(conn, "COMMIT")?;
    Ok(out)
}
