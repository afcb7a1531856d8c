#!/usr/bin/env bash
# A daemon that serves one repository, whose configuration then gains a
# second [repository NAME] section (issue 14), under a stand-in for
# systemd (restart/fdstore_supervisor.py).  What was built for one mount
# meets a configuration of two:
#   1. `peercachectl restart` starts a new process, which reads two
#      sections and refuses the mount before READY ("restart hands over
#      one mount; the configuration now has 2 repositories: stop and
#      start the daemon"): the old daemon goes on serving, the client
#      hears that the restart failed;
#   2. SIGKILL: the next process gets the one stored mount from the fd
#      store, does not resume it (a daemon of several keeps nothing
#      there), unmounts it and mounts both repositories afresh: one mount
#      on each mount point, both read, nothing left in the fd store.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/restart.sh"
pc_setup

mkdir -p src-av src-engine www
echo "av definitions 1" >src-av/defs.txt
echo "engine 7" >src-engine/engine.txt
for r in av-defs:av engine:engine; do
	name=${r%%:*} dir=${r#*:}
	pc_keygen "$dir.key"
	pc_publish_as "$name" "$dir.key" "src-$dir" "www/$dir"
done
pc_nginx_start "$PC_TMP/www"

AV="$PC_TMP/srv/av-defs" ENGINE="$PC_TMP/srv/engine"
# section NAME DIR MNT
section() {
	printf '\n[repository %s]\nmount_point = %s\nmirror = %s/%s\ntrusted_key = %s\n' \
		"$1" "$3" "$NGINX_URL" "$2" "$PC_TMP/$2.key.pub"
}
host() {
	printf '[peercache]\ncache_dir = %s\npoll_interval = 1h\ndiscovery = off\npeer_server = off\n' \
		"$PC_TMP/cache"
}
{ host; section av-defs av "$AV"; } >peercache.conf

PC_DAEMON_MNT=$AV PC_DAEMON_CACHE="$PC_TMP/cache" PC_DAEMON_LOG="$PC_TMP/daemon.log"
SV="$PC_TMP/supervisor"
mkdir -p "$SV" "$PC_DAEMON_CACHE"
python3 "$PC_SRC/tests/integration/restart/fdstore_supervisor.py" "$SV" -- \
	"$PEERCACHE" -f -c "$PC_TMP/peercache.conf" >>"$PC_DAEMON_LOG" 2>&1 &
SUPERVISOR_PID=$!
unmount_both() {
	local mnt
	for mnt in "$AV" "$ENGINE"; do
		while pc_is_mounted "$mnt"; do
			fusermount3 -u -z "$mnt" 2>/dev/null || umount -l "$mnt" || break
		done
	done
}
pc_on_exit unmount_both
pc_on_exit 'pc_daemon_cleanup "$(cat "$SV/pid" 2>/dev/null || echo 0)" "$AV" "$PC_DAEMON_LOG"'
pc_on_exit "kill $SUPERVISOR_PID 2>/dev/null; wait $SUPERVISOR_PID 2>/dev/null || true"
pc_wait_for "the daemon did not mount" pc_is_mounted "$AV"
pc_wait_for "the daemon did not store its fds" pc_fds_stored
PC_DAEMON_PID=$(cat "$SV/pid")
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs, one repository"

# The configuration gains a section; the running daemon has not read it.
section engine engine "$ENGINE" >>peercache.conf

# --- 1. restart: the new process refuses, the old one goes on --------------------------
pc_run timeout 60 "$PEERCACHECTL" --cache-dir "$PC_DAEMON_CACHE" restart
[ "$PC_RC" != 0 ] || fail "a restart into two repositories succeeded: $PC_OUT"
grep -q "restart hands over one mount; the configuration now has 2 repositories: stop and start the daemon" \
	"$PC_DAEMON_LOG" || fail "the new process did not say why: $(tail -n 20 "$PC_DAEMON_LOG")"
kill -0 "$PC_DAEMON_PID" || fail "the old daemon is gone"
assert_eq "$PC_DAEMON_PID" "$(cat "$SV/pid")" "the main pid after a refused restart"
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs after a refused restart"
! pc_is_mounted "$ENGINE" || fail "engine mounted by a refused restart"

# --- 2. SIGKILL: the stored mount dropped, both mounted afresh --------------------------
kill -KILL "$PC_DAEMON_PID"
two_mounted() { pc_is_mounted "$ENGINE" && grep -q "^peercache: mounted on $ENGINE" "$PC_DAEMON_LOG"; }
pc_wait_for "the next daemon did not mount both" two_mounted
grep -q "^START pid=$(cat "$SV/pid") fds=peercache-fuse:peercache-state" "$SV/notify.log" ||
	fail "the next daemon did not get the stored mount: $(cat "$SV/notify.log")"
grep -q "this one serves 2 and does not resume it: mounting afresh" "$PC_DAEMON_LOG" ||
	fail "the next daemon did not say it drops the stored mount: $(tail -n 20 "$PC_DAEMON_LOG")"
grep -qx "REMOVED peercache-fuse" "$SV/notify.log" ||
	fail "the stored fds were not taken out of the store: $(cat "$SV/notify.log")"
for mnt in "$AV" "$ENGINE"; do
	assert_eq 1 "$(grep -c " $mnt fuse" /proc/mounts)" "mounts on $mnt"
done
assert_eq "av definitions 1" "$(cat "$AV/defs.txt")" "av-defs after the crash"
assert_eq "engine 7" "$(cat "$ENGINE/engine.txt")" "engine after the crash"

PC_DAEMON_PID=$(cat "$SV/pid")
kill -TERM "$PC_DAEMON_PID"
pc_wait_for "the supervisor did not end after a clean stop" eval '! kill -0 $SUPERVISOR_PID 2>/dev/null'
! pc_is_mounted "$AV" && ! pc_is_mounted "$ENGINE" || fail "a mount left after SIGTERM"
grep -q "EXIT status=0 clean=True" "$SV/notify.log" || fail "the daemon's exit was not clean"
pc_sanitizer_check
