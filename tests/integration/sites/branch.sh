# shellcheck shell=bash
# branch.sh - a branch site behind a second WAN link, whose nodes use a
# node of the main site as their first mirror (mirror_serve, docs/ADMIN.md
# "Many sites").  Source after site.sh, once sites_site and sites_route
# made the main site; the three tiers are then:
#
#   cloud mirror 198.18.1.1 --WAN (tc)-- gw 198.18.1.2 / 198.18.0.2
#   site LAN 198.18.0.0/24 (bridge br0): site nodes 198.18.0.(10+I)
#   router "rt" 198.18.0.3 on the site LAN, 198.18.20.1 on the branch
#     subnet; what it sends into the branch is limited with tc tbf (the
#     branch's WAN link), and its counters say what crossed it
#   branch subnet 198.18.20.0/24 (bridge br1): branch nodes, namespaces
#     nI with address 198.18.20.(10+I)
#
# Everything routes between the tiers (a branch node can reach the cloud
# mirror through rt and gw), nothing leaves 198.18.0.0/15.
#
#   branch_setup MBIT       the router, the branch bridge and its WAN link
#                           (MBIT Mbit/s towards the branch); routes back
#                           from the gateway and the mirror
#   branch_site_node_ns I   site node I's namespace, with routes to the
#                           mirror and to the branch (before pc_node_start)
#   branch_node_ns I [ADDR] branch node I's namespace on the branch bridge
#                           (address 198.18.20.(10+I) by default)
#   branch_addr I           branch node I's address
#   branch_wan_bytes        bytes the router sent into the branch so far

BRANCH_NET=198.18.20.0/24
BRANCH_GW=198.18.20.1
RT_SITE_ADDR=198.18.0.3

branch_setup() {
	local mbit=$1 sw rt
	sw=$(pc_ns sw)
	ip -n "$sw" link add br1 type bridge || fail "cannot create the branch bridge"
	ip -n "$sw" link set br1 up
	pc_ns_add rt "$RT_SITE_ADDR/24"
	rt=$(pc_ns rt)
	ip -n "$sw" link add vrtb type veth peer name eth1 netns "$rt" ||
		fail "cannot create the branch link"
	ip -n "$sw" link set vrtb master br1 up
	ip -n "$rt" addr add "$BRANCH_GW/24" brd + dev eth1
	ip -n "$rt" link set eth1 up
	# The branch's download direction, as its WAN link limits it.
	tc -n "$rt" qdisc add dev eth1 root tbf rate "${mbit}mbit" \
		burst 256kb latency 200ms ||
		fail "cannot limit the branch link to $mbit Mbit/s"
	pc_ns_exec rt sysctl -q -w net.ipv4.ip_forward=1 ||
		fail "the router cannot forward"
	ip -n "$rt" route add "$WAN_NET" via "$SQUID_ADDR"
	ip -n "$(pc_ns gw)" route add "$BRANCH_NET" via "$RT_SITE_ADDR"
	ip -n "$(pc_ns mirror)" route add "$BRANCH_NET" via "$GW_WAN_ADDR"
}

branch_site_node_ns() {
	sites_node_ns "$1"
	ip -n "$(pc_ns "n$1")" route add "$BRANCH_NET" via "$RT_SITE_ADDR"
}

branch_addr() {
	echo "198.18.20.$((10 + $1))"
}

branch_node_ns() {
	local name="n$1" addr=${2:-$(branch_addr "$1")} sw ns
	sw=$(pc_ns sw)
	pc_ns_create "$name"
	ns=$(pc_ns "$name")
	ip -n "$sw" link add "v$name" type veth peer name eth0 netns "$ns" ||
		fail "cannot create the veth pair of $name"
	ip -n "$sw" link set "v$name" master br1 up
	ip -n "$ns" link set eth0 up
	ip -n "$ns" addr add "$addr/24" brd + dev eth0
	ip -n "$ns" route add "$SITE_NET" via "$BRANCH_GW"
	ip -n "$ns" route add "$WAN_NET" via "$BRANCH_GW"
}

branch_wan_bytes() {
	ip -n "$(pc_ns rt)" -s link show dev eth1 |
		awk '$1 == "TX:" { getline; print $1; exit }'
}
