/*
 * daemon.c - the daemon's life once its configuration is read: how it
 * comes to serve a mount, the request loop, a restart without unmount,
 * and its orderly end.  main.c reads the options and daemonizes.
 *
 * A mount is served in one of three ways:
 *   - fresh: keys → the mount point (startup.c: a dead mount cleared, the
 *     cache kept out of it, created if missing) → store (the cache lock
 *     refuses a second instance) →
 *     net (fetcher, head poller, control socket) → on a fresh node, the
 *     first head poll, bounded by fetch_timeout, so that it mounts with
 *     its tree present → mount;
 *   - resumed from systemd's fd store (fdstore.c): a daemon before this
 *     one died and left its /dev/fuse fd there; the same mount is served
 *     again and the requests it had read are queued again;
 *   - taken over ($PEERCACHE_TAKEOVER_FD, takeover.c): a running daemon
 *     started this binary to hand its mount over (peercachectl restart).
 * Only then does the parent of a daemonizing run exit, with 0.  Under
 * systemd (Type=notify, -f) the same moment is READY=1, and STATUS= names
 * the version served, at the mount and at every switch.  Notifications go
 * through libsystemd (sd_notify: nothing without $NOTIFY_SOCKET).
 *
 * The request loop ends for a stop signal, or for a takeover: then the
 * net stops and the store closes (its lock with it) for the new process,
 * and come back if the takeover fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "handover.h"
#include "pc_fs.h"
#include "mounts.h"
#include "startup.h"

/* The fs hook wrapped, so that systemd hears of every version switch. */
struct switch_notifier {
	struct pc_net_hooks fs_hooks;
	struct pc_store *store;
	const char *mountpoint;
};

struct daemon {
	const struct daemon_args *args;
	const struct pc_config *cfg;
	struct pc_keyring *ring;
	struct pc_store *store;
	struct pc_net *net;
	struct pc_fs *fs;
	struct switch_notifier notifier;
	struct pc_net_hooks hooks;
	char why[512];
};

static void report_ready(int ready_fd, char status)
{
	int null;

	if (ready_fd < 0)
		return;
	if (status == 0) {
		/* From now on a daemon: no terminal, no cwd. */
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			close(null);
		}
		if (chdir("/") < 0)
			status = 1;
	}
	if (write(ready_fd, &status, 1) != 1)
		status = 1;
	close(ready_fd);
}

/* STATUS= for `systemctl status`: what the mount serves right now.  From
 * the loop thread too: libsystemd's send blocks only if systemd's queue
 * of notifications is full. */
static void notify_serving(struct pc_store *store, const char *mountpoint)
{
	struct pc_store_version cur;

	if (pc_store_current(store, &cur) == 0)
		sd_notifyf(0, "STATUS=serving %s version %llu on %s", cur.name,
			   (unsigned long long)cur.version, mountpoint);
	else
		sd_notifyf(0,
			   "STATUS=mounted on %s, waiting for a first "
			   "version from the mirrors",
			   mountpoint);
}

/* Loop thread (pc_net_hooks.version_switched). */
static void on_version_switched(void *arg, uint64_t version,
				const struct pc_store_changes *changes)
{
	struct switch_notifier *notifier = arg;

	if (notifier->fs_hooks.version_switched)
		notifier->fs_hooks.version_switched(notifier->fs_hooks.arg,
						    version, changes);
	notify_serving(notifier->store, notifier->mountpoint);
}

/* Loop thread (pc_net_hooks.restart). */
static void on_restart(void *arg, int client_fd)
{
	struct switch_notifier *notifier = arg;

	notifier->fs_hooks.restart(notifier->fs_hooks.arg, client_fd);
}

/* The trusted keys of the one repository served (repos[0]: main.c
 * refuses several). */
static struct pc_keyring *load_keyring(const struct pc_config *cfg)
{
	const struct pc_repo_config *repo = &cfg->repos[0];
	struct pc_keyring *ring = pc_keyring_new();
	char why[512];

	for (size_t i = 0; ring && i < repo->ntrusted_keys; i++) {
		if (pc_keyring_add_file(ring, repo->trusted_keys[i], why,
					sizeof(why)) < 0) {
			fprintf(stderr, "peercache: trusted_key: %s\n", why);
			pc_keyring_free(ring);
			return NULL;
		}
	}
	return ring;
}

/* The store's log lines (purges, recovery) in the daemon's format. */
static void store_log(void *arg, enum pc_log_level level, const char *line)
{
	const struct pc_config *cfg = arg;

	if (level <= cfg->log_level)
		pc_log_write(level, "store", line);
}

static int open_store(struct daemon *d)
{
	struct pc_store_options opts = {
		.quota = d->cfg->quota,
		.max_age = d->cfg->max_age,
		.log = store_log,
		.log_arg = (void *)d->cfg,
	};

	if (pc_store_open_with(d->cfg->cache_dir, &opts, &d->store, d->why,
			       sizeof(d->why)) < 0)
		return -EIO;
	d->notifier.store = d->store;
	pc_fs_set_store(d->fs, d->store);
	return 0;
}

static int start_net(struct daemon *d)
{
	d->net = pc_net_new(d->cfg, d->store, d->ring, &d->hooks, d->why,
			    sizeof(d->why));
	if (!d->net)
		return -EIO;
	pc_fs_set_net(d->fs, d->net);
	if (pc_net_start(d->net) < 0) {
		snprintf(d->why, sizeof(d->why),
			 "cannot start the network thread");
		return -EIO;
	}
	return 0;
}

/* The store and the net go (a takeover); the fs lets go of the store. */
static void stop_net_and_store(struct daemon *d)
{
	if (d->net)
		pc_net_stop(d->net); /* answers parked reads (left to RESEND) */
	pc_fs_detach_store(d->fs);
	pc_net_free(d->net);
	d->net = NULL;
	pc_store_close(d->store);
	d->store = NULL;
}

/* A node that has a version serves it at once; only a fresh one waits for
 * its first head (the poll started by pc_net_start runs either way). */
static bool has_version(struct pc_store *store)
{
	struct pc_store_version cur;

	return pc_store_current(store, &cur) == 0;
}

static int start_fresh(struct daemon *d)
{
	const struct pc_config *cfg = d->cfg;

	/* Before anything is opened or fetched: the mount point ready (a
	 * dead mount cleared, the cache kept out of it), or a refusal that
	 * says why (startup.c).  Not for a mount taken over or resumed:
	 * that one is alive, and ours. */
	if (startup_prepare(d->args->mountpoint, cfg, d->why, sizeof(d->why)) <
	    0)
		return -EINVAL;
	if (open_store(d) < 0)
		return -EIO;
	/* A new mount: no handle or resume of an earlier one matters. */
	pc_fs_resume_forget(cfg->cache_dir);
	if (pc_store_held_clear(d->store) < 0)
		pc_log(PC_LOG_WARN, "main", "cannot clear the held inodes");
	if (start_net(d) < 0)
		return -EIO;
	if (!has_version(d->store) &&
	    pc_net_refresh(d->net, true, (cfg->fetch_timeout + 5) * 1000) < 0) {
		struct pc_net_status st;

		pc_net_status(d->net, &st);
		pc_log(PC_LOG_WARN, "main",
		       "first update check failed (%s); mounting "
		       "an empty tree until a version arrives",
		       st.last_error);
	}
	if (pc_fs_mount(d->fs, d->args->mountpoint, d->why, sizeof(d->why)) < 0)
		return -EIO;
	fprintf(stderr, "peercache: mounted on %s\n", d->args->mountpoint);
	return 0;
}

/* A stored mount this daemon cannot serve: gone, so that its readers get
 * an error rather than wait for good (the connection ends once no
 * process holds its fd).  Only a mount of ours, on our mount point, with
 * the device the state names (mounts.c). */
static void drop_stored_mount(const struct pc_fs_state *st,
			      const char *mountpoint)
{
	char *ours = realpath(mountpoint, NULL);

	pc_fs_fdstore_forget();
	if (ours && strcmp(ours, st->mountpoint) == 0)
		pc_fs_unmount(st->mountpoint, st->dev_major, st->dev_minor);
	else
		pc_log(PC_LOG_WARN, "main",
		       "the stored mount is on %s, not on %s: left alone",
		       st->mountpoint, mountpoint);
	free(ours);
}

/* The mount a daemon before this one left in systemd's fd store, or a
 * fresh one if there is none (or it cannot be served). */
static int start_stored(struct daemon *d)
{
	struct pc_fs_state st;
	int fd, rc;

	rc = pc_fs_fdstore_take(&fd, &st, d->why, sizeof(d->why));
	if (rc < 0)
		fprintf(stderr, "peercache: the fd store: %s\n", d->why);
	if (rc <= 0)
		return start_fresh(d);
	if (open_store(d) < 0) {
		pc_fs_state_free(&st);
		close(fd);
		return -EIO;
	}
	if (st.generation != pc_store_generation(d->store)) {
		snprintf(d->why, sizeof(d->why),
			 "the cache index is not the one the mount's inode "
			 "numbers come from");
		close(fd);
		rc = -ESTALE;
	} else {
		rc = pc_fs_adopt(d->fs, d->args->mountpoint, fd, &st, true,
				 d->why, sizeof(d->why));
	}
	if (rc < 0) {
		fprintf(stderr,
			"peercache: cannot serve the stored mount: %s; "
			"mounting afresh\n",
			d->why);
		drop_stored_mount(&st, d->args->mountpoint);
		pc_fs_state_free(&st);
		pc_store_close(d->store);
		d->store = NULL;
		return start_fresh(d);
	}
	pc_fs_state_free(&st);
	/* The dead process's open files are adopted on first use: until
	 * then their inodes are kept as their versions drop. */
	if (pc_store_held_presume(d->store) < 0)
		pc_log(PC_LOG_WARN, "main",
		       "cannot keep the inodes of files "
		       "open before the crash");
	if (start_net(d) < 0)
		return -EIO;
	/* Counted before the requests come again: a crash loop they feed
	 * is broken (resume.c). */
	if (pc_fs_resume_start(d->fs, d->cfg->cache_dir) < 0)
		pc_log(PC_LOG_WARN, "main",
		       "resumes are not counted: out of "
		       "memory");
	pc_fs_requeue(d->fs);
	fprintf(stderr,
		"peercache: serving the mount on %s again (from "
		"systemd's fd store)\n",
		d->args->mountpoint);
	return 0;
}

/* A test build holds this moment (pc_fs_test_hooks). */
static void test_delay(const char *what, unsigned ms)
{
	if (!ms)
		return;
	fprintf(stderr, "peercache: test hook: %s in %u ms\n", what, ms);
	usleep(ms * 1000);
}

/* The new process of a takeover: the old one's mount, or exit.  After
 * GO, a failure closes the store and the net before it is reported, so
 * that the old process can open them again. */
static int start_takeover(struct daemon *d)
{
	uint32_t generation;
	int rc;

	/* A stop signal from now on stops the mount cleanly once this
	 * process serves (pc_fs_run): one the old daemon passes on right
	 * after SERVING must not kill it and leave the mount dead. */
	if (pc_fs_control_start(d->fs) < 0) {
		snprintf(d->why, sizeof(d->why), "cannot start a thread");
		return -ENOMEM;
	}
	if (pc_fs_takeover_accept(d->fs, d->args->takeover_chan,
				  d->args->mountpoint, d->why,
				  sizeof(d->why)) < 0)
		return -EPROTO;
	if (pc_fs_takeover_ready(d->fs, &generation) < 0) {
		snprintf(d->why, sizeof(d->why),
			 "the old daemon called the takeover off");
		return -ECONNRESET;
	}
	rc = open_store(d);
	if (rc == 0 && generation != pc_store_generation(d->store)) {
		snprintf(d->why, sizeof(d->why),
			 "the cache index changed under the mount");
		rc = -ESTALE;
	}
	if (rc == 0)
		pc_fs_takeover_adopt(d->fs); /* pinned before any purge */
	if (rc == 0)
		rc = start_net(d);
	if (rc < 0) {
		stop_net_and_store(d);
		pc_fs_takeover_done(d->fs, d->why);
		return rc;
	}
	test_delay("serving", d->args->test_hooks
				      ? d->args->test_hooks->serve_delay_ms
				      : 0);
	pc_fs_takeover_done(d->fs, NULL);
	fprintf(stderr, "peercache: took the mount on %s over\n",
		d->args->mountpoint);
	return 0;
}

/* The mount after a takeover that failed: the store, the requests left
 * to the new process, then the net (whose first switch may tell the
 * kernel at once).  0 or -EIO. */
static int serve_again(struct daemon *d)
{
	int rc = open_store(d);

	if (rc == 0)
		rc = pc_fs_attach_store(d->fs, d->store);
	pc_fs_restart_resume(d->fs);
	if (rc == 0)
		rc = start_net(d);
	if (rc < 0)
		fprintf(stderr, "peercache: cannot serve again: %s\n", d->why);
	return rc < 0 ? -EIO : 0;
}

/* The loop, until a stop (0), a failure (-EIO), or a takeover that
 * succeeds (0, *@handed_over). */
static int run(struct daemon *d, bool *handed_over)
{
	bool handing_over;
	int rc;

	*handed_over = false;
	for (;;) {
		rc = pc_fs_run(d->fs, &handing_over);
		if (!handing_over)
			return rc < 0 ? -EIO : 0;
		stop_net_and_store(d);
		rc = pc_fs_restart_finish(d->fs);
		*handed_over = rc == 0;
		if (rc == 0 || rc == -ECANCELED) /* served, or a stop */
			return 0;
		/* The new process did not take over: serve again. */
		if (serve_again(d) < 0)
			return -EIO;
		if (pc_fs_stop_requested(d->fs))
			return 0;
	}
}

static int start(struct daemon *d)
{
	const struct daemon_args *a = d->args;

	d->fs = pc_fs_new(d->cfg, NULL, d->why, sizeof(d->why));
	if (!d->fs)
		return -ENOMEM;
	pc_fs_set_command(d->fs, a->exe, a->exe_why, a->argv, a->cwd,
			  a->version);
	pc_fs_set_test_hooks(d->fs, a->test_hooks);
	d->notifier.fs_hooks = pc_fs_net_hooks(d->fs);
	d->notifier.mountpoint = a->mountpoint;
	d->hooks = (struct pc_net_hooks){
		.version_switched = on_version_switched,
		.restart = on_restart,
		.arg = &d->notifier,
	};
	if (a->takeover_chan >= 0)
		return start_takeover(d);
	return start_stored(d);
}

int daemon_serve(const struct daemon_args *args)
{
	struct daemon d = { .args = args, .cfg = args->cfg };
	int ready_fd = args->ready_fd, rc = 1;
	bool handed_over;

	d.ring = load_keyring(d.cfg);
	if (!d.ring)
		goto out;
	if (start(&d) < 0) {
		fprintf(stderr, "peercache: %s\n", d.why);
		goto out;
	}
	report_ready(ready_fd, 0);
	ready_fd = -1;
	if (args->takeover_chan >= 0 && !args->foreground &&
	    chdir("/") < 0) /* as the daemon it replaces did */
		fprintf(stderr, "peercache: chdir /: %s\n", strerror(errno));
	notify_serving(d.store, args->mountpoint);
	sd_notify(0, "READY=1");
	rc = run(&d, &handed_over);
	if (handed_over) { /* a new process serves the mount */
		rc = 0;
		goto out;
	}
	rc = rc < 0 ? 1 : 0;
	sd_notify(0, "STOPPING=1");
	pc_fs_fdstore_forget();
	fprintf(stderr, "peercache: unmounting %s\n", args->mountpoint);
out:
	report_ready(ready_fd, 1);
	if (d.net)
		pc_net_stop(
			d.net); /* answers parked reads before the unmount */
	pc_fs_free(d.fs);
	pc_net_free(d.net);
	if (d.store)
		pc_store_close(d.store);
	pc_keyring_free(d.ring);
	return rc;
}
