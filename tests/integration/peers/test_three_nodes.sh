#!/usr/bin/env bash
# Three nodes on one LAN.  Node 1 reads a 64 MiB file from the mirror;
# then nodes 2 and 3 read it, the mirror still up: they get every chunk
# from peers, so the mirror's access log shows no chunk downloaded twice,
# node 1 counts at least the whole file as served to peers (every chunk
# left it at least once), and every node reads the right bytes.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/big.bin 64M
want=$(pc_sha src/big.bin)
size=$((64 * MiB))
peers_serve src

pc_node_start 1
peers_read 1 big.bin "$want"
[ "$(pc_mirror_chunk_bytes)" -ge "$size" ] ||
	fail "node 1 did not read the file from the mirror"

pc_node_start 2
pc_node_start 3
peers_read 2 big.bin "$want" &
reader2=$!
peers_read 3 big.bin "$want" &
reader3=$!
wait "$reader2" || fail "node 2 did not read the file"
wait "$reader3" || fail "node 3 did not read the file"

peers_no_chunk_twice
served=$(pc_node_stat 1 bytes_served_peers)
echo "node 1 served $served bytes to peers"
[ "$served" -ge "$size" ] ||
	fail "node 1 served $served bytes to peers, expected at least $size"
for i in 2 3; do
	from_peers=$(pc_node_stat $i bytes_from_peers)
	from_mirror=$(pc_node_stat $i bytes_from_mirror)
	echo "node $i: $from_peers bytes from peers, $from_mirror from the mirror"
	[ "$from_peers" -ge "$size" ] ||
		fail "node $i got $from_peers bytes from peers, expected $size"
done
