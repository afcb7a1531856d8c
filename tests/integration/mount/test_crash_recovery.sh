#!/usr/bin/env bash
# kill -9 during a large fetch, restart: no partial chunk is ever served,
# tmp/ is empty after start-up, index and files agree, and the file reads
# back correct.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
pc_random src/large.bin 24M
pc_publish src repo
# A slow mirror, so that the daemon is killed in the middle of downloads.
pc_nginx_start "$PC_TMP/repo" "limit_rate 4m;"
pc_mount_repo

cat mnt/large.bin >/dev/null 2>&1 &
reader=$!
seen=""
for i in $(seq 100); do
	# Seen once is enough: a download may end between two listings.
	[ -n "$(ls cache/tmp 2>/dev/null)" ] && seen=yes && break
	sleep 0.05
done
[ -n "$seen" ] || fail "no download in flight to interrupt"
sleep 1
pc_daemon_kill9
wait $reader 2>/dev/null || true

pc_mount_repo
assert_eq "" "$(ls cache/tmp)" "tmp/ after restart"
assert_file_same src/large.bin mnt/large.bin
# Every chunk file is intact and indexed.
for f in cache/chunks/*/*; do
	assert_eq "$(basename "$f")" "$(sha256sum <"$f" | cut -d' ' -f1)" "chunk file $f"
done
files=$(find cache/chunks -type f | wc -l)
sleep 1.5 # the index is flushed every second
stats=$(pc_ctl stats --json)
assert_eq "$files" "$(pc_json_get "$stats" chunks)" "indexed chunks vs files"

# A chunk file damaged on disk after it was cached (here: cut short) is
# never served: it is discarded and fetched again.
victim=$(manifest_file_chunks "$(manifest_path repo)" large.bin | sed -n 3p)
truncate -s 1000 "cache/chunks/${victim:0:2}/$victim"
echo 3 >/proc/sys/vm/drop_caches
assert_file_same src/large.bin mnt/large.bin
assert_eq "$victim" "$(sha256sum <"cache/chunks/${victim:0:2}/$victim" | cut -d' ' -f1)" \
	"the damaged chunk fetched again"
assert_contains "$(cat "$PC_DAEMON_LOG")" "wrong length" "the daemon says why"
