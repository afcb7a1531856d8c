#!/bin/bash
# publish.sh BUILD_DIR - how fast peercache-publish turns a tree into a
# repository, measured against `openssl dgst -sha256` (SHA-NI where the CPU
# has it) and coreutils sha256sum over the same bytes.
#
# 1 GiB of fresh random data (incompressible, no duplicate chunks) in a few
# files, already in the page cache and already written back, so that every
# figure measures CPU and the repository's own writes (every byte of the
# data: publish writes each chunk), not the source disk.  Source and
# repository are in one directory on the disk (PC_BENCH_DIR, /var/tmp).
# Prints the wall-clock seconds, the CPU seconds (user + system) of each
# command, figures and ratios; asserts nothing about time (a benchmark is
# not a test).  PC_BENCH_MIB changes the amount of data;
# PC_BENCH_RESULTS=FILE appends the figures to FILE for bench/fastpath.sh.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
publish="$build/bin/peercache-publish"
total_mib=${PC_BENCH_MIB:-1024}
nfiles=4

[ -x "$publish" ] || {
	echo "publish.sh: $publish not found; build first" >&2
	exit 1
}
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"

work=$(mktemp -d "${PC_BENCH_DIR:-/var/tmp}/pc-bench-publish.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"

# timed NAME COMMAND...: runs COMMAND (stdout to $work/NAME.out); sets
# NAME_s (wall-clock seconds) and NAME_cpu (its CPU seconds, user + system).
timed() {
	local name=$1 t0 t1
	shift
	warm_memory
	t0=$(now)
	/usr/bin/time -f '%U %S' -o "$work/$name.time" "$@" >"$work/$name.out"
	t1=$(now)
	printf -v "${name}_s" %s "$(elapsed "$t0" "$t1")"
	printf -v "${name}_cpu" %s "$(awk '{ printf "%.2f", $1 + $2 }' \
		"$work/$name.time")"
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "generating $total_mib MiB of random data in $nfiles files..."
per_file=$((total_mib / nfiles))
for i in $(seq 1 "$nfiles"); do
	random_file "$work/src/data-$i.bin" "$per_file"
done
bytes=$(stat -c %s "$work/src"/* | awk '{ n += $1 } END { print n }')
sync -f "$work/src"
cat "$work/src"/* >/dev/null

"$publish" keygen "$work/key" >/dev/null

openssl_s="" openssl_cpu="" sha256sum_s="" sha256sum_cpu=""
first_s="" first_cpu="" again_s="" again_cpu="" # set by timed
timed openssl openssl dgst -sha256 "$work/src"/*
timed sha256sum sha256sum "$work/src"/*
timed first "$publish" --key "$work/key" --name bench --no-progress \
	"$work/src" "$work/repo"
timed again "$publish" --key "$work/key" --name bench --no-progress \
	"$work/src" "$work/repo"

grep -q ' 0 new' "$work/again.out" || {
	echo "publish.sh: the republish wrote new chunks:" >&2
	cat "$work/again.out" >&2
	exit 1
}

row() { printf '  %-28s %9s %9s %9s\n' "$@"; }
echo
echo "peercache-publish, $bytes bytes in $nfiles files (page cache warm), into"
echo "$(findmnt -no SOURCE,FSTYPE -T "$work" | tr -s ' ' ' ') ($work)"
echo "on $(nproc) CPUs: $(cpu_model); load average $load_before at the start,"
echo "$(cut -d' ' -f1-3 /proc/loadavg) at the end"
row "" seconds MB/s "CPU s"
row "openssl dgst -sha256" "$openssl_s" "$(rate "$bytes" "$openssl_s")" "$openssl_cpu"
row "sha256sum" "$sha256sum_s" "$(rate "$bytes" "$sha256sum_s")" "$sha256sum_cpu"
row "publish (fresh repo)" "$first_s" "$(rate "$bytes" "$first_s")" "$first_cpu"
row "republish (unchanged)" "$again_s" "$(rate "$bytes" "$again_s")" "$again_cpu"
echo
printf '  %-36s %6sx  (target >= 0.5x)\n' "publish / openssl dgst -sha256" \
	"$(ratio "$openssl_s" "$first_s")"
printf '  %-36s %6sx  (target >= 0.8x)\n' "publish / sha256sum" \
	"$(ratio "$sha256sum_s" "$first_s")"
printf '  %-36s %6sx  (target >= 2x)\n' "republish / publish" \
	"$(ratio "$first_s" "$again_s")"

result publish.bytes "$bytes"
result publish.openssl_s "$openssl_s"
result publish.first_s "$first_s"
result publish.first_cpu "$first_cpu"
