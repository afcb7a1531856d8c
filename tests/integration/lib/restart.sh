# restart.sh - restart without unmount (tests/integration/restart/).
# Source after mount.sh, once pc_daemon_start has run.
#
#   pc_slow_repo SIZE       a repository of src/big.bin (SIZE random bytes)
#                           and src/small.txt, served by nginx at 1 MB/s
#                           a connection: with max_fetches=2, big.bin's
#                           cold read takes SIZE / 2 MB/s
#   pc_mount_slow           pc_mount_repo with two fetches at a time
#                           (max_fetches, prefetch), and pc_restart_track
#   pc_mount_from_copy      the same, the daemon started from a copy of the
#                           build at $PC_TMP/bin/peercache, the path a
#                           restart starts; pc_install_binary FILE puts FILE
#                           there (renamed over it, as a package manager
#                           does)
#   pc_restart_track        at exit, stop whichever daemon serves by then
#                           (after a restart it is not the one started)
#   pc_restart [ARGS...]    `peercachectl restart`, which must succeed;
#                           PC_DAEMON_PID becomes the new daemon's pid,
#                           RESTART_VERSION its version, RESTART_PAUSE_MS
#                           the pause it reports
#   pc_started              `started` of `peercachectl status --json`
#   pc_restart_series N     N restarts a second apart (`started` counts
#                           seconds), each checked to start a new daemon;
#                           a function before_restart (or after_restart)
#                           that the test defines runs before (after) each,
#                           with its number
#   pc_restarts_under_reader N FILE SOURCE
#                           all of the above: the sampler and a reader of
#                           FILE through N restarts over its cold pass
#   pc_daemon_term          SIGTERM to the serving daemon (not a child of
#                           the test after a restart), wait, mount gone,
#                           and no sanitizer report in the daemon log
#   pc_sampler_start MNT    `mountpoint -q MNT` every 10 ms in the
#                           background; pc_sampler_stop fails the test if
#                           a sample failed, and prints how many ran
#   pc_reader_start FILE SOURCE
#                           restart_reader.py holding FILE open, reading
#                           it whole again and again and comparing with
#                           SOURCE; pc_reader_stop ends it and fails the
#                           test on any error or wrong byte
#   pc_mirror_cuts          chunk downloads nginx logged as cut short
#                           (fewer bytes than the chunk has): a daemon
#                           stopped its net with fetches in flight
#   pc_cold_check           after a series under a reader of a cold file:
#                           its first pass had not ended, and restarts cut
#                           downloads short (fetches were in flight)
#   pc_supervised_start MNT [ARGS...]
#                           the daemon on MNT under fdstore_supervisor.py
#                           (systemd's fd store and Restart=on-failure,
#                           see test_crash.sh), mirror $NGINX_URL, cache
#                           $PC_TMP/cache, until its fds are stored;
#                           $SV is the supervisor's state directory
#   pc_wait_for MESSAGE CMD...
#                           until CMD succeeds (30 s), or fail with
#                           MESSAGE, the daemon log and the notifications
#   pc_hold NAME WHAT...    hold_open.py in $PC_TMP/NAME holding WHAT
#                           (FILE=SOURCE, DIR=NAME,NAME) of the mount
#                           open, until the test ends or pc_hold_stop NAME
#                           (which fails the test if the holder failed);
#                           HOLD_BUFFERED=1 in its environment: no O_DIRECT
#   pc_held NAME STEP       that holder reads through its descriptors and
#                           finds what it opened, or the test fails
#   pc_crash STARTS         SIGKILL to the main process; the supervisor's
#                           STARTS-th start serves the mount again with
#                           the stored fds; PC_DAEMON_PID becomes it

RESTART_READER="$PC_SRC/tests/integration/restart/restart_reader.py"

pc_slow_repo() {
	mkdir -p src
	pc_random src/big.bin "$1"
	echo "small" >src/small.txt
	pc_publish src repo
	pc_nginx_start "$PC_TMP/repo" "limit_rate 1m;"
}

pc_mount_slow() {
	pc_mount_repo -o max_fetches=2 -o prefetch=2 "$@"
	pc_restart_track
}

pc_mount_from_copy() {
	mkdir -p "$PC_TMP/bin"
	cp "$PEERCACHE" "$PC_TMP/bin/peercache"
	PEERCACHE="$PC_TMP/bin/peercache"
	pc_mount_slow "$@"
}

pc_install_binary() {
	cp "$1" "$PC_TMP/bin/peercache.new"
	chmod +x "$PC_TMP/bin/peercache.new"
	mv "$PC_TMP/bin/peercache.new" "$PC_TMP/bin/peercache"
}

pc_restart_track() {
	pc_on_exit 'pc_daemon_cleanup "$PC_DAEMON_PID" "$PC_DAEMON_MNT" "$PC_DAEMON_LOG"'
}

pc_restart() {
	local out rc=0 pid
	out=$(pc_ctl --json restart "$@" 2>&1) || rc=$?
	[ "$rc" = 0 ] || fail "peercachectl restart failed (status $rc): $out
daemon log:
$(tail -20 "$PC_DAEMON_LOG")"
	pid=$(pc_json_get "$out" pid)
	RESTART_VERSION=$(pc_json_get "$out" version)
	RESTART_PAUSE_MS=$(pc_json_get "$out" paused_ms)
	[ "$pid" != "$PC_DAEMON_PID" ] || fail "restart: the same pid $pid serves"
	kill -0 "$pid" 2>/dev/null || fail "restart: the new daemon (pid $pid) is not running"
	pc_wait_gone "$PC_DAEMON_PID" ||
		fail "restart: the old daemon (pid $PC_DAEMON_PID) is still running"
	PC_DAEMON_PID=$pid
}

# pc_wait_gone PID [TENTHS]: true once PID has exited (within TENTHS
# tenths of a second, 50 by default); reaped if it is a child of the test.
pc_wait_gone() {
	local i
	for i in $(seq "${2:-50}"); do
		if ! kill -0 "$1" 2>/dev/null ||
			grep -qE '^State:[[:space:]]+Z' "/proc/$1/status" 2>/dev/null; then
			wait "$1" 2>/dev/null || true
			return 0
		fi
		sleep 0.1
	done
	return 1
}

pc_started() {
	# (status exits 4 while a daemon that just started has not polled)
	pc_json_get "$(pc_ctl status --json || true)" started
}

pc_restart_series() {
	local i started now
	started=$(pc_started)
	for i in $(seq "$1"); do
		sleep 1.1
		if declare -F before_restart >/dev/null; then before_restart "$i"; fi
		pc_restart
		now=$(pc_started)
		[ "$now" != "$started" ] ||
			fail "restart $i: the daemon still says it started at $started"
		started=$now
		echo "restart $i: pid $PC_DAEMON_PID (peercache $RESTART_VERSION) serves; requests waited $RESTART_PAUSE_MS ms"
		if declare -F after_restart >/dev/null; then after_restart "$i"; fi
	done
}

# pc_restarts_under_reader N FILE SOURCE: the sampler and a reader of FILE
# (checked against SOURCE), N restarts over its cold first pass, then
# both stopped and checked, and no restart logged as failed.
pc_restarts_under_reader() {
	pc_sampler_start "$PC_DAEMON_MNT"
	pc_reader_start "$2" "$3"
	pc_restart_series "$1"
	pc_cold_check
	pc_reader_stop
	pc_sampler_stop
	grep -n "restart failed" "$PC_DAEMON_LOG" && fail "a restart failed"
	return 0
}

pc_daemon_term() {
	kill -TERM "$PC_DAEMON_PID"
	pc_wait_gone "$PC_DAEMON_PID" 150 ||
		fail "peercache (pid $PC_DAEMON_PID) ignored SIGTERM"
	pc_is_mounted "$PC_DAEMON_MNT" && fail "$PC_DAEMON_MNT still mounted after SIGTERM"
	pc_sanitizer_check
}

# Every daemon so far wrote to one log: no sanitizer report in it (a
# daemon that handed its mount over exits with nobody to see its status).
pc_sanitizer_check() {
	if grep -qE 'Sanitizer|runtime error' "$PC_DAEMON_LOG"; then
		fail "sanitizer report in the daemon log:
$(grep -E -A30 'ERROR: [A-Za-z]+Sanitizer|WARNING: ThreadSanitizer|runtime error' "$PC_DAEMON_LOG" | head -60)"
	fi
	return 0
}

pc_sampler_start() {
	SAMPLER_DIR="$PC_TMP/sampler"
	mkdir -p "$SAMPLER_DIR"
	(
		n=0
		while [ ! -e "$SAMPLER_DIR/stop" ]; do
			mountpoint -q "$1" || echo "$(date +%T.%N) $1 is not a mount point" >>"$SAMPLER_DIR/failed"
			n=$((n + 1))
			echo "$n" >"$SAMPLER_DIR/count"
			sleep 0.01
		done
	) &
	SAMPLER_PID=$!
	pc_on_exit "touch $SAMPLER_DIR/stop; wait $SAMPLER_PID 2>/dev/null || true"
}

pc_sampler_stop() {
	touch "$SAMPLER_DIR/stop"
	wait "$SAMPLER_PID" 2>/dev/null || true
	[ ! -s "$SAMPLER_DIR/failed" ] || fail "the mount went away: $(head -5 "$SAMPLER_DIR/failed")"
	echo "mountpoint -q: $(cat "$SAMPLER_DIR/count") samples, all mounted"
}

pc_reader_start() {
	READER_DIR="$PC_TMP/reader"
	mkdir -p "$READER_DIR"
	python3 "$RESTART_READER" "$1" "$2" "$READER_DIR" \
		>"$READER_DIR/out" 2>&1 &
	READER_PID=$!
	pc_on_exit "touch $READER_DIR/stop; kill $READER_PID 2>/dev/null; wait $READER_PID 2>/dev/null || true"
	# Its first read is under way once it says so.
	for _ in $(seq 200); do
		[ -e "$READER_DIR/started" ] && return 0
		kill -0 "$READER_PID" 2>/dev/null || fail "the reader died: $(cat "$READER_DIR/out")"
		sleep 0.05
	done
	fail "the reader did not start: $(cat "$READER_DIR/out")"
}

# pc_reader_passes: whole passes the reader finished so far.
pc_reader_passes() {
	cat "$READER_DIR/passes" 2>/dev/null || echo 0
}

# pc_mirror_cuts: chunk downloads the mirror logged as cut short.
pc_mirror_cuts() {
	local method uri status bytes n=0
	while read -r method uri status bytes; do
		[ "$method" = GET ] && [ "$status" = 200 ] || continue
		case "$uri" in /chunks/*) ;; *) continue ;; esac
		[ "$bytes" -lt "$(stat -c %s "$PC_TMP/repo$uri")" ] && n=$((n + 1))
	done <"$NGINX_LOG"
	echo "$n"
}

pc_cold_check() {
	[ "$(pc_reader_passes)" = 0 ] ||
		fail "the first (cold) pass ended before the last restart"
	[ "$(pc_mirror_cuts)" -gt 0 ] ||
		fail "no restart cut a download short: nothing was in flight"
	echo "downloads cut short by the restarts: $(pc_mirror_cuts)"
}

pc_reader_stop() {
	local rc=0
	touch "$READER_DIR/stop"
	timeout 30 tail --pid="$READER_PID" -f /dev/null || fail "the reader does not end: a read waits for good"
	wait "$READER_PID" || rc=$?
	[ "$rc" = 0 ] || fail "the reader failed (status $rc): $(cat "$READER_DIR/out")"
	echo "reader: $(cat "$READER_DIR/out")"
}

pc_supervised_start() {
	local mnt=$1
	shift
	PC_DAEMON_MNT=$mnt
	PC_DAEMON_CACHE="$PC_TMP/cache"
	PC_DAEMON_LOG="$PC_TMP/daemon.log"
	SV="$PC_TMP/supervisor"
	mkdir -p "$mnt" "$PC_DAEMON_CACHE" "$SV"
	python3 "$PC_SRC/tests/integration/restart/fdstore_supervisor.py" "$SV" -- \
		"$PEERCACHE" -f -o cache_dir="$PC_DAEMON_CACHE" -o poll_interval=1h \
		-o discovery=off -o peer_server=off -o mirror="$NGINX_URL" \
		-o trusted_key="$PC_TMP/key.pub" "$@" "$mnt" >>"$PC_DAEMON_LOG" 2>&1 &
	SUPERVISOR_PID=$!
	# At exit the supervisor goes first (newest first), so that it starts
	# no daemon after the last one is stopped and its mount is gone.
	pc_on_exit 'pc_daemon_cleanup "$(cat "$SV/pid" 2>/dev/null || echo 0)" "$PC_DAEMON_MNT" "$PC_DAEMON_LOG"'
	pc_on_exit "kill $SUPERVISOR_PID 2>/dev/null; wait $SUPERVISOR_PID 2>/dev/null || true"
	pc_wait_for "the daemon did not mount" pc_is_mounted "$mnt"
	pc_wait_for "the daemon did not store its fds" pc_fds_stored
	PC_DAEMON_PID=$(cat "$SV/pid")
}

pc_wait_for() {
	local message=$1 deadline=$((SECONDS + 30))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || fail "$message; daemon log:
$(tail -20 "$PC_DAEMON_LOG")
notifications:
$(cat "${SV:-/nonexistent}/notify.log" 2>/dev/null)"
		sleep 0.05
	done
}

pc_fds_stored() {
	grep -qx "STORED peercache-fuse (1 fds)" "$SV/notify.log" 2>/dev/null &&
		grep -qx "STORED peercache-state (1 fds)" "$SV/notify.log"
}

pc_crash() {
	local killed=$PC_DAEMON_PID
	kill -KILL "$killed"
	starts_are() { [ "$(cat "$SV/starts")" = "$1" ]; }
	pc_wait_for "the supervisor did not start daemon $1" starts_are "$1"
	PC_DAEMON_PID=$(cat "$SV/pid")
	[ "$PC_DAEMON_PID" != "$killed" ] || fail "the same pid serves"
	grep -q "^START pid=$PC_DAEMON_PID fds=peercache-fuse:peercache-state" "$SV/notify.log" ||
		fail "daemon $1 did not get the stored fds: $(cat "$SV/notify.log")"
	resumed() {
		[ "$(grep -c "serving the mount on $PC_DAEMON_MNT again" "$PC_DAEMON_LOG")" = "$1" ]
	}
	pc_wait_for "daemon $1 did not resume the mount" resumed $(($1 - 1))
	echo "crash: pid $killed killed, pid $PC_DAEMON_PID serves the same mount"
}

pc_hold() {
	local dir="$PC_TMP/$1"
	shift
	mkdir -p "$dir"
	python3 "$PC_SRC/tests/integration/restart/hold_open.py" "$dir" "$@" \
		>"$dir/out" 2>&1 &
	echo $! >"$dir/pid"
	pc_on_exit "touch $dir/stop; wait $! 2>/dev/null || true"
	pc_wait_for "the holder did not open the files" test -e "$dir/ready"
}

pc_held() {
	local dir="$PC_TMP/$1" n
	n=$(($(cat "$dir/checks" 2>/dev/null || echo 0) + 1))
	echo "$n" >"$dir/checks"
	touch "$dir/check.$n"
	pc_wait_for "holder $1 did not check ($2)" test -e "$dir/result.$n"
	assert_eq ok "$(cat "$dir/result.$n")" "$2: what $1's open descriptors read"
	echo "$2: $1's descriptors read what they opened"
}

pc_hold_stop() {
	touch "$PC_TMP/$1/stop"
	wait "$(cat "$PC_TMP/$1/pid")" || fail "holder $1 failed: $(cat "$PC_TMP/$1/out")"
}
