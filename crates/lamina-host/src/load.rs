//! Load generator: real ISO 8583 authorizations with valid ARQCs from N simulated cards,
//! at a target rate, over pipelined connections; reports throughput and latency
//! percentiles. Plain TCP or TLS ([`run_load_with`]).
//!
//! Each card is driven by one task that sends its requests one after another (so its ATC
//! reaches the host in order), at `rate / cards` per second; tasks share
//! `connections` pipelined [`HostClient`]s. Latency is measured from sending a request to
//! receiving its response.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lamina_crypto::emv::Cvn;
use lamina_iso8583::{Message, Mti};
use serde::Serialize;

use crate::cards::{self, NewCard};
use crate::clock::civil_date;
use crate::error::{HostError, Result, invalid};
use crate::keys::HostKeys;
use crate::ledger::{self, NewAccount};
use crate::sim::SimCard;
use crate::store::Store;
use lamina_link::client::HostClient;
use lamina_link::tls::ClientTls;

/// Luhn check digit of a digit string (ISO/IEC 7812-1 Annex B).
pub fn luhn_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b.saturating_sub(b'0'));
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).unwrap_or(0)
}

/// The PAN of load card `i`: BIN 999990 (test range), 9-digit index, Luhn digit.
pub fn load_pan(i: usize) -> String {
    let body = format!("999990{i:09}");
    let check = luhn_digit(&body);
    format!("{body}{check}")
}

/// Issues (or reuses) `n` load-test cards, each on its own well-funded account, and
/// returns their simulators with the next ATC the host will accept.
pub async fn provision_cards(
    store: &Store,
    keys: &HostKeys,
    n: usize,
    key_ref: &str,
    now: i64,
) -> Result<Vec<SimCard>> {
    let imk = keys
        .issuer(key_ref)
        .ok_or_else(|| invalid("key_ref", "no such issuer key set"))?
        .imk_ac
        .clone();
    let cvn = Cvn::EmvCcd;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let pan = load_pan(i);
        let mut conn = store.pool().acquire().await?;
        let existing = cards::lock_card_by_pan(store, &mut conn, keys, &pan, Some(0)).await?;
        drop(conn);
        let card = match existing {
            Some(c) => c,
            None => {
                let acc = ledger::create_account(
                    store,
                    &NewAccount {
                        name: format!("load {i}"),
                        currency: "978".into(),
                        credit_limit: 0,
                        // 10^9 minor units: ten million transactions of 100 per card, and a
                        // million cards before the funding account reaches -10^15.
                        opening_balance: 1_000_000_000,
                        daily_amount_limit: 0,
                        daily_count_limit: 0,
                    },
                    now,
                )
                .await?;
                cards::issue_card(
                    store,
                    keys,
                    &NewCard {
                        pan: pan.clone(),
                        psn: 0,
                        expiry: "4912".into(),
                        account_id: acc.id,
                        cvn,
                        key_ref: key_ref.into(),
                        pvv: None,
                        pin_try_limit: 3,
                    },
                    now,
                )
                .await?
            }
        };
        let mut sim = SimCard::new(&pan, 0, &card.expiry, cvn, &imk)?;
        sim.atc = u16::try_from(card.last_atc + 1)
            .map_err(|_| HostError::Corrupt("ATC exhausted".into()))?;
        out.push(sim);
    }
    Ok(out)
}

/// Load parameters.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// Host address.
    pub host: String,
    /// Target requests per second (all cards together).
    pub rate: f64,
    /// How long to send.
    pub duration: Duration,
    /// TCP connections.
    pub connections: usize,
    /// 0100 (hold) or 0200 (post).
    pub mti: Mti,
    /// Amount per request (minor units).
    pub amount: i64,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Results.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    /// Requests sent.
    pub sent: u64,
    /// Responses by code.
    pub by_code: BTreeMap<String, u64>,
    /// Requests without a response in time, or failed sends.
    pub errors: u64,
    /// The errors by reason ("timed out", "connection closed", "TLS: …").
    pub error_reasons: BTreeMap<String, u64>,
    /// Wall time, seconds.
    pub elapsed_s: f64,
    /// Responses per second.
    pub throughput: f64,
    /// Latency percentiles, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

/// The q-quantile (nearest rank) of sorted microsecond samples, in milliseconds.
pub fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped, non-negative
    let rank = (q * sorted_us.len() as f64)
        .ceil()
        .clamp(1.0, sorted_us.len() as f64) as usize;
    sorted_us
        .get(rank.min(sorted_us.len()) - 1)
        .copied()
        .unwrap_or(0) as f64
        / 1000.0
}

fn transmission_now() -> String {
    let ms = crate::clock::SystemClock.now_ms_value();
    let (_, m, d) = civil_date(ms);
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{m:02}{d:02}{:02}{:02}{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn request(
    sim: &mut SimCard,
    cfg: &LoadConfig,
    terminal: &str,
    stan: u32,
    transmission: &str,
) -> Result<Message> {
    let amount = u64::try_from(cfg.amount).map_err(|_| invalid("amount", "negative"))?;
    let icc = sim.arqc_field55(amount, 978, [0x26, 0x11, 0x25], stan.to_be_bytes())?;
    Ok(Message::new(cfg.mti)
        .with(2, sim.pan.as_str())
        .with(3, "000000")
        .with(4, format!("{:012}", cfg.amount))
        .with(7, transmission)
        .with(11, format!("{:06}", stan % 1_000_000))
        .with(12, transmission.get(4..).unwrap_or("000000"))
        .with(13, transmission.get(..4).unwrap_or("0101"))
        .with(18, "5999")
        .with(19, "250")
        .with(22, "071")
        .with(23, format!("{:03}", sim.psn))
        .with(25, "00")
        .with(32, "999")
        .with(37, format!("{:012}", stan))
        .with(41, terminal)
        .with(42, "LOADMERCHANT001")
        .with(49, "978")
        .with(55, icc))
}

/// Runs the load over plain TCP; `progress(done)` is called after every response.
pub async fn run_load(
    cfg: &LoadConfig,
    sims: Vec<SimCard>,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<LoadReport> {
    run_load_with(cfg, None, sims, progress).await
}

/// Runs the load over TLS when `tls` is given (every connection does its own handshake
/// before the clock starts), plain TCP otherwise.
pub async fn run_load_with(
    cfg: &LoadConfig,
    tls: Option<&ClientTls>,
    sims: Vec<SimCard>,
    progress: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<LoadReport> {
    if sims.is_empty() || cfg.rate <= 0.0 {
        return Err(invalid(
            "load",
            "need at least one card and a positive rate",
        ));
    }
    let mut clients = Vec::new();
    for _ in 0..cfg.connections.max(1) {
        clients.push(Arc::new(
            HostClient::connect_with(&cfg.host, tls)
                .await
                .map_err(|e| HostError::Config(format!("connect {}: {e}", cfg.host)))?,
        ));
    }
    let n = sims.len();
    let per_card_interval = Duration::from_secs_f64(n as f64 / cfg.rate);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // clamped, non-negative
    let total = (cfg.rate * cfg.duration.as_secs_f64())
        .round()
        .clamp(0.0, 1e12) as u64;
    let start = tokio::time::Instant::now();
    let done = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut sim) in sims.into_iter().enumerate() {
        let client = Arc::clone(&clients[i % clients.len()]);
        let cfg = cfg.clone();
        let progress = Arc::clone(&progress);
        let done = Arc::clone(&done);
        let count = total / n as u64 + u64::from((i as u64) < total % n as u64);
        tasks.spawn(async move {
            let terminal = format!("L{:07}", i % 10_000_000);
            let offset = per_card_interval.mul_f64(i as f64 / n as f64);
            let mut lat = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            let mut codes: BTreeMap<String, u64> = BTreeMap::new();
            let mut errors = 0u64;
            let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
            // A random start STAN so reruns do not collide with stored idempotency keys.
            let mut stan = u32::from_be_bytes(rand::random::<[u8; 4]>()) % 900_000;
            for k in 0..count {
                let at = start + offset + per_card_interval.mul_f64(k as f64);
                tokio::time::sleep_until(at).await;
                stan += 1;
                let t = transmission_now();
                let msg = match request(&mut sim, &cfg, &terminal, stan, &t) {
                    Ok(m) => m,
                    Err(e) => {
                        errors += 1;
                        *reasons.entry(format!("request: {e}")).or_insert(0) += 1;
                        continue;
                    }
                };
                let sent = Instant::now();
                match client.call(&msg, cfg.timeout).await {
                    Ok(r) => {
                        lat.push(u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX));
                        *codes
                            .entry(r.get_str(39).unwrap_or("??").to_owned())
                            .or_insert(0) += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        *reasons.entry(e.to_string()).or_insert(0) += 1;
                    }
                }
                let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                progress(d);
            }
            (lat, codes, errors, reasons, count)
        });
    }
    let mut report = LoadReport::default();
    let mut all = Vec::new();
    while let Some(res) = tasks.join_next().await {
        let (lat, codes, errors, reasons, count) =
            res.map_err(|e| HostError::Config(format!("load task: {e}")))?;
        for (why, k) in reasons {
            *report.error_reasons.entry(why).or_insert(0) += k;
        }
        all.extend(lat);
        for (c, k) in codes {
            *report.by_code.entry(c).or_insert(0) += k;
        }
        report.errors += errors;
        report.sent += count;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort_unstable();
    report.elapsed_s = elapsed;
    report.throughput = all.len() as f64 / elapsed.max(1e-9);
    report.p50_ms = percentile_ms(&all, 0.50);
    report.p99_ms = percentile_ms(&all, 0.99);
    report.p999_ms = percentile_ms(&all, 0.999);
    report.max_ms = all.last().copied().unwrap_or(0) as f64 / 1000.0;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_and_percentiles() {
        // ISO/IEC 7812-1 example PAN family: 79927398713 is the classic Luhn example.
        assert_eq!(luhn_digit("7992739871"), 3);
        assert_eq!(luhn_digit("541333008960001"), 0);
        assert_eq!(load_pan(7).len(), 16);
        let v: Vec<u64> = (1..=1000).map(|x| x * 1000).collect();
        assert_eq!(percentile_ms(&v, 0.5), 500.0);
        assert_eq!(percentile_ms(&v, 0.99), 990.0);
        assert_eq!(percentile_ms(&v, 0.999), 999.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
