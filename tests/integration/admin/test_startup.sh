#!/usr/bin/env bash
# What the daemon does with its mount point before it fetches anything
# (fs/startup.c), as an administrator starting it by hand meets it:
#  1. a missing mount point (and its missing parents) is created;
#  2. a cache_dir or control_socket inside the mount point (also through a
#     symbolic link), or a mount point inside cache_dir, is refused at once,
#     with a message naming it, before any request to the mirror, and
#     nothing is mounted;
#  3. after a SIGKILL, a new start on the same mount point clears the dead
#     mount (logged) instead of stacking a second mount over it;
#  4. a live peercache on the mount point is left alone: the second start is
#     refused, and the first keeps serving.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir -p src
echo "definitions 1" >src/defs.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

# mounts_at DIR: how many mounts /proc/self/mountinfo lists on DIR.
mounts_at() {
	awk -v d="$1" '$5 == d' /proc/self/mountinfo | wc -l
}

RUNS=0
# run_daemon MNT CACHE [-o ...]: peercache in the background, as
# pc_daemon_start, but without creating MNT or CACHE first.
run_daemon() {
	local mnt=$1 cache=$2 log
	shift 2
	RUNS=$((RUNS + 1))
	log="$PC_TMP/daemon.$RUNS.log"
	"$PEERCACHE" -f -o mirror="$NGINX_URL" -o trusted_key="$PC_TMP/key.pub" \
		-o cache_dir="$cache" -o poll_interval=1h -o discovery=off \
		-o peer_server=off "$@" "$mnt" >>"$log" 2>&1 &
	DAEMON_PID=$!
	DAEMON_LOG=$log
	pc_on_exit "pc_daemon_cleanup $DAEMON_PID $mnt $log"
}

# wait_mounted MNT: until the daemon says it serves MNT (30 s).  (A
# dead mount may still answer stat from the kernel's caches.)
wait_mounted() {
	local deadline=$((SECONDS + 30))
	until grep -qxF "peercache: mounted on $1" "$DAEMON_LOG"; do
		kill -0 "$DAEMON_PID" 2>/dev/null ||
			fail "peercache exited before serving $1; log:
$(cat "$DAEMON_LOG")"
		[ $SECONDS -lt $deadline ] || fail "$1 not served after 30 s; log:
$(cat "$DAEMON_LOG")"
		sleep 0.05
	done
}

# refused WHAT NEEDLE MNT DAEMON-ARGS...: the daemon exits non-zero at
# once, says NEEDLE, asked the mirror nothing, and mounted nothing.
refused() {
	local what=$1 needle=$2 mnt=$3 before mounts
	shift 3
	before=$(wc -l <"$NGINX_LOG")
	mounts=$(mounts_at "$mnt")
	pc_run timeout -k 5 20 "$PEERCACHE" -f -o mirror="$NGINX_URL" \
		-o trusted_key="$PC_TMP/key.pub" -o poll_interval=1h \
		-o discovery=off -o peer_server=off "$@" "$mnt"
	if [ "$(mounts_at "$mnt")" != "$mounts" ]; then
		umount -l "$mnt"
		fail "$what: the daemon mounted $mnt (exit status $PC_RC); output:
$PC_OUT"
	fi
	[ "$PC_RC" != 0 ] && [ "$PC_RC" -lt 124 ] ||
		fail "$what: exit status $PC_RC, expected a refusal; output:
$PC_OUT"
	assert_contains "$PC_OUT" "$needle" "$what"
	assert_eq "$before" "$(wc -l <"$NGINX_LOG")" "$what: requests to the mirror"
}

# --- 1. a missing mount point is created ----------------------------------------
MNT="$PC_TMP/new/parents/mnt"
run_daemon "$MNT" "$PC_TMP/cache"
wait_mounted "$MNT"
assert_eq "definitions 1" "$(cat "$MNT/defs.txt")" "a file through the created mount point"
assert_contains "$(cat "$DAEMON_LOG")" "created the mount point $MNT" "the daemon's log"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "peercache exited with $? on SIGTERM"
[ -d "$MNT" ] && ! pc_is_mounted "$MNT" || fail "$MNT: not an unmounted directory after stop"

# A mount point that is a file is refused.
: >"$PC_TMP/a-file"
refused "a file as mount point" "not a directory" "$PC_TMP/a-file" \
	-o cache_dir="$PC_TMP/cache"

# --- 2. the cache and the control socket outside the mount ------------------------
mkdir -p "$PC_TMP/mnt2" "$PC_TMP/elsewhere"
refused "cache_dir inside the mount point" \
	"cache_dir $PC_TMP/mnt2/cache is inside the mount point $PC_TMP/mnt2" \
	"$PC_TMP/mnt2" -o cache_dir="$PC_TMP/mnt2/cache"
[ ! -e "$PC_TMP/mnt2/cache" ] || fail "the refused start created the cache in the mount point"
refused "cache_dir = the mount point" "is inside the mount point" \
	"$PC_TMP/mnt2" -o cache_dir="$PC_TMP/mnt2/"
mkdir "$PC_TMP/mnt2/sub"
ln -s "$PC_TMP/mnt2/sub" "$PC_TMP/link-into-mnt"
refused "cache_dir through a symbolic link into the mount point" \
	"cache_dir $PC_TMP/link-into-mnt/cache is inside the mount point" \
	"$PC_TMP/mnt2" -o cache_dir="$PC_TMP/link-into-mnt/cache"
refused "control_socket inside the mount point" \
	"control_socket $PC_TMP/mnt2/ctl.sock is inside the mount point" \
	"$PC_TMP/mnt2" -o cache_dir="$PC_TMP/elsewhere" \
	-o control_socket="$PC_TMP/mnt2/ctl.sock"
refused "a mount point inside cache_dir" "is inside cache_dir" \
	"$PC_TMP/elsewhere/mnt" -o cache_dir="$PC_TMP/elsewhere"

# --- 3. a dead mount from a killed daemon is cleared -------------------------------
MNT="$PC_TMP/mnt3"
run_daemon "$MNT" "$PC_TMP/cache"
wait_mounted "$MNT"
# Its root looked at: the kernel caches the attributes for a day, and a
# plain stat() of the dead mount would answer from that cache.
ls -la "$MNT" >/dev/null
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
pc_run stat "$MNT"
assert_contains "$PC_OUT" "Transport endpoint is not connected" "stat of the dead mount"
assert_eq 1 "$(mounts_at "$MNT")" "mounts on $MNT after the SIGKILL"
run_daemon "$MNT" "$PC_TMP/cache"
wait_mounted "$MNT"
assert_contains "$(cat "$DAEMON_LOG")" \
	"cleared the dead mount of an earlier peercache on $MNT" "the restarted daemon's log"
assert_eq 1 "$(mounts_at "$MNT")" "mounts on $MNT after the restart (a stacked mount?)"
assert_eq "definitions 1" "$(cat "$MNT/defs.txt")" "a file after the restart"

# --- 4. a live peercache on the mount point is not touched --------------------------
FIRST_PID=$DAEMON_PID
refused "a second daemon on a served mount point" \
	"another peercache is serving there" "$MNT" -o cache_dir="$PC_TMP/cache-b"
kill -0 "$FIRST_PID" || fail "the first daemon died"
assert_eq "definitions 1" "$(cat "$MNT/defs.txt")" "a file through the first daemon"
echo "ok: mount point created, misplaced caches refused, dead mount cleared, live one kept"
