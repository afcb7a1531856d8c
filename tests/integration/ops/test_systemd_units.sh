#!/usr/bin/env bash
# The systemd units as installed:
#  1. `systemd-analyze verify` accepts every unit without a word (and does
#     fail on a broken copy, so the check is real).  There is no systemd
#     running here: verify loads the units offline; it needs the binaries at
#     the ExecStart paths, so the build is installed into a DESTDIR and the
#     units' paths point into it.
#  2. peercache@.service keeps its FUSE mount visible to the host: none of
#     the settings that put a service in its own mount namespace; the
#     hardening that needs none is there.
#  3. The units' own command lines, run as systemd runs them (%i, the
#     environment files, "-" prefixes): the publisher unit publishes, the
#     node unit's daemon mounts and says READY=1 only once mounted, STATUS=
#     names the version (also after a switch), STOPPING=1 on SIGTERM, the
#     mount is gone after stop; after a SIGKILL, nothing in the unit takes
#     the mount away (systemd's fd store keeps it for the next process:
#     restart/test_crash.sh), and the restarted daemon clears a dead one.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/mount.sh"
pc_setup

BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
UNITDIR=$(sed -n 's/^PC_SYSTEMD_UNITDIR:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
[ -n "$PREFIX" ] && [ -n "$UNITDIR" ] ||
	fail "no install prefix or unit directory in $BUILD_DIR/CMakeCache.txt"
DEST="$PC_TMP/ops-units-root"
DESTDIR="$DEST" cmake --install "$BUILD_DIR" >install.log 2>&1 ||
	fail "cmake --install failed: $(cat install.log)"

# The installed units, with the binaries' paths pointing into $DEST.
UNITS="$PC_TMP/ops-units"
mkdir -p "$UNITS"
for unit in "$DEST$PREFIX/$UNITDIR"/*; do
	sed "s#$PREFIX/bin/#$DEST$PREFIX/bin/#g" "$unit" >"$UNITS/$(basename "$unit")"
done
ls "$UNITS/peercache@.service" "$UNITS/peercache-publish@.service" \
	"$UNITS/peercache-publish@.timer" >/dev/null ||
	fail "units missing from the install: $(ls "$UNITS")"

# --- 1. systemd-analyze verify ------------------------------------------------
# verify_units DIR: verifies an instance of every unit in DIR; succeeds only
# if systemd-analyze exits 0 and says nothing (it only warns, exit 0, about
# unknown keys and bad values).
verify_units() {
	local dir=$1 unit args=()
	for unit in "$dir"/*@.*; do
		unit=$(basename "$unit")
		args+=("$dir/${unit/@./@ops-test.}")
	done
	VERIFY_OUT=$(systemd-analyze verify --man=no "${args[@]}" 2>&1) &&
		[ -z "$VERIFY_OUT" ]
}
verify_units "$UNITS" ||
	fail "systemd-analyze verify complains about the installed units:
$VERIFY_OUT"

# A broken unit must fail the same check.
# breaks UNIT SED-EXPRESSION WHAT: a copy of the units with UNIT edited.
breaks() {
	local broken="$PC_TMP/ops-broken"
	rm -rf "$broken"
	cp -r "$UNITS" "$broken"
	sed -i "$2" "$broken/$1"
	! cmp -s "$UNITS/$1" "$broken/$1" ||
		fail "the edit '$2' ($3) changed nothing in $1"
	if verify_units "$broken"; then
		fail "systemd-analyze verify accepts a broken unit ($3)"
	fi
}
breaks "peercache@.service" 's/^Type=notify$/Type=notifyy/' "Type=notifyy"
breaks "peercache@.service" 's/^NoNewPrivileges=/NoNewPrivilege=/' "misspelt key"
breaks "peercache@.service" "s#$DEST$PREFIX/bin/peercache #$DEST/nonexistent/peercache #" \
	"ExecStart binary missing"
breaks "peercache-publish@.timer" 's/^OnCalendar=hourly$/OnCalendar=every hour/' \
	"bad calendar spec"
breaks "peercache-publish@.service" 's/^CapabilityBoundingSet=.*$/&\n[Bogus]/' \
	"unknown section"

# --- 2. the mount stays visible, and the hardening that allows it -------------
NODE_UNIT="$UNITS/peercache@.service"
# Each of these runs the service in its own mount namespace, whose mounts
# do not propagate back: the FUSE mount would be invisible outside it.
for key in ProtectSystem ProtectHome PrivateTmp PrivateDevices PrivateMounts \
	PrivateNetwork PrivateIPC PrivateUsers ReadWritePaths ReadOnlyPaths \
	InaccessiblePaths ExecPaths NoExecPaths BindPaths BindReadOnlyPaths \
	TemporaryFileSystem RootDirectory RootImage MountImages ExtensionImages \
	ExtensionDirectories ProtectKernelTunables ProtectKernelModules \
	ProtectKernelLogs ProtectControlGroups ProtectProc ProcSubset MountFlags \
	DynamicUser LogNamespace NetworkNamespacePath IPCNamespacePath; do
	if grep -nE "^$key=" "$NODE_UNIT" >found.txt; then
		fail "peercache@.service sets $key (a private mount namespace hides the FUSE mount from the host): $(cat found.txt)"
	fi
done
for line in "Type=notify" "Restart=on-failure" "NoNewPrivileges=yes" \
	"CapabilityBoundingSet=CAP_SYS_ADMIN CAP_CHOWN" "DevicePolicy=closed" \
	"DeviceAllow=/dev/fuse rw" "SystemCallFilter=@system-service @mount" \
	"RestrictNamespaces=yes" "Environment=MOUNTPOINT=/srv/peercache/%i" \
	"Environment=CACHE_DIR=/var/cache/peercache/%i" \
	"EnvironmentFile=-/etc/peercache/%i.env" "NotifyAccess=main" \
	"ExecReload=$DEST$PREFIX/bin/peercachectl -i %i restart" \
	"FileDescriptorStoreMax=4"; do
	grep -qxF "$line" "$NODE_UNIT" || fail "peercache@.service lacks '$line'"
done
# The exposure score systemd computes from the unit (offline; lower is
# better).  A bound, so that hardening cannot quietly go.
exposure() {
	systemd-analyze security --offline=yes "$1" 2>/dev/null |
		sed -nE 's/^.*Overall exposure level for [^:]*: ([0-9.]+) .*$/\1/p'
}
node_exposure=$(exposure "$UNITS/peercache@ops-test.service")
publish_exposure=$(exposure "$UNITS/peercache-publish@ops-test.service")
[ -n "$node_exposure" ] && [ -n "$publish_exposure" ] ||
	fail "systemd-analyze security gave no exposure score"
echo "exposure: peercache@ $node_exposure, peercache-publish@ $publish_exposure"
awk -v n="$node_exposure" -v p="$publish_exposure" 'BEGIN { exit !(n <= 5.0 && p <= 2.5) }' ||
	fail "exposure above its bound (peercache@ $node_exposure > 5.0 or peercache-publish@ $publish_exposure > 2.5)"

# --- 3. the units' command lines, run as systemd would --------------------------
INSTANCE=ops-test
ETC="$PC_TMP/ops-etc" # stands for /etc/peercache
mkdir -p "$ETC"

# unit_lines UNIT KEY: the values of KEY= in UNIT, one a line.
unit_lines() {
	sed -n "s/^$2=//p" "$1"
}

# load_env FILE: the assignments of an environment file into this shell
# (exported: the daemon sees them as systemd's Environment= would give).
load_env() {
	local name value
	while IFS='=' read -r name value; do
		case "$name" in '' | '#'*) continue ;; esac
		export "$name=$value"
	done <"$1"
}

# expand LINE: a unit command line as systemd runs it, into CMD (an array):
# %i is the instance, /etc/peercache/ is $ETC, "${VAR}" anywhere in a word
# is the variable's value, a word "$VAR" is the value split at spaces.
# CMD_IGNORE is set if the line starts with "-" (failure ignored).
expand() {
	local line=$1 word name
	CMD=()
	CMD_IGNORE=false
	line=${line//%i/$INSTANCE}
	line=${line//\/etc\/peercache\//$ETC/}
	if [ "${line:0:1}" = "-" ]; then
		CMD_IGNORE=true
		line=${line:1}
	fi
	set -f # split on spaces, never globbed
	# shellcheck disable=SC2086
	set -- $line
	set +f
	for word in "$@"; do
		if [[ "$word" =~ ^\$([A-Za-z_][A-Za-z0-9_]*)$ ]]; then
			name=${BASH_REMATCH[1]}
			# shellcheck disable=SC2206
			CMD+=(${!name:-})
			continue
		fi
		while [[ "$word" =~ \$\{([A-Za-z_][A-Za-z0-9_]*)\} ]]; do
			name=${BASH_REMATCH[1]}
			word=${word//\$\{$name\}/${!name:-}}
		done
		CMD+=("$word")
	done
}

# run_lines UNIT KEY: runs every KEY= command of UNIT in order, as
# ExecStartPre=/ExecStopPost= run (a failure stops them unless "-").
run_lines() {
	local line
	while IFS= read -r line; do
		expand "$line"
		if ! "${CMD[@]}" >>"$PC_TMP/ops-unit-commands.log" 2>&1; then
			$CMD_IGNORE || fail "$2 failed: ${CMD[*]}:
$(cat "$PC_TMP/ops-unit-commands.log")"
		fi
	done < <(unit_lines "$1" "$2")
}

# wait_until MESSAGE TEST...: until `[ TEST... ]` holds (5 s), or fail.
wait_until() {
	local message=$1
	shift
	for _ in $(seq 100); do
		[ "$@" ] && return 0
		sleep 0.05
	done
	fail "$message"
}

# The helpers below are python3 processes of this test, ended at exit.
stop_helper() {
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null || true
}

# The mirror host: peercache-publish@ops-test.service publishes twice.
PUBLISH_UNIT="$UNITS/peercache-publish@.service"
"$PC_BIN/peercache-publish" keygen "$ETC/signing.key" >/dev/null
mkdir -p src
echo "version one" >src/defs.txt
cat >"$ETC/publish-$INSTANCE.env" <<EOF
SOURCE=$PC_TMP/src
REPO=$PC_TMP/ops-repo
KEY=$ETC/signing.key
NAME=av-updates
OPTIONS=--keep 3 --valid-for 2d
EOF
publish() {
	(
		# A fresh environment per run, as systemd gives each start.
		unset SOURCE REPO KEY NAME OPTIONS
		while IFS= read -r line; do
			export "${line%%=*}=${line#*=}"
		done < <(unit_lines "$PUBLISH_UNIT" Environment)
		load_env "$ETC/publish-$INSTANCE.env"
		[ "$(unit_lines "$PUBLISH_UNIT" ExecStart | wc -l)" = 1 ] ||
			fail "peercache-publish@.service: not one ExecStart"
		expand "$(unit_lines "$PUBLISH_UNIT" ExecStart)"
		"${CMD[@]}" >>"$PC_TMP/ops-publish.log" 2>&1 ||
			fail "the publish unit's command failed: ${CMD[*]}:
$(cat "$PC_TMP/ops-publish.log")"
	)
}
publish
[ -f ops-repo/head ] || fail "the publish unit's command published no head"
grep -q '^version 1$' ops-repo/head || fail "first publish is not version 1: $(cat ops-repo/head)"

# A first mirror that accepts connections and never answers: every poll
# and download spends low_speed_time (1 s) on it before the good mirror.
# So a fresh node mounts a second after it starts, and a READY=1 sent
# before the mount (at start-up, say) is caught below.
python3 - "$PC_TMP/ops-stall.port" <<'PY' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
held = []
s.settimeout(1)
deadline = time.time() + 120
while time.time() < deadline:
    try:
        held.append(s.accept()[0])
    except socket.timeout:
        pass
PY
pc_on_exit "stop_helper $!"
wait_until "the stalling mirror did not start" -s "$PC_TMP/ops-stall.port"
STALL_PORT=$(cat "$PC_TMP/ops-stall.port")

# The node: /etc/peercache/ops-test.conf and ops-test.env.
NODE_MNT="$PC_TMP/ops-mnt"
NODE_CACHE="$PC_TMP/ops-cache"
cat >"$ETC/$INSTANCE.conf" <<EOF
[peercache]
mirror = http://127.0.0.1:$STALL_PORT/repo
mirror = file://$PC_TMP/ops-repo
low_speed_time = 1s
fetch_timeout = 20s
trusted_key = $ETC/signing.key.pub
poll_interval = 1h
# no LAN services in a test: other tests may use the default ports
discovery = off
peer_server = off
EOF
cat >"$ETC/$INSTANCE.env" <<EOF
MOUNTPOINT=$NODE_MNT
CACHE_DIR=$NODE_CACHE
EOF

# systemd's end of the notification socket: records every datagram, and
# whether the mount was there when READY=1 arrived.
NOTIFY_SOCKET_PATH="$PC_TMP/ops-notify.sock"
NOTIFY_LOG="$PC_TMP/ops-notify.log"
python3 - "$NOTIFY_SOCKET_PATH" "$NOTIFY_LOG" "$NODE_MNT" <<'PY' &
import socket, sys
path, log, mnt = sys.argv[1:4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(120)
with open(log, "a", buffering=1) as out:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        for line in msg.splitlines():
            out.write(line + "\n")
            if line == "READY=1":
                with open("/proc/mounts") as m:
                    mounted = any(l.split()[1] == mnt and l.split()[2].startswith("fuse")
                                  for l in m)
                out.write("MOUNTED_AT_READY=%s\n" % ("yes" if mounted else "no"))
PY
pc_on_exit "stop_helper $!"
wait_until "the notification listener did not start" -S "$NOTIFY_SOCKET_PATH"

# wait_notify TEXT: waits (30 s) until the daemon sent a line containing TEXT.
wait_notify() {
	local deadline=$((SECONDS + 30))
	until grep -qF -- "$1" "$NOTIFY_LOG" 2>/dev/null; do
		[ $SECONDS -lt $deadline ] || fail "no '$1' from the daemon; it sent:
$(cat "$NOTIFY_LOG" 2>/dev/null)
log:
$(cat "$PC_TMP/ops-daemon.log")"
		sleep 0.05
	done
}

# start_node: ExecStartPre=, then ExecStart= in the background (as
# Type=notify, it is "started" at READY=1), in the unit's environment.
DAEMON_PID=""
start_node() {
	: >"$NOTIFY_LOG"
	unset MOUNTPOINT CACHE_DIR
	while IFS= read -r line; do
		export "${line%%=*}=${line#*=}"
	done < <(unit_lines "$NODE_UNIT" Environment)
	export MOUNTPOINT=${MOUNTPOINT//%i/$INSTANCE}
	export CACHE_DIR=${CACHE_DIR//%i/$INSTANCE}
	# EnvironmentFile=-/etc/peercache/%i.env
	unit_lines "$NODE_UNIT" EnvironmentFile | grep -qxF -- "-/etc/peercache/%i.env" ||
		fail "peercache@.service does not read /etc/peercache/%i.env"
	load_env "$ETC/$INSTANCE.env"
	run_lines "$NODE_UNIT" ExecStartPre
	[ "$(unit_lines "$NODE_UNIT" ExecStart | wc -l)" = 1 ] ||
		fail "peercache@.service: not one ExecStart"
	expand "$(unit_lines "$NODE_UNIT" ExecStart)"
	NOTIFY_SOCKET="$NOTIFY_SOCKET_PATH" "${CMD[@]}" >>"$PC_TMP/ops-daemon.log" 2>&1 &
	DAEMON_PID=$!
	wait_notify "READY=1"
	kill -0 "$DAEMON_PID" 2>/dev/null || fail "the daemon exited after READY=1"
}

# At exit: the daemon if it still runs (only while DAEMON_PID is ours: it
# is cleared once waited for), and never a mount left behind.
stop_node_at_exit() {
	if [ -n "$DAEMON_PID" ]; then
		pc_daemon_cleanup "$DAEMON_PID" "$NODE_MNT" "$PC_TMP/ops-daemon.log"
	elif pc_is_mounted "$NODE_MNT"; then
		fusermount3 -u -z "$NODE_MNT" 2>/dev/null || umount -l "$NODE_MNT"
	fi
}
pc_on_exit stop_node_at_exit

# stop_node SIGNAL: sends it and reaps the daemon; its status in $STATUS.
stop_node() {
	kill "-$1" "$DAEMON_PID"
	timeout 30 tail --pid="$DAEMON_PID" -f /dev/null ||
		fail "peercache did not exit on SIG$1"
	STATUS=0
	wait "$DAEMON_PID" 2>/dev/null || STATUS=$?
	DAEMON_PID=""
}

start_node
grep -qxF "MOUNTED_AT_READY=yes" "$NOTIFY_LOG" ||
	fail "READY=1 came before the mount was there: $(cat "$NOTIFY_LOG")"
assert_eq "version one" "$(cat "$NODE_MNT/defs.txt")" "a file read through the unit's mount"
wait_notify "STATUS=serving av-updates version 1 on $NODE_MNT"
[ -S "$NODE_CACHE/control.sock" ] || fail "no control socket in CACHE_DIR ($NODE_CACHE)"

# A new version: STATUS= follows the switch.
echo "version two" >src/defs.txt
publish
pc_run "$PC_BIN/peercachectl" --cache-dir "$NODE_CACHE" refresh
assert_eq 0 "$PC_RC" "peercachectl refresh: $PC_OUT"
wait_notify "STATUS=serving av-updates version 2 on $NODE_MNT"
assert_eq "version two" "$(cat "$NODE_MNT/defs.txt")" "the file after the switch"

# systemctl stop: SIGTERM, then ExecStopPost=.
stop_node TERM
assert_eq 0 "$STATUS" "the daemon's exit status on SIGTERM"
wait_notify "STOPPING=1"
run_lines "$NODE_UNIT" ExecStopPost
pc_is_mounted "$NODE_MNT" && fail "$NODE_MNT still mounted after stop"

# A crash (SIGKILL): the mount stays (with systemd it stays alive in the
# fd store for the next process: restart/test_crash.sh; this listener
# keeps no fds, so it is dead), no ExecStopPost takes it away, and the
# restarted daemon clears it.
start_node
stop_node KILL
pc_is_mounted "$NODE_MNT" || fail "expected the dead mount to remain after SIGKILL"
run_lines "$NODE_UNIT" ExecStopPost
pc_is_mounted "$NODE_MNT" || fail "ExecStopPost took the mount of a killed daemon away"
start_node
grep -q "cleared the dead mount of an earlier peercache on $NODE_MNT" "$PC_TMP/ops-daemon.log" ||
	fail "the restarted daemon did not clear the dead mount"
assert_eq "version two" "$(cat "$NODE_MNT/defs.txt")" "a file after the restart"
stop_node TERM
assert_eq 0 "$STATUS" "the restarted daemon's exit status on SIGTERM"
run_lines "$NODE_UNIT" ExecStopPost
pc_is_mounted "$NODE_MNT" && fail "$NODE_MNT still mounted after the last stop"
if grep -qE 'Sanitizer|runtime error' "$PC_TMP/ops-daemon.log"; then
	fail "sanitizer report in the daemon's log:
$(grep -E -A40 'ERROR: [A-Za-z]+Sanitizer|runtime error' "$PC_TMP/ops-daemon.log" | head -80)"
fi
echo "ok: units verified; the node unit mounted, notified, switched, stopped and recovered"
