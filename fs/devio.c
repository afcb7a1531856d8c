/*
 * devio.c - how the FUSE session reads and writes /dev/fuse.
 *
 * libfuse's custom I/O (fuse_session_custom_io) routes every read of a
 * request and every reply through the three callbacks below, so that a
 * restart without unmount (takeover.c) can:
 *
 *   - pause the workers without losing a request.  libfuse drops a request
 *     read while the session is exiting (fuse_session_receive_buf_int), so
 *     the loop may only end once no worker reads.  A worker announces that
 *     it is about to read (phase READING) and then checks the state; a
 *     pause sets the state, then wakes every READING worker out of its
 *     blocking read(2) with SIGUSR2 (libfuse's workers block only SIGTERM,
 *     SIGINT, SIGHUP and SIGQUIT; the handler is installed without
 *     SA_RESTART, so read returns EINTR), again every millisecond until
 *     none reads and none holds a request (phase BUSY until it comes back
 *     for the next one).  A blocking read keeps the hot path one system
 *     call; the kernel wakes one reader per request.
 *   - leave replies to the next process ("the cut"): once the old process
 *     lets go, a reply it still writes (a parked read finishing, an EIO
 *     from its shutdown) is not written; the request stays in the
 *     kernel's processing list, and FUSE_NOTIFY_RESEND (Linux 6.9) queues
 *     it again for the new reader.  Nothing is answered twice.
 *   - keep the INIT exchange: the first process records the request and
 *     its reply; a new process on the same fd replays the request into its
 *     session and checks that libfuse would answer the same.
 *
 * Replies are spliced (splice_send): without it libfuse would copy them.
 * The workers read the session's one fd: a cloned fd (clone_fd) would
 * take the requests it read with it when the process exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/fuse.h>

#include "devio.h"
#include "internal.h"
#include "pc_log.h"
#include "pc_util.h"
#include "resume.h"

#define KICK_SIGNAL SIGUSR2
/* Newer than Debian 12's linux/fuse.h (7.38); the values of 7.40. */
#define NOTIFY_RESEND 7		/* FUSE_NOTIFY_RESEND */
#define HAS_RESEND (1ULL << 39) /* FUSE_HAS_RESEND, in flags2 */
#define INIT_IN_BASE 16		/* major, minor, readahead, flags */
#define INIT_IN_EXT 64		/* with flags2 (FUSE_INIT_EXT) */
#define INIT_OUT_MIN 24		/* FUSE_COMPAT_22_INIT_OUT_SIZE */
#define INIT_MAX 4096		/* far more than any INIT request or reply */

enum devio_state {
	DEVIO_SERVE,
	DEVIO_PAUSE,
	DEVIO_EXIT
};
enum worker_phase {
	PHASE_IDLE,
	PHASE_READING,
	PHASE_BUSY
};

struct devio_worker {
	struct fs_devio *io;
	pthread_t thread;
	atomic_int phase;    /* enum worker_phase; written by the worker */
	bool requeued;	     /* it holds a requeued request; the worker's own */
	struct pc_list link; /* io->workers; io->lock */
};

struct fs_devio {
	int fd;		   /* the session's /dev/fuse fd; set before the loop */
	int devnull;	   /* read-only after new */
	pthread_key_t key; /* the calling worker's struct devio_worker */
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* the state changed; with lock */
	struct pc_list workers; /* struct devio_worker; lock */
	atomic_int state;	/* enum devio_state; written with lock */
	atomic_bool cut;	/* replies are not written */
	atomic_uint writing;	/* replies being written */
	void (*on_init)(struct pc_fs *); /* set before the loop */

	/* INIT: its unique while being answered (0 otherwise), and the bytes
	 * of the request and the reply once done.  The request and reply
	 * bytes are written by the one worker that reads (and answers) the
	 * INIT, before it sets init_done; everyone else reads them only
	 * after seeing init_done.  A replay (a new process) runs on the
	 * main thread before any worker exists, and owns the replay
	 * fields while it runs. */
	_Atomic uint64_t init_unique;
	atomic_bool init_done;
	bool replaying;	  /* the reply is compared, not written */
	int replay_rc;	  /* the replay's verdict */
	char *replay_err; /* the replay's caller's buffer */
	size_t replay_errlen;
	char init_req[INIT_MAX], init_reply[INIT_MAX]; /* see above */
	size_t init_req_len, init_reply_len;
	struct pc_fs *fs; /* read-only */
};

static void on_kick(int sig)
{
	(void)sig; /* only to interrupt a read(2) */
}

/* Thread exit: the worker leaves the list (pthread key destructor). */
static void worker_gone(void *arg)
{
	struct devio_worker *w = arg;

	pthread_mutex_lock(&w->io->lock);
	pc_list_remove(&w->link);
	pthread_mutex_unlock(&w->io->lock);
	free(w);
}

int fs_devio_new(struct pc_fs *fs)
{
	struct sigaction kick = { .sa_handler = on_kick };
	struct fs_devio *io = calloc(1, sizeof(*io));

	int rc;

	if (!io)
		return -ENOMEM;
	io->fs = fs;
	io->fd = -1;
	io->devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	rc = io->devnull < 0 ? -errno
			     : -pthread_key_create(&io->key, worker_gone);
	if (rc < 0) {
		if (io->devnull >= 0)
			close(io->devnull);
		free(io);
		return rc;
	}
	pthread_mutex_init(&io->lock, NULL);
	pc_list_init(&io->workers);
	pthread_cond_init(&io->cond, NULL);
	sigemptyset(&kick.sa_mask);
	sigaction(KICK_SIGNAL, &kick, NULL); /* no SA_RESTART */
	fs->devio = io;
	return 0;
}

void fs_devio_free(struct pc_fs *fs)
{
	struct fs_devio *io = fs->devio;

	if (!io)
		return;
	/* The loop has ended: the workers and their keys are gone. */
	pthread_key_delete(io->key);
	pthread_mutex_destroy(&io->lock);
	pthread_cond_destroy(&io->cond);
	close(io->devnull);
	free(io);
	fs->devio = NULL;
}

/* The calling worker's entry, made on its first read; NULL without
 * memory. */
static struct devio_worker *worker_self(struct fs_devio *io)
{
	struct devio_worker *w = pthread_getspecific(io->key);

	if (w)
		return w;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->io = io;
	w->thread = pthread_self();
	atomic_init(&w->phase, PHASE_IDLE);
	pthread_mutex_lock(&io->lock);
	pc_list_insert_head(&io->workers, &w->link);
	pthread_mutex_unlock(&io->lock);
	pthread_setspecific(io->key, w);
	return w;
}

/* A paused worker waits here; returns the state that let it go. */
static int wait_while_paused(struct fs_devio *io)
{
	int state;

	pthread_mutex_lock(&io->lock);
	while ((state = atomic_load(&io->state)) == DEVIO_PAUSE)
		pthread_cond_wait(&io->cond, &io->lock);
	pthread_mutex_unlock(&io->lock);
	return state;
}

/* The first process: the kernel's INIT request, kept for the next one. */
static void note_request(struct fs_devio *io, const void *buf, ssize_t n)
{
	const struct fuse_in_header *in = buf;

	if (n < (ssize_t)sizeof(*in) || in->opcode != FUSE_INIT ||
	    atomic_load(&io->init_done) || (size_t)n > INIT_MAX)
		return;
	memcpy(io->init_req, buf, (size_t)n);
	io->init_req_len = (size_t)n;
	atomic_store(&io->init_unique, in->unique);
}

/* libfuse's read callback, on a worker.  Cancellation is off inside: a
 * worker is never cancelled in here (the loop's end wakes it instead). */
static ssize_t devio_read(int fd, void *buf, size_t len, void *userdata)
{
	struct pc_fs *fs = userdata;
	struct fs_devio *io = fs->devio;
	struct devio_worker *w = worker_self(io);
	ssize_t n = -1;
	int cancel, err = ENOMEM;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel);
	if (w && w->requeued) { /* its processing returned */
		w->requeued = false;
		fs_resume_done(fs);
	}
	while (w) {
		atomic_store(&w->phase, PHASE_READING);
		if (atomic_load(&io->state) != DEVIO_SERVE) {
			atomic_store(&w->phase, PHASE_IDLE);
			if (wait_while_paused(io) == DEVIO_EXIT) {
				err = EINTR; /* libfuse sees the session exited */
				break;
			}
			continue;
		}
		n = read(fd, buf, len);
		err = errno;
		if (n > 0) {
			atomic_store(&w->phase, PHASE_BUSY);
			note_request(io, buf, n);
			switch (fs_resume_request(fs, fd, buf, (size_t)n)) {
			case RESUME_ANSWERED:
				atomic_store(&w->phase, PHASE_IDLE);
				continue;
			case RESUME_REQUEUED:
				w->requeued = true;
				break;
			case RESUME_PROCESS:
				break;
			}
			break;
		}
		atomic_store(&w->phase, PHASE_IDLE);
		if (n < 0 && err == EINTR)
			continue; /* kicked: look at the state again */
		break;
	}
	pthread_setcancelstate(cancel, NULL);
	errno = err;
	return n;
}

/* Copies @iov into @out (at most INIT_MAX bytes); the total length. */
static size_t gather(const struct iovec *iov, int count, char *out)
{
	size_t total = 0;

	for (int i = 0; i < count; i++) {
		if (total + iov[i].iov_len <= INIT_MAX)
			memcpy(out + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	return total;
}

/* The INIT reply being replayed: compared, never written. */
static ssize_t replayed_reply(struct fs_devio *io, const struct iovec *iov,
			      int count)
{
	char reply[INIT_MAX];
	size_t len = gather(iov, count, reply);

	if (len != io->init_reply_len || memcmp(reply, io->init_reply, len)) {
		const struct fuse_init_out
			*now = (const void *)(reply + 16),
			*then = (const void *)(io->init_reply + 16);

		io->replay_rc = -EPROTO;
		if (len >= 16 + 24 && io->init_reply_len >= 16 + 24)
			snprintf(io->replay_err, io->replay_errlen,
				 "this build would answer the kernel's INIT "
				 "differently (protocol 7.%u, flags %#x, "
				 "max_write %u; the mount has 7.%u, %#x, %u)",
				 now->minor, now->flags, now->max_write,
				 then->minor, then->flags, then->max_write);
		else
			snprintf(io->replay_err, io->replay_errlen,
				 "this build would answer the kernel's INIT "
				 "differently (%zu bytes, not %zu)",
				 len, io->init_reply_len);
	}
	atomic_store(&io->init_unique, 0);
	atomic_store(&io->init_done, io->replay_rc == 0);
	return (ssize_t)len;
}

/* The first process's INIT reply: kept, then written. */
static void note_reply(struct fs_devio *io, const struct iovec *iov, int count)
{
	size_t len = gather(iov, count, io->init_reply);

	if (len > INIT_MAX)
		return; /* not kept: a restart will be refused */
	io->init_reply_len = len;
	atomic_store(&io->init_unique, 0);
	atomic_store(&io->init_done, true);
}

/* The registration the calling worker's next OPEN reply names (0: none):
 * fs_devio_open_backing(). */
static __thread uint32_t open_backing;

void fs_devio_open_backing(uint32_t backing)
{
	open_backing = backing;
}

/* The first process's INIT reply: passthrough is asked for if the kernel
 * offers it, the configuration allows it, this process may use it and
 * its table is ready (before the reply: the first OPEN may come at once).
 * @copy holds the rewritten struct. */
static void init_passthrough(struct fs_devio *io, struct iovec *iov, int count,
			     char *copy, size_t room)
{
	struct pc_fs *fs = io->fs;

	if (!fs->cfg->passthrough)
		return;
	if (!fs_pt_offered(io->init_req, io->init_req_len)) {
		pc_log(PC_LOG_INFO, "fs",
		       "the kernel offers no FUSE passthrough (Linux 6.9): "
		       "files are read through the daemon");
		return;
	}
	if (!fs_pt_capable()) {
		pc_log(PC_LOG_INFO, "fs",
		       "FUSE passthrough needs CAP_SYS_ADMIN: files are "
		       "read through the daemon");
		return;
	}
	if (fs_pt_start(fs, io->fd, true, false,
			pc_store_generation(fs->store)) < 0)
		return;
	if (!fs_pt_ask(iov, count, copy, room))
		fs_pt_stop(fs);
}

/* A reply may go out: true, and it counts as being written until the
 * caller subtracts it; false once the cut came (the reply is left to
 * RESEND). */
static bool reply_begin(struct fs_devio *io)
{
	atomic_fetch_add(&io->writing, 1);
	if (!atomic_load(&io->cut))
		return true;
	atomic_fetch_sub(&io->writing, 1);
	return false;
}

static ssize_t devio_writev(int fd, struct iovec *iov, int count,
			    void *userdata)
{
	struct fs_devio *io = ((struct pc_fs *)userdata)->devio;
	const struct fuse_out_header *out = iov[0].iov_base;
	uint64_t init = atomic_load(&io->init_unique);
	struct fuse_open_out open_copy;
	char init_copy[INIT_MAX];
	ssize_t n;
	int err;

	if (init && out->unique == init && io->replaying) {
		/* The recorded reply asked for passthrough if this build's
		 * first process did: so would this one. */
		if (fs_pt_in_reply(io->init_reply, io->init_reply_len))
			fs_pt_ask(iov, count, init_copy, sizeof(init_copy));
		return replayed_reply(io, iov, count);
	}
	if (out->unique == 0) /* a notification, not a reply */
		return writev(fd, iov, count);
	if (init && out->unique == init)
		init_passthrough(io, iov, count, init_copy, sizeof(init_copy));
	if (open_backing)
		fs_pt_open_reply(iov, count, &open_copy, open_backing);
	if (!reply_begin(io)) {
		errno = ENOENT; /* as for an interrupted request: quiet */
		return -1;
	}
	n = writev(fd, iov, count);
	err = errno;
	atomic_fetch_sub(&io->writing, 1);
	if (init && out->unique == init && n >= 0) {
		note_reply(io, iov, count);
		if (io->on_init)
			io->on_init(io->fs);
	}
	errno = err;
	return n;
}

/* Spliced replies (file data): after the cut, the pipe is emptied into
 * /dev/null and libfuse told it went out, as the kernel will ask again. */
static ssize_t devio_splice_send(int fdin, off_t *offin, int fdout,
				 off_t *offout, size_t len, unsigned int flags,
				 void *userdata)
{
	struct fs_devio *io = ((struct pc_fs *)userdata)->devio;
	size_t drained = 0;
	ssize_t n;
	int err;

	if (reply_begin(io)) {
		n = splice(fdin, offin, fdout, offout, len, flags);
		err = errno;
		atomic_fetch_sub(&io->writing, 1);
		errno = err;
		return n;
	}
	while (drained < len) {
		n = splice(fdin, NULL, io->devnull, NULL, len - drained, 0);
		if (n <= 0)
			return -1;
		drained += (size_t)n;
	}
	return (ssize_t)len;
}

static const struct fuse_custom_io devio_ops = {
	.read = devio_read,
	.writev = devio_writev,
	.splice_send = devio_splice_send,
};

int fs_devio_fd(struct pc_fs *fs)
{
	return fs->devio->fd;
}

int fs_devio_attach(struct pc_fs *fs, struct fuse_session *se, int fd)
{
	int rc = fuse_session_custom_io(se, &devio_ops, fd);

	if (rc == 0)
		fs->devio->fd = fd;
	return rc;
}

bool fs_devio_init(struct pc_fs *fs, const void **req, size_t *req_len,
		   const void **reply, size_t *reply_len)
{
	struct fs_devio *io = fs->devio;

	if (!atomic_load(&io->init_done))
		return false;
	*req = io->init_req;
	*req_len = io->init_req_len;
	*reply = io->init_reply;
	*reply_len = io->init_reply_len;
	return true;
}

uint32_t fs_devio_kernel_minor(struct pc_fs *fs)
{
	struct fs_devio *io = fs->devio;
	const struct fuse_init_in *in =
		(const void *)(io->init_req + sizeof(struct fuse_in_header));

	if (!atomic_load(&io->init_done) ||
	    io->init_req_len < sizeof(struct fuse_in_header) + 8)
		return 0;
	return in->major == 7 ? in->minor : 0;
}

bool fs_devio_kernel_resends(struct pc_fs *fs)
{
	struct fs_devio *io = fs->devio;

	return atomic_load(&io->init_done) &&
	       fs_init_resends(io->init_req, io->init_req_len);
}

bool fs_init_sane(const void *req, size_t req_len, const void *reply,
		  size_t reply_len)
{
	struct fuse_in_header in;
	struct fuse_out_header out;
	uint32_t flags;

	if (req_len < sizeof(in) + INIT_IN_BASE || req_len > INIT_MAX ||
	    reply_len < sizeof(out) + INIT_OUT_MIN || reply_len > INIT_MAX)
		return false;
	memcpy(&in, req, sizeof(in));
	memcpy(&flags, (const char *)req + sizeof(in) + 12, sizeof(flags));
	memcpy(&out, reply, sizeof(out));
	if (in.len != req_len || in.opcode != FUSE_INIT ||
	    ((flags & FUSE_INIT_EXT) && req_len < sizeof(in) + INIT_IN_EXT))
		return false;
	return out.len == reply_len && out.error == 0 &&
	       out.unique == in.unique;
}

bool fs_init_resends(const void *req, size_t req_len)
{
	uint32_t flags, flags2;

	if (req_len < sizeof(struct fuse_in_header) + INIT_IN_EXT)
		return false;
	req = (const char *)req + sizeof(struct fuse_in_header);
	memcpy(&flags, (const char *)req + 12, sizeof(flags));
	memcpy(&flags2, (const char *)req + 16, sizeof(flags2));
	return (flags & FUSE_INIT_EXT) && (flags2 & (HAS_RESEND >> 32));
}

void fs_devio_on_init(struct pc_fs *fs, void (*hook)(struct pc_fs *fs))
{
	fs->devio->on_init = hook;
}

int fs_devio_replay_init(struct pc_fs *fs, struct fuse_session *se,
			 const void *req, size_t req_len, const void *reply,
			 size_t reply_len, char *err, size_t errlen)
{
	struct fs_devio *io = fs->devio;
	const struct fuse_in_header *in = req;
	struct fuse_buf buf = { .size = req_len, .mem = (void *)req };

	if (!fs_init_sane(req, req_len, reply, reply_len)) {
		snprintf(err, errlen, "the saved INIT exchange is damaged");
		return -EPROTO;
	}
	memcpy(io->init_req, req, req_len);
	io->init_req_len = req_len;
	memcpy(io->init_reply, reply, reply_len);
	io->init_reply_len = reply_len;
	io->replaying = true;
	io->replay_rc = 0;
	io->replay_err = err;
	io->replay_errlen = errlen;
	atomic_store(&io->init_unique, in->unique);
	fuse_session_process_buf(se, &buf); /* replies through devio_writev */
	io->replaying = false;
	if (atomic_load(&io->init_unique) != 0) { /* no reply came */
		snprintf(err, errlen, "libfuse did not answer the saved INIT");
		io->replay_rc = -EPROTO;
	}
	return io->replay_rc;
}

/* Wakes every worker in read(2) with @state set, then reports whether one
 * still reads (@busy: or holds a request).  With io->lock held. */
static bool kick_locked(struct fs_devio *io, bool busy)
{
	struct pc_list *pos;
	bool left = false;

	pc_list_each(pos, &io->workers)
	{
		struct devio_worker *w =
			container_of(pos, struct devio_worker, link);
		int phase = atomic_load(&w->phase);

		if (phase == PHASE_READING) {
			pthread_kill(w->thread, KICK_SIGNAL);
			left = true;
		} else if (busy && phase == PHASE_BUSY) {
			left = true;
		}
	}
	return left;
}

/* Kicks until no worker reads (@busy: or holds a request); a kick that
 * lands just before a worker enters read(2) is lost, hence the retries.
 * 0, or -ETIMEDOUT after @timeout_ms. */
static int kick_until_quiet(struct fs_devio *io, bool busy, int timeout_ms)
{
	int64_t deadline = pc_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	bool left;

	for (;;) {
		pthread_mutex_lock(&io->lock);
		left = kick_locked(io, busy);
		pthread_mutex_unlock(&io->lock);
		if (!left)
			return 0;
		if (pc_monotonic_ns() >= deadline)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

static void set_state(struct fs_devio *io, enum devio_state state)
{
	pthread_mutex_lock(&io->lock);
	atomic_store(&io->state, state);
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
}

int fs_devio_pause(struct pc_fs *fs, int timeout_ms)
{
	struct fs_devio *io = fs->devio;
	int rc;

	set_state(io, DEVIO_PAUSE);
	rc = kick_until_quiet(io, true, timeout_ms);
	if (rc < 0)
		set_state(io, DEVIO_SERVE);
	return rc;
}

void fs_devio_cut(struct pc_fs *fs)
{
	struct fs_devio *io = fs->devio;

	atomic_store(&io->cut, true);
	while (atomic_load(&io->writing) > 0)
		usleep(100);
}

void fs_devio_exit(struct pc_fs *fs, struct fuse_session *se)
{
	struct fs_devio *io = fs->devio;

	fuse_session_exit(se);
	set_state(io, DEVIO_EXIT);
	/* A worker busy with a request sees the state when it comes back. */
	if (kick_until_quiet(io, false, 10000) < 0)
		fprintf(stderr, "peercache: a FUSE worker does not leave "
				"its read of /dev/fuse\n");
}

void fs_devio_serve(struct pc_fs *fs)
{
	struct fs_devio *io = fs->devio;

	atomic_store(&io->cut, false);
	set_state(io, DEVIO_SERVE);
}

int fs_devio_resend(struct pc_fs *fs)
{
	struct fuse_out_header notify = { .len = sizeof(notify),
					  .error = NOTIFY_RESEND,
					  .unique = 0 };

	if (write(fs->devio->fd, &notify, sizeof(notify)) < 0)
		return -errno;
	return 0;
}
