# scratch.sh - a scratch root: the host's own /etc, /usr, /var, /srv ...
# as seen through overlays in a private mount namespace.  A test that
# follows the admin guide, or installs a package, writes to the real paths
# (/etc/peercache, /usr/bin, dpkg's database, /var/cache/peercache), runs
# what it installed there, and nothing reaches the host: the writes land
# in upper directories below $PC_TMP, and the overlays and every mount made
# in the namespace (FUSE mounts included) vanish with the test.  Source
# after common.sh.
#
#   pc_scratch_isolate "$@"    re-exec in a private mount namespace (first
#                              statement, before pc_setup)
#   pc_scratch_isolate_net "$@"  the same, and a network namespace of its own
#   pc_scratch_overlay DIR...  after pc_setup: overlay each DIR (which
#                              must exist on the host)

pc_scratch_isolate() {
	if [ "${PC_SCRATCH_ISOLATED:-}" != 1 ]; then
		export PC_SCRATCH_ISOLATED=1
		exec unshare --mount --propagation private -- bash "$0" "$@"
	fi
}

# The same, in a network namespace of its own too (loopback only), for a
# test whose daemons listen on the default ports.
pc_scratch_isolate_net() {
	if [ "${PC_SCRATCH_ISOLATED:-}" != 1 ]; then
		export PC_SCRATCH_ISOLATED=1
		exec unshare --mount --net --propagation private -- bash "$0" "$@"
	fi
	ip link set lo up
}

pc_scratch_overlay() {
	local dir name
	[ "${PC_SCRATCH_ISOLATED:-}" = 1 ] ||
		fail "call pc_scratch_isolate first (overlays need a private mount namespace)"
	for dir in "$@"; do
		[ -d "$dir" ] || fail "pc_scratch_overlay: no $dir on this host"
		name=$(echo "${dir#/}" | tr / _)
		mkdir -p "$PC_TMP/scratch/$name.upper" "$PC_TMP/scratch/$name.work"
		mount -t overlay "scratch-$name" \
			-o "lowerdir=$dir,upperdir=$PC_TMP/scratch/$name.upper,workdir=$PC_TMP/scratch/$name.work" \
			"$dir" || fail "cannot overlay $dir"
		pc_on_exit "umount -l $dir"
	done
}
