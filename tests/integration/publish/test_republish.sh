#!/bin/bash
# Publishing again: an unchanged tree writes no new chunk and gets the same
# manifest under the next version; with --keep N, versions beyond the newest
# N are dropped together with the objects only they referenced, and nothing
# a retained version needs is ever removed.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup
pc_keygen key

# ---- an unchanged tree ----------------------------------------------------
mkdir -p src/defs
head -c $((3 * 1024 * 1024)) /dev/urandom >src/defs/main.bin
echo "engine 1.0" >src/engine.txt
: >src/empty
expect_status 0 "published same version 1" "first publish" \
	"$PUBLISH" --key key --name same --no-progress src repo
assert_eq 1 "$(head_field repo version)" "head version after the first publish"
first_manifest=$(head_field repo manifest)
chunks=$(manifest_chunks "$(manifest_path repo)" | sort -u | wc -l)
assert_contains "$PC_OUT" "chunks:   $chunks new" "first publish writes every chunk"

expect_status 0 "published same version 2" "republish" \
	"$PUBLISH" --key key --name same --no-progress src repo
assert_contains "$PC_OUT" "chunks:   0 new (0 B), $chunks reused" \
	"republish of an unchanged tree"
assert_contains "$PC_OUT" "removed:  0 unreferenced objects" "republish"
assert_eq 2 "$(head_field repo version)" "head version after the republish"
assert_eq "$first_manifest" "$(head_field repo manifest)" \
	"same tree, same manifest"
assert_eq 2 "$(wc -l <repo/versions)" "versions retained"

# ---- retention: 12 versions, --keep 10 --------------------------------------
# Each version changes one file to content no other version has, so each
# has its own manifest and one chunk of its own; shared.bin is in all.
mkdir -p tree
head -c 100000 /dev/urandom >tree/shared.bin
manifests=("")
changed=("")
for v in $(seq 1 12); do
	echo "definitions of version $v" >tree/changing.txt
	expect_status 0 "published kept version $v" "publish of version $v" \
		"$PUBLISH" --key key --name kept --keep 10 --no-progress \
		tree kept
	assert_eq "$v" "$(head_field kept version)" "head version"
	manifests+=("$(head_field kept manifest)")
	changed+=("$(manifest_file_chunks "$(manifest_path kept)" changing.txt)")
	# From the 11th on, each publish drops the oldest version: its
	# manifest and its own chunk of changing.txt.
	removed=0
	[ "$v" -le 10 ] || removed=2
	assert_contains "$PC_OUT" "removed:  $removed unreferenced objects" \
		"publish of version $v"
done

assert_eq 10 "$(wc -l <kept/versions)" "versions listed"
assert_eq 3 "$(head -n1 kept/versions | cut -d' ' -f1)" "oldest kept version"
assert_eq 12 "$(tail -n1 kept/versions | cut -d' ' -f1)" "newest kept version"
for v in 1 2; do
	[ ! -e "$(object_path kept "${manifests[v]}")" ] ||
		fail "manifest of dropped version $v is still there"
	[ ! -e "$(object_path kept "${changed[v]}")" ] ||
		fail "the chunk only version $v used is still there"
done
for v in $(seq 3 12); do
	manifest=$(object_path kept "${manifests[v]}")
	[ -f "$manifest" ] || fail "manifest of kept version $v is gone"
	assert_contains "$(cat kept/versions)" "${manifests[v]}" \
		"versions lists version $v"
	while read -r hex; do
		[ -f "$(object_path kept "$hex")" ] ||
			fail "chunk $hex of kept version $v is gone"
	done < <(manifest_chunks "$manifest")
done
# Exactly what the kept versions need and nothing else: 10 manifests, 10
# chunks of changing.txt, 1 of shared.bin (no temporary files either).
assert_eq 21 "$(find kept/chunks -type f | wc -l)" "objects in kept/chunks"
expect_status 0 "ok: kept version 12" "verify after retention" \
	"$PUBLISH" verify --trusted-key key.pub kept
