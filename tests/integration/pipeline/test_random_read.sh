#!/usr/bin/env bash
# A random read's chunk is written through the page cache (PC_FETCH_RANDOM,
# net/chunk_rx.c): the reader asked for 64 KiB of it and will ask for the
# rest in any order, which must not each be a read of the disk.  A
# sequential reader's chunk bypasses it (O_DIRECT), as every large chunk
# did before: the kernel's read-ahead and the chunks kept in memory serve
# that reader.  Looked at with fincore on the chunk files in the cache.
# Whether a first read is random depends on the mount's read-ahead
# (fs/read.c: reorder_bytes).
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup
# A cache on tmpfs keeps every chunk in memory anyway (no O_DIRECT).
case $(stat -f -c %T "$PC_TMP") in
tmpfs | ramfs) echo "skipped: $PC_TMP is on $(stat -f -c %T "$PC_TMP")"; exit 77 ;;
esac

# The mount's read-ahead is 960K here, so that a first read counts as
# random from twice one request (1.875 MiB) on, where the default's
# 3840K would still take it for sequential up to 7.5 MiB: the random
# read's chunk starts in between (2 to 7 MiB), at least 512 KiB long (a
# chunk under 256 KiB goes through the page cache anyway), and is followed
# by one of 512 KiB or more (the sequential read's).  Chunk boundaries
# depend on the random data: up to 5 tries to get such a pair.
mkdir src
for _ in 1 2 3 4 5; do
	rm -rf repo
	pc_random src/r.bin 16M # chunks of 1 MiB on average
	pc_publish src repo
	# "offset length hash" of each chunk of r.bin, from the manifest.
	awk -v p=r.bin '$1 == "F" && $6 == p { n = $5; next }
		n > 0 { print off, $2, $1; off += $2; n-- }' off=0 \
		"$(manifest_path repo)" >chunks
	read -r off len off2 len2 < <(awk 'NR > 1 &&
		prev_off >= 2097152 && prev_off < 7340032 &&
		prev_len >= 524288 && $2 >= 524288 {
			print prev_off, prev_len, $1, $2; exit }
		{ prev_off = $1; prev_len = $2 }' chunks) || true
	[ -z "${off2:-}" ] || break
done
[ -n "${off2:-}" ] || fail "r.bin has no two chunks as needed: $(cat chunks)"
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo -o read_ahead=960K

# resident OFFSET: the bytes of r.bin's chunk at OFFSET that are in the
# page cache, once its file is in the cache (waits up to 10 s).
resident() {
	local hash file i
	hash=$(awk -v o="$1" '$1 == o { print $3 }' chunks)
	file="cache/chunks/${hash:0:2}/$hash"
	for i in $(seq 100); do
		[ -f "$file" ] && break
		sleep 0.1
	done
	[ -f "$file" ] || fail "chunk $hash is not in the cache"
	fincore -b -n -o RES "$file" | tr -d " "
}

# read.py FILE SRC: one open of FILE with POSIX_FADV_RANDOM (no read-ahead
# by the kernel), reading as stdin says: "at OFF" reads 64 KiB at OFF;
# "pages FROM TO" every whole page within [FROM, TO), 64 KiB at a time.
# Answers each line with "ok", or where the bytes differ from SRC's.
cat >read.py <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
want = open(sys.argv[2], "rb")
def check(off, size):
    got = os.pread(fd, size, off)
    want.seek(off)
    if got != want.read(size):
        print("differ at", off, flush=True)
        sys.exit(1)
page = 4096
for line in sys.stdin:
    what, *args = line.split()
    if what == "at":
        check(int(args[0]), 65536)
    else:
        lo, hi = map(int, args)
        start, end = (lo + page - 1) // page * page, hi // page * page
        for off in range(start, end, 65536):
            check(off, min(65536, end - off))
    print("ok", flush=True)
PY
coproc reader { python3 read.py mnt/r.bin src/r.bin; }
# Copies: bash drops the coproc's variables once it has reaped it.
reader_pid=$reader_PID
pc_on_exit "kill $reader_pid 2>/dev/null || true"
exec {to_reader}>&"${reader[1]}" {from_reader}<&"${reader[0]}"
exec {reader[1]}>&- {reader[0]}<&-
# ask WHAT: one request to the reader, which must answer "ok".
ask() {
	local line
	echo "$*" >&"$to_reader"
	read -r -t 60 line <&"$from_reader" || fail "no answer from the reader to: $*"
	assert_eq ok "$line" "$*"
}

# The random read: 64 KiB in the middle of the chunk, nothing cached.
ask at $(((off + len / 2) / 4096 * 4096))
got=$(resident "$off")
[ "$got" -ge $((len - 4096)) ] ||
	fail "$got bytes of the random read's chunk ($len) in the page cache"
ask pages "$off" $((off + len))

# The next chunk, from its first page on: the READ goes on from the chunk
# read last (the page holds that chunk's end): a sequential read.
ask at $((off2 / 4096 * 4096))
got=$(resident "$off2")
[ "$got" -le 4096 ] ||
	fail "$got bytes of the sequential read's chunk in the page cache"
ask pages "$off2" $((off2 + len2))
exec {to_reader}>&-
wait "$reader_pid" || fail "the reader failed"
assert_file_same src/r.bin mnt/r.bin
echo "ok"
