#!/usr/bin/env bash
# fio with crc32c verification through the mount, with a quota smaller
# than the file (issue 10 item 1): 4 jobs of 64 KiB reads, random and
# sequential, cold (cache purged, page cache dropped) and warm, on a
# 300 MiB file and a 64 MiB quota.  No read may fail or return a byte that
# does not verify.
#
# fio verifies a file it did not write: the source is written by fio
# itself with crc32c headers in every 64 KiB block (rw=write,
# do_verify=0), then published.  Through the read-only mount, read jobs
# with verify=crc32c check every block they read (verify_only would open
# the file for writing, which a read-only mount refuses).  The random jobs
# read io_size each at random offsets over the whole file, which keeps the
# test short and still churns the cache through the quota many times.
set -euo pipefail
# shellcheck source=../mount/fixture.sh
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup
command -v fio >/dev/null || fail "fio is not installed"

mkdir src
fio --name=source --filename=src/data.bin --rw=write --bs=64k --size=300M \
	--verify=crc32c --do_verify=0 >fio-write.log 2>&1 ||
	fail "fio could not write the source: $(cat fio-write.log)"
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo -o quota=64M -o fetch_timeout=20s

drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches
}

# run_fio NAME RW [fio options...]: 4 verifying jobs on the mounted file.
run_fio() {
	local name=$1 rw=$2
	shift 2
	if ! fio --name="$name" --filename=mnt/data.bin --rw="$rw" --bs=64k \
		--size=300M --numjobs=4 --verify=crc32c --group_reporting \
		"$@" >"fio-$name.log" 2>&1; then
		fail "fio $name failed: $(grep -E 'verify|err' "fio-$name.log" | head -5)"
	fi
	grep -q "err= 0" "fio-$name.log" || fail "fio $name: $(cat "fio-$name.log")"
	echo "fio $name: $(grep -E '^ +READ:' "fio-$name.log")"
}

pc_ctl purge --all >/dev/null
drop_caches
run_fio cold-random randread --io_size=32M
run_fio warm-random randread --io_size=32M
pc_ctl purge --all >/dev/null
drop_caches
run_fio cold-sequential read
run_fio warm-sequential read
! grep -E 'giving up|not fetched within' "$PC_DAEMON_LOG" ||
	fail "a fetch failed"
echo "ok"
