#!/usr/bin/env bash
# One daemon, two [repository NAME] sections (issue 14): its life as a
# service, under a stand-in for systemd (restart/fdstore_supervisor.py:
# $NOTIFY_SOCKET, the fd store, Restart=on-failure).  Mirror on
# loopback, no peers (tests/integration/repos/test_two_repos.sh has them).
#   1. READY=1 comes once both mounts serve; STATUS= names both
#      repositories; each mount shows only its repository; no fd goes to
#      the fd store (a daemon of several does not keep its mounts there);
#   2. `peercachectl restart` is refused at once with the reason, and
#      both mounts go on serving;
#   3. SIGKILL: the supervisor starts the next daemon, which clears both
#      dead mounts and mounts them afresh;
#   4. one mount unmounted from outside ends the daemon: the other mount
#      goes too (and the supervisor sees a clean exit);
#   5. a head signed by the other publisher's key is refused for a
#      section (the keys are per repository): its mount stays empty
#      while the other serves;
#   6. SIGTERM ends the daemon and both mounts (started plainly, with
#      an empty MOUNTPOINT as the unit passes it: none).
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup
. "$(dirname "$0")/loopback.sh"

mkdir -p src-av src-engine src-forged www
echo "av definitions 1" >src-av/defs.txt
echo "engine 7" >src-engine/engine.txt
echo "forged engine" >src-forged/engine.txt
pc_publish_as av-defs av.key src-av www/av
pc_publish_as engine engine.key src-engine www/engine
# The av publisher signs a head that names "engine": a key that is
# trusted, but for the other repository.
pc_publish_as engine av.key src-forged www/forged
pc_nginx_start "$PC_TMP/www"

pc_two_repos_conf good.conf engine
pc_two_repos_conf forged.conf forged

both_mounted() { pc_is_mounted "$AV" && pc_is_mounted "$ENGINE"; }
none_mounted() { ! pc_is_mounted "$AV" && ! pc_is_mounted "$ENGINE"; }

# --- 1. supervised: READY=1 once both serve, STATUS=, no fd stored ------------------
PC_DAEMON_LOG="$PC_TMP/daemon.log" PC_DAEMON_CACHE="$PC_TMP/cache"
SV="$PC_TMP/supervisor"
mkdir -p "$SV" "$PC_DAEMON_CACHE"
python3 "$PC_SRC/tests/integration/restart/fdstore_supervisor.py" "$SV" -- \
	"$PEERCACHE" -f -c good.conf >>"$PC_DAEMON_LOG" 2>&1 &
SUPERVISOR_PID=$!
pc_on_exit 'pc_unmount_each "$AV" "$ENGINE"'
pc_on_exit 'pc_daemon_cleanup "$(cat "$SV/pid" 2>/dev/null || echo 0)" "$AV" "$PC_DAEMON_LOG"'
pc_on_exit "kill $SUPERVISOR_PID 2>/dev/null; wait $SUPERVISOR_PID 2>/dev/null || true"
ready() { grep -qx "READY=1" "$SV/notify.log" 2>/dev/null; }
pc_wait_for "no READY=1" ready
both_mounted || fail "READY=1 before both mounts: $(grep fuse /proc/mounts)"
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs through its mount"
assert_eq "engine 7" "$(cat "$ENGINE/engine.txt")" "engine through its mount"
assert_eq "./defs.txt" "$(cd "$AV" && find . -mindepth 1)" "av-defs shows only its files"
assert_eq "./engine.txt" "$(cd "$ENGINE" && find . -mindepth 1)" "engine shows only its files"
status=$(grep "^STATUS=" "$SV/notify.log" | tail -n 1)
assert_contains "$status" "av-defs version 1 on $AV" "STATUS="
assert_contains "$status" "engine version 1 on $ENGINE" "STATUS="
! grep -q "^STORED" "$SV/notify.log" ||
	fail "a daemon of two repositories stored fds: $(cat "$SV/notify.log")"
PC_DAEMON_PID=$(cat "$SV/pid")

# --- 2. restart: refused with the reason, both go on --------------------------------
pc_run timeout 20 "$PEERCACHECTL" --cache-dir "$PC_DAEMON_CACHE" restart
[ "$PC_RC" != 0 ] || fail "restart of a daemon of two repositories: exit 0: $PC_OUT"
assert_contains "$PC_OUT" "restart hands over one mount; this daemon serves 2 repositories: stop and start it" "restart"
assert_eq "$PC_DAEMON_PID" "$(cat "$SV/pid")" "the daemon after a refused restart"
assert_eq "engine 7" "$(cat "$ENGINE/engine.txt")" "engine after a refused restart"
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs after a refused restart"

# --- 3. SIGKILL: both dead mounts cleared, both mounted afresh -----------------------
kill -KILL "$PC_DAEMON_PID"
restarted() { [ "$(cat "$SV/starts")" = 2 ] && [ "$(cat "$SV/pid")" != "$PC_DAEMON_PID" ]; }
pc_wait_for "the supervisor did not start a second daemon" restarted
mounted_twice() { [ "$(grep -c "^peercache: mounted on " "$PC_DAEMON_LOG")" = 4 ]; }
pc_wait_for "the second daemon did not mount both" mounted_twice
PC_DAEMON_PID=$(cat "$SV/pid")
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs after a crash"
assert_eq "engine 7" "$(cat "$ENGINE/engine.txt")" "engine after a crash"
for mnt in "$AV" "$ENGINE"; do
	assert_eq 1 "$(grep -c " $mnt fuse" /proc/mounts)" "mounts on $mnt after a crash"
done

# --- 4. one mount unmounted from outside: the daemon ends, with both ----------------
fusermount3 -u "$AV" || umount "$AV"
gone() { ! kill -0 "$SUPERVISOR_PID" 2>/dev/null; }
pc_wait_for "the daemon did not end when one of its mounts went" gone
none_mounted || fail "a mount left after the daemon ended: $(grep fuse /proc/mounts)"
grep -q "the mount of av-defs on $AV ended; stopping every repository" "$PC_DAEMON_LOG" ||
	fail "the daemon did not say why it stopped: $(tail -n 20 "$PC_DAEMON_LOG")"
grep -q "EXIT status=0 clean=True" "$SV/notify.log" ||
	fail "the daemon's exit was not clean: $(cat "$SV/notify.log")"

# --- 5. a head signed by the other repository's key: refused ------------------------
rm -rf "$PC_DAEMON_CACHE"
LOG2="$PC_TMP/daemon.forged.log"
# An empty MOUNTPOINT, as the unit passes it with MOUNTPOINT= in NAME.env.
"$PEERCACHE" -f -c forged.conf "" >"$LOG2" 2>&1 &
pid=$!
pc_on_exit "pc_daemon_cleanup $pid $AV $LOG2"
mounted() { grep -q "^peercache: mounted on $ENGINE" "$LOG2"; }
pc_wait_for "the daemon with a forged engine did not mount" mounted
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs beside a forged engine"
assert_eq "" "$(cd "$ENGINE" && find . -mindepth 1)" "engine's mount with a head of the other key"
grep -q "untrusted key" "$LOG2" ||
	fail "the head signed by av's key was not refused for engine: $(grep -v 'unique: ' "$LOG2" | tail -n 20)"

# --- 6. SIGTERM: both mounts go -------------------------------------------------------
kill -TERM "$pid"
wait "$pid" || fail "exit status $? on SIGTERM: $(tail -n 20 "$LOG2")"
none_mounted || fail "a mount left after SIGTERM: $(grep fuse /proc/mounts)"
assert_eq 2 "$(grep -c "^peercache: unmounting " "$LOG2")" "unmounts said on SIGTERM"
pc_sanitizer_check
