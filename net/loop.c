/*
 * loop.c - the net's life and its one thread.
 *
 * Every piece of network work happens on a single libuv loop thread, so
 * the fetch table, the curl multi handle and the head poller need no locks.
 * Other threads (FUSE workers, the daemon's main thread, tests) only append
 * requests to a mutex-protected FIFO and wake the loop with uv_async_send();
 * the loop takes the whole list at once and runs it in order.  The send
 * happens while the mutex is held, and stopping sets the "stopped" flag
 * under the same mutex before the loop closes the async handle, so a late
 * request is refused (-ECANCELED) instead of touching a closed handle.
 *
 * Stopping runs on the loop thread too: every waiter completes with
 * -ECANCELED exactly once, every handle is closed through uv_close(), and
 * the loop then runs out of handles and returns, which ends the thread.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"

#define FLUSH_INTERVAL_MS 1000
#define NO_CACHE "Cache-Control: no-cache"

/* A blocking pc_net_refresh() caller; guarded by net->queue.refresh_lock. */
struct net_refresh_wait {
	struct pc_net *net;
	int result;
	bool done;
	bool abandoned; /* the caller timed out: the loop frees it */
};

/* The net whose loop runs on this thread, if any. */
static __thread struct pc_net *loop_thread_net;

int64_t net_unix_now(void)
{
	return (int64_t)time(NULL);
}

/* ---- the request queue --------------------------------------------------- */

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

static void refresh_wait_done(void *arg, int result, const char *error);

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
			net_fetch_prefetch(net, &req->refs[i]);
		free(req->refs);
		break;
	case NET_REQ_LOOKAHEAD:
		if (!cancel)
			net_peer_lookahead(net, req->refs, req->count);
		free(req->refs);
		break;
	case NET_REQ_REFRESH:
		rc = cancel ? -ECANCELED
			    : net_head_request(
				      net, req->wait ? refresh_wait_done : NULL,
				      req->wait);
		if (rc < 0 && req->wait)
			refresh_wait_done(req->wait, rc, "");
		break;
	}
	free(req);
}

static void shutdown_loop(struct pc_net *net);

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
		shutdown_loop(net);
}

static void work_flush(uv_work_t *work)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.flush_work);

	net->upkeep.flush_rc = pc_store_flush(net->store);
}

static void after_flush(uv_work_t *work, int status)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.flush_work);

	net->upkeep.flush_busy = false;
	if (status == 0 && net->upkeep.flush_rc < 0)
		pc_log(PC_LOG_WARN, "net", "store flush failed: %s",
		       strerror(-net->upkeep.flush_rc));
}

/* Every second: index entries, access times and counters go to LMDB. */
static void on_uv_flush_timer(uv_timer_t *timer)
{
	struct pc_net *net =
		container_of(timer, struct pc_net, upkeep.flush_timer);

	if (net->upkeep.flush_busy)
		return; /* the previous one still waits for the writer lock */
	net->upkeep.flush_busy = true;
	if (uv_queue_work(&net->loop, &net->upkeep.flush_work, work_flush,
			  after_flush) < 0)
		net->upkeep.flush_busy = false;
}

static void work_purge(uv_work_t *work)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.purge_work);
	struct pc_purge_result r;

	net->upkeep.purge_rc = pc_store_enforce_limits(net->store, &r);
}

static void after_purge(uv_work_t *work, int status)
{
	struct pc_net *net =
		container_of(work, struct pc_net, upkeep.purge_work);

	net->upkeep.purge_busy = false;
	if (status == 0 && net->upkeep.purge_rc < 0)
		pc_log(PC_LOG_WARN, "net", "purge failed: %s",
		       strerror(-net->upkeep.purge_rc));
}

/* Every purge_interval: chunks past max_age go, and the cache is brought
 * under its quota (commits do that too, as they add).  The store logs
 * each purged chunk. */
static void on_uv_purge_timer(uv_timer_t *timer)
{
	struct pc_net *net =
		container_of(timer, struct pc_net, upkeep.purge_timer);

	if (net->upkeep.purge_busy)
		return;
	net->upkeep.purge_busy = true;
	if (uv_queue_work(&net->loop, &net->upkeep.purge_work, work_purge,
			  after_purge) < 0)
		net->upkeep.purge_busy = false;
}

/*
 * Loop thread (or the stopping thread of a net that never started):
 * completes everything with -ECANCELED and closes every handle; the loop
 * then runs dry.
 */
static void shutdown_loop(struct pc_net *net)
{
	net->shutting_down = true;
	net_fetch_shutdown(net);
	net_workers_shutdown(net);
	net_head_shutdown(net);
	net_health_shutdown(net);
	net_peers_shutdown(net);
	net_control_shutdown(net);
	net_curl_shutdown(net);
	uv_close((uv_handle_t *)&net->upkeep.flush_timer, NULL);
	uv_close((uv_handle_t *)&net->upkeep.purge_timer, NULL);
	uv_close((uv_handle_t *)&net->queue.wake, NULL);
	pc_store_flush(net->store);
}

static void loop_main(void *arg)
{
	struct pc_net *net = arg;

	loop_thread_net = net;
	pthread_setname_np(pthread_self(), "pc-loop"); /* top -H, perf */
	uv_run(&net->loop, UV_RUN_DEFAULT);
	loop_thread_net = NULL;
}

/* ---- lifetime ------------------------------------------------------------- */

static int init_locks(struct pc_net *net)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&net->queue.refresh_cond, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	pthread_mutex_init(&net->queue.lock, NULL);
	pthread_mutex_init(&net->status.lock, NULL);
	pthread_mutex_init(&net->queue.refresh_lock, NULL);
	pthread_mutex_init(&net->peers.lock, NULL);
	return 0;
}

/* Everything but the loop. */
static void free_locks_and_net(struct pc_net *net)
{
	net_sources_free(net);
	curl_slist_free_all(net->curl.no_cache_headers);
	pthread_mutex_destroy(&net->queue.lock);
	pthread_mutex_destroy(&net->status.lock);
	pthread_mutex_destroy(&net->queue.refresh_lock);
	pthread_mutex_destroy(&net->peers.lock);
	pthread_cond_destroy(&net->queue.refresh_cond);
	net_workers_free(net);
	net_chunk_buf_pool_drain();
	free(net);
	curl_global_cleanup();
}

static void free_net(struct pc_net *net)
{
	int rc = uv_loop_close(&net->loop);

	net_peers_free(net); /* the server's thread; the loop is gone */
	if (rc < 0)
		pc_log(PC_LOG_ERROR, "net", "loop closed with handles open: %s",
		       uv_strerror(rc));
	free_locks_and_net(net);
}

/* Handles that cannot fail to initialise once the loop exists. */
static int init_handles(struct pc_net *net)
{
	int rc = uv_loop_init(&net->loop);

	if (rc < 0)
		return rc;
	rc = uv_async_init(&net->loop, &net->queue.wake, on_uv_wake);
	if (rc < 0) {
		uv_loop_close(&net->loop);
		return rc;
	}
	uv_timer_init(&net->loop, &net->upkeep.flush_timer);
	uv_timer_init(&net->loop, &net->upkeep.purge_timer);
	uv_timer_init(&net->loop, &net->curl.timer);
	net_fetch_init(net);
	net_head_init(net);
	net_health_init(net);
	pc_list_init(&net->curl.socks);
	pc_list_init(&net->control.clients);
	return 0;
}

static void read_current_version(struct pc_net *net)
{
	struct pc_store_version current;

	if (pc_store_current(net->store, &current) == 0)
		net_status_set_current(net, current.expires);
}

/*
 * A control client that hangs up before its answer would otherwise kill
 * the daemon: libuv writes to Unix sockets with plain write(2).  Only a
 * default disposition is changed; a handler the program set stays.
 */
static void ignore_sigpipe(void)
{
	struct sigaction old, ignore = { .sa_handler = SIG_IGN };

	if (sigaction(SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
		sigaction(SIGPIPE, &ignore, NULL);
}

struct pc_net *pc_net_new(const struct pc_config *cfg, struct pc_store *store,
			  const struct pc_keyring *ring,
			  const struct pc_net_hooks *hooks, char *err,
			  size_t errlen)
{
	struct pc_net *net;
	int rc;

	ignore_sigpipe();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "libcurl failed to initialise");
		return NULL;
	}
	net = calloc(1, sizeof(*net));
	if (!net || init_locks(net) < 0) {
		free(net);
		curl_global_cleanup();
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	net->cfg = cfg;
	net->store = store;
	net->ring = ring;
	if (hooks)
		net->hooks = *hooks;
	net->queue.tail = &net->queue.head;
	net->status.st.state = PC_STATE_STARTING;
	/* Head polls ask caches and proxies in between to revalidate. */
	net->curl.no_cache_headers = curl_slist_append(NULL, NO_CACHE);
	rc = init_handles(net);
	if (rc < 0) {
		snprintf(err, errlen, "libuv: %s", uv_strerror(rc));
		free_locks_and_net(net);
		return NULL;
	}
	if (!net->curl.no_cache_headers) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if (net_workers_init(net, err, errlen) < 0 ||
	    net_peers_init(net, err, errlen) < 0 ||
	    net_sources_init(net, err, errlen) < 0 ||
	    net_curl_init(net, err, errlen) < 0 ||
	    net_control_init(net, err, errlen) < 0)
		goto fail;
	read_current_version(net);
	return net;
fail:
	pthread_mutex_lock(&net->queue.lock);
	net->queue.stopped = true;
	pthread_mutex_unlock(&net->queue.lock);
	shutdown_loop(net);
	uv_run(&net->loop, UV_RUN_DEFAULT);
	free_net(net);
	return NULL;
}

int pc_net_start(struct pc_net *net)
{
	int rc = 0;

	/* Held throughout, so a concurrent stop sees either no thread or a
	 * thread to join. */
	pthread_mutex_lock(&net->queue.lock);
	if (net->queue.stopped)
		rc = -ECANCELED;
	else if (net->queue.started)
		rc = -EALREADY;
	if (rc < 0)
		goto out;
	/* The loop is not running yet: arming its timers here is safe. */
	uv_timer_start(&net->upkeep.flush_timer, on_uv_flush_timer,
		       FLUSH_INTERVAL_MS, FLUSH_INTERVAL_MS);
	/* The first purge soon after start: a restart with a lower quota
	 * takes effect at once. */
	uv_timer_start(&net->upkeep.purge_timer, on_uv_purge_timer, 5000,
		       net->cfg->purge_interval * 1000);
	net_head_start(net);
	rc = uv_thread_create(&net->thread, loop_main, net);
	if (rc < 0) {
		uv_timer_stop(&net->upkeep.flush_timer);
		uv_timer_stop(&net->upkeep.purge_timer);
		uv_timer_stop(&net->head.timer);
		goto out;
	}
	net->queue.started = true;
out:
	pthread_mutex_unlock(&net->queue.lock);
	return rc;
}

void pc_net_stop(struct pc_net *net)
{
	bool was_stopped, started;

	pthread_mutex_lock(&net->queue.lock);
	was_stopped = net->queue.stopped;
	started = net->queue.started;
	net->queue.stopped = true;
	if (!was_stopped && started)
		uv_async_send(&net->queue.wake);
	pthread_mutex_unlock(&net->queue.lock);
	if (was_stopped)
		return;
	if (started) {
		uv_thread_join(&net->thread);
		return;
	}
	/* Never started: nobody else runs the loop, so do it here. */
	on_uv_wake(&net->queue.wake);
	uv_run(&net->loop, UV_RUN_DEFAULT);
}

void pc_net_free(struct pc_net *net)
{
	if (!net)
		return;
	pc_net_stop(net);
	free_net(net);
}

/* ---- entry points for other threads --------------------------------------- */

/* A fetch request with one of the two callbacks. */
static int fetch_request(struct pc_net *net, const struct pc_chunk_ref *ref,
			 pc_fetch_done done, pc_fetch_data_done done_data,
			 void *arg)
{
	struct net_req *req;
	int rc;

	if (ref->len == 0 || ref->len > PC_CHUNK_MAX)
		return -EINVAL;
	req = calloc(1, sizeof(*req));
	if (!req)
		return -ENOMEM;
	req->kind = NET_REQ_FETCH;
	req->ref = *ref;
	req->done = done;
	req->done_data = done_data;
	req->arg = arg;
	rc = enqueue(net, req);
	if (rc < 0)
		free(req);
	return rc;
}

int pc_net_fetch(struct pc_net *net, const struct pc_chunk_ref *ref,
		 pc_fetch_done done, void *arg)
{
	return fetch_request(net, ref, done, NULL, arg);
}

int pc_net_fetch_data(struct pc_net *net, const struct pc_chunk_ref *ref,
		      pc_fetch_data_done done, void *arg)
{
	return fetch_request(net, ref, NULL, done, arg);
}

/* Best effort: a request that cannot be made is dropped. */
static void enqueue_refs(struct pc_net *net, enum net_req_kind kind,
			 const struct pc_chunk_ref *refs, size_t count)
{
	struct net_req *req;

	if (count == 0)
		return;
	req = calloc(1, sizeof(*req));
	if (!req)
		return;
	req->kind = kind;
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

void pc_net_prefetch(struct pc_net *net, const struct pc_chunk_ref *refs,
		     size_t count)
{
	size_t room;

	pthread_mutex_lock(&net->queue.lock);
	room = net->queue.prefetch_pending >= NET_PREFETCH_PENDING_MAX
		       ? 0
		       : NET_PREFETCH_PENDING_MAX - net->queue.prefetch_pending;
	pthread_mutex_unlock(&net->queue.lock);
	if (count > room)
		count = room; /* the loop is behind: read-ahead can wait */
	enqueue_refs(net, NET_REQ_PREFETCH, refs, count);
}

void pc_net_lookahead(struct pc_net *net, const struct pc_chunk_ref *refs,
		      size_t count)
{
	if (!net->cfg->discovery)
		return;
	if (count > PC_DISC_MAX_HASHES)
		count = PC_DISC_MAX_HASHES;
	enqueue_refs(net, NET_REQ_LOOKAHEAD, refs, count);
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

int pc_net_refresh(struct pc_net *net, bool wait, uint64_t timeout_ms)
{
	struct net_refresh_wait *waiter = NULL;
	struct timespec deadline;
	struct net_req *req;
	int rc;

	if (wait && loop_thread_net == net)
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
