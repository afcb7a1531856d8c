#!/usr/bin/env bash
# Read-ahead across files (issue 11): a process that reads a directory's
# files in name order (the manifest's order, as xargs cat over a sorted
# list does) gets the next files fetched ahead of it, so most of its opens
# find their file cached; reading one file alone fetches that file only,
# and so does reading files out of order.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir -p src/defs src/other
for i in $(seq -w 1 40); do
	pc_random "src/defs/f$i.bin" $((30 + 10#$i))K
	pc_random "src/other/g$i.bin" $((30 + 10#$i))K
done
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
MANIFEST=$(manifest_path repo)
pc_mount_repo

stat_of() {
	pc_json_get "$(pc_ctl stats --json)" "$1"
}

# gets DIR/PREFIX FIRST LAST: chunk GETs so far for the files
# DIR/PREFIX<FIRST>.bin to DIR/PREFIX<LAST>.bin.
gets() {
	local i n=0 id
	for i in $(seq -w "$2" "$3"); do
		id=$(manifest_file_chunks "$MANIFEST" "$1$i.bin")
		n=$((n + $(pc_nginx_count "GET /chunks/${id:0:2}/$id ")))
	done
	echo "$n"
}

# One process reads the first two files in order: the next ones are
# fetched without anybody reading them.
cat mnt/defs/f01.bin mnt/defs/f02.bin >/dev/null
sleep 1
ahead=$(gets defs/f 03 40)
echo "fetched ahead after two files: $ahead"
[ "$ahead" -ge 8 ] || fail "only $ahead files fetched ahead of the reader"
[ "$ahead" -le 32 ] || fail "$ahead files fetched ahead: more than two windows"

# The whole directory in order, by one process: nearly every open finds
# its file cached already (misses: reads that waited for a fetch).
misses=$(stat_of misses)
(cd mnt/defs && ls | xargs cat) | cmp - <(cd src/defs && ls | xargs cat) ||
	fail "the files read back wrong"
misses=$(($(stat_of misses) - misses))
echo "misses while reading 40 files in order: $misses"
[ "$misses" -le 10 ] || fail "$misses of 40 files missed: no read-ahead"
assert_eq 40 "$(gets defs/f 01 40)" "chunk GETs for 40 files (each once)"

# One file alone, then files out of order: nothing else is fetched.
cat mnt/other/g20.bin >/dev/null
cat mnt/other/g30.bin mnt/other/g10.bin >/dev/null
sleep 1
assert_eq 3 "$(gets other/g 01 40)" "chunk GETs in other/ after 3 files read"
echo "ok"
