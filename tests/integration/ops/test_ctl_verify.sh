#!/usr/bin/env bash
# peercachectl verify: a chunk file damaged on disk (same length, one byte
# flipped, so nothing but a re-hash notices) is found, counted and
# removed; the next read fetches it from the mirror again and reads the
# right bytes.  Exit status 5 when something was removed, 0 when all is
# well.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir src
pc_random src/a.bin 3M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
assert_file_same src/a.bin mnt/a.bin
sleep 1.2 # a flush: the chunks are in the index

victim=$(manifest_file_chunks "$(manifest_path repo)" a.bin | head -n 1)
[ -n "$victim" ] || fail "a.bin has no chunks in the manifest"
file="$PC_TMP/cache/chunks/${victim:0:2}/$victim"
[ -f "$file" ] || fail "chunk $victim is not in the cache"
size=$(stat -c %s "$file")
pc_flip_byte "$file" 1000
assert_eq 1 "$(pc_nginx_count "GET /chunks/${victim:0:2}/$victim 200")" "fetched once so far"

expect_status 5 "1 bad" "verify finds the damaged chunk" pc_ctl verify
assert_contains "$PC_OUT" "removed: the next read fetches them again" "verify says what it did"
[ -e "$file" ] && fail "the damaged chunk file is still there"
grep -q "$victim" "$PC_DAEMON_LOG" || fail "the damaged chunk is not logged; log:
$(cat "$PC_DAEMON_LOG")"

# The next read gets it again from the mirror, verified.
echo 3 >/proc/sys/vm/drop_caches
assert_file_same src/a.bin mnt/a.bin
assert_eq 2 "$(pc_nginx_count "GET /chunks/${victim:0:2}/$victim 200")" "fetched again"
[ "$(stat -c %s "$file")" = "$size" ] || fail "the chunk is not back in the cache"

# All good now: exit 0, JSON says so.
sleep 1.2
json=$(pc_ctl verify --json)
assert_eq ok "$(pc_json_get "$json" result)" "verify --json result"
assert_eq 0 "$(pc_json_get "$json" bad)" "verify --json: nothing bad"
[ "$(pc_json_get "$json" checked)" -ge 3 ] || fail "verify --json checked: $json"

# A damaged chunk found with --json: exit 5, bad 1.
pc_flip_byte "$file" 10
pc_run pc_ctl verify --json
assert_eq 5 "$PC_RC" "verify --json exit status with a bad chunk"
assert_eq 1 "$(pc_json_get "$PC_OUT" bad)" "verify --json bad"
assert_eq "$size" "$(pc_json_get "$PC_OUT" bad_bytes)" "verify --json bad_bytes"
