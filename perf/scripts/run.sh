#!/usr/bin/env bash
# sluice-perf: Sluice vs nginx vs HAProxy (and the backend directly) in front of one nginx
# backend, driven by wrk. Proxy pinned to CPU 0; backend + wrk on CPU 1. See perf/README.md.
#
#   perf/scripts/run.sh                      # every scenario, 3 rounds of 15 s
#   perf/scripts/run.sh --smoke              # every scenario once for 2 s (CI)
#   perf/scripts/run.sh --scenarios small,c1k --rounds 5 --update-results
#   perf/scripts/run.sh --help
#
# Needs: python3, wrk, nginx (backend), haproxy (optional peer): perf/scripts/install-deps.sh;
# and target/release/sluice (cargo build --release --bin sluice, or pass --build).
set -euo pipefail
cd "$(dirname "$0")/../.."
# c10k and the idle-connection measurement need ~20k descriptors per process; children
# (proxies, wrk) inherit the raised soft limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
export PYTHONDONTWRITEBYTECODE=1
export PYTHONPATH="$PWD/perf/scripts${PYTHONPATH:+:$PYTHONPATH}"
exec python3 -m sluice_perf "$@"
