//! `lamina card issue|show`: the personalization bureau's batch line and the
//! card image viewer.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use lamina_perso::batch::{self, BatchOptions};
use lamina_perso::issuer::{self, InitOptions, Issuer};
use lamina_perso::keystore::Protection;
use lamina_perso::profile::Profile;
use serde::Serialize;

use crate::input::bad;
use crate::output::{emit, print_json};

#[derive(Debug, Args)]
pub struct IssueArgs {
    /// Card profile (TOML), e.g. profiles/debit.toml.
    #[arg(long)]
    pub profile: PathBuf,
    /// Number of cards.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Output directory (cards/, scripts/, pin-mailers/, faces/, manifest.jsonl).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same seed, profile and issuer give the same cards.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Issuer directory (from `lamina issuer init`). Without it, OUT/issuer is
    /// used, created with insecure development keys if it does not exist.
    #[arg(long)]
    pub issuer: Option<PathBuf>,
    /// Also render each card's face (faces/<id>.svg and .png).
    #[arg(long)]
    pub faces: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Card image file (cards/<id>.img).
    pub card: PathBuf,
    /// Also render the card face to this file (.png or .svg).
    #[arg(long)]
    pub face: Option<PathBuf>,
    /// Issuer name printed on the rendered face.
    #[arg(long, default_value = "Lamina Test Bank")]
    pub issuer_name: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct IssueOut {
    profile: String,
    count: usize,
    seconds: f64,
    cards_per_second: f64,
    out: String,
    manifest: String,
    first_card: Option<String>,
}

fn issuer_for(a: &IssueArgs) -> Result<Issuer> {
    if let Some(dir) = &a.issuer {
        return super::issuer::open(dir);
    }
    let dir = a.out.join("issuer");
    if dir.join(issuer::KEYSTORE_FILE).exists() {
        return super::issuer::open(&dir);
    }
    eprintln!(
        "note: no --issuer given: creating a development issuer in {}",
        dir.display()
    );
    let prot: Protection = super::issuer::protection(true)?;
    let mut rng = lamina_perso::util::seeded_rng(a.seed.map(|s| s ^ 0x1553_0E12));
    let iss = issuer::init(
        &mut rng,
        &InitOptions::new(lamina_perso::util::today_utc()?),
    )?;
    iss.save(&dir, &prot, &mut rng)?;
    Ok(iss)
}

pub fn issue(a: IssueArgs) -> Result<()> {
    if a.count == 0 {
        return Err(bad("--count must be at least 1"));
    }
    let profile =
        Profile::load(&a.profile).map_err(|e| bad(format!("{}: {e}", a.profile.display())))?;
    let iss = issuer_for(&a)?;
    let opts = BatchOptions {
        count: a.count,
        seed: a.seed,
        out_dir: a.out.clone(),
        today: lamina_perso::util::today_utc()?,
        faces: a.faces,
    };
    let bar = if a.quiet || a.json {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(u64::try_from(a.count).unwrap_or(u64::MAX));
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} cards ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    // the emulator image: every application whose applet is in the chip's ROM;
    // the EMV applet maps its DGIs to NVM records itself
    let rom = crate::chip::rom();
    let include = |a: &lamina_perso::card::AppInstall| rom.class(&a.class).is_some();
    let personalize =
        |img: &mut lamina_card::image::CardImage, aid: &lamina_card::Aid, dgis: &[(u16, &[u8])]| {
            lamina_applets::emv::provision::personalize_image_with_dgis(img, aid, dgis)
                .map_err(|e| e.to_string())
        };
    let chip = batch::ChipOutput {
        include: &include,
        personalize: &personalize,
    };
    let summary = batch::issue_batch_with(&iss, &profile, &opts, Some(&chip), &|n| {
        bar.set_position(u64::try_from(n).unwrap_or(u64::MAX));
    })
    .with_context(|| format!("issuing into {}", a.out.display()))?;
    bar.finish_and_clear();
    let out = IssueOut {
        profile: profile.name.clone(),
        count: summary.count,
        seconds: summary.elapsed.as_secs_f64(),
        cards_per_second: summary.rate(),
        out: a.out.display().to_string(),
        manifest: summary.manifest.display().to_string(),
        first_card: summary.card_ids.first().cloned(),
    };
    if a.json {
        return print_json(&out);
    }
    emit(&format!(
        "issued {} {} cards in {:.2} s ({:.1} cards/s) into {}\nmanifest {}\n{}",
        out.count,
        out.profile,
        out.seconds,
        out.cards_per_second,
        out.out,
        out.manifest,
        out.first_card
            .map(|id| format!(
                "first card: {o}/cards/{id}.img (bureau image), {o}/cards/{id}.card.json (emulator image)\n",
                o = out.out
            ))
            .unwrap_or_default()
    ))
}

pub fn show(a: ShowArgs) -> Result<()> {
    let bytes = std::fs::read(&a.card).with_context(|| format!("reading {}", a.card.display()))?;
    if bytes.first() == Some(&b'{') {
        return Err(bad(format!(
            "{} is an emulator image (lamina-card-image); `card show` decodes the bureau image cards/<id>.img",
            a.card.display()
        )));
    }
    let card = lamina_perso::image::decode(&bytes).map_err(|e| bad(e.to_string()))?;
    if let Some(path) = &a.face {
        let face = lamina_perso::face::face_from_card(&card, &a.issuer_name)?;
        let svg = lamina_perso::face::svg(&face);
        let is_svg = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
        let bytes = if is_svg {
            svg.into_bytes()
        } else {
            lamina_perso::face::render_png(&svg, 1.0)?
        };
        lamina_perso::util::write_private(path, &bytes)?;
        eprintln!(
            "card face written to {} (it shows the full PAN: mode 0600)",
            path.display()
        );
    }
    let view = lamina_perso::show::card_view(&card)?;
    if a.json {
        print_json(&view)
    } else {
        emit(&view.to_text())
    }
}
