#!/bin/bash
# peers.sh BUILD_DIR - one node and its LAN neighbours, each figure next to
# the baseline it names, measured side by side in one run:
#
#   empty subnet     one node alone on its LAN reads a file cold from the
#                    mirror with discovery on (the default: it probes a
#                    subnet where nobody answers) and with discovery=off;
#                    the two alternate, 5 rounds (PC_PEERS_ROUNDS), each
#                    round and its ratio printed, and their median
#                    (target: within 10%)
#   peer throughput  node A has the file in its cache; node B, with an
#                    empty cache, reads it through its mount (every chunk
#                    from A) against curl in B's namespace fetching every
#                    chunk of the file from A's peer server, in the
#                    manifest's order, over one keep-alive connection
#                    (GET http://A:8081/p2p/<hex>); alternating, best of
#                    the rounds (target: at least 0.6x of curl's speed);
#                    and the fetch alone: B, empty cache, runs
#                    `peercachectl prefetch big.bin` (every chunk from A
#                    into its cache, no reader), timed the same way
#   discovery        a prober on the LAN (bench/lib/disc_probe.py, written
#                    from docs/PROTOCOL.md) times probes from the sendto()
#                    to the first answer with a "have" bit: 1 id and 64 ids
#                    unicast to A, and 64 ids to the broadcast address with
#                    A and B both holding them; p50/p90/p99 of 500 probes
#                    (PC_PEERS_PROBES)
#
# The LAN is network namespaces on one bridge (tests/integration/lib/
# netns.sh), nginx the mirror, every address in 198.18.0.0/24; the file is
# 256 MiB of fresh random data (PC_PEERS_MIB); the mirror's files and the
# caches are on tmpfs.  Every read through a mount is checked against the
# source's SHA-256 afterwards; a mismatch makes the script exit 1 after
# printing the tables.  Nodes, mirror, prober and curl share this machine's
# CPUs.  Prints figures and ratios, asserts nothing about time.  Needs root,
# nginx, curl, python3.  PC_FLEET_LOG_LEVEL (info) sets the nodes' log
# level.  PC_PEERS_PARTS (default "empty throughput latency") runs only the
# parts it names.  PC_BENCH_RESULTS=FILE appends the throughput figures to
# FILE for bench/fastpath.sh.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
file_mib=${PC_PEERS_MIB:-256}
rounds=${PC_PEERS_ROUNDS:-5}
probes=${PC_PEERS_PROBES:-500}
read_limit=600 # seconds a read may take before it counts as failed
prober_addr=198.18.0.200
parts=" ${PC_PEERS_PARTS:-empty throughput latency} "
for part in $parts; do
	case $part in
	empty | throughput | latency) ;;
	*)
		echo "peers.sh: PC_PEERS_PARTS: unknown part '$part'" >&2
		exit 2
		;;
	esac
done

# want PART: PART is one of those to run.
want() { [[ $parts == *" $1 "* ]]; }

# shellcheck source=SCRIPTDIR/lib/fleet.sh
. "$here/lib/fleet.sh"
fleet_setup peers "$build"
load_before=$(cut -d' ' -f1 /proc/loadavg)

fleet_publish_big "$file_mib" # sets file_bytes, file_sha
fleet_chunks big.bin >chunks.list
nchunks=$(wc -l <chunks.list)

mismatches=""
checks=0

# check_read WHAT I: node I's copy of the file holds the source's bytes.
check_read() {
	checks=$((checks + 1))
	[ "$(sha256sum <"${PC_NODE_MNT[$2]}/big.bin" | cut -d' ' -f1)" = \
		"$file_sha" ] || mismatches="$mismatches $1"
}

# timed_read I: seconds for node I to read the whole file.
timed_read() {
	timeit timeout "$read_limit" cat "${PC_NODE_MNT[$1]}/big.bin"
}

# ---- empty subnet: discovery on, nobody answers, vs discovery off -----------

# empty_read MODE: node 1, alone, reads the file cold; sets MODE_s (on_s
# or off_s) to the seconds it took.  (Not in a $(...) subshell: the node
# must be known to the EXIT trap of this shell.)
empty_read() {
	local opts=() s
	[ "$1" = on ] || opts=(-o discovery=off)
	fleet_node_start 1 "${opts[@]}"
	s=$(timed_read 1) || fail "node 1 ($1) did not read the file"
	check_read "empty-$1" 1
	[ "$(pc_node_stat 1 bytes_from_peers)" = 0 ] ||
		fail "node 1 got bytes from peers on an empty LAN"
	[ "$1" = off ] || empty_probes=$(pc_node_stat 1 discovery_probes_sent)
	fleet_node_stop 1
	printf -v "$1_s" %s "$s"
}

on_s="" off_s="" empty_probes=-
empty_rows=()
empty_ratios=()
want empty || rounds_empty=0
for round in $(seq "${rounds_empty:-$rounds}"); do
	echo "empty subnet, round $round of $rounds..."
	if [ $((round % 2)) = 1 ]; then
		empty_read on
		empty_read off
	else
		empty_read off
		empty_read on
	fi
	r=$(ratio "$on_s" "$off_s")
	empty_ratios+=("$r")
	empty_rows+=("$(printf '| %d | %s | %s | %s | %sx |' "$round" \
		"$([ $((round % 2)) = 1 ] && echo "on, off" || echo "off, on")" \
		"$on_s" "$off_s" "$r")")
done
empty_median=$(printf '%s\n' "${empty_ratios[@]:-}" | sort -n |
	awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')

# ---- peer throughput: B reads from A through its mount vs curl from A --------

a=1 b=2
a_addr=$(pc_node_addr $a)
if want throughput || want latency; then
	echo "node A reads the file from the mirror..."
	fleet_node_start $a
	timed_read $a >/dev/null || fail "node A did not read the file"
	check_read "node-A" $a
fi
sed "s|.*|url = \"http://$a_addr:8081/p2p/&\"\noutput = \"/dev/null\"|" \
	chunks.list >curl.list

# b_fetch SECONDS CPU WHAT FUNCTION: node B starts with an empty cache and
# runs FUNCTION (which gets the file from A); SECONDS and CPU become its time
# and the CPU seconds B's daemon used meanwhile.  The bytes are checked
# through B's mount afterwards.  (Not in a $(...) subshell: the node must
# be known to the EXIT trap of this shell.)
b_from_mirror=0
b_fetch() {
	local secs_var=$1 cpu_var=$2 what=$3 s cpu0
	fleet_node_start $b
	cpu0=$(cpu_s "${PC_NODE_PID[b]}")
	s=$(timeit "$4") ||
		fail "node B: $what failed"
	printf -v "$cpu_var" %s "$(minus "$(cpu_s "${PC_NODE_PID[b]}")" "$cpu0")"
	check_read "node-B-$what" $b
	b_from_mirror=$((b_from_mirror + $(pc_node_stat $b bytes_from_mirror)))
	fleet_node_stop $b
	printf -v "$secs_var" %s "$s"
}

b_cat() { timeout "$read_limit" cat "${PC_NODE_MNT[b]}/big.bin"; }
b_prefetch() {
	timeout "$read_limit" "$PEERCACHECTL" --cache-dir \
		"${PC_NODE_CACHE[b]}" prefetch big.bin
}

# mount_read: B reads the file through its mount; sets m and m_cpu.
mount_read() { b_fetch m m_cpu read b_cat; }

# prefetch_read: B prefetches the file, no reader; sets p and p_cpu.
prefetch_read() { b_fetch p p_cpu prefetch b_prefetch; }

# curl_read: every chunk from A's peer server, in order, from B's LAN
# address; prints seconds.
curl_read() {
	pc_ns_exists n$b || pc_ns_add n$b "$(pc_node_addr $b)/24"
	timeit pc_ns_exec n$b curl -sf --max-time "$read_limit" -K curl.list
}

mount_s="" curl_s="" prefetch_s="" m="" m_cpu="" p="" p_cpu=""
tp_rows=()
want throughput || rounds_tp=0
for round in $(seq "${rounds_tp:-$rounds}"); do
	echo "peer throughput, round $round of $rounds..."
	if [ $((round % 2)) = 1 ]; then
		mount_read
		c=$(curl_read) || fail "curl from A's peer server failed"
		prefetch_read
	else
		prefetch_read
		c=$(curl_read) || fail "curl from A's peer server failed"
		mount_read
	fi
	best mount_s "$m"
	best curl_s "$c"
	best prefetch_s "$p"
	tp_rows+=("$(printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %sx | %sx |' \
		"$round" "$m" "$(rate "$file_bytes" "$m")" "$m_cpu" "$p" \
		"$(rate "$file_bytes" "$p")" "$p_cpu" "$c" \
		"$(rate "$file_bytes" "$c")" "$(ratio "$c" "$m")" \
		"$(ratio "$c" "$p")")")
done
served=-
! want throughput || served=$(pc_node_stat $a bytes_served_peers)

# ---- discovery latency --------------------------------------------------------

lat_rows=()
if want latency; then
	echo "discovery latency: $probes probes of each kind..."
	fleet_node_start $b
	timed_read $b >/dev/null || fail "node B did not read the file"
	check_read "node-B-latency" $b
	pc_ns_add probe "$prober_addr/24"
fi

# latency WHAT DEST IDS: one row of the latency table.
latency() {
	local out
	out=$(pc_ns_exec probe python3 "$here/lib/disc_probe.py" "$2" \
		--ids-file chunks.list --ids "$3" --count "$probes") ||
		fail "the prober failed"
	lat_rows+=("$(echo "$out" | awk -v what="$1" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf "| %s | %s | %s | %s | %s | %s | %s |", what, f["answered"] "/" f["probes"],
			f["p50_ms"], f["p90_ms"], f["p99_ms"], f["max_ms"], f["answers"]
	}')")
}
if want latency; then
	latency "1 id, unicast to A" "$a_addr" 1
	latency "64 ids, unicast to A" "$a_addr" 64
	latency "64 ids, broadcast (A and B have them)" 198.18.0.255 64
	fleet_node_stop $b
fi
if want throughput || want latency; then fleet_node_stop $a; fi

# ---- the tables -----------------------------------------------------------------

echo
echo "LAN peers (network namespaces on a bridge, nginx as the mirror): one"
echo "$file_bytes-byte file of random data ($nchunks chunks); on $(nproc) CPUs:"
echo "$(cpu_model); load average $load_before at the start, $(cut -d' ' \
	-f1 /proc/loadavg) at the end"
echo
if want empty; then
	echo "Empty subnet: one node alone reads the file cold from the mirror"
	echo
	echo "| round | order | discovery on: s | discovery off: s | on / off |"
	echo "|---:|---|---:|---:|---:|"
	printf '%s\n' "${empty_rows[@]}"
	echo
	echo "  median on / off: ${empty_median}x (target <= 1.10); the node with"
	echo "  discovery on sent $empty_probes probes in its last read"
	echo
fi
if want throughput; then
	echo "Peer throughput: node B reads the file from node A"
	echo
	echo "| round | B through its mount: s | MB/s | B's daemon CPU s | B prefetch: s | MB/s | B's daemon CPU s | curl of every chunk from A: s | MB/s | mount / curl speed | prefetch / curl speed |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${tp_rows[@]}"
	echo
	echo "  best of $rounds: mount $mount_s s ($(rate "$file_bytes" "$mount_s") MB/s)," \
		"prefetch $prefetch_s s ($(rate "$file_bytes" "$prefetch_s") MB/s)," \
		"curl $curl_s s ($(rate "$file_bytes" "$curl_s") MB/s):" \
		"mount $(ratio "$curl_s" "$mount_s")x, prefetch" \
		"$(ratio "$curl_s" "$prefetch_s")x of curl's speed (target >= 0.6x)"
	echo "  node A served $served bytes to its peers in all; node B took" \
		"$b_from_mirror bytes from the mirror in all its reads (0: all from A)"
	echo
fi
if want latency; then
	echo "Discovery latency: from the probe's sendto() to the first answer with a"
	echo "\"have\" bit, as a neighbour sees it ($probes probes each)"
	echo
	echo "| probe | answered | p50 ms | p90 ms | p99 ms | max ms | answers |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${lat_rows[@]}"
	echo
fi
fleet_complaints
if want throughput; then # for bench/fastpath.sh
	result peers.bytes "$file_bytes"
	result peers.mount_s "$mount_s"
	result peers.prefetch_s "$prefetch_s"
	result peers.curl_s "$curl_s"
fi
if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
