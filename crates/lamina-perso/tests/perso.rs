//! Integration tests of the personalization bureau.

#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] functions

use std::path::PathBuf;
use std::sync::OnceLock;

use lamina_crypto::pki::{self, Date, Pan};
use lamina_perso::card::{Dgi, PreparedCard};
use lamina_perso::issuer::{self, CapkFile, InitOptions, Issuer};
use lamina_perso::keystore::{self, KdfParams, Protection};
use lamina_perso::prepare::{self, CardRequest, PreparedOutput};
use lamina_perso::profile::Profile;
use lamina_perso::{PersoError, image, storedata, util};
use rand::SeedableRng;
use rand::rngs::StdRng;
use zeroize::Zeroizing;

fn today() -> Date {
    Date::new(2026, 11, 25).unwrap()
}

fn profile_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles")
        .join(name)
}

fn profile(name: &str) -> Profile {
    Profile::load(&profile_path(name)).unwrap()
}

fn issuer() -> &'static Issuer {
    static ISSUER: OnceLock<Issuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let mut rng = StdRng::seed_from_u64(7);
        issuer::init(&mut rng, &InitOptions::new(today())).unwrap()
    })
}

fn issue(name: &str, seed: u64, req: &CardRequest) -> PreparedOutput {
    let mut rng = StdRng::seed_from_u64(seed);
    prepare::prepare_card(issuer(), &profile(name), req, today(), &mut rng).unwrap()
}

/// Value of `tag` inside a record template.
fn find(card: &PreparedCard, tag: u32) -> Option<Vec<u8>> {
    card.emv().unwrap().record_value(tag)
}

/// Static data to be authenticated, rebuilt here from the records and the AFL
/// exactly as a terminal does (EMV Book 3 §10.3), independently of the bureau's code.
fn terminal_static_data(card: &PreparedCard) -> Vec<u8> {
    let emv = card.emv().unwrap();
    let mut out = Vec::new();
    for e in emv.gpo.afl.chunks(4) {
        let (sfi, first, last, oda) = (e[0] >> 3, e[1], e[2], e[3]);
        for n in first..=last {
            if n - first >= oda {
                continue;
            }
            let rec = emv
                .records
                .iter()
                .find(|r| r.sfi == sfi && r.record == n)
                .unwrap();
            let t = lamina_tlv::Tlv::parse_one(&rec.data).unwrap();
            assert_eq!(t.tag.number(), 0x70);
            if sfi <= 10 {
                out.extend_from_slice(&t.value_encoded());
            } else {
                out.extend_from_slice(&rec.data);
            }
        }
    }
    // SDA tag list 9F4A = 82
    assert_eq!(find(card, 0x9F4A).as_deref(), Some(&[0x82][..]));
    out.extend_from_slice(&emv.gpo.aip);
    out
}

fn capk_from_files() -> (tempfile::TempDir, pki::CaPublicKey) {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    issuer()
        .save(dir.path(), &Protection::InsecurePlaintext, &mut rng)
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join(issuer::CAPK_FILE)).unwrap();
    let capk = CapkFile::from_toml(&text).unwrap();
    let entry = &capk.capk[0];
    assert_eq!(entry.rid, "F04C414D49");
    let key = capk.keys().unwrap().remove(0);
    (dir, key)
}

#[test]
fn profiles_shipped_parse() {
    for p in ["debit.toml", "credit.toml", "prepaid.toml"] {
        let prof = profile(p);
        assert!(!prof.applications.is_empty(), "{p}");
    }
    let d = profile("debit.toml");
    assert_eq!(d.oda, lamina_perso::profile::OdaMethod::Cda);
    assert!(d.pin.offline);
    assert_eq!(d.extras.len(), 2);
    let c = profile("credit.toml");
    assert!(c.pin.online && !c.pin.offline);
}

#[test]
fn debit_certificates_recover_and_verify_with_capk() {
    let (_dir, ca) = capk_from_files();
    let out = issue("debit.toml", 11, &CardRequest::default());
    let card = &out.card;
    let pan_digits = card.pan().unwrap();
    assert!(util::luhn_valid(&pan_digits));
    assert!(pan_digits.starts_with("99990010"));
    let pan = Pan::from_digits(&pan_digits).unwrap();
    // the card's CA index names the CAPK entry
    assert_eq!(find(card, 0x8F).unwrap(), vec![ca.index]);
    let issuer_key = pki::verify_issuer_certificate(
        &ca,
        &find(card, 0x90).unwrap(),
        &find(card, 0x92).unwrap_or_default(),
        &find(card, 0x9F32).unwrap(),
        &pan,
        today(),
    )
    .unwrap();
    let static_data = terminal_static_data(card);
    let icc = pki::verify_icc_certificate(
        &issuer_key.public_key,
        &find(card, 0x9F46).unwrap(),
        &find(card, 0x9F48).unwrap_or_default(),
        &find(card, 0x9F47).unwrap(),
        &pan,
        &static_data,
        today(),
    )
    .unwrap();
    // the recovered ICC key is the card's own key: a DDA signature by the card verifies
    let emv = card.emv().unwrap();
    let stored = emv.icc_key.as_ref().unwrap();
    assert_eq!(icc.public_key.modulus(), stored.modulus.as_slice());
    assert_eq!(icc.public_key.modulus_len(), 128);
    // tampering with a signed record breaks the ICC certificate
    let mut bad = static_data.clone();
    bad[5] ^= 1;
    assert!(
        pki::verify_icc_certificate(
            &issuer_key.public_key,
            &find(card, 0x9F46).unwrap(),
            &find(card, 0x9F48).unwrap_or_default(),
            &find(card, 0x9F47).unwrap(),
            &pan,
            &bad,
            today(),
        )
        .is_err()
    );
}

#[test]
fn prepaid_sda_verifies() {
    let (_dir, ca) = capk_from_files();
    let out = issue("prepaid.toml", 12, &CardRequest::default());
    let card = &out.card;
    let pan = Pan::from_digits(&card.pan().unwrap()).unwrap();
    let issuer_key = pki::verify_issuer_certificate(
        &ca,
        &find(card, 0x90).unwrap(),
        &find(card, 0x92).unwrap_or_default(),
        &find(card, 0x9F32).unwrap(),
        &pan,
        today(),
    )
    .unwrap();
    pki::verify_signed_static_data(
        &issuer_key.public_key,
        &find(card, 0x93).unwrap(),
        &terminal_static_data(card),
    )
    .unwrap();
    assert!(card.emv().unwrap().icc_key.is_none());
    // the purse is installed with its own parameters (keys derived per card)
    let purse = card
        .applications
        .iter()
        .find(|a| a.install.class == "lamina.purse")
        .unwrap();
    let p = lamina_closedloop::purse::PurseParams::decode(&purse.install.params).unwrap();
    assert_eq!(p.max_balance, 15000);
}

#[test]
fn track2_icvv_and_pvv_verify() {
    let req = CardRequest {
        pin: Some(Zeroizing::new("4821".to_string())),
        ..CardRequest::default()
    };
    let out = issue("debit.toml", 13, &req);
    let t2 = hex::encode_upper(find(&out.card, 0x57).unwrap());
    let t2 = t2.trim_end_matches('F');
    let (pan, rest) = t2.split_once('D').unwrap();
    assert_eq!(pan, out.card.pan().unwrap());
    let (yymm, rest) = rest.split_at(4);
    let (service, disc) = rest.split_at(3);
    assert_eq!(service, "201");
    let (pvki, rest) = disc.split_at(1);
    let (pvv, icvv) = rest.split_at(4);
    assert_eq!(pvki, "1");
    let keys = &issuer().keys;
    let expect = lamina_crypto::cvv::icvv(keys.cvk.expose(), pan, yymm).unwrap();
    assert!(expect.matches(icvv));
    lamina_crypto::cvv::verify_cvv(keys.cvk.expose(), pan, yymm, "999", icvv).unwrap();
    assert!(
        lamina_crypto::cvv::verify_cvv(keys.cvk.expose(), pan, yymm, "999", "000").is_err()
            || icvv == "000"
    );
    let pvk = lamina_crypto::sym::SecretKey::new(keys.pvk.expose().to_vec());
    let p = lamina_crypto::pin::Pan::new(pan).unwrap();
    let pin = lamina_crypto::pin::Pin::new("4821").unwrap();
    assert!(lamina_crypto::pvv::visa_pvv_verify(&pvk, &p, 1, &pin, pvv).unwrap());
    let wrong = lamina_crypto::pin::Pin::new("4822").unwrap();
    assert!(!lamina_crypto::pvv::visa_pvv_verify(&pvk, &p, 1, &wrong, pvv).unwrap());
    // the manifest carries the same PVV; the expiry matches 5F24
    assert_eq!(out.record.pvv.as_deref(), Some(pvv));
    assert_eq!(out.record.expiry, yymm);
    assert_eq!(
        &hex::encode_upper(find(&out.card, 0x5F24).unwrap())[..4],
        yymm
    );
    // the reference PIN block in the chip is ISO 9564 format 2 of the PIN
    let block = out
        .card
        .emv()
        .unwrap()
        .pin
        .as_ref()
        .unwrap()
        .block
        .expose()
        .to_vec();
    assert_eq!(hex::encode_upper(block), "244821FFFFFFFFFF");
}

#[test]
fn icc_master_keys_match_option_a_derivation() {
    let out = issue("credit.toml", 14, &CardRequest::default());
    let pan = out.card.pan().unwrap();
    let mk = lamina_crypto::emv::derive_icc_mk(
        lamina_crypto::sym::Algorithm::Tdes,
        lamina_crypto::emv::MkDerivation::OptionA,
        issuer().keys.mk_ac.expose(),
        &pan,
        0x00,
    )
    .unwrap();
    assert_eq!(out.card.emv().unwrap().keys.mk_ac.expose(), mk.as_bytes());
}

#[test]
fn store_data_replay_is_byte_identical() {
    for (p, seed) in [
        ("debit.toml", 21),
        ("credit.toml", 22),
        ("prepaid.toml", 23),
    ] {
        let out = issue(p, seed, &CardRequest::default());
        let img = image::encode(&out.card).unwrap();
        let text = storedata::script_text(&out.card).unwrap();
        let cmds = storedata::parse_script(&text).unwrap();
        assert!(cmds.iter().any(|c| c.ins == 0xE2 && c.p1 & 0x80 != 0));
        let replayed = storedata::replay(&cmds).unwrap();
        assert_eq!(image::encode(&replayed).unwrap(), img, "{p}");
        // the script never shows the PAN in its comments
        let pan = out.card.pan().unwrap();
        assert!(
            text.lines()
                .filter(|l| l.starts_with('#'))
                .all(|l| !l.contains(&pan))
        );
    }
}

#[test]
fn replay_rejects_out_of_sequence_and_missing_last_block() {
    let out = issue("credit.toml", 24, &CardRequest::default());
    let mut cmds = storedata::parse_script(&storedata::script_text(&out.card).unwrap()).unwrap();
    // swap two STORE DATA blocks of the application
    let idx: Vec<usize> = cmds
        .iter()
        .enumerate()
        .filter(|(_, c)| c.ins == 0xE2 && c.p1 & 0x80 == 0)
        .map(|(i, _)| i)
        .collect();
    let mut swapped = cmds.clone();
    swapped.swap(idx[0], idx[1]);
    assert!(matches!(
        storedata::replay(&swapped),
        Err(PersoError::Script(_))
    ));
    cmds.pop();
    assert!(storedata::replay(&cmds).is_err());
}

#[test]
fn seeded_issuance_is_reproducible() {
    let a = issue("debit.toml", 99, &CardRequest::default());
    let b = issue("debit.toml", 99, &CardRequest::default());
    assert_eq!(
        image::encode(&a.card).unwrap(),
        image::encode(&b.card).unwrap()
    );
    assert_eq!(a.record, b.record);
    let c = issue("debit.toml", 100, &CardRequest::default());
    assert_ne!(a.card.pan(), c.card.pan());
}

#[test]
fn image_checksum_and_version_are_checked() {
    let out = issue("credit.toml", 31, &CardRequest::default());
    let img = image::encode(&out.card).unwrap();
    assert_eq!(image::decode(&img).unwrap(), out.card);
    let mut bad = img.clone();
    let n = bad.len() - 10;
    bad[n] ^= 0x01;
    assert!(matches!(image::decode(&bad), Err(PersoError::Image(m)) if m.contains("checksum")));
    let v2 = String::from_utf8(img.clone()).unwrap().replacen(
        "LAMINA-CARD-IMAGE 1 ",
        "LAMINA-CARD-IMAGE 2 ",
        1,
    );
    assert!(
        matches!(image::decode(v2.as_bytes()), Err(PersoError::Image(m)) if m.contains("version"))
    );
    assert!(image::decode(b"").is_err());
    assert!(image::decode(&img[..img.len() - 1]).is_err());
}

#[cfg(unix)]
#[test]
fn image_written_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let out = issue("credit.toml", 32, &CardRequest::default());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.img");
    image::save(&path, &out.card).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(image::load(&path).unwrap(), out.card);
}

#[test]
fn keystore_round_trip_and_wrong_passphrase() {
    let mut rng = StdRng::seed_from_u64(5);
    let keys = &issuer().keys;
    let prot = Protection::Passphrase(Zeroizing::new("correct horse".into()), KdfParams::default());
    let file = keystore::seal(keys, &prot, &mut rng).unwrap();
    let text = String::from_utf8(file.clone()).unwrap();
    // no key material in clear
    assert!(!text.contains(&hex::encode_upper(keys.mk_ac.expose())));
    assert!(!keystore::is_plaintext(&file).unwrap());
    let back = keystore::open(&file, Some("correct horse")).unwrap();
    assert_eq!(back.mk_ac, keys.mk_ac);
    assert_eq!(back.issuer_key, keys.issuer_key);
    assert_eq!(back.kcvs().unwrap(), keys.kcvs().unwrap());
    assert!(matches!(
        keystore::open(&file, Some("wrong horse")),
        Err(PersoError::KeyStoreAuth)
    ));
    assert!(matches!(
        keystore::open(&file, None),
        Err(PersoError::NoPassphrase(_))
    ));
    // tampering with the header (KDF cost) is detected by the AEAD associated data
    let tampered = text.replace("\"t_cost\": 2", "\"t_cost\": 3");
    assert_ne!(tampered, text);
    assert!(keystore::open(tampered.as_bytes(), Some("correct horse")).is_err());
}

#[test]
fn issuer_directory_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(6);
    let prot = Protection::Passphrase(
        Zeroizing::new("pw".into()),
        KdfParams {
            m_cost: 1024,
            t_cost: 1,
            p_cost: 1,
        },
    );
    issuer().save(dir.path(), &prot, &mut rng).unwrap();
    let back = Issuer::open(dir.path(), Some("pw")).unwrap();
    assert_eq!(back.public, issuer().public);
    assert_eq!(back.ca, issuer().ca);
    assert!(Issuer::open(dir.path(), Some("nope")).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(dir.path().join(issuer::KEYSTORE_FILE)).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o600);
    }
    // a CAPK file whose checksum does not match is refused
    let capk = std::fs::read_to_string(dir.path().join(issuer::CAPK_FILE)).unwrap();
    let mut f = CapkFile::from_toml(&capk).unwrap();
    f.capk[0].checksum = "00".repeat(20);
    assert!(f.keys().is_err());
}

#[test]
fn manifest_pan_is_protected_and_decrypts() {
    let out = issue("debit.toml", 41, &CardRequest::default());
    let pan = out.card.pan().unwrap();
    let json = serde_json::to_string(&out.record).unwrap();
    assert!(!json.contains(&pan));
    assert_eq!(
        lamina_perso::manifest::decrypt_pan(&issuer().keys, &out.record).unwrap(),
        pan
    );
    assert_eq!(
        out.record.pan_token,
        lamina_perso::manifest::pan_token(&issuer().keys, &pan).unwrap()
    );
    assert_eq!(out.record.account_type, "debit");
    // a different card's encrypted PAN decrypts too (no per-record binding), and a
    // tampered one fails
    let mut bad = out.record.clone();
    let last = bad.pan_encrypted.pop().unwrap();
    bad.pan_encrypted.push(if last == '0' { '1' } else { '0' });
    assert!(lamina_perso::manifest::decrypt_pan(&issuer().keys, &bad).is_err());
    let hk = lamina_perso::manifest::host_key_file(&issuer().keys, "default", &mut rand::rng());
    for kind in ["admin_tokens", "read_tokens"] {
        let t = hk[kind][0].as_str().unwrap_or_default();
        assert_eq!(t.len(), 32, "one fresh {kind} entry: {hk}");
    }
    assert_ne!(hk["admin_tokens"][0], hk["read_tokens"][0]);
    assert_eq!(
        hk["issuer"]["default"]["imk_ac"].as_str().unwrap(),
        hex::encode_upper(issuer().keys.mk_ac.expose())
    );
    // Debug of the prepared output never shows the PAN (as digits or as the
    // bytes of 5A), keys or the PIN
    let dbg = format!("{out:?}");
    assert!(!dbg.contains(&pan));
    let pan_bytes = format!("{:?}", hex::decode(&pan).unwrap());
    assert!(!dbg.contains(pan_bytes.trim_end_matches(']')), "{dbg}");
    let req = CardRequest {
        pin: Some(Zeroizing::new("4821".into())),
        ..CardRequest::default()
    };
    assert!(!format!("{req:?}").contains("4821"));
    let steps = storedata::script(&out.card).unwrap();
    let mk = hex::encode_upper(out.card.emv().unwrap().keys.mk_ac.expose());
    let mk_bytes = format!("{:?}", out.card.emv().unwrap().keys.mk_ac.expose());
    let sdbg = format!("{steps:?}{:?}", out.card.emv().unwrap().to_dgis().unwrap());
    assert!(!sdbg.contains(&mk) && !sdbg.contains(mk_bytes.trim_end_matches(']')));
}

#[test]
fn dgi_long_length_round_trip() {
    let d = Dgi {
        id: 0x0301,
        data: vec![0x70; 300],
    };
    let mut enc = Vec::new();
    d.encode(&mut enc).unwrap();
    assert_eq!(&enc[..5], &[0x03, 0x01, 0xFF, 0x01, 0x2C]);
    assert_eq!(Dgi::parse_all(&enc).unwrap(), vec![d]);
    assert!(Dgi::parse_all(&enc[..enc.len() - 1]).is_err());
    assert!(Dgi::parse_all(&[0x01]).is_err());
}

#[test]
fn crc32_published_check_value() {
    let text = include_str!("vectors/crc32.txt");
    assert!(text.starts_with("# Source:"));
    let mut n = 0;
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let (input, crc) = line.split_once(" : ").unwrap();
        assert_eq!(format!("{:08X}", util::crc32(input.as_bytes())), crc.trim());
        n += 1;
    }
    assert_eq!(n, 1);
}

// ---------------------------------------------------------------------------
// profile validation errors name the field

fn debit_text() -> String {
    std::fs::read_to_string(profile_path("debit.toml")).unwrap()
}

fn profile_err(text: &str) -> (String, String) {
    match Profile::from_toml(text) {
        Err(PersoError::Profile { field, reason }) => (field, reason),
        other => panic!("expected a profile error, got {other:?}"),
    }
}

#[test]
fn profile_errors_name_the_field() {
    let t = debit_text();
    let (f, _) = profile_err(&t.replace("aip = \"3D00\"", "aip = \"3D\""));
    assert_eq!(f, "application[0].aip");
    let (f, r) = profile_err(&t.replace("aip = \"3D00\"", "aip = \"1C00\""));
    assert_eq!(f, "application[0].aip");
    assert!(r.contains("ODA"), "{r}");
    let (f, _) = profile_err(&t.replace("sfi = 3\nfirst = 1", "sfi = 31\nfirst = 1"));
    assert_eq!(f, "application[0].afl[2].sfi");
    let (f, _) = profile_err(&t.replace("bin = \"99990010\"", "bin = \"99A90010\""));
    assert_eq!(f, "product.bin");
    let (f, _) = profile_err(&t.replace(
        "tags = [\"57\", \"5F20\", \"9F1F\"]",
        "tags = [\"57\", \"5F20\", \"9F46\"]",
    ));
    assert_eq!(f, "application[0].records[0].tags[2]");
    let (f, _) = profile_err(&t.replace(
        "tags = [\"57\", \"5F20\", \"9F1F\"]",
        "tags = [\"57\", \"5F20\", \"DF7F\"]",
    ));
    assert_eq!(f, "application[0].records[0].tags[2]");
    let (f, _) = profile_err(&t.replace("cdol1 = \"9F0206", "cdol1 = \"9F02"));
    assert_eq!(f, "application[0].cdol1");
    let (f, r) = profile_err(&t.replace("cdol2 = \"8A02 9108", "cdol2 = \"8A02 910A"));
    assert_eq!(f, "application[0].cdol2");
    assert!(r.contains("91"), "{r}");
    let (f, _) = profile_err(&t.replace("icc_exponent = 65537", "icc_exponent = 17"));
    assert_eq!(f, "product.icc_exponent");
    let (f, _) = profile_err(&t.replace("try_limit = 3", "try_limit = 0"));
    assert_eq!(f, "pin.try_limit");
    let (f, _) = profile_err(&t.replace(
        "label = \"LAMINA DEBIT\"",
        "label = \"LAMINA DEBIT CARD FOR EVERYONE\"",
    ));
    assert_eq!(f, "application[0].label");
    // a record outside the AFL
    let (f, _) = profile_err(&t.replace("sfi = 3\nrecord = 2", "sfi = 3\nrecord = 3"));
    assert_eq!(f, "application[0].records[3].record");
    // unknown fields and wrong types are syntax errors with the field name
    match Profile::from_toml(&t.replace("psn = 1 ", "psn_typo = 1 ")) {
        Err(PersoError::ProfileSyntax(m)) => assert!(m.contains("psn_typo"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn card_face_svg_and_png() {
    let out = issue("debit.toml", 51, &CardRequest::default());
    let svg = lamina_perso::face::svg(&out.face);
    let pan = out.card.pan().unwrap();
    assert!(svg.contains(&lamina_perso::face::group_pan(&pan)));
    assert!(svg.contains(&out.face.expiry));
    assert!(svg.contains("viewBox=\"0 0 856 540\""));
    let png = lamina_perso::face::png(&out.face).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR width/height
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 856);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 540);
    // the FaceData Debug is masked
    assert!(!format!("{:?}", out.face).contains(&pan));
}

#[test]
fn show_masks_pan_and_shows_only_kcvs() {
    let out = issue("debit.toml", 61, &CardRequest::default());
    let v = lamina_perso::show::card_view(&out.card).unwrap();
    let text = v.to_text();
    let json = serde_json::to_string(&v).unwrap();
    let pan = out.card.pan().unwrap();
    let mk = hex::encode_upper(out.card.emv().unwrap().keys.mk_ac.expose());
    for s in [&text, &json] {
        assert!(!s.contains(&pan), "PAN leaked");
        assert!(!s.contains(&mk), "key leaked");
        assert!(s.contains(&util::mask_pan(&pan)));
    }
    let kcv = hex::encode_upper(
        lamina_crypto::sym::kcv_tdes(out.card.emv().unwrap().keys.mk_ac.expose()).unwrap(),
    );
    assert!(text.contains(&kcv));
    assert!(text.contains("Cardholder Name") || text.contains("5F20"));
}

#[test]
fn batch_is_parallel_reproducible_and_unique() {
    let p = profile("credit.toml");
    let run = |dir: &std::path::Path| {
        let opts = lamina_perso::batch::BatchOptions {
            count: 6,
            seed: Some(77),
            out_dir: dir.to_path_buf(),
            today: today(),
            faces: false,
        };
        lamina_perso::batch::issue_batch(issuer(), &p, &opts, &|_| {}).unwrap()
    };
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let sa = run(a.path());
    let sb = run(b.path());
    assert_eq!(sa.card_ids, sb.card_ids);
    let recs = lamina_perso::manifest::read_manifest(&sa.manifest).unwrap();
    assert_eq!(recs.len(), 6);
    let mut tokens: Vec<_> = recs.iter().map(|r| r.pan_token.clone()).collect();
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 6, "PANs unique within a batch");
    for id in &sa.card_ids {
        let f = format!("cards/{id}.img");
        assert_eq!(
            std::fs::read(a.path().join(&f)).unwrap(),
            std::fs::read(b.path().join(&f)).unwrap()
        );
        let mailer = a.path().join(format!("pin-mailers/{id}.txt"));
        assert!(
            std::fs::read_to_string(&mailer)
                .unwrap()
                .contains("YOUR PIN:")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&mailer).unwrap().permissions().mode() & 0o777;
            assert_eq!(m, 0o600);
        }
        // the script in the batch replays to the image
        let script = std::fs::read_to_string(a.path().join(format!("scripts/{id}.apdu"))).unwrap();
        let card = storedata::replay(&storedata::parse_script(&script).unwrap()).unwrap();
        assert_eq!(
            image::encode(&card).unwrap(),
            std::fs::read(a.path().join(&f)).unwrap()
        );
    }
}

#[test]
fn face_from_image_matches_issued_face() {
    let out = issue("debit.toml", 71, &CardRequest::default());
    let f = lamina_perso::face::face_from_card(&out.card, &out.face.issuer).unwrap();
    assert_eq!(
        lamina_perso::face::svg(&f),
        lamina_perso::face::svg(&out.face)
    );
}

#[test]
fn chip_image_for_the_emulator() {
    use lamina_perso::chip;
    let out = issue("debit.toml", 81, &CardRequest::default());
    // a stand-in for the EMV applet's DGI mapping: one record per DGI
    let hook = |img: &mut lamina_card::image::CardImage,
                aid: &lamina_card::Aid,
                dgis: &[(u16, &[u8])]|
     -> Result<(), String> {
        let ns = img.nvm.records.entry(aid.to_hex()).or_default();
        for (id, data) in dgis {
            ns.insert(
                format!("dgi.{id:04X}"),
                lamina_card::nvm::HexBytes(data.to_vec()),
            );
        }
        Ok(())
    };
    let img = chip::card_image(&out.card, &|a| a.class == "emv-payment", &hook).unwrap();
    assert_eq!(img.applets.len(), 1);
    assert_eq!(img.applets[0].class, "emv-payment");
    assert_eq!(img.nvm.records["os"]["card.life_cycle"].0, vec![0x0F]);
    assert_eq!(
        img.nvm.records["os"]["app.F04C414D494E414501.life_cycle"].0,
        vec![0x07]
    );
    assert!(img.nvm.records["F04C414D494E414501"].contains_key("dgi.8000"));
    // the chip OS accepts the image (the demo counter applet stands in for the EMV class)
    let json = img.to_json();
    let back = lamina_card::image::CardImage::from_json(&json).unwrap();
    assert_eq!(back, img);
    let rom = lamina_card::Rom::new().with_class("emv-payment", |_| {
        Box::new(lamina_card::applets::counter::CounterApplet::new())
    });
    assert!(lamina_card::Card::load_image(rom, lamina_card::SeededRng::new(1), &json).is_ok());
    // all applications when the filter allows them
    let all = chip::card_image(&out.card, &|_| true, &hook).unwrap();
    assert_eq!(all.applets.len(), 3);
}

/// The card image format v1 is pinned by a golden file: it must keep decoding,
/// re-encode byte for byte, and replay through its STORE DATA script. After a
/// deliberate format change, regenerate with `LAMINA_UPDATE_GOLDEN=1`.
#[test]
fn golden_card_image_v1() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/card-image-v1.img");
    if std::env::var_os("LAMINA_UPDATE_GOLDEN").is_some() {
        let req = CardRequest {
            card_id: Some("LCGOLDEN0001".into()),
            cardholder: Some(("Ada".into(), "Lovelace".into())),
            pin: Some(Zeroizing::new("1815".into())),
            account_number: Some(1234567),
        };
        let out = issue("debit.toml", 1815, &req);
        std::fs::write(&path, image::encode(&out.card).unwrap()).unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let card = image::decode(&bytes).unwrap();
    assert_eq!(card.card_id, "LCGOLDEN0001");
    assert_eq!(image::encode(&card).unwrap(), bytes);
    let cmds = storedata::parse_script(&storedata::script_text(&card).unwrap()).unwrap();
    assert_eq!(
        image::encode(&storedata::replay(&cmds).unwrap()).unwrap(),
        bytes
    );
    assert!(card.pan().unwrap().starts_with("99990010"));
}

#[test]
fn kernel_id_reaches_script_and_ppse_entry() {
    let text = debit_text().replace("ctq = \"2000\"", "ctq = \"2000\"\nkernel_id = 3");
    let p = Profile::from_toml(&text).unwrap();
    let mut rng = StdRng::seed_from_u64(91);
    let out =
        prepare::prepare_card(issuer(), &p, &CardRequest::default(), today(), &mut rng).unwrap();
    assert_eq!(out.card.applications[0].install.kernel_id, Some(3));
    let cmds = storedata::parse_script(&storedata::script_text(&out.card).unwrap()).unwrap();
    assert_eq!(storedata::replay(&cmds).unwrap(), out.card);
    let img = lamina_perso::chip::card_image(&out.card, &|_| true, &|_, _, _| Ok(())).unwrap();
    assert_eq!(
        img.applets[0].ppse_entry_extra.0,
        vec![0x9F, 0x2A, 0x01, 0x03]
    );
}

/// The manifest holds PVVs: it is written 0600, also over an existing 0644 file.
#[cfg(unix)]
#[test]
fn manifest_written_with_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let p = profile("credit.toml");
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("manifest.jsonl");
    std::fs::write(&existing, b"old\n").unwrap();
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o644)).unwrap();
    let opts = lamina_perso::batch::BatchOptions {
        count: 2,
        seed: Some(5),
        out_dir: dir.path().to_path_buf(),
        today: today(),
        faces: false,
    };
    let s = lamina_perso::batch::issue_batch(issuer(), &p, &opts, &|_| {}).unwrap();
    let mode = std::fs::metadata(&s.manifest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        lamina_perso::manifest::read_manifest(&s.manifest)
            .unwrap()
            .len(),
        2
    );
}
