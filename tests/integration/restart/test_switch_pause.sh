#!/usr/bin/env bash
# A version switch while a restart has paused the FUSE workers.  The
# daemon (peercache-next, which holds the pause 4 s: PEERCACHE_TEST_HOOKS)
# is restarted while a new version is published, a LOOKUP waits in the
# kernel in the directory that version changes, and `peercachectl
# refresh` asks for the new version.  Before, the loop thread installed it
# and told the kernel (fuse_lowlevel_notify_inval_entry), which waited
# for the directory lock the queued LOOKUP held, which waited for the
# paused workers; the daemon's main thread waited for the loop thread to
# stop: the restart and every reader hung for good.  Now switches are
# held before the pause: the restart ends, the LOOKUP is answered, and
# the new process installs the new version and invalidates what changed.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src/sub
echo one >src/sub/a.txt
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
PEERCACHE="$PC_BIN/peercache-next"
export PEERCACHE_TEST_HOOKS="pause_ms=4000"
pc_mount_from_copy
assert_eq one "$(cat mnt/sub/a.txt)" "sub/a.txt of version 1"

echo two >src/sub/a.txt
echo new >src/sub/new.txt
pc_publish src repo

# background NAME COMMAND...: runs COMMAND; NAME.rc gets its status.
background() {
	local name=$1
	shift
	("$@" >"$name.out" 2>&1 && echo 0 >"$name.rc" || echo $? >"$name.rc") &
}
# finished NAME SECONDS: NAME.rc exists within SECONDS.
finished() {
	local i
	for i in $(seq $(($2 * 10))); do
		[ -e "$1.rc" ] && return 0
		sleep 0.1
	done
	return 1
}
# A daemon hung in the kernel cannot be killed until its connection is
# aborted: do that before failing, so that the test can clean up.
hung() {
	local minor conns=/sys/fs/fuse/connections
	minor=$(grep -F " ${PC_DAEMON_MNT} " /proc/self/mountinfo | awk '{split($3, d, ":"); print d[2]}' | tail -1)
	if ! mountpoint -q $conns; then
		mount -t fusectl fusectl $conns && pc_on_exit "umount $conns"
	fi
	[ -z "$minor" ] || echo 1 >"$conns/$minor/abort" || true
	fail "$1; daemon log:
$(tail -15 "$PC_DAEMON_LOG")"
}

sleep 1.1
background restart pc_ctl --json restart
pc_wait_for "the restart did not pause the workers" \
	grep -q "test hook: paused" "$PC_DAEMON_LOG"
background lookup stat mnt/sub/zzz
sleep 0.3
background refresh timeout 60 "$PEERCACHECTL" --cache-dir "$PC_DAEMON_CACHE" refresh
finished restart 40 || hung "the restart hangs (a version switch during its pause)"
assert_eq 0 "$(cat restart.rc)" "restart status ($(cat restart.out))"
finished lookup 10 || hung "a lookup queued during the pause was never answered"
assert_contains "$(cat lookup.out)" "No such file" "the lookup of a missing name"
pid=$(pc_json_get "$(cat restart.out)" pid)
PC_DAEMON_PID=$pid

# The new process polls at start: version 2 is served, and the kernel
# forgot the name that changed.
for _ in $(seq 100); do
	[ "$(cat mnt/sub/a.txt)" = two ] && break
	sleep 0.2
done
assert_eq two "$(cat mnt/sub/a.txt)" "sub/a.txt after the restart"
assert_eq new "$(cat mnt/sub/new.txt)" "sub/new.txt after the restart"
finished refresh 60 || fail "peercachectl refresh did not end"
echo "refresh during the pause: $(cat refresh.out)"
grep -q "installed once the restart under way is over" "$PC_DAEMON_LOG" ||
	echo "(the refresh found the version after the restart)"
pc_daemon_term
