#!/usr/bin/env bash
# NotifyAccess=main is enough for a restart: the supervisor (systemd's
# stand-in) refuses every notification that does not come from the main
# process.  The old daemon announces the new one (MAINPID=, held 700 ms
# by peercache-next's hook so that the order is plain to see); the new
# daemon sends its STATUS= and READY=1 only after that, so none is
# refused, and the supervisor follows the new main process, which stores
# and removes fds as the main one (a clean stop takes its fds out).
# Before, the new process notified as soon as it served, while the old
# one was still the main process: refused.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
PEERCACHE="$PC_BIN/peercache-next"
export PEERCACHE_TEST_HOOKS="mainpid_delay_ms=700"
pc_supervised_start "$PC_TMP/mnt"
OLD=$PC_DAEMON_PID
sleep 1.1
pc_restart
assert_eq "$PC_DAEMON_PID" "$(cat "$SV/pid")" "the supervisor's main pid"
pc_wait_for "no STATUS= from the new daemon" \
	eval 'awk "/^MAINPID=$PC_DAEMON_PID\$/ { m = 1 } m && /^STATUS=serving/ { s = 1 } END { exit !s }" "$SV/notify.log"'
if grep "^REFUSED" "$SV/notify.log"; then
	fail "notifications refused under NotifyAccess=main: $(cat "$SV/notify.log")"
fi
assert_eq small "$(cat mnt/small.txt)" "a file after the restart"
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
grep -q "EXIT status=0 clean=True" "$SV/notify.log" || fail "the exit was not clean: $(cat "$SV/notify.log")"
grep -qx "REMOVED peercache-fuse" "$SV/notify.log" || fail "the new main process's FDSTOREREMOVE was not taken"
echo "notifications: $(grep -c . "$SV/notify.log") lines, none refused (old $OLD, new $PC_DAEMON_PID)"
