#!/usr/bin/env bash
# A full disk under the cache: a read that needs space fails cleanly with
# EIO and a clear log line, nothing half-written is kept or indexed, what
# is cached still reads, and once space frees the same read works.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir src
pc_random src/small.bin 64K
pc_random src/big.bin 6M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

# The cache on a 24 MiB tmpfs of its own.
mkdir cache
mount -t tmpfs -o size=24M pc-enospc "$PC_TMP/cache"
pc_on_exit "umount -l $PC_TMP/cache"

pc_mount_repo -o fetch_timeout=10s
assert_file_same src/small.bin mnt/small.bin

# Leave about 1 MiB free: big.bin's chunks cannot fit, and nothing the
# store may purge (small.bin's chunk is 64 KiB) makes room.
free_kib=$(df --output=avail -k "$PC_TMP/cache" | tail -1)
fallocate -l $(((free_kib - 1024) * 1024)) "$PC_TMP/cache/filler"
start=$SECONDS
if out=$(cat mnt/big.bin 2>&1 >/dev/null); then
	fail "big.bin read with a full disk"
fi
assert_contains "$out" "Input/output error" "the reader's error"
[ $((SECONDS - start)) -le 15 ] || fail "the failing read took $((SECONDS - start)) s"
grep -qiE 'no space left on device' "$PC_DAEMON_LOG" ||
	fail "no 'No space left on device' in the daemon log"

# Nothing partial in tmp/ once the fetches still running (read-ahead of the
# same file) have failed too; nothing wrong in chunks/.
deadline=$((SECONDS + 15))
while [ -n "$(ls -A "$PC_TMP/cache/tmp")" ]; do
	[ $SECONDS -lt $deadline ] ||
		fail "tmp/ not empty 15 s after the failure: $(ls "$PC_TMP/cache/tmp")"
	sleep 0.2
done
for f in "$PC_TMP"/cache/chunks/*/*; do
	[ "$(pc_sha "$f")" = "$(basename "$f")" ] || fail "$f does not hash to its name"
done

# What is cached still reads, from the cache.
gets=$(pc_nginx_count 'GET /chunks/')
sync
echo 3 >/proc/sys/vm/drop_caches
assert_file_same src/small.bin mnt/small.bin
assert_eq "$gets" "$(pc_nginx_count 'GET /chunks/')" "chunk GETs for a cached file"

# Space frees: the same read works.
rm "$PC_TMP/cache/filler"
# A failed chunk is not retried at once (failure memory): wait it out.
deadline=$((SECONDS + 30))
until cmp -s src/big.bin mnt/big.bin; do
	[ $SECONDS -lt $deadline ] || fail "big.bin still unreadable 30 s after space freed"
	sleep 1
done

# After a restart the index and the files agree: everything reads, from
# the cache alone.
pc_daemon_stop
pc_mount_repo -o fetch_timeout=10s
gets=$(pc_nginx_count 'GET /chunks/')
assert_file_same src/small.bin mnt/small.bin
assert_file_same src/big.bin mnt/big.bin
assert_eq "$gets" "$(pc_nginx_count 'GET /chunks/')" "chunk GETs after the restart"
echo "ok"
