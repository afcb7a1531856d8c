#!/usr/bin/env bash
# A node whose only mirror is unreachable learns a new version from a peer.
# Node 2's mirror refuses connections; it starts with no version (empty
# tree).  Node 1 reads a file (its probes reach node 2: they heard each
# other).  Version 2 is published and node 1 refreshes; then
# `peercachectl refresh` on node 2 gets the head from node 1 (GET /head,
# checked as from a mirror) and node 2 serves version 2, chunks from node 1.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
echo "version one" >src/notes.txt
pc_random src/data.bin 4M
peers_serve src
pc_node_start 1
node1_opts=("${PC_NODE_OPTS[@]}")
PC_NODE_OPTS=(-o mirror="http://$MIRROR_ADDR:81" -o trusted_key="$PC_TMP/key.pub"
	-o log_level=debug -o fetch_timeout=10s)
pc_node_start 2
PC_NODE_OPTS=("${node1_opts[@]}")
assert_eq 0 "$(pc_json_get "$(pc_node_ctl 2 status --json || true)" version)" \
	"node 2's version with its mirror unreachable"

peers_read 1 data.bin "$(pc_sha src/data.bin)"

echo "version two" >src/notes.txt
pc_random src/new.bin 3M
pc_publish src "$PC_TMP/repo"
json=$(pc_node_ctl 1 refresh --json)
assert_eq 2 "$(pc_json_get "$json" version)" "node 1 after refresh"
peers_read 1 new.bin "$(pc_sha src/new.bin)"
assert_eq "version two" "$(cat "${PC_NODE_MNT[1]}/notes.txt")" "node 1: notes.txt"

json=$(pc_node_ctl 2 refresh --json || true)
echo "node 2 refresh: $json"
assert_eq 2 "$(pc_json_get "$json" version)" "node 2 after refresh (head from a peer)"
assert_eq "version two" "$(cat "${PC_NODE_MNT[2]}/notes.txt")" "node 2: notes.txt"
peers_read 2 new.bin "$(pc_sha src/new.bin)"
peers_read 2 data.bin "$(pc_sha src/data.bin)"
status=$(pc_node_ctl 2 status --json || true) # degraded: its mirror is down
echo "node 2 status: $status"
assert_eq "peer $(pc_node_addr 1):8081" "$(pc_json_get "$status" source)" \
	"node 2: source of its head"
assert_eq 0 "$(pc_node_stat 2 bytes_from_mirror)" "node 2: bytes from the mirror"
[ "$(pc_node_stat 2 bytes_from_peers)" -gt $((4 * MiB)) ] ||
	fail "node 2 did not get its chunks from node 1"
