/*
 * fs.c - the FUSE session: mount, the multi-threaded request loop, kernel
 * cache invalidation after a version switch, unmount.
 *
 * Mount options: read-only, allow_other (agents run as many users) with
 * default_permissions (the kernel checks modes), and the filesystem named
 * "peercache" in /proc/mounts.  Read requests are at most PC_FS_READ_SIZE
 * (max_read here, max_readahead in op_init), and the readahead of the
 * mount's bdi is raised to that size when we can (root), so that a
 * sequential read goes out in requests of that size.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

struct pc_fs *pc_fs_new(const struct pc_config *cfg, struct pc_store *store,
			char *err, size_t errlen)
{
	struct pc_fs *fs = calloc(1, sizeof(*fs));

	if (!fs) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fs->cfg = cfg;
	fs->store = store;
	pthread_mutex_init(&fs->open_lock, NULL);
	if (pc_fs_parked_init(fs) < 0 || pc_fs_handles_init(fs) < 0) {
		pc_fs_handles_free(fs);
		free(fs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return fs;
}

void pc_fs_set_net(struct pc_fs *fs, struct pc_net *net)
{
	fs->net = net;
}

/* Loop thread, after a switch: drop the kernel's cached names that now
 * mean something else, and the attributes of directories that changed.
 * Never called from inside a FUSE operation (that could deadlock). */
static void on_version_switched(void *arg, uint64_t version,
				const struct pc_store_changes *changes)
{
	struct pc_fs *fs = arg;
	uint64_t last_parent = 0;

	(void)version;
	if (!fs->mounted)
		return;
	for (size_t i = 0; i < changes->count; i++) {
		const struct pc_store_change *c = &changes->items[i];

		fuse_lowlevel_notify_inval_entry(fs->session, c->parent,
						 c->name, strlen(c->name));
		if (c->parent != last_parent)
			fuse_lowlevel_notify_inval_inode(fs->session, c->parent,
							 -1, 0);
		last_parent = c->parent;
	}
	fuse_lowlevel_notify_inval_inode(fs->session, PC_ROOT_INO, -1, 0);
}

struct pc_net_hooks pc_fs_net_hooks(struct pc_fs *fs)
{
	return (struct pc_net_hooks){ .version_switched = on_version_switched,
				      .arg = fs };
}

/*
 * Raise the bdi readahead of our mount to the request size (root only;
 * failure is harmless: reads are just smaller).  The device number comes
 * from /proc/self/mountinfo: a stat() of the mount point would be a request
 * to ourselves before the request loop runs, and hang.
 */
static void raise_readahead(const char *mountpoint)
{
	char line[4096], root[4096], point[4096], path[128], value[32];
	unsigned major_no, minor_no;
	bool found = false;
	FILE *info;
	int fd;

	info = fopen("/proc/self/mountinfo", "re");
	if (!info)
		return;
	while (!found && fgets(line, sizeof(line), info))
		found = sscanf(line, "%*d %*d %u:%u %4095s %4095s", &major_no,
			       &minor_no, root, point) == 4 &&
			strcmp(point, mountpoint) == 0;
	fclose(info);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 major_no, minor_no);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(value, sizeof(value), "%d", PC_FS_READ_SIZE / 1024);
	if (write(fd, value, strlen(value)) < 0)
		fprintf(stderr, "peercache: cannot raise readahead (%s)\n",
			strerror(errno));
	close(fd);
}

int pc_fs_mount(struct pc_fs *fs, const char *mountpoint, char *err,
		size_t errlen)
{
	static char arg0[] = "peercache", arg1[] = "-o", debug[] = "-d";
	char arg2[160];
	char *argv[] = { arg0, arg1, arg2, debug, NULL };
	/* log_level=debug also traces every FUSE request (libfuse's -d). */
	struct fuse_args args = FUSE_ARGS_INIT(
		fs->cfg->log_level == PC_LOG_DEBUG ? 4 : 3, argv);

	snprintf(arg2, sizeof(arg2),
		 "ro,allow_other,default_permissions,fsname=peercache,"
		 "subtype=peercache,max_read=%d",
		 PC_FS_READ_SIZE);
	fs->mountpoint = realpath(mountpoint, NULL);
	if (!fs->mountpoint) {
		snprintf(err, errlen, "mount point %s: %s", mountpoint,
			 strerror(errno));
		return -errno;
	}
	fs->session =
		fuse_session_new(&args, &pc_fs_ops, sizeof(pc_fs_ops), fs);
	fuse_opt_free_args(&args); /* option parsing may have allocated */
	if (!fs->session) {
		snprintf(err, errlen, "cannot create the FUSE session");
		return -EIO;
	}
	if (pc_fs_replier_start(fs) < 0) {
		snprintf(err, errlen, "cannot start a thread");
		return -EAGAIN;
	}
	if (fuse_session_mount(fs->session, fs->mountpoint) != 0) {
		snprintf(err, errlen,
			 "cannot mount on %s (is /dev/fuse there, "
			 "and the mount point an empty directory?)",
			 fs->mountpoint);
		return -EIO;
	}
	fs->mounted = true;
	raise_readahead(fs->mountpoint);
	return 0;
}

int pc_fs_run(struct pc_fs *fs)
{
	struct fuse_loop_config *loop;
	int rc;

	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * leaves ignored signals alone: these three always mean "unmount". */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	if (fuse_set_signal_handlers(fs->session) != 0)
		return -EIO;
	loop = fuse_loop_cfg_create();
	if (!loop)
		return -ENOMEM;
	fuse_loop_cfg_set_clone_fd(loop, 1);
	fuse_loop_cfg_set_idle_threads(loop, 16);
	rc = fuse_session_loop_mt(fs->session, loop);
	fuse_loop_cfg_destroy(loop);
	fuse_remove_signal_handlers(fs->session);
	return rc < 0 ? rc : 0;
}

void pc_fs_free(struct pc_fs *fs)
{
	if (!fs)
		return;
	/* The answers that pc_net_stop() decided reach the readers before
	 * the mount goes away. */
	pc_fs_replier_stop(fs);
	if (fs->mounted)
		fuse_session_unmount(fs->session);
	fs->mounted = false;
	pc_fs_close_open_files(fs);
	pc_fs_close_open_dirs(fs);
	pc_fs_handles_free(fs);
	if (fs->session)
		fuse_session_destroy(fs->session);
	pthread_mutex_destroy(&fs->open_lock);
	pthread_mutex_destroy(&fs->parked_lock);
	pthread_cond_destroy(&fs->parked_cond);
	free(fs->mountpoint);
	free(fs);
}
