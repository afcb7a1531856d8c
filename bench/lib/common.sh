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
#                            dentry and inode caches (root only)
#   cpu_model                the CPU's model name

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
}

cpu_model() {
	awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo
}
