#!/usr/bin/env bash
# discovery_group names the groups, and replaces broadcasts: an IPv4 group
# (joined through the dual-stack socket) between two IPv4-only nodes, and
# a configured link-local IPv6 group (ff02::5043:4453, not the default
# ff12 one) between two IPv6-only nodes.  In each pair the second node
# gets every chunk of the file from the first, none from the mirror.
set -eu
. "$(dirname "$0")/fixture.sh"
ipv6_setup

mkdir src
pc_random src/a.bin 3M
pc_random src/b.bin 3M
size=$((3 * MiB))
pc_ns_add mirror "$MIRROR_ADDR/24"
pc_ns_ipv6 mirror
pc_ns_addr6_add mirror "$MIRROR6/64"
ipv6_serve src "$MIRROR_ADDR" "listen [$MIRROR6]:80;"
mirror6="http://[$MIRROR6]"

# pair I J FILE GROUP MIRROR: node I reads FILE from the mirror, node J
# from node I, both with discovery_group=GROUP.
pair() {
	pc_node_start "$1" -o discovery_group="$4" -o mirror="$5"
	peers_read "$1" "$3" "$(pc_sha "src/$3")"
	pc_node_start "$2" -o discovery_group="$4" -o mirror="$5"
	peers_read "$2" "$3" "$(pc_sha "src/$3")"
	got=$(pc_node_stat "$2" bytes_from_peers)
	mirror=$(pc_node_stat "$2" bytes_from_mirror)
	echo "group $4: node $2 got $got bytes from peers, $mirror from the mirror"
	[ "$got" -ge "$size" ] ||
		fail "group $4: node $2 got $got bytes from peers, expected $size"
	# The manifest at most (the pairs do not hear each other).
	[ "$mirror" -lt 65536 ] ||
		fail "group $4: node $2 got $mirror bytes from the mirror"
}

# An IPv4 group is joined and sent to along the route to it (there is no
# default route here); the IPv6 group needs none: it is joined and sent to
# per interface.
for i in 1 2; do
	pc_ns_add n$i "$(pc_node_addr $i)/24"
	ip -n "$(pc_ns n$i)" route add 224.0.0.0/4 dev eth0
done
PC_NODE_OPTS=(-o trusted_key="$PC_TMP/key.pub" -o log_level=debug)
pair 1 2 a.bin 239.255.80.82 "$PC_MIRROR_URL"
ipv6_node_only6 3
ipv6_node_only6 4
pair 3 4 b.bin ff02::5043:4453 "$mirror6"
assert_contains "$(cat "${PC_NODE_LOG[4]}")" "IPv6 multicast" "node 4's discovery line"
