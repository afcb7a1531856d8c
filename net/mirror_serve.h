/*
 * mirror_serve.h - a node as the mirror of a branch site (mirror_serve =
 * on): the published layout served on the peer server's port, so that
 * `mirror = http://SITE-NODE:8081` works like any mirror (net/, internal
 * to peer_server.c, which routes to it and owns it).
 *
 *   GET/HEAD /chunks/<ab>/<hex>  200 + the object (chunk or manifest)
 *                                from the cache, or pulled through this
 *                                node's own sources (peers, mirrors) with
 *                                the fetcher's single flight
 *   403                          the client is not in mirror_allow
 *   404                          not an object of a version this node
 *                                holds (current or previous), or a path
 *                                that is not a mirror's
 *   503 + Retry-After: 1         max_requests requests in flight
 *   502                          no source delivered it (or a manifest
 *                                too large to pull through: only cached
 *                                ones are served)
 *   504                          not within deadline_ms
 * The signed head (/head) is the peer server's: the file the head poller
 * wrote, byte for byte as the publisher signed it.
 *
 * Only verified bytes go out: the store's files (renamed in after their
 * check) or the fetcher's verified buffers.  The branch nodes verify
 * again against the publisher's key; they need not trust this node.
 *
 * Threads: answer, resumed, completed, owns, allows and count_head run on
 * libmicrohttpd's thread; the fetch callbacks on the net's loop thread; a
 * watchdog thread of its own answers what is late; stats anywhere.
 */
#ifndef PC_NET_MIRROR_SERVE_H
#define PC_NET_MIRROR_SERVE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <microhttpd.h>

#include "acl.h"
#include "addr.h"
#include "pc_store.h"

struct pc_net;
struct mirror_serve;

struct mirror_serve_opts {
	struct pc_net *net;	/* borrowed; its loop outlives every fetch */
	struct pc_store *store; /* borrowed */
	const struct pc_acl *allow; /* copied; who may use it */
	unsigned max_requests;	    /* in flight (>= 1); more get 503 */
	/* A request that waits for its fetch this long gets 504 (>= 1):
	 * shorter than the branch's own limits, so that it has time left
	 * for its next mirror. */
	unsigned deadline_ms;
};

struct mirror_serve_stats {
	uint64_t hits;	    /* 200 from the cache */
	uint64_t fetched;   /* 200 after a pull through this node's sources */
	uint64_t heads;	    /* /head to a mirror client */
	uint64_t refused;   /* 403: not in mirror_allow */
	uint64_t not_found; /* 404 */
	uint64_t busy;	    /* 503: max_requests in flight */
	uint64_t failed;    /* 502: no source delivered it */
	uint64_t timeouts;  /* 504: not within the deadline */
	uint64_t bytes_hit; /* bodies sent completely, from the cache */
	uint64_t bytes_fetched; /* ... and after a pull-through */
	uint64_t aborted;	/* bodies cut short (client left, timeout) */
	unsigned in_flight;	/* requests being answered now */
};

/* Starts the watchdog.  NULL with errno set (ENOMEM, EAGAIN). */
struct mirror_serve *mirror_serve_new(const struct mirror_serve_opts *opts);
/* Ends the watchdog: no connection is resumed by it after this returns.
 * Before libmicrohttpd's daemon stops. */
void mirror_serve_stop(struct mirror_serve *ms);
/* After the daemon stopped (every request completed) and the net's loop
 * ended (every fetch called back).  NULL is a no-op. */
void mirror_serve_free(struct mirror_serve *ms);

/* @addr is in mirror_allow. */
bool mirror_serve_allows(struct mirror_serve *ms, const struct pc_addr *addr);
/* @url is a path of the published layout's objects ("/chunks/..."). */
bool mirror_serve_route(const char *url);
/* Answers GET or HEAD @url from @client, or suspends @conn until its
 * object is fetched; *@req_cls then names the request (mirror_serve_owns)
 * until mirror_serve_completed(). */
enum MHD_Result mirror_serve_answer(struct mirror_serve *ms,
				    struct MHD_Connection *conn,
				    const char *url, bool head,
				    const struct pc_addr *client,
				    void **req_cls);
/* @req_cls is a request of this mirror. */
bool mirror_serve_owns(struct mirror_serve *ms, const void *req_cls);
/* libmicrohttpd calls the access handler again for a resumed request:
 * the answer. */
enum MHD_Result mirror_serve_resumed(struct mirror_serve *ms,
				     struct MHD_Connection *conn,
				     void *req_cls);
/* The request @req_cls ended (its answer sent, or cut short). */
void mirror_serve_completed(struct mirror_serve *ms, void *req_cls,
			    enum MHD_RequestTerminationCode toe);
/* The peer server sent its head to a mirror client. */
void mirror_serve_count_head(struct mirror_serve *ms);
void mirror_serve_stats(struct mirror_serve *ms,
			struct mirror_serve_stats *out);

/* ---- the objects that may be pulled through (mirror_index.c) ---------- */

/* Lengths of the objects of the versions held: open addressing. */
struct mirror_index_entry {
	struct pc_hash hash;
	uint64_t len; /* 0: empty slot */
};

struct mirror_index {
	struct mirror_index_entry *slots;
	size_t mask; /* slots - 1 (a power of two) */
	size_t count;
	uint64_t current, previous; /* the versions it was made for */
};

/* The index for the versions @store holds now, made again if they
 * changed since the last call.  0, or a negative errno (logged; the index
 * is then empty). */
int mirror_index_refresh(struct mirror_index *idx, struct pc_store *store);
/* The length of object @hash, or 0 if no version held names it. */
uint64_t mirror_index_find(const struct mirror_index *idx,
			   const struct pc_hash *hash);
void mirror_index_free(struct mirror_index *idx);

#endif /* PC_NET_MIRROR_SERVE_H */
