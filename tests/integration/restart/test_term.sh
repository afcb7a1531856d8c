#!/usr/bin/env bash
# A stop signal in the middle of a restart.  The daemon (peercache-next,
# PEERCACHE_TEST_HOOKS) is sent SIGTERM
#   1. while the restart has paused the workers: the takeover is called
#      off, the command says why, the daemon stops (the mount goes) and
#      the new process exits;
#   2. after GO, while the new process opens the store (it waits 3 s
#      before it says SERVING): the takeover ends, and the old daemon
#      passes the signal on to the new one, which stops.
# Before, the signal was taken and forgotten: the mount was handed over
# and the new daemon served on, as if no stop had been asked for.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

# stopped_during HOOKS LOGLINE: a restart under HOOKS, SIGTERM to the
# serving daemon once LOGLINE is in the log; the restart's output in
# restart.out, its status in restart.rc.
stopped_during() {
	export PEERCACHE_TEST_HOOKS=$1
	PEERCACHE="$PC_BIN/peercache-next"
	pc_mount_from_copy
	sleep 1.1
	(pc_ctl --json restart >restart.out 2>&1 && echo 0 >restart.rc || echo $? >restart.rc) &
	pc_wait_for "the restart did not get to '$2'" grep -q "$2" "$PC_DAEMON_LOG"
	kill -TERM "$PC_DAEMON_PID"
	pc_wait_for "the restart command did not end" test -e restart.rc
	pc_wait_gone "$PC_DAEMON_PID" 100 || fail "the old daemon did not end"
	unset PEERCACHE_TEST_HOOKS
}

# 1. During the pause.
stopped_during "pause_ms=3000" "test hook: paused"
assert_eq 1 "$(cat restart.rc)" "the restart's status ($(cat restart.out))"
assert_contains "$(cat restart.out)" "the daemon is stopping" "the restart's answer"
pc_wait_for "the mount is still there after SIGTERM" eval '! pc_is_mounted "$PC_DAEMON_MNT"'
pgrep -f "$PC_TMP/bin/peercache" >/dev/null && fail "a daemon still runs: $(pgrep -af "$PC_TMP/bin/peercache")"
pc_sanitizer_check
echo "1. SIGTERM during the pause: $(cat restart.out)"
rm -f restart.rc restart.out
mv "$PC_DAEMON_LOG" daemon1.log

# 2. After GO, before SERVING.
stopped_during "serve_delay_ms=3000" "test hook: serving in"
assert_eq 0 "$(cat restart.rc)" "the restart's status ($(cat restart.out))"
NEW=$(pc_json_get "$(cat restart.out)" pid)
pc_wait_gone "$NEW" 100 || fail "the new daemon (pid $NEW) did not get the stop"
pc_is_mounted "$PC_DAEMON_MNT" && fail "the mount is still there"
grep -q "passed on to pid $NEW" "$PC_DAEMON_LOG" || fail "the old daemon did not say it passed the signal on"
pc_sanitizer_check
echo "2. SIGTERM before SERVING: pid $NEW got it and stopped"
