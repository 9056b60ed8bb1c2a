//! Integration tests for the EMV data dictionary (`lamina_emv::dict`).
//!
//! Names, formats and lengths are checked against EMV 4.4 Book 3 Annex A (Data Elements
//! Dictionary). Rendering cases are derived from the format rules of Book 3 §4.3; the
//! PAN values are made up (test PANs), not published vectors.

use lamina_emv::Format;
use lamina_emv::dict::{
    self, EMBEDDED_TOML, Origin, PAN_TAGS, Source, all, format_of, lookup, name_of,
    parse_dictionary, render_value,
};
use proptest::prelude::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test hex is valid")
}

/// Every tag the dictionary must contain (EMV 4.4 Book 3 Annex A plus the contactless and
/// Book C-2 kernel tags Lamina's kernel and card use).
const REQUIRED: &[u32] = &[
    0x42, 0x4F, 0x50, 0x56, 0x57, 0x5A, 0x5F20, 0x5F24, 0x5F25, 0x5F28, 0x5F2A, 0x5F2D, 0x5F30,
    0x5F34, 0x5F36, 0x5F50, 0x5F53, 0x5F54, 0x5F55, 0x5F56, 0x5F57, 0x61, 0x6F, 0x70, 0x71, 0x72,
    0x73, 0x77, 0x80, 0x81, 0x82, 0x83, 0x84, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x8D, 0x8E, 0x8F,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F01, 0x9F02,
    0x9F03, 0x9F04, 0x9F05, 0x9F06, 0x9F07, 0x9F08, 0x9F09, 0x9F0A, 0x9F0B, 0x9F0C, 0x9F0D, 0x9F0E,
    0x9F0F, 0x9F10, 0x9F11, 0x9F12, 0x9F13, 0x9F14, 0x9F15, 0x9F16, 0x9F17, 0x9F18, 0x9F19, 0x9F1A,
    0x9F1B, 0x9F1C, 0x9F1D, 0x9F1E, 0x9F1F, 0x9F20, 0x9F21, 0x9F22, 0x9F23, 0x9F24, 0x9F25, 0x9F26,
    0x9F27, 0x9F2D, 0x9F2E, 0x9F2F, 0x9F32, 0x9F33, 0x9F34, 0x9F35, 0x9F36, 0x9F37, 0x9F38, 0x9F39,
    0x9F3A, 0x9F3B, 0x9F3C, 0x9F3D, 0x9F40, 0x9F41, 0x9F42, 0x9F43, 0x9F44, 0x9F45, 0x9F46, 0x9F47,
    0x9F48, 0x9F49, 0x9F4A, 0x9F4B, 0x9F4C, 0x9F4D, 0x9F4E, 0x9F4F, 0xA5, 0xBF0C, 0x9F51, 0x9F53,
    0x9F5A, 0x9F5B, 0x9F5D, 0x9F66, 0x9F69, 0x9F6B, 0x9F6C, 0x9F6D, 0x9F6E, 0x9F7C, 0x9F7D,
    0xDF8115, 0xDF8116, 0xDF8117, 0xDF8118, 0xDF8119, 0xDF811A, 0xDF811B, 0xDF811C, 0xDF811D,
    0xDF811E, 0xDF811F, 0xDF8120, 0xDF8121, 0xDF8122, 0xDF8123, 0xDF8124, 0xDF8125, 0xDF8129,
    0xDF812C,
];

#[test]
fn embedded_table_parses_and_matches_all() {
    let parsed = parse_dictionary(EMBEDDED_TOML).expect("embedded dictionary parses");
    assert_eq!(parsed.as_slice(), all());
    assert!(all().len() >= 200, "only {} entries", all().len());
}

#[test]
fn every_required_tag_is_present() {
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|t| lookup(**t).is_none())
        .map(|t| dict::tag_hex(*t))
        .collect();
    assert!(missing.is_empty(), "missing tags: {missing:?}");
}

#[test]
fn book3_annex_a_is_complete() {
    // Every tag of the EMV 4.4 Book 3 "data elements by tag" table except the
    // template-dependent biometric sub-tags (81/82/90 inside A1/BF4E, DF50-DF54).
    let book3 = all().iter().filter(|t| t.origin == Origin::Book3).count();
    assert!(book3 >= 135, "only {book3} Book 3 entries");
}

#[test]
fn exact_book3_names() {
    let cases: &[(u32, &str)] = &[
        (0x6F, "File Control Information (FCI) Template"),
        (0x84, "Dedicated File (DF) Name"),
        (0xA5, "FCI Proprietary Template"),
        (0x88, "Short File Identifier (SFI)"),
        (0x5F2D, "Language Preference"),
        (0xBF0C, "FCI Issuer Discretionary Data"),
        (0x4F, "Application Dedicated File (ADF) Name"),
        (0x5A, "Application Primary Account Number (PAN)"),
        (0x70, "READ RECORD Response Message Template"),
        (0x77, "Response Message Template Format 2"),
        (0x80, "Response Message Template Format 1"),
        (0x82, "Application Interchange Profile"),
        (0x8E, "Cardholder Verification Method (CVM) List"),
        (0x94, "Application File Locator (AFL)"),
        (0x95, "Terminal Verification Results"),
        (0x9B, "Transaction Status Information"),
        (0x9F02, "Amount, Authorised (Numeric)"),
        (0x9F06, "Application Identifier (AID) - terminal"),
        (0x9F0D, "Issuer Action Code - Default"),
        (0x9F10, "Issuer Application Data"),
        (0x9F26, "Application Cryptogram"),
        (0x9F27, "Cryptogram Information Data"),
        (0x9F34, "Cardholder Verification Method (CVM) Results"),
        (0x9F36, "Application Transaction Counter (ATC)"),
        (0x9F37, "Unpredictable Number"),
        (0x9F38, "Processing Options Data Object List (PDOL)"),
        (0x9F4B, "Signed Dynamic Application Data"),
        (0x9F66, "Terminal Transaction Qualifiers (TTQ)"),
        (0xDF8129, "Outcome Parameter Set"),
    ];
    for (tag, name) in cases {
        assert_eq!(name_of(*tag), Some(*name), "tag {}", dict::tag_hex(*tag));
    }
}

#[test]
fn formats_lengths_and_sources() {
    let cases: &[(u32, Format, usize, usize, Source)] = &[
        (0x5A, Format::Cn, 0, 10, Source::Icc),
        (0x9F02, Format::N, 6, 6, Source::Terminal),
        (0x95, Format::B, 5, 5, Source::Terminal),
        (0x5F2D, Format::An, 2, 8, Source::Icc),
        (0x50, Format::Ans, 1, 16, Source::Icc),
        (0x5F24, Format::N, 3, 3, Source::Icc),
        (0x8E, Format::B, 10, 252, Source::Icc),
        (0x91, Format::B, 8, 16, Source::Issuer),
        (0x86, Format::B, 0, 261, Source::Issuer),
        (0x8A, Format::An, 2, 2, Source::IssuerOrTerminal),
        (0x9F1C, Format::An, 8, 8, Source::Terminal),
        (0x9F16, Format::Ans, 15, 15, Source::Terminal),
    ];
    for (tag, f, min, max, src) in cases {
        let t = lookup(*tag).unwrap();
        assert_eq!(
            (t.format, t.min_len, t.max_len, t.source),
            (*f, *min, *max, *src),
            "tag {}",
            t.tag_hex()
        );
    }
    assert_eq!(format_of(0x9F37), Some(Format::B));
    assert_eq!(format_of(0x1234), None);
    assert_eq!(name_of(0x1234), None);
}

#[test]
fn no_duplicates_and_sorted() {
    for w in all().windows(2) {
        assert!(
            w[0].tag < w[1].tag,
            "{} / {}",
            w[0].tag_hex(),
            w[1].tag_hex()
        );
    }
}

#[test]
fn table_sanity() {
    for t in all() {
        let tag = t.tag_hex();
        assert!(t.min_len <= t.max_len, "{tag}");
        assert!(t.max_len <= 261, "{tag}: max {}", t.max_len);
        assert!(!t.name.trim().is_empty(), "{tag}");
        assert!(!t.description.trim().is_empty(), "{tag}");
        assert!(!t.name.contains('–'), "{tag}: en dash in name");
        // Constructed objects are templates: format var or b.
        if t.constructed() {
            assert!(matches!(t.format, Format::Var | Format::B), "{tag}");
        }
        // n-format fixed-length values are whole bytes of BCD.
        if t.format == Format::N {
            assert!(t.max_len >= 1 && t.max_len <= 11, "{tag}");
        }
        // Templates named must be in the dictionary and be templates ('80' and '9F31' are
        // templates coded with primitive tags).
        for tpl in &t.templates {
            let ti = lookup(*tpl).unwrap_or_else(|| panic!("{tag}: unknown template {tpl:X}"));
            assert!(
                ti.constructed() || matches!(*tpl, 0x80 | 0x9F31),
                "{tag}: template {} is primitive",
                ti.tag_hex()
            );
        }
        // Kernel-private tags (DFxx, FFxx) are not Book 3.
        if t.tag > 0xFFFF {
            assert!(t.origin.is_proprietary(), "{tag}");
        }
    }
    // A few structural facts from Book 3 Annex A.
    assert_eq!(lookup(0x84).unwrap().templates, vec![0x6F]);
    assert_eq!(lookup(0x88).unwrap().templates, vec![0xA5]);
    assert_eq!(lookup(0xBF0C).unwrap().templates, vec![0xA5]);
    assert!(lookup(0x6F).unwrap().constructed());
    assert!(lookup(0xBF0C).unwrap().constructed());
    assert!(!lookup(0x9F02).unwrap().constructed());
}

#[test]
fn serializes_tags_as_hex() {
    let v = toml::Value::try_from(lookup(0x9F02).unwrap()).unwrap();
    assert_eq!(v.get("tag").and_then(|t| t.as_str()), Some("9F02"));
    assert_eq!(v.get("format").and_then(|t| t.as_str()), Some("n"));
    assert_eq!(v.get("source").and_then(|t| t.as_str()), Some("terminal"));
    let v = toml::Value::try_from(lookup(0x84).unwrap()).unwrap();
    let tpl = v.get("templates").and_then(|t| t.as_array()).unwrap();
    assert_eq!(tpl[0].as_str(), Some("6F"));
}

#[test]
fn render_numeric_dates_and_codes() {
    assert_eq!(
        render_value(0x9F02, &h("000000001000")).as_deref(),
        Some("000000001000")
    );
    assert_eq!(
        render_value(0x5F24, &h("251231")).as_deref(),
        Some("2025-12-31")
    );
    assert_eq!(
        render_value(0x5F25, &h("200101")).as_deref(),
        Some("2020-01-01")
    );
    assert_eq!(
        render_value(0x9A, &h("991231")).as_deref(),
        Some("1999-12-31")
    );
    assert_eq!(render_value(0x9A, &h("251331")), None, "month 13");
    assert_eq!(render_value(0x9A, &h("2512")), None, "short date");
    assert_eq!(
        render_value(0x9F21, &h("235959")).as_deref(),
        Some("23:59:59")
    );
    assert_eq!(
        render_value(0x5F2A, &h("0978")).as_deref(),
        Some("978 (EUR)")
    );
    assert_eq!(
        render_value(0x9F42, &h("0840")).as_deref(),
        Some("840 (USD)")
    );
    assert_eq!(
        render_value(0x5F2A, &h("0036")).as_deref(),
        Some("036 (AUD)")
    );
    assert_eq!(
        render_value(0x9F3C, &h("0985")).as_deref(),
        Some("985 (PLN)")
    );
    assert_eq!(
        render_value(0x9F1A, &h("0826")).as_deref(),
        Some("826 (GB)")
    );
    assert_eq!(
        render_value(0x5F28, &h("0250")).as_deref(),
        Some("250 (FR)")
    );
    assert_eq!(render_value(0x5F28, &h("0999")).as_deref(), Some("999"));
    assert_eq!(render_value(0x5F2A, &h("0A78")), None, "not BCD");
    assert_eq!(
        render_value(0x5F2A, &h("1978")).as_deref(),
        Some("1978"),
        "no digit is dropped"
    );
    assert_eq!(render_value(0x9C, &h("00")).as_deref(), Some("00"));
    assert_eq!(render_value(0x81, &h("000003E8")).as_deref(), Some("1000"));
    assert_eq!(
        render_value(0x9F1B, &h("00002710")).as_deref(),
        Some("10000")
    );
}

#[test]
fn render_text() {
    assert_eq!(
        render_value(0x50, b"VISA CREDIT").as_deref(),
        Some("VISA CREDIT")
    );
    assert_eq!(render_value(0x5F2D, b"enfr").as_deref(), Some("enfr"));
    assert_eq!(render_value(0x5F55, b"FR").as_deref(), Some("FR"));
    assert_eq!(render_value(0x5F55, b"F1"), None, "a allows letters only");
    assert_eq!(render_value(0x50, &[0x41, 0x01]), None, "control character");
    assert_eq!(render_value(0x5F20, &[0xC3, 0xA9]), None, "non-ASCII");
}

#[test]
fn render_binary_and_unknown() {
    assert_eq!(render_value(0x9F37, &h("01020304")), None);
    assert_eq!(render_value(0x1234, &h("01")), None);
    assert_eq!(render_value(0x81, &h("0001")), None, "wrong length amount");
}

#[test]
fn pan_is_masked() {
    assert_eq!(
        render_value(0x5A, &h("5413330089010010")).as_deref(),
        Some("541333******0010")
    );
    assert_eq!(
        render_value(0x5A, &h("4761739001010119FF")).as_deref(),
        Some("476173******0119"),
        "16-digit PAN padded with F"
    );
    assert_eq!(
        render_value(0x5A, &h("6799998900000060019F")).as_deref(),
        Some("679999*********0019"),
        "19-digit PAN"
    );
}

#[test]
fn malformed_pan_is_hidden_not_none() {
    let out = render_value(0x5A, &h("54133300890100A0")).unwrap();
    assert!(!out.contains("8901"), "{out}");
    assert!(out.contains("hidden"), "{out}");
}

#[test]
fn track_data_is_masked() {
    let t2 = h("5413330089010010D25122010000000000000F");
    for tag in [0x57, 0x9F6B] {
        let out = render_value(tag, &t2).unwrap();
        assert_eq!(
            out,
            "PAN 541333******0010 expiry 2512 service code 201 (discretionary data hidden)"
        );
    }
    let t1 = b"B5413330089010010^DOE/JOHN^2512201000000000";
    let out = render_value(0x56, t1).unwrap();
    assert_eq!(
        out,
        "PAN 541333******0010 name DOE/JOHN expiry 2512 service code 201 (discretionary data hidden)"
    );
    let out = render_value(0x57, &h("5413330089010010")).unwrap();
    assert!(!out.contains("89010010"), "{out}");
}

#[test]
fn other_sensitive_values_hidden() {
    assert_eq!(
        render_value(0x99, &h("1234")).as_deref(),
        Some("(hidden, 2 bytes)")
    );
    assert_eq!(
        render_value(0x9F20, &h("1234")).as_deref(),
        Some("(hidden, 2 bytes)")
    );
    assert!(dict::is_sensitive(0x5A));
    assert!(!dict::is_sensitive(0x9F02));
}

fn longest_digit_run(s: &str) -> usize {
    s.split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0)
}

proptest! {
    #[test]
    fn render_never_panics(idx in 0usize..1000, value in proptest::collection::vec(any::<u8>(), 0..40)) {
        let table = all();
        let t = &table[idx % table.len()];
        let _ = render_value(t.tag, &value);
    }

    #[test]
    fn pan_tags_never_reveal_more_than_six_digits_in_a_row(
        idx in 0usize..3,
        value in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        // Track 1 ('56') also shows the cardholder name, which may hold digits.
        let tag = [0x5A, 0x57, 0x9F6B][idx];
        let out = render_value(tag, &value).expect("PAN tags always render");
        prop_assert!(longest_digit_run(&out) <= 6, "{}", out);
    }

    #[test]
    fn pan_tags_always_render(value in proptest::collection::vec(any::<u8>(), 0..40)) {
        for tag in PAN_TAGS {
            prop_assert!(render_value(tag, &value).is_some());
        }
    }
}
