#!/usr/bin/env bash
# Readers get every byte right while chunks arrive out of order and while
# purges run (issue 11): the mirror serves half of the chunks slowly (their
# ids start with 0-7), so later chunks complete before earlier ones; the
# cache is at its least quota (16M) for a 64 MiB file, and
# `peercachectl purge --all` runs in a loop meanwhile.  Three readers at
# once: sequential, random ranges across chunk boundaries, and a reader
# that walks the file backwards.  The debug log must show chunks completing
# out of manifest order (else the test tested nothing).
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir src
pc_random src/big.bin 64M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo" 'location ~ ^/chunks/[0-7] { limit_rate 8m; }'
MANIFEST=$(manifest_path repo)
pc_mount_repo -o quota=16M -o log_level=debug -o fetch_timeout=30s

purging() {
	while :; do
		pc_ctl purge --all >/dev/null 2>&1 || true
		sleep 0.1
	done
}
purging &
purger=$!
pc_on_exit "kill $purger 2>/dev/null || true"

# random_reader SEED: 200 reads of 1 B to 3 MiB at random offsets.
random_reader() {
	python3 - "$1" src/big.bin mnt/big.bin <<'PY'
import os, random, sys
rng = random.Random(int(sys.argv[1]))
src, mnt = open(sys.argv[2], "rb"), open(sys.argv[3], "rb", buffering=0)
size = os.fstat(src.fileno()).st_size
for _ in range(200):
    n = rng.randint(1, 3 << 20)
    off = rng.randrange(0, size)
    src.seek(off); mnt.seek(off)
    want, got = src.read(n), mnt.read(n)
    if want != got:
        sys.exit("bytes differ at %d (+%d)" % (off, n))
PY
}

# backward_reader: 1 MiB blocks from the end of the file to its start.
backward_reader() {
	local block blocks=64
	for ((block = blocks - 1; block >= 0; block--)); do
		cmp <(dd if=src/big.bin bs=1M skip=$block count=1 2>/dev/null) \
			<(dd if=mnt/big.bin bs=1M skip=$block count=1 2>/dev/null) ||
			return 1
	done
}

sync
echo 3 >/proc/sys/vm/drop_caches
cmp src/big.bin mnt/big.bin &
sequential=$!
random_reader 1 &
random=$!
backward_reader &
backward=$!
wait $sequential || fail "the sequential reader got a wrong byte or an error"
wait $random || fail "the random reader got a wrong byte or an error"
wait $backward || fail "the backward reader got a wrong byte or an error"
kill $purger
wait $purger 2>/dev/null || true

# The test tested something: purges ran, and chunks completed out of
# order (a chunk listed after another in the manifest arrived first).
[ "$(pc_json_get "$(pc_ctl stats --json)" purged_chunks)" -gt 0 ] ||
	fail "no purge removed anything"
python3 - "$PC_DAEMON_LOG" "$MANIFEST" <<'PY' || fail "no chunk arrived out of order"
import re, sys
order = {}
for line in open(sys.argv[2]):
    m = re.match(r"^([0-9a-f]{64}) [0-9]+$", line)
    if m and m.group(1) not in order:
        order[m.group(1)] = len(order)
done = [order[m.group(1)] for m in
        re.finditer(r"chunk ([0-9a-f]{64}): [0-9]+ bytes from", open(sys.argv[1]).read())
        if m.group(1) in order]
late = sum(1 for a, b in zip(done, done[1:]) if b < a)
print("chunks completed: %d, out of order: %d" % (len(done), late))
sys.exit(0 if late > 0 else 1)
PY
! grep -E 'giving up|not fetched within' "$PC_DAEMON_LOG" || fail "a fetch failed"
echo "ok"
