#!/usr/bin/env bash
# peercachectl prefetch PATH: the chunks of a file or of a directory tree
# of the current version come into the cache before anyone reads them, so
# that the mirror can go away and every file under PATH still reads, from
# the cache alone.  What is outside PATH is not fetched.  A second
# prefetch finds everything cached; bad paths are refused with a reason; a
# client that goes away stops its prefetch.  One transfer at a time
# (max_fetches = 1), so that the job refills its window many times.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir -p "src/defs/daily" src/engine
pc_random src/defs/main.bin 3M
pc_random src/defs/daily/d1.bin 2M
pc_random src/defs/daily/d2.bin 100K
: >src/defs/daily/empty.dat
pc_random src/engine/engine.bin 2M
ln -s main.bin src/defs/link
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo -o fetch_timeout=5s -o max_fetches=1

# ---- usage --------------------------------------------------------------------
expect_status 2 "usage:" "prefetch without a path" pc_ctl prefetch
expect_status 1 "No such file or directory" "a missing path" \
	pc_ctl prefetch defs/nothing
expect_status 1 "not a file or directory" "a symlink" pc_ctl prefetch defs/link
expect_status 1 "not a file or directory" "a path with .." \
	pc_ctl prefetch defs/../engine

# ---- a tree -------------------------------------------------------------------
chunk_gets_before=$(pc_nginx_count 'GET /chunks/')
json=$(pc_ctl prefetch --json /defs/) || fail "prefetch defs failed: $json"
echo "$json"
assert_eq ok "$(pc_json_get "$json" result)" "prefetch: result"
assert_eq 4 "$(pc_json_get "$json" files)" "prefetch: files under defs"
assert_eq $((3 * 1048576 + 2 * 1048576 + 102400)) \
	"$(pc_json_get "$json" bytes)" "prefetch: bytes under defs"
chunks=$(pc_json_get "$json" chunks)
assert_eq "$chunks" "$(pc_json_get "$json" fetched)" "prefetch: every chunk fetched"
assert_eq 0 "$(pc_json_get "$json" failed)" "prefetch: nothing failed"
[ "$(pc_nginx_count 'GET /chunks/')" -ge $((chunk_gets_before + chunks)) ] ||
	fail "the mirror did not serve the prefetched chunks"

expect_status 0 "were cached, 0 fetched" "prefetch again" pc_ctl prefetch defs
assert_contains "$PC_OUT" "4 files, $chunks chunks" "prefetch again: counts"

# The mirror goes away: everything under defs reads from the cache alone;
# the engine, never prefetched, does not.
pc_nginx_stop
for f in defs/main.bin defs/daily/d1.bin defs/daily/d2.bin defs/daily/empty.dat; do
	assert_eq "$(pc_sha "src/$f")" "$(pc_sha "mnt/$f")" "$f from the cache"
done
if timeout 60 cat mnt/engine/engine.bin >/dev/null 2>&1; then
	fail "engine.bin read without a mirror: it was fetched without being asked for"
fi

# A prefetch whose chunks cannot be fetched says how many failed.
expect_status 1 "could not be fetched" "prefetch with no source" \
	pc_ctl prefetch engine/engine.bin

# A client that goes away (here: killed after a second, the mirror still
# down) stops its prefetch; the daemon says so once its fetches end.
timeout 1 "$PC_BIN/peercachectl" --cache-dir "$PC_TMP/cache" prefetch engine &&
	fail "a prefetch with no source succeeded"
deadline=$((SECONDS + 20))
until grep -q "prefetch engine: its client went away" "$PC_DAEMON_LOG"; do
	[ $SECONDS -lt $deadline ] ||
		fail "the daemon never stopped the abandoned prefetch"
	sleep 0.2
done
expect_status 0 "hit rate" "stats after the abandoned prefetch" pc_ctl stats
