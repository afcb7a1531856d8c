/*
 * queue.c - the requests other threads hand to the loop thread.
 *
 * Other threads (FUSE workers, the daemon's main thread, tests) only
 * append requests to a mutex-protected FIFO and wake the loop with
 * uv_async_send(); the loop takes the whole list at once and runs it in
 * order.  The send happens while the mutex is held, and stopping sets the
 * "stopped" flag under the same mutex before the loop closes the async
 * handle, so a late request is refused (-ECANCELED) instead of touching a
 * closed handle.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"

/* A blocking pc_net_refresh() caller; guarded by net->queue.refresh_lock. */
struct net_refresh_wait {
	struct pc_net *net;
	int result;
	bool done;
	bool abandoned; /* the caller timed out: the loop frees it */
};

static void refresh_wait_done(void *arg, int result, const char *error);

/* Appends @req and wakes the loop; -ECANCELED once stopping began. */
static int enqueue(struct pc_net *net, struct net_req *req)
{
	int rc = 0;

	req->next = NULL;
	pthread_mutex_lock(&net->queue.lock);
	if (net->queue.stopped) {
		rc = -ECANCELED;
	} else {
		*net->queue.tail = req;
		net->queue.tail = &req->next;
		if (req->kind == NET_REQ_PREFETCH)
			net->queue.prefetch_pending += req->count;
		uv_async_send(&net->queue.wake);
	}
	pthread_mutex_unlock(&net->queue.lock);
	return rc;
}

/* Runs one request on the loop thread; @cancel when shutting down. */
static void run_request(struct pc_net *net, struct net_req *req, bool cancel)
{
	int rc;

	switch (req->kind) {
	case NET_REQ_FETCH:
		if (!cancel)
			net_fetch_waiter(net, req); /* takes ownership */
		else
			net_waiter_complete(net, req, -ECANCELED, NULL, false);
		return;
	case NET_REQ_PREFETCH:
		for (size_t i = 0; i < req->count && !cancel; i++)
			net_fetch_prefetch(net, req->repo, &req->refs[i]);
		free(req->refs);
		break;
	case NET_REQ_LOOKAHEAD:
		if (!cancel)
			net_peer_lookahead(net, req->refs, req->count);
		free(req->refs);
		break;
	case NET_REQ_REFRESH:
		rc = cancel ? -ECANCELED
			    : net_head_request(req->repo,
					       req->wait ? refresh_wait_done
							 : NULL,
					       req->wait);
		if (rc < 0 && req->wait)
			refresh_wait_done(req->wait, rc, "");
		break;
	}
	free(req);
}

static void on_uv_wake(uv_async_t *handle)
{
	struct pc_net *net = container_of(handle, struct pc_net, queue.wake);
	struct net_req *req, *next;
	size_t prefetched = 0;
	bool stopped;

	pthread_mutex_lock(&net->queue.lock);
	req = net->queue.head;
	net->queue.head = NULL;
	net->queue.tail = &net->queue.head;
	for (next = req; next; next = next->next)
		if (next->kind == NET_REQ_PREFETCH)
			prefetched += next->count;
	net->queue.prefetch_pending -= prefetched;
	stopped = net->queue.stopped;
	pthread_mutex_unlock(&net->queue.lock);

	for (; req; req = next) {
		next = req->next;
		run_request(net, req, stopped);
	}
	if (stopped && !net->shutting_down)
		net_loop_shutdown(net);
}

int net_queue_init(struct pc_net *net)
{
	net->queue.tail = &net->queue.head;
	return uv_async_init(&net->loop, &net->queue.wake, on_uv_wake);
}

void net_queue_run(struct pc_net *net)
{
	NET_LOOP_ONLY(net);

	on_uv_wake(&net->queue.wake);
}

/* ---- entry points for other threads --------------------------------------- */

/* A fetch request with one of the two callbacks. */
static int fetch_request(struct pc_net_repo *repo,
			 const struct pc_chunk_ref *ref, unsigned flags,
			 pc_fetch_done done, pc_fetch_data_done done_data,
			 void *arg)
{
	struct pc_net *net = repo->net;
	struct net_req *req;
	int rc;

	if (ref->len == 0 || ref->len > PC_CHUNK_MAX)
		return -EINVAL;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->kind = NET_REQ_FETCH;
	req->repo = repo;
	req->ref = *ref;
	req->done = done;
	req->done_data = done_data;
	req->arg = arg;
	req->flags = flags;
	rc = enqueue(net, req);
	if (rc < 0)
		free(req);
	return rc;
}

int pc_net_repo_fetch(struct pc_net_repo *repo, const struct pc_chunk_ref *ref,
		      pc_fetch_done done, void *arg)
{
	return fetch_request(repo, ref, 0, done, NULL, arg);
}

int pc_net_repo_fetch_data(struct pc_net_repo *repo,
			   const struct pc_chunk_ref *ref, unsigned flags,
			   pc_fetch_data_done done, void *arg)
{
	return fetch_request(repo, ref, flags, NULL, done, arg);
}

/* Best effort: a request that cannot be made is dropped. */
static void enqueue_refs(struct pc_net_repo *repo, enum net_req_kind kind,
			 const struct pc_chunk_ref *refs, size_t count)
{
	struct pc_net *net = repo->net;
	struct net_req *req;

	if (count == 0)
		return;
	req = calloc(1, sizeof(*req));
	if (!req)
		return;
	req->kind = kind;
	req->repo = repo;
	req->refs = malloc(count * sizeof(*refs));
	if (!req->refs) {
		free(req);
		return;
	}
	memcpy(req->refs, refs, count * sizeof(*refs));
	req->count = count;
	if (enqueue(net, req) < 0) {
		free(req->refs);
		free(req);
	}
}

void pc_net_repo_prefetch(struct pc_net_repo *repo,
			  const struct pc_chunk_ref *refs, size_t count)
{
	struct pc_net *net = repo->net;
	size_t room;

	pthread_mutex_lock(&net->queue.lock);
	room = net->queue.prefetch_pending >= NET_PREFETCH_PENDING_MAX
		       ? 0
		       : NET_PREFETCH_PENDING_MAX - net->queue.prefetch_pending;
	pthread_mutex_unlock(&net->queue.lock);
	if (count > room)
		count = room; /* the loop is behind: read-ahead can wait */
	enqueue_refs(repo, NET_REQ_PREFETCH, refs, count);
}

void pc_net_repo_lookahead(struct pc_net_repo *repo,
			   const struct pc_chunk_ref *refs, size_t count)
{
	if (!repo->net->cfg->discovery)
		return;
	if (count > PC_DISC_MAX_HASHES)
		count = PC_DISC_MAX_HASHES;
	enqueue_refs(repo, NET_REQ_LOOKAHEAD, refs, count);
}

/* Loop thread: a poll that a blocking refresh waits for has ended. */
static void refresh_wait_done(void *arg, int result, const char *error)
{
	struct net_refresh_wait *wait = arg;
	struct pc_net *net = wait->net;

	(void)error;
	pthread_mutex_lock(&net->queue.refresh_lock);
	if (wait->abandoned) {
		free(wait);
	} else {
		wait->result = result;
		wait->done = true;
	}
	pthread_cond_broadcast(&net->queue.refresh_cond);
	pthread_mutex_unlock(&net->queue.refresh_lock);
}

static struct timespec deadline_after(uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int pc_net_repo_refresh(struct pc_net_repo *repo, bool wait,
			uint64_t timeout_ms)
{
	struct pc_net *net = repo->net;
	struct net_refresh_wait *waiter = NULL;
	struct timespec deadline;
	struct net_req *req;
	int rc;

	if (wait && net_on_loop_thread(net))
		return -EDEADLK;
	req = calloc(1, sizeof(*req));
	if (wait)
		waiter = calloc(1, sizeof(*waiter));
	if (!req || (wait && !waiter)) {
		free(req);
		free(waiter);
		return -ENOMEM;
	}
	req->kind = NET_REQ_REFRESH;
	req->repo = repo;
	req->wait = waiter;
	if (waiter)
		waiter->net = net;
	rc = enqueue(net, req);
	if (rc < 0) {
		free(req);
		free(waiter);
		return rc;
	}
	if (!wait)
		return 0;

	deadline = deadline_after(timeout_ms);
	pthread_mutex_lock(&net->queue.refresh_lock);
	while (!waiter->done && pthread_cond_timedwait(&net->queue.refresh_cond,
						       &net->queue.refresh_lock,
						       &deadline) != ETIMEDOUT)
		;
	if (waiter->done) {
		rc = waiter->result;
		free(waiter);
	} else {
		waiter->abandoned = true; /* the loop frees it */
		rc = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&net->queue.refresh_lock);
	return rc;
}
