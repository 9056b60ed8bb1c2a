//! Batch issuance: N cards from one profile, in parallel over the cores
//! (rayon), reproducible with a seed.
//!
//! Output directory layout:
//!
//! | path | content | mode |
//! |---|---|---|
//! | `cards/<id>.img` | card image ([`crate::image`]) | 0600 |
//! | `cards/<id>.card.json` | emulator image ([`crate::chip`], with [`issue_batch_with`]) | 0600 |
//! | `scripts/<id>.apdu` | personalization script ([`crate::storedata`]) | 0600 |
//! | `pin-mailers/<id>.txt` | PIN mailer | 0600 |
//! | `faces/<id>.svg`, `faces/<id>.png` | card face (with `faces`) | 0600 |
//! | `manifest.jsonl` | issuance records in card order ([`crate::manifest`]; PVVs inside) | 0600 |
//!
//! Reproducibility: a master generator seeded from the seed draws, in order,
//! the first account number and one 32-byte seed per card; each card is then
//! prepared with its own generator, so the result does not depend on how rayon
//! schedules the work. Account numbers are consecutive from the first one, so
//! PANs are unique within a batch. (`StdRng` is ChaCha12 today; a future `rand`
//! release may change it, so seeds reproduce cards for a given build.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lamina_crypto::pki::Date;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::card::AppInstall;
use crate::chip;
use crate::issuer::Issuer;
use crate::manifest::{IssuanceRecord, IssuanceSink, ManifestWriter};
use crate::prepare::{self, CardRequest, PreparedOutput};
use crate::profile::Profile;
use crate::{PersoError, Result, face, image, storedata, util};

/// Options of a batch.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Number of cards.
    pub count: usize,
    /// Seed for reproducible output; `None` draws from the OS.
    pub seed: Option<u64>,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Issuance date.
    pub today: Date,
    /// Also render card faces (SVG and PNG).
    pub faces: bool,
}

/// What a batch produced.
#[derive(Debug, Clone)]
pub struct BatchSummary {
    /// Cards issued.
    pub count: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Card ids in order.
    pub card_ids: Vec<String>,
    /// Path of the manifest.
    pub manifest: PathBuf,
}

impl BatchSummary {
    /// Cards per second.
    pub fn rate(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            // count is far below 2^52: exact in f64
            #[allow(clippy::cast_precision_loss)]
            let n = self.count as f64;
            n / s
        } else {
            0.0
        }
    }
}

/// Plans per-card requests and generators: the same seed gives the same plan.
pub fn plan(profile: &Profile, count: usize, seed: Option<u64>) -> Vec<(CardRequest, [u8; 32])> {
    let mut master = match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => StdRng::from_rng(&mut rand::rng()),
    };
    let acct_len = profile.pan_length - profile.bin.len() - 1;
    let modulus = 10u64
        .checked_pow(u32::try_from(acct_len).unwrap_or(18))
        .unwrap_or(u64::MAX);
    let first = master.next_u64() % modulus;
    (0..count)
        .map(|i| {
            let mut s = [0u8; 32];
            master.fill_bytes(&mut s);
            let i = u64::try_from(i).unwrap_or(0);
            (
                CardRequest {
                    account_number: Some((first + i) % modulus),
                    ..CardRequest::default()
                },
                s,
            )
        })
        .collect()
}

fn mkdir(p: &Path) -> Result<()> {
    std::fs::create_dir_all(p).map_err(|e| PersoError::io(p, e))
}

/// Writes one prepared card's files (image, script, PIN mailer, face).
pub fn write_card(dir: &Path, out: &PreparedOutput, faces: bool) -> Result<()> {
    let id = &out.card.card_id;
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(PersoError::invalid(
            "card id",
            "letters, digits, - and _ only",
        ));
    }
    image::save(&dir.join("cards").join(format!("{id}.img")), &out.card)?;
    util::write_private(
        &dir.join("scripts").join(format!("{id}.apdu")),
        storedata::script_text(&out.card)?.as_bytes(),
    )?;
    util::write_private(
        &dir.join("pin-mailers").join(format!("{id}.txt")),
        out.pin_mailer.to_text().as_bytes(),
    )?;
    if faces {
        let svg = face::svg(&out.face);
        util::write_private(&dir.join("faces").join(format!("{id}.svg")), svg.as_bytes())?;
        util::write_private(
            &dir.join("faces").join(format!("{id}.png")),
            &face::render_png(&svg, 1.0)?,
        )?;
    }
    Ok(())
}

/// How to write the emulator's image (`cards/<id>.card.json`, see
/// [`crate::chip`]) next to the bureau's.
pub struct ChipOutput<'a> {
    /// Which applications go on the emulated chip.
    pub include: &'a (dyn Fn(&AppInstall) -> bool + Sync),
    /// The EMV applet's DGI → NVM mapping.
    pub personalize: chip::Personalizer<'a>,
}

impl core::fmt::Debug for ChipOutput<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ChipOutput")
    }
}

/// Issues a batch; `progress` is called (from worker threads) with the number
/// of cards finished so far.
pub fn issue_batch(
    issuer: &Issuer,
    profile: &Profile,
    opts: &BatchOptions,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<BatchSummary> {
    issue_batch_with(issuer, profile, opts, None, progress)
}

/// [`issue_batch`], also writing each card's emulator image when `chip` is given.
pub fn issue_batch_with(
    issuer: &Issuer,
    profile: &Profile,
    opts: &BatchOptions,
    chip: Option<&ChipOutput<'_>>,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<BatchSummary> {
    let start = Instant::now();
    let dir = &opts.out_dir;
    for sub in ["cards", "scripts", "pin-mailers"] {
        mkdir(&dir.join(sub))?;
    }
    if opts.faces {
        mkdir(&dir.join("faces"))?;
    }
    let plan = plan(profile, opts.count, opts.seed);
    let done = AtomicUsize::new(0);
    let records: Vec<IssuanceRecord> = plan
        .into_par_iter()
        .map(|(req, seed)| {
            let mut rng = StdRng::from_seed(seed);
            let out = prepare::prepare_card(issuer, profile, &req, opts.today, &mut rng)?;
            write_card(dir, &out, opts.faces)?;
            if let Some(c) = chip {
                let img = chip::card_image(&out.card, c.include, c.personalize)?;
                util::write_private(
                    &dir.join("cards")
                        .join(format!("{}.card.json", out.card.card_id)),
                    img.to_json().as_bytes(),
                )?;
            }
            progress(done.fetch_add(1, Ordering::Relaxed) + 1);
            Ok(out.record)
        })
        .collect::<Result<Vec<_>>>()?;
    let manifest = dir.join("manifest.jsonl");
    let mut sink = ManifestWriter::create(&manifest)?;
    for r in &records {
        sink.register(r)?;
    }
    sink.finish()?;
    Ok(BatchSummary {
        count: records.len(),
        elapsed: start.elapsed(),
        card_ids: records.into_iter().map(|r| r.card_id).collect(),
        manifest,
    })
}
