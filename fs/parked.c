/*
 * parked.c - reads that wait for chunks to be fetched.
 *
 * A parked read is answered exactly once, by whichever comes first:
 *   - the last of its fetches calling back (loop thread): the data, or EIO;
 *   - its deadline, fetch_timeout after it was parked (replier thread): EIO,
 *     so that no read waits longer than promised whatever net/ does;
 *   - an interrupt from the kernel (the reader was killed): EINTR.
 * parked_claim() decides who answers.  The claimant of an interrupt, and
 * of a completed fetch whose reply is large, does not send the answer
 * itself: it queues the read on fs->answers for a replier thread.  On
 * a cold sequential read, sending replies of up to PC_FS_READ_SIZE would
 * take the loop thread an eighth of its time (spliced; half of it when
 * libfuse copied them), which then goes to driving the downloads; and
 * libfuse runs the interrupt callback with the request's lock held, where
 * no reply may be sent.  Small replies (a small file, the
 * first readahead of a file) and EIO are sent at once by the loop thread:
 * they cost it little, and the wake-up of a replier would add to the
 * latency that a reader of small files waits for.
 * Before replying, whoever sends the answer unregisters the interrupt
 * callback: that takes the request's lock, so it waits for a callback
 * already running and no later one can start, and the callback never sees
 * a freed struct.  References keep the struct alive: one per outstanding
 * fetch, one for the duty to reply (dropped after replying; it also covers
 * the time on the answer queue) and one for membership of the deadline
 * list (dropped by whoever unlinks it, under fs->parked_lock).
 */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "pc_util.h"

/* Replies up to this size are sent by the thread that completes the read's
 * last fetch (see the top of the file). */
#define ANSWER_AT_ONCE_MAX (256 * 1024)

struct parked_read;

/* What a fetch's callback gets: which part of which read it fills. */
struct parked_slot {
	struct parked_read *read;
	unsigned part;
};

struct parked_read {
	struct pc_fs *fs;
	fuse_req_t req;
	struct open_file *of; /* holds a reference */
	off_t off;
	size_t size;
	struct timespec deadline; /* CLOCK_MONOTONIC */
	pthread_mutex_t lock;
	unsigned outstanding;	/* fetches not yet called back; lock */
	int status;		/* first failure; lock */
	bool answered;		/* reply sent or claimed; lock */
	bool registering;	/* in fuse_req_interrupt_func(); lock */
	bool interrupted_early; /* interrupted while registering; lock */
	unsigned refs;		/* see the comment at the top; lock */
	/* Deadline list and answer queue; fs->parked_lock. */
	struct pc_list deadline_link; /* fs->parked */
	struct pc_list answer_link;   /* fs->answers */
	int answer; /* once queued: 0 (the data), -EIO or -EINTR */
	/* The chunks it waits for, pinned until it ends (a file too large
	 * to be pinned whole at open); NULL if none. */
	struct pc_hash *pins;
	unsigned npins;
	/* The bytes of the reply, chunk by chunk from the one at @off: the
	 * files open at park time, then what each fetch hands over (written
	 * under lock; read by the answerer once outstanding is 0). */
	struct fs_part parts[PC_FS_MAX_SPAN];
	unsigned nparts;
	struct parked_slot slots[PC_FS_MAX_SPAN];
};

int fs_parked_init(struct pc_fs *fs)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&fs->parked_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	pthread_mutex_init(&fs->parked_lock, NULL);
	pc_list_init(&fs->parked);
	pc_list_init(&fs->answers);
	return 0;
}

/* Lets go of what @p holds (pins, parts, the open file) and frees it. */
static void parked_free(struct parked_read *p)
{
	for (unsigned i = 0; i < p->npins; i++)
		pc_store_unpin(p->fs->store, &p->pins[i]);
	free(p->pins);
	fs_parts_release(p->parts, p->nparts);
	fs_open_file_put(p->of);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static void parked_put(struct parked_read *p)
{
	bool last;

	pthread_mutex_lock(&p->lock);
	assert(p->refs > 0);
	last = --p->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last)
		parked_free(p);
}

/* True for exactly one caller: the one that answers. */
static bool parked_claim(struct parked_read *p)
{
	bool mine;

	pthread_mutex_lock(&p->lock);
	mine = !p->answered;
	p->answered = true;
	pthread_mutex_unlock(&p->lock);
	return mine;
}

/* With fs->parked_lock held: takes @p off the deadline list.  Returns true
 * if it was on it; the caller then owns the list's reference. */
static bool unlink_locked(struct pc_fs *fs, struct parked_read *p)
{
	(void)fs; /* the list's lock is the caller's */
	if (!pc_list_linked(&p->deadline_link))
		return false;
	pc_list_remove(&p->deadline_link);
	return true;
}

/* Before a reply (see the top of the file). */
static void forget_interrupts(struct parked_read *p)
{
	fuse_req_interrupt_func(p->req, NULL, NULL);
}

static void fail_read(struct parked_read *p)
{
	fs_remember_failure(p->of, (uint64_t)p->off);
	fuse_reply_err(p->req, EIO);
}

/* Sends what the claimant decided, then drops the duty.  The data come
 * from the parts the read holds, never from a second look at the cache:
 * a purge since (a cache smaller than the file) or a full disk (the chunk
 * was never kept) cannot fail it. */
static void send_answer(struct parked_read *p)
{
	forget_interrupts(p); /* waits for on_interrupt */
	if (p->answer == -EINTR)
		fuse_reply_err(p->req, EINTR);
	else if (p->answer < 0 ||
		 fs_reply_parts(p->req, p->of, (uint64_t)p->off, p->size,
				p->parts) < 0)
		fail_read(p);
	parked_put(p); /* the duty to reply */
}

/* Claimant only: takes @p off the deadline list, then sends @outcome (0,
 * -EIO or -EINTR) now, or queues it for a replier (@later; the claimant's
 * duty reference then belongs to the queue). */
static void answer(struct parked_read *p, int outcome, bool later)
{
	struct pc_fs *fs = p->fs;
	bool was_listed;

	pthread_mutex_lock(&fs->parked_lock);
	was_listed = unlink_locked(fs, p);
	p->answer = outcome;
	if (later) {
		pc_list_insert_tail(&fs->answers, &p->answer_link);
		pthread_cond_signal(&fs->parked_cond);
	}
	pthread_mutex_unlock(&fs->parked_lock);
	if (was_listed)
		parked_put(p); /* cannot be the last: the duty's ref remains */
	if (!later)
		send_answer(p);
}

/* The hash of the chunk that @slot waits for. */
static const struct pc_hash *slot_hash(const struct parked_slot *slot)
{
	const struct parked_read *p = slot->read;

	return &p->of->chunks[fs_chunk_at(p->of, (uint64_t)p->off) + slot->part]
			.hash;
}

/* Loop thread: one of the chunks this read waits for arrived (or not),
 * with its bytes in @buf (borrowed) or in the file @fd (ours).  Also a
 * FUSE worker, from fs_park(), when a fetch cannot start. */
static void on_chunk_data(void *arg, int status, struct pc_chunk_buf *buf,
			  int fd)
{
	struct parked_slot *slot = arg;
	struct parked_read *p = slot->read;
	struct fs_part *part = &p->parts[slot->part];
	struct pc_chunk_buf *recent = NULL;
	unsigned left;
	int failure;

	/* A chunk stored by the time its fetch was asked for comes as its
	 * file; if it was fetched a moment ago, its bytes are still in memory
	 * (and its file, written past the page cache, is not). */
	if (status == 0 && !buf && fd >= 0)
		buf = recent = pc_net_chunk_recent(p->fs->net, slot_hash(slot));
	if (recent) {
		pc_store_fd_close(fd);
		fd = -1;
	}
	pthread_mutex_lock(&p->lock);
	if (status == 0) {
		part->buf = buf ? pc_chunk_buf_ref(buf) : NULL;
		part->fd = fd;
	} else if (fd >= 0) {
		pc_store_fd_close(fd);
	}
	if (status < 0 && p->status == 0)
		p->status = status;
	left = --p->outstanding;
	failure = p->status;
	pthread_mutex_unlock(&p->lock);
	pc_chunk_buf_put(recent);
	if (left == 0 && parked_claim(p))
		answer(p, failure < 0 ? -EIO : 0,
		       failure == 0 && p->size > ANSWER_AT_ONCE_MAX);
	parked_put(p); /* this fetch */
}

/* libfuse, with the request lock held: must not reply here. */
static void on_interrupt(fuse_req_t req, void *arg)
{
	struct parked_read *p = arg;
	bool early;

	(void)req;
	if (!parked_claim(p))
		return;
	/* Called from inside fuse_req_interrupt_func() (the request was
	 * interrupted before we registered): nothing can be replied until
	 * that returns, since libfuse holds no reference to the request
	 * there.  fs_park() answers it. */
	pthread_mutex_lock(&p->lock);
	early = p->interrupted_early = p->registering;
	pthread_mutex_unlock(&p->lock);
	if (!early)
		answer(p, -EINTR, true);
}

/* A new parked read holding @parts (moved in) and a reference to @of. */
static struct parked_read *parked_new(struct pc_fs *fs, fuse_req_t req,
				      struct open_file *of, off_t off,
				      size_t size, struct fs_part *parts)
{
	uint64_t end = (uint64_t)off + size;
	struct parked_read *p = calloc(1, sizeof(*p));
	unsigned nparts;

	if (end > of->size)
		end = of->size;
	nparts = fs_chunk_at(of, end - 1) - fs_chunk_at(of, (uint64_t)off) + 1;
	if (!p) {
		fs_parts_release(parts, nparts);
		return NULL;
	}
	p->nparts = nparts;
	pc_list_init(&p->deadline_link);
	pc_list_init(&p->answer_link);
	pthread_mutex_init(&p->lock, NULL);
	p->fs = fs;
	p->req = req;
	p->of = of;
	atomic_fetch_add(&of->refs, 1);
	p->off = off;
	p->size = size;
	for (unsigned i = 0; i < p->nparts; i++) {
		p->parts[i] = parts[i];
		p->slots[i] = (struct parked_slot){ .read = p, .part = i };
	}
	return p;
}

/* A file too large to be pinned whole at open: pins the chunks @p waits
 * for until it ends, so that they are still cached for the next read. */
static void pin_missing(struct parked_read *p, const uint32_t *missing,
			unsigned nmissing)
{
	struct open_file *of = p->of;

	if (of->pinned || !nmissing)
		return;
	p->pins = calloc(nmissing, sizeof(*p->pins));
	for (unsigned i = 0; p->pins && i < nmissing; i++)
		if (pc_store_pin(p->fs->store, &of->chunks[missing[i]].hash) ==
		    0)
			p->pins[p->npins++] = of->chunks[missing[i]].hash;
}

/* Registers for interrupts before any other thread can see @p; false if
 * the request was interrupted already (then it is answered and @p gone). */
static bool register_interrupt(struct parked_read *p)
{
	bool early;

	p->registering = true;
	fuse_req_interrupt_func(p->req, on_interrupt, p);
	pthread_mutex_lock(&p->lock);
	p->registering = false;
	early = p->interrupted_early;
	pthread_mutex_unlock(&p->lock);
	if (!early)
		return true;
	forget_interrupts(p);
	fuse_reply_err(p->req, EINTR);
	parked_free(p);
	return false;
}

/* Deadlines are now + a constant: appending keeps the list sorted. */
static void list_deadline(struct pc_fs *fs, struct parked_read *p)
{
	pthread_mutex_lock(&fs->parked_lock);
	pc_list_insert_tail(&fs->parked, &p->deadline_link);
	if (fs->parked.next == &p->deadline_link) /* the first deadline */
		pthread_cond_signal(&fs->parked_cond);
	pthread_mutex_unlock(&fs->parked_lock);
}

void fs_park(struct pc_fs *fs, fuse_req_t req, struct open_file *of, off_t off,
	     size_t size, struct fs_part *parts, const uint32_t *missing,
	     unsigned nmissing, bool random_read)
{
	struct parked_read *p = parked_new(fs, req, of, off, size, parts);
	uint32_t first = fs_chunk_at(of, (uint64_t)off);

	if (!p) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pin_missing(p, missing, nmissing);
	p->outstanding = nmissing;
	p->refs = nmissing + 2; /* fetches, the duty, the list */
	clock_gettime(CLOCK_MONOTONIC, &p->deadline);
	p->deadline.tv_sec += (time_t)fs->cfg->fetch_timeout;
	pc_store_count(fs->store, PC_CTR_MISSES, 1);
	if (!register_interrupt(p))
		return;
	list_deadline(fs, p);
	for (unsigned i = 0; i < nmissing; i++) {
		struct parked_slot *slot = &p->slots[missing[i] - first];
		int rc = pc_net_repo_fetch_data(
			fs_net_repo(fs), &of->chunks[missing[i]],
			random_read ? PC_FETCH_RANDOM : 0, on_chunk_data, slot);

		if (rc < 0)
			on_chunk_data(slot, rc, NULL, -1);
	}
}

static bool passed(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec ||
	       (now.tv_sec == deadline->tv_sec &&
		now.tv_nsec >= deadline->tv_nsec);
}

/* Takes the oldest queued answer, or NULL.  fs->parked_lock held. */
static struct parked_read *next_answer_locked(struct pc_fs *fs)
{
	struct parked_read *p;

	if (pc_list_empty(&fs->answers))
		return NULL;
	p = container_of(fs->answers.next, struct parked_read, answer_link);
	pc_list_remove(&p->answer_link);
	if (!pc_list_empty(&fs->answers))
		pthread_cond_signal(&fs->parked_cond); /* for another replier */
	return p;
}

/* The parked read with the nearest deadline, or NULL.  fs->parked_lock
 * held. */
static struct parked_read *oldest_locked(struct pc_fs *fs)
{
	if (pc_list_empty(&fs->parked))
		return NULL;
	return container_of(fs->parked.next, struct parked_read, deadline_link);
}

/* A replier thread: queued answers, then expired deadlines (all of them
 * when stopping), then sleep. */
static void *replier_main(void *arg)
{
	struct pc_fs *fs = arg;
	struct parked_read *p;

	pthread_setname_np(pthread_self(), "pc-reply");
	pthread_mutex_lock(&fs->parked_lock);
	for (;;) {
		if ((p = next_answer_locked(fs)) != NULL) {
			pthread_mutex_unlock(&fs->parked_lock);
			send_answer(p);
		} else if ((p = oldest_locked(fs)) != NULL &&
			   (fs->stopping || passed(&p->deadline))) {
			unlink_locked(fs, p); /* its list reference is ours */
			pthread_mutex_unlock(&fs->parked_lock);
			if (parked_claim(p)) {
				forget_interrupts(p);
				fail_read(p);
				parked_put(p); /* the duty to reply */
			}
			parked_put(p); /* the list */
		} else if (fs->stopping) {
			break;
		} else if (p) {
			struct timespec until = p->deadline; /* p may go */

			pthread_cond_timedwait(&fs->parked_cond,
					       &fs->parked_lock, &until);
			continue;
		} else {
			pthread_cond_wait(&fs->parked_cond, &fs->parked_lock);
			continue;
		}
		pthread_mutex_lock(&fs->parked_lock);
	}
	pthread_mutex_unlock(&fs->parked_lock);
	return NULL;
}

int fs_replier_start(struct pc_fs *fs)
{
	while (fs->nrepliers < PC_FS_REPLIERS) {
		int rc = pthread_create(&fs->repliers[fs->nrepliers], NULL,
					replier_main, fs);

		if (rc != 0)
			return -rc;
		fs->nrepliers++;
	}
	return 0;
}

void fs_replier_stop(struct pc_fs *fs)
{
	struct parked_read *p;

	if (fs->nrepliers == 0)
		return;
	pthread_mutex_lock(&fs->parked_lock);
	fs->stopping = true;
	pthread_cond_broadcast(&fs->parked_cond);
	pthread_mutex_unlock(&fs->parked_lock);
	while (fs->nrepliers > 0)
		pthread_join(fs->repliers[--fs->nrepliers], NULL);
	/* A claim that raced with the last replier's exit left its answer
	 * queued: send it here. */
	pthread_mutex_lock(&fs->parked_lock);
	while ((p = next_answer_locked(fs)) != NULL) {
		pthread_mutex_unlock(&fs->parked_lock);
		send_answer(p);
		pthread_mutex_lock(&fs->parked_lock);
	}
	pthread_mutex_unlock(&fs->parked_lock);
}

void fs_parked_drain(struct pc_fs *fs, int timeout_ms)
{
	int64_t deadline = pc_monotonic_ns() + (int64_t)timeout_ms * 1000000;
	bool idle;

	for (;;) {
		pthread_mutex_lock(&fs->parked_lock);
		idle = pc_list_empty(&fs->parked) &&
		       pc_list_empty(&fs->answers);
		pthread_mutex_unlock(&fs->parked_lock);
		if (idle)
			return;
		if (pc_monotonic_ns() >= deadline) {
			fprintf(stderr, "peercache: restart: reads still wait "
					"for the network; they fail\n");
			return;
		}
		usleep(10000);
	}
}
