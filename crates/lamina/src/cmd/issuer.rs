//! `lamina issuer init|show`: the test scheme CA and the issuer's keys.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lamina_perso::issuer::{self, InitOptions, Issuer};
use lamina_perso::keystore::{self, PASSPHRASE_ENV, Protection};
use lamina_perso::util::seeded_rng;
use serde::Serialize;

use crate::input::bad;
use crate::outln;
use crate::output::{emit, print_json};

#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Create a test CA (CAPK file), an issuer RSA key with its certificate, the
    /// issuer master keys and an encrypted key store in DIR.
    Init(InitArgs),
    /// Show an issuer directory: CA key, issuer certificate, keys as KCVs.
    Show(ShowArgs),
    /// Write the host's key file (lamina-host KeyFile JSON, mode 0600) with this
    /// issuer's master keys, PVK, BDK and the manifest's PAN keys, so the host can
    /// import `manifest.jsonl` and verify the cards' cryptograms.
    ExportHostKeys(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Issuer directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Output file (secret: written with mode 0600).
    #[arg(long)]
    pub out: PathBuf,
    /// Name of the key set in the host's key file (the cards' `key_ref`).
    #[arg(long, default_value = lamina_perso::manifest::DEFAULT_KEY_REF)]
    pub key_ref: String,
    /// Print what was written as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Issuer directory to create (capk.toml, issuer.toml, keystore.json).
    #[arg(long)]
    pub dir: PathBuf,
    /// Write the key store in clear (development only; prints a warning).
    /// Otherwise the passphrase is read from $LAMINA_KEYSTORE_PASSPHRASE.
    #[arg(long)]
    pub insecure_dev_keys: bool,
    /// Seed for reproducible keys (tests and demos only).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Issuer name.
    #[arg(long, default_value = "Lamina Test Bank")]
    pub name: String,
    /// Issuer identifier: leftmost 3–8 PAN digits of every BIN this issuer uses.
    #[arg(long, default_value = "9999")]
    pub issuer_id: String,
    /// RID of the test CA (5 bytes hex; the first 5 bytes of the profiles' AIDs).
    #[arg(long, default_value = "F04C414D49")]
    pub rid: String,
    /// CA public key index (hex byte, tag 8F).
    #[arg(long, default_value = "F1")]
    pub ca_index: String,
    /// CA key size in bits (1024–1984, multiple of 8).
    #[arg(long, default_value_t = 1408)]
    pub ca_bits: usize,
    /// Issuer key size in bits (≤ CA key size, ≥ the profiles' ICC key size).
    #[arg(long, default_value_t = 1152)]
    pub issuer_bits: usize,
    /// Overwrite an existing key store.
    #[arg(long)]
    pub force: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Issuer directory.
    #[arg(long)]
    pub dir: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: IssuerCommand) -> Result<()> {
    match cmd {
        IssuerCommand::Init(a) => init(a),
        IssuerCommand::Show(a) => show(a),
        IssuerCommand::ExportHostKeys(a) => export_host_keys(a),
    }
}

/// The key store protection chosen on the command line.
pub fn protection(insecure: bool) -> Result<Protection> {
    if insecure {
        eprintln!(
            "WARNING: --insecure-dev-keys: the key store is written IN CLEAR. \
             Development and demos only; never use these keys for real cards."
        );
        return Ok(Protection::InsecurePlaintext);
    }
    keystore::protection_from_env().ok_or_else(|| {
        bad(format!(
            "set the key store passphrase in ${PASSPHRASE_ENV}, or pass --insecure-dev-keys for a development key store"
        ))
    })
}

/// Opens an issuer directory, with the passphrase from the environment if set.
pub fn open(dir: &std::path::Path) -> Result<Issuer> {
    Issuer::open_with_env(dir)
        .with_context(|| format!("opening issuer directory {}", dir.display()))
}

#[derive(Debug, Serialize)]
struct IssuerOut {
    dir: String,
    name: String,
    rid: String,
    ca_index: String,
    ca_bits: usize,
    ca_checksum: String,
    ca_expiry: String,
    issuer_identifier: String,
    issuer_bits: usize,
    certificate_expiry: String,
    certificate_serial: String,
    keystore: &'static str,
    keys: Vec<keystore::Kcv>,
}

fn describe(dir: &std::path::Path, i: &Issuer, plaintext: bool) -> Result<IssuerOut> {
    let capk = issuer::CapkEntry::from_key(&i.ca);
    Ok(IssuerOut {
        dir: dir.display().to_string(),
        name: i.public.name.clone(),
        rid: capk.rid,
        ca_index: capk.index,
        ca_bits: i.ca.modulus.len() * 8,
        ca_checksum: capk.checksum,
        ca_expiry: capk.expiry,
        issuer_identifier: i.public.issuer_identifier.clone(),
        issuer_bits: i.public.modulus.len() * 8,
        certificate_expiry: i.public.certificate_expiry.clone(),
        certificate_serial: hex::encode_upper(&i.public.serial_number),
        keystore: if plaintext {
            "PLAINTEXT (insecure dev keys)"
        } else {
            "encrypted (Argon2id + AES-256-GCM)"
        },
        keys: i.kcvs()?,
    })
}

fn print(o: &IssuerOut, json: bool) -> Result<()> {
    if json {
        return print_json(o);
    }
    let mut s = String::new();
    outln!(s, "issuer       {} ({})", o.name, o.dir);
    outln!(
        s,
        "CA           RID {} index {}  RSA-{}  expires {}",
        o.rid,
        o.ca_index,
        o.ca_bits,
        o.ca_expiry
    );
    outln!(s, "CA checksum  {}", o.ca_checksum);
    outln!(
        s,
        "issuer key   RSA-{}  issuer identifier {}  certificate expires {}  serial {}",
        o.issuer_bits,
        o.issuer_identifier,
        o.certificate_expiry,
        o.certificate_serial
    );
    outln!(s, "key store    {}", o.keystore);
    outln!(s, "keys (check values only):");
    for k in &o.keys {
        outln!(s, "  {:<20} {:<9} {}", k.name, k.kind, k.kcv);
    }
    emit(&s)
}

fn init(a: InitArgs) -> Result<()> {
    let ca_index = u8::from_str_radix(a.ca_index.trim_start_matches("0x"), 16)
        .map_err(|_| bad("--ca-index: one hex byte, e.g. F1"))?;
    let rid: [u8; 5] = hex::decode(&a.rid)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("--rid: 5 bytes hex, e.g. F04C414D49"))?;
    if a.dir.join(issuer::KEYSTORE_FILE).exists() && !a.force {
        return Err(bad(format!(
            "{} already holds a key store; pass --force to replace it",
            a.dir.display()
        )));
    }
    let prot = protection(a.insecure_dev_keys)?;
    let today = lamina_perso::util::today_utc()?;
    let mut opts = InitOptions::new(today);
    opts.name = a.name;
    opts.issuer_identifier = a.issuer_id;
    opts.ca_index = ca_index;
    opts.rid = rid;
    opts.ca_bits = a.ca_bits;
    opts.issuer_bits = a.issuer_bits;
    let mut rng = seeded_rng(a.seed);
    let iss = issuer::init(&mut rng, &opts).map_err(|e| bad(e.to_string()))?;
    iss.save(&a.dir, &prot, &mut rng)?;
    print(&describe(&a.dir, &iss, a.insecure_dev_keys)?, a.json)
}

fn show(a: ShowArgs) -> Result<()> {
    let iss = open(&a.dir)?;
    let ks = std::fs::read(a.dir.join(issuer::KEYSTORE_FILE))?;
    let plaintext = keystore::is_plaintext(&ks)?;
    print(&describe(&a.dir, &iss, plaintext)?, a.json)
}

fn export_host_keys(a: ExportArgs) -> Result<()> {
    let iss = open(&a.dir)?;
    let file = lamina_perso::manifest::host_key_file(&iss.keys, &a.key_ref, &mut rand::rng());
    let mut text = serde_json::to_string_pretty(&file)?;
    text.push('\n');
    lamina_perso::util::write_private(&a.out, text.as_bytes())?;
    if a.json {
        return crate::output::print_json(&serde_json::json!({
            "file": a.out.display().to_string(),
            "key_ref": a.key_ref,
            "mode": "0600",
        }));
    }
    eprintln!(
        "host key file written to {} (secret keys in clear: mode 0600); its back-office API \
         tokens (admin and read-only) are inside it",
        a.out.display()
    );
    Ok(())
}
