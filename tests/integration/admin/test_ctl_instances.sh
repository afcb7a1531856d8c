#!/usr/bin/env bash
# peercachectl finds the daemons of its host by itself (tools/ctl/
# instances.c), with the real paths (/etc/peercache, /var/cache/peercache,
# /srv/peercache: overlays in a private mount namespace, lib/scratch.sh),
# and the instances run by the real unit (lib/units.sh):
#  - none: a message that says what to name (-i NAME, -c, --cache-dir);
#  - one (peercache@av-updates): plain `peercachectl status` uses it, as
#    do -i av-updates and -c /etc/peercache/av-updates.conf;
#  - two (the second with its own CACHE_DIR in engines.env): a plain
#    command lists both and exits 2; -i and -c pick each one; a stopped one
#    is read from its own cache (offline); -i of an unknown name lists them;
#  - `stats --json` carries the status word (up_to_date, offline).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/scratch.sh"
pc_scratch_isolate "$@"
. "$(dirname "$0")/../lib/repo.sh"
. "$(dirname "$0")/../lib/units.sh"
pc_setup
pc_scratch_overlay /etc /var/cache /srv

CTL="$PC_BIN/peercachectl"
BUILD_DIR=$(cd "$PC_BIN/.." && pwd)
PREFIX=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$BUILD_DIR/CMakeCache.txt")
# The build's units, naming the build's binaries.
PC_UNIT_DIR="$PC_TMP/units-dir"
mkdir -p "$PC_UNIT_DIR"
for unit in "$BUILD_DIR"/systemd/*.service "$BUILD_DIR"/systemd/*.timer; do
	sed "s#$PREFIX/bin/#$PC_BIN/#g" "$unit" >"$PC_UNIT_DIR/$(basename "$unit")"
done
systemd-tmpfiles --create "$PC_SRC/systemd/peercache.tmpfiles"

# --- no instance ------------------------------------------------------------
expect_status 1 "no peercache instance on this host" "status without instances" \
	"$CTL" status
assert_contains "$PC_OUT" "-i NAME" "status without instances"
assert_contains "$PC_OUT" "--cache-dir DIR" "status without instances"

# --- two repositories, published to file:// mirrors ------------------------------
install -d -m 0755 /etc/peercache
pc_keygen /etc/peercache/signing.key
for name in av-updates engines; do
	mkdir -p "src-$name"
	echo "$name 1" >"src-$name/VERSION"
	"$PUBLISH" --key /etc/peercache/signing.key --name "$name" --no-progress \
		"src-$name" "/srv/$name-repo" >/dev/null
	cat >"/etc/peercache/$name.conf" <<EOF
[peercache]
mirror = file:///srv/$name-repo
trusted_key = /etc/peercache/signing.key.pub
repository = $name
poll_interval = 1h
discovery = off
peer_server = off
EOF
done
mv /etc/peercache/engines.conf /etc/peercache/engines.conf.off

# --- one instance ----------------------------------------------------------------
pc_unit_start peercache@av-updates
for how in "" "-i av-updates" "-c /etc/peercache/av-updates.conf"; do
	# shellcheck disable=SC2086
	expect_status 0 "repository:  av-updates" "status $how (one instance)" \
		"$CTL" $how status
done
json=$("$CTL" stats --json)
assert_contains "$json" '{"status":"up_to_date",' "stats --json (one instance)"
python3 -c 'import json, sys; json.loads(sys.argv[1])' "$json" ||
	fail "stats --json is not JSON: $json"

# --- two instances, one with its own CACHE_DIR --------------------------------------
mv /etc/peercache/engines.conf.off /etc/peercache/engines.conf
echo "CACHE_DIR=/var/cache/engines-cache" >/etc/peercache/engines.env
pc_unit_start peercache@engines
[ -S /var/cache/engines-cache/control.sock ] ||
	fail "engines: no control socket in its CACHE_DIR: $(pc_unit_log peercache@engines)"
expect_status 2 "2 peercache instances on this host" "status with two instances" \
	"$CTL" status
assert_contains "$PC_OUT" "av-updates" "the list of instances"
assert_contains "$PC_OUT" "engines              /etc/peercache/engines.conf (cache /var/cache/engines-cache)" \
	"the list of instances"
assert_contains "$PC_OUT" "-i NAME" "status with two instances"
expect_status 0 "repository:  engines" "-i engines" "$CTL" -i engines status
expect_status 0 "repository:  engines" "-c engines.conf" \
	"$CTL" -c /etc/peercache/engines.conf status
expect_status 0 "repository:  av-updates" "-i av-updates" "$CTL" -i av-updates status
expect_status 2 "-i nope: no such instance" "-i of an unknown name" "$CTL" -i nope status
assert_contains "$PC_OUT" "engines" "-i of an unknown name lists the instances"
# check with -c asks the instance's own daemon for the discovery round.
expect_status 0 "discovery is off" "check -c engines.conf" \
	"$CTL" -c /etc/peercache/engines.conf check

# --- a stopped instance is read from its own cache ------------------------------------
pc_unit_stop peercache@engines
expect_status 1 "not running" "status of a stopped instance" "$CTL" -i engines status
assert_contains "$PC_OUT" "repository:  engines" "status of a stopped instance"
assert_contains "$PC_OUT" "/var/cache/engines-cache/control.sock" "status of a stopped instance"
json=$("$CTL" -i engines stats --json)
assert_contains "$json" '"status":"offline"' "stats --json of a stopped instance"
pc_unit_stop peercache@av-updates
echo "ok: none, one and two instances found; -i and -c pick them"
