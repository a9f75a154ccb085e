#!/usr/bin/env bash
# `azir disk hash` (MD5 + SHA-1 + SHA-256 in one read) against md5sum and sha256sum run one
# after another on the same raw image, in one run. Usage: bench/disk_hash.sh [SIZE_MiB] [AZIR]
set -euo pipefail
size_mb="${1:-2048}"
azir="${2:-${CARGO_TARGET_DIR:-target}/release/azir}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
img="$work/disk.raw"
# Incompressible content, so no layer below can shortcut the reads.
head -c "$((size_mb * 1024 * 1024))" /dev/urandom > "$img"
cat "$img" > /dev/null   # warm the page cache: every tool reads from memory
t() { local s e; s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
for round in 1 2 3; do
  md5=$(t md5sum "$img")
  sha=$(t sha256sum "$img")
  az=$(t "$azir" --quiet disk hash "$img")
  echo "round=$round size_mib=$size_mb md5sum_s=$md5 sha256sum_s=$sha azir_all_three_s=$az md5sum_MBps=$(echo "$size_mb*1.048576/$md5" | bc) azir_MBps=$(echo "$size_mb*1.048576/$az" | bc) ratio_vs_md5sum=$(echo "scale=2; $md5/$az" | bc)"
done
