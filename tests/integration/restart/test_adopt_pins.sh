#!/usr/bin/env bash
# The new process pins the chunks of the files the old one had open before
# its net starts: its first purge (5 s after start) must not take them.
# A 200 KB file is held open and a 17 MB file read after it (64 MiB
# quota); the restart comes with the quota lowered to 16 MiB in the
# configuration file, so the new process (peercache-next, which waits 7 s
# after its net started before it says SERVING) purges at once, least
# recently used first: the held file's chunk first, unless it is pinned
# (it is under a quarter of the new quota).  Before, the new process
# adopted the open files only after its net started: the purge took the
# held file's chunk, and reading it went to the mirror again.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src
pc_random src/held.bin 200K
pc_random src/other.bin 17M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
PEERCACHE="$PC_BIN/peercache-next"
export PEERCACHE_TEST_HOOKS="serve_delay_ms=7000"
printf '[peercache]\nquota = 64M\n' >peercache.conf
pc_mount_from_copy -c "$PC_TMP/peercache.conf"
unset PEERCACHE_TEST_HOOKS
exec 7<mnt/held.bin
cmp <(cat <&7) src/held.bin || fail "held.bin reads wrong"
sleep 1.1 # held.bin is the least recently used
cmp mnt/other.bin src/other.bin || fail "other.bin reads wrong"
printf '[peercache]\nquota = 16M\n' >peercache.conf
GETS=$(pc_nginx_count "GET /chunks/")
sleep 1.1
pc_restart
grep -q "test hook: serving in 7000 ms" "$PC_DAEMON_LOG" || fail "the new process did not wait"
# The new process's purge ran meanwhile; the held file's chunk is kept.
grep -q "total purged size" "$PC_DAEMON_LOG" || fail "the new process did not purge"
grep -q "size = 204800)" "$PC_DAEMON_LOG" &&
	fail "the held file's chunk was purged: $(grep purged "$PC_DAEMON_LOG")"
exec 8<mnt/held.bin # a second open reads it from the cache
cmp <(cat <&8) src/held.bin || fail "held.bin reads wrong after the restart"
exec 7<&- 8<&-
assert_eq "$GETS" "$(pc_nginx_count "GET /chunks/")" "chunk downloads after the restart"
grep purged "$PC_DAEMON_LOG" || echo "(nothing purged)"
pc_daemon_term
