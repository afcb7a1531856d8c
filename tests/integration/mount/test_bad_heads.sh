#!/usr/bin/env bash
# Bad heads are refused and the node keeps its version, with the reason in
# `status`: a wrong signature, an untrusted key, a lower version (also
# after a restart), an expired head, a truncated head.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir src
echo one >src/file
pc_publish src repo
echo two >src/file
pc_publish src repo
cp repo/head head.v2
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
assert_eq "two" "$(cat mnt/file)" "content of version 2"

# refuse HEAD_FILE NEEDLE WHAT: serve HEAD_FILE, refresh, expect refusal.
refuse() {
	cp "$1" repo/head
	expect_status 1 "$2" "$3: refresh" pc_ctl refresh
	status=$(pc_ctl status --json || true)
	assert_eq 2 "$(pc_json_get "$status" version)" "$3: version kept"
	assert_eq failing "$(pc_json_get "$status" status)" "$3: status"
	assert_contains "$(pc_json_get "$status" last_error)" "$2" "$3: last_error"
	assert_eq "two" "$(cat mnt/file)" "$3: content kept"
}

# A signed field changed after signing.
sed 's/^name test$/name tesT/' head.v2 >tampered
refuse tampered "signature does not verify" "tampered head"

# Signed by a key the node does not trust.
pc_keygen other
mkdir other_repo
"$PUBLISH" --key other --name test --no-progress src other_repo >/dev/null
refuse other_repo/head "untrusted key" "untrusted key"

# Cut short.
head -c 150 head.v2 >truncated
refuse truncated "truncated" "truncated head"

# An expired head: version 3, valid for one second.
cp head.v2 repo/head
echo three >src/file
pc_publish src repo --valid-for 1s
cp repo/head head.v3.expiring
cp head.v2 repo/head
sleep 2
refuse head.v3.expiring "expired" "expired head"

# An older version (rollback), before and after a restart.

echo old >src/file
rm -rf older && mkdir older
"$PUBLISH" --key key --name test --no-progress src older >/dev/null
cp -a older/chunks/. repo/chunks/
refuse older/head "lower than" "rollback"
pc_daemon_stop
cp head.v2 repo/head
pc_mount_repo
cp older/head repo/head
expect_status 1 "lower than" "rollback after restart" pc_ctl refresh
assert_eq "two" "$(cat mnt/file)" "content after restart"

# A good new head is still taken after all that.
echo four >src/file
cp head.v2 repo/head
pc_publish src repo
expect_status 0 "ok" "good head after refusals" pc_ctl refresh
assert_eq "four" "$(cat mnt/file)" "content of the good new version"
