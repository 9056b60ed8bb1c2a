//! The demo's world: an issuer with its bureau, the host on a loopback port, the
//! cards (real chips in the emulator) and the terminals.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use lamina_acquirer::{AcquirerConfig, IsoLink, SteppingClock};
use lamina_card::EmulatedCard;
use lamina_crypto::emv::Cvn;
use lamina_crypto::pki;
use lamina_host::cards::{self, NewCard};
use lamina_host::keys::{HostKeys, IssuerKeySet, KeyFile};
use lamina_host::ledger::{self, Account, NewAccount};
use lamina_host::store::Store;
use lamina_perso::issuer::InitOptions;
use lamina_perso::keystore::Protection;
use lamina_perso::prepare::{CardRequest, PreparedOutput, prepare_card};
use lamina_perso::profile::Profile;
use lamina_terminal::TerminalConfig;

use crate::chip::chip_from_prepared;
use zeroize::Zeroizing;

/// The profiles the demo issues, embedded so the demo needs no files.
pub const PROFILES: &[(&str, &str)] = &[
    ("debit", include_str!("../../../../../profiles/debit.toml")),
    (
        "credit",
        include_str!("../../../../../profiles/credit.toml"),
    ),
    (
        "prepaid",
        include_str!("../../../../../profiles/prepaid.toml"),
    ),
];

/// The retail terminal configuration, embedded.
pub const RETAIL_TOML: &str = include_str!("../../../../../terminals/retail.toml");

/// The retail reader's contactless parameters (its `base` is the retail terminal).
pub const RETAIL_CONTACTLESS_TOML: &str =
    include_str!("../../../../../terminals/retail-contactless.toml");

/// One issued card in the demo.
pub struct DemoCard {
    /// Short name used by the script ("alice-debit").
    pub name: String,
    /// The bureau's output (chip data, PIN mailer, issuance record, face).
    pub issued: PreparedOutput,
    /// The chip, in the emulator.
    pub chip: EmulatedCard,
    /// The card's id at the host.
    pub host_card_id: String,
    /// The cardholder's account at the issuer.
    pub account: Account,
    /// The PIN from the PIN mailer.
    pub pin: String,
    /// Masked PAN.
    pub masked: String,
    /// Card face SVG.
    pub face_svg: String,
}

impl core::fmt::Debug for DemoCard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DemoCard")
            .field("name", &self.name)
            .field("pan", &self.masked)
            .finish_non_exhaustive()
    }
}

/// Everything running during the demo.
pub struct World {
    /// Working directory.
    pub dir: PathBuf,
    /// The tokio runtime running the host.
    pub runtime: tokio::runtime::Runtime,
    /// Host storage.
    pub store: Store,
    /// Host address.
    pub host_addr: String,
    /// Stops the host.
    pub shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// The cards.
    pub cards: Vec<DemoCard>,
    /// The retail terminal's configuration.
    pub retail: TerminalConfig,
    /// The retail terminal's contactless reader.
    pub contactless: lamina_terminal::contactless::ContactlessConfig,
    /// The acquirer's ISO 8583 link (the retail POS's connection).
    pub link: IsoLink,
    /// The DUKPT base derivation key (for the PIN pads' IPEKs).
    pub bdk_hex: String,
}

impl core::fmt::Debug for World {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("World")
            .field("dir", &self.dir)
            .field("host", &self.host_addr)
            .field("cards", &self.cards)
            .finish_non_exhaustive()
    }
}

fn hexs(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// What to issue: (name, profile, PIN, opening balance in minor units).
pub const CARDS: &[(&str, &str, &str, i64)] = &[
    ("alice-debit", "debit", "1234", 250_000),
    ("bob-credit", "credit", "4321", 0),
    ("carol-prepaid", "prepaid", "5555", 2_000),
    ("dave-debit", "debit", "2468", 80_000),
];

/// Sets up the issuer, the host and the cards. `progress` is called after each card.
pub fn build(
    dir: &Path,
    seed: u64,
    today: pki::Date,
    now_ms: i64,
    closed_loop_schemes: &lamina_closedloop::install::Schemes,
    mut progress: impl FnMut(&str),
) -> Result<World> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut rng = lamina_perso::util::seeded_rng(Some(seed));

    // 1. Scheme CA and issuer (dev keys: plaintext key store, with the warning).
    let issuer = lamina_perso::issuer::init(&mut rng, &InitOptions::new(today))?;
    issuer.save(
        &dir.join("issuer"),
        &Protection::InsecurePlaintext,
        &mut rng,
    )?;
    progress("issuer");

    // 2. The host, on SQLite in the demo directory, listening on a loopback port.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let db = dir.join("host.db");
    let _ = std::fs::remove_file(&db);
    let _ = std::fs::remove_file(dir.join("host.db-wal"));
    let _ = std::fs::remove_file(dir.join("host.db-shm"));
    let store = runtime.block_on(Store::connect(&format!("sqlite://{}", db.display())))?;
    let k = &issuer.keys;
    let mut issuer_sets = std::collections::BTreeMap::new();
    issuer_sets.insert(
        "default".to_string(),
        IssuerKeySet {
            imk_ac: hexs(k.mk_ac.expose()),
            imk_smi: Some(hexs(k.mk_smi.expose())),
            imk_smc: Some(hexs(k.mk_smc.expose())),
        },
    );
    let key_file = KeyFile {
        pan_lookup: hexs(k.pan_token_key.expose()),
        pan_encryption: hexs(k.pan_enc_key.expose()),
        issuer: issuer_sets,
        bdk: Some(hexs(k.bdk.expose())),
        pvk: Some(hexs(k.pvk.expose())),
        admin_tokens: vec![],
        read_tokens: vec![],
    };
    let host_keys = Arc::new(HostKeys::from_file(&key_file)?);
    let clock = lamina_host::clock::FixedClock::new(now_ms);
    let host_issuer =
        lamina_host::issuer::Issuer::new(store.clone(), Arc::clone(&host_keys), Arc::new(clock));
    let state = lamina_host::server::ServerState {
        issuer: host_issuer,
        metrics: Arc::new(lamina_host::metrics::Metrics::default()),
        config: lamina_host::server::ServerConfig::default(),
    };
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let host_addr = listener.local_addr()?.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    runtime.spawn(lamina_host::server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    progress("host");

    // 3. Cards: data preparation, chip personalization, registration at the issuer.
    let profiles: Vec<(&str, Profile)> = PROFILES
        .iter()
        .map(|(n, t)| Profile::from_toml(t).map(|p| (*n, p)))
        .collect::<Result<_, _>>()?;
    let cards_dir = dir.join("cards");
    for sub in ["cards", "scripts", "pin-mailers", "faces"] {
        let p = cards_dir.join(sub);
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    }
    let mut cards = Vec::new();
    for (i, (name, profile_name, pin, balance)) in CARDS.iter().enumerate() {
        let profile = profiles
            .iter()
            .find(|(n, _)| n == profile_name)
            .map(|(_, p)| p)
            .ok_or_else(|| anyhow!("no profile {profile_name}"))?;
        let req = CardRequest {
            pin: Some(Zeroizing::new((*pin).to_string())),
            ..CardRequest::default()
        };
        let issued = prepare_card(&issuer, profile, &req, today, &mut rng)?;
        lamina_perso::batch::write_card(&cards_dir, &issued, true)?;
        let mut chip = chip_from_prepared(&issued.card, seed.wrapping_add(i as u64))?;
        // The closed-loop schemes' applications, with this card's own keys, on
        // cards whose profile does not already carry them.
        if !issued
            .card
            .applications
            .iter()
            .any(|a| a.install.class == lamina_closedloop::purse::CLASS)
        {
            super::closedloop::install_closed_loop(
                &mut chip,
                closed_loop_schemes,
                super::closedloop::card_id(i as u64),
            )?;
        }
        let pan = issued
            .card
            .pan()
            .ok_or_else(|| anyhow!("card {name} has no PAN"))?;
        let rec = &issued.record;
        let account = runtime.block_on(ledger::create_account(
            &store,
            &NewAccount {
                name: rec.cardholder.clone(),
                currency: "978".into(),
                credit_limit: if rec.account_type == "credit" {
                    300_000
                } else {
                    0
                },
                opening_balance: *balance,
                daily_amount_limit: 0,
                daily_count_limit: 0,
            },
            now_ms,
        ))?;
        let cvn = lamina_host::cards::parse_cvn(&rec.cvn).unwrap_or(Cvn::EmvCcd);
        let host_card = runtime.block_on(cards::issue_card(
            &store,
            &host_keys,
            &NewCard {
                pan: pan.clone(),
                psn: rec.psn,
                expiry: rec.expiry.clone(),
                account_id: account.id.clone(),
                cvn,
                key_ref: "default".into(),
                pvv: rec.pvki.zip(rec.pvv.clone()),
                pin_try_limit: 3,
            },
            now_ms,
        ))?;
        // The report is a page people share: its card faces show the PAN
        // masked (the bureau's own faces, mode 0600, keep the full PAN).
        let mut shown = issued.face.clone();
        shown.pan = lamina_emv::dict::mask_pan(&shown.pan).into();
        let face_svg = lamina_perso::face::svg(&shown);
        cards.push(DemoCard {
            name: (*name).to_string(),
            masked: issued.card.masked_pan(),
            pin: (*pin).to_string(),
            chip: EmulatedCard::new(chip),
            host_card_id: host_card.id.clone(),
            account,
            face_svg,
            issued,
        });
        progress(name);
    }

    // 4. The retail terminal and its acquirer link.
    // The terminal loads the scheme CA keys from the bureau's CAPK file.
    let retail_toml = RETAIL_TOML.replace(
        "file = \"capk-test.toml\"",
        &format!("file = \"issuer/{}\"", lamina_perso::issuer::CAPK_FILE),
    );
    let files = crate::files::DirSource::new(dir);
    let retail = TerminalConfig::from_toml(&retail_toml, &files)?;
    // The contactless reader of the same terminal: its parameters over the retail
    // configuration (written beside the issuer so `base` resolves).
    std::fs::write(dir.join("retail.toml"), &retail_toml)?;
    let contactless = lamina_terminal::contactless::ContactlessConfig::from_toml(
        RETAIL_CONTACTLESS_TOML,
        &files,
    )?;
    let client = runtime.block_on(lamina_link::client::HostClient::connect(&host_addr))?;
    let link = IsoLink::new(
        Arc::new(client),
        runtime.handle().clone(),
        AcquirerConfig::default(),
        Box::new(SteppingClock { seconds: 9 * 3600 }),
    );
    let bdk_hex = hexs(issuer.keys.bdk.expose());
    Ok(World {
        dir: dir.to_path_buf(),
        runtime,
        store,
        host_addr,
        shutdown: Some(tx),
        cards,
        retail,
        contactless,
        link,
        bdk_hex,
    })
}

impl World {
    /// The card named `name`.
    pub fn card(&mut self, name: &str) -> Result<&mut DemoCard> {
        self.cards
            .iter_mut()
            .find(|c| c.name == name)
            .ok_or_else(|| anyhow!("no card {name}"))
    }

    /// Stops the host, letting in-flight work finish.
    pub fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop();
    }
}
