#!/usr/bin/env bash
# A crash with the mount in the fd store.  A small supervisor plays
# systemd (PID 1 is not systemd here): it owns $NOTIFY_SOCKET, keeps the
# fds the daemon stores (FDSTORE=1), follows MAINPID=, and when the main
# process is killed starts the next one with the stored fds (LISTEN_FDS,
# LISTEN_FDNAMES, LISTEN_PID), as Restart=on-failure would.  Under a
# reader of a cold file from a slow mirror (reads the daemon had read and
# not answered wait on it):
#   1. SIGKILL: the next daemon serves the same mount;
#   2. peercachectl restart: the new process is the main one for the
#      supervisor (MAINPID=), and the fds stored by the first still serve:
#   3. SIGKILL of that one: the next daemon serves the same mount again.
# The waiting reads get their answers (every byte right, no error), the
# mount is there at every 10 ms sample, and a clean stop then takes the
# mount and the stored fds away.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

pc_slow_repo 16M

pc_supervised_start "$PC_TMP/mnt" -o max_fetches=2 -o prefetch=2

pc_sampler_start "$PC_DAEMON_MNT"
pc_reader_start "$PC_DAEMON_MNT/big.bin" src/big.bin

# crash STARTS: after reads parked on fetches from the slow mirror.
crash() {
	sleep 1.5
	pc_crash "$1"
}

crash 2
sleep 1.1
pc_restart
assert_eq "$PC_DAEMON_PID" "$(cat "$SV/pid")" "the main pid the supervisor knows after a restart"
grep -qx "MAINPID=$PC_DAEMON_PID" "$SV/notify.log" || fail "no MAINPID=$PC_DAEMON_PID"
echo "restart: pid $PC_DAEMON_PID serves; requests waited $RESTART_PAUSE_MS ms"
crash 3
pc_cold_check
pc_reader_stop
pc_sampler_stop
assert_eq "small" "$(cat mnt/small.txt)" "a file opened after the crashes"
grep -c " $PC_DAEMON_MNT fuse" /proc/mounts | grep -qx 1 ||
	fail "not exactly one mount on $PC_DAEMON_MNT: $(grep " $PC_DAEMON_MNT " /proc/mounts)"

# A clean stop: the mount goes, and so do the stored fds.
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
pc_is_mounted "$PC_DAEMON_MNT" && fail "still mounted after a clean stop"
grep -qx "REMOVED peercache-fuse" "$SV/notify.log" ||
	fail "the daemon did not take its fd out of the store: $(cat "$SV/notify.log")"
grep -q "EXIT status=0 clean=True" "$SV/notify.log" || fail "the daemon's exit was not clean"
pc_sanitizer_check
