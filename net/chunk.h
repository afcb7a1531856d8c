/*
 * chunk.h - the chunk data path: verified bytes in memory (chunk_buf.c)
 * and the body of a download on its way from the wire into the store
 * (chunk_rx.c).
 */
#ifndef PC_NET_CHUNK_H
#define PC_NET_CHUNK_H

#include <stddef.h>
#include <stdint.h>

#include "curl_uv.h"
#include "pc_net.h"

struct net_fetch;

/* Verified chunks kept in memory after their fetch (chunk_buf.c): at most
 * this many, and this many bytes. */
#define NET_RECENT_MAX 32
#define NET_RECENT_BYTES (8u * 1024 * 1024)

struct net_recent {
	struct pc_hash hash;
	struct pc_chunk_buf *buf; /* a reference */
};

/* The data path's own state. */
struct net_chunks {
	/* After a full disk, no read-ahead until then (uv_now() ms); loop
	 * thread only. */
	uint64_t store_full_until;
	/* The recent chunks, oldest first from recent_first (a ring);
	 * recent_lock (any thread reads them). */
	pthread_mutex_t recent_lock;
	struct net_recent recent[NET_RECENT_MAX];
	unsigned recent_first, recent_count;
	size_t recent_bytes;
};

/* ---- chunk buffers (chunk_buf.c) ---------------------------------------- */

/* One reference, @len (1..PC_CHUNK_MAX) bytes not yet written; NULL. */
struct pc_chunk_buf *net_chunk_buf_new(size_t len);
/* Writable, while the caller holds the only reference (chunk_rx.c). */
uint8_t *net_chunk_buf_bytes(struct pc_chunk_buf *buf);
/* Frees the buffers kept for reuse (the net is going away). */
void net_chunk_buf_pool_drain(void);

/* The recent chunks: set up before the loop runs; dropped at the end. */
void net_chunk_recent_init(struct pc_net *net);
void net_chunk_recent_free(struct pc_net *net);
/* Keeps a reference to @buf, the verified bytes of @hash, as the newest
 * recent chunk (the oldest go past the bounds above).  Any thread. */
void net_chunk_recent_add(struct pc_net *net, const struct pc_hash *hash,
			  struct pc_chunk_buf *buf);

/* ---- chunk bodies (chunk_rx.c) -------------------------------------------- */

/* The body handling every chunk download shares (mirror and peer): the
 * outcome of the attempt comes through net_fetch_attempt_done(). */
extern const struct net_xfer_ops net_chunk_xfer_ops;
/* Drops the download of @f's current attempt (transfer, body, commit). */
void net_chunk_cancel(struct pc_net *net, struct net_fetch *f);
/* Drops the body received so far, from a transfer's done callback (the
 * transfer itself goes with the callback). */
void net_chunk_drop_body(struct net_fetch *f);
/* Resets the per-attempt download state before a transfer starts. */
void net_chunk_reset(struct net_fetch *f);
/* Bytes in a worker's segment: at least this much is hashed at a time
 * (the last segment of a body may be shorter). */
#define NET_RX_SEGMENT_MIN (256 * 1024)
/* ... except the first segment of a body longer than that. */
#define NET_RX_FIRST_SEGMENT (32 * 1024)
/* A whole body of at most this many bytes is hashed on the loop thread
 * when the workers are idle (chunk_rx.c: rx_verify_here). */
#define NET_RX_HERE_MAX (64 * 1024)
/* Chunks of at least this many bytes are written to the store with
 * O_DIRECT, unless a random reader waits for them (PC_FETCH_RANDOM);
 * smaller ones (small files) through the page cache, where a write costs
 * less than waiting for the disk. */
#define NET_RX_DIRECT_MIN (256 * 1024)

#endif /* PC_NET_CHUNK_H */
