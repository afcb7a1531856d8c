#!/usr/bin/env bash
# 200 concurrent downloads of one chunk from one node's peer server
# (pc-peer-tool get, from 40 client addresses: the server takes at most 8
# connections per source).  Every request gets the chunk (right bytes) or a
# 503 with Retry-After above max_uploads; nothing else; the counters agree
# with what the clients saw; the daemon's memory stays bounded.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/f.bin 8M
peers_serve src
pc_node_start 1
peers_read 1 f.bin "$(pc_sha src/f.bin)"
node=$(pc_node_addr 1)
# The largest chunk: its upload lasts longest.
chunk=$(grep -E '^[0-9a-f]{64} [0-9]+$' "$(manifest_path "$PC_TMP/repo")" |
	sort -k2,2n | tail -n 1 | cut -d' ' -f1)

pc_ns_add clients 198.18.0.100/24
sources=198.18.0.100
for i in $(seq 101 139); do
	pc_ns_addr_add clients "198.18.0.$i/24"
	sources+=",198.18.0.$i"
done

served0=$(pc_node_stat 1 chunks_served_peers)
refused0=$(pc_node_stat 1 peer_refused_limit)
rss0=$(pc_node_rss 1)
ok=0 busy=0
# get_round [pc-peer-tool get options]: 200 requests at once; adds to
# $ok and $busy.
get_round() {
	local line
	pc_run pc_ns_exec clients "$PEER_TOOL" get "$node:8081" "$chunk" \
		--connections 200 --sources "$sources" --timeout 30 "$@"
	echo "$PC_OUT"
	assert_eq 0 "$PC_RC" "200 concurrent GETs (every one 200 or 503)"
	line=$(grep '^get ' <<<"$PC_OUT")
	round_ok=$(sed -E 's/.* ok=([0-9]+).*/\1/' <<<"$line")
	round_busy=$(sed -E 's/.* busy=([0-9]+).*/\1/' <<<"$line")
	assert_eq 200 $((round_ok + round_busy)) "answers in one round"
	[ "$round_ok" -ge 1 ] || fail "no request got the chunk"
	ok=$((ok + round_ok)) busy=$((busy + round_busy))
}
# Clients that read at once, then clients that hold their uploads open
# (small receive buffer, 1 s pause before reading the body), so that the
# limit of 50 uploads is surely reached.
get_round
get_round --rcvbuf 4096 --hold-ms 1000
[ "$round_busy" -ge 1 ] || fail "no 503 with 200 uploads held open"
[ "$round_ok" -ge 50 ] || fail "only $round_ok uploads at once, max_uploads is 50"
rss1=$(pc_node_rss 1)

served=$(($(pc_node_stat 1 chunks_served_peers) - served0))
refused=$(($(pc_node_stat 1 peer_refused_limit) - refused0))
echo "clients: $ok chunks, $busy 503s; node: $served served, $refused refused; RSS $rss0 -> $rss1 KiB"
assert_eq "$ok" "$served" "chunks_served_peers against chunks received"
assert_eq "$busy" "$refused" "peer_refused_limit against 503s received"
[ $((rss1 - rss0)) -le $((32 * 1024)) ] ||
	fail "the daemon's RSS grew from $rss0 to $rss1 KiB"
# Still serving.
pc_ns_exec clients curl -sf -m 10 -o chunk.out "http://$node:8081/p2p/$chunk" ||
	fail "no chunk after the rounds"
assert_eq "$chunk" "$(pc_sha chunk.out)" "chunk after the rounds"
