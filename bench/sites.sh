#!/bin/bash
# sites.sh BUILD_DIR - one site behind a WAN link: how many bytes the
# mirror sends for the site, and how long until every node has the file,
# with and without the site's squid, with LAN peers on and off, measured
# side by side in one run.
#
# The site is tests/integration/sites/site.sh's: nginx as the mirror in
# its own namespace, at the far end of a WAN link limited with tc tbf to
# PC_SITES_WAN_MBIT Mbit/s (100) in the mirror's sending direction; the
# site's gateway namespace, which routes between the WAN and the site's
# LAN (a bridge) and runs squid when a mode says so; the nodes on the LAN.
# The mirror sends the headers and squid has the configuration that
# docs/ADMIN.md ("Many sites") documents (the guide's blocks themselves).
# The file is fresh random data (PC_SITES_MIB, 256 MiB), published once;
# files and caches live on tmpfs.  For each number of nodes
# (PC_SITES_NODES, "4 8") and each mode (PC_SITES_MODES):
#
#   direct        peers off, no proxy: every node reads from the mirror
#   peers         LAN peers on, no proxy
#   squid         peers off, proxy = squid on the gateway
#   squid+peers   LAN peers on and the proxy
#
# the nodes start with empty caches (and squid with an empty cache) and
# read the whole file through their mounts at the same moment (`cat`).
# Figures: the chunk body bytes nginx sent (its access log) / file size,
# which is the site's WAN bytes; the time from the start until the last
# reader has the whole file; what squid answered itself; the bytes the
# nodes counted from peers and from "the mirror" (squid included); the
# WAN throughput achieved; and the discovery traffic: UDP datagrams each
# node's namespace sent and received during the read (/proc/net/snmp:
# only discovery uses UDP there), per node and per chunk of the file.
# Every node's file is checked against the source's SHA-256 afterwards; a
# mismatch makes the script exit 1 after printing the table.
#
# Everything shares this machine's 2 CPUs; the LAN (a software bridge) is
# faster than a real one, the WAN is the tc limit.  Prints figures, asserts
# nothing about time.  Needs root, nginx, squid, python3.  Run under
# `flock /work/bench.lock` on a shared machine.  PC_BENCH_RESULTS=FILE
# appends the figures bench/model.py takes as inputs to FILE.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
file_mib=${PC_SITES_MIB:-256}
node_counts=${PC_SITES_NODES:-"4 8"}
wan_mbit=${PC_SITES_WAN_MBIT:-100}
modes=${PC_SITES_MODES:-"direct peers squid squid+peers"}
read_limit=1800 # seconds a reader may take before it counts as failed

for mode in $modes; do
	case $mode in
	direct | peers | squid | squid+peers) ;;
	*)
		echo "sites.sh: PC_SITES_MODES: unknown mode '$mode'" >&2
		exit 2
		;;
	esac
done

# shellcheck source=SCRIPTDIR/lib/fleet.sh
. "$here/lib/fleet.sh"
fleet_setup sites "$build" wan
# shellcheck source=SCRIPTDIR/../tests/integration/sites/site.sh
. "$here/../tests/integration/sites/site.sh"
command -v squid >/dev/null || fail "squid is not installed"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

sites_site "$wan_mbit"
sites_route
max_nodes=0
for n in $node_counts; do
	[ "$n" -le "$max_nodes" ] || max_nodes=$n
done
for i in $(seq "$max_nodes"); do
	sites_node_ns "$i"
done
fleet_serve() { sites_mirror_start; }
fleet_publish_big "$file_mib" # sets file_bytes, file_sha
nchunks=$(fleet_chunks big.bin | wc -l)

mismatches=""
checks=0

# udp_counts I: "received sent" UDP datagrams of node I's namespace.
udp_counts() {
	pc_ns_exec "n$1" awk '$1 == "Udp:" && $2 ~ /^[0-9]+$/ { print $2, $5 }' \
		/proc/net/snmp
}

# run_site MODE N: one measurement.  Sets run_s, run_origin, run_peers,
# run_mirror, run_squid (squid's answers to the nodes for chunks, by
# result), run_udp_in and run_udp_out (datagrams per node, averaged).
run_site() {
	local mode=$1 n=$2 i before pids=() opts=() t0 last squid_from=0
	local udp_before=() in out json
	case $mode in
	direct | squid) opts+=(-o discovery=off -o peer_server=off) ;;
	esac
	case $mode in
	squid*)
		sites_squid_start
		opts+=(-o proxy="http://$SQUID_ADDR:$SQUID_PORT")
		;;
	esac
	for i in $(seq "$n"); do
		fleet_node_start "$i" "${opts[@]}"
	done
	[ -z "${SQUID_PID:-}" ] || squid_from=$(wc -l <"$SQUID_LOG")
	before=$(fleet_chunk_bytes)
	for i in $(seq "$n"); do
		udp_before[i]=$(udp_counts "$i")
	done
	rm -f go end.*
	for i in $(seq "$n"); do
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
	sleep 0.5 # every reader is waiting
	t0=$(now)
	touch go
	for i in $(seq "$n"); do
		wait "${pids[i - 1]}" || fail "node $i did not read the file"
	done
	last=$(sort -n end.* | tail -n 1)
	run_s=$(elapsed "$t0" "$last")
	run_origin=$(($(fleet_chunk_bytes) - before))
	run_peers=0 run_mirror=0 in=0 out=0
	for i in $(seq "$n"); do
		read -r a b <<<"$(udp_counts "$i")"
		read -r c d <<<"${udp_before[i]}"
		in=$((in + a - c)) out=$((out + b - d))
		json=$(pc_node_ctl "$i" --json stats)
		run_peers=$((run_peers + $(pc_json_get "$json" bytes_from_peers)))
		run_mirror=$((run_mirror + $(pc_json_get "$json" bytes_from_mirror)))
		checks=$((checks + 1))
		[ "$(sha256sum <"${PC_NODE_MNT[i]}/big.bin" | cut -d' ' -f1)" = \
			"$file_sha" ] || mismatches="$mismatches $mode-$n-node$i"
	done
	run_udp_in=$((in / n)) run_udp_out=$((out / n))
	run_squid=-
	if [ -n "${SQUID_PID:-}" ]; then
		run_squid=$(tail -n "+$((squid_from + 1))" "$SQUID_LOG" |
			awk '$5 ~ /\/chunks\// { split($2, r, "/"); n[r[1]]++ }
			     END { for (k in n) printf "%s %d, ", k, n[k] }' |
			sed 's/, $//')
		sites_squid_stop
		SQUID_PID=""
	fi
	for i in $(seq "$n"); do
		fleet_node_stop "$i"
	done
}

rows=()
squid_notes=()
for n in $node_counts; do
	for mode in $modes; do
		echo "$n nodes, $mode..."
		run_site "$mode" "$n"
		ratio_origin=$(ratio "$run_origin" "$file_bytes")
		wan=$(awk -v b="$run_origin" -v s="$run_s" \
			'BEGIN { printf "%.0f", b * 8 / s / 1e6 }')
		copies=$(awk -v s="$run_s" -v f="$file_bytes" -v w="$wan_mbit" \
			'BEGIN { printf "%.2f", s / (f * 8 / (w * 1e6)) }')
		rows+=("$(printf '| %d | %-11s | %8s | %5s | %5s | %6d | %6d | %5s / %5s | %5s |' \
			"$n" "$mode" "$run_s" "$ratio_origin" "$wan" \
			"$((run_peers / FLEET_MIB))" "$((run_mirror / FLEET_MIB))" \
			"$(ratio "$run_udp_out" "$nchunks")" \
			"$(ratio "$run_udp_in" "$nchunks")" "$copies")")
		[ "$run_squid" = - ] || squid_notes+=("$n nodes, $mode: $run_squid")
		result "sites.$n.$mode.origin_ratio" "$ratio_origin"
		result "sites.$n.$mode.seconds" "$run_s"
		result "sites.$n.$mode.udp_out_per_node_chunk" \
			"$(awk -v a="$run_udp_out" -v c="$nchunks" 'BEGIN { printf "%.3f", a / c }')"
		result "sites.$n.$mode.udp_in_per_node_chunk" \
			"$(awk -v a="$run_udp_in" -v c="$nchunks" 'BEGIN { printf "%.3f", a / c }')"
	done
done
result sites.wan_mbit "$wan_mbit"
result sites.file_bytes "$file_bytes"
result sites.chunks "$nchunks"

echo
echo "one site behind a WAN link limited to $wan_mbit Mbit/s (tc tbf), squid on"
echo "its gateway configured as docs/ADMIN.md says, nodes on one LAN (a bridge),"
echo "reading one $file_bytes-byte file of random data ($nchunks chunks) at once;"
echo "on $(nproc) CPUs: $(cpu_model); load average $load_before at the start,"
echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo
echo "| nodes | mode | s until all have it | WAN bytes / file | WAN Mbit/s achieved | MiB from peers | MiB from mirror or squid | UDP datagrams per node per chunk, sent / received | time / one copy over the WAN |"
echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "  WAN bytes: chunk body bytes nginx sent for the site (the mirror is reached"
echo "  only over the WAN link); one copy over the WAN: file size / link rate"
if [ ${#squid_notes[@]} -gt 0 ]; then
	echo "  squid's answers to the nodes' chunk requests (TCP_MISS: fetched from the"
	echo "  mirror; TCP_CF_MISS: joined another node's fetch; *HIT: from its cache):"
	printf '    %s\n' "${squid_notes[@]}"
fi
fleet_complaints
if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
