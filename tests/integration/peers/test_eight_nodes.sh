#!/usr/bin/env bash
# Eight nodes read the same 64 MiB file at the same moment.  The mirror
# sends at most 1.1 x the file's size in chunk bodies in all (a node about
# to go to the mirror claims the chunk; its neighbours wait for it and
# fetch from it), and every node reads the right bytes.
set -eu
. "$(dirname "$0")/fixture.sh"
peers_setup

mkdir src
pc_random src/big.bin 64M
want=$(pc_sha src/big.bin)
size=$((64 * MiB))
peers_serve src
for i in $(seq 8); do
	pc_node_start "$i"
done

# All readers wait for one signal (bounded), so that they start together.
readers=()
for i in $(seq 8); do
	(
		for _ in $(seq 500); do
			[ -e go ] && break
			sleep 0.01
		done
		cat "${PC_NODE_MNT[i]}/big.bin" >/dev/null
	) &
	readers+=($!)
done
sleep 0.3
touch go
for i in $(seq 8); do
	wait "${readers[i - 1]}" || fail "node $i could not read the file"
done
# The bytes each node read (now in its page cache: checked after the race,
# so that hashing does not take the CPU from the daemons during it).
for i in $(seq 8); do
	peers_read "$i" big.bin "$want"
done

total=$(pc_mirror_chunk_bytes)
# One stats call a node (each is a peercachectl and a python3).
for i in $(seq 8); do
	pc_node_ctl "$i" stats --json | python3 -c 'import json, sys
s = json.load(sys.stdin)
print("node %s: %d bytes from peers, %d from the mirror, %d served to "
      "peers; claims won %d, lost %d; discovery packets dropped %d" % (
          sys.argv[1], s["bytes_from_peers"], s["bytes_from_mirror"],
          s["bytes_served_peers"], s["claims_won"], s["claims_lost"],
          s["discovery_dropped"]))' "$i" || fail "stats of node $i failed"
done
echo "the mirror sent $total bytes of chunks (file: $size bytes)"
# On a miss, which chunks went twice and to whom (the mirror's log: path,
# client), for whoever reads the nodes' logs below.
[ "$total" -le $((size * 11 / 10)) ] ||
	fail "the mirror sent $total bytes for a $size-byte file read by 8 nodes (limit 1.1x); chunks sent more than once, with their clients:
$(pc_mirror_chunk_gets | awk '{ n[$1]++; who[$1] = who[$1] " " $2 "@" $3 }
	END { for (c in n) if (n[c] > 1) print c ":" who[c] }' | sort)"
