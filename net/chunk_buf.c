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
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

struct pc_chunk_buf {
	atomic_uint refs;
	size_t len;
	uint8_t data[];
};

struct pc_chunk_buf *net_chunk_buf_new(size_t len)
{
	struct pc_chunk_buf *buf;

	if (len == 0 || len > PC_CHUNK_MAX)
		return NULL;
	buf = malloc(sizeof(*buf) + len);
	if (!buf)
		return NULL;
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
	if (buf &&
	    atomic_fetch_sub_explicit(&buf->refs, 1, memory_order_acq_rel) == 1)
		free(buf);
}
