/*
 * internal.h - what the files of net/ share: struct pc_net itself, the
 * request queue that other threads feed, the curl transfer abstraction
 * (curl_uv.c), the fetch table (fetch.c), the head poller (head.c) and the
 * control socket (control.c).
 *
 * Threading rule of the whole folder: everything runs on the one libuv
 * loop thread, except the few fields that say which lock guards them.  The
 * loop thread is the only one that touches libuv handles, the curl multi
 * handle and the fetch table, so none of those need a lock.
 */
#ifndef PC_NET_INTERNAL_H
#define PC_NET_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <uv.h>

#include "discovery.h"
#include "pc_list.h"
#include "pc_net.h"
#include "peer_server.h"
#include "source_health.h"

/* Sources a chunk can come from: the LAN peers, then the mirrors. */
#define NET_MAX_SOURCES (PC_CONFIG_MAX_MIRRORS + 1)
#define NET_FETCH_BUCKETS 256
/* Prefetches waiting for a transfer slot; more are dropped. */
#define NET_PREFETCH_QUEUE_MAX 64
/* Prefetch refs waiting in the request queue; more are dropped. */
#define NET_PREFETCH_PENDING_MAX 256
/* Body bytes of a non-200 response read and thrown away (so that the
 * connection can be reused) before the transfer is cut instead. */
#define NET_DISCARD_MAX (64 * 1024)
/* Easy handles kept for the next transfers (curl_uv.c). */
#define NET_CURL_IDLE_MAX 16
/* The pace a manifest's deadline allows for on top of fetch_timeout, and
 * the most that allowance may add. */
#define NET_SLOW_LINK_BYTES_PER_S (64 * 1024)
#define NET_SLOW_LINK_MAX_MS (30 * 60 * 1000)

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
	struct pc_chunk_ref ref;       /* FETCH */
	pc_fetch_done done;	       /* FETCH: one of these two */
	pc_fetch_data_done done_data;  /* FETCH: a reader of the bytes */
	void *arg;		       /* FETCH */
	struct pc_chunk_ref *refs;     /* PREFETCH, LOOKAHEAD: owned */
	size_t count;		       /* PREFETCH, LOOKAHEAD */
	struct net_refresh_wait *wait; /* REFRESH: NULL unless blocking */
};

/* ---- the data path's worker threads (workers.c) ------------------------ */

#define NET_WORKERS_MAX 4

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
	struct net_work *todo_head;	    /* lock */
	struct net_work **todo_tail;	    /* lock */
	struct net_work *done_head;	    /* lock */
	struct net_work **done_tail;	    /* lock */
	bool stopping;			    /* lock */
	bool initialized;		    /* set once, before the loop runs */
	bool async_open;		    /* loop thread */
	unsigned nthreads;		    /* started; loop thread */
	pthread_t threads[NET_WORKERS_MAX]; /* joined at shutdown */
	uv_async_t done_async;		    /* loop thread */
};

/* Before the loop runs: the threads (one per core) and the wake-up. */
int net_workers_init(struct pc_net *net, char *err, size_t errlen);
/* Loop thread. */
void net_workers_queue(struct pc_net *net, struct net_work *work);
/* A worker, during a work(): @work's after() (only) runs on the loop
 * thread soon, before the after() of the work being done. */
void net_workers_post(struct pc_net *net, struct net_work *work);
/* Loop thread, shutting down: finishes the queued work, joins the threads,
 * runs the last after()s, closes the handle. */
void net_workers_shutdown(struct pc_net *net);
/* After the loop ended. */
void net_workers_free(struct pc_net *net);

/* ---- chunk buffers (chunk_buf.c) ---------------------------------------- */

/* One reference, @len (1..PC_CHUNK_MAX) bytes not yet written; NULL. */
struct pc_chunk_buf *net_chunk_buf_new(size_t len);
/* Writable, while the caller holds the only reference (chunk_rx.c). */
uint8_t *net_chunk_buf_bytes(struct pc_chunk_buf *buf);
/* Frees the buffers kept for reuse (the net is going away). */
void net_chunk_buf_pool_drain(void);

/* ---- sources (fetch.c) ---------------------------------------------------- */

struct net_fetch;
struct net_source;

/*
 * How to get a chunk from one kind of source.  A peer source (discovery,
 * then HTTP from the peer) slots in before the mirrors with its own ops.
 */
struct net_source_ops {
	const char *kind;	       /* "mirror" */
	enum pc_counter bytes_counter; /* credited on success */
	enum pc_counter bad_counter;   /* wrong bytes delivered */
	/* Starts an attempt; its outcome arrives via net_fetch_attempt_done().
	 * 0, or a negative errno to skip this source. */
	int (*start)(struct pc_net *net, struct net_source *src,
		     struct net_fetch *fetch, uint64_t time_left_ms);
	/* Abandons the attempt in progress (no outcome follows). */
	void (*cancel)(struct pc_net *net, struct net_fetch *fetch);
};

struct net_source {
	const struct net_source_ops *ops;
	char *base;	  /* mirror URL without trailing '/' (owned) */
	char scheme[8];	  /* "http", "https" or "file": redirects stay in it */
	bool serves_head; /* a mirror: the head poller asks it too */
};

/* ---- curl transfers on libuv (curl_uv.c) -------------------------------- */

struct net_xfer;

struct net_xfer_result {
	int err;	     /* 0, or the transport error as -errno */
	long status;	     /* HTTP status; 200 for a file:// success */
	const char *message; /* transport error text, "" if none */
};

struct net_xfer_ops {
	/* Body bytes of the final response; false aborts the transfer. */
	bool (*data)(struct net_xfer *xfer, const void *buf, size_t len);
	/* The transfer ended; @xfer is freed when this returns.  Never
	 * called for a cancelled transfer. */
	void (*done)(struct net_xfer *xfer, const struct net_xfer_result *res);
};

struct net_xfer_opts {
	const char *url;
	const char *scheme;  /* the only scheme redirects may go to */
	uint64_t timeout_ms; /* whole transfer (CURLOPT_TIMEOUT_MS) */
	bool no_cache;	     /* ask caches in between to revalidate */
	/* 0: the configured value.  Peers get shorter ones. */
	uint64_t connect_timeout_ms;
	uint64_t low_speed_time_s;
	bool direct;	  /* no proxy (LAN peers) */
	bool no_redirect; /* a 3xx is the answer (LAN peers) */
};

struct net_xfer {
	struct pc_net *net;
	CURL *easy;
	const struct net_xfer_ops *ops;
	void *ctx; /* the caller's */
	char *url; /* owned */
	bool is_file;
	char errbuf[CURL_ERROR_SIZE];
};

int net_curl_init(struct pc_net *net, char *err, size_t errlen);
/* Closes every curl socket handle and the timer; frees the multi handle.
 * No transfer may be left. */
void net_curl_shutdown(struct pc_net *net);
/* NULL with *@err set (-ENOMEM, -EINVAL). */
struct net_xfer *net_xfer_start(struct pc_net *net,
				const struct net_xfer_opts *opts,
				const struct net_xfer_ops *ops, void *ctx,
				int *err);
/* Removes and frees @xfer; no callback follows. */
void net_xfer_cancel(struct net_xfer *xfer);
/* Status of the response being received (200 for file://). */
long net_xfer_status(struct net_xfer *xfer);
/* The one place CURLcode becomes an errno. */
int net_curl_errno(CURLcode code);

/* ---- fetches (fetch.c) ---------------------------------------------------- */

enum net_fetch_state {
	FETCH_QUEUED,  /* waiting for a transfer slot */
	FETCH_RUNNING, /* an attempt holds a slot */
	FETCH_BACKOFF, /* every source failed; retrying later */
};

struct commit_job;
struct net_peer_call;
struct net_rx;

/* What discovery said about a chunk (peer_source.c). */
#define NET_KNOWN_PEERS 4
struct net_peer_knowledge {
	uint64_t at; /* uv_now() ms of the answer; 0: nothing known */
	size_t nhave;
	struct pc_disc_peer have[NET_KNOWN_PEERS];
	bool fetching; /* a neighbour is fetching it (answered or claimed) */
	struct pc_disc_peer fetcher;
};

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
	struct net_req *waiters; /* FIFO, owned */
	struct net_req **waiters_tail;
	uint64_t deadline;    /* uv_now() milliseconds */
	uv_timer_t timer;     /* the deadline, a pause, or a peer wait */
	size_t source;	      /* index in net->sources being tried */
	unsigned round;	      /* completed rounds over all sources */
	uint32_t bad_sources; /* bit i: source i sent wrong bytes */
	uint32_t tried;	      /* bit i: source i tried in this round */
	/* Of the attempt in progress (source_health.c): when it began
	 * (uv_now() ms; 0: not to be judged) and the time it was given. */
	uint64_t attempt_start;
	uint64_t attempt_budget;

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

	/* The peer source (peer_source.c). */
	struct net_peer_knowledge known;
	bool asking;		    /* in a discovery ask now */
	bool peer_waiting_ask;	    /* its peer attempt waits for that ask */
	struct net_peer_call *call; /* ask or claim of its attempt */
	bool claimed;		    /* won a claim: release when done */
	uint64_t wait_until;	    /* waiting for a neighbour; 0: not */
	uint64_t wait_end;	    /* when to stop waiting for good */
	struct pc_disc_peer peer;   /* asked (GET) or waited for */
	bool peer_getting;	    /* a GET from @peer is running */
	bool tried_released;	    /* asked the last releaser directly */
	bool from_hint;	     /* @known came from a hint: a 404 asks again */
	uint64_t wait_start; /* when the wait for @peer began */
	bool retry_busy;     /* @busy_peer answered 503: it has the chunk */
	bool get_on_hunch;   /* the GET was not asked for by a promise */
	struct pc_disc_peer busy_peer;
	uint64_t claimed_at;  /* when the claim was won (uv_now() ms) */
	unsigned peer_misses; /* GETs of this attempt that brought nothing */
};

/* Loop thread: the fetch of @hash, if one runs. */
struct net_fetch *net_fetch_find(struct pc_net *net,
				 const struct pc_hash *hash);
/* Calls @fn for every fetch in the table. */
void net_fetch_each(struct pc_net *net, void (*fn)(struct net_fetch *, void *),
		    void *arg);
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
/* Re-arms @f's timer for the earlier of its deadline and its peer wait. */
void net_fetch_rearm(struct pc_net *net, struct net_fetch *f);
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
/* Bytes in a worker's segment: at least this much is hashed and written
 * at a time (the last segment of a body may be shorter). */
#define NET_RX_SEGMENT_MIN (256 * 1024)
/* ... except the first segment of a body longer than that. */
#define NET_RX_FIRST_SEGMENT (32 * 1024)

enum net_attempt {
	NET_ATTEMPT_OK,	    /* the chunk is in the store */
	NET_ATTEMPT_FAILED, /* nothing usable: try the next source */
	NET_ATTEMPT_BAD,    /* wrong bytes: count, never ask it again */
	NET_ATTEMPT_FATAL,  /* the store failed: give up */
};

int net_sources_init(struct pc_net *net, char *err, size_t errlen);
/* @url is a mirror URL this build can use (http, https, file; valid for
 * libcurl): 0 with its scheme and the length of "scheme://", or -EINVAL
 * (-ENOMEM) with @err set.  The one check of start-up and --print-config. */
int net_mirror_url_check(const char *url, char scheme[8], size_t *prefix_len,
			 char *err, size_t errlen);
void net_sources_free(struct pc_net *net);
void net_fetch_init(struct pc_net *net);
/* Takes ownership of @waiter (a NET_REQ_FETCH request). */
void net_fetch_waiter(struct pc_net *net, struct net_req *waiter);
/* The same for callers on the loop thread; @len may exceed PC_CHUNK_MAX
 * (manifests).  0 or -ENOMEM. */
int net_fetch_object(struct pc_net *net, const struct pc_hash *hash,
		     uint64_t len, pc_fetch_done done, void *arg);
void net_fetch_prefetch(struct pc_net *net, const struct pc_chunk_ref *ref);
void net_fetch_attempt_done(struct pc_net *net, struct net_fetch *fetch,
			    enum net_attempt outcome);
/* Completes every fetch with -ECANCELED. */
void net_fetch_shutdown(struct pc_net *net);
/* Like net_fetch_object for a chunk (@ref->len at most PC_CHUNK_MAX), but
 * a new fetch queues as read-ahead: readers' fetches go first.  0, or
 * -EINVAL, -ENOMEM, -ECANCELED (shutting down): @done never runs then.
 * @done may run before this returns. */
int net_fetch_background(struct pc_net *net, const struct pc_chunk_ref *ref,
			 pc_fetch_done done, void *arg);

/* ---- prefetch of a path (prefetch.c) -------------------------------------- */

#define NET_PREFETCH_PATH_MAX 240 /* fits the control socket's line */
#define NET_PREFETCH_DEPTH_MAX 128

struct net_prefetch_result {
	int rc; /* 0; -ENOENT, -ENOTDIR, -EINVAL (a symlink, ".."), -ENODATA
		   (no version yet); -EIO (chunks failed); -ECANCELED */
	uint64_t version;
	uint64_t files, chunks, bytes; /* under the path */
	uint64_t cached;	       /* chunks that were there already */
	uint64_t fetched;	       /* chunks fetched now */
	uint64_t failed;	       /* chunks no source delivered */
	double seconds;
};

struct net_prefetch_job;
/* Runs once on the loop thread; @r is borrowed for the call. */
typedef void (*net_prefetch_done)(void *arg,
				  const struct net_prefetch_result *r);
/* Fetches every chunk of the file or tree at @path ("/" separated, from
 * the mount's root) in the current version.  NULL with *@err set
 * (-ENAMETOOLONG, -ENOMEM). */
struct net_prefetch_job *net_prefetch_start(struct pc_net *net,
					    const char *path,
					    net_prefetch_done done, void *arg,
					    int *err);
/* The caller went away: no callback; the job ends on its own. */
void net_prefetch_abandon(struct net_prefetch_job *job);

/* ---- LAN peers (peers.c, peer_source.c) ---------------------------------- */

/* How long a peer stays known after its last packet. */
#define NET_PEER_FORGET_S 3600
#define NET_PEER_TABLE 256

/* One line per address (peers.c), guarded by net_peers.lock. */
struct net_peer {
	struct in_addr addr;
	uint16_t http_port;	       /* the last one it announced */
	int64_t first_seen, last_seen; /* unix time */
	uint64_t chunks, bytes;	       /* fetched from it */
	uint64_t bad;		       /* wrong bytes it sent */
	uint64_t failures;	       /* timeouts, refused connections */
	int64_t banned_until;	       /* unix time; 0: never banned */
	char reason[160];	       /* why the last ban */
	uint64_t skip_until;	       /* uv_now() ms: it just failed */
	uint64_t failure_logged_at;    /* uv_now() ms */
	unsigned inflight;	       /* GETs from it now */
	uint64_t kept, broken;	       /* promises (peer_trust.c) */
	uint64_t doubted_until;	       /* uv_now() ms: its word is not taken */
};

/* What a line of the table is worth keeping, least first (peers.c). */
enum net_peer_worth {
	NET_PEER_HEARD,	    /* only heard */
	NET_PEER_KNOWN,	    /* failed, broke a promise, or a GET runs */
	NET_PEER_DELIVERED, /* delivered verified chunks */
	NET_PEER_BANNED,    /* a ban in force */
};

/* Who released a claim on a chunk lately (it fetched it, so it most
 * likely has it): direct-mapped by hash, loop thread only. */
#define NET_RELEASED_SLOTS 1024
struct net_released {
	struct pc_hash hash;
	struct pc_disc_peer peer;
	uint64_t at; /* uv_now() ms; 0: empty */
};

/* What answers said about chunks, also those nobody fetches yet (a probe
 * asks about a sequential reader's next chunks too): their fetches go
 * straight to a holder, with no probe of their own.  Set-associative by
 * hash, loop thread only. */
#define NET_HINT_SETS 1024
#define NET_HINT_WAYS 2
struct net_hint {
	struct pc_hash hash;
	uint64_t at; /* uv_now() ms of the answer; 0: none */
	bool asking; /* in the lookahead of an ask in flight */
	size_t nhave;
	struct pc_disc_peer have[NET_KNOWN_PEERS];
};

struct net_peers {
	struct pc_disc *disc; /* NULL: discovery off */
	struct net_released released[NET_RELEASED_SLOTS];
	struct net_hint hints[NET_HINT_SETS][NET_HINT_WAYS];
	/* A sequential reader's next chunks, for the next probe. */
	struct pc_hash lookahead[PC_DISC_MAX_HASHES];
	size_t nlookahead;
	uint64_t hint_hits;    /* fetches that needed no probe (loop thread) */
	uint64_t hints_stale;  /* ... whose holder answered 404 */
	uint64_t busy_retries; /* GETs refused with 503, asked again later */
	uint64_t claim_ms;     /* own downloads after a won claim: average */
	uint64_t liars_at[2];  /* uv_now() of the last two unknown liars */
	struct pc_peer_server *server; /* NULL: peer server off */
	struct pc_acl acl;	       /* who may talk to us */
	uint16_t http_port;	       /* advertised; 0: no server */
	pthread_mutex_t lock;	       /* guards table and npeers */
	struct net_peer table[NET_PEER_TABLE];
	size_t npeers;
	char head_path[4096]; /* CACHE_DIR/head, served at /head */
};

/* Before the loop runs: ACL, peer server, discovery.  0 or -errno with
 * @err set. */
int net_peers_init(struct pc_net *net, char *err, size_t errlen);
/* Loop thread, shutting down: closes discovery (its handles). */
void net_peers_shutdown(struct pc_net *net);
/* After the loop thread ended: stops the peer server. */
void net_peers_free(struct pc_net *net);
/* Loop thread: a peer was heard (any valid packet). */
void net_peer_seen(struct pc_net *net, const struct pc_disc_peer *peer);
/* Runs @fn under the table's lock on the line of @peer's address (made
 * if needed, for a record worth @want: see peers.c); not at all when the
 * table keeps only lines worth more. */
void net_peer_update(struct pc_net *net, const struct pc_disc_peer *peer,
		     enum net_peer_worth want,
		     void (*fn)(struct net_peer *e, void *arg), void *arg);
/* A copy of @addr's line; false if the table has none. */
bool net_peer_lookup(struct pc_net *net, struct in_addr addr,
		     struct net_peer *out);
/* Loop thread: verdicts on a peer after a GET.  A ban covers the address
 * (every port). */
void net_peer_credit(struct pc_net *net, const struct pc_disc_peer *peer,
		     uint64_t bytes);
void net_peer_ban(struct pc_net *net, const struct pc_disc_peer *peer,
		  const char *why);
/* A GET from @peer failed (@why: the transport's reason): skipped for a
 * few seconds. */
void net_peer_failed(struct pc_net *net, const struct pc_disc_peer *peer,
		     const char *why);
/* Usable for a GET or a wait: not banned, not doubted, not skipped after
 * a failure. */
bool net_peer_usable(struct pc_net *net, const struct pc_disc_peer *peer);
/* GETs from @peer's address running now: @delta is +1 or -1. */
void net_peer_inflight(struct pc_net *net, const struct pc_disc_peer *peer,
		       int delta);
unsigned net_peer_load(struct pc_net *net, const struct pc_disc_peer *peer);

/* A neighbour's word (peer_trust.c), loop thread.  False while it is
 * banned or doubted (or unproven while liars are about): what it says it
 * has, fetches or claims counts for nothing. */
bool net_peer_believed(struct pc_net *net, const struct pc_disc_peer *peer);
/* How long a fetch may wait for what @peer promised, ms; 0: not at all. */
uint64_t net_peer_patience(struct pc_net *net, const struct pc_disc_peer *peer);
/* @peer delivered verified bytes (net_peer_credit calls it). */
void net_peer_kept(struct pc_net *net, const struct pc_disc_peer *peer);
/* @peer did not deliver what it promised (@why, for the log): doubted for
 * a while, and every fetch waiting for it looks again at once. */
void net_peer_broke(struct pc_net *net, const struct pc_disc_peer *peer,
		    const char *why);
/* This node's download of a chunk it claimed took @ms. */
void net_peer_claim_took(struct pc_net *net, uint64_t ms);
/* Loop thread: the neighbour that last released a claim on @hash within
 * @max_age_ms, if any. */
bool net_peer_released_by(struct pc_net *net, const struct pc_hash *hash,
			  uint64_t max_age_ms, struct pc_disc_peer *out);
/* Up to @max peers heard lately, most recent first, for asking the head. */
size_t net_peers_recent(struct pc_net *net, struct pc_disc_peer *out,
			size_t max);
/* Any thread: a copy of the table, for the control socket. */
size_t net_peers_snapshot(struct pc_net *net, struct net_peer *out, size_t max);
/* Writes the accepted head's bytes to CACHE_DIR/head (served to peers).
 * Any thread. */
void net_peers_save_head(struct pc_net *net, const char *body, size_t len);

/* The peer source and its hooks in the fetch life cycle. */
extern const struct net_source_ops net_peer_source_ops;
/* @f ends: drop its claim and any call in flight. */
void net_peer_fetch_end(struct pc_net *net, struct net_fetch *f);
/* @f's timer fired during a wait for a neighbour: look again, or give
 * up on peers when the wait's bound has passed. */
void net_peer_wait_over(struct pc_net *net, struct net_fetch *f);
/* The neighbour @f waited for released the chunk: fetch it from @peer. */
void net_peer_released(struct pc_net *net, struct net_fetch *f,
		       const struct pc_disc_peer *peer);
/* A sequential reader will want these chunks soon: the next probe asks
 * about them too (replacing the previous lookahead; at most
 * PC_DISC_MAX_HASHES). */
void net_peer_lookahead(struct pc_net *net, const struct pc_chunk_ref *refs,
			size_t count);

/* ---- head poller (head.c) ------------------------------------------------- */

/* @error is "" on success. */
typedef void (*net_poll_done)(void *arg, int result, const char *error);

struct net_poll_waiter {
	struct net_poll_waiter *next;
	net_poll_done done;
	void *arg;
};

struct net_install_job;

struct net_head {			 /* loop thread only */
	uv_timer_t timer;		 /* periodic poll */
	bool running;			 /* a poll is in progress */
	bool again;			 /* poll once more when this one ends */
	struct net_poll_waiter *current; /* told when this poll ends */
	struct net_poll_waiter *next;	 /* told when the next one ends */
	size_t mirror;			 /* index being asked */
	uint32_t asked;			 /* bit i: source i asked already */
	uint64_t asked_at;		 /* uv_now() ms of the request */
	/* After the mirrors: peers heard lately (their /head). */
	bool asking_peers;
	bool asking_disc; /* who holds our version? (discovery) */
	size_t npeer_heads, peer_head;
	struct pc_disc_peer peer_heads[8];
	char source_name[256]; /* what is asked now, for logs and status */
	struct net_xfer *xfer; /* GET head in progress */
	char body[PC_HEAD_MAX + 1];
	size_t body_len;
	bool too_large;
	int refusal; /* first refusal of this poll */
	char refusal_msg[768];
	char transport_msg[600];     /* first transport failure */
	struct net_install_job *job; /* the install in progress, if any
					(head_install.c) */
	char last_warning[768];	     /* the cause of the last refusal logged */
	/* Heads refused as equivocation (a second head of the accepted
	 * version), kept for the status until the daemon stops. */
	uint64_t equivocations;
	int64_t equivocation_first, equivocation_last; /* unix time */
	char equivocation[700];
};

void net_head_init(struct pc_net *net);
void net_head_start(struct pc_net *net);
/* Runs a poll (now, or right after the one in progress); @done may be
 * NULL.  0 or -ENOMEM. */
int net_head_request(struct pc_net *net, net_poll_done done, void *arg);
void net_head_shutdown(struct pc_net *net);
/* Every waiter in the list hears @result, once (a forgotten one not), and
 * is freed. */
void net_call_waiters(struct net_poll_waiter *waiter, int result,
		      const char *error);
/* Waiters in the list whose arg is @arg are not told (their caller went
 * away). */
void net_waiters_forget(struct net_poll_waiter *waiter, void *arg);
/* Every waiter of a poll or install whose arg is @arg: the same. */
void net_head_forget(struct pc_net *net, void *arg);
/* A poll that was asked for meanwhile starts now if it may. */
void net_head_resume(struct pc_net *net);
/* The status's "installing" (0: none). */
void net_status_installing(struct pc_net *net, uint64_t version);

/* ---- the install of an accepted head (head_install.c) ------------------- */

/* Fetches and installs @head's manifest; @waiters (taken) hear the end.
 * An install still fetching an older manifest is superseded (its waiters
 * move to this one).  0, or -ENOMEM (nothing taken). */
int net_install_start(struct pc_net *net, const struct pc_head *head,
		      const char *source, const char *body, size_t body_len,
		      struct net_poll_waiter *waiters);
/* The version being installed (0: none); @on_worker: it is written to
 * the store now and cannot be superseded. */
uint64_t net_install_version(struct pc_net *net, bool *on_worker);
/* @hash is the manifest of the install in progress. */
bool net_install_wants(struct pc_net *net, const struct pc_hash *hash);
/* @waiters (taken) hear when the install in progress ends. */
void net_install_join(struct pc_net *net, struct net_poll_waiter *waiters);
void net_install_forget(struct pc_net *net, void *arg);
/* Shutting down: its waiters hear -ECANCELED now. */
void net_install_shutdown(struct pc_net *net);
/* An install whose manifest arrived while switches were held
 * (switch_hold.c) goes on now, unless they still are. */
void net_install_resume(struct pc_net *net);

/* ---- holding version switches for a restart (switch_hold.c) ------------- */

/* Loop thread, before a version switch is queued (an install on a
 * worker, a rollback, an unpin): false while switches are held (the
 * switch waits or is refused), else true and the switch counts as running
 * until net_switch_end(), which comes after the fs hook has run. */
bool net_switch_begin(struct pc_net *net);
void net_switch_end(struct pc_net *net);

struct json;
/* An equivocation was seen: true, with a sentence for the status. */
bool net_head_alert(struct pc_net *net, char *out, size_t len);
/* "equivocations", "equivocation_at", "equivocation" for the status. */
void net_head_json(struct pc_net *net, struct json *j);

/* ---- control socket (control.c) ------------------------------------------ */

/* Also starts and stops the metrics endpoint (below). */
int net_control_init(struct pc_net *net, char *err, size_t errlen);
/* The gid of control_group @group; -ENOENT (or -errno) with @err set. */
int net_control_group_gid(const char *group, gid_t *gid, char *err,
			  size_t errlen);
void net_control_shutdown(struct pc_net *net);

/* ---- Prometheus metrics (metrics.c) --------------------------------------- */

struct net_metrics;
struct sockaddr_in;

/* The address metrics_listen names (see metrics.c); -EINVAL with @err
 * set.  Start-up and --print-config. */
int net_metrics_parse_listen(const char *text, struct sockaddr_in *out,
			     char *err, size_t errlen);

/* Before the loop runs: serves metrics_listen (if set) on a
 * libmicrohttpd thread of its own, and arms the timer that copies the
 * loop thread's values for it.  0 or -errno with @err set. */
int net_metrics_init(struct pc_net *net, char *err, size_t errlen);
/* Loop thread, shutting down: stops the server (joins its thread) and
 * closes the timer. */
void net_metrics_shutdown(struct pc_net *net);

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
	int64_t started_at;	/* unix time of pc_net_new; read-only */
	bool control_group_set; /* read-only after init */
	gid_t control_gid;	/* control_group; read-only after init */
	bool verify_busy;	/* a verify runs on a worker */
	bool switch_busy;	/* a rollback or unpin runs on a worker */
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

#endif /* PC_NET_INTERNAL_H */
