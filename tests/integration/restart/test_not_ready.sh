#!/usr/bin/env bash
# A restart asked of a daemon that is not serving requests yet (here, the
# new process of a restart, between its net's start and its first request
# loop: peercache-next holds that moment 3 s) is refused with "not ready
# yet", and the first restart ends well.  Before, the answer was "this
# daemon cannot restart", as if it never could.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
PEERCACHE="$PC_BIN/peercache-next"
export PEERCACHE_TEST_HOOKS="serve_delay_ms=3000"
pc_mount_from_copy
unset PEERCACHE_TEST_HOOKS
sleep 1.1
(pc_ctl --json restart >restart.out 2>&1 && echo 0 >restart.rc || echo $? >restart.rc) &
pc_wait_for "the new process did not get to its delay" grep -q "test hook: serving in" "$PC_DAEMON_LOG"
expect_status 1 "the daemon is not ready yet" "a restart of the daemon that is starting" \
	"$PEERCACHECTL" --cache-dir "$PC_DAEMON_CACHE" restart
echo "second restart: $PC_OUT"
pc_wait_for "the first restart did not end" test -e restart.rc
assert_eq 0 "$(cat restart.rc)" "the first restart ($(cat restart.out))"
PC_DAEMON_PID=$(pc_json_get "$(cat restart.out)" pid)
assert_eq small "$(cat mnt/small.txt)" "a file after the restart"
pc_daemon_term
