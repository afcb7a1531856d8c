# fixture.sh - shared by the mount tests: libraries, a key, and helpers to
# publish a source tree into a repository that a real nginx serves.
# shellcheck source=../lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/repo.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/nginx.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../lib/mount.sh"

# pc_publish SRC REPO [publisher options...]: publish quietly with $PC_TMP/key.
pc_publish() {
	local src=$1 repo=$2
	shift 2
	pc_publish_as test "$PC_TMP/key" "$src" "$repo" "$@"
}

# pc_random FILE SIZE: SIZE bytes of random data (SIZE as for head -c).
pc_random() {
	head -c "$2" /dev/urandom >"$1"
}

# pc_mount_repo [extra daemon args...]: mounts $PC_TMP/mnt from $NGINX_URL.
pc_mount_repo() {
	pc_daemon_start "$PC_TMP/mnt" "$PC_TMP/cache" -o mirror="$NGINX_URL" \
		-o trusted_key="$PC_TMP/key.pub" "$@"
}

# pc_sha FILE: the SHA-256 of a file's content.
pc_sha() {
	sha256sum <"$1" | cut -d' ' -f1
}
