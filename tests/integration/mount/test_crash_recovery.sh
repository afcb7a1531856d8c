#!/usr/bin/env bash
# kill -9 during a large fetch, restart: no partial chunk is ever served,
# tmp/ is empty after start-up, index and files agree, and the file reads
# back correct.
#
# The mirror holds every chunk's body after its first 64 KiB until the
# test says so (lib/slow_mirror.py), so the kill always lands on
# downloads in flight.  (It used to race a rate-limited nginx and poll
# tmp/ for a moment that a loaded CI machine could miss: "no download in
# flight to interrupt".)
set -eu
. "$(dirname "$0")/fixture.sh"
. "$(dirname "$0")/../lib/slow_mirror.sh"
pc_setup

mkdir src
pc_random src/large.bin 24M
pc_publish src repo
pc_slow_mirror_start "$PC_TMP/repo"

mount_repo() {
	pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
		-o trusted_key="$PC_TMP/key.pub"
}

mount_repo
pc_slow_mirror_hold "^/chunks/"
cat mnt/large.bin >/dev/null 2>&1 &
reader=$!
pc_slow_mirror_wait_held 30
# Held: the downloads' first bytes are in memory (a chunk is written to
# tmp/ only once verified).  What a kill during such a write leaves in
# tmp/ is planted next to them: start-up must clean it.
pc_daemon_kill9
wait $reader 2>/dev/null || true
victim=$(manifest_file_chunks "$(manifest_path repo)" large.bin | sed -n 2p)
head -c 65536 "repo/chunks/${victim:0:2}/$victim" \
	>"cache/tmp/$victim.00000000000000ff"
pc_slow_mirror_release

mount_repo
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
