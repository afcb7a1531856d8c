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

PC_DAEMON_MNT="$PC_TMP/mnt"
PC_DAEMON_CACHE="$PC_TMP/cache"
PC_DAEMON_LOG="$PC_TMP/daemon.log"
SV="$PC_TMP/supervisor"
mkdir -p mnt cache "$SV"
python3 "$PC_SRC/tests/integration/restart/fdstore_supervisor.py" "$SV" -- \
	"$PEERCACHE" -f -o cache_dir="$PC_DAEMON_CACHE" -o poll_interval=1h \
	-o discovery=off -o peer_server=off -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o max_fetches=2 -o prefetch=2 \
	"$PC_DAEMON_MNT" >>"$PC_DAEMON_LOG" 2>&1 &
SUPERVISOR_PID=$!
pc_on_exit "kill $SUPERVISOR_PID 2>/dev/null; wait $SUPERVISOR_PID 2>/dev/null || true"
pc_on_exit 'pc_daemon_cleanup "$(cat "$SV/pid" 2>/dev/null || echo 0)" "$PC_DAEMON_MNT" "$PC_DAEMON_LOG"'

# wait_for MESSAGE TEST...: until `TEST...` succeeds (30 s), or fail.
wait_for() {
	local message=$1 deadline=$((SECONDS + 30))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || fail "$message; daemon log:
$(tail -20 "$PC_DAEMON_LOG")
notifications:
$(cat "$SV/notify.log" 2>/dev/null)"
		sleep 0.05
	done
}
stored() {
	grep -qx "STORED peercache-fuse (1 fds)" "$SV/notify.log" 2>/dev/null &&
		grep -qx "STORED peercache-state (1 fds)" "$SV/notify.log"
}
wait_for "the daemon did not mount" pc_is_mounted "$PC_DAEMON_MNT"
wait_for "the daemon did not store its fds" stored

pc_sampler_start "$PC_DAEMON_MNT"
pc_reader_start "$PC_DAEMON_MNT/big.bin" src/big.bin

# crash STARTS: SIGKILL to the main process; the supervisor's STARTS-th
# start serves the mount again.  PC_DAEMON_PID becomes the new one.
crash() {
	local killed=$PC_DAEMON_PID
	sleep 1.5 # reads parked on fetches from the slow mirror
	kill -KILL "$killed"
	starts_are() { [ "$(cat "$SV/starts")" = "$1" ]; }
	wait_for "the supervisor did not start daemon $1" starts_are "$1"
	PC_DAEMON_PID=$(cat "$SV/pid")
	[ "$PC_DAEMON_PID" != "$killed" ] || fail "the same pid serves"
	grep -q "^START pid=$PC_DAEMON_PID fds=peercache-fuse:peercache-state$" "$SV/notify.log" ||
		fail "daemon $1 did not get the stored fds: $(cat "$SV/notify.log")"
	resumed() {
		[ "$(grep -c "serving the mount on $PC_DAEMON_MNT again" "$PC_DAEMON_LOG")" = "$1" ]
	}
	wait_for "daemon $1 did not resume the mount" resumed $(($1 - 1))
	echo "crash: pid $killed killed, pid $PC_DAEMON_PID serves the same mount"
}

PC_DAEMON_PID=$(cat "$SV/pid")
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
wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
pc_is_mounted "$PC_DAEMON_MNT" && fail "still mounted after a clean stop"
grep -qx "REMOVED peercache-fuse" "$SV/notify.log" ||
	fail "the daemon did not take its fd out of the store: $(cat "$SV/notify.log")"
grep -q "EXIT status=0 clean=True" "$SV/notify.log" || fail "the daemon's exit was not clean"
pc_sanitizer_check
