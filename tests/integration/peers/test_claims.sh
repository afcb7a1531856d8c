#!/usr/bin/env bash
# Claims from a neighbour (pc-peer-tool claim: a node about to go to the
# mirror, which answers probes for what it claims with "fetching").  A node
# that wants claimed chunks waits for the claimer instead of going to the
# mirror itself; the claimer's RELEASE ends the wait at once (then the node
# fetches the chunks, here from the mirror, since the claimer has nothing
# to serve); a claim never released holds the node only for a bounded time
# (at most 10 s), and the read still succeeds.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/f.bin 6M
pc_random src/g.bin 300K
peers_serve src
pc_node_start 1
node=$(pc_node_addr 1)
pc_ns_add claimer 198.18.0.5/24
peers_chunks f.bin >f.ids
peers_chunks g.bin >g.ids

# now_ms: wall clock in ms (nginx logs $msec, wall clock too).
now_ms() {
	date +%s%3N
}

# Released after 2 s: the read waits about that long, no more.
pc_ns_spawn claimer "$PEER_TOOL" claim "$node" --hashes-file f.ids \
	--release-after 2000 >claim.out
claimer=$PC_NS_PID
for _ in $(seq 50); do
	grep -qs '^claim ' claim.out && break
	sleep 0.1
done
t0=$(now_ms)
peers_read 1 f.bin "$(pc_sha src/f.bin)"
t1=$(now_ms)
pc_ns_wait $claimer || fail "pc-peer-tool claim failed"
released=$((t0 + 2000))
echo "read with a claim released after 2 s: $((t1 - t0)) ms"
[ $((t1 - t0)) -ge 1500 ] ||
	fail "the read took $((t1 - t0)) ms: it did not wait for the claimer"
[ $((t1 - t0)) -le 6000 ] ||
	fail "the read took $((t1 - t0)) ms: the RELEASE did not end the wait"
first=$(pc_mirror_chunk_gets | grep -Ff f.ids |
	awk '{ printf "%.0f\n", $3 * 1000 }' | sort -n | head -n 1)
[ -n "$first" ] || fail "f.bin was not fetched from the mirror"
[ "$first" -ge $((released - 500)) ] ||
	fail "a claimed chunk was fetched from the mirror $((released - first)) ms before the release"

# Never released (the claimer keeps saying "fetching"): the node waits a
# bounded time, then fetches anyway.  Another claimer: the first one
# refused the node's GET after its release, so the node skips it for a
# while.
pc_ns_add claimer2 198.18.0.6/24
pc_ns_spawn claimer2 "$PEER_TOOL" claim "$node" --hashes-file g.ids \
	--max-seconds 40 >claim.out
claimer=$PC_NS_PID
for _ in $(seq 50); do
	grep -qs '^claim ' claim.out && break
	sleep 0.1
done
t0=$(now_ms)
peers_read 1 g.bin "$(pc_sha src/g.bin)"
t1=$(now_ms)
pc_ns_stop $claimer
echo "read with a claim never released: $((t1 - t0)) ms"
[ $((t1 - t0)) -ge 3000 ] ||
	fail "the read took $((t1 - t0)) ms: it did not wait for the claimer"
[ $((t1 - t0)) -le 15000 ] ||
	fail "the read took $((t1 - t0)) ms: longer than the bounded wait (10 s)"
