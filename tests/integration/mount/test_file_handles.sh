#!/usr/bin/env bash
# NFS-style file handles: name_to_handle_at / open_by_handle_at round trip
# after the kernel's caches are dropped and after the daemon restarts.
set -eu
. "$(dirname "$0")/fixture.sh"
pc_setup

mkdir -p src/a/b
echo "deep file" >src/a/b/file.txt
pc_random src/a/data.bin 2M
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
pc_mount_repo
HANDLE="$PC_BIN/pc-handle"

"$HANDLE" save mnt/a/b/file.txt h1 || fail "name_to_handle_at failed"
"$HANDLE" save mnt/a/data.bin h2 || fail "name_to_handle_at failed"
sync
echo 3 >/proc/sys/vm/drop_caches
assert_eq "deep file" "$("$HANDLE" cat mnt h1)" "handle after drop_caches"
"$HANDLE" cat mnt h2 >out2 && assert_file_same src/a/data.bin out2

pc_daemon_stop
pc_mount_repo
assert_eq "deep file" "$("$HANDLE" cat mnt h1)" "handle after a daemon restart"
"$HANDLE" cat mnt h2 >out3 && assert_file_same src/a/data.bin out3
# "." and ".." lookups (what the kernel uses to reconnect handles).
assert_eq "$(stat -c %i mnt/a)" "$(stat -c %i mnt/a/b/..)" "inode of a/b/.."
