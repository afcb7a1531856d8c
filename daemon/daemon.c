/*
 * daemon.c - the daemon's life once its configuration is read: how it
 * comes to serve a mount, the request loop, a restart without unmount,
 * and its orderly end.  main.c reads the options and daemonizes.
 *
 * It serves one mount per repository of the configuration (repos.c);
 * with several, only fresh mounts (below), each session on a thread of
 * its own.  A mount is served in one of three ways:
 *   - fresh: keys → the mount points (startup.c: a dead mount cleared,
 *     the cache kept out of it, created if missing) → store and each
 *     repository's trees in it (the cache lock refuses a second
 *     instance) → net (fetcher, head pollers, control socket) → for the
 *     repositories new to this node, their first head polls, all at once
 *     and bounded together by fetch_timeout, so that each mounts with
 *     its tree present → mounts;
 *   - resumed from systemd's fd store (fdstore.c): a daemon before this
 *     one died and left its /dev/fuse fd there; the same mount is served
 *     again and the requests it had read are queued again;
 *   - taken over ($PEERCACHE_TAKEOVER_FD, takeover.c): a running daemon
 *     started this binary to hand its mount over (peercachectl restart).
 * Only then (every mount served) does the parent of a daemonizing run
 * exit, with 0.  Under systemd (Type=notify, -f) the same moment is
 * READY=1, and STATUS= names the versions served, at the mount and at
 * every switch.  Notifications go
 * through libsystemd (sd_notify: nothing without $NOTIFY_SOCKET).
 *
 * The request loop ends for a stop signal, or for a takeover: then the
 * net stops and the store closes (its lock with it) for the new process,
 * and come back if the takeover fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "handover.h"
#include "pc_fs.h"
#include "mounts.h"
#include "repos.h"
#include "startup.h"

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

/* The store's log lines (purges, recovery) in the daemon's format. */
static void store_log(void *arg, enum pc_log_level level, const char *line)
{
	const struct pc_config *cfg = arg;

	if (level <= cfg->log_level)
		pc_log_write(level, "store", line);
}

/* The store, and each repository's trees in it (repos.c). */
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
	return repos_open_stores(d);
}

static int start_net(struct daemon *d)
{
	if (repos_new_net(d) < 0)
		return -EIO;
	if (pc_net_start(d->net) < 0) {
		snprintf(d->why, sizeof(d->why),
			 "cannot start the network thread");
		return -EIO;
	}
	return 0;
}

/* The store and the net go (a takeover: one repository); the fs lets go
 * of the store. */
static void stop_net_and_store(struct daemon *d)
{
	if (d->net)
		pc_net_stop(d->net); /* answers parked reads (left to RESEND) */
	pc_fs_detach_store(d->sessions[0].fs);
	pc_net_free(d->net);
	d->net = NULL;
	if (d->store)
		repos_close_stores(d);
}

/* A node that has a version serves it at once; only a fresh one waits for
 * its first head (the poll started by pc_net_start runs either way). */
static bool has_version(struct pc_store *store)
{
	struct pc_store_version cur;

	return pc_store_current(store, &cur) == 0;
}

/* One repository's first-version wait, on a thread of its own. */
struct first_wait {
	struct pc_net_repo *repo;
	struct timespec deadline; /* CLOCK_MONOTONIC, shared by all */
	pthread_t thread;
	bool started;
	int rc;
};

static void *first_wait_main(void *arg)
{
	struct first_wait *w = arg;
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(w->deadline.tv_sec - now.tv_sec) * 1000 +
	     (w->deadline.tv_nsec - now.tv_nsec) / 1000000;
	w->rc = ms > 0 ? pc_net_repo_refresh(w->repo, true, (uint64_t)ms)
		       : -ETIMEDOUT;
	return NULL;
}

static void first_wait_failed(struct daemon *d, struct session *s)
{
	struct pc_net_status st;

	pc_net_repo_status(repos_net_repo(s), &st);
	if (d->nsessions == 1)
		pc_log(PC_LOG_WARN, "main",
		       "first update check failed (%s); mounting "
		       "an empty tree until a version arrives",
		       st.last_error);
	else
		pc_log(PC_LOG_WARN, "main",
		       "%s: first update check failed (%s); mounting "
		       "an empty tree until a version arrives",
		       s->repo->name, st.last_error);
}

/*
 * Each repository new to this node: its first head, all of them at once
 * (a thread each blocks in its refresh) against one deadline,
 * fetch_timeout and a margin from now.  One after another, N repositories
 * whose mirrors stall would take N waits: beyond systemd's start timeout
 * for a few, and the unit killed before READY=1, again and again.
 */
static void first_versions(struct daemon *d)
{
	struct first_wait waits[PC_CONFIG_MAX_REPOS] = { 0 };
	struct timespec deadline;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(d->cfg->fetch_timeout + 5);
	for (size_t i = 0; i < d->nsessions; i++) {
		struct first_wait *w = &waits[i];

		if (has_version(d->sessions[i].store))
			continue;
		w->repo = repos_net_repo(&d->sessions[i]);
		w->deadline = deadline;
		w->started = pthread_create(&w->thread, NULL, first_wait_main,
					    w) == 0;
		if (!w->started) /* no thread: waits here, the others run */
			first_wait_main(w);
	}
	for (size_t i = 0; i < d->nsessions; i++) {
		if (waits[i].started)
			pthread_join(waits[i].thread, NULL);
		if (waits[i].rc < 0)
			first_wait_failed(d, &d->sessions[i]);
	}
}

/* A test build holds this moment (pc_fs_test_hooks). */
static void test_delay(const char *what, unsigned ms)
{
	if (!ms)
		return;
	fprintf(stderr, "peercache: test hook: %s in %u ms\n", what, ms);
	usleep(ms * 1000);
}

static int start_fresh(struct daemon *d)
{
	const struct pc_config *cfg = d->cfg;

	/* Before anything is opened or fetched: each mount point ready (a
	 * dead mount cleared, the cache kept out of it), or a refusal that
	 * says why (startup.c).  Not for a mount taken over or resumed:
	 * that one is alive, and ours. */
	for (size_t i = 0; i < d->nsessions; i++)
		if (startup_prepare(d->sessions[i].mountpoint, cfg, d->why,
				    sizeof(d->why)) < 0)
			return -EINVAL;
	if (open_store(d) < 0)
		return -EIO;
	/* New mounts: no handle or resume of an earlier one matters. */
	pc_fs_resume_forget(cfg->cache_dir);
	for (size_t i = 0; i < d->nsessions; i++)
		if (pc_store_held_clear(d->sessions[i].store) < 0)
			pc_log(PC_LOG_WARN, "main",
			       "cannot clear the held inodes");
	if (start_net(d) < 0)
		return -EIO;
	first_versions(d);
	for (size_t i = 0; i < d->nsessions; i++) {
		struct session *s = &d->sessions[i];

		/* A stop signal from the first mount on ends the daemon
		 * cleanly, every mount unmounted: the request loops (one
		 * thread each with several) start only after READY, and the
		 * signal's default action would leave dead mounts. */
		if (pc_fs_control_start(s->fs) < 0) {
			snprintf(d->why, sizeof(d->why),
				 "cannot start a thread");
			return -ENOMEM;
		}
		if (pc_fs_mount(s->fs, s->mountpoint, d->why, sizeof(d->why)) <
		    0)
			return -EIO;
		fprintf(stderr, "peercache: mounted on %s\n", s->mountpoint);
	}
	test_delay("mounted, serving",
		   d->args->test_hooks ? d->args->test_hooks->mounted_delay_ms
				       : 0);
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

/*
 * Several repositories: systemd's fd store is not used (a crash ends
 * every mount, and the next start clears them: startup.c).  One mount
 * from a run that served one repository may be there: unmounted if it is
 * on one of our mount points, so that a fresh one can go there.
 */
static void drop_any_stored(struct daemon *d)
{
	const char *on = d->sessions[0].mountpoint;
	struct pc_fs_state st;
	int fd, rc;

	rc = pc_fs_fdstore_take(&fd, &st, d->why, sizeof(d->why));
	if (rc < 0)
		fprintf(stderr, "peercache: the fd store: %s\n", d->why);
	if (rc <= 0)
		return;
	close(fd);
	for (size_t i = 0; i < d->nsessions; i++) {
		char *path = realpath(d->sessions[i].mountpoint, NULL);

		if (path && strcmp(path, st.mountpoint) == 0)
			on = d->sessions[i].mountpoint;
		free(path);
	}
	fprintf(stderr,
		"peercache: systemd's fd store keeps the mount on %s of a "
		"daemon that served one repository; this one serves %zu and "
		"does not resume it: mounting afresh\n",
		st.mountpoint, d->nsessions);
	drop_stored_mount(&st, on);
	pc_fs_state_free(&st);
}

/* The mount from the fd store cannot be served (why in d->why): it is
 * dropped, and the daemon starts afresh. */
static int stored_mount_failed(struct daemon *d, struct pc_fs_state *st)
{
	fprintf(stderr,
		"peercache: cannot serve the stored mount: %s; "
		"mounting afresh\n",
		d->why);
	drop_stored_mount(st, d->sessions[0].mountpoint);
	pc_fs_state_free(st);
	repos_close_stores(d);
	return start_fresh(d);
}

/* The mount a daemon before this one left in systemd's fd store, or a
 * fresh one if there is none (or it cannot be served).  One
 * repository. */
static int start_stored(struct daemon *d)
{
	struct session *s = &d->sessions[0];
	struct pc_fs_state st;
	int fd, rc;

	rc = pc_fs_fdstore_take(&fd, &st, d->why, sizeof(d->why));
	if (rc < 0)
		fprintf(stderr, "peercache: the fd store: %s\n", d->why);
	if (rc <= 0)
		return start_fresh(d);
	/* A stop signal from now on unmounts (see start_fresh). */
	if (pc_fs_control_start(s->fs) < 0) {
		pc_fs_state_free(&st);
		close(fd);
		snprintf(d->why, sizeof(d->why), "cannot start a thread");
		return -ENOMEM;
	}
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
		rc = pc_fs_adopt(s->fs, s->mountpoint, fd, &st, true, d->why,
				 sizeof(d->why));
	}
	if (rc < 0)
		return stored_mount_failed(d, &st);
	pc_fs_state_free(&st);
	/* The dead process's open files are adopted on first use: until
	 * then their inodes are kept as their versions drop. */
	if (pc_store_held_presume(s->store) < 0)
		pc_log(PC_LOG_WARN, "main",
		       "cannot keep the inodes of files "
		       "open before the crash");
	if (start_net(d) < 0)
		return -EIO;
	/* Counted before the requests come again: a crash loop they feed
	 * is broken (resume.c). */
	if (pc_fs_resume_start(s->fs, d->cfg->cache_dir) < 0)
		pc_log(PC_LOG_WARN, "main",
		       "resumes are not counted: out of "
		       "memory");
	pc_fs_requeue(s->fs);
	fprintf(stderr,
		"peercache: serving the mount on %s again (from "
		"systemd's fd store)\n",
		s->mountpoint);
	return 0;
}

/* The new process of a takeover: the old one's mount, or exit.  After
 * GO, a failure closes the store and the net before it is reported, so
 * that the old process can open them again.  One repository (a daemon
 * of several refuses restarts; one whose configuration has several now
 * refuses the mount before READY, and the old one goes on). */
static int start_takeover(struct daemon *d)
{
	struct session *s = &d->sessions[0];
	uint32_t generation;
	int rc;

	if (d->nsessions > 1) {
		snprintf(d->why, sizeof(d->why),
			 "restart hands over one mount; the configuration "
			 "now has %zu repositories: stop and start the daemon",
			 d->nsessions);
		return -EINVAL;
	}
	/* A stop signal from now on stops the mount cleanly once this
	 * process serves (pc_fs_run): one the old daemon passes on right
	 * after SERVING must not kill it and leave the mount dead. */
	if (pc_fs_control_start(s->fs) < 0) {
		snprintf(d->why, sizeof(d->why), "cannot start a thread");
		return -ENOMEM;
	}
	if (pc_fs_takeover_accept(s->fs, d->args->takeover_chan, s->mountpoint,
				  d->why, sizeof(d->why)) < 0)
		return -EPROTO;
	if (pc_fs_takeover_ready(s->fs, &generation) < 0) {
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
		pc_fs_takeover_adopt(s->fs); /* pinned before any purge */
	if (rc == 0)
		rc = start_net(d);
	if (rc < 0) {
		stop_net_and_store(d);
		pc_fs_takeover_done(s->fs, d->why);
		return rc;
	}
	test_delay("serving", d->args->test_hooks
				      ? d->args->test_hooks->serve_delay_ms
				      : 0);
	pc_fs_takeover_done(s->fs, NULL);
	fprintf(stderr, "peercache: took the mount on %s over\n",
		s->mountpoint);
	return 0;
}

/* The mount after a takeover that failed: the store, the requests left
 * to the new process, then the net (whose first switch may tell the
 * kernel at once).  0 or -EIO. */
static int serve_again(struct daemon *d)
{
	struct pc_fs *fs = d->sessions[0].fs;
	int rc = open_store(d);

	if (rc == 0)
		rc = pc_fs_attach_store(fs, d->sessions[0].store);
	pc_fs_restart_resume(fs);
	if (rc == 0)
		rc = start_net(d);
	if (rc < 0)
		fprintf(stderr, "peercache: cannot serve again: %s\n", d->why);
	return rc < 0 ? -EIO : 0;
}

/* The loop, until a stop (0), a failure (-EIO), or a takeover that
 * succeeds (0, *@handed_over).  Several repositories: repos_run(). */
static int run(struct daemon *d, bool *handed_over)
{
	struct pc_fs *fs = d->sessions[0].fs;
	bool handing_over;
	int rc;

	*handed_over = false;
	if (d->nsessions > 1)
		return repos_run(d);
	for (;;) {
		rc = pc_fs_run(fs, &handing_over);
		if (!handing_over)
			return rc < 0 ? -EIO : 0;
		stop_net_and_store(d);
		rc = pc_fs_restart_finish(fs);
		*handed_over = rc == 0;
		if (rc == 0 || rc == -ECANCELED) /* served, or a stop */
			return 0;
		/* The new process did not take over: serve again. */
		if (serve_again(d) < 0)
			return -EIO;
		if (pc_fs_stop_requested(fs))
			return 0;
	}
}

static int start(struct daemon *d)
{
	int rc = repos_setup(d);

	if (rc < 0)
		return rc;
	if (d->args->takeover_chan >= 0)
		return start_takeover(d);
	if (d->nsessions > 1) {
		drop_any_stored(d);
		return start_fresh(d);
	}
	return start_stored(d);
}

int daemon_serve(const struct daemon_args *args)
{
	struct daemon d = { .args = args, .cfg = args->cfg };
	int ready_fd = args->ready_fd, rc = 1;
	bool handed_over;

	if (start(&d) < 0) {
		fprintf(stderr, "peercache: %s\n", d.why);
		goto out;
	}
	report_ready(ready_fd, 0);
	ready_fd = -1;
	if (args->takeover_chan >= 0 && !args->foreground &&
	    chdir("/") < 0) /* as the daemon it replaces did */
		fprintf(stderr, "peercache: chdir /: %s\n", strerror(errno));
	repos_notify_serving(&d);
	sd_notify(0, "READY=1");
	rc = run(&d, &handed_over);
	if (handed_over) { /* a new process serves the mount */
		rc = 0;
		goto out;
	}
	rc = rc < 0 ? 1 : 0;
	sd_notify(0, "STOPPING=1");
	pc_fs_fdstore_forget();
	for (size_t i = 0; i < d.nsessions; i++)
		fprintf(stderr, "peercache: unmounting %s\n",
			d.sessions[i].mountpoint);
out:
	report_ready(ready_fd, 1);
	if (d.net)
		pc_net_stop(
			d.net); /* answers parked reads before the unmount */
	repos_free(&d);
	return rc;
}
