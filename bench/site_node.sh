#!/bin/bash
# site_node.sh BUILD_DIR - a branch site whose nodes use a node of the
# main site as their mirror (mirror_serve): what the site node sends the
# branch, what the cloud sends, and how fast.
#
# The tiers are tests/integration/sites/test_site_node.sh's (site.sh and
# branch.sh): nginx as the cloud mirror behind a WAN link limited with tc
# tbf to PC_SITE_NODE_CLOUD_MBIT (1000), the site node n1 on the main
# site's LAN, a router, and the branch nodes (n5, n6, ...) on a second
# bridge behind a link limited to PC_SITE_NODE_BRANCH_MBIT (1000) towards
# the branch.  Branch nodes list the site node first, the cloud second;
# LAN peers are on everywhere.  The file is fresh random data
# (PC_SITE_NODE_MIB, 128 MiB) on tmpfs.  For each number of branch nodes
# (PC_SITE_NODE_NODES, "1 4"), two runs, every branch cache empty:
#
#   cold   the site node's cache is empty too: it pulls every chunk
#          through from the cloud while the branch reads
#   warm   the site node has the file: every chunk is a hit
#
# Figures: seconds until the last branch node has the file, bytes the
# router sent into the branch / file (its tx counter), bytes the cloud
# sent / file (nginx's log), what the site node counted (pulled through,
# hits), and the throughput the branch achieved.  Every branch node's file
# is checked against the source's SHA-256.  Prints figures, asserts
# nothing about time.  Needs root, nginx, python3.  Run under `flock
# /work/bench.lock` on a shared machine.  PC_BENCH_RESULTS=FILE appends the
# figures bench/model.py takes as inputs (site_node.*) to FILE.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
file_mib=${PC_SITE_NODE_MIB:-128}
node_counts=${PC_SITE_NODE_NODES:-"1 4"}
cloud_mbit=${PC_SITE_NODE_CLOUD_MBIT:-1000}
branch_mbit=${PC_SITE_NODE_BRANCH_MBIT:-1000}
read_limit=1800

# shellcheck source=SCRIPTDIR/lib/fleet.sh
. "$here/lib/fleet.sh"
fleet_setup site_node "$build" wan
# shellcheck source=SCRIPTDIR/../tests/integration/sites/site.sh
. "$here/../tests/integration/sites/site.sh"
# shellcheck source=SCRIPTDIR/../tests/integration/sites/branch.sh
. "$here/../tests/integration/sites/branch.sh"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

sites_site "$cloud_mbit"
sites_route
branch_setup "$branch_mbit"
fleet_serve() { sites_mirror_start; }
fleet_publish_big "$file_mib" # sets file_bytes, file_sha
nchunks=$(fleet_chunks big.bin | wc -l)
cloud_opts=("${PC_NODE_OPTS[@]}")
site_url="http://$(pc_node_addr 1):8081"
branch_opts=(-o mirror="$site_url" "${cloud_opts[@]}")
max_nodes=0
for n in $node_counts; do
	[ "$n" -le "$max_nodes" ] || max_nodes=$n
done
branch_site_node_ns 1
for i in $(seq 5 $((4 + max_nodes))); do
	branch_node_ns "$i"
done
mismatches=""
checks=0

site_node_start() {
	PC_NODE_OPTS=("${cloud_opts[@]}")
	fleet_node_start 1 -o mirror_serve=on -o mirror_allow="$BRANCH_NET"
}

# run_branch N: the branch's N nodes read big.bin at once.  Sets run_s,
# run_branch_bytes, run_cloud_bytes, run_fetched, run_hit.
run_branch() {
	local n=$1 i pids=() t0 last wan0 cloud0 json0 json
	PC_NODE_OPTS=("${branch_opts[@]}")
	for i in $(seq 5 $((4 + n))); do
		fleet_node_start "$i"
	done
	wan0=$(branch_wan_bytes)
	cloud0=$(fleet_chunk_bytes)
	json0=$(pc_node_ctl 1 --json stats)
	rm -f go end.*
	for i in $(seq 5 $((4 + n))); do
		(
			for _ in $(seq 1000); do
				[ -e go ] && break
				sleep 0.01
			done
			timeout "$read_limit" cat "${PC_NODE_MNT[i]}/big.bin" \
				>/dev/null
			now >"end.$i"
		) &
		pids+=($!)
	done
	sleep 0.5
	t0=$(now)
	touch go
	for pid in "${pids[@]}"; do
		wait "$pid" || fail "a branch node did not read the file"
	done
	last=$(sort -n end.* | tail -n 1)
	run_s=$(elapsed "$t0" "$last")
	run_branch_bytes=$(($(branch_wan_bytes) - wan0))
	run_cloud_bytes=$(($(fleet_chunk_bytes) - cloud0))
	json=$(pc_node_ctl 1 --json stats)
	run_fetched=$(($(pc_json_get "$json" mirror_served_bytes_fetched) -
		$(pc_json_get "$json0" mirror_served_bytes_fetched)))
	run_hit=$(($(pc_json_get "$json" mirror_served_bytes_hit) -
		$(pc_json_get "$json0" mirror_served_bytes_hit)))
	for i in $(seq 5 $((4 + n))); do
		checks=$((checks + 1))
		[ "$(sha256sum <"${PC_NODE_MNT[i]}/big.bin" | cut -d' ' -f1)" = \
			"$file_sha" ] || mismatches="$mismatches $n-node$i"
		fleet_node_stop "$i"
	done
}

rows=()
for n in $node_counts; do
	for run in cold warm; do
		echo "$n branch nodes, $run site node..."
		[ "$run" = warm ] || site_node_start
		run_branch "$n"
		[ "$run" = cold ] || fleet_node_stop 1
		branch_ratio=$(ratio "$run_branch_bytes" "$file_bytes")
		cloud_ratio=$(ratio "$run_cloud_bytes" "$file_bytes")
		mbyte_s=$(rate "$file_bytes" "$run_s")
		rows+=("$(printf '| %d | %-4s | %8s | %6s | %5s | %5s | %6d | %6d |' \
			"$n" "$run" "$run_s" "$mbyte_s" "$branch_ratio" "$cloud_ratio" \
			"$((run_fetched / FLEET_MIB))" "$((run_hit / FLEET_MIB))")")
		result "site_node.$n.$run.seconds" "$run_s"
		result "site_node.$n.$run.branch_ratio" "$branch_ratio"
		result "site_node.$n.$run.cloud_ratio" "$cloud_ratio"
	done
done
result site_node.file_bytes "$file_bytes"
result site_node.branch_mbit "$branch_mbit"

echo
echo "a branch site whose nodes use a node of the main site as their mirror"
echo "(mirror_serve); cloud link $cloud_mbit Mbit/s, branch link $branch_mbit Mbit/s"
echo "(tc tbf), one $file_bytes-byte file of random data ($nchunks chunks) read"
echo "by every branch node at once; on $(nproc) CPUs: $(cpu_model); load average"
echo "$load_before at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| branch nodes | site node | s until all have it | MB/s to the branch | branch link bytes / file | cloud bytes / file | MiB pulled through | MiB from its cache |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
fleet_complaints
if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
