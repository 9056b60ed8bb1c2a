//! Cards: issuance (PAN protected by [`HostKeys`]), lookup by PAN, status changes, and the
//! issuer script queue.

use lamina_crypto::emv::Cvn;
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::batch::Val;
use crate::error::{HostError, Result, invalid};
use crate::hot::{HotConn, RowGet, SqlxConn};
use crate::keys::{HostKeys, mask_pan};
use crate::page::{Page, PageRequest};
use crate::store::{Store, new_id};

/// Card status (issue 7: active, blocked, lost, stolen, expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CardStatus {
    /// Usable.
    Active,
    /// Blocked by the issuer (temporarily).
    Blocked,
    /// Reported lost.
    Lost,
    /// Reported stolen.
    Stolen,
    /// Expired (set by the back office; expiry is also checked from the date).
    Expired,
}

impl CardStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            CardStatus::Active => "active",
            CardStatus::Blocked => "blocked",
            CardStatus::Lost => "lost",
            CardStatus::Stolen => "stolen",
            CardStatus::Expired => "expired",
        }
    }
    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "active" => CardStatus::Active,
            "blocked" => CardStatus::Blocked,
            "lost" => CardStatus::Lost,
            "stolen" => CardStatus::Stolen,
            "expired" => CardStatus::Expired,
            _ => return None,
        })
    }
}

/// The stored name of a cryptogram version profile.
pub fn cvn_name(cvn: Cvn) -> &'static str {
    match cvn {
        Cvn::Visa10 => "visa10",
        Cvn::Visa18 => "visa18",
        Cvn::Mastercard16 => "mastercard16",
        Cvn::Interac133 => "interac133",
        Cvn::EmvAes => "emv-aes",
        _ => "emv-ccd",
    }
}

/// Parses a stored profile name.
pub fn parse_cvn(s: &str) -> Option<Cvn> {
    Some(match s {
        "visa10" => Cvn::Visa10,
        "visa18" => Cvn::Visa18,
        "mastercard16" => Cvn::Mastercard16,
        "interac133" => Cvn::Interac133,
        "emv-ccd" => Cvn::EmvCcd,
        "emv-aes" => Cvn::EmvAes,
        _ => return None,
    })
}

/// A card as stored (no clear PAN; Debug redacts the PVV and the PIN offset).
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct Card {
    /// Identifier.
    pub id: String,
    /// Masked PAN.
    pub pan_masked: String,
    /// PAN sequence number.
    pub psn: u8,
    /// Expiry YYMM.
    pub expiry: String,
    /// Status.
    pub status: CardStatus,
    /// Account the card draws on.
    pub account_id: String,
    /// Cryptogram profile name (see [`parse_cvn`]).
    pub cvn: String,
    /// Issuer key set name.
    pub key_ref: String,
    /// Highest ATC seen online (-1 = none).
    pub last_atc: i64,
    /// PVKI digit ‖ Visa PVV (5 digits), if the card's online PIN is verified by the
    /// Visa PVV method.
    #[serde(skip)]
    pub pvv: Option<String>,
    /// IBM 3624 PIN offset (4–12 digits), if the card's online PIN is verified by the
    /// IBM 3624 offset method (with [`Card::ibm3624`]).
    #[serde(skip)]
    pub pin_offset: Option<String>,
    /// IBM 3624 parameters of [`Card::pin_offset`].
    #[serde(skip)]
    pub ibm3624: Option<Ibm3624Params>,
    /// Whether refunds (processing code 20) may be credited to this card (else `57`).
    pub refunds_allowed: bool,
    /// Consecutive wrong online PINs.
    pub pin_tries: i64,
    /// Limit of wrong online PINs before code 75.
    pub pin_try_limit: i64,
    /// Business date (YYYY-MM-DD) of the velocity counters below ('' = none yet).
    pub usage_date: String,
    /// Approved authorizations and purchases on `usage_date` (not reversed).
    pub usage_count: i64,
    /// Their approved amounts, minor units.
    pub usage_amount: i64,
    #[serde(skip)]
    pub(crate) pan_enc: String,
}

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card")
            .field("id", &self.id)
            .field("pan_masked", &self.pan_masked)
            .field("psn", &self.psn)
            .field("expiry", &self.expiry)
            .field("status", &self.status)
            .field("account_id", &self.account_id)
            .field("cvn", &self.cvn)
            .field("key_ref", &self.key_ref)
            .field("last_atc", &self.last_atc)
            .field("pvv", &self.pvv.as_ref().map(|_| "REDACTED"))
            .field("pin_offset", &self.pin_offset.as_ref().map(|_| "REDACTED"))
            .field("ibm3624", &self.ibm3624)
            .field("refunds_allowed", &self.refunds_allowed)
            .field("pin_tries", &self.pin_tries)
            .field("pin_try_limit", &self.pin_try_limit)
            .field("usage_date", &self.usage_date)
            .field("usage_count", &self.usage_count)
            .field("usage_amount", &self.usage_amount)
            .finish_non_exhaustive()
    }
}

const CARD_COLS: &str = "id, pan_masked, pan_enc, psn, expiry, status, account_id, cvn, key_ref, \
     last_atc, pvv, pin_offset, pin_params, refunds_allowed, pin_tries, pin_try_limit, \
     usage_date, usage_count, usage_amount";

fn card_from_row(row: &dyn RowGet) -> Result<Card> {
    let status = row.text("status")?;
    let psn = row.int("psn")?;
    Ok(Card {
        id: row.text("id")?,
        pan_masked: row.text("pan_masked")?,
        pan_enc: row.text("pan_enc")?,
        psn: u8::try_from(psn).map_err(|_| HostError::Corrupt("PSN".into()))?,
        expiry: row.text("expiry")?,
        status: CardStatus::parse(&status)
            .ok_or_else(|| HostError::Corrupt(format!("card status {status}")))?,
        account_id: row.text("account_id")?,
        cvn: row.text("cvn")?,
        key_ref: row.text("key_ref")?,
        last_atc: row.int("last_atc")?,
        pvv: row.opt_text("pvv")?,
        pin_offset: row.opt_text("pin_offset")?,
        ibm3624: row
            .opt_text("pin_params")?
            .map(|p| {
                Ibm3624Params::parse(&p)
                    .ok_or_else(|| HostError::Corrupt("IBM 3624 PIN parameters".into()))
            })
            .transpose()?,
        refunds_allowed: row.int("refunds_allowed")? != 0,
        pin_tries: row.int("pin_tries")?,
        pin_try_limit: row.int("pin_try_limit")?,
        usage_date: row.text("usage_date")?,
        usage_count: row.int("usage_count")?,
        usage_amount: row.int("usage_amount")?,
    })
}

impl Card {
    /// The card's approved usage on `date` (velocity limits): its counters if they are
    /// of that date, else nothing yet.
    pub fn usage_on(&self, date: &str) -> (i64, i64) {
        if self.usage_date == date {
            (self.usage_count, self.usage_amount)
        } else {
            (0, 0)
        }
    }
}

/// IBM 3624 PIN verification parameters of a card (IBM CCA "IBM-PINO" method, see
/// [`lamina_crypto::pvv::Ibm3624`]): the PIN verification key is the host's PVK (key
/// file `pvk`); the validation data is the run of `vd_len` PAN digits starting at
/// `vd_start` (0 = leftmost), padded on the right to 16 hex digits with `pad`; the
/// enciphered block is decimalized through `decimalization`.
///
/// Stored in `cards.pin_params` as `table:start:length:pad`.
#[derive(Clone, PartialEq, Eq)]
pub struct Ibm3624Params {
    /// Decimalization table: 16 decimal digits (usually `0123456789012345`).
    pub decimalization: String,
    /// First PAN digit of the validation data (0 = leftmost).
    pub vd_start: u8,
    /// Number of PAN digits in the validation data (1–16).
    pub vd_len: u8,
    /// Pad character (a hex digit) completing the validation data to 16 digits.
    pub pad: char,
}

impl Default for Ibm3624Params {
    /// Table `0123456789012345`, validation data = the 16 leftmost PAN digits (all of
    /// a shorter PAN), pad `F`.
    fn default() -> Self {
        Ibm3624Params {
            decimalization: "0123456789012345".into(),
            vd_start: 0,
            vd_len: 16,
            pad: 'F',
        }
    }
}

impl std::fmt::Debug for Ibm3624Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Decimalization tables are secret in HSM practice.
        f.debug_struct("Ibm3624Params")
            .field("decimalization", &"REDACTED")
            .field("vd_start", &self.vd_start)
            .field("vd_len", &self.vd_len)
            .field("pad", &self.pad)
            .finish()
    }
}

impl Ibm3624Params {
    /// Checks the values (table of 16 digits, 1–16 validation digits, hex pad).
    pub fn check(&self) -> Result<()> {
        lamina_crypto::pvv::DecimalizationTable::new(&self.decimalization)
            .map_err(|_| invalid("decimalization table", "16 decimal digits"))?;
        if !(1..=16).contains(&self.vd_len) {
            return Err(invalid("PIN validation data", "1 to 16 PAN digits"));
        }
        if !self.pad.is_ascii_hexdigit() {
            return Err(invalid("PIN pad", "a hexadecimal digit"));
        }
        Ok(())
    }

    /// The stored form `table:start:length:pad`.
    pub fn to_stored(&self) -> String {
        format!(
            "{}:{}:{}:{}",
            self.decimalization,
            self.vd_start,
            self.vd_len,
            self.pad.to_ascii_uppercase()
        )
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split(':');
        let p = Ibm3624Params {
            decimalization: it.next()?.to_owned(),
            vd_start: it.next()?.parse().ok()?,
            vd_len: it.next()?.parse().ok()?,
            pad: {
                let mut c = it.next()?.chars();
                let pad = c.next()?;
                if c.next().is_some() {
                    return None;
                }
                pad
            },
        };
        if it.next().is_some() || p.check().is_err() {
            return None;
        }
        Some(p)
    }

    /// The validation data of `pan`: the configured run of PAN digits (cut at the PAN's
    /// end). `None` when the PAN has no digit at `vd_start`.
    pub fn validation_data<'p>(&self, pan: &'p str) -> Option<&'p str> {
        let start = usize::from(self.vd_start);
        let end = (start + usize::from(self.vd_len)).min(pan.len());
        pan.get(start..end).filter(|v| !v.is_empty())
    }
}

/// Issuance options beyond [`NewCard`] (kept apart so existing [`NewCard`] literals stay
/// valid): the IBM 3624 PIN offset and the refund permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardOptions {
    /// IBM 3624 offset (4–12 digits) and its parameters; excludes [`NewCard::pvv`].
    pub ibm3624: Option<(Ibm3624Offset, Ibm3624Params)>,
    /// Whether refunds may be credited to the card (default true).
    pub refunds_allowed: bool,
}

impl Default for CardOptions {
    fn default() -> Self {
        CardOptions {
            ibm3624: None,
            refunds_allowed: true,
        }
    }
}

/// An IBM 3624 PIN offset (4–12 decimal digits; printed REDACTED).
#[derive(Clone, PartialEq, Eq)]
pub struct Ibm3624Offset(pub String);

impl std::fmt::Debug for Ibm3624Offset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ibm3624Offset(REDACTED)")
    }
}

/// Parameters of a new card.
#[derive(Clone)]
pub struct NewCard {
    /// PAN (12–19 digits).
    pub pan: String,
    /// PAN sequence number (0–99).
    pub psn: u8,
    /// Expiry YYMM.
    pub expiry: String,
    /// Account to draw on.
    pub account_id: String,
    /// Cryptogram profile.
    pub cvn: Cvn,
    /// Issuer key set name.
    pub key_ref: String,
    /// Visa PVV with its PVKI (`(pvki, "1234")`), if the card has an online PIN.
    pub pvv: Option<(u8, String)>,
    /// Wrong online PIN limit.
    pub pin_try_limit: i64,
}

impl std::fmt::Debug for NewCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCard")
            .field("pan", &mask_pan(&self.pan))
            .field("psn", &self.psn)
            .field("expiry", &self.expiry)
            .field("account_id", &self.account_id)
            .field("cvn", &self.cvn)
            .finish_non_exhaustive()
    }
}

fn check_pan(pan: &str) -> Result<()> {
    if (12..=19).contains(&pan.len()) && pan.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(invalid("PAN", "12 to 19 digits"))
    }
}

/// Checks a YYMM expiry.
pub fn check_expiry(e: &str) -> Result<()> {
    let ok = e.len() == 4
        && e.bytes().all(|b| b.is_ascii_digit())
        && e.get(2..4)
            .and_then(|m| m.parse::<u8>().ok())
            .is_some_and(|m| (1..=12).contains(&m));
    if ok {
        Ok(())
    } else {
        Err(invalid("expiry", "YYMM"))
    }
}

/// Issues a card: stores the PAN's keyed hash and its AES-GCM encryption.
pub async fn issue_card(store: &Store, keys: &HostKeys, new: &NewCard, now: i64) -> Result<Card> {
    issue_card_with(store, keys, new, &CardOptions::default(), now).await
}

/// [`issue_card`] with [`CardOptions`] (IBM 3624 PIN offset, refund permission).
pub async fn issue_card_with(
    store: &Store,
    keys: &HostKeys,
    new: &NewCard,
    opts: &CardOptions,
    now: i64,
) -> Result<Card> {
    check_pan(&new.pan)?;
    check_expiry(&new.expiry)?;
    if !(1..=MAX_PIN_TRY_LIMIT).contains(&new.pin_try_limit) {
        return Err(invalid(
            "pin_try_limit",
            format!("1 to {MAX_PIN_TRY_LIMIT}"),
        ));
    }
    if new.psn > 99 {
        return Err(invalid("PSN", "0 to 99"));
    }
    if keys.issuer(&new.key_ref).is_none() {
        return Err(invalid("key_ref", "no such issuer key set"));
    }
    let pvv = match &new.pvv {
        Some((pvki, pvv))
            if *pvki <= 9 && pvv.len() == 4 && pvv.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(format!("{pvki}{pvv}"))
        }
        Some(_) => return Err(invalid("PVV", "PVKI 0-9 and 4 digits")),
        None => None,
    };
    let (offset, params) = match &opts.ibm3624 {
        Some(_) if pvv.is_some() => {
            return Err(invalid(
                "PIN",
                "either a PVV or an IBM 3624 offset, not both",
            ));
        }
        Some((Ibm3624Offset(off), params)) => {
            params.check()?;
            if !(4..=12).contains(&off.len()) || !off.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("PIN offset", "4 to 12 digits"));
            }
            if params.validation_data(&new.pan).is_none() {
                return Err(invalid("PIN validation data", "starts beyond the PAN"));
            }
            (Some(off.clone()), Some(params.to_stored()))
        }
        None => (None, None),
    };
    let id = new_id("card");
    let mut w = store.begin_write().await?;
    refuse_unknown_account_or_duplicate(&mut w.tx, keys, new).await?;
    sqlx::query(
        "INSERT INTO cards (id, pan_hash, pan_enc, pan_masked, psn, expiry, status, account_id, cvn, \
         key_ref, last_atc, pvv, pin_offset, pin_params, refunds_allowed, pin_tries, pin_try_limit, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, -1, $10, $11, $12, $13, 0, $14, $15)",
    )
    .bind(&id)
    .bind(keys.pan_hash(&new.pan)?)
    .bind(keys.encrypt_pan(&new.pan)?)
    .bind(mask_pan(&new.pan))
    .bind(i64::from(new.psn))
    .bind(&new.expiry)
    .bind(&new.account_id)
    .bind(cvn_name(new.cvn))
    .bind(&new.key_ref)
    .bind(pvv)
    .bind(offset)
    .bind(params)
    .bind(i64::from(opts.refunds_allowed))
    .bind(new.pin_try_limit)
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    let card = get_card(&mut w.tx, &id)
        .await?
        .ok_or(HostError::NotFound("card"))?;
    w.commit().await?;
    Ok(card)
}

/// The account must exist and the card (PAN and PSN) must not be issued yet:
/// said in words, before the database's constraints would refuse it.
async fn refuse_unknown_account_or_duplicate(
    conn: &mut AnyConnection,
    keys: &HostKeys,
    new: &NewCard,
) -> Result<()> {
    let account = sqlx::query("SELECT id FROM accounts WHERE id = $1")
        .bind(&new.account_id)
        .fetch_optional(&mut *conn)
        .await?;
    if account.is_none() {
        return Err(invalid(
            "account",
            format!(
                "{} does not exist (open one with `lamina host add-account` or POST /accounts)",
                new.account_id
            ),
        ));
    }
    let existing = sqlx::query("SELECT id FROM cards WHERE pan_hash = $1 AND psn = $2")
        .bind(keys.pan_hash(&new.pan)?)
        .bind(i64::from(new.psn))
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = existing {
        let id: String = row.try_get("id")?;
        return Err(invalid(
            "card",
            format!(
                "{} PSN {:02} is already issued as {id}",
                mask_pan(&new.pan),
                new.psn
            ),
        ));
    }
    Ok(())
}

/// Reads a card by id.
pub async fn get_card(conn: &mut AnyConnection, id: &str) -> Result<Option<Card>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {CARD_COLS} FROM cards WHERE id = $1"));
    let row = sqlx::query(sql).bind(id).fetch_optional(&mut *conn).await?;
    row.as_ref().map(|r| card_from_row(r)).transpose()
}

/// Finds a card by PAN (and PSN when given; otherwise the card with the highest PSN),
/// locking its row on PostgreSQL.
pub async fn lock_card_by_pan(
    store: &Store,
    conn: &mut AnyConnection,
    keys: &HostKeys,
    pan: &str,
    psn: Option<u8>,
) -> Result<Option<Card>> {
    lock_card_by_pan_in(&mut SqlxConn::new(conn, store.backend()), keys, pan, psn).await
}

/// [`lock_card_by_pan`] on the hot path's connection.
pub(crate) async fn lock_card_by_pan_in<C: HotConn>(
    conn: &mut C,
    keys: &HostKeys,
    pan: &str,
    psn: Option<u8>,
) -> Result<Option<Card>> {
    let hash = keys.pan_hash(pan)?;
    let sql = format!(
        "SELECT {CARD_COLS} FROM cards WHERE pan_hash = $1 AND ($2 < 0 OR psn = $2) \
         ORDER BY psn DESC LIMIT 1{}",
        conn.for_update()
    );
    conn.fetch_optional(
        &sql,
        vec![Val::Text(hash), Val::Int(psn.map_or(-1i64, i64::from))],
        &card_from_row,
    )
    .await
}

/// One page of cards (optionally of one account), oldest first (keyset on
/// `(created_at, id)`).
pub async fn list_cards_page(
    store: &Store,
    account_id: Option<&str>,
    page: &PageRequest,
) -> Result<Page<Card>> {
    let after = page.after_time_id()?;
    let (keyset, limit) = match after {
        Some(_) => (" AND (created_at, id) > ($2, $3)", "$4"),
        None => ("", "$2"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLS}, created_at AS page_at FROM cards WHERE ($1 = '' OR account_id = $1){keyset} \
         ORDER BY created_at, id LIMIT {limit}"
    ));
    let mut q = sqlx::query(sql).bind(account_id.unwrap_or(""));
    if let Some((at, id)) = after {
        q = q.bind(at).bind(id);
    }
    let rows = q.bind(page.fetch()).fetch_all(store.pool()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            let c = card_from_row(r)?;
            let key = vec![r.int("page_at")?.to_string(), c.id.clone()];
            Ok((c, key))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page))
}

/// Largest PIN try limit a card may have (the card's own PIN try counter is 4 bits).
pub const MAX_PIN_TRY_LIMIT: i64 = 15;

/// Lists every card (optionally of one account); the API pages with [`list_cards_page`].
pub async fn list_cards(store: &Store, account_id: Option<&str>) -> Result<Vec<Card>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {CARD_COLS} FROM cards WHERE ($1 = '' OR account_id = $1) ORDER BY created_at, id"
    ));
    let rows = sqlx::query(sql)
        .bind(account_id.unwrap_or(""))
        .fetch_all(store.pool())
        .await?;
    rows.iter().map(|r| card_from_row(r)).collect()
}

/// Sets a card's status (block, unblock, lost, stolen, expired).
pub async fn set_status(store: &Store, card_id: &str, status: CardStatus) -> Result<()> {
    set_column(
        store,
        card_id,
        "status",
        Val::Text(status.as_str().to_owned()),
    )
    .await
}

/// Sets one column of an existing card (`NotFound` if there is no such card).
async fn set_column(store: &Store, card_id: &str, column: &'static str, value: Val) -> Result<()> {
    let mut w = store.begin_write().await?;
    let sql = format!("UPDATE cards SET {column} = $1 WHERE id = $2");
    let r = crate::batch::bind_all(
        sqlx::query(sqlx::AssertSqlSafe(sql)),
        vec![value, Val::Text(card_id.to_owned())],
    )
    .execute(&mut *w.tx)
    .await?;
    if r.rows_affected() != 1 {
        return Err(HostError::NotFound("card"));
    }
    w.commit().await?;
    Ok(())
}

/// Allows or refuses refunds (processing code 20) to a card.
pub async fn set_refunds_allowed(store: &Store, card_id: &str, allowed: bool) -> Result<()> {
    set_column(
        store,
        card_id,
        "refunds_allowed",
        Val::Int(i64::from(allowed)),
    )
    .await
}

/// Resets the host-side PIN try counter (after a PIN unblock).
pub async fn reset_pin_tries(store: &Store, card_id: &str) -> Result<()> {
    let mut w = store.begin_write().await?;
    sqlx::query("UPDATE cards SET pin_tries = 0 WHERE id = $1")
        .bind(card_id)
        .execute(&mut *w.tx)
        .await?;
    w.commit().await?;
    Ok(())
}

/// Issuer script commands the back office can queue (EMV Book 3 §6.5, VIS / CCD
/// command set). Each is secured at delivery with the card's MK-SMI session key over the
/// ARQC of the transaction that carries it (Book 2 §9.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptKind {
    /// APPLICATION BLOCK (84 1E 00 00).
    BlockApplication,
    /// APPLICATION UNBLOCK (84 18 00 00).
    UnblockApplication,
    /// PIN CHANGE/UNBLOCK without a new PIN: resets the PIN try counter (84 24 00 00).
    PinUnblock,
    /// PUT DATA of a limit data object (04 DA 9F tag, e.g. 9F14 lower consecutive
    /// offline limit, 9F23 upper): `tag` is the 2-byte tag, `value` its new value (hex).
    UpdateLimit {
        /// Tag (e.g. "9F14").
        tag: String,
        /// New value (hex).
        value: String,
    },
}

impl ScriptKind {
    /// Command header CLA INS P1 P2 and plain data.
    pub fn command(&self) -> Result<([u8; 4], Vec<u8>)> {
        Ok(match self {
            ScriptKind::BlockApplication => ([0x84, 0x1E, 0x00, 0x00], vec![]),
            ScriptKind::UnblockApplication => ([0x84, 0x18, 0x00, 0x00], vec![]),
            ScriptKind::PinUnblock => ([0x84, 0x24, 0x00, 0x00], vec![]),
            ScriptKind::UpdateLimit { tag, value } => {
                let t = hex::decode(tag).map_err(|_| invalid("tag", "hex"))?;
                let [p1, p2] =
                    <[u8; 2]>::try_from(t.as_slice()).map_err(|_| invalid("tag", "2 bytes"))?;
                let v = hex::decode(value).map_err(|_| invalid("value", "hex"))?;
                if v.len() > 200 {
                    return Err(invalid("value", "too long"));
                }
                ([0x04, 0xDA, p1, p2], v)
            }
        })
    }
}

/// A queued script.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedScript {
    /// Identifier.
    pub id: String,
    /// Card.
    pub card_id: String,
    /// Command.
    pub script: ScriptKind,
    /// Template 71 (before the final GENERATE AC) or 72 (after).
    pub template: u8,
    /// `queued` or `sent`.
    pub status: String,
}

/// Queues a script for a card; it goes out in field 55 of the card's next online
/// authorization response.
pub async fn queue_script(
    store: &Store,
    card_id: &str,
    script: &ScriptKind,
    now: i64,
) -> Result<QueuedScript> {
    script.command()?;
    let template: u8 = match script {
        ScriptKind::BlockApplication => 0x71,
        _ => 0x72,
    };
    let id = new_id("scr");
    let json = serde_json::to_string(script).map_err(|e| HostError::Corrupt(e.to_string()))?;
    let mut w = store.begin_write().await?;
    if get_card(&mut w.tx, card_id).await?.is_none() {
        return Err(HostError::NotFound("card"));
    }
    sqlx::query(
        "INSERT INTO script_queue (id, card_id, kind, command, template, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, 'queued', $6)",
    )
    .bind(&id)
    .bind(card_id)
    .bind(kind_name(script))
    .bind(json)
    .bind(format!("{template:02X}"))
    .bind(now)
    .execute(&mut *w.tx)
    .await?;
    w.commit().await?;
    Ok(QueuedScript {
        id,
        card_id: card_id.to_owned(),
        script: script.clone(),
        template,
        status: "queued".into(),
    })
}

fn kind_name(s: &ScriptKind) -> &'static str {
    match s {
        ScriptKind::BlockApplication => "block_application",
        ScriptKind::UnblockApplication => "unblock_application",
        ScriptKind::PinUnblock => "pin_unblock",
        ScriptKind::UpdateLimit { .. } => "update_limit",
    }
}

fn script_from_row(row: &dyn RowGet) -> Result<QueuedScript> {
    let json = row.text("command")?;
    let template = row.text("template")?;
    Ok(QueuedScript {
        id: row.text("id")?,
        card_id: row.text("card_id")?,
        script: serde_json::from_str(&json)
            .map_err(|e| HostError::Corrupt(format!("script: {e}")))?,
        template: u8::from_str_radix(&template, 16)
            .map_err(|_| HostError::Corrupt("template".into()))?,
        status: row.text("status")?,
    })
}

/// Scripts still queued for a card, oldest first.
pub async fn pending_scripts(conn: &mut AnyConnection, card_id: &str) -> Result<Vec<QueuedScript>> {
    // The SQL has no FOR UPDATE, so the backend does not matter here.
    pending_scripts_in(
        &mut SqlxConn::new(conn, crate::store::Backend::Sqlite),
        card_id,
    )
    .await
}

/// [`pending_scripts`] on the hot path's connection.
pub(crate) async fn pending_scripts_in<C: HotConn>(
    conn: &mut C,
    card_id: &str,
) -> Result<Vec<QueuedScript>> {
    conn.fetch_all(
        "SELECT id, card_id, command, template, status FROM script_queue \
         WHERE card_id = $1 AND status = 'queued' ORDER BY created_at, id",
        vec![Val::Text(card_id.to_owned())],
        &script_from_row,
    )
    .await
}

/// All scripts of a card.
pub async fn scripts_of(store: &Store, card_id: &str) -> Result<Vec<QueuedScript>> {
    let rows = sqlx::query(
        "SELECT id, card_id, command, template, status FROM script_queue WHERE card_id = $1 ORDER BY created_at, id",
    )
    .bind(card_id)
    .fetch_all(store.pool())
    .await?;
    rows.iter().map(|r| script_from_row(r)).collect()
}

/// One page of a card's scripts (queued and sent), oldest first (keyset on
/// `(created_at, id)`).
pub async fn scripts_page(
    store: &Store,
    card_id: &str,
    page: &PageRequest,
) -> Result<Page<QueuedScript>> {
    let after = page.after_time_id()?;
    let (keyset, limit) = match after {
        Some(_) => (" AND (created_at, id) > ($2, $3)", "$4"),
        None => ("", "$2"),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT id, card_id, command, template, status, created_at FROM script_queue \
         WHERE card_id = $1{keyset} ORDER BY created_at, id LIMIT {limit}"
    ));
    let mut q = sqlx::query(sql).bind(card_id);
    if let Some((at, id)) = after {
        q = q.bind(at).bind(id);
    }
    let rows = q.bind(page.fetch()).fetch_all(store.pool()).await?;
    let rows = rows
        .iter()
        .map(|r| {
            let s = script_from_row(r)?;
            let key = vec![r.int("created_at")?.to_string(), s.id.clone()];
            Ok((s, key))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Page::from_rows(rows, page))
}
