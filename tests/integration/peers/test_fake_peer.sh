#!/usr/bin/env bash
# A fake peer answers every probe claiming every chunk and serves garbage
# of the right length (pc-peer-tool fake-peer).  The node reads the right
# bytes anyway, bans the fake peer (log line, bad_from_peers, peers --json)
# and asks it for nothing more while the ban lasts.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/a.bin 16M
pc_random src/b.bin 16M
want_a=$(pc_sha src/a.bin)
want_b=$(pc_sha src/b.bin)
peers_serve src

fake_addr=198.18.0.66
pc_ns_add fake "$fake_addr/24"
pc_ns_spawn fake "$PEER_TOOL" fake-peer --max-seconds 110 \
	--sizes "$(manifest_path "$PC_TMP/repo")" >fake.out 2>fake.log
fake=$PC_NS_PID
for _ in $(seq 100); do
	grep -qs ready fake.out && break
	kill -0 $fake 2>/dev/null || fail "the fake peer did not start: $(cat fake.log)"
	sleep 0.1
done
grep -qs ready fake.out || fail "the fake peer is not ready after 10 s"

pc_node_start 1
peers_read 1 a.bin "$want_a"
gets=$(grep -c ' GET /p2p/' fake.log || true)
echo "the fake peer answered $(grep -c 'answered' fake.log || true) probes and $gets GETs"
[ "$gets" -ge 1 ] || fail "the node never asked the fake peer for a chunk"

bad=$(pc_node_stat 1 bad_from_peers)
[ "$bad" -ge 1 ] || fail "bad_from_peers is $bad after garbage from a peer"
assert_contains "$(cat "${PC_NODE_LOG[1]}")" "peer $fake_addr banned for" \
	"the node's log"
peers=$(pc_node_ctl 1 peers --json) || fail "peercachectl peers failed"
python3 - "$peers" "$fake_addr" <<'PY' || fail "peers --json: $peers"
import json, sys
peers = json.loads(sys.argv[1])["peers"]
fake = [p for p in peers if p["address"] == sys.argv[2]]
assert fake, "the fake peer is not listed"
assert fake[0]["banned"] is True, "not banned"
assert fake[0]["bad"] >= 1, "no bad chunk counted"
assert fake[0]["banned_until"] > 0
PY

# Banned: its answers are not followed any more.
peers_read 1 b.bin "$want_b"
after=$(grep -c ' GET /p2p/' fake.log || true)
assert_eq "$gets" "$after" "GETs sent to the banned fake peer"
