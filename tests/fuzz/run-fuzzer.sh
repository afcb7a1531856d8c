#!/bin/sh
# run-fuzzer.sh FUZZER SEED_DIR SCRATCH_DIR [libFuzzer options...]
# Runs FUZZER on a fresh copy of the committed seed corpus, so that the
# inputs it discovers never land in the source tree.
set -eu
fuzzer=$1 seeds=$2 scratch=$3
shift 3
rm -rf "$scratch"
mkdir -p "$scratch"
cp "$seeds"/* "$scratch"/
exec "$fuzzer" "$@" "$scratch"
