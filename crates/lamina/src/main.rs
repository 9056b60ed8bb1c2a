//! `lamina` — the command-line front of the Lamina smart-card payment system.
//!
//! Thin: argument parsing here, each command in `cmd/`, all logic in the library crates.

mod chip;
mod cmd;
mod files;
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
    /// Issuer set-up: test scheme CA, CAPK file, issuer keys and certificate.
    #[command(subcommand)]
    Issuer(cmd::issuer::IssuerCommand),
    /// Cards: issue (personalization bureau), show, serve to PC/SC, scan a real card.
    #[command(subcommand)]
    Card(CardCommand),
    /// EMV terminal: run a payment against a card image (or a reader).
    #[command(subcommand)]
    Terminal(cmd::terminal::TerminalCommand),
    /// Issuer and acquirer host: serve ISO 8583 + HTTP, settle, check the ledger.
    #[command(subcommand)]
    Host(cmd::host::HostCommand),
    /// Load generator: real ISO 8583 authorizations with valid ARQCs against a host.
    Load(cmd::host::LoadArgs),
    /// Loyalty points on a card: earn, redeem, balance.
    #[command(subcommand)]
    Loyalty(cmd::closedloop::LoyaltyCommand),
    /// List PC/SC readers and their cards.
    Readers(cmd::reader::ReadersArgs),
    /// Payment cryptography calculator: keys, cryptograms, PIN blocks, DUKPT, certificates.
    #[command(subcommand)]
    Crypto(Box<cmd::crypto::CryptoCommand>),
}

#[derive(Debug, Subcommand)]
enum CardCommand {
    /// Issue cards from a profile: data preparation, chip images, PIN mailers, faces.
    Issue(cmd::perso::IssueArgs),
    /// Decode a card image (TLV with names; keys only as KCVs).
    Show(cmd::perso::ShowArgs),
    /// Build the chip image of a bureau card file (the emulator's NVM).
    Personalize(cmd::card::PersonalizeArgs),
    /// Send raw APDUs to a chip image and print the decoded responses.
    Apdu(cmd::card::ApduArgs),
    /// Show a chip's counters, PIN tries and logs (never its keys).
    State(cmd::card::StateArgs),
    /// The card's prepaid purse: load (authorized online) and balance.
    #[command(subcommand)]
    Purse(cmd::closedloop::PurseCommand),
    /// `serve` (to pcscd through vpcd) and `scan` (a real card, read-only).
    #[command(flatten)]
    Reader(cmd::reader::ReaderCardCommand),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Tlv(c) => cmd::tlv::run(c),
        Command::Apdu(c) => cmd::apdu::run(c),
        Command::Dol(c) => cmd::dol::run(c),
        Command::Crypto(c) => cmd::crypto::run(*c),
        Command::Issuer(c) => cmd::issuer::run(c),
        Command::Card(CardCommand::Issue(a)) => cmd::perso::issue(a),
        Command::Card(CardCommand::Show(a)) => cmd::perso::show(a),
        Command::Card(CardCommand::Personalize(a)) => cmd::card::personalize(a),
        Command::Card(CardCommand::Apdu(a)) => cmd::card::apdu(a),
        Command::Card(CardCommand::State(a)) => cmd::card::state(a),
        Command::Card(CardCommand::Purse(c)) => cmd::closedloop::purse(c),
        Command::Loyalty(c) => cmd::closedloop::loyalty(c),
        Command::Card(CardCommand::Reader(c)) => cmd::reader::run_card(c),
        Command::Readers(a) => cmd::reader::run_readers(a),
        Command::Terminal(c) => cmd::terminal::run(c),
        Command::Host(c) => cmd::host::run(c),
        Command::Load(a) => cmd::host::load(a),
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every leaf command, by its full name (`host settle`).
    fn leaves(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, bool)>) {
        let name = format!("{prefix} {}", cmd.get_name()).trim().to_owned();
        let subs: Vec<&clap::Command> = cmd
            .get_subcommands()
            .filter(|c| c.get_name() != "help")
            .collect();
        if subs.is_empty() {
            let json = cmd.get_arguments().any(|a| a.get_id() == "json");
            out.push((name.clone(), json));
        }
        for s in subs {
            leaves(s, &name, out);
        }
    }

    /// "Every command takes --json" (README).
    #[test]
    fn every_command_takes_json() {
        let mut all = Vec::new();
        leaves(&Cli::command(), "", &mut all);
        let missing: Vec<&str> = all
            .iter()
            .filter(|(_, json)| !json)
            .map(|(n, _)| n.as_str())
            .collect();
        assert!(all.len() > 30, "{all:?}");
        assert!(missing.is_empty(), "commands without --json: {missing:?}");
    }
}
