#!/usr/bin/env bash
# A dual-stack subnet: node 1 has IPv4 only, node 2 IPv6 only, node 3
# both (one dual-stack socket for discovery, the peer server and the
# metrics endpoint).  Node 3 reads a.bin from the mirror; node 1 gets it
# from node 3 over IPv4, node 2 over IPv6.  Node 1 reads b.bin from the
# mirror; node 3 gets it from node 1 over IPv4 and node 2 from node 3 over
# IPv6 (nodes 1 and 2 share no family).  The mirror sends each chunk
# once; node 3's metrics answer on both families from metrics_listen=[::].
set -eu
. "$(dirname "$0")/fixture.sh"
ipv6_setup

mkdir src
pc_random src/a.bin 4M
pc_random src/b.bin 4M
want_a=$(pc_sha src/a.bin)
want_b=$(pc_sha src/b.bin)
size=$((4 * MiB))
pc_ns_add mirror "$MIRROR_ADDR/24"
pc_ns_ipv6 mirror
pc_ns_addr6_add mirror "$MIRROR6/64"
ipv6_serve src "$MIRROR_ADDR" "listen [$MIRROR6]:80;"
mirror4=$PC_MIRROR_URL
mirror6="http://[$MIRROR6]"
pc_ns_wait_tcp mirror "$MIRROR6" 80 5

pc_ns_add n1 "$(pc_node_addr 1)/24"
ipv6_node_only6 2
pc_ns_add n3 "$(pc_node_addr 3)/24"
pc_ns_ipv6 n3
pc_ns_addr6_add n3 "$(pc_node_addr6 3)/64"
PC_NODE_OPTS=(-o trusted_key="$PC_TMP/key.pub" -o log_level=debug)
# One after the other: nodes 1 and 2 cannot hear each other, so two of
# them starting at once would both fetch the manifest from the mirror.
pc_node_start 3 -o mirror="$mirror4" -o metrics_listen="[::]:9100"
peers_read 3 a.bin "$want_a"
pc_node_start 1 -o mirror="$mirror4"
peers_read 1 a.bin "$want_a"
pc_node_start 2 -o mirror="$mirror6"
peers_read 2 a.bin "$want_a"
peers_read 1 b.bin "$want_b"
peers_read 3 b.bin "$want_b"
peers_read 2 b.bin "$want_b"
peers_no_chunk_twice

# from_peers I MIN: node I got at least MIN bytes from peers.
from_peers() {
	local got
	got=$(pc_node_stat "$1" bytes_from_peers)
	echo "node $1: $got bytes from peers, $(pc_node_stat "$1" bytes_from_mirror) from the mirror"
	[ "$got" -ge "$2" ] || fail "node $1 got $got bytes from peers, expected $2"
}
from_peers 1 "$size"
from_peers 2 $((2 * size))
from_peers 3 "$size"
clients=$(pc_mirror_chunk_gets | cut -d' ' -f2 | sort -u | xargs)
echo "chunk GETs at the mirror came from: $clients"

# Both families reach node 3's metrics through the one [::] socket.
pc_ns_exec n1 curl -sf -m 5 -o /dev/null "http://$(pc_node_addr 3):9100/metrics" ||
	fail "node 3's metrics over IPv4"
pc_ns_exec n2 curl -sf -g -m 5 -o /dev/null "http://[$(pc_node_addr6 3)]:9100/metrics" ||
	fail "node 3's metrics over IPv6"
