#!/usr/bin/env bash
# Claims from a neighbour (pc-peer-tool claim: a node about to go to the
# mirror, which answers probes for what it claims with "fetching").  A node
# that wants claimed chunks waits for the claimer instead of going to the
# mirror itself, and the claimer's RELEASE ends the wait at once (then the
# node fetches the chunks, here from the mirror, since the claimer has
# nothing to serve).  A claimer that never delivered anything is waited for
# about as long as the node's own downloads take (at least 0.5 s), not
# longer: a claim never released costs one bounded wait, is logged once as
# a warning, and the claimer's further claims are not waited for at all.
# (Both claimers answer the node's probes with "fetching": they confirm
# their claims, which a claimer that never delivered must do before the
# node waits for it; test_liars has one that does not.)
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/f.bin 6M
pc_random src/g.bin 300K
pc_random src/h.bin 300K
peers_serve src
pc_node_start 1
node=$(pc_node_addr 1)
pc_ns_add claimer 198.18.0.5/24
peers_chunks f.bin >f.ids
peers_chunks g.bin >gh.ids
peers_chunks h.bin >>gh.ids

# now_ms: wall clock in ms (nginx logs $msec, wall clock too).
now_ms() {
	date +%s%3N
}

# start_claimer NAME ARGS...: pc-peer-tool claim in namespace NAME, its
# claims sent; sets $claimer.
start_claimer() {
	local name=$1
	shift
	pc_ns_spawn "$name" "$PEER_TOOL" claim "$node" "$@" >"$name.out"
	claimer=$PC_NS_PID
	for _ in $(seq 50); do
		grep -qs '^claim ' "$name.out" && return 0
		sleep 0.1
	done
	fail "the claimer $name sent no claim"
}

# Released 100 ms after the node first asked about a claimed chunk: the
# node waits for the release, then fetches (from the mirror).
start_claimer claimer --hashes-file f.ids --release-after-probe 100 \
	--max-seconds 30
t0=$(now_ms)
peers_read 1 f.bin "$(pc_sha src/f.bin)"
t1=$(now_ms)
pc_ns_wait $claimer || fail "pc-peer-tool claim failed"
cat claimer.out
released=$(sed -nE 's/^release .*released_at_ms=([0-9]+).*/\1/p' claimer.out)
[ -n "$released" ] && [ "$released" -gt 0 ] ||
	fail "the claimer did not release (it saw no probe?)"
echo "read with a claim released 100 ms after the first probe: $((t1 - t0)) ms"
first=$(pc_mirror_chunk_gets | grep -Ff f.ids |
	awk '{ printf "%.0f\n", $3 * 1000 }' | sort -n | head -n 1)
[ -n "$first" ] || fail "f.bin was not fetched from the mirror"
# nginx logs a request when it ends: the first claimed chunk's GET ended
# after the release (a 20 ms allowance for the two clocks' rounding).
[ "$first" -ge $((released - 20)) ] ||
	fail "a claimed chunk was fetched from the mirror $((released - first)) ms before the release"
[ $((t1 - t0)) -le 6000 ] ||
	fail "the read took $((t1 - t0)) ms: the RELEASE did not end the wait"
! grep -qE 'peer 198.18.0.5: .*(not waiting|claims count only)' "${PC_NODE_LOG[1]}" ||
	fail "a claimer that released in time was taken for a liar"
# It never delivered to the node, so its claims had to be confirmed: it
# answered the node's probes with "fetching", and the node waited for it.
python3 - "$(pc_node_ctl 1 peers --json)" 198.18.0.5 <<'PY' || fail "peers --json: the honest claimer"
import json, sys
p = [x for x in json.loads(sys.argv[1])["peers"] if x["address"] == sys.argv[2]]
assert p, "the claimer is not listed"
print("the claimer: waits=%d promises_broken=%d" % (p[0]["waits"], p[0]["promises_broken"]))
assert p[0]["waits"] >= 1, "no fetch waited for the claimer"
assert p[0]["promises_broken"] == 0 and p[0]["doubted"] is False, p[0]
PY

# Never released (the claimer keeps saying "fetching"): the node waits a
# bounded time once, then fetches anyway, and does not wait for the same
# claimer again.
pc_ns_add claimer2 198.18.0.6/24
start_claimer claimer2 --hashes-file gh.ids --max-seconds 40
t0=$(now_ms)
peers_read 1 g.bin "$(pc_sha src/g.bin)"
t1=$(now_ms)
echo "read with a claim never released: $((t1 - t0)) ms"
[ $((t1 - t0)) -ge 400 ] ||
	fail "the read took $((t1 - t0)) ms: it did not wait for the claimer"
[ $((t1 - t0)) -le 5000 ] ||
	fail "the read took $((t1 - t0)) ms: longer than an unknown claimer's bounded wait"
peers_wait_log 1 'peer 198.18.0.6: said it was fetching .* not waiting for it' 2
lost=$(grep -c 'claim lost to 198.18.0.6' "${PC_NODE_LOG[1]}" || true)
peers_read 1 h.bin "$(pc_sha src/h.bin)"
pc_ns_stop $claimer
assert_eq "$lost" "$(grep -c 'claim lost to 198.18.0.6' "${PC_NODE_LOG[1]}" || true)" \
	"claims lost to the claimer after it did not deliver"
assert_eq 1 "$(grep -c 'peer 198.18.0.6: .*not waiting for it' "${PC_NODE_LOG[1]}")" \
	"warnings about the claimer"
