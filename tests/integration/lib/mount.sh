# mount.sh - run the peercache daemon on a real FUSE mount.  Source after
# common.sh.
#
#   pc_daemon_start MNT CACHE [-o KEY=VALUE]...
#       starts `peercache -f` in the background, waits until MNT is mounted;
#       sets PC_DAEMON_PID and PC_DAEMON_LOG.  Stopped (and unmounted) at
#       exit.
#   pc_daemon_stop       SIGTERM, wait, check the mount is gone
#   pc_daemon_kill9      SIGKILL and clean the dead mount up
#   pc_ctl ARGS...       peercachectl against the running daemon's cache
#   pc_unmount_each MNT...  lazily unmounts those of MNT... still mounted
#       (cleanup of a daemon that serves several mounts)

PEERCACHE="$PC_BIN/peercache"
PEERCACHECTL="$PC_BIN/peercachectl"

pc_is_mounted() {
	# /proc/mounts writes a space in a path as \040
	grep -qF " ${1// /\\040} fuse" /proc/mounts
}

pc_daemon_start() {
	local mnt=$1 cache=$2 deadline
	shift 2
	mkdir -p "$mnt" "$cache"
	PC_DAEMON_MNT=$mnt
	PC_DAEMON_CACHE=$cache
	PC_DAEMON_LOG="$PC_TMP/daemon.$(basename "$mnt").log"
	"$PEERCACHE" -f -o cache_dir="$cache" -o poll_interval=1h \
		-o discovery=off -o peer_server=off "$@" "$mnt" \
		>>"$PC_DAEMON_LOG" 2>&1 &
	PC_DAEMON_PID=$!
	pc_on_exit "pc_daemon_cleanup $PC_DAEMON_PID $mnt $PC_DAEMON_LOG"
	deadline=$((SECONDS + 40))
	until pc_is_mounted "$mnt"; do
		if ! kill -0 "$PC_DAEMON_PID" 2>/dev/null; then
			fail "peercache exited before mounting; log:
$(cat "$PC_DAEMON_LOG")"
		fi
		[ $SECONDS -lt $deadline ] || fail "peercache did not mount $mnt; log:
$(cat "$PC_DAEMON_LOG")"
		sleep 0.05
	done
}

# At exit: stop the daemon if it still runs, and never leave a mount.  A
# sanitizer report in the daemon's log is shown (the log itself goes away
# with $PC_TMP).
pc_daemon_cleanup() {
	local pid=$1 mnt=$2 log=$3 i
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null
		for i in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	if pc_is_mounted "$mnt"; then
		fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	if grep -qE 'Sanitizer|runtime error' "$log" 2>/dev/null; then
		echo "--- sanitizer report in the daemon log ($log):" >&2
		grep -E -A40 'WARNING: ThreadSanitizer|ERROR: [A-Za-z]+Sanitizer|runtime error' "$log" | head -120 >&2
	fi
	return 0
}

pc_daemon_stop() {
	local i
	kill -TERM "$PC_DAEMON_PID"
	for i in $(seq 100); do
		kill -0 "$PC_DAEMON_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$PC_DAEMON_PID" 2>/dev/null && fail "peercache ignored SIGTERM"
	wait "$PC_DAEMON_PID" || fail "peercache exited with status $? on SIGTERM; log:
$(cat "$PC_DAEMON_LOG")"
	pc_is_mounted "$PC_DAEMON_MNT" && fail "$PC_DAEMON_MNT still mounted after SIGTERM"
	return 0
}

pc_daemon_kill9() {
	kill -KILL "$PC_DAEMON_PID"
	wait "$PC_DAEMON_PID" 2>/dev/null || true
	fusermount3 -u -z "$PC_DAEMON_MNT" 2>/dev/null || umount -l "$PC_DAEMON_MNT"
}

pc_unmount_each() {
	local mnt
	for mnt in "$@"; do
		! pc_is_mounted "$mnt" || fusermount3 -u -z "$mnt" || umount -l "$mnt"
	done
}

pc_ctl() {
	"$PEERCACHECTL" --cache-dir "$PC_DAEMON_CACHE" "$@"
}

# pc_json_get JSON KEY: one top-level value of a JSON object (python3).
pc_json_get() {
	python3 -c 'import json, sys; v = json.loads(sys.argv[1])[sys.argv[2]]; print(v if not isinstance(v, list) else ",".join(map(str, v)))' "$1" "$2"
}
