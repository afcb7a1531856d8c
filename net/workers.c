/*
 * workers.c - the data path's own worker threads: hashing and writing the
 * chunks that the loop thread receives.
 *
 * The loop thread drives every transfer; hashing (SHA-256 costs about as
 * much CPU as everything else on the miss path together) and the write to
 * the store would make it the bottleneck, so they run here, on two
 * threads per core (one can wait for the disk while the other hashes),
 * in parallel with receiving.  These are not libuv's pool: that
 * one is shared with version installs, `peercachectl verify`, purges and
 * index flushes, each of which can hold a thread for seconds, and a chunk
 * waiting behind them would stall its readers.
 *
 * The loop thread queues a struct net_work; a worker runs its work()
 * and puts it on the done list; the loop thread, woken through an
 * uv_async_t, runs its after().  A work is owned by the worker between the
 * two, by the loop thread otherwise.  At shutdown the workers finish what
 * is queued (each work is bounded: a hash and a write of at most one
 * chunk), are joined, and the loop runs the last after()s.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

static void *worker_main(void *arg)
{
	struct net_workers *w = arg;
	struct net_work *work;

	pthread_setname_np(pthread_self(), "pc-worker");
	pthread_mutex_lock(&w->lock);
	for (;;) {
		work = w->queue_head;
		if (!work) {
			if (w->stopping)
				break;
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		w->queue_head = work->next;
		if (!w->queue_head)
			w->queue_tail = &w->queue_head;
		pthread_mutex_unlock(&w->lock);
		work->work(work);
		pthread_mutex_lock(&w->lock);
		w->outstanding--;
		work->next = NULL;
		*w->done_tail = work;
		w->done_tail = &work->next;
		uv_async_send(&w->done_async);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Runs the after() of every finished work, oldest first. */
static void run_done(struct net_workers *w)
{
	struct net_work *work, *next;

	pthread_mutex_lock(&w->lock);
	work = w->done_head;
	w->done_head = NULL;
	w->done_tail = &w->done_head;
	pthread_mutex_unlock(&w->lock);
	for (; work; work = next) {
		next = work->next;
		work->after(work);
	}
}

static void on_uv_work_done(uv_async_t *handle)
{
	run_done(container_of(handle, struct net_workers, done_async));
}

/* Two per core (at least 2, at most NET_WORKERS_MAX): a job that stores
 * a chunk waits for the disk (chunk_rx.c writes past the page cache), and
 * meanwhile another worker hashes on that core. */
static unsigned worker_count(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cores < 1)
		return 2;
	return 2 * cores > NET_WORKERS_MAX ? NET_WORKERS_MAX
					   : 2 * (unsigned)cores;
}

int net_workers_init(struct pc_net *net, char *err, size_t errlen)
{
	struct net_workers *w = &net->workers;
	unsigned want = worker_count();
	int rc;

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->queue_tail = &w->queue_head;
	w->done_tail = &w->done_head;
	w->initialized = true;
	rc = uv_async_init(&net->loop, &w->done_async, on_uv_work_done);
	if (rc < 0) {
		snprintf(err, errlen, "libuv: %s", uv_strerror(rc));
		return rc;
	}
	w->async_open = true;
	while (w->nthreads < want) {
		rc = pthread_create(&w->threads[w->nthreads], NULL, worker_main,
				    w);
		if (rc != 0)
			break;
		w->nthreads++;
	}
	if (w->nthreads == 0) {
		snprintf(err, errlen, "cannot start a worker thread: %s",
			 strerror(rc));
		return -rc;
	}
	return 0;
}

void net_workers_queue(struct pc_net *net, struct net_work *work)
{
	struct net_workers *w = &net->workers;

	work->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping) { /* no worker left: nothing queues this late */
		pthread_mutex_unlock(&w->lock);
		work->work(work);
		run_done(w); /* what work() posted comes first */
		work->after(work);
		return;
	}
	*w->queue_tail = work;
	w->queue_tail = &work->next;
	w->outstanding++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

bool net_workers_idle(struct pc_net *net)
{
	struct net_workers *w = &net->workers;
	bool idle;

	pthread_mutex_lock(&w->lock);
	idle = w->outstanding == 0;
	pthread_mutex_unlock(&w->lock);
	return idle;
}

void net_workers_post(struct pc_net *net, struct net_work *work)
{
	struct net_workers *w = &net->workers;

	work->next = NULL;
	pthread_mutex_lock(&w->lock);
	*w->done_tail = work;
	w->done_tail = &work->next;
	uv_async_send(&w->done_async);
	pthread_mutex_unlock(&w->lock);
}

void net_workers_shutdown(struct pc_net *net)
{
	struct net_workers *w = &net->workers;

	if (!w->async_open)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	while (w->nthreads > 0)
		pthread_join(w->threads[--w->nthreads], NULL);
	run_done(w);
	uv_close((uv_handle_t *)&w->done_async, NULL);
	w->async_open = false;
}

void net_workers_free(struct pc_net *net)
{
	if (!net->workers.initialized)
		return;
	pthread_mutex_destroy(&net->workers.lock);
	pthread_cond_destroy(&net->workers.cond);
}
