/*
 * fetch.c - getting chunks into the store: single flight, sources in
 * order, retries, deadlines.
 *
 * A table keyed by hash holds one fetch per chunk being fetched; every
 * request for that hash becomes one more waiter of the same fetch, so a
 * chunk that fifty readers want crosses the network once.  A fetch tries
 * its sources in order (the LAN peers, then the mirrors in configuration
 * order); the body of each attempt goes through chunk_rx.c (received into
 * memory, hashed and written by workers, renamed into the store).  A
 * source that sends wrong bytes is counted and not asked again for that
 * chunk; a source that fails otherwise is retried after the whole list,
 * with a growing pause, while the fetch's deadline allows.
 *
 * Waiters are of two kinds.  Readers (pc_net_fetch_data) get the verified
 * bytes themselves: the fetch's memory buffer, or the chunk file opened
 * for them when it was cached already; a purge or a full disk can then
 * never fail them.  Everyone else (read-ahead, the head poller, peercachectl
 * prefetch) is told when the chunk is in the store.
 *
 * One uv timer per fetch serves both the overall deadline (fetch_timeout
 * from the first request) and the pause between rounds.  At most
 * cfg->max_fetches fetches hold a transfer at once, and a fetch holds its
 * slot until its bytes are verified and written: so the memory in flight
 * is at most max_fetches chunks (plus what readers still hold).  The rest
 * wait in FIFO order, readers' fetches before read-ahead.  All of it runs
 * on the loop thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

#define BACKOFF_FIRST_MS 200
#define BACKOFF_MAX_MS 5000
/* Less time than this left: the deadline has come, do not start more. */
#define ATTEMPT_MIN_MS 50

/* ---- the table -------------------------------------------------------------- */

static struct net_fetch **bucket(struct pc_net *net, const struct pc_hash *h)
{
	/* SHA-256 output is uniform: its first bytes are a good hash. */
	size_t i = ((size_t)h->bytes[0] | (size_t)h->bytes[1] << 8) %
		   NET_FETCH_BUCKETS;

	return &net->fetcher.table[i];
}

static struct net_fetch *table_find(struct pc_net *net,
				    const struct pc_hash *hash)
{
	struct net_fetch *f = *bucket(net, hash);

	while (f && !pc_hash_equal(&f->hash, hash))
		f = f->table_next;
	return f;
}

struct net_fetch *net_fetch_find(struct pc_net *net, const struct pc_hash *hash)
{
	return table_find(net, hash);
}

void net_fetch_each(struct pc_net *net, void (*fn)(struct net_fetch *, void *),
		    void *arg)
{
	struct net_fetch *f, *next;

	for (size_t i = 0; i < NET_FETCH_BUCKETS; i++)
		for (f = net->fetcher.table[i]; f; f = next) {
			next = f->table_next;
			fn(f, arg);
		}
}

static void table_remove(struct pc_net *net, struct net_fetch *fetch)
{
	struct net_fetch **slot = bucket(net, &fetch->hash);

	while (*slot != fetch)
		slot = &(*slot)->table_next;
	*slot = fetch->table_next;
}

/* ---- life of a fetch ---------------------------------------------------------- */

static void on_uv_fetch_timer(uv_timer_t *timer);
static void fetch_pump(struct pc_net *net);

/* What a manifest larger than a chunk gets on top of fetch_timeout: the
 * time its size takes at a slow link's pace, capped (a head naming a
 * 1 GiB manifest that never arrives held an install for 4.5 hours). */
static uint64_t size_allowance_ms(uint64_t len)
{
	uint64_t ms;

	if (len <= PC_CHUNK_MAX)
		return 0;
	ms = len * 1000 / NET_SLOW_LINK_BYTES_PER_S;
	return ms < NET_SLOW_LINK_MAX_MS ? ms : NET_SLOW_LINK_MAX_MS;
}

/*
 * Chunks are what readers wait for, so fetch_timeout bounds them.  A
 * manifest can be far larger and no reader waits on it: a transfer of it
 * in progress also gets its size's allowance (the low-speed abort still
 * ends one that stalls); retries do not (round_failed).
 */
static uint64_t timeout_ms(const struct pc_net *net, uint64_t len)
{
	return net->cfg->fetch_timeout * 1000 + size_allowance_ms(len);
}

static struct net_fetch *fetch_new(struct pc_net *net,
				   const struct pc_hash *hash, uint64_t len)
{
	struct net_fetch *f = calloc(1, sizeof(*f) + net->fetcher.state_size);
	struct net_fetch **slot;

	if (!f)
		return NULL;
	f->net = net;
	f->hash = *hash;
	pc_hash_to_hex(hash, f->hex);
	f->len = len;
	f->waiters_tail = &f->waiters;
	pc_list_init(&f->queue_link);
	uv_timer_init(&net->loop, &f->timer);
	f->deadline = uv_now(&net->loop) + timeout_ms(net, len);
	uv_timer_start(&f->timer, on_uv_fetch_timer, timeout_ms(net, len), 0);
	slot = bucket(net, hash);
	f->table_next = *slot;
	*slot = f;
	return f;
}

static void add_waiter(struct net_fetch *f, struct net_req *waiter)
{
	if (waiter->flags & PC_FETCH_RANDOM)
		f->random = true;
	waiter->next = NULL;
	*f->waiters_tail = waiter;
	f->waiters_tail = &waiter->next;
}

static void enqueue(struct pc_net *net, struct net_fetch *f, bool first)
{
	struct pc_list *queue = f->prefetch ? &net->fetcher.prefetch_queue
					    : &net->fetcher.demand_queue;

	f->state = FETCH_QUEUED;
	if (f->prefetch)
		net->fetcher.prefetch_queued++;
	if (first)
		pc_list_insert_head(queue, &f->queue_link);
	else
		pc_list_insert_tail(queue, &f->queue_link);
}

static void dequeue(struct pc_net *net, struct net_fetch *f)
{
	pc_list_remove(&f->queue_link);
	if (f->prefetch)
		net->fetcher.prefetch_queued--;
}

static void on_uv_fetch_closed(uv_handle_t *handle)
{
	struct net_fetch *f =
		container_of((uv_timer_t *)handle, struct net_fetch, timer);

	free(f);
}

void net_waiter_complete(struct pc_net *net, struct net_req *waiter, int status,
			 struct pc_chunk_buf *buf, bool stored)
{
	int fd = -1;

	if (!waiter->done_data) {
		/* Their promise: the chunk is in the store. */
		waiter->done(waiter->arg,
			     status == 0 && !stored ? -EIO : status);
	} else if (status < 0 || buf) {
		waiter->done_data(waiter->arg, status, status < 0 ? NULL : buf,
				  -1);
	} else {
		/* A success without bytes in memory (an object the store
		 * streamed to disk): the chunk file, if still there. */
		fd = pc_store_chunk_open(net->store, &waiter->ref.hash);
		waiter->done_data(waiter->arg, fd < 0 ? -EIO : 0, NULL, fd);
	}
	free(waiter);
}

void net_fetch_verified(struct pc_net *net, struct net_fetch *f,
			struct pc_chunk_buf *buf)
{
	struct net_req **link = &f->waiters, *waiter;

	if (!f->buf)
		f->buf = pc_chunk_buf_ref(buf);
	while ((waiter = *link)) {
		if (!waiter->done_data) {
			link = &waiter->next;
			continue;
		}
		*link = waiter->next;
		if (f->waiters_tail == &waiter->next)
			f->waiters_tail = link;
		net_waiter_complete(net, waiter, 0, f->buf, false);
	}
}

/* Ends @f: every waiter gets @status (and the verified bytes), once; the
 * memory goes with the timer's close callback. */
static void fetch_finish(struct pc_net *net, struct net_fetch *f, int status)
{
	struct net_req *waiter, *next;

	table_remove(net, f);
	if (f->state == FETCH_QUEUED) {
		dequeue(net, f);
	} else if (f->state == FETCH_RUNNING) {
		net->fetcher.running--;
		if (f->source < net->fetcher.nsources)
			net->fetcher.sources[f->source].ops->cancel(net, f);
	}
	for (size_t i = 0; i < net->fetcher.nsources; i++)
		if (net->fetcher.sources[i].ops->end)
			net->fetcher.sources[i].ops->end(net, f);
	net_health_fetch_failed(net, f, status);
	uv_close((uv_handle_t *)&f->timer, on_uv_fetch_closed);
	/* Out of the table first: a waiter may ask for the hash again. */
	for (waiter = f->waiters; waiter; waiter = next) {
		next = waiter->next;
		net_waiter_complete(net, waiter, status, f->buf, f->stored);
	}
	pc_chunk_buf_put(f->buf);
	f->buf = NULL;
	if (!net->shutting_down)
		fetch_pump(net);
}

static bool source_usable(const struct net_fetch *f, size_t i)
{
	return !(f->bad_sources & ((uint64_t)1 << i));
}

uint64_t net_fetch_foreign(const struct pc_net *net, const struct net_fetch *f)
{
	uint64_t mask = 0;

	for (size_t i = 0; i < net->fetcher.nsources; i++) {
		const struct pc_net_repo *repo = net->fetcher.sources[i].repo;

		if (repo && !(f->repos & (UINT32_C(1) << repo->index)))
			mask |= (uint64_t)1 << i;
	}
	return mask;
}

bool net_fetch_another_source(struct pc_net *net, const struct net_fetch *f)
{
	uint64_t excluded =
		f->tried | f->bad_sources | net_fetch_foreign(net, f);

	return net_health_next(net, excluded, false) < net->fetcher.nsources;
}

/* The deadline has come: readers get -ETIMEDOUT. */
static void fetch_timed_out(struct pc_net *net, struct net_fetch *f)
{
	pc_log(f->prefetch ? PC_LOG_INFO : PC_LOG_WARN, "net",
	       "chunk %s: not fetched within %" PRIu64 " s", f->hex,
	       net->cfg->fetch_timeout);
	fetch_finish(net, f, -ETIMEDOUT);
}

/* Every source failed once more: pause, or give up.  Rounds are retried
 * within fetch_timeout only: a large object's allowance is for a transfer
 * in progress, not for asking sources that answer 404 again and again.
 *
 * The last attempt may have been cut by the deadline itself: its
 * CURLOPT_TIMEOUT_MS ends at the same moment as the fetch's timer, but
 * on libcurl's clock, and when the loop wakes late libcurl's timer may
 * run first.  So the time is read afresh (uv_now() is the loop's wake-up
 * time), and a deadline that has come is a time-out whichever timer ran
 * first, not every source failing. */
static void round_failed(struct pc_net *net, struct net_fetch *f)
{
	uint64_t pause = BACKOFF_FIRST_MS, now;
	uint64_t retry_end = f->deadline - size_allowance_ms(f->len);
	uint64_t foreign = net_fetch_foreign(net, f);
	bool any_usable = false;

	for (size_t i = 0; i < net->fetcher.nsources; i++)
		any_usable |=
			!(foreign & ((uint64_t)1 << i)) && source_usable(f, i);
	uv_update_time(&net->loop);
	now = uv_now(&net->loop);
	if (any_usable && now + ATTEMPT_MIN_MS > f->deadline) {
		fetch_timed_out(net, f);
		return;
	}
	for (unsigned i = 0; i < f->round && pause < BACKOFF_MAX_MS; i++)
		pause *= 2;
	if (pause > BACKOFF_MAX_MS)
		pause = BACKOFF_MAX_MS;
	f->round++;
	if (!any_usable || now + pause + ATTEMPT_MIN_MS >= retry_end) {
		pc_log(f->prefetch ? PC_LOG_INFO : PC_LOG_WARN, "net",
		       "chunk %s: no source delivered it, giving up", f->hex);
		fetch_finish(net, f, -EIO);
		return;
	}
	pc_log(PC_LOG_INFO, "net",
	       "chunk %s: every source failed, retrying in %" PRIu64 " ms",
	       f->hex, pause);
	net->fetcher.running--;
	f->state = FETCH_BACKOFF;
	uv_timer_start(&f->timer, on_uv_fetch_timer, pause, 0);
	fetch_pump(net);
}

/* Starts the next attempt of a running fetch: the next source of this
 * round in source_health.c's order (healthy mirrors before demoted ones),
 * given its share of the time left. */
static void fetch_attempt(struct pc_net *net, struct net_fetch *f)
{
	uint64_t excluded, foreign = net_fetch_foreign(net, f);
	uint64_t now, left;
	int rc;

	for (;;) {
		excluded = f->tried | f->bad_sources | foreign;
		f->source = net_health_next(net, excluded, true);
		if (f->source >= net->fetcher.nsources) {
			round_failed(net, f);
			return;
		}
		f->tried |= (uint64_t)1 << f->source;
		now = uv_now(&net->loop);
		left = f->deadline > now ? f->deadline - now : 0;
		if (left < ATTEMPT_MIN_MS) {
			fetch_timed_out(net, f);
			return;
		}
		f->attempt_start = now ? now : 1;
		f->attempt_budget = net_health_budget(
			net, f->source, f->tried | f->bad_sources | foreign,
			left);
		f->wake_at = 0; /* a wake-up is the attempt's own */
		rc = net->fetcher.sources[f->source].ops->start(
			net, &net->fetcher.sources[f->source], f,
			f->attempt_budget);
		if (rc == 0)
			return;
		f->attempt_start = 0;
		if (rc == -ENOENT)
			continue; /* nothing to ask there (no peer has it) */
		pc_log(PC_LOG_WARN, "net", "chunk %s: cannot ask %s: %s",
		       f->hex, net->fetcher.sources[f->source].base,
		       strerror(-rc));
	}
}

/* Gives free transfer slots to waiting fetches: readers first. */
static void fetch_pump(struct pc_net *net)
{
	struct pc_list *queue;
	struct net_fetch *f;

	if (net->fetcher.pumping)
		return; /* an outer call is looping already */
	net->fetcher.pumping = true;
	while (net->fetcher.running < net->cfg->max_fetches) {
		if (!pc_list_empty(&net->fetcher.demand_queue))
			queue = &net->fetcher.demand_queue;
		else if (!pc_list_empty(&net->fetcher.prefetch_queue))
			queue = &net->fetcher.prefetch_queue;
		else
			break;
		f = container_of(queue->next, struct net_fetch, queue_link);
		dequeue(net, f);
		f->state = FETCH_RUNNING;
		net->fetcher.running++;
		fetch_attempt(net, f);
	}
	net->fetcher.pumping = false;
}

void net_fetch_rearm(struct pc_net *net, struct net_fetch *f)
{
	uint64_t now = uv_now(&net->loop), until = f->deadline;

	if (f->wake_at && f->wake_at < until)
		until = f->wake_at;
	uv_timer_start(&f->timer, on_uv_fetch_timer,
		       until > now ? until - now : 0, 0);
}

void net_fetch_wake_at(struct pc_net *net, struct net_fetch *f, uint64_t when)
{
	f->wake_at = when;
	net_fetch_rearm(net, f);
}

void *net_fetch_source_state(const struct net_fetch *f,
			     const struct net_source *src)
{
	return (char *)f->source_state + src->state_offset; /* like strchr */
}

static void on_uv_fetch_timer(uv_timer_t *timer)
{
	struct net_fetch *f = container_of(timer, struct net_fetch, timer);
	struct pc_net *net = f->net;
	uint64_t now = uv_now(&net->loop);

	if (f->state == FETCH_RUNNING && f->wake_at &&
	    now + ATTEMPT_MIN_MS < f->deadline) {
		/* A neighbour we waited for did not deliver in time. */
		f->wake_at = 0;
		net_fetch_rearm(net, f);
		net->fetcher.sources[f->source].ops->wake(net, f);
		return;
	}

	if (f->state == FETCH_BACKOFF && now + ATTEMPT_MIN_MS < f->deadline) {
		/* The pause is over: back in line, ahead of newer fetches. */
		f->source = 0;
		f->tried = 0;
		enqueue(net, f, true);
		uv_timer_start(&f->timer, on_uv_fetch_timer, f->deadline - now,
			       0);
		fetch_pump(net);
		return;
	}
	fetch_timed_out(net, f);
}

void net_fetch_attempt_done(struct pc_net *net, struct net_fetch *f,
			    enum net_attempt outcome)
{
	const struct net_source *src = &net->fetcher.sources[f->source];

	NET_LOOP_ONLY(net);
	net_health_report(net, f, outcome);
	if (src->ops->verdict)
		src->ops->verdict(net, f, outcome);
	switch (outcome) {
	case NET_ATTEMPT_OK:
		pc_store_count(net->store, src->ops->bytes_counter, f->len);
		pc_log(PC_LOG_DEBUG, "net",
		       "chunk %s: %" PRIu64 " bytes from %s", f->hex, f->len,
		       src->base);
		fetch_finish(net, f, 0);
		return;
	case NET_ATTEMPT_BAD:
		pc_store_count(net->store, src->ops->bad_counter, 1);
		f->bad_sources |= (uint64_t)1 << f->source;
		break;
	case NET_ATTEMPT_FAILED:
		break;
	case NET_ATTEMPT_FATAL:
		fetch_finish(net, f, -EIO);
		return;
	}
	fetch_attempt(net, f);
}

/* ---- requests ----------------------------------------------------------------- */

/* A reader now waits for @f: it leaves the read-ahead line, and its
 * deadline starts from now. */
static void promote(struct pc_net *net, struct net_fetch *f)
{
	uint64_t timeout = timeout_ms(net, f->len);

	if (f->state == FETCH_QUEUED) {
		dequeue(net, f);
		f->prefetch = false;
		enqueue(net, f, false);
	}
	f->prefetch = false;
	f->deadline = uv_now(&net->loop) + timeout;
	if (f->state != FETCH_BACKOFF)
		net_fetch_rearm(net, f); /* a peer wait may end sooner */
}

/* @repo (NULL: the first) wants @f: its mirrors may be asked too. */
static void fetch_wanted_by(struct pc_net *net, struct net_fetch *f,
			    const struct pc_net_repo *repo)
{
	f->repos |= UINT32_C(1) << (repo ? repo->index : 0);
	(void)net;
}

static void fetch_get(struct pc_net *net, const struct pc_hash *hash,
		      uint64_t len, struct net_req *waiter)
{
	struct net_fetch *f = table_find(net, hash);
	int fd;

	if (f && f->buf && waiter->done_data) { /* verified, being stored */
		net_waiter_complete(net, waiter, 0, f->buf, false);
		return;
	}
	if (f) {
		fetch_wanted_by(net, f, waiter->repo);
		if (f->prefetch)
			promote(net, f);
		add_waiter(f, waiter);
		return;
	}
	if (!waiter->done_data && pc_store_chunk_present(net->store, hash)) {
		net_waiter_complete(net, waiter, 0, NULL, true);
		return;
	}
	/* A reader gets a cached chunk as an open file: a purge that
	 * follows cannot take it away any more. */
	if (waiter->done_data &&
	    (fd = pc_store_chunk_open(net->store, hash)) >= 0) {
		waiter->done_data(waiter->arg, 0, NULL, fd);
		free(waiter);
		return;
	}
	f = fetch_new(net, hash, len);
	if (!f) {
		net_waiter_complete(net, waiter, -EIO, NULL, false);
		return;
	}
	fetch_wanted_by(net, f, waiter->repo);
	add_waiter(f, waiter);
	enqueue(net, f, false);
	fetch_pump(net);
}

void net_fetch_waiter(struct pc_net *net, struct net_req *waiter)
{
	struct pc_hash hash = waiter->ref.hash;

	NET_LOOP_ONLY(net);
	fetch_get(net, &hash, waiter->ref.len, waiter);
}

int net_fetch_object(struct pc_net *net, struct pc_net_repo *repo,
		     const struct pc_hash *hash, uint64_t len,
		     pc_fetch_done done, void *arg)
{
	struct net_req *waiter = calloc(1, sizeof(*waiter));

	NET_LOOP_ONLY(net);
	if (!waiter)
		return -ENOMEM;
	waiter->kind = NET_REQ_FETCH;
	waiter->repo = repo;
	waiter->done = done;
	waiter->arg = arg;
	fetch_get(net, hash, len, waiter);
	return 0;
}

int net_fetch_background(struct pc_net *net, struct pc_net_repo *repo,
			 const struct pc_chunk_ref *ref, pc_fetch_done done,
			 void *arg)
{
	struct net_req *waiter;
	struct net_fetch *f;

	NET_LOOP_ONLY(net);
	if (ref->len == 0 || ref->len > PC_CHUNK_MAX)
		return -EINVAL;
	if (net->shutting_down)
		return -ECANCELED;
	waiter = calloc(1, sizeof(*waiter));
	if (!waiter)
		return -ENOMEM;
	waiter->kind = NET_REQ_FETCH;
	waiter->done = done;
	waiter->arg = arg;
	f = table_find(net, &ref->hash);
	if (f) {
		fetch_wanted_by(net, f, repo);
		add_waiter(f, waiter);
		return 0;
	}
	f = fetch_new(net, &ref->hash, ref->len);
	if (!f) {
		free(waiter);
		return -ENOMEM;
	}
	fetch_wanted_by(net, f, repo);
	f->prefetch = true;
	add_waiter(f, waiter);
	enqueue(net, f, false);
	fetch_pump(net);
	return 0;
}

void net_fetch_prefetch(struct pc_net *net, struct pc_net_repo *repo,
			const struct pc_chunk_ref *ref)
{
	struct net_fetch *f;

	/* After a full disk, what read-ahead fetched could not be kept. */
	if (uv_now(&net->loop) < net->chunks.store_full_until)
		return;
	f = table_find(net, &ref->hash);
	if (f) { /* under way: its mirrors may help */
		fetch_wanted_by(net, f, repo);
		return;
	}
	if (ref->len == 0 || ref->len > PC_CHUNK_MAX ||
	    net->fetcher.prefetch_queued >= NET_PREFETCH_QUEUE_MAX ||
	    pc_store_chunk_present(net->store, &ref->hash))
		return;
	f = fetch_new(net, &ref->hash, ref->len);
	if (!f)
		return;
	fetch_wanted_by(net, f, repo);
	f->prefetch = true;
	enqueue(net, f, false);
	fetch_pump(net);
}

void net_fetch_init(struct pc_net *net)
{
	pc_list_init(&net->fetcher.demand_queue);
	pc_list_init(&net->fetcher.prefetch_queue);
}

void net_fetch_shutdown(struct pc_net *net)
{
	for (size_t i = 0; i < NET_FETCH_BUCKETS; i++)
		while (net->fetcher.table[i])
			fetch_finish(net, net->fetcher.table[i], -ECANCELED);
}

/* ---- the source list -------------------------------------------------------- */

void net_source_add(struct pc_net *net, const struct net_source *src)
{
	struct net_fetcher *fetcher = &net->fetcher;
	struct net_source *slot = &fetcher->sources[fetcher->nsources++];
	size_t align = sizeof(max_align_t);

	*slot = *src;
	slot->state_offset = fetcher->state_size;
	fetcher->state_size +=
		(src->ops->state_size + align - 1) / align * align;
}

void net_sources_free(struct pc_net *net)
{
	for (size_t i = 0; i < net->fetcher.nsources; i++)
		free(net->fetcher.sources[i].base);
	net->fetcher.nsources = 0;
}
