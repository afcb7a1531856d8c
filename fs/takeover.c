/*
 * takeover.c - `peercachectl restart`: a new process of the binary now on
 * disk takes the mount over from this one, and the mount never goes away
 * (EdenFS's "takeover", CVMFS's reload).
 *
 * The old process (on its control thread, below) starts the binary at the
 * path it was started as, with the same arguments, in the same working
 * directory, and $PEERCACHE_TAKEOVER_FD naming its end of a socketpair.
 * Over it, one message each way at a time:
 *
 *   old → new  OFFER    the /dev/fuse fd (SCM_RIGHTS) and the state
 *   new → old  READY    config and keys loaded, INIT replayed and the same
 *              (or REFUSE and why: the old process goes on)
 *              ... the old one pauses its workers, stops its net, closes
 *              the store (the cache lock goes with it) ...
 *   old → new  GO       the open files, so that the new one pins them
 *   new → old  SERVING  store open, net started, FUSE_NOTIFY_RESEND sent
 *              (or FAILED and why, or nothing: it died; the old process
 *              opens the store, starts its net and serves again)
 *
 * Then the old process tells systemd the new main pid, answers the
 * client, and exits without unmounting.  Until GO the mount is served as
 * usual; from the pause to SERVING requests wait in the kernel's queue:
 * that is the pause readers see.  Replies the old process still had to
 * send are left to the new one (devio.c, "the cut").  Every wait has a
 * deadline; a new process that misses one is killed.
 *
 * The control thread also turns SIGTERM, SIGINT and SIGHUP into the end
 * of the request loop (the signal handler only writes to a pipe).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "devio.h"
#include "exe_path.h"
#include "handover.h"
#include "internal.h"
#include "pc_util.h"
#include "resume.h"
#include "takeover.h"

#define READY_TIMEOUT_MS 60000 /* the new process loads config and keys */
#define SERVING_TIMEOUT_MS 60000
#define PAUSE_TIMEOUT_MS 5000 /* a synchronous request still running */
#define HOLD_TIMEOUT_MS 30000 /* a version switch under way ends */

extern char **environ;

/* The control threads' pipes, one per session of the daemon (a daemon
 * serves one mount per repository): a stop signal wakes every one.  The
 * handler reads them; control start and stop set them, from the threads
 * that run the sessions (compare-and-swap: they may do so at once). */
static atomic_int signal_wake_fds[PC_FS_MAX_SESSIONS] = {
	[0 ... PC_FS_MAX_SESSIONS - 1] = -1
};
/* A stop signal came: set by the handler itself, so that the main thread
 * sees it at once (the control thread may be busy with a restart). */
static atomic_bool stop_signalled;

struct fs_restart *takeover_state(struct pc_fs *fs)
{
	struct fs_restart *r = fs->restart;

	if (r)
		return r;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->wake[0] = r->wake[1] = -1;
	r->queued = r->client = r->chan = -1;
	r->child = r->forward_to = -1;
	pthread_mutex_init(&r->lock, NULL);
	fs->restart = r;
	return r;
}

void pc_fs_set_command(struct pc_fs *fs, const char *exe, const char *exe_why,
		       char *const *argv, const char *cwd, const char *version)
{
	struct fs_restart *r = takeover_state(fs);

	if (!r)
		return; /* restarts will say they cannot */
	r->exe = exe;
	r->exe_why = exe_why;
	r->argv = argv;
	r->cwd = cwd;
	r->version = version;
}

void pc_fs_set_test_hooks(struct pc_fs *fs,
			  const struct pc_fs_test_hooks *hooks)
{
	struct fs_restart *r = takeover_state(fs);

	if (r && hooks)
		r->test = *hooks;
}

bool pc_fs_stop_requested(struct pc_fs *fs)
{
	return atomic_load(&stop_signalled) ||
	       (fs->restart && atomic_load(&fs->restart->stop));
}

/* One JSON line to the client that asked for the restart, then closed. */
static void answer_client(struct fs_restart *r, const char *error)
{
	char line[1024], version[sizeof(r->ready.version)];
	size_t i;

	if (r->client < 0)
		return;
	/* The new process's version, as text fit for a JSON string. */
	for (i = 0; i + 1 < sizeof(version) && r->ready.version[i]; i++)
		version[i] = r->ready.version[i] >= ' ' &&
					     r->ready.version[i] != '"' &&
					     r->ready.version[i] != '\\'
				     ? r->ready.version[i]
				     : '?';
	version[i] = '\0';
	if (error)
		snprintf(line, sizeof(line),
			 "{\"result\":\"error\",\"error\":\"%s\"}\n", error);
	else
		snprintf(line, sizeof(line),
			 "{\"result\":\"ok\",\"error\":\"\",\"pid\":%d,"
			 "\"version\":\"%s\",\"paused_ms\":%" PRId64 "}\n",
			 (int)r->ready.pid, version,
			 (r->serving.serving_ns - r->paused_ns) / 1000000);
	if (send(r->client, line, strlen(line), MSG_NOSIGNAL) < 0)
		fprintf(stderr, "peercache: restart: the client is gone\n");
	close(r->client);
	r->client = -1;
}

/* Says why the restart failed: in the log, and later to the client.
 * Returns @rc (a negative errno) for the caller to return. */
static int __attribute__((format(printf, 3, 4)))
fail(struct fs_restart *r, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	for (char *c = r->error; *c; c++) /* JSON-safe, one line */
		if (*c == '"' || *c == '\\' || (unsigned char)*c < ' ')
			*c = '\'';
	fprintf(stderr,
		"peercache: restart failed: %s; this daemon goes on "
		"serving\n",
		r->error);
	return rc;
}

/* A request that cannot be served now: answered at once. */
static void refuse_client(int fd, const char *error)
{
	char line[256];

	snprintf(line, sizeof(line),
		 "{\"result\":\"error\",\"error\":\"%s\"}\n", error);
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL);
	close(fd);
}

/* ---- the new process ------------------------------------------------------ */

/* Ours, with the channel named and what systemd gave us at start left
 * out.  The strings are borrowed from environ. */
static char **child_environ(void)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], TAKEOVER_ENV "=",
			    sizeof(TAKEOVER_ENV)) != 0 &&
		    strncmp(environ[i], "LISTEN_", 7) != 0)
			env[k++] = environ[i];
	env[k] = (char *)TAKEOVER_ENV "=3";
	return env;
}

/* The binary at r->exe, with @child_end as its fd 3 and no other fd of
 * ours, default signals and none blocked (this thread's mask would be
 * inherited), in the daemon's first working directory. */
static int spawn_child(struct fs_restart *r, int child_end)
{
	posix_spawn_file_actions_t actions;
	posix_spawnattr_t attr;
	sigset_t none, defaults;
	char **env = child_environ();
	int rc;

	if (!env)
		return -ENOMEM;
	posix_spawn_file_actions_init(&actions);
	posix_spawn_file_actions_adddup2(&actions, child_end, 3);
	posix_spawn_file_actions_addclosefrom_np(&actions, 4);
	if (r->cwd)
		posix_spawn_file_actions_addchdir_np(&actions, r->cwd);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigemptyset(&defaults);
	sigaddset(&defaults, SIGPIPE);
	sigaddset(&defaults, SIGUSR2);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &defaults);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawn(&r->child, r->exe, &actions, &attr, r->argv, env);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&actions);
	free(env);
	if (rc != 0)
		r->child = -1;
	return -rc;
}

/* Waits up to @ms for the new process to end, then kills it; how it
 * ended, as a phrase, in @why. */
static void reap_child(struct fs_restart *r, int ms, char *why, size_t len)
{
	int status = 0;
	pid_t got;

	snprintf(why, len, "(pid %d) ended", (int)r->child);
	if (r->child < 0)
		return;
	for (int waited = 0;; waited += 10) {
		got = waitpid(r->child, &status, WNOHANG);
		if (got != 0)
			break;
		if (waited >= ms) {
			kill(r->child, SIGKILL);
			got = waitpid(r->child, &status, 0);
			snprintf(why, len,
				 "(pid %d) was killed: it did not end",
				 (int)r->child);
			r->child = -1;
			return;
		}
		usleep(10000);
	}
	if (got == r->child && WIFEXITED(status))
		snprintf(why, len, "(pid %d) exited with status %d",
			 (int)r->child, WEXITSTATUS(status));
	else if (got == r->child && WIFSIGNALED(status))
		snprintf(why, len, "(pid %d) was killed by signal %d",
			 (int)r->child, WTERMSIG(status));
	r->child = -1;
}

/* The takeover is off: the new process sees its channel close and exits
 * (it touched nothing); it is killed if it does not. */
static void abandon(struct fs_restart *r)
{
	char why[128];

	if (r->chan >= 0)
		close(r->chan);
	r->chan = -1;
	reap_child(r, 5000, why, sizeof(why));
}

/* ---- the old process: the control thread ------------------------------------ */

/* How long after READY the new process may wait for GO: the pause, the
 * reads let finish on a kernel that cannot queue them again, the hold's
 * and test hook's waits, and the net's stop, with room to spare. */
static uint32_t go_within_s(struct pc_fs *fs)
{
	uint32_t s = PAUSE_TIMEOUT_MS / 1000 + 60;

	if (!fs_devio_kernel_resends(fs))
		s += (uint32_t)fs->cfg->fetch_timeout + 1;
	if (fs->restart)
		s += fs->restart->test.pause_ms / 1000;
	return s;
}

/* Starts the binary on disk with the channel and offers it the mount. */
static int offer(struct pc_fs *fs, struct fs_restart *r)
{
	char why[256];
	struct pc_fs_state st;
	int sv[2], child_end, rc;
	void *bytes;
	size_t len;

	if (!r->exe)
		return fail(r, -ENOENT,
			    "the daemon's own binary is unknown: %s",
			    r->exe_why ? r->exe_why : "?");
	if (pc_fs_exe_check(r->exe, why, sizeof(why)) < 0)
		return fail(r, -EPERM, "%s is not started: %s", r->exe, why);
	rc = pc_fs_state_get(fs, &st);
	if (rc < 0)
		return fail(r, rc, "%s",
			    rc == -EAGAIN   ? "the mount is not ready yet"
			    : rc == -ENODEV ? "the mount's device is unknown"
					    : "out of memory");
	st.go_within_s = go_within_s(fs);
	rc = pc_fs_state_encode(&st, &bytes, &len);
	pc_fs_state_free(&st);
	if (rc < 0)
		return fail(r, rc, "out of memory");
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		free(bytes);
		return fail(r, -errno, "socketpair: %s", strerror(errno));
	}
	/* Not fd 3: dup2 onto itself would keep close-on-exec. */
	child_end = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
	close(sv[1]);
	r->chan = sv[0];
	rc = child_end < 0 ? -errno : spawn_child(r, child_end);
	if (child_end >= 0)
		close(child_end);
	if (rc < 0) {
		free(bytes);
		return fail(r, rc, "cannot start %s: %s", r->exe,
			    strerror(-rc));
	}
	fprintf(stderr,
		"peercache: restart: %s (pid %d) is to take the mount "
		"over\n",
		r->exe, (int)r->child);
	rc = takeover_send(r->chan, MSG_OFFER, bytes, len,
			   fuse_session_fd(fs->session));
	free(bytes);
	if (rc < 0 && rc != -EPIPE && rc != -ECONNRESET)
		return fail(r, rc, "the takeover channel: %s", strerror(-rc));
	return 0; /* a child that died already shows in wait_ready() */
}

/* The control pipe while a restart waits: another request is refused; a
 * signal, or the daemon's end, ends the restart (true). */
static bool interrupted(struct fs_restart *r)
{
	bool end = false;
	char c;

	while (read(r->wake[0], &c, 1) == 1) {
		if (c == 'R') {
			pthread_mutex_lock(&r->lock);
			if (r->queued >= 0)
				refuse_client(r->queued, "a restart is already "
							 "under way");
			r->queued = -1;
			pthread_mutex_unlock(&r->lock);
			continue;
		}
		if (c == 'T')
			atomic_store(&r->stop, true);
		else
			r->quit = true;
		end = true; /* 'T' or 'Q' */
	}
	return end;
}

static int wait_ready(struct fs_restart *r)
{
	char why[128];
	size_t len = 0;
	int type, fd;

	do {
		type = takeover_recv(r->chan, READY_TIMEOUT_MS, r->wake[0],
				     r->buf, &len, &fd);
		if (fd >= 0)
			close(fd);
		if (type == -EINTR && interrupted(r))
			return fail(r, -ECANCELED, "the daemon is stopping");
	} while (type == -EINTR);
	if (type == MSG_READY && len == sizeof(r->ready)) {
		memcpy(&r->ready, r->buf, len);
		r->ready.version[sizeof(r->ready.version) - 1] = '\0';
		return 0;
	}
	if (type == MSG_REFUSE)
		return fail(r, -EPROTO, "the new process (pid %d) refused: %s",
			    (int)r->child, r->buf);
	if (type == -ECONNRESET) {
		reap_child(r, 5000, why, sizeof(why));
		return fail(r, -ECHILD,
			    "the new process %s before it was ready", why);
	}
	if (type == -ETIMEDOUT)
		return fail(r, -ETIMEDOUT,
			    "the new process (pid %d) was not ready within "
			    "%d s",
			    (int)r->child, READY_TIMEOUT_MS / 1000);
	return fail(r, type < 0 ? type : -EPROTO, "the takeover channel: %s",
		    type < 0 ? strerror(-type) : "an unexpected message");
}

/* The workers stop reading, replies are left to the new process (or, on
 * a kernel without FUSE_NOTIFY_RESEND, the parked reads are let finish),
 * and the request loop ends: pc_fs_run() says it is handing over. */
static int let_go(struct pc_fs *fs, struct fs_restart *r)
{
	atomic_store(&r->quiesced, true);
	if (fs_devio_pause(fs, PAUSE_TIMEOUT_MS) < 0) {
		atomic_store(&r->quiesced, false);
		return fail(r, -ETIMEDOUT,
			    "a request did not finish within %d s",
			    PAUSE_TIMEOUT_MS / 1000);
	}
	r->paused_ns = pc_monotonic_ns();
	if (r->test.pause_ms) {
		fprintf(stderr,
			"peercache: restart: test hook: paused for %u ms\n",
			r->test.pause_ms);
		usleep(r->test.pause_ms * 1000);
	}
	if (fs_devio_kernel_resends(fs))
		fs_devio_cut(fs);
	else
		fs_parked_drain(fs, (int)(fs->cfg->fetch_timeout + 1) * 1000);
	atomic_store(&r->handing_over, true);
	fs_devio_exit(fs, fs->session);
	return 0;
}

static void serve_request(struct pc_fs *fs, struct fs_restart *r)
{
	pthread_mutex_lock(&r->lock);
	r->client = r->queued;
	r->queued = -1;
	r->busy = r->client >= 0;
	pthread_mutex_unlock(&r->lock);
	if (r->client < 0)
		return;
	r->error[0] = '\0';
	memset(&r->ready, 0, sizeof(r->ready));
	r->paused_ns = 0;
	/* No version switch from now on: its invalidations would wait for
	 * the paused workers, and the loop thread with them (switch_hold.c
	 * in net/).  Released if the takeover is called off before the
	 * pause; after it the net stops. */
	if (pc_net_hold_switches(fs->net, HOLD_TIMEOUT_MS) < 0) {
		fail(r, -EBUSY,
		     "a version switch (install, rollback or unpin) did not "
		     "end within %d s",
		     HOLD_TIMEOUT_MS / 1000);
		answer_client(r, r->error);
		goto out;
	}
	if (offer(fs, r) == 0 && wait_ready(r) == 0 && let_go(fs, r) == 0)
		return; /* the main thread goes on: pc_fs_restart_finish() */
	pc_net_release_switches(fs->net);
	abandon(r);
	answer_client(r, r->error);
out:
	pthread_mutex_lock(&r->lock);
	r->busy = false;
	pthread_mutex_unlock(&r->lock);
}

static void *control_main(void *arg)
{
	struct pc_fs *fs = arg;
	struct fs_restart *r = fs->restart;
	struct pollfd pfd = { .fd = r->wake[0], .events = POLLIN };
	char c;

	for (;;) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return NULL;
		while (read(r->wake[0], &c, 1) == 1) {
			if (c == 'Q')
				return NULL;
			if (c == 'R')
				serve_request(fs, r);
			else
				atomic_store(&r->stop, true);
			if (r->quit)
				return NULL;
			/* A stop ends the loop (also one that came during a
			 * restart; harmless once the loop has ended). */
			if (atomic_load(&r->stop) && atomic_load(&r->session))
				fs_devio_exit(fs, atomic_load(&r->session));
		}
	}
}

/* @fd into a free slot of signal_wake_fds (any thread). */
static int wake_fd_add(int fd)
{
	for (int i = 0; i < PC_FS_MAX_SESSIONS; i++) {
		int free_slot = -1;

		if (atomic_compare_exchange_strong(&signal_wake_fds[i],
						   &free_slot, fd))
			return 0;
	}
	return -EMFILE;
}

/* @fd out of signal_wake_fds (any thread); true if it was the last one
 * (no session left to stop). */
static bool wake_fd_remove(int fd)
{
	bool last = true;

	for (int i = 0; i < PC_FS_MAX_SESSIONS; i++) {
		int slot = fd;

		if (fd < 0 || !atomic_compare_exchange_strong(
				      &signal_wake_fds[i], &slot, -1)) {
			if (atomic_load(&signal_wake_fds[i]) >= 0)
				last = false;
		}
	}
	return last;
}

static void on_stop_signal(int sig)
{
	int saved = errno;
	char c = 'T';

	(void)sig;
	atomic_store(&stop_signalled, true); /* lock-free: signal-safe */
	for (int i = 0; i < PC_FS_MAX_SESSIONS; i++) {
		int fd = atomic_load(&signal_wake_fds[i]);

		if (fd >= 0 && write(fd, &c, 1) < 0) {
			/* a full pipe already holds a stop */
		}
	}
	errno = saved;
}

int pc_fs_control_start(struct pc_fs *fs)
{
	struct sigaction sa = { .sa_handler = on_stop_signal,
				.sa_flags = SA_RESTART };
	struct fs_restart *r = takeover_state(fs);
	int rc;

	if (!r)
		return -ENOMEM;
	if (atomic_load(&r->running))
		return 0;
	if (pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	if (wake_fd_add(r->wake[1]) < 0)
		return -EMFILE; /* more sessions than a daemon has */
	/* A shell starts background jobs with SIGINT ignored: these three
	 * always mean "stop". */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	rc = pthread_create(&r->thread, NULL, control_main, fs);
	if (rc != 0)
		return -rc;
	atomic_store(&r->running, true);
	return 0;
}

/* A stop signal that came after the mount was handed over (until this
 * process lets go of the signals): the new process is the daemon now. */
static void forward_stop(struct fs_restart *r)
{
	if (r->forward_to <= 0 ||
	    !(atomic_load(&stop_signalled) || atomic_load(&r->stop)))
		return;
	fprintf(stderr,
		"peercache: restart: a stop signal came during the handover; "
		"passed on to pid %d, which serves the mount now\n",
		(int)r->forward_to);
	kill(r->forward_to, SIGTERM);
}

void fs_control_publish(struct pc_fs *fs)
{
	if (fs->restart)
		atomic_store(&fs->restart->session, fs->session);
}

void pc_fs_control_stop(struct pc_fs *fs)
{
	struct fs_restart *r = fs->restart;
	char c = 'Q';

	if (!r)
		return;
	if (atomic_load(&r->running)) {
		if (write(r->wake[1], &c, 1) != 1)
			fprintf(stderr, "peercache: cannot stop the control "
					"thread\n");
		pthread_join(r->thread, NULL);
		atomic_store(&r->running, false);
		forward_stop(r);
		/* The daemon's other sessions still stop on a signal. */
		if (wake_fd_remove(r->wake[1])) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGHUP, SIG_DFL);
		}
	} else {
		wake_fd_remove(r->wake[1]);
	}
	for (int i = 0; i < 2; i++)
		if (r->wake[i] >= 0)
			close(r->wake[i]);
	if (r->queued >= 0)
		refuse_client(r->queued, "the daemon is stopping");
	if (r->client >= 0)
		answer_client(r, r->error[0] ? r->error
					     : "the daemon is stopping");
	if (r->chan >= 0)
		close(r->chan);
	pthread_mutex_destroy(&r->lock);
	fs_resume_free(fs);
	free(r->refs);
	free(r);
	fs->restart = NULL;
}

void pc_fs_restart_request(struct pc_fs *fs, int client_fd)
{
	struct fs_restart *r = fs->restart;
	const char *refusal = NULL;

	if (!r || !atomic_load(&r->running)) {
		refuse_client(client_fd, "this daemon cannot restart");
		return;
	}
	pthread_mutex_lock(&r->lock);
	if (r->refusal)
		refusal = r->refusal;
	else if (r->busy || r->queued >= 0)
		refusal = "a restart is already under way";
	else if (!atomic_load(&r->loop_running)) /* starting */
		refusal = "the daemon is not ready yet (it is starting, or "
			  "taking a mount over); try again in a moment";
	else
		r->queued = client_fd;
	pthread_mutex_unlock(&r->lock);
	if (refusal)
		refuse_client(client_fd, refusal);
	else if (write(r->wake[1], "R", 1) != 1)
		fprintf(stderr, "peercache: restart: cannot wake the control "
				"thread\n");
}

/* ---- the old process: the main thread, once the loop has ended ------------ */

/* The new process serves: systemd hears of its pid, the client of the
 * outcome, and this process exits without unmounting. */
static void handed_over(struct pc_fs *fs, struct fs_restart *r)
{
	long long waited = (r->serving.serving_ns - r->paused_ns) / 1000000,
		  here = (r->go_ns - r->paused_ns) / 1000000,
		  there = (r->serving.serving_ns - r->serving.go_ns) / 1000000;

	fprintf(stderr,
		"peercache: restart: pid %d (peercache %s) serves the mount "
		"now; requests waited %lld ms (%lld ms here to stop the net "
		"and close the store, %lld ms there to open it and start the "
		"net)\n",
		(int)r->ready.pid, r->ready.version, waited, here, there);
	if (r->test.mainpid_delay_ms) {
		fprintf(stderr, "peercache: test hook: MAINPID= in %u ms\n",
			r->test.mainpid_delay_ms);
		usleep(r->test.mainpid_delay_ms * 1000);
	}
	/* Before this process exits, or systemd would take its exit for the
	 * service's end (the barrier waits until systemd has read it); the
	 * channel closes after it, which tells the new process that its own
	 * notifications are the main process's now. */
	if (sd_notifyf(0, "MAINPID=%d", (int)r->ready.pid) > 0)
		sd_notify_barrier(0, 5 * 1000000ULL);
	fs->handed_over = true;
	close(r->chan);
	r->chan = -1;
	r->forward_to = r->child; /* a stop signal now is the new one's */
	r->child = -1;		  /* it goes on; it is not ours to reap */
	answer_client(r, NULL);
}

int pc_fs_restart_finish(struct pc_fs *fs)
{
	struct fs_restart *r = fs->restart;
	struct fs_handle_ref *refs = NULL;
	size_t n = 0, len = 0;
	int type, fd = -1;
	char why[128];

	/* A stop signal since the pause: the daemon stops, and nothing is
	 * handed over (the new process sees the channel close and exits). */
	if (pc_fs_stop_requested(fs)) {
		fail(r, -ECANCELED, "the daemon is stopping");
		abandon(r);
		return -ECANCELED;
	}
	if (fs_files_export(fs, &refs, &n) < 0)
		n = 0;
	if (n > REFS_MAX)
		n = REFS_MAX; /* the others are adopted on first use */
	r->go_ns = pc_monotonic_ns();
	type = takeover_send(r->chan, MSG_GO, refs, n * sizeof(*refs), -1);
	free(refs);
	if (type == 0)
		type = takeover_recv(r->chan, SERVING_TIMEOUT_MS, -1, r->buf,
				     &len, &fd);
	if (fd >= 0)
		close(fd);
	if (type == MSG_SERVING && len == sizeof(r->serving)) {
		memcpy(&r->serving, r->buf, sizeof(r->serving));
		handed_over(fs, r);
		return 0;
	}
	if (type == MSG_FAILED) {
		fail(r, -ECHILD,
		     "the new process (pid %d) could not take over: %s",
		     (int)r->child, r->buf);
	} else if (type == -ECONNRESET || type == -EPIPE) {
		reap_child(r, 5000, why, sizeof(why));
		fail(r, -ECHILD, "the new process %s while taking over", why);
	} else {
		fail(r, -ECHILD,
		     "the new process (pid %d) did not serve within %d s",
		     (int)r->child, SERVING_TIMEOUT_MS / 1000);
	}
	abandon(r);
	return -ECHILD;
}

void pc_fs_restart_resume(struct pc_fs *fs)
{
	struct fs_restart *r = fs->restart;

	atomic_store(&r->handing_over, false);
	fs_devio_serve(fs);
	atomic_store(&r->quiesced, false);
	/* What was left to the new process, and what it read and did not
	 * answer, is queued again for this one. */
	pc_fs_requeue(fs);
	answer_client(r, r->error);
	pthread_mutex_lock(&r->lock);
	r->busy = false;
	pthread_mutex_unlock(&r->lock);
}

bool fs_handing_over(struct pc_fs *fs)
{
	return fs->restart && atomic_load(&fs->restart->handing_over);
}

void fs_loop_running(struct pc_fs *fs, bool running)
{
	if (fs->restart)
		atomic_store(&fs->restart->loop_running, running);
}

bool fs_quiesced(struct pc_fs *fs)
{
	return fs->restart && atomic_load(&fs->restart->quiesced);
}
