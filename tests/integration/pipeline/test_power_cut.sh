#!/usr/bin/env bash
# The cache survives a power cut (issue 11): with the cache on pc-crashfs
# (tests/helpers/crashfs: names and sizes survive a cut, data only once
# fsynced, the rest reads as zeros), the daemon fetches and commits, the
# power is cut and the daemon killed with SIGKILL, and after a restart
# every read is right or fetched again, never a wrong, short or zeroed
# byte.  Three moments:
#   1. after the sync points: what was synced and indexed survives, and
#      the restart re-hashes nothing (no cost of a kill -9 at every start);
#   2. chunks renamed in but not synced yet: the restart finds them
#      unindexed, re-hashes them and drops the zeroed ones;
#   3. a kill -9 alone (no cut) leaves such chunks with their bytes in
#      the page cache: the restart re-hashes and indexes them, and must
#      sync them first, or a cut after that serves zeros;
#   4. a chunk fetched again while an index entry still names it (a purge
#      between its unlink and its commit) must be synced before it goes
#      in under that name.
# A commit path that indexes chunks without syncing them first fails 1;
# MDB_NOMETASYNC (a cut undoes a purge's last commit) fails 2; a
# reconcile that indexes without syncing fails 3; renaming in unsynced
# under a live entry fails 4.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
. "$PC_SRC/tests/helpers/crashfs/crashfs.sh"
pc_setup

mkdir src
pc_random src/big.bin 48M
for i in $(seq -w 1 20); do
	pc_random "src/small$i.bin" $((20 + 10 * 10#$i))K
done
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
crashfs_mount "$PC_TMP/backing" "$PC_TMP/cachefs"
CACHE=$PC_TMP/cachefs/cache

start() {
	pc_daemon_start "$PC_TMP/mnt" "$CACHE" -o mirror="$NGINX_URL" \
		-o trusted_key="$PC_TMP/key.pub" -o fetch_timeout=20s
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# Every file of the tree reads right through the mount.
check_all() {
	local f
	drop_caches
	for f in src/*.bin; do
		cmp "$f" "mnt/$(basename "$f")" || fail "$1: $(basename "$f") differs"
	done
}

# How many chunk files the last start re-hashed and indexed.
reindexed() {
	grep -oE 'indexed [0-9]+ chunk files' "$PC_DAEMON_LOG" | tail -1 |
		grep -oE '[0-9]+' || echo 0
}

# Stops the daemon (SIGSTOP, then SIGKILL) at a moment when chunk files
# are in the cache whose data is not durable yet (their backing file is
# still empty), while big.bin is being read.  Prints how many.
kill_with_unsynced() {
	local reader n=0 deadline=$((SECONDS + 20)) f
	drop_caches
	cat mnt/big.bin >/dev/null 2>&1 &
	reader=$!
	while [ "$n" -eq 0 ]; do
		[ $SECONDS -lt $deadline ] || fail "never caught an unsynced chunk"
		sleep 0.02
		kill -STOP "$PC_DAEMON_PID"
		for f in "$PC_TMP"/backing/cache/chunks/*/*; do
			[ -f "$f" ] && [ ! -s "$f" ] && n=$((n + 1))
		done
		[ "$n" -gt 0 ] || kill -CONT "$PC_DAEMON_PID"
	done
	pc_daemon_kill9
	wait "$reader" 2>/dev/null || true
	echo "$n"
}

# 1. After the sync points: a kill -9 costs no re-hash at the next start,
# and a power cut loses nothing (LMDB may lose its last transaction, whose
# chunks are then re-hashed: their data was synced before it).
start
check_all "first read"
sleep 1 # several sync points (every 50 ms)
pc_daemon_kill9
start
assert_eq 0 "$(reindexed)" "chunk files re-hashed after a kill -9"
pc_daemon_kill9
crashfs_cut
start
total=$(find "$CACHE/chunks" -type f | wc -l)
[ "$(reindexed)" -lt $((total / 2)) ] ||
	fail "re-hashed $(reindexed) of $total chunk files after a cut"
gets=$(pc_nginx_count 'GET /chunks/')
check_all "after a cut, synced"
assert_eq "$gets" "$(pc_nginx_count 'GET /chunks/')" \
	"chunk GETs after a cut that should have lost nothing"

# 2. A power cut while chunks wait for their sync point.
pc_ctl purge --all >/dev/null
unsynced=$(kill_with_unsynced)
crashfs_cut
start
[ "$(reindexed)" -le "$unsynced" ] ||
	fail "re-hashed $(reindexed) chunk files, only $unsynced were unsynced"
check_all "after a cut, unsynced"
grep -q 'removed chunks/.*content does not match its name' "$PC_DAEMON_LOG" ||
	fail "no zeroed chunk file was found and removed"

# 3. A kill -9 alone, a restart, then a cut.
pc_ctl purge --all >/dev/null
unsynced=$(kill_with_unsynced)
start
[ "$(reindexed)" -ge 1 ] ||
	fail "the restart did not index the $unsynced unsynced chunk files"
pc_daemon_kill9
crashfs_cut
start
check_all "after a kill -9, a restart and a cut"

# 4. An index entry whose file is gone (a purge caught between its unlink
# and its commit, or a file removed by hand): the chunk fetched again is
# synced before it goes in under that entry.
sleep 1 # indexed
victim=$(manifest_file_chunks "$(manifest_path repo)" big.bin | tail -1)
rm "$CACHE/chunks/${victim:0:2}/$victim"
drop_caches
cat mnt/big.bin >/dev/null # the victim, the last chunk, is fetched last
# The reader had the bytes from memory; the store renames them in next.
deadline=$((SECONDS + 10))
until [ -e "$CACHE/chunks/${victim:0:2}/$victim" ]; do
	[ $SECONDS -lt $deadline ] || fail "the chunk fetched again never went in"
	sleep 0.005
done
kill -STOP "$PC_DAEMON_PID"
[ -s "$PC_TMP/backing/cache/chunks/${victim:0:2}/$victim" ] ||
	fail "a chunk went in unsynced under an old index entry"
pc_daemon_kill9
crashfs_cut
start
check_all "after a chunk fetched again under an old entry and a cut"
echo "ok"
