/*
 * mirror_serve.c - a node as the mirror of a branch site: GET
 * /chunks/<ab>/<hex> on the peer server's port, from the cache or pulled
 * through this node's own sources (mirror_serve.h has the answers).
 *
 * A branch site behind a thin WAN link lists one node of a bigger site
 * as its first mirror; that node fetches each object once, however many
 * branch nodes ask (the fetcher's single flight), and every branch byte
 * crosses the cloud's link at most once for both sites together.
 *
 * How a miss is answered without holding libmicrohttpd's thread: the
 * connection is suspended, the fetch handed to the net's loop
 * (pc_net_fetch_data, which gives verified bytes only), and the loop's
 * callback resumes the connection; libmicrohttpd then calls the access
 * handler again, and mirror_serve_resumed() answers from the verified
 * buffer (or the chunk file).  A watchdog thread resumes a request whose
 * fetch is late with 504, so a stalled upstream costs the branch
 * deadline_ms, not its whole fetch_timeout; the fetch goes on and its
 * bytes are cached for the next request.
 *
 * Which hashes it pulls through: only objects of the versions this node
 * holds (the current and the previous manifest and their chunks), whose
 * exact lengths the fetcher needs as bounds.  An index of those lengths
 * is made from the store's trees (mirror_index.c) when the versions
 * change (on the first miss after the change).  Anything else is 404 at
 * once: a branch client cannot make this node fetch arbitrary names,
 * and a branch that is a version ahead (it polled the cloud) finds its
 * objects there.
 *
 * Threads and ownership:
 *   - libmicrohttpd's thread: answer, resumed, completed, the index;
 *   - the loop thread: on_fetched; the watchdog: late requests;
 *   - requests (their list, state and references) are guarded by lock;
 *     a request lives while libmicrohttpd has it and while its fetch
 *     has not called back (refs);
 *   - the counters are atomics; the ACL and the options are fixed.
 * A connection is resumed outside lock: libmicrohttpd takes its own
 * locks there, and calls mirror_serve_completed() under them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "mirror_serve.h"
#include "peer_server.h"
#include "pc_log.h"
#include "pc_net.h"

#define CHUNKS_PREFIX "/chunks/"
/* "/chunks/ab/" + 64 hex digits */
#define CHUNK_PATH_LEN (sizeof(CHUNKS_PREFIX) - 1 + 3 + PC_HASH_HEX_LEN)

enum req_state {
	REQ_SENDING, /* its answer is queued (a hit, or after a fetch) */
	REQ_PENDING, /* suspended: its fetch runs */
	REQ_READY,   /* the fetch delivered: buf or fd */
	REQ_FAILED,  /* the fetch failed: 502 */
	REQ_LATE,    /* the deadline passed first: 504 */
};

/* One request that took a slot: a hit, or a pull-through. */
struct mirror_req {
	struct mirror_req *prev, *next; /* ms->requests; guarded by lock */
	struct mirror_serve *ms;
	struct MHD_Connection *conn;
	enum req_state state;	  /* guarded by lock */
	unsigned refs;		  /* guarded by lock: MHD's, the fetch's */
	uint64_t deadline;	  /* monotonic ms; REQ_PENDING */
	bool from_cache;	  /* the body is a cache hit */
	bool head;		  /* HEAD: no body */
	uint64_t size;		  /* body bytes; 0: no body counted */
	struct pc_chunk_buf *buf; /* REQ_READY: owned reference, or NULL */
	int fd;			  /* REQ_READY: the chunk file, or -1 */
	struct pc_hash hash;
	struct pc_addr client;
};

struct mirror_serve {
	/* Fixed at start. */
	struct pc_net *net;
	struct pc_store *store;
	struct pc_acl acl;
	unsigned max_requests;
	unsigned deadline_ms;
	struct MHD_Response *resp_forbidden; /* 403 */
	struct MHD_Response *resp_not_found; /* 404 */
	struct MHD_Response *resp_busy;	     /* 503 */
	struct MHD_Response *resp_failed;    /* 502 */
	struct MHD_Response *resp_late;	     /* 504 */

	struct mirror_index index; /* libmicrohttpd's thread only */

	pthread_mutex_t lock;
	pthread_cond_t wake;	     /* a new deadline, or stop */
	struct mirror_req *requests; /* guarded by lock */
	unsigned in_flight;	     /* guarded by lock */
	bool stopping;		     /* guarded by lock */
	pthread_t watchdog;
	bool watchdog_running; /* the owner's */

	_Atomic uint64_t hits, fetched, heads, refused, not_found, busy, failed,
		timeouts, bytes_hit, bytes_fetched, aborted;
};

static void count(_Atomic uint64_t *counter, uint64_t delta)
{
	atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- requests ------------------------------------------------------------ */

bool mirror_serve_route(const char *url)
{
	return strncmp(url, CHUNKS_PREFIX, sizeof(CHUNKS_PREFIX) - 1) == 0;
}

/* "/chunks/ab/<hex>" with ab the first two digits of hex: its hash. */
static bool parse_path(const char *url, struct pc_hash *hash)
{
	const char *dir = url + sizeof(CHUNKS_PREFIX) - 1;
	const char *hex = dir + 3;

	return strlen(url) == CHUNK_PATH_LEN && dir[2] == '/' &&
	       dir[0] == hex[0] && dir[1] == hex[1] &&
	       pc_hash_from_hex(hex, PC_HASH_HEX_LEN, hash) == 0;
}

bool mirror_serve_allows(struct mirror_serve *ms, const struct pc_addr *addr)
{
	return pc_acl_allows(&ms->acl, addr);
}

bool mirror_serve_owns(struct mirror_serve *ms, const void *req_cls)
{
	bool found = false;

	pthread_mutex_lock(&ms->lock);
	for (struct mirror_req *r = ms->requests; r && !found; r = r->next)
		found = r == req_cls;
	pthread_mutex_unlock(&ms->lock);
	return found;
}

/* A slot and a request in the list, or NULL (503: all taken). */
static struct mirror_req *req_new(struct mirror_serve *ms,
				  struct MHD_Connection *conn,
				  const struct pc_hash *hash,
				  const struct pc_addr *client)
{
	struct mirror_req *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	pthread_mutex_lock(&ms->lock);
	if (ms->in_flight >= ms->max_requests) {
		pthread_mutex_unlock(&ms->lock);
		free(req);
		return NULL;
	}
	ms->in_flight++;
	req->ms = ms;
	req->conn = conn;
	req->hash = *hash;
	req->client = *client;
	req->fd = -1;
	req->refs = 1;
	req->state = REQ_SENDING; /* until a pull-through suspends it */
	req->next = ms->requests;
	if (ms->requests)
		ms->requests->prev = req;
	ms->requests = req;
	pthread_mutex_unlock(&ms->lock);
	return req;
}

/* Drops a reference; caller holds ms->lock.  The last one frees. */
static void req_put_locked(struct mirror_req *req)
{
	struct mirror_serve *ms = req->ms;

	if (--req->refs)
		return;
	if (req->prev)
		req->prev->next = req->next;
	else
		ms->requests = req->next;
	if (req->next)
		req->next->prev = req->prev;
	pc_chunk_buf_put(req->buf);
	if (req->fd >= 0)
		pc_store_fd_close(req->fd);
	free(req);
}

static void req_put(struct mirror_req *req)
{
	struct mirror_serve *ms = req->ms;

	pthread_mutex_lock(&ms->lock);
	req_put_locked(req);
	pthread_mutex_unlock(&ms->lock);
}

/* libmicrohttpd is done with @req: its slot is free (a fetch it started
 * may go on, and keeps the request until it calls back). */
static void req_end(struct mirror_req *req)
{
	struct mirror_serve *ms = req->ms;

	pthread_mutex_lock(&ms->lock);
	ms->in_flight--;
	req_put_locked(req);
	pthread_mutex_unlock(&ms->lock);
}

/* The cached object @hash, opened; refuses what no object can be (as the
 * peer server does).  -ENOENT when absent. */
static int open_cached(struct mirror_serve *ms, const struct pc_hash *hash,
		       uint64_t *size)
{
	int fd = pc_store_chunk_open(ms->store, hash);
	off_t len;

	if (fd < 0)
		return fd;
	len = pc_store_fd_size(fd);
	if (len > 0 && (uint64_t)len <= PC_MANIFEST_MAX) {
		*size = (uint64_t)len;
		return fd;
	}
	pc_store_fd_close(fd);
	return -ENOENT;
}

static enum MHD_Result answer_fd(struct MHD_Connection *conn, int fd,
				 uint64_t size)
{
	struct MHD_Response *response = MHD_create_response_from_fd64(size, fd);
	enum MHD_Result ret;

	if (!response) {
		pc_store_fd_close(fd);
		return MHD_NO;
	}
	ret = MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				      "application/octet-stream");
	if (ret == MHD_YES)
		ret = MHD_queue_response(conn, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

static void put_buf(void *cls)
{
	pc_chunk_buf_put(cls);
}

/* Takes the reference @buf. */
static enum MHD_Result answer_buf(struct MHD_Connection *conn,
				  struct pc_chunk_buf *buf)
{
	struct MHD_Response *response =
		MHD_create_response_from_buffer_with_free_callback_cls(
			pc_chunk_buf_len(buf), (void *)pc_chunk_buf_data(buf),
			put_buf, buf);
	enum MHD_Result ret;

	if (!response) {
		pc_chunk_buf_put(buf);
		return MHD_NO;
	}
	ret = MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				      "application/octet-stream");
	if (ret == MHD_YES)
		ret = MHD_queue_response(conn, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result canned_answer(struct MHD_Connection *conn,
				     unsigned status,
				     struct MHD_Response *response,
				     _Atomic uint64_t *counter)
{
	count(counter, 1);
	return MHD_queue_response(conn, status, response);
}

/* Loop thread: the fetch of @arg's object ended. */
static void on_fetched(void *arg, int status, struct pc_chunk_buf *buf, int fd)
{
	struct mirror_req *req = arg;
	struct mirror_serve *ms = req->ms;
	bool resume = false;

	pthread_mutex_lock(&ms->lock);
	if (req->state == REQ_PENDING) {
		resume = true;
		if (status == 0) {
			req->state = REQ_READY;
			req->buf = buf ? pc_chunk_buf_ref(buf) : NULL;
			req->fd = buf ? -1 : fd;
			fd = -1;
		} else {
			req->state =
				status == -ETIMEDOUT ? REQ_LATE : REQ_FAILED;
		}
	}
	pthread_mutex_unlock(&ms->lock);
	if (fd >= 0)
		pc_store_fd_close(fd);
	/* Still suspended until this: libmicrohttpd cannot have let go of
	 * the connection. */
	if (resume)
		MHD_resume_connection(req->conn);
	req_put(req);
}

/* A miss: suspends @conn until the object arrives or the deadline. */
static enum MHD_Result pull_through(struct mirror_serve *ms,
				    struct MHD_Connection *conn,
				    struct mirror_req *req, uint64_t len)
{
	struct pc_chunk_ref ref = { .hash = req->hash, .len = (uint32_t)len };
	int rc;

	MHD_suspend_connection(conn);
	pthread_mutex_lock(&ms->lock);
	req->state = REQ_PENDING;
	req->refs++; /* the fetch's */
	req->deadline = mono_ms() + ms->deadline_ms;
	pthread_cond_signal(&ms->wake);
	pthread_mutex_unlock(&ms->lock);
	rc = pc_net_fetch_data(ms->net, &ref, on_fetched, req);
	if (rc < 0) { /* no callback will come */
		pthread_mutex_lock(&ms->lock);
		req->state = REQ_FAILED;
		req_put_locked(req);
		pthread_mutex_unlock(&ms->lock);
		MHD_resume_connection(conn);
	}
	return MHD_YES;
}

enum MHD_Result mirror_serve_answer(struct mirror_serve *ms,
				    struct MHD_Connection *conn,
				    const char *url, bool head,
				    const struct pc_addr *client,
				    void **req_cls)
{
	struct mirror_req *req;
	struct pc_hash hash;
	uint64_t size = 0, len;
	enum MHD_Result ret;
	int fd;

	if (!mirror_serve_allows(ms, client))
		return canned_answer(conn, MHD_HTTP_FORBIDDEN,
				     ms->resp_forbidden, &ms->refused);
	if (!parse_path(url, &hash))
		return canned_answer(conn, MHD_HTTP_NOT_FOUND,
				     ms->resp_not_found, &ms->not_found);
	req = req_new(ms, conn, &hash, client);
	if (!req)
		return canned_answer(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				     ms->resp_busy, &ms->busy);
	*req_cls = req; /* mirror_serve_completed() puts it */
	req->head = head;
	fd = open_cached(ms, &hash, &size);
	if (fd >= 0) {
		req->from_cache = true;
		req->size = head ? 0 : size;
		count(&ms->hits, 1);
		ret = answer_fd(conn, fd, size);
		if (ret != MHD_YES) {
			*req_cls = NULL;
			req_end(req);
		}
		return ret;
	}
	len = mirror_index_refresh(&ms->index, ms->store) == 0
		      ? mirror_index_find(&ms->index, &hash)
		      : 0;
	if (!len)
		return canned_answer(conn, MHD_HTTP_NOT_FOUND,
				     ms->resp_not_found, &ms->not_found);
	if (len > PC_CHUNK_MAX) {
		/* A manifest that is not cached: the fetcher hands such a
		 * body to the store, not to a waiter.  The branch takes it
		 * from its next mirror. */
		pc_log_cause(PC_LOG_WARN, "net", "mirror-serve-manifest",
			     "mirror serve: a manifest of %" PRIu64
			     " bytes is not cached; branch nodes get 502 "
			     "for it and fetch it from their next mirror",
			     len);
		return canned_answer(conn, MHD_HTTP_BAD_GATEWAY,
				     ms->resp_failed, &ms->failed);
	}
	return pull_through(ms, conn, req, len);
}

enum MHD_Result mirror_serve_resumed(struct mirror_serve *ms,
				     struct MHD_Connection *conn, void *req_cls)
{
	struct mirror_req *req = req_cls;
	struct pc_chunk_buf *buf;
	enum req_state state;
	off_t len;
	int fd;

	pthread_mutex_lock(&ms->lock);
	state = req->state;
	buf = req->buf;
	fd = req->fd;
	req->buf = NULL;
	req->fd = -1;
	if (state != REQ_PENDING)
		req->state = REQ_SENDING;
	pthread_mutex_unlock(&ms->lock);
	switch (state) {
	case REQ_READY:
		count(&ms->fetched, 1);
		if (buf) {
			req->size = req->head ? 0 : pc_chunk_buf_len(buf);
			return answer_buf(conn, buf);
		}
		len = pc_store_fd_size(fd);
		if (len <= 0) {
			pc_store_fd_close(fd);
			return MHD_NO;
		}
		req->size = req->head ? 0 : (uint64_t)len;
		return answer_fd(conn, fd, (uint64_t)len);
	case REQ_LATE:
		return canned_answer(conn, MHD_HTTP_GATEWAY_TIMEOUT,
				     ms->resp_late, &ms->timeouts);
	case REQ_FAILED:
		return canned_answer(conn, MHD_HTTP_BAD_GATEWAY,
				     ms->resp_failed, &ms->failed);
	default: /* resumed twice, or not by us: cannot happen */
		return MHD_NO;
	}
}

void mirror_serve_completed(struct mirror_serve *ms, void *req_cls,
			    enum MHD_RequestTerminationCode toe)
{
	struct mirror_req *req = req_cls;
	char hex[PC_HASH_HEX_LEN + 1];
	bool sent = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;

	if (req->size && sent)
		count(req->from_cache ? &ms->bytes_hit : &ms->bytes_fetched,
		      req->size);
	else if (req->size)
		count(&ms->aborted, 1);
	if (req->size) {
		pc_hash_to_hex(&req->hash, hex);
		pc_log(PC_LOG_DEBUG, "net",
		       "mirror serve: object %s (%" PRIu64 " bytes, %s) %s %s",
		       hex, req->size, req->from_cache ? "cached" : "pulled",
		       sent ? "sent to" : "cut short for",
		       pc_addr_str(&req->client));
	}
	req_end(req);
}

void mirror_serve_count_head(struct mirror_serve *ms)
{
	count(&ms->heads, 1);
}

/* ---- the watchdog -------------------------------------------------------- */

/* Marks the pending requests whose deadline passed (caller holds lock)
 * and returns how many of their connections are in @late (at most @max);
 * *@next: the next deadline (UINT64_MAX: none). */
static size_t collect_late(struct mirror_serve *ms, uint64_t now,
			   struct MHD_Connection **late, size_t max,
			   uint64_t *next)
{
	size_t n = 0;

	*next = UINT64_MAX;
	for (struct mirror_req *r = ms->requests; r; r = r->next) {
		if (r->state != REQ_PENDING)
			continue;
		if (r->deadline <= now && n < max) {
			r->state = REQ_LATE;
			late[n++] = r->conn;
		} else if (r->deadline < *next) {
			*next = r->deadline;
		}
	}
	return n;
}

static void *watchdog_main(void *arg)
{
	struct mirror_serve *ms = arg;
	struct MHD_Connection *late[64];
	struct timespec ts;
	uint64_t next;
	size_t n;

	pthread_setname_np(pthread_self(), "pc-mirror-dog");
	pthread_mutex_lock(&ms->lock);
	while (!ms->stopping) {
		n = collect_late(ms, mono_ms(), late, 64, &next);
		if (n) {
			/* Each is still suspended (REQ_LATE now: nothing
			 * else resumes it), so still there. */
			pthread_mutex_unlock(&ms->lock);
			for (size_t i = 0; i < n; i++)
				MHD_resume_connection(late[i]);
			pc_log_cause(PC_LOG_WARN, "net", "mirror-serve-late",
				     "mirror serve: %zu request(s) answered "
				     "504: the upstream did not deliver "
				     "within %u ms",
				     n, ms->deadline_ms);
			pthread_mutex_lock(&ms->lock);
			continue;
		}
		if (next == UINT64_MAX) {
			pthread_cond_wait(&ms->wake, &ms->lock);
			continue;
		}
		ts.tv_sec = (time_t)(next / 1000);
		ts.tv_nsec = (long)(next % 1000) * 1000000;
		pthread_cond_timedwait(&ms->wake, &ms->lock, &ts);
	}
	pthread_mutex_unlock(&ms->lock);
	return NULL;
}

/* ---- lifetime --------------------------------------------------------------- */

static void destroy_canned(struct mirror_serve *ms)
{
	struct MHD_Response **all[] = { &ms->resp_forbidden,
					&ms->resp_not_found, &ms->resp_busy,
					&ms->resp_failed, &ms->resp_late };

	peer_server_canned_free(all, sizeof(all) / sizeof(all[0]));
}

static int make_canned(struct mirror_serve *ms)
{
	ms->resp_forbidden =
		peer_server_canned("not a client of this mirror\n", NULL, NULL);
	ms->resp_not_found = peer_server_canned("not found\n", NULL, NULL);
	ms->resp_busy = peer_server_canned("busy, retry later\n",
					   MHD_HTTP_HEADER_RETRY_AFTER, "1");
	ms->resp_failed = peer_server_canned("upstream failed\n", NULL, NULL);
	ms->resp_late = peer_server_canned("upstream too slow\n", NULL, NULL);
	if (ms->resp_forbidden && ms->resp_not_found && ms->resp_busy &&
	    ms->resp_failed && ms->resp_late)
		return 0;
	destroy_canned(ms);
	return -ENOMEM;
}

static int init_sync(struct mirror_serve *ms)
{
	pthread_condattr_t attr;
	int rc;

	if (pthread_condattr_init(&attr) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	rc = pthread_cond_init(&ms->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (rc != 0)
		return -rc;
	pthread_mutex_init(&ms->lock, NULL);
	return 0;
}

struct mirror_serve *mirror_serve_new(const struct mirror_serve_opts *opts)
{
	struct mirror_serve *ms = calloc(1, sizeof(*ms));
	int rc;

	if (!ms) {
		errno = ENOMEM;
		return NULL;
	}
	ms->net = opts->net;
	ms->store = opts->store;
	ms->acl = *opts->allow;
	ms->max_requests = opts->max_requests ? opts->max_requests : 1;
	ms->deadline_ms = opts->deadline_ms ? opts->deadline_ms : 1;
	rc = make_canned(ms);
	if (rc < 0) {
		free(ms);
		errno = -rc;
		return NULL;
	}
	rc = init_sync(ms);
	if (rc == 0) {
		rc = -pthread_create(&ms->watchdog, NULL, watchdog_main, ms);
		if (rc < 0) {
			pthread_cond_destroy(&ms->wake);
			pthread_mutex_destroy(&ms->lock);
		}
	}
	if (rc < 0) {
		destroy_canned(ms);
		free(ms);
		errno = -rc;
		return NULL;
	}
	ms->watchdog_running = true;
	return ms;
}

void mirror_serve_stop(struct mirror_serve *ms)
{
	if (!ms || !ms->watchdog_running)
		return;
	pthread_mutex_lock(&ms->lock);
	ms->stopping = true;
	pthread_cond_signal(&ms->wake);
	pthread_mutex_unlock(&ms->lock);
	pthread_join(ms->watchdog, NULL);
	ms->watchdog_running = false;
}

void mirror_serve_free(struct mirror_serve *ms)
{
	struct mirror_req *next;

	if (!ms)
		return;
	mirror_serve_stop(ms);
	/* Whatever is left was never completed by libmicrohttpd (it was
	 * stopped), and its fetch called back (the loop has ended). */
	for (struct mirror_req *r = ms->requests; r; r = next) {
		next = r->next;
		pc_chunk_buf_put(r->buf);
		if (r->fd >= 0)
			pc_store_fd_close(r->fd);
		free(r);
	}
	destroy_canned(ms);
	mirror_index_free(&ms->index);
	pthread_cond_destroy(&ms->wake);
	pthread_mutex_destroy(&ms->lock);
	free(ms);
}

void mirror_serve_stats(struct mirror_serve *ms, struct mirror_serve_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->hits = atomic_load(&ms->hits);
	out->fetched = atomic_load(&ms->fetched);
	out->heads = atomic_load(&ms->heads);
	out->refused = atomic_load(&ms->refused);
	out->not_found = atomic_load(&ms->not_found);
	out->busy = atomic_load(&ms->busy);
	out->failed = atomic_load(&ms->failed);
	out->timeouts = atomic_load(&ms->timeouts);
	out->bytes_hit = atomic_load(&ms->bytes_hit);
	out->bytes_fetched = atomic_load(&ms->bytes_fetched);
	out->aborted = atomic_load(&ms->aborted);
	pthread_mutex_lock(&ms->lock);
	out->in_flight = ms->in_flight;
	pthread_mutex_unlock(&ms->lock);
}
