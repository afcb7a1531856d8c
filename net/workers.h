/*
 * workers.h - the data path's worker threads (workers.c): jobs that hash
 * and write chunks off the loop thread, and come back to it when done.
 */
#ifndef PC_NET_WORKERS_H
#define PC_NET_WORKERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

struct pc_net;

/* ---- the data path's worker threads (workers.c) ------------------------ */

#define NET_WORKERS_MAX 8

/* A job for a worker: work() runs on a worker thread, then after() on the
 * loop thread.  The worker owns it in between, the loop thread otherwise. */
struct net_work {
	struct net_work *next; /* workers.c's lists */
	void (*work)(struct net_work *work);
	void (*after)(struct net_work *work);
};

struct net_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;		    /* idle workers wait here */
	struct net_work *queue_head;	    /* lock */
	struct net_work **queue_tail;	    /* lock */
	struct net_work *done_head;	    /* lock */
	struct net_work **done_tail;	    /* lock */
	bool stopping;			    /* lock */
	bool initialized;		    /* set once, before the loop runs */
	bool async_open;		    /* loop thread */
	unsigned nthreads;		    /* started; loop thread */
	unsigned outstanding;		    /* waiting or running; lock */
	pthread_t threads[NET_WORKERS_MAX]; /* joined at shutdown */
	uv_async_t done_async;		    /* loop thread */
};

/* Before the loop runs: the threads (two per core) and the wake-up. */
int net_workers_init(struct pc_net *net, char *err, size_t errlen);
/* Loop thread. */
void net_workers_queue(struct pc_net *net, struct net_work *work);
/* No work waits for a worker or runs on one. */
bool net_workers_idle(struct pc_net *net);
/* A worker, during a work(): @work's after() (only) runs on the loop
 * thread soon, before the after() of the work being done. */
void net_workers_post(struct pc_net *net, struct net_work *work);
/* Loop thread, shutting down: finishes the queued work, joins the threads,
 * runs the last after()s, closes the handle. */
void net_workers_shutdown(struct pc_net *net);
/* After the loop ended. */
void net_workers_free(struct pc_net *net);

#endif /* PC_NET_WORKERS_H */
