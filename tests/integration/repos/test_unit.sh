#!/usr/bin/env bash
# peercache@NAME.service (run as systemd runs it: lib/units.sh) serving
# two repositories in one instance, as docs/ADMIN.md says ("Several
# repositories on one host"): NAME.conf with a [repository NAME] section
# each, MOUNTPOINT= (empty) in NAME.env.  The unit starts (READY=1 once
# both serve), its status line names both, both mounts read; the reload's
# command (peercachectl -i NAME restart) is refused with the reason and
# both go on; a stop unmounts both.  The real paths are overlays in a
# private mount namespace (lib/scratch.sh).
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

mkdir -p src-av src-engine www
echo "av definitions 1" >src-av/defs.txt
echo "engine 7" >src-engine/engine.txt
install -d -m 0755 /etc/peercache
for r in av-updates:src-av engines:src-engine; do
	name=${r%%:*}
	pc_keygen "/etc/peercache/$name.key"
	pc_publish_as "$name" "/etc/peercache/$name.key" "${r#*:}" "www/$name"
done
pc_nginx_start "$PC_TMP/www"
cat >/etc/peercache/host.conf <<EOF
[peercache]
poll_interval = 1h
discovery = off
peer_server = off

[repository av-updates]
mount_point = /srv/peercache/av-updates
mirror = $NGINX_URL/av-updates
trusted_key = /etc/peercache/av-updates.key.pub

[repository engines]
mount_point = /srv/peercache/engines
mirror = $NGINX_URL/engines
trusted_key = /etc/peercache/engines.key.pub
EOF
echo 'MOUNTPOINT=' >/etc/peercache/host.env

pc_unit_start peercache@host
pc_on_exit 'pc_unit_stop peercache@host'
assert_eq "av definitions 1" "$(cat /srv/peercache/av-updates/defs.txt)" "av-updates through the unit"
assert_eq "engine 7" "$(cat /srv/peercache/engines/engine.txt)" "engines through the unit"
status=$(pc_unit_status peercache@host)
assert_contains "$status" "serving 2 repositories: av-updates version 1 on /srv/peercache/av-updates; engines version 1 on /srv/peercache/engines" "the unit's status"

# The reload's command, as ExecReload= runs it.
pid=$(pc_unit_pid peercache@host)
pc_run "$PC_BIN/peercachectl" -i host restart
[ "$PC_RC" != 0 ] || fail "systemctl reload of two repositories succeeded: $PC_OUT"
assert_contains "$PC_OUT" "restart hands over one mount; this daemon serves 2 repositories: stop and start it" "the reload"
assert_eq "$pid" "$(pc_unit_pid peercache@host)" "the main process after a refused reload"
assert_eq "engine 7" "$(cat /srv/peercache/engines/engine.txt)" "engines after a refused reload"

pc_unit_stop peercache@host
for mnt in /srv/peercache/av-updates /srv/peercache/engines; do
	! pc_is_mounted "$mnt" || fail "$mnt still mounted after the unit stopped"
done
