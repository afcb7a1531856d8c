#!/usr/bin/env bash
# The tree's index stays in the daemon's memory map (store/warm.c): after
# the page cache is dropped, looking up every name of a version just
# installed reads nothing from the disk, and nor do lookups after a group
# commit rewrote the pages they start from.  (LMDB writes its pages with pwrite: without the
# warm-up they are in no process's map, `drop_caches` drops them, and each
# cold lookup waited for three or four page reads: 0.2 ms of a small
# file's first byte.)  The pages a lookup starts from, which every group
# commit of the chunk index rewrites, are kept mapped too.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

# ~3,000 names: an index of a few hundred KiB.
mkdir src
python3 - src <<'PY'
import os, sys
for d in range(12):
    folder = os.path.join(sys.argv[1], "dir-%02d" % d)
    os.makedirs(folder)
    for i in range(250):
        with open(os.path.join(folder, "file-with-a-longer-name-%04d" % i), "w") as f:
            f.write("%d/%d\n" % (d, i))
PY
pc_publish src repo
pc_nginx_start "$PC_TMP" ""
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" \
	-o mirror="$NGINX_URL/repo" -o trusted_key="$PC_TMP/key.pub"

names() { (cd "$1" && find . -type f | sort); }

# Installed (nothing looked up yet: a lookup would map the pages it
# reads, warm-up or not), and the warm-up after it done.
for _ in $(seq 200); do
	grep -q "version 1 installed" "$PC_DAEMON_LOG" && break
	sleep 0.05
done
grep -q "version 1 installed" "$PC_DAEMON_LOG" ||
	fail "version 1 not installed in 10 s"
sleep 1

# Bytes of the index in the page cache: after drop_caches, only what is
# in some process's map (the daemon's).  A lookup that needs a page that
# is not makes the kernel read it from the disk (with read-ahead around
# it), and the figure grows.  (Not the daemon's major faults: one fault's
# read-ahead brings in most of an index this small; nor /proc/PID/io's
# read_bytes: a group commit's fdatasync reads the file system's bitmaps
# back after drop_caches, which is no lookup's doing.)
index_cached() { fincore -b -n -o RES cache/index/data.mdb; }
index_kib=$(du -k cache/index/data.mdb | cut -f1)
sync
echo 3 >/proc/sys/vm/drop_caches
before=$(index_cached)
assert_eq "$(names src)" "$(names mnt)" "the tree's names, page cache cold"
stat mnt/dir-*/* >/dev/null
after=$(index_cached)
echo "index ${index_kib} KiB, ${before} bytes of it in memory after" \
	"drop_caches; every lookup read $((after - before)) bytes more"
assert_eq 0 $((after - before)) "bytes of the index read from the disk"

# A chunk fetched and committed: the group commit rewrote the pages every
# lookup starts from (LMDB's catalog, the meta database).  Every code
# path ran above.
assert_eq "0/0" "$(cat mnt/dir-00/file-with-a-longer-name-0000)" \
	"the first file"
sleep 1.5 # the group commit (at most a second) and the warm-up after it
sync
echo 3 >/proc/sys/vm/drop_caches
before=$(index_cached)
stat mnt/dir-07/file-with-a-longer-name-0123 >/dev/null
after=$(index_cached)
echo "a lookup after a group commit read $((after - before)) bytes"
assert_eq 0 $((after - before)) "bytes of the index read after a commit"
echo "ok"
