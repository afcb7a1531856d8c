# fixture.sh - shared by the IPv6 tests: the LAN peer tests' fixture
# (peers_read, peers_chunks, peers_no_chunk_twice, peers_wait_log and what
# they stand on) and an IPv6 LAN on the switch (lib/netns.sh's IPv6
# helpers).  Addresses, all from 2001:2::/48 (RFC 5180, benchmarking):
#
#   2001:2:0:1::1          the mirror (nginx), namespace "mirror"
#   2001:2:0:1::(10+I)     node I, namespace "nI"
#   2001:2:0:1::66         a fake peer
#   2001:2:0:ff::/64       outside the nodes' prefix, on the same wire
#
# and for the dual-stack test the IPv4 layout of tests/integration/peers.
#
# shellcheck source=../peers/fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/../peers/fixture.sh"

MIRROR6=$PC_LAN_NET6::1
PROBE6="$(dirname "${BASH_SOURCE[0]}")/probe6.py"

# ipv6_setup: the test's directory, traps, and a switch that carries IPv6
# multicast; no namespace yet.
ipv6_setup() {
	pc_setup
	[ -x "$PEER_TOOL" ] || fail "$PEER_TOOL is missing (build pc-peer-tool)"
	pc_lan_setup
	pc_lan_ipv6
}

# ipv6_serve SRC ADDR [EXTRA_SERVER_CONF]: publishes SRC into
# $PC_TMP/repo, serves it from the mirror's namespace on ADDR ("[v6]" or
# IPv4) and sets the nodes' default options (mirror, key, debug log).
ipv6_serve() {
	pc_publish "$1" "$PC_TMP/repo"
	pc_mirror_start mirror "$2" "$PC_TMP/repo" "${3:-}"
	PC_NODE_OPTS=(-o mirror="$PC_MIRROR_URL" -o trusted_key="$PC_TMP/key.pub"
		-o log_level=debug)
}

# ipv6_node_only6 I: node I's namespace with an IPv6 address only.
ipv6_node_only6() {
	pc_ns_add6 "n$1" "$(pc_node_addr6 "$1")/64"
}

# ipv6_probe NAME ADDR HEX...: a discovery probe for the ids from
# namespace NAME to [ADDR]:8082 (probe6.py); prints "answers=N have=BITS".
ipv6_probe() {
	local name=$1 addr=$2
	shift 2
	pc_ns_exec "$name" python3 "$PROBE6" "$addr" 8082 "$@"
}
