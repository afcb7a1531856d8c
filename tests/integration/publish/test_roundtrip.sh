#!/bin/bash
# A tree with every kind of entry the manifest can hold survives
# publish -> verify -> extract unchanged: content, names (unicode, spaces,
# '%', a newline), modes, symlink targets (relative, to a directory,
# dangling), empty files and directories, mtimes.  The repository's bytes
# are also checked directly, without the tool: the manifest is the object
# the head names, its entries match the tree, and a multi-chunk file is the
# concatenation of its chunk objects.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup

# ---- the tree -------------------------------------------------------------
mkdir -p src/bin src/deep/a/b/c/d src/empty-dir "src/with space" src/links \
	src/private
printf '#!/bin/sh\necho tool\n' >src/bin/tool.sh
chmod 755 src/bin/tool.sh
cp src/bin/tool.sh src/bin/same-as-tool.sh # deduplicated content
chmod 700 src/bin/same-as-tool.sh
echo leaf >src/deep/a/b/c/d/leaf.txt
: >src/empty-file
: >src/deep/a/empty-too
echo unicode >"src/ünïcödé 日本語 файл.txt"
echo spaced >"src/with space/inner file.txt"
echo percent >"src/100% done"
echo newline >"src/line
break"
echo readonly >src/readonly.txt
chmod 444 src/readonly.txt
echo secret >src/private/key.txt
chmod 600 src/private/key.txt
chmod 750 src/private
ln -s ../deep/a/b/c/d/leaf.txt src/links/relative
ln -s ../deep/a src/links/to-dir
ln -s no/such/target src/links/dangling
head -c $((10 * 1024 * 1024)) /dev/urandom >src/big.bin
touch -h -d @1614834367 src/links/relative src/deep/a/b/c/d/leaf.txt
touch -d @1577836800 src/deep/a/b src/empty-dir

# ---- publish, verify, extract ---------------------------------------------
pc_keygen key
expect_status 0 "published roundtrip version 1" "publish" \
	"$PUBLISH" --key key --name roundtrip --no-progress src repo
assert_contains "$PC_OUT" "3 symlinks, 0 skipped" "publish summary"
expect_status 0 "ok: roundtrip version 1" "verify" \
	"$PUBLISH" verify --trusted-key key.pub repo
expect_status 0 "extracted to out" "extract" \
	"$PUBLISH" extract --trusted-key key.pub repo out

pc_run diff -r --no-dereference src out
assert_eq 0 "$PC_RC" "diff -r --no-dereference src out ($PC_OUT)"

# Type, permission bits, mtime and symlink target of every entry, the root
# included.  NUL-separated and sorted so that the name with a newline is
# one record.
listing() {
	(cd "$1" && find . -printf '%P|%y|%m|%Ts|%l\0' | sort -z) | tr '\0' '\n'
}
listing src >src.list
listing out >out.list
pc_run diff src.list out.list
assert_eq 0 "$PC_RC" "types, modes, mtimes and link targets ($PC_OUT)"
assert_contains "$(cat out.list)" "links/dangling|l|777|" "dangling link"
assert_contains "$(cat out.list)" "bin/tool.sh|f|755|" "exec bit"

# ---- the repository, read directly ----------------------------------------
manifest=$(manifest_path repo)
[ -f "$manifest" ] || fail "the manifest object $manifest does not exist"
assert_eq "$(head_field repo manifest)" \
	"$(sha256sum <"$manifest" | cut -d' ' -f1)" "manifest id = its SHA-256"
assert_eq "$(head_field repo manifest-size)" "$(stat -c %s "$manifest")" \
	"manifest-size"
assert_eq "peercache-manifest 1" "$(head -n1 "$manifest")" "manifest magic"

# One "F " line per regular file, "D " per directory below the root, "L "
# per symlink, and "entries N" counting them all.  (find -printf x counts
# names with a newline once; chunk lines start with hex, never "F ".)
files=$(find src -type f -printf x | wc -c)
dirs=$(find src -mindepth 1 -type d -printf x | wc -c)
links=$(find src -type l -printf x | wc -c)
assert_eq "$files" "$(grep -c '^F ' "$manifest")" "F lines = regular files"
assert_eq "$dirs" "$(grep -c '^D ' "$manifest")" "D lines = directories"
assert_eq "$links" "$(grep -c '^L ' "$manifest")" "L lines = symlinks"
assert_eq "entries $((files + dirs + links))" "$(sed -n 3p "$manifest")" \
	"entry count"

# Bytes that would break the line syntax are percent-encoded; others are
# not.
assert_contains "$(cat "$manifest")" "F 644 " "file line"
assert_contains "$(cat "$manifest")" " 100%25%20done" "'%' and space escaped"
assert_contains "$(cat "$manifest")" " line%0abreak" "newline escaped"
assert_contains "$(cat "$manifest")" "ünïcödé%20日本語%20файл.txt" \
	"UTF-8 kept as is"
assert_contains "$(cat "$manifest")" "L 777 1614834367 links/relative \
../deep/a/b/c/d/leaf.txt" "symlink line with its mtime"

# The 10 MiB file is several content-defined chunks, each stored under its
# SHA-256, and together they are the file.
mapfile -t big_chunks < <(manifest_file_chunks "$manifest" big.bin)
[ "${#big_chunks[@]}" -ge 3 ] ||
	fail "big.bin should be at least 3 chunks, the manifest lists ${#big_chunks[@]}"
: >big.joined
for hex in "${big_chunks[@]}"; do
	object=$(object_path repo "$hex")
	assert_eq "$hex" "$(sha256sum <"$object" | cut -d' ' -f1)" \
		"chunk $hex = its SHA-256"
	cat "$object" >>big.joined
done
assert_file_same src/big.bin big.joined

# Identical content is one object that both files reference.
assert_eq 2 "$(grep -c "^$(sha256sum <src/bin/tool.sh | cut -d' ' -f1) " \
	"$manifest")" "both copies reference it"
