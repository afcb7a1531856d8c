/*
 * peer_guard.c - the peer server's connections: how many, from whom, and
 * how long a request head may take.
 *
 * libmicrohttpd's own means do not hold against a slowloris: its timeout
 * is an idle one (a byte every few seconds keeps a connection forever),
 * and at its connection limit it stops accepting, so that every new
 * client, a neighbour's GET included, hangs in the listen queue.  So the
 * server keeps its own list of connections (libmicrohttpd reports each
 * one's start and end), gives libmicrohttpd a higher limit, and decides
 * here:
 *   - a request head must arrive whole within header_timeout_s of the
 *     accept or of the previous answer's end: a watchdog thread shuts
 *     down the sockets of connections that are late (libmicrohttpd then
 *     sees the end of the stream and closes them);
 *   - a new connection over the total or per-address limit takes the
 *     place of the connection (of that address, for the per-address
 *     limit) that has waited longest for a request head; only when every
 *     one is answering a request is it refused.  Honest peers send their
 *     request at once after connecting, so a slowloris pushes out only
 *     its own connections and idle kept ones.
 * Everything closed or refused is counted and summed up in one warning a
 * minute at most.
 *
 * The list, the live count and the stop flag are guarded by lock; the
 * counters are atomics; the log state belongs to the watchdog thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "pc_list.h"
#include "peer_guard.h"

/* The watchdog looks this often for late request heads. */
#define WATCH_MS 200
/* Closed and refused connections are logged at most this often. */
#define LOG_EVERY_MS 60000

/* A connection, from its accept to its close; guarded by guard->lock. */
struct peer_conn {
	struct pc_list link; /* guard->conns, oldest first */
	int fd;
	struct pc_addr addr;
	/* Monotonic ms since it waits for a request head; 0 while a
	 * request is being answered. */
	uint64_t waiting_since;
	bool closing; /* shut down by us: on its way out */
};

struct peer_guard {
	struct peer_guard_opts opts; /* read-only */
	uint64_t header_timeout_ms;  /* read-only */

	pthread_mutex_t lock;
	struct pc_list conns; /* guarded by lock */
	unsigned live;	      /* connections not closing; lock */
	bool stopping;	      /* the watchdog ends; lock */
	pthread_cond_t wake;  /* CLOCK_MONOTONIC, with lock */
	pthread_t watchdog;
	bool watching; /* the owner's thread */

	_Atomic uint64_t refused;
	_Atomic uint64_t closed;

	/* Watchdog thread only: what was logged last, and when. */
	uint64_t logged_closed, logged_refused, logged_at;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- the list ------------------------------------------------------------- */

/* Caller holds the lock.  Shuts @c's socket down: libmicrohttpd sees the
 * end of the stream and closes the connection (and only after reporting
 * it closed, the descriptor). */
static void shut(struct peer_guard *guard, struct peer_conn *c)
{
	/* Counted first: whoever sees the close may read the count. */
	atomic_fetch_add_explicit(&guard->closed, 1, memory_order_relaxed);
	c->closing = true;
	guard->live--;
	shutdown(c->fd, SHUT_RDWR);
}

/* Caller holds the lock.  The connection (from @addr, or from anyone when
 * @addr is NULL) that has waited longest for a request head, or NULL when
 * every one is answering a request. */
static struct peer_conn *longest_waiting(struct peer_guard *guard,
					 const struct pc_addr *addr)
{
	struct peer_conn *best = NULL, *c;
	struct pc_list *pos;

	pc_list_each(pos, &guard->conns)
	{
		c = container_of(pos, struct peer_conn, link);
		if (c->closing || !c->waiting_since ||
		    (addr && !pc_addr_equal(&c->addr, addr)))
			continue;
		if (!best || c->waiting_since < best->waiting_since)
			best = c;
	}
	return best;
}

/* Caller holds the lock.  Connections from @addr, not closing. */
static unsigned live_from(struct peer_guard *guard, struct pc_addr addr)
{
	struct peer_conn *c;
	struct pc_list *pos;
	unsigned n = 0;

	pc_list_each(pos, &guard->conns)
	{
		c = container_of(pos, struct peer_conn, link);
		n += !c->closing && pc_addr_equal(&c->addr, &addr);
	}
	return n;
}

bool peer_guard_admit(struct peer_guard *guard, struct pc_addr addr)
{
	struct peer_conn *victim = NULL;
	bool over = false;

	pthread_mutex_lock(&guard->lock);
	if (guard->opts.per_address &&
	    live_from(guard, addr) >= guard->opts.per_address) {
		over = true;
		victim = longest_waiting(guard, &addr);
	} else if (guard->live >= guard->opts.max_connections) {
		over = true;
		victim = longest_waiting(guard, NULL);
	}
	if (victim)
		shut(guard, victim);
	pthread_mutex_unlock(&guard->lock);
	if (over && !victim) {
		atomic_fetch_add_explicit(&guard->refused, 1,
					  memory_order_relaxed);
		return false;
	}
	return true;
}

struct peer_conn *peer_guard_opened(struct peer_guard *guard, int fd,
				    struct pc_addr addr)
{
	struct peer_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = fd;
	c->addr = addr;
	c->waiting_since = now_ms();
	pthread_mutex_lock(&guard->lock);
	pc_list_insert_tail(&guard->conns, &c->link);
	guard->live++;
	pthread_mutex_unlock(&guard->lock);
	return c;
}

void peer_guard_closed(struct peer_guard *guard, struct peer_conn *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&guard->lock);
	pc_list_remove(&c->link);
	if (!c->closing)
		guard->live--;
	pthread_mutex_unlock(&guard->lock);
	free(c);
}

void peer_guard_busy(struct peer_guard *guard, struct peer_conn *c, bool busy)
{
	if (!c)
		return;
	pthread_mutex_lock(&guard->lock);
	c->waiting_since = busy ? 0 : now_ms();
	pthread_mutex_unlock(&guard->lock);
}

void peer_guard_stats(struct peer_guard *guard, struct peer_guard_stats *out)
{
	out->refused =
		atomic_load_explicit(&guard->refused, memory_order_relaxed);
	out->closed =
		atomic_load_explicit(&guard->closed, memory_order_relaxed);
}

/* ---- the watchdog --------------------------------------------------------- */

/* Caller holds the lock: shuts down connections whose head is late. */
static void close_late(struct peer_guard *guard, uint64_t now)
{
	struct peer_conn *c;
	struct pc_list *pos;

	pc_list_each(pos, &guard->conns)
	{
		c = container_of(pos, struct peer_conn, link);
		if (!c->closing && c->waiting_since &&
		    now - c->waiting_since >= guard->header_timeout_ms)
			shut(guard, c);
	}
}

/* What was closed or refused since the last line, one line a minute at
 * most: a flood must not flood the log. */
static void log_pressure(struct peer_guard *guard, uint64_t now)
{
	struct peer_guard_stats s;

	peer_guard_stats(guard, &s);
	if ((s.closed == guard->logged_closed &&
	     s.refused == guard->logged_refused) ||
	    (guard->logged_at && now - guard->logged_at < LOG_EVERY_MS))
		return;
	pc_log(PC_LOG_WARN, "net",
	       "peer server: closed %llu connections that sent no request "
	       "within %u s or made room for others, refused %llu over the "
	       "limits (%u connections, %u per address)%s",
	       (unsigned long long)(s.closed - guard->logged_closed),
	       guard->opts.header_timeout_s,
	       (unsigned long long)(s.refused - guard->logged_refused),
	       guard->opts.max_connections, guard->opts.per_address,
	       guard->logged_at ? " in the last minute" : "");
	guard->logged_closed = s.closed;
	guard->logged_refused = s.refused;
	guard->logged_at = now;
}

static void *watch_main(void *arg)
{
	struct peer_guard *guard = arg;
	struct timespec until;

	pthread_mutex_lock(&guard->lock);
	while (!guard->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += WATCH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&guard->wake, &guard->lock, &until);
		if (guard->stopping)
			break;
		close_late(guard, now_ms());
		pthread_mutex_unlock(&guard->lock);
		log_pressure(guard, now_ms());
		pthread_mutex_lock(&guard->lock);
	}
	pthread_mutex_unlock(&guard->lock);
	return NULL;
}

/* ---- life ------------------------------------------------------------------ */

struct peer_guard *peer_guard_start(const struct peer_guard_opts *opts)
{
	struct peer_guard *guard;
	pthread_condattr_t attr;
	int rc;

	if (opts->max_connections == 0 || opts->header_timeout_s == 0) {
		errno = EINVAL;
		return NULL;
	}
	guard = calloc(1, sizeof(*guard));
	if (!guard)
		return NULL;
	guard->opts = *opts;
	guard->header_timeout_ms = (uint64_t)opts->header_timeout_s * 1000;
	pc_list_init(&guard->conns);
	pthread_mutex_init(&guard->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&guard->wake, &attr);
	pthread_condattr_destroy(&attr);
	rc = pthread_create(&guard->watchdog, NULL, watch_main, guard);
	if (rc) {
		peer_guard_free(guard);
		errno = rc;
		return NULL;
	}
	guard->watching = true;
	return guard;
}

void peer_guard_stop(struct peer_guard *guard)
{
	if (!guard || !guard->watching)
		return;
	pthread_mutex_lock(&guard->lock);
	guard->stopping = true;
	pthread_cond_signal(&guard->wake);
	pthread_mutex_unlock(&guard->lock);
	pthread_join(guard->watchdog, NULL);
	guard->watching = false;
}

void peer_guard_free(struct peer_guard *guard)
{
	if (!guard)
		return;
	peer_guard_stop(guard);
	/* Connections never reported closed (there should be none). */
	while (!pc_list_empty(&guard->conns))
		peer_guard_closed(guard, container_of(guard->conns.next,
						      struct peer_conn, link));
	pthread_cond_destroy(&guard->wake);
	pthread_mutex_destroy(&guard->lock);
	free(guard);
}
