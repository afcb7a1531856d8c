#!/usr/bin/env bash
# The mount's read-ahead (the read_ahead key, 3840K; fs/internal.h): the
# kernel sends a sequential reader's READs four at once, and the daemon's
# workers answer them in parallel.  A cold read of 4 MiB in one call, with the
# mirror holding every chunk's body: the READs wait at the daemon (parked),
# and the FUSE connection's count of requests waiting for an answer
# (fusectl: /sys/fs/fuse/connections/N/waiting) shows how many went out at
# once: at least 4, against 1 with a read-ahead of one request.  Once the
# mirror lets go, the bytes read are right.  A process that takes the
# mount over raises a lower read-ahead (an earlier build's) again.  With
# read_ahead = 960K (for engines that read mapped files at random over a
# thin link), the mount and a takeover set 960.
set -euo pipefail
# shellcheck source=fixture.sh
. "$(dirname "$0")/fixture.sh"
# shellcheck source=../lib/slow_mirror.sh
. "$(dirname "$0")/../lib/slow_mirror.sh"
# shellcheck source=../lib/restart.sh
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

conns=/sys/fs/fuse/connections
if [ -z "$(ls -A "$conns" 2>/dev/null)" ] &&
	! grep -qs " $conns fusectl " /proc/mounts; then
	mount -t fusectl none "$conns" || fail "cannot mount fusectl on $conns"
	pc_on_exit "umount $conns"
fi

mkdir src
pc_random src/big.bin 12M
pc_publish src repo
pc_slow_mirror_start "$PC_TMP/repo"
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o quota=1G
pc_restart_track
dev=$(awk -v m="$PC_TMP/mnt" '$5 == m { print $3 }' /proc/self/mountinfo)
waiting=$conns/${dev#*:}/waiting
[ -r "$waiting" ] || fail "no $waiting for the mount ($dev)"
assert_eq 3840 "$(cat "/sys/class/bdi/$dev/read_ahead_kb")" "bdi read_ahead_kb"

pc_slow_mirror_hold "^/chunks/"
dd if=mnt/big.bin of=read.out bs=4M count=1 2>/dev/null &
reader=$!
most=0
for _ in $(seq 100); do # 10 s at most
	n=$(cat "$waiting")
	[ "$n" -le "$most" ] || most=$n
	[ "$most" -lt 4 ] || break
	sleep 0.1
done
echo "READ requests waiting at once: $most"
pc_slow_mirror_release
wait "$reader" || fail "the read failed"
cmp read.out <(head -c 4M src/big.bin) || fail "the 4 MiB read back wrong"
[ "$most" -ge 4 ] || fail "only $most requests in flight at once"

echo 960 >"/sys/class/bdi/$dev/read_ahead_kb" # as an earlier build left it
pc_restart
assert_eq 3840 "$(cat "/sys/class/bdi/$dev/read_ahead_kb")" \
	"bdi read_ahead_kb after a restart"

pc_daemon_term
pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$SLOW_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o quota=1G -o read_ahead=960K
pc_restart_track
dev=$(awk -v m="$PC_TMP/mnt" '$5 == m { print $3 }' /proc/self/mountinfo)
assert_eq 960 "$(cat "/sys/class/bdi/$dev/read_ahead_kb")" \
	"bdi read_ahead_kb with read_ahead = 960K"
echo 3840 >"/sys/class/bdi/$dev/read_ahead_kb"
pc_restart
assert_eq 960 "$(cat "/sys/class/bdi/$dev/read_ahead_kb")" \
	"bdi read_ahead_kb with read_ahead = 960K after a restart"
cmp mnt/big.bin src/big.bin || fail "the file read back wrong"
echo "ok"
