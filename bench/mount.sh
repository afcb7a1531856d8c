#!/bin/bash
# mount.sh BUILD_DIR - how fast files read through a peercache mount,
# measured side by side against the same bytes fetched or read without it.
#
# One nginx on loopback serves both a published repository (repo/, the
# mirror) and the source tree it was published from (src/, with directory
# listings for the HTTP file systems).  The source is a file of fresh random
# data (1 GiB; incompressible, no duplicate chunks) and a tree of small
# files (2,000 of 4-200 KiB, one chunk each).  Every cold figure starts
# after `echo 3 > /proc/sys/vm/drop_caches`, so nginx reads from the disk
# for peercache and its baseline alike.  Every figure is the best of two
# rounds (PC_BENCH_ROUNDS): the disk of a virtual machine is noisy.
#
#   1 GiB file   curl from nginx; peercache with a fresh cache; rclone mount
#                (--vfs-cache-mode full) and httpdirfs (--cache) of src/;
#                peercache again with the page cache warm (against a warm
#                native read of the source; best of 3 reads of each per
#                round) and with the chunks in its cache but the page cache
#                cold (against reading the chunk files themselves, in the
#                manifest's order)
#   small files  every file of the tree with a fresh cache, by one reader
#                (`xargs cat`) and by 8 (`xargs -P 8 cat`), against curl
#                over one keep-alive connection and `curl --parallel`; the
#                first byte of one file (open + 1-byte read) against curl's
#                time to first byte
#   memory       the daemon's peak RSS (VmHWM) after the cold 1 GiB read
#   CPU          the daemon's CPU time for the cold read (and that of its
#                busiest thread, the libuv loop, which downloads, hashes and
#                writes every chunk) and for the read from its cache
#
# rclone and httpdirfs are not installed by this script: one that is
# missing is reported as "not installed" (apt-get install rclone httpdirfs).
# Every read through a mount is checked against the source's SHA-256 (after
# the timed read, from the page cache it filled); a mismatch makes the
# script exit 1 after printing the table.  Prints figures and ratios;
# asserts nothing about time (a benchmark is not a test).  Needs root
# (mounts, drop_caches).  PC_BENCH_MIB and PC_BENCH_FILES change the size of
# the file and the number of small files.  Run it on an otherwise idle
# machine: the load average before and after is printed with the table.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
total_mib=${PC_BENCH_MIB:-1024}
nfiles=${PC_BENCH_FILES:-2000}
rounds=${PC_BENCH_ROUNDS:-2}
readers=8

[ -x "$build/bin/peercache" ] || {
	echo "mount.sh: $build/bin/peercache not found; build first" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || {
	echo "mount.sh: needs root (FUSE mounts, drop_caches)" >&2
	exit 1
}

export PC_BIN="$build/bin" # until the copy below
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"
# The integration tests' helpers start nginx and the daemon, and undo
# everything at exit (unmount, stop, remove the temporary directory).
lib=$here/../tests/integration/lib
# shellcheck source=SCRIPTDIR/../tests/integration/lib/common.sh
. "$lib/common.sh"
# shellcheck source=SCRIPTDIR/../tests/integration/lib/repo.sh
. "$lib/repo.sh"
# shellcheck source=SCRIPTDIR/../tests/integration/lib/nginx.sh
. "$lib/nginx.sh"
# shellcheck source=SCRIPTDIR/../tests/integration/lib/mount.sh
. "$lib/mount.sh"

# Like pc_setup, but a directory named after the benchmark.  Source,
# repository and caches share it, hence one file system.
PC_TMP=$(mktemp -d /tmp/pc-bench-mount.XXXXXX)
trap pc_cleanup EXIT
set -E
trap 'pc_on_error $? "$BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$PC_TMP"

# The binaries under test, copied: a rebuild during the run must not mix
# two versions in one table.
mkdir "$PC_TMP/bin"
cp "$build/bin/peercache" "$build/bin/peercachectl" \
	"$build/bin/peercache-publish" "$PC_TMP/bin/"
PC_BIN=$PC_TMP/bin PEERCACHE=$PC_BIN/peercache
PEERCACHECTL=$PC_BIN/peercachectl PUBLISH=$PC_BIN/peercache-publish

www=$PC_TMP/www
src=$www/src
repo=$www/repo
big=$src/big.bin
list=$PC_TMP/tree.list # the small files, relative to src/ (and a mount)

# ---- helpers ---------------------------------------------------------------

checks=0
mismatches=""

# check_big WHAT FILE: FILE holds the bytes of the big source file.
check_big() {
	checks=$((checks + 1))
	[ "$(sha256sum <"$2" | cut -d' ' -f1)" = "$big_sha" ] ||
		mismatches="$mismatches $1"
}

# check_tree WHAT DIR: DIR holds the small files with their source bytes.
check_tree() {
	checks=$((checks + 1))
	(cd "$2" && xargs -a "$list" sha256sum) | cmp -s - "$PC_TMP/tree.sha" ||
		mismatches="$mismatches $1"
}

# read_list DIR READERS: reads every small file under DIR, READERS at once.
read_list() {
	if [ "$2" -eq 1 ]; then
		(cd "$1" && xargs -a "$list" cat)
	else
		(cd "$1" && xargs -a "$list" -P "$2" -n $((nfiles / $2 / 10 + 1)) cat)
	fi
}

# first_byte FILE: milliseconds to open FILE and read its first byte.
first_byte() {
	python3 -c 'import os, sys, time
t = time.perf_counter()
fd = os.open(sys.argv[1], os.O_RDONLY)
os.read(fd, 1)
print("%.1f" % ((time.perf_counter() - t) * 1000))' "$1"
}

peak_rss_mib() {
	awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# cpu_s PID: CPU seconds (user + system) that process PID has used.
# busiest_thread_cpu_s PID: the same for its busiest thread.  (utime and
# stime are fields 14 and 15 of stat, 12 and 13 after the "(comm) ".)
clock_ticks=$(getconf CLK_TCK)
cpu_s() {
	sed 's/.*) //' "/proc/$1/stat" |
		awk -v hz="$clock_ticks" '{ printf "%.2f", ($12 + $13) / hz }'
}
busiest_thread_cpu_s() {
	cat "/proc/$1"/task/*/stat | sed 's/.*) //' |
		awk -v hz="$clock_ticks" '{ t = $12 + $13; if (t > max) max = t }
			END { printf "%.2f", max / hz }'
}

# mount_fresh NAME: a peercache mount at $PC_TMP/mnt-NAME with an empty
# cache at $PC_TMP/cache-NAME; sets mnt and cache.
mount_fresh() {
	mnt=$PC_TMP/mnt-$1
	cache=$PC_TMP/cache-$1
	# The quota above the data: the read-from-cache figure needs every
	# chunk still there.
	pc_daemon_start "$mnt" "$cache" -o mirror="$NGINX_URL/repo" \
		-o trusted_key="$PC_TMP/key.pub" -o quota=64G
}

# unmount_checked: stops the daemon (it must exit 0 and unmount), keeps
# its log's warnings and errors, and frees its cache's disk space.
unmount_checked() {
	pc_daemon_stop
	grep -iE 'error|warn' "$PC_DAEMON_LOG" >>"$PC_TMP/daemon-complaints" ||
		true
	rm -rf "$cache"
}

# other_fs_stop PID MOUNTPOINT: stops a FUSE helper of ours (SIGTERM, then
# SIGKILL after 10 s) and makes sure its mount is gone.  Safe to call twice.
other_fs_stop() {
	local i
	if kill -0 "$1" 2>/dev/null; then
		kill -TERM "$1" 2>/dev/null || true
		for i in $(seq 100); do
			kill -0 "$1" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
	if pc_is_mounted "$2"; then
		fusermount3 -u -z "$2" 2>/dev/null || umount -l "$2" || true
	fi
}

# other_fs_start NAME LOG COMMAND...: runs a FUSE file system in the
# foreground and waits for NAME's mount ($PC_TMP/NAME); sets other_pid.
# Returns 1 if it exits or does not mount within 30 s.
other_fs_start() {
	local name=$1 log=$2 deadline=$((SECONDS + 30))
	shift 2
	"$@" >"$log" 2>&1 &
	other_pid=$!
	pc_on_exit "other_fs_stop $other_pid $PC_TMP/$name"
	until pc_is_mounted "$PC_TMP/$name"; do
		kill -0 "$other_pid" 2>/dev/null && [ $SECONDS -lt $deadline ] ||
			return 1
		sleep 0.05
	done
}

# other_fs_cold NAME: cold read of big.bin through $PC_TMP/NAME, checks
# the bytes and stops it.  Sets other_s and other_rss (MiB); returns 1 if
# the read failed.
other_fs_cold() {
	local status=0
	drop_caches
	if other_s=$(timeit cat "$PC_TMP/$1/big.bin"); then
		other_rss=$(peak_rss_mib "$other_pid")
		check_big "$1" "$PC_TMP/$1/big.bin"
	else
		status=1
	fi
	other_fs_stop "$other_pid" "$PC_TMP/$1"
	rm -rf "$PC_TMP/$1-cache"
	return "$status"
}

load_before=$(cut -d' ' -f1 /proc/loadavg)

# ---- the data, the repository, nginx ------------------------------------------

echo "generating $total_mib MiB of random data and $nfiles small files..."
mkdir -p "$src/tree"
# AES-CTR over zeros with a random key: as random as needed, and fast.
head -c "${total_mib}M" /dev/zero |
	openssl enc -aes-128-ctr -nosalt -K "$(openssl rand -hex 16)" \
		-iv "$(openssl rand -hex 16)" >"$big"
python3 - "$src/tree" "$nfiles" <<'PY'
import os, random, sys
root, count = sys.argv[1], int(sys.argv[2])
sizes = random.Random(1)
for i in range(count):
    folder = os.path.join(root, "d%02d" % (i // 100))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "f%04d.bin" % i), "wb") as f:
        f.write(os.urandom(sizes.randint(4 * 1024, 200 * 1024)))
PY
(cd "$src" && find tree -type f | sort) >"$list"
big_bytes=$(stat -c %s "$big")
tree_bytes=$(cd "$src" && xargs -a "$list" stat -c %s |
	awk '{ n += $1 } END { print n }')
big_sha=$(sha256sum <"$big" | cut -d' ' -f1)
(cd "$src" && xargs -a "$list" sha256sum) >"$PC_TMP/tree.sha"
first_small=$(head -n 1 "$list")

echo "publishing..."
pc_keygen "$PC_TMP/key"
"$PUBLISH" --key "$PC_TMP/key" --name bench --no-progress "$src" "$repo" \
	>"$PC_TMP/publish.log"
mapfile -t big_chunks < <(manifest_file_chunks "$(manifest_path "$repo")" \
	big.bin)
[ "${#big_chunks[@]}" -gt 0 ] || fail "no chunks for big.bin in the manifest"

pc_nginx_start "$www" "autoindex on;"
src_url=$NGINX_URL/src

# Requests for curl: every small file, in list order, to /dev/null.
sed "s|.*|url = \"$src_url/&\"\noutput = \"/dev/null\"|" "$list" \
	>"$PC_TMP/curl.tree"

# ---- the measurements ---------------------------------------------------------
#
# Each round measures everything once, every figure next to its baseline;
# the table keeps the best (shortest) time of the rounds, because this
# machine's disk and neighbours only ever make a run slower.

# best VAR SECONDS: VAR becomes the smaller of its value and SECONDS.
best() {
	if [ -z "${!1:-}" ] || [ "${!1}" = - ] ||
		awk -v a="$2" -v b="${!1}" 'BEGIN { exit !(a < b) }'; then
		printf -v "$1" %s "$2"
	fi
}

# The figures (seconds, or ms for first bytes), filled in by best().
curl_s="" pc_cold_s="" pc_warm_s="" native_warm_s="" pc_hit_s="" chunks_s=""
pc_cold_cpu="" pc_cold_loop_cpu="" pc_hit_cpu=""
curl_ttfb_ms="" curl_serial_s="" curl_parallel_s=""
pc_ttfb_ms="" pc_serial_s="" pc_parallel_s=""
pc_rss=0

# One round of the big file: curl, peercache cold, warm, in its cache.
round_big() {
	local t

	drop_caches
	best curl_s "$(timeit curl -sf -o /dev/null "$src_url/big.bin")"

	mount_fresh "big$1"
	drop_caches
	best pc_cold_s "$(timeit cat "$mnt/big.bin")"
	best pc_cold_cpu "$(cpu_s "$PC_DAEMON_PID")"
	best pc_cold_loop_cpu "$(busiest_thread_cpu_s "$PC_DAEMON_PID")"
	t=$(peak_rss_mib "$PC_DAEMON_PID")
	[ "$t" -le "${pc_rss:-0}" ] || pc_rss=$t
	check_big "peercache-cold" "$mnt/big.bin"
	from_mirror=$(pc_json_get "$(pc_ctl stats --json)" bytes_from_mirror)

	# Page cache warm (the daemon sees no request): three reads of each,
	# taking turns with the source file, after one untimed read of it.
	cat "$big" >/dev/null
	for t in 1 2 3; do
		best pc_warm_s "$(timeit cat "$mnt/big.bin")"
		best native_warm_s "$(timeit cat "$big")"
	done
	check_big "peercache-warm" "$mnt/big.bin"

	# In the cache, page cache cold: the daemon splices from its chunk
	# files; the baseline reads those very files in the manifest's order.
	drop_caches
	t=$(cpu_s "$PC_DAEMON_PID")
	best pc_hit_s "$(timeit cat "$mnt/big.bin")"
	best pc_hit_cpu "$(awk -v a="$t" -v b="$(cpu_s "$PC_DAEMON_PID")" \
		'BEGIN { printf "%.2f", b - a }')"
	check_big "peercache-in-cache" "$mnt/big.bin"
	chunk_files=()
	for id in "${big_chunks[@]}"; do
		chunk_files+=("$cache/chunks/${id:0:2}/$id")
	done
	drop_caches
	best chunks_s "$(timeit cat "${chunk_files[@]}")"
	unmount_checked
}

rclone_s=- rclone_rss=- rclone_note="not installed"
round_rclone() {
	command -v rclone >/dev/null || return 0
	rclone_note="failed to mount (see below)"
	: >"$PC_TMP/rclone.conf"
	mkdir -p "$PC_TMP/rclone"
	other_fs_start rclone "$PC_TMP/rclone.log" rclone mount :http: \
		"$PC_TMP/rclone" --config "$PC_TMP/rclone.conf" \
		--http-url "$src_url/" --vfs-cache-mode full \
		--cache-dir "$PC_TMP/rclone-cache" --read-only || return 0
	rclone_note="read failed (see below)"
	other_fs_cold rclone || return 0
	best rclone_s "$other_s"
	rclone_rss=$other_rss rclone_note=""
}

httpdirfs_s=- httpdirfs_rss=- httpdirfs_note="not installed"
round_httpdirfs() {
	command -v httpdirfs >/dev/null || return 0
	httpdirfs_note="failed to mount (see below)"
	mkdir -p "$PC_TMP/httpdirfs" "$PC_TMP/httpdirfs-cache"
	# --no-range-check: httpdirfs 1.2.5 wrongly finds that nginx does not
	# support ranges (github.com/fangfufu/httpdirfs/issues/188).
	other_fs_start httpdirfs "$PC_TMP/httpdirfs.log" httpdirfs -f \
		--cache --no-range-check \
		--cache-location "$PC_TMP/httpdirfs-cache" \
		"$src_url/" "$PC_TMP/httpdirfs" || return 0
	httpdirfs_note="read failed (see below)"
	other_fs_cold httpdirfs || return 0
	best httpdirfs_s "$other_s"
	httpdirfs_rss=$other_rss httpdirfs_note=""
}

# One round of small files: first byte, one reader, $readers readers.
round_small() {
	drop_caches
	best curl_ttfb_ms "$(curl -sf -o /dev/null -w '%{time_starttransfer}' \
		"$src_url/$first_small" | awk '{ printf "%.1f", $1 * 1000 }')"
	drop_caches
	best curl_serial_s "$(timeit curl -sf -K "$PC_TMP/curl.tree")"
	drop_caches
	best curl_parallel_s "$(timeit curl -sf --no-progress-meter \
		--parallel --parallel-max "$readers" -K "$PC_TMP/curl.tree")"

	mount_fresh "small1-$1"
	drop_caches
	best pc_ttfb_ms "$(first_byte "$mnt/$first_small")"
	drop_caches
	best pc_serial_s "$(timeit read_list "$mnt" 1)"
	check_tree "peercache-small-serial" "$mnt"
	unmount_checked

	mount_fresh "small$readers-$1"
	drop_caches
	best pc_parallel_s "$(timeit read_list "$mnt" "$readers")"
	check_tree "peercache-small-parallel" "$mnt"
	unmount_checked
}

for round in $(seq "$rounds"); do
	echo "round $round of $rounds: $total_mib MiB file (curl, peercache)..."
	round_big "$round"
	echo "round $round of $rounds: rclone, httpdirfs..."
	round_rclone
	round_httpdirfs
	echo "round $round of $rounds: small files..."
	round_small "$round"
done
# ---- the table -------------------------------------------------------------------

mbs() {
	if [ "$2" = - ]; then echo -; else rate "$1" "$2"; fi
}
fps() { per_second "$nfiles" "$1"; }
row() { printf '  %-46s %9s %9s %9s\n' "$@"; }
# ratio_row WHAT VALUE BASELINE TARGET
ratio_row() {
	printf '  %-40s %7sx  %-34s %s\n' "$1" "$2" "$3" "$4"
}

echo
echo "peercache mount against nginx on loopback: $big_bytes-byte file of random"
echo "data, $nfiles small files ($tree_bytes bytes, 4-200 KiB each)"
echo "on $(nproc) CPUs: $(cpu_model); best of $rounds rounds; page,"
echo "dentry and inode caches dropped before every cold read; load average"
echo "$load_before at the start, $(cut -d' ' -f1 /proc/loadavg) at the end"
echo
row "$total_mib MiB file" seconds MB/s ""
row "curl from nginx, cold" "$curl_s" "$(mbs "$big_bytes" "$curl_s")" ""
row "peercache, fresh cache, cold" "$pc_cold_s" \
	"$(mbs "$big_bytes" "$pc_cold_s")" ""
row "rclone mount --vfs-cache-mode full, cold" "$rclone_s" \
	"$(mbs "$big_bytes" "$rclone_s")" "$rclone_note"
row "httpdirfs --cache, cold" "$httpdirfs_s" \
	"$(mbs "$big_bytes" "$httpdirfs_s")" "$httpdirfs_note"
row "peercache, page cache warm" "$pc_warm_s" \
	"$(mbs "$big_bytes" "$pc_warm_s")" ""
row "source file, page cache warm" "$native_warm_s" \
	"$(mbs "$big_bytes" "$native_warm_s")" ""
row "peercache, chunks in cache, page cache cold" "$pc_hit_s" \
	"$(mbs "$big_bytes" "$pc_hit_s")" ""
row "cat of the ${#big_chunks[@]} chunk files, cold" "$chunks_s" \
	"$(mbs "$big_bytes" "$chunks_s")" ""
echo
row "$nfiles small files, cold" seconds files/s MB/s
row "curl, one keep-alive connection" "$curl_serial_s" \
	"$(fps "$curl_serial_s")" "$(mbs "$tree_bytes" "$curl_serial_s")"
row "peercache, one reader (xargs cat)" "$pc_serial_s" \
	"$(fps "$pc_serial_s")" "$(mbs "$tree_bytes" "$pc_serial_s")"
row "curl --parallel-max $readers" "$curl_parallel_s" \
	"$(fps "$curl_parallel_s")" "$(mbs "$tree_bytes" "$curl_parallel_s")"
row "peercache, $readers readers (xargs -P $readers cat)" "$pc_parallel_s" \
	"$(fps "$pc_parallel_s")" "$(mbs "$tree_bytes" "$pc_parallel_s")"
row "first byte of one small file, cold" ms "" ""
row "curl (time_starttransfer)" "$curl_ttfb_ms" "" ""
row "peercache (open + 1-byte read)" "$pc_ttfb_ms" "" ""
echo
echo "  ratios: peercache's speed / the baseline's (higher is better)"
ratio_row "cold read" "$(ratio "$curl_s" "$pc_cold_s")" "of curl, cold" \
	"target >= 0.6x"
ratio_row "cold read" "$(ratio "$rclone_s" "$pc_cold_s")" \
	"of rclone mount, cold" "target >= 4x"
ratio_row "cold read" "$(ratio "$httpdirfs_s" "$pc_cold_s")" \
	"of httpdirfs, cold" ""
ratio_row "re-read, page cache warm" \
	"$(ratio "$native_warm_s" "$pc_warm_s")" "of the source file, warm" \
	"target >= 0.9x"
ratio_row "read from the cache, page cache cold" \
	"$(ratio "$chunks_s" "$pc_hit_s")" "of cat of the chunk files, cold" ""
ratio_row "small files, one reader" \
	"$(ratio "$curl_serial_s" "$pc_serial_s")" "of curl, one connection" ""
ratio_row "small files, $readers readers" \
	"$(ratio "$curl_parallel_s" "$pc_parallel_s")" \
	"of curl --parallel-max $readers" ""
ratio_row "first byte" "$(ratio "$curl_ttfb_ms" "$pc_ttfb_ms")" \
	"of curl's time to first byte" ""
echo
printf '  %-46s %5s MiB  (target < 64 MiB)\n' \
	"peercache peak RSS (VmHWM), cold read" "$pc_rss"
printf '  %-46s %5s MiB\n' "rclone peak RSS (VmHWM), cold read" \
	"$rclone_rss" "httpdirfs peak RSS (VmHWM), cold read" \
	"$httpdirfs_rss"
printf '  %-46s %5s s    (busiest thread, the loop: %s s)\n' \
	"peercache CPU time, cold read" "$pc_cold_cpu" "$pc_cold_loop_cpu"
printf '  %-46s %5s s\n' "peercache CPU time, read from its cache" \
	"$pc_hit_cpu"
echo "  peercache fetched $from_mirror bytes from the mirror for the cold read"
if [ -s "$PC_TMP/daemon-complaints" ]; then
	echo "  daemon logs: $(wc -l <"$PC_TMP/daemon-complaints") warnings or errors, first ones:"
	head -n 5 "$PC_TMP/daemon-complaints" | sed 's/^/    /'
else
	echo "  daemon logs: no warnings or errors"
fi
for other in rclone httpdirfs; do
	note=${other}_note
	if [ "${!note#*see below}" != "${!note}" ]; then
		echo "  $other log:"
		tail -n 5 "$PC_TMP/$other.log" | sed 's/^/    /'
	fi
done
if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
