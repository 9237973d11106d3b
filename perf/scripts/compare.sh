#!/usr/bin/env bash
# Kept for old command lines: the comparison is now perf/scripts/run.sh (sluice-perf), which
# takes the same options (--duration, --connections, --rounds, --peers, --smoke). This runs its
# `small` scenario (GET, keepalive, tiny body) only.
set -euo pipefail
exec "$(dirname "$0")/run.sh" --scenarios small "$@"
