#!/usr/bin/env bash
# A new version switches in atomically: a reader holding an old file open
# keeps getting the old bytes, new opens get the new bytes, unchanged files
# keep their inode numbers, and names the kernel had cached (positive and
# negative) follow the switch.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir -p src/dir
echo "version one" >src/changes.txt
echo "same in both" >src/dir/unchanged.txt
echo "goes away" >src/removed.txt
pc_random src/big.bin 6M
pc_publish src repo
cp src/big.bin big.v1
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo

ino_unchanged=$(stat -c %i mnt/dir/unchanged.txt)
ino_changes=$(stat -c %i mnt/changes.txt)
cat mnt/removed.txt >/dev/null
[ ! -e mnt/added.txt ] || fail "added.txt exists before it is published"

# A reader opens big.bin in version 1 and waits.
mkfifo ready go
python3 - "$PC_TMP/mnt/big.bin" >old.sum <<'PY' &
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.pread(fd, 1, 0)
open("ready", "w").close()
open("go").read()
h = hashlib.sha256()
off = 0
while True:
    b = os.pread(fd, 1 << 20, off)
    if not b:
        break
    h.update(b)
    off += len(b)
print(h.hexdigest())
PY
reader=$!
cat ready >/dev/null

# Version 2: one file changed, one added, one removed, big.bin rewritten.
echo "version two" >src/changes.txt
echo "new" >src/added.txt
rm src/removed.txt
pc_random src/big.bin 6M
pc_publish src repo
expect_status 0 "version 2" "refresh" pc_ctl refresh

echo go >go
wait $reader || fail "the reader of the old version failed"
assert_eq "$(pc_sha big.v1)" "$(cat old.sum)" "old reader's bytes"
assert_eq "$(pc_sha src/big.bin)" "$(pc_sha mnt/big.bin)" "new open of big.bin"
assert_eq "version two" "$(cat mnt/changes.txt)" "changed file"
assert_eq "new" "$(cat mnt/added.txt)" "added file (was a cached negative entry)"
[ ! -e mnt/removed.txt ] || fail "removed.txt still visible"
assert_eq "$ino_unchanged" "$(stat -c %i mnt/dir/unchanged.txt)" "inode of the unchanged file"
[ "$ino_changes" != "$(stat -c %i mnt/changes.txt)" ] || fail "changed file kept its inode"
diff -r src mnt || fail "tree after the switch differs from version 2"
