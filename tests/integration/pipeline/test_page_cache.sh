#!/usr/bin/env bash
# A cold read of large chunks (issue 11): nothing unverified is written to
# the cache's disk, the chunk files bypass the page cache (O_DIRECT: their
# readers had the bytes from memory, and the mount's page cache holds them
# for the next reader), and the reads that come for a chunk soon after its
# fetch are answered from memory, not read back from the disk.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/slow_mirror.sh"
pc_setup

mkdir src
# Smaller than the chunks kept in memory (NET_RECENT_BYTES, 8 MiB): every
# read is answered from memory, none from the disk.
pc_random src/big.bin 6M
pc_publish src repo
pc_slow_mirror_start "$PC_TMP/repo"
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o quota=1G

# Every chunk's body held after its first 64 KiB: downloads in flight, and
# not a byte of them in tmp/ (a chunk is written once it is verified).
pc_slow_mirror_hold "^/chunks/"
cat mnt/big.bin >/dev/null 2>&1 &
reader=$!
pc_slow_mirror_wait_held 30
sleep 0.3
assert_eq "" "$(ls cache/tmp)" "tmp/ while the downloads are held"
pc_slow_mirror_release
wait $reader || fail "the cold read failed"
assert_file_same src/big.bin mnt/big.bin

# The chunk files (all of at least 256 KiB here) are not in the page
# cache: at most the last, partial block of each was written through it.
# (Looked at before anything reads them.)
files=0
resident=0
for f in cache/chunks/*/*; do
	[ "$(stat -c %s "$f")" -ge $((256 * 1024)) ] || continue
	files=$((files + 1))
	resident=$((resident + $(fincore -b -n -o RES "$f")))
done
[ "$files" -ge 1 ] || fail "no large chunk file"
[ "$resident" -le $((files * 4096)) ] ||
	fail "$resident bytes of $files chunk files in the page cache"
# ... and they are on the disk, whole.
for f in cache/chunks/*/*; do
	assert_eq "$(basename "$f")" "$(pc_sha "$f")" "chunk file $f"
done

# Reads of the file that reach the daemon again (O_DIRECT on the mount:
# past its page cache) come from the chunks kept in memory: the daemon
# reads nothing from the disk for them.
read_bytes() { awk '/^read_bytes/ { print $2 }' "/proc/$PC_DAEMON_PID/io"; }
before=$(read_bytes)
cmp <(dd if=mnt/big.bin bs=1M iflag=direct 2>/dev/null) \
	<(dd if=src/big.bin bs=1M 2>/dev/null) ||
	fail "the direct re-read differs"
after=$(read_bytes)
[ $((after - before)) -lt $((1024 * 1024)) ] ||
	fail "the daemon read $((after - before)) bytes from the disk"
echo "ok"
