# shellcheck shell=bash
# common.sh - small helpers shared by the benchmarks in bench/ (sourced,
# bash).  It lives in bench/lib/ so that bench/run.sh, which runs every
# bench/*.sh, does not take it for a benchmark.
#
#   now                      wall-clock seconds, with nanoseconds
#   elapsed START END        END - START, in seconds (3 decimals)
#   rate BYTES SECONDS       MB/s (10^6 bytes per second)
#   per_second COUNT SECONDS COUNT / SECONDS
#   ratio A B                A / B (2 decimals), "-" if either is missing
#   timeit COMMAND...        runs COMMAND with stdout to /dev/null, prints
#                            how many seconds it took; fails as COMMAND
#                            does (even where set -e is off)
#   drop_caches              writes dirty pages back, then empties the page,
#                            dentry and inode caches (root only); then
#                            warm_memory
#   warm_mib                 the MiB warm_memory touches
#   warm_memory              touches PC_BENCH_WARM_MIB MiB (three times
#                            PC_BENCH_MIB, 3072 by default; 0: off) of
#                            free memory in a short-lived process, so that
#                            the next pages handed out are ones the host
#                            backs (see below), then waits half a second
#                            for the kernel to settle (a first byte
#                            measured at once took 1-20 ms instead of
#                            about 1.3); prints nothing
#   cpu_model                the CPU's model name
#   cpu_s PID                CPU seconds (user + system, all threads) that
#                            process PID has used so far
#   busy_s                   CPU seconds the machine's CPUs have been busy
#                            since boot (user, nice, system, irq, softirq
#                            of /proc/stat; not idle, iowait or steal)
#   busyit COMMAND...        runs COMMAND with stdout to /dev/null, prints
#                            the machine's busy CPU seconds over it (every
#                            process's, the kernel's included)
#   random_file FILE MIB     MIB MiB of fresh random data (incompressible,
#                            no repeated chunk)
#   machine_report DIR       lines that describe the machine: CPUs, SHA-NI,
#                            the rate of `openssl dgst -sha256` on tmpfs,
#                            the disk that holds DIR, how long the
#                            first warm_memory took, the load average;
#                            records machine.cpus and machine.sha256_mbs
#                            (result) for the ceilings of fastpath.sh
#   result KEY VALUE         records a figure for bench/fastpath.sh: appends
#                            "KEY VALUE" to $PC_BENCH_RESULTS, if set
#   best VAR SECONDS         VAR becomes the smaller of its value and SECONDS
#                            (benchmarks keep the best of their rounds)
#   minus A B                A - B (2 decimals)

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / 1e6 / s }'; }
per_second() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / s }'; }

ratio() {
	case "$1:$2" in
	-:* | *:- | :* | *:) echo - ;;
	*) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' ;;
	esac
}

timeit() {
	local t0 t1
	t0=$(now)
	"$@" >/dev/null || return
	t1=$(now)
	elapsed "$t0" "$t1"
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
	warm_memory
}

# A virtual machine's host may take back memory its guest left free or
# idle (a balloon's free page reporting, reclaim on the host); the guest's
# first touch of such a page then waits for the host to fault it in
# again.  On the AMD host of 2026-12-07 that cost 3.5-4 s per GiB (14 us a
# page), against 0.5-0.6 s per GiB for memory touched in the minute
# before (the "memory" line of machine_report measures it).  A step that
# fills new pages in the guest (a FUSE file's page cache, a cache on
# tmpfs) paid it, and its baseline, whose pages the disk's or the
# network's DMA fills on the host's side, did not: the read from the
# cache measured 0.42x of `cat` of its chunk files that way, 1.43x in the
# first run with a warm-up.  So the benchmarks touch enough memory for a
# step before it, and free it: the page allocator hands out the pages
# freed last first.  Only memory that is free is touched (MemFree less
# 256 MiB), as anonymous memory of a python3 process that exits: nothing
# is evicted, nothing stays behind if the benchmark is interrupted.
warm_mib() { echo "${PC_BENCH_WARM_MIB:-$((${PC_BENCH_MIB:-1024} * 3))}"; }

warm_memory() {
	local mib
	mib=$(warm_mib)
	case $mib in
	'' | *[!0-9]*)
		echo "warm_memory: PC_BENCH_WARM_MIB='$mib' is not a number of MiB" >&2
		return 1
		;;
	esac
	[ "$mib" -gt 0 ] || return 0
	python3 - "$mib" <<'PY'
import mmap, sys
mib = 1 << 20
free = 0
with open("/proc/meminfo") as f:
    for line in f:
        if line.startswith("MemFree:"):
            free = int(line.split()[1]) * 1024
n = min(int(sys.argv[1]) * mib, max(free - 256 * mib, 0)) // mib * mib
if n:  # the kernel allocates and zeroes every page, without a fault each
    mmap.mmap(-1, n, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS |
              mmap.MAP_POPULATE).close()
PY
	sleep 0.5
}

cpu_model() {
	awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo
}

# utime and stime are fields 14 and 15 of /proc/PID/stat, 12 and 13 after
# the "(comm) ".
cpu_s() {
	sed 's/.*) //' "/proc/$1/stat" |
		awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($12 + $13) / hz }'
}

busy_s() {
	awk -v hz="$(getconf CLK_TCK)" \
		'/^cpu / { printf "%.2f", ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat
}

busyit() {
	local b0
	b0=$(busy_s)
	"$@" >/dev/null || return
	minus "$(busy_s)" "$b0"
}

# AES-CTR over zeros with a random key: random enough for chunking and
# hashing, and many times faster than /dev/urandom.
random_file() {
	head -c "$2M" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" \
			-iv "$(openssl rand -hex 16)" >"$1"
}

machine_report() {
	local probe dev sha_ni=no s warm=""
	grep -qw sha_ni /proc/cpuinfo && sha_ni=yes
	# First, before the probe below touches memory of its own.
	if [ "$(warm_mib)" != 0 ]; then
		warm=$(timeit warm_memory)
	fi
	probe=$(mktemp /dev/shm/pc-bench-probe.XXXXXX)
	random_file "$probe" 512
	s=$(timeit openssl dgst -sha256 "$probe")
	rm -f "$probe"
	dev=$(findmnt -no SOURCE -T "$1")
	echo "machine: $(nproc) CPUs, $(cpu_model), SHA-NI $sha_ni;"
	echo "  openssl dgst -sha256 of 512 MiB on tmpfs: $s s," \
		"$(rate $((512 * 1048576)) "$s") MB/s ($(openssl version | cut -d' ' -f1-2))"
	result machine.cpus "$(nproc)"
	result machine.sha256_mbs "$(rate $((512 * 1048576)) "$s")"
	echo "  $1 is on $dev ($(findmnt -no FSTYPE -T "$1")," \
		"$(lsblk -dno SIZE "$dev" 2>/dev/null | tr -d ' ') disk," \
		"rotational $(lsblk -dno ROTA "$dev" 2>/dev/null | tr -d ' ')," \
		"model '$(lsblk -dno MODEL "$dev" 2>/dev/null)')"
	if [ -n "$warm" ]; then
		echo "  memory: $warm s to touch $(warm_mib) MiB of free memory," \
			"and 0.5 s of rest (about 0.6 s per GiB where the host" \
			"backs it, 3.5-4 s where it took it back)"
	fi
	echo "  load average $(cut -d' ' -f1-3 /proc/loadavg)"
}

result() {
	[ -z "${PC_BENCH_RESULTS:-}" ] || echo "$1 $2" >>"$PC_BENCH_RESULTS"
}

# An unset, empty or "-" VAR takes SECONDS.
best() {
	if [ -z "${!1:-}" ] || [ "${!1}" = - ] ||
		awk -v a="$2" -v b="${!1}" 'BEGIN { exit !(a < b) }'; then
		printf -v "$1" %s "$2"
	fi
}

minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
