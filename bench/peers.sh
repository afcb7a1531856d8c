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
#                    (GET http://A:8081/p2p/<hex>), and against the naive
#                    verified copy: the same curl into files, then
#                    `openssl dgst -sha256` of them; alternating, best of
#                    the rounds (target: at least 0.6x of curl's speed);
#                    and the fetch alone: B, empty cache, runs
#                    `peercachectl prefetch big.bin` (every chunk from A
#                    into its cache, no reader), timed the same way
#   attack           issue 10 item 4: two honest nodes, empty caches, read
#                    a PC_PEERS_ATTACK_MIB (64) MiB file at the same moment,
#                    with no liar on the LAN and with a host without
#                    credentials (pc-peer-tool fake-peer) that lies: "claims"
#                    broadcasts a CLAIM for every id it hears probed and
#                    never delivers, "fetching" answers "fetching" to every
#                    probe, "both" does both; the modes rotate, each round
#                    prints the time until both nodes have the file, its
#                    ratio to the round's no-liar time, the chunk bytes the
#                    mirror sent over the file's size, and how many fetches
#                    of the two nodes waited for the liar (peers --json
#                    "waits"; "-" from a daemon without it); then the median
#                    and spread of the ratios per mode (targets: at most
#                    1.5x the time, 1.2x the file)
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
# level.  PC_PEERS_PARTS (default "empty throughput latency"; "attack" too
# when asked) runs only the parts it names; PC_PEERS_ATTACKS (default
# "claims fetching both") the liars of the attack part.  PC_BENCH_RESULTS=FILE appends the throughput figures to
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
	empty | throughput | latency | attack) ;;
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

want attack && ! want throughput && ! want empty && ! want latency &&
	file_mib=${PC_PEERS_ATTACK_MIB:-64}
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
sed "s|.*|url = \"http://$a_addr:8081/p2p/&\"\noutput = \"verify/&\"|" \
	chunks.list >curl-files.list

# b_fetch SECONDS CPU WHAT FUNCTION: node B starts with an empty cache and
# runs FUNCTION (which gets the file from A); SECONDS and CPU become its time
# and the CPU seconds B's daemon used meanwhile.  The bytes are checked
# through B's mount afterwards.  (Not in a $(...) subshell: the node must
# be known to the EXIT trap of this shell.)
b_from_mirror=0
b_fetch() {
	local secs_var=$1 cpu_var=$2 what=$3 s cpu0
	fleet_node_start $b
	warm_memory
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
	warm_memory
	timeit pc_ns_exec n$b curl -sf --max-time "$read_limit" -K curl.list
}

# curl_verify_read: the naive verified copy, as the cold read's second
# baseline: every chunk from A into a file (tmpfs, where B's cache is),
# then `openssl dgst -sha256` of every file; prints seconds.
curl_verify() {
	pc_ns_exec n$b curl -sf --max-time "$read_limit" -K curl-files.list &&
		openssl dgst -sha256 verify/* >/dev/null
}
curl_verify_read() {
	local s
	pc_ns_exists n$b || pc_ns_add n$b "$(pc_node_addr $b)/24"
	rm -rf verify && mkdir verify
	warm_memory
	s=$(timeit curl_verify) || return 1
	rm -rf verify
	echo "$s"
}

mount_s="" curl_s="" verify_s="" prefetch_s="" m="" m_cpu="" p="" p_cpu=""
tp_rows=()
want throughput || rounds_tp=0
for round in $(seq "${rounds_tp:-$rounds}"); do
	echo "peer throughput, round $round of $rounds..."
	if [ $((round % 2)) = 1 ]; then
		mount_read
		c=$(curl_read) || fail "curl from A's peer server failed"
		v=$(curl_verify_read) || fail "curl + openssl dgst failed"
		prefetch_read
	else
		prefetch_read
		v=$(curl_verify_read) || fail "curl + openssl dgst failed"
		c=$(curl_read) || fail "curl from A's peer server failed"
		mount_read
	fi
	best mount_s "$m"
	best curl_s "$c"
	best verify_s "$v"
	best prefetch_s "$p"
	tp_rows+=("$(printf '| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %sx | %sx | %sx |' \
		"$round" "$m" "$(rate "$file_bytes" "$m")" "$m_cpu" "$p" \
		"$(rate "$file_bytes" "$p")" "$p_cpu" "$c" \
		"$(rate "$file_bytes" "$c")" "$v" "$(ratio "$c" "$m")" \
		"$(ratio "$v" "$m")" "$(ratio "$c" "$p")")")
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

# ---- attack: two honest nodes and a liar ------------------------------------------

peer_tool=$build/bin/pc-peer-tool
attack_rows=()
attacks=" ${PC_PEERS_ATTACKS:-claims fetching both} "

# liar_start MODE: the lying host of MODE, ready; sets liar_pid.
liar_start() {
	local args=(--no-http --max-seconds 600)
	case $1 in
	claims) args+=(--answer none --claim 198.18.0.255) ;;
	fetching) args+=(--answer fetching) ;;
	both) args+=(--answer fetching --claim 198.18.0.255) ;;
	esac
	pc_ns_exists liar || pc_ns_add liar 198.18.0.66/24
	pc_ns_spawn liar "$peer_tool" fake-peer "${args[@]}" >liar.out 2>liar.log
	liar_pid=$PC_NS_PID
	for _ in $(seq 100); do
		grep -qs ready liar.out && return 0
		sleep 0.1
	done
	fail "the liar did not start: $(cat liar.log)"
}

# liar_waits: fetches of nodes 1 and 2 that waited for the liar ("-" if
# the daemon does not count them).
liar_waits() {
	local i json sum=0 w
	for i in 1 2; do
		json=$(pc_node_ctl $i peers --json) || return 0
		w=$(echo "$json" | python3 -c 'import json, sys
p = [x for x in json.load(sys.stdin)["peers"] if x["address"] == "198.18.0.66"]
print(p[0].get("waits", "-") if p else 0)')
		[ "$w" != - ] || {
			echo -
			return 0
		}
		sum=$((sum + w))
	done
	echo "$sum"
}

# attack_read MODE: nodes 1 and 2 start cold and read the file at the
# same moment, the liar of MODE (or none) on the LAN; sets att_s (until
# both have it), att_mirror (chunk bytes the mirror sent / file) and
# att_waits.
attack_read() {
	local before pids=() t0 t1 i
	fleet_node_start 1
	fleet_node_start 2
	[ "$1" = none ] || liar_start "$1"
	before=$(fleet_chunk_bytes)
	rm -f go
	for i in 1 2; do
		(
			for _ in $(seq 500); do
				[ -e go ] && break
				sleep 0.01
			done
			timeout "$read_limit" cat "${PC_NODE_MNT[i]}/big.bin" >/dev/null
		) &
		pids+=($!)
	done
	sleep 0.2
	t0=$(now)
	touch go
	for i in 1 2; do
		wait "${pids[i - 1]}" || fail "node $i could not read the file ($1)"
	done
	t1=$(now)
	att_s=$(elapsed "$t0" "$t1")
	att_mirror=$(ratio "$(($(fleet_chunk_bytes) - before))" "$file_bytes")
	att_waits=-
	[ "$1" = none ] || att_waits=$(liar_waits)
	[ "$1" = none ] || pc_ns_stop "$liar_pid"
	check_read "attack-$1-1" 1
	check_read "attack-$1-2" 2
	fleet_node_stop 1
	fleet_node_stop 2
}

declare -A attack_ratios=()
want attack || rounds_attack=0
for round in $(seq "${rounds_attack:-$rounds}"); do
	# The modes rotate, so that none is always first or last.
	read -ra modes <<<"none $attacks"
	shift_by=$(((round - 1) % ${#modes[@]}))
	modes=("${modes[@]:shift_by}" "${modes[@]:0:shift_by}")
	declare -A att_row_s=() att_row_m=() att_row_w=()
	for mode in "${modes[@]}"; do
		echo "attack, round $round of $rounds: $mode..."
		attack_read "$mode"
		att_row_s[$mode]=$att_s
		att_row_m[$mode]=$att_mirror
		att_row_w[$mode]=$att_waits
	done
	for mode in "${modes[@]}"; do
		r=$(ratio "${att_row_s[$mode]}" "${att_row_s[none]}")
		[ "$mode" = none ] || attack_ratios[$mode]+="$r "
		attack_rows+=("$(printf '| %d | %s | %s | %sx | %s | %s |' "$round" \
			"$mode" "${att_row_s[$mode]}" "$r" "${att_row_m[$mode]}" \
			"${att_row_w[$mode]}")")
	done
done

# median_spread LIST: "median (min-max)" of the numbers in LIST.
median_spread() {
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END {
		printf "%sx (%s-%sx)", v[int((NR + 1) / 2)], v[1], v[NR] }'
}

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
	echo "| round | B through its mount: s | MB/s | B's daemon CPU s | B prefetch: s | MB/s | B's daemon CPU s | curl of every chunk from A: s | MB/s | curl to files + openssl dgst: s | mount / curl speed | mount / curl + dgst speed | prefetch / curl speed |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${tp_rows[@]}"
	echo
	echo "  best of $rounds: mount $mount_s s ($(rate "$file_bytes" "$mount_s") MB/s)," \
		"prefetch $prefetch_s s ($(rate "$file_bytes" "$prefetch_s") MB/s)," \
		"curl $curl_s s ($(rate "$file_bytes" "$curl_s") MB/s):" \
		"mount $(ratio "$curl_s" "$mount_s")x, prefetch" \
		"$(ratio "$curl_s" "$prefetch_s")x of curl's speed (target >= 0.6x);" \
		"curl to files + openssl dgst $verify_s s: mount" \
		"$(ratio "$verify_s" "$mount_s")x of its speed"
	echo "  node A served $served bytes to its peers in all; node B took" \
		"$b_from_mirror bytes from the mirror in all its reads (0: all from A)"
	echo
fi
if want attack; then
	echo "A liar on the LAN: nodes 1 and 2, empty caches, read the file at once"
	echo
	echo "| round | liar | both have it: s | vs no liar | mirror sent / file | fetches that waited for the liar |"
	echo "|---:|---|---:|---:|---:|---:|"
	printf '%s\n' "${attack_rows[@]}"
	echo
	for mode in $attacks; do
		echo "  $mode: median $(median_spread "${attack_ratios[$mode]}") of the" \
			"no-liar time over $rounds rounds (target <= 1.5x)"
	done
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
	result peers.verify_s "$verify_s"
fi
if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
