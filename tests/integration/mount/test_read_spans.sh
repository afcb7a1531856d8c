#!/usr/bin/env bash
# Reads of many sizes and offsets, many at once, through a fresh cache: 8
# readers of O_DIRECT preads (each reaches the daemon, which the kernel
# splits into requests of at most max_read and sends concurrently) across
# chunk boundaries and past the end get the source's bytes, as parked reads
# answered by the replier threads.  Read requests are capped at 960 KiB
# (max_read) so that libfuse can splice every reply into a 1 MiB pipe: a
# file served from the cache is not read by the daemon through read/pread
# (it would be, in full, if libfuse fell back to copying); the bdi's
# readahead is four of them, which the kernel sends at once.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
pc_random src/big.bin 20M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo

# The request size: max_read in the mount options; the bdi's readahead,
# four requests.
assert_contains "$(grep " $PC_TMP/mnt fuse" /proc/mounts)" "max_read=983040" \
	"max_read of the mount"
dev=$(awk -v m="$PC_TMP/mnt" '$5 == m { print $3 }' /proc/self/mountinfo)
[ -n "$dev" ] || fail "no mountinfo line for $PC_TMP/mnt"
assert_eq 3840 "$(cat "/sys/class/bdi/$dev/read_ahead_kb")" "bdi read_ahead_kb"

# Chunk boundaries of big.bin (chunk lines are "<hex> <length>").
awk '$1 == "F" && $6 == "big.bin" { n = $5; next }
	n > 0 { off += $2; print off; n-- }' "$(manifest_path repo)" >bounds
[ "$(wc -l <bounds)" -ge 6 ] || fail "expected a file of several chunks"

python3 - src/big.bin mnt/big.bin bounds <<'PY' || fail "O_DIRECT reads through the mount"
import mmap, os, random, sys, threading

src_path, mnt_path, bounds_path = sys.argv[1:4]
with open(src_path, "rb") as f:
    want = f.read()
size = len(want)
bounds = [int(x) for x in open(bounds_path)]
errors = []

def reader(seed):
    rnd = random.Random(seed)
    fd = os.open(mnt_path, os.O_RDONLY | os.O_DIRECT)
    buf = mmap.mmap(-1, 4 << 20)  # page-aligned, as O_DIRECT may want
    try:
        for _ in range(24):
            if rnd.random() < 0.5:  # straddle a chunk boundary
                off = max(0, rnd.choice(bounds) - rnd.randrange(1, 1 << 20))
            else:
                off = rnd.randrange(0, size + (1 << 20))
            off &= ~4095
            length = rnd.choice([4096, 960 << 10, 1 << 20, 3 << 20,
                                 rnd.randrange(1, 4 << 20) & ~4095 or 4096])
            view = memoryview(buf)[:length]
            got = os.preadv(fd, [view], off)
            expect = want[off:off + length]
            if got != len(expect) or bytes(view[:got]) != expect:
                errors.append("reader %d: %d bytes at %d: got %d, %s" % (
                    seed, length, off, got,
                    "wrong bytes" if got == len(expect) else "short"))
                return
    except OSError as e:
        errors.append("reader %d: %s" % (seed, e))
    finally:
        os.close(fd)

threads = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(90)
    if t.is_alive():
        errors.append("a reader hung")
for e in errors[:10]:
    print(e, file=sys.stderr)
sys.exit(1 if errors else 0)
PY

# Everything, sequentially, through the page cache (readahead requests).
assert_file_same src/big.bin mnt/big.bin

# From the cache with the page cache cold: spliced, so the daemon's read
# and pread calls carry only FUSE request headers, not the file.
echo 3 >/proc/sys/vm/drop_caches
rchar() { awk '$1 == "rchar:" { print $2 }' "/proc/$PC_DAEMON_PID/io"; }
before=$(rchar)
assert_file_same src/big.bin mnt/big.bin
read_by_daemon=$(($(rchar) - before))
[ "$read_by_daemon" -lt $((1 << 20)) ] ||
	fail "the daemon read $read_by_daemon bytes to serve 20 MiB from its cache (replies not spliced?)"
pc_daemon_stop
