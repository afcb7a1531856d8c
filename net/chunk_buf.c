/*
 * chunk_buf.c - a chunk's bytes in memory, reference counted.
 *
 * A download receives a chunk into one of these (its length is known from
 * the manifest, and at most PC_CHUNK_MAX), and once the bytes are verified
 * the readers waiting for the chunk get references to it: they answer from
 * memory, so nothing that happens to the chunk in the store meanwhile (a
 * purge, a full disk) can make them fail.  The last reference frees it, on
 * whichever thread drops it (the loop thread, a replier, a worker).
 *
 * Writes happen only before a buffer is shared: the loop thread copies the
 * body in while the download owns the only reference, and workers read
 * the part already copied (chunk_rx.c).  Afterwards it is immutable, so
 * readers need no lock; the reference count is an atomic.
 */
#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "net.h"

/* Buffers kept for reuse once free: a fresh one of a few MiB costs a page
 * fault per 4 KiB (and the kernel zeroing it) as the body is copied in,
 * about 5% of the daemon's CPU on a cold read.  At most this many, each
 * at most PC_CHUNK_MAX: the pool's memory stays under what max_fetches
 * downloads hold anyway (8 by default). */
#define POOL_MAX 8
/* Capacities are rounded up to this, so that buffers fit many chunks. */
#define POOL_GRAIN (256 * 1024)

struct pc_chunk_buf {
	atomic_uint refs;
	size_t len;
	size_t capacity;
	uint8_t data[];
};

static struct {
	pthread_mutex_t lock;
	struct pc_chunk_buf *free[POOL_MAX]; /* lock */
	size_t count;			     /* lock */
} pool = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The smallest pooled buffer of at least @len bytes, or NULL. */
static struct pc_chunk_buf *pool_take(size_t len)
{
	struct pc_chunk_buf *buf = NULL;
	size_t best = 0;

	pthread_mutex_lock(&pool.lock);
	for (size_t i = 0; i < pool.count; i++)
		if (pool.free[i]->capacity >= len &&
		    (!buf || pool.free[i]->capacity < buf->capacity)) {
			buf = pool.free[i];
			best = i;
		}
	if (buf)
		pool.free[best] = pool.free[--pool.count];
	pthread_mutex_unlock(&pool.lock);
	return buf;
}

/* Keeps @buf for reuse, or frees it (or the smallest pooled one, so that
 * the pool holds the most useful sizes). */
static void pool_give(struct pc_chunk_buf *buf)
{
	size_t smallest = 0;

	pthread_mutex_lock(&pool.lock);
	if (pool.count < POOL_MAX) {
		pool.free[pool.count++] = buf;
		buf = NULL;
	} else {
		for (size_t i = 1; i < pool.count; i++)
			if (pool.free[i]->capacity <
			    pool.free[smallest]->capacity)
				smallest = i;
		if (pool.free[smallest]->capacity < buf->capacity) {
			struct pc_chunk_buf *out = pool.free[smallest];

			pool.free[smallest] = buf;
			buf = out;
		}
	}
	pthread_mutex_unlock(&pool.lock);
	free(buf);
}

struct pc_chunk_buf *net_chunk_buf_new(size_t len)
{
	struct pc_chunk_buf *buf;
	size_t capacity;

	if (len == 0 || len > PC_CHUNK_MAX)
		return NULL;
	buf = pool_take(len);
	if (!buf) {
		capacity = (len + POOL_GRAIN - 1) / POOL_GRAIN * POOL_GRAIN;
		buf = malloc(sizeof(*buf) + capacity);
		if (!buf)
			return NULL;
		buf->capacity = capacity;
	}
	atomic_init(&buf->refs, 1);
	buf->len = len;
	return buf;
}

uint8_t *net_chunk_buf_bytes(struct pc_chunk_buf *buf)
{
	return buf->data;
}

const uint8_t *pc_chunk_buf_data(const struct pc_chunk_buf *buf)
{
	return buf->data;
}

size_t pc_chunk_buf_len(const struct pc_chunk_buf *buf)
{
	return buf->len;
}

struct pc_chunk_buf *pc_chunk_buf_ref(struct pc_chunk_buf *buf)
{
	atomic_fetch_add_explicit(&buf->refs, 1, memory_order_relaxed);
	return buf;
}

void pc_chunk_buf_put(struct pc_chunk_buf *buf)
{
	unsigned before;

	if (!buf)
		return;
	before = atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel);
	assert(before > 0);
	if (before == 1)
		pool_give(buf);
}

void net_chunk_buf_pool_drain(void)
{
	pthread_mutex_lock(&pool.lock);
	while (pool.count)
		free(pool.free[--pool.count]);
	pthread_mutex_unlock(&pool.lock);
}
