#!/usr/bin/env bash
# Fuzz regression run, for CI and before a commit: for every fuzz target, replay its committed
# corpus (seeds + `regression-*` inputs of past crashes), then fuzz it for a short bounded time.
# Exits non-zero if any target crashes (panic, failed invariant, sanitizer report, timeout).
#
#   fuzz/regress.sh                      # all targets, 30 s of fuzzing each
#   FUZZ_SECONDS=0 fuzz/regress.sh       # replay the corpora only
#   FUZZ_TARGETS="chunked_decode proxy_protocol" FUZZ_SECONDS=120 fuzz/regress.sh
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); RUSTC_BOOTSTRAP=1 lets a stable toolchain
# accept the nightly flags cargo-fuzz passes. Inputs found by the bounded run go to a scratch
# corpus, not to fuzz/corpus/ (libFuzzer writes into the first corpus directory it is given);
# a crashing input is saved under fuzz/artifacts/<target>/ — minimise it with
# `cargo fuzz tmin <target> <file>` and commit it as fuzz/corpus/<target>/regression-<name>.
set -uo pipefail

cd "$(dirname "$0")"
export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-30}"
per_input_timeout="${FUZZ_TIMEOUT:-25}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "regress.sh: cargo-fuzz is not installed (cargo install cargo-fuzz)" >&2
    exit 2
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
if [ -z "$targets" ]; then
    echo "regress.sh: no fuzz targets found" >&2
    exit 2
fi

# One build up front (all targets), so the per-target runs below only link-check.
cargo fuzz build || exit 1

scratch="$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

failed=()
for target in $targets; do
    corpus="corpus/$target"
    mkdir -p "$corpus"
    echo "=== $target: replaying $(find "$corpus" -type f | wc -l) corpus inputs"
    if ! cargo fuzz run "$target" "$corpus" -- -runs=0 -timeout="$per_input_timeout"; then
        echo "=== $target: FAILED while replaying $corpus" >&2
        failed+=("$target (corpus replay)")
        continue
    fi
    if [ "$seconds" -gt 0 ]; then
        echo "=== $target: fuzzing for ${seconds}s"
        mkdir -p "$scratch/$target"
        if ! cargo fuzz run "$target" "$scratch/$target" "$corpus" -- \
            -max_total_time="$seconds" -timeout="$per_input_timeout" -print_final_stats=1; then
            echo "=== $target: FAILED while fuzzing; the input is in fuzz/artifacts/$target/" >&2
            failed+=("$target (fuzzing)")
        fi
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "regress.sh: ${#failed[@]} failure(s):" >&2
    printf '  %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "regress.sh: all targets passed"
