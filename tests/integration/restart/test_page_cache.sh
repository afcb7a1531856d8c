#!/usr/bin/env bash
# The kernel's page cache of unchanged files survives a restart without
# unmount.  A file is read whole (its pages are cached: fincore), then the
# daemon restarts; the pages are still resident, and reading the file
# again sends the daemon no read at all (its hits and bytes from cache do
# not move).  As a control, the same check after a stop and a start (what
# a restart was before): the pages are gone and the read reaches the
# daemon again, so the check above can fail.
#
# The file stays mapped (and every page touched) by a process of the test
# until the control: some hosts page out page-cache pages that they find
# idle (DAMON's pageout of unmapped file pages, seen here: its regions
# are coarse, so pages read a second ago can go) and the daemon would then
# be asked again for reasons of its own.  A mapped page is not paged out
# that way, and an invalidation by the daemon would still drop it.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir src
pc_random src/f.bin 8M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
pc_restart_track

resident() { fincore --bytes --noheadings --output RES "$1" | tr -d ' '; }
stat_of() { pc_json_get "$(pc_ctl stats --json)" "$1"; }

sum=$(pc_sha src/f.bin)
assert_eq "$sum" "$(pc_sha mnt/f.bin)" "first read"
size=$(stat -c %s src/f.bin)
python3 -c '
import mmap, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
sum(m[i] for i in range(0, len(m), 4096))
print("mapped", flush=True)
time.sleep(600)' mnt/f.bin >holder.out &
holder=$!
# shellcheck disable=SC2016 # expanded at exit: empty once it is killed
pc_on_exit '[ -z "$holder" ] || kill "$holder" 2>/dev/null || true'
for _ in $(seq 100); do
	grep -qs mapped holder.out && break
	sleep 0.1
done
grep -qs mapped holder.out || fail "the file could not be mapped"
assert_eq "$size" "$(resident mnt/f.bin)" "pages cached after the first read"

pc_restart
echo "restart: pid $PC_DAEMON_PID serves; requests waited $RESTART_PAUSE_MS ms"
assert_eq "$size" "$(resident mnt/f.bin)" "pages cached after the restart"
hits=$(stat_of hits)
from_cache=$(stat_of bytes_from_cache)
assert_eq "$sum" "$(pc_sha mnt/f.bin)" "read after the restart"
assert_eq "$hits" "$(stat_of hits)" "reads the daemon answered after the restart"
assert_eq "$from_cache" "$(stat_of bytes_from_cache)" "bytes from the cache after the restart"

# The control: a stop and a start drops the pages and the read reaches
# the daemon.
kill "$holder"
wait "$holder" 2>/dev/null || true
holder=
pc_daemon_term
pc_mount_repo
[ "$(resident mnt/f.bin)" -lt "$size" ] ||
	fail "the pages survived a stop and a start: this check cannot fail"
hits=$(stat_of hits)
assert_eq "$sum" "$(pc_sha mnt/f.bin)" "read after a stop and a start"
[ "$(stat_of hits)" -gt "$hits" ] ||
	fail "a read after a stop and a start did not reach the daemon"
echo "page cache: $size bytes stayed resident across the restart; a stop and a start dropped them"
