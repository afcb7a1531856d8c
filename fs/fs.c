/*
 * fs.c - the FUSE session: mount (or serve a mount another process of
 * ours made: a takeover, or a crash with the fd in systemd's fd store),
 * the multi-threaded request loop, kernel cache invalidation after a
 * version switch, unmount.
 *
 * Mount options: read-only, allow_other (agents run as many users) with
 * default_permissions (the kernel checks modes), and the filesystem named
 * "peercache" in /proc/mounts.  Read requests are at most PC_FS_READ_SIZE
 * (max_read here and in op_init), and the readahead of the mount's bdi is
 * set to the read_ahead key when we can (root), once INIT is answered (the
 * kernel lowers it to max_readahead then) or when a mount is adopted, so
 * that a sequential read goes out in requests of that size, several at
 * once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devio.h"
#include "pc_log.h"
#include "handover.h"
#include "internal.h"
#include "mounts.h"
#include "takeover.h"

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
	fs->fdstore = true;
	fs->walk = fs_walk_new(); /* NULL: no read-ahead across files */
	pthread_mutex_init(&fs->open_lock, NULL);
	pc_list_init(&fs->open_files);
	pc_list_init(&fs->open_dirs);
	if (fs_parked_init(fs) < 0 || fs_handles_init(fs) < 0 ||
	    fs_devio_new(fs) < 0) {
		fs_handles_free(fs);
		fs_walk_free(fs->walk);
		free(fs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return fs;
}

void pc_fs_set_store(struct pc_fs *fs, struct pc_store *store)
{
	fs->store = store;
}

void pc_fs_set_net(struct pc_fs *fs, struct pc_net *net)
{
	fs->net = net;
	fs->net_repo = NULL;
}

void pc_fs_set_net_repo(struct pc_fs *fs, struct pc_net_repo *repo)
{
	fs->net_repo = repo;
}

/* Loop thread, after a switch: drop the kernel's cached names that now
 * mean something else, and the attributes of directories that changed.
 * Never called from inside a FUSE operation (that could deadlock). */
static void on_version_switched(void *arg, uint64_t version,
				const struct pc_store_changes *changes)
{
	struct pc_fs *fs = arg;
	uint64_t last_parent = 0;

	if (!fs->mounted)
		return;
	if (fs_quiesced(fs)) {
		/* Never: a restart holds switches before it pauses.  An
		 * invalidation now would block this thread for good. */
		pc_log(PC_LOG_ERROR, "fs",
		       "version %llu switched while a restart paused the "
		       "mount: the kernel is not told which names changed",
		       (unsigned long long)version);
		return;
	}
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

/* Loop thread: the control socket's "restart". */
static void on_restart(void *arg, int client_fd)
{
	pc_fs_restart_request(arg, client_fd);
}

struct pc_net_hooks pc_fs_net_hooks(struct pc_fs *fs)
{
	return (struct pc_net_hooks){ .version_switched = on_version_switched,
				      .restart = on_restart,
				      .arg = fs };
}

/*
 * Set the bdi readahead of our mount to the read_ahead key (root only;
 * failure is harmless: reads are just smaller, or larger).  The device
 * number comes from mountinfo: a stat() of the mount point would be a
 * request to ourselves before the request loop runs, and hang.  Files
 * already open keep the read-ahead they were opened with.
 */
static void set_readahead(struct pc_fs *fs)
{
	char path[128], value[32];
	int fd;

	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 fs->dev_major, fs->dev_minor);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(value, sizeof(value), "%llu",
		 (unsigned long long)(fs->cfg->read_ahead / 1024));
	if (write(fd, value, strlen(value)) < 0)
		fprintf(stderr, "peercache: cannot set the read-ahead (%s)\n",
			strerror(errno));
	close(fd);
}

/* The session with our options; a new process on an inherited fd needs
 * the very same (max_read must match the INIT it replays). */
static struct fuse_session *session_new(struct pc_fs *fs)
{
	static char arg0[] = "peercache", arg1[] = "-o", debug[] = "-d";
	char arg2[160];
	char *argv[] = { arg0, arg1, arg2, debug, NULL };
	/* log_level=debug also traces every FUSE request (libfuse's -d). */
	struct fuse_args args = FUSE_ARGS_INIT(
		fs->cfg->log_level == PC_LOG_DEBUG ? 4 : 3, argv);
	struct fuse_session *se;

	snprintf(arg2, sizeof(arg2),
		 "ro,allow_other,default_permissions,fsname=peercache,"
		 "subtype=peercache,max_read=%d",
		 PC_FS_READ_SIZE);
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), fs);
	fuse_opt_free_args(&args); /* option parsing may have allocated */
	return se;
}

/* A FUSE worker, once the kernel's INIT is answered: the read-ahead can be
 * set past max_readahead, and the mount kept in systemd's fd store now
 * that its state is complete. */
static void on_init(struct pc_fs *fs)
{
	struct pc_fs_state st;

	if (fs->dev_major || fs->dev_minor)
		set_readahead(fs);
	if (!fs->fdstore || pc_fs_state_get(fs, &st) < 0)
		return;
	pc_fs_fdstore_save(fuse_session_fd(fs->session), &st);
	pc_fs_state_free(&st);
}

/* The device of the mount just made: its bdi's readahead is raised (at
 * INIT), and it is what ties a stored fd to this mount (state.c).  A mount
 * not found in mountinfo serves, but can be neither restarted nor
 * resumed. */
static void note_device(struct pc_fs *fs)
{
	struct pc_fs_mount_info mount;

	if (pc_fs_mount_find(fs->mountpoint, &mount) == 1 &&
	    strcmp(mount.fstype, PC_FS_TYPE) == 0) {
		fs->dev_major = mount.dev_major;
		fs->dev_minor = mount.dev_minor;
		return;
	}
	pc_log(PC_LOG_WARN, "fs",
	       "the mount on %s is not in /proc/self/mountinfo: it serves, "
	       "but it cannot be restarted or kept across a crash",
	       fs->mountpoint);
}

int pc_fs_mount(struct pc_fs *fs, const char *mountpoint, char *err,
		size_t errlen)
{
	fs->mountpoint = realpath(mountpoint, NULL);
	if (!fs->mountpoint) {
		snprintf(err, errlen, "mount point %s: %s", mountpoint,
			 strerror(errno));
		return -errno;
	}
	fs->session = session_new(fs);
	if (!fs->session) {
		snprintf(err, errlen, "cannot create the FUSE session");
		return -EIO;
	}
	if (fs_replier_start(fs) < 0) {
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
	/* Our own reads and writes of the device from the first request
	 * (the INIT) on: devio.c. */
	if (fs_devio_attach(fs, fs->session, fuse_session_fd(fs->session)) <
	    0) {
		snprintf(err, errlen, "cannot set the FUSE session's I/O");
		return -EIO;
	}
	fs_devio_on_init(fs, on_init);
	note_device(fs);
	return 0;
}

/* Is @st the mount at fs->mountpoint, and @fd's connection alive? */
static int check_adoptable(struct pc_fs *fs, int fd,
			   const struct pc_fs_state *st, char *err,
			   size_t errlen)
{
	struct pollfd pfd = { .fd = fd };
	struct pc_fs_mount_info mount = { .fstype = "none" };

	if (strcmp(fs->mountpoint, st->mountpoint) != 0) {
		snprintf(err, errlen, "the mount is on %s, not on %s",
			 st->mountpoint, fs->mountpoint);
		return -EINVAL;
	}
	if (pc_fs_mount_find(fs->mountpoint, &mount) != 1 ||
	    strcmp(mount.fstype, PC_FS_TYPE) != 0 ||
	    mount.dev_major != st->dev_major ||
	    mount.dev_minor != st->dev_minor) {
		snprintf(err, errlen,
			 "%s is no longer the mount of that fd (device %u:%u, "
			 "now %u:%u, %s)",
			 fs->mountpoint, st->dev_major, st->dev_minor,
			 mount.dev_major, mount.dev_minor, mount.fstype);
		return -ENOENT;
	}
	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR)) {
		snprintf(err, errlen, "the mount's connection has ended");
		return -ENOTCONN;
	}
	return 0;
}

/* The session on @fd (which this takes: the session closes it), libfuse
 * brought to where the kernel is. */
static int adopt_session(struct pc_fs *fs, int fd, const struct pc_fs_state *st,
			 bool need_resend, char *err, size_t errlen)
{
	uint32_t minor;
	int rc;

	fs->session = session_new(fs);
	if (!fs->session) {
		close(fd);
		snprintf(err, errlen, "cannot create the FUSE session");
		return -EIO;
	}
	rc = fs_devio_attach(fs, fs->session, fd);
	if (rc < 0) {
		close(fd);
		snprintf(err, errlen, "cannot set the FUSE session's I/O");
		return rc;
	}
	rc = fs_devio_replay_init(fs, fs->session, st->init_req,
				  st->init_req_len, st->init_reply,
				  st->init_reply_len, err, errlen);
	if (rc < 0)
		return rc;
	minor = fs_devio_kernel_minor(fs);
	if (need_resend && !fs_devio_kernel_resends(fs)) {
		snprintf(err, errlen,
			 "this kernel (FUSE 7.%u) cannot queue again the "
			 "requests a crashed daemon had read (FUSE_HAS_RESEND: "
			 "7.40, Linux 6.9)",
			 minor);
		return -EOPNOTSUPP;
	}
	return 0;
}

/* The earlier process's passthrough table, if it had one: files it opened
 * may still be open in the kernel, in passthrough mode on its
 * registrations, and every new open of those must name the same.  Without
 * the table that cannot be promised: the mount is not taken. */
static int adopt_passthrough(struct pc_fs *fs, const struct pc_fs_state *st,
			     bool died, char *err, size_t errlen)
{
	int rc;

	if (!fs_pt_in_reply(st->init_reply, st->init_reply_len)) {
		if (fs->cfg->passthrough)
			pc_log(PC_LOG_INFO, "fs",
			       "the mount was made without FUSE passthrough: "
			       "files are read through the daemon until it is "
			       "mounted again");
		return 0;
	}
	rc = fs_pt_start(fs, fs_devio_fd(fs), false, died, st->generation);
	if (rc < 0)
		snprintf(err, errlen,
			 "the earlier process's passthrough "
			 "table: %s",
			 strerror(-rc));
	return rc;
}

int pc_fs_adopt(struct pc_fs *fs, const char *mountpoint, int fd,
		const struct pc_fs_state *st, bool need_resend, char *err,
		size_t errlen)
{
	int rc;

	fs->mountpoint = realpath(mountpoint, NULL);
	if (!fs->mountpoint) {
		rc = -errno;
		snprintf(err, errlen, "mount point %s: %s", mountpoint,
			 strerror(errno));
		goto out;
	}
	rc = check_adoptable(fs, fd, st, err, errlen);
	if (rc < 0)
		goto out;
	rc = adopt_session(fs, fd, st, need_resend, err, errlen);
	fd = -1; /* the session's, closed with it */
	if (rc == 0) {
		fs->dev_major = st->dev_major;
		fs->dev_minor = st->dev_minor;
		set_readahead(fs); /* an earlier process's may differ */
		rc = adopt_passthrough(fs, st, need_resend, err, errlen);
	}
	if (rc == 0 && fs_replier_start(fs) < 0) {
		snprintf(err, errlen, "cannot start a thread");
		rc = -EAGAIN;
	}
	if (rc == 0) {
		fs->mounted = true;
		fs->adopted = true;
	}
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0) { /* back to a fresh fs: the caller may mount instead */
		fs_pt_stop(fs);
		if (fs->session)
			fuse_session_destroy(fs->session);
		fs->session = NULL;
		free(fs->mountpoint);
		fs->mountpoint = NULL;
	}
	return rc;
}

void pc_fs_detach_store(struct pc_fs *fs)
{
	fs_replier_stop(fs);
	fs_files_unpin(fs);
	fs->store = NULL;
	fs->net = NULL;
	fs->net_repo = NULL;
}

int pc_fs_attach_store(struct pc_fs *fs, struct pc_store *store)
{
	fs->store = store;
	pthread_mutex_lock(&fs->parked_lock);
	fs->stopping = false; /* fs_replier_stop() set it */
	pthread_mutex_unlock(&fs->parked_lock);
	fs_files_repin(fs);
	fs_handles_hold_all(fs);
	return fs_replier_start(fs);
}

void pc_fs_requeue(struct pc_fs *fs)
{
	int rc;

	/* An older kernel: the old process answered everything it read. */
	if (!fs_devio_kernel_resends(fs))
		return;
	rc = fs_devio_resend(fs);
	if (rc < 0)
		fprintf(stderr,
			"peercache: the kernel did not queue the unanswered "
			"requests again: %s\n",
			strerror(-rc));
}

int pc_fs_run(struct pc_fs *fs, bool *handing_over)
{
	struct fuse_loop_config *loop;
	int rc;

	*handing_over = false;
	/* SIGTERM, SIGINT and SIGHUP end the loop from now on; a daemon
	 * that started this before its mount (then this does nothing) has
	 * them end it from the mount on. */
	if (pc_fs_control_start(fs) < 0)
		return -EIO;
	/* The session is set up: a stop may end it from now on (before,
	 * the stop check below sees it). */
	fs_control_publish(fs);
	if (pc_fs_stop_requested(fs))
		return 0;
	loop = fuse_loop_cfg_create();
	if (!loop)
		return -ENOMEM;
	/* No clone_fd: requests read from a cloned fd fail when the process
	 * that opened it exits, so none would be left for the next one.  A
	 * worker ends only when more than max_idle are idle: never here,
	 * which devio's pause relies on (each worker comes back for the
	 * next request). */
	fuse_loop_cfg_set_clone_fd(loop, 0);
	fuse_loop_cfg_set_max_threads(loop, 16);
	fuse_loop_cfg_set_idle_threads(loop, 16);
	fs_loop_running(fs, true);
	rc = fuse_session_loop_mt(fs->session, loop);
	fs_loop_running(fs, false);
	fuse_loop_cfg_destroy(loop);
	*handing_over = fs_handing_over(fs);
	return rc < 0 && !*handing_over ? rc : 0;
}

#ifdef __SANITIZE_ADDRESS__
/*
 * LeakSanitizer: a process that handed its mount over exits without
 * fuse_session_unmount(), the only libfuse call that frees the mount
 * point's name it kept at fuse_session_mount() (a strdup), because it
 * also unmounts: the mount is the new process's.  libfuse 3.14 has no
 * call that lets go of a mount and keeps it.  That one string is all that
 * leaks, once, at exit.
 */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:fuse_session_mount\n";
}
#endif

void pc_fs_free(struct pc_fs *fs)
{
	if (!fs)
		return;
	/* The answers that pc_net_stop() decided reach the readers before
	 * the mount goes away. */
	pc_fs_control_stop(fs);
	fs_replier_stop(fs);
	/* Handed over: the mount is the new process's, and nothing here
	 * goes near libfuse's unmount path (see above). */
	if (fs->mounted && !fs->handed_over && fs->adopted)
		/* Another process made it: libfuse here knows nothing of it
		 * (fuse_session_unmount() would do nothing). */
		pc_fs_unmount(fs->mountpoint, fs->dev_major, fs->dev_minor);
	else if (fs->mounted && !fs->handed_over)
		fuse_session_unmount(fs->session);
	fs->mounted = false;
	fs_close_open_files(fs);
	fs_close_open_dirs(fs);
	fs_handles_free(fs);
	if (fs->session) /* closes the fd: the new process has its own */
		fuse_session_destroy(fs->session);
	fs_devio_free(fs);
	fs_pt_stop(fs);
	pthread_mutex_destroy(&fs->open_lock);
	pthread_mutex_destroy(&fs->parked_lock);
	pthread_cond_destroy(&fs->parked_cond);
	fs_walk_free(fs->walk);
	free(fs->mountpoint);
	free(fs);
}
