#!/usr/bin/env bash
# Discovery answers are never larger than their probes (pc-peer-tool probe
# with 1 to 64 ids, measuring each answer), and say exactly which ids the
# node has.  Sources outside the node's subnets get no answer and no chunk
# (a namespace on another subnet, routed both ways); allowed with
# peer_allow, the same source gets both.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/f.bin 24M
peers_serve src
pc_node_start 1
peers_read 1 f.bin "$(pc_sha src/f.bin)"
node=$(pc_node_addr 1)
peers_chunks f.bin >ids.txt
nids=$(wc -l <ids.txt)
first=$(head -n 1 ids.txt)
[ "$nids" -ge 9 ] || fail "expected at least 9 chunks, got $nids"

# probe_expect OUTPUT: every probe of the output got one answer, of the
# size the protocol gives (16 + 2 x ceil(n/8) bytes, never more than the
# probe), with "have" set for exactly the ids the node holds (the first
# $nids; the tool fills larger probes with random ids).
probe_expect() {
	local ids probe_bytes answers answer_bytes have_map want_map
	while read -r _ ids probe_bytes answers answer_bytes _ _ have_map _; do
		ids=${ids#ids=} probe_bytes=${probe_bytes#probe_bytes=}
		answers=${answers#answers=} answer_bytes=${answer_bytes#answer_bytes=}
		have_map=${have_map#have_map=}
		assert_eq 1 "$answers" "answers to a probe of $ids ids"
		assert_eq $((16 + 2 * ((ids + 7) / 8))) "$answer_bytes" \
			"answer size for $ids ids"
		[ "$answer_bytes" -lt "$probe_bytes" ] ||
			fail "answer of $answer_bytes bytes to a probe of $probe_bytes"
		want_map=$(printf '1%.0s' $(seq "$((ids < nids ? ids : nids))"))
		[ "$ids" -le "$nids" ] ||
			want_map+=$(printf '0%.0s' $(seq $((ids - nids))))
		assert_eq "$want_map" "$have_map" "have bitmap for $ids ids"
	done < <(grep "^probe " <<<"$1")
}

pc_ns_add lan 198.18.0.100/24
sizes=1,2,7,8,9,15,16,17,33,44,63,64
pc_run pc_ns_exec lan "$PEER_TOOL" probe "$node" --hashes-file ids.txt --sizes $sizes
echo "$PC_OUT"
assert_eq 0 "$PC_RC" "probe from the node's subnet (exit status)"
probe_expect "$PC_OUT"
assert_eq 12 "$(grep -c '^probe ' <<<"$PC_OUT")" "probes reported"

# Another subnet on the same wire, routed both ways.
pc_ns_add outside 198.19.0.50/24
ip -n "$(pc_ns n1)" route add 198.19.0.0/24 dev eth0
ip -n "$(pc_ns outside)" route add 198.18.0.0/24 dev eth0
pc_ns_exec outside bash -c "exec 3<>/dev/tcp/$node/8081" ||
	fail "198.19.0.50 cannot reach the node (routing)"
refused0=$(pc_node_stat 1 peer_refused_acl)
dropped0=$(pc_node_stat 1 discovery_dropped)
pc_run pc_ns_exec outside "$PEER_TOOL" probe "$node" --hashes-file ids.txt --sizes 1,8,64
echo "$PC_OUT"
assert_eq 0 "$PC_RC" "probe from outside (exit status)"
assert_eq 0 "$(grep -c 'answers=[1-9]' <<<"$PC_OUT" || true)" "answers to an outside source"
pc_run pc_ns_exec outside curl -s -m 5 -o chunk.out -w '%{http_code}' \
	"http://$node:8081/p2p/$first"
echo "curl from outside: exit $PC_RC, status $PC_OUT"
[ "$PC_RC" != 0 ] || fail "an outside source got an HTTP answer: $PC_OUT"
[ ! -s chunk.out ] || fail "an outside source got bytes"
[ "$(pc_node_stat 1 peer_refused_acl)" -gt "$refused0" ] ||
	fail "peer_refused_acl did not rise"
[ "$(pc_node_stat 1 discovery_dropped)" -ge $((dropped0 + 3)) ] ||
	fail "discovery_dropped did not count the 3 denied probes"

# Allowed through peer_allow: answers and the chunk.
pc_node_stop 1
pc_node_start 1 -o peer_allow=198.19.0.0/24
pc_run pc_ns_exec outside "$PEER_TOOL" probe "$node" --hashes-file ids.txt --sizes $sizes
echo "$PC_OUT"
assert_eq 0 "$PC_RC" "probe from an allowed outside source (exit status)"
probe_expect "$PC_OUT"
pc_ns_exec outside curl -sf -m 10 -o chunk.out "http://$node:8081/p2p/$first" ||
	fail "an allowed outside source could not GET a chunk"
assert_eq "$first" "$(pc_sha chunk.out)" "chunk from the node"
