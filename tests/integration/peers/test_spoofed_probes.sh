#!/usr/bin/env bash
# Spoofed probes must not crowd out a real neighbour: 3,000 valid probes a
# second for chunks node 1 has, from forged addresses all over the subnet
# (pc-peer-tool spoof, raw socket), while node 2 reads a file only node 1
# has.  Node 2 proved itself before the flood (it downloaded a chunk from
# node 1: a TCP exchange no forged address can make).  Node 2 gets every
# chunk from node 1, none from the mirror; node 1 gives the forged sources
# no more than their share (1,000 packets a second for all sources not
# proven), sends them answers only while its send queue has room (the
# kernel holds an answer to an address nobody has until ARP gives up),
# counts what it drops (discovery_rate_limited, discovery_answers_dropped)
# and logs the flood once.
#
# PC_SPOOF_RATE (default 3000) and PC_SPOOF_SIZE (default 16M) change the
# flood's rate and the file's size.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

rate=${PC_SPOOF_RATE:-3000}

# udp_rcvbuf_errors NS: UDP datagrams the kernel dropped in namespace NS
# because a socket's receive buffer was full (/proc/net/snmp, per netns).
udp_rcvbuf_errors() {
	pc_ns_exec "$1" awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $6 }' /proc/net/snmp
}
mkdir src
pc_random src/f.bin "${PC_SPOOF_SIZE:-16M}"
pc_random src/warm.bin 1M
size=$(stat -c %s src/f.bin)
peers_serve src
pc_node_start 1
peers_read 1 f.bin "$(pc_sha src/f.bin)"
peers_read 1 warm.bin "$(pc_sha src/warm.bin)"
peers_chunks f.bin >f.ids
pc_node_start 2
# Node 2 downloads warm.bin from node 1 before the flood.
peers_read 2 warm.bin "$(pc_sha src/warm.bin)"
[ "$(pc_node_stat 2 bytes_from_peers)" -ge $((1024 * 1024)) ] ||
	fail "node 2 did not get warm.bin from node 1"

pc_ns_add spoofer 198.18.0.70/24
node=$(pc_node_addr 1)
seconds=6
pc_ns_spawn spoofer "$PEER_TOOL" spoof "$node" --sources 198.18.0.0/24 \
	--hashes-file f.ids --ids 8 --rate "$rate" \
	--packets $((rate * seconds)) >spoof.out
spoofer=$PC_NS_PID
received0=$(pc_node_stat 1 discovery_probes_received)
overflow0=$(udp_rcvbuf_errors n1)
sleep 1 # the flood is on
t0=$(date +%s%3N)
peers_read 2 f.bin "$(pc_sha src/f.bin)"
t1=$(date +%s%3N)
pc_ns_wait $spoofer || fail "pc-peer-tool spoof failed"
cat spoof.out
sent=$(sed -E 's/.*sent=([0-9]+).*/\1/' spoof.out)
flood_s=$(($(sed -E 's/.* ms=([0-9]+).*/\1/' spoof.out) / 1000 + 1))
# Probes the kernel dropped because node 1's socket buffer was full (on
# a loaded machine): they never reached the daemon to be counted.
overflow=$(($(udp_rcvbuf_errors n1) - overflow0))

received=$(($(pc_node_stat 1 discovery_probes_received) - received0))
answered=$(pc_node_stat 1 discovery_answers_sent)
limited=$(pc_node_stat 1 discovery_rate_limited)
not_sent=$(pc_node_stat 1 discovery_answers_dropped)
echo "node 2 read $size bytes in $((t1 - t0)) ms during the flood:" \
	"$(pc_node_stat 2 bytes_from_peers) from peers," \
	"$(pc_node_stat 2 bytes_from_mirror) from the mirror"
echo "node 1: $received probes handled, $limited dropped over the budget, $answered answers sent, $not_sent not sent, $overflow dropped by the kernel (socket buffer full)"
assert_eq 0 "$(pc_node_stat 2 bytes_from_mirror)" "node 2: bytes from the mirror during the flood"
# The forged sources' share: 1,000 a second and a burst of 2,000; every
# other probe that reached the daemon is counted as dropped over the
# budget (the flood lasts longer than $seconds s when the machine is busy).
[ "$limited" -ge $((sent - overflow - 1000 * (flood_s + 1) - 2000)) ] ||
	fail "discovery_rate_limited is $limited for $sent probes in $flood_s s ($overflow dropped by the kernel)"
[ "$received" -le $((1000 * (seconds + 2) + 2000)) ] ||
	fail "node 1 handled $received probes: more than the forged sources' share"
peers_wait_log 1 'discovery: .*dropped over the budget' 1
assert_eq 1 "$(grep -c 'discovery: .*dropped over the budget' "${PC_NODE_LOG[1]}")" \
	"warnings about the flood (at most one a minute)"
