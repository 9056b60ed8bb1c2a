//! Criterion benchmarks for the personalization bureau: cards prepared per
//! second with 1024-bit ICC keys.
//!
//! `cargo bench -p lamina-perso --bench perso` (about half a minute); add
//! `-- --test` to only check that the benchmarks run. Criterion reports the
//! throughput in elements (cards) per second.
//!
//! * `prepare/debit-cda-1024-e65537` and `prepare/credit-dda-1024-e3`: one card
//!   on one core — ICC RSA key generation dominates (e = 3 needs more prime
//!   candidates), then the ICC certificate signature by the issuer key.
//! * `prepare/debit-no-rsa`: the same card with the ODA method switched off, to
//!   show what the symmetric part costs.
//! * `batch/parallel-16`: 16 cards prepared in parallel with rayon (in memory).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lamina_crypto::pki::Date;
use lamina_perso::issuer::{self, InitOptions, Issuer};
use lamina_perso::prepare::{self, CardRequest};
use lamina_perso::profile::Profile;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

fn configure() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3))
        .nresamples(5_000)
        .without_plots()
}

fn load(name: &str) -> Option<Profile> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../profiles")
        .join(name);
    match Profile::load(&p) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("cannot load {}: {e}", p.display());
            None
        }
    }
}

fn setup() -> Option<(Issuer, Date)> {
    let today = Date::new(2026, 11, 25).ok()?;
    let mut rng = StdRng::seed_from_u64(1);
    let issuer = issuer::init(&mut rng, &InitOptions::new(today)).ok()?;
    Some((issuer, today))
}

fn bench_prepare(c: &mut Criterion) {
    let (Some((issuer, today)), Some(debit), Some(credit)) =
        (setup(), load("debit.toml"), load("credit.toml"))
    else {
        return;
    };
    let mut no_rsa = debit.clone();
    no_rsa.oda = lamina_perso::profile::OdaMethod::None;
    for app in &mut no_rsa.applications {
        app.aip[0] &= !0x61;
        for r in &mut app.records {
            r.tags
                .retain(|t| ![0x8F, 0x90, 0x92, 0x9F32, 0x9F46, 0x9F47, 0x9F48].contains(t));
        }
    }
    let mut g = c.benchmark_group("prepare");
    g.throughput(Throughput::Elements(1));
    for (name, profile) in [
        ("debit-cda-1024-e65537", &debit),
        ("credit-dda-1024-e3", &credit),
        ("debit-no-rsa", &no_rsa),
    ] {
        let mut rng = StdRng::seed_from_u64(2);
        g.bench_function(name, |b| {
            b.iter(|| {
                let out = prepare::prepare_card(
                    &issuer,
                    profile,
                    &CardRequest::default(),
                    today,
                    &mut rng,
                );
                black_box(out.is_ok())
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("batch");
    const N: u64 = 16;
    g.throughput(Throughput::Elements(N));
    let mut seeder = StdRng::seed_from_u64(3);
    g.bench_function("parallel-16-debit-cda-1024", |b| {
        b.iter(|| {
            let seeds: Vec<u64> = (0..N).map(|_| seeder.next_u64()).collect();
            let ok = seeds
                .into_par_iter()
                .map(|s| {
                    let mut rng = StdRng::seed_from_u64(s);
                    prepare::prepare_card(&issuer, &debit, &CardRequest::default(), today, &mut rng)
                        .is_ok()
                })
                .filter(|ok| *ok)
                .count();
            black_box(ok)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = configure();
    targets = bench_prepare
}
criterion_main!(benches);
