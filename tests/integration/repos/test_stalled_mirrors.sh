#!/usr/bin/env bash
# Three [repository NAME] sections new to the node, whose mirrors stall
# (they accept connections and never answer): the first-version waits run
# at once against one deadline, so the daemon mounts all three (empty
# trees) within about one wait, not three one after another (with many
# repositories, that would outlast systemd's start timeout: killed before
# READY=1, started again, forever).  Then SIGTERM ends it with every
# mount gone.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

# The stalling mirror: accepts, reads nothing, answers nothing.
python3 - "$PC_TMP/stall.port" <<'PY' &
import os, socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
s.settimeout(1)
deadline = time.time() + 110
while time.time() < deadline:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
STALL_PID=$!
pc_on_exit "kill $STALL_PID 2>/dev/null; wait $STALL_PID 2>/dev/null || true"
pc_wait_for "the stalling mirror did not start" test -s "$PC_TMP/stall.port"
STALL_URL="http://127.0.0.1:$(cat "$PC_TMP/stall.port")"
pc_keygen "$PC_TMP/key"

NAMES=(one two three)
FETCH_TIMEOUT=6
LOW_SPEED_TIME=3
# A stalled poll takes about low_speed_time.  A repository's wait is two
# polls (the one the start runs, then the one its wait asks for): about
# 6 s here, 12 s for three in turn; the shared deadline (fetch_timeout
# and 5 s) is 11 s, which leaves a loaded machine 5 s.
{
	printf '[peercache]\ncache_dir = %s\npoll_interval = 1h\n' "$PC_TMP/cache"
	printf 'fetch_timeout = %ss\nlow_speed_time = %ss\n' "$FETCH_TIMEOUT" "$LOW_SPEED_TIME"
	printf 'discovery = off\npeer_server = off\n'
	for n in "${NAMES[@]}"; do
		printf '\n[repository %s]\nmount_point = %s\nmirror = %s/%s\ntrusted_key = %s\n' \
			"$n" "$PC_TMP/srv/$n" "$STALL_URL" "$n" "$PC_TMP/key.pub"
	done
} >stalled.conf

all_mounted() {
	local n
	for n in "${NAMES[@]}"; do
		pc_is_mounted "$PC_TMP/srv/$n" || return 1
	done
}
unmount_all() {
	local n
	for n in "${NAMES[@]}"; do
		! pc_is_mounted "$PC_TMP/srv/$n" || fusermount3 -u -z "$PC_TMP/srv/$n" ||
			umount -l "$PC_TMP/srv/$n"
	done
}

LOG="$PC_TMP/daemon.log" PC_DAEMON_LOG="$PC_TMP/daemon.log"
started=$(date +%s%N)
"$PEERCACHE" -f -c stalled.conf >"$LOG" 2>&1 &
pid=$!
pc_on_exit unmount_all
pc_on_exit "pc_daemon_cleanup $pid $PC_TMP/srv/one $LOG"
deadline=$((SECONDS + 60))
until all_mounted; do
	kill -0 "$pid" 2>/dev/null || fail "the daemon exited: $(tail -n 20 "$LOG")"
	[ $SECONDS -lt $deadline ] || fail "not all mounted after 60 s: $(tail -n 20 "$LOG")"
	sleep 0.05
done
ms=$((($(date +%s%N) - started) / 1000000))
echo "three stalled repositories mounted in $ms ms (fetch_timeout ${FETCH_TIMEOUT}s)"
# Within the one deadline of the waits (fetch_timeout and a margin of
# 5 s, from the start): 11 s, where three waits in turn take 12 s.
[ "$ms" -lt $(((FETCH_TIMEOUT + 5) * 1000)) ] ||
	fail "three stalled repositories took $ms ms to mount: the waits ran one after another"
for n in "${NAMES[@]}"; do
	assert_eq "" "$(cd "$PC_TMP/srv/$n" && find . -mindepth 1)" "$n's tree with a stalled mirror"
done
assert_eq 3 "$(grep -c "first update check failed" "$LOG")" "warnings for the stalled repositories"

kill -TERM "$pid"
wait "$pid" || fail "exit status $? on SIGTERM: $(tail -n 20 "$LOG")"
for n in "${NAMES[@]}"; do
	! pc_is_mounted "$PC_TMP/srv/$n" || fail "$n still mounted after SIGTERM"
done
pc_sanitizer_check
