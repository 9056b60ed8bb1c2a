//! Closed-loop applications of a multi-application card: the profile's
//! `[[extra]]` entries of kind `purse`, `loyalty`, `transit` and `parking`
//! become installs of the `lamina-closedloop` applets (`lamina.purse`,
//! `lamina.loyalty`, `lamina.transit`, `lamina.parking`) carrying **this card's
//! own keys**, derived from each scheme's master key and the card's closed-loop
//! id (NIST SP 800-108 KDF in counter mode with AES-CMAC,
//! [`lamina_closedloop::keys`]).
//!
//! The keys travel as the applications' install parameters, so the bureau image,
//! the STORE DATA script and the emulator image (`cards/<id>.card.json`) all carry
//! them, and a freshly issued card can be tapped at the closed-loop terminals.
//!
//! **Scheme keys.** [`scheme_keys`] returns
//! [`Schemes::demo`](lamina_closedloop::install::Schemes::demo): the public
//! *test* scheme master keys. A real deployment loads the purse issuer, transit,
//! parking and loyalty master keys from the bureau's key store
//! ([`crate::keystore`]) instead.
//!
//! Configuration keys honoured (`[extra.config]`): purse `currency` (ISO 4217
//! numeric, e.g. `978`) and `max_balance` (minor units); loyalty `programs`
//! (program ids, hex strings, a subset of the scheme's programs; default all).
//! Other keys are kept for the terminals' information and not interpreted.

use lamina_card::Install;
use lamina_closedloop::CardId;
use lamina_closedloop::install::{self, ProgramSpec, Schemes};

use crate::card::AppInstall;
use crate::profile::ExtraApplication;
use crate::{PersoError, Result};

/// The extra kinds that are closed-loop applications, with their applet class.
pub const KINDS: [(&str, &str); 4] = [
    ("purse", "lamina.purse"),
    ("loyalty", "lamina.loyalty"),
    ("transit", "lamina.transit"),
    ("parking", "lamina.parking"),
];

/// True if `kind` is a closed-loop application kind.
pub fn is_closed_loop(kind: &str) -> bool {
    KINDS.iter().any(|(k, _)| *k == kind)
}

/// The closed-loop scheme master keys used by the bureau: the public **test**
/// keys of [`Schemes::demo`]. A real deployment loads them from the key store.
pub fn scheme_keys() -> Schemes {
    Schemes::demo()
}

/// The card's closed-loop id (8 bytes, the same in every closed-loop
/// application of the card): the first 8 bytes of AES-CMAC (NIST SP 800-38B)
/// under an all-zero key over `"lamina closed-loop card id" ‖ bureau card id` —
/// a public, deterministic mapping of the bureau's card id (not a secret).
pub fn card_id(bureau_card_id: &str) -> Result<CardId> {
    let mut data = b"lamina closed-loop card id".to_vec();
    data.extend_from_slice(bureau_card_id.as_bytes());
    let mac = lamina_crypto::sym::aes_cmac(&[0u8; 16], &data)
        .map_err(|e| PersoError::invalid("closed-loop card id", e.to_string()))?;
    let mut id = [0u8; 8];
    id.copy_from_slice(mac.get(..8).unwrap_or(&[0u8; 8]));
    Ok(CardId(id))
}

fn config_err(kind: &str, field: &str, why: &str) -> PersoError {
    PersoError::profile(format!("extra ({kind}) config.{field}"), why)
}

/// ISO 4217 numeric code → 2-byte BCD (`978` → `09 78`).
fn currency_bcd(code: u64) -> Option<[u8; 2]> {
    if code > 999 {
        return None;
    }
    let d = |n: u64| u8::try_from(n % 10).ok();
    Some([d(code / 100)?, (d(code / 10)? << 4) | d(code)?])
}

/// Checks an extra's configuration for its kind (called when a profile is read).
pub fn check_config(kind: &str, config: &serde_json::Value) -> Result<()> {
    let empty = ExtraApplication {
        kind: kind.to_owned(),
        aid: vec![0xF0, 0, 0, 0, 0],
        label: "CHECK".into(),
        interfaces: Vec::new(),
        config: config.clone(),
    };
    if is_closed_loop(kind) {
        entry(&empty, CardId::from_u64(1), &scheme_keys())?;
    }
    Ok(())
}

/// The closed-loop install entry of `extra` for the card `card`, with the
/// card's keys derived from `schemes`.
fn entry(extra: &ExtraApplication, card: CardId, schemes: &Schemes) -> Result<Install> {
    let cfg = &extra.config;
    let kind = extra.kind.as_str();
    let key_err = |e: lamina_closedloop::keys::KeyError| {
        PersoError::invalid("closed-loop card keys", e.to_string())
    };
    match kind {
        "purse" => {
            let currency = match cfg.get("currency") {
                None => schemes.currency,
                Some(v) => v
                    .as_u64()
                    .and_then(currency_bcd)
                    .ok_or_else(|| config_err(kind, "currency", "ISO 4217 numeric code"))?,
            };
            let max_balance = match cfg.get("max_balance") {
                None => schemes.max_balance,
                Some(v) => v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| config_err(kind, "max_balance", "0..=4294967295"))?,
            };
            install::purse_install(&schemes.purse, card, currency, max_balance).map_err(key_err)
        }
        "loyalty" => {
            let programs: Vec<ProgramSpec> = match cfg.get("programs") {
                None => schemes.programs.clone(),
                Some(v) => {
                    let ids = v
                        .as_array()
                        .ok_or_else(|| config_err(kind, "programs", "list of program ids"))?;
                    let mut out = Vec::new();
                    for id in ids {
                        let n = id
                            .as_str()
                            .and_then(|s| u32::from_str_radix(s, 16).ok())
                            .ok_or_else(|| {
                                config_err(kind, "programs", "program ids as hex strings")
                            })?;
                        let p = schemes.programs.iter().find(|p| p.id == n).ok_or_else(|| {
                            config_err(kind, "programs", "program not in the scheme keys")
                        })?;
                        out.push(p.clone());
                    }
                    out
                }
            };
            install::loyalty_install(card, &programs).map_err(key_err)
        }
        "transit" => install::transit_install(&schemes.transit, card).map_err(key_err),
        "parking" => install::parking_install(&schemes.parking, card).map_err(key_err),
        other => Err(PersoError::invalid(
            "extra kind",
            format!("{other} is not a closed-loop application"),
        )),
    }
}

/// The bureau's install entry of a closed-loop extra: the profile's AID, label
/// and interfaces; the applet class, priority and install parameters (card id,
/// the card's derived keys, configuration) of the `lamina-closedloop` install.
/// `None` for extras of other kinds.
pub fn extra_install(
    extra: &ExtraApplication,
    card: CardId,
    schemes: &Schemes,
) -> Result<Option<AppInstall>> {
    if !is_closed_loop(&extra.kind) {
        return Ok(None);
    }
    let i = entry(extra, card, schemes)?;
    Ok(Some(AppInstall {
        aid: extra.aid.clone(),
        class: i.class,
        label: extra.label.clone(),
        preferred_name: None,
        priority: i.priority,
        interfaces: extra.interfaces.clone(),
        params: i.params.0,
        kernel_id: None,
    }))
}

fn kcv(k: &lamina_crypto::sym::SecretKey) -> String {
    lamina_crypto::sym::kcv_aes_cmac(k.as_bytes())
        .map_or_else(|_| "?".to_owned(), hex::encode_upper)
}

/// A display form of a closed-loop application's install parameters with every
/// key REDACTED and shown by its AES-CMAC key check value (KCV, first 5 bytes
/// of AES-CMAC of an all-zero block); `None` if `class` is not a closed-loop
/// class or the parameters do not decode. For `lamina card show` and other
/// views: the raw parameters hold the card's keys and must never be printed.
pub fn describe_params(class: &str, params: &[u8]) -> Option<String> {
    use lamina_closedloop::loyalty::LoyaltyParams;
    use lamina_closedloop::purse::PurseParams;
    use lamina_closedloop::record::RecordParams;
    match class {
        "lamina.purse" => {
            let p = PurseParams::decode(params).ok()?;
            Some(format!(
                "card id {}, currency {}, max balance {}, keys REDACTED (KCV load {}, debit {}, purchase {})",
                p.card,
                hex::encode(p.currency),
                p.max_balance,
                kcv(&p.keys.load),
                kcv(&p.keys.debit),
                kcv(&p.keys.purchase)
            ))
        }
        "lamina.loyalty" => {
            let p = LoyaltyParams::decode(params).ok()?;
            let progs: Vec<String> = p
                .programs
                .iter()
                .map(|g| {
                    format!(
                        "program {:08X} (valid {} days, max {} points, key REDACTED, KCV {})",
                        g.id,
                        g.validity_days,
                        g.max_points,
                        kcv(&g.key)
                    )
                })
                .collect();
            Some(format!("card id {}, {}", p.card, progs.join("; ")))
        }
        "lamina.transit" | "lamina.parking" => {
            let p = RecordParams::decode(params).ok()?;
            Some(format!(
                "card id {}, key REDACTED (KCV {})",
                p.card,
                kcv(&p.key)
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn described_params_never_show_keys() {
        let schemes = scheme_keys();
        let id = card_id("LC0A0B0C0D0E").unwrap();
        for (kind, aid) in [
            ("purse", "F04C414D494E415001"),
            ("loyalty", "F04C414D494E414C01"),
            ("transit", "F04C414D494E415401"),
            ("parking", "F04C414D494E414B01"),
        ] {
            let e = ExtraApplication {
                kind: kind.into(),
                aid: hex::decode(aid).unwrap(),
                label: "X".into(),
                interfaces: Vec::new(),
                config: serde_json::json!({}),
            };
            let a = extra_install(&e, id, &schemes).unwrap().unwrap();
            let text = describe_params(&a.class, &a.params).unwrap();
            assert!(
                text.contains("REDACTED") && text.contains(&id.to_hex()),
                "{text}"
            );
            // no 16-byte window of the parameters (a key) appears in hex
            for w in a.params.windows(16) {
                assert!(!text.contains(&hex::encode_upper(w)), "{text}");
                assert!(!text.contains(&hex::encode(w)), "{text}");
            }
        }
        assert!(describe_params("emv-payment", b"{}").is_none());
        assert!(describe_params("lamina.purse", &[1, 2, 3]).is_none());
    }

    #[test]
    fn currency_to_bcd() {
        assert_eq!(currency_bcd(978), Some([0x09, 0x78]));
        assert_eq!(currency_bcd(840), Some([0x08, 0x40]));
        assert_eq!(currency_bcd(1000), None);
    }

    #[test]
    fn card_id_is_deterministic_and_distinct() {
        assert_eq!(card_id("LC01").unwrap(), card_id("LC01").unwrap());
        assert_ne!(card_id("LC01").unwrap(), card_id("LC02").unwrap());
    }

    #[test]
    fn bad_configs_are_refused() {
        let j = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert!(check_config("purse", &j(r#"{"currency": 978, "max_balance": 15000}"#)).is_ok());
        assert!(check_config("purse", &j(r#"{"currency": 9780}"#)).is_err());
        assert!(check_config("purse", &j(r#"{"max_balance": -1}"#)).is_err());
        assert!(check_config("loyalty", &j(r#"{"programs": ["00C0FFEE"]}"#)).is_ok());
        assert!(check_config("loyalty", &j(r#"{"programs": ["12345678"]}"#)).is_err());
        assert!(check_config("transit", &j(r#"{"operator": "x"}"#)).is_ok());
        assert!(check_config("other-thing", &j("{}")).is_ok());
    }

    /// The bureau's installs (the profile's 9-byte AIDs, the card's derived keys)
    /// work with the closed-loop terminals, which select by partial AID and
    /// derive the same card keys from the scheme master keys.
    #[test]
    fn issued_applications_work_with_the_terminals() {
        use lamina_card::{
            Card, CardChannel, CardLifeCycle, EmulatedCard, Interface, Rom, SeededRng,
        };
        use lamina_closedloop::TerminalId;
        use lamina_closedloop::purse::{IssuerHost, Sam, load_purse, read_status};
        use lamina_closedloop::terminal::{CardLink, StdStopwatch};
        use lamina_closedloop::transit::{Direction, FareTable, GateTerminal};

        let schemes = scheme_keys();
        let id = card_id("LC0102030405").unwrap();
        let extra = |kind: &str, aid: &str, config: &str| ExtraApplication {
            kind: kind.into(),
            aid: hex::decode(aid).unwrap(),
            label: kind.to_uppercase(),
            interfaces: vec![crate::profile::Interface::Contactless],
            config: serde_json::from_str(config).unwrap(),
        };
        let mut card = Card::new(install::register(Rom::new()), SeededRng::new(1));
        for e in [
            extra(
                "purse",
                "F04C414D494E415001",
                r#"{"currency": 978, "max_balance": 9000}"#,
            ),
            extra("loyalty", "F04C414D494E414C01", "{}"),
            extra("transit", "F04C414D494E415401", "{}"),
            extra("parking", "F04C414D494E414B01", "{}"),
        ] {
            let a = extra_install(&e, id, &schemes).unwrap().unwrap();
            assert!(a.class.starts_with("lamina."));
            card.install(crate::chip::install_entry(&a).unwrap())
                .unwrap();
        }
        card.set_life_cycle(CardLifeCycle::Personalized).unwrap();
        let mut ch = EmulatedCard::new(card);
        let mut issuer = IssuerHost::new(schemes.purse.clone());
        ch.power_on(Interface::Contactless).unwrap();
        let mut link = CardLink::new(&mut ch);
        let o = load_purse(
            &mut link,
            &install::purse_aid(),
            &mut issuer,
            2_000,
            1_795_600_000,
        )
        .unwrap();
        assert_eq!(o.balance, 2_000);
        let st = read_status(&mut link, &install::purse_aid()).unwrap();
        assert_eq!(st.card, id);
        assert_eq!(st.max_balance, 9_000);
        assert_eq!(st.currency, [0x09, 0x78]);
        ch.power_off();
        let gate = |station, dir| {
            GateTerminal::new(
                station,
                dir,
                FareTable::demo().unwrap(),
                schemes.transit.clone(),
                install::transit_aid(),
                Sam::new(
                    TerminalId::from_u64(7),
                    schemes.purse.purchase.clone(),
                    install::purse_aid(),
                    1,
                ),
                300_000,
                Box::new(StdStopwatch::new()),
            )
        };
        assert!(
            gate(1, Direction::In)
                .tap(&mut ch, 1_795_600_100)
                .unwrap()
                .open
        );
        let out = gate(3, Direction::Out).tap(&mut ch, 1_795_601_000).unwrap();
        assert!(out.open);
        assert_eq!(out.charged, 250);
        assert_eq!(out.balance, 1_750);
        // A gate holding another transit master key is refused by the card.
        let mut wrong = GateTerminal::new(
            1,
            Direction::In,
            FareTable::demo().unwrap(),
            lamina_crypto::sym::SecretKey::new(vec![0x99; 16]),
            install::transit_aid(),
            Sam::new(
                TerminalId::from_u64(8),
                schemes.purse.purchase.clone(),
                install::purse_aid(),
                1,
            ),
            300_000,
            Box::new(StdStopwatch::new()),
        );
        assert!(wrong.tap(&mut ch, 1_795_602_000).is_err());
    }
}
