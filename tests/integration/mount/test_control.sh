#!/usr/bin/env bash
# The daemon's command line and control socket: status, stats and refresh,
# human and --json; -o overrides; unknown keys and bad values refused; a
# second instance on the same cache refused.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
# More than PC_CHUNK_MAX (4 MiB): a file of one chunk would be read by
# passthrough once cached, and its reads never reach the daemon to count.
pc_random src/file.bin 5M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

expect_status 2 "unknown configuration key 'mirrors'" "unknown key" \
	"$PEERCACHE" -f -o mirrors=x "$PC_TMP/mnt"
expect_status 2 "fetch_timeout" "bad duration" \
	"$PEERCACHE" -f -o mirror=x -o trusted_key=y -o fetch_timeout=soon "$PC_TMP/mnt"
expect_status 2 "max_fetches" "bad count" \
	"$PEERCACHE" -f -o max_fetches=0 "$PC_TMP/mnt"
expect_status 2 "at least one mirror" "no mirror" \
	"$PEERCACHE" -c /dev/null --print-config
printf '[peercache]\nmirror = http://a.example\ntrusted_key = %s\npoll_interval = 5m\n' "$PC_TMP/key.pub" >conf
expect_status 0 "poll_interval = 300s" "config file" \
	"$PEERCACHE" -c conf --print-config
expect_status 0 "poll_interval = 60s" "-o wins over the file" \
	"$PEERCACHE" -c conf -o poll_interval=1m --print-config
expect_status 0 "usage: peercache" "--help" "$PEERCACHE" --help

pc_mount_repo
expect_status 1 "in use" "second instance on the same cache" \
	"$PEERCACHE" -f -o cache_dir="$PC_TMP/cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o discovery=off "$PC_TMP/mnt2"

cat mnt/file.bin >/dev/null
echo 3 >/proc/sys/vm/drop_caches # the second read must reach the daemon
cat mnt/file.bin >/dev/null
sleep 1.5
expect_status 0 "status:      up_to_date" "status" pc_ctl status
assert_contains "$PC_OUT" "version:     1" "status version"
json=$(pc_ctl status --json)
assert_eq 1 "$(pc_json_get "$json" version)" "status --json version"
assert_eq up_to_date "$(pc_json_get "$json" status)" "status --json status"
assert_eq test "$(pc_json_get "$json" repository)" "status --json repository"
assert_eq "$NGINX_URL" "$(pc_json_get "$json" mirrors)" "status --json mirrors"

expect_status 0 "hit rate" "stats" pc_ctl stats
json=$(pc_ctl stats --json)
for key in version cache_bytes chunks hits misses bytes_from_cache bytes_from_peers bytes_from_mirror; do
	pc_json_get "$json" $key >/dev/null || fail "stats --json has no $key"
done
[ "$(pc_json_get "$json" bytes_from_mirror)" -ge 2097152 ] || fail "bytes_from_mirror: $json"
[ "$(pc_json_get "$json" bytes_from_cache)" -ge 2097152 ] || fail "bytes_from_cache: $json"
[ "$(pc_json_get "$json" hits)" -ge 1 ] || fail "hits: $json"
[ "$(pc_json_get "$json" misses)" -ge 1 ] || fail "misses: $json"

expect_status 0 "ok: version 1" "refresh (nothing new)" pc_ctl refresh
echo more >src/new.txt
pc_publish src repo
json=$(pc_ctl refresh --json)
assert_eq ok "$(pc_json_get "$json" result)" "refresh --json result"
assert_eq 2 "$(pc_json_get "$json" version)" "refresh --json version"
assert_eq more "$(cat mnt/new.txt)" "new file after refresh"
expect_status 1 "cannot ask peercache" "no daemon" \
	"$PEERCACHECTL" --socket "$PC_TMP/nothing.sock" status
pc_daemon_stop

# SIGINT unmounts cleanly too.
pc_mount_repo
kill -INT "$PC_DAEMON_PID"
wait "$PC_DAEMON_PID" || fail "peercache exited with $? on SIGINT"
pc_is_mounted "$PC_TMP/mnt" && fail "still mounted after SIGINT"

# Without -f it daemonizes, and only once the mount is ready.
"$PEERCACHE" -o cache_dir="$PC_TMP/cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o discovery=off -o peer_server=off \
	"$PC_TMP/mnt" ||
	fail "peercache (daemonizing) exited with $?"
pc_on_exit "fusermount3 -u -z $PC_TMP/mnt 2>/dev/null || true"
pc_is_mounted "$PC_TMP/mnt" || fail "not mounted when the parent returned"
assert_file_same src/file.bin mnt/file.bin
pid=$(pgrep -f "cache_dir=$PC_TMP/cache") || fail "no daemon process"
fusermount3 -u "$PC_TMP/mnt"
for _ in $(seq 100); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "the daemon did not exit after unmount"
true
