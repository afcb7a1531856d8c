#!/usr/bin/env bash
# Takeovers that fail leave the old daemon serving, and the command says
# why.  The binary on disk is replaced by
#   1. a script that exits 1 at once: `peercachectl restart` exits 1 and
#      names the status; nothing was paused;
#   2. the real daemon with a cache_dir whose index it cannot open (a
#      file where the index directory goes; the mount's passthrough table
#      is there, a copy, as the adoption wants it): it takes the fd, the
#      state and the table, says it is ready, and fails once the old
#      daemon has stopped its net and closed its store; the old daemon
#      opens them again and serves the reads it had left to the new one
#      (queued again with FUSE_NOTIFY_RESEND).
# Through both, a reader of a cold file from a slow mirror gets every byte
# right and no error, the same daemon (pid and `started`) serves, and the
# mount is there at every 10 ms sample.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

pc_slow_repo 32M
pc_mount_from_copy
PID=$PC_DAEMON_PID
STARTED=$(pc_started)

# failed_restart NEEDLE WHAT: the restart fails, says NEEDLE, and the
# same daemon serves on.
failed_restart() {
	expect_status 1 "$1" "$2" "$PEERCACHECTL" --cache-dir "$PC_DAEMON_CACHE" restart
	echo "$2: $PC_OUT"
	kill -0 "$PID" || fail "$2: the daemon is gone"
	assert_eq "$STARTED" "$(pc_started)" "$2: when the serving daemon started"
	pc_is_mounted "$PC_TMP/mnt" || fail "$2: not mounted"
}

pc_sampler_start "$PC_TMP/mnt"
pc_reader_start "$PC_TMP/mnt/big.bin" src/big.bin
sleep 1

printf '#!/bin/sh\nexit 1\n' >exits.sh
pc_install_binary exits.sh
failed_restart "exited with status 1 before it was ready" "a binary that exits"

mkdir bad-cache
cp "$PC_DAEMON_CACHE"/passthrough.* bad-cache/ 2>/dev/null || true
echo "not an index" >bad-cache/index
printf '#!/bin/sh\nexec "%s" "$@" -o cache_dir=%s\n' \
	"$PC_BIN/peercache" "$PC_TMP/bad-cache" >no-cache.sh
pc_install_binary no-cache.sh
failed_restart "could not take over" "a daemon that fails after the handover began"
grep -q "this daemon goes on serving" "$PC_DAEMON_LOG" ||
	fail "the daemon did not log the failure"

pc_cold_check
pc_reader_stop
pc_sampler_stop
# The daemon still restarts once the binary is a daemon again.
pc_install_binary "$PC_BIN/peercache"
sleep 1.1
pc_restart
pc_daemon_term
