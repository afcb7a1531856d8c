#!/usr/bin/env bash
# The offline mirror over NFS: nfs-ganesha (FSAL VFS) exports the peercache
# mount, libnfs reads it.  The tree lists and reads back byte-identical over
# NFSv3 and v4, starting with nothing cached; a client that looked files up
# before the daemon restarts keeps reading them through the same NFS file
# handles afterwards, once ganesha has the new mount: after an export reload
# (clean stop) and after a ganesha restart (daemon killed).
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
. "$(dirname "$0")/../lib/nfs.sh"
pc_nfs_isolate "$@"
pc_setup

mkdir -p src/defs src/engine src/packages/win src/aside src/emptydir
for i in $(seq 1 12); do
	head -c $((i * 3001)) /dev/urandom >"src/defs/def$i.dat"
done
for i in $(seq 1 8); do
	head -c $((i * 517 + 1)) /dev/urandom >"src/packages/win/pkg$i.msi"
done
echo "engine 5.2" >src/engine/VERSION
chmod 755 src/engine/VERSION
pc_random src/engine/scan.bin 6M
pc_random src/packages/full.pkg 4M
# aside/: read only through handles kept from the start, after restarts
# (its name sorts before the other directories: the read-ahead across
# files, which goes on into the next directory, never reaches it).
pc_random src/aside/late1.bin 5M
pc_random src/aside/late2.bin 3M
: >src/empty
ln -s engine/scan.bin src/current
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
MIRROR_LOG=$NGINX_LOG
pc_mount_repo
pc_nfs_start "$PC_TMP/mnt"

# Chunk objects the mirror has served so far.
mirror_chunks() {
	awk '$1 == "GET" && $2 ~ /^\/chunks\// { print $2 }' "$MIRROR_LOG" | sort -u
}
# How many chunks of one file the mirror has served.
fetched_chunks_of() {
	local id n=0
	for id in $(manifest_file_chunks "$(manifest_path repo)" "$1"); do
		grep -q "/chunks/${id:0:2}/$id " "$MIRROR_LOG" && n=$((n + 1))
	done
	echo $n
}
src_listing() {
	(cd src && find . -mindepth 1 \( -type d -printf '%M %P\n' \) -o \
		-printf '%M %s %P\n') | sort
}
# every_file VERS: nfs-cat each regular file of src (but aside/) and compare.
every_file() {
	local path
	for path in $(cd src && find . -type f ! -path './aside/*' -printf '%P\n'); do
		pc_nfs_cat "$1" "$path" out
		cmp -s out "src/$path" || fail "$path differs over NFSv$1"
	done
}

assert_eq "/chunks/$(head_field repo manifest | cut -c1-2)/$(head_field repo manifest)" \
	"$(mirror_chunks)" "nothing but the manifest fetched before the NFS reads"
assert_eq "$(src_listing)" "$(pc_nfs_ls 3)" "tree over NFSv3"
assert_eq "$(src_listing)" "$(pc_nfs_ls 4)" "tree over NFSv4"

# A client that looks files up now and reads some of them only later.
pc_nfs_hold_start 3
for path in aside/late1.bin aside/late2.bin engine/scan.bin defs/def1.dat; do
	pc_nfs_hold open "/$path" || fail "$NFS_HOLD_REPLY"
done

every_file 3 # nothing cached when these start
every_file 4 # all from the cache now
pc_nfs_cat 3 current out
assert_file_same src/engine/scan.bin out
pc_nfs_hold read /engine/scan.bin held || fail "$NFS_HOLD_REPLY"
assert_file_same src/engine/scan.bin held
assert_eq 0 "$(fetched_chunks_of aside/late1.bin)" "late1.bin chunks fetched before the restart"

# Restart 1: the daemon stops cleanly and comes back.  ganesha still holds
# the old, dead mount (its export root: every request fails until the
# export is reloaded), so the new mount has another device number: the
# handles below do not depend on it.
dev_before=$(stat -c %d mnt)
pc_daemon_stop
pc_mount_repo
dev_after=$(stat -c %d mnt)
[ "$dev_before" != "$dev_after" ] || fail "the new mount kept device $dev_before"
pc_nfs_reload
pc_nfs_hold read /aside/late1.bin held || fail "held handle after a restart: $NFS_HOLD_REPLY"
assert_file_same src/aside/late1.bin held
assert_eq "$(manifest_file_chunks "$(manifest_path repo)" aside/late1.bin | wc -l)" \
	"$(fetched_chunks_of aside/late1.bin)" "late1.bin chunks fetched by the restarted daemon"
pc_nfs_hold read /defs/def1.dat held || fail "$NFS_HOLD_REPLY"
assert_file_same src/defs/def1.dat held
assert_eq "$(src_listing)" "$(pc_nfs_ls 3)" "tree over NFSv3 after a restart"
every_file 3

# Restart 2: the daemon is killed; ganesha restarts too.  (Pages the old
# mount cached stay readable through it even after the crash, so the reads
# here are of files that the current mount has not read: late2.bin was
# never read at all, late1.bin only through the previous mount.)
assert_eq 0 "$(fetched_chunks_of aside/late2.bin)" "late2.bin chunks fetched before the crash"
pc_daemon_kill9
pc_mount_repo
pc_nfs_restart
for path in aside/late2.bin aside/late1.bin; do
	pc_nfs_hold read "/$path" held || fail "held handle after a crash: $NFS_HOLD_REPLY"
	assert_file_same "src/$path" held
done
assert_eq "$(src_listing)" "$(pc_nfs_ls 4)" "tree over NFSv4 after a crash"
pc_nfs_cat 4 engine/scan.bin out
assert_file_same src/engine/scan.bin out
