#!/usr/bin/env bash
# Live-collection throughput against the loopback fake (crates/azir-azure/examples/collect_bench.rs):
# Graph sign-ins under the identity-reports limit (5 requests / 10 s, sliding window, enforced by
# the fake with 429 + Retry-After; 1,000-record pages, so 500 records/s is the ceiling) and the
# Activity Log with no limit. Usage: bench/collect_graph.sh [GRAPH_SECONDS] [ACTIVITY_RECORDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -p azir-azure --features fake --example collect_bench -- "${1:-40}" "${2:-200000}"
