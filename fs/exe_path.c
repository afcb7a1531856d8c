/*
 * exe_path.c - the program a restart starts, and whether it is safe to.
 *
 * A restart (takeover.c) starts, as the daemon's user (root, usually), the
 * binary at the path the daemon was started as: not /proc/self/exe, which
 * is the old binary once an upgrade has renamed a new one over it.  That
 * path is made absolute once, at start: argv[0] against the working
 * directory, or looked up in $PATH as execvp() would, with its directory
 * resolved (realpath) and its last name kept, so that a package manager
 * that renames a new file (or a new symbolic link) over it is followed.  A
 * $PATH entry that is not absolute is refused: which file it names would
 * depend on the working directory of the moment.
 *
 * Before each restart the file and every directory above it are checked
 * as sudo and OpenSSH check what they run or trust: owned by root or by
 * the daemon's user, and writable by nobody else (a directory with the
 * sticky bit, such as /tmp, is fine: others may add files to it, not
 * replace ours).  A symbolic link is followed and its target checked the
 * same way.  Otherwise anyone who may write there could have the daemon
 * run a program of theirs.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exe_path.h"

/* @path (absolute) with its directory resolved and its last name kept;
 * NULL with errno. */
static char *resolve_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	char *real = dir ? realpath(dir, NULL) : NULL, *out = NULL;

	if (real && asprintf(&out, "%s%s%s", real,
			     strcmp(real, "/") == 0 ? "" : "/", slash + 1) < 0)
		out = NULL;
	free(real);
	free(dir);
	return out;
}

/* @argv0 (with a slash) made absolute against @cwd. */
static char *absolute(const char *argv0, const char *cwd, char *why, size_t len)
{
	char *joined = NULL, *out;

	if (argv0[0] != '/' &&
	    (!cwd || asprintf(&joined, "%s/%s", cwd, argv0) < 0)) {
		snprintf(why, len, "the working directory is unknown");
		return NULL;
	}
	out = resolve_dir(joined ? joined : argv0);
	if (!out)
		snprintf(why, len, "%s: %s", joined ? joined : argv0,
			 strerror(errno));
	free(joined);
	return out;
}

/* $PATH's first executable @name, as execvp finds it. */
static char *search_path(const char *name, char *why, size_t len)
{
	const char *env = getenv("PATH");
	char *dirs = strdup(env ? env : "/usr/bin:/bin");
	char *candidate = NULL, *found = NULL;

	if (!dirs) {
		snprintf(why, len, "out of memory");
		return NULL;
	}
	snprintf(why, len, "%s is not in $PATH", name);
	/* strsep, not strtok: an empty entry (the working directory) is an
	 * entry too. */
	for (char *rest = dirs, *dir; rest && !found;) {
		dir = strsep(&rest, ":");
		if (dir[0] != '/') {
			snprintf(why, len,
				 "$PATH has the relative entry '%s' before %s "
				 "is found: start peercache by its absolute "
				 "path",
				 dir, name);
			break;
		}
		if (asprintf(&candidate, "%s/%s", dir, name) < 0)
			break;
		if (access(candidate, X_OK) == 0)
			found = resolve_dir(candidate);
		free(candidate);
	}
	free(dirs);
	return found;
}

char *pc_fs_exe_path(const char *argv0, const char *cwd, char *why, size_t len)
{
	if (strchr(argv0, '/'))
		return absolute(argv0, cwd, why, len);
	return search_path(argv0, why, len);
}

/* @path is owned by root or us and writable by nobody else (a sticky
 * directory of root's may be). */
static int check_one(const char *path, char *why, size_t len)
{
	struct stat st;
	bool sticky;

	if (stat(path, &st) < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	sticky =
		S_ISDIR(st.st_mode) && (st.st_mode & S_ISVTX) && st.st_uid == 0;
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(why, len, "%s belongs to uid %u, not to root", path,
			 (unsigned)st.st_uid);
		return -EPERM;
	}
	if (((st.st_mode & S_IWOTH) ||
	     ((st.st_mode & S_IWGRP) && st.st_gid != 0)) &&
	    !sticky) {
		snprintf(why, len, "%s is writable by others (mode %04o)", path,
			 (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

/* @file and every directory above it (@file absolute, no symbolic link
 * in its directories). */
static int check_chain(const char *file, char *why, size_t len)
{
	char path[PATH_MAX], *slash;
	int rc = check_one(file, why, len);

	snprintf(path, sizeof(path), "%s", file);
	while (rc == 0 && (slash = strrchr(path, '/')) != NULL) {
		slash[slash == path ? 1 : 0] = '\0';
		rc = check_one(path, why, len);
		if (slash == path)
			break;
	}
	return rc;
}

int pc_fs_exe_check(const char *path, char *why, size_t len)
{
	struct stat st;
	char *real;
	int rc;

	if (lstat(path, &st) < 0) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	rc = check_chain(path, why, len); /* follows a link for the file */
	if (rc < 0 || !S_ISLNK(st.st_mode))
		return rc;
	real = realpath(path, NULL);
	if (!real) {
		snprintf(why, len, "%s: %s", path, strerror(errno));
		return -errno;
	}
	rc = check_chain(real, why, len);
	free(real);
	return rc;
}
