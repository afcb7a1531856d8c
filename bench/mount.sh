#!/bin/bash
# mount.sh BUILD_DIR - how fast files read through a peercache mount,
# measured side by side against the same bytes fetched or read without it.
#
# One nginx on loopback serves both a published repository (repo/, the
# mirror) and the source tree it was published from (src/, with directory
# listings for the HTTP file systems), both on tmpfs (PC_BENCH_MIRROR_DIR,
# /dev/shm), so that every baseline is the network and not the disk.  The
# nodes' caches are on the disk (PC_BENCH_DIR, /var/tmp), and once on
# tmpfs, to show the pipeline alone.  The source is a file of fresh random
# data (1 GiB; incompressible, no duplicate chunks), a tree of small files
# (2,000 of 4-200 KiB, one chunk each) and a 300 MiB file for fio.  Every
# cold figure starts after `echo 3 > /proc/sys/vm/drop_caches` (which
# leaves tmpfs alone).  Every figure is the best of two rounds
# (PC_BENCH_ROUNDS): the disk of a virtual machine is noisy.  The parts
# (PC_MOUNT_PARTS, default all of "big others small fio tmpfs"):
#
#   big          the 1 GiB file: curl from nginx to /dev/null; curl to a
#                file on the caches' disk, then `openssl dgst -sha256` of
#                it (the naive way); peercache with a fresh cache (and the
#                daemon's CPU seconds over the read); again with the page
#                cache warm (against a warm native read of the source; best
#                of 3 reads of each per round) and with the chunks in its
#                cache but the page cache cold (against reading the chunk
#                files themselves, in the manifest's order)
#   others       rclone mount (--vfs-cache-mode full) and httpdirfs
#                (--cache) of src/, cold, as peercache's big cold read
#   small        every file of the tree with a fresh cache, by one reader
#                (`xargs cat`) and by 8 (`xargs -P 8 cat`), against curl
#                over one keep-alive connection and `curl --parallel`; the
#                first byte of a file (open + 1-byte read) against curl's
#                time from its request to the first byte (its TCP connect
#                left out: the daemon's connection is open already): the
#                median of 5 files far apart in the tree (in other
#                directories with 500 files or more), each with the page
#                cache dropped before it, opened from inside the mount
#                (the walk to the mount point over the caches' disk is no
#                more timed than curl's connect); and the floor of a
#                verified first byte: curl's time to the file's last byte
#                plus the SHA-256 of its bytes (a small file is one chunk,
#                and no byte of a chunk is served before all of it is
#                checked); after the rounds, the work floor of the small
#                files (the CPU seconds that a verifying cache built like
#                peercache, a curl transfer and a file per chunk, spends
#                on them, over every CPU: see there)
#   fio          `fio --rw=randread --bs=64k --numjobs=4` over the 300 MiB
#                file with a fresh cache, against the same on a copy of it
#                in a plain directory on the caches' disk, page cache cold
#   tmpfs        the cold read of the 1 GiB file with the cache on tmpfs
#                (and its CPU seconds); with small, the small files by 1
#                and by 8 readers with the cache on tmpfs (the pipeline
#                alone, without the disk's cost of a file per chunk)
#
#   memory       the daemon's peak RSS (VmHWM) after the cold 1 GiB read
#
# rclone and httpdirfs are not installed by this script: one that is
# missing is reported as "not installed" (apt-get install rclone httpdirfs).
# Every read through a mount is checked against the source's SHA-256 (after
# the timed read, from the page cache it filled); a mismatch makes the
# script exit 1 after printing the table.  Prints figures and ratios;
# asserts nothing about time (a benchmark is not a test).  Needs root
# (mounts, drop_caches), nginx, curl, python3 and fio, and room on the
# caches' disk for every cache of the run and the work floor's files
# (about 4.6 GiB by default: they
# are removed at exit, see unmount_checked).  PC_BENCH_MIB,
# PC_BENCH_FILES and PC_BENCH_FIO_MIB change the size of the file, the
# number of small files and the size of fio's file.
# PC_BENCH_DAEMON_OPTS adds options to every mount of the daemon (an A/B of
# one setting: "-o passthrough=off").  PC_BENCH_RESULTS=FILE
# appends the figures to FILE for bench/fastpath.sh.  Run it on an
# otherwise idle machine: the load average before and after is printed
# with the table.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(realpath "${1:-build}")
total_mib=${PC_BENCH_MIB:-1024}
nfiles=${PC_BENCH_FILES:-2000}
fio_mib=${PC_BENCH_FIO_MIB:-300}
rounds=${PC_BENCH_ROUNDS:-2}
disk_dir=${PC_BENCH_DIR:-/var/tmp}
mirror_dir=${PC_BENCH_MIRROR_DIR:-/dev/shm}
readers=8
parts=" ${PC_MOUNT_PARTS:-big others small fio tmpfs} "
for part in $parts; do
	case $part in
	big | others | small | fio | tmpfs) ;;
	*)
		echo "mount.sh: PC_MOUNT_PARTS: unknown part '$part'" >&2
		exit 2
		;;
	esac
done

# want PART: PART is one of those to run.
want() { [[ $parts == *" $1 "* ]]; }

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

# Like pc_setup, but a directory named after the benchmark, on the disk
# that holds the caches; the mirror's files in another, on tmpfs.
PC_TMP=$(mktemp -d "$disk_dir/pc-bench-mount.XXXXXX")
www=$(mktemp -d "$mirror_dir/pc-bench-www.XXXXXX")
trap pc_cleanup EXIT
pc_on_exit "rm -rf '$www'"
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

src=$www/src
repo=$www/repo
big=$src/big.bin
fio_file=$src/fio.bin
list=$PC_TMP/tree.list # the small files, relative to src/ (and a mount)

# ---- helpers ---------------------------------------------------------------

checks=0
mismatches=""

# check_sha WHAT FILE SHA: FILE's SHA-256 is SHA.
check_sha() {
	checks=$((checks + 1))
	[ "$(sha256sum <"$2" | cut -d' ' -f1)" = "$3" ] ||
		mismatches="$mismatches $1"
}

# check_big WHAT FILE: FILE holds the bytes of the big source file.
check_big() { check_sha "$1" "$2" "$big_sha"; }

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
print("%.2f" % ((time.perf_counter() - t) * 1000))' "$1"
}

peak_rss_mib() {
	awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"
}

# busiest_thread_cpu_s PID: CPU seconds of process PID's busiest thread
# (utime + stime, fields 12 and 13 after the "(comm) ").
busiest_thread_cpu_s() {
	cat "/proc/$1"/task/*/stat | sed 's/.*) //' |
		awk -v hz="$(getconf CLK_TCK)" '{ t = $12 + $13; if (t > max) max = t }
			END { printf "%.2f", max / hz }'
}

# mount_fresh NAME [DIR]: a peercache mount at $PC_TMP/mnt-NAME with an
# empty cache at DIR/cache-NAME (DIR: $PC_TMP, on the disk); sets mnt and
# cache.
mount_fresh() {
	mnt=$PC_TMP/mnt-$1
	cache=${2:-$PC_TMP}/cache-$1
	# The quota above the data: the read-from-cache figure needs every
	# chunk still there.
	# shellcheck disable=SC2086 # options, split on purpose
	pc_daemon_start "$mnt" "$cache" -o mirror="$NGINX_URL/repo" \
		-o trusted_key="$PC_TMP/key.pub" -o quota=64G \
		${PC_BENCH_DAEMON_OPTS:-}
}

# unmount_checked: stops the daemon (it must exit 0 and unmount) and keeps
# its log's warnings and errors.  A cache on tmpfs is removed at once (it
# is memory); one on the disk stays until the exit removes $PC_TMP.  ext4
# without a journal (as this machine's disk is made) never reuses an inode
# freed in the last minute (five, if its inode table block is still
# dirty): every create scans past all of them, so a cold read right after
# thousands of chunk files were deleted paid for the benchmark's own
# cleanup (the workers' CPU for 2,000 small files grew from 0.16 s to
# 0.5-1.1 s).  A file system with a journal does not do that scan.
unmount_checked() {
	pc_daemon_stop
	grep -iE 'error|warn' "$PC_DAEMON_LOG" >>"$PC_TMP/daemon-complaints" ||
		true
	case $cache in
	"$PC_TMP"/*) ;;
	*) rm -rf "$cache" ;;
	esac
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

machine=$(machine_report "$PC_TMP")

# ---- the data, the repository, nginx ------------------------------------------

echo "generating the data ($total_mib MiB, $nfiles small files," \
	"$fio_mib MiB for fio, as the parts need)..."
mkdir -p "$src"
if want big || want others || want tmpfs; then
	random_file "$big" "$total_mib"
	big_bytes=$(stat -c %s "$big")
	big_sha=$(sha256sum <"$big" | cut -d' ' -f1)
fi
if want fio; then
	random_file "$fio_file" "$fio_mib"
	fio_sha=$(sha256sum <"$fio_file" | cut -d' ' -f1)
fi
if want small; then
	mkdir -p "$src/tree"
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
	tree_bytes=$(cd "$src" && xargs -a "$list" stat -c %s |
		awk '{ n += $1 } END { print n }')
	(cd "$src" && xargs -a "$list" sha256sum) >"$PC_TMP/tree.sha"
	# The first-byte files: 5 far apart (other directories, out of
	# any read-ahead's way).
	ttfb_files=$(awk -v n="$nfiles" \
		'BEGIN { step = int(n / 5); if (step < 1) step = 1 }
		(NR - 1) % step == 0' "$list" | head -n 5)
fi

echo "publishing..."
pc_keygen "$PC_TMP/key"
"$PUBLISH" --key "$PC_TMP/key" --name bench --no-progress "$src" "$repo" \
	>"$PC_TMP/publish.log"
if want small; then
	# The chunk ids of the small files, in the manifest's (the list's)
	# order: the baseline of the read from the cache.
	mapfile -t small_chunks < <(awk '
		$1 == "F" { n = index($6, "tree/") == 1 ? $5 : 0; next }
		n > 0 { print $1; n-- }' "$(manifest_path "$repo")")
	[ "${#small_chunks[@]}" -ge "$nfiles" ] ||
		fail "no chunks for the small files in the manifest"
fi
if want big; then
	mapfile -t big_chunks < <(manifest_file_chunks \
		"$(manifest_path "$repo")" big.bin)
	[ "${#big_chunks[@]}" -gt 0 ] ||
		fail "no chunks for big.bin in the manifest"
fi
if want fio; then
	# The plain directory: a copy on the caches' disk.
	mkdir "$PC_TMP/plain"
	cp "$fio_file" "$PC_TMP/plain/fio.bin"
fi

pc_nginx_start "$www" "autoindex on;"
src_url=$NGINX_URL/src

# Requests for curl: every small file, in list order, to /dev/null.
! want small ||
	sed "s|.*|url = \"$src_url/&\"\noutput = \"/dev/null\"|" "$list" \
		>"$PC_TMP/curl.tree"

# ---- the measurements ---------------------------------------------------------
#
# Each round measures everything once, every figure next to its baseline;
# the table keeps the best (shortest) time of the rounds, because this
# machine's disk and neighbours only ever make a run slower.

# The figures (seconds, or ms for first bytes), filled in by best().
curl_s="" curl_file_s="" pc_cold_s="" pc_warm_s="" native_warm_s=""
pc_hit_s="" chunks_s="" pc_cold_cpu="" pc_cold_loop_cpu="" pc_hit_cpu=""
curl_ttfb_ms="" curl_serial_s="" curl_parallel_s=""
pc_ttfb_ms="" pc_serial_s="" pc_parallel_s="" pc_small_hit_s="" small_chunks_s=""
pc_fio_s="" plain_fio_s="" pc_tmpfs_s="" pc_tmpfs_cpu=""
ttfb_floor_ms="" pc_serial_tmpfs_s="" pc_parallel_tmpfs_s=""
pc_rss=0 from_mirror=-
mount_readers_serial_cpu="" mount_readers_parallel_cpu=""

# curl_then_hash: the naive way, a download onto the caches' disk, then
# its SHA-256.
curl_then_hash() {
	curl -sf -o "$PC_TMP/curl.out" "$src_url/big.bin" &&
		openssl dgst -sha256 "$PC_TMP/curl.out"
}

# cold_read NAME [DIR]: reads big.bin cold through a fresh mount (see
# mount_fresh); sets cold_s, cold_cpu (the daemon's CPU seconds over
# the read) and cold_loop_cpu (its busiest thread's since it started).
# Leaves the mount up.
cold_read() {
	local cpu0
	mount_fresh "$1" "${2:-}"
	drop_caches
	cpu0=$(cpu_s "$PC_DAEMON_PID")
	cold_s=$(timeit cat "$mnt/big.bin")
	cold_cpu=$(minus "$(cpu_s "$PC_DAEMON_PID")" "$cpu0")
	cold_loop_cpu=$(busiest_thread_cpu_s "$PC_DAEMON_PID")
	check_big "peercache-cold-$1" "$mnt/big.bin"
}

# One round of the big file: curl, peercache cold, warm, in its cache.
round_big() {
	local t

	drop_caches
	best curl_s "$(timeit curl -sf -o /dev/null "$src_url/big.bin")"
	drop_caches
	best curl_file_s "$(timeit curl_then_hash)"
	rm -f "$PC_TMP/curl.out"

	cold_read "big$1"
	best pc_cold_s "$cold_s"
	best pc_cold_cpu "$cold_cpu"
	best pc_cold_loop_cpu "$cold_loop_cpu"
	t=$(peak_rss_mib "$PC_DAEMON_PID")
	[ "$t" -le "${pc_rss:-0}" ] || pc_rss=$t
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

# median N: the median of the N numbers on stdin, one a line; fails if
# there are not N.
median() {
	sort -g | awk -v n="$1" '{ v[NR] = $1 } END { if (NR != n) exit 1
		m = int((NR + 1) / 2)
		print (NR % 2) ? v[m] : sprintf("%.2f", (v[m] + v[m + 1]) / 2) }'
}

# ttfb_median COMMAND...: the median of COMMAND FILE's milliseconds over
# the first-byte files, the page cache dropped before each; fails if one
# of them failed.
ttfb_median() {
	local f
	for f in $ttfb_files; do
		drop_caches
		"$@" "$f" || return 1
	done | median "$(echo "$ttfb_files" | wc -w)"
}

# curl_ttfb FILE: curl's time from its request to the first byte of FILE,
# in ms: without the TCP connect, since the daemon's request goes on the
# connection it already has.
curl_ttfb() {
	local t
	t=$(curl -sf -o /dev/null -w '%{time_starttransfer} %{time_connect}' \
		"$src_url/$1") || return 1
	echo "$t" | awk '{ printf "%.2f\n", ($1 - $2) * 1000 }'
}

# From inside the mount: after drop_caches, a walk from / to the mount point
# re-reads the bench's own directories from the caches' disk (0.05-0.2 ms
# here), which is neither peercache's time nor nginx's.
mount_ttfb() { (cd "$mnt" && first_byte "$1"); }

# floor_ms FILE: the earliest a verified first byte of FILE could come, in
# ms: curl's time from its request to the file's last byte (no connect),
# plus the SHA-256 of its bytes (the best of 3; a small file is one chunk).
# The lookups and the open through FUSE come on top.
floor_ms() {
	local t
	t=$(curl -sf -o /dev/null -w '%{time_total} %{time_connect}' \
		"$src_url/$1") || return 1
	python3 - "$src/$1" "$t" <<'PY'
import hashlib, sys, time
data = open(sys.argv[1], "rb").read()
total, connect = map(float, sys.argv[2].split())
best = None
for _ in range(3):
    t = time.perf_counter()
    hashlib.sha256(data).digest()
    t = time.perf_counter() - t
    best = t if best is None or t < best else best
print("%.2f" % ((total - connect + best) * 1000))
PY
}

# mount_readers_cpu NAME READERS VAR: the machine's busy CPU seconds of
# READERS readers of every small file through a new mount of the full cache
# of mount NAME, whose chunk files are in the page cache: every lookup and
# open again, but nothing to fetch (for the work floor, below); VAR keeps
# the least.
mount_readers_cpu() {
	local t
	mount_fresh "$1" # the same cache again (its log goes on: see below)
	sleep 1 # the start-up's own work (the head's poll) out of the way
	t=$(busyit read_list "$mnt" "$2") ||
		fail "reading the small files through a new mount of $1 failed"
	best "$3" "$t"
	# Not unmount_checked: the log holds the cold read's lines too,
	# which it has counted already.
	pc_daemon_stop
}

# One round of small files: first byte, one reader, $readers readers.
round_small() {
	local ms
	ms=$(ttfb_median curl_ttfb) || fail "curl's first bytes failed"
	best curl_ttfb_ms "$ms"
	ms=$(ttfb_median floor_ms) || fail "curl's whole small files failed"
	best ttfb_floor_ms "$ms"
	drop_caches
	best curl_serial_s "$(timeit curl -sf -K "$PC_TMP/curl.tree")"
	drop_caches
	best curl_parallel_s "$(timeit curl -sf --no-progress-meter \
		--parallel --parallel-max "$readers" -K "$PC_TMP/curl.tree")"

	mount_fresh "small1-$1"
	ms=$(ttfb_median mount_ttfb) || fail "first bytes through the mount failed"
	best pc_ttfb_ms "$ms"
	drop_caches
	best pc_serial_s "$(timeit read_list "$mnt" 1)"
	check_tree "peercache-small-serial" "$mnt"
	# In the cache, page cache cold: a file of one chunk is read
	# straight from its chunk file (passthrough) or through the daemon;
	# the baseline reads those chunk files in the same order.
	drop_caches
	best pc_small_hit_s "$(timeit read_list "$mnt" 1)"
	check_tree "peercache-small-in-cache" "$mnt"
	local id files=()
	for id in "${small_chunks[@]}"; do
		files+=("$cache/chunks/${id:0:2}/$id")
	done
	drop_caches
	best small_chunks_s "$(timeit cat "${files[@]}")"
	unmount_checked
	mount_readers_cpu "small1-$1" 1 mount_readers_serial_cpu

	mount_fresh "small$readers-$1"
	drop_caches
	best pc_parallel_s "$(timeit read_list "$mnt" "$readers")"
	check_tree "peercache-small-parallel" "$mnt"
	unmount_checked
	mount_readers_cpu "small$readers-$1" "$readers" mount_readers_parallel_cpu
}

# fio_randread DIR: fio's random reads over DIR/fio.bin, page cache cold;
# prints the seconds the slowest job took (fio's own figure).
fio_randread() {
	drop_caches
	fio --name=randread --filename="$1/fio.bin" --readonly --rw=randread \
		--bs=64k --numjobs=4 --ioengine=psync --group_reporting \
		--output-format=json | python3 -c 'import json, sys
print("%.3f" % (json.load(sys.stdin)["jobs"][0]["read"]["runtime"] / 1000))'
}

# One round of fio: peercache with a fresh cache, then the plain directory.
round_fio() {
	mount_fresh "fio$1"
	best pc_fio_s "$(fio_randread "$mnt")"
	check_sha "peercache-fio" "$mnt/fio.bin" "$fio_sha"
	unmount_checked
	best plain_fio_s "$(fio_randread "$PC_TMP/plain")"
}

# One round of small files with the cache on tmpfs: one reader, $readers
# readers.
round_small_tmpfs() {
	mount_fresh "small1-tmpfs$1" "$www" # on tmpfs, removed at unmount
	drop_caches
	best pc_serial_tmpfs_s "$(timeit read_list "$mnt" 1)"
	check_tree "peercache-small-serial-tmpfs" "$mnt"
	unmount_checked
	mount_fresh "small$readers-tmpfs$1" "$www"
	drop_caches
	best pc_parallel_tmpfs_s "$(timeit read_list "$mnt" "$readers")"
	check_tree "peercache-small-parallel-tmpfs" "$mnt"
	unmount_checked
}

# One round of the cold read with the cache on tmpfs.
round_tmpfs() {
	cold_read "tmpfs$1" "$www" # on tmpfs, removed at exit
	best pc_tmpfs_s "$cold_s"
	best pc_tmpfs_cpu "$cold_cpu"
	unmount_checked
}

for round in $(seq "$rounds"); do
	if want big; then
		echo "round $round of $rounds: $total_mib MiB file (curl, peercache)..."
		round_big "$round"
	fi
	if want others; then
		echo "round $round of $rounds: rclone, httpdirfs..."
		round_rclone
		round_httpdirfs
	fi
	if want small; then
		echo "round $round of $rounds: small files..."
		round_small "$round"
	fi
	if want fio; then
		echo "round $round of $rounds: fio random reads..."
		round_fio "$round"
	fi
	if want tmpfs; then
		echo "round $round of $rounds: cold read, cache on tmpfs..."
		round_tmpfs "$round"
		if want small; then
			echo "round $round of $rounds: small files, cache on tmpfs..."
			round_small_tmpfs "$round"
		fi
	fi
done

# ---- the work floor of the small files ----------------------------------------
#
# What a cache that checks every byte has to spend on the small files if it
# is built like peercache (a transfer per chunk, as curl makes it, and a
# file per chunk), in CPU seconds, each part measured without peercache:
# the network's (the baseline's own transfer of every file: curl, nginx
# and the kernel, the machine's busy time over it), the SHA-256 of every
# byte (in memory,
# OpenSSL through Python's hashlib), storing them (the kernel's time to
# write them as new files on the caches' disk, from memory and without a
# sync: less than a cache that survives a crash spends) and the readers'
# (the same xargs cat of the source tree, which is in memory).  Spread
# over every CPU with nothing else to do, their sum takes the "work floor"
# seconds: no reader through such a cache can be faster here, FUSE and its
# lookups left aside (a leaner HTTP client than curl's command line, or
# chunks packed into fewer files, could spend less).  Each part is the
# least of 3 runs, taken while nothing else runs; the floor is measured
# minutes after the curl baselines it is compared with, on a host whose
# speed can move between them.  The mount's work floor puts in place of the
# readers' part their CPU seconds through a new peercache mount of a full
# cache whose chunk files are in memory (every lookup, open and release of
# the cold read, the daemon's share included, but nothing to fetch;
# measured in each round, the least kept): the best the fetch pipeline
# could give a cold read through this FUSE path.  The rest is measured
# after the timed rounds (the files it writes would be on the caches' disk
# during them, and are removed only at the exit: see unmount_checked).
net_serial_cpu="" net_parallel_cpu="" readers_serial_cpu=""
readers_parallel_cpu="" hash_cpu="" store_cpu=""
floor_serial_s="" floor_parallel_s=""
mount_floor_serial_s="" mount_floor_parallel_s=""

# hash_and_store DIR: "HASH STORE": the CPU seconds (user and system) of
# hashing the small files in memory, and the system seconds of writing them
# as new files under DIR (the user seconds are Python's own).
hash_and_store() {
	python3 - "$src" "$list" "$1" <<'PY'
import hashlib, os, sys
src, listing, dest = sys.argv[1:]
names = [n for n in open(listing).read().split("\n") if n]
data = [open(os.path.join(src, n), "rb").read() for n in names]
for d in {os.path.dirname(n) for n in names}:
    os.makedirs(os.path.join(dest, d), exist_ok=True)
t = os.times()
for d in data:
    hashlib.sha256(d).digest()
u = os.times()
for n, d in zip(names, data):
    with open(os.path.join(dest, n), "wb") as f:
        f.write(d)
s = os.times()
print("%.3f %.3f" % (u.user + u.system - t.user - t.system,
                     s.system - u.system))
PY
}

# work_floor NET READERS: the work floor, in seconds, of a run whose network
# and readers take NET and READERS CPU seconds.
work_floor() {
	case "-$1-$2-$hash_cpu-$store_cpu-" in
	*--*) echo - ;;
	*) awk -v n="$1" -v r="$2" -v h="$hash_cpu" -v s="$store_cpu" \
		-v c="$(nproc)" 'BEGIN { printf "%.3f", (n + h + s + r) / c }' ;;
	esac
}

small_work() {
	local i t hs
	for i in 1 2 3; do
		t=$(busyit curl -sf -K "$PC_TMP/curl.tree") ||
			fail "curl of the small files failed"
		best net_serial_cpu "$t"
		t=$(busyit curl -sf --no-progress-meter --parallel \
			--parallel-max "$readers" -K "$PC_TMP/curl.tree") ||
			fail "curl --parallel of the small files failed"
		best net_parallel_cpu "$t"
		t=$(busyit read_list "$src" 1) || fail "cat of the small files failed"
		best readers_serial_cpu "$t"
		t=$(busyit read_list "$src" "$readers") ||
			fail "cat of the small files failed"
		best readers_parallel_cpu "$t"
		hs=$(hash_and_store "$PC_TMP/store-probe-$i") ||
			fail "hashing and storing the small files failed"
		best hash_cpu "${hs% *}"
		best store_cpu "${hs#* }"
	done
	floor_serial_s=$(work_floor "$net_serial_cpu" "$readers_serial_cpu")
	floor_parallel_s=$(work_floor "$net_parallel_cpu" "$readers_parallel_cpu")
	mount_floor_serial_s=$(work_floor "$net_serial_cpu" \
		"$mount_readers_serial_cpu")
	mount_floor_parallel_s=$(work_floor "$net_parallel_cpu" \
		"$mount_readers_parallel_cpu")
}
if want small; then
	echo "small files: the work floor..."
	small_work
fi
# ---- the table -------------------------------------------------------------------

mbs() {
	if [ "$2" = - ] || [ -z "$2" ]; then echo -; else rate "$1" "$2"; fi
}
fps() { per_second "$nfiles" "$1"; }
row() { printf '  %-46s %9s %9s %9s\n' "$@"; }
# ratio_row WHAT PEERCACHE BASELINE BASELINE_NAME TARGET: the ratio of
# speeds, the baseline's time (or ms) / peercache's.
ratio_row() {
	printf '  %-40s %7sx  %-34s %s\n' "$1" "$(ratio "$3" "$2")" "$4" "$5"
}
# per_gib SECONDS BYTES: SECONDS per GiB of BYTES.
per_gib() {
	case "$1" in
	"" | -) echo - ;;
	*) awk -v s="$1" -v n="$2" 'BEGIN { printf "%.2f", s / (n / 1073741824) }' ;;
	esac
}

echo
echo "peercache mount against nginx on loopback, the mirror's files on tmpfs"
echo "($mirror_dir), the caches on $(findmnt -no SOURCE -T "$PC_TMP") ($disk_dir);"
echo "best of $rounds rounds; page, dentry and inode caches dropped before every"
echo "cold read; parts:$parts"
echo "$machine"
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
# big_row WHAT SECONDS [NOTE]: a row of the big file's table.
big_row() { row "$1" "$2" "$(mbs "$big_bytes" "$2")" "${3:-}"; }
if want big || want others || want tmpfs; then
	echo
	row "$total_mib MiB file ($big_bytes bytes)" seconds MB/s ""
fi
if want big; then
	big_row "curl from nginx to /dev/null" "$curl_s"
	big_row "curl to the caches' disk, then openssl dgst" "$curl_file_s"
	big_row "peercache, fresh cache on the disk, cold" "$pc_cold_s"
fi
! want tmpfs || big_row "peercache, fresh cache on tmpfs, cold" "$pc_tmpfs_s"
if want others; then
	big_row "rclone mount --vfs-cache-mode full, cold" "$rclone_s" \
		"$rclone_note"
	big_row "httpdirfs --cache, cold" "$httpdirfs_s" "$httpdirfs_note"
fi
if want big; then
	big_row "peercache, page cache warm" "$pc_warm_s"
	big_row "source file, page cache warm" "$native_warm_s"
	big_row "peercache, chunks in cache, page cache cold" "$pc_hit_s"
	big_row "cat of the ${#big_chunks[@]} chunk files, cold" "$chunks_s"
fi
if want small; then
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
	if want tmpfs; then
		row "peercache, one reader, cache on tmpfs" "$pc_serial_tmpfs_s" \
			"$(fps "$pc_serial_tmpfs_s")" \
			"$(mbs "$tree_bytes" "$pc_serial_tmpfs_s")"
		row "peercache, $readers readers, cache on tmpfs" \
			"$pc_parallel_tmpfs_s" "$(fps "$pc_parallel_tmpfs_s")" \
			"$(mbs "$tree_bytes" "$pc_parallel_tmpfs_s")"
	fi
	row "peercache, one reader, from the cache" "$pc_small_hit_s" \
		"$(fps "$pc_small_hit_s")" "$(mbs "$tree_bytes" "$pc_small_hit_s")"
	row "cat of their chunk files" "$small_chunks_s" \
		"$(fps "$small_chunks_s")" "$(mbs "$tree_bytes" "$small_chunks_s")"
	row "first byte of a small file, cold (median of 5)" ms "" ""
	row "curl (request to first byte, no connect)" "$curl_ttfb_ms" "" ""
	row "peercache (open + 1-byte read)" "$pc_ttfb_ms" "" ""
	row "floor: curl to the last byte + SHA-256" "$ttfb_floor_ms" "" ""
	row "work floor, one reader (below)" "$floor_serial_s" \
		"$(fps "$floor_serial_s")" "$(mbs "$tree_bytes" "$floor_serial_s")"
	row "work floor, $readers readers" "$floor_parallel_s" \
		"$(fps "$floor_parallel_s")" "$(mbs "$tree_bytes" "$floor_parallel_s")"
	row "the mount's work floor, one reader" "$mount_floor_serial_s" \
		"$(fps "$mount_floor_serial_s")" \
		"$(mbs "$tree_bytes" "$mount_floor_serial_s")"
	row "the mount's work floor, $readers readers" "$mount_floor_parallel_s" \
		"$(fps "$mount_floor_parallel_s")" \
		"$(mbs "$tree_bytes" "$mount_floor_parallel_s")"
	echo "  work floor: (network + SHA-256 + store + readers) / $(nproc) CPUs, CPU seconds:"
	echo "    one reader ($net_serial_cpu + $hash_cpu + $store_cpu + $readers_serial_cpu) / $(nproc)," \
		"$readers readers ($net_parallel_cpu + $hash_cpu + $store_cpu + $readers_parallel_cpu) / $(nproc);"
	echo "    the mount's: readers through a mount of a full cache, $mount_readers_serial_cpu" \
		"and $mount_readers_parallel_cpu CPU seconds"
fi
if want fio; then
	fio_bytes=$((4 * fio_mib * 1048576))
	echo
	row "fio randread, 64 KiB, 4 jobs, $fio_mib MiB file, cold" seconds MB/s ""
	row "peercache, fresh cache" "$pc_fio_s" "$(mbs "$fio_bytes" "$pc_fio_s")" ""
	row "plain directory on the caches' disk" "$plain_fio_s" \
		"$(mbs "$fio_bytes" "$plain_fio_s")" ""
fi
echo
echo "  ratios: peercache's speed / the baseline's (higher is better)"
if want big; then
	ratio_row "cold read" "$pc_cold_s" "$curl_s" "of curl to /dev/null" \
		"target >= 0.6x"
	ratio_row "cold read" "$pc_cold_s" "$curl_file_s" \
		"of curl to disk + openssl dgst" "target >= 1.3x"
fi
! want tmpfs || ratio_row "cold read, cache on tmpfs" "$pc_tmpfs_s" \
	"$curl_s" "of curl to /dev/null" ""
if want others; then
	ratio_row "cold read" "$pc_cold_s" "$rclone_s" "of rclone mount, cold" \
		"target >= 4x"
	ratio_row "cold read" "$pc_cold_s" "$httpdirfs_s" "of httpdirfs, cold" ""
fi
if want big; then
	ratio_row "re-read, page cache warm" "$pc_warm_s" "$native_warm_s" \
		"of the source file, warm" "target >= 0.9x"
	ratio_row "read from the cache, page cache cold" "$pc_hit_s" \
		"$chunks_s" "of cat of the chunk files, cold" "target >= 1x"
fi
if want small; then
	ratio_row "small files, one reader" "$pc_serial_s" "$curl_serial_s" \
		"of curl, one connection" "target >= 0.5x"
	ratio_row "small files, $readers readers" "$pc_parallel_s" \
		"$curl_parallel_s" "of curl --parallel-max $readers" "target >= 0.5x"
	if want tmpfs; then
		ratio_row "small files, one reader, cache on tmpfs" \
			"$pc_serial_tmpfs_s" "$curl_serial_s" \
			"of curl, one connection" ""
		ratio_row "small files, $readers readers, cache on tmpfs" \
			"$pc_parallel_tmpfs_s" "$curl_parallel_s" \
			"of curl --parallel-max $readers" ""
	fi
	ratio_row "small files from the cache, page cache cold" \
		"$pc_small_hit_s" "$small_chunks_s" "of cat of the chunk files" ""
	ratio_row "first byte" "$pc_ttfb_ms" "$curl_ttfb_ms" \
		"of curl's time to first byte" "target >= 0.5x (at most 2x its time)"
	ratio_row "first byte's floor" "$ttfb_floor_ms" "$curl_ttfb_ms" \
		"of curl's time to first byte" "(the best a verifying reader can do)"
	ratio_row "small files' work floor, one reader" "$floor_serial_s" \
		"$curl_serial_s" "of curl, one connection" "(the best a cache built this way can do)"
	ratio_row "small files' work floor, $readers readers" "$floor_parallel_s" \
		"$curl_parallel_s" "of curl --parallel-max $readers" "(the same)"
	ratio_row "the mount's work floor, one reader" "$mount_floor_serial_s" \
		"$curl_serial_s" "of curl, one connection" "(the best through this FUSE path)"
	ratio_row "the mount's work floor, $readers readers" \
		"$mount_floor_parallel_s" "$curl_parallel_s" \
		"of curl --parallel-max $readers" "(the same)"
fi
! want fio || ratio_row "fio random reads" "$pc_fio_s" "$plain_fio_s" \
	"of the plain directory" "target >= 0.6x"
echo
if want big; then
	printf '  %-46s %5s MiB  (target < 64 MiB)\n' \
		"peercache peak RSS (VmHWM), cold read" "$pc_rss"
	printf '  %-46s %5s s    (%s s per GiB, target <= 1.5; busiest thread since start: %s s)\n' \
		"peercache CPU time over the cold read" "$pc_cold_cpu" \
		"$(per_gib "$pc_cold_cpu" "$big_bytes")" "$pc_cold_loop_cpu"
	printf '  %-46s %5s s\n' "peercache CPU time, read from its cache" \
		"$pc_hit_cpu"
	echo "  peercache fetched $from_mirror bytes from the mirror for the cold read"
fi
if want tmpfs; then
	printf '  %-46s %5s s    (%s s per GiB)\n' \
		"peercache CPU time, cold read, cache on tmpfs" "$pc_tmpfs_cpu" \
		"$(per_gib "$pc_tmpfs_cpu" "$big_bytes")"
fi
if want others; then
	printf '  %-46s %5s MiB\n' "rclone peak RSS (VmHWM), cold read" \
		"$rclone_rss" "httpdirfs peak RSS (VmHWM), cold read" \
		"$httpdirfs_rss"
fi
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

# For bench/fastpath.sh.
result mount.big_bytes "${big_bytes:-}"
result mount.curl_s "$curl_s"
result mount.curl_file_s "$curl_file_s"
result mount.cold_s "$pc_cold_s"
result mount.cold_cpu "$pc_cold_cpu"
result mount.cold_cpu_per_gib "$(per_gib "$pc_cold_cpu" "${big_bytes:-1}")"
result mount.tmpfs_s "$pc_tmpfs_s"
result mount.tmpfs_cpu_per_gib "$(per_gib "$pc_tmpfs_cpu" "${big_bytes:-1}")"
result mount.warm_s "$pc_warm_s"
result mount.native_warm_s "$native_warm_s"
result mount.hit_s "$pc_hit_s"
result mount.chunks_s "$chunks_s"
result mount.rss_mib "$pc_rss"
result mount.curl_serial_s "$curl_serial_s"
result mount.serial_s "$pc_serial_s"
result mount.curl_parallel_s "$curl_parallel_s"
result mount.parallel_s "$pc_parallel_s"
result mount.small_hit_s "$pc_small_hit_s"
result mount.small_chunks_s "$small_chunks_s"
result mount.curl_ttfb_ms "$curl_ttfb_ms"
result mount.ttfb_ms "$pc_ttfb_ms"
result mount.ttfb_floor_ms "$ttfb_floor_ms"
result mount.tree_bytes "${tree_bytes:-}"
result mount.small_floor_serial_s "$floor_serial_s"
result mount.small_floor_parallel_s "$floor_parallel_s"
result mount.small_mount_floor_serial_s "$mount_floor_serial_s"
result mount.small_mount_floor_parallel_s "$mount_floor_parallel_s"
result mount.serial_tmpfs_s "$pc_serial_tmpfs_s"
result mount.parallel_tmpfs_s "$pc_parallel_tmpfs_s"
result mount.fio_s "$pc_fio_s"
result mount.plain_fio_s "$plain_fio_s"
result mount.cache_disk "$(findmnt -no SOURCE -T "$PC_TMP")"

if [ -n "$mismatches" ]; then
	echo "  WRONG BYTES read in:$mismatches ($checks checks)"
	exit 1
fi
echo "  bytes: all $checks reads through a mount match the source's SHA-256"
