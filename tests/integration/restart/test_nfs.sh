#!/usr/bin/env bash
# An NFS re-export through restarts without unmount: nfs-ganesha (FSAL
# VFS) exports the mount; a libnfs client reads a file again and again
# (nfs-cat, its first read through a cold cache from a slow mirror), and
# another keeps file handles it looked up before (nfs_hold.py), while the
# daemon restarts three times.  No read fails or differs, the handles
# kept from before read right afterwards, and ganesha is neither
# restarted nor reloaded: the mount it exports never changed.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/nfs.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_nfs_isolate "$@"
pc_setup

mkdir -p src/late
pc_random src/big.bin 24M
pc_random src/late/late.bin 3M
echo "engine 5.2" >src/VERSION
pc_publish src repo
pc_nginx_start "$PC_TMP/repo" "limit_rate 1m;"
pc_mount_slow
pc_nfs_start "$PC_TMP/mnt"
dev_before=$(stat -c %d mnt)

# Handles looked up now, read only after the restarts.
pc_nfs_hold_start 3
pc_nfs_hold open /late/late.bin || fail "$NFS_HOLD_REPLY"
pc_nfs_hold open /VERSION || fail "$NFS_HOLD_REPLY"

# nfs-cat of big.bin over NFSv3, again and again until told to stop.
mkdir nfsread
(
	n=0
	while [ ! -e nfsread/stop ]; do
		if ! nfs-cat "$(pc_nfs_url 3 big.bin)" >nfsread/out 2>nfsread/err; then
			echo "read $((n + 1)): $(cat nfsread/err)" >nfsread/failed
			exit 1
		fi
		if ! cmp -s nfsread/out src/big.bin; then
			echo "read $((n + 1)): wrong bytes" >nfsread/failed
			exit 1
		fi
		n=$((n + 1))
		echo $n >nfsread/count
	done
) &
NFSREAD_PID=$!
pc_on_exit "touch $PC_TMP/nfsread/stop; wait $NFSREAD_PID 2>/dev/null || true"

pc_sampler_start "$PC_TMP/mnt"
sleep 1 # the first read is under way
pc_restart_series 3
[ ! -e nfsread/count ] || fail "the cold read ended before the last restart"
[ "$(pc_mirror_cuts)" -gt 0 ] || fail "no restart cut a download short: nothing was in flight"
touch nfsread/stop
wait "$NFSREAD_PID" || fail "the NFS reader failed: $(cat nfsread/failed 2>/dev/null)"
pc_sampler_stop
echo "nfs-cat: $(cat nfsread/count) whole reads of big.bin, all right"

pc_nfs_hold read /late/late.bin held || fail "a handle kept through the restarts: $NFS_HOLD_REPLY"
assert_file_same src/late/late.bin held
pc_nfs_hold read /VERSION held || fail "a handle kept through the restarts: $NFS_HOLD_REPLY"
assert_file_same src/VERSION held
kill -0 "$NFS_PID" || fail "ganesha is gone"
assert_eq 0 "$(nfs_reloads)" "ganesha reloads"
assert_eq "$dev_before" "$(stat -c %d mnt)" "the mount's device"
pc_daemon_term
