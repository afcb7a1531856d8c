#!/usr/bin/env bash
# A mount point with a space in its name (mountinfo writes it \040): the
# daemon finds its mount's device, keeps the mount in the fd store,
# restarts without unmount, and a daemon killed with SIGKILL is followed
# by one that serves the same mount.  Before, the escaped name was never
# found: the device was recorded as 0:0, and every restart and resume
# refused the mount ("no longer the mount of that fd").
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
pc_random src/a.bin 300K
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
MNT="$PC_TMP/mount point"
pc_supervised_start "$MNT"
exec 7<"$MNT/a.bin"
grep -q "is not in /proc/self/mountinfo" "$PC_DAEMON_LOG" &&
	fail "the daemon did not find its mount: $(cat "$PC_DAEMON_LOG")"

sleep 1.1
pc_restart
cmp <(cat <&7) src/a.bin || fail "the file open before the restart reads wrong"
pc_crash 2
assert_eq "$(pc_sha src/a.bin)" "$(pc_sha "$MNT/a.bin")" "a.bin after the crash"
exec 7<&-
grep -cF "$(basename "$PC_TMP")/mount\\040point fuse" /proc/mounts | grep -qx 1 ||
	fail "not exactly one mount: $(grep fuse /proc/mounts)"
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
pc_is_mounted "$MNT" && fail "still mounted after a clean stop"
pc_sanitizer_check
