#!/usr/bin/env bash
# A request that crashes the daemon does not crash every daemon after it.
# peercache-next aborts on a LOOKUP of "poison" (PEERCACHE_TEST_HOOKS);
# under the fd-store supervisor (Restart=on-failure, see test_crash.sh)
# each next daemon resumes the mount and the kernel queues that LOOKUP
# again.  After two resumes in a row that died before the requeued
# requests were done, the third answers them with EIO instead: the
# reader's stat fails, the mount lives, other files read, and the count
# of resumes starts over once the daemon got past them.  Before, every
# successor read the LOOKUP again and died (under systemd the start limit
# then trips, the stored fd is closed and the mount dies).
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
PEERCACHE="$PC_BIN/peercache-next"
export PEERCACHE_TEST_HOOKS="crash_lookup=poison"
pc_supervised_start "$PC_TMP/mnt"
assert_eq small "$(cat mnt/small.txt)" "a file before the crashes"

(stat mnt/poison >stat.out 2>&1 && echo 0 >stat.rc || echo $? >stat.rc) &
pc_wait_for "the stat of the poisoned name never ended (a crash loop)" test -e stat.rc
assert_contains "$(cat stat.out)" "Input/output error" "the stat of the poisoned name"
assert_eq 4 "$(cat "$SV/starts")" "daemons started (the first, and three resumes)"
assert_eq 3 "$(grep -c "test hook: crash on poison" "$PC_DAEMON_LOG")" "crashes"
grep -q "died 2 times in a row after resuming" "$PC_DAEMON_LOG" ||
	fail "the third resume did not say why it fails the requests"
assert_eq small "$(cat mnt/small.txt)" "a file after the crashes"
pc_wait_for "the count of resumes did not start over" grep -qx 0 "$PC_DAEMON_CACHE/resumes"
grep "resumed:" "$PC_DAEMON_LOG" | tail -1
PC_DAEMON_PID=$(cat "$SV/pid")
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
pc_sanitizer_check
