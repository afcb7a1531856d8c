#!/usr/bin/env bash
# Which repository gets the cache's default trees (review of stage 3,
# finding 1): run 1 serves sections A and B on a fresh cache (A gets the
# default trees, B a named handle); run 2 keeps only [repository B]:
#   - B's mount shows B's files, not A's (the default trees are A's);
#   - B's next version installs (A's highest version does not judge it);
#   - `peercachectl -r B status`, live and offline, reads B's trees, as
#     does offline status and `check` without -r on the configuration;
# run 3 has A and B again: A's trees are untouched (its files, its
# version); run 4, the top-level form with `repository = B`, serves B's
# trees as well.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup
. "$(dirname "$0")/loopback.sh"

mkdir -p src-a src-b www
echo "repository A, file 1" >src-a/a.txt
head -c 300000 /dev/urandom >src-a/big.bin
echo "repository B, version 1" >src-b/b.txt
# A's version (3) is above B's (1, then 2): judged by A's highest, B's
# heads would be refused as a rollback.
for _ in 1 2 3; do pc_publish_as A a.key src-a www/a; done
pc_publish_as B b.key src-b www/b
pc_nginx_start "$PC_TMP/www"

PC_DAEMON_LOG="$PC_TMP/run1.log"
MA="$PC_TMP/srv/A" MB="$PC_TMP/srv/B" CACHE="$PC_TMP/cache"
mkdir -p "$MA" "$MB"
host() {
	printf '[peercache]\ncache_dir = %s\npoll_interval = 1h\nfetch_timeout = 5s\ndiscovery = off\npeer_server = off\n' "$CACHE"
}
section() { # NAME MNT DIR KEY
	printf '\n[repository %s]\nmount_point = %s\nmirror = %s/%s\ntrusted_key = %s\n' \
		"$1" "$2" "$NGINX_URL" "$3" "$PC_TMP/$4.pub"
}
{ host; section A "$MA" a a.key; section B "$MB" b b.key; } >both.conf
{ host; section B "$MB" b b.key; } >b.conf

pc_on_exit 'pc_unmount_each "$MA" "$MB"'
# run CONF LOG MNT...: the daemon with CONF until every MNT is mounted.
run() {
	local conf=$1 log=$2 mnt
	shift 2
	PC_DAEMON_LOG="$PC_TMP/$log" # for pc_wait_for's message
	"$PEERCACHE" -f -c "$conf" "" >"$log" 2>&1 &
	PID=$!
	pc_on_exit "pc_daemon_cleanup $PID $1 $log"
	for mnt in "$@"; do
		mounted() { grep -q "^peercache: mounted on $mnt" "$log"; }
		pc_wait_for "the daemon of $conf did not mount $mnt" mounted
	done
}
stop() {
	kill -TERM "$PID"
	wait "$PID" || fail "exit status $? on SIGTERM"
}
sha() { sha256sum <"$1" | cut -d' ' -f1; }
ctl() { "$PEERCACHECTL" --cache-dir "$CACHE" "$@"; }
A_BIG=$(sha src-a/big.bin)

# --- run 1: A and B on a fresh cache -------------------------------------------------
run both.conf run1.log "$MA" "$MB"
assert_eq "repository A, file 1" "$(cat "$MA/a.txt")" "A in run 1"
assert_eq "$A_BIG" "$(sha "$MA/big.bin")" "A's big file in run 1"
assert_eq "repository B, version 1" "$(cat "$MB/b.txt")" "B in run 1"
grep -q "the cache's default trees serve A" run1.log ||
	fail "A did not get the default trees: $(grep -v 'unique: ' run1.log | tail -n 20)"
stop

# --- run 2: only B -------------------------------------------------------------------
run b.conf run2.log "$MB"
assert_eq "./b.txt" "$(cd "$MB" && find . -mindepth 1 | sort)" "B's mount, B alone"
assert_eq "repository B, version 1" "$(cat "$MB/b.txt")" "B alone"
pc_run ctl -c b.conf -r B --json status
assert_eq B "$(pc_json_get "$PC_OUT" repository)" "live status -r B: repository"
assert_eq 1 "$(pc_json_get "$PC_OUT" version)" "live status -r B: version"

# B's version 2 installs.
echo "repository B, version 2" >src-b/b.txt
echo "new in B 2" >src-b/new.txt
pc_publish_as B b.key src-b www/b
pc_run ctl -c b.conf -r B refresh
assert_eq "repository B, version 2" "$(cat "$MB/b.txt")" "B after its version 2"
assert_eq "new in B 2" "$(cat "$MB/new.txt")" "B's new file in version 2"
pc_run ctl -c b.conf -r B --json status
assert_eq 2 "$(pc_json_get "$PC_OUT" version)" "live status -r B after refresh"
stop

# check without -r judges B's mirror against B's highest (2), not the
# default's (A's 3): passes.
pc_run ctl -c b.conf --cache-dir "$CACHE" --json check
assert_eq 0 "$PC_RC" "check of b.conf without -r: $PC_OUT"
# Offline: -r B, and without -r (the configuration's first section) agree
# with the daemon.
for args in "-r B" ""; do
	# shellcheck disable=SC2086
	pc_run ctl -c b.conf $args --json status
	assert_eq offline "$(pc_json_get "$PC_OUT" daemon)" "offline status $args"
	assert_eq B "$(pc_json_get "$PC_OUT" repository)" "offline status $args: repository"
	assert_eq 2 "$(pc_json_get "$PC_OUT" version)" "offline status $args: version"
	assert_eq 2 "$(pc_json_get "$PC_OUT" highest_version)" "offline status $args: highest"
done

# --- run 3: A and B again: A's trees are untouched ------------------------------------
run both.conf run3.log "$MA" "$MB"
assert_eq "repository A, file 1" "$(cat "$MA/a.txt")" "A in run 3"
assert_eq "$A_BIG" "$(sha "$MA/big.bin")" "A's big file in run 3"
assert_eq "./a.txt
./big.bin" "$(cd "$MA" && find . -mindepth 1 | sort)" "A's mount in run 3"
assert_eq "repository B, version 2" "$(cat "$MB/b.txt")" "B in run 3"
pc_run ctl -c both.conf -r A --json status
assert_eq A "$(pc_json_get "$PC_OUT" repository)" "status -r A in run 3"
assert_eq 3 "$(pc_json_get "$PC_OUT" version)" "status -r A in run 3: version"
stop

# --- run 4: the top-level form with repository = B: B's trees too ---------------------
{ host; printf 'repository = B\nmirror = %s/b\ntrusted_key = %s\n' "$NGINX_URL" "$PC_TMP/b.key.pub"; } >top.conf
# shellcheck disable=SC2034 # pc_wait_for shows it
PC_DAEMON_LOG="$PC_TMP/run4.log"
"$PEERCACHE" -f -c top.conf "$MB" >run4.log 2>&1 &
PID=$!
pc_on_exit "pc_daemon_cleanup $PID $MB run4.log"
mounted() { grep -q "^peercache: mounted on $MB" run4.log; }
pc_wait_for "the daemon of top.conf did not mount $MB" mounted
assert_eq "repository B, version 2" "$(cat "$MB/b.txt")" "B in the top-level form"
pc_run ctl -c top.conf --json status
assert_eq B "$(pc_json_get "$PC_OUT" repository)" "status of top.conf"
stop
pc_run ctl -c top.conf --json status
assert_eq offline "$(pc_json_get "$PC_OUT" daemon)" "offline status of top.conf"
assert_eq 2 "$(pc_json_get "$PC_OUT" version)" "offline status of top.conf: version"
for log in "$PC_TMP"/run?.log; do
	PC_DAEMON_LOG=$log pc_sanitizer_check
done
