//! Back-office HTTP API (axum, JSON): accounts, cards (block, unblock, lost, stolen,
//! scripts, PIN try reset), transactions, settlements, the ledger check; `/metrics`
//! (Prometheus) and `/openapi.json` (OpenAPI 3.0, hand-written in [`openapi`]).
//!
//! Authentication: `Authorization: Bearer <token>`; tokens come from the key file with a
//! role each — admin (read and change) or read-only. `/health`, `/metrics` and
//! `/openapi.json` need no token. Errors are one enum ([`ApiError`]) mapped to HTTP status;
//! database errors are logged and answered 500 without detail. PANs appear masked only.
//!
//! Every list route pages ([`crate::page`]): `?limit=` (default 100, at most 1000; a limit
//! outside 1..=1000 is refused with 400, not clamped) and `?cursor=` (the `next` of the
//! previous page; an unknown cursor is 400). A list answers `{"items": [...], "next":
//! cursor-or-null}`. Request bodies that do not parse (bad JSON, a number beyond 64 bits)
//! are 400; amounts beyond [`crate::ledger::MAX_AMOUNT`] are 400.

use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::cards::{self, CardStatus, NewCard, ScriptKind};
use crate::error::HostError;
use crate::issuer::{Issuer, TxnFilter};
use crate::keys::Role;
use crate::ledger::{self, AccountKind, NewAccount};
use crate::metrics::Metrics;
use crate::page::{DEFAULT_LIMIT, MAX_LIMIT, PageRequest};
use crate::settle;

/// State shared by the handlers.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The issuer (store, keys, clock).
    pub issuer: Issuer,
    /// Metrics of the ISO 8583 server.
    pub metrics: Arc<Metrics>,
    /// Merchant fee for settlements, basis points.
    pub fee_bps: i64,
}

/// API errors.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or unknown token.
    #[error("missing or invalid bearer token")]
    Unauthorized,
    /// Read-only token on a write route.
    #[error("this operation needs an admin token")]
    Forbidden,
    /// No such record.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Bad input.
    #[error("{0}")]
    BadRequest(String),
    /// Anything else (logged, not returned).
    #[error("internal error")]
    Internal,
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> Self {
        match e {
            HostError::NotFound(what) => ApiError::NotFound(what),
            HostError::Invalid { .. } => ApiError::BadRequest(e.to_string()),
            HostError::Db(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                ApiError::BadRequest("already exists".into())
            }
            other => {
                tracing::error!(error = %other, "API internal error");
                ApiError::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut resp = (status, Json(json!({ "error": self.to_string() }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A JSON request body whose rejection (bad JSON, wrong type, a number beyond 64 bits) is
/// a 400 [`ApiError::BadRequest`], like every other invalid input.
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e| ApiError::BadRequest(e.body_text()))
    }
}

/// The page named by a list route's `cursor` and `limit` parameters.
fn page_of(cursor: Option<&str>, limit: Option<i64>) -> Result<PageRequest, ApiError> {
    Ok(PageRequest::parse(cursor, limit)?)
}

/// The caller's role, from the bearer token.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub Role);

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        state
            .issuer
            .keys()
            .role_of(token.trim())
            .map(Caller)
            .ok_or(ApiError::Unauthorized)
    }
}

/// An admin caller.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller(Role::Admin) => Ok(Admin),
            Caller(Role::ReadOnly) => Err(ApiError::Forbidden),
        }
    }
}

/// The router.
pub fn app(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(|| async { Json(openapi()) }))
        .route("/accounts", get(list_accounts).post(create_account))
        .route("/accounts/{id}", get(get_account))
        .route("/accounts/{id}/postings", get(account_postings))
        .route("/cards", get(list_cards).post(issue_card))
        .route("/cards/{id}", get(get_card))
        .route(
            "/cards/{id}/block",
            post(|s, a, p| set_status(s, a, p, CardStatus::Blocked)),
        )
        .route(
            "/cards/{id}/unblock",
            post(|s, a, p| set_status(s, a, p, CardStatus::Active)),
        )
        .route(
            "/cards/{id}/lost",
            post(|s, a, p| set_status(s, a, p, CardStatus::Lost)),
        )
        .route(
            "/cards/{id}/stolen",
            post(|s, a, p| set_status(s, a, p, CardStatus::Stolen)),
        )
        .route("/cards/{id}/pin-tries/reset", post(reset_pin))
        .route(
            "/cards/{id}/refunds/enable",
            post(|s, a, p| set_refunds(s, a, p, true)),
        )
        .route(
            "/cards/{id}/refunds/disable",
            post(|s, a, p| set_refunds(s, a, p, false)),
        )
        .route("/cards/{id}/scripts", get(list_scripts).post(queue_script))
        .route("/transactions", get(transactions))
        .route("/settlements", get(list_settlements).post(run_settlement))
        .route("/ledger/check", get(check_ledger))
        .with_state(state)
}

async fn metrics(State(s): State<ApiState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
}

#[derive(Debug, Deserialize)]
struct KindQuery {
    kind: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

/// Paging parameters alone.
#[derive(Debug, Deserialize)]
struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn list_accounts(
    State(s): State<ApiState>,
    _c: Caller,
    Query(q): Query<KindQuery>,
) -> ApiResult<Value> {
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => {
            Some(AccountKind::parse(k).ok_or_else(|| ApiError::BadRequest("unknown kind".into()))?)
        }
    };
    let page = page_of(q.cursor.as_deref(), q.limit)?;
    let list = ledger::list_accounts_page(s.issuer.store(), kind, &page).await?;
    Ok(Json(json!({
        "items": list.items.iter().map(account_json).collect::<Vec<_>>(),
        "next": list.next,
    })))
}

fn account_json(a: &ledger::Account) -> Value {
    let mut v = json!(a);
    if let Some(o) = v.as_object_mut() {
        o.insert("available".into(), json!(a.available()));
    }
    v
}

#[derive(Debug, Deserialize)]
struct NewAccountBody {
    name: String,
    currency: String,
    #[serde(default)]
    credit_limit: i64,
    #[serde(default)]
    opening_balance: i64,
    #[serde(default)]
    daily_amount_limit: i64,
    #[serde(default)]
    daily_count_limit: i64,
}

async fn create_account(
    State(s): State<ApiState>,
    _a: Admin,
    Body(b): Body<NewAccountBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let acc = ledger::create_account(
        s.issuer.store(),
        &NewAccount {
            name: b.name,
            currency: b.currency,
            credit_limit: b.credit_limit,
            opening_balance: b.opening_balance,
            daily_amount_limit: b.daily_amount_limit,
            daily_count_limit: b.daily_count_limit,
        },
        s.issuer.clock().now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(account_json(&acc))))
}

async fn get_account(
    State(s): State<ApiState>,
    _c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    let mut conn = s
        .issuer
        .store()
        .pool()
        .acquire()
        .await
        .map_err(HostError::from)?;
    let acc = ledger::get_account(&mut conn, &id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    Ok(Json(account_json(&acc)))
}

async fn account_postings(
    State(s): State<ApiState>,
    _c: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Value> {
    let page = page_of(q.cursor.as_deref(), q.limit)?;
    let mut conn = s
        .issuer
        .store()
        .pool()
        .acquire()
        .await
        .map_err(HostError::from)?;
    ledger::get_account(&mut conn, &id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    drop(conn);
    Ok(Json(json!(
        ledger::postings_page(s.issuer.store(), &id, &page).await?
    )))
}

#[derive(Debug, Deserialize)]
struct CardsQuery {
    account_id: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn list_cards(
    State(s): State<ApiState>,
    _c: Caller,
    Query(q): Query<CardsQuery>,
) -> ApiResult<Value> {
    let page = page_of(q.cursor.as_deref(), q.limit)?;
    Ok(Json(json!(
        cards::list_cards_page(s.issuer.store(), q.account_id.as_deref(), &page).await?
    )))
}

#[derive(Deserialize)]
struct NewCardBody {
    pan: String,
    #[serde(default)]
    psn: u8,
    expiry: String,
    account_id: String,
    #[serde(default = "default_cvn")]
    cvn: String,
    #[serde(default = "default_key_ref")]
    key_ref: String,
    pvki: Option<u8>,
    pvv: Option<String>,
    /// IBM 3624 PIN offset (instead of a PVV).
    pin_offset: Option<String>,
    /// IBM 3624 decimalization table (default `0123456789012345`).
    decimalization: Option<String>,
    /// IBM 3624 validation data: first PAN digit (default 0) and count (default 16).
    pin_validation_start: Option<u8>,
    pin_validation_length: Option<u8>,
    /// IBM 3624 pad hex digit (default `F`).
    pin_pad: Option<char>,
    #[serde(default = "default_true")]
    refunds_allowed: bool,
    #[serde(default = "default_tries")]
    pin_try_limit: i64,
}

fn default_true() -> bool {
    true
}

impl std::fmt::Debug for NewCardBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCardBody")
            .field("pan", &crate::keys::mask_pan(&self.pan))
            .finish_non_exhaustive()
    }
}

fn default_cvn() -> String {
    "emv-ccd".into()
}
fn default_key_ref() -> String {
    "default".into()
}
fn default_tries() -> i64 {
    3
}

async fn issue_card(
    State(s): State<ApiState>,
    _a: Admin,
    Body(b): Body<NewCardBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let cvn = cards::parse_cvn(&b.cvn).ok_or_else(|| ApiError::BadRequest("unknown cvn".into()))?;
    let mut conn = s
        .issuer
        .store()
        .pool()
        .acquire()
        .await
        .map_err(HostError::from)?;
    ledger::get_account(&mut conn, &b.account_id)
        .await?
        .ok_or(ApiError::NotFound("account"))?;
    drop(conn);
    let ibm3624 = b.pin_offset.map(|offset| {
        let d = cards::Ibm3624Params::default();
        (
            cards::Ibm3624Offset(offset),
            cards::Ibm3624Params {
                decimalization: b.decimalization.unwrap_or(d.decimalization),
                vd_start: b.pin_validation_start.unwrap_or(d.vd_start),
                vd_len: b.pin_validation_length.unwrap_or(d.vd_len),
                pad: b.pin_pad.unwrap_or(d.pad),
            },
        )
    });
    let opts = cards::CardOptions {
        ibm3624,
        refunds_allowed: b.refunds_allowed,
    };
    let card = cards::issue_card_with(
        s.issuer.store(),
        s.issuer.keys(),
        &NewCard {
            pan: b.pan,
            psn: b.psn,
            expiry: b.expiry,
            account_id: b.account_id,
            cvn,
            key_ref: b.key_ref,
            pvv: b.pvv.map(|p| (b.pvki.unwrap_or(1), p)),
            pin_try_limit: b.pin_try_limit,
        },
        &opts,
        s.issuer.clock().now_ms(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!(card))))
}

async fn get_card(
    State(s): State<ApiState>,
    _c: Caller,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    let mut conn = s
        .issuer
        .store()
        .pool()
        .acquire()
        .await
        .map_err(HostError::from)?;
    let card = cards::get_card(&mut conn, &id)
        .await?
        .ok_or(ApiError::NotFound("card"))?;
    Ok(Json(json!(card)))
}

async fn set_status(
    State(s): State<ApiState>,
    _a: Admin,
    Path(id): Path<String>,
    status: CardStatus,
) -> ApiResult<Value> {
    cards::set_status(s.issuer.store(), &id, status).await?;
    Ok(Json(json!({"id": id, "status": status})))
}

async fn reset_pin(
    State(s): State<ApiState>,
    _a: Admin,
    Path(id): Path<String>,
) -> ApiResult<Value> {
    cards::reset_pin_tries(s.issuer.store(), &id).await?;
    Ok(Json(json!({"id": id, "pin_tries": 0})))
}

async fn set_refunds(
    State(s): State<ApiState>,
    _a: Admin,
    Path(id): Path<String>,
    allowed: bool,
) -> ApiResult<Value> {
    cards::set_refunds_allowed(s.issuer.store(), &id, allowed).await?;
    Ok(Json(json!({"id": id, "refunds_allowed": allowed})))
}

async fn list_scripts(
    State(s): State<ApiState>,
    _c: Caller,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Value> {
    let page = page_of(q.cursor.as_deref(), q.limit)?;
    Ok(Json(json!(
        cards::scripts_page(s.issuer.store(), &id, &page).await?
    )))
}

async fn queue_script(
    State(s): State<ApiState>,
    _a: Admin,
    Path(id): Path<String>,
    Body(script): Body<ScriptKind>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let q = cards::queue_script(s.issuer.store(), &id, &script, s.issuer.clock().now_ms()).await?;
    Ok((StatusCode::CREATED, Json(json!(q))))
}

#[derive(Debug, Deserialize)]
struct TxnQuery {
    card_id: Option<String>,
    terminal: Option<String>,
    date: Option<String>,
    response_code: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn transactions(
    State(s): State<ApiState>,
    _c: Caller,
    Query(q): Query<TxnQuery>,
) -> ApiResult<Value> {
    let page = page_of(q.cursor.as_deref(), q.limit)?;
    let f = TxnFilter {
        card_id: q.card_id,
        terminal: q.terminal,
        date: q.date,
        response_code: q.response_code,
        limit: None,
    };
    Ok(Json(json!(s.issuer.transactions_page(&f, &page).await?)))
}

#[derive(Debug, Deserialize)]
struct DateQuery {
    date: Option<String>,
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn list_settlements(
    State(s): State<ApiState>,
    _c: Caller,
    Query(q): Query<DateQuery>,
) -> ApiResult<Value> {
    let page = page_of(q.cursor.as_deref(), q.limit)?;
    Ok(Json(json!(
        settle::settlements_page(s.issuer.store(), q.date.as_deref(), &page).await?
    )))
}

#[derive(Debug, Deserialize)]
struct SettleBody {
    date: String,
    fee_bps: Option<i64>,
}

async fn run_settlement(
    State(s): State<ApiState>,
    _a: Admin,
    Body(b): Body<SettleBody>,
) -> ApiResult<Value> {
    let fee = b.fee_bps.unwrap_or(s.fee_bps);
    Ok(Json(json!(
        settle::settle(s.issuer.store(), &b.date, fee, s.issuer.clock().now_ms()).await?
    )))
}

async fn check_ledger(State(s): State<ApiState>, _c: Caller) -> ApiResult<Value> {
    let r = ledger::check_ledger(s.issuer.store()).await?;
    Ok(Json(json!({"ok": r.ok(), "report": r})))
}

/// The OpenAPI 3.0 document served at `/openapi.json`.
pub fn openapi() -> Value {
    let id = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "string"}});
    let ok = |desc: &str, schema: Value| json!({"description": desc, "content": {"application/json": {"schema": schema}}});
    let err = json!({"$ref": "#/components/responses/Error"});
    let paging = [
        json!({"name": "limit", "in": "query", "description": format!("items per page, 1 to {MAX_LIMIT}; above is refused with 400 (not clamped)"),
               "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}}),
        json!({"name": "cursor", "in": "query", "description": "the `next` of the previous page; an unknown cursor is refused with 400",
               "schema": {"type": "string"}}),
    ];
    let params = |extra: Vec<Value>| {
        let mut v = extra;
        v.extend(paging.iter().cloned());
        Value::Array(v)
    };
    let page = |item: Value| {
        json!({"type": "object", "required": ["items", "next"], "properties": {
            "items": {"type": "array", "items": item},
            "next": {"type": "string", "nullable": true, "description": "cursor of the next page; null on the last page"}}})
    };
    let card_action = |summary: &str| {
        json!({"post": {"summary": summary, "tags": ["cards"], "parameters": [id.clone()],
            "responses": {"200": ok("New status", json!({"type": "object"})), "401": err.clone(), "403": err.clone(), "404": err.clone()}}})
    };
    json!({
        "openapi": "3.0.3",
        "info": {"title": "Lamina host back office", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Accounts, cards, transactions and settlements of the Lamina issuer host. Amounts are integers in minor units of their ISO 4217 numeric currency, at most 999999999999 (10^12 - 1) per operation; balances stay within +-10^15. Every list is paged: `limit` (default 100, at most 1000, above is 400) and `cursor` (the previous page's `next`)."},
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "Admin or read-only token from the key file"}},
            "responses": {"Error": {"description": "Error", "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}},
            "schemas": {
                "Account": {"type": "object", "properties": {
                    "id": {"type": "string"}, "kind": {"type": "string", "enum": ["cardholder","merchant","settlement","fees","funding"]},
                    "name": {"type": "string"}, "external_ref": {"type": "string", "nullable": true}, "currency": {"type": "string", "example": "978"},
                    "ledger_balance": {"type": "integer", "format": "int64"}, "held": {"type": "integer", "format": "int64"},
                    "credit_limit": {"type": "integer", "format": "int64"}, "available": {"type": "integer", "format": "int64"},
                    "status": {"type": "string"}, "daily_amount_limit": {"type": "integer"}, "daily_count_limit": {"type": "integer"}}},
                "NewAccount": {"type": "object", "required": ["name", "currency"], "properties": {
                    "name": {"type": "string", "minLength": 1, "maxLength": crate::ledger::MAX_NAME_CHARS},
                    "currency": {"type": "string", "pattern": "^[0-9]{3}$"},
                    "credit_limit": {"type": "integer", "minimum": 0, "maximum": crate::ledger::MAX_AMOUNT},
                    "opening_balance": {"type": "integer", "minimum": 0, "maximum": crate::ledger::MAX_AMOUNT},
                    "daily_amount_limit": {"type": "integer", "minimum": 0, "maximum": crate::ledger::MAX_AMOUNT},
                    "daily_count_limit": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}},
                "Posting": {"type": "object", "properties": {
                    "entry_id": {"type": "string"}, "transaction_id": {"type": "string", "nullable": true},
                    "amount": {"type": "integer", "format": "int64"}, "currency": {"type": "string"},
                    "memo": {"type": "string"}, "created_at": {"type": "integer"}}},
                "Card": {"type": "object", "properties": {
                    "id": {"type": "string"}, "pan_masked": {"type": "string", "example": "541333******0010"}, "psn": {"type": "integer"},
                    "expiry": {"type": "string", "example": "2812"}, "status": {"type": "string", "enum": ["active","blocked","lost","stolen","expired"]},
                    "account_id": {"type": "string"}, "cvn": {"type": "string"}, "key_ref": {"type": "string"}, "last_atc": {"type": "integer"},
                    "refunds_allowed": {"type": "boolean"}, "pin_tries": {"type": "integer"}, "pin_try_limit": {"type": "integer"}}},
                "NewCard": {"type": "object", "required": ["pan", "expiry", "account_id"], "properties": {
                    "pan": {"type": "string"}, "psn": {"type": "integer"}, "expiry": {"type": "string"}, "account_id": {"type": "string"},
                    "cvn": {"type": "string", "enum": ["visa10","visa18","mastercard16","interac133","emv-ccd","emv-aes"]},
                    "key_ref": {"type": "string"}, "pvki": {"type": "integer"}, "pvv": {"type": "string", "description": "Visa PVV (4 digits); excludes pin_offset"},
                    "pin_offset": {"type": "string", "description": "IBM 3624 PIN offset (4-12 digits); excludes pvv"},
                    "decimalization": {"type": "string", "description": "IBM 3624 decimalization table, 16 digits", "default": "0123456789012345"},
                    "pin_validation_start": {"type": "integer", "description": "IBM 3624 validation data: first PAN digit (0 = leftmost)", "default": 0},
                    "pin_validation_length": {"type": "integer", "description": "IBM 3624 validation data: number of PAN digits (1-16), padded to 16 with pin_pad", "default": 16},
                    "pin_pad": {"type": "string", "description": "IBM 3624 pad hex digit", "default": "F"},
                    "refunds_allowed": {"type": "boolean", "description": "refunds (processing code 20) may be credited to the card; false: answered 57", "default": true},
                    "pin_try_limit": {"type": "integer", "minimum": 1, "maximum": crate::cards::MAX_PIN_TRY_LIMIT, "default": 3}}},
                "Script": {"type": "object", "required": ["kind"], "properties": {
                    "kind": {"type": "string", "enum": ["block_application","unblock_application","pin_unblock","update_limit"]},
                    "tag": {"type": "string", "example": "9F14"}, "value": {"type": "string", "example": "05"}}},
                "Transaction": {"type": "object", "properties": {
                    "id": {"type": "string"}, "mti": {"type": "string"}, "kind": {"type": "string"}, "card_id": {"type": "string", "nullable": true},
                    "pan_masked": {"type": "string", "nullable": true}, "terminal": {"type": "string"}, "merchant": {"type": "string"},
                    "stan": {"type": "string"}, "amount": {"type": "integer"}, "approved_amount": {"type": "integer"},
                    "captured_amount": {"type": "integer"}, "currency": {"type": "string"}, "response_code": {"type": "string"},
                    "status": {"type": "string"}, "flags": {"type": "string"}, "business_date": {"type": "string"},
                    "settlement_id": {"type": "string", "nullable": true}, "created_at": {"type": "integer"}}},
                "Settlement": {"type": "object", "properties": {
                    "id": {"type": "string"}, "business_date": {"type": "string"}, "merchant": {"type": "string"},
                    "merchant_account_id": {"type": "string"}, "currency": {"type": "string"}, "count": {"type": "integer"},
                    "gross": {"type": "integer"}, "reversals": {"type": "integer"},
                    "refunds": {"type": "integer", "description": "refunds credited to cardholders less their reversals"},
                    "fees": {"type": "integer"}, "net": {"type": "integer", "description": "gross - reversals - refunds - fees"}}}
            }
        },
        "paths": {
            "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": ok("OK", json!({"type": "object"}))}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "security": [], "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": ok("OpenAPI", json!({"type": "object"}))}}},
            "/accounts": {
                "get": {"summary": "List accounts, oldest first (paged)", "tags": ["accounts"], "parameters": params(vec![json!({"name": "kind", "in": "query", "schema": {"type": "string"}})]),
                        "responses": {"200": ok("Accounts", page(json!({"$ref": "#/components/schemas/Account"}))), "400": err, "401": err}},
                "post": {"summary": "Open a cardholder account (admin)", "tags": ["accounts"],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewAccount"}}}},
                         "responses": {"201": ok("Created", json!({"$ref": "#/components/schemas/Account"})), "400": err, "403": err}}},
            "/accounts/{id}": {"get": {"summary": "Account with balances", "tags": ["accounts"], "parameters": [id.clone()],
                               "responses": {"200": ok("Account", json!({"$ref": "#/components/schemas/Account"})), "404": err}}},
            "/accounts/{id}/postings": {"get": {"summary": "Postings of an account, oldest first (paged)", "tags": ["accounts"], "parameters": params(vec![id.clone()]),
                               "responses": {"200": ok("Postings", page(json!({"$ref": "#/components/schemas/Posting"}))), "400": err, "404": err}}},
            "/cards": {
                "get": {"summary": "List cards, oldest first (paged)", "tags": ["cards"], "parameters": params(vec![json!({"name": "account_id", "in": "query", "schema": {"type": "string"}})]),
                        "responses": {"200": ok("Cards", page(json!({"$ref": "#/components/schemas/Card"}))), "400": err}},
                "post": {"summary": "Issue a card (admin); the PAN is stored hashed and encrypted", "tags": ["cards"],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewCard"}}}},
                         "responses": {"201": ok("Issued", json!({"$ref": "#/components/schemas/Card"})), "400": err, "403": err, "404": err}}},
            "/cards/{id}": {"get": {"summary": "Card", "tags": ["cards"], "parameters": [id.clone()],
                            "responses": {"200": ok("Card", json!({"$ref": "#/components/schemas/Card"})), "404": err}}},
            "/cards/{id}/block": card_action("Block (admin)"),
            "/cards/{id}/unblock": card_action("Unblock (admin)"),
            "/cards/{id}/lost": card_action("Report lost (admin)"),
            "/cards/{id}/stolen": card_action("Report stolen (admin)"),
            "/cards/{id}/pin-tries/reset": card_action("Reset the host PIN try counter (admin)"),
            "/cards/{id}/refunds/enable": card_action("Accept refunds (processing code 20) to this card (admin)"),
            "/cards/{id}/refunds/disable": card_action("Refuse refunds to this card: they are answered 57 (admin)"),
            "/cards/{id}/scripts": {
                "get": {"summary": "Scripts of a card, oldest first (paged)", "tags": ["cards"], "parameters": params(vec![id.clone()]), "responses": {"200": ok("Scripts", page(json!({"type": "object"}))), "400": err}},
                "post": {"summary": "Queue an issuer script for the next online transaction (admin)", "tags": ["cards"], "parameters": [id.clone()],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Script"}}}},
                         "responses": {"201": ok("Queued", json!({"type": "object"})), "400": err, "404": err}}},
            "/transactions": {"get": {"summary": "Search transactions (newest first, paged; PANs masked)", "tags": ["transactions"],
                "parameters": params(vec![
                    json!({"name": "card_id", "in": "query", "schema": {"type": "string"}}),
                    json!({"name": "terminal", "in": "query", "schema": {"type": "string"}}),
                    json!({"name": "date", "in": "query", "schema": {"type": "string", "example": "2026-11-25"}}),
                    json!({"name": "response_code", "in": "query", "schema": {"type": "string"}})]),
                "responses": {"200": ok("Transactions", page(json!({"$ref": "#/components/schemas/Transaction"}))), "400": err}}},
            "/settlements": {
                "get": {"summary": "Settlements by date, merchant, currency (paged)", "tags": ["settlements"], "parameters": params(vec![json!({"name": "date", "in": "query", "schema": {"type": "string"}})]),
                        "responses": {"200": ok("Settlements", page(json!({"$ref": "#/components/schemas/Settlement"}))), "400": err}},
                "post": {"summary": "Settle a business date (admin)", "tags": ["settlements"],
                         "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["date"],
                            "properties": {"date": {"type": "string"}, "fee_bps": {"type": "integer"}}}}}},
                         "responses": {"200": ok("Settlements of the date", json!({"type": "array", "items": {"$ref": "#/components/schemas/Settlement"}})), "400": err}}},
            "/ledger/check": {"get": {"summary": "Verify the ledger invariants", "tags": ["ledger"],
                              "responses": {"200": ok("Report", json!({"type": "object", "properties": {"ok": {"type": "boolean"}, "report": {"type": "object"}}}))}}}
        }
    })
}

/// Serves the API on `listener` until `shutdown` resolves.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
