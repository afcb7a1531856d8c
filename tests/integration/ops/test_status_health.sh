#!/usr/bin/env bash
# What `status` says when reads fail or a head is a lie (issue 10 items 10
# and 11).
#   - The only mirror serves wrong bytes for every chunk of a file: reads
#     fail with EIO, and status (human, --json, exit code, metrics) says
#     failing, which mirror, how many bad chunks and since when; the
#     demotion is a warning in the log.  It used to say up_to_date.
#   - A second, different signed head of the version accepted (another
#     publish with the same key): refused as an equivocation, logged at
#     error, shown in status; after a restart too (the accepted head's
#     digest is kept with the version), and the first version stays.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

# metric NAME: its value in a fresh scrape of $port, or "missing".
metric() {
	curl -sS --max-time 5 "http://127.0.0.1:$port/metrics" |
		awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) print "missing" }'
}

# wait_metric NAME MIN: until NAME is at least MIN (the loop's values are
# copied for the scraper once a second).
wait_metric() {
	local deadline=$((SECONDS + 5)) value
	while :; do
		value=$(metric "$1")
		[ "$value" != missing ] && [ "$value" -ge "$2" ] && return 0
		[ $SECONDS -lt $deadline ] || fail "metric $1 is $value, expected at least $2"
		sleep 0.2
	done
}

mkdir src
pc_random src/a.bin 3M
echo "version one" >src/notes.txt
pc_publish src repo
for chunk in $(manifest_file_chunks "$(manifest_path repo)" a.bin); do
	pc_flip_byte "$(object_path repo "$chunk")" 100
done
pc_nginx_start "$PC_TMP/repo"
port=$(pc_free_port)
pc_mount_repo -o metrics_listen="127.0.0.1:$port" -o fetch_timeout=5s

# --- wrong bytes: every read of a.bin fails ---------------------------------
if cat mnt/a.bin >/dev/null 2>err.txt; then
	fail "a.bin read although every chunk of it is wrong"
fi
assert_contains "$(cat err.txt)" "Input/output error" "the reader gets EIO"
assert_eq "version one" "$(cat mnt/notes.txt)" "notes.txt is fine"

pc_run pc_ctl status --json
assert_eq 4 "$PC_RC" "status exit code while reads fail"
json=$PC_OUT
assert_eq failing "$(pc_json_get "$json" status)" "status while reads fail"
assert_eq up_to_date "$(pc_json_get "$json" poll_status)" "the poller's own view"
reason=$(pc_json_get "$json" reason)
assert_contains "$reason" "reads failed" "the reason: reads"
assert_contains "$reason" "mirror $NGINX_URL: " "the reason: which mirror"
assert_contains "$reason" "chunks with wrong bytes since 20" "the reason: how many, since when"
python3 - "$json" <<'PY' || fail "status sources: $json"
import json, sys
status = json.loads(sys.argv[1])
src = status["sources"][0]
assert src["trouble"] == "wrong_bytes", src
assert src["bad_chunks"] >= 1 and src["since"] > 0, src
assert status["read_failures"] >= 1, status
assert "chunk" in status["last_read_error"], status
PY
pc_run pc_ctl status
assert_contains "$PC_OUT" "status:      failing" "status, for a person"
assert_contains "$PC_OUT" "$NGINX_URL: demoted (wrong_bytes since" "the source line"
assert_contains "$PC_OUT" "reads:       " "the failed reads line"
wait_metric 'peercache_status{status="failing"}' 1
wait_metric "peercache_source_bad_chunks_total{source=\"$NGINX_URL\"}" 1
wait_metric peercache_read_failures_total 1
assert_contains "$(cat "$PC_DAEMON_LOG")" "net: warning: mirror $NGINX_URL demoted" \
	"the demotion is a warning"
assert_contains "$(cat "$PC_DAEMON_LOG")" "net: warning: reads fail with EIO: chunk" \
	"failed reads are a warning"
# Once per cause: a second failed read adds no second line.
cat mnt/a.bin >/dev/null 2>&1 || true
assert_eq 1 "$(grep -c 'net: warning: reads fail with EIO' "$PC_DAEMON_LOG")" \
	"failed reads are logged once while they last"

# --- equivocation: another head for version 1, same key ------------------------
mkdir src2
echo "a lie" >src2/notes.txt
pc_publish src2 repo2
assert_eq 1 "$(head_field repo2 version)" "the second publish is version 1 too"
cp -r repo2/chunks/. repo/chunks/
cp repo/head head.v1
cp repo2/head repo/head
expect_status 1 "equivocation" "refresh with a second head of version 1" \
	pc_ctl refresh
assert_contains "$(cat "$PC_DAEMON_LOG")" "net: error: head from $NGINX_URL refused: equivocation" \
	"the equivocation is logged at error"
json=$(pc_ctl status --json || true)
assert_eq 1 "$(pc_json_get "$json" equivocations)" "equivocations in status"
assert_contains "$(pc_json_get "$json" reason)" "equivocation" "the reason says so"
wait_metric peercache_equivocations_total 1
# The genuine head again: up to date, but the equivocation is still shown.
cp head.v1 repo/head
pc_ctl refresh >/dev/null
json=$(pc_ctl status --json || true)
assert_eq 1 "$(pc_json_get "$json" equivocations)" "the equivocation is remembered"
assert_contains "$(pc_json_get "$json" reason)" "equivocation" "the reason still says so"

# After a restart the node still knows which head of version 1 it took.
cp repo2/head repo/head
pc_daemon_stop
pc_mount_repo -o fetch_timeout=5s
assert_eq "version one" "$(cat mnt/notes.txt)" "version 1 stays after a restart"
expect_status 1 "equivocation" "refresh after a restart" pc_ctl refresh
echo "ok: status says failing with its mirror and bad chunks; equivocation refused"
