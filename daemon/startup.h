/*
 * startup.h - what the daemon checks and prepares on the mount point
 * before it opens its cache or fetches anything (startup.c): a dead mount
 * of an earlier peercache cleared, the cache and the control socket kept
 * out of the mount, a missing mount point created.
 */
#ifndef PC_STARTUP_H
#define PC_STARTUP_H

#include <stdbool.h>
#include <stddef.h>

#include "pc_config.h"

/*
 * Clears what an earlier peercache left on @mountpoint when it died
 * without unmounting (SIGKILL, a crash): a fuse.peercache mount whose
 * daemon is gone (ENOTCONN) is detached (umount2 MNT_DETACH), and logged.
 * -EBUSY when a live peercache serves @mountpoint, -EPERM when the dead
 * mount cannot be detached (not root), -ENOTCONN for a dead mount of
 * another filesystem; each with @err saying what to do.
 */
int startup_clear_dead_mount(const char *mountpoint, char *err, size_t errlen);

/*
 * -EINVAL with @err set when cache_dir or control_socket of @cfg is the
 * mount point or inside it, or the mount point is inside cache_dir: the
 * daemon would then open its own files through its own mount, and hang.
 * Paths are compared after resolving symbolic links (of the parts that
 * exist).
 */
int startup_check_paths(const char *mountpoint, const struct pc_config *cfg,
			char *err, size_t errlen);

/* Creates @mountpoint (and missing parents, mode 0755) if it does not
 * exist, and logs it; -ENOTDIR if it is not a directory. */
int startup_make_mountpoint(const char *mountpoint, char *err, size_t errlen);

/*
 * The mount points of @cfg's [repository NAME] sections: each checked as
 * startup_check_paths does (the cache and the control socket outside
 * it, it outside the cache), and no two the same directory or one inside
 * the other.  A repository without a mount_point (the compatible form:
 * the command line's) is left to startup_prepare.  0, or -EINVAL (or
 * -errno) with @err naming the sections.
 */
int startup_check_repos(const struct pc_config *cfg, char *err, size_t errlen);

/* @a and @b are the same directory: written alike (trailing slashes
 * aside), else the same once symbolic links are resolved. */
bool startup_same_dir(const char *a, const char *b);

/* startup_clear_dead_mount, startup_check_paths and
 * startup_make_mountpoint, in that order.  0 or a negative errno with @err set. */
int startup_prepare(const char *mountpoint, const struct pc_config *cfg,
		    char *err, size_t errlen);

#endif /* PC_STARTUP_H */
