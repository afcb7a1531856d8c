#!/usr/bin/env bash
# A sequential reader's lookahead: one probe asks about the next 64 chunks
# of the file, and the fetches of those chunks go straight to the holder
# the answer named, with no probe of their own.
#
# 1. Node 1 reads a 96 MiB file (two lookahead windows) from the mirror;
#    node 2 reads it from node 1 with far fewer probes than chunks, most
#    of its fetches counted as hint hits, nothing from the mirror.
# 2. A stale hint: node 4 reads the whole file (from node 1) and stops;
#    node 3 reads the first MiB (its lookahead learns that node 1, the
#    only holder up, has the rest); node 4 comes back with its cache, node
#    1 purges its own, and node 3 reads the rest within the hints' 10 s
#    (only a restart and a purge in between): the GETs to node 1 answer
#    404, the fetches ask again and get every chunk from node 4.  Nothing
#    more from the mirror, the stale hints counted, the right bytes.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/big.bin 96M
want=$(pc_sha src/big.bin)
peers_serve src
# Node 1 is the only holder at times: an answer that comes after the ask
# (50 ms by default; a sanitizer's loop under load was seen later) sends
# a chunk to the mirror, which this test counts.  Timing is not what it
# tests: the asks wait longer.
PC_NODE_OPTS+=(-o discovery_timeout=250ms)
nchunks=$(peers_chunks big.bin | wc -l)
echo "big.bin: $nchunks chunks"
[ "$nchunks" -gt 64 ] || fail "the file has $nchunks chunks; the test needs two windows"

pc_node_start 1
peers_read 1 big.bin "$want"
mirror_bytes=$(pc_mirror_chunk_bytes)

# ---- 1: probes per file, not per chunk -----------------------------------

pc_node_start 2
peers_read 2 big.bin "$want"
probes=$(pc_node_stat 2 discovery_probes_sent)
hits=$(pc_node_stat 2 discovery_hint_hits)
echo "node 2: $probes probes, $hits hint hits for $nchunks chunks"
# The manifest's probe, chunk 0's, and one per window of 64 (a few more
# if a fetch starts at a window's edge before its lookahead is sent).
[ "$probes" -le 8 ] ||
	fail "node 2 sent $probes probes for $nchunks chunks (lookahead: at most 8)"
# Fetches that start while their id is in a probe in flight wait for its
# answer and count as no hit: how many do depends on the machine's speed
# (under ASan, a dozen of 84).
[ "$hits" -ge $((nchunks / 2)) ] ||
	fail "node 2 fetched only $hits of $nchunks chunks by hint"
assert_eq 0 "$(pc_node_stat 2 bytes_from_mirror)" "node 2: bytes from the mirror"
assert_eq 0 "$(pc_node_stat 2 discovery_hints_stale)" "node 2: stale hints"
pc_node_stop 2

# ---- 2: a holder that purged the chunks since ----------------------------

pc_node_start 4
peers_read 4 big.bin "$want"
assert_eq 0 "$(pc_node_stat 4 bytes_from_mirror)" "node 4: bytes from the mirror"
pc_node_stop 4 # its cache stays
pc_node_start 3
dd if="${PC_NODE_MNT[3]}/big.bin" of=/dev/null bs=1M count=1 status=none ||
	fail "node 3 could not read the first MiB"
pc_node_start 4
pc_node_ctl 1 purge --all >/dev/null || fail "purge on node 1 failed"
peers_read 3 big.bin "$want"
stale=$(pc_node_stat 3 discovery_hints_stale)
echo "node 3: $stale stale hints, $(pc_node_stat 3 bytes_from_peers) bytes from peers"
[ "$stale" -ge 1 ] || fail "node 3 met no stale hint (the test did not test it)"
assert_eq 0 "$(pc_node_stat 3 bytes_from_mirror)" "node 3: bytes from the mirror"
assert_eq "$mirror_bytes" "$(pc_mirror_chunk_bytes)" "chunk bytes the mirror sent"
