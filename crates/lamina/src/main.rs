//! `lamina` — the command-line front of the Lamina smart-card payment system.
//!
//! Thin: argument parsing here, each command in `cmd/`, all logic in the library crates.

mod cmd;
mod input;
mod output;

use clap::{Parser, Subcommand};

/// Lamina: an open smart-card payment system (card, terminal, host, bureau).
#[derive(Debug, Parser)]
#[command(name = "lamina", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a day in the life of the payment system on embedded defaults.
    Demo(cmd::demo::Args),
    /// BER-TLV tools: decode and encode.
    #[command(subcommand)]
    Tlv(cmd::tlv::TlvCommand),
    /// APDU tools: decode a command or response APDU.
    #[command(subcommand)]
    Apdu(cmd::apdu::ApduCommand),
    /// Data object list tools: build the data a PDOL/CDOL/DDOL asks for.
    #[command(subcommand)]
    Dol(cmd::dol::DolCommand),
    /// Payment cryptography calculator: keys, cryptograms, PIN blocks, DUKPT, certificates.
    #[command(subcommand)]
    Crypto(Box<cmd::crypto::CryptoCommand>),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Tlv(c) => cmd::tlv::run(c),
        Command::Apdu(c) => cmd::apdu::run(c),
        Command::Dol(c) => cmd::dol::run(c),
        Command::Crypto(c) => cmd::crypto::run(*c),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        // Bad input (hex, TLV, APDU, arguments) exits 2 like clap's usage errors;
        // anything else is a failure of the operation itself.
        let code = if e.downcast_ref::<input::InputError>().is_some() {
            2
        } else {
            1
        };
        std::process::exit(code);
    }
}
