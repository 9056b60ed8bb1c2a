//! Storage: one interface, two backends (SQLite file with WAL, PostgreSQL by URL) over
//! sqlx's `Any` driver, so every query is the same SQL text on both. The schema is
//! `migrations/*.sql`, embedded and applied by sqlx's migrator on connect.
//!
//! Write transactions go through [`Store::begin_write`]:
//! * SQLite: an in-process writer lock (fair FIFO instead of busy-polling) plus
//!   `BEGIN IMMEDIATE`, which takes the database write lock up front so a second
//!   process on the same file waits instead of failing a lock upgrade;
//! * PostgreSQL: a plain transaction in which account and card rows are read with
//!   `SELECT ... FOR UPDATE` ([`Store::for_update`]), so two host processes on one
//!   database serialize on the rows they change.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{Any, AnyPool, Executor, SqlSafeStr, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::error::{HostError, Result};

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (embedded, one file, WAL journal).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// SQLite durability: `PRAGMA synchronous` (SQLite documentation, "PRAGMA synchronous").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// FULL: every commit is fsynced before it returns (durable).
    #[default]
    Full,
    /// NORMAL: in WAL mode commits survive a process crash but the last ones may be
    /// lost on power failure.
    Normal,
}

/// Options for [`Store::connect_with`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Maximum pool connections.
    pub max_connections: u32,
    /// SQLite synchronous mode.
    pub sqlite_sync: SqliteSync,
    /// How long to wait for a pooled connection.
    pub acquire_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            sqlite_sync: SqliteSync::Full,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// Cache of committed system account ids by (kind, external ref, currency).
type SystemIds = HashMap<(String, String, String), String>;

/// The database: a connection pool and its backend.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The SQLite file (read-write databases only), for the writer thread's connection.
    sqlite_file: Option<String>,
    sqlite_sync: SqliteSync,
    write_lock: Arc<Mutex<()>>,
    system_ids: Arc<std::sync::Mutex<SystemIds>>,
}

/// A write transaction (see the module documentation for the locking per backend).
#[derive(Debug)]
pub struct WriteTx {
    /// The transaction; use `&mut *tx.tx` as the executor.
    pub tx: Transaction<'static, Any>,
    _guard: Option<OwnedMutexGuard<()>>,
}

impl WriteTx {
    /// Commits.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// The embedded migrations, in order.
pub fn migrator() -> Migrator {
    Migrator::with_migrations(vec![
        Migration::new(
            1,
            Cow::Borrowed("init"),
            MigrationType::Simple,
            include_str!("../migrations/0001_init.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            2,
            Cow::Borrowed("early reversals"),
            MigrationType::Simple,
            include_str!("../migrations/0002_early_reversals.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            3,
            Cow::Borrowed("usage covering index"),
            MigrationType::Simple,
            include_str!("../migrations/0003_usage_covering_index.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            4,
            Cow::Borrowed("refunds pin offsets advice atcs"),
            MigrationType::Simple,
            include_str!("../migrations/0004_refunds_pin_offsets_advice_atcs.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            5,
            Cow::Borrowed("card usage counters"),
            MigrationType::Simple,
            include_str!("../migrations/0005_card_usage_counters.sql").into_sql_str(),
            false,
        ),
        Migration::new(
            6,
            Cow::Borrowed("postings page index"),
            MigrationType::Simple,
            include_str!("../migrations/0006_postings_page_index.sql").into_sql_str(),
            false,
        ),
    ])
}

/// Normalizes a database URL: `sqlite://path` gets `mode=rwc` (create if missing).
fn normalize_url(url: &str) -> Result<(Backend, String)> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let rest = rest.trim_start_matches("//");
        if rest.is_empty() || rest.starts_with(":memory:") || rest.contains("mode=memory") {
            // An in-memory database is private to each pooled connection.
            return Err(HostError::Invalid {
                what: "database URL",
                reason: "in-memory SQLite is not supported (each pooled connection would \
                         see its own database); use a file"
                    .into(),
            });
        }
        let sep = if rest.contains('?') { '&' } else { '?' };
        let with_mode = if rest.contains("mode=") {
            rest.to_owned()
        } else {
            format!("{rest}{sep}mode=rwc")
        };
        Ok((Backend::Sqlite, format!("sqlite://{with_mode}")))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok((Backend::Postgres, url.to_owned()))
    } else {
        Err(HostError::UnsupportedUrl)
    }
}

/// The file of a normalized `sqlite://PATH?mode=...` URL.
fn sqlite_path_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://")?;
    Some(rest.split_once('?').map_or(rest, |(p, _)| p).to_owned())
}

/// The file of a normalized `sqlite://PATH?mode=...` URL, unless it is opened read-only.
fn sqlite_file_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sqlite://")?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let read_only = query.split('&').any(|kv| kv == "mode=ro");
    (!path.is_empty() && !read_only).then(|| path.to_owned())
}

impl Store {
    /// Connects with default options and applies the migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects to a database that must exist already (commands that only read,
    /// such as the ledger check and settlement): a SQLite file that is not there
    /// is an error naming it, never a new empty database.
    pub async fn connect_existing(url: &str) -> Result<Store> {
        let (backend, normalized) = normalize_url(url)?;
        if backend == Backend::Sqlite
            && let Some(path) = sqlite_path_of(&normalized)
            && !std::path::Path::new(&path).exists()
        {
            return Err(HostError::Invalid {
                what: "database",
                reason: format!(
                    "{path} does not exist (a host creates it: lamina host serve, add-account or issue-card)"
                ),
            });
        }
        Self::connect(url).await
    }

    /// Connects (`sqlite://PATH` or `postgres://...`) and applies the migrations.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = normalize_url(url)?;
        let connect = AnyConnectOptions::from_str(&url)?;
        let sync = options.sqlite_sync;
        let pool = AnyPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        match sync {
                            SqliteSync::Full => conn.execute("PRAGMA synchronous = FULL").await?,
                            SqliteSync::Normal => {
                                conn.execute("PRAGMA synchronous = NORMAL").await?
                            }
                        };
                    }
                    Ok(())
                })
            })
            .connect_with(connect)
            .await?;
        if backend == Backend::Sqlite {
            // The journal mode is persistent in the file: set once.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        migrator().run(&pool).await?;
        let sqlite_file = match backend {
            Backend::Sqlite => sqlite_file_of(&url),
            Backend::Postgres => None,
        };
        Ok(Store {
            pool,
            backend,
            sqlite_file,
            sqlite_sync: sync,
            write_lock: Arc::new(Mutex::new(())),
            system_ids: Arc::default(),
        })
    }

    /// The pool, for reads.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// `" FOR UPDATE"` on PostgreSQL, empty on SQLite (whose `BEGIN IMMEDIATE` already
    /// holds the database write lock).
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }

    /// Begins a write transaction.
    pub async fn begin_write(&self) -> Result<WriteTx> {
        match self.backend {
            Backend::Sqlite => {
                let guard = Arc::clone(&self.write_lock).lock_owned().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    _guard: Some(guard),
                })
            }
            Backend::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                _guard: None,
            }),
        }
    }

    /// The SQLite database file, when the database is a read-write SQLite file.
    pub(crate) fn sqlite_file(&self) -> Option<&str> {
        self.sqlite_file.as_deref()
    }

    /// The SQLite synchronous mode.
    pub(crate) fn sqlite_sync(&self) -> SqliteSync {
        self.sqlite_sync
    }

    /// The in-process writer lock (SQLite): every writer in this process takes it before
    /// `BEGIN IMMEDIATE`, so they queue in order instead of polling SQLite's file lock.
    pub(crate) fn write_lock(&self) -> Arc<Mutex<()>> {
        Arc::clone(&self.write_lock)
    }

    /// Forgets cached system account ids (after a failed group commit: an id cached in
    /// that group may have been rolled back).
    pub(crate) fn clear_system_cache(&self) {
        if let Ok(mut m) = self.system_ids.lock() {
            m.clear();
        }
    }

    /// A cached, committed system account id (see `ledger::system_account_in`).
    pub(crate) fn cached_system(&self, key: &(String, String, String)) -> Option<String> {
        self.system_ids
            .lock()
            .ok()
            .and_then(|m| m.get(key).cloned())
    }

    /// Remembers a committed system account id.
    pub(crate) fn cache_system(&self, key: (String, String, String), id: String) {
        if let Ok(mut m) = self.system_ids.lock() {
            m.insert(key, id);
        }
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A new identifier `prefix_` ‖ 16 hex digits of a clock sequence ‖ 12 hex digits (48
/// random bits).
///
/// The sequence is the time in milliseconds since 1970 shifted left by 16 bits, made
/// strictly increasing within the process (a counter in the low bits when several ids
/// share a millisecond), so ids sort in creation order (scripts queued in one millisecond
/// leave in the order they were queued) and rows inserted together land together at
/// the right edge of each primary-key B-tree (a random key dirties a random page of every
/// index per insert, most of a group commit's WAL writes). The random part keeps ids of
/// different processes apart and unguessable.
pub fn new_id(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX >> 16)
        });
    let floor = (ms & 0xFFFF_FFFF_FFFF) << 16;
    let prev = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(floor.max(last.wrapping_add(1)))
        })
        .unwrap_or(floor);
    let seq = floor.max(prev.wrapping_add(1));
    let mut b = [0u8; 6];
    rand::fill(&mut b);
    format!("{prefix}_{seq:016x}{}", hex::encode(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            normalize_url("sqlite://x.db").unwrap(),
            (Backend::Sqlite, "sqlite://x.db?mode=rwc".into())
        );
        assert_eq!(
            normalize_url("sqlite:///tmp/x.db?mode=ro").unwrap().1,
            "sqlite:///tmp/x.db?mode=ro"
        );
        assert!(normalize_url("sqlite::memory:").is_err());
        assert!(normalize_url("mysql://x").is_err());
        assert_eq!(
            normalize_url("postgres://u@h/db").unwrap().0,
            Backend::Postgres
        );
        assert_ne!(new_id("t"), new_id("t"));
        let (a, b) = (new_id("t"), new_id("t"));
        assert_eq!(a.len(), 2 + 28);
        // Strictly increasing within the process.
        assert!(a[2..18] < b[2..18]);
        let many: Vec<String> = (0..1000).map(|_| new_id("x")).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(
            sqlite_file_of("sqlite:///tmp/x.db?mode=rwc").as_deref(),
            Some("/tmp/x.db")
        );
        assert_eq!(sqlite_file_of("sqlite:///tmp/x.db?mode=ro"), None);
    }
}
