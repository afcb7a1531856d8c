#!/usr/bin/env bash
# `peercachectl -c CONF check` with a file:// mirror whose directory does
# not exist: the mirror's read step FAILED, and exit status 6 (no mirror
# serves a valid head; docs/peercachectl.md), also with --json
# ("result":"no_mirror").  Beside it, a file:// mirror that exists: exit 0.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup

pc_keygen "$PC_TMP/key"
mkdir src
echo one >src/file
"$PUBLISH" --key "$PC_TMP/key" --name test --no-progress src repo >/dev/null
conf() {
	cat >"$PC_TMP/$1.conf" <<EOF2
[peercache]
mirror = $2
trusted_key = $PC_TMP/key.pub
discovery = off
cache_dir = $PC_TMP/cache
EOF2
}
conf good "file://$PC_TMP/repo"
conf missing "file://$PC_TMP/no/such/dir"

expect_status 0 "0 steps failed; 1 mirror serves a valid head" "check of a present file:// mirror" \
	"$PC_BIN/peercachectl" -c "$PC_TMP/good.conf" check
expect_status 6 "0 mirrors serve a valid head" "check of a missing file:// mirror" \
	"$PC_BIN/peercachectl" -c "$PC_TMP/missing.conf" check
assert_contains "$PC_OUT" "FAILED  GET file://$PC_TMP/no/such/dir/head: Couldn't open file" \
	"the failed step"
expect_status 6 '"result":"no_mirror"' "check --json of a missing file:// mirror" \
	"$PC_BIN/peercachectl" -c "$PC_TMP/missing.conf" check --json
echo "ok: a missing file:// mirror fails check with exit 6"
