#!/bin/bash
# fleet.sh BUILD_DIR - a fleet of nodes on one LAN reading the same file:
# how many bytes the mirror sends, and how long until every node has the
# file, with LAN peers on against the same fleet with peers off (every node
# reads from the mirror directly: discovery=off peer_server=off), measured
# side by side in one run.
#
# The LAN is network namespaces on one bridge (tests/integration/lib/
# netns.sh): nginx as the mirror in one, one peercache per node in the
# others, all on 198.18.0.0/24.  The file is fresh random data (256 MiB,
# PC_FLEET_MIB), published once; the mirror's files and the nodes' caches
# live on tmpfs, so the disk is out of the figures.  For every fleet size
# (4, 8 and 16 nodes, PC_FLEET_NODES) and both modes (peers, mirror only),
# the nodes start with empty caches and read the whole file through their
# mounts (`cat`):
#
#   at once     all nodes start reading at the same moment
#   staggered   node i starts (i - 1) x 0.5 s (PC_FLEET_STAGGER) after the
#               first
#
# Figures: origin bytes (body bytes nginx sent for chunks/, from its access
# log) / file size, and the time from the first reader's start until the
# last reader has the whole file.  Every node's file is checked against
# the source's SHA-256 after the timed read (from the page cache it
# filled); a mismatch makes the script exit 1 after printing the table.
#
# Everything runs on one machine: the "network" is a software bridge, and
# the nodes, the mirror and the readers share its CPUs, so the times say
# how much work the fleet does, not how a real LAN or WAN behaves (the
# mirror here is faster than any WAN link).  The origin ratio does not
# depend on that.  PC_FLEET_MIRROR_MBIT=N limits what the mirror sends to
# N Mbit/s (tc tbf on its link), as a site's WAN link would.  Prints figures and ratios, asserts nothing about time.
# Needs root (mounts, namespaces), nginx, python3.  PC_FLEET_LOG_LEVEL
# (info) sets the nodes' log level, e.g. debug to investigate.
# PC_BENCH_RESULTS=FILE appends the origin ratios (with peers) to FILE for
# bench/fastpath.sh.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
file_mib=${PC_FLEET_MIB:-256}
fleet_sizes=${PC_FLEET_NODES:-"4 8 16"}
stagger=${PC_FLEET_STAGGER:-0.5}
patterns=${PC_FLEET_PATTERNS:-"once staggered"}
mirror_mbit=${PC_FLEET_MIRROR_MBIT:-}
read_limit=600 # seconds a reader may take before it counts as failed

# shellcheck source=SCRIPTDIR/lib/fleet.sh
. "$here/lib/fleet.sh"
fleet_setup fleet "$build"
load_before=$(cut -d' ' -f1 /proc/loadavg)

fleet_publish_big "$file_mib" # sets file_bytes, file_sha
link="the bridge, unlimited"
if [ -n "$mirror_mbit" ]; then
	tc -n "$(pc_ns mirror)" qdisc add dev eth0 root tbf \
		rate "${mirror_mbit}mbit" burst 1mb latency 200ms ||
		fail "cannot limit the mirror's link to $mirror_mbit Mbit/s"
	link="limited to $mirror_mbit Mbit/s (tc tbf)"
fi
nchunks=$(fleet_chunks big.bin | wc -l)

mismatches=""
checks=0

# run_fleet MODE N PATTERN: one measurement.  MODE is peers or mirror,
# PATTERN once or staggered.  Sets run_s (seconds until the last node has
# the file), run_origin (chunk body bytes the mirror sent), run_peers and
# run_mirror (bytes the nodes counted from peers and from the mirror),
# run_won and run_lost (claims), and run_disc (the LAN counters, summed).
run_fleet() {
	local mode=$1 n=$2 pattern=$3 i before pids=() opts=() t0 last
	[ "$mode" = peers ] || opts=(-o discovery=off -o peer_server=off)
	for i in $(seq "$n"); do
		fleet_node_start "$i" "${opts[@]}"
	done
	before=$(fleet_chunk_bytes)
	rm -f go end.*
	for i in $(seq "$n"); do
		(
			for _ in $(seq 1000); do
				[ -e go ] && break
				sleep 0.01
			done
			[ "$pattern" = once ] ||
				sleep "$(awk -v i="$i" -v s="$stagger" \
					'BEGIN { print (i - 1) * s }')"
			timeout "$read_limit" cat "${PC_NODE_MNT[i]}/big.bin" \
				>/dev/null
			now >"end.$i"
		) &
		pids+=($!)
	done
	sleep 0.5 # every reader is waiting
	t0=$(now)
	touch go
	for i in $(seq "$n"); do
		wait "${pids[i - 1]}" || fail "node $i did not read the file"
	done
	last=$(sort -n end.* | tail -n 1)
	run_s=$(elapsed "$t0" "$last")
	run_origin=$(($(fleet_chunk_bytes) - before))
	run_peers=0 run_mirror=0 run_won=0 run_lost=0
	local probes=0 answers=0 limited=0 refused=0 empty=0
	for i in $(seq "$n"); do
		local json
		json=$(pc_node_ctl "$i" --json stats)
		run_peers=$((run_peers + $(stat_of bytes_from_peers)))
		run_mirror=$((run_mirror + $(stat_of bytes_from_mirror)))
		run_won=$((run_won + $(stat_of claims_won)))
		run_lost=$((run_lost + $(stat_of claims_lost)))
		probes=$((probes + $(stat_of discovery_probes_sent)))
		answers=$((answers + $(stat_of discovery_answers_received)))
		limited=$((limited + $(stat_of discovery_rate_limited)))
		refused=$((refused + $(stat_of peer_refused_limit)))
		# This run's part of the log: after the last "--- start" line.
		empty=$((empty + $(awk '/^--- start/ { n = 0 }
			/presuming an empty subnet/ { n++ } END { print n + 0 }' \
			"${PC_NODE_LOG[i]}")))
		checks=$((checks + 1))
		[ "$(sha256sum <"${PC_NODE_MNT[i]}/big.bin" | cut -d' ' -f1)" = \
			"$file_sha" ] || mismatches="$mismatches $mode-$n-$pattern-node$i"
	done
	run_disc="probes sent $probes, answers received $answers, rate-limited $limited, peer server refusals (over limits) $refused, times a node presumed its subnet empty $empty"
	for i in $(seq "$n"); do
		fleet_node_stop "$i"
	done
}

# stat_of KEY: one member of $json (a node's stats), 0 if absent.
stat_of() {
	pc_json_get "$json" "$1" 2>/dev/null || echo 0
}

# One line of the table per fleet size and pattern, peers next to mirror.
rows=()
notes=()
for n in $fleet_sizes; do
	for pattern in $patterns; do
		echo "$n nodes, $pattern: peers on..."
		run_fleet peers "$n" "$pattern"
		p_s=$run_s p_origin=$run_origin p_peers=$run_peers
		p_mirror=$run_mirror p_won=$run_won p_lost=$run_lost
		notes+=("$n nodes, $pattern, peers on: $run_disc")
		echo "$n nodes, $pattern: mirror only..."
		run_fleet mirror "$n" "$pattern"
		m_s=$run_s m_origin=$run_origin
		result "fleet.$n.$pattern.origin_ratio" \
			"$(ratio "$p_origin" "$file_bytes")"
		rows+=("$(printf '| %2d | %-9s | %8s | %5s | %8s | %5s | %5sx | %9s | %9s | %3s/%-3s |' \
			"$n" "$pattern" "$p_s" "$(ratio "$p_origin" "$file_bytes")" \
			"$m_s" "$(ratio "$m_origin" "$file_bytes")" \
			"$(ratio "$m_s" "$p_s")" \
			"$((p_peers / FLEET_MIB))" "$((p_mirror / FLEET_MIB))" \
			"$p_won" "$p_lost")")
	done
done

echo
echo "fleet of peercache nodes on one LAN (network namespaces on a bridge,"
echo "nginx as the mirror) reading one $file_bytes-byte file of random data"
echo "($nchunks chunks); the mirror's link: $link"
echo "staggered: node i starts $(awk -v s="$stagger" 'BEGIN { print s }') s" \
	"after node i-1; on $(nproc) CPUs:"
echo "$(cpu_model); load average $load_before at the start, $(cut -d' ' \
	-f1 /proc/loadavg) at the end"
echo
echo "| nodes | start | peers: s until all have it | origin/file | mirror only: s | origin/file | speed vs mirror only | MiB from peers | MiB from mirror | claims won/lost |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "  origin/file: chunk body bytes nginx sent / file size (target <= 1.10 with peers)"
echo "  speed vs mirror only: mirror-only time / peers time (higher is better)"
echo "  LAN counters, summed over the nodes:"
printf '    %s\n' "${notes[@]}"
fleet_complaints
if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
