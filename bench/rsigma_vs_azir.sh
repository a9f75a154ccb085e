#!/usr/bin/env bash
# azir-detect against rsigma (rsigma-eval 0.23) on the same events and rules, in one run:
# events/s of each engine, one thread and all threads, plus ratios (bench/rsigma-peer/src/bin/bench.rs
# says what each engine gets and what is timed). Rules: the SigmaHQ cloud folder (../shared/corpus)
# plus azir's rules/.
#
# Usage: bench/rsigma_vs_azir.sh [EVENTS.jsonl] [--rounds N] [--rules DIR]...
#   EVENTS.jsonl: `azir timeline --format jsonl` output. Without it, the demo case's timeline is
#   made once (with `azir demo`) under ${TMPDIR:-/tmp}/azir-rsigma-bench and reused.
#   AZIR=path/to/azir picks the azir binary for that (default: azir on PATH, else a built one).
#
# bench/rsigma-peer is a standalone crate (rsigma needs Rust 1.95; the workspace promises 1.94),
# built here in release into $CARGO_TARGET_DIR (default $HOME/.cache/azir-release).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/azir-release}"
CLOUD="${AZIR_SIGMA_CLOUD:-../shared/corpus/sigma/rules/cloud}"
if [ ! -d "$CLOUD" ]; then
  echo "rsigma_vs_azir: the SigmaHQ cloud rules are missing: $CLOUD (set AZIR_SIGMA_CLOUD)" >&2
  exit 1
fi
AZIR_SIGMA_CLOUD="$(cd "$CLOUD" && pwd)"
export AZIR_SIGMA_CLOUD

events="${1:-}"
if [ -n "$events" ] && [ "${events#-}" = "$events" ]; then
  shift
else
  work="${TMPDIR:-/tmp}/azir-rsigma-bench"
  events="$work/events.jsonl"
  if [ ! -s "$events" ]; then
    azir="${AZIR:-}"
    if [ -z "$azir" ]; then
      for c in "$(command -v azir || true)" "$CARGO_TARGET_DIR/release/azir" "$HOME/.cache/azir-target/release/azir" \
        "$HOME/.cache/azir-target/debug/azir"; do
        if [ -n "$c" ] && [ -x "$c" ]; then
          azir="$c"
          break
        fi
      done
    fi
    if [ -z "$azir" ]; then
      echo "rsigma_vs_azir: no azir binary to make the demo events: build it or set AZIR, or pass EVENTS.jsonl" >&2
      exit 1
    fi
    rm -rf "$work"
    mkdir -p "$work"
    "$azir" --quiet demo "$work/demo"
    "$azir" --quiet timeline --case "$work/demo/case" --format jsonl > "$events"
  fi
fi
[ -s "$events" ] || { echo "rsigma_vs_azir: no events in $events" >&2; exit 1; }

cargo build --release --locked --quiet --manifest-path bench/rsigma-peer/Cargo.toml --bin bench
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
"$CARGO_TARGET_DIR/release/bench" "$events" "$@"
