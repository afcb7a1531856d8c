#!/usr/bin/env bash
# A site behind a WAN link with squid in front of the mirror, both
# configured as docs/ADMIN.md ("Many sites") says: four nodes with
# `proxy = http://squid:3128` read the same 16 MiB file at the same
# moment, first with LAN peers off (squid alone shares), then, on a new
# version with another 16 MiB file, with peers on.  Each time the mirror
# sends at most 1.1 x the file for the whole site (squid collapses the
# nodes' requests for one chunk into one; with peers on, a node's
# neighbours wait for its claim), and every node reads the right bytes.
set -eu
. "$(dirname "$0")/fixture.sh"
sites_setup
sites_site 200 # Mbit/s from the mirror to the site
nodes="1 2 3 4"

mkdir src
pc_random src/a.bin 16M
want_a=$(pc_sha src/a.bin)
sites_publish src
sites_mirror_start
sites_squid_start

# check_site FILE SHA: what the mirror sent for FILE, and what each node
# read; squid's answers since line $squid_from of its log.
check_site() {
	local file=$1 sha=$2 size sent i answers
	size=$(stat -c %s "src/$file")
	for i in $nodes; do
		sites_read "$i" "$file" "$sha"
		echo "node $i: $(pc_node_stat "$i" bytes_from_peers) bytes from peers," \
			"$(pc_node_stat "$i" bytes_from_mirror) from the mirror (through squid)"
	done
	sent=$(sites_mirror_file_bytes "$file")
	answers=$(tail -n "+$((squid_from + 1))" "$SQUID_LOG" |
		awk '$5 ~ /\/chunks\// { print $2 }' | sort | uniq -c | xargs)
	echo "$file: the mirror sent $sent bytes of its chunks for the site" \
		"(file: $size bytes); squid's answers to the nodes: $answers"
	[ "$sent" -ge "$size" ] ||
		fail "the mirror sent $sent bytes for a $size-byte file: its log misses requests"
	[ "$sent" -le $((size * 11 / 10)) ] ||
		fail "the mirror sent $sent bytes of $file for one site, more than 1.1 x $size"
}

# Peers off: every node goes to the mirror, through squid.
sites_node_opts -o discovery=off -o peer_server=off
for i in $nodes; do
	pc_node_start "$i"
done
squid_from=$(wc -l <"$SQUID_LOG")
# shellcheck disable=SC2086
sites_read_all a.bin $nodes
check_site a.bin "$want_a"

# Peers on, a new version with a new file, empty caches.
for i in $nodes; do
	pc_node_stop "$i"
	rm -rf "${PC_NODE_CACHE[i]}"
done
pc_random src/b.bin 16M
want_b=$(pc_sha src/b.bin)
sites_publish src
sites_node_opts
for i in $nodes; do
	pc_node_start "$i"
done
squid_from=$(wc -l <"$SQUID_LOG")
# shellcheck disable=SC2086
sites_read_all b.bin $nodes
check_site b.bin "$want_b"
