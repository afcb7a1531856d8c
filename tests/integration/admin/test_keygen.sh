#!/usr/bin/env bash
# `peercache-publish keygen` into a directory that does not exist (the
# guide's first command on a fresh host, before /etc/peercache exists)
# fails with a message that names the missing directory and how to make
# it, and writes nothing; once it exists, keygen writes KEY (0600) and
# KEY.pub (0644), the name nodes trust.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup

expect_status 1 "the directory $PC_TMP/etc/peercache does not exist" \
	"keygen into a missing directory" "$PUBLISH" keygen "$PC_TMP/etc/peercache/signing.key"
assert_contains "$PC_OUT" "install -d -m 0755 $PC_TMP/etc/peercache" "keygen's hint"
[ ! -e "$PC_TMP/etc" ] || fail "keygen created something: $(find "$PC_TMP/etc")"
install -d -m 0755 "$PC_TMP/etc/peercache"
expect_status 0 "signing.key.pub (give it to nodes as trusted_key)" "keygen" \
	"$PUBLISH" keygen "$PC_TMP/etc/peercache/signing.key"
assert_eq "600 644" "$(stat -c %a "$PC_TMP/etc/peercache/signing.key") $(stat -c %a "$PC_TMP/etc/peercache/signing.key.pub")" \
	"modes of the key files"
echo "ok: keygen names a missing directory"
