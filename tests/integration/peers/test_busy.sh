#!/usr/bin/env bash
# A holder at its upload limit answers 503; its neighbours look again a
# moment later instead of going to the mirror.  Node 1 reads a 32 MiB file
# from the mirror and serves one upload at a time (max_uploads = 1); node 2
# prefetches the file with 8 transfers at once, node 1's link limited to
# 100 Mbit/s so that its uploads overlap (peercachectl prefetch keeps
# 16 fetches queued; a reader's read-ahead would not reliably overlap),
# so many of its GETs are refused at first, yet it gets every chunk from
# node 1 and nothing from the mirror, and reads the right bytes.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/big.bin 32M
want=$(pc_sha src/big.bin)
peers_serve src

pc_node_start 1 -o max_uploads=1
peers_read 1 big.bin "$want"
mirror_bytes=$(pc_mirror_chunk_bytes)

# Node 1's uploads must overlap: on an unlimited link each chunk can be
# handed to the kernel before the next GET is read (no 503 at all, seen
# under ASan).  100 Mbit/s out of node 1 keeps each upload going ~90 ms.
# Only TCP is limited: node 1's discovery answers (UDP) queued behind its
# uploads came after node 2's claim window, and node 2 took a chunk from
# the mirror (seen in a CI-style run).
ns1=$(pc_ns n1)
{
	tc -n "$ns1" qdisc add dev eth0 root handle 1: htb default 20 &&
		tc -n "$ns1" class add dev eth0 parent 1: classid 1:10 htb \
			rate 10gbit &&
		tc -n "$ns1" class add dev eth0 parent 1: classid 1:20 htb \
			rate 100mbit burst 64kb &&
		tc -n "$ns1" filter add dev eth0 parent 1: protocol ip prio 1 \
			u32 match ip protocol 17 0xff flowid 1:10
} || fail "cannot limit node 1's link"
pc_node_start 2 -o max_fetches=8
pc_node_ctl 2 prefetch big.bin >/dev/null || fail "node 2: prefetch failed"
peers_read 2 big.bin "$want"
refused=$(pc_node_stat 1 peer_refused_limit)
retries=$(pc_node_stat 2 peer_busy_retries)
echo "node 1 refused $refused GETs (503); node 2 looked again $retries times"
[ "$refused" -ge 1 ] || fail "node 1 refused no GET: the test tested nothing"
[ "$retries" -ge 1 ] || fail "node 2 counted no busy retry"
assert_eq 0 "$(pc_node_stat 2 bytes_from_mirror)" "node 2: bytes from the mirror"
assert_eq "$mirror_bytes" "$(pc_mirror_chunk_bytes)" "chunk bytes the mirror sent"
