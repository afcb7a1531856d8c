# shellcheck shell=bash
# crashfs.sh - put a directory on pc-crashfs and cut its power; sourced by
# tests after tests/integration/lib/common.sh (and pc_setup).  See the top
# of pc-crashfs.c for what a power cut keeps and drops.
#
#   crashfs_mount BACKING MNT [-o mode=zero|short] [-o stall=FILE]
#       starts `pc-crashfs -f` in the background and waits (10 s at most)
#       until MNT is mounted; BACKING holds the durable state.  Sets
#       CRASHFS_PID and CRASHFS_LOG.  Unmounted at exit (pc_on_exit).
#       With stall=FILE, creating a file waits while FILE exists.
#   crashfs_cut
#       cuts the power: every write to MNT not made durable by fsync or
#       fdatasync is dropped.  Returns once done.  Kill the processes that
#       use MNT first (kill -9 the daemon): a power cut ends them too.
#   crashfs_sync
#       writes every pending write back, as sync(1) would (syncfs and
#       sync(1) on the mount do not reach pc-crashfs).  Returns once done.
#   crashfs_umount
#       unmounts (pending writes are written back, as a clean unmount
#       would) and waits for pc-crashfs to exit.
#
# One pc-crashfs mount at a time per test.

CRASHFS_PID=""
CRASHFS_MNT=""
CRASHFS_LOG=""
CRASHFS_CUTS=0
CRASHFS_SYNCS=0

crashfs_mount() {
	local backing=$1 mnt=$2 deadline=$((SECONDS + 10))
	shift 2
	[ -x "$PC_BIN/pc-crashfs" ] || fail "$PC_BIN/pc-crashfs not built"
	mkdir -p "$backing" "$mnt"
	CRASHFS_MNT=$mnt
	CRASHFS_LOG="$PC_TMP/crashfs.$(basename "$mnt").log"
	CRASHFS_CUTS=0 CRASHFS_SYNCS=0
	"$PC_BIN/pc-crashfs" -f "$@" "$backing" "$mnt" >>"$CRASHFS_LOG" 2>&1 &
	CRASHFS_PID=$!
	pc_on_exit "crashfs_cleanup $CRASHFS_PID $mnt"
	until grep -q " $mnt fuse" /proc/mounts; do
		kill -0 "$CRASHFS_PID" 2>/dev/null ||
			fail "pc-crashfs exited before mounting; log:
$(cat "$CRASHFS_LOG")"
		[ $SECONDS -lt $deadline ] || fail "pc-crashfs did not mount $mnt"
		sleep 0.05
	done
}

# crashfs_signal SIGNAL WHAT N: sends SIGNAL, waits for "pc-crashfs: WHAT N:".
crashfs_signal() {
	local deadline=$((SECONDS + 10))
	kill "-$1" "$CRASHFS_PID" || fail "pc-crashfs is not running"
	until grep -q "^pc-crashfs: $2 $3:" "$CRASHFS_LOG"; do
		[ $SECONDS -lt $deadline ] || fail "pc-crashfs: no '$2 $3' in 10 s"
		sleep 0.02
	done
}

crashfs_cut() {
	CRASHFS_CUTS=$((CRASHFS_CUTS + 1))
	crashfs_signal USR1 "power cut" "$CRASHFS_CUTS"
}

crashfs_sync() {
	CRASHFS_SYNCS=$((CRASHFS_SYNCS + 1))
	crashfs_signal USR2 sync "$CRASHFS_SYNCS"
}

crashfs_umount() {
	local _
	fusermount3 -u "$CRASHFS_MNT" || fail "cannot unmount $CRASHFS_MNT"
	for _ in $(seq 100); do
		kill -0 "$CRASHFS_PID" 2>/dev/null || break
		sleep 0.1
	done
	wait "$CRASHFS_PID" || fail "pc-crashfs exited with status $?"
}

# At exit: never leave a mount or a pc-crashfs behind.
crashfs_cleanup() {
	local pid=$1 mnt=$2 _
	if grep -q " $mnt fuse" /proc/mounts; then
		fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt"
	fi
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}
