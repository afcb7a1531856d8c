#!/usr/bin/env bash
# systemctl reload of peercache@NAME.service (its ExecReload=, run as
# systemd runs it: lib/units.sh) restarts the daemon without unmount also
# when NAME.conf puts the control socket elsewhere (control_socket=).
# Before, the unit ran `peercachectl --cache-dir ${CACHE_DIR} restart`,
# which always asked CACHE_DIR/control.sock: the reload failed.  The real
# paths (/etc/peercache, /var/cache/peercache, /srv/peercache) are
# overlays in a private mount namespace (lib/scratch.sh).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/scratch.sh"
pc_scratch_isolate "$@"
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/units.sh"
pc_setup
pc_scratch_overlay /etc /var/cache /srv

BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
PC_UNIT_DIR="$PC_TMP/units-dir"
mkdir -p "$PC_UNIT_DIR"
for unit in "$BUILD_DIR"/systemd/*.service; do
	sed "s#$PREFIX/bin/#$PC_BIN/#g" "$unit" >"$PC_UNIT_DIR/$(basename "$unit")"
done

mkdir -p src
echo "version one" >src/defs.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
install -d -m 0755 /etc/peercache
cp "$PC_TMP/key.pub" /etc/peercache/signing.key.pub
mkdir -p "$PC_TMP/sockets"
cat >/etc/peercache/rl.conf <<EOF
[peercache]
mirror = $NGINX_URL
trusted_key = /etc/peercache/signing.key.pub
control_socket = $PC_TMP/sockets/rl.sock
poll_interval = 1h
discovery = off
peer_server = off
EOF
pc_unit_start peercache@rl
pc_on_exit 'pc_unit_stop peercache@rl'
MNT=/srv/peercache/rl
assert_eq "version one" "$(cat $MNT/defs.txt)" "a file of the mount"
[ -S "$PC_TMP/sockets/rl.sock" ] || fail "no control socket at control_socket="
OLD=$(pc_unit_pid peercache@rl)

exec 7<"$MNT/defs.txt"
sleep 1.1 # `started` counts seconds
pc_unit_reload peercache@rl
NEW=$(pc_unit_pid peercache@rl)
[ -n "$NEW" ] && [ "$NEW" != "$OLD" ] ||
	fail "no new main process after the reload (was $OLD, now '$NEW')"
pc_unit_log peercache@rl | grep -q "took the mount on $MNT over" ||
	fail "the new process did not take the mount over: $(pc_unit_log peercache@rl | tail -5)"
assert_eq "version one" "$(cat <&7)" "the file open across the reload"
exec 7<&-
pc_run "$PC_BIN/peercachectl" -i rl status
assert_eq 0 "$PC_RC" "peercachectl -i rl status after the reload: $PC_OUT"
echo "reload: pid $OLD handed the mount to pid $NEW"
