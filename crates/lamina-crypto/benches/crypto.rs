//! Criterion benchmarks for lamina-crypto.
//!
//! Sample sizes and measurement times are kept small so the whole run stays
//! well under a minute: `cargo bench -p lamina-crypto --bench crypto`.
//! Use `-- --quick` for an even shorter run, `-- --test` to only check they run.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use lamina_crypto::dukpt::{aes as dukpt_aes, tdes as dukpt_tdes};
use lamina_crypto::emv::{self, ArpcMethod, ArpcResponse, Cvn, MkDerivation};
use lamina_crypto::pki::{self, PublicExponent, RsaKeyPair};
use lamina_crypto::sym::{Algorithm, SecretKey};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// EMV RSA key sizes benchmarked (Book 2 §11.2 allows up to 1984 bits).
const RSA_BITS: [usize; 3] = [1024, 1408, 1984];

fn configure() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(700))
        .nresamples(5_000)
        .without_plots()
}

/// A message representative as EMV signs it: `6A ‖ … ‖ BC`, below the modulus.
fn representative(len: usize) -> Vec<u8> {
    let mut m: Vec<u8> = (0..len)
        .map(|i| u8::try_from(i % 251).unwrap_or(0))
        .collect();
    if let Some(first) = m.first_mut() {
        *first = 0x6A;
    }
    if let Some(last) = m.last_mut() {
        *last = 0xBC;
    }
    m
}

/// Raw RSA private operation (card/issuer/CA signing) and public operation
/// (terminal recovery) per modulus size; e = 3 and e = 65537 for the public op.
fn rsa(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(1);
    let keys: Vec<(usize, PublicExponent, RsaKeyPair)> = RSA_BITS
        .iter()
        .flat_map(|&bits| [(bits, PublicExponent::Three), (bits, PublicExponent::F4)])
        .map(|(bits, e)| {
            let k = RsaKeyPair::generate(&mut rng, bits, e).expect("key generation");
            (bits, e, k)
        })
        .collect();

    let mut g = c.benchmark_group("rsa_sign_private_op");
    for (bits, e, key) in keys.iter().filter(|(_, e, _)| *e == PublicExponent::Three) {
        let msg = representative(key.modulus_len());
        g.bench_with_input(
            BenchmarkId::new(format!("e{}", e.value()), bits),
            &msg,
            |b, msg| b.iter(|| key.private_op(&mut rng, black_box(msg)).expect("sign")),
        );
    }
    g.finish();

    let mut g = c.benchmark_group("rsa_recover_public_op");
    for (bits, e, key) in &keys {
        let msg = representative(key.modulus_len());
        let sig = key.private_op(&mut rng, &msg).expect("sign");
        let pk = key.public_key();
        g.bench_with_input(
            BenchmarkId::new(format!("e{}", e.value()), bits),
            &sig,
            |b, sig| b.iter(|| pk.public_op(black_box(sig)).expect("recover")),
        );
    }
    g.finish();
}

/// Terminal-side offline data authentication costs: issuer certificate under a
/// 1984-bit CA key, then DDA with a 1408-bit ICC key (e = 3 throughout).
fn oda(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(2);
    let today = pki::Date::new(2026, 1, 1).expect("date");
    let ca = pki::CaKeyPair::generate(
        &mut rng,
        [0xA0, 0, 0, 0x99, 0x99],
        0xF0,
        1984,
        PublicExponent::Three,
        pki::Date::new(2099, 12, 31).expect("date"),
    )
    .expect("CA key");
    let issuer = RsaKeyPair::generate(&mut rng, 1984, PublicExponent::Three).expect("issuer key");
    let icc = RsaKeyPair::generate(&mut rng, 1408, PublicExponent::Three).expect("ICC key");
    let pan = pki::Pan::from_digits("5413330089010010").expect("pan");
    let cert = ca
        .certify_issuer(
            &mut rng,
            &pki::IssuerCertificateContent {
                issuer_identifier: pki::issuer_identifier_from_pan(&pan, 6).expect("id"),
                expiry: pki::CertExpiry::new(12, 2030).expect("expiry"),
                serial_number: [0, 0, 1],
                public_key: issuer.public_key().clone(),
            },
        )
        .expect("certificate");
    let capk = ca.public_key();
    let ddol = [1u8, 2, 3, 4];
    let dd = pki::dda_icc_dynamic_data(&[9; 8]).expect("dynamic data");

    let mut g = c.benchmark_group("emv_oda");
    g.bench_function("issuer_certificate_verify_1984", |b| {
        b.iter(|| {
            pki::verify_issuer_certificate(
                &capk,
                black_box(&cert.certificate),
                &cert.remainder,
                &cert.exponent,
                &pan,
                today,
            )
            .expect("verify")
        })
    });
    g.bench_function("dda_sign_1408", |b| {
        b.iter(|| pki::sign_dynamic_data(&icc, &mut rng, black_box(&dd), &ddol).expect("sign"))
    });
    let sdad = pki::sign_dynamic_data(&icc, &mut rng, &dd, &ddol).expect("sign");
    g.bench_function("dda_verify_1408", |b| {
        b.iter(|| pki::verify_dda(icc.public_key(), black_box(&sdad), &ddol).expect("verify"))
    });
    g.finish();
}

/// CVN profiles benchmarked for ARQC and ARPC.
const CVNS: [(&str, Cvn); 4] = [
    ("visa_cvn18", Cvn::Visa18),
    ("mastercard_cvn16", Cvn::Mastercard16),
    ("emv_ccd", Cvn::EmvCcd),
    ("emv_aes", Cvn::EmvAes),
];

/// ICC master key for AC of a profile, derived from a fixed test IMK.
fn mk_ac(cvn: Cvn) -> Vec<u8> {
    let p = cvn.profile();
    let imk = [
        0x0123_4567_89AB_CDEFu64.to_be_bytes(),
        0xFEDC_BA98_7654_3210u64.to_be_bytes(),
    ]
    .concat();
    let mk = emv::derive_icc_mk(
        p.algorithm,
        MkDerivation::OptionA,
        &imk,
        "5413330089010010",
        0x01,
    )
    .expect("ICC master key");
    mk.as_bytes().to_vec()
}

/// Card-side ARQC generation and issuer-side verification (session key
/// derivation included, as a host does per transaction).
fn arqc(c: &mut Criterion) {
    let mut g = c.benchmark_group("arqc_generate_verify");
    for (name, cvn) in CVNS {
        let mk = mk_ac(cvn);
        let data = vec![0x5A; cvn.profile().min_data_len.max(40)];
        let (atc, un) = (0x0042u16, [0xDE, 0xAD, 0xBE, 0xEF]);
        g.bench_function(BenchmarkId::new("generate", name), |b| {
            b.iter(|| emv::generate_ac(cvn, &mk, atc, un, black_box(&data)).expect("AC"))
        });
        let ac = emv::generate_ac(cvn, &mk, atc, un, &data).expect("AC");
        g.bench_function(BenchmarkId::new("verify", name), |b| {
            b.iter(|| emv::verify_ac(cvn, &mk, atc, un, black_box(&data), &ac).expect("verify"))
        });
    }
    g.finish();
}

/// Issuer-side ARPC generation (method from the profile).
fn arpc(c: &mut Criterion) {
    let mut g = c.benchmark_group("arpc");
    for (name, cvn) in CVNS {
        let mk = mk_ac(cvn);
        let (atc, un, arqc) = (0x0042u16, [1, 2, 3, 4], [0xA5u8; 8]);
        let response = match cvn.profile().arpc {
            ArpcMethod::Method1 => ArpcResponse::Method1 { arc: *b"00" },
            _ => ArpcResponse::Method2 {
                csu: [0x00, 0x82, 0x00, 0x00],
                proprietary: &[],
            },
        };
        g.bench_function(BenchmarkId::new("generate", name), |b| {
            b.iter(|| {
                emv::generate_arpc(cvn, &mk, atc, un, black_box(&arqc), response).expect("ARPC")
            })
        });
    }
    // the bare ARPC method 1 primitive (no session key)
    let key = [0x11u8; 16];
    g.bench_function("method1_tdes_primitive", |b| {
        b.iter(|| {
            emv::arpc_method1(Algorithm::Tdes, &key, black_box(&[0xA5; 8]), *b"00").expect("ARPC")
        })
    });
    g.finish();
}

/// Host-side DUKPT derivation from the BDK for one transaction: TDES (ANSI
/// X9.24-1, IPEK → current key → PIN variant) and AES (X9.24-3, initial key →
/// intermediate key → PIN working key). Cost grows with the counter's one-bits,
/// so a counter with one bit and one with the maximum (10 TDES, 16 AES) are timed.
fn dukpt(c: &mut Criterion) {
    let mut g = c.benchmark_group("dukpt_derive");
    let bdk = SecretKey::from_hex("0123456789ABCDEFFEDCBA9876543210").expect("BDK");
    for (name, ksn) in [
        ("tdes_counter_1", "FFFF9876543210E00001"),
        ("tdes_counter_10_ones", "FFFF9876543210FFF800"),
    ] {
        let ksn = dukpt_tdes::Ksn::from_hex(ksn).expect("KSN");
        g.bench_function(name, |b| {
            b.iter(|| {
                let current = dukpt_tdes::derive_current_key_from_bdk(&bdk, black_box(&ksn))
                    .expect("current key");
                dukpt_tdes::pin_key(&current).expect("PIN key")
            })
        });
    }
    let id = [0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56];
    for (name, counter) in [
        ("aes128_counter_1", 1u32),
        ("aes128_counter_16_ones", 0xFFFF_0000),
    ] {
        let ksn = dukpt_aes::Ksn::new(&id, counter);
        g.bench_function(name, |b| {
            b.iter(|| {
                dukpt_aes::host_derive_working_key(
                    &bdk,
                    black_box(&ksn),
                    dukpt_aes::KeyUsage::PinEncryption,
                    dukpt_aes::KeyType::Aes128,
                )
                .expect("working key")
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = configure();
    targets = rsa, oda, arqc, arpc, dukpt
}
criterion_main!(benches);
