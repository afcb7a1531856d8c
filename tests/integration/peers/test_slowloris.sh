#!/usr/bin/env bash
# Slowloris against a node's peer server (pc-peer-tool slowloris): 200
# connections from 40 addresses, each sending its request head one byte
# every 4 s (never idle for the 10 s idle timeout), and opening a new
# connection whenever one is closed.  The server takes at most 200
# connections, 16 per address.  Meanwhile a neighbour reads a file that
# only this node has (after another one without an attack, to compare):
# it gets every chunk from it, none from the mirror, in a few seconds; the slow connections are closed when their head is
# late (5 s) or to make room, counted (peer_closed_idle) and logged once.
# Then 40 slow connections from one address: at most 16 stay open.
# PC_SLOW_SIZE (default 16M) sets the file's size.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/f.bin "${PC_SLOW_SIZE:-16M}"
pc_random src/g.bin "${PC_SLOW_SIZE:-16M}"
size=$(stat -c %s src/f.bin)
peers_serve src
pc_node_start 1
peers_read 1 f.bin "$(pc_sha src/f.bin)"
peers_read 1 g.bin "$(pc_sha src/g.bin)"
pc_node_start 2
node=$(pc_node_addr 1)
# Without an attack, for comparison.
t0=$(date +%s%3N)
peers_read 2 g.bin "$(pc_sha src/g.bin)"
echo "node 2 read $size bytes from node 1 in $(($(date +%s%3N) - t0)) ms without an attack"
mirror0=$(pc_node_stat 2 bytes_from_mirror)
peers0=$(pc_node_stat 2 bytes_from_peers)

pc_ns_add attacker 198.18.0.100/24
sources=198.18.0.100
for i in $(seq 101 139); do
	pc_ns_addr_add attacker "198.18.0.$i/24"
	sources+=",198.18.0.$i"
done

pc_ns_spawn attacker "$PEER_TOOL" slowloris "$node:8081" --connections 200 \
	--sources "$sources" --interval 4000 --seconds 7 --reopen >slow.out
slow=$PC_NS_PID
sleep 1 # every slow connection open
t0=$(date +%s%3N)
peers_read 2 f.bin "$(pc_sha src/f.bin)"
t1=$(date +%s%3N)
echo "node 2 read $size bytes during the attack in $((t1 - t0)) ms"
pc_ns_wait $slow || fail "pc-peer-tool slowloris failed"
cat slow.out
line=$(grep '^slowloris ' slow.out)
closed=$(sed -E 's/.* closed=([0-9]+) .*/\1/' <<<"$line")
closed_max=$(sed -E 's/.* closed_max_ms=([0-9]+).*/\1/' <<<"$line")

assert_eq "$mirror0" "$(pc_node_stat 2 bytes_from_mirror)" "node 2: bytes from the mirror during the attack"
[ $(($(pc_node_stat 2 bytes_from_peers) - peers0)) -ge "$size" ] ||
	fail "node 2 got $(($(pc_node_stat 2 bytes_from_peers) - peers0)) bytes from peers during the attack, want $size"
[ $((t1 - t0)) -le 8000 ] || fail "node 2's read took $((t1 - t0)) ms during the attack"
# The first 200 were closed at their 5 s deadline (or earlier, to make
# room for node 2): none lived much longer.
[ "$closed" -ge 190 ] || fail "only $closed slow connections were closed by the server"
[ "$closed_max" -le 7000 ] || fail "a slow connection lived $closed_max ms (deadline 5 s)"
idle=$(pc_node_stat 1 peer_closed_idle)
echo "node 1: $idle connections closed, $(pc_node_stat 1 peer_refused_connections) refused"
[ "$idle" -ge 190 ] || fail "peer_closed_idle is $idle"
assert_eq 1 "$(grep -c 'peer server: closed [0-9]* connections that sent no request' "${PC_NODE_LOG[1]}")" \
	"warnings about slow connections (at most one a minute)"

# One address: 40 connections, at most 16 of them open at once (each new
# one over the limit takes the place of that address's longest waiting).
pc_run pc_ns_exec attacker "$PEER_TOOL" slowloris "$node:8081" \
	--connections 40 --sources 198.18.0.100 --interval 4000 --seconds 2
echo "$PC_OUT"
open=$(sed -nE 's/.* open=([0-9]+) .*/\1/p' <<<"$PC_OUT")
[ -n "$open" ] && [ "$open" -le 16 ] ||
	fail "$open slow connections from one address stayed open (limit 16)"
