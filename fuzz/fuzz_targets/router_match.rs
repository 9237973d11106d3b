//! Routes + request from arbitrary bytes: the compiled router must never panic and must agree
//! with the slow reference matcher (`sluice_router::reference`); the same bytes are also fed to
//! `normalize_path` raw, whose output must be a fixed point.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run router_match -- -max_total_time=120` (from fuzz/).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sluice_router::normalize_path;
use sluice_router::reference::{check, Scenario};

fuzz_target!(|data: &[u8]| {
    let scenario = Scenario::from_bytes(data);
    if let Err(e) = check(&scenario) {
        panic!("{e}");
    }

    let mut out = String::new();
    if normalize_path(data, &mut out).is_ok() {
        assert!(out.starts_with('/'));
        assert!(!out.contains("//"), "{out:?}");
        assert!(!out.contains("/./") && !out.contains("/../"), "{out:?}");
        let mut again = String::new();
        assert!(normalize_path(out.as_bytes(), &mut again).is_ok());
        assert_eq!(out, again);
    }
});
