#!/usr/bin/env bash
# A chunk tampered on the mirror: the read fails with EIO and no wrong byte
# is returned; with a second mirror that has the good chunk, the read
# succeeds from it and the bad chunk is counted.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
pc_random src/defs.bin 5M
pc_publish src good
cp -a good bad
victim=$(manifest_file_chunks "$(manifest_path good)" defs.bin | sed -n 2p)
[ -n "$victim" ] || fail "defs.bin should have at least 2 chunks"
pc_flip_byte "$(object_path bad "$victim")" 1000
pc_nginx_start "$PC_TMP"

pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache1" -o mirror="$NGINX_URL/bad" \
	-o trusted_key="$PC_TMP/key.pub" -o fetch_timeout=5s
if cat mnt/defs.bin >partial 2>err; then
	fail "reading a tampered file succeeded"
fi
assert_contains "$(cat err)" "Input/output error" "error of the tampered read"
size=$(stat -c %s partial)
cmp -s partial <(head -c "$size" src/defs.bin) || fail "wrong bytes were returned"
[ ! -e "cache1/chunks/${victim:0:2}/$victim" ] || fail "the bad chunk was cached"
stats=$(pc_ctl stats --json)
[ "$(pc_json_get "$stats" bad_from_mirror)" -ge 1 ] || fail "bad chunk not counted: $stats"
pc_daemon_stop

pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache2" -o mirror="$NGINX_URL/bad" \
	-o mirror="$NGINX_URL/good" -o trusted_key="$PC_TMP/key.pub"
assert_file_same src/defs.bin mnt/defs.bin
stats=$(pc_ctl stats --json)
[ "$(pc_json_get "$stats" bad_from_mirror)" -ge 1 ] || fail "bad chunk not counted: $stats"
