//! `lamina host …`: run the issuer/acquirer host, set it up, settle, check the ledger, and
//! drive it with the load generator. All logic lives in `lamina-host`; this module parses
//! arguments, starts a tokio runtime and prints results.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use lamina_host::keys::HostKeys;
use lamina_host::load::{LoadConfig, provision_cards, run_load_with};
use lamina_host::server::ServerConfig;
use lamina_host::service::{HostConfig, open, run as run_host};
use lamina_host::store::{SqliteSync, Store, StoreOptions};
use lamina_iso8583::Mti;
use lamina_link::tls::{ClientTls, TestPki};

use crate::input::bad;
use crate::output::{amount, emit, print_json};

/// `lamina host` subcommands.
#[derive(Debug, Subcommand)]
pub enum HostCommand {
    /// Run the host: ISO 8583 over TCP and the back-office HTTP API.
    Serve(ServeArgs),
    /// Write a new key file (random PAN keys, issuer master keys, BDK, PVK, API tokens).
    InitKeys(InitKeysArgs),
    /// Verify the ledger: postings sum to zero per currency and every balance equals its
    /// postings (exit 1 if not).
    CheckLedger(CheckLedgerArgs),
    /// Settle a business date: clearing per merchant (gross, reversals, fees, net).
    Settle(SettleArgs),
    /// Open a cardholder account.
    AddAccount(AddAccountArgs),
    /// Issue a card on an account (the PAN is stored hashed and encrypted).
    IssueCard(IssueCardArgs),
    /// Load generator: real authorizations with valid ARQCs from N cards.
    Load(LoadArgs),
    /// Generate TEST TLS certificates (a CA, a host certificate for localhost/127.0.0.1/::1
    /// and a client certificate for mutual TLS) — for tests and trials, never production.
    TlsCerts(TlsCertsArgs),
}

/// TLS for a client of the host's ISO 8583 listener (`host load`, `terminal pay`).
#[derive(Debug, Clone, Default, Args)]
pub struct TlsClientArgs {
    /// Connect over TLS, trusting this CA certificate (PEM) to have issued the host's
    /// certificate.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS (with --tls-key).
    #[arg(long, value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name the host's certificate must carry (default: the host part of the address).
    #[arg(long, value_name = "NAME", requires = "tls_ca")]
    pub tls_server_name: Option<String>,
}

impl TlsClientArgs {
    /// The TLS client settings for `addr`, or `None` for plain TCP.
    pub fn client_tls(&self, addr: &str) -> Result<Option<ClientTls>> {
        let Some(ca) = &self.tls_ca else {
            return Ok(None);
        };
        let identity = match (&self.tls_cert, &self.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err(bad("--tls-cert and --tls-key go together")),
        };
        let config = lamina_link::tls::client_config_files(ca, identity)?;
        let name = self
            .tls_server_name
            .as_deref()
            .unwrap_or_else(|| lamina_link::tls::host_of(addr));
        Ok(Some(
            ClientTls::new(config, name).map_err(|e| bad(e.to_string()))?,
        ))
    }
}

#[derive(Debug, Args)]
pub struct TlsCertsArgs {
    /// Directory for ca.pem, server.pem, server.key, client.pem, client.key.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Extra names (DNS or IP) for the host certificate, besides localhost, 127.0.0.1
    /// and ::1.
    #[arg(long = "name", value_name = "NAME")]
    pub names: Vec<String>,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Database and key file.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB.
    #[arg(long, default_value = "sqlite://lamina.db")]
    pub db: String,
    /// Key file (JSON, see `lamina host init-keys`).
    #[arg(long, default_value = "lamina-keys.json")]
    pub keys: PathBuf,
}

/// SQLite commit durability.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SyncMode {
    /// fsync every commit (durable).
    Full,
    /// WAL with synchronous=NORMAL (survives a crash of the process, not of the OS).
    Normal,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// ISO 8583 listen address.
    #[arg(long, default_value = "127.0.0.1:8583")]
    pub listen: String,
    /// HTTP API listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub http: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// Merchant fee in basis points for settlements started from the API.
    #[arg(long, default_value_t = 100)]
    pub fee_bps: i64,
    /// Per-request timeout in milliseconds (answered 91 when exceeded).
    #[arg(long, default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Requests in flight across all connections.
    #[arg(long, default_value_t = 512)]
    pub max_in_flight: usize,
    /// Database pool size.
    #[arg(long, default_value_t = 8)]
    pub pool: u32,
    /// SQLite synchronous mode.
    #[arg(long, value_enum, default_value_t = SyncMode::Full)]
    pub sqlite_sync: SyncMode,
    /// Serve ISO 8583 over TLS with this certificate chain (PEM, leaf first).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_client_ca: Option<PathBuf>,
    /// Print the listening addresses as one JSON line on standard output once
    /// the host is up.
    #[arg(long)]
    pub json: bool,
    /// Log format on stderr: text, or json (one object per event). Default: the
    /// LAMINA_LOG_FORMAT environment variable, else text. The level comes from RUST_LOG
    /// (default info).
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Log output of `host serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event.
    Json,
}

/// Installs the `tracing` subscriber of `host serve`: structured events on stderr, level
/// from RUST_LOG (default `info`).
fn init_logging(format: Option<LogFormat>) -> Result<()> {
    let format = match format {
        Some(f) => f,
        None => match std::env::var("LAMINA_LOG_FORMAT").ok().as_deref() {
            None | Some("" | "text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(bad(format!(
                    "LAMINA_LOG_FORMAT={other}: expected text or json"
                )));
            }
        },
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("log subscriber: {e}"))
}

#[derive(Debug, Args)]
pub struct InitKeysArgs {
    /// Where to write the key file.
    #[arg(long, default_value = "lamina-keys.json")]
    pub out: PathBuf,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CheckLedgerArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SettleArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Business date YYYY-MM-DD (UTC).
    #[arg(long)]
    pub date: String,
    /// Merchant fee in basis points.
    #[arg(long, default_value_t = 100)]
    pub fee_bps: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AddAccountArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Holder name.
    #[arg(long)]
    pub name: String,
    /// ISO 4217 numeric currency.
    #[arg(long, default_value = "978")]
    pub currency: String,
    /// Opening balance (minor units).
    #[arg(long, default_value_t = 0)]
    pub balance: i64,
    /// Credit limit (minor units; 0 = debit account).
    #[arg(long, default_value_t = 0)]
    pub credit_limit: i64,
    /// Daily amount limit per card (0 = none).
    #[arg(long, default_value_t = 0)]
    pub daily_amount: i64,
    /// Daily count limit per card (0 = none).
    #[arg(long, default_value_t = 0)]
    pub daily_count: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct IssueCardArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// PAN (12–19 digits).
    #[arg(long)]
    pub pan: String,
    /// PAN sequence number.
    #[arg(long, default_value_t = 0)]
    pub psn: u8,
    /// Expiry YYMM.
    #[arg(long)]
    pub expiry: String,
    /// Account id.
    #[arg(long)]
    pub account: String,
    /// Cryptogram profile: visa10, visa18, mastercard16, interac133, emv-ccd, emv-aes.
    #[arg(long, default_value = "emv-ccd")]
    pub cvn: String,
    /// Issuer key set name in the key file.
    #[arg(long, default_value = "default")]
    pub key_ref: String,
    /// Visa PVV (4 digits) for online PIN.
    #[arg(long)]
    pub pvv: Option<String>,
    /// PVK index for the PVV.
    #[arg(long, default_value_t = 1)]
    pub pvki: u8,
    /// IBM 3624 PIN offset (4–12 digits) for online PIN, instead of --pvv (verified with
    /// the key file's PVK).
    #[arg(long, conflicts_with = "pvv")]
    pub pin_offset: Option<String>,
    /// IBM 3624 decimalization table (16 digits).
    #[arg(long, default_value = "0123456789012345")]
    pub decimalization: String,
    /// IBM 3624 validation data: first PAN digit (0 = leftmost).
    #[arg(long, default_value_t = 0)]
    pub pin_validation_start: u8,
    /// IBM 3624 validation data: number of PAN digits (1–16), padded to 16 with --pin-pad.
    #[arg(long, default_value_t = 16)]
    pub pin_validation_length: u8,
    /// IBM 3624 pad character (a hex digit).
    #[arg(long, default_value_t = 'F')]
    pub pin_pad: char,
    /// Refuse refunds (processing code 20) to this card (answered 57).
    #[arg(long)]
    pub no_refunds: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Host ISO 8583 address.
    #[arg(long, default_value = "127.0.0.1:8583")]
    pub host: String,
    /// Database of that host (the load cards are provisioned there).
    #[command(flatten)]
    pub db: DbArgs,
    /// Number of cards.
    #[arg(long, default_value_t = 100)]
    pub cards: usize,
    /// Target authorizations per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Seconds to run.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// TCP connections.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// 0100 (authorization, hold) or 0200 (financial, posted).
    #[arg(long, default_value = "0200")]
    pub mti: String,
    /// Amount per request (minor units).
    #[arg(long, default_value_t = 100)]
    pub amount: i64,
    #[command(flatten)]
    pub tls: TlsClientArgs,
    /// Exit 1 when more than this fraction of the requests got no answer
    /// (0.01 = 1 %); the error reasons are printed either way.
    #[arg(long, default_value_t = 0.01)]
    pub max_error_rate: f64,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn now_ms() -> i64 {
    lamina_host::clock::SystemClock.now_ms_value()
}

/// Runs a `lamina host` command.
pub fn run(cmd: HostCommand) -> Result<()> {
    match cmd {
        HostCommand::Serve(a) => serve(a),
        HostCommand::InitKeys(a) => init_keys(a),
        HostCommand::CheckLedger(a) => check_ledger(a),
        HostCommand::Settle(a) => settle(a),
        HostCommand::AddAccount(a) => add_account(a),
        HostCommand::IssueCard(a) => issue_card(a),
        HostCommand::Load(a) => load(a),
        HostCommand::TlsCerts(a) => tls_certs(a),
    }
}

fn serve(a: ServeArgs) -> Result<()> {
    init_logging(a.log_format)?;
    let tls = match (&a.tls_cert, &a.tls_key) {
        (Some(cert), Some(key)) => Some(lamina_link::tls::acceptor(
            lamina_link::tls::server_config_files(cert, key, a.tls_client_ca.as_deref())?,
        )),
        (None, None) => None,
        _ => return Err(bad("--tls-cert and --tls-key go together")),
    };
    let tls_note = match (&tls, &a.tls_client_ca) {
        (None, _) => "",
        (Some(_), None) => " (TLS)",
        (Some(_), Some(_)) => " (TLS, client certificates required)",
    };
    let json = a.json;
    let cfg = HostConfig {
        listen: a.listen,
        http: Some(a.http),
        db: a.db.db,
        keys: a.db.keys,
        fee_bps: a.fee_bps,
        server: ServerConfig {
            request_timeout: Duration::from_millis(a.timeout_ms.max(1)),
            max_in_flight: a.max_in_flight.max(1),
            tls,
            ..ServerConfig::default()
        },
        store: StoreOptions {
            max_connections: a.pool.max(1),
            sqlite_sync: match a.sqlite_sync {
                SyncMode::Full => SqliteSync::Full,
                SyncMode::Normal => SqliteSync::Normal,
            },
            ..StoreOptions::default()
        },
    };
    runtime()?.block_on(async {
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("shutting down: finishing requests in flight");
        };
        run_host(&cfg, shutdown, |iso, http| {
            if json {
                println!(
                    "{}",
                    serde_json::json!({"iso8583": iso.to_string(), "http": http.map(|h| h.to_string()), "tls": !tls_note.is_empty()})
                );
            }
            eprintln!("lamina host: ISO 8583 on {iso}{tls_note}");
            if let Some(h) = http {
                eprintln!("lamina host: HTTP API on http://{h} (OpenAPI at /openapi.json)");
            }
        })
        .await
    })?;
    Ok(())
}

fn init_keys(a: InitKeysArgs) -> Result<()> {
    if a.out.exists() && !a.force {
        return Err(bad(format!(
            "{} exists (use --force to overwrite)",
            a.out.display()
        )));
    }
    let file = HostKeys::generate_file();
    let text = serde_json::to_string_pretty(&file)?;
    std::fs::write(&a.out, text).with_context(|| format!("writing {}", a.out.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&a.out, std::fs::Permissions::from_mode(0o600))?;
    }
    if a.json {
        return print_json(
            &serde_json::json!({"file": a.out.display().to_string(), "mode": "0600"}),
        );
    }
    emit(&format!(
        "wrote {} (keep it secret; admin and read-only API tokens are inside)\n",
        a.out.display()
    ))
}

fn check_ledger(a: CheckLedgerArgs) -> Result<()> {
    let report = runtime()?.block_on(async {
        let store = Store::connect_existing(&a.db.db).await?;
        lamina_host::ledger::check_ledger(&store).await
    })?;
    if a.json {
        print_json(&serde_json::json!({"ok": report.ok(), "report": report}))?;
    } else {
        emit(&ledger_text(&report))?;
    }
    if !report.ok() {
        bail!("ledger check failed");
    }
    Ok(())
}

fn settle(a: SettleArgs) -> Result<()> {
    if lamina_host::clock::date_start_ms(&a.date).is_none() {
        return Err(bad("--date must be YYYY-MM-DD"));
    }
    let s = runtime()?.block_on(async {
        let store = Store::connect_existing(&a.db.db).await?;
        lamina_host::settle::settle(&store, &a.date, a.fee_bps, now_ms()).await
    })?;
    if a.json {
        return print_json(&s);
    }
    let mut out = format!("settlement of {} ({} merchant lines)\n", a.date, s.len());
    for m in &s {
        out.push_str(&format!(
            "  {:<16} {:>5} txns  gross {:>12}  reversals {:>10}  refunds {:>10}  fees {:>9}  net {:>12} {}\n",
            m.merchant,
            m.count,
            amount(m.gross),
            amount(m.reversals),
            amount(m.refunds),
            amount(m.fees),
            amount(m.net),
            currency_name(&m.currency)
        ));
    }
    emit(&out)
}

/// A value the host refuses (`HostError::Invalid`) is bad input: exit 2.
fn host_input(e: lamina_host::HostError) -> anyhow::Error {
    match e {
        lamina_host::HostError::Invalid { .. } => bad(e.to_string()),
        e => e.into(),
    }
}

/// ISO 4217 alphabetic code of a numeric one, when known.
fn currency_name(numeric: &str) -> String {
    numeric
        .trim_start_matches('0')
        .parse::<u16>()
        .ok()
        .and_then(lamina_emv::dict::currency_alpha)
        .map_or_else(|| numeric.to_owned(), str::to_owned)
}

/// The ledger check for people.
fn ledger_text(r: &lamina_host::ledger::LedgerReport) -> String {
    let mut out = format!(
        "ledger {}: {} accounts, {} postings\n",
        if r.ok() { "balanced" } else { "NOT balanced" },
        r.accounts,
        r.postings
    );
    for (cur, sum) in &r.unbalanced_currencies {
        out.push_str(&format!(
            "  postings in {} sum to {}\n",
            currency_name(cur),
            amount(*sum)
        ));
    }
    for e in &r.unbalanced_entries {
        out.push_str(&format!("  entry {e} does not sum to zero\n"));
    }
    for (id, stored, postings) in &r.balance_mismatches {
        out.push_str(&format!(
            "  account {id}: balance {} but postings {}\n",
            amount(*stored),
            amount(*postings)
        ));
    }
    for (id, stored, holds) in &r.hold_mismatches {
        out.push_str(&format!(
            "  account {id}: held {} but active holds {}\n",
            amount(*stored),
            amount(*holds)
        ));
    }
    if r.currency_mismatches > 0 {
        out.push_str(&format!(
            "  {} postings in another currency than their account's\n",
            r.currency_mismatches
        ));
    }
    out
}

fn add_account(a: AddAccountArgs) -> Result<()> {
    let acc = runtime()?.block_on(async {
        let store = Store::connect(&a.db.db).await?;
        lamina_host::ledger::create_account(
            &store,
            &lamina_host::ledger::NewAccount {
                name: a.name,
                currency: a.currency,
                credit_limit: a.credit_limit,
                opening_balance: a.balance,
                daily_amount_limit: a.daily_amount,
                daily_count_limit: a.daily_count,
            },
            now_ms(),
        )
        .await
    });
    // An amount, name or limit the host refuses is bad input (exit 2), nothing is written.
    let acc = acc.map_err(host_input)?;
    if a.json {
        return print_json(&acc);
    }
    emit(&format!(
        "account {} ({}) opened: balance {} {}, credit limit {}\n",
        acc.id,
        acc.name,
        amount(acc.ledger_balance),
        currency_name(&acc.currency),
        amount(acc.credit_limit)
    ))
}

fn issue_card(a: IssueCardArgs) -> Result<()> {
    let cvn = lamina_host::cards::parse_cvn(&a.cvn).ok_or_else(|| bad("unknown --cvn"))?;
    let opts = lamina_host::cards::CardOptions {
        ibm3624: a.pin_offset.map(|offset| {
            (
                lamina_host::cards::Ibm3624Offset(offset),
                lamina_host::cards::Ibm3624Params {
                    decimalization: a.decimalization,
                    vd_start: a.pin_validation_start,
                    vd_len: a.pin_validation_length,
                    pad: a.pin_pad,
                },
            )
        }),
        refunds_allowed: !a.no_refunds,
    };
    let card = runtime()?
        .block_on(async {
            let issuer = open(&a.db.db, &a.db.keys, &StoreOptions::default()).await?;
            lamina_host::cards::issue_card_with(
                issuer.store(),
                issuer.keys(),
                &lamina_host::cards::NewCard {
                    pan: a.pan,
                    psn: a.psn,
                    expiry: a.expiry,
                    account_id: a.account,
                    cvn,
                    key_ref: a.key_ref,
                    pvv: a.pvv.map(|p| (a.pvki, p)),
                    pin_try_limit: 3,
                },
                &opts,
                now_ms(),
            )
            .await
        })
        .map_err(host_input)?;
    if a.json {
        return print_json(&card);
    }
    emit(&format!(
        "card {} issued: {} PSN {:02} expiry {} on account {} ({})\n",
        card.id, card.pan_masked, card.psn, card.expiry, card.account_id, card.cvn
    ))
}

/// `lamina load` / `lamina host load`: provision the load cards and drive the host.
pub fn load(a: LoadArgs) -> Result<()> {
    let mti = match a.mti.as_str() {
        "0100" => Mti::AUTHORIZATION_REQUEST,
        "0200" => Mti::FINANCIAL_REQUEST,
        _ => return Err(bad("--mti must be 0100 or 0200")),
    };
    if a.cards == 0 || a.rate.is_nan() || a.rate <= 0.0 || a.duration.is_nan() || a.duration <= 0.0
    {
        return Err(bad("--cards, --rate and --duration must be positive"));
    }
    let tls = a.tls.client_tls(&a.host)?;
    let cfg = LoadConfig {
        host: a.host,
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration),
        connections: a.connections.max(1),
        mti,
        amount: a.amount,
        timeout: Duration::from_secs(10),
    };
    let report = runtime()?.block_on(async {
        let store = Store::connect(&a.db.db).await?;
        let keys = HostKeys::load(&a.db.keys)?;
        eprintln!("provisioning {} cards …", a.cards);
        let sims = provision_cards(&store, &keys, a.cards, "default", now_ms()).await?;
        store.close().await;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let total = (cfg.rate * cfg.duration.as_secs_f64())
            .round()
            .clamp(0.0, 1e12) as u64;
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:40}] {pos}/{len} {per_sec} ETA {eta}",
        ) {
            bar.set_style(style);
        }
        let b = bar.clone();
        let r = run_load_with(
            &cfg,
            tls.as_ref(),
            sims,
            Arc::new(move |done| b.set_position(done)),
        )
        .await;
        bar.finish_and_clear();
        r
    })?;
    let too_many = load_errors_exceed(&report, a.max_error_rate);
    if a.json {
        print_json(&report)?;
        return too_many;
    }
    emit(&load_text(&report))?;
    too_many
}

/// The load report for people: throughput, errors by reason, latency, codes.
fn load_text(report: &lamina_host::load::LoadReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "sent {}  answered {:.0}/s over {:.1} s  errors {}\n",
        report.sent, report.throughput, report.elapsed_s, report.errors
    ));
    for (why, n) in &report.error_reasons {
        s.push_str(&format!("  error: {why} ({n})\n"));
    }
    s.push_str(&format!(
        "latency ms: p50 {:.2}  p99 {:.2}  p999 {:.2}  max {:.2}\n",
        report.p50_ms, report.p99_ms, report.p999_ms, report.max_ms
    ));
    let codes: Vec<String> = report
        .by_code
        .iter()
        .map(|(c, n)| format!("{c}: {n}"))
        .collect();
    s.push_str(&format!("response codes: {}\n", codes.join(", ")));
    s
}

/// A failure when more than `max_rate` (a fraction) of the requests got no answer.
fn load_errors_exceed(report: &lamina_host::load::LoadReport, max_rate: f64) -> Result<()> {
    #[allow(clippy::cast_precision_loss)]
    let rate = report.errors as f64 / report.sent.max(1) as f64;
    if rate > max_rate {
        let top = report
            .error_reasons
            .iter()
            .max_by_key(|(_, n)| **n)
            .map_or_else(String::new, |(why, _)| format!(", mostly: {why}"));
        anyhow::bail!(
            "{} of {} requests failed ({:.1}% > --max-error-rate {:.1}%){top}",
            report.errors,
            report.sent,
            rate * 100.0,
            max_rate * 100.0
        );
    }
    Ok(())
}

/// `lamina host tls-certs`: a fresh TEST CA, host and client certificate.
fn tls_certs(a: TlsCertsArgs) -> Result<()> {
    if !a.force {
        for f in lamina_link::tls::TEST_PKI_FILES {
            let p = a.out.join(f);
            if p.exists() {
                return Err(bad(format!(
                    "{} exists (use --force to overwrite)",
                    p.display()
                )));
            }
        }
    }
    let pki = TestPki::generate(&a.names)?;
    let paths = pki.write(&a.out)?;
    if a.json {
        let files: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return print_json(&serde_json::json!({"test_only": true, "files": files}));
    }
    let mut s = String::from(
        "TEST certificates (self-signed test CA; for tests and local trials, never production):\n",
    );
    let roles = [
        "CA certificate (--tls-ca, --tls-client-ca)",
        "host certificate (serve --tls-cert)",
        "host private key (serve --tls-key)",
        "client certificate (--tls-cert)",
        "client private key (--tls-key)",
    ];
    for (p, role) in paths.iter().zip(roles) {
        s.push_str(&format!("  {}  {role}\n", p.display()));
    }
    emit(&s)
}
