//! The router against the reference matcher on many pseudo-random scenarios (the same
//! decoder the `router_match` fuzz target uses), deterministic so failures reproduce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use sluice_router::reference::{check, Scenario};

/// xorshift64*: small, deterministic, good enough to spread bytes.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn router_agrees_with_reference() {
    let iterations: usize = std::env::var("SLUICE_DIFF_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut compiled = 0;
    for i in 0..iterations {
        let len = (rng.next() % 160) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let s = Scenario::from_bytes(&data);
        if let Err(e) = check(&s) {
            panic!("iteration {i}, bytes {data:?}:\n{e}");
        }
        if sluice_router::Router::compile(s.specs.clone()).is_ok() {
            compiled += 1;
        }
    }
    // the vocabularies must produce valid route sets often enough to test matching
    assert!(
        compiled * 2 > iterations,
        "only {compiled} of {iterations} scenarios compiled"
    );
}

/// The committed fuzz seeds run here too, so CI covers them without cargo-fuzz.
#[test]
fn fuzz_seed_corpus_passes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/router_match");
    let Ok(files) = std::fs::read_dir(&dir) else {
        return;
    };
    for f in files {
        let path = f.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(e) = check(&Scenario::from_bytes(&data)) {
            panic!("{}: {e}", path.display());
        }
    }
}
