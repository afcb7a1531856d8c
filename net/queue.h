/*
 * queue.h - the requests other threads hand to the loop thread (loop.c):
 * chunk fetches, read-ahead, lookahead for the peers, head polls.
 */
#ifndef PC_NET_QUEUE_H
#define PC_NET_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "pc_net.h"

struct pc_net;

/* Prefetch refs waiting in the request queue; more are dropped. */
#define NET_PREFETCH_PENDING_MAX 256

/* ---- requests from other threads (loop.c) -------------------------------- */

enum net_req_kind {
	NET_REQ_FETCH,	   /* a chunk for a waiter */
	NET_REQ_PREFETCH,  /* chunks for nobody in particular */
	NET_REQ_REFRESH,   /* poll the head now */
	NET_REQ_LOOKAHEAD, /* chunks to ask the peers about */
};

struct net_refresh_wait;

/*
 * One request.  A fetch request becomes the waiter of its fetch: the fetch
 * owns it from then on and frees it after calling @done.
 */
struct net_req {
	struct net_req *next; /* request queue, then the fetch's waiters */
	enum net_req_kind kind;
	struct pc_net_repo *repo;     /* whose request: its mirrors, its head */
	struct pc_chunk_ref ref;      /* FETCH */
	pc_fetch_done done;	      /* FETCH: one of these two */
	pc_fetch_data_done done_data; /* FETCH: a reader of the bytes */
	void *arg;		      /* FETCH */
	unsigned flags;		      /* FETCH: PC_FETCH_* */
	struct pc_chunk_ref *refs;    /* PREFETCH, LOOKAHEAD: owned */
	size_t count;		      /* PREFETCH, LOOKAHEAD */
	struct net_refresh_wait *wait; /* REFRESH: NULL unless blocking */
};

/*
 * The queue itself.  Other threads append under @lock and wake the loop
 * with @wake (sent while holding @lock); the loop thread takes the whole
 * list at once.  @wake is closed by the loop thread after @stopped is
 * set, so no send can follow the close.
 */
struct net_queue {
	pthread_mutex_t lock;
	struct net_req *head;	 /* guarded by lock */
	struct net_req **tail;	 /* guarded by lock */
	size_t prefetch_pending; /* guarded by lock */
	bool started;		 /* guarded by lock */
	bool stopped;		 /* guarded by lock */
	uv_async_t wake;
	/* Blocking pc_net_refresh() callers sleep here. */
	pthread_mutex_t refresh_lock;
	pthread_cond_t refresh_cond; /* CLOCK_MONOTONIC */
};

/* Before the loop runs: the wake-up.  0 or a libuv error. */
int net_queue_init(struct pc_net *net);
/* Runs what is queued (the loop's wake-up, called by hand for a net
 * that never started); shuts the loop down once stopping began. */
void net_queue_run(struct pc_net *net);

#endif /* PC_NET_QUEUE_H */
