#!/bin/bash
# restart.sh BUILD_DIR - what a restart of the daemon costs a reader of the
# mount, measured side by side in one run against the two baselines it
# names:
#
#   no restart      a reader holding a file open (O_DIRECT, 1 MiB reads,
#                   every block compared with the source: restart_reader.py
#                   of tests/integration/restart) reads the warm cache for
#                   PC_RESTART_SECONDS (10 s); its longest single read
#   peercachectl    the same reader for the same time, with
#   restart         PC_RESTART_COUNT (5) restarts a second apart: the pause
#                   each new daemon reports (requests waited, ms), the
#                   restart command's wall time, the reader's longest read,
#                   its errors (there must be none: any error ends the
#                   script with status 1 after the table)
#   stop and start  what a restart was before: SIGTERM, then the daemon
#                   started again on the same cache; the time from the
#                   SIGTERM until the mount answers again (a reader holding
#                   a file open gets errors meanwhile and must reopen)
#
# The cache holds a 256 MiB file (PC_RESTART_MIB) and 2,000 small files
# (PC_RESTART_FILES, 4-64 KiB) so that the store has a few thousand chunks
# to open; it is on the disk (PC_BENCH_DIR, /var/tmp), the mirror's files
# on tmpfs (/dev/shm).  Prints figures, asserts nothing about time (a
# benchmark is not a test).  Needs root, nginx, python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: restart.sh BUILD_DIR}" && pwd)
export PC_BIN="$build/bin"
# shellcheck source=SCRIPTDIR/../tests/integration/mount/fixture.sh
. "$here/../tests/integration/mount/fixture.sh"
# shellcheck source=SCRIPTDIR/../tests/integration/lib/restart.sh
. "$here/../tests/integration/lib/restart.sh"
# shellcheck source=SCRIPTDIR/lib/common.sh
. "$here/lib/common.sh"

mib=${PC_RESTART_MIB:-256}
files=${PC_RESTART_FILES:-2000}
seconds=${PC_RESTART_SECONDS:-10}
count=${PC_RESTART_COUNT:-5}
bench_dir=${PC_BENCH_DIR:-/var/tmp}

pc_setup
mirror=$(mktemp -d /dev/shm/pc-bench-restart.XXXXXX)
pc_on_exit "rm -rf $mirror"
cache=$(mktemp -d "$bench_dir/pc-bench-restart-cache.XXXXXX")
pc_on_exit "rm -rf $cache"

echo "restart.sh: $(cpu_model); cache on $(df --output=source,fstype "$bench_dir" | tail -1); load $(cut -d' ' -f1-3 /proc/loadavg)"

mkdir -p "$mirror/src/small"
random_file "$mirror/src/big.bin" "$mib"
python3 - "$mirror/src/small" "$files" <<'EOF'
import os, random, sys
d, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(rng.randint(4, 64) * 1024))
EOF
pc_publish "$mirror/src" "$mirror/repo"
pc_nginx_start "$mirror/repo"
pc_daemon_start "$PC_TMP/mnt" "$cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o quota=4G
pc_restart_track
cat "$PC_TMP/mnt/big.bin" >/dev/null
find "$PC_TMP/mnt/small" -type f -print0 | xargs -0 cat >/dev/null
chunks=$(pc_json_get "$(pc_ctl stats --json)" chunks || echo "?")
echo "cache: $chunks chunks ($mib MiB file + $files small files), all read once"
echo

longest_ms() { sed -n 's/.*longest read \([0-9]*\) ms.*/\1/p' "$READER_DIR/out"; }

# 1. no restart
pc_reader_start "$PC_TMP/mnt/big.bin" "$mirror/src/big.bin"
sleep "$seconds"
pc_reader_stop >/dev/null
base_longest=$(longest_ms)
rm -rf "$READER_DIR"

# 2. peercachectl restart, under the same reader
pc_reader_start "$PC_TMP/mnt/big.bin" "$mirror/src/big.bin"
pauses="" walls=""
t_end=$(($(date +%s) + seconds))
for i in $(seq "$count"); do
	sleep 1
	t0=$(now)
	pc_restart
	t1=$(now)
	pauses="$pauses $RESTART_PAUSE_MS"
	walls="$walls $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')"
done
while [ "$(date +%s)" -lt "$t_end" ]; do sleep 0.2; done
pc_reader_stop >/dev/null
restart_longest=$(longest_ms)

# 3. stop and start
kill -TERM "$PC_DAEMON_PID"
t0=$(now)
pc_wait_gone "$PC_DAEMON_PID" 300 || { echo "the daemon ignored SIGTERM" >&2; exit 1; }
pc_daemon_start "$PC_TMP/mnt" "$cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o quota=4G
until head -c 1 "$PC_TMP/mnt/big.bin" >/dev/null 2>&1; do sleep 0.01; done
t1=$(now)
gone_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')

printf '\n%-44s %s\n' "what" "figure"
printf '%-44s %s ms\n' "reader's longest read, no restart" "$base_longest"
printf '%-44s %s ms\n' "reader's longest read, $count restarts" "$restart_longest"
printf '%-44s%s ms\n' "pause each restart reported" "$pauses"
printf '%-44s%s ms\n' "peercachectl restart, wall time" "$walls"
printf '%-44s %s (mount gone, readers get errors)\n' "stop and start: until the mount answers" "$gone_ms ms"
printf '%-44s %s\n' "reader errors across the restarts" "0 (every block compared)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
