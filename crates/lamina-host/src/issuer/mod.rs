//! The issuer: authorization (0100), financial requests (0200), completions (0220) and
//! reversals (0400) against the card and ledger store, with idempotency.
//!
//! [`Issuer::authorize`] is the in-process API a terminal's acquirer link can call
//! directly; the TCP server ([`crate::server`]) maps ISO 8583 messages onto it.
//!
//! One request is one database transaction: find and lock the card and account
//! (`FOR UPDATE` on PostgreSQL, the write lock on SQLite), decide
//! ([`decision::decide`]), store the ATC / PIN tries, the transaction row, the hold or
//! postings, the sent scripts and the idempotency record, and commit. A retransmission
//! (same acquirer, terminal, STAN, transmission time and same content) gets the stored
//! response and changes nothing; the same key with different content gets `94`.

pub mod decision;
pub mod types;
mod writer;

use std::sync::Arc;

use lamina_crypto::emv;
use lamina_iso8583::ResponseCode;
use lamina_tlv::Tlv;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

use crate::batch::{Val, WriteBuf};
use crate::cards::{self, Card, CardStatus};
use crate::clock::{Clock, business_date};
use crate::error::{HostError, Result, invalid};
use crate::hot::{HotConn, SqlxConn};
use crate::keys::{HostKeys, mask_pan};
use crate::ledger::{self, AccountKind};
use crate::store::{Backend, Store, new_id};
use decision::{DecisionKeys, PinTries, REFUND_WINDOW_DAYS, Refundable, Usage};
use tokio::sync::{mpsc, oneshot};
pub use types::{AuthRequest, AuthResponse, PinData, RequestKind, TxnKey};

/// The SQLite group-commit writer (see [`Issuer::new`]). Ends when every `Issuer` clone
/// holding the sender is dropped.
async fn batch_writer(core: Issuer, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        // A requester that gave up (per-request timeout, answered 91) is not applied
        // behind its back.
        let (live, gone): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(|j| !j.done.is_closed());
        drop(gone);
        if live.is_empty() {
            continue;
        }
        // Optimistic: the whole group in one transaction, one commit.
        let grouped = async {
            let mut w = core.store.begin_write().await?;
            let mut out = Vec::with_capacity(live.len());
            for j in &live {
                out.push(core.dispatch(&mut w.tx, &j.req, &j.fp).await?);
            }
            w.commit().await?;
            Ok::<_, HostError>(out)
        }
        .await;
        match grouped {
            Ok(responses) => {
                for (j, r) in live.into_iter().zip(responses) {
                    let _ = j.done.send(Ok(r));
                }
            }
            Err(e) => {
                // Something in the group failed and everything was rolled back: run each
                // request in its own transaction so only the failing one fails.
                tracing::debug!(error = %e, "group commit failed; retrying one by one");
                for j in live {
                    let r = async {
                        let mut w = core.store.begin_write().await?;
                        let resp = core.dispatch(&mut w.tx, &j.req, &j.fp).await?;
                        w.commit().await?;
                        Ok(resp)
                    }
                    .await;
                    let _ = j.done.send(r);
                }
            }
        }
    }
}

/// Stored kind of a refund (0200 or 0220 with processing code 20).
pub const KIND_REFUND: &str = "refund";
/// Stored kind of a reversal (0400/0420) of a refund.
pub const KIND_REFUND_REVERSAL: &str = "refund_reversal";

/// What may still be refunded to `card` at the request's merchant: the money the card
/// paid there (purchases and captures less reversals, refunds and refund reversals: the
/// sum of `captured_amount`) on business dates from [`REFUND_WINDOW_DAYS`] days ago,
/// in the request's currency.
async fn refundable_in<C: HotConn>(
    conn: &mut C,
    card: &Card,
    req: &AuthRequest,
    now: i64,
) -> Result<i64> {
    let from = business_date(now - REFUND_WINDOW_DAYS * 86_400_000);
    let sum = conn
        .fetch_optional(
            "SELECT COALESCE(CAST(SUM(captured_amount) AS BIGINT), 0) AS s FROM transactions \
             WHERE card_id = $1 AND merchant = $2 AND currency = $3 AND captured_date >= $4 \
             AND captured_amount <> 0",
            vec![
                Val::Text(card.id.clone()),
                Val::Text(req.merchant.clone()),
                Val::Text(req.currency.clone()),
                Val::Text(from),
            ],
            &|r| r.int("s"),
        )
        .await?;
    Ok(sum.unwrap_or(0).max(0))
}

/// Most bytes of issuer script templates (71/72) sent in one response: the amount every
/// terminal must accept (EMV Book 4 §6.3.9, 128 bytes), which also keeps DE 55 within its
/// 255 bytes beside the issuer authentication data. Scripts that do not fit stay queued.
pub const MAX_SCRIPT_BYTES: usize = 128;

/// Length of the issuer script command MAC: 8 bytes, the full MAC of the EMV
/// Common Core Definitions and of Lamina's card applet (EMV Book 2 §9.2.1 allows 4–8).
pub const SCRIPT_MAC_LEN: usize = 8;

/// The issuer service (cheap to clone).
#[derive(Debug, Clone)]
pub struct Issuer {
    store: Store,
    keys: Arc<HostKeys>,
    clock: Arc<dyn Clock>,
    batcher: Option<mpsc::Sender<Job>>,
    /// The SQLite authorization writer thread ([`writer`]).
    writer: Option<mpsc::Sender<Job>>,
}

/// A request waiting for the SQLite group-commit writer.
#[derive(Debug)]
struct Job {
    req: AuthRequest,
    fp: String,
    done: oneshot::Sender<Result<AuthResponse>>,
}

/// Most requests committed together by the SQLite writer.
pub const MAX_BATCH: usize = 64;

/// A stored transaction row (for inserts).
#[derive(Debug, Clone)]
struct TxnRow<'a> {
    id: String,
    req: &'a AuthRequest,
    /// Stored kind: the request's, or `refund` / `refund_reversal`.
    kind: &'a str,
    card: Option<&'a Card>,
    code: ResponseCode,
    approved: i64,
    captured: i64,
    status: &'a str,
    auth_code: Option<&'a str>,
    original_id: Option<&'a str>,
    atc: Option<i64>,
    flags: &'a [String],
    today: &'a str,
    now: i64,
}

/// A transaction as listed by the back office (PAN masked).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Transaction {
    /// Identifier.
    pub id: String,
    /// MTI.
    pub mti: String,
    /// Kind.
    pub kind: String,
    /// Card id.
    pub card_id: Option<String>,
    /// Masked PAN.
    pub pan_masked: Option<String>,
    /// Terminal.
    pub terminal: String,
    /// Merchant.
    pub merchant: String,
    /// STAN.
    pub stan: String,
    /// Requested amount.
    pub amount: i64,
    /// Approved amount.
    pub approved_amount: i64,
    /// Money moved (+ capture, − reversal).
    pub captured_amount: i64,
    /// Currency.
    pub currency: String,
    /// Response code.
    pub response_code: String,
    /// Status.
    pub status: String,
    /// Flags.
    pub flags: String,
    /// Business date.
    pub business_date: String,
    /// Settlement, once settled.
    pub settlement_id: Option<String>,
    /// Unix ms.
    pub created_at: i64,
}

const TXN_COLS: &str = "id, mti, kind, card_id, pan_masked, terminal, merchant, stan, amount, \
     approved_amount, captured_amount, currency, response_code, status, flags, business_date, \
     settlement_id, created_at";

fn txn_from_row(r: &sqlx::any::AnyRow) -> Result<Transaction> {
    Ok(Transaction {
        id: r.try_get("id")?,
        mti: r.try_get("mti")?,
        kind: r.try_get("kind")?,
        card_id: r.try_get("card_id")?,
        pan_masked: r.try_get("pan_masked")?,
        terminal: r.try_get("terminal")?,
        merchant: r.try_get("merchant")?,
        stan: r.try_get("stan")?,
        amount: r.try_get("amount")?,
        approved_amount: r.try_get("approved_amount")?,
        captured_amount: r.try_get("captured_amount")?,
        currency: r.try_get("currency")?,
        response_code: r.try_get("response_code")?,
        status: r.try_get("status")?,
        flags: r.try_get("flags")?,
        business_date: r.try_get("business_date")?,
        settlement_id: r.try_get("settlement_id")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Search filter for [`Issuer::transactions`].
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TxnFilter {
    /// Only this card.
    pub card_id: Option<String>,
    /// Only this terminal.
    pub terminal: Option<String>,
    /// Only this business date.
    pub date: Option<String>,
    /// Only this response code.
    pub response_code: Option<String>,
    /// At most this many (default 100, max 1000).
    pub limit: Option<i64>,
}

/// Takes a voided approval (status just set to `reversed`) back out of its card's
/// velocity counters, if they are still of the approval's business date.
async fn release_usage(conn: &mut AnyConnection, txn_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE cards SET \
         usage_count = usage_count - 1, \
         usage_amount = usage_amount - (SELECT t.approved_amount FROM transactions t WHERE t.id = $1) \
         WHERE id = (SELECT t.card_id FROM transactions t WHERE t.id = $1 \
                     AND t.kind IN ('authorization', 'financial') AND t.response_code IN ('00', '10')) \
         AND usage_date = (SELECT t.business_date FROM transactions t WHERE t.id = $1)",
    )
    .bind(txn_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn random_auth_code() -> String {
    let mut b = [0u8; 4];
    rand::fill(&mut b);
    format!("{:06}", u32::from_be_bytes(b) % 1_000_000)
}

impl Issuer {
    /// An issuer over a store, keys and clock.
    ///
    /// On SQLite, inside a tokio runtime, requests are committed in groups (group commit):
    /// authorizations and financial requests go to the writer thread ([`writer`]: its own
    /// `rusqlite` connection, a savepoint per request, one commit and one fsync per group
    /// of up to [`MAX_BATCH`]); completions and reversals go to a writer task on the sqlx
    /// pool that also commits in groups (if any request of its group fails, the group is
    /// rolled back and each request runs again alone). Both answer only after their
    /// commit. PostgreSQL commits each request in its own transaction (its WAL writer
    /// groups concurrent commits itself).
    pub fn new(store: Store, keys: Arc<HostKeys>, clock: Arc<dyn Clock>) -> Self {
        let mut issuer = Issuer {
            store,
            keys,
            clock,
            batcher: None,
            writer: None,
        };
        if issuer.store.backend() == Backend::Sqlite
            && tokio::runtime::Handle::try_current().is_ok()
        {
            // Clones taken before the queues are set: a writer holds no sender of its own
            // queue, so it ends when the last `Issuer` is dropped.
            let writer = if issuer.store.sqlite_file().is_some() {
                match writer::spawn(issuer.clone()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        tracing::warn!(error = %e, "no SQLite writer thread; using the pool");
                        None
                    }
                }
            } else {
                None
            };
            let (tx, rx) = mpsc::channel(MAX_BATCH * 16);
            tokio::spawn(batch_writer(issuer.clone(), rx));
            issuer.batcher = Some(tx);
            issuer.writer = writer;
        }
        issuer
    }

    /// Runs one request in its own write transaction, or through the group-commit writer.
    async fn process_one(&self, req: &AuthRequest, fp: &str) -> Result<AuthResponse> {
        let queue = match (req.kind, &self.writer) {
            (RequestKind::Authorization | RequestKind::Financial, Some(w)) => Some(w),
            _ => self.batcher.as_ref(),
        };
        if let Some(b) = queue {
            let (done, rx) = oneshot::channel();
            let job = Job {
                req: req.clone(),
                fp: fp.to_owned(),
                done,
            };
            if b.send(job).await.is_ok() {
                return rx
                    .await
                    .unwrap_or_else(|_| Err(HostError::Db(sqlx::Error::PoolClosed)));
            }
        }
        let mut w = self.store.begin_write().await?;
        let resp = self.dispatch(&mut w.tx, req, fp).await?;
        w.commit().await?;
        Ok(resp)
    }

    /// Runs one request inside the caller's transaction.
    async fn dispatch(
        &self,
        conn: &mut AnyConnection,
        req: &AuthRequest,
        fp: &str,
    ) -> Result<AuthResponse> {
        match req.kind {
            RequestKind::Authorization | RequestKind::Financial => {
                let mut c = SqlxConn::new(conn, self.store.backend());
                self.auth_or_financial(&mut c, req, fp).await
            }
            RequestKind::Completion => self.completion(conn, req, fp).await,
            RequestKind::Reversal => self.reversal(conn, req, fp).await,
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The keys.
    pub fn keys(&self) -> &Arc<HostKeys> {
        &self.keys
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn fingerprint(&self, req: &AuthRequest) -> Result<String> {
        let mut h = Sha256::new();
        // Repeats (0101, 0401, 0221) are the same request as their original.
        h.update(req.kind.as_str());
        h.update([0]);
        if let Some(pan) = &req.pan {
            h.update(self.keys.pan_hash(pan)?);
        }
        h.update([0]);
        h.update(req.amount.to_be_bytes());
        h.update(&req.currency);
        h.update([0]);
        h.update(&req.processing_code);
        h.update([0]);
        if let Some((s, t)) = &req.original {
            h.update(s);
            h.update(t);
        }
        Ok(hex::encode(h.finalize()))
    }

    async fn lookup_idempotent(&self, key: &TxnKey, fp: &str) -> Result<Option<AuthResponse>> {
        let row = sqlx::query(
            "SELECT fingerprint, response FROM idempotency \
             WHERE acquirer = $1 AND terminal = $2 AND stan = $3 AND transmission = $4",
        )
        .bind(&key.acquirer)
        .bind(&key.terminal)
        .bind(&key.stan)
        .bind(&key.transmission)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let stored_fp: String = row.try_get("fingerprint")?;
        if stored_fp != fp {
            // Same key, different content: not a retransmission.
            return Ok(Some(AuthResponse {
                response_code: ResponseCode::DUPLICATE_TRANSMISSION.as_str().into(),
                approved_amount: 0,
                auth_code: None,
                icc: vec![],
                available: None,
                transaction_id: None,
                flags: vec!["duplicate_key".into()],
                duplicate: true,
            }));
        }
        let json: String = row.try_get("response")?;
        let mut resp: AuthResponse = serde_json::from_str(&json)
            .map_err(|e| HostError::Corrupt(format!("stored response: {e}")))?;
        resp.duplicate = true;
        Ok(Some(resp))
    }

    fn idempotent_stmt(
        buf: &mut WriteBuf,
        key: &TxnKey,
        fp: &str,
        resp: &AuthResponse,
        now: i64,
    ) -> Result<()> {
        let json = serde_json::to_string(resp).map_err(|e| HostError::Corrupt(e.to_string()))?;
        buf.push(
            "INSERT INTO idempotency (acquirer, terminal, stan, transmission, fingerprint, response, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            vec![
                Val::Text(key.acquirer.clone()),
                Val::Text(key.terminal.clone()),
                Val::Text(key.stan.clone()),
                Val::Text(key.transmission.clone()),
                Val::Text(fp.to_owned()),
                Val::Text(json),
                Val::Int(now),
            ],
        );
        Ok(())
    }

    async fn store_idempotent(
        &self,
        conn: &mut AnyConnection,
        key: &TxnKey,
        fp: &str,
        resp: &AuthResponse,
        now: i64,
    ) -> Result<()> {
        let mut buf = WriteBuf::default();
        Self::idempotent_stmt(&mut buf, key, fp, resp, now)?;
        buf.flush(conn, self.store.backend()).await
    }

    fn txn_stmt(buf: &mut WriteBuf, t: &TxnRow<'_>) {
        let captured_date = (t.captured != 0).then(|| t.today.to_owned());
        buf.push(
            "INSERT INTO transactions (id, mti, kind, card_id, account_id, pan_masked, acquirer, terminal, \
             merchant, stan, transmission, rrn, amount, approved_amount, captured_amount, captured_date, \
             currency, response_code, auth_code, status, original_id, atc, flags, business_date, settlement_id, created_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,NULL,$25)",
            vec![
                Val::Text(t.id.clone()),
                Val::Text(t.req.mti.clone()),
                Val::Text(t.kind.to_owned()),
                Val::OptText(t.card.map(|c| c.id.clone())),
                Val::OptText(t.card.map(|c| c.account_id.clone())),
                Val::OptText(t.card.map(|c| c.pan_masked.clone()).or_else(|| t.req.pan.as_deref().map(mask_pan))),
                Val::Text(t.req.key.acquirer.clone()),
                Val::Text(t.req.key.terminal.clone()),
                Val::Text(t.req.merchant.clone()),
                Val::Text(t.req.key.stan.clone()),
                Val::Text(t.req.key.transmission.clone()),
                Val::Text(t.req.rrn.clone()),
                Val::Int(t.req.amount),
                Val::Int(t.approved),
                Val::Int(t.captured),
                Val::OptText(captured_date),
                Val::Text(t.req.currency.clone()),
                Val::Text(t.code.as_str().to_owned()),
                Val::OptText(t.auth_code.map(str::to_owned)),
                Val::Text(t.status.to_owned()),
                Val::OptText(t.original_id.map(str::to_owned)),
                Val::OptInt(t.atc),
                Val::Text(t.flags.join(",")),
                Val::Text(t.today.to_owned()),
                Val::Int(t.now),
            ],
        );
    }

    async fn insert_txn(&self, conn: &mut AnyConnection, t: &TxnRow<'_>) -> Result<()> {
        let mut buf = WriteBuf::default();
        Self::txn_stmt(&mut buf, t);
        buf.flush(conn, self.store.backend()).await
    }

    /// Processes one request (any [`RequestKind`]) and returns the response. Errors are
    /// internal failures (database, configuration); the caller answers them with `96`.
    pub async fn authorize(&self, req: AuthRequest) -> Result<AuthResponse> {
        for (what, v) in [
            ("STAN", &req.key.stan),
            ("terminal", &req.key.terminal),
            ("transmission", &req.key.transmission),
        ] {
            if v.is_empty() {
                return Err(invalid(what, "missing"));
            }
        }
        let fp = self.fingerprint(&req)?;
        // No idempotency read before processing: a retransmission fails on the idempotency
        // key at insert, its transaction rolls back, and it is answered from the stored
        // record below. One round trip less on the hot path.
        let mut attempt = 0;
        loop {
            let result = self.process_one(&req, &fp).await;
            match result {
                Ok(r) => return Ok(r),
                Err(e) => {
                    // A concurrent retransmission may have committed first (idempotency
                    // key conflict): answer with its stored response.
                    if let Some(resp) = self.lookup_idempotent(&req.key, &fp).await? {
                        return Ok(resp);
                    }
                    // A transient database conflict (deadlock, serialization failure,
                    // busy) is retried: the transaction was rolled back as a whole.
                    attempt += 1;
                    if attempt >= 3
                        || !matches!(
                            e,
                            HostError::Db(_) | HostError::Sqlite(_) | HostError::GroupCommit(_)
                        )
                    {
                        return Err(e);
                    }
                    tracing::warn!(error = %e, attempt, "retrying request after a database error");
                }
            }
        }
    }

    /// 0100 / 0200 on the hot path's connection ([`HotConn`]: sqlx, or the SQLite
    /// writer's own connection): every read and the final flush go through `conn`, and
    /// nothing else here waits.
    async fn auth_or_financial<C: HotConn>(
        &self,
        conn: &mut C,
        req: &AuthRequest,
        fp: &str,
    ) -> Result<AuthResponse> {
        let now = self.clock.now_ms();
        let today = business_date(now);
        let pan = req
            .pan
            .as_deref()
            .ok_or_else(|| invalid("PAN", "missing"))?;
        let card = cards::lock_card_by_pan_in(&mut *conn, &self.keys, pan, req.psn).await?;
        let txn_id = new_id("txn");
        let Some(card) = card else {
            let flags = vec![];
            let row = TxnRow {
                id: txn_id.clone(),
                req,
                kind: req.kind.as_str(),
                card: None,
                code: ResponseCode::INVALID_CARD_NUMBER,
                approved: 0,
                captured: 0,
                status: "declined",
                auth_code: None,
                original_id: None,
                atc: None,
                flags: &flags,
                today: &today,
                now,
            };
            let mut buf = WriteBuf::default();
            Self::txn_stmt(&mut buf, &row);
            let resp = AuthResponse {
                response_code: ResponseCode::INVALID_CARD_NUMBER.as_str().into(),
                approved_amount: 0,
                auth_code: None,
                icc: vec![],
                available: None,
                transaction_id: Some(txn_id),
                flags,
                duplicate: false,
            };
            Self::idempotent_stmt(&mut buf, &req.key, fp, &resp, now)?;
            conn.flush(buf).await?;
            return Ok(resp);
        };
        let hot = ledger::lock_account_hot(
            &mut *conn,
            &card.account_id,
            &card.id,
            [
                req.key.acquirer.as_str(),
                req.key.terminal.as_str(),
                req.key.stan.as_str(),
                req.key.transmission.as_str(),
            ],
        )
        .await?
        .ok_or(HostError::NotFound("account"))?;
        let (account, queued_scripts) = (hot.account, hot.scripts);
        let (usage_n, usage_s) = card.usage_on(&today);
        let usage = Usage {
            count: usage_n,
            amount: usage_s,
        };
        let issuer_keys = self.keys.issuer(&card.key_ref);
        let keys = DecisionKeys {
            imk_ac: issuer_keys.map(|k| &k.imk_ac),
            bdk: self.keys.bdk(),
            pvk: self.keys.pvk(),
        };
        // A refund: 0200 with processing code 20 (an 0100 with code 20 is answered 57).
        let refund = req.kind == RequestKind::Financial && req.processing_code.starts_with("20");
        let d = if hot.reversed_early {
            // The terminal reversed this request before it reached us: nothing may be held
            // or posted for it.
            let mut d = decision::Decision::declined(ResponseCode::DO_NOT_HONOUR);
            d.flags.push("reversed_before_arrival".into());
            d
        } else if refund {
            // One more read, on the refund path only.
            let refundable = if card.refunds_allowed {
                Refundable::Up(refundable_in(&mut *conn, &card, req, now).await?)
            } else {
                Refundable::NotAllowed
            };
            decision::decide_refund(&card, &account, req, pan, refundable, &keys, now)
        } else {
            decision::decide(&card, &account, req, pan, usage, &keys, now)
        };

        // Every write of this request is buffered and sent at the end in one round trip
        // on SQLite (see `batch`).
        let mut buf = WriteBuf::default();
        // Card state: ATC and PIN tries.
        if let Some(atc) = d.new_atc {
            buf.push(
                "UPDATE cards SET last_atc = $1 WHERE id = $2",
                vec![Val::Int(atc), Val::Text(card.id.clone())],
            );
        }
        // Velocity counters: an approved authorization or purchase (not a refund) counts
        // for the day (the SET expressions all see the row as it was).
        if d.approved() && !refund {
            buf.push(
                "UPDATE cards SET \
                 usage_count = CASE WHEN usage_date = $1 THEN usage_count + 1 ELSE 1 END, \
                 usage_amount = CASE WHEN usage_date = $1 THEN usage_amount + $2 ELSE $2 END, \
                 usage_date = $1 WHERE id = $3",
                vec![
                    Val::Text(today.clone()),
                    Val::Int(d.approved_amount),
                    Val::Text(card.id.clone()),
                ],
            );
        }
        match d.pin_tries {
            PinTries::Unchanged => {}
            PinTries::Reset => buf.push(
                "UPDATE cards SET pin_tries = 0 WHERE id = $1",
                vec![Val::Text(card.id.clone())],
            ),
            PinTries::Increment => buf.push(
                "UPDATE cards SET pin_tries = pin_tries + 1 WHERE id = $1",
                vec![Val::Text(card.id.clone())],
            ),
        }

        let approved = d.approved();
        let auth_code = approved.then(random_auth_code);
        let (status, captured) = match (approved, req.kind) {
            (false, _) => ("declined", 0),
            // A refund moves money to the cardholder: negative, like a reversal.
            (true, RequestKind::Financial) if refund => ("captured", -d.approved_amount),
            (true, RequestKind::Financial) => ("captured", d.approved_amount),
            (true, _) => ("authorized", 0),
        };
        let atc = d.new_atc;
        let row = TxnRow {
            id: txn_id.clone(),
            req,
            kind: if refund {
                KIND_REFUND
            } else {
                req.kind.as_str()
            },
            card: Some(&card),
            code: d.code,
            approved: d.approved_amount,
            captured,
            status,
            auth_code: auth_code.as_deref(),
            original_id: None,
            atc,
            flags: &d.flags,
            today: &today,
            now,
        };
        Self::txn_stmt(&mut buf, &row);
        let mut available = account.available();
        if approved && refund {
            let settle = ledger::system_account_hot(
                &self.store,
                &mut *conn,
                AccountKind::Settlement,
                "issuer",
                &account.currency,
                now,
            )
            .await?;
            ledger::entry_stmts(
                &mut buf,
                &[
                    (account.id.as_str(), d.approved_amount),
                    (settle.as_str(), -d.approved_amount),
                ],
                &account.currency,
                Some(&txn_id),
                "refund",
                now,
            )?;
            available += d.approved_amount;
        } else if approved {
            match req.kind {
                RequestKind::Financial => {
                    let settle = ledger::system_account_hot(
                        &self.store,
                        &mut *conn,
                        AccountKind::Settlement,
                        "issuer",
                        &account.currency,
                        now,
                    )
                    .await?;
                    ledger::entry_stmts(
                        &mut buf,
                        &[
                            (account.id.as_str(), -d.approved_amount),
                            (settle.as_str(), d.approved_amount),
                        ],
                        &account.currency,
                        Some(&txn_id),
                        "purchase",
                        now,
                    )?;
                }
                _ => {
                    ledger::hold_stmts(
                        &mut buf,
                        &txn_id,
                        &account.id,
                        d.approved_amount,
                        &account.currency,
                        now,
                    );
                }
            }
            available -= d.approved_amount;
        }

        // Response ICC data: ARPC and queued scripts.
        let mut icc = Vec::new();
        if let Some(c) = &d.cryptogram {
            if let Some(iad) = decision::issuer_authentication_data(c, d.code) {
                icc.push(Tlv::primitive(0x91u32, iad));
            }
            let pending = if queued_scripts > 0 {
                cards::pending_scripts_in(&mut *conn, &card.id).await?
            } else {
                Vec::new()
            };
            let smi = issuer_keys.and_then(|k| k.imk_smi.as_ref());
            if let (false, Some(imk_smi)) = (pending.is_empty(), smi)
                && let Some(mk_smi) = decision::derive_mk_smi(c.cvn, imk_smi, pan, card.psn)
            {
                let mut script_bytes = 0;
                for s in pending {
                    let (header, data) = s.script.command()?;
                    let apdu = emv::script_command(
                        c.cvn,
                        mk_smi.as_bytes(),
                        c.atc,
                        &c.arqc,
                        header,
                        &data,
                        SCRIPT_MAC_LEN,
                    )?;
                    let script_id: [u8; 4] = Sha256::digest(s.id.as_bytes())
                        .get(..4)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 4]);
                    let template = Tlv::constructed(
                        u32::from(s.template),
                        vec![
                            Tlv::primitive(0x9F18u32, script_id.to_vec()),
                            Tlv::primitive(0x86u32, apdu),
                        ],
                    );
                    let len = Tlv::encode_all(std::slice::from_ref(&template)).len();
                    if script_bytes + len > MAX_SCRIPT_BYTES {
                        // The rest stays queued, in order, for the next online
                        // transaction.
                        break;
                    }
                    script_bytes += len;
                    icc.push(template);
                    buf.push(
                            "UPDATE script_queue SET status = 'sent', sent_transaction_id = $1 WHERE id = $2",
                            vec![Val::Text(txn_id.clone()), Val::Text(s.id.clone())],
                        );
                }
            }
        }
        let resp = AuthResponse {
            response_code: d.code.as_str().into(),
            approved_amount: d.approved_amount,
            auth_code,
            icc: Tlv::encode_all(&icc),
            available: Some(available),
            transaction_id: Some(txn_id),
            flags: d.flags.clone(),
            duplicate: false,
        };
        Self::idempotent_stmt(&mut buf, &req.key, fp, &resp, now)?;
        conn.flush(buf).await?;
        Ok(resp)
    }

    async fn find_original(
        &self,
        conn: &mut AnyConnection,
        req: &AuthRequest,
    ) -> Result<Option<(String, String, i64, i64, String, Option<String>, String)>> {
        let Some((stan, trans)) = &req.original else {
            return Ok(None);
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT id, status, approved_amount, captured_amount, currency, account_id, kind FROM transactions \
             WHERE acquirer = $1 AND terminal = $2 AND stan = $3 AND transmission = $4 \
             AND kind IN ('authorization', 'financial', 'completion', 'refund') ORDER BY created_at LIMIT 1{}",
            self.store.for_update()
        ));
        let row = sqlx::query(sql)
            .bind(&req.key.acquirer)
            .bind(&req.key.terminal)
            .bind(stan)
            .bind(trans)
            .fetch_optional(&mut *conn)
            .await?;
        row.map(|r| {
            Ok((
                r.try_get("id")?,
                r.try_get("status")?,
                r.try_get("approved_amount")?,
                r.try_get("captured_amount")?,
                r.try_get("currency")?,
                r.try_get("account_id")?,
                r.try_get("kind")?,
            ))
        })
        .transpose()
    }

    fn simple(
        code: ResponseCode,
        amount: i64,
        txn: Option<String>,
        flags: Vec<String>,
        available: Option<i64>,
    ) -> AuthResponse {
        AuthResponse {
            response_code: code.as_str().into(),
            approved_amount: amount,
            auth_code: None,
            icc: vec![],
            available,
            transaction_id: txn,
            flags,
            duplicate: false,
        }
    }

    async fn completion(
        &self,
        conn: &mut AnyConnection,
        req: &AuthRequest,
        fp: &str,
    ) -> Result<AuthResponse> {
        let now = self.clock.now_ms();
        let today = business_date(now);
        let txn_id = new_id("txn");
        let original = self.find_original(conn, req).await?;
        let resp = match original {
            Some((orig_id, status, approved, _captured, currency, Some(account_id), _)) => {
                let amount = if req.amount > 0 { req.amount } else { approved };
                let (code, flags, moved): (ResponseCode, Vec<String>, i64) = match status.as_str() {
                    "authorized" if amount <= approved && currency == req.currency => {
                        (ResponseCode::APPROVED, vec![], amount)
                    }
                    "authorized" => (ResponseCode::INVALID_AMOUNT, vec![], 0),
                    "captured" => (ResponseCode::APPROVED, vec!["already_captured".into()], 0),
                    _ => (
                        ResponseCode::INVALID_TRANSACTION,
                        vec![format!("original_{status}")],
                        0,
                    ),
                };
                let account = ledger::lock_account(&self.store, &mut *conn, &account_id)
                    .await?
                    .ok_or(HostError::NotFound("account"))?;
                if moved > 0 {
                    ledger::end_hold(&mut *conn, &orig_id, true).await?;
                    let settle = ledger::system_account_in(
                        &self.store,
                        &mut *conn,
                        AccountKind::Settlement,
                        "issuer",
                        &currency,
                        now,
                    )
                    .await?;
                    ledger::post_entry(
                        &mut *conn,
                        &[(account_id.as_str(), -moved), (settle.as_str(), moved)],
                        &currency,
                        Some(&orig_id),
                        "capture",
                        now,
                    )
                    .await?;
                    sqlx::query(
                        "UPDATE transactions SET status = 'captured', captured_amount = $1, captured_date = $2 WHERE id = $3",
                    )
                    .bind(moved)
                    .bind(&today)
                    .bind(&orig_id)
                    .execute(&mut *conn)
                    .await?;
                }
                let row = TxnRow {
                    id: txn_id.clone(),
                    req,
                    kind: req.kind.as_str(),
                    card: None,
                    code,
                    approved: moved,
                    captured: 0,
                    status: "done",
                    auth_code: None,
                    original_id: Some(&orig_id),
                    atc: None,
                    flags: &flags,
                    today: &today,
                    now,
                };
                self.insert_txn(&mut *conn, &row).await?;
                let available = account.available() + if moved > 0 { approved - moved } else { 0 };
                Self::simple(code, moved, Some(txn_id), flags, Some(available))
            }
            _ => {
                // No authorization to capture: an offline-approved transaction (TC)
                // reported by advice is posted as it stands.
                let Some(pan) = req.pan.as_deref() else {
                    let flags = vec!["original_not_found".to_string()];
                    let row = TxnRow {
                        id: txn_id.clone(),
                        req,
                        kind: req.kind.as_str(),
                        card: None,
                        code: ResponseCode::INVALID_TRANSACTION,
                        approved: 0,
                        captured: 0,
                        status: "declined",
                        auth_code: None,
                        original_id: None,
                        atc: None,
                        flags: &flags,
                        today: &today,
                        now,
                    };
                    self.insert_txn(&mut *conn, &row).await?;
                    let resp = Self::simple(
                        ResponseCode::INVALID_TRANSACTION,
                        0,
                        Some(txn_id),
                        flags,
                        None,
                    );
                    self.store_idempotent(&mut *conn, &req.key, fp, &resp, now)
                        .await?;
                    return Ok(resp);
                };
                let card =
                    cards::lock_card_by_pan(&self.store, &mut *conn, &self.keys, pan, req.psn)
                        .await?;
                match card {
                    Some(card) if req.amount > 0 => {
                        self.offline_advice(&mut *conn, req, &card, pan, &txn_id, &today, now)
                            .await?
                    }
                    other => {
                        let code = if other.is_none() {
                            ResponseCode::INVALID_CARD_NUMBER
                        } else {
                            ResponseCode::INVALID_AMOUNT
                        };
                        let row = TxnRow {
                            id: txn_id.clone(),
                            req,
                            kind: req.kind.as_str(),
                            card: other.as_ref(),
                            code,
                            approved: 0,
                            captured: 0,
                            status: "declined",
                            auth_code: None,
                            original_id: None,
                            atc: None,
                            flags: &[],
                            today: &today,
                            now,
                        };
                        self.insert_txn(&mut *conn, &row).await?;
                        Self::simple(code, 0, Some(txn_id), vec![], None)
                    }
                }
            }
        };
        self.store_idempotent(&mut *conn, &req.key, fp, &resp, now)
            .await?;
        Ok(resp)
    }

    /// Checks the Transaction Certificate of an offline advice (EMV Book 2 §8.1: a TC is
    /// computed like an ARQC, so it is verified the same way with the card's MK_AC) and
    /// its ATC against the ATCs of the card's earlier offline advices. `Ok(atc)` when the
    /// advice may be posted; otherwise the response code and flags.
    async fn check_advice_tc(
        &self,
        conn: &mut AnyConnection,
        card: &Card,
        pan: &str,
        req: &AuthRequest,
    ) -> Result<std::result::Result<i64, (ResponseCode, Vec<String>)>> {
        let refuse = |code: ResponseCode, flags: &[&str]| {
            Ok(Err((code, flags.iter().map(|f| (*f).to_owned()).collect())))
        };
        if req.icc.is_empty() {
            return refuse(ResponseCode::DO_NOT_HONOUR, &["tc_missing"]);
        }
        let Ok(icc) = Tlv::parse_all(&req.icc) else {
            return refuse(ResponseCode::FORMAT_ERROR, &["icc_format"]);
        };
        // Cryptogram Information Data (Book 3 Table 14): bits 8-7 = 01 for a TC.
        if decision::tag_value(&icc, 0x9F27)
            .and_then(|c| c.first())
            .is_some_and(|cid| cid & 0xC0 != 0x40)
        {
            return refuse(ResponseCode::DO_NOT_HONOUR, &["not_a_tc"]);
        }
        let Some(imk) = self.keys.issuer(&card.key_ref).map(|k| &k.imk_ac) else {
            return refuse(ResponseCode::SYSTEM_MALFUNCTION, &["no_issuer_keys"]);
        };
        let c = match decision::verify_cryptogram(card, pan, imk, &icc) {
            Ok(c) => c,
            Err("arqc_failed") => return refuse(ResponseCode::DO_NOT_HONOUR, &["tc_failed"]),
            Err(flag) => return refuse(ResponseCode::DO_NOT_HONOUR, &["tc_failed", flag]),
        };
        let atc = i64::from(c.atc);
        let seen = sqlx::query("SELECT atc FROM offline_atcs WHERE card_id = $1 AND atc = $2")
            .bind(&card.id)
            .bind(atc)
            .fetch_optional(&mut *conn)
            .await?;
        if seen.is_some() {
            return refuse(ResponseCode::SUSPECTED_FRAUD, &["atc_replay"]);
        }
        Ok(Ok(atc))
    }

    /// An offline advice (0220 without an original): a purchase or refund the card
    /// approved offline. Posted when its TC verifies and its ATC is new for the card's
    /// offline advices ([`Self::check_advice_tc`]); a refund also needs an active card
    /// that accepts refunds, within what the card paid the merchant.
    #[allow(clippy::too_many_arguments)]
    async fn offline_advice(
        &self,
        conn: &mut AnyConnection,
        req: &AuthRequest,
        card: &Card,
        pan: &str,
        txn_id: &str,
        today: &str,
        now: i64,
    ) -> Result<AuthResponse> {
        let account = ledger::lock_account(&self.store, &mut *conn, &card.account_id)
            .await?
            .ok_or(HostError::NotFound("account"))?;
        let refund = req.processing_code.starts_with("20");
        let mut flags = vec!["offline_advice".to_string()];
        let (mut code, atc) = match self.check_advice_tc(&mut *conn, card, pan, req).await? {
            Ok(atc) => (ResponseCode::APPROVED, Some(atc)),
            Err((code, f)) => {
                flags.extend(f);
                (code, None)
            }
        };
        if code == ResponseCode::APPROVED && account.currency != req.currency {
            code = ResponseCode::INVALID_TRANSACTION;
        }
        if code == ResponseCode::APPROVED && refund {
            let stopped = match card.status {
                CardStatus::Active => None,
                CardStatus::Lost => Some(ResponseCode::LOST_CARD),
                CardStatus::Stolen => Some(ResponseCode::STOLEN_CARD),
                CardStatus::Blocked => Some(ResponseCode::RESTRICTED_CARD),
                CardStatus::Expired => Some(ResponseCode::EXPIRED_CARD),
            };
            if let Some(c) = stopped {
                code = c;
            } else if account.status != "active" {
                code = ResponseCode::RESTRICTED_CARD;
            } else if !card.refunds_allowed {
                code = ResponseCode::NOT_PERMITTED_CARDHOLDER;
                flags.push("refunds_not_allowed".into());
            } else {
                let mut c = SqlxConn::new(&mut *conn, self.store.backend());
                if refundable_in(&mut c, card, req, now).await? < req.amount {
                    code = ResponseCode::NOT_PERMITTED_CARDHOLDER;
                    flags.push("refund_exceeds_captures".into());
                }
            }
        }
        let ok = code == ResponseCode::APPROVED;
        let amount = if ok { req.amount } else { 0 };
        let row = TxnRow {
            id: txn_id.to_owned(),
            req,
            kind: if refund {
                KIND_REFUND
            } else {
                req.kind.as_str()
            },
            card: Some(card),
            code,
            approved: amount,
            captured: if refund { -amount } else { amount },
            status: if ok { "captured" } else { "declined" },
            auth_code: None,
            original_id: None,
            atc,
            flags: &flags,
            today,
            now,
        };
        self.insert_txn(&mut *conn, &row).await?;
        if !ok {
            return Ok(Self::simple(code, 0, Some(txn_id.to_owned()), flags, None));
        }
        if let Some(atc) = atc {
            sqlx::query(
                "INSERT INTO offline_atcs (card_id, atc, transaction_id, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(&card.id)
            .bind(atc)
            .bind(txn_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        let settle = ledger::system_account_in(
            &self.store,
            &mut *conn,
            AccountKind::Settlement,
            "issuer",
            &account.currency,
            now,
        )
        .await?;
        // Purchase: cardholder pays; refund: cardholder is credited.
        let to_card = if refund { amount } else { -amount };
        ledger::post_entry(
            &mut *conn,
            &[(account.id.as_str(), to_card), (settle.as_str(), -to_card)],
            &account.currency,
            Some(txn_id),
            if refund {
                "offline refund"
            } else {
                "offline purchase"
            },
            now,
        )
        .await?;
        Ok(Self::simple(
            code,
            amount,
            Some(txn_id.to_owned()),
            flags,
            Some(account.available() + to_card),
        ))
    }

    /// Undoes what still stands of a captured original (`captured`: its signed captured
    /// amount) — all of it, or down to `keep`
    /// (DE 95) — and returns the flags, the amount moved and the account's new
    /// available balance. A purchase (`refund` false) gives the money back to the
    /// cardholder; a refund takes it back. What stands is the capture less the earlier
    /// (partial) reversals of the same kind; once nothing stands, the original is
    /// `reversed` (and a purchase leaves its card's velocity counters).
    #[allow(clippy::too_many_arguments)] // the original, its account and the request's data
    async fn reverse_capture(
        &self,
        conn: &mut AnyConnection,
        orig_id: &str,
        captured: i64,
        account: &ledger::Account,
        currency: &str,
        txn_id: &str,
        keep: Option<i64>,
        refund: bool,
        now: i64,
    ) -> Result<(Vec<String>, i64, i64)> {
        // +1: money goes back to the cardholder; −1: it is taken back.
        let sign: i64 = if refund { -1 } else { 1 };
        let earlier: i64 = sqlx::query(
            "SELECT COALESCE(CAST(SUM(captured_amount) AS BIGINT), 0) AS s FROM transactions \
             WHERE original_id = $1 AND kind = $2",
        )
        .bind(orig_id)
        .bind(if refund {
            "refund_reversal"
        } else {
            "reversal"
        })
        .fetch_one(&mut *conn)
        .await?
        .try_get("s")?;
        let standing = sign * (captured + earlier);
        let back = match keep {
            Some(k) => (standing - k).max(0),
            None => standing,
        };
        if back > 0 {
            let settle = ledger::system_account_in(
                &self.store,
                &mut *conn,
                AccountKind::Settlement,
                "issuer",
                currency,
                now,
            )
            .await?;
            ledger::post_entry(
                &mut *conn,
                &[
                    (account.id.as_str(), sign * back),
                    (settle.as_str(), -sign * back),
                ],
                currency,
                Some(txn_id),
                if refund {
                    "refund reversal"
                } else {
                    "reversal"
                },
                now,
            )
            .await?;
        }
        if standing - back == 0 {
            sqlx::query("UPDATE transactions SET status = 'reversed' WHERE id = $1")
                .bind(orig_id)
                .execute(&mut *conn)
                .await?;
            if !refund {
                release_usage(&mut *conn, orig_id).await?;
            }
        }
        let flags = match (keep, back) {
            (_, 0) => vec!["nothing_to_reverse".to_string()],
            (Some(_), _) => vec!["partial_reversal".to_string()],
            (None, _) => vec![],
        };
        Ok((flags, back, account.available() + sign * back))
    }

    async fn reversal(
        &self,
        conn: &mut AnyConnection,
        req: &AuthRequest,
        fp: &str,
    ) -> Result<AuthResponse> {
        let now = self.clock.now_ms();
        let today = business_date(now);
        let txn_id = new_id("txn");
        let original = self.find_original(conn, req).await?;
        // Reversing a refund takes the money back from the cardholder.
        let of_refund = original.as_ref().is_some_and(|o| o.6 == KIND_REFUND);
        let (code, flags, moved, orig_id, available): (
            ResponseCode,
            Vec<String>,
            i64,
            Option<String>,
            Option<i64>,
        ) = match original {
            None => {
                // Remember it: if the original arrives later it is declined.
                if let Some((stan, trans)) = &req.original {
                    sqlx::query(
                        "INSERT INTO early_reversals (acquirer, terminal, stan, transmission, reversal_id, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (acquirer, terminal, stan, transmission) DO NOTHING",
                    )
                    .bind(&req.key.acquirer)
                    .bind(&req.key.terminal)
                    .bind(stan)
                    .bind(trans)
                    .bind(&txn_id)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                (
                    ResponseCode::APPROVED,
                    vec!["original_not_found".into()],
                    0,
                    None,
                    None,
                )
            }
            Some((orig_id, status, _approved, captured, currency, account_id, _kind)) => {
                let account = match &account_id {
                    Some(a) => ledger::lock_account(&self.store, &mut *conn, a).await?,
                    None => None,
                };
                // DE 95: the amount that stands after a partial reversal.
                let keep = req.replacement_amount.filter(|r| *r > 0);
                match (status.as_str(), account) {
                    ("captured", Some(account)) if of_refund && captured < 0 => {
                        let (flags, back, available) = self
                            .reverse_capture(
                                conn, &orig_id, captured, &account, &currency, &txn_id, keep, true,
                                now,
                            )
                            .await?;
                        (
                            ResponseCode::APPROVED,
                            flags,
                            back,
                            Some(orig_id),
                            Some(available),
                        )
                    }
                    ("authorized", Some(account)) => {
                        let held: i64 = sqlx::query(
                            "SELECT amount FROM holds WHERE transaction_id = $1 AND status = 'active'",
                        )
                        .bind(&orig_id)
                        .fetch_optional(&mut *conn)
                        .await?
                        .map(|r| r.try_get("amount"))
                        .transpose()?
                        .unwrap_or(0);
                        match keep {
                            Some(k) if k < held => {
                                // Partial: the hold shrinks to the amount that stands.
                                sqlx::query(
                                    "UPDATE holds SET amount = $1 WHERE transaction_id = $2 AND status = 'active'",
                                )
                                .bind(k)
                                .bind(&orig_id)
                                .execute(&mut *conn)
                                .await?;
                                sqlx::query("UPDATE accounts SET held = held - $1 WHERE id = $2")
                                    .bind(held - k)
                                    .bind(&account.id)
                                    .execute(&mut *conn)
                                    .await?;
                                sqlx::query(
                                    "UPDATE transactions SET approved_amount = $1 WHERE id = $2",
                                )
                                .bind(k)
                                .bind(&orig_id)
                                .execute(&mut *conn)
                                .await?;
                                (
                                    ResponseCode::APPROVED,
                                    vec!["partial_reversal".into()],
                                    0,
                                    Some(orig_id),
                                    Some(account.available() + (held - k)),
                                )
                            }
                            Some(_) => (
                                ResponseCode::APPROVED,
                                vec!["nothing_to_reverse".into()],
                                0,
                                Some(orig_id),
                                None,
                            ),
                            None => {
                                let released = ledger::end_hold(&mut *conn, &orig_id, false)
                                    .await?
                                    .unwrap_or(0);
                                sqlx::query(
                                    "UPDATE transactions SET status = 'reversed' WHERE id = $1",
                                )
                                .bind(&orig_id)
                                .execute(&mut *conn)
                                .await?;
                                release_usage(&mut *conn, &orig_id).await?;
                                (
                                    ResponseCode::APPROVED,
                                    vec![],
                                    0,
                                    Some(orig_id),
                                    Some(account.available() + released),
                                )
                            }
                        }
                    }
                    ("captured", Some(account)) if captured > 0 => {
                        let (flags, back, available) = self
                            .reverse_capture(
                                conn, &orig_id, captured, &account, &currency, &txn_id, keep,
                                false, now,
                            )
                            .await?;
                        (
                            ResponseCode::APPROVED,
                            flags,
                            back,
                            Some(orig_id),
                            Some(available),
                        )
                    }
                    ("reversed", _) => (
                        ResponseCode::APPROVED,
                        vec!["already_reversed".into()],
                        0,
                        Some(orig_id),
                        None,
                    ),
                    (other, _) => (
                        ResponseCode::APPROVED,
                        vec![format!("original_{other}")],
                        0,
                        Some(orig_id),
                        None,
                    ),
                }
            }
        };
        let row = TxnRow {
            id: txn_id.clone(),
            req,
            kind: if of_refund {
                KIND_REFUND_REVERSAL
            } else {
                req.kind.as_str()
            },
            card: None,
            code,
            approved: moved,
            // A refund reversal moves money from the cardholder again: positive.
            captured: if of_refund { moved } else { -moved },
            status: "done",
            auth_code: None,
            original_id: orig_id.as_deref(),
            atc: None,
            flags: &flags,
            today: &today,
            now,
        };
        self.insert_txn(&mut *conn, &row).await?;
        if let Some(orig) = &orig_id {
            // The reversal row inherits the original's merchant and account for clearing.
            sqlx::query(
                "UPDATE transactions SET merchant = (SELECT o.merchant FROM transactions o WHERE o.id = $1), \
                 account_id = (SELECT o.account_id FROM transactions o WHERE o.id = $1), \
                 card_id = (SELECT o.card_id FROM transactions o WHERE o.id = $1), \
                 pan_masked = (SELECT o.pan_masked FROM transactions o WHERE o.id = $1), \
                 currency = (SELECT o.currency FROM transactions o WHERE o.id = $1) WHERE id = $2",
            )
            .bind(orig)
            .bind(&txn_id)
            .execute(&mut *conn)
            .await?;
        }
        let resp = Self::simple(code, moved, Some(txn_id), flags, available);
        self.store_idempotent(&mut *conn, &req.key, fp, &resp, now)
            .await?;
        Ok(resp)
    }

    /// One page of the transactions matching `f` (its `limit` is ignored: the page's
    /// counts), newest first (keyset on `(created_at, id)` descending).
    pub async fn transactions_page(
        &self,
        f: &TxnFilter,
        page: &crate::page::PageRequest,
    ) -> Result<crate::page::Page<Transaction>> {
        let after = page.after_time_id()?;
        let (keyset, limit) = match after {
            Some(_) => (" AND (created_at, id) < ($5, $6)", "$7"),
            None => ("", "$5"),
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TXN_COLS} FROM transactions WHERE ($1 = '' OR card_id = $1) AND ($2 = '' OR terminal = $2) \
             AND ($3 = '' OR business_date = $3) AND ($4 = '' OR response_code = $4){keyset} \
             ORDER BY created_at DESC, id DESC LIMIT {limit}"
        ));
        let mut q = sqlx::query(sql)
            .bind(f.card_id.clone().unwrap_or_default())
            .bind(f.terminal.clone().unwrap_or_default())
            .bind(f.date.clone().unwrap_or_default())
            .bind(f.response_code.clone().unwrap_or_default());
        if let Some((at, id)) = after {
            q = q.bind(at).bind(id);
        }
        let rows = q.bind(page.fetch()).fetch_all(self.store.pool()).await?;
        let rows = rows
            .iter()
            .map(|r| {
                let t = txn_from_row(r)?;
                let key = vec![t.created_at.to_string(), t.id.clone()];
                Ok((t, key))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::page::Page::from_rows(rows, page))
    }

    /// Transactions matching `f`, newest first, at most `f.limit` (default 100, clamped to
    /// 1..=1000); the API pages with [`Issuer::transactions_page`].
    pub async fn transactions(&self, f: &TxnFilter) -> Result<Vec<Transaction>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {TXN_COLS} FROM transactions WHERE ($1 = '' OR card_id = $1) AND ($2 = '' OR terminal = $2) \
             AND ($3 = '' OR business_date = $3) AND ($4 = '' OR response_code = $4) \
             ORDER BY created_at DESC, id DESC LIMIT $5"
        ));
        let rows = sqlx::query(sql)
            .bind(f.card_id.clone().unwrap_or_default())
            .bind(f.terminal.clone().unwrap_or_default())
            .bind(f.date.clone().unwrap_or_default())
            .bind(f.response_code.clone().unwrap_or_default())
            .bind(f.limit.unwrap_or(100).clamp(1, 1000))
            .fetch_all(self.store.pool())
            .await?;
        rows.iter().map(txn_from_row).collect()
    }
}
