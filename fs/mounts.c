/*
 * mounts.c - what is mounted where, and taking one of our mounts away.
 *
 * Every question fs/ asks about mounts goes through one reader of
 * /proc/self/mountinfo: the device of our mount (to find its bdi, and to
 * tell whether a stored /dev/fuse fd still belongs to the mount on the
 * mount point), and the type of a dead mount left on the mount point
 * (startup.c).  mountinfo escapes space, tab, newline and backslash in
 * paths as \ooo; a reader that compares the raw field never finds a
 * mount point with a space in its name.  The last entry for a path is the
 * topmost mount there.
 *
 * Unmounting is done in one place too, and only for a mount that is ours
 * by type and device: a stored state names a path, and whatever else is
 * mounted there now (an administrator's mount, a newer peercache) is left
 * alone.
 */
#include <errno.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "mounts.h"

extern char **environ;

/* mountinfo's escapes (\ooo) undone in place. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
					(s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/*
 * One line of mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS
 * [OPTIONAL...] - TYPE SOURCE SUPEROPTS".  True if it is a mount on @path,
 * with @out filled.  @line is cut up.
 */
static bool parse_line(char *line, const char *path,
		       struct pc_fs_mount_info *out)
{
	char *fields[5], *save = NULL, *dash = strstr(line, " - "), *type;
	unsigned major_no, minor_no;

	if (!dash)
		return false;
	*dash = '\0';
	fields[0] = strtok_r(line, " ", &save);
	for (int i = 1; i < 5 && fields[i - 1]; i++)
		fields[i] = strtok_r(NULL, " ", &save);
	if (!fields[0] || !fields[4] ||
	    sscanf(fields[2], "%u:%u", &major_no, &minor_no) != 2)
		return false;
	unescape_octal(fields[4]);
	if (strcmp(fields[4], path) != 0)
		return false;
	type = strtok_r(dash + 3, " \n", &save);
	out->dev_major = major_no;
	out->dev_minor = minor_no;
	snprintf(out->fstype, sizeof(out->fstype), "%s", type ? type : "?");
	return true;
}

int pc_fs_mount_find(const char *path, struct pc_fs_mount_info *out)
{
	FILE *info = fopen("/proc/self/mountinfo", "re");
	struct pc_fs_mount_info entry;
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	if (!info)
		return -errno;
	while (getline(&line, &cap, info) > 0) {
		if (parse_line(line, path, &entry)) {
			*out = entry; /* the last one is the topmost */
			found = 1;
		}
	}
	free(line);
	fclose(info);
	return found;
}

/* fusermount3 -u -z @path (set-uid root: for a daemon that is not). */
static int fusermount_unmount(const char *path)
{
	char *argv[] = { (char *)"fusermount3", (char *)"-u", (char *)"-z",
			 (char *)path, NULL };
	int status;
	pid_t pid;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -EPERM;
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -EPERM;
	return 0;
}

int pc_fs_unmount(const char *path, uint32_t major, uint32_t minor)
{
	struct pc_fs_mount_info mount;
	int rc = pc_fs_mount_find(path, &mount);

	if (rc <= 0 || strcmp(mount.fstype, PC_FS_TYPE) != 0 ||
	    mount.dev_major != major || mount.dev_minor != minor)
		return rc < 0 ? rc : -ENOENT;
	if (umount2(path, MNT_DETACH) == 0)
		return 0;
	rc = -errno;
	if (rc == -EPERM)
		rc = fusermount_unmount(path);
	if (rc < 0)
		fprintf(stderr, "peercache: cannot unmount %s: %s\n", path,
			strerror(-rc));
	return rc;
}
