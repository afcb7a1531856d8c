#!/usr/bin/env bash
# peercachectl rollback and unpin: rollback serves the previous version at
# once (through the kernel's caches: no drop_caches here) and holds it; a
# newer version on the mirror is seen but not installed while held; the
# hold survives a restart of the daemon; unpin returns to the newest
# version (the retained one, then what the mirror has).
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

# content FILE EXPECTED WHAT: the mount's FILE says EXPECTED.
content() {
	assert_eq "$2" "$(cat "mnt/$1" 2>&1)" "$3"
}

mkdir src
pc_random src/big.bin 2M
echo one >src/f.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
content f.txt one "version 1"

echo two >src/f.txt
echo new >src/new.txt
pc_publish src repo
expect_status 0 "ok: version 2" "refresh to version 2" pc_ctl refresh
content f.txt two "version 2"
content new.txt new "version 2: new file"
assert_file_same src/big.bin mnt/big.bin

# Rollback: version 1 at once, version 2 kept for unpin.
expect_status 0 "rolled back: version 1 is served and held" "rollback" pc_ctl rollback
content f.txt one "after rollback"
[ -e mnt/new.txt ] && fail "new.txt still visible after the rollback"
assert_file_same src/big.bin mnt/big.bin
json=$(pc_ctl status --json)
assert_eq 1 "$(pc_json_get "$json" version)" "status after rollback: version"
assert_eq True "$(pc_json_get "$json" held)" "status after rollback: held"
assert_eq 1 "$(pc_json_get "$json" held_version)" "status after rollback: held_version"
assert_eq 2 "$(pc_json_get "$json" available_version)" "status after rollback: available"
expect_status 1 "a version is held already" "rollback while held" pc_ctl rollback

# A newer version on the mirror is not installed while held.
echo three >src/f.txt
pc_publish src repo
expect_status 0 "ok: version 1" "refresh while held" pc_ctl refresh
content f.txt one "held through a refresh"
json=$(pc_ctl status --json)
assert_eq 3 "$(pc_json_get "$json" available_version)" "the version found while held"
expect_status 0 "held:        version 1 (peercachectl rollback); unpin returns to version 3" \
	"status while held" pc_ctl status
grep -q "head version 3 from .* not installed: version 1 is held" "$PC_DAEMON_LOG" ||
	fail "no log line for the held-back version; log:
$(cat "$PC_DAEMON_LOG")"

# The hold survives a restart (whose first poll sees version 3).
pc_daemon_stop
expect_status 1 "held:        version 1" "offline status shows the hold" pc_ctl status
pc_mount_repo
content f.txt one "held after a restart"
expect_status 0 "ok: version 1" "refresh after the restart" pc_ctl refresh
json=$(pc_ctl status --json)
assert_eq 1 "$(pc_json_get "$json" held_version)" "held after a restart"
assert_eq 1 "$(pc_json_get "$json" version)" "version after a restart"

# unpin: back to version 2, then the poll installs version 3.
json=$(pc_ctl unpin --json)
assert_eq ok "$(pc_json_get "$json" result)" "unpin result"
assert_eq 3 "$(pc_json_get "$json" version)" "unpin: the newest version"
assert_eq False "$(pc_json_get "$json" held)" "unpin: not held"
content f.txt three "after unpin"
content new.txt new "after unpin: new file back"

# Rollback again goes to version 2 (the previous of 3); unpin to 3.
expect_status 0 "rolled back: version 2" "rollback from 3" pc_ctl rollback
content f.txt two "rolled back to 2"
expect_status 0 "not held: version 3 is served" "unpin to 3" pc_ctl unpin
content f.txt three "back to 3"
json=$(pc_ctl status --json)
assert_eq False "$(pc_json_get "$json" held)" "not held at the end"
assert_eq 0 "$(pc_json_get "$json" available_version)" "nothing waiting at the end"
