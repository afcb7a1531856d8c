#!/usr/bin/env bash
# Two repositories from two publishers (two keys) on one LAN (issue 14):
# node 1 runs ONE daemon with a [repository NAME] section for each, peers
# on, and reads both from the mirror; node 2 (same configuration) reads
# both, every data chunk from node 1:
#   - each mount shows only its repository's files, with the right bytes;
#   - a file in both repositories is one set of chunks: node 1 gets each
#     chunk from the mirror once, whichever repository asked;
#   - node 2 asks the mirror for no data chunk (heads and manifests it
#     may: they are what it checks its peers' chunks against), and counts
#     them as bytes from peers;
#   - each node listens on one peer port and one discovery port, whatever
#     the number of repositories.
set -eu
. "$(dirname "$0")/fixture.sh"
repos_setup

mkdir -p src-av/defs src-engine/bin
pc_random src-av/defs/daily.cvd 6M
echo "av definitions 1" >src-av/VERSION
pc_random src-engine/bin/engine.so 5M
echo "engine 7" >src-engine/VERSION
pc_random common.bin 2M # in both repositories
cp common.bin src-av/common.bin
cp common.bin src-engine/bin/common.bin
pc_publish_as av-defs "$PC_TMP/av.key" src-av "$PC_TMP/www/av"
pc_publish_as engine "$PC_TMP/engine.key" src-engine "$PC_TMP/www/engine"
SECTIONS=(av-defs av "$PC_TMP/av.key.pub" engine engine "$PC_TMP/engine.key.pub")

# read_all I: node I reads every file of both repositories, and sees
# exactly their files.
read_all() {
	local f
	for f in defs/daily.cvd VERSION common.bin; do
		repos_read "$1" av-defs "$f" "$(pc_sha "src-av/$f")"
	done
	for f in bin/engine.so VERSION bin/common.bin; do
		repos_read "$1" engine "$f" "$(pc_sha "src-engine/$f")"
	done
	assert_eq "$(cd src-av && find . -mindepth 1 | sort)" \
		"$(repos_listing "$1" av-defs)" "node $1: the files of av-defs"
	assert_eq "$(cd src-engine && find . -mindepth 1 | sort)" \
		"$(repos_listing "$1" engine)" "node $1: the files of engine"
}

# chunk_gets CLIENT: "URI" of every chunk object GET from CLIENT.
chunk_gets() {
	awk -v c="$1" '$1 == "GET" && $2 ~ /\/chunks\// && $3 == 200 && $5 == c { print $2 }' \
		"$PC_MIRROR_LOG"
}

# data_chunks: the ids of every file chunk of both repositories.
data_chunks() {
	local r
	for r in av engine; do
		manifest_chunks "$(manifest_path "$PC_TMP/www/$r")"
	done | sort -u
}

# listen_ports I PROTO: the ports node I's daemon listens on (t: TCP, u:
# UDP), one a line, sorted.
listen_ports() {
	pc_ns_exec "n$1" ss -Hln"$2"p |
		grep "pid=${REPOS_PID[$1]}," | awk '{ print $4 }' |
		sed 's/.*://' | sort -un
}

repos_node_start 1 "$(repos_conf 1 "${SECTIONS[@]}")"
read_all 1
# By chunk id: the two repositories' mirrors are two URLs.
dups=$(chunk_gets "$(pc_node_addr 1)" | sed 's|.*/||' | sort | uniq -d)
[ -z "$dups" ] || fail "node 1 got chunks from the mirror twice: $dups"
common=$(manifest_file_chunks "$(manifest_path "$PC_TMP/www/av")" common.bin | sort)
from_av=$(chunk_gets "$(pc_node_addr 1)" | grep -c -F -f <(echo "$common" | sed 's|^|/|')) || true
assert_eq "$(echo "$common" | wc -l)" "$from_av" "GETs of common.bin's chunks by node 1 (both repositories read it)"
assert_eq 8081 "$(listen_ports 1 t)" "node 1's TCP ports"
assert_eq 8082 "$(listen_ports 1 u)" "node 1's UDP ports"

repos_node_start 2 "$(repos_conf 2 "${SECTIONS[@]}")"
read_all 2
from_mirror=$(chunk_gets "$(pc_node_addr 2)")
data=$(chunk_gets "$(pc_node_addr 2)" | sed 's|.*/||' | grep -x -F -f <(data_chunks)) || true
[ -z "$data" ] || fail "node 2 got $(echo "$data" | wc -l) data chunks from the mirror, e.g. $(echo "$data" | head -n 2 | xargs)"
bytes_from_mirror=$(pc_node_stat 2 bytes_from_mirror)
bytes_from_peers=$(pc_node_stat 2 bytes_from_peers)
echo "node 2: $bytes_from_peers bytes from peers, $bytes_from_mirror from the mirror" \
	"($(echo "$from_mirror" | grep -c . || true) objects: heads' manifests)"
# Heads and manifests node 2 may take from the mirror (the counter counts
# what the fetch table got from the mirrors); data chunks it must not.
manifests=$(($(stat -c %s "$(manifest_path "$PC_TMP/www/av")") + $(stat -c %s "$(manifest_path "$PC_TMP/www/engine")")))
[ "$bytes_from_mirror" -le "$manifests" ] ||
	fail "node 2 counts $bytes_from_mirror bytes from the mirror, more than the manifests' $manifests"
size=$(cat src-av/defs/daily.cvd src-av/VERSION src-engine/bin/engine.so src-engine/VERSION common.bin | wc -c)
[ "$bytes_from_peers" -ge "$size" ] ||
	fail "node 2 got $bytes_from_peers bytes from peers, expected at least $size"
assert_eq 8081 "$(listen_ports 2 t)" "node 2's TCP ports"
assert_eq 8082 "$(listen_ports 2 u)" "node 2's UDP ports"

repos_node_stop 2
repos_node_stop 1
