#!/usr/bin/env bash
# Memory of a version with a huge manifest (issue 10 item 13).  A signed
# manifest of 1,000,000 entries took the daemon from 17 MB to 345 MB (peak
# 415 MB), and switching back and forth grew it over cycles (377, 461,
# 516 MB).  The install now streams the manifest into bounded LMDB
# transactions and lets go of the pages it has read: the peak above the
# baseline stays under 40 MiB and 24 bytes an entry (63 MiB for a million),
# and five big/tiny cycles do not grow it.
#
# PC_BIG_ENTRIES (default 200000: the test takes seconds; 1000000 is the
# issue's figure, for which give ctest a longer --timeout) sets the size;
# the default still fails by far without the fix (about 330 bytes an
# entry).  Under a sanitizer (its own memory), or with PC_BIG_BOUNDS=off
# (to measure another build), the figures are printed, not bounded.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

SANITIZED=$(ldd "$PC_BIN/peercache" | grep -oE 'lib(asan|tsan)' | head -1 || true)
# A sanitizer build is several times slower: a smaller run there.
ENTRIES=${PC_BIG_ENTRIES:-$([ -n "$SANITIZED" ] && echo 50000 || echo 200000)}
CYCLES=${PC_BIG_CYCLES:-$([ -n "$SANITIZED" ] && echo 2 || echo 5)}
[ "${PC_BIG_BOUNDS:-on}" = on ] || SANITIZED=${SANITIZED:-bounds off}
PEAK_MAX_KB=$((40960 + ENTRIES * 24 / 1024))
GROWTH_MAX_KB=$((4096 + ENTRIES / 1024)) # 4 MiB and 1 byte an entry

# kb FIELD: a field of the daemon's /proc status, in kB.
kb() {
	awk -v f="$1:" '$1 == f { print $2 }' "/proc/$PC_DAEMON_PID/status"
}

# install VERSION MANIFEST SIZE: sign a head for it and refresh.
install() {
	pc_sign_head "$PC_TMP/key" repo version="$1" manifest="$2" \
		manifest-size="$3"
	pc_run pc_ctl refresh
	[ "$PC_RC" = 0 ] || fail "refresh to version $1: $PC_OUT"
	assert_contains "$PC_OUT" "ok: version $1" "version $1 installed"
}

mkdir src
echo tiny >src/notes.txt
pc_publish src repo
tiny=$(head_field repo manifest)
tiny_size=$(head_field repo manifest-size)
read -r big big_size < <(python3 "$PC_SRC/tests/integration/lib/big_manifest.py" \
	"$ENTRIES" big.manifest)
mkdir -p "repo/chunks/${big:0:2}"
mv big.manifest "$(object_path repo "$big")"
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
assert_eq tiny "$(cat mnt/notes.txt)" "version 1"
base=$(kb VmRSS)
echo "baseline: VmRSS ${base} kB; $ENTRIES entries, manifest $big_size bytes"

version=1
first_after=""
for cycle in $(seq "$CYCLES"); do
	echo 5 >"/proc/$PC_DAEMON_PID/clear_refs" # VmHWM from here
	version=$((version + 1))
	install "$version" "$big" "$big_size"
	peak=$(kb VmHWM)
	after_big=$(kb VmRSS)
	version=$((version + 1))
	install "$version" "$tiny" "$tiny_size"
	after=$(kb VmRSS)
	echo "cycle $cycle: peak +$((peak - base)) kB, after the big version" \
		"+$((after_big - base)) kB, after the tiny one +$((after - base)) kB"
	[ -n "$SANITIZED" ] || [ $((peak - base)) -le "$PEAK_MAX_KB" ] ||
		fail "cycle $cycle: peak $peak kB is more than $PEAK_MAX_KB kB above the baseline $base kB"
	[ -n "$first_after" ] || first_after=$after
	[ -n "$SANITIZED" ] || [ $((after - first_after)) -le "$GROWTH_MAX_KB" ] ||
		fail "cycle $cycle: $after kB after the tiny version, $((after - first_after)) kB more than after cycle 1"
done
assert_eq tiny "$(cat mnt/notes.txt)" "the tiny version is served"
[ -f "mnt/d0000/f000" ] && fail "a file of the big version is still there"
echo "ok: $ENTRIES entries, peak within $PEAK_MAX_KB kB, no growth over $CYCLES cycles${SANITIZED:+ (not bounded under $SANITIZED)}"
