#!/bin/bash
# fastpath.sh BUILD_DIR - issue 11's benchmark ("the fast path") in one run:
# every figure the issue lists, next to its baseline and its target, then
# one table of them all.  It runs the benchmarks that measure them, which
# print their own tables on the way.  Beside the figures bound by hashing,
# the table gives the hash ceiling: the ratio a reader would reach if
# every CPU did nothing but SHA-256 at openssl's rate (bytes / (CPUs x
# rate)) against the same baseline; a target above it cannot be met on
# this machine by any reader that checks every byte.  Beside the small
# files' figures, the work ceiling: the same with every CPU doing the whole
# work of a verifying cache built like peercache (a curl transfer and a
# file per chunk), measured without peercache (the network's,
# SHA-256, storing the files and the readers' own; mount.sh's work floor),
# and the mount's (the readers' part through a peercache mount of a full
# cache: the best the fetch pipeline could give through this FUSE path).
#
#
#   part     script                         figures
#   big      mount.sh (part big)            cold 1 GiB through the mount,
#                                           cache on the disk, vs curl to
#                                           /dev/null and vs curl to the
#                                           disk + openssl dgst; the
#                                           daemon's CPU seconds per GiB;
#                                           warm re-read vs the source
#                                           file; read from the cache vs
#                                           cat of the chunk files; peak RSS
#   tmpfs    mount.sh (part tmpfs)          the same cold read with the cache
#                                           on tmpfs (the pipeline alone)
#   small    mount.sh (part small)          2,000 small files, 1 and 8
#                                           readers vs curl (and with
#                                           tmpfs: with the cache on
#                                           tmpfs); first byte, and its
#                                           floor (curl to the last byte
#                                           + the SHA-256)
#   fio      mount.sh (part fio)            fio randread on a cold 300 MiB
#                                           file vs a plain directory
#   publish  publish.sh                     publish 1 GiB vs openssl dgst
#   peers    peers.sh (part throughput)     node B reads 256 MiB through its
#                                           mount from peer A vs curl from
#                                           A's peer server, and vs curl
#                                           to files + openssl dgst
#   fleet    fleet.sh (8 nodes, at once)    origin bytes / file size
#
# The mirror's files are on tmpfs (the baselines are the network, not the
# disk); the caches on the disk of PC_BENCH_DIR (/var/tmp) but in the tmpfs
# part and in peers and fleet, which keep everything on tmpfs.  Prints the
# machine (CPU, SHA-NI, openssl's SHA-256 rate, the caches' disk, load
# average before and after).  Asserts nothing about time: the last column
# says whether a target is met, the exit status only whether every script
# ran and read the right bytes.  Needs root, nginx, curl, python3, fio.
#
# Environment: PC_FASTPATH_PARTS (default all: "big tmpfs small fio publish
# peers fleet"), and the sizes: PC_BENCH_MIB (1024: the cold file and the
# published data), PC_BENCH_FILES (2000), PC_BENCH_FIO_MIB (300),
# PC_PEERS_MIB (256), PC_FLEET_MIB (256); rounds: PC_BENCH_ROUNDS (2),
# PC_PEERS_ROUNDS (3).  A quick try: PC_BENCH_MIB=128 PC_BENCH_FILES=200
# PC_BENCH_FIO_MIB=64 PC_PEERS_MIB=64 PC_FLEET_MIB=64 PC_BENCH_ROUNDS=1.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
all="big tmpfs small fio publish peers fleet"
parts=" ${PC_FASTPATH_PARTS:-$all} "
for part in $parts; do
	case " $all " in
	*" $part "*) ;;
	*)
		echo "fastpath.sh: PC_FASTPATH_PARTS: unknown part '$part'" >&2
		exit 2
		;;
	esac
done
want() { [[ $parts == *" $1 "* ]]; }

# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"
PC_BENCH_RESULTS=$(mktemp /tmp/pc-fastpath.XXXXXX)
export PC_BENCH_RESULTS
trap 'rm -f "$PC_BENCH_RESULTS"' EXIT

machine=$(machine_report "${PC_BENCH_DIR:-/var/tmp}")
echo "$machine"
status=0

# run NAME ENV... SCRIPT: one benchmark, its output as it comes.
run() {
	echo
	echo "=== $1"
	shift
	env "$@" "$build" || status=1
}

mount_parts=""
for part in big tmpfs small fio; do
	! want "$part" || mount_parts="$mount_parts $part"
done
[ -z "$mount_parts" ] ||
	run "mount:$mount_parts" PC_MOUNT_PARTS="$mount_parts" "$here/mount.sh"
! want publish || run publish "$here/publish.sh"
! want peers ||
	run "peers: throughput" PC_PEERS_PARTS=throughput \
		PC_PEERS_ROUNDS="${PC_PEERS_ROUNDS:-3}" "$here/peers.sh"
! want fleet ||
	run "fleet: 8 nodes, at once" PC_FLEET_NODES=8 PC_FLEET_PATTERNS=once \
		"$here/fleet.sh"

# ---- the summary ---------------------------------------------------------------

# The first value of a key: machine.* is recorded by this script's
# machine_report and again by each script's own; the table prints this
# script's, so its ceilings use the same.
declare -A fig
while read -r key value; do
	[ -n "${fig[$key]+set}" ] || fig[$key]=$value
done <"$PC_BENCH_RESULTS"
f() { echo "${fig[$1]:--}"; }

# row WHAT VALUE OP TARGET DETAIL: one line of the table; OP is >=, <= or <.
row() {
	local met=-
	if [ "$2" != - ] && [ -n "$4" ]; then
		if awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN {
			exit !(op == ">=" ? v >= t : op == "<=" ? v <= t : v < t) }'; then
			met=yes
		else
			met="**no**"
		fi
	fi
	printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" \
		"${4:+$3 $4}" "$met" "$5"
}

# speed WHAT PC BASE OP TARGET [NOTE]: a row whose value is the ratio of
# speeds, BASE's time / PC's (both keys of the figures, in seconds).
speed() {
	row "$1" "$(ratio "$(f "$3")" "$(f "$2")")" "$4" "$5" \
		"$(f "$2") s / $(f "$3") s${6:+; $6}"
}

big=$(f mount.big_bytes)

# ceiling BYTES BASE: "hash ceiling R": BASE's seconds (a key of the
# figures) / the seconds every CPU hashing BYTES at openssl's rate takes.
ceiling() {
	local c
	c=$(awk -v b="$1" -v t="$(f "$2")" -v n="$(f machine.cpus)" \
		-v r="$(f machine.sha256_mbs)" 'BEGIN {
		if (b + 0 <= 0 || t + 0 <= 0 || n + 0 <= 0 || r + 0 <= 0) print "-"
		else printf "%.2f", t / (b / (n * r * 1e6)) }')
	echo "hash ceiling ${c}x"
}
# work_ceiling FLOOR BASE: "work ceiling R": BASE's seconds / FLOOR's (keys
# of the figures; FLOOR a work floor of mount.sh: the CPU seconds a
# verifying cache built like peercache spends, network, SHA-256, store and
# readers, over every CPU).
work_ceiling() {
	echo "work ceiling $(ratio "$(f "$2")" "$(f "$1")")x"
}
echo
echo "=== issue 11: the fast path, every figure (ratios: peercache's speed / the"
echo "baseline's, higher is better; 'at most' rows: lower is better)"
echo
while read -r line; do echo "    $line"; done <<<"$machine"
echo "    load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "    caches (part big, fio) on $(f mount.cache_disk); mirror on tmpfs"
echo
echo "| figure | value | target | met | peercache / baseline |"
echo "|---|---:|---|---|---|"
if want big; then
	speed "cold $((big / 1048576)) MiB through the mount vs curl -o /dev/null" \
		mount.cold_s mount.curl_s ">=" 0.6 \
		"$(rate "$big" "$(f mount.cold_s)") / $(rate "$big" "$(f mount.curl_s)") MB/s; $(ceiling "$big" mount.curl_s)"
	speed "cold vs curl -o FILE (cache's disk) + openssl dgst -sha256 FILE" \
		mount.cold_s mount.curl_file_s ">=" 1.3
	row "daemon CPU seconds per GiB delivered cold (cache on disk)" \
		"$(f mount.cold_cpu_per_gib)" "<=" 1.5 \
		"$(f mount.cold_cpu) s for the read"
fi
! want tmpfs ||
	speed "cold, cache on tmpfs, vs curl -o /dev/null" mount.tmpfs_s \
		mount.curl_s "" "" "CPU $(f mount.tmpfs_cpu_per_gib) s per GiB"
if want small; then
	speed "small files, one reader (xargs cat) vs curl, one connection" \
		mount.serial_s mount.curl_serial_s ">=" 0.5 \
		"$(ceiling "$(f mount.tree_bytes)" mount.curl_serial_s); $(work_ceiling mount.small_floor_serial_s mount.curl_serial_s); the mount's $(work_ceiling mount.small_mount_floor_serial_s mount.curl_serial_s)"
	speed "small files, 8 readers vs curl --parallel-max 8" \
		mount.parallel_s mount.curl_parallel_s ">=" 0.5 \
		"$(ceiling "$(f mount.tree_bytes)" mount.curl_parallel_s); $(work_ceiling mount.small_floor_parallel_s mount.curl_parallel_s); the mount's $(work_ceiling mount.small_mount_floor_parallel_s mount.curl_parallel_s)"
	if want tmpfs; then
		speed "small files, one reader, cache on tmpfs (the pipeline alone)" \
			mount.serial_tmpfs_s mount.curl_serial_s "" ""
		speed "small files, 8 readers, cache on tmpfs (the pipeline alone)" \
			mount.parallel_tmpfs_s mount.curl_parallel_s "" ""
	fi
	speed "small files from the cache vs cat of their chunk files" \
		mount.small_hit_s mount.small_chunks_s "" "" \
		"page cache dropped; not one of the issue's figures"
	row "first byte of a small file, times curl's (at most)" \
		"$(ratio "$(f mount.ttfb_ms)" "$(f mount.curl_ttfb_ms)")" "<=" 2 \
		"$(f mount.ttfb_ms) ms / $(f mount.curl_ttfb_ms) ms"
	row "first byte's floor (curl to the last byte + SHA-256), times curl's" \
		"$(ratio "$(f mount.ttfb_floor_ms)" "$(f mount.curl_ttfb_ms)")" "" "" \
		"$(f mount.ttfb_floor_ms) ms: the best a verifying reader can do"
fi
! want fio ||
	speed "fio randread 64k x 4 jobs, cold file, vs plain directory" \
		mount.fio_s mount.plain_fio_s ">=" 0.6
! want peers ||
	speed "node B through its mount from peer A vs curl from A's peer server" \
		peers.mount_s peers.curl_s ">=" 0.6 \
		"$(f peers.bytes) bytes; prefetch alone $(ratio "$(f peers.curl_s)" "$(f peers.prefetch_s)")x; $(ceiling "$(f peers.bytes)" peers.curl_s)"
! want peers ||
	speed "node B through its mount from peer A vs curl from A to files + openssl dgst" \
		peers.mount_s peers.verify_s "" "" ""
! want publish ||
	speed "publish vs openssl dgst -sha256 of the same data" \
		publish.first_s publish.openssl_s ">=" 0.5 \
		"$(f publish.bytes) bytes; publish used $(f publish.first_cpu) CPU s"
if want big; then
	speed "warm re-read vs the source file, warm" mount.warm_s \
		mount.native_warm_s ">=" 0.9
	speed "first read from the cache vs cat of the chunk files" \
		mount.hit_s mount.chunks_s ">=" 1
	row "peak RSS of the daemon, MiB (cold read)" "$(f mount.rss_mib)" \
		"<" 64 ""
fi
if want fleet; then
	row "origin bytes / file size, 8 nodes" \
		"$(f fleet.8.once.origin_ratio)" "<=" 1.1 ""
fi
exit "$status"
