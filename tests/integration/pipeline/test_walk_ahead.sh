#!/usr/bin/env bash
# Read-ahead across files (issue 11): a process that reads a directory's
# files in name order (the manifest's order, as xargs cat over a sorted
# list does) gets the next files fetched ahead of it, so most of its opens
# find their file cached; reading one file alone fetches that file only,
# and so does reading files out of order.  The read-ahead goes on into the
# next directories of the tree when a directory ends, so a tree of small
# directories read in order misses no more than one large directory.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

# "alone" sorts before "defs", and "cross" between them: the walk of
# defs/ never reaches the others, and that of cross/ only defs/ (read by
# then).
mkdir -p src/defs src/alone src/cross/d1 src/cross/d2 src/cross/d3
for i in $(seq -w 1 40); do
	pc_random "src/defs/f$i.bin" $((30 + 10#$i))K
	pc_random "src/alone/g$i.bin" $((30 + 10#$i))K
done
for d in 1 2 3; do
	for i in $(seq 1 8); do
		pc_random "src/cross/d$d/h$i.bin" $((20 + i))K
	done
done
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
MANIFEST=$(manifest_path repo)
pc_mount_repo

stat_of() {
	pc_json_get "$(pc_ctl stats --json)" "$1"
}

# gets DIR/PREFIX FIRST LAST: chunk GETs so far for the files
# DIR/PREFIX<FIRST>.bin to DIR/PREFIX<LAST>.bin.
gets() {
	local i n=0 id
	for i in $(seq -w "$2" "$3"); do
		id=$(manifest_file_chunks "$MANIFEST" "$1$i.bin")
		n=$((n + $(pc_nginx_count "GET /chunks/${id:0:2}/$id ")))
	done
	echo "$n"
}

# One process reads the first two files in order: the next ones are
# fetched without anybody reading them.
cat mnt/defs/f01.bin mnt/defs/f02.bin >/dev/null
sleep 1
ahead=$(gets defs/f 03 40)
echo "fetched ahead after two files: $ahead"
[ "$ahead" -ge 8 ] || fail "only $ahead files fetched ahead of the reader"
[ "$ahead" -le 32 ] || fail "$ahead files fetched ahead: more than two windows"

# The whole directory in order, by one process: nearly every open finds
# its file cached already (misses: reads that waited for a fetch).
misses=$(stat_of misses)
(cd mnt/defs && ls | xargs cat) | cmp - <(cd src/defs && ls | xargs cat) ||
	fail "the files read back wrong"
misses=$(($(stat_of misses) - misses))
echo "misses while reading 40 files in order: $misses"
[ "$misses" -le 10 ] || fail "$misses of 40 files missed: no read-ahead"
assert_eq 40 "$(gets defs/f 01 40)" "chunk GETs for 40 files (each once)"

# Across directories: the first two files of cross/d1 are enough for the
# window to go on into cross/d2 once d1 ends.
cat mnt/cross/d1/h1.bin mnt/cross/d1/h2.bin >/dev/null
sleep 1
ahead=$(gets cross/d2/h 1 8)
echo "fetched ahead in the next directory after two files: $ahead"
[ "$ahead" -ge 4 ] || fail "the read-ahead stopped at the end of the directory"

# The whole tree in order, by one process: the walk follows the reader
# from directory to directory (a walk that started again in each one would
# miss its first files there).
misses=$(stat_of misses)
(cd mnt && find cross -type f | sort | xargs cat) |
	cmp - <(cd src && find cross -type f | sort | xargs cat) ||
	fail "the files of cross/ read back wrong"
misses=$(($(stat_of misses) - misses))
echo "misses while reading 3 directories of 8 files in order: $misses"
[ "$misses" -le 3 ] || fail "$misses of 24 files missed across directories"
n=0
for d in 1 2 3; do
	n=$((n + $(gets "cross/d$d/h" 1 8)))
done
assert_eq 24 "$n" "chunk GETs for the 24 files of cross/ (each once)"

# One file alone, then files out of order: nothing else is fetched.
cat mnt/alone/g20.bin >/dev/null
cat mnt/alone/g30.bin mnt/alone/g10.bin >/dev/null
sleep 1
assert_eq 3 "$(gets alone/g 01 40)" "chunk GETs in alone/ after 3 files read"

# Cached files out of memory: the walk reads the next files' chunk files
# from the disk ahead of the reader.  defs/ is all cached; its chunk
# files' pages are dropped (POSIX_FADV_DONTNEED, which drops nothing on
# tmpfs), then a new process reads its first two files.
chunk_files() { # DIR/PREFIX FIRST LAST: those files' chunk files
	local i id
	for i in $(seq -w "$2" "$3"); do
		id=$(manifest_file_chunks "$MANIFEST" "$1$i.bin")
		echo "$PC_TMP/cache/chunks/${id:0:2}/$id"
	done
}
in_memory() { # DIR/PREFIX FIRST LAST: how many have pages in memory
	chunk_files "$@" | xargs fincore -n -o PAGES | awk '$1 > 0' | wc -l
}
if [ "$(stat -f -c %T "$PC_TMP/cache")" = tmpfs ]; then
	echo "ok (the cache is on tmpfs: no read-ahead from the disk to check)"
	exit 0
fi
command -v fincore >/dev/null || fail "fincore (util-linux-extra) is not installed"
chunk_files defs/f 01 40 | python3 -c '
import os, sys
for path in sys.stdin.read().split():
    fd = os.open(path, os.O_RDONLY)
    os.fdatasync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)'
assert_eq 0 "$(in_memory defs/f 01 40)" "chunk files of defs/ in memory after dropping them"
cat mnt/defs/f01.bin mnt/defs/f02.bin >/dev/null
for _ in $(seq 100); do # the read-ahead is not waited for: 10 s at most
	ahead=$(in_memory defs/f 03 40)
	[ "$ahead" -lt 8 ] || break
	sleep 0.1
done
echo "cached files read from the disk ahead after two files: $ahead"
[ "$ahead" -ge 8 ] || fail "only $ahead cached files read ahead of the reader"
[ "$ahead" -le 32 ] || fail "$ahead cached files read ahead: more than two windows"
assert_eq 40 "$(gets defs/f 01 40)" "chunk GETs for defs/ (nothing fetched again)"
echo "ok"
