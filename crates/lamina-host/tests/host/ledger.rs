use lamina_host::ledger::{self, AccountKind, NewAccount};
use lamina_host::store::Store;

use crate::both_backends;

fn new_account(opening: i64) -> NewAccount {
    NewAccount {
        name: "Alice".into(),
        currency: "978".into(),
        credit_limit: 0,
        opening_balance: opening,
        daily_amount_limit: 0,
        daily_count_limit: 0,
    }
}

async fn accounts_and_entries(store: Store) {
    let acc = ledger::create_account(&store, &new_account(10_000), 1)
        .await
        .unwrap();
    assert_eq!(acc.ledger_balance, 10_000);
    assert_eq!(acc.available(), 10_000);
    let mut w = store.begin_write().await.unwrap();
    let settle = ledger::system_account(&mut w.tx, AccountKind::Settlement, "issuer", "978", 2)
        .await
        .unwrap();
    let again = ledger::system_account(&mut w.tx, AccountKind::Settlement, "issuer", "978", 2)
        .await
        .unwrap();
    assert_eq!(settle, again);
    // Unbalanced entries and wrong currencies are refused.
    assert!(
        ledger::post_entry(
            &mut w.tx,
            &[(&acc.id, -5), (&settle, 4)],
            "978",
            None,
            "x",
            2
        )
        .await
        .is_err()
    );
    ledger::post_entry(
        &mut w.tx,
        &[(&acc.id, -2_500), (&settle, 2_500)],
        "978",
        None,
        "purchase",
        2,
    )
    .await
    .unwrap();
    w.commit().await.unwrap();
    let mut w = store.begin_write().await.unwrap();
    assert!(
        ledger::post_entry(
            &mut w.tx,
            &[(&acc.id, -5), (&settle, 5)],
            "840",
            None,
            "x",
            2
        )
        .await
        .is_err()
    );
    drop(w);
    let mut conn = store.pool().acquire().await.unwrap();
    let acc2 = ledger::get_account(&mut conn, &acc.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(acc2.ledger_balance, 7_500);
    let report = ledger::check_ledger(&store).await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.postings, 4);
    let list = ledger::list_accounts(&store, Some(AccountKind::Cardholder))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(ledger::postings(&store, &acc.id).await.unwrap().len(), 2);
}
both_backends!(accounts_and_entries_test, super::accounts_and_entries);

async fn check_detects_tampering(store: Store) {
    let acc = ledger::create_account(&store, &new_account(500), 1)
        .await
        .unwrap();
    sqlx::query("UPDATE accounts SET ledger_balance = ledger_balance + 1 WHERE id = $1")
        .bind(&acc.id)
        .execute(store.pool())
        .await
        .unwrap();
    let report = ledger::check_ledger(&store).await.unwrap();
    assert!(!report.ok());
    assert_eq!(report.balance_mismatches, vec![(acc.id.clone(), 501, 500)]);
    sqlx::query("UPDATE postings SET amount = amount + 1 WHERE account_id = $1")
        .bind(&acc.id)
        .execute(store.pool())
        .await
        .unwrap();
    let report = ledger::check_ledger(&store).await.unwrap();
    assert_eq!(report.unbalanced_currencies, vec![("978".to_string(), 1)]);
    assert_eq!(report.unbalanced_entries.len(), 1);
    assert!(report.balance_mismatches.is_empty());
    // Repair so the harness's final check passes.
    sqlx::query("UPDATE postings SET amount = amount - 1 WHERE account_id = $1")
        .bind(&acc.id)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE accounts SET ledger_balance = ledger_balance - 1 WHERE id = $1")
        .bind(&acc.id)
        .execute(store.pool())
        .await
        .unwrap();
}
both_backends!(check_detects_tampering_test, super::check_detects_tampering);
