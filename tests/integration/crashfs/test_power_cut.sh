#!/bin/bash
# pc-crashfs (tests/helpers/crashfs) cuts the power as it says: in both
# modes, writes that were not made durable are gone after a cut, and those
# that were (fsync, fdatasync, a sync command) survive it; names survive
# without a sync, their data does not.  What the mount shows after the cut
# is what the backing directory holds.  Fails if pc-crashfs passed writes
# straight through (the unsynced data would survive).
set -eu
. "$(dirname "$0")/../lib/common.sh"
. "$PC_SRC/tests/helpers/crashfs/crashfs.sh"
pc_setup

# Random sources, sizes that are not multiples of a page.
mkdir src
head -c 300001 /dev/urandom >src/a
head -c 100003 /dev/urandom >src/patch
head -c 50007 /dev/urandom >src/tail

# zeros N FILE: FILE is N zero bytes.
is_zeros() {
	[ "$(stat -c %s "$2")" = "$1" ] && cmp -s "$2" <(head -c "$1" /dev/zero)
}

for mode in zero short; do
	backing=$PC_TMP/backing-$mode m=$PC_TMP/mnt-$mode
	crashfs_mount "$backing" "$m" -o mode="$mode"

	# Written back by the sync command; what comes after it is not.
	dd if=src/a of="$m/synced-by-command" bs=64k status=none
	mkdir "$m/dir"
	crashfs_sync
	dd if=src/a of="$m/dir/after-sync" bs=64k status=none

	# Not synced: readable through the mount (like a page cache) but
	# not in the backing file.
	dd if=src/a of="$m/unsynced" bs=64k status=none
	assert_file_same src/a "$m/unsynced"
	assert_eq 0 "$(stat -c %s "$backing/unsynced")" \
		"$mode: backing size of an unsynced file"
	# fsync and fdatasync make a file durable.
	dd if=src/a of="$m/fsynced" bs=64k conv=fsync status=none
	dd if=src/a of="$m/fdatasynced" bs=64k conv=fdatasync status=none
	# Durable, then overwritten in its middle without a sync.
	cp src/a overwritten.expected
	dd if=src/a of="$m/overwritten" bs=64k conv=fdatasync status=none
	dd if=src/patch of="$m/overwritten" bs=1k seek=100 conv=notrunc \
		status=none
	# Durable, then appended to without a sync.
	dd if=src/a of="$m/appended" bs=64k conv=fsync status=none
	cat src/tail >>"$m/appended"
	assert_eq $((300001 + 50007)) "$(stat -c %s "$m/appended")" \
		"$mode: size after the append"
	# Renamed without a data sync: the name is metadata, the data is not.
	dd if=src/a of="$m/renamed.tmp" bs=64k status=none
	mv "$m/renamed.tmp" "$m/renamed"

	crashfs_cut

	assert_file_same src/a "$m/fsynced"
	assert_file_same src/a "$m/fdatasynced"
	assert_file_same src/a "$m/synced-by-command"
	assert_file_same overwritten.expected "$m/overwritten"
	[ ! -e "$m/renamed.tmp" ] || fail "$mode: the old name survived"
	[ -d "$m/dir" ] || fail "$mode: a directory did not survive"
	case $mode in
	zero)
		is_zeros 300001 "$m/unsynced" ||
			fail "zero: an unsynced file is not 300001 zeros"
		is_zeros 300001 "$m/renamed" ||
			fail "zero: a renamed unsynced file is not 300001 zeros"
		is_zeros 300001 "$m/dir/after-sync" ||
			fail "zero: a file written after the sync is not zeros"
		assert_eq $((300001 + 50007)) "$(stat -c %s "$m/appended")" \
			"zero: size of the appended file"
		cmp -s -n 300001 src/a "$m/appended" ||
			fail "zero: the durable part of the appended file changed"
		cmp -s <(tail -c 50007 "$m/appended") <(head -c 50007 /dev/zero) ||
			fail "zero: the appended part is not zeros"
		;;
	short)
		for f in unsynced renamed dir/after-sync; do
			assert_eq 0 "$(stat -c %s "$m/$f")" "short: size of $f"
		done
		assert_file_same src/a "$m/appended"
		;;
	esac
	# The mount shows what the backing directory holds.
	for f in unsynced fsynced fdatasynced overwritten appended renamed \
		synced-by-command dir/after-sync; do
		assert_file_same "$backing/$f" "$m/$f"
	done
	# Nothing was pending when the power was cut a second time.
	crashfs_cut
	assert_contains "$(cat "$CRASHFS_LOG")" \
		"power cut 2: dropped 0 bytes in 0 files" "$mode: second cut"
	crashfs_umount
done
echo "ok: unsynced writes dropped, synced ones kept, in modes zero and short"
