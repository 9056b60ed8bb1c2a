//! Double-entry ledger: accounts, postings, authorization holds, balances and the
//! invariant check.
//!
//! Every money movement is an *entry*: a set of postings (account, signed amount in minor
//! units, ISO 4217 currency) summing to zero. An account's `ledger_balance` is the sum of
//! its postings and is updated in the same transaction as the postings; `held` is the sum
//! of its active authorization holds. For a cardholder account
//! `available = ledger_balance + credit_limit - held`.
//!
//! Sign convention: a positive posting increases the account's balance (money the
//! account holder has, or is owed); a purchase debits the cardholder (−) and credits the
//! issuer settlement account (+); settlement moves that to the merchant (net) and the fee
//! account.

use serde::Serialize;
use sqlx::{Any, AnyConnection, Row};

use crate::batch::{Val, WriteBuf};
use crate::error::{HostError, Result, invalid};
use crate::hot::{HotConn, RowGet, SqlxConn};
use crate::page::{Page, PageRequest};
use crate::store::{Backend, Store, new_id};

/// Kinds of ledger accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    /// A cardholder's account (debit or credit).
    Cardholder,
    /// A merchant's account (credited at settlement).
    Merchant,
    /// The issuer's settlement account (captured, not yet settled funds).
    Settlement,
    /// Fee income.
    Fees,
    /// Source of opening balances (the issuer's equity/funding account).
    Funding,
}

impl AccountKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Cardholder => "cardholder",
            AccountKind::Merchant => "merchant",
            AccountKind::Settlement => "settlement",
            AccountKind::Fees => "fees",
            AccountKind::Funding => "funding",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cardholder" => AccountKind::Cardholder,
            "merchant" => AccountKind::Merchant,
            "settlement" => AccountKind::Settlement,
            "fees" => AccountKind::Fees,
            "funding" => AccountKind::Funding,
            _ => return None,
        })
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Identifier.
    pub id: String,
    /// Kind.
    pub kind: AccountKind,
    /// Display name.
    pub name: String,
    /// Merchant id for merchant accounts.
    pub external_ref: Option<String>,
    /// ISO 4217 numeric currency.
    pub currency: String,
    /// Sum of postings.
    pub ledger_balance: i64,
    /// Sum of active holds.
    pub held: i64,
    /// Credit limit (0 for debit accounts).
    pub credit_limit: i64,
    /// `active`, `blocked` or `closed`.
    pub status: String,
    /// Per-card daily approved amount limit (0 = none).
    pub daily_amount_limit: i64,
    /// Per-card daily approved count limit (0 = none).
    pub daily_count_limit: i64,
}

impl Account {
    /// Funds available to authorize: ledger balance + credit limit − holds.
    pub fn available(&self) -> i64 {
        self.ledger_balance
            .saturating_add(self.credit_limit)
            .saturating_sub(self.held)
    }
}

const ACCOUNT_COLS: &str = "id, kind, name, external_ref, currency, ledger_balance, held, \
     credit_limit, status, daily_amount_limit, daily_count_limit";

fn account_from_row(row: &dyn RowGet) -> Result<Account> {
    let kind = row.text("kind")?;
    Ok(Account {
        id: row.text("id")?,
        kind: AccountKind::parse(&kind)
            .ok_or_else(|| HostError::Corrupt(format!("account kind {kind}")))?,
        name: row.text("name")?,
        external_ref: row.opt_text("external_ref")?,
        currency: row.text("currency")?,
        ledger_balance: row.int("ledger_balance")?,
        held: row.int("held")?,
        credit_limit: row.int("credit_limit")?,
        status: row.text("status")?,
        daily_amount_limit: row.int("daily_amount_limit")?,
        daily_count_limit: row.int("daily_count_limit")?,
    })
}

/// Parameters of a new cardholder account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// Display name.
    pub name: String,
    /// ISO 4217 numeric currency code (3 digits).
    pub currency: String,
    /// Credit limit (0 = debit account).
    pub credit_limit: i64,
    /// Opening balance, posted from the funding account.
    pub opening_balance: i64,
    /// Daily approved amount limit per card (0 = none).
    pub daily_amount_limit: i64,
    /// Daily approved count limit per card (0 = none).
    pub daily_count_limit: i64,
}

/// Largest amount of one operation, in minor units of its ISO 4217 currency: 10^12 − 1,
/// the largest ISO 8583 DE 4 (`n12`). Opening balances, credit limits and daily amount
/// limits are refused above it.
pub const MAX_AMOUNT: i64 = 999_999_999_999;

/// Largest magnitude of any account balance and of any one posting, in minor units:
/// 10^15. An entry that would take a balance beyond ±`MAX_BALANCE` is refused, so the
/// database's 64-bit arithmetic (and SQLite's, which turns an overflow into a
/// floating-point value) never overflows.
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;

/// Longest account name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Checks an amount or limit of an operation: `0..=MAX_AMOUNT`.
pub fn check_amount(what: &'static str, v: i64) -> Result<()> {
    if (0..=MAX_AMOUNT).contains(&v) {
        Ok(())
    } else {
        Err(invalid(what, format!("0 to {MAX_AMOUNT} minor units")))
    }
}

/// Checks an ISO 4217 numeric currency code.
pub fn check_currency(c: &str) -> Result<()> {
    if c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid("currency", "ISO 4217 numeric code, 3 digits"))
    }
}

/// Reads an account (no lock).
pub async fn get_account(conn: &mut AnyConnection, id: &str) -> Result<Option<Account>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1"));
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(|r| account_from_row(r)).transpose()
}

/// Reads an account, locking its row on PostgreSQL (`FOR UPDATE`).
pub async fn lock_account(
    store: &Store,
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<Account>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLS} FROM accounts WHERE id = $1{}",
        store.for_update()
    ));
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(|r| account_from_row(r)).transpose()
}

/// What the authorization hot path reads with the account lock (one round trip).
#[derive(Debug, Clone)]
pub(crate) struct HotRead {
    /// The account.
    pub account: Account,
    /// Scripts queued for the card.
    pub scripts: i64,
    /// Whether a reversal of this very request arrived before it.
    pub reversed_early: bool,
}

/// Reads and locks an account together with the number of scripts queued for the card
/// and whether the request with this key (acquirer, terminal, STAN, transmission) was
/// reversed before it arrived. (The card's velocity counters come with the card row.)
pub(crate) async fn lock_account_hot<C: HotConn>(
    conn: &mut C,
    id: &str,
    card_id: &str,
    key: [&str; 4],
) -> Result<Option<HotRead>> {
    let sql = format!(
        "SELECT {ACCOUNT_COLS}, \
         (SELECT COUNT(*) FROM script_queue q WHERE q.card_id = $2 AND q.status = 'queued') AS scripts, \
         (SELECT COUNT(*) FROM early_reversals e WHERE e.acquirer = $3 AND e.terminal = $4 \
          AND e.stan = $5 AND e.transmission = $6) AS early \
         FROM accounts WHERE id = $1{}",
        conn.for_update()
    );
    let vals = [id, card_id, key[0], key[1], key[2], key[3]]
        .into_iter()
        .map(|v| Val::Text(v.to_owned()))
        .collect();
    conn.fetch_optional(&sql, vals, &|r| {
        Ok(HotRead {
            account: account_from_row(r)?,
            scripts: r.int("scripts")?,
            reversed_early: r.int("early")? > 0,
        })
    })
    .await
}

/// Lists every account, optionally of one kind (for tools and tests; the API reads them
/// a page at a time with [`list_accounts_page`]).
pub async fn list_accounts(store: &Store, kind: Option<AccountKind>) -> Result<Vec<Account>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLS} FROM accounts WHERE ($1 = '' OR kind = $1) ORDER BY created_at, id"
    ));
    let rows = sqlx::query(sql)
        .bind(kind.map(AccountKind::as_str).unwrap_or(""))
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(|r| account_from_row(r)).collect()
}

/// One page of accounts, optionally of one kind, oldest first (keyset on
/// `(created_at, id)`).
pub async fn list_accounts_page(
    store: &Store,
    kind: Option<AccountKind>,
    page: &PageRequest,
) -> Result<Page<Account>> {
    let after = page.after_time_id()?;
    let (keyset, limit) = match after {
        Some(_) => (" AND (created_at, id) > ($2, $3)", "$4"),
        None => ("", "$2"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLS}, created_at FROM accounts WHERE ($1 = '' OR kind = $1){keyset} \
         ORDER BY created_at, id LIMIT {limit}"
    ));
    let mut q = sqlx::query(sql).bind(kind.map(AccountKind::as_str).unwrap_or(""));
    if let Some((at, id)) = after {
        q = q.bind(at).bind(id);
    }
    let q = q.bind(page.fetch());
    let rows = q.fetch_all(store.pool()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            let a = account_from_row(r)?;
            let key = vec![r.try_get::<i64, _>("created_at")?.to_string(), a.id.clone()];
            Ok((a, key))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page))
}

#[allow(clippy::too_many_arguments)] // one column each; private
async fn insert_account(
    conn: &mut AnyConnection,
    kind: AccountKind,
    name: &str,
    external_ref: Option<&str>,
    currency: &str,
    credit_limit: i64,
    limits: (i64, i64),
    now: i64,
) -> Result<String> {
    let id = new_id("acc");
    sqlx::query(
        "INSERT INTO accounts (id, kind, name, external_ref, currency, ledger_balance, held, \
         credit_limit, status, daily_amount_limit, daily_count_limit, created_at) \
         VALUES ($1, $2, $3, $4, $5, 0, 0, $6, 'active', $7, $8, $9)",
    )
    .bind(&id)
    .bind(kind.as_str())
    .bind(name)
    .bind(external_ref)
    .bind(currency)
    .bind(credit_limit)
    .bind(limits.0)
    .bind(limits.1)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// The system account of `kind` (settlement, fees, funding, or a merchant by its
/// `external_ref`) for a currency, created on first use.
pub async fn system_account(
    conn: &mut AnyConnection,
    kind: AccountKind,
    external_ref: &str,
    currency: &str,
    now: i64,
) -> Result<String> {
    // The SQL has no FOR UPDATE, so the backend does not matter here.
    let mut c = SqlxConn::new(conn, Backend::Sqlite);
    system_account_inner(&mut c, kind, external_ref, currency, now)
        .await
        .map(|(id, _)| id)
}

/// Get-or-create without a race: concurrent creators meet on the unique index. Returns the
/// id and whether the row already existed (was committed by someone else).
async fn system_account_inner<C: HotConn>(
    conn: &mut C,
    kind: AccountKind,
    external_ref: &str,
    currency: &str,
    now: i64,
) -> Result<(String, bool)> {
    let name = format!("{} {external_ref}", kind.as_str());
    let inserted = conn
        .execute(
            "INSERT INTO accounts (id, kind, name, external_ref, currency, ledger_balance, held, \
             credit_limit, status, daily_amount_limit, daily_count_limit, created_at) \
             VALUES ($1, $2, $3, $4, $5, 0, 0, 0, 'active', 0, 0, $6) \
             ON CONFLICT (kind, external_ref, currency) DO NOTHING",
            vec![
                Val::Text(new_id("acc")),
                Val::Text(kind.as_str().to_owned()),
                Val::Text(name),
                Val::Text(external_ref.to_owned()),
                Val::Text(currency.to_owned()),
                Val::Int(now),
            ],
        )
        .await?;
    let id = conn
        .fetch_optional(
            "SELECT id FROM accounts WHERE kind = $1 AND external_ref = $2 AND currency = $3",
            vec![
                Val::Text(kind.as_str().to_owned()),
                Val::Text(external_ref.to_owned()),
                Val::Text(currency.to_owned()),
            ],
            &|r| r.text("id"),
        )
        .await?
        .ok_or(HostError::NotFound("system account"))?;
    Ok((id, inserted == 0))
}

/// [`system_account`] with a per-store cache of committed ids (system accounts are never
/// deleted): the hot path of every capture needs the settlement account.
pub async fn system_account_in(
    store: &Store,
    conn: &mut AnyConnection,
    kind: AccountKind,
    external_ref: &str,
    currency: &str,
    now: i64,
) -> Result<String> {
    let mut c = SqlxConn::new(conn, store.backend());
    system_account_hot(store, &mut c, kind, external_ref, currency, now).await
}

/// [`system_account_in`] on the hot path's connection.
pub(crate) async fn system_account_hot<C: HotConn>(
    store: &Store,
    conn: &mut C,
    kind: AccountKind,
    external_ref: &str,
    currency: &str,
    now: i64,
) -> Result<String> {
    let key = (
        kind.as_str().to_owned(),
        external_ref.to_owned(),
        currency.to_owned(),
    );
    if let Some(id) = store.cached_system(&key) {
        return Ok(id);
    }
    let (id, existed) = system_account_inner(conn, kind, external_ref, currency, now).await?;
    if existed {
        // Only a row committed before this transaction may be cached: one created here
        // would vanish if this transaction rolled back.
        store.cache_system(key, id.clone());
    }
    Ok(id)
}

/// Creates a cardholder account and posts its opening balance from the funding account.
pub async fn create_account(store: &Store, new: &NewAccount, now: i64) -> Result<Account> {
    check_currency(&new.currency)?;
    let name = new.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(invalid(
            "name",
            format!("1 to {MAX_NAME_CHARS} characters, no control characters"),
        ));
    }
    check_amount("credit_limit", new.credit_limit)?;
    check_amount("opening_balance", new.opening_balance)?;
    check_amount("daily_amount_limit", new.daily_amount_limit)?;
    if !(0..=1_000_000).contains(&new.daily_count_limit) {
        return Err(invalid("daily_count_limit", "0 to 1000000"));
    }
    let mut w = store.begin_write().await?;
    let id = insert_account(
        &mut w.tx,
        AccountKind::Cardholder,
        name,
        None,
        &new.currency,
        new.credit_limit,
        (new.daily_amount_limit, new.daily_count_limit),
        now,
    )
    .await?;
    if new.opening_balance > 0 {
        let funding = system_account(
            &mut w.tx,
            AccountKind::Funding,
            "issuer",
            &new.currency,
            now,
        )
        .await?;
        post_entry(
            &mut w.tx,
            &[
                (funding.as_str(), -new.opening_balance),
                (id.as_str(), new.opening_balance),
            ],
            &new.currency,
            None,
            "opening balance",
            now,
        )
        .await?;
    }
    let acc = get_account(&mut w.tx, &id)
        .await?
        .ok_or(HostError::NotFound("account"))?;
    w.commit().await?;
    Ok(acc)
}

/// Posts one balanced entry: inserts the postings and updates each account's
/// `ledger_balance`. Refuses an entry that does not sum to zero or names an account of
/// another currency.
pub async fn post_entry(
    conn: &mut AnyConnection,
    legs: &[(&str, i64)],
    currency: &str,
    transaction_id: Option<&str>,
    memo: &str,
    now: i64,
) -> Result<String> {
    let sum = legs
        .iter()
        .try_fold(0i64, |acc, (_, a)| acc.checked_add(*a));
    if sum != Some(0) || legs.len() < 2 {
        return Err(invalid("ledger entry", "postings must sum to zero"));
    }
    if legs
        .iter()
        .any(|(_, a)| !(-MAX_BALANCE..=MAX_BALANCE).contains(a))
    {
        return Err(invalid("ledger entry", "posting beyond the maximum amount"));
    }
    let entry = new_id("ent");
    let live: Vec<(&str, i64)> = legs.iter().filter(|(_, a)| *a != 0).copied().collect();
    let distinct = {
        let mut ids: Vec<&str> = live.iter().map(|(a, _)| *a).collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len() == live.len()
    };
    if distinct && !live.is_empty() {
        // One UPDATE and one multi-row INSERT for the whole entry (two round trips).
        let mut case = String::new();
        let mut ids = Vec::new();
        for i in 0..live.len() {
            case.push_str(&format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2));
            ids.push(format!("${}", 2 * i + 1));
        }
        let cur = 2 * live.len() + 1;
        // Every new balance within ±MAX_BALANCE (no operand can overflow: stored balances
        // and legs are within it), else no row of that account is updated.
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE accounts SET ledger_balance = ledger_balance + CASE id{case} ELSE 0 END \
             WHERE currency = ${cur} AND id IN ({}) \
             AND ledger_balance + CASE id{case} ELSE 0 END BETWEEN {} AND {}",
            ids.join(", "),
            -MAX_BALANCE,
            MAX_BALANCE
        ));
        let mut q = sqlx::query(sql);
        for (account, amount) in &live {
            q = q.bind(*account).bind(*amount);
        }
        let updated = q.bind(currency).execute(&mut *conn).await?;
        if usize::try_from(updated.rows_affected()).ok() != Some(live.len()) {
            return Err(invalid(
                "ledger entry",
                "account missing, in another currency, or its balance would exceed the maximum",
            ));
        }
        let mut rows = Vec::new();
        for i in 0..live.len() {
            let b = 8 * i;
            rows.push(format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                b + 1,
                b + 2,
                b + 3,
                b + 4,
                b + 5,
                b + 6,
                b + 7,
                b + 8
            ));
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO postings (id, entry_id, transaction_id, account_id, amount, currency, memo, created_at) VALUES {}",
            rows.join(", ")
        ));
        let mut q = sqlx::query(sql);
        for (account, amount) in &live {
            q = q
                .bind(new_id("pst"))
                .bind(entry.clone())
                .bind(transaction_id.map(str::to_owned))
                .bind(*account)
                .bind(*amount)
                .bind(currency)
                .bind(memo)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
        return Ok(entry);
    }
    for (account, amount) in legs {
        if *amount == 0 {
            continue;
        }
        let sql = sqlx::AssertSqlSafe(format!(
            "UPDATE accounts SET ledger_balance = ledger_balance + $1 WHERE id = $2 AND currency = $3 \
             AND ledger_balance + $1 BETWEEN {} AND {}",
            -MAX_BALANCE, MAX_BALANCE
        ));
        let updated = sqlx::query(sql)
            .bind(*amount)
            .bind(*account)
            .bind(currency)
            .execute(&mut *conn)
            .await?;
        if updated.rows_affected() != 1 {
            return Err(invalid(
                "ledger entry",
                "account missing, in another currency, or its balance would exceed the maximum",
            ));
        }
        sqlx::query(
            "INSERT INTO postings (id, entry_id, transaction_id, account_id, amount, currency, memo, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(new_id("pst"))
        .bind(&entry)
        .bind(transaction_id)
        .bind(*account)
        .bind(*amount)
        .bind(currency)
        .bind(memo)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(entry)
}

/// Buffers a balanced entry (see [`post_entry`]) whose accounts are known to exist in
/// `currency` (they were read and locked in this transaction): one UPDATE and one
/// multi-row INSERT, sent with the request's other writes.
pub(crate) fn entry_stmts(
    buf: &mut WriteBuf,
    legs: &[(&str, i64)],
    currency: &str,
    transaction_id: Option<&str>,
    memo: &str,
    now: i64,
) -> Result<String> {
    let live: Vec<(&str, i64)> = legs.iter().filter(|(_, a)| *a != 0).copied().collect();
    let sum = live
        .iter()
        .try_fold(0i64, |acc, (_, a)| acc.checked_add(*a));
    let mut ids: Vec<&str> = live.iter().map(|(a, _)| *a).collect();
    ids.sort_unstable();
    ids.dedup();
    if sum != Some(0) || live.len() < 2 || ids.len() != live.len() {
        return Err(invalid(
            "ledger entry",
            "postings must sum to zero over distinct accounts",
        ));
    }
    let entry = new_id("ent");
    let mut case = String::new();
    let mut id_list = Vec::new();
    let mut vals = Vec::new();
    for (i, (account, amount)) in live.iter().enumerate() {
        case.push_str(&format!(" WHEN ${} THEN ${}", 2 * i + 1, 2 * i + 2));
        id_list.push(format!("${}", 2 * i + 1));
        vals.push(Val::Text((*account).to_owned()));
        vals.push(Val::Int(*amount));
    }
    buf.push(
        &format!(
            "UPDATE accounts SET ledger_balance = ledger_balance + CASE id{case} ELSE 0 END WHERE id IN ({})",
            id_list.join(", ")
        ),
        vals,
    );
    let mut rows = Vec::new();
    let mut vals = Vec::new();
    for (i, (account, amount)) in live.iter().enumerate() {
        let b = 8 * i;
        rows.push(format!(
            "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6,
            b + 7,
            b + 8
        ));
        vals.extend([
            Val::Text(new_id("pst")),
            Val::Text(entry.clone()),
            Val::OptText(transaction_id.map(str::to_owned)),
            Val::Text((*account).to_owned()),
            Val::Int(*amount),
            Val::Text(currency.to_owned()),
            Val::Text(memo.to_owned()),
            Val::Int(now),
        ]);
    }
    buf.push(
        &format!(
            "INSERT INTO postings (id, entry_id, transaction_id, account_id, amount, currency, memo, created_at) VALUES {}",
            rows.join(", ")
        ),
        vals,
    );
    Ok(entry)
}

/// Buffers an authorization hold (see [`place_hold`]).
pub(crate) fn hold_stmts(
    buf: &mut WriteBuf,
    transaction_id: &str,
    account_id: &str,
    amount: i64,
    currency: &str,
    now: i64,
) {
    buf.push(
        "INSERT INTO holds (id, transaction_id, account_id, amount, currency, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6)",
        vec![
            Val::Text(new_id("hld")),
            Val::Text(transaction_id.to_owned()),
            Val::Text(account_id.to_owned()),
            Val::Int(amount),
            Val::Text(currency.to_owned()),
            Val::Int(now),
        ],
    );
    buf.push(
        "UPDATE accounts SET held = held + $1 WHERE id = $2",
        vec![Val::Int(amount), Val::Text(account_id.to_owned())],
    );
}

/// Places an authorization hold on an account for a transaction.
pub async fn place_hold(
    conn: &mut AnyConnection,
    transaction_id: &str,
    account_id: &str,
    amount: i64,
    currency: &str,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO holds (id, transaction_id, account_id, amount, currency, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'active', $6)",
    )
    .bind(new_id("hld"))
    .bind(transaction_id)
    .bind(account_id)
    .bind(amount)
    .bind(currency)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query("UPDATE accounts SET held = held + $1 WHERE id = $2")
        .bind(amount)
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Ends a transaction's active hold (`captured` or `released`), returning its amount
/// (`None` if there was no active hold).
pub async fn end_hold(
    conn: &mut AnyConnection,
    transaction_id: &str,
    captured: bool,
) -> Result<Option<i64>> {
    let row = sqlx::query(
        "SELECT account_id, amount FROM holds WHERE transaction_id = $1 AND status = 'active'",
    )
    .bind(transaction_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let account: String = row.try_get("account_id")?;
    let amount: i64 = row.try_get("amount")?;
    let res =
        sqlx::query("UPDATE holds SET status = $1 WHERE transaction_id = $2 AND status = 'active'")
            .bind(if captured { "captured" } else { "released" })
            .bind(transaction_id)
            .execute(&mut *conn)
            .await?;
    if res.rows_affected() != 1 {
        return Ok(None);
    }
    sqlx::query("UPDATE accounts SET held = held - $1 WHERE id = $2")
        .bind(amount)
        .bind(&account)
        .execute(&mut *conn)
        .await?;
    Ok(Some(amount))
}

/// One posting, for statements.
#[derive(Debug, Clone, Serialize)]
pub struct Posting {
    /// Entry the posting belongs to.
    pub entry_id: String,
    /// Transaction, if any.
    pub transaction_id: Option<String>,
    /// Signed amount.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Memo.
    pub memo: String,
    /// Unix ms.
    pub created_at: i64,
}

/// All of an account's postings, oldest first (for tools and tests; the API reads them a
/// page at a time with [`postings_page`]).
pub async fn postings(store: &Store, account_id: &str) -> Result<Vec<Posting>> {
    let rows = sqlx::query(
        "SELECT entry_id, transaction_id, amount, currency, memo, created_at FROM postings \
         WHERE account_id = $1 ORDER BY created_at, id",
    )
    .bind(account_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Posting {
                entry_id: r.try_get("entry_id")?,
                transaction_id: r.try_get("transaction_id")?,
                amount: r.try_get("amount")?,
                currency: r.try_get("currency")?,
                memo: r.try_get("memo")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

/// One page of an account's postings, oldest first (keyset on `(created_at, id)`, read
/// through the `postings_account_page_ix` index).
pub async fn postings_page(
    store: &Store,
    account_id: &str,
    page: &PageRequest,
) -> Result<Page<Posting>> {
    let after = page.after_time_id()?;
    let (keyset, limit) = match after {
        Some(_) => (" AND (created_at, id) > ($2, $3)", "$4"),
        None => ("", "$2"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT id, entry_id, transaction_id, amount, currency, memo, created_at FROM postings \
         WHERE account_id = $1{keyset} ORDER BY created_at, id LIMIT {limit}"
    ));
    let mut q = sqlx::query(sql).bind(account_id);
    if let Some((at, id)) = after {
        q = q.bind(at).bind(id);
    }
    let q = q.bind(page.fetch());
    let rows = q.fetch_all(store.pool()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            let p = Posting {
                entry_id: r.try_get("entry_id")?,
                transaction_id: r.try_get("transaction_id")?,
                amount: r.try_get("amount")?,
                currency: r.try_get("currency")?,
                memo: r.try_get("memo")?,
                created_at: r.try_get("created_at")?,
            };
            let key = vec![p.created_at.to_string(), r.try_get::<String, _>("id")?];
            Ok((p, key))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page))
}

/// Result of [`check_ledger`].
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct LedgerReport {
    /// Number of accounts checked.
    pub accounts: i64,
    /// Number of postings.
    pub postings: i64,
    /// Currencies whose postings do not sum to zero: (currency, sum).
    pub unbalanced_currencies: Vec<(String, i64)>,
    /// Entries whose postings do not sum to zero.
    pub unbalanced_entries: Vec<String>,
    /// Accounts whose stored balance differs from their postings: (id, stored, postings).
    pub balance_mismatches: Vec<(String, i64, i64)>,
    /// Accounts whose stored `held` differs from their active holds: (id, stored, holds).
    pub hold_mismatches: Vec<(String, i64, i64)>,
    /// Postings in a currency other than their account's.
    pub currency_mismatches: i64,
}

impl LedgerReport {
    /// True if every invariant holds.
    pub fn ok(&self) -> bool {
        self.unbalanced_currencies.is_empty()
            && self.unbalanced_entries.is_empty()
            && self.balance_mismatches.is_empty()
            && self.hold_mismatches.is_empty()
            && self.currency_mismatches == 0
    }
}

/// Verifies the ledger invariants: postings sum to zero per currency and per entry;
/// every account's balance equals the sum of its postings and its `held` the sum of its
/// active holds; postings are in their account's currency.
pub async fn check_ledger(store: &Store) -> Result<LedgerReport> {
    let pool = store.pool();
    let mut report = LedgerReport::default();
    let one = |sql: &'static str| sqlx::query::<Any>(sql);
    report.accounts = one("SELECT COUNT(*) AS n FROM accounts")
        .fetch_one(pool)
        .await?
        .try_get("n")?;
    report.postings = one("SELECT COUNT(*) AS n FROM postings")
        .fetch_one(pool)
        .await?
        .try_get("n")?;
    for row in one(
        "SELECT currency, CAST(SUM(amount) AS BIGINT) AS s FROM postings GROUP BY currency \
         HAVING SUM(amount) <> 0 ORDER BY currency",
    )
    .fetch_all(pool)
    .await?
    {
        report
            .unbalanced_currencies
            .push((row.try_get("currency")?, row.try_get("s")?));
    }
    for row in one(
        "SELECT entry_id FROM postings GROUP BY entry_id HAVING SUM(amount) <> 0 ORDER BY entry_id",
    )
    .fetch_all(pool)
    .await?
    {
        report.unbalanced_entries.push(row.try_get("entry_id")?);
    }
    for row in one(
        "SELECT a.id AS id, a.ledger_balance AS stored, \
         COALESCE((SELECT CAST(SUM(p.amount) AS BIGINT) FROM postings p WHERE p.account_id = a.id), 0) AS actual \
         FROM accounts a ORDER BY a.id",
    )
    .fetch_all(pool)
    .await?
    {
        let (stored, actual): (i64, i64) = (row.try_get("stored")?, row.try_get("actual")?);
        if stored != actual {
            report.balance_mismatches.push((row.try_get("id")?, stored, actual));
        }
    }
    for row in one(
        "SELECT a.id AS id, a.held AS stored, \
         COALESCE((SELECT CAST(SUM(h.amount) AS BIGINT) FROM holds h WHERE h.account_id = a.id AND h.status = 'active'), 0) AS actual \
         FROM accounts a ORDER BY a.id",
    )
    .fetch_all(pool)
    .await?
    {
        let (stored, actual): (i64, i64) = (row.try_get("stored")?, row.try_get("actual")?);
        if stored != actual {
            report.hold_mismatches.push((row.try_get("id")?, stored, actual));
        }
    }
    report.currency_mismatches = one(
        "SELECT COUNT(*) AS n FROM postings p JOIN accounts a ON a.id = p.account_id WHERE a.currency <> p.currency",
    )
    .fetch_one(pool)
    .await?
    .try_get("n")?;
    Ok(report)
}
