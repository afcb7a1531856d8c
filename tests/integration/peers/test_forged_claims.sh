#!/usr/bin/env bash
# A host of the subnet forges CLAIMs in an honest neighbour's name (raw
# socket, the neighbour's source address and port): it claims ids the
# neighbour does not fetch, over and over, so that it "says its claim
# again" during the node's confirmation probe, where the neighbour (which
# fetches nothing) stays silent.  That evidence can be forged from another
# address, so it must not make the node doubt the neighbour: the node goes
# on getting from it what it has (docs/PROTOCOL.md, "A neighbour's word").
#
#   1. node 2 reads a.bin and node 3 d.bin (from the mirror);
#   2. pc-peer-tool spoof sends node 1 CLAIMs for b.bin's ids from node 2's
#      address, 100 a second, while node 1 reads b.bin;
#   3. it sends node 1 one CLAIM for c.bin's ids from node 3's address,
#      then node 1 reads c.bin: node 3 stays silent to the two
#      confirmation probes, and node 1 waits for it, bounded;
#   4. node 1 reads a.bin and d.bin: from nodes 2 and 3, not the mirror;
#   5. node 1 reads g.bin from node 4 (node 4 is proven to node 1 now);
#      one forged CLAIM for e.bin's ids in node 4's name, then node 1
#      reads e.bin: a claim never confirmed is worth an unknown
#      neighbour's patience (0.5 s here), not a proven one's (10 s), and
#      then node 1 reads h.bin from node 4, not from the mirror.
# Node 1 must not log nodes 2 and 3 as liars nor show them doubted, and
# the mirror must send at most a tenth of a.bin and d.bin for step 4.
# Before the fix node 1 doubted node 2 for 60 s ("claimed chunk ... and
# did not answer a probe for it"), node 3 likewise ("said it was fetching
# chunk ... and did not deliver it"), and read a.bin and d.bin from the
# mirror; a claim in a proven neighbour's name stalled e.bin's read for
# 10 s, after which node 1 doubted node 4 and read h.bin from the mirror.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/a.bin 4M
pc_random src/b.bin 4M
pc_random src/c.bin 4M
pc_random src/d.bin 4M
pc_random src/e.bin 4M
pc_random src/g.bin 4M
pc_random src/h.bin 4M
size=$(stat -c %s src/a.bin)
peers_serve src
pc_node_start 1
pc_node_start 2
pc_node_start 3
pc_node_start 4
node1=$(pc_node_addr 1)
node2=$(pc_node_addr 2)
node3=$(pc_node_addr 3)
node4=$(pc_node_addr 4)
peers_chunks e.bin >e.ids
neids=$(wc -l <e.ids)
[ "$neids" -le 64 ] || neids=64
peers_chunks b.bin >b.ids
peers_chunks c.bin >c.ids
nids=$(wc -l <b.ids)
[ "$nids" -le 64 ] || nids=64
ncids=$(wc -l <c.ids)
[ "$ncids" -le 64 ] || ncids=64

peers_read 2 a.bin "$(pc_sha src/a.bin)"
peers_read 3 d.bin "$(pc_sha src/d.bin)"
peers_read 4 g.bin "$(pc_sha src/g.bin)"
peers_read 4 h.bin "$(pc_sha src/h.bin)"

pc_ns_add evil 198.18.0.66/24
pc_ns_spawn evil "$PEER_TOOL" spoof "$node1" --sources "$node2/32" \
	--type claim --hashes-file b.ids --ids "$nids" --rate 100 \
	--packets 400 >spoof.out
spoofer=$PC_NS_PID
sleep 0.5
peers_read 1 b.bin "$(pc_sha src/b.bin)"
pc_ns_wait $spoofer || fail "pc-peer-tool spoof failed"
cat spoof.out
grep -q 'sent=400 ' spoof.out || fail "the forged claims were not sent"

pc_ns_exec evil "$PEER_TOOL" spoof "$node1" --sources "$node3/32" \
	--type claim --hashes-file c.ids --ids "$ncids" --packets 1 ||
	fail "pc-peer-tool spoof (one claim) failed"
peers_read 1 c.bin "$(pc_sha src/c.bin)"

before=$(pc_mirror_chunk_bytes)
peers_read 1 a.bin "$(pc_sha src/a.bin)"
peers_read 1 d.bin "$(pc_sha src/d.bin)"
delta=$(($(pc_mirror_chunk_bytes) - before))
echo "a.bin and d.bin on node 1 after the forged claims: the mirror sent $delta of $((2 * size)) bytes"

# The forgery worked as meant: node 1 found node 2 "saying its claim again
# instead of answering" (and doubts its unconfirmed claims for a while) ...
grep -E "peer $node2: claimed chunk .* did not answer a probe" "${PC_NODE_LOG[1]}" ||
	fail "node 1 never judged the forged claims: the test tested nothing"
# ... but nothing else node 2 says.
before=$(pc_mirror_chunk_bytes)
peers_read 1 g.bin "$(pc_sha src/g.bin)"
[ $(($(pc_mirror_chunk_bytes) - before)) -le $((size / 10)) ] ||
	fail "node 1 read g.bin from the mirror, not from node 4"
pc_ns_exec evil "$PEER_TOOL" spoof "$node1" --sources "$node4/32" \
	--type claim --hashes-file e.ids --ids "$neids" --packets 1 ||
	fail "pc-peer-tool spoof (one claim, node 4) failed"
t0=$(date +%s%3N)
peers_read 1 e.bin "$(pc_sha src/e.bin)"
e_ms=$(($(date +%s%3N) - t0))
before=$(pc_mirror_chunk_bytes)
peers_read 1 h.bin "$(pc_sha src/h.bin)"
h_delta=$(($(pc_mirror_chunk_bytes) - before))
echo "e.bin (a claim forged in proven node 4's name): $e_ms ms; h.bin then: the mirror sent $h_delta of $size bytes"
[ "$e_ms" -le 5000 ] ||
	fail "a claim forged in a proven neighbour's name stalled the read for $e_ms ms"
[ "$h_delta" -le $((size / 10)) ] ||
	fail "node 1 read h.bin from the mirror ($h_delta bytes), not from node 4"

for a in "$node2" "$node3" "$node4"; do
	! grep -E "peer $a: .*not waiting" "${PC_NODE_LOG[1]}" ||
		fail "node 1 took $a for a liar on claims forged in its name"
	python3 - "$(pc_node_ctl 1 peers --json)" "$a" <<'PY' || fail "peers --json: $a"
import json, sys
p = [x for x in json.loads(sys.argv[1])["peers"] if x["address"] == sys.argv[2]]
assert p, "%s is not listed" % sys.argv[2]
print("%s as node 1 sees it: doubted=%s claims_doubted=%s promises_broken=%d chunks=%d" %
      (sys.argv[2], p[0]["doubted"], p[0].get("claims_doubted"),
       p[0]["promises_broken"], p[0].get("chunks", -1)))
assert not p[0]["doubted"], "%s is doubted" % sys.argv[2]
PY
done
[ "$delta" -le $((2 * size / 10)) ] ||
	fail "node 1 read a.bin and d.bin from the mirror ($delta bytes), not from nodes 2 and 3"
