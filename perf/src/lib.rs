//! sluice-perf: load-test harness and criterion benchmarks around the engine.
//!
//! It drives the `sluice` binary from outside (request lifecycle: all of it, measured end to
//! end) and benches the pure crates' hot paths. See `perf/README.md` for the scripts.
