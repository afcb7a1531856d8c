#!/usr/bin/env bash
# discovery=off and peer_server=off do what they say.  Node 1 (defaults)
# has the file.  Node 2 (discovery=off) reads it from the mirror, answers
# no probe, and still serves chunks over HTTP.  Node 3 (peer_server=off)
# reads it from node 1, refuses connections on 8081 and answers no probe
# (an answer must name an HTTP port).  With node 1 gone, node 4 finds no
# peer that offers the file and reads it from the mirror.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/f.bin 16M
want=$(pc_sha src/f.bin)
size=$((16 * MiB))
peers_serve src
peers_chunks f.bin >ids.txt
first=$(head -n 1 ids.txt)
pc_ns_add lan 198.18.0.100/24

pc_node_start 1
peers_read 1 f.bin "$want"
pc_node_start 2 -o discovery=off
pc_node_start 3 -o peer_server=off

peers_read 2 f.bin "$want"
assert_eq 0 "$(pc_node_stat 2 bytes_from_peers)" "node 2 (discovery=off): bytes from peers"
[ "$(pc_node_stat 2 bytes_from_mirror)" -ge "$size" ] ||
	fail "node 2 (discovery=off) did not read from the mirror"
pc_run pc_ns_exec lan "$PEER_TOOL" probe "$(pc_node_addr 2)" --hashes-file ids.txt --sizes 4
assert_contains "$PC_OUT" "answers=0 " "probe of node 2 (discovery=off)"
pc_ns_exec lan curl -sf -m 10 -o chunk.out "http://$(pc_node_addr 2):8081/p2p/$first" ||
	fail "node 2 (discovery=off) does not serve chunks over HTTP"
assert_eq "$first" "$(pc_sha chunk.out)" "chunk from node 2"

peers_read 3 f.bin "$want"
[ "$(pc_node_stat 3 bytes_from_peers)" -ge "$size" ] ||
	fail "node 3 (peer_server=off) did not read from node 1"
pc_run pc_ns_exec lan curl -s -m 10 -o /dev/null "http://$(pc_node_addr 3):8081/p2p/$first"
assert_eq 7 "$PC_RC" "curl to node 3's port 8081 (7: connection refused)"
pc_run pc_ns_exec lan "$PEER_TOOL" probe "$(pc_node_addr 3)" --hashes-file ids.txt --sizes 4
assert_contains "$PC_OUT" "answers=0 " "probe of node 3 (peer_server=off)"

pc_node_stop 1
mirror0=$(pc_mirror_chunk_bytes)
served2=$(pc_node_stat 2 bytes_served_peers) # the test's own GET
pc_node_start 4
peers_read 4 f.bin "$want"
assert_eq 0 "$(pc_node_stat 4 bytes_from_peers)" "node 4: bytes from peers"
[ $(($(pc_mirror_chunk_bytes) - mirror0)) -ge "$size" ] ||
	fail "node 4 did not read from the mirror"
assert_eq "$served2" "$(pc_node_stat 2 bytes_served_peers)" \
	"node 2 (discovery=off): bytes served to node 4"
assert_eq 0 "$(pc_node_stat 3 bytes_served_peers)" "node 3 (peer_server=off): bytes served"
