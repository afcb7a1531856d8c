#!/usr/bin/env bash
# Files of one chunk are read by the kernel straight from the chunk file
# (FUSE passthrough), and every open of such a file works, whatever other
# opens of it the kernel holds, across a restart and a crash.
#
# The kernel fails with EIO an open that mixes modes on one inode (a
# passthrough open while it is open through the page cache, or the other
# way round) or names another registration than the inode's open files
# do; the daemon's table of open inodes (fs/passthrough.c) prevents both,
# and outlives the process.  The test:
#   - a cached file of one chunk, read again after drop_caches, sends the
#     daemon no read (hits do not move), and its bytes are right, by
#     read(2) and by mmap(2) (the first open of a file decides its mode,
#     and the RELEASE of the one before is asynchronous: pt_read tries a
#     few times);
#   - s2 is held open from before its chunk was cached (through the page
#     cache), s3 from after (passthrough); opening and reading each again
#     works, in the daemon that made them, after `peercachectl restart`
#     and after a kill -9 (the fd-store supervisor resumes the mount), and
#     the holders' own descriptors read right all along; while s3 is
#     held, a new open of it is in passthrough at the first try, also
#     once one of its two holders from before the crash has closed it
#     (counted out once, by a process that never saw that open);
#   - a file of several chunks reads right (never passthrough), and so
#     does a file whose first open is O_DIRECT (through the daemon);
#   - the control: with passthrough = off, the same read after
#     drop_caches reaches the daemon, so the first check can fail.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir src
for i in 1 2 3 4 5; do pc_random "src/s$i.bin" 100K; done
pc_random src/big.bin 6M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_supervised_start "$PC_TMP/mnt"

stat_of() { pc_json_get "$(pc_ctl stats --json)" "$1"; }
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# same NAME WHEN: mnt/NAME reads as src/NAME (a new open).
same() {
	local got
	got=$(sha256sum <"mnt/$1") || fail "$2: reading $1 failed (EIO: an open in the wrong mode?)"
	assert_eq "$(pc_sha "src/$1")" "${got%% *}" "$2: $1"
}
# pt_read NAME WHEN [TRIES]: mnt/NAME reads right, after drop_caches,
# without a read reaching the daemon, and the open counts as a passthrough
# open (within TRIES opens, 30 by default).
pt_read() {
	local try hits opens
	for try in $(seq "${3:-30}"); do
		drop_caches
		hits=$(stat_of hits)
		opens=$(stat_of passthrough_opens)
		same "$1" "$2"
		if [ "$(stat_of hits)" = "$hits" ]; then
			[ "$(stat_of passthrough_opens)" -gt "$opens" ] ||
				fail "$2: no read of $1 reached the daemon, but its open is not counted as a passthrough open"
			return 0
		fi
		sleep 0.1
	done
	fail "$2: every read of $1 reached the daemon (not in passthrough)"
}
# hold NAME FILE: pc_hold of FILE, without O_DIRECT (the first O_DIRECT
# open of a file is never a passthrough one).
hold() {
	HOLD_BUFFERED=1 pc_hold "$1" "$PC_TMP/mnt/$2=$PC_TMP/src/$2"
}

# Passthrough: a cached file's read never reaches the daemon.
same s1.bin "cold"
# Only a kernel without passthrough (before Linux 6.9) is a reason to
# skip; on any other, a daemon that says it cannot use it fails below.
IFS=. read -r major minor _ <<<"$(uname -r)"
if [ "$major" -lt 6 ] || { [ "$major" = 6 ] && [ "$minor" -lt 9 ]; }; then
	echo "skipped: Linux $(uname -r) has no FUSE passthrough (6.9)"
	exit 77
fi
pt_read s1.bin "cached, after drop_caches"
got=$(python3 -c 'import mmap, sys
with open(sys.argv[1], "rb") as f:
    sys.stdout.buffer.write(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)[:])' mnt/s1.bin | sha256sum | cut -d' ' -f1)
assert_eq "$(pc_sha src/s1.bin)" "$got" "s1.bin by mmap"
same big.bin "a file of several chunks"
# A first open with O_DIRECT goes through the daemon (the chunk file read
# O_DIRECT would have its alignment rules), and reads right.
pc_run pc_ctl prefetch s5.bin # cached, never opened
assert_eq 0 "$PC_RC" "prefetch of s5.bin: $PC_OUT"
drop_caches
hits=$(stat_of hits)
opens=$(stat_of passthrough_opens)
got=$(python3 -c 'import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 256 * 1024)
n = os.preadv(fd, [buf], 0)
sys.stdout.buffer.write(buf[:n])' mnt/s5.bin | sha256sum | cut -d' ' -f1)
assert_eq "$(pc_sha src/s5.bin)" "$got" "s5.bin by O_DIRECT"
assert_eq "$opens" "$(stat_of passthrough_opens)" "passthrough opens after a first O_DIRECT open"
[ "$(stat_of hits)" -gt "$hits" ] || fail "an O_DIRECT first open did not read through the daemon"

# s2 open through the page cache (its chunk was not cached), s3 in
# passthrough (cat cached it first).
hold through_cache s2.bin
same s3.bin "s3, cold"
pt_read s3.bin "s3, cached"
hold passthrough s3.bin
hold passthrough2 s3.bin
for when in "the same daemon" "after a restart" "after a crash"; do
	case $when in
	"after a restart") pc_restart ;;
	"after a crash") pc_crash 2 ;;
	esac
	pc_held through_cache "$when"
	pc_held passthrough "$when"
	pc_held passthrough2 "$when"
	same s2.bin "$when, s2 held open through the page cache"
	pt_read s3.bin "$when, s3 held open in passthrough" 1
	same s4.bin "$when, s4"
	echo "$when: every open of s2 and s3 works"
done
# One of s3's two opens from before the crash closes (its RELEASE comes to
# a process that never saw it): the other keeps the registration, which
# a new open must still name.
pc_hold_stop passthrough
pt_read s3.bin "s3, one of its two holders gone" 1
pc_held passthrough2 "one of s3's two holders gone"
pc_hold_stop passthrough2
pc_hold_stop through_cache
# Once their last opens are released, the inodes may change modes.
same s2.bin "s2 after its holder closed it"
same s3.bin "s3 after its holder closed it"
PC_DAEMON_PID=$(cat "$SV/pid")
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
pc_sanitizer_check

# The control: through the daemon, the same read reaches it.
pc_mount_repo -o passthrough=off
pc_restart_track
same s1.bin "passthrough off"
drop_caches
hits=$(stat_of hits)
same s1.bin "passthrough off, after drop_caches"
[ "$(stat_of hits)" -gt "$hits" ] ||
	fail "with passthrough off, a read after drop_caches did not reach the daemon: the check above cannot fail"
echo "passthrough: cached files of one chunk read without the daemon; mixed and held opens work across a restart and a crash"
