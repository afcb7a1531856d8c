/*
 * fetch.h - the fetcher (fetch.c): one fetch per chunk, its waiters, and
 * the sources it tries in order (the LAN peers, then the mirrors).
 */
#ifndef PC_NET_FETCH_H
#define PC_NET_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pc_list.h"
#include "pc_net.h"
#include "queue.h"

/* Sources a chunk can come from: the LAN peers, then the mirrors. */
/* The peers (source 0), then every repository's mirrors: one bit each in
 * a uint64_t (pc_net_add_repo refuses more). */
#define NET_MAX_SOURCES 64
#define NET_FETCH_BUCKETS 256
/* Prefetches waiting for a transfer slot; more are dropped. */
#define NET_PREFETCH_QUEUE_MAX 64
/* The pace a manifest's deadline allows for on top of fetch_timeout, and
 * the most that allowance may add. */
#define NET_SLOW_LINK_BYTES_PER_S (64 * 1024)
#define NET_SLOW_LINK_MAX_MS (30 * 60 * 1000)

/* ---- sources (fetch.c) ---------------------------------------------------- */

struct net_fetch;
struct net_source;

/*
 * How to get a chunk from one kind of source: the mirrors (mirror.c), the
 * LAN peers (peer_source.c).  The fetcher knows sources only through
 * this table.  Every hook runs on the loop thread.
 */
struct net_source_ops {
	const char *kind;	       /* "mirror", "peer" */
	enum pc_counter bytes_counter; /* credited on success */
	enum pc_counter bad_counter;   /* wrong bytes delivered */
	/* Bytes of state this kind keeps per fetch, from the fetch's start
	 * to its end (zeroed; net_fetch_source_state() finds them). */
	size_t state_size;
	/* Starts an attempt; its outcome arrives via net_fetch_attempt_done().
	 * 0, or a negative errno to skip this source. */
	int (*start)(struct pc_net *net, struct net_source *src,
		     struct net_fetch *fetch, uint64_t time_left_ms);
	/* Abandons the attempt in progress (no outcome follows). */
	void (*cancel)(struct pc_net *net, struct net_fetch *fetch);
	/* Optional: the time the attempt asked for with net_fetch_wake_at()
	 * has come (the deadline has not). */
	void (*wake)(struct pc_net *net, struct net_fetch *fetch);
	/* Optional: the attempt ended with @outcome (an enum net_attempt),
	 * before the fetcher acts on it. */
	void (*verdict)(struct pc_net *net, struct net_fetch *fetch,
			int outcome);
	/* Optional: the fetch ends, whether or not this source was tried
	 * (its per-fetch state goes with it). */
	void (*end)(struct pc_net *net, struct net_fetch *fetch);
};

struct net_source {
	const struct net_source_ops *ops;
	char *base;	  /* its name: a mirror's URL without trailing '/', or
		       "LAN peers" (owned) */
	char scheme[8];	  /* "http", "https" or "file": redirects stay in it */
	bool serves_head; /* a mirror: the head poller asks it too */
	/* The repository whose mirror it is; NULL: the peers (every
	 * repository's). */
	struct pc_net_repo *repo;
	size_t state_offset; /* of its per-fetch state in a fetch */
};

/* ---- fetches (fetch.c) ---------------------------------------------------- */

enum net_fetch_state {
	FETCH_QUEUED,  /* waiting for a transfer slot */
	FETCH_RUNNING, /* an attempt holds a slot */
	FETCH_BACKOFF, /* every source failed; retrying later */
};

struct commit_job;
struct net_peer_call;
struct net_rx;

/* One chunk being fetched.  Loop thread only, like everything here. */
struct net_fetch {
	struct pc_net *net;
	struct pc_hash hash;
	char hex[PC_HASH_HEX_LEN + 1];
	uint64_t len;
	struct net_fetch *table_next;
	struct pc_list queue_link; /* in a queue while FETCH_QUEUED */
	enum net_fetch_state state;
	bool prefetch;		 /* nobody waits for it (yet) */
	bool random;		 /* a random reader waits (PC_FETCH_RANDOM) */
	struct net_req *waiters; /* FIFO, owned */
	struct net_req **waiters_tail;
	uint64_t deadline;    /* uv_now() milliseconds */
	uv_timer_t timer;     /* the deadline, a pause, or wake_at */
	size_t source;	      /* index in net->sources being tried */
	unsigned round;	      /* completed rounds over all sources */
	uint64_t bad_sources; /* bit i: source i sent wrong bytes */
	uint64_t tried;	      /* bit i: source i tried in this round */
	/* Bit r: repository r wants the chunk, so its mirrors may be asked
	 * (in configured order: the first repository's before the next's). */
	uint32_t repos;
	/* Of the attempt in progress (source_health.c): when it began
	 * (uv_now() ms; 0: not to be judged) and the time it was given. */
	uint64_t attempt_start;
	uint64_t attempt_budget;
	/* The attempt's source asked to be woken then (uv_now() ms; 0:
	 * not): net_fetch_wake_at(), ops->wake. */
	uint64_t wake_at;

	/* The attempt in progress (chunk_rx.c). */
	struct net_xfer *xfer;
	struct net_rx *rx;	   /* a chunk's body, into memory */
	struct pc_store_tmp *tmp;  /* a larger object's body, to a file */
	struct commit_job *commit; /* verifying and syncing on a worker */
	int store_err;		   /* the store failed while writing */
	bool too_long;		   /* the body exceeded len */
	uint64_t discarded;	   /* body bytes of a non-200 response */

	/* What the successful attempt left: the verified bytes (owned
	 * reference; NULL for a larger object), and whether the store kept
	 * them (a full disk may not have). */
	struct pc_chunk_buf *buf;
	bool stored;

	/* Each source's per-fetch state (ops->state_size at
	 * src->state_offset); max_align_t keeps any of it aligned. */
	max_align_t source_state[];
};

/* Loop thread: the fetch of @hash, if one runs. */
struct net_fetch *net_fetch_find(struct pc_net *net,
				 const struct pc_hash *hash);
/* Calls @fn for every fetch in the table. */
void net_fetch_each(struct pc_net *net, void (*fn)(struct net_fetch *, void *),
		    void *arg);
/* Bit i: source i is a mirror of no repository that wants @f. */
uint64_t net_fetch_foreign(const struct pc_net *net, const struct net_fetch *f);
/* True if a source after the one being tried may still be asked. */
bool net_fetch_another_source(struct pc_net *net, const struct net_fetch *f);
/* Gives @waiter its outcome and frees it: a reader (done_data) gets @buf,
 * or the chunk file if there are no bytes in memory; any other waiter
 * gets 0 only if the store kept the chunk (@stored), else -EIO. */
void net_waiter_complete(struct pc_net *net, struct net_req *waiter, int status,
			 struct pc_chunk_buf *buf, bool stored);
/* The attempt's bytes are verified (the store is still writing them):
 * @f's readers get @buf now, and so do readers that come later; the
 * other waiters wait for the attempt's outcome. */
void net_fetch_verified(struct pc_net *net, struct net_fetch *f,
			struct pc_chunk_buf *buf);
/* Re-arms @f's timer for the earlier of its deadline and its wake_at. */
void net_fetch_rearm(struct pc_net *net, struct net_fetch *f);
/* The source of @f's attempt is woken (ops->wake) at @when (uv_now()
 * ms; 0: not at all), unless the deadline comes first. */
void net_fetch_wake_at(struct pc_net *net, struct net_fetch *f, uint64_t when);
/* @src's per-fetch state in @f (ops->state_size bytes). */
void *net_fetch_source_state(const struct net_fetch *f,
			     const struct net_source *src);
enum net_attempt {
	NET_ATTEMPT_OK,	    /* the chunk is in the store */
	NET_ATTEMPT_FAILED, /* nothing usable: try the next source */
	NET_ATTEMPT_BAD,    /* wrong bytes: count, never ask it again */
	NET_ATTEMPT_FATAL,  /* the store failed: give up */
};

/* Appends @src (filled in by its kind: ops, base, scheme) to the source
 * list, with room for its per-fetch state in every fetch.  Before the
 * loop runs. */
void net_source_add(struct pc_net *net, const struct net_source *src);
void net_sources_free(struct pc_net *net);

/* ---- the mirrors (mirror.c) ---------------------------------------------- */

/* @url is a mirror URL this build can use (http, https, file; valid for
 * libcurl): 0 with its scheme and the length of "scheme://", or -EINVAL
 * (-ENOMEM) with @err set.  The one check of start-up and --print-config. */
int net_mirror_url_check(const char *url, char scheme[8], size_t *prefix_len,
			 char *err, size_t errlen);
/* The mirrors of @repo fit in the fetcher's sources after @used ones
 * (the LAN peers' source, the repositories before it): 0, or -E2BIG with
 * @err set.  The one check of start-up and --print-config. */
int net_mirrors_fit(size_t used, const struct pc_repo_config *repo, char *err,
		    size_t errlen);
/* Before the loop runs: a source for each configured mirror, in order.
 * 0, or -EINVAL (-E2BIG, -ENOMEM) with @err set. */
int net_mirrors_init(struct pc_net *net, struct pc_net_repo *repo, char *err,
		     size_t errlen);
void net_fetch_init(struct pc_net *net);
/* Takes ownership of @waiter (a NET_REQ_FETCH request).  Fetches are
 * shared by hash across repositories: each that wants one (@repo, or
 * waiter->repo; NULL: the first) adds its mirrors to those the fetch may
 * ask, in the sources' order (repositories in configured order). */
void net_fetch_waiter(struct pc_net *net, struct net_req *waiter);
/* The same for callers on the loop thread; @len may exceed PC_CHUNK_MAX
 * (manifests).  0 or -ENOMEM. */
int net_fetch_object(struct pc_net *net, struct pc_net_repo *repo,
		     const struct pc_hash *hash, uint64_t len,
		     pc_fetch_done done, void *arg);
void net_fetch_prefetch(struct pc_net *net, struct pc_net_repo *repo,
			const struct pc_chunk_ref *ref);
void net_fetch_attempt_done(struct pc_net *net, struct net_fetch *fetch,
			    enum net_attempt outcome);
/* Completes every fetch with -ECANCELED. */
void net_fetch_shutdown(struct pc_net *net);
/* Like net_fetch_object for a chunk (@ref->len at most PC_CHUNK_MAX), but
 * a new fetch queues as read-ahead: readers' fetches go first.  0, or
 * -EINVAL, -ENOMEM, -ECANCELED (shutting down): @done never runs then.
 * @done may run before this returns. */
int net_fetch_background(struct pc_net *net, struct pc_net_repo *repo,
			 const struct pc_chunk_ref *ref, pc_fetch_done done,
			 void *arg);

/* The fetcher; loop thread only.  @sources is set before the loop runs
 * and read-only afterwards. */
struct net_fetcher {
	struct net_source sources[NET_MAX_SOURCES];
	size_t nsources;
	struct net_fetch *table[NET_FETCH_BUCKETS];
	struct pc_list demand_queue;   /* waiting for a slot, FIFO */
	struct pc_list prefetch_queue; /* run when no demand waits */
	size_t prefetch_queued;
	size_t running; /* fetches with a transfer (<= cfg->max_fetches) */
	bool pumping;
	size_t state_size; /* the sources' per-fetch state, in all */
};

#endif /* PC_NET_FETCH_H */
