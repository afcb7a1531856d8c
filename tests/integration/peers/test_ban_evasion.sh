#!/usr/bin/env bash
# A peer that serves garbage is banned by address, whatever HTTP port it
# announces, and a flood of addresses and ports cannot push its ban out of
# the peer table (256 lines) or fill the table from one address.
#
# 1. Port rotation: a fake peer serving garbage on 32 ports announces
#    another one in every answer (pc-peer-tool fake-peer --ports 32).  The
#    first wrong chunk bans the address: only the GETs already in flight
#    then bring garbage (at most max_fetches, 8), nothing is asked of it
#    afterwards, and the right bytes are read.
# 2. Table flood: 300 probes from one address announcing 300 HTTP ports
#    make one line of the table; 1,500 probes from about 370 forged
#    addresses (pc-peer-tool spoof, raw socket, from 198.18.0.128/25 and
#    198.18.1.0/24, which peer_allow lets in) fill it.  Then a second garbage peer is still banned at its first
#    wrong chunk, and the first one's ban is still there.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/a.bin "${PC_BAN_SIZE:-24M}"
pc_random src/b.bin 4M
pc_random src/c.bin "${PC_BAN_SIZE:-24M}"
peers_serve src
manifest=$(manifest_path "$PC_TMP/repo")
pc_node_start 1 -o peer_allow=198.18.1.0/24
node=$(pc_node_addr 1)
# Answers to the forged 198.18.1.x sources go out on the LAN (and die
# there) instead of failing for want of a route.
ip -n "$(pc_ns n1)" route add 198.18.1.0/24 dev eth0

# start_fake NAME ADDR: a garbage-serving fake peer on 32 ports, ready.
start_fake() {
	pc_ns_add "$1" "$2/24"
	pc_ns_spawn "$1" "$PEER_TOOL" fake-peer --ports 32 --max-seconds 110 \
		--sizes "$manifest" >"$1.out" 2>"$1.log"
	for _ in $(seq 100); do
		grep -qs ready "$1.out" && return 0
		sleep 0.1
	done
	fail "the fake peer $1 did not start: $(cat "$1.log")"
}

# gets NAME: GETs the fake peer NAME answered.
gets() {
	grep -c ' GET /p2p/' "$1.log" || true
}

# banned ADDR: node 1's peer table lists ADDR as banned.
banned() {
	pc_node_ctl 1 peers --json | python3 -c '
import json, sys
peers = [p for p in json.load(sys.stdin)["peers"] if p["address"] == sys.argv[1]]
sys.exit(0 if len(peers) == 1 and peers[0]["banned"] else 1)' "$1"
}

parts=${PC_BAN_PARTS:-rotation flood}

# ---- 1: port rotation ------------------------------------------------------

if [[ " $parts " == *" rotation "* ]]; then
	start_fake fake1 198.18.0.66
	peers_read 1 a.bin "$(pc_sha src/a.bin)"
	bad=$(pc_node_stat 1 bad_from_peers)
	echo "port rotation: $bad bad chunks, $(gets fake1) GETs to the fake peer"
	[ "$bad" -ge 1 ] || fail "no garbage was fetched: the test tested nothing"
	[ "$bad" -le 8 ] ||
		fail "$bad bad chunks from one address announcing 32 ports (ban by address: at most the 8 GETs in flight)"
	banned 198.18.0.66 || fail "198.18.0.66 is not banned: $(pc_node_ctl 1 peers --json)"
	assert_eq 1 "$(grep -c 'peer 198.18.0.66 banned' "${PC_NODE_LOG[1]}")" "bans logged"
	before=$(gets fake1)
	peers_read 1 b.bin "$(pc_sha src/b.bin)"
	assert_eq "$before" "$(gets fake1)" "GETs to the banned peer on any port"
fi

# ---- 2: table flood --------------------------------------------------------

[[ " $parts " == *" flood "* ]] || exit 0

pc_ns_add flood 198.18.0.70/24
pc_ns_exec flood "$PEER_TOOL" spoof "$node" --sources 198.18.0.70/32 \
	--http-ports 20000-20299 --packets 300 --rate 150 ||
	fail "spoof from one address failed"
for block in 198.18.0.128/25 198.18.1.0/24; do
	pc_ns_exec flood "$PEER_TOOL" spoof "$node" --sources $block \
		--http-ports 30000-30299 --packets 750 --rate 1500 ||
		fail "spoof from $block failed"
done
pc_node_ctl 1 peers --json >peers.json
python3 - peers.json <<'PY' || fail "peer table after the flood: $(cat peers.json)"
import json, sys
peers = json.load(open(sys.argv[1]))["peers"]
print(f"after the flood: {len(peers)} lines in the peer table")
assert len(peers) <= 256, len(peers)
assert len(peers) == 256, "the flood did not fill the table"
one = [p for p in peers if p["address"] == "198.18.0.70"]
assert len(one) <= 1, f"{len(one)} lines for one address"
PY
[[ " $parts " != *" rotation "* ]] || banned 198.18.0.66 ||
	fail "the flood pushed the first ban out of the table"

start_fake fake2 198.18.0.67
bad0=$(pc_node_stat 1 bad_from_peers)
peers_read 1 c.bin "$(pc_sha src/c.bin)"
bad=$(($(pc_node_stat 1 bad_from_peers) - bad0))
echo "after the flood: $bad bad chunks, $(gets fake2) GETs to the second fake peer"
[ "$bad" -ge 1 ] || fail "no garbage from the second fake peer: the test tested nothing"
[ "$bad" -le 8 ] || fail "$bad bad chunks from a garbage peer after a table flood"
banned 198.18.0.67 || fail "198.18.0.67 is not banned after the flood: $(pc_node_ctl 1 peers --json)"
