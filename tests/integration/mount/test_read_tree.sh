#!/usr/bin/env bash
# A tree of several hundred files (some multi-chunk, tens of MiB in all)
# published to a real nginx reads back byte-identical through a real mount;
# ls -R, stat and readlink match the source.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir -p src/emptydir
for d in $(seq 0 9); do
	mkdir -p "src/dir $d/sub"
	for f in $(seq 0 29); do
		head -c $(((d * 30 + f) * 7919 % 60000 + 1)) /dev/urandom >"src/dir $d/f$f.dat"
	done
	echo "nested $d" >"src/dir $d/sub/note.txt"
done
pc_random src/engine.bin 12M
pc_random "src/dir 3/defs.cvd" 9M
: >src/empty
ln -s "dir 0/f1.dat" src/link
ln -s ../engine.bin "src/dir 1/uplink"
ln -s nowhere src/dangling
chmod 755 "src/dir 0/f2.dat"
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo

diff -r --no-dereference src mnt || fail "content differs between source and mount"
assert_eq "$(cd src && ls -R)" "$(cd mnt && ls -R)" "ls -R of source and mount"
# Type, mode, size and mtime of everything (a directory's size and link
# count belong to the filesystem that holds it, so not those).
stats() {
	(cd "$1" && find . -mindepth 1 ! -type d -exec stat -c '%n %F %a %s %Y' {} + &&
		find . -mindepth 1 -type d -exec stat -c '%n %F %a %Y' {} +) | sort
}
assert_eq "$(stats src)" "$(stats mnt)" "stat of every entry"
assert_eq "dir 0/f1.dat" "$(readlink mnt/link)" "readlink"
assert_eq "../engine.bin" "$(readlink "mnt/dir 1/uplink")" "readlink (relative, up)"
assert_file_same src/engine.bin "mnt/dir 1/uplink"
[ "$(find mnt -type f | wc -l)" -ge 300 ] || fail "expected at least 300 files"

# statfs: the size and file count of the published tree.
read -r blocks bsize files <<<"$(stat -f -c '%b %S %c' mnt)"
bytes=$(find src -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
[ $((blocks * bsize)) -ge "$bytes" ] && [ $((blocks * bsize)) -lt $((bytes + 4096 * 400)) ] ||
	fail "statfs size $((blocks * bsize)) for $bytes bytes of files"
assert_eq "$(find src -type f | wc -l)" "$files" "statfs file count"

# Read again from the cache: the mirror is not asked twice for any chunk.
echo 3 >/proc/sys/vm/drop_caches
diff -r --no-dereference src mnt >/dev/null || fail "second read differs"
dupes=$(awk '$1 == "GET" && $2 ~ /^\/chunks\// { print $2 }' "$NGINX_LOG" | sort | uniq -d)
assert_eq "" "$dupes" "chunks downloaded twice"
pc_daemon_stop
