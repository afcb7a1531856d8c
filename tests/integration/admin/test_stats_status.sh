#!/usr/bin/env bash
# `peercachectl stats --json` carries the health word of `status` next to
# the figures (its first member), with the daemon up ("up_to_date") and
# down ("offline"); the human `stats` prints it too.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir src
echo one >src/file
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo

json=$(pc_ctl stats --json)
assert_eq up_to_date "$(pc_json_get "$json" status)" "stats --json status (daemon up)"
assert_contains "$json" '{"status":"up_to_date",' "stats --json"
[ "$(pc_json_get "$json" chunks)" -ge 1 ] || fail "stats --json lost its figures: $json"
expect_status 0 "status:             up_to_date" "stats" pc_ctl stats
pc_daemon_stop
json=$(pc_ctl stats --json)
assert_eq offline "$(pc_json_get "$json" status)" "stats --json status (daemon down)"
expect_status 0 "status:             offline" "stats, daemon down" pc_ctl stats
echo "ok: stats carries the status word"
