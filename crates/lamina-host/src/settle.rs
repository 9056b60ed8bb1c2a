//! Clearing, settlement and terminal reconciliation.
//!
//! * **Cut-over**: the business day is the UTC date; a transaction is cleared on the
//!   date its money moved (`captured_date`: the 0200 approval, the 0220 completion, the
//!   reversal).
//! * **Settlement** of a date D ([`settle`]) takes every cleared, unsettled transaction
//!   with `captured_date ≤ D`, groups it per merchant (DE 42) and currency, and posts one
//!   entry per group: issuer settlement account −(gross − reversals − refunds), merchant
//!   +net, fee account +fees, with `fees = gross × fee_bps / 10 000` (rounded down; no fee
//!   on refunds, none returned) and `net = gross − reversals − refunds − fees` (negative
//!   when the merchant refunded more than it sold: the merchant account is debited).
//!   *Gross* is the money captured from cardholders (0200, 0220, offline advices),
//!   *reversals* the part of it given back by 0400/0420, *refunds* the refunds credited
//!   to cardholders (processing code 20) less their reversals. The transactions are marked with the settlement id,
//!   so running it again settles nothing twice; a later run for the same date (captures
//!   that arrived after the first run) adds to that date's settlement (fees are computed
//!   per run).
//! * **Reconciliation** (0500, [`reconcile_message`]): the terminal's batch totals in DE 63
//!   (sales count n4, sales amount n12, refund count n4, refund amount n12) are compared
//!   with the host's for that acquirer and terminal on the current business day (captured,
//!   not reversed; refunds: refund rows not reversed). Balanced: 0510 with `00`; otherwise `95`
//!   (reconcile error) and the host's totals in DE 63.

use serde::Serialize;
use sqlx::Row;

use crate::clock::{business_date, date_start_ms};
use crate::error::{HostError, Result, invalid};
use crate::iso::ECHO;
use crate::issuer::Issuer;
use crate::ledger::{self, AccountKind};
use crate::store::{Store, new_id};
use lamina_iso8583::{Message, ResponseCode};

/// One merchant's settlement for a date and currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// Identifier.
    pub id: String,
    /// Business date settled.
    pub business_date: String,
    /// Merchant id (DE 42).
    pub merchant: String,
    /// Merchant ledger account.
    pub merchant_account_id: String,
    /// Currency.
    pub currency: String,
    /// Number of captured transactions.
    pub count: i64,
    /// Sum of captures.
    pub gross: i64,
    /// Sum of reversals of captured money.
    pub reversals: i64,
    /// Refunds credited to cardholders (processing code 20), less their reversals.
    pub refunds: i64,
    /// Fees.
    pub fees: i64,
    /// Paid to the merchant.
    pub net: i64,
}

fn settlement_from_row(r: &sqlx::any::AnyRow) -> Result<Settlement> {
    Ok(Settlement {
        id: r.try_get("id")?,
        business_date: r.try_get("business_date")?,
        merchant: r.try_get("merchant")?,
        merchant_account_id: r.try_get("merchant_account_id")?,
        currency: r.try_get("currency")?,
        count: r.try_get("count")?,
        gross: r.try_get("gross")?,
        reversals: r.try_get("reversals")?,
        refunds: r.try_get("refunds")?,
        fees: r.try_get("fees")?,
        net: r.try_get("net")?,
    })
}

/// Settles business date `date` (`YYYY-MM-DD`) with merchant fees of `fee_bps` basis
/// points; returns the settlements of that date (including ones made by an earlier run).
pub async fn settle(store: &Store, date: &str, fee_bps: i64, now: i64) -> Result<Vec<Settlement>> {
    if date_start_ms(date).is_none() {
        return Err(invalid("date", "YYYY-MM-DD"));
    }
    if !(0..=10_000).contains(&fee_bps) {
        return Err(invalid("fee", "0 to 10000 basis points"));
    }
    let mut w = store.begin_write().await?;
    let groups = sqlx::query(
        "SELECT merchant, currency, \
         CAST(SUM(CASE WHEN kind NOT IN ('refund', 'refund_reversal') AND captured_amount > 0 THEN 1 ELSE 0 END) AS BIGINT) AS n, \
         CAST(SUM(CASE WHEN kind NOT IN ('refund', 'refund_reversal') AND captured_amount > 0 THEN captured_amount ELSE 0 END) AS BIGINT) AS gross, \
         CAST(SUM(CASE WHEN kind NOT IN ('refund', 'refund_reversal') AND captured_amount < 0 THEN -captured_amount ELSE 0 END) AS BIGINT) AS rev, \
         CAST(SUM(CASE WHEN kind IN ('refund', 'refund_reversal') THEN -captured_amount ELSE 0 END) AS BIGINT) AS refunds \
         FROM transactions WHERE captured_amount <> 0 AND settlement_id IS NULL AND captured_date <= $1 \
         GROUP BY merchant, currency ORDER BY merchant, currency",
    )
    .bind(date)
    .fetch_all(&mut *w.tx)
    .await?;
    for g in groups {
        let merchant: String = g.try_get("merchant")?;
        let currency: String = g.try_get("currency")?;
        let count: i64 = g.try_get("n")?;
        let gross: i64 = g.try_get("gross")?;
        let reversals: i64 = g.try_get("rev")?;
        let refunds: i64 = g.try_get("refunds")?;
        let fees = gross
            .checked_mul(fee_bps)
            .map(|x| x / 10_000)
            .ok_or_else(|| invalid("amount", "overflow"))?;
        let net = gross - reversals - refunds - fees;
        let merchant_acc =
            ledger::system_account(&mut w.tx, AccountKind::Merchant, &merchant, &currency, now)
                .await?;
        let settle_acc =
            ledger::system_account(&mut w.tx, AccountKind::Settlement, "issuer", &currency, now)
                .await?;
        let fee_acc =
            ledger::system_account(&mut w.tx, AccountKind::Fees, "issuer", &currency, now).await?;
        let id = new_id("stl");
        ledger::post_entry(
            &mut w.tx,
            &[
                (settle_acc.as_str(), -(gross - reversals - refunds)),
                (merchant_acc.as_str(), net),
                (fee_acc.as_str(), fees),
            ],
            &currency,
            None,
            &format!("settlement {date} {merchant}"),
            now,
        )
        .await?;
        // A later run for the same date (captures that arrived after the first run) adds
        // to that date's settlement row.
        sqlx::query(
            "INSERT INTO settlements (id, business_date, merchant_account_id, merchant, currency, count, gross, \
             reversals, refunds, fees, net, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) \
             ON CONFLICT (business_date, merchant_account_id, currency) DO UPDATE SET \
             count = settlements.count + excluded.count, gross = settlements.gross + excluded.gross, \
             reversals = settlements.reversals + excluded.reversals, \
             refunds = settlements.refunds + excluded.refunds, fees = settlements.fees + excluded.fees, \
             net = settlements.net + excluded.net",
        )
        .bind(&id)
        .bind(date)
        .bind(&merchant_acc)
        .bind(&merchant)
        .bind(&currency)
        .bind(count)
        .bind(gross)
        .bind(reversals)
        .bind(refunds)
        .bind(fees)
        .bind(net)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        let settlement_id: String = sqlx::query(
            "SELECT id FROM settlements WHERE business_date = $1 AND merchant_account_id = $2 AND currency = $3",
        )
        .bind(date)
        .bind(&merchant_acc)
        .bind(&currency)
        .fetch_one(&mut *w.tx)
        .await?
        .try_get("id")?;
        sqlx::query(
            "UPDATE transactions SET settlement_id = $1 WHERE captured_amount <> 0 AND settlement_id IS NULL \
             AND captured_date <= $2 AND merchant = $3 AND currency = $4",
        )
        .bind(&settlement_id)
        .bind(date)
        .bind(&merchant)
        .bind(&currency)
        .execute(&mut *w.tx)
        .await?;
    }
    w.commit().await?;
    settlements(store, Some(date)).await
}

/// One page of settlements (optionally of one business date), by date, merchant and
/// currency (keyset on that unique triple).
pub async fn settlements_page(
    store: &Store,
    date: Option<&str>,
    page: &crate::page::PageRequest,
) -> Result<crate::page::Page<Settlement>> {
    let after = page.after_texts(3)?;
    let (keyset, limit) = match after {
        Some(_) => (
            " AND (business_date, merchant, currency) > ($2, $3, $4)",
            "$5",
        ),
        None => ("", "$2"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT id, business_date, merchant, merchant_account_id, currency, count, gross, reversals, refunds, fees, net \
         FROM settlements WHERE ($1 = '' OR business_date = $1){keyset} \
         ORDER BY business_date, merchant, currency LIMIT {limit}"
    ));
    let mut q = sqlx::query(sql).bind(date.unwrap_or(""));
    for part in after.into_iter().flatten() {
        q = q.bind(part);
    }
    let rows = q.bind(page.fetch()).fetch_all(store.pool()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            let s = settlement_from_row(r)?;
            let key = vec![
                s.business_date.clone(),
                s.merchant.clone(),
                s.currency.clone(),
            ];
            Ok((s, key))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(crate::page::Page::from_rows(rows, page))
}

/// Settlements, optionally of one date.
pub async fn settlements(store: &Store, date: Option<&str>) -> Result<Vec<Settlement>> {
    let rows = sqlx::query(
        "SELECT id, business_date, merchant, merchant_account_id, currency, count, gross, reversals, refunds, fees, net \
         FROM settlements WHERE ($1 = '' OR business_date = $1) ORDER BY business_date, merchant, currency",
    )
    .bind(date.unwrap_or(""))
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(settlement_from_row).collect()
}

/// Batch totals (DE 63 of 0500/0510).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BatchTotals {
    /// Sales count.
    pub sales_count: i64,
    /// Sales amount.
    pub sales_amount: i64,
    /// Refund count.
    pub refund_count: i64,
    /// Refund amount.
    pub refund_amount: i64,
}

impl BatchTotals {
    /// Parses the 32-digit DE 63.
    pub fn parse(s: &str) -> Option<BatchTotals> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
        Some(BatchTotals {
            sales_count: n(0..4)?,
            sales_amount: n(4..16)?,
            refund_count: n(16..20)?,
            refund_amount: n(20..32)?,
        })
    }
    /// Formats as the 32-digit DE 63 (values clamped to their widths).
    pub fn to_field(&self) -> String {
        format!(
            "{:04}{:012}{:04}{:012}",
            self.sales_count.clamp(0, 9_999),
            self.sales_amount.clamp(0, 999_999_999_999),
            self.refund_count.clamp(0, 9_999),
            self.refund_amount.clamp(0, 999_999_999_999)
        )
    }
}

/// The host's totals for a terminal on a business date.
pub async fn host_totals(
    store: &Store,
    acquirer: &str,
    terminal: &str,
    date: &str,
) -> Result<BatchTotals> {
    let row = sqlx::query(
        "SELECT \
         CAST(SUM(CASE WHEN kind <> 'refund' THEN 1 ELSE 0 END) AS BIGINT) AS n, \
         CAST(SUM(CASE WHEN kind <> 'refund' THEN captured_amount ELSE 0 END) AS BIGINT) AS s, \
         CAST(SUM(CASE WHEN kind = 'refund' THEN 1 ELSE 0 END) AS BIGINT) AS rn, \
         CAST(SUM(CASE WHEN kind = 'refund' THEN -captured_amount ELSE 0 END) AS BIGINT) AS rs \
         FROM transactions WHERE acquirer = $1 AND terminal = $2 AND captured_date = $3 AND status <> 'reversed' \
         AND ((kind <> 'refund' AND kind <> 'refund_reversal' AND captured_amount > 0) \
              OR (kind = 'refund' AND captured_amount < 0))",
    )
    .bind(acquirer)
    .bind(terminal)
    .bind(date)
    .fetch_one(store.pool())
    .await?;
    // SUM over no rows is NULL.
    let get = |c: &str| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(c)?.unwrap_or(0)) };
    Ok(BatchTotals {
        sales_count: get("n")?,
        sales_amount: get("s")?,
        refund_count: get("rn")?,
        refund_amount: get("rs")?,
    })
}

/// Answers an 0500 reconciliation request.
pub async fn reconcile_message(issuer: &Issuer, msg: &Message) -> Result<Message> {
    let mut out = msg
        .response_skeleton(&ECHO)
        .ok_or_else(|| HostError::Invalid {
            what: "MTI",
            reason: "no response".into(),
        })?;
    let (Some(terminal), Some(declared)) = (
        msg.get_str(41),
        msg.get_str(63).and_then(BatchTotals::parse),
    ) else {
        out.set(39, ResponseCode::FORMAT_ERROR.as_str());
        return Ok(out);
    };
    let acquirer = msg.get_str(32).unwrap_or("");
    let now = issuer.clock().now_ms();
    let date = business_date(now);
    let host = host_totals(issuer.store(), acquirer, terminal, &date).await?;
    let balanced = host == declared;
    let mut w = issuer.store().begin_write().await?;
    sqlx::query(
        "INSERT INTO reconciliations (id, acquirer, terminal, business_date, declared_count, declared_amount, \
         host_count, host_amount, balanced, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)",
    )
    .bind(new_id("rec"))
    .bind(acquirer)
    .bind(terminal)
    .bind(&date)
    .bind(declared.sales_count)
    .bind(declared.sales_amount)
    .bind(host.sales_count)
    .bind(host.sales_amount)
    .bind(i64::from(balanced))
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    w.commit().await?;
    if balanced {
        out.set(39, ResponseCode::APPROVED.as_str());
    } else {
        out.set(39, ResponseCode::RECONCILE_ERROR.as_str());
        out.set(63, host.to_field());
    }
    Ok(out)
}
