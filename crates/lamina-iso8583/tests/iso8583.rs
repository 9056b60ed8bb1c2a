//! Integration tests: round trips for every Lamina MTI, a hand-assembled known-answer
//! message, the example in docs/iso8583.md, malformed messages, masking, framing, and
//! property tests.

// Test crate: helpers outside `#[test]` functions may unwrap and panic.
#![allow(clippy::unwrap_used, clippy::panic)]

use lamina_iso8583::{
    DecodeErrorKind, Deframer, EncodeError, EncodeErrorKind, FieldValue, LengthKind, Location,
    Message, Mti, OriginalData, ResponseCode, Spec, frame,
};
use lamina_tlv::Tlv;
use proptest::prelude::*;

fn spec() -> &'static Spec {
    Spec::lamina()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

const PAN: &str = "5413330089600010";
const TRACK2: &str = "5413330089600010=27122011234567890";
const PIN_BLOCK: &str = "4F1D2C3B4A596877";
const KSN: &str = "FFFF9876543210E00001";

fn icc_request() -> Vec<Tlv> {
    vec![
        Tlv::primitive(0x9F26u32, h("9D6A3C5B8E1F2A47")),
        Tlv::primitive(0x9F27u32, h("80")),
        Tlv::primitive(0x9F10u32, h("0110A00003220000000000000000000000FF")),
        Tlv::primitive(0x9F37u32, h("1A2B3C4D")),
        Tlv::primitive(0x9F36u32, h("0027")),
        Tlv::primitive(0x95u32, h("0000008000")),
        Tlv::primitive(0x9Au32, h("261125")),
        Tlv::primitive(0x9Cu32, h("00")),
        Tlv::primitive(0x9F02u32, h("000000001250")),
        Tlv::primitive(0x5F2Au32, h("0978")),
        Tlv::primitive(0x82u32, h("1980")),
        Tlv::primitive(0x9F1Au32, h("0250")),
        Tlv::primitive(0x9F34u32, h("420300")),
        Tlv::primitive(0x84u32, h("A0000000041010")),
    ]
}

/// DE 43 as name ans25, city ans13, country a2.
fn f43() -> String {
    format!("{:<25}{:<13}{}", "LAMINA TEST SHOP", "PARIS", "FR")
}

/// The example of docs/iso8583.md: a contact chip purchase with online PIN.
fn example_0200() -> Message {
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(2, PAN)
        .set(3, "000000")
        .set(4, "000000001250")
        .set(7, "1125083015")
        .set(11, "000042")
        .set(12, "093015")
        .set(13, "1125")
        .set(14, "2712")
        .set(18, "5411")
        .set(19, "250")
        .set(22, "051")
        .set(23, "001")
        .set(25, "00")
        .set(32, "12345678")
        .set(35, TRACK2)
        .set(37, "633009000042")
        .set(41, "LAMT0001")
        .set(42, "LAMINA000000001")
        .set(43, f43())
        .set(49, "978")
        .set(52, h(PIN_BLOCK))
        .set(53, h(KSN))
        .set_icc_data(&icc_request());
    m
}

fn response_to(req: &Message, code: &str) -> Message {
    let mut r = req
        .response_skeleton(&[3, 4, 7, 11, 12, 13, 32, 37, 41, 42, 49, 90])
        .unwrap();
    r.set(39, code);
    r
}

/// Realistic messages for every MTI Lamina uses (field sets of docs/iso8583.md).
fn lamina_messages() -> Vec<Message> {
    let mut out = Vec::new();
    let req = example_0200();
    // 0100 / 0101 / 0110: authorization (pre-authorization at a hotel).
    let mut auth = req.clone();
    auth.mti = Mti::AUTHORIZATION_REQUEST;
    auth.set(3, "000000").set(18, "7011").remove(52);
    auth.remove(53);
    let mut auth_resp = response_to(&auth, "00");
    auth_resp
        .set(38, "A1B2C3")
        .set_icc_data(&[Tlv::primitive(0x91u32, h("1122334455667788 3030"))]);
    let mut repeat = auth.clone();
    repeat.mti = Mti::AUTHORIZATION_REQUEST.repeat().unwrap();
    // 0120 / 0130: authorization advice (stand-in by the acquirer).
    let mut advice = auth.clone();
    advice.mti = "0120".parse().unwrap();
    advice.set(38, "STNDIN").set(39, "00");
    let advice_resp = response_to(&advice, "00");
    // 0200 / 0210.
    let mut fin_resp = response_to(&req, "00");
    fin_resp.set(38, "004217").set(54, "1002978C000000005000");
    let declined = response_to(&req, "51");
    // 0220 / 0230: offline-approved EMV advice (Y1) with cashback amount.
    let mut fin_advice = req.clone();
    fin_advice.mti = Mti::FINANCIAL_ADVICE;
    fin_advice
        .set(3, "090000")
        .set(54, "0040978D000000002000")
        .set(39, "Y1")
        .remove(52);
    fin_advice.remove(53);
    let fin_advice_resp = response_to(&fin_advice, "00");
    // 0400 / 0410: reversal of the 0200 after a timeout.
    let mut rev = req.clone();
    rev.mti = Mti::REVERSAL_REQUEST;
    rev.set(11, "000043").remove(52);
    rev.remove(53);
    rev.remove(35);
    rev.set_original_data(&OriginalData::of(&req).unwrap())
        .unwrap();
    let rev_resp = response_to(&rev, "00");
    // 0420 / 0421 / 0430: reversal advice, partial (replacement amounts).
    let mut rev_adv = rev.clone();
    rev_adv.mti = Mti::REVERSAL_ADVICE;
    rev_adv.set(95, "000000000800000000000000C00000000C00000000");
    let mut rev_adv_repeat = rev_adv.clone();
    rev_adv_repeat.mti = Mti::REVERSAL_ADVICE_REPEAT;
    let rev_adv_resp = response_to(&rev_adv, "00");
    // 0500 / 0510: terminal reconciliation (Lamina totals in 63), MAC in 64.
    let mut recon = Message::new(Mti::RECONCILIATION_REQUEST);
    recon
        .set(3, "920000")
        .set(7, "1125220000")
        .set(11, "000099")
        .set(12, "230000")
        .set(13, "1125")
        .set(32, "12345678")
        .set(41, "LAMT0001")
        .set(42, "LAMINA000000001")
        .set(49, "978")
        .set(
            63,
            ["0012", "000000015000", "0001", "000000001250"].concat(),
        )
        .set(64, h("1A2B3C4D5E6F7081"));
    let mut recon_resp = response_to(&recon, "00");
    recon_resp.set(64, h("8877665544332211"));
    // 0800 / 0810: sign-on and echo test (field 70 needs the secondary bitmap).
    let mut sign_on = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST);
    sign_on
        .set(7, "1125080000")
        .set(11, "000001")
        .set(41, "LAMT0001")
        .set(53, h(KSN))
        .set(70, "001")
        .set(128, h("0102030405060708"));
    let mut sign_on_resp = response_to(&sign_on, "00");
    sign_on_resp.set(70, "001");
    let echo = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(7, "1125080500")
        .with(11, "000002")
        .with(70, "301");
    out.extend([
        auth,
        repeat,
        auth_resp,
        advice,
        advice_resp,
        req,
        fin_resp,
        declined,
        fin_advice,
        fin_advice_resp,
        rev,
        rev_resp,
        rev_adv,
        rev_adv_repeat,
        rev_adv_resp,
        recon,
        recon_resp,
        sign_on,
        sign_on_resp,
        echo,
    ]);
    out
}

#[test]
fn every_lamina_mti_round_trips() {
    let messages = lamina_messages();
    let mut mtis: Vec<String> = messages.iter().map(|m| m.mti.to_string()).collect();
    mtis.sort();
    mtis.dedup();
    assert_eq!(
        mtis,
        [
            "0100", "0101", "0110", "0120", "0130", "0200", "0210", "0220", "0230", "0400", "0410",
            "0420", "0421", "0430", "0500", "0510", "0800", "0810"
        ]
    );
    for m in &messages {
        let bytes = spec().encode(m).unwrap();
        let back = spec().decode(&bytes).unwrap();
        assert_eq!(&back, m, "{m}");
        assert_eq!(spec().encode(&back).unwrap(), bytes);
        // Secondary bitmap iff a field 65..=128 is present.
        let secondary = m.numbers().any(|n| n > 64);
        assert_eq!(bytes[4] & 0x80 != 0, secondary, "{}", m.mti);
        // Responses echo what the request had.
        if let Some(resp) = m.mti.response() {
            assert!(resp.is_response());
        }
    }
}

/// Names of [`lamina_messages`] in order, as in `tests/vectors/messages.txt`.
const MESSAGE_NAMES: [&str; 20] = [
    "0100 pre-authorization",
    "0101 pre-authorization repeat",
    "0110 approved with issuer authentication data",
    "0120 stand-in advice",
    "0130 advice response",
    "0200 chip purchase with online PIN",
    "0210 approved with balance",
    "0210 declined 51",
    "0220 offline approved purchase with cash back",
    "0230 advice response",
    "0400 reversal",
    "0410 reversal response",
    "0420 partial reversal advice",
    "0421 partial reversal advice repeat",
    "0430 reversal advice response",
    "0500 reconciliation with MAC",
    "0510 reconciliation response with MAC",
    "0800 sign-on with KSN and MAC",
    "0810 sign-on response",
    "0800 echo test",
];

fn vector_file() -> String {
    let mut out = String::new();
    for (name, m) in MESSAGE_NAMES.iter().zip(lamina_messages()) {
        out.push_str(&format!("{name}: {}\n", hex::encode_upper(encoded(&m))));
    }
    out
}

/// `tests/vectors/messages.txt` (cross-checked with pyiso8583, see its header) equals what
/// the encoder writes for [`lamina_messages`], and each vector decodes back.
#[test]
fn known_answer_message_vectors() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/messages.txt"
    ))
    .unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(body, vector_file(), "messages.txt is out of date");
    for ((line, m), name) in body.lines().zip(lamina_messages()).zip(MESSAGE_NAMES) {
        let (label, hex) = line.split_once(": ").unwrap();
        assert_eq!(label, name);
        assert_eq!(spec().decode(&h(hex)).unwrap(), m, "{name}");
    }
}

/// The 0800 echo test assembled by hand from docs/iso8583.md, independent of the encoder.
#[test]
fn known_answer_echo_test() {
    let echo = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(7, "1125080500")
        .with(11, "000002")
        .with(70, "301");
    // Primary bitmap: bits 1 (secondary), 7, 11 = 82 20 00 00 00 00 00 00.
    // Secondary bitmap: bit 70 = bit 6 of the secondary = 04 00 00 00 00 00 00 00.
    let mut expected = b"0800".to_vec();
    expected.extend(h("8220000000000000 0400000000000000"));
    expected.extend(b"1125080500000002301");
    assert_eq!(spec().encode(&echo).unwrap(), expected);
    assert_eq!(spec().decode(&expected).unwrap(), echo);
}

/// The 0200 example assembled by hand, field by field, from the rules in docs/iso8583.md.
#[test]
fn known_answer_example_0200() {
    let mut expected = b"0200".to_vec();
    // Fields 2 3 4 7 11 12 13 14 18 19 22 23 25 32 35 37 41 42 43 49 52 53 55:
    // byte 1: bits 2,3,4,7       -> 0111 0010 = 72
    // byte 2: bits 11,12,13,14   -> 0011 1100 = 3C
    // byte 3: bits 18,19,22,23   -> 0110 0110 = 66
    // byte 4: bits 25,32         -> 1000 0001 = 81
    // byte 5: bits 35,37         -> 0010 1000 = 28
    // byte 6: bits 41,42,43      -> 1110 0000 = E0
    // byte 7: bits 49,52,53,55   -> 1001 1010 = 9A
    // byte 8: none               -> 00
    expected.extend(h("723C6681 28E09A00"));
    let f43 = f43();
    for part in [
        "16",
        PAN,
        "000000",
        "000000001250",
        "1125083015",
        "000042",
        "093015",
        "1125",
        "2712",
        "5411",
        "250",
        "051",
        "001",
        "00",
        "08",
        "12345678",
        "34",
        TRACK2,
        "633009000042",
        "LAMT0001",
        "LAMINA000000001",
        &f43,
        "978",
    ] {
        expected.extend(part.as_bytes());
    }
    expected.extend(h(PIN_BLOCK));
    expected.extend(b"10");
    expected.extend(h(KSN));
    let icc = Tlv::encode_all(&icc_request());
    expected.extend(format!("{:03}", icc.len()).as_bytes());
    expected.extend(&icc);
    assert_eq!(spec().encode(&example_0200()).unwrap(), expected);
}

fn docs() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/iso8583.md"
    ))
    .unwrap()
}

/// The block after `marker` up to the closing fence.
fn fenced_block<'a>(doc: &'a str, marker: &str) -> &'a str {
    let start = doc
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} missing"))
        + marker.len();
    let rest = &doc[start..];
    let end = rest.find("```").unwrap();
    &rest[..end]
}

/// The element-by-element breakdown table printed in docs/iso8583.md, produced from the
/// spec rows and the decoded message.
fn breakdown(bytes: &[u8]) -> String {
    let m = spec().decode(bytes).unwrap();
    let mut out = String::from(
        "| Offset | Element | Format | Bytes (hex) | Value |\n|---:|---|---|---|---|\n",
    );
    let mut pos = 0;
    let mut row = |pos: &mut usize, element: String, format: String, len: usize, value: String| {
        let raw = hex::encode_upper(&bytes[*pos..*pos + len]);
        out.push_str(&format!(
            "| {} | {element} | {format} | `{raw}` | {value} |\n",
            *pos
        ));
        *pos += len;
    };
    row(
        &mut pos,
        "MTI".into(),
        "n4 ASCII".into(),
        4,
        m.mti.to_string(),
    );
    row(
        &mut pos,
        "Primary bitmap".into(),
        "b8".into(),
        8,
        "fields present".into(),
    );
    if m.numbers().any(|n| n > 64) {
        row(
            &mut pos,
            "Secondary bitmap".into(),
            "b8".into(),
            8,
            "fields 65-128".into(),
        );
    }
    for (n, v) in m.fields() {
        let r = spec().field(n).unwrap();
        let digits = r.length.prefix_digits();
        let value = match v {
            FieldValue::Text(s) => format!("`{s}`"),
            FieldValue::Binary(b) if n == 55 => format!(
                "{} bytes BER-TLV: {}",
                b.len(),
                Tlv::parse_all(b)
                    .unwrap()
                    .iter()
                    .map(|t| t.tag.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            FieldValue::Binary(b) => format!("{} bytes", b.len()),
        };
        let len = digits + v.len();
        let element = format!("DE {n} {}", r.name);
        let format = if r.length == LengthKind::Fixed {
            r.notation()
        } else {
            format!("{} ({}-digit prefix)", r.notation(), digits)
        };
        row(&mut pos, element, format, len, value);
    }
    assert_eq!(pos, bytes.len());
    out
}

#[test]
fn docs_example_decodes_and_matches_the_encoder() {
    let doc = docs();
    let block = fenced_block(&doc, "<!-- example-0200-hex -->\n```text\n");
    let bytes = h(block);
    let expected = spec().encode(&example_0200()).unwrap();
    assert_eq!(
        hex::encode_upper(&bytes),
        hex::encode_upper(&expected),
        "docs/iso8583.md example hex is out of date; the encoder gives:\n{}",
        hex::encode_upper(&expected)
    );
    assert_eq!(spec().decode(&bytes).unwrap(), example_0200());
    let table = breakdown(&bytes);
    assert!(
        doc.contains(&table),
        "docs/iso8583.md breakdown table is out of date; expected:\n{table}"
    );
    // The framed form shown in the doc.
    let framed = fenced_block(&doc, "<!-- example-0200-frame-header -->\n```text\n");
    assert_eq!(h(framed), frame(&bytes).unwrap()[..2].to_vec());
}

/// The text between `<!-- name -->` and `<!-- /name -->`.
fn section<'a>(doc: &'a str, name: &str) -> &'a str {
    let open = format!("<!-- {name} -->");
    let close = format!("<!-- /{name} -->");
    let start = doc.find(&open).unwrap_or_else(|| panic!("{open} missing")) + open.len();
    let end = doc
        .find(&close)
        .unwrap_or_else(|| panic!("{close} missing"));
    &doc[start..end]
}

/// The message matrix of docs/iso8583.md: every test message carries all its `M` fields and
/// no `-` field, and every matrix row is a spec field.
#[test]
fn docs_message_matrix_matches_the_test_messages() {
    let doc = docs();
    let rows: Vec<Vec<&str>> = section(&doc, "message-matrix")
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| {
            l.split('|')
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .collect()
        })
        .collect();
    let header = &rows[0];
    let column = |mti: Mti| {
        header
            .iter()
            .position(|h| h.split('/').any(|m| m == mti.as_str()))
            .unwrap_or_else(|| panic!("no matrix column for {mti}"))
    };
    let mut checked = 0;
    for m in lamina_messages() {
        let col = column(m.mti);
        for row in &rows[2..] {
            let n: u8 = row[0].parse().unwrap();
            assert!(spec().field(n).is_some(), "matrix DE {n} not in spec");
            let cell = row[col];
            assert!(["M", "C", "E", "O", "-"].contains(&cell), "DE {n}: {cell}");
            match cell {
                "M" => assert!(m.has(n), "{} lacks mandatory DE {n}", m.mti),
                "-" => assert!(!m.has(n), "{} carries DE {n}, absent per matrix", m.mti),
                _ => {}
            }
        }
        for n in m.numbers() {
            assert!(
                rows[2..].iter().any(|r| r[0] == n.to_string()),
                "{} carries DE {n}, not in the matrix",
                m.mti
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 20);
}

/// Every row of the field table in docs/iso8583.md agrees with the spec TOML, and every
/// spec row is in the doc.
#[test]
fn docs_field_table_matches_spec() {
    let doc = docs();
    let mut seen = Vec::new();
    for line in section(&doc, "field-table").lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | DE | Name | Attribute | Length | Encoding | Padding | Mask |
        if cells.len() < 9 || cells[1].parse::<u8>().is_err() {
            continue;
        }
        let n: u8 = cells[1].parse().unwrap();
        let r = spec()
            .field(n)
            .unwrap_or_else(|| panic!("doc field {n} not in spec"));
        assert_eq!(cells[3], format!("`{}`", r.notation()), "DE {n} attribute");
        assert_eq!(cells[4], r.length.as_str(), "DE {n} length");
        assert_eq!(cells[5], r.encoding.as_str(), "DE {n} encoding");
        assert_eq!(cells[6], r.padding.as_str(), "DE {n} padding");
        assert_eq!(cells[7], r.mask.as_str(), "DE {n} mask");
        seen.push(n);
    }
    let max = spec().max_message_len();
    let quoted = format!("{},{:03} bytes", max / 1000, max % 1000);
    assert!(
        doc.contains(&quoted),
        "docs/iso8583.md should quote {quoted}"
    );
    let all: Vec<u8> = spec().fields().map(|r| r.number).collect();
    assert_eq!(seen, all, "docs/iso8583.md field table");
}

// ---------------------------------------------------------------- malformed messages

fn encoded(m: &Message) -> Vec<u8> {
    spec().encode(m).unwrap()
}

fn small_0200() -> Message {
    Message::new(Mti::FINANCIAL_REQUEST)
        .with(2, PAN)
        .with(4, "000000001250")
        .with(11, "000042")
        .with(41, "LAMT0001")
}

#[test]
fn bitmap_bit_for_unknown_field() {
    let mut bytes = encoded(&small_0200());
    bytes[4] |= 0x08; // bit 5 (settlement amount) is not in the Lamina spec
    let e = spec().decode(&bytes).unwrap_err();
    assert_eq!(e.location(), Location::Field(5));
    assert_eq!(e.field(), Some(5));
    assert_eq!(e.kind(), &DecodeErrorKind::NotInSpec);
    assert_eq!(e.offset(), 4);
    assert_eq!(e.context(), &bytes[4..12]);
    assert_eq!(e.response_code(), ResponseCode::FORMAT_ERROR);
    assert_eq!(e.response_code().as_str(), "30");
    // Fields 2 and 4 decoded before bit 5 was reached; the PAN is not kept.
    assert_eq!(e.partial().mti, Some(Mti::FINANCIAL_REQUEST));
    assert_eq!(
        e.partial().get(4).and_then(FieldValue::as_str),
        Some("000000001250")
    );
    assert!(e.partial().get(2).is_none(), "PAN never kept in a partial");
    assert_eq!(e.partial().stan(), None);
}

#[test]
fn bit_65_and_empty_secondary_bitmap() {
    let m = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(11, "000001")
        .with(70, "301");
    let mut bytes = encoded(&m);
    bytes[12] |= 0x80; // bit 65
    let e = spec().decode(&bytes).unwrap_err();
    assert_eq!(e.location(), Location::Field(65));
    assert_eq!(e.kind(), &DecodeErrorKind::NotInSpec);
    assert_eq!(e.offset(), 12);
    assert_eq!(e.partial().stan(), Some("000001"));

    let mut bytes = encoded(&Message::new(Mti::NETWORK_MANAGEMENT_REQUEST).with(11, "000001"));
    bytes[4] |= 0x80;
    bytes.splice(12..12, [0u8; 8]);
    let e = spec().decode(&bytes).unwrap_err();
    assert_eq!(e.location(), Location::SecondaryBitmap);
    assert_eq!(e.field(), Some(1));
    assert_eq!(e.kind(), &DecodeErrorKind::EmptySecondaryBitmap);
    assert_eq!(e.response_code().as_str(), "30");
}

#[test]
fn truncated_bitmaps_and_mti() {
    let e = spec().decode(b"02").unwrap_err();
    assert_eq!(e.location(), Location::Mti);
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::Truncated {
            needed: 4,
            available: 2
        }
    );
    let e = spec().decode(b"0200\x70\x00").unwrap_err();
    assert_eq!(e.location(), Location::PrimaryBitmap);
    assert_eq!(e.partial().mti, Some(Mti::FINANCIAL_REQUEST));
    let e = spec()
        .decode(b"0800\x80\x00\x00\x00\x00\x00\x00\x00\x04")
        .unwrap_err();
    assert_eq!(e.location(), Location::SecondaryBitmap);
    assert_eq!(e.offset(), 12);
    let e = spec()
        .decode(b"02X0\x00\x00\x00\x00\x00\x00\x00\x00")
        .unwrap_err();
    assert_eq!(
        (e.location(), e.kind()),
        (Location::Mti, &DecodeErrorKind::InvalidMti)
    );
    let e = spec()
        .decode(b"1200\x00\x00\x00\x00\x00\x00\x00\x00")
        .unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::UnsupportedVersion { version: 1 }
    );
    assert_eq!(e.response_code().as_str(), "30");
}

#[test]
fn every_truncation_is_a_format_error() {
    for m in lamina_messages() {
        let bytes = encoded(&m);
        for cut in 0..bytes.len() {
            let e = spec().decode(&bytes[..cut]).unwrap_err();
            assert_eq!(e.response_code(), ResponseCode::FORMAT_ERROR);
            assert!(e.offset() <= cut, "{} cut {cut}: {e}", m.mti);
        }
    }
}

#[test]
fn non_numeric_in_n_field_keeps_decoding_for_the_partial() {
    let bytes = encoded(&small_0200());
    // MTI 4 + bitmap 8 + "16" + PAN 16 = 30: field 4 starts at 30.
    let mut bad = bytes.clone();
    bad[30 + 10] = b'A';
    let e = spec().decode(&bad).unwrap_err();
    assert_eq!(e.location(), Location::Field(4));
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::InvalidCharacter { position: 10 }
    );
    assert_eq!(e.offset(), 40);
    assert_eq!(e.context_offset(), 30);
    assert_eq!(e.context(), b"0000000012A0");
    assert!(e.to_string().contains("field 4 at offset 40"), "{e}");
    assert!(
        e.to_string().contains(&hex::encode_upper(b"0000000012A0")),
        "{e}"
    );
    // The extent of field 4 was known, so 11 and 41 still decoded.
    assert_eq!(e.partial().stan(), Some("000042"));
    assert_eq!(e.partial().terminal_id(), Some("LAMT0001"));
    let resp = e.partial().format_error_response().unwrap();
    assert_eq!(resp.mti, Mti::FINANCIAL_RESPONSE);
    assert_eq!(resp.get_str(39), Some("30"));
    assert_eq!(resp.response_code(), Some(ResponseCode::FORMAT_ERROR));
    assert_eq!(small_0200().response_code(), None);
    assert_eq!(resp.get_str(11), Some("000042"));
    assert_eq!(resp.get_str(41), Some("LAMT0001"));
    assert!(!resp.has(4), "the bad field is not echoed");
    assert!(!resp.has(2));
    spec().encode(&resp).unwrap();
}

#[test]
fn bad_pan_is_reported_without_its_digits() {
    let bytes = encoded(&small_0200());
    let mut bad = bytes.clone();
    bad[12 + 2 + 5] = b'X';
    let e = spec().decode(&bad).unwrap_err();
    assert_eq!(e.location(), Location::Field(2));
    assert_eq!(e.kind(), &DecodeErrorKind::InvalidCharacter { position: 5 });
    assert!(e.is_redacted());
    assert!(e.context().is_empty());
    let text = format!("{e} {e:?}");
    assert!(!text.contains("0089600010"), "{text}");
    assert!(!text.contains(&hex::encode_upper("0089600010")), "{text}");
    assert!(text.contains("REDACTED"));
}

#[test]
fn length_prefix_errors() {
    let bytes = encoded(&small_0200());
    // Non-numeric LL.
    let mut bad = bytes.clone();
    bad[12] = b'1';
    bad[13] = b'A';
    let e = spec().decode(&bad).unwrap_err();
    assert_eq!(
        (e.location(), e.kind()),
        (Location::Field(2), &DecodeErrorKind::BadLengthPrefix)
    );
    assert_eq!(e.offset(), 12);
    assert_eq!(
        e.partial().stan(),
        None,
        "framing lost: nothing after field 2"
    );
    // LL above the maximum (n..19).
    let mut bad = bytes.clone();
    bad[12..14].copy_from_slice(b"20");
    let e = spec().decode(&bad).unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::TooLong {
            length: 20,
            max: 19
        }
    );
    assert_eq!(e.field(), Some(2));
    // LL overrunning the message.
    let short = Message::new(Mti::FINANCIAL_REQUEST).with(2, PAN);
    let mut bad = encoded(&short);
    bad[12..14].copy_from_slice(b"19");
    let e = spec().decode(&bad).unwrap_err();
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::Truncated {
            needed: 19,
            available: 16
        }
    );
    assert_eq!(e.offset(), 14);
    // LLL over the maximum for field 55 (b...255), with enough bytes: content error.
    let m = Message::new(Mti::FINANCIAL_REQUEST)
        .with(11, "000007")
        .with(55, vec![0x5Au8; 255])
        .with(64, [0u8; 8]);
    let good = encoded(&m);
    let p = good.windows(3).position(|w| w == b"255").unwrap();
    let mut bad = good.clone();
    bad[p..p + 3].copy_from_slice(b"256");
    let e = spec().decode(&bad).unwrap_err();
    assert_eq!(e.location(), Location::Field(55));
    assert_eq!(
        e.kind(),
        &DecodeErrorKind::TooLong {
            length: 256,
            max: 255
        }
    );
    assert!(e.is_redacted(), "ICC data is not echoed in errors");
    assert_eq!(e.partial().stan(), Some("000007"));
}

#[test]
fn trailing_bytes() {
    let mut bytes = encoded(&small_0200());
    let end = bytes.len();
    bytes.extend_from_slice(b"XYZ");
    let e = spec().decode(&bytes).unwrap_err();
    assert_eq!(e.location(), Location::Trailing);
    assert_eq!(e.field(), None);
    assert_eq!(e.offset(), end);
    assert_eq!(e.kind(), &DecodeErrorKind::TrailingBytes { count: 3 });
    assert_eq!(e.context(), b"XYZ");
    assert_eq!(e.partial().stan(), Some("000042"));
    assert_eq!(e.response_code().as_str(), "30");
}

#[test]
fn malformed_response_gets_no_answer() {
    let resp = response_to(&small_0200(), "00");
    let mut bytes = encoded(&resp);
    bytes.push(0);
    let e = spec().decode(&bytes).unwrap_err();
    assert_eq!(e.partial().mti, Some(Mti::FINANCIAL_RESPONSE));
    assert!(e.partial().format_error_response().is_none());
}

// ---------------------------------------------------------------- encoding rules

#[test]
fn padding_of_fixed_fields() {
    let m = Message::new(Mti::AUTHORIZATION_REQUEST)
        .with(4, "1250")
        .with(37, "RRN1")
        .with(41, "T1");
    let back = spec().decode(&encoded(&m)).unwrap();
    assert_eq!(back.get_str(4), Some("000000001250"));
    assert_eq!(back.get_str(37), Some("RRN1        "));
    assert_eq!(back.get_str(41), Some("T1      "));
}

#[test]
fn encode_errors() {
    let err = |m: Message| spec().encode(&m).unwrap_err();
    let base = || Message::new(Mti::FINANCIAL_REQUEST);
    assert_eq!(
        err(base().with(5, "000000000001")),
        EncodeError {
            field: 5,
            kind: EncodeErrorKind::NotInSpec
        }
    );
    for n in [0u8, 1, 65, 129, 255] {
        assert_eq!(
            err(base().with(n, "1")).kind,
            EncodeErrorKind::NotInSpec,
            "{n}"
        );
    }
    assert_eq!(
        err(base().with(4, "12.50")).kind,
        EncodeErrorKind::InvalidCharacter { position: 2 }
    );
    assert_eq!(
        err(base().with(41, "TÉRM")).kind,
        EncodeErrorKind::InvalidCharacter { position: 1 }
    );
    assert_eq!(
        err(base().with(2, "54133300896000100001")).kind,
        EncodeErrorKind::TooLong {
            length: 20,
            max: 19
        }
    );
    assert_eq!(
        err(base().with(4, "1234567890123")).kind,
        EncodeErrorKind::TooLong {
            length: 13,
            max: 12
        }
    );
    assert_eq!(
        err(base().with(52, vec![1u8; 7])).kind,
        EncodeErrorKind::WrongLength {
            length: 7,
            expected: 8
        }
    );
    assert_eq!(
        err(base().with(39, "0")).kind,
        EncodeErrorKind::WrongLength {
            length: 1,
            expected: 2
        }
    );
    assert_eq!(
        err(base().with(52, "1234")).kind,
        EncodeErrorKind::WrongValueKind {
            expected_binary: true
        }
    );
    assert_eq!(
        err(base().with(4, vec![1u8])).kind,
        EncodeErrorKind::WrongValueKind {
            expected_binary: false
        }
    );
    assert_eq!(
        err(Message::new("1200".parse().unwrap())),
        EncodeError {
            field: 0,
            kind: EncodeErrorKind::UnsupportedVersion { version: 1 }
        }
    );
}

#[test]
fn mac_input_covers_everything_before_the_mac() {
    let m = small_0200();
    let (field, input) = spec().mac_input(&m).unwrap();
    assert_eq!(field, 64);
    let mac = [0xA5u8; 8];
    let full = encoded(&m.clone().with(64, mac));
    assert_eq!(&full[..full.len() - 8], input.as_slice());
    assert_eq!(&full[full.len() - 8..], &mac);

    let nm = Message::new(Mti::NETWORK_MANAGEMENT_REQUEST)
        .with(11, "000001")
        .with(70, "301")
        .with(64, [9u8; 8]);
    let (field, input) = spec().mac_input(&nm).unwrap();
    assert_eq!(field, 128);
    let mut with_mac = nm.clone();
    with_mac.remove(64);
    with_mac.set(128, mac);
    let full = encoded(&with_mac);
    assert_eq!(&full[..full.len() - 8], input.as_slice());
}

#[test]
fn icc_helpers() {
    let m = example_0200();
    assert_eq!(m.icc_data().unwrap().unwrap(), icc_request());
    let back = spec().decode(&encoded(&m)).unwrap();
    assert_eq!(back.icc_data().unwrap().unwrap(), icc_request());
    assert!(Message::new(Mti::FINANCIAL_REQUEST).icc_data().is_none());
    let bad = Message::new(Mti::FINANCIAL_REQUEST).with(55, vec![0x9F]);
    assert!(bad.icc_data().unwrap().is_err());
}

// ---------------------------------------------------------------- masking

#[test]
fn debug_and_display_mask_sensitive_fields() {
    let m = example_0200();
    for text in [
        format!("{m:?}"),
        format!("{m}"),
        format!("{}", spec().display(&m)),
    ] {
        assert!(text.contains("541333******0010"), "{text}");
        assert!(!text.contains(PAN), "{text}");
        assert!(!text.contains("27122011234567890"), "track 2 tail: {text}");
        assert!(!text.contains("2712201"), "{text}");
        assert!(!text.contains(PIN_BLOCK), "{text}");
        assert!(text.contains("REDACTED"), "{text}");
        assert!(text.contains("ICC[9F26(8) 9F27(1) 9F10(18)"), "{text}");
        assert!(
            !text.contains("9D6A3C5B8E1F2A47"),
            "cryptogram value: {text}"
        );
        // Non-sensitive data stays readable.
        assert!(text.contains("LAMT0001"), "{text}");
        assert!(text.contains(KSN), "{text}");
    }
    assert_eq!(
        format!("{:?}", m.get(2).unwrap()),
        "Text(16 chars)",
        "a bare FieldValue prints no content"
    );
    let text = m.to_string();
    assert!(
        text.starts_with("0200 2=541333******0010 3=000000 4=000000001250"),
        "{text}"
    );
    assert!(text.contains(" 35=541333******0010=**** "), "{text}");
}

// ---------------------------------------------------------------- framing

#[test]
fn frames_carry_messages() {
    let mut stream = Vec::new();
    let messages = lamina_messages();
    for m in &messages {
        stream.extend(frame(&encoded(m)).unwrap());
    }
    let mut d = Deframer::new(4096);
    let mut got = Vec::new();
    for chunk in stream.chunks(7) {
        d.push(chunk);
        while let Some(payload) = d.pop().unwrap() {
            got.push(spec().decode(&payload).unwrap());
        }
    }
    assert_eq!(got, messages);
}

// ---------------------------------------------------------------- property tests

fn charset(t: lamina_iso8583::FieldType) -> Vec<u8> {
    (0u8..=255).filter(|b| t.accepts(*b)).collect()
}

fn value_strategy(row: &lamina_iso8583::FieldSpec) -> BoxedStrategy<FieldValue> {
    let len = if row.length == LengthKind::Fixed {
        row.max..=row.max
    } else {
        0..=row.max
    };
    if row.field_type == lamina_iso8583::FieldType::B {
        prop::collection::vec(any::<u8>(), len)
            .prop_map(FieldValue::Binary)
            .boxed()
    } else {
        let chars = charset(row.field_type);
        prop::collection::vec(prop::sample::select(chars), len)
            .prop_map(|v| FieldValue::Text(v.into_iter().map(char::from).collect()))
            .boxed()
    }
}

fn message_strategy() -> impl Strategy<Value = Message> {
    let rows: Vec<lamina_iso8583::FieldSpec> = spec().fields().cloned().collect();
    let count = rows.len();
    (
        "0[0-9]{3}",
        prop::collection::vec(any::<bool>(), count..=count),
    )
        .prop_flat_map(move |(mti, present)| {
            let fields: Vec<_> = rows
                .iter()
                .zip(present)
                .filter(|(_, p)| *p)
                .map(|(r, _)| (Just(r.number), value_strategy(r)))
                .collect();
            (Just(mti), fields)
        })
        .prop_map(|(mti, fields)| {
            let mut m = Message::new(mti.parse().unwrap());
            for (n, v) in fields {
                m.set(n, v);
            }
            m
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn encode_decode_identity(m in message_strategy()) {
        let bytes = spec().encode(&m).unwrap();
        let back = spec().decode(&bytes).unwrap();
        prop_assert_eq!(&back, &m);
        prop_assert_eq!(spec().encode(&back).unwrap(), bytes);
        if let Some(pan) = m.get_str(2).filter(|p| p.len() > 10) {
            let debug = format!("{:?}", m);
            prop_assert!(!debug.contains(pan));
            prop_assert!(!m.to_string().contains(pan));
        }
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(m) = spec().decode(&data) {
            prop_assert_eq!(spec().encode(&m).unwrap(), data);
        }
    }

    #[test]
    fn decode_never_panics_after_a_valid_header(
        mti in "0[0-9]{3}",
        bitmap in prop::collection::vec(any::<u8>(), 8..=16),
        tail in prop::collection::vec(prop::sample::select(b"0123456789 AZ=\x00\xFF".to_vec()), 0..300),
    ) {
        let mut data = mti.into_bytes();
        data.extend(bitmap);
        data.extend(tail);
        match spec().decode(&data) {
            Ok(m) => {
                let again = spec().encode(&m).unwrap();
                prop_assert_eq!(again, data);
            }
            Err(e) => prop_assert_eq!(e.response_code(), ResponseCode::FORMAT_ERROR),
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(
        m in message_strategy(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = spec().encode(&m).unwrap();
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        match spec().decode(&bytes) {
            Ok(back) => {
                let again = spec().encode(&back).unwrap();
                prop_assert_eq!(again, bytes);
            }
            Err(e) => {
                prop_assert_eq!(e.response_code(), ResponseCode::FORMAT_ERROR);
                prop_assert!(e.offset() <= bytes.len());
                prop_assert!(e.context().len() <= lamina_iso8583::CONTEXT_BYTES);
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn deframer_reassembles_any_chunking(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..8),
        chunk in 1usize..50,
    ) {
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(p).unwrap()).collect();
        let mut d = Deframer::new(300);
        let mut got = Vec::new();
        for c in stream.chunks(chunk) {
            d.push(c);
            while let Some(p) = d.pop().unwrap() {
                got.push(p);
            }
        }
        prop_assert_eq!(got, payloads);
        prop_assert_eq!(d.buffered(), 0);
    }
}

// ---------------------------------------------------------------- response codes

/// Every row of the response-code table of docs/iso8583.md §9 is in `RESPONSE_CODES`
/// with the same meaning (the doc may add a note in parentheses) and outcome class.
#[test]
fn docs_response_code_table_matches_response_codes() {
    let doc = docs();
    let start = doc.find("## 9. Response codes").unwrap();
    let body = &doc[start..];
    let end = body[3..].find("\n## ").map_or(body.len(), |i| i + 3);
    let mut checked = Vec::new();
    for line in body[..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | Code | Meaning | Outcome |
        if cells.len() != 5 || cells[1].len() != 2 {
            continue;
        }
        let Ok(code) = cells[1].parse::<ResponseCode>() else {
            continue;
        };
        let info = code
            .info()
            .unwrap_or_else(|| panic!("doc code {} not in RESPONSE_CODES", cells[1]));
        let note = cells[2]
            .strip_prefix(info.meaning)
            .unwrap_or_else(|| panic!("code {}: {:?} vs {:?}", cells[1], cells[2], info.meaning));
        assert!(
            note.is_empty() || (note.starts_with(" (") && note.ends_with(')')),
            "code {} meaning: {:?}",
            cells[1],
            cells[2]
        );
        let outcome = format!("{:?}", info.outcome).to_lowercase();
        assert_eq!(cells[3], outcome, "code {} outcome", cells[1]);
        checked.push(cells[1].to_owned());
    }
    assert!(checked.len() >= 20, "{checked:?}");
    assert!(checked.iter().any(|c| c == "95"), "{checked:?}");
    assert_eq!(
        ResponseCode::RECONCILE_ERROR.outcome(),
        lamina_iso8583::Outcome::Error
    );
    assert_eq!(
        ResponseCode::RECONCILE_ERROR.to_string(),
        "95 (Reconcile error)"
    );
}
