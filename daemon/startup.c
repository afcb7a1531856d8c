/*
 * startup.c - the mount point, made ready before the daemon opens its
 * cache or fetches anything (startup.h).
 *
 * Three things an administrator would otherwise meet later, and worse:
 *  - A daemon killed with SIGKILL leaves its mount behind, dead: every
 *    access to the directory fails with ENOTCONN, and mounting again
 *    stacks a new mount on top of it.  The dead mount is found in
 *    /proc/self/mountinfo (type fuse.peercache, and a probe of the
 *    directory fails with ENOTCONN) and detached, as `fusermount3 -u -z`
 *    would.  A live peercache on the same directory is not touched: the
 *    start is refused.  The probe runs in a child process with a deadline,
 *    so that a hung daemon on the mount cannot hang this one.
 *  - A cache (or control socket) inside the mount point would be opened
 *    through the daemon's own mount once mounted: the daemon would wait on
 *    itself (DESIGN.md, "the daemon never touches its own mount"); on
 *    SIGTERM it hung for good unlinking its socket.  Refused at once.
 *  - A missing mount point is created (mkdir -p), so that the daemon alone
 *    behaves as its systemd unit does.
 *  - The mount points of [repository NAME] sections must not hide one
 *    another (the same directory, or one inside another) nor the cache.
 * Paths are compared after resolving symbolic links, for the part of each
 * path that exists.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mounts.h"
#include "startup.h"

#define PROBE_DEADLINE_MS 5000
/* Dead mounts stacked on one another by earlier starts, cleared at most. */
#define MAX_DEAD_MOUNTS 16

static void __attribute__((format(printf, 2, 3)))
say(enum pc_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warning", "info",
					     "debug" };
	static const int priority[] = { 3, 4, 6, 7 };
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (getenv("JOURNAL_STREAM"))
		fprintf(stderr, "<%d>%s\n", priority[level], line);
	else if (level == PC_LOG_INFO)
		fprintf(stderr, "peercache: %s\n", line);
	else
		fprintf(stderr, "peercache: %s: %s\n", names[level], line);
}

/* ---- paths ------------------------------------------------------------------ */

/*
 * @path absolute, with symbolic links resolved as far as it exists (and
 * up to a dead mount, whose directory fails with ENOTCONN); the rest
 * appended as written ("." dropped, ".." taken).  Caller frees.  NULL with
 * errno set.
 */
static char *canonical_path(const char *path)
{
	char *resolved = realpath(path, NULL), *copy, *slash, *parent, *out;
	const char *base;

	if (resolved || (errno != ENOENT && errno != ENOTCONN))
		return resolved;
	copy = strdup(path);
	if (!copy)
		return NULL;
	for (size_t n = strlen(copy); n > 1 && copy[n - 1] == '/'; n--)
		copy[n - 1] = '\0';
	slash = strrchr(copy, '/');
	if (!slash) {
		base = copy;
		parent = canonical_path(".");
	} else {
		base = slash + 1;
		*slash = '\0';
		parent = canonical_path(slash == copy ? "/" : copy);
	}
	out = NULL;
	if (!parent) {
		/* errno from the parent */
	} else if (strcmp(base, ".") == 0 || base[0] == '\0') {
		out = parent;
		parent = NULL;
	} else if (strcmp(base, "..") == 0) {
		slash = strrchr(parent, '/');
		if (slash)
			*(slash == parent ? slash + 1 : slash) = '\0';
		out = parent;
		parent = NULL;
	} else if (asprintf(&out, "%s/%s", strcmp(parent, "/") ? parent : "",
			    base) < 0) {
		out = NULL;
		errno = ENOMEM;
	}
	free(parent);
	free(copy);
	return out;
}

/* @inner is @outer or below it (both canonical). */
static bool path_within(const char *inner, const char *outer)
{
	size_t n = strlen(outer);

	if (strcmp(outer, "/") == 0)
		return true;
	return strncmp(inner, outer, n) == 0 &&
	       (inner[n] == '\0' || inner[n] == '/');
}

/* ---- dead mounts ----------------------------------------------------------- */

/* A stat of @path that the filesystem itself answers, in a child, within
 * PROBE_DEADLINE_MS: 0, a negative errno, or -ETIMEDOUT when the
 * filesystem does not answer.  Forced past the kernel's attribute cache:
 * our mounts' attributes are cached for a day (PC_FS_ENTRY_TIMEOUT), and
 * a dead mount whose root was looked at before its daemon died answers a
 * plain stat() from that cache, as if it were alive. */
static int probe_path(const char *path)
{
	struct timespec pause = { 0, 10 * 1000 * 1000 };
	struct statx stx;
	int status, waited;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(statx(AT_FDCWD, path, AT_STATX_FORCE_SYNC,
			    STATX_BASIC_STATS, &stx) == 0
			      ? 0
			      : (errno & 0xff));
	for (waited = 0; waited < PROBE_DEADLINE_MS; waited += 10) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? -WEXITSTATUS(status) : -EIO;
		nanosleep(&pause, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -ETIMEDOUT;
}

int startup_clear_dead_mount(const char *mountpoint, char *err, size_t errlen)
{
	char *path = canonical_path(mountpoint);
	struct pc_fs_mount_info mount;
	int rc = 0, found, probe;

	if (!path) {
		rc = -errno;
		snprintf(err, errlen, "mount point %s: %s", mountpoint,
			 strerror(errno));
		return rc;
	}
	for (int cleared = 0; cleared < MAX_DEAD_MOUNTS; cleared++) {
		found = pc_fs_mount_find(path, &mount);
		if (found <= 0 || strncmp(mount.fstype, "fuse", 4) != 0)
			break; /* nothing, or not FUSE: mounted over as ever */
		probe = probe_path(path);
		if (strcmp(mount.fstype, PC_FS_TYPE) != 0) {
			if (probe == -ENOTCONN) {
				snprintf(err, errlen,
					 "%s: a dead mount of another "
					 "filesystem (%s) is in the way; "
					 "clear it with: fusermount3 -u -z %s",
					 path, mount.fstype, path);
				rc = -ENOTCONN;
			}
			break;
		}
		if (probe != -ENOTCONN) {
			snprintf(err, errlen,
				 "%s: another peercache %s there; stop it "
				 "first",
				 path,
				 probe == -ETIMEDOUT ? "is mounted, hung,"
						     : "is serving");
			rc = -EBUSY;
			break;
		}
		if (umount2(path, MNT_DETACH) < 0) {
			rc = -errno;
			snprintf(err, errlen,
				 "%s: the dead mount of an earlier peercache "
				 "is in the way and cannot be cleared (%s); "
				 "clear it with: fusermount3 -u -z %s",
				 path, strerror(errno), path);
			break;
		}
		say(PC_LOG_WARN,
		    "cleared the dead mount of an earlier peercache on %s "
		    "(its daemon ended without unmounting)",
		    path);
	}
	free(path);
	return rc;
}

/* ---- cache and socket outside the mount ------------------------------------- */

int startup_check_paths(const char *mountpoint, const struct pc_config *cfg,
			char *err, size_t errlen)
{
	const char *names[] = { "cache_dir", "control_socket" };
	const char *paths[] = { cfg->cache_dir, cfg->control_socket };
	char *mnt = canonical_path(mountpoint), *path;
	int rc = 0;

	if (!mnt) {
		snprintf(err, errlen, "mount point %s: %s", mountpoint,
			 strerror(errno));
		return -errno;
	}
	for (size_t i = 0; rc == 0 && i < 2; i++) {
		if (!paths[i] || !paths[i][0])
			continue;
		path = canonical_path(paths[i]);
		if (!path) {
			rc = -errno;
			snprintf(err, errlen, "%s %s: %s", names[i], paths[i],
				 strerror(errno));
		} else if (path_within(path, mnt)) {
			rc = -EINVAL;
			snprintf(err, errlen,
				 "%s %s is inside the mount point %s: the "
				 "daemon would read it through its own mount "
				 "and hang; put it outside (the default is "
				 "%s)",
				 names[i], paths[i], mnt,
				 i == 0 ? PC_DEFAULT_CACHE_DIR
					: "CACHE_DIR/control.sock");
		} else if (i == 0 && path_within(mnt, path)) {
			rc = -EINVAL;
			snprintf(err, errlen,
				 "the mount point %s is inside cache_dir %s: "
				 "the mount would hide the cache from the "
				 "daemon; mount it elsewhere",
				 mnt, paths[i]);
		}
		free(path);
	}
	free(mnt);
	return rc;
}

/* ---- the mount points of several repositories ------------------------------ */

/* @a and @b name the same directory: as written (trailing slashes
 * aside), without a look at the filesystem, or once resolved. */
bool startup_same_dir(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *ca, *cb;
	bool same;

	while (la > 1 && a[la - 1] == '/')
		la--;
	while (lb > 1 && b[lb - 1] == '/')
		lb--;
	if (la == lb && strncmp(a, b, la) == 0)
		return true;
	ca = canonical_path(a);
	cb = canonical_path(b);
	same = ca && cb && strcmp(ca, cb) == 0;
	free(ca);
	free(cb);
	return same;
}

/* Two sections' mount points (canonical) that would hide one another. */
static int check_pair(const struct pc_repo_config *a, const char *mnt_a,
		      const struct pc_repo_config *b, const char *mnt_b,
		      char *err, size_t errlen)
{
	if (strcmp(mnt_a, mnt_b) == 0)
		snprintf(err, errlen,
			 "[repository %s] and [repository %s] have the same "
			 "mount_point, %s: give each repository its own "
			 "directory",
			 a->name, b->name, mnt_a);
	else if (path_within(mnt_a, mnt_b) || path_within(mnt_b, mnt_a))
		snprintf(err, errlen,
			 "the mount_point of [repository %s], %s, and that "
			 "of [repository %s], %s, are nested: one mount would "
			 "hide the other; give each repository a directory "
			 "of its own, side by side",
			 a->name, mnt_a, b->name, mnt_b);
	else
		return 0;
	return -EINVAL;
}

int startup_check_repos(const struct pc_config *cfg, char *err, size_t errlen)
{
	char *mnt[PC_CONFIG_MAX_REPOS] = { NULL };
	char why[768];
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < cfg->nrepos; i++) {
		const struct pc_repo_config *repo = &cfg->repos[i];

		if (!repo->mount_point)
			continue; /* the command line's, checked at start */
		rc = startup_check_paths(repo->mount_point, cfg, why,
					 sizeof(why));
		if (rc < 0) {
			snprintf(err, errlen, "[repository %s]: %s", repo->name,
				 why);
			break;
		}
		mnt[i] = canonical_path(repo->mount_point);
		if (!mnt[i]) {
			rc = -errno;
			snprintf(err, errlen,
				 "[repository %s]: mount_point %s: %s",
				 repo->name, repo->mount_point,
				 strerror(errno));
		}
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (mnt[j])
				rc = check_pair(&cfg->repos[j], mnt[j], repo,
						mnt[i], err, errlen);
	}
	for (size_t i = 0; i < cfg->nrepos; i++)
		free(mnt[i]);
	return rc;
}

/* ---- a missing mount point ------------------------------------------------- */

/* mkdir -p: @path's missing directories, mode 0755. */
static int make_dirs(char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (errno != ENOENT)
		return -errno;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			int rc = -errno;

			*p = '/';
			return rc;
		}
		*p = '/';
	}
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 1;
}

int startup_make_mountpoint(const char *mountpoint, char *err, size_t errlen)
{
	char *path = canonical_path(mountpoint);
	int rc;

	if (!path) {
		snprintf(err, errlen, "mount point %s: %s", mountpoint,
			 strerror(errno));
		return -errno;
	}
	rc = make_dirs(path);
	if (rc == -ENOTDIR)
		snprintf(err, errlen, "mount point %s: not a directory",
			 mountpoint);
	else if (rc < 0)
		snprintf(err, errlen, "cannot create the mount point %s: %s",
			 path, strerror(-rc));
	else if (rc == 1)
		say(PC_LOG_INFO, "created the mount point %s", path);
	free(path);
	return rc < 0 ? rc : 0;
}

int startup_prepare(const char *mountpoint, const struct pc_config *cfg,
		    char *err, size_t errlen)
{
	int rc = startup_clear_dead_mount(mountpoint, err, errlen);

	if (rc == 0)
		rc = startup_check_paths(mountpoint, cfg, err, errlen);
	if (rc == 0)
		rc = startup_make_mountpoint(mountpoint, err, errlen);
	return rc;
}
