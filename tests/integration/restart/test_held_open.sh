#!/usr/bin/env bash
# Files and directories held open keep reading after their version is no
# longer retained, across restarts and crashes.  A file (a.txt) and a
# directory (d/) are held open (hold_open.py) at version 1; versions 2 and
# 3 change a.txt and remove d/, so that version 1's inodes are dropped
# (only current and previous are kept); then the same descriptors read
# a.txt's version-1 bytes and list d/'s version-1 names: in the daemon
# that opened them, after `peercachectl restart`, after another version,
# after a kill -9 (the fd-store supervisor resumes the mount), and after
# two more versions.  A second file (c.txt) is opened at version 4 and
# not read again until versions 5 and 6, installed by the daemon resumed
# after the crash, have dropped it: that daemon never had it open, and
# keeps it because it was in a version retained at the crash.  Before,
# the next process could not open the kernel's handles again (the inode
# was in no retained version): EIO.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src/d
echo "version one of a" >src/a.txt
echo x >src/d/x.txt
echo y >src/d/y.txt
cp src/a.txt a1.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_supervised_start "$PC_TMP/mnt"
pc_hold first "$PC_TMP/mnt/a.txt=$PC_TMP/a1.txt" "$PC_TMP/mnt/d=x.txt,y.txt"
# publish_version N: the next version, installed by the daemon.
publish_version() {
	echo "version $1 of a" >src/a.txt
	echo "version $1 of c" >src/c.txt
	rm -rf src/d
	echo "$1" >"src/v$1.txt"
	pc_publish src repo
	pc_run pc_ctl refresh
	assert_eq 0 "$PC_RC" "refresh to version $1: $PC_OUT"
	assert_eq "version $1 of a" "$(cat mnt/a.txt)" "a.txt at version $1"
}

publish_version 2
publish_version 3
pc_held first "versions 1 and 2 dropped, the same daemon"
sleep 1.1
pc_restart
pc_held first "after a restart"
publish_version 4
pc_held first "after version 4, installed by the new daemon"
cp src/c.txt c4.txt
pc_hold second "$PC_TMP/mnt/c.txt=$PC_TMP/c4.txt"
pc_crash 2
publish_version 5
publish_version 6
pc_held second "c.txt of version 4 after a crash and versions 5 and 6"
pc_held first "after a crash and versions 5 and 6"
pc_hold_stop first
pc_hold_stop second
PC_DAEMON_PID=$(cat "$SV/pid")
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
pc_sanitizer_check
