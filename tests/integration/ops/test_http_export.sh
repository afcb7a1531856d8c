#!/usr/bin/env bash
# The offline mirror over HTTP: a second nginx serves the peercache mount
# (root at the mount point).  Every file of the tree, fetched with curl
# while nothing is cached yet, reads back byte-identical, and so does a byte
# range of a large file that nobody has read; after the daemon restarts,
# the same nginx serves the tree again with nothing done to it.
#
# Symlink targets are published as-is (docs/FORMAT.md) and nginx follows
# symlinks by default, also out of the mount: a published link to /etc/...
# would serve the host's file.  The export therefore runs with
# `disable_symlinks on`, and a link out of the mount (to a canary file)
# must not serve it.
set -eu
. "$(dirname "$0")/../mount/fixture.sh"
pc_setup

mkdir -p src/defs src/engine src/packages/win src/late src/emptydir
for i in $(seq 1 12); do
	head -c $((i * 3001)) /dev/urandom >"src/defs/def$i.dat"
done
for i in $(seq 1 8); do
	head -c $((i * 517 + 1)) /dev/urandom >"src/packages/win/pkg$i.msi"
done
echo "setup" >"src/packages/win/setup 64.msi"
echo "engine 5.2" >src/engine/VERSION
pc_random src/engine/scan.bin 6M
pc_random src/packages/full.pkg 4M
pc_random src/late/late.bin 5M # only a range of it before the restart
: >src/empty
ln -s engine/scan.bin src/current
mkdir outside
echo "canary: not part of the tree" >outside/canary
ln -s "$PC_TMP/outside/canary" src/escape
pc_publish src repo
pc_nginx_start "$PC_TMP/repo"
MIRROR_URL=$NGINX_URL
MIRROR_LOG=$NGINX_LOG
pc_mount_repo
pc_nginx_start "$PC_TMP/mnt" "autoindex on; disable_symlinks on;"
EXPORT_URL=$NGINX_URL
NGINX_URL=$MIRROR_URL # pc_mount_repo mounts from it

mirror_chunks() {
	awk '$1 == "GET" && $2 ~ /^\/chunks\// { print $2 }' "$MIRROR_LOG" | sort -u
}
# tree_files [SKIP]: the regular files of src (but those under SKIP).
tree_files() {
	if [ -n "${1:-}" ]; then
		(cd src && find . -type f ! -path "./$1*" -printf '%P\n')
	else
		(cd src && find . -type f -printf '%P\n')
	fi
}
# fetch_tree DIR [SKIP]: GET those files, four at a time, into DIR; compare.
fetch_tree() {
	local dir=$1 path
	tree_files "${2:-}" |
		xargs -d '\n' -P 4 -I{} sh -c 'curl -fsS --max-time 60 --create-dirs \
			-o "$1/$2" "$3/$(printf %s "$2" | sed "s/ /%20/g")" ||
			{ echo "GET $2 failed" >&2; exit 255; }' _ "$dir" {} "$EXPORT_URL" ||
		fail "fetching the tree over HTTP failed"
	while IFS= read -r path; do
		cmp -s "src/$path" "$dir/$path" || fail "$path differs over HTTP"
	done < <(tree_files "${2:-}")
}

assert_eq "/chunks/$(head_field repo manifest | cut -c1-2)/$(head_field repo manifest)" \
	"$(mirror_chunks)" "nothing but the manifest fetched before the HTTP reads"
fetch_tree got1 late/
for link in escape current; do
	assert_eq 403 "$(curl -sS --max-time 60 -o "link.$link" -w '%{http_code}' \
		"$EXPORT_URL/$link")" "GET of the symlink $link"
	assert_not_contains "$(cat "link.$link")" canary "GET of the symlink $link"
done

# A range in the middle of a multi-chunk file nobody has read (resumed
# downloads, partial reads).
curl -fsS --max-time 60 -r 3000000-3999999 -o range "$EXPORT_URL/late/late.bin"
tail -c +3000001 src/late/late.bin | head -c 1000000 >range.expected
assert_file_same range.expected range

# Directories list through the mount (autoindex).
listing=$(curl -fsS --max-time 60 "$EXPORT_URL/packages/win/")
for i in $(seq 1 8); do
	assert_contains "$listing" "href=\"pkg$i.msi\"" "autoindex of packages/win"
done
assert_contains "$listing" 'href="setup%2064.msi"' "autoindex of packages/win"

# The daemon restarts: nginx opens each file by path, so it needs nothing.
pc_daemon_stop
pc_mount_repo
fetch_tree got2
