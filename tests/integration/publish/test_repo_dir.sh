#!/bin/bash
# Where REPO_DIR may be.  Inside SOURCE_DIR it is refused, with a message
# that says so, before anything is made (issue 10 item 15: the repository
# was published into itself): directly, under parents still to be made,
# SOURCE_DIR itself, through a symlink, or with SOURCE_DIR named through a
# symlink.  "src/../elsewhere" is not inside.  And REPO_DIR is made with
# its parents, as mkdir -p does (issue 14 item 13).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup
pc_keygen key
mkdir -p src/sub
echo "definitions" >src/defs.txt
echo "engine" >src/sub/engine.bin
ln -s src/sub into-src
ln -s src src-link
find src | sort >tree.before

# publish SOURCE REPO: runs the publisher ($PC_RC, $PC_OUT).
publish() {
	pc_run "$PUBLISH" --key key --name where --no-progress "$1" "$2"
}

# refused SOURCE REPO: the publisher refuses, says why, and the source
# tree is as it was.
refused() {
	publish "$1" "$2"
	assert_eq 1 "$PC_RC" "exit status for REPO_DIR $2 ($PC_OUT)"
	assert_contains "$PC_OUT" \
		"error: REPO_DIR $2 is inside SOURCE_DIR $1: the repository would be published into itself" \
		"REPO_DIR $2"
	find src | sort | cmp -s - tree.before ||
		fail "REPO_DIR $2: the source tree changed: $(find src | sort)"
}

refused src src/repo
refused src src/new/parents/repo
refused src src
refused src src/sub/../sub
refused src into-src/repo
refused src-link src/repo
refused src/ "$PC_TMP/src/sub"
# An existing repository inside the source is refused too, untouched.
"$PUBLISH" --key key --name where --no-progress src/sub outside >/dev/null
mv outside src/sub/old-repo
find src | sort >tree.before
cp src/sub/old-repo/head head.before
refused src src/sub/old-repo
assert_file_same head.before src/sub/old-repo/head
rm -rf src/sub/old-repo
find src | sort >tree.before

# Outside: published, even when the path passes through SOURCE_DIR.
publish src src/../elsewhere
assert_eq 0 "$PC_RC" "src/../elsewhere ($PC_OUT)"
assert_contains "$PC_OUT" "published where version 1" "src/../elsewhere"

# mkdir -p: parents that do not exist yet are made.
publish src deep/new/parents/repo
assert_eq 0 "$PC_RC" "missing parents ($PC_OUT)"
assert_contains "$PC_OUT" "published where version 1" "missing parents"
[ -f deep/new/parents/repo/head ] || fail "no head in deep/new/parents/repo"
expect_status 0 "ok: where version 1" "verify the new repository" \
	"$PUBLISH" verify --trusted-key key.pub deep/new/parents/repo
# ...but not through a file.
echo "not a directory" >plain-file
publish src plain-file/repo
assert_eq 1 "$PC_RC" "a parent that is a file ($PC_OUT)"
assert_contains "$PC_OUT" \
	"error: cannot create repository plain-file/repo: Not a directory" \
	"a parent that is a file"
echo "ok: REPO_DIR inside SOURCE_DIR refused in $(grep -c '^refused ' "$0") ways; parents made"
