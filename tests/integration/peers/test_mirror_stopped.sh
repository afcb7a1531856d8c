#!/usr/bin/env bash
# The mirror goes away after node 1 has read a 64 MiB file: nodes 2, 3 and
# 4 (which got the version while the mirror was up) still read it, from
# peers, with the right bytes.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/big.bin 64M
want=$(pc_sha src/big.bin)
size=$((64 * MiB))
peers_serve src
for i in 1 2 3 4; do
	pc_node_start "$i"
done
peers_read 1 big.bin "$want"

pc_mirror_stop
if pc_ns_exec n2 curl -sf -m 5 -o /dev/null "$PC_MIRROR_URL/head"; then
	fail "the mirror still answers after it was stopped"
fi
readers=()
for i in 2 3 4; do
	peers_read "$i" big.bin "$want" &
	readers+=($!)
done
for pid in "${readers[@]}"; do
	wait "$pid" || fail "a node could not read the file with the mirror down"
done
for i in 2 3 4; do
	from_peers=$(pc_node_stat "$i" bytes_from_peers)
	echo "node $i: $from_peers bytes from peers"
	[ "$from_peers" -ge "$size" ] ||
		fail "node $i got $from_peers bytes from peers, expected $size"
done
