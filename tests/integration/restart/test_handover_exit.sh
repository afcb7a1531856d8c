#!/usr/bin/env bash
# A daemon that handed its mount over exits without libfuse's unmount
# path: no fuse_session_unmount() (nor a fuse_session_mount() to trick it)
# in the old process, whose calls libpc-unmount-spy.so records.  Before,
# it swapped its device fd for a pipe and called both, relying on what
# libfuse 3.14 happens to do (return early on POLLERR) not to unmount the
# mount the new process serves.  Two restarts; the mount stays, the file
# open across them reads right, and no sanitizer report (a leak included)
# is in the log.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
pc_random src/a.bin 200K
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
export PC_UNMOUNT_SPY_LOG="$PC_TMP/spy.log"
export LD_PRELOAD="$PC_BIN/libpc-unmount-spy.so"
# An ASan build wants its runtime first among the libraries.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
pc_mount_from_copy
unset LD_PRELOAD
grep -q "^$PC_DAEMON_PID mount " spy.log || fail "the spy saw no mount: $(cat spy.log 2>/dev/null)"
exec 7<mnt/a.bin
OLD=()
for i in 1 2; do
	sleep 1.1
	OLD+=("$PC_DAEMON_PID")
	pc_restart
	pc_is_mounted "$PC_DAEMON_MNT" || fail "restart $i: not mounted"
done
for pid in "${OLD[@]}"; do
	if grep "^$pid " spy.log | grep -v "^$pid mount $PC_DAEMON_MNT\$"; then
		fail "pid $pid called libfuse's mount or unmount after its handover: $(cat spy.log)"
	fi
done
cmp <(cat <&7) src/a.bin || fail "the file open across the restarts reads wrong"
exec 7<&-
pc_sanitizer_check
pc_daemon_term
echo "spy: $(tr '\n' ';' <spy.log)"
