/*
 * mounts.h - what is mounted where, from /proc/self/mountinfo, and the
 * one way fs/ takes a mount of its own away (mounts.c).  Shared by the
 * files of fs/ only.
 */
#ifndef PC_FS_MOUNTS_H
#define PC_FS_MOUNTS_H

#include <stdint.h>

/* The filesystem type of our mounts in mountinfo ("fuse." + subtype). */
#define PC_FS_TYPE "fuse.peercache"

struct pc_fs_mount_info {
	uint32_t dev_major, dev_minor;
	char fstype[64];
};

/*
 * The topmost mount on @path (absolute and canonical, as realpath gives
 * it), read from mountinfo with its escapes (\040 for a space, ...)
 * undone; never a stat(), which would be a request to a mount nobody may
 * serve yet.  1 with @out filled, 0 if nothing is mounted there, or a
 * negative errno.
 */
int pc_fs_mount_find(const char *path, struct pc_fs_mount_info *out);

/*
 * Takes away the mount on @path if it is one of ours (PC_FS_TYPE) with
 * the device @major:@minor, and only then: lazily (MNT_DETACH), through
 * fusermount3 -u -z when this process may not unmount.  0, -ENOENT if
 * that mount is not there (nothing is done), or a negative errno, logged.
 */
int pc_fs_unmount(const char *path, uint32_t major, uint32_t minor);

#endif /* PC_FS_MOUNTS_H */
