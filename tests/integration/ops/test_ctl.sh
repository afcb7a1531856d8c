#!/usr/bin/env bash
# peercachectl, every command, for a person and with --json (parsed with
# python3), with the daemon up and down: status, stats, peers, refresh,
# purge (limits, --to, --all), verify, rollback/unpin (the switch itself
# is test_rollback.sh), check (test_check.sh); usage errors and --help;
# status and stats read the cache index when the daemon is down and say
# so; the other commands fail with exit status 1.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

CTL="$PC_BIN/peercachectl"

# json_ok TEXT WHAT: TEXT is one JSON object (python3 parses it).
json_ok() {
	python3 -c 'import json, sys; json.loads(sys.argv[1])' "$1" ||
		fail "$2: not JSON: $1"
}

mkdir src
pc_random src/a.bin 3M
pc_random src/b.bin 1M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

# ---- usage --------------------------------------------------------------------
expect_status 0 "usage: peercachectl" "--help" "$CTL" --help
for cmd in status stats peers refresh purge verify rollback unpin check; do
	assert_contains "$PC_OUT" "$cmd" "--help names $cmd"
done
expect_status 2 "unknown command 'frobnicate'" "unknown command" "$CTL" frobnicate
expect_status 2 "usage:" "no command" "$CTL"
expect_status 2 "are for purge" "--all without purge" "$CTL" --all status
expect_status 2 "not a size" "purge --to garbage" \
	"$CTL" --cache-dir "$PC_TMP/cache" purge --to lots

# ---- daemon up ----------------------------------------------------------------
pc_mount_repo -o quota=64M
echo two >src/two.txt
pc_publish src repo
expect_status 0 "ok: version 2" "refresh to version 2" pc_ctl refresh
cat mnt/a.bin mnt/b.bin >/dev/null
sleep 1.5 # a flush: the counters reach the index

expect_status 0 "status:      up_to_date" "status" pc_ctl status
assert_contains "$PC_OUT" "version:     2" "status: version"
assert_contains "$PC_OUT" "last successful: 0 min ago" "status: minutes since the last good poll"
assert_contains "$PC_OUT" "mirrors:     $NGINX_URL" "status: mirrors"
assert_contains "$PC_OUT" "source:      $NGINX_URL" "status: source"
assert_contains "$PC_OUT" "daemon:      running for" "status: daemon"
json=$(pc_ctl status --json)
json_ok "$json" "status --json"
assert_eq up_to_date "$(pc_json_get "$json" status)" "status --json status"
assert_eq 2 "$(pc_json_get "$json" version)" "status --json version"
assert_eq "" "$(pc_json_get "$json" reason)" "status --json reason"
assert_eq False "$(pc_json_get "$json" held)" "status --json held"
assert_eq "$NGINX_URL" "$(pc_json_get "$json" mirrors)" "status --json mirrors"

expect_status 0 "hit rate" "stats" pc_ctl stats
assert_contains "$PC_OUT" "daemon:             running for" "stats: daemon"
assert_contains "$PC_OUT" "quota 64.0 MiB" "stats: quota"
assert_contains "$PC_OUT" "bandwidth saved:" "stats: bandwidth saved"
assert_contains "$PC_OUT" "purged:             0 chunks" "stats: purged"
assert_contains "$PC_OUT" "bad chunks:         0 from mirrors, 0 from peers" "stats: bad chunks"
json=$(pc_ctl stats --json)
json_ok "$json" "stats --json"
assert_eq $((64 << 20)) "$(pc_json_get "$json" quota)" "stats --json quota"
[ "$(pc_json_get "$json" bytes_from_mirror)" -ge $((4 << 20)) ] ||
	fail "stats --json bytes_from_mirror: $json"
[ "$(pc_json_get "$json" uptime)" -ge 0 ] || fail "stats --json uptime: $json"
chunks_before=$(pc_json_get "$json" chunks)
[ "$chunks_before" -ge 3 ] || fail "stats --json chunks: $json"

expect_status 0 "(no peer heard yet)" "peers" pc_ctl peers
json=$(pc_ctl peers --json)
json_ok "$json" "peers --json"
assert_eq "" "$(pc_json_get "$json" peers)" "peers --json: nobody"

expect_status 0 "ok: version 2 (up_to_date)" "refresh" pc_ctl refresh
json=$(pc_ctl refresh --json)
json_ok "$json" "refresh --json"
assert_eq ok "$(pc_json_get "$json" result)" "refresh --json result"

# verify: every chunk hashes right.
expect_status 0 "bad" "verify" pc_ctl verify
assert_contains "$PC_OUT" "checked $chunks_before chunks" "verify: checked"
assert_contains "$PC_OUT" ": 0 bad" "verify: none bad"
json=$(pc_ctl verify --json)
json_ok "$json" "verify --json"
assert_eq 0 "$(pc_json_get "$json" bad)" "verify --json bad"
assert_eq "$chunks_before" "$(pc_json_get "$json" checked)" "verify --json checked"

# purge: the limits (64M) keep everything; --to 1M and --all remove what
# no retained version's manifest needs.
expect_status 0 "purged 0 chunks" "purge (limits)" pc_ctl purge
json=$(pc_ctl purge --to 1M --json)
json_ok "$json" "purge --to --json"
assert_eq ok "$(pc_json_get "$json" result)" "purge --to result"
[ "$(pc_json_get "$json" purged_chunks)" -ge 1 ] || fail "purge --to 1M purged nothing: $json"
[ "$(pc_json_get "$json" cache_bytes)" -le $((1 << 20)) ] || fail "purge --to 1M: $json"
json=$(pc_ctl purge --all --json)
assert_eq 2 "$(pc_json_get "$json" kept_retained)" "purge --all keeps the two retained manifests"
assert_eq 2 "$(pc_json_get "$json" chunks)" "purge --all leaves the two manifests"
expect_status 0 "purged 0 chunks" "purge --all again" pc_ctl purge --all
assert_contains "$PC_OUT" "cache now" "purge: the cache afterwards"
json=$(pc_ctl stats --json)
[ "$(pc_json_get "$json" purged_chunks)" -ge 2 ] || fail "purged_chunks after purges: $json"
# What was purged comes back on the next read.
echo 3 >/proc/sys/vm/drop_caches
assert_file_same src/a.bin mnt/a.bin

# rollback and unpin answer (the versions themselves: test_rollback.sh).
expect_status 0 "rolled back: version 1 is served and held" "rollback" pc_ctl rollback
assert_contains "$PC_OUT" "unpin returns to version 2" "rollback: the way back"
expect_status 1 "a version is held already" "second rollback" pc_ctl rollback
json=$(pc_ctl status --json)
assert_eq True "$(pc_json_get "$json" held)" "status --json held"
assert_eq 1 "$(pc_json_get "$json" held_version)" "status --json held_version"
expect_status 0 "held:        version 1" "status while held" pc_ctl status
json=$(pc_ctl unpin --json)
json_ok "$json" "unpin --json"
assert_eq ok "$(pc_json_get "$json" result)" "unpin --json result"
assert_eq 2 "$(pc_json_get "$json" version)" "unpin --json version"
expect_status 0 "not held: version 2 is served" "unpin when nothing is held" pc_ctl unpin

# The socket by path works the same.
expect_status 0 "up_to_date" "--socket" "$CTL" --socket "$PC_TMP/cache/control.sock" status

# ---- daemon down ----------------------------------------------------------------
pc_daemon_stop
expect_status 1 "status:      offline" "status, daemon down" pc_ctl status
assert_contains "$PC_OUT" "version:     2" "offline status: version from the index"
assert_contains "$PC_OUT" "daemon does not answer" "offline status: why"
assert_contains "$PC_OUT" "not running: read from the cache index" "offline status says so"
pc_run pc_ctl status --json
assert_eq 1 "$PC_RC" "status --json, daemon down: exit status"
json_ok "$PC_OUT" "offline status --json"
assert_eq offline "$(pc_json_get "$PC_OUT" status)" "offline status --json status"
assert_eq 2 "$(pc_json_get "$PC_OUT" version)" "offline status --json version"
assert_eq test "$(pc_json_get "$PC_OUT" repository)" "offline status --json repository"

expect_status 0 "not running: read from the cache index" "stats, daemon down" pc_ctl stats
assert_contains "$PC_OUT" "quota unknown" "offline stats: no quota without -c"
json=$(pc_ctl stats --json)
json_ok "$json" "offline stats --json"
assert_eq offline "$(pc_json_get "$json" daemon)" "offline stats --json daemon"
[ "$(pc_json_get "$json" bytes_from_mirror)" -ge $((4 << 20)) ] ||
	fail "offline stats --json bytes_from_mirror: $json"
printf '[peercache]\nquota = 128M\n' >ctl.conf
expect_status 0 "quota 128.0 MiB" "offline stats with -c" pc_ctl -c ctl.conf stats

for cmd in peers refresh purge verify rollback unpin; do
	expect_status 1 "cannot ask peercache" "$cmd, daemon down" pc_ctl $cmd
	expect_status 1 "cannot ask peercache" "$cmd --json, daemon down" pc_ctl $cmd --json
done
# A socket path alone names no cache to fall back on.
expect_status 1 "cannot ask peercache" "--socket, daemon down" \
	"$CTL" --socket "$PC_TMP/cache/control.sock" status
# No daemon and no cache at all.
expect_status 1 "cannot be read" "no daemon, no cache" \
	"$CTL" --cache-dir "$PC_TMP/ctl-nothing" stats
