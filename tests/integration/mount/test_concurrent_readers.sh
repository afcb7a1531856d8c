#!/usr/bin/env bash
# 16 processes read the same uncached multi-chunk file at once: every one
# gets the right bytes, and nginx serves each chunk exactly once (single
# flight).
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
pc_random src/package.bin 24M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo -o prefetch=1

want=$(pc_sha src/package.bin)
pids=()
for i in $(seq 16); do
	sha256sum <mnt/package.bin >"sum.$i" &
	pids+=($!)
done
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a reader failed"
done
for i in $(seq 16); do
	assert_eq "$want" "$(cut -d' ' -f1 "sum.$i")" "reader $i"
done
chunks=$(manifest_file_chunks "$(manifest_path repo)" package.bin | wc -l)
[ "$chunks" -ge 8 ] || fail "expected a multi-chunk file, got $chunks chunks"
gets=$(awk '$1 == "GET" && $2 ~ /^\/chunks\// && $3 == 200 { print $2 }' "$NGINX_LOG")
manifest=$(head_field repo manifest)
chunk_gets=$(echo "$gets" | grep -vc "$manifest" || true)
assert_eq "$chunks" "$chunk_gets" "chunk downloads for 16 readers"
assert_eq "" "$(echo "$gets" | sort | uniq -d)" "chunks downloaded twice"
