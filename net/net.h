/*
 * net.h - struct pc_net, the container of net/'s components, each behind
 * its own header.
 *
 * Threading rule of the whole folder: everything runs on the one libuv
 * loop thread, except the few fields that say which lock guards them.  The
 * loop thread is the only one that touches libuv handles, the curl multi
 * handle and the fetch table, so none of those need a lock.
 */
#ifndef PC_NET_NET_H
#define PC_NET_NET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <uv.h>

#include "chunk.h"
#include "control.h"
#include "curl_uv.h"
#include "fetch.h"
#include "head.h"
#include "metrics.h"
#include "pc_list.h"
#include "pc_net.h"
#include "peers.h"
#include "prefetch.h"
#include "queue.h"
#include "source_health.h"
#include "workers.h"

/* ---- the net ------------------------------------------------------------- */

struct pc_net {
	/* Set by pc_net_new, read-only afterwards: any thread. */
	const struct pc_config *cfg;
	struct pc_store *store;
	const struct pc_keyring *ring;
	struct pc_net_hooks hooks;
	struct net_source sources[NET_MAX_SOURCES];
	size_t nsources;
	struct curl_slist *no_cache_headers;

	uv_loop_t loop;
	uv_thread_t thread; /* written before the loop runs, joined by stop */
	/* Sent from any thread while holding @lock; closed by the loop
	 * thread after @stopped is set, so no send can follow the close. */
	uv_async_t wake;
	uv_timer_t flush_timer; /* loop thread */
	/* The flush itself runs on a libuv worker: an LMDB write transaction
	 * can wait behind a version install for a long time, and the loop
	 * must keep serving fetches meanwhile. */
	uv_work_t flush_work;
	bool flush_busy; /* loop thread */
	int flush_rc;	 /* written by the worker, read in its after_work */
	/* Every purge_interval: the quota and max_age, on a worker. */
	uv_timer_t purge_timer;
	uv_work_t purge_work;
	bool purge_busy; /* loop thread */
	int purge_rc;	 /* written by the worker */

	pthread_mutex_t lock;
	struct net_req *req_head;  /* guarded by lock */
	struct net_req **req_tail; /* guarded by lock */
	size_t prefetch_pending;   /* guarded by lock */
	bool started;		   /* guarded by lock */
	bool stopped;		   /* guarded by lock */

	/* Loop thread only (or the stopping thread when never started). */
	bool shutting_down;

	/* curl_uv.c, loop thread only. */
	CURLM *multi;
	CURL *curl_idle[NET_CURL_IDLE_MAX]; /* easy handles to reuse */
	size_t curl_idle_count;
	uv_timer_t curl_timer;
	struct pc_list curl_socks;

	/* workers.c: hashing and writing chunks. */
	struct net_workers workers;

	/* chunk_rx.c, loop thread only: after a full disk, no read-ahead
	 * until then (uv_now() ms). */
	uint64_t store_full_until;

	/* fetch.c, loop thread only. */
	struct net_fetch *table[NET_FETCH_BUCKETS];
	struct pc_list demand_queue;   /* waiting for a slot, FIFO */
	struct pc_list prefetch_queue; /* run when no demand waits */
	size_t prefetch_queued;
	size_t running; /* fetches with a transfer (<= cfg->max_fetches) */
	bool pumping;

	/* head.c, loop thread only. */
	struct net_head head;

	/* source_health.c, loop thread only. */
	struct net_health health;

	pthread_mutex_t status_lock;
	struct pc_net_status status; /* guarded by status_lock */
	int64_t current_expires;     /* guarded by status_lock; 0: none */

	/* Blocking pc_net_refresh() callers sleep here. */
	pthread_mutex_t refresh_lock;
	pthread_cond_t refresh_cond; /* CLOCK_MONOTONIC */

	/* peers.c: discovery on the loop thread, the peer server on its
	 * own; the table under its lock. */
	struct net_peers peers;

	/* control.c, loop thread only. */
	uv_pipe_t control;
	bool control_open;  /* the handle is initialised */
	bool control_bound; /* the socket file is ours to remove */
	struct pc_list control_clients;
	size_t control_nclients;
	/* Added for peercachectl's admin commands (control.c): */
	int64_t started_at;	 /* unix time of pc_net_new; read-only */
	bool control_group_set;	 /* read-only after init */
	gid_t control_gid;	 /* control_group; read-only after init */
	bool verify_busy;	 /* a verify runs on a worker */
	bool switch_busy;	 /* a rollback or unpin runs on a worker */
	/* switch_hold.c: a restart holds version switches (any thread
	 * sets it); switches from net_switch_begin() to net_switch_end()
	 * (loop thread).  Sequentially consistent atomics: a holder that
	 * sees no switch running knows that the next begin sees the
	 * hold. */
	atomic_bool switch_hold;
	atomic_int switches_running;
	uint64_t held_available; /* head.c: a newer version the last poll
				    found but did not install (held); 0 */

	/* metrics.c: NULL when metrics_listen is off. */
	struct net_metrics *metrics;
};

/* Unix time, for status fields and expiry checks. */
int64_t net_unix_now(void);
/* Fills the status fields after a poll (any thread that owns no lock). */
void net_status_poll_started(struct pc_net *net);
void net_status_poll_ended(struct pc_net *net, int result, const char *error,
			   const char *source);
void net_status_set_current(struct pc_net *net, int64_t expires);

#endif /* PC_NET_NET_H */
