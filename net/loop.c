/*
 * loop.c - the net's life and its one thread.
 *
 * Every piece of network work happens on a single libuv loop thread, so
 * the fetch table, the curl multi handle and the head poller need no locks.
 * Other threads hand it requests through the queue (queue.c).
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

#define NO_CACHE "Cache-Control: no-cache"

/* The net whose loop runs on this thread, if any. */
static __thread struct pc_net *loop_thread_net;

bool net_on_loop_thread(const struct pc_net *net)
{
	return loop_thread_net == net;
}

bool net_loop_owned(const struct pc_net *net)
{
	return loop_thread_net == net || !atomic_load(&net->loop_running);
}

int64_t net_unix_now(void)
{
	return (int64_t)time(NULL);
}

void net_loop_shutdown(struct pc_net *net)
{
	net->shutting_down = true;
	net_fetch_shutdown(net);
	net_workers_shutdown(net);
	for (size_t i = 0; i < net->nrepos; i++)
		net_head_shutdown(net->repos[i]);
	net_health_shutdown(net);
	net_peers_shutdown(net);
	net_control_shutdown(net);
	net_curl_shutdown(net);
	net_upkeep_shutdown(net);
	uv_close((uv_handle_t *)&net->queue.wake, NULL);
	pc_store_flush(net->store);
}

static void loop_main(void *arg)
{
	struct pc_net *net = arg;

	loop_thread_net = net;
	atomic_store(&net->loop_running, true);
	pthread_setname_np(pthread_self(), "pc-loop"); /* top -H, perf */
	uv_run(&net->loop, UV_RUN_DEFAULT);
	atomic_store(&net->loop_running, false);
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
	pthread_mutex_init(&net->queue.refresh_lock, NULL);
	pthread_mutex_init(&net->peers.lock, NULL);
	net_chunk_recent_init(net);
	return 0;
}

/* Everything but the loop. */
static void free_locks_and_net(struct pc_net *net)
{
	net_sources_free(net);
	curl_slist_free_all(net->curl.no_cache_headers);
	pthread_mutex_destroy(&net->queue.lock);
	for (size_t i = 0; i < net->nrepos; i++)
		net_repo_free(net->repos[i]);
	pthread_mutex_destroy(&net->queue.refresh_lock);
	pthread_mutex_destroy(&net->peers.lock);
	pthread_cond_destroy(&net->queue.refresh_cond);
	net_workers_free(net);
	net_chunk_recent_free(net);
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
	rc = net_queue_init(net);
	if (rc < 0) {
		uv_loop_close(&net->loop);
		return rc;
	}
	net_upkeep_init(net);
	uv_timer_init(&net->loop, &net->curl.timer);
	net_fetch_init(net);
	net->repos[0]->net = net;
	net_head_init(net->repos[0]);
	net_health_init(net);
	pc_list_init(&net->curl.socks);
	pc_list_init(&net->control.clients);
	return 0;
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
	net->repos[0] = calloc(1, sizeof(*net->repos[0]));
	if (!net->repos[0]) {
		free_locks_and_net(net);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	net->nrepos = 1;
	if (hooks)
		net->hooks = *hooks;
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
	    net_peer_src_init(net, err, errlen) < 0 || /* peers first */
	    net_repo_init(net, net->repos[0], 0, store, ring, hooks, err,
			  errlen) < 0 ||
	    net_curl_init(net, err, errlen) < 0 ||
	    net_control_init(net, err, errlen) < 0)
		goto fail;
	return net;
fail:
	pthread_mutex_lock(&net->queue.lock);
	net->queue.stopped = true;
	pthread_mutex_unlock(&net->queue.lock);
	net_loop_shutdown(net);
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
	net_upkeep_start(net);
	for (size_t i = 0; i < net->nrepos; i++)
		if (!net->repos[i]->dead)
			net_head_start(net->repos[i]);
	rc = uv_thread_create(&net->thread, loop_main, net);
	if (rc < 0) {
		net_upkeep_stop(net);
		for (size_t i = 0; i < net->nrepos; i++)
			uv_timer_stop(&net->repos[i]->head.timer);
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
	net_queue_run(net);
	uv_run(&net->loop, UV_RUN_DEFAULT);
}

void pc_net_free(struct pc_net *net)
{
	if (!net)
		return;
	pc_net_stop(net);
	free_net(net);
}
