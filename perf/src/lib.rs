//! sluice-perf
