#!/bin/bash
# verify notices every kind of damage to a published repository, says which
# with its own message, and exits 1; an intact repository verifies with 0.
# Each case starts again from a pristine copy of the same repository.
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$(dirname "$0")/../lib/repo.sh"
pc_setup

mkdir -p src/defs
echo "engine 4.2" >src/engine.txt
head -c 200000 /dev/urandom >src/defs/daily.bin # one chunk
echo "main definitions" >src/defs/main.txt
pc_keygen key
pc_keygen other
expect_status 0 "published tamper version 1" "publish" \
	"$PUBLISH" --key key --name tamper --no-progress src pristine

manifest_hex=$(head_field pristine manifest)
engine_chunk=$(manifest_file_chunks "$(manifest_path pristine)" engine.txt)
daily_chunk=$(manifest_file_chunks "$(manifest_path pristine)" defs/daily.bin)
if [ -z "$engine_chunk" ] || [ -z "$daily_chunk" ]; then
	fail "chunk ids of engine.txt and defs/daily.bin not in the manifest"
fi

restore() {
	rm -rf repo
	cp -a pristine repo
}
verify() {
	pc_run "$PUBLISH" verify --trusted-key "${1:-key.pub}" repo
}

# Each case: what was done, the message that must appear, and (kept for the
# cross-check at the end) the output it produced.
cases=()
needles=()
outputs=()
# expect_damage WHAT NEEDLE: the verify just run failed with NEEDLE.
expect_damage() {
	[ "$PC_RC" = 1 ] ||
		fail "$1: verify exited $PC_RC, expected 1; output:
$PC_OUT"
	assert_contains "$PC_OUT" "$2" "$1"
	cases+=("$1")
	needles+=("$2")
	outputs+=("$PC_OUT")
}

restore
verify
assert_eq 0 "$PC_RC" "intact repository verifies ($PC_OUT)"
assert_contains "$PC_OUT" "ok: tamper version 1, 4 entries, 3 chunks verified" "intact repository"
cases+=("intact")
needles+=("ok: tamper version 1")
outputs+=("$PC_OUT")

restore
pc_flip_byte "$(object_path repo "$daily_chunk")" 150000
verify
expect_damage "a flipped byte in a chunk" \
	"chunk $daily_chunk (in 'defs/daily.bin'): content does not match its hash"
assert_contains "$PC_OUT" "1 problem found in tamper version 1" "problem count"
# extract verifies first and creates nothing from a damaged repository.
pc_run "$PUBLISH" extract --trusted-key key.pub repo out
assert_eq 1 "$PC_RC" "extract of a damaged repository ($PC_OUT)"
[ ! -e out ] || fail "extract created out/ from a damaged repository"

restore
pc_flip_byte "$(object_path repo "$manifest_hex")" 40
verify
expect_damage "a flipped byte in the manifest" \
	"manifest $manifest_hex: content does not match its hash"

restore
sed -i 's/^version 1$/version 2/' repo/head
grep -q '^version 2$' repo/head || fail "could not edit the head's version"
verify
expect_damage "a changed version in the head" "head signature does not verify"

restore
sed -i 's/^name tamper$/name tamperX/' repo/head
grep -q '^name tamperX$' repo/head || fail "could not edit the head's name"
verify
# Same attack, same message; not a separate case in the cross-check.
[ "$PC_RC" = 1 ] || fail "a changed name in the head: verify exited $PC_RC"
assert_contains "$PC_OUT" "head signature does not verify" "changed name"

restore
verify other.pub
keyid=$(awk '$1 == "signature" { print $2 }' repo/head)
expect_damage "a head signed by a key that is not trusted" \
	"head is signed by untrusted key $keyid"

restore
head -c 200 pristine/head >repo/head
verify
expect_damage "a truncated head" "head is truncated"

restore
rm "$(object_path repo "$engine_chunk")"
verify
expect_damage "a deleted chunk" "chunk $engine_chunk (in 'engine.txt'): missing"

# Every problem is reported, not only the first.
restore
rm "$(object_path repo "$engine_chunk")"
pc_flip_byte "$(object_path repo "$daily_chunk")" 0
verify
assert_eq 1 "$PC_RC" "two damaged chunks"
assert_contains "$PC_OUT" "chunk $engine_chunk (in 'engine.txt'): missing" \
	"two damaged chunks"
assert_contains "$PC_OUT" "chunk $daily_chunk (in 'defs/daily.bin'): content does not match its hash" \
	"two damaged chunks"
assert_contains "$PC_OUT" "2 problems found in tamper version 1" \
	"two damaged chunks"

# Each case is told apart by its message: no output carries another case's.
for ((i = 0; i < ${#cases[@]}; i++)); do
	for ((j = 0; j < ${#cases[@]}; j++)); do
		[ "$i" = "$j" ] && continue
		assert_not_contains "${outputs[i]}" "${needles[j]}" \
			"'${cases[i]}' must not look like '${cases[j]}'"
	done
done
assert_eq 7 "${#cases[@]}" "cases checked"
