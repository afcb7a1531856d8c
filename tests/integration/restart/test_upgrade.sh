#!/usr/bin/env bash
# An upgrade without unmount: the binary the daemon was started as is
# replaced on disk (renamed over, as a package manager does) by a build
# that says it is another version, then `peercachectl restart`; and back,
# five times, under a reader of a cold file from a slow mirror, as in
# test_reader.sh.  Each
# time the version now on disk serves (the restart's answer and the new
# process's executable say so), every byte read is right, no read fails
# and the mount is there at every 10 ms sample.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

OLD_VERSION=$("$PC_BIN/peercache" --version | cut -d' ' -f2)
NEW_VERSION=$("$PC_BIN/peercache-next" --version | cut -d' ' -f2)
[ "$OLD_VERSION" != "$NEW_VERSION" ] ||
	fail "peercache-next says it is $NEW_VERSION too"
pc_slow_repo 32M
pc_mount_from_copy
before_restart() {
	if [ $(($1 % 2)) = 1 ]; then
		pc_install_binary "$PC_BIN/peercache-next"
		EXPECTED=$NEW_VERSION
	else
		pc_install_binary "$PC_BIN/peercache"
		EXPECTED=$OLD_VERSION
	fi
	assert_eq "peercache $EXPECTED" "$(bin/peercache --version)" "the binary on disk"
}
after_restart() {
	assert_eq "$EXPECTED" "$RESTART_VERSION" "the version serving after restart $1"
	assert_eq "$PC_TMP/bin/peercache" "$(readlink "/proc/$PC_DAEMON_PID/exe")" \
		"the executable of the daemon after restart $1"
}

pc_restarts_under_reader 5 "$PC_TMP/mnt/big.bin" src/big.bin
pc_daemon_term
