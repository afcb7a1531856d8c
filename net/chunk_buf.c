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
 * The bytes start on a block boundary, so that the store can write them
 * to disk with O_DIRECT (pc_store_tmp_write_direct).
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
 * downloads hold anyway (8 by default).  Four are enough on a cold read:
 * the recent chunks (below) give their buffers back one by one as new
 * ones come, and the daemon's peak RSS stays under 64 MiB with them. */
#define POOL_MAX 4
/* Capacities are rounded up to this, so that buffers fit many chunks. */
#define POOL_GRAIN (256 * 1024)

struct pc_chunk_buf {
	atomic_uint refs;
	size_t len;
	size_t capacity;
	/* Aligned for pc_store_tmp_write_direct(). */
	_Alignas(PC_STORE_DIRECT_ALIGN) uint8_t data[];
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
		buf = aligned_alloc(_Alignof(struct pc_chunk_buf),
				    sizeof(*buf) + capacity);
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

/* ---- recent chunks ------------------------------------------------------- */

/*
 * A chunk written to the store with O_DIRECT (chunk_rx.c) is not in the
 * page cache, so a read that comes for it after its fetch ended would go
 * to the disk.  On a cold sequential read that is most reads: the daemon
 * fetches ahead of the kernel's read-ahead.  So the last verified chunks
 * stay here, bounded (NET_RECENT_MAX, NET_RECENT_BYTES), and the read path
 * looks here before it opens a chunk file.  The bound is the daemon's
 * memory: on a cold GiB (loads of 3 to 6), 8 MiB gave a peak RSS of 48-57
 * MiB and 3-10% of the bytes read back from the disk; 12 MiB, 54-60 MiB
 * and 3-5%; 37-42 MiB before the recent chunks.  A few dozen entries: a
 * linear search under a mutex costs less than the openat() it saves.
 */

void net_chunk_recent_init(struct pc_net *net)
{
	pthread_mutex_init(&net->chunks.recent_lock, NULL);
}

/* With recent_lock held: takes the oldest entry out; its buffer is the
 * caller's to put. */
static struct pc_chunk_buf *recent_pop_locked(struct net_chunks *chunks)
{
	struct net_recent *oldest = &chunks->recent[chunks->recent_first];
	struct pc_chunk_buf *buf = oldest->buf;

	chunks->recent_first = (chunks->recent_first + 1) % NET_RECENT_MAX;
	chunks->recent_count--;
	chunks->recent_bytes -= buf->len;
	oldest->buf = NULL;
	return buf;
}

void net_chunk_recent_free(struct pc_net *net)
{
	struct net_chunks *chunks = &net->chunks;

	pthread_mutex_lock(&chunks->recent_lock);
	while (chunks->recent_count)
		pc_chunk_buf_put(recent_pop_locked(chunks));
	pthread_mutex_unlock(&chunks->recent_lock);
	pthread_mutex_destroy(&chunks->recent_lock);
}

void net_chunk_recent_add(struct pc_net *net, const struct pc_hash *hash,
			  struct pc_chunk_buf *buf)
{
	struct net_chunks *chunks = &net->chunks;
	struct pc_chunk_buf *gone[NET_RECENT_MAX];
	unsigned ngone = 0, slot;

	if (buf->len > NET_RECENT_BYTES)
		return;
	pthread_mutex_lock(&chunks->recent_lock);
	while (chunks->recent_count == NET_RECENT_MAX ||
	       chunks->recent_bytes + buf->len > NET_RECENT_BYTES)
		gone[ngone++] = recent_pop_locked(chunks);
	slot = (chunks->recent_first + chunks->recent_count) % NET_RECENT_MAX;
	chunks->recent[slot].hash = *hash;
	chunks->recent[slot].buf = pc_chunk_buf_ref(buf);
	chunks->recent_count++;
	chunks->recent_bytes += buf->len;
	pthread_mutex_unlock(&chunks->recent_lock);
	while (ngone) /* outside the lock: the last put takes the pool's */
		pc_chunk_buf_put(gone[--ngone]);
}

struct pc_chunk_buf *pc_net_chunk_recent(struct pc_net *net,
					 const struct pc_hash *hash)
{
	struct net_chunks *chunks;
	struct pc_chunk_buf *buf = NULL;

	if (!net) /* a file system without a net (tests) */
		return NULL;
	chunks = &net->chunks;
	pthread_mutex_lock(&chunks->recent_lock);
	for (unsigned i = 0; i < chunks->recent_count && !buf; i++) {
		struct net_recent *entry =
			&chunks->recent[(chunks->recent_first + i) %
					NET_RECENT_MAX];

		if (pc_hash_equal(&entry->hash, hash))
			buf = pc_chunk_buf_ref(entry->buf);
	}
	pthread_mutex_unlock(&chunks->recent_lock);
	return buf;
}
