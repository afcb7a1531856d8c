#!/bin/bash
# purge.sh BUILD_DIR - how long the store takes to purge 10,000 chunks, and
# the latency of cache-hit reads of a file that stays (pinned, as an open
# file is) while the purge runs, against the same reads without a purge.
#
# The cache lives in a temporary directory under /tmp (PC_BENCH_DIR to
# choose the disk), removed afterwards.  PC_BENCH_CHUNKS and
# PC_BENCH_CHUNK_BYTES change the number and size of the purged chunks.
# Prints figures; asserts nothing about time (a benchmark is not a test).
set -eu

build=$(realpath "${1:-build}")
bench="$build/bin/pc-bench-purge"

[ -x "$bench" ] || {
	echo "purge.sh: $bench not found; build first" >&2
	exit 1
}

work=$(mktemp -d "${PC_BENCH_DIR:-/tmp}/pc-bench-purge.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$bench" "$work" "${PC_BENCH_CHUNKS:-10000}" "${PC_BENCH_CHUNK_BYTES:-1024}"
