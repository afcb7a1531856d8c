#!/usr/bin/env bash
# A file larger than the quota streams through the cache (issue 10 item
# 1): with the quota at its least (16M) and at 40M, a cold sequential read
# of a 64 MiB file gets every byte right, 3 times out of 3, and so do 4
# readers at once; the cache stays near its quota meanwhile.  A quota
# below what one read needs is refused, with the reason.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir src
pc_random src/big.bin 64M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
MANIFEST=$(manifest_path repo)
nchunks=$(manifest_file_chunks "$MANIFEST" big.bin | wc -l)

# chunk_bytes: the bytes of the chunk files, what the quota counts (not
# the directories they are in: du would add 4 KiB for each of up to 256).
chunk_bytes() {
	find "$PC_TMP/cache/chunks" -type f -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }'
}

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

expect_status 2 "quota: '15M' is below 16M, the least one read needs" \
	"a quota below the minimum" "$PEERCACHE" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o quota=15M --print-config

for quota_mib in 16 40; do
	pc_mount_repo -o quota=${quota_mib}M
	for try in 1 2 3; do
		pc_ctl purge --all >/dev/null
		drop_caches
		cmp src/big.bin mnt/big.bin ||
			fail "quota ${quota_mib}M, try $try: the read failed or differs"
	done
	# Several readers at once, each at its own pace.
	pc_ctl purge --all >/dev/null
	drop_caches
	pids=()
	for reader in 1 2 3 4; do
		dd if=mnt/big.bin bs=$((reader * 128))K 2>/dev/null |
			cmp - src/big.bin &
		pids+=($!)
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || fail "quota ${quota_mib}M: a concurrent reader failed"
	done
	# The quota is a target: the purge follows the new chunks closely.
	deadline=$((SECONDS + 5))
	while bytes=$(chunk_bytes) &&
		[ "$bytes" -gt $((quota_mib * 1024 * 1024)) ]; do
		[ $SECONDS -lt $deadline ] ||
			fail "quota ${quota_mib}M: the cache holds $bytes bytes"
		sleep 0.1
	done
	gets=$(pc_nginx_count 'GET /chunks/')
	echo "quota ${quota_mib}M: $gets chunk GETs for 4 cold reads of" \
		"$nchunks chunks and one by 4 readers"
	pc_daemon_stop
	: >"$NGINX_LOG"
done
! grep -E 'Input/output error|giving up|not fetched within' "$PC_TMP"/daemon.*.log ||
	fail "a fetch failed"
echo "ok"
