#!/usr/bin/env bash
# Who may use the control socket: root only by default (mode 0600); with
# control_group, that group too (mode 0660, group-owned), as primary or
# supplementary group.  Anyone else is refused, also when the socket's
# mode was loosened: the daemon checks the caller's credentials and
# answers with one error line.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup
chmod 0755 "$PC_TMP" # others may reach the socket's directory

CTL="$PC_BIN/peercachectl"
NOBODY=$(id -u nobody)
NOGROUP=$(getent group nogroup | cut -d: -f3)
[ -n "$NOBODY" ] && [ -n "$NOGROUP" ] || fail "no nobody user or nogroup group"
OTHER_GID=1 # "daemon" on Debian: neither root nor nogroup

# as UID GID GROUPS COMMAND...: COMMAND with those credentials only.
as() {
	local uid=$1 gid=$2 groups=$3
	shift 3
	if [ -n "$groups" ]; then
		setpriv --reuid="$uid" --regid="$gid" --groups="$groups" "$@"
	else
		setpriv --reuid="$uid" --regid="$gid" --clear-groups "$@"
	fi
}

mkdir src
echo hello >src/f.txt
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"

pc_mount_repo
SOCK="$PC_TMP/cache/control.sock"
assert_eq "600 root" "$(stat -c '%a %U' "$SOCK")" "default mode and owner"
expect_status 0 "up_to_date" "root" pc_ctl status
expect_status 1 "Permission denied" "nobody, mode 0600" \
	as "$NOBODY" "$NOGROUP" "" "$CTL" --socket "$SOCK" status

# A loosened mode does not let others in: the credentials are checked.
chmod 0666 "$SOCK"
expect_status 1 "permission denied: uid $NOBODY is not root" "nobody, mode 0666" \
	as "$NOBODY" "$NOGROUP" "" "$CTL" --socket "$SOCK" status
expect_status 1 "permission denied" "nobody asking for a purge" \
	as "$NOBODY" "$NOGROUP" "" "$CTL" --socket "$SOCK" purge --all
grep -q "control socket: permission denied: uid $NOBODY" "$PC_DAEMON_LOG" ||
	fail "the refusal is not logged; log:
$(cat "$PC_DAEMON_LOG")"
expect_status 0 "up_to_date" "root still served" pc_ctl status
pc_daemon_stop

# control_group: its members are served, others are not.
pc_mount_repo -o control_group=nogroup
assert_eq "660 root nogroup" "$(stat -c '%a %U %G' "$SOCK")" "control_group mode and group"
expect_status 0 "status:      up_to_date" "a member (primary group)" \
	as "$NOBODY" "$NOGROUP" "" "$CTL" --socket "$SOCK" status
json=$(as "$NOBODY" "$OTHER_GID" "$NOGROUP" "$CTL" --socket "$SOCK" stats --json) ||
	fail "a member (supplementary group) was refused"
pc_json_get "$json" hits >/dev/null
expect_status 1 "Permission denied" "not a member, mode 0660" \
	as "$NOBODY" "$OTHER_GID" "" "$CTL" --socket "$SOCK" status
chmod 0666 "$SOCK"
expect_status 1 "is not root nor in control_group" "not a member, mode 0666" \
	as "$NOBODY" "$OTHER_GID" "" "$CTL" --socket "$SOCK" status
expect_status 0 "up_to_date" "root with control_group" pc_ctl status
pc_daemon_stop

# An unknown group: the daemon does not start.
pc_run "$PEERCACHE" -f -o cache_dir="$PC_TMP/cache" -o mirror="$NGINX_URL" \
	-o trusted_key="$PC_TMP/key.pub" -o discovery=off -o peer_server=off \
	-o control_group=ops-ctl-no-such-group "$PC_TMP/mnt"
[ "$PC_RC" != 0 ] || fail "started with an unknown control_group"
assert_contains "$PC_OUT" "control_group 'ops-ctl-no-such-group': no such group" "unknown group named"
pc_is_mounted "$PC_TMP/mnt" && fail "mounted with an unknown control_group"
true
