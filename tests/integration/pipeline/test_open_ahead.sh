#!/usr/bin/env bash
# An open starts the fetch of the file's first chunk (fs/read.c:
# open_ahead), before the first read asks: a process that opens a file and
# reads nothing yet has made the daemon fetch exactly that chunk, no more.
# The open keeps nothing open for the read: a cached first chunk that the
# store removes between the open and the read (here `peercachectl verify`,
# after damage on the disk) is fetched again, and the read gets the right
# bytes, never the removed file's.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir src
pc_random src/a.bin 6M # two chunks at least (at most 4 MiB each)
pc_random src/b.bin 10M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
first=$(manifest_file_chunks "$(manifest_path repo)" a.bin | head -n 1)
[ "$(manifest_file_chunks "$(manifest_path repo)" a.bin | wc -l)" -ge 2 ] ||
	fail "a.bin has one chunk"

chunk_gets() { pc_nginx_count "GET /chunks/.* 200"; }

# Opened, not read: chunk 0 only.
before=$(chunk_gets)
python3 - mnt/a.bin <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
time.sleep(1.5)
os.close(fd)
PY
assert_eq 1 "$(pc_nginx_count "GET /chunks/${first:0:2}/$first 200")" \
	"the first chunk fetched by the open"
assert_eq $((before + 1)) "$(chunk_gets)" "chunks fetched by an open alone"

# Cached, opened, removed by verify, then read: the right bytes, fetched
# again.
assert_file_same src/a.bin mnt/a.bin
# More than the chunks the daemon keeps in memory (8 MiB): a.bin's are
# read from their files again.
assert_file_same src/b.bin mnt/b.bin
sleep 1.2 # a flush: the chunks are in the index, verify sees them
file="$PC_TMP/cache/chunks/${first:0:2}/$first"
[ -f "$file" ] || fail "chunk $first is not in the cache"
echo 3 >/proc/sys/vm/drop_caches # the next read reaches the daemon
mkfifo go
python3 - mnt/a.bin src/a.bin go >read.out <<'PY' &
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[3]).read()  # the test damages and verifies meanwhile
got = os.read(fd, 65536)
want = open(sys.argv[2], "rb").read(65536)
print("same" if got == want else "differ")
PY
reader=$!
sleep 0.5 # opened
pc_flip_byte "$file" 1000
expect_status 5 "1 bad" "verify finds the damaged chunk" pc_ctl verify
[ -e "$file" ] && fail "the damaged chunk file is still there"
echo >go
wait $reader || fail "the reader failed"
assert_eq same "$(cat read.out)" "the first read after the removal"
assert_eq 2 "$(pc_nginx_count "GET /chunks/${first:0:2}/$first 200")" \
	"the removed chunk fetched again"
echo "ok"
