#!/usr/bin/env bash
# An IPv6-only LAN (no IPv4 anywhere): three nodes and an nginx mirror at
# http://[2001:2:0:1::1]:8080.  Node 1 reads a file from the mirror; nodes
# 2 and 3 then find it over IPv6 discovery (the link-local group on eth0)
# and get every chunk from peers, so the mirror sends each chunk once.  A
# fake peer that answers every probe and serves garbage is banned by its
# IPv6 address.  A host of another prefix on the same wire gets no answer
# to its probes and no chunk, until peer_allow names its prefix.
set -eu
. "$(dirname "$0")/fixture.sh"
ipv6_setup

mkdir src
pc_random src/f.bin 12M
pc_random src/g.bin 3M
want_f=$(pc_sha src/f.bin)
size=$((12 * MiB))
pc_ns_add6 mirror "$MIRROR6/64"
PC_MIRROR_PORT=8080 ipv6_serve src "[$MIRROR6]"
assert_eq "http://[$MIRROR6]:8080" "$PC_MIRROR_URL" "the mirror's URL"
for i in 1 2 3; do
	ipv6_node_only6 $i
done

pc_node_start 1
assert_contains "$(cat "${PC_NODE_LOG[1]}")" "IPv6 multicast" \
	"node 1's discovery line"
peers_read 1 f.bin "$want_f"
[ "$(pc_mirror_chunk_bytes)" -ge "$size" ] ||
	fail "node 1 did not read the file from the mirror"

pc_node_start 2
pc_node_start 3
peers_read 2 f.bin "$want_f" &
reader2=$!
peers_read 3 f.bin "$want_f" &
reader3=$!
wait "$reader2" || fail "node 2 did not read the file"
wait "$reader3" || fail "node 3 did not read the file"
peers_no_chunk_twice
for i in 2 3; do
	from_peers=$(pc_node_stat $i bytes_from_peers)
	echo "node $i: $from_peers bytes from peers, $(pc_node_stat $i bytes_from_mirror) from the mirror"
	[ "$from_peers" -ge "$size" ] ||
		fail "node $i got $from_peers bytes from peers, expected $size"
done
served=$(pc_node_stat 1 bytes_served_peers)
[ "$served" -ge "$size" ] || fail "node 1 served $served bytes, expected $size"

# A fake peer: "have" for every id, garbage for every GET.
fake_addr=$PC_LAN_NET6::66
pc_ns_add6 fake "$fake_addr/64"
pc_ns_spawn fake "$PEER_TOOL" fake-peer --bind :: --join6 eth0 \
	--max-seconds 100 --sizes "$(manifest_path "$PC_TMP/repo")" \
	>fake.out 2>fake.log
fake=$PC_NS_PID
for _ in $(seq 100); do
	grep -qs ready fake.out && break
	kill -0 $fake 2>/dev/null || fail "the fake peer did not start: $(cat fake.log)"
	sleep 0.1
done
grep -qs ready fake.out || fail "the fake peer is not ready after 10 s"
peers_read 1 g.bin "$(pc_sha src/g.bin)"
echo "the fake peer: $(grep -c 'answered' fake.log || true) probes answered, $(grep -c ' GET /p2p/' fake.log || true) GETs"
grep -q ' GET /p2p/' fake.log || fail "node 1 never asked the fake peer for a chunk"
assert_contains "$(cat "${PC_NODE_LOG[1]}")" "peer $fake_addr banned for" \
	"node 1's log"
peers=$(pc_node_ctl 1 peers --json) || fail "peercachectl peers failed"
python3 - "$peers" "$fake_addr" <<'PY' || fail "peers --json: $peers"
import json, sys
peers = json.loads(sys.argv[1])["peers"]
fake = [p for p in peers if p["address"] == sys.argv[2]]
assert fake and fake[0]["banned"] is True and fake[0]["bad"] >= 1
PY
pc_ns_stop $fake

# Another prefix on the same wire, routed both ways.
node=$(pc_node_addr6 1)
outside=2001:2:0:ff::5
first=$(peers_chunks f.bin | head -n 1)
pc_ns_add6 out "$outside/64"
ip -n "$(pc_ns out)" -6 route add "$PC_LAN_NET6::/64" dev eth0
ip -n "$(pc_ns n1)" -6 route add 2001:2:0:ff::/64 dev eth0
pc_ns_wait_tcp out "$node" 8081 5
# The same probe from a neighbour is answered: it is a valid probe.
assert_eq "answers=1 have=1" "$(ipv6_probe n2 "$node" "$first")" \
	"a probe from node 2"
refused0=$(pc_node_stat 1 peer_refused_acl)
denied0=$(pc_node_stat 1 discovery_denied)
assert_eq "answers=0 have=" "$(ipv6_probe out "$node" "$first")" \
	"a probe from $outside"
pc_run pc_ns_exec out curl -s -g -m 5 -o chunk.out -w '%{http_code}' \
	"http://[$node]:8081/p2p/$first"
echo "curl from $outside: exit $PC_RC, status $PC_OUT"
[ "$PC_RC" != 0 ] || fail "$outside got an HTTP answer: $PC_OUT"
[ ! -s chunk.out ] || fail "$outside got bytes"
[ "$(pc_node_stat 1 peer_refused_acl)" -gt "$refused0" ] ||
	fail "peer_refused_acl did not rise"
[ "$(pc_node_stat 1 discovery_denied)" -gt "$denied0" ] ||
	fail "discovery_denied did not count the probe from $outside"

# Its prefix in peer_allow: answered and served.
pc_node_stop 1
pc_node_start 1 -o peer_allow="2001:2:0:ff::/64"
assert_eq "answers=1 have=1" "$(ipv6_probe out "$node" "$first")" \
	"a probe from $outside, allowed"
pc_ns_exec out curl -sf -g -m 10 -o chunk.out "http://[$node]:8081/p2p/$first" ||
	fail "$outside, allowed, could not GET a chunk"
assert_eq "$first" "$(pc_sha chunk.out)" "the chunk from node 1"
