//! Shared fixtures: a store per backend, keys, a fixed clock, the ledger check.

use lamina_host::ledger;
use lamina_host::store::Store;

/// A fresh SQLite file store in its own temp dir (kept alive by the returned guard).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("host.db").display());
    (Store::connect(&url).await.unwrap(), dir)
}

/// Asserts every ledger invariant.
pub async fn assert_ledger_ok(store: &Store) {
    let report = ledger::check_ledger(store).await.unwrap();
    assert!(report.ok(), "ledger check failed: {report:?}");
}

/// Runs `body` against SQLite and against a fresh PostgreSQL database.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let (store, _dir) = $crate::common::sqlite_store().await;
                $body(store.clone()).await;
                $crate::common::assert_ledger_ok(&store).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(url) = $crate::pg::fresh_database(stringify!($name)).await else {
                    return;
                };
                let store = lamina_host::store::Store::connect(&url).await.unwrap();
                $body(store.clone()).await;
                $crate::common::assert_ledger_ok(&store).await;
            }
        }
    };
}
