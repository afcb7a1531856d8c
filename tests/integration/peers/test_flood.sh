#!/usr/bin/env bash
# 20,000 malformed, truncated, oversized, wrong-version and wrong-key
# datagrams at a node's discovery port (pc-peer-tool flood; the fleet uses
# a key, the flood a wrong one or none).  During the flood the node keeps
# serving reads (its own, from the mirror, and a neighbour's, over
# discovery and HTTP); its memory stays bounded; nothing crashes;
# discovery_dropped counts the packets; discovery still works afterwards.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/a.bin 32M
pc_random src/b.bin 32M
want_a=$(pc_sha src/a.bin)
want_b=$(pc_sha src/b.bin)
peers_serve src
head -c 32 /dev/urandom >fleet.key
chmod 600 fleet.key
PC_NODE_OPTS+=(-o fleet_key_file="$PC_TMP/fleet.key")
pc_node_start 1
pc_node_start 2
peers_read 1 a.bin "$want_a"

pc_ns_add flooder 198.18.0.70/24
dropped0=$(pc_node_stat 1 discovery_dropped)
rss0=$(pc_node_rss 1)
pc_ns_spawn flooder "$PEER_TOOL" flood "$(pc_node_addr 1)" --packets 20000 \
	--rate 4000 --kinds all >flood.out 2>&1
flood=$PC_NS_PID

# Reads during the flood: node 2 reads a.bin (node 1 has it), node 1
# reads b.bin (from the mirror).
sleep 0.5
peers_read 2 a.bin "$want_a" &
reader2=$!
peers_read 1 b.bin "$want_b" &
reader1=$!
rss_max=$rss0
deadline=$((SECONDS + 60))
while kill -0 $flood 2>/dev/null; do
	[ $SECONDS -lt $deadline ] || fail "the flood did not end in 60 s"
	rss=$(pc_node_rss 1) || fail "node 1 died during the flood"
	[ "$rss" -le "$rss_max" ] || rss_max=$rss
	sleep 0.2
done
pc_ns_wait $flood || fail "pc-peer-tool flood failed: $(cat flood.out)"
wait $reader2 || fail "node 2 could not read during the flood"
wait $reader1 || fail "node 1 could not read during the flood"
cat flood.out
assert_contains "$(cat flood.out)" "sent=20000" "flood"
for i in 1 2; do
	kill -0 "${PC_NODE_PID[i]}" || fail "node $i is gone"
done

dropped=$(($(pc_node_stat 1 discovery_dropped) - dropped0))
echo "discovery_dropped +$dropped; RSS $rss0 KiB before, at most $rss_max KiB during"
echo "node 2: $(pc_node_stat 2 bytes_from_peers) bytes from peers"
# Packets are paced so that the socket buffer keeps up: nearly all of
# them reach the node and each is counted once.
[ "$dropped" -ge 18000 ] ||
	fail "discovery_dropped rose by $dropped for 20000 invalid packets"
[ "$dropped" -le 20000 ] ||
	fail "discovery_dropped rose by $dropped for 20000 packets (more than one count per packet?)"
[ $((rss_max - rss0)) -le $((48 * 1024)) ] ||
	fail "node 1's RSS grew from $rss0 to $rss_max KiB during the flood"

# Discovery still answers, with the key.
peers_chunks a.bin >ids.txt
pc_ns_exec flooder "$PEER_TOOL" probe "$(pc_node_addr 1)" --key fleet.key \
	--hashes-file ids.txt --sizes 8 >probe.out ||
	fail "probe after the flood: $(cat probe.out)"
cat probe.out
assert_contains "$(cat probe.out)" "have=8 " "answer after the flood"
