#!/bin/bash
# publish.sh BUILD_DIR - how fast peercache-publish turns a tree into a
# repository, measured against sha256sum over the same bytes.
#
# 1 GiB of fresh random data (incompressible, no duplicate chunks) in a few
# files, already in the page cache and already written back, so that every
# figure measures CPU and the repository's own writes, not the source disk.
# Prints figures and ratios; asserts nothing about time (a benchmark is not a
# test).  PC_BENCH_MIB changes the amount of data.
set -eu

build=$(realpath "${1:-build}")
publish="$build/bin/peercache-publish"
total_mib=${PC_BENCH_MIB:-1024}
nfiles=4

[ -x "$publish" ] || {
	echo "publish.sh: $publish not found; build first" >&2
	exit 1
}

# Source and repository share one temporary directory, hence one filesystem.
work=$(mktemp -d /tmp/pc-bench-publish.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/src"

now() { date +%s.%N; }
# elapsed START END -> seconds; rate BYTES SECONDS -> MB/s
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", n / 1e6 / s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "generating $total_mib MiB of random data in $nfiles files..."
per_file=$((total_mib / nfiles))
for i in $(seq 1 "$nfiles"); do
	# AES-CTR over zeros with a random key: random enough for chunking and
	# hashing, and many times faster than /dev/urandom.
	head -c "${per_file}M" /dev/zero |
		openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" \
			-iv "$(openssl rand -hex 16)" \
			>"$work/src/data-$i.bin"
done
bytes=$(stat -c %s "$work/src"/* | awk '{ n += $1 } END { print n }')
sync -f "$work/src"
cat "$work/src"/* >/dev/null

"$publish" keygen "$work/key" >/dev/null

t0=$(now)
sha256sum "$work/src"/* >/dev/null
t1=$(now)
"$publish" --key "$work/key" --name bench --no-progress \
	"$work/src" "$work/repo" >"$work/first.txt"
t2=$(now)
"$publish" --key "$work/key" --name bench --no-progress \
	"$work/src" "$work/repo" >"$work/again.txt"
t3=$(now)

grep -q ' 0 new' "$work/again.txt" || {
	echo "publish.sh: the republish wrote new chunks:" >&2
	cat "$work/again.txt" >&2
	exit 1
}

sha_s=$(elapsed "$t0" "$t1")
first_s=$(elapsed "$t1" "$t2")
again_s=$(elapsed "$t2" "$t3")
sha_r=$(rate "$bytes" "$sha_s")
first_r=$(rate "$bytes" "$first_s")
again_r=$(rate "$bytes" "$again_s")

echo
echo "peercache-publish, $bytes bytes in $nfiles files (page cache warm)"
echo "on $(nproc) CPUs: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
printf '  %-24s %9s %9s\n' "" seconds MB/s
printf '  %-24s %9s %9s\n' "sha256sum" "$sha_s" "$sha_r"
printf '  %-24s %9s %9s\n' "publish (fresh repo)" "$first_s" "$first_r"
printf '  %-24s %9s %9s\n' "republish (unchanged)" "$again_s" "$again_r"
echo
printf '  %-36s %6sx  (target >= 0.8x)\n' "publish / sha256sum" \
	"$(ratio "$sha_s" "$first_s")"
printf '  %-36s %6sx  (target >= 2x)\n' "republish / publish" \
	"$(ratio "$first_s" "$again_s")"
