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

mkdir src
pc_random src/big.bin 32M
echo "small" >src/small.txt
pc_publish src repo
# 1 MB/s per connection and two fetches at a time: the cold pass takes
# about 16 s, the restarts about half that.
pc_nginx_start "$PC_TMP/repo" "limit_rate 1m;"
pc_mount_repo -o max_fetches=2 -o prefetch=2
pc_restart_track

pc_sampler_start "$PC_TMP/mnt"
pc_reader_start "$PC_TMP/mnt/big.bin" src/big.bin
pc_restart_series 5
pc_cold_check
pc_reader_stop
pc_sampler_stop
assert_eq "small" "$(cat mnt/small.txt)" "a file opened after the restarts"
grep -n "restart failed" "$PC_DAEMON_LOG" && fail "a restart failed"
pc_daemon_term
