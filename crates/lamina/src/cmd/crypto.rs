//! `lamina crypto …` — the payment engineer's calculator over `lamina-crypto`.
//!
//! Every input is hex (or digits for PANs and PINs); every command has `--json`;
//! errors name the argument and exit with code 2. Being a calculator, it prints the
//! keys it derives (with their KCV) — it never logs them anywhere else.

use anyhow::Result;
use clap::{Args, Subcommand, ValueEnum};
use lamina_crypto::emv::{self, ArpcResponse, Cvn, MkDerivation, SessionKeyDerivation};
use lamina_crypto::sym::{self, Algorithm};
use lamina_crypto::{cvv, pin, pki};
use lamina_perso::keyfile::RsaKeyFile;
use serde_json::{Value, json};

use crate::input::{bad, hex_arg};
use crate::outln;
use crate::output::{emit, hx, print_json};

#[derive(Debug, Subcommand)]
pub enum CryptoCommand {
    /// Key check value of a TDES or AES key.
    Kcv(KcvArgs),
    /// Derive an ICC master key from an issuer master key (EMV Book 2 A1.4).
    DeriveIccMk(DeriveIccMkArgs),
    /// Derive an application cryptogram session key (EMV Book 2 A1.3).
    SessionKey(SessionKeyArgs),
    /// Generate or verify an application cryptogram (ARQC/TC/AAC).
    Ac(AcArgs),
    /// Generate or verify an ARPC (method 1 or 2, from the CVN profile).
    Arpc(ArpcArgs),
    /// ISO 9564-1 PIN blocks: encode or decode.
    #[command(subcommand)]
    Pinblock(PinblockCommand),
    /// Card verification values: CVV/CVC, CVV2, iCVV.
    Cvv(CvvArgs),
    /// PIN verification values: Visa PVV and IBM 3624 offsets (generate or verify).
    Pvv(PvvArgs),
    /// DUKPT (ANSI X9.24-1 TDES, X9.24-3 AES): keys for a KSN, PIN block encryption.
    #[command(subcommand)]
    Dukpt(DukptCommand),
    /// EMV RSA certificates: generate keys, build and recover issuer/ICC certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// List the cryptogram version profiles (CVN table).
    Cvns(JsonFlag),
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Alg {
    Tdes,
    Aes,
}

impl From<Alg> for Algorithm {
    fn from(a: Alg) -> Self {
        match a {
            Alg::Tdes => Algorithm::Tdes,
            Alg::Aes => Algorithm::Aes,
        }
    }
}

/// CVN profiles by name (see `lamina crypto cvns`).
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CvnName {
    Visa10,
    Visa18,
    Mastercard16,
    Interac133,
    EmvCcd,
    EmvAes,
}

impl From<CvnName> for Cvn {
    fn from(c: CvnName) -> Self {
        match c {
            CvnName::Visa10 => Cvn::Visa10,
            CvnName::Visa18 => Cvn::Visa18,
            CvnName::Mastercard16 => Cvn::Mastercard16,
            CvnName::Interac133 => Cvn::Interac133,
            CvnName::EmvCcd => Cvn::EmvCcd,
            CvnName::EmvAes => Cvn::EmvAes,
        }
    }
}

#[derive(Debug, Args)]
pub struct KcvArgs {
    /// The key (hex).
    #[arg(long)]
    pub key: String,
    /// Algorithm.
    #[arg(long, value_enum, default_value = "tdes")]
    pub alg: Alg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MkOption {
    A,
    B,
}

#[derive(Debug, Args)]
pub struct DeriveIccMkArgs {
    /// Issuer master key (hex).
    #[arg(long)]
    pub imk: String,
    /// PAN (digits).
    #[arg(long)]
    pub pan: String,
    /// PAN sequence number (hex byte, e.g. 00).
    #[arg(long, default_value = "00")]
    pub psn: String,
    /// Derivation option (B differs from A only for PANs over 16 digits).
    #[arg(long, value_enum, default_value = "a")]
    pub option: MkOption,
    #[arg(long, value_enum, default_value = "tdes")]
    pub alg: Alg,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SkMethod {
    /// EMV common session key (R = ATC ‖ 00…).
    Common,
    /// Mastercard SKD (R = ATC ‖ 00 ‖ 00 ‖ UN).
    Mastercard,
}

#[derive(Debug, Args)]
pub struct SessionKeyArgs {
    /// ICC master key for AC (hex).
    #[arg(long)]
    pub mk: String,
    /// Application transaction counter (2 bytes hex).
    #[arg(long)]
    pub atc: String,
    /// Unpredictable number (4 bytes hex; used by the Mastercard method).
    #[arg(long, default_value = "00000000")]
    pub un: String,
    #[arg(long, value_enum, default_value = "common")]
    pub method: SkMethod,
    #[arg(long, value_enum, default_value = "tdes")]
    pub alg: Alg,
    #[arg(long)]
    pub json: bool,
}

/// Key material shared by `ac` and `arpc`: an ICC MK, or an IMK with PAN and PSN.
#[derive(Debug, Args)]
pub struct IccKeyArgs {
    /// ICC master key for AC (hex).
    #[arg(long, conflicts_with = "imk")]
    pub mk: Option<String>,
    /// Issuer master key for AC (hex); needs --pan (and --psn).
    #[arg(long, requires = "pan")]
    pub imk: Option<String>,
    /// PAN (digits), with --imk.
    #[arg(long)]
    pub pan: Option<String>,
    /// PAN sequence number (hex byte), with --imk.
    #[arg(long, default_value = "00")]
    pub psn: String,
}

#[derive(Debug, Args)]
pub struct AcArgs {
    /// Cryptogram version profile.
    #[arg(long, value_enum)]
    pub cvn: CvnName,
    #[command(flatten)]
    pub key: IccKeyArgs,
    /// ATC (2 bytes hex).
    #[arg(long)]
    pub atc: String,
    /// Unpredictable number 9F37 (4 bytes hex).
    #[arg(long)]
    pub un: String,
    /// The CDOL-built cryptogram input data (hex).
    #[arg(long)]
    pub data: String,
    /// Verify this cryptogram instead of only generating one.
    #[arg(long)]
    pub verify: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ArpcArgs {
    #[arg(long, value_enum)]
    pub cvn: CvnName,
    #[command(flatten)]
    pub key: IccKeyArgs,
    /// ATC (2 bytes hex).
    #[arg(long)]
    pub atc: String,
    /// Unpredictable number (4 bytes hex).
    #[arg(long, default_value = "00000000")]
    pub un: String,
    /// The ARQC (8 bytes hex).
    #[arg(long)]
    pub arqc: String,
    /// Authorisation response code (method 1; 2 bytes hex, e.g. 3030 for "00").
    #[arg(long)]
    pub arc: Option<String>,
    /// Card status update (method 2; 4 bytes hex).
    #[arg(long)]
    pub csu: Option<String>,
    /// Proprietary authentication data (method 2; 0–8 bytes hex).
    #[arg(long, default_value = "")]
    pub proprietary: String,
    /// Verify this ARPC instead of only generating one.
    #[arg(long)]
    pub verify: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum PinblockCommand {
    /// Build a PIN block (formats 0–3 clear or under a TDES key; format 4 under AES).
    Encode(PinEncodeArgs),
    /// Decode a PIN block (decrypting it first when --key is given).
    Decode(PinDecodeArgs),
}

#[derive(Debug, Args)]
pub struct PinEncodeArgs {
    /// ISO 9564-1 format (0, 1, 2, 3, 4).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    pub format: u8,
    /// The PIN (4–12 digits).
    #[arg(long)]
    pub pin: String,
    /// PAN (digits; formats 0, 3 and 4).
    #[arg(long)]
    pub pan: Option<String>,
    /// PIN encryption key (hex): TDES for formats 0–3, AES for format 4 (required).
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PinDecodeArgs {
    /// The PIN block (hex, clear or enciphered).
    #[arg(long)]
    pub block: String,
    /// PAN (digits; formats 0, 3 and 4).
    #[arg(long)]
    pub pan: Option<String>,
    /// Key to decipher the block first (TDES; AES for format 4).
    #[arg(long)]
    pub key: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CvvKind {
    /// CVV/CVC on the magnetic stripe (service code from --service-code).
    Cvv,
    /// CVV2/CVC2 printed on the card (service code 000).
    Cvv2,
    /// iCVV in the chip's track 2 equivalent data (service code 999).
    Icvv,
}

#[derive(Debug, Args)]
pub struct CvvArgs {
    /// CVK pair (16 bytes hex: CVK A ‖ CVK B).
    #[arg(long)]
    pub cvk: String,
    #[arg(long)]
    pub pan: String,
    /// Expiry YYMM.
    #[arg(long)]
    pub expiry: String,
    #[arg(long, default_value = "101")]
    pub service_code: String,
    #[arg(long, value_enum, default_value = "cvv")]
    pub kind: CvvKind,
    /// Verify this value instead of only generating one.
    #[arg(long)]
    pub verify: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PvvMethod {
    /// Visa PVV (PVKI + 4 digits).
    Visa,
    /// IBM 3624 PIN offset.
    Ibm3624,
}

#[derive(Debug, Args)]
pub struct PvvArgs {
    #[arg(long, value_enum, default_value = "visa")]
    pub method: PvvMethod,
    /// PIN verification key (hex; a TDES key pair).
    #[arg(long)]
    pub pvk: String,
    /// PAN (digits; Visa PVV).
    #[arg(long)]
    pub pan: Option<String>,
    /// The PIN.
    #[arg(long)]
    pub pin: String,
    /// PIN verification key index (Visa, 0–9).
    #[arg(long, default_value_t = 1)]
    pub pvki: u8,
    /// Validation data (IBM 3624; hex digits, usually PAN digits).
    #[arg(long)]
    pub validation_data: Option<String>,
    /// Decimalization table (IBM 3624; 16 digits).
    #[arg(long, default_value = "0123456789012345")]
    pub decimalization: String,
    /// Verify this PVV or offset instead of generating one.
    #[arg(long)]
    pub verify: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DukptCommand {
    /// The keys for a KSN: initial key (IPEK), current/transaction key, PIN key.
    Derive(DukptDeriveArgs),
    /// Encrypt a clear PIN block under the KSN's PIN key.
    EncryptPin(DukptPinArgs),
    /// Decrypt an encrypted PIN block under the KSN's PIN key.
    DecryptPin(DukptPinArgs),
}

#[derive(Debug, Args)]
pub struct DukptDeriveArgs {
    /// Base derivation key (hex: 16 bytes TDES; 16/24/32 bytes AES).
    #[arg(long)]
    pub bdk: String,
    /// Key serial number (10 bytes TDES, 12 bytes AES).
    #[arg(long)]
    pub ksn: String,
    /// AES DUKPT (X9.24-3) instead of TDES (X9.24-1).
    #[arg(long)]
    pub aes: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DukptPinArgs {
    #[arg(long)]
    pub bdk: String,
    #[arg(long)]
    pub ksn: String,
    /// The PIN block (hex; clear for encrypt-pin, encrypted for decrypt-pin).
    #[arg(long)]
    pub block: String,
    /// PAN (digits), to decode the PIN from the decrypted block.
    #[arg(long)]
    pub pan: Option<String>,
    /// AES DUKPT with ISO format 4 PIN blocks.
    #[arg(long)]
    pub aes: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Generate an RSA key pair file (JSON with hex parts; private: keep it safe).
    Genkey(GenkeyArgs),
    /// Build an issuer (CA-signed) or ICC (issuer-signed) public key certificate.
    Build(CertBuildArgs),
    /// Recover and check a certificate with the signer's public key.
    Recover(CertRecoverArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CertKind {
    Issuer,
    Icc,
}

#[derive(Debug, Args)]
pub struct GenkeyArgs {
    /// Modulus size in bits (1024–1984, multiple of 8).
    #[arg(long, default_value_t = 1024)]
    pub bits: usize,
    /// Public exponent: 3 or 65537.
    #[arg(long, default_value_t = 3)]
    pub exponent: u32,
    /// Output file (written with mode 0600).
    #[arg(long)]
    pub out: std::path::PathBuf,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CertBuildArgs {
    #[arg(long, value_enum)]
    pub kind: CertKind,
    /// The signer's key pair file (from `cert genkey`): the CA for issuer certificates,
    /// the issuer for ICC certificates.
    #[arg(long)]
    pub signer: std::path::PathBuf,
    /// The certified public key's modulus (hex).
    #[arg(long)]
    pub modulus: String,
    /// The certified public key's exponent (hex: 03 or 010001).
    #[arg(long, default_value = "03")]
    pub exponent: String,
    /// PAN (digits): its leftmost 3–8 digits for an issuer certificate, all for ICC.
    #[arg(long)]
    pub pan: String,
    /// Issuer identifier length in digits (issuer certificates).
    #[arg(long, default_value_t = 6)]
    pub id_digits: usize,
    /// Certificate expiry MMYY.
    #[arg(long)]
    pub expiry: String,
    /// Serial number (3 bytes hex).
    #[arg(long, default_value = "000001")]
    pub serial: String,
    /// Static data to be authenticated (ICC certificates; hex).
    #[arg(long, default_value = "")]
    pub static_data: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CertRecoverArgs {
    #[arg(long, value_enum)]
    pub kind: CertKind,
    /// The signer's public modulus (hex).
    #[arg(long)]
    pub signer_modulus: String,
    /// The signer's public exponent (hex).
    #[arg(long, default_value = "03")]
    pub signer_exponent: String,
    /// The certificate (tag 90 or 9F46 value, hex).
    #[arg(long)]
    pub cert: String,
    /// Public key remainder (tag 92 or 9F48, hex).
    #[arg(long, default_value = "")]
    pub remainder: String,
    /// Public key exponent (tag 9F32 or 9F47, hex).
    #[arg(long, default_value = "03")]
    pub exponent: String,
    /// PAN (digits) to check the certificate against.
    #[arg(long)]
    pub pan: String,
    /// Static data to be authenticated (ICC certificates; hex).
    #[arg(long, default_value = "")]
    pub static_data: String,
    /// Check expiry against this date (YYYY-MM-DD); default today (UTC).
    #[arg(long)]
    pub today: Option<String>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: CryptoCommand) -> Result<()> {
    match cmd {
        CryptoCommand::Kcv(a) => kcv(a),
        CryptoCommand::DeriveIccMk(a) => derive_icc_mk(a),
        CryptoCommand::SessionKey(a) => session_key(a),
        CryptoCommand::Ac(a) => ac(a),
        CryptoCommand::Arpc(a) => arpc(a),
        CryptoCommand::Pinblock(PinblockCommand::Encode(a)) => pin_encode(a),
        CryptoCommand::Pinblock(PinblockCommand::Decode(a)) => pin_decode(a),
        CryptoCommand::Cvv(a) => cvv_cmd(a),
        CryptoCommand::Pvv(a) => pvv_cmd(a),
        CryptoCommand::Dukpt(DukptCommand::Derive(a)) => dukpt_derive(a),
        CryptoCommand::Dukpt(DukptCommand::EncryptPin(a)) => dukpt_pin(a, true),
        CryptoCommand::Dukpt(DukptCommand::DecryptPin(a)) => dukpt_pin(a, false),
        CryptoCommand::Cert(CertCommand::Genkey(a)) => genkey(a),
        CryptoCommand::Cert(CertCommand::Build(a)) => cert_build(a),
        CryptoCommand::Cert(CertCommand::Recover(a)) => cert_recover(a),
        CryptoCommand::Cvns(a) => cvns(a),
    }
}

/// Prints `value` as JSON, or its fields as `key: value` lines.
fn report(json_out: bool, value: Value) -> Result<()> {
    if json_out {
        return print_json(&value);
    }
    let mut out = String::new();
    if let Value::Object(map) = &value {
        for (k, v) in map {
            match v {
                Value::String(s) => outln!(out, "{k}: {s}"),
                other => outln!(out, "{k}: {other}"),
            }
        }
    }
    emit(&out)
}

/// Reports `v`; when a `--verify` value was checked, adds `verified` and exits 1
/// on a mismatch.
fn report_checked(json_out: bool, mut v: Value, verified: Option<bool>, what: &str) -> Result<()> {
    if let Some(ok) = verified {
        v["verified"] = json!(ok);
    }
    report(json_out, v)?;
    if verified == Some(false) {
        anyhow::bail!("{what} does not verify");
    }
    Ok(())
}

/// Maps a library error to an input error naming the argument.
fn arg_err(what: &str) -> impl Fn(lamina_crypto::Error) -> anyhow::Error + '_ {
    move |e| bad(format!("{what}: {e}"))
}

fn fixed<const N: usize>(s: &str, what: &str) -> Result<[u8; N]> {
    let v = hex_arg(s, what)?;
    <[u8; N]>::try_from(v.as_slice())
        .map_err(|_| bad(format!("{what}: expected {N} bytes, got {}", v.len())))
}

fn atc_arg(s: &str) -> Result<u16> {
    Ok(u16::from_be_bytes(fixed::<2>(s, "--atc")?))
}

fn kcv_hex(alg: Algorithm, key: &[u8]) -> String {
    match alg {
        Algorithm::Tdes => sym::kcv_tdes(key).map(|k| hx(&k)),
        Algorithm::Aes => sym::kcv_aes_cmac(key).map(|k| hx(&k)),
    }
    .unwrap_or_else(|_| "-".into())
}

fn kcv(a: KcvArgs) -> Result<()> {
    let key = hex_arg(&a.key, "--key")?;
    let (kcv, method) = match a.alg {
        Alg::Tdes => (
            hx(&sym::kcv_tdes(&key).map_err(arg_err("--key"))?),
            "TDES encryption of zeros, 3 bytes",
        ),
        Alg::Aes => (
            hx(&sym::kcv_aes_cmac(&key).map_err(arg_err("--key"))?),
            "AES-CMAC of a zero block, 5 bytes (X9.24-1:2017)",
        ),
    };
    let mut v = json!({ "kcv": kcv, "method": method, "key_length": key.len() });
    if a.alg == Alg::Aes {
        v["kcv_legacy_ecb"] = json!(hx(&sym::kcv_aes_ecb(&key).map_err(arg_err("--key"))?));
    } else {
        v["odd_parity"] = json!(sym::has_odd_parity(&key));
    }
    report(a.json, v)
}

impl PartialEq for Alg {
    fn eq(&self, other: &Self) -> bool {
        matches!((self, other), (Alg::Tdes, Alg::Tdes) | (Alg::Aes, Alg::Aes))
    }
}

fn psn_arg(s: &str) -> Result<u8> {
    Ok(fixed::<1>(s, "--psn")?[0])
}

fn derive_icc_mk(a: DeriveIccMkArgs) -> Result<()> {
    let imk = hex_arg(&a.imk, "--imk")?;
    let method = match a.option {
        MkOption::A => MkDerivation::OptionA,
        MkOption::B => MkDerivation::OptionB,
    };
    let alg = Algorithm::from(a.alg);
    let mk = emv::derive_icc_mk(alg, method, &imk, &a.pan, psn_arg(&a.psn)?)
        .map_err(arg_err("--imk/--pan/--psn"))?;
    report(
        a.json,
        json!({ "icc_mk": hx(mk.as_bytes()), "kcv": kcv_hex(alg, mk.as_bytes()) }),
    )
}

fn session_key(a: SessionKeyArgs) -> Result<()> {
    let mk = hex_arg(&a.mk, "--mk")?;
    let alg = Algorithm::from(a.alg);
    let kind = match a.method {
        SkMethod::Common => SessionKeyDerivation::Common,
        SkMethod::Mastercard => SessionKeyDerivation::Mastercard,
    };
    let sk = emv::derive_ac_session_key(kind, alg, &mk, atc_arg(&a.atc)?, fixed(&a.un, "--un")?)
        .map_err(arg_err("--mk"))?;
    report(
        a.json,
        json!({ "session_key": hx(sk.as_bytes()), "kcv": kcv_hex(alg, sk.as_bytes()) }),
    )
}

/// The ICC master key for AC from `--mk`, or derived from `--imk`, `--pan`, `--psn`
/// with the CVN profile's derivation option.
fn icc_mk(k: &IccKeyArgs, cvn: Cvn) -> Result<sym::SecretKey> {
    match (&k.mk, &k.imk, &k.pan) {
        (Some(mk), _, _) => Ok(sym::SecretKey::new(hex_arg(mk, "--mk")?)),
        (None, Some(imk), Some(pan)) => {
            let p = cvn.profile();
            emv::derive_icc_mk(
                p.algorithm,
                p.mk_derivation,
                &hex_arg(imk, "--imk")?,
                pan,
                psn_arg(&k.psn)?,
            )
            .map_err(arg_err("--imk/--pan/--psn"))
        }
        _ => Err(bad("give --mk, or --imk with --pan (and --psn)")),
    }
}

fn ac(a: AcArgs) -> Result<()> {
    let cvn = Cvn::from(a.cvn);
    let mk = icc_mk(&a.key, cvn)?;
    let data = hex_arg(&a.data, "--data")?;
    let (atc, un) = (atc_arg(&a.atc)?, fixed(&a.un, "--un")?);
    let ac =
        emv::generate_ac(cvn, mk.as_bytes(), atc, un, &data).map_err(arg_err("--data/--mk"))?;
    let verified = match &a.verify {
        Some(given) => {
            let given = hex_arg(given, "--verify")?;
            Some(emv::verify_ac(cvn, mk.as_bytes(), atc, un, &data, &given).is_ok())
        }
        None => None,
    };
    let v = json!({ "cvn": format!("{cvn:?}"), "ac": hx(&ac) });
    report_checked(a.json, v, verified, "cryptogram")
}

fn arpc(a: ArpcArgs) -> Result<()> {
    let cvn = Cvn::from(a.cvn);
    let mk = icc_mk(&a.key, cvn)?;
    let (atc, un) = (atc_arg(&a.atc)?, fixed(&a.un, "--un")?);
    let arqc: [u8; 8] = fixed(&a.arqc, "--arqc")?;
    let prop = hex_arg(&a.proprietary, "--proprietary")?;
    let method = cvn.profile().arpc;
    let response = match (method, &a.arc, &a.csu) {
        (lamina_crypto::emv::ArpcMethod::Method1, Some(arc), None) => ArpcResponse::Method1 {
            arc: fixed(arc, "--arc")?,
        },
        (lamina_crypto::emv::ArpcMethod::Method2, None, Some(csu)) => ArpcResponse::Method2 {
            csu: fixed(csu, "--csu")?,
            proprietary: &prop,
        },
        (lamina_crypto::emv::ArpcMethod::Method1, ..) => {
            return Err(bad(format!(
                "{} computes the ARPC by {}: give --arc (the 2-byte response code, hex), not --csu",
                cvn.name(),
                method.name()
            )));
        }
        (lamina_crypto::emv::ArpcMethod::Method2, ..) => {
            return Err(bad(format!(
                "{} computes the ARPC by {}: give --csu (the 4-byte Card Status Update, hex) and optionally --proprietary, not --arc",
                cvn.name(),
                method.name()
            )));
        }
    };
    let arpc = emv::generate_arpc(cvn, mk.as_bytes(), atc, un, &arqc, response)
        .map_err(arg_err("--arc/--csu"))?;
    let verified = match &a.verify {
        Some(given) => {
            let given = hex_arg(given, "--verify")?;
            Some(emv::verify_arpc(cvn, mk.as_bytes(), atc, un, &arqc, response, &given).is_ok())
        }
        None => None,
    };
    let v = json!({
        "cvn": format!("{cvn:?}"),
        "method": format!("{:?}", cvn.profile().arpc),
        "arpc": hx(&arpc),
    });
    report_checked(a.json, v, verified, "ARPC")
}

fn pan_arg(p: &Option<String>) -> Result<Option<pin::Pan>> {
    p.as_deref()
        .map(|s| pin::Pan::new(s).map_err(arg_err("--pan")))
        .transpose()
}

fn pin_encode(a: PinEncodeArgs) -> Result<()> {
    let p = pin::Pin::new(&a.pin).map_err(arg_err("--pin"))?;
    let pan = pan_arg(&a.pan)?;
    let need_pan = || {
        pan.clone()
            .ok_or_else(|| bad("--pan is needed for this format"))
    };
    let mut rng = rand::rng();
    let key = a.key.as_deref().map(|k| hex_arg(k, "--key")).transpose()?;
    let (clear, enciphered) = match a.format {
        0..=3 => {
            let block = match a.format {
                0 => pin::encode_iso0(&p, &need_pan()?),
                1 => pin::encode_iso1(&p, &mut rng),
                2 => pin::encode_iso2(&p),
                _ => pin::encode_iso3(&p, &need_pan()?, &mut rng),
            };
            let enc = match &key {
                Some(k) => Some(hx(&pin::encipher_tdes(
                    &sym::SecretKey::new(k.clone()),
                    &block,
                )
                .map_err(arg_err("--key"))?)),
                None => None,
            };
            (Some(hx(block.as_bytes())), enc)
        }
        _ => {
            let k = key.ok_or_else(|| bad("--key (AES) is required for format 4"))?;
            let enc = pin::encipher_iso4(&sym::SecretKey::new(k), &p, &need_pan()?, &mut rng)
                .map_err(arg_err("--key"))?;
            (None, Some(hx(&enc)))
        }
    };
    let mut v = json!({ "format": a.format });
    if let Some(c) = clear {
        v["clear_block"] = json!(c);
    }
    if let Some(e) = enciphered {
        v["enciphered_block"] = json!(e);
    }
    report(a.json, v)
}

fn pin_decode(a: PinDecodeArgs) -> Result<()> {
    let block = hex_arg(&a.block, "--block")?;
    let pan = pan_arg(&a.pan)?;
    let key = a.key.as_deref().map(|k| hex_arg(k, "--key")).transpose()?;
    let (format, p) = match (block.len(), key) {
        (16, Some(k)) => {
            let pan = pan.ok_or_else(|| bad("--pan is needed for format 4"))?;
            let p = pin::decipher_iso4(&sym::SecretKey::new(k), &block, &pan)
                .map_err(arg_err("--block/--key"))?;
            (pin::Format::Iso4, p)
        }
        (8, Some(k)) => {
            let clear = pin::decipher_tdes(&sym::SecretKey::new(k), &block)
                .map_err(arg_err("--block/--key"))?;
            pin::decode(&clear, pan.as_ref()).map_err(arg_err("--block"))?
        }
        (8, None) => {
            let clear = pin::ClearPinBlock::from_bytes(&block).map_err(arg_err("--block"))?;
            pin::decode(&clear, pan.as_ref()).map_err(arg_err("--block"))?
        }
        (n, _) => {
            return Err(bad(format!(
                "--block: {n} bytes; expected 8 (or 16 with --key for format 4)"
            )));
        }
    };
    report(
        a.json,
        json!({ "format": format.control(), "pin": p.expose().as_str(), "pin_length": p.len() }),
    )
}

fn cvv_cmd(a: CvvArgs) -> Result<()> {
    let cvk = hex_arg(&a.cvk, "--cvk")?;
    let (code, service_code) = match a.kind {
        CvvKind::Cvv => (
            cvv::cvv(&cvk, &a.pan, &a.expiry, &a.service_code),
            a.service_code.as_str(),
        ),
        CvvKind::Cvv2 => (cvv::cvv2(&cvk, &a.pan, &a.expiry), "000"),
        CvvKind::Icvv => (cvv::icvv(&cvk, &a.pan, &a.expiry), "999"),
    };
    let code = code.map_err(arg_err("--cvk/--pan/--expiry/--service-code"))?;
    let v = json!({ "kind": format!("{:?}", a.kind), "service_code": service_code, "value": code.as_str() });
    let verified = a.verify.as_deref().map(|given| code.matches(given));
    report_checked(a.json, v, verified, "value")
}

fn pvv_cmd(a: PvvArgs) -> Result<()> {
    use lamina_crypto::pvv;
    let pvk = sym::SecretKey::new(hex_arg(&a.pvk, "--pvk")?);
    let p = pin::Pin::new(&a.pin).map_err(arg_err("--pin"))?;
    match a.method {
        PvvMethod::Visa => {
            let pan = pan_arg(&a.pan)?.ok_or_else(|| bad("--pan is needed for a Visa PVV"))?;
            let v = pvv::visa_pvv(&pvk, &pan, a.pvki, &p).map_err(arg_err("--pvk/--pan/--pvki"))?;
            let value = String::from_utf8_lossy(&v).into_owned();
            let verified = match &a.verify {
                Some(given) => Some(
                    pvv::visa_pvv_verify(&pvk, &pan, a.pvki, &p, given)
                        .map_err(arg_err("--verify"))?,
                ),
                None => None,
            };
            report_checked(
                a.json,
                json!({ "method": "visa", "pvki": a.pvki, "pvv": value }),
                verified,
                "PVV",
            )
        }
        PvvMethod::Ibm3624 => {
            let vd = a
                .validation_data
                .clone()
                .ok_or_else(|| bad("--validation-data is needed for IBM 3624"))?;
            let ibm = pvv::Ibm3624 {
                pvk: &pvk,
                table: pvv::DecimalizationTable::new(&a.decimalization)
                    .map_err(arg_err("--decimalization"))?,
                validation_data: &vd,
                pad: 'F',
            };
            let offset = ibm.offset(&p).map_err(arg_err("--pvk/--validation-data"))?;
            let verified = match &a.verify {
                Some(given) => Some(ibm.verify(&p, given).map_err(arg_err("--verify"))?),
                None => None,
            };
            report_checked(
                a.json,
                json!({ "method": "ibm3624", "offset": offset }),
                verified,
                "offset",
            )
        }
    }
}

fn dukpt_err(what: &'static str) -> impl Fn(lamina_crypto::dukpt::DukptError) -> anyhow::Error {
    move |e| bad(format!("{what}: {e}"))
}

fn dukpt_derive(a: DukptDeriveArgs) -> Result<()> {
    use lamina_crypto::dukpt::{aes as adk, tdes};
    let bdk = sym::SecretKey::new(hex_arg(&a.bdk, "--bdk")?);
    let v = if a.aes {
        let ksn = adk::Ksn::from_hex(&a.ksn).map_err(dukpt_err("--ksn"))?;
        let ik =
            adk::derive_initial_key(&bdk, &ksn.initial_key_id()).map_err(dukpt_err("--bdk"))?;
        let tk = adk::derive_transaction_key(&ik, &ksn).map_err(dukpt_err("--ksn"))?;
        let pin = adk::derive_working_key(
            &tk,
            &ksn,
            adk::KeyUsage::PinEncryption,
            adk::KeyType::Aes128,
        )
        .map_err(dukpt_err("--ksn"))?;
        json!({
            "kind": "AES DUKPT (X9.24-3)",
            "initial_key": hx(ik.as_bytes()),
            "counter": ksn.counter(),
            "transaction_key": hx(tk.as_bytes()),
            "pin_key_aes128": hx(pin.as_bytes()),
        })
    } else {
        let ksn = tdes::Ksn::from_hex(&a.ksn).map_err(dukpt_err("--ksn"))?;
        let ipek = tdes::derive_ipek(&bdk, &ksn).map_err(dukpt_err("--bdk"))?;
        let mut v = json!({
            "kind": "TDES DUKPT (X9.24-1)",
            "ipek": hx(ipek.as_bytes()),
            "ipek_kcv": kcv_hex(Algorithm::Tdes, ipek.as_bytes()),
            "counter": ksn.counter(),
        });
        // A KSN with counter 0 names the initial key only (no transaction key).
        if ksn.counter() > 0 {
            let cur = tdes::derive_current_key(&ipek, &ksn).map_err(dukpt_err("--ksn"))?;
            let pin = tdes::pin_key(&cur).map_err(dukpt_err("--ksn"))?;
            v["current_key"] = json!(hx(cur.as_bytes()));
            v["pin_key"] = json!(hx(pin.as_bytes()));
        }
        v
    };
    report(a.json, v)
}

fn dukpt_pin(a: DukptPinArgs, encrypt: bool) -> Result<()> {
    use lamina_crypto::dukpt::{aes as adk, tdes};
    let bdk = sym::SecretKey::new(hex_arg(&a.bdk, "--bdk")?);
    let block = hex_arg(&a.block, "--block")?;
    let pan = pan_arg(&a.pan)?;
    let v = if a.aes {
        let ksn = adk::Ksn::from_hex(&a.ksn).map_err(dukpt_err("--ksn"))?;
        let pan = pan.ok_or_else(|| bad("--pan is needed for AES DUKPT (format 4)"))?;
        let key = adk::host_derive_working_key(
            &bdk,
            &ksn,
            adk::KeyUsage::PinEncryption,
            adk::KeyType::Aes128,
        )
        .map_err(dukpt_err("--ksn"))?;
        if encrypt {
            return Err(bad(
                "encrypt-pin --aes: use `crypto pinblock encode --format 4 --key` with the PIN key from `dukpt derive --aes`",
            ));
        }
        let p = pin::decipher_iso4(&key, &block, &pan).map_err(arg_err("--block"))?;
        json!({ "format": 4, "pin": p.expose().as_str() })
    } else {
        let ksn = tdes::Ksn::from_hex(&a.ksn).map_err(dukpt_err("--ksn"))?;
        let cur = tdes::derive_current_key_from_bdk(&bdk, &ksn).map_err(dukpt_err("--ksn"))?;
        if encrypt {
            let clear = pin::ClearPinBlock::from_bytes(&block).map_err(arg_err("--block"))?;
            let enc = tdes::encrypt_pin_block(&cur, &clear).map_err(dukpt_err("--block"))?;
            json!({ "encrypted_block": hx(&enc), "ksn": a.ksn.to_uppercase() })
        } else {
            let clear = tdes::decrypt_pin_block(&cur, &block).map_err(dukpt_err("--block"))?;
            let mut v = json!({ "clear_block": hx(clear.as_bytes()) });
            if let Ok((f, p)) = pin::decode(&clear, pan.as_ref()) {
                v["format"] = json!(f.control());
                v["pin"] = json!(p.expose().as_str());
            }
            v
        }
    };
    report(a.json, v)
}

fn cvns(a: JsonFlag) -> Result<()> {
    let rows: Vec<Value> = lamina_crypto::emv::CVN_PROFILES
        .iter()
        .map(|p| {
            json!({
                "cvn": p.cvn.name(),
                "scheme": p.scheme,
                "number": p.number,
                "vector_checked": p.vector_checked,
                "algorithm": p.algorithm.name(),
                "session_key": p.session.name(),
                "mac": p.mac.name(),
                "arpc": p.arpc.name(),
                "data_layout": p.data_layout,
            })
        })
        .collect();
    if a.json {
        return print_json(&rows);
    }
    let mut out = String::new();
    for r in &rows {
        outln!(
            out,
            "{:<13} {:<11} {:<5} {:<5} session key: {:<23} ARPC {:<9} {}",
            r["cvn"].as_str().unwrap_or(""),
            r["scheme"].as_str().unwrap_or(""),
            r["number"],
            r["algorithm"].as_str().unwrap_or(""),
            r["session_key"].as_str().unwrap_or(""),
            r["arpc"].as_str().unwrap_or(""),
            if r["vector_checked"] == json!(true) {
                "vector-checked"
            } else {
                "modelled"
            }
        );
    }
    emit(&out)
}

// --- certificates ----------------------------------------------------------

fn genkey(a: GenkeyArgs) -> Result<()> {
    let e = match a.exponent {
        3 => pki::PublicExponent::Three,
        65537 => pki::PublicExponent::F4,
        _ => return Err(bad("--exponent: 3 or 65537")),
    };
    let key = pki::RsaKeyPair::generate(&mut rand::rng(), a.bits, e)
        .map_err(|e| bad(format!("--bits: {e}")))?;
    let file = RsaKeyFile::of(&key)?;
    file.write(&a.out).map_err(|e| bad(format!("--out: {e}")))?;
    report(
        a.json,
        json!({
            "file": a.out.display().to_string(),
            "bits": a.bits,
            "modulus": file.modulus,
            "public_exponent": file.public_exponent,
        }),
    )
}

fn load_key(path: &std::path::Path) -> Result<pki::RsaKeyPair> {
    RsaKeyFile::read(path)
        .and_then(|f| f.key_pair())
        .map_err(|e| bad(format!("--signer: {e}")))
}

fn expiry_arg(s: &str) -> Result<pki::CertExpiry> {
    let b: [u8; 2] = fixed(s, "--expiry")?;
    pki::CertExpiry::from_mmyy(b).map_err(|e| bad(format!("--expiry: {e}")))
}

fn cert_build(a: CertBuildArgs) -> Result<()> {
    let signer = load_key(&a.signer)?;
    let public_key = pki::RsaPublicKey::new(
        &hex_arg(&a.modulus, "--modulus")?,
        &hex_arg(&a.exponent, "--exponent")?,
    )
    .map_err(|e| bad(format!("--modulus/--exponent: {e}")))?;
    let pan = pki::Pan::from_digits(&a.pan).map_err(|e| bad(format!("--pan: {e}")))?;
    let expiry = expiry_arg(&a.expiry)?;
    let serial_number: [u8; 3] = fixed(&a.serial, "--serial")?;
    let mut rng = rand::rng();
    let cert = match a.kind {
        CertKind::Issuer => {
            let content = pki::IssuerCertificateContent {
                issuer_identifier: pki::issuer_identifier_from_pan(&pan, a.id_digits)
                    .map_err(|e| bad(format!("--id-digits: {e}")))?,
                expiry,
                serial_number,
                public_key,
            };
            // The CA signs with its own key; RID and index do not enter the certificate.
            let ca = pki::CaKeyPair::from_key(
                [0; 5],
                0,
                pki::Date::new(2099, 12, 31).map_err(|e| anyhow::anyhow!("{e}"))?,
                signer,
            );
            ca.certify_issuer(&mut rng, &content)
        }
        CertKind::Icc => {
            let content = pki::IccCertificateContent {
                pan,
                expiry,
                serial_number,
                public_key,
            };
            pki::certify_icc(
                &signer,
                &mut rng,
                &content,
                &hex_arg(&a.static_data, "--static-data")?,
            )
        }
    }
    .map_err(|e| bad(format!("certificate: {e}")))?;
    report(
        a.json,
        json!({
            "certificate": hx(&cert.certificate),
            "remainder": hx(&cert.remainder),
            "exponent": hx(&cert.exponent),
        }),
    )
}

fn today_arg(s: &Option<String>) -> Result<pki::Date> {
    let (y, m, d) = match s {
        Some(s) => {
            let parts: Vec<&str> = s.split('-').collect();
            let num = |i: usize| -> Result<u32> {
                parts
                    .get(i)
                    .and_then(|p| p.parse().ok())
                    .ok_or_else(|| bad("--today: expected YYYY-MM-DD"))
            };
            (num(0)?, num(1)?, num(2)?)
        }
        None => civil_today(),
    };
    let (y, m, d) = (
        u16::try_from(y).map_err(|_| bad("--today: year"))?,
        u8::try_from(m).map_err(|_| bad("--today: month"))?,
        u8::try_from(d).map_err(|_| bad("--today: day"))?,
    );
    pki::Date::new(y, m, d).map_err(|e| bad(format!("--today: {e}")))
}

/// Today's UTC date from the system clock (days-from-civil inverse, H. Hinnant).
pub fn civil_today() -> (u32, u32, u32) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = lamina_emv::date::civil_from_days(i64::try_from(secs / 86_400).unwrap_or(0));
    (u32::try_from(y).unwrap_or(1970), m, d)
}

fn cert_recover(a: CertRecoverArgs) -> Result<()> {
    let signer = pki::RsaPublicKey::new(
        &hex_arg(&a.signer_modulus, "--signer-modulus")?,
        &hex_arg(&a.signer_exponent, "--signer-exponent")?,
    )
    .map_err(|e| bad(format!("--signer-modulus/--signer-exponent: {e}")))?;
    let cert = hex_arg(&a.cert, "--cert")?;
    let remainder = hex_arg(&a.remainder, "--remainder")?;
    let exponent = hex_arg(&a.exponent, "--exponent")?;
    let pan = pki::Pan::from_digits(&a.pan).map_err(|e| bad(format!("--pan: {e}")))?;
    let today = today_arg(&a.today)?;
    // Recovery failures are input errors; a recovered certificate that fails a check
    // is reported with the reason and exits 1.
    let cert_err = |e: pki::PkiError| bad(format!("--cert: {e}"));
    let (mut v, outcome) = match a.kind {
        CertKind::Issuer => {
            let r = pki::recover_issuer_certificate(&signer, &cert).map_err(cert_err)?;
            let v = json!({
                "kind": "issuer",
                "issuer_identifier": hx(&r.issuer_identifier()),
                "expiry_mmyy": hx(&r.expiry_bytes()),
                "serial_number": hx(&r.serial_number()),
                "public_key_length": r.public_key_length(),
                "exponent_length": r.exponent_length(),
                "hash": hx(r.hash_result()),
            });
            let outcome = r
                .verify(&remainder, &exponent, &pan, today)
                .map(|k| hx(k.public_key.modulus()));
            (v, outcome)
        }
        CertKind::Icc => {
            let r = pki::recover_icc_certificate(&signer, &cert).map_err(cert_err)?;
            let v = json!({
                "kind": "icc",
                "expiry_mmyy": hx(&r.expiry_bytes()),
                "serial_number": hx(&r.serial_number()),
                "public_key_length": r.public_key_length(),
                "exponent_length": r.exponent_length(),
                "hash": hx(r.hash_result()),
            });
            let sda = hex_arg(&a.static_data, "--static-data")?;
            let outcome = r
                .verify(&remainder, &exponent, &pan, &sda, today)
                .map(|k| hx(k.public_key.modulus()));
            (v, outcome)
        }
    };
    match &outcome {
        Ok(modulus) => v["public_key_modulus"] = json!(modulus),
        Err(e) => v["failure"] = json!(e.to_string()),
    }
    report_checked(a.json, v, Some(outcome.is_ok()), "certificate")
}
