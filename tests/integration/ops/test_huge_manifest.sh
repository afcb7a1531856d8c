#!/usr/bin/env bash
# A signed head naming a huge manifest that never arrives (issue 10 item
# 9).  It used to keep the poller retrying for 4.5 hours: refresh blocked,
# a newer head was ignored until a restart, status showed an old error.
#   - a head naming a 1 GiB manifest that is not there (404): refresh
#     answers within seconds (retries stop after fetch_timeout) with the
#     reason, and status says it;
#   - a newer valid head then installs at the next poll;
#   - an install still waiting for its manifest (the mirror holds the
#     body) is superseded by a newer head, and whoever waited for the
#     older one hears of the newer one.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/slow_mirror.sh"
pc_setup

mkdir src
echo one >src/notes.txt
pc_publish src repo
pc_slow_mirror_start "$PC_TMP/repo" # serves normally until told to hold
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o fetch_timeout=5s
assert_eq one "$(cat mnt/notes.txt)" "version 1"

# --- a 1 GiB manifest that is not there -------------------------------------
missing=$(printf 'a%.0s' {1..64})
pc_sign_head "$PC_TMP/key" repo version=2 manifest="$missing" \
	manifest-size=1073741824
start=$SECONDS
pc_run timeout 60 "$PEERCACHECTL" --cache-dir "$PC_TMP/cache" refresh
assert_eq 1 "$PC_RC" "refresh of a head whose manifest is missing (124: it hung)
$PC_OUT"
assert_contains "$PC_OUT" "version 2: manifest aaaaaaaa" "refresh says which manifest"
[ $((SECONDS - start)) -le 20 ] ||
	fail "refresh took $((SECONDS - start)) s (fetch_timeout is 5 s)"
json=$(pc_ctl status --json || true)
assert_eq failing "$(pc_json_get "$json" status)" "status after the missing manifest"
assert_contains "$(pc_json_get "$json" last_error)" "version 2: manifest aaaaaaaa" \
	"status shows this poll's error, not an old one"
assert_eq one "$(cat mnt/notes.txt)" "version 1 is still served"

# --- a newer valid head wins -------------------------------------------------
echo two >src/notes.txt
pc_publish src repo
assert_eq 3 "$(head_field repo version)" "the publisher continues from version 2"
expect_status 0 "ok: version 3" "refresh to the newer head" pc_ctl refresh
assert_eq two "$(cat mnt/notes.txt)" "version 3 is served"

# --- an install waiting for its manifest is superseded -------------------------
echo three >src/notes.txt
pc_publish src repo
pc_slow_mirror_hold "^/chunks/../$(head_field repo manifest)\$"
pc_ctl refresh --json >refresh4.json 2>&1 &
waiting=$!
pc_slow_mirror_wait_held 10
json=$(pc_ctl status --json || true)
assert_eq 4 "$(pc_json_get "$json" installing)" "status: version 4 being installed"
assert_contains "$(pc_json_get "$json" reason)" "installing version 4" "status says so"
echo four >src/notes.txt
pc_publish src repo
expect_status 0 "ok: version 5" "refresh while version 4's manifest is held" \
	pc_ctl refresh
wait "$waiting" || fail "the refresh that waited for version 4: $(cat refresh4.json)"
assert_eq 5 "$(pc_json_get "$(cat refresh4.json)" version)" \
	"the refresh that waited for version 4 hears of version 5"
assert_eq four "$(cat mnt/notes.txt)" "version 5 is served"
assert_contains "$(cat "$PC_DAEMON_LOG")" "version 5 supersedes version 4" \
	"the log says why version 4 was dropped"
pc_slow_mirror_release
echo "ok: a missing manifest fails in seconds; newer heads win"
