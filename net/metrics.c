/*
 * metrics.c - the Prometheus text endpoint (metrics_listen): the store's
 * counters, the cache's size, the peer server's and discovery's counters,
 * the version served and the poller's status, for a scraper.
 *
 * It is off unless metrics_listen is set, and it listens on loopback
 * unless an address is written out: "9108" and ":9108" mean
 * 127.0.0.1:9108, never every interface.  Only GET (and HEAD) /metrics is
 * answered; nothing else of the node is reachable through it, and nothing
 * changes anything.
 *
 * Threads: libmicrohttpd answers on a thread of its own.  What the store
 * and the peer server keep is thread-safe and read live there; what lives
 * on the loop thread (discovery's counters, the version and status) is
 * copied once a second by a loop timer into a snapshot under a mutex, so
 * the server never reads loop state.  A scrape therefore sees loop values
 * at most a second old.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "net.h"

#define SNAPSHOT_INTERVAL_MS 1000
#define CONNECTIONS_MAX 16
#define CONNECTION_TIMEOUT_S 10
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* What the loop thread copies for the server; guarded by net_metrics.lock. */
struct metrics_repo {
	char repository[PC_REPO_NAME_MAX + 1];
	uint64_t version, highest, held;
	int64_t published, expires, accepted;
	struct pc_net_status status;
	enum pc_net_state state; /* as `status` shows it (control_status) */
	uint64_t equivocations;
};

struct metrics_snapshot {
	struct metrics_repo repos[PC_CONFIG_MAX_REPOS];
	size_t nrepos;
	bool discovery_on;
	struct pc_disc_counters disc;
	struct net_source_health health[NET_HEALTH_SOURCES];
	bool demoted[NET_HEALTH_SOURCES];
	uint64_t read_failures;
};

struct net_metrics {
	struct pc_net *net;
	struct MHD_Daemon *daemon; /* set before the loop runs, stopped in
				      shutdown on the loop thread */
	uv_timer_t timer;	   /* loop thread */
	union pc_sockaddr addr;	   /* read-only after init */

	pthread_mutex_t lock;
	struct metrics_snapshot snap; /* guarded by lock */
};

/* ---- the snapshot (loop thread) -------------------------------------------- */

static void snapshot_repo(struct pc_net_repo *repo, struct metrics_repo *s)
{
	struct pc_store_version v;
	char reason[2048];

	if (pc_store_current(repo->store, &v) == 0) {
		snprintf(s->repository, sizeof(s->repository), "%s", v.name);
		s->version = v.version;
		s->published = v.created;
		s->expires = v.expires;
		s->accepted = v.accepted;
	} else {
		snprintf(s->repository, sizeof(s->repository), "%s",
			 net_repo_name(repo));
	}
	s->highest = pc_store_highest_version(repo->store);
	s->held = pc_store_held_version(repo->store);
	s->state = control_status(repo, &s->status, reason, sizeof(reason));
	s->equivocations = repo->head.equivocations;
}

static void take_snapshot(struct net_metrics *m)
{
	struct pc_net *net = m->net;
	struct metrics_snapshot snap = { 0 };

	snap.nrepos = net->nrepos;
	for (size_t i = 0; i < net->nrepos; i++)
		snapshot_repo(net->repos[i], &snap.repos[i]);
	memcpy(snap.health, net->health.src, sizeof(snap.health));
	for (size_t i = 0; i < net->fetcher.nsources && i < NET_HEALTH_SOURCES;
	     i++)
		snap.demoted[i] = net_health_demoted(net, i);
	snap.read_failures = net->health.read_failures;
	snap.discovery_on = net->peers.disc != NULL;
	if (net->peers.disc)
		pc_disc_get_counters(net->peers.disc, &snap.disc);
	pthread_mutex_lock(&m->lock);
	m->snap = snap;
	pthread_mutex_unlock(&m->lock);
}

static void on_uv_snapshot(uv_timer_t *timer)
{
	take_snapshot(container_of(timer, struct net_metrics, timer));
}

/* ---- the text format ----------------------------------------------------- */

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL,
			      t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
		} else if (t->buf && (size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		} else {
			size_t cap = t->cap ? t->cap : 8192;
			char *grown;

			while (cap < t->len + (size_t)n + 1)
				cap *= 2;
			grown = realloc(t->buf, cap);
			if (!grown)
				t->failed = true;
			t->buf = grown ? grown : t->buf;
			t->cap = grown ? cap : t->cap;
		}
	}
}

/* One sample with its HELP and TYPE lines. */
static void metric(struct text *t, const char *name, const char *type,
		   const char *help, uint64_t value)
{
	put(t, "# HELP peercache_%s %s\n# TYPE peercache_%s %s\n", name, help,
	    name, type);
	put(t, "peercache_%s %llu\n", name, (unsigned long long)value);
}

static void counter(struct text *t, const char *name, const char *help,
		    uint64_t value)
{
	metric(t, name, "counter", help, value);
}

static void gauge(struct text *t, const char *name, const char *help,
		  uint64_t value)
{
	metric(t, name, "gauge", help, value);
}

/* A label value: backslash, quote and newline escaped. */
static void put_label(struct text *t, const char *value)
{
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			put(t, "\\%c", *value);
		else if (*value == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *value);
	}
}

static uint64_t nonneg(int64_t value)
{
	return value > 0 ? (uint64_t)value : 0;
}

/* A figure of each repository: unlabelled with one repository (as before
 * several could be served), with a repository label with several. */
static void per_repo(struct text *t, const struct metrics_snapshot *s,
		     const char *name, const char *help,
		     uint64_t (*value)(const struct metrics_repo *))
{
	size_t len = strlen(name);
	const char *type = len > 6 && strcmp(name + len - 6, "_total") == 0
				   ? "counter"
				   : "gauge";

	put(t, "# HELP peercache_%s %s\n# TYPE peercache_%s %s\n", name, help,
	    name, type);
	for (size_t r = 0; r < s->nrepos; r++) {
		if (s->nrepos == 1) {
			put(t, "peercache_%s", name);
		} else {
			put(t, "peercache_%s{repository=\"", name);
			put_label(t, s->repos[r].repository);
			put(t, "\"}");
		}
		put(t, " %llu\n", (unsigned long long)value(&s->repos[r]));
	}
}

static uint64_t r_version(const struct metrics_repo *r)
{
	return r->version;
}

static uint64_t r_highest(const struct metrics_repo *r)
{
	return r->highest;
}

static uint64_t r_held(const struct metrics_repo *r)
{
	return r->held;
}

static uint64_t r_published(const struct metrics_repo *r)
{
	return nonneg(r->published);
}

static uint64_t r_expires(const struct metrics_repo *r)
{
	return nonneg(r->expires);
}

static uint64_t r_accepted(const struct metrics_repo *r)
{
	return nonneg(r->accepted);
}

static uint64_t r_last_poll(const struct metrics_repo *r)
{
	return nonneg(r->status.last_poll);
}

static uint64_t r_last_poll_ok(const struct metrics_repo *r)
{
	return nonneg(r->status.last_poll_ok);
}

static uint64_t r_equivocations(const struct metrics_repo *r)
{
	return r->equivocations;
}

static void write_version(struct text *t, const struct metrics_snapshot *s,
			  int64_t started_at)
{
	static const enum pc_net_state states[] = {
		PC_STATE_STARTING, PC_STATE_UP_TO_DATE, PC_STATE_STALE,
		PC_STATE_FAILING, PC_STATE_DEGRADED
	};

	put(t, "# HELP peercache_info The repositories served (always 1).\n"
	       "# TYPE peercache_info gauge\n");
	for (size_t r = 0; r < s->nrepos; r++) {
		put(t, "peercache_info{repository=\"");
		put_label(t, s->repos[r].repository);
		put(t, "\"} 1\n");
	}
	per_repo(t, s, "version", "Version served now (0: none yet).",
		 r_version);
	per_repo(t, s, "highest_version", "Highest version ever accepted.",
		 r_highest);
	per_repo(t, s, "held_version",
		 "Version held by peercachectl rollback (0: none).", r_held);
	per_repo(t, s, "published_timestamp_seconds",
		 "When the version served was published.", r_published);
	per_repo(t, s, "expires_timestamp_seconds",
		 "When the head of the version served expires.", r_expires);
	per_repo(t, s, "accepted_timestamp_seconds",
		 "When this node installed the version served.", r_accepted);
	put(t, "# HELP peercache_status The poller's status (1: current).\n"
	       "# TYPE peercache_status gauge\n");
	for (size_t r = 0; r < s->nrepos; r++) {
		for (size_t i = 0; i < sizeof(states) / sizeof(states[0]);
		     i++) {
			put(t, "peercache_status{");
			if (s->nrepos > 1) {
				put(t, "repository=\"");
				put_label(t, s->repos[r].repository);
				put(t, "\",");
			}
			put(t, "status=\"%s\"} %d\n",
			    pc_net_state_name(states[i]),
			    s->repos[r].state == states[i]);
		}
	}
	per_repo(t, s, "last_poll_timestamp_seconds",
		 "When the last poll of the head started.", r_last_poll);
	per_repo(t, s, "last_poll_success_timestamp_seconds",
		 "When the last successful poll ended.", r_last_poll_ok);
	gauge(t, "start_time_seconds", "When the daemon started.",
	      nonneg(started_at));
}

static void write_store(struct text *t, struct pc_net *net)
{
	struct pc_store_usage usage = { 0, 0 };
	char name[64], help[96];

	pc_store_usage(net->store, &usage);
	gauge(t, "cache_bytes", "Bytes of chunks in the cache.", usage.bytes);
	gauge(t, "cache_chunks", "Chunks in the cache.", usage.chunks);
	gauge(t, "quota_bytes", "The cache's quota (0: none).",
	      net->cfg->quota);
	for (int c = 0; c < PC_CTR_COUNT; c++) {
		const char *ctr = pc_counter_name((enum pc_counter)c);

		snprintf(name, sizeof(name), "%s_total", ctr);
		snprintf(help, sizeof(help),
			 "The store's counter %s (persisted).", ctr);
		counter(t, name, help,
			pc_store_counter(net->store, (enum pc_counter)c));
	}
}

static void write_peer_server(struct text *t, struct pc_net *net)
{
	struct pc_peer_server_stats *ps;

	gauge(t, "peer_server_up", "1 if the peer server runs.",
	      net->peers.server != NULL);
	if (!net->peers.server)
		return;
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		t->failed = true;
		return;
	}
	pc_peer_server_stats(net->peers.server, ps);
	gauge(t, "peer_uploads_in_flight", "Chunk bodies being sent to peers.",
	      ps->uploads_in_flight);
	counter(t, "peer_uploads_aborted_total", "Uploads to peers cut short.",
		ps->uploads_aborted);
	counter(t, "peer_refused_limit_total",
		"Peer requests refused with 503 (upload limit).",
		ps->refused_limit);
	counter(t, "peer_refused_acl_total",
		"Peer connections refused (not an allowed source).",
		ps->refused_acl);
	counter(t, "peer_not_found_total",
		"Peer requests for chunks this node lacks.", ps->not_found);
	counter(t, "peer_bad_requests_total", "Malformed peer requests.",
		ps->bad_requests);
	counter(t, "peer_refused_connections_total",
		"Peer connections refused (every one allowed was busy).",
		ps->refused_connections);
	counter(t, "peer_closed_idle_total",
		"Peer connections closed: no request head in time, or room "
		"made for a new one.",
		ps->closed_idle);
	free(ps);
}

/* mirror_serve = on: what this node served to branch sites, by result. */
static void write_mirror_serve(struct text *t, struct pc_net *net)
{
	struct mirror_serve_stats ms;
	static const char *const results[] = { "hit",	  "fetched",   "head",
					       "refused", "not_found", "busy",
					       "failed",  "timeout" };
	uint64_t values[8];

	if (!net->peers.server ||
	    !pc_peer_server_mirror_stats(net->peers.server, &ms))
		return;
	values[0] = ms.hits;
	values[1] = ms.fetched;
	values[2] = ms.heads;
	values[3] = ms.refused;
	values[4] = ms.not_found;
	values[5] = ms.busy;
	values[6] = ms.failed;
	values[7] = ms.timeouts;
	put(t, "# HELP peercache_mirror_serve_requests_total Requests of "
	       "branch sites (mirror_serve), by result.\n# TYPE "
	       "peercache_mirror_serve_requests_total counter\n");
	for (size_t i = 0; i < 8; i++)
		put(t,
		    "peercache_mirror_serve_requests_total{result=\"%s\"} "
		    "%llu\n",
		    results[i], (unsigned long long)values[i]);
	put(t, "# HELP peercache_mirror_serve_bytes_total Body bytes sent "
	       "to branch sites, from the cache (hit) or pulled through "
	       "(fetched).\n# TYPE peercache_mirror_serve_bytes_total "
	       "counter\n");
	put(t,
	    "peercache_mirror_serve_bytes_total{result=\"hit\"} %llu\n"
	    "peercache_mirror_serve_bytes_total{result=\"fetched\"} %llu\n",
	    (unsigned long long)ms.bytes_hit,
	    (unsigned long long)ms.bytes_fetched);
	counter(t, "mirror_serve_aborted_total",
		"Bodies to branch sites cut short.", ms.aborted);
	gauge(t, "mirror_serve_in_flight",
	      "Branch requests being answered or pulled through.",
	      ms.in_flight);
}

static void write_discovery(struct text *t, const struct metrics_snapshot *s)
{
	const struct pc_disc_counters *d = &s->disc;

	gauge(t, "discovery_up", "1 if UDP discovery runs.", s->discovery_on);
	if (!s->discovery_on)
		return;
	counter(t, "discovery_probes_sent_total", "Probes sent.",
		d->probes_sent);
	counter(t, "discovery_answers_received_total", "Answers received.",
		d->answers_received);
	counter(t, "discovery_probes_received_total", "Probes received.",
		d->probes_received);
	counter(t, "discovery_answers_sent_total", "Answers sent.",
		d->answers_sent);
	counter(t, "discovery_answers_dropped_total",
		"Answers not sent (queue or send queue full, send error).",
		d->answers_dropped);
	counter(t, "discovery_claims_won_total", "Claims won.", d->claims_won);
	counter(t, "discovery_claims_lost_total", "Claims lost.",
		d->claims_lost);
	put(t, "# HELP peercache_discovery_dropped_total Packets dropped, by "
	       "reason.\n# TYPE peercache_discovery_dropped_total counter\n");
	put(t,
	    "peercache_discovery_dropped_total{reason=\"denied\"} %llu\n"
	    "peercache_discovery_dropped_total{reason=\"malformed\"} %llu\n"
	    "peercache_discovery_dropped_total{reason=\"bad_tag\"} %llu\n"
	    "peercache_discovery_dropped_total{reason=\"rate_limited\"} %llu\n",
	    (unsigned long long)d->denied,
	    (unsigned long long)(d->truncated + d->oversized + d->malformed +
				 d->version),
	    (unsigned long long)d->bad_tag,
	    (unsigned long long)d->rate_limited);
}

/* One labelled sample per source of @name. */
static void
per_source(struct text *t, struct pc_net *net, const char *name,
	   const char *type, const char *help, const struct metrics_snapshot *s,
	   uint64_t (*value)(const struct metrics_snapshot *, size_t))
{
	put(t, "# HELP peercache_%s %s\n# TYPE peercache_%s %s\n", name, help,
	    name, type);
	for (size_t i = 0; i < net->fetcher.nsources && i < NET_HEALTH_SOURCES;
	     i++) {
		if (!net->fetcher.sources[i].serves_head)
			continue; /* the peers: see peers_known, peers_banned */
		put(t, "peercache_%s{source=\"", name);
		put_label(t, net->fetcher.sources[i].base);
		put(t, "\"} %llu\n", (unsigned long long)value(s, i));
	}
}

static uint64_t demoted(const struct metrics_snapshot *s, size_t i)
{
	return s->demoted[i];
}

static uint64_t ok_attempts(const struct metrics_snapshot *s, size_t i)
{
	return s->health[i].ok;
}

static uint64_t bad_chunks(const struct metrics_snapshot *s, size_t i)
{
	return s->health[i].bad_chunks;
}

static uint64_t slow_attempts(const struct metrics_snapshot *s, size_t i)
{
	return s->health[i].slow;
}

static uint64_t failed_attempts(const struct metrics_snapshot *s, size_t i)
{
	return s->health[i].failures;
}

/* The mirrors' health (source_health.c), the reads that failed and the
 * heads refused as equivocation. */
static void write_sources(struct text *t, struct pc_net *net,
			  const struct metrics_snapshot *s)
{
	/* sources[] and their names are read-only once the net runs. */
	per_source(t, net, "source_demoted", "gauge",
		   "1 while the mirror is tried after the others (slow, wrong "
		   "bytes, failing).",
		   s, demoted);
	per_source(t, net, "source_ok_total", "counter",
		   "Attempts at the mirror that delivered.", s, ok_attempts);
	per_source(t, net, "source_bad_chunks_total", "counter",
		   "Chunks from the mirror with wrong bytes.", s, bad_chunks);
	per_source(t, net, "source_slow_total", "counter",
		   "Attempts at the mirror given up after a long wait.", s,
		   slow_attempts);
	per_source(t, net, "source_failures_total", "counter",
		   "Attempts at the mirror that failed quickly.", s,
		   failed_attempts);
	counter(t, "read_failures_total",
		"Readers' fetches that failed (EIO to the reader).",
		s->read_failures);
	per_repo(t, s, "equivocations_total",
		 "Heads refused: a second, different head of an accepted "
		 "version.",
		 r_equivocations);
}

/* Peers known and banned, from the table (any thread). */
static void write_peers(struct text *t, struct pc_net *net)
{
	struct net_peer *table = calloc(NET_PEER_TABLE, sizeof(*table));
	size_t n = table ? net_peers_snapshot(net, table, NET_PEER_TABLE) : 0;
	int64_t now = net_unix_now();
	uint64_t banned = 0;

	for (size_t i = 0; i < n; i++)
		banned += table[i].banned_until > now;
	free(table);
	gauge(t, "peers_known", "LAN peers in the peer table.", n);
	gauge(t, "peers_banned", "LAN peers banned now.", banned);
}

/* ---- the server (libmicrohttpd's thread) ---------------------------------- */

static enum MHD_Result answer_text(struct MHD_Connection *conn, unsigned status,
				   const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **req_cls)
{
	struct net_metrics *m = cls;
	struct metrics_snapshot snap;
	struct MHD_Response *r;
	struct text t = { 0 };
	enum MHD_Result ret;

	(void)version;
	(void)upload;
	(void)req_cls;
	if (*upload_size)
		return MHD_NO; /* no request bodies here */
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return answer_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "only GET /metrics\n");
	if (strcmp(url, "/metrics") != 0)
		return answer_text(conn, MHD_HTTP_NOT_FOUND,
				   "only GET /metrics\n");
	pthread_mutex_lock(&m->lock);
	snap = m->snap;
	pthread_mutex_unlock(&m->lock);
	write_version(&t, &snap, m->net->started_at);
	write_store(&t, m->net);
	write_peer_server(&t, m->net);
	write_mirror_serve(&t, m->net);
	write_discovery(&t, &snap);
	write_peers(&t, m->net);
	write_sources(&t, m->net, &snap);
	if (t.failed) {
		free(t.buf);
		return answer_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "out of memory\n");
	}
	r = MHD_create_response_from_buffer(t.len, t.buf,
					    MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(t.buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* ---- life ----------------------------------------------------------------- */

/* The address metrics_listen names: "HOST:PORT", ":PORT" or "PORT" with
 * HOST an IPv4 literal, an IPv6 literal in brackets ("[::1]:9100",
 * "[::]:9100": both families) or "localhost"; no HOST means 127.0.0.1,
 * never every interface.  -EINVAL with @err set. */
int net_metrics_parse_listen(const char *text, union pc_sockaddr *out,
			     char *err, size_t errlen)
{
	const char *colon = strrchr(text, ':');
	const char *port_text = colon ? colon + 1 : text;
	struct pc_addr addr;
	char host[64] = "";
	unsigned long port;
	socklen_t len;
	char *end;

	if (colon && (size_t)(colon - text) >= sizeof(host))
		goto bad;
	if (colon)
		memcpy(host, text, (size_t)(colon - text));
	errno = 0;
	port = strtoul(port_text, &end, 10);
	if (*port_text < '0' || *port_text > '9' || *end || errno ||
	    port == 0 || port > 65535)
		goto bad;
	/* No address: loopback, never every interface. */
	if (!host[0] || strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	/* An IPv6 literal needs its brackets: "::1:9100" is ambiguous. */
	if (pc_addr_parse(host, &addr) < 0 ||
	    (!pc_addr_is_v4(&addr) && host[0] != '['))
		goto bad;
	return pc_addr_to_sockaddr(&addr, (uint16_t)port,
				   pc_addr_is_v4(&addr) ? AF_INET : AF_INET6,
				   out, &len);
bad:
	snprintf(err, errlen,
		 "metrics_listen: '%s' is not HOST:PORT, :PORT or PORT with "
		 "HOST an IPv4 address, [an IPv6 address] or localhost",
		 text);
	return -EINVAL;
}

static void metrics_free(struct net_metrics *m)
{
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int net_metrics_init(struct pc_net *net, char *err, size_t errlen)
{
	const char *listen = net->cfg->metrics_listen;
	char addr[PC_ADDR_HOST_MAX];
	struct net_metrics *m;
	struct pc_addr bound;
	uint16_t port;
	unsigned flags = 0;
	int rc;

	if (!listen || !listen[0])
		return 0;
	m = calloc(1, sizeof(*m));
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	m->net = net;
	pthread_mutex_init(&m->lock, NULL);
	rc = net_metrics_parse_listen(listen, &m->addr, err, errlen);
	if (rc < 0) {
		metrics_free(m);
		return rc;
	}
	pc_addr_from_sockaddr(&bound, &m->addr.sa, &port);
	pc_addr_url_host(&bound, addr, sizeof(addr));
	if (!pc_addr_is_loopback(&bound))
		pc_log(PC_LOG_WARN, "net",
		       "metrics served on %s, not only on loopback", addr);
	/* "[::]" is both families (IPV6_V6ONLY off); another IPv6 address
	 * only itself. */
	if (m->addr.sa.sa_family == AF_INET6)
		flags = IN6_IS_ADDR_UNSPECIFIED(&bound.a) ? MHD_USE_DUAL_STACK
							  : MHD_USE_IPv6;
	take_snapshot(m); /* the loop does not run yet */
	m->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			flags,
		port, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, &m->addr,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS_MAX,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT_S,
		MHD_OPTION_END);
	if (!m->daemon) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errlen,
			 "metrics_listen: cannot listen on %s:%u: %s", addr,
			 port, strerror(-rc));
		metrics_free(m);
		return rc;
	}
	uv_timer_init(&net->loop, &m->timer);
	uv_timer_start(&m->timer, on_uv_snapshot, SNAPSHOT_INTERVAL_MS,
		       SNAPSHOT_INTERVAL_MS);
	net->metrics = m;
	pc_log(PC_LOG_INFO, "net", "metrics on http://%s:%u/metrics", addr,
	       port);
	return 0;
}

static void on_uv_timer_closed(uv_handle_t *handle)
{
	metrics_free(
		container_of((uv_timer_t *)handle, struct net_metrics, timer));
}

void net_metrics_shutdown(struct pc_net *net)
{
	struct net_metrics *m = net->metrics;

	if (!m)
		return;
	net->metrics = NULL;
	/* Joins the server's thread: no scrape is running after this. */
	MHD_stop_daemon(m->daemon);
	uv_close((uv_handle_t *)&m->timer, on_uv_timer_closed);
}
