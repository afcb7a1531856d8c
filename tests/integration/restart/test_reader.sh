#!/usr/bin/env bash
# Restart without unmount under a reader.  One process holds a file open
# and reads it whole again and again through a cold cache (the file is
# larger than the quota) from a slow mirror, so fetches are in flight and
# reads parked whenever the daemon restarts.  Meanwhile `peercachectl
# restart`, five times in a row: each time a new daemon serves (another
# pid, another `started` in `status --json`), the mirror was busy since
# the restart before, the reader gets every byte right and no error, and
# `mountpoint -q` holds at every 10 ms sample.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

# The cold pass takes about 16 s, the restarts about half that.
pc_slow_repo 32M
pc_mount_slow

pc_restarts_under_reader 5 "$PC_TMP/mnt/big.bin" src/big.bin
assert_eq "small" "$(cat mnt/small.txt)" "a file opened after the restarts"
pc_daemon_term
