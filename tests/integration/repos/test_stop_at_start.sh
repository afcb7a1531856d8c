#!/usr/bin/env bash
# A stop signal between the mounts and the request loops: the daemon
# (peercache-next, held there by PEERCACHE_TEST_HOOKS=mounted_delay_ms)
# gets SIGTERM once every mount is made and before it serves; it ends
# with status 0 and every mount unmounted.  With two sections (the loops
# start on threads of their own after READY), then with one.  Before,
# the signal's default action killed it and left the mounts dead.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup
pc_keygen "$PC_TMP/key"
PEERCACHE="$PC_BIN/peercache-next"
export PEERCACHE_TEST_HOOKS="mounted_delay_ms=30000"

# conf NAME...: a section per NAME, its mirror a port nobody listens on
# (the first update check fails at once: empty trees).
conf() {
	printf '[peercache]\ncache_dir = %s\npoll_interval = 1h\n' "$PC_TMP/cache"
	printf 'fetch_timeout = 3s\ndiscovery = off\npeer_server = off\n'
	for n in "$@"; do
		printf '\n[repository %s]\nmount_point = %s\nmirror = http://127.0.0.1:1/%s\ntrusted_key = %s\n' \
			"$n" "$PC_TMP/srv/$n" "$n" "$PC_TMP/key.pub"
	done
}
pc_on_exit 'pc_unmount_each "$PC_TMP"/srv/*'

# stopped_at_start NAME...: the daemon with these sections, SIGTERM once
# it is held after its mounts.
stopped_at_start() {
	local log="$PC_TMP/daemon.$#.log" n pid rc=0
	PC_DAEMON_LOG=$log
	conf "$@" >"$PC_TMP/stop.conf"
	"$PEERCACHE" -f -c "$PC_TMP/stop.conf" >"$log" 2>&1 &
	pid=$!
	pc_on_exit "pc_daemon_cleanup $pid $PC_TMP/srv/$1 $log"
	pc_wait_for "the daemon was not held after its mounts" \
		grep -q "test hook: mounted, serving in" "$log"
	for n in "$@"; do
		pc_is_mounted "$PC_TMP/srv/$n" || fail "$n not mounted when held"
	done
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	assert_eq 0 "$rc" "exit status on SIGTERM after the mounts ($# sections; log: $(tail -n 5 "$log"))"
	for n in "$@"; do
		! pc_is_mounted "$PC_TMP/srv/$n" || fail "$n still mounted after SIGTERM ($# sections)"
	done
	assert_eq "$#" "$(grep -c "^peercache: unmounting " "$log")" "unmounts said ($# sections)"
	pc_sanitizer_check
	echo "SIGTERM after $# mounts: exit 0, none left"
}

stopped_at_start alpha beta
rm -rf "$PC_TMP/cache"
stopped_at_start gamma
