#!/usr/bin/env bash
# Who may restart the daemon, and what it starts.  A restart starts a
# program as the daemon's user (root): only root (or that user) may ask
# for it, not control_group; the binary's path is absolute, fixed at
# start (a relative $PATH entry turns restarts off, and says why), and
# the file and every directory above it must be writable by nobody else.
# Each refusal says why, and the daemon serves on.  Before, a member of
# control_group could restart, and any path the daemon was started as was
# run, whoever could write to it.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup
chmod 0755 "$PC_TMP" # others may reach the control socket

mkdir -p src
echo small >src/small.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
NOBODY=$(id -u nobody)
NOGROUP=$(getent group nogroup | cut -d: -f3)

# refused NEEDLE WHAT [CTL PREFIX...]: the restart fails, says NEEDLE, and
# the same daemon serves on.
refused() {
	local needle=$1 what=$2
	shift 2
	expect_status 1 "$needle" "$what" "$@" "$PEERCACHECTL" --socket \
		"$PC_DAEMON_CACHE/control.sock" restart
	echo "$what: $PC_OUT"
	kill -0 "$PC_DAEMON_PID" || fail "$what: the daemon is gone"
	assert_eq small "$(cat mnt/small.txt)" "$what: a file read after it"
}

pc_mount_from_copy -o control_group=nogroup
sleep 1.1
refused "permission denied: restart is for root" "a member of control_group" \
	setpriv --reuid="$NOBODY" --regid="$NOGROUP" --clear-groups
chmod 0777 "$PC_TMP/bin"
refused "$PC_TMP/bin is writable by others (mode 0777)" "a directory anyone may write to"
chmod 0755 "$PC_TMP/bin"
chmod 0757 "$PC_TMP/bin/peercache"
refused "$PC_TMP/bin/peercache is writable by others" "a binary anyone may write to"
chmod 0755 "$PC_TMP/bin/peercache"
ln -s "$PC_TMP/bin/peercache" "$PC_TMP/bin/link"
mkdir -m 0777 "$PC_TMP/open"
mv "$PC_TMP/bin/peercache" "$PC_TMP/open/peercache"
ln -sfn "$PC_TMP/open/peercache" "$PC_TMP/bin/peercache"
refused "$PC_TMP/open is writable by others" "a link to a binary in a directory anyone may write to"
rm "$PC_TMP/bin/peercache"
mv "$PC_TMP/open/peercache" "$PC_TMP/bin/peercache"
pc_restart
echo "root, with the binary and its directories safe: pid $PC_DAEMON_PID serves"
pc_daemon_term

# A daemon found through a relative $PATH entry: restarts are off.
PEERCACHE=peercache
PATH="bin:$PATH" pc_mount_repo
grep -q "peercachectl restart will be refused: \$PATH has the relative entry 'bin'" "$PC_DAEMON_LOG" ||
	fail "no warning at start: $(cat "$PC_DAEMON_LOG")"
refused "relative entry 'bin'" "a daemon started through a relative \$PATH entry"
pc_daemon_stop
