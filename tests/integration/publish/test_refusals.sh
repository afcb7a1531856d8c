#!/bin/bash
# What peercache-publish refuses, and how: a key it cannot load, another
# repository's directory, a second publisher, a file it cannot read (the
# previous version stays published), bad options (exit 2), overwriting a
# key.  What it tolerates: special files are skipped with a warning.  And
# --valid-for sets the head's expiry.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup
pc_keygen key
mkdir src
echo "definitions" >src/defs.txt

# ---- keys -------------------------------------------------------------------
echo "this is not a key" >garbage.key
expect_status 1 "cannot load signing key: garbage.key: not a PEM private key" \
	"garbage key" \
	"$PUBLISH" --key garbage.key --name refuse --no-progress src repo
[ ! -e repo ] || fail "a failed key load created the repository"
expect_status 1 "cannot load signing key: key.pub: not a PEM private key" \
	"public key as signing key" \
	"$PUBLISH" --key key.pub --name refuse --no-progress src repo
expect_status 1 "cannot load signing key: no-such.key: No such file" \
	"missing key" \
	"$PUBLISH" --key no-such.key --name refuse --no-progress src repo

cp key key.orig
cp key.pub key.pub.orig
expect_status 1 "key.pub already exists; not overwriting a key" \
	"keygen over an existing key" "$PUBLISH" keygen key
assert_file_same key.orig key
assert_file_same key.pub.orig key.pub
rm key.pub
expect_status 1 "key: File exists" "keygen over a private key without .pub" \
	"$PUBLISH" keygen key
assert_file_same key.orig key
[ ! -e key.pub ] || fail "keygen wrote key.pub next to someone else's key"
cp key.pub.orig key.pub

# ---- usage errors (exit 2) --------------------------------------------------
for name in "bad name" ".hidden" "slash/name" "$(printf 'n%.0s' $(seq 65))" ""; do
	expect_status 2 "error: invalid --name '$name'" "--name '$name'" \
		"$PUBLISH" --key key --name "$name" --no-progress src repo
done
for keep in 0 -1 ten 100001 3x ""; do
	expect_status 2 "error: --keep wants a number of versions from 1 to 100000" \
		"--keep '$keep'" \
		"$PUBLISH" --key key --name refuse --keep "$keep" src repo
done
for valid in soon 0 12x -1h 1.5d ""; do
	expect_status 2 "error: --valid-for wants a duration like 12h or 7d" \
		"--valid-for '$valid'" \
		"$PUBLISH" --key key --name refuse --valid-for "$valid" src repo
done
expect_status 2 "publishing needs --key, --name, SOURCE_DIR and REPO_DIR" \
	"no --name" "$PUBLISH" --key key src repo
expect_status 2 "verify needs --trusted-key and REPO_DIR" \
	"verify without a key" "$PUBLISH" verify repo
[ ! -e repo ] || fail "a usage error created the repository"

# ---- --valid-for ------------------------------------------------------------
expect_status 0 "published refuse version 1" "publish --valid-for 1h" \
	"$PUBLISH" --key key --name refuse --valid-for 1h --no-progress src repo
created=$(head_field repo created)
assert_eq $((created + 3600)) "$(head_field repo expires)" \
	"expires with --valid-for 1h"
expect_status 0 "published refuse version 2" "publish with the default" \
	"$PUBLISH" --key key --name refuse --no-progress src repo
created=$(head_field repo created)
assert_eq $((created + 7 * 86400)) "$(head_field repo expires)" \
	"expires by default (7 days)"

# ---- someone else's repository, a second publisher --------------------------
cp repo/head head.before
expect_status 1 "belongs to repository 'refuse', not 'other'" \
	"REPO_DIR of another repository" \
	"$PUBLISH" --key key --name other --no-progress src repo
assert_file_same head.before repo/head
expect_status 1 "cannot open repository repo: another publish is running" \
	"a second publisher" \
	flock repo/.lock "$PUBLISH" --key key --name refuse --no-progress src repo
assert_file_same head.before repo/head
expect_status 1 "cannot open source directory no-such-dir" \
	"missing SOURCE_DIR" \
	"$PUBLISH" --key key --name refuse --no-progress no-such-dir repo
assert_file_same head.before repo/head

# ---- special files are skipped ----------------------------------------------
mkdir special
echo "package" >special/package.sh
mkfifo special/fifo
python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])' special/sock
[ -S special/sock ] || fail "could not make a unix socket"
# A publisher that opened the FIFO would block forever; give it a deadline.
expect_status 0 "warning: skipping special file 'fifo'" "a FIFO in the tree" \
	timeout 30 "$PUBLISH" --key key --name special --no-progress \
	special special-repo
assert_contains "$PC_OUT" "warning: skipping special file 'sock'" \
	"a unix socket in the tree"
assert_contains "$PC_OUT" "published special version 1" "special files"
assert_contains "$PC_OUT" "files:    1 (0 directories, 0 symlinks, 2 skipped)" \
	"special files"
assert_not_contains "$(cat "$(manifest_path special-repo)")" "fifo" "manifest"
assert_not_contains "$(cat "$(manifest_path special-repo)")" "sock" "manifest"
expect_status 0 "ok: special version 1, 1 entries" "verify" \
	"$PUBLISH" verify --trusted-key key.pub special-repo

# ---- a file that cannot be read ---------------------------------------------
# Root reads everything, so the publisher runs as nobody.  It owns the
# repository and its own copy of the key; the tree is readable to it except
# for one file.
nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}
chmod 755 "$PC_TMP"
mkdir -p as-nobody/bin as-nobody/src/sub
cp "$PUBLISH" as-nobody/bin/
cp key as-nobody/key
echo "readable" >as-nobody/src/sub/readable.txt
echo "secret" >as-nobody/src/secret.bin
"$PUBLISH" --key key --name locked --no-progress as-nobody/src \
	as-nobody/repo >/dev/null
chown -R 65534:65534 as-nobody/repo as-nobody/key
run_as_nobody() {
	pc_run nobody as-nobody/bin/peercache-publish --key as-nobody/key \
		--name locked --no-progress as-nobody/src as-nobody/repo
}
# First show that nobody can publish here at all...
run_as_nobody
assert_eq 0 "$PC_RC" "publish as nobody ($PC_OUT)"
assert_contains "$PC_OUT" "published locked version 2" "publish as nobody"
cp as-nobody/repo/head head.before
cp as-nobody/repo/versions versions.before
# ...then that it stops at the file it cannot read.
chmod 000 as-nobody/src/secret.bin
run_as_nobody
assert_eq 1 "$PC_RC" "publish of an unreadable file ($PC_OUT)"
assert_contains "$PC_OUT" "error: cannot read 'secret.bin': Permission denied" \
	"unreadable file"
assert_contains "$PC_OUT" "the previous version stays published" \
	"unreadable file"
assert_file_same head.before as-nobody/repo/head
assert_file_same versions.before as-nobody/repo/versions
expect_status 0 "ok: locked version 2" "verify after the failed publish" \
	"$PUBLISH" verify --trusted-key key.pub as-nobody/repo

# ---- a full disk ------------------------------------------------------------
# Chunks are stored by worker threads; a failed write must still stop the
# publish before the head moves.
mkdir full full-src
mount -t tmpfs -o size=2m tmpfs full || fail "cannot mount a tmpfs (not root?)"
pc_on_exit "umount '$PC_TMP/full'"
head -c 500000 /dev/urandom >full-src/small.bin
expect_status 0 "published full version 1" "publish that fits" \
	"$PUBLISH" --key key --name full --no-progress full-src full/repo
cp full/repo/head head.before
head -c $((6 * 1024 * 1024)) /dev/urandom >full-src/large.bin
pc_run "$PUBLISH" --key key --name full --no-progress full-src full/repo
assert_eq 1 "$PC_RC" "publish onto a full disk ($PC_OUT)"
assert_contains "$PC_OUT" "in full/repo: No space left on device" "full disk"
assert_contains "$PC_OUT" "the previous version stays published" "full disk"
assert_file_same head.before full/repo/head
expect_status 0 "ok: full version 1" "verify after the failed publish" \
	"$PUBLISH" verify --trusted-key key.pub full/repo
