#!/usr/bin/env bash
# A daemon started with fds under peercache's fd-store names that are not
# what it stored (stored_fds.py) trusts none of them: it says why, leaves
# alone whatever else is mounted, and mounts its own mount point afresh.
#   1. peercache-fuse is /dev/null (its state names a tmpfs elsewhere):
#      refused as not /dev/fuse;
#   2. the state's memfd is not sealed: refused;
#   3. a live FUSE mount of type fuse.peercache elsewhere, with a sealed
#      state from another cache: the daemon cannot serve it and drops the
#      stored fds, but does not unmount it: it is not on its mount point.
# Before, the fd's kind and the seals were not looked at, and a stored
# mount the daemon could not serve was detached wherever it was.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src other
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
OTHER="$PC_TMP/other"

# started MODE: the daemon on mnt with stored_fds.py MODE OTHER; it mounts.
started() {
	mkdir -p mnt cache
	PC_DAEMON_MNT="$PC_TMP/mnt" PC_DAEMON_CACHE="$PC_TMP/cache"
	PC_DAEMON_LOG="$PC_TMP/daemon.$1.log"
	python3 "$PC_SRC/tests/integration/restart/stored_fds.py" "$1" "$OTHER" -- \
		"$PEERCACHE" -f -o cache_dir="$PC_DAEMON_CACHE" -o poll_interval=1h \
		-o discovery=off -o peer_server=off -o mirror="$NGINX_URL" \
		-o trusted_key="$PC_TMP/key.pub" "$PC_DAEMON_MNT" >>"$PC_DAEMON_LOG" 2>&1 &
	PC_DAEMON_PID=$!
	pc_on_exit "pc_daemon_cleanup $PC_DAEMON_PID $PC_DAEMON_MNT $PC_DAEMON_LOG"
	pc_wait_for "the daemon did not mount ($1)" pc_is_mounted "$PC_DAEMON_MNT"
	assert_eq small "$(cat mnt/small.txt)" "$1: a file of the fresh mount"
	grep -q "mounted on $PC_DAEMON_MNT" "$PC_DAEMON_LOG" || fail "$1: not mounted afresh"
}

mount -t tmpfs pc-test-other "$OTHER"
pc_on_exit "umount -l '$OTHER' 2>/dev/null || true"
echo kept >"$OTHER/file"

started devnull
grep -q "the fd store: the stored peercache-fuse is not /dev/fuse" "$PC_DAEMON_LOG" ||
	fail "devnull: not refused as it should be: $(cat "$PC_DAEMON_LOG")"
pc_daemon_stop
assert_eq kept "$(cat "$OTHER/file")" "the tmpfs on $OTHER"

started unsealed
grep -q "the fd store: the stored peercache-state is not a sealed memfd" "$PC_DAEMON_LOG" ||
	fail "unsealed: not refused as it should be: $(cat "$PC_DAEMON_LOG")"
pc_daemon_stop

umount "$OTHER"
started foreign
grep -q "the stored mount is on $OTHER, not on $PC_TMP/mnt: left alone" "$PC_DAEMON_LOG" ||
	fail "foreign: $(cat "$PC_DAEMON_LOG")"
grep -qF " $OTHER fuse.peercache " /proc/self/mountinfo ||
	grep -q " $OTHER " /proc/self/mountinfo ||
	fail "the foreign mount on $OTHER was taken away"
pc_daemon_stop
umount -l "$OTHER"
