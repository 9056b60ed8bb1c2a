//! `lamina demo` — the main job. Grows as the parts of the system land.

#[allow(dead_code)] // the scripted day fills these rows as the card, terminal and host land
pub mod report;

use anyhow::Result;
use clap::Args as ClapArgs;

#[derive(Debug, ClapArgs)]
pub struct Args {
    /// Working directory for the demo's files (database, cards, report).
    #[arg(long, default_value = "lamina-demo")]
    pub dir: std::path::PathBuf,
    /// Seed for the demo's random choices (same seed, same day).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print a machine-readable JSON document instead of the text report.
    #[arg(long)]
    pub json: bool,
}

pub fn run(_args: Args) -> Result<()> {
    println!("Lamina demo — not built yet.");
    println!(
        "Landed so far: BER-TLV/APDU/DOL codecs, the EMV data dictionary, payment cryptography."
    );
    println!("Try: lamina tlv decode 6F1A840E315041592E5359532E4444463031A5088801025F2D02656E");
    Ok(())
}
