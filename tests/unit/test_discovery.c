/*
 * test_discovery.c - UDP discovery over real sockets on 127.0.0.1.
 *
 * Several discovery instances share one libuv loop in this thread, each
 * with its own store in a scratch directory and a static peer list naming
 * the others.  A plain UDP socket plays the prober (or a fake peer) and
 * speaks the wire format written here from docs/PROTOCOL.md, independently
 * of net/discovery.c, so the two check each other.  Every wait has a
 * deadline; time limits on the fast path are far from the naive cost, so
 * that a loaded machine does not make them flaky.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <uv.h>

#include "discovery.h"
#include "helpers.h"

#define MAX_NODES 4
#define HDR 16
#define TAG 32
#define WAIT_MS 5000 /* the deadline of any wait that should succeed */

enum {
	PROBE = 1,
	ANSWER = 2,
	CLAIM = 3,
	RELEASE = 4
};

static const uint8_t fleet_key[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t other_key[32] = "fedcba9876543210fedcba9876543210";

struct node {
	char *dir;
	struct pc_store *store;
	struct pc_disc *disc;
	struct pc_acl acl;
	uint16_t http_port;
	struct pc_hash fetching[4]; /* what the fetching callback reports */
	size_t nfetching;
	unsigned released;
	struct pc_disc_peer released_by;
};

struct fixture {
	uv_loop_t loop;
	struct node nodes[MAX_NODES];
	size_t nnodes;
	int socks[4]; /* raw sockets, closed in teardown */
	size_t nsocks;
};

/* ---- time and the loop --------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One loop iteration, sleeping at most 1 ms for I/O. */
static void pump_once(struct fixture *f)
{
	struct pollfd p = { .fd = uv_backend_fd(&f->loop), .events = POLLIN };

	poll(&p, 1, 1);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

static void pump(struct fixture *f, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	do
		pump_once(f);
	while (now_ms() < end);
}

#define WAIT_FOR(f, cond, ms)                                            \
	do {                                                             \
		uint64_t end_ = now_ms() + (ms);                         \
		while (!(cond)) {                                        \
			if (now_ms() > end_)                             \
				fail_msg("%s:%d: no \"%s\" after %u ms", \
					 __FILE__, __LINE__, #cond,      \
					 (unsigned)(ms));                \
			pump_once(f);                                    \
		}                                                        \
	} while (0)

/* ---- the wire, from docs/PROTOCOL.md ------------------------------------- */

static size_t mac(const uint8_t *key, const uint8_t *data, size_t len,
		  uint8_t *out)
{
	size_t out_len = 0;

	assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, 32,
				  data, len, out, TAG, &out_len));
	return out_len;
}

/* A packet in @buf: header, @body, and a tag when @key is set. */
static size_t wire(uint8_t *buf, uint8_t type, uint8_t count, uint32_t txid,
		   uint16_t http_port, const void *body, size_t body_len,
		   const uint8_t *key)
{
	memcpy(buf, "PCDS", 4);
	buf[4] = 1;
	buf[5] = type;
	buf[6] = key ? 1 : 0;
	buf[7] = count;
	buf[8] = (uint8_t)(txid >> 24);
	buf[9] = (uint8_t)(txid >> 16);
	buf[10] = (uint8_t)(txid >> 8);
	buf[11] = (uint8_t)txid;
	buf[12] = (uint8_t)(http_port >> 8);
	buf[13] = (uint8_t)http_port;
	buf[14] = buf[15] = 0;
	memcpy(buf + HDR, body, body_len);
	if (!key)
		return HDR + body_len;
	return HDR + body_len +
	       mac(key, buf, HDR + body_len, buf + HDR + body_len);
}

static size_t probe(uint8_t *buf, const struct pc_hash *ids, size_t n,
		    uint32_t txid, const uint8_t *key)
{
	return wire(buf, PROBE, (uint8_t)n, txid, 0, ids, n * sizeof(*ids),
		    key);
}

static uint32_t txid_of(const uint8_t *buf)
{
	return (uint32_t)buf[8] << 24 | (uint32_t)buf[9] << 16 |
	       (uint32_t)buf[10] << 8 | buf[11];
}

static bool bit(const uint8_t *map, size_t i)
{
	return map[i / 8] & (0x80 >> (i % 8));
}

/* ---- raw sockets --------------------------------------------------------- */

static int raw_open(struct fixture *f, const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	f->socks[f->nsocks++] = fd;
	return fd;
}

static uint16_t raw_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	return ntohs(sin.sin_port);
}

static void raw_send(int fd, uint16_t port, const void *buf, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	assert_int_equal(
		sendto(fd, buf, len, 0, (struct sockaddr *)&to, sizeof(to)),
		(ssize_t)len);
}

/* One datagram if there is one: its length, else -1. */
static ssize_t raw_recv(int fd, uint8_t *buf, size_t cap, uint16_t *port)
{
	struct sockaddr_in from;
	socklen_t len = sizeof(from);
	ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)&from, &len);

	if (n >= 0 && port)
		*port = ntohs(from.sin_port);
	return n;
}

struct reply {
	uint16_t port;
	size_t len;
	uint8_t bytes[256];
};

/* Runs the loop for @ms, keeping what arrives on @fd. */
static size_t collect(struct fixture *f, int fd, unsigned ms, struct reply *out,
		      size_t cap)
{
	uint64_t end = now_ms() + ms;
	uint8_t buf[4096];
	size_t n = 0;
	uint16_t port;
	ssize_t len;

	do {
		pump_once(f);
		while ((len = raw_recv(fd, buf, sizeof(buf), &port)) >= 0) {
			if (n == cap || (size_t)len > sizeof(out->bytes))
				fail_msg("unexpected datagram of %zd bytes",
					 len);
			out[n].port = port;
			out[n].len = (size_t)len;
			memcpy(out[n].bytes, buf, (size_t)len);
			n++;
		}
	} while (now_ms() < end);
	return n;
}

/* Collects until @want datagrams came (failing after WAIT_MS). */
static size_t collect_until(struct fixture *f, int fd, size_t want,
			    struct reply *out, size_t cap)
{
	uint64_t end = now_ms() + WAIT_MS;
	size_t n = 0;

	while (n < want) {
		if (now_ms() > end)
			fail_msg("%zu of %zu datagrams after %u ms", n, want,
				 WAIT_MS);
		n += collect(f, fd, 0, out + n, cap - n);
	}
	return n;
}

/* ---- nodes --------------------------------------------------------------- */

static void chunk(struct pc_store *store, unsigned seed, struct pc_hash *id)
{
	uint8_t data[256];
	struct pc_store_tmp *tmp;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(seed * 131 + i * 7 + (seed >> 8));
	pc_sha256(data, sizeof(data), id);
	if (!store)
		return; /* only the id */
	tmp = pc_store_tmp_begin(store, id, sizeof(data));
	assert_non_null(tmp);
	assert_int_equal(pc_store_tmp_write(tmp, data, sizeof(data)), 0);
	assert_int_equal(pc_store_tmp_commit(tmp), 0);
	assert_true(pc_store_chunk_present(store, id));
}

static bool cb_fetching(void *arg, const struct pc_hash *hash)
{
	struct node *n = arg;

	for (size_t i = 0; i < n->nfetching; i++)
		if (pc_hash_equal(&n->fetching[i], hash))
			return true;
	return false;
}

static void cb_released(void *arg, const struct pc_hash *hash,
			const struct pc_disc_peer *peer)
{
	struct node *n = arg;

	(void)hash;
	n->released++;
	n->released_by = *peer;
}

static void test_opts(struct pc_disc_opts *opts)
{
	pc_disc_opts_defaults(opts);
	opts->port = 0;
	opts->broadcast = false;
	opts->jitter_min_ms = 0;
	opts->jitter_max_ms = 2;
}

/* Node @i with @opts (the store, ACL and callbacks are filled in). */
static struct node *node_open(struct fixture *f, struct pc_disc_opts *opts,
			      const char *acl)
{
	struct node *n = &f->nodes[f->nnodes];
	char err[256] = "";

	n->dir = pc_test_tmpdir();
	assert_ok(pc_store_open(n->dir, &n->store, err, sizeof(err)), err);
	assert_ok(pc_acl_parse(&n->acl, acl ? acl : "127.0.0.0/8", err,
			       sizeof(err)),
		  err);
	n->http_port = (uint16_t)(18081 + f->nnodes);
	opts->allow = &n->acl;
	opts->store = n->store;
	opts->http_port = n->http_port;
	opts->fetching = cb_fetching;
	opts->released = cb_released;
	opts->cb_arg = n;
	n->disc = pc_disc_new(&f->loop, opts, err, sizeof(err));
	if (!n->disc)
		fail_msg("pc_disc_new: %s", err);
	f->nnodes++;
	return n;
}

static struct node *node_default(struct fixture *f)
{
	struct pc_disc_opts opts;

	test_opts(&opts);
	return node_open(f, &opts, NULL);
}

/* Every node's static peer list names every node (itself is skipped). */
static void link_nodes(struct fixture *f)
{
	char list[256] = "", err[256] = "";
	size_t len = 0;

	for (size_t i = 0; i < f->nnodes; i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
					"%s127.0.0.1:%u", i ? ", " : "",
					pc_disc_port(f->nodes[i].disc));
	for (size_t i = 0; i < f->nnodes; i++)
		assert_ok(pc_disc_set_peers(f->nodes[i].disc, list, err,
					    sizeof(err)),
			  err);
}

static struct pc_disc_counters counters(const struct node *n)
{
	struct pc_disc_counters c;

	pc_disc_get_counters(n->disc, &c);
	return c;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uint64_t end = now_ms() + WAIT_MS;

	for (size_t i = 0; i < f->nnodes; i++)
		pc_disc_close(f->nodes[i].disc);
	while (uv_loop_alive(&f->loop) && now_ms() < end)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	/* Every handle closed: discovery left nothing behind. */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (size_t i = 0; i < f->nnodes; i++) {
		pc_store_close(f->nodes[i].store);
		pc_test_rmtree(f->nodes[i].dir);
	}
	for (size_t i = 0; i < f->nsocks; i++)
		close(f->socks[i]);
	free(f);
	return 0;
}

/* ---- asks: a small recorder ---------------------------------------------- */

struct asked {
	bool done;
	struct pc_disc_result r;
	struct pc_hash hashes[PC_DISC_MAX_HASHES];
};

static void on_asked(void *arg, const struct pc_disc_result *r)
{
	struct asked *a = arg;

	assert_false(a->done); /* exactly once */
	a->done = true;
	a->r = *r;
	memcpy(a->hashes, r->hashes, r->n * sizeof(*r->hashes));
	a->r.hashes = a->hashes;
}

struct claimed {
	bool done;
	struct pc_disc_claim_result r;
};

static void on_claimed(void *arg, const struct pc_disc_claim_result *r)
{
	struct claimed *c = arg;

	assert_false(c->done);
	c->done = true;
	c->r = *r;
}

/* ---- tests --------------------------------------------------------------- */

/* Only the node holding a chunk answers, with the right bits and port. */
static void test_disc_only_holder_answers(void **state)
{
	struct fixture *f = *state;
	struct node *a = node_default(f), *b = node_default(f),
		    *c = node_default(f);
	struct pc_hash ids[3];
	struct reply got[8];
	uint8_t buf[4096];
	size_t len, n;
	int prober = raw_open(f, "127.0.0.1");

	chunk(NULL, 1, &ids[0]);
	chunk(b->store, 2, &ids[1]);
	chunk(NULL, 3, &ids[2]);
	len = probe(buf, ids, 3, 0xdeadbeef, NULL);
	raw_send(prober, pc_disc_port(a->disc), buf, len);
	raw_send(prober, pc_disc_port(b->disc), buf, len);
	raw_send(prober, pc_disc_port(c->disc), buf, len);
	WAIT_FOR(f, counters(a).probes_silent && counters(c).probes_silent,
		 WAIT_MS);
	n = collect_until(f, prober, 1, got, 8);
	n += collect(f, prober, 50, got + n, 8 - n); /* nobody else */

	assert_int_equal(n, 1);
	assert_int_equal(got[0].port, pc_disc_port(b->disc));
	assert_int_equal(got[0].len, HDR + 2);
	assert_memory_equal(got[0].bytes, "PCDS\x01\x02\x00\x03", 8);
	assert_int_equal(txid_of(got[0].bytes), 0xdeadbeef);
	assert_int_equal(got[0].bytes[12] << 8 | got[0].bytes[13],
			 b->http_port);
	assert_int_equal(got[0].bytes[HDR], 0x40);     /* have: id 1 */
	assert_int_equal(got[0].bytes[HDR + 1], 0x00); /* fetching: none */
	assert_int_equal(counters(a).probes_silent, 1);
	assert_int_equal(counters(c).probes_silent, 1);
	assert_int_equal(counters(b).answers_sent, 1);
}

/* pc_disc_ask finds the holder at its first answer, long before the
 * timeout, and reports who has what. */
static void test_disc_ask_reports_holder(void **state)
{
	struct fixture *f = *state;
	struct node *a = node_default(f), *b = node_default(f);
	struct pc_hash ids[2];
	struct asked asked = { 0 };
	uint64_t start;

	node_default(f); /* a silent third */
	link_nodes(f);
	chunk(b->store, 1, &ids[0]);
	chunk(NULL, 2, &ids[1]);
	start = now_ms();
	assert_int_equal(pc_disc_ask(a->disc, ids, 2, 3000, on_asked, &asked),
			 0);
	WAIT_FOR(f, asked.done, WAIT_MS);

	assert_true(now_ms() - start < 1500);
	assert_int_equal(asked.r.status, 0);
	assert_true(asked.r.waited);
	assert_int_equal(asked.r.answers, 1);
	assert_int_equal(asked.r.npeers, 1);
	assert_int_equal(asked.r.peers[0].udp_port, pc_disc_port(b->disc));
	assert_int_equal(asked.r.peers[0].http_port, b->http_port);
	assert_string_equal(pc_addr_str(&asked.r.peers[0].addr), "127.0.0.1");
	assert_int_equal(asked.r.have[0], 1);
	assert_int_equal(asked.r.have[1], 0);
	assert_int_equal(asked.r.fetching[0] | asked.r.fetching[1], 0);
	assert_true(pc_hash_equal(&asked.r.hashes[1], &ids[1]));
}

/* Over IPv6: static peers written "[::1]:port", an ACL of an IPv6
 * prefix, the same dual-stack socket; the holder is reported by its
 * IPv6 address.  An IPv4 source is not in that ACL: denied. */
static void test_disc_ask_over_ipv6(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *a, *b;
	struct pc_hash id;
	struct asked asked = { 0 };
	char list[128], err[256] = "";
	uint8_t buf[4096];
	int v6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in6 lo = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (v6 < 0 || bind(v6, (struct sockaddr *)&lo, sizeof(lo)) < 0) {
		if (v6 >= 0)
			close(v6);
		skip(); /* no IPv6 on this host */
	}
	close(v6);
	test_opts(&opts);
	a = node_open(f, &opts, "::1/128");
	test_opts(&opts);
	b = node_open(f, &opts, "::1/128");
	snprintf(list, sizeof(list), "[::1]:%u, [::1]:%u",
		 pc_disc_port(a->disc), pc_disc_port(b->disc));
	assert_ok(pc_disc_set_peers(a->disc, list, err, sizeof(err)), err);
	assert_ok(pc_disc_set_peers(b->disc, list, err, sizeof(err)), err);
	chunk(b->store, 1, &id);
	assert_int_equal(pc_disc_ask(a->disc, &id, 1, 3000, on_asked, &asked),
			 0);
	WAIT_FOR(f, asked.done, WAIT_MS);
	assert_int_equal(asked.r.answers, 1);
	assert_int_equal(asked.r.npeers, 1);
	assert_string_equal(pc_addr_str(&asked.r.peers[0].addr), "::1");
	assert_int_equal(asked.r.peers[0].udp_port, pc_disc_port(b->disc));
	assert_int_equal(asked.r.have[0], 1);

	/* 127.0.0.1 reaches the same socket (dual-stack), and is denied. */
	raw_send(raw_open(f, "127.0.0.1"), pc_disc_port(b->disc), buf,
		 probe(buf, &id, 1, 7, NULL));
	WAIT_FOR(f, counters(b).denied == 1, WAIT_MS);
	/* A bracket left open is refused, with the item named. */
	assert_int_equal(pc_disc_set_peers(a->disc, "[::1", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "[::1"));
}

/* Ids after the first ride along: a neighbour that has only those does
 * not end the wait for the first (someone else may have it). */
static void test_disc_ask_waits_for_first_id(void **state)
{
	struct fixture *f = *state;
	struct node *a = node_default(f), *b = node_default(f);
	struct pc_hash ids[2];
	struct asked asked = { 0 };
	uint64_t start;

	node_default(f); /* a silent third */
	link_nodes(f);
	chunk(NULL, 3, &ids[0]);
	chunk(b->store, 4, &ids[1]);
	/* The ask's deadline counts from the loop's time, which the set-up
	 * (slow under a sanitizer) left behind. */
	uv_update_time(&f->loop);
	start = now_ms();
	assert_int_equal(pc_disc_ask(a->disc, ids, 2, 400, on_asked, &asked),
			 0);
	WAIT_FOR(f, asked.done, WAIT_MS);

	assert_true(now_ms() - start >= 350); /* not ended by b */
	assert_int_equal(asked.r.status, 0);
	assert_int_equal(asked.r.answers, 1);
	assert_int_equal(asked.r.have[0], 0);
	assert_int_equal(asked.r.have[1], 1);
}

/* A node fetching a chunk says so in the second bitmap. */
static void test_disc_fetching_bit(void **state)
{
	struct fixture *f = *state;
	struct node *b = node_default(f), *c = node_default(f);
	struct pc_hash ids[10];
	struct reply got[8];
	uint8_t buf[4096];
	size_t len, n, from_b, from_c;
	int prober = raw_open(f, "127.0.0.1");

	for (unsigned i = 0; i < 10; i++)
		chunk(NULL, 10 + i, &ids[i]);
	chunk(b->store, 10, &ids[0]);
	c->fetching[c->nfetching++] = ids[9]; /* in the second byte */
	c->fetching[c->nfetching++] = ids[0]; /* c lacks it; b has it */
	len = probe(buf, ids, 10, 7, NULL);
	raw_send(prober, pc_disc_port(b->disc), buf, len);
	raw_send(prober, pc_disc_port(c->disc), buf, len);
	n = collect_until(f, prober, 2, got, 8);
	n += collect(f, prober, 50, got + n, 8 - n);

	assert_int_equal(n, 2);
	from_b = got[0].port == pc_disc_port(b->disc) ? 0 : 1;
	from_c = 1 - from_b;
	assert_int_equal(got[from_c].port, pc_disc_port(c->disc));
	assert_int_equal(got[from_c].len, HDR + 4);
	/* have 00000000 00, fetching 10000000 01 */
	assert_memory_equal(got[from_c].bytes + HDR, "\x00\x00\x80\x40", 4);
	assert_memory_equal(got[from_b].bytes + HDR, "\x80\x00\x00\x00", 4);
}

/* However many ids, an answer is smaller than its probe (tagged or not). */
static void test_disc_answer_never_larger_than_probe(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *plain = node_default(f), *keyed;
	struct pc_hash ids[PC_DISC_MAX_HASHES];
	struct reply got[4];
	uint8_t buf[4096];
	size_t len, n, answers = 0;
	int prober = raw_open(f, "127.0.0.1");

	test_opts(&opts);
	opts.key = fleet_key;
	opts.key_len = sizeof(fleet_key);
	opts.source_burst = opts.total_burst = 1000;
	keyed = node_open(f, &opts, NULL);
	for (unsigned i = 0; i < PC_DISC_MAX_HASHES; i++) {
		chunk(plain->store, 100 + i, &ids[i]);
		chunk(keyed->store, 100 + i, &ids[i]);
	}
	for (size_t count = 1; count <= PC_DISC_MAX_HASHES; count++) {
		len = probe(buf, ids, count, (uint32_t)count, NULL);
		raw_send(prober, pc_disc_port(plain->disc), buf, len);
		len = probe(buf, ids, count, (uint32_t)count, fleet_key);
		raw_send(prober, pc_disc_port(keyed->disc), buf, len);
		n = collect_until(f, prober, 2, got, 4);
		for (size_t i = 0; i < n; i++) {
			bool tagged = got[i].port == pc_disc_port(keyed->disc);
			size_t probe_len =
				HDR + 32 * count + (tagged ? TAG : 0);

			assert_true(got[i].len <= probe_len);
			assert_int_equal(got[i].len,
					 HDR + 2 * ((count + 7) / 8) +
						 (tagged ? TAG : 0));
			assert_int_equal(got[i].bytes[7], count);
			for (size_t k = 0; k < count; k++)
				assert_true(bit(got[i].bytes + HDR, k));
			answers++;
		}
	}
	assert_int_equal(answers, 2 * PC_DISC_MAX_HASHES);
}

/* A source outside the ACL gets nothing; one inside gets its answer. */
static void test_disc_acl_denies_outside(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *b;
	struct pc_hash id;
	struct reply got[4];
	uint8_t buf[4096];
	size_t len;
	int outsider = raw_open(f, "127.0.0.2");
	int insider = raw_open(f, "127.0.0.1");

	test_opts(&opts);
	b = node_open(f, &opts, "127.0.0.1/32");
	chunk(b->store, 5, &id);
	len = probe(buf, &id, 1, 1, NULL);
	raw_send(outsider, pc_disc_port(b->disc), buf, len);
	WAIT_FOR(f, counters(b).denied == 1, WAIT_MS);
	assert_int_equal(collect(f, outsider, 50, got, 4), 0);
	assert_int_equal(counters(b).probes_received, 0);

	raw_send(insider, pc_disc_port(b->disc), buf, len);
	collect_until(f, insider, 1, got, 4);
	assert_int_equal(counters(b).denied, 1);
}

/* With a fleet key, only correctly tagged probes are answered, and the
 * answer carries a tag that verifies. */
static void test_disc_fleet_key(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *b, *plain;
	struct pc_hash id;
	struct reply got[4];
	uint8_t buf[4096], tag[TAG];
	size_t len;
	int prober = raw_open(f, "127.0.0.1");

	test_opts(&opts);
	opts.key = fleet_key;
	opts.key_len = sizeof(fleet_key);
	b = node_open(f, &opts, NULL);
	plain = node_default(f);
	chunk(b->store, 9, &id);
	chunk(plain->store, 9, &id);

	len = probe(buf, &id, 1, 1, NULL); /* untagged */
	raw_send(prober, pc_disc_port(b->disc), buf, len);
	len = probe(buf, &id, 1, 2, other_key); /* wrong key */
	raw_send(prober, pc_disc_port(b->disc), buf, len);
	len = probe(buf, &id, 1, 3, fleet_key);
	buf[HDR + 5] ^= 1; /* right key, changed after tagging */
	raw_send(prober, pc_disc_port(b->disc), buf, len);
	len = probe(buf, &id, 1, 4, fleet_key); /* tagged, to an unkeyed node */
	raw_send(prober, pc_disc_port(plain->disc), buf, len);
	WAIT_FOR(f, counters(b).bad_tag == 3 && counters(plain).bad_tag == 1,
		 WAIT_MS);
	assert_int_equal(collect(f, prober, 50, got, 4), 0);

	len = probe(buf, &id, 1, 5, fleet_key);
	raw_send(prober, pc_disc_port(b->disc), buf, len);
	collect_until(f, prober, 1, got, 4);
	assert_int_equal(collect(f, prober, 20, got + 1, 3), 0);
	assert_int_equal(got[0].len, HDR + 2 + TAG);
	assert_int_equal(got[0].bytes[6], 1); /* TAGGED */
	assert_int_equal(txid_of(got[0].bytes), 5);
	mac(fleet_key, got[0].bytes, HDR + 2, tag);
	assert_memory_equal(tag, got[0].bytes + HDR + 2, TAG);
	assert_int_equal(counters(b).bad_tag, 3);
	assert_int_equal(counters(b).answers_sent, 1);
}

static long rss_kib(void)
{
	char *status = pc_test_read_file("/proc/self/status", NULL);
	char *line = strstr(status, "VmRSS:");
	long kib;

	assert_non_null(line);
	kib = strtol(line + strlen("VmRSS:"), NULL, 10);
	free(status);
	return kib;
}

/* 20,000 bad packets: each counted once in its class, no answer, memory
 * flat; a valid probe is still answered afterwards. */
static void test_disc_flood_counted_and_bounded(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *b;
	struct pc_disc_counters c;
	struct pc_hash ids[4];
	struct reply got[4];
	static uint8_t big[9000];
	uint8_t buf[4096], keyed[256], wrong_key[256], untagged[256];
	size_t keyed_len, wrong_len, untagged_len;
	uint64_t want[6] = { 0 }; /* truncated, oversized, malformed,
				     version, bad_tag, sent */
	long before, after;
	size_t len;
	int prober = raw_open(f, "127.0.0.1");
	uint16_t port;

	test_opts(&opts);
	opts.key = fleet_key;
	opts.key_len = sizeof(fleet_key);
	b = node_open(f, &opts, NULL);
	port = pc_disc_port(b->disc);
	for (unsigned i = 0; i < 4; i++)
		chunk(b->store, 40 + i, &ids[i]);
	/* Made once: the loop below allocates nothing of its own. */
	keyed_len = probe(keyed, ids, 4, 1, fleet_key);
	wrong_len = probe(wrong_key, ids, 4, 2, other_key);
	untagged_len = probe(untagged, ids, 4, 3, NULL);
	pump(f, 20);
	before = rss_kib();
	for (unsigned i = 0; i < 20000; i++) {
		unsigned kind = i % 10;

		memcpy(buf, keyed, keyed_len);
		len = keyed_len;
		switch (kind) {
		case 0: /* shorter than a header */
			len = i % HDR;
			want[0]++;
			break;
		case 1: /* a count that promises more ids than sent */
			buf[7] = 5;
			want[0]++;
			break;
		case 2: /* longer than any packet */
			len = 2097 + i % 2000;
			want[1]++;
			break;
		case 3: /* longer than the receive buffer */
			raw_send(prober, port, big, sizeof(big));
			want[1]++;
			want[5]++;
			continue;
		case 4: /* valid header, bytes after the tag */
			len += 1;
			want[1]++;
			break;
		case 5:
			buf[0] = 'X';
			want[2]++;
			break;
		case 6: /* each header field out of range in turn */
			switch ((i / 10) % 5) {
			case 0:
				buf[5] = 0; /* type */
				break;
			case 1:
				buf[5] = 5;
				break;
			case 2:
				buf[7] = 0; /* count */
				break;
			case 3:
				buf[7] = 65;
				break;
			case 4:
				buf[6] |= 0x02; /* a reserved flag */
				buf[14] = 1;	/* and the reserved field */
				break;
			}
			want[2]++;
			break;
		case 7:
			buf[4] = 2;
			want[3]++;
			break;
		case 8:
			memcpy(buf, wrong_key, wrong_len);
			len = wrong_len;
			want[4]++;
			break;
		case 9:
			memcpy(buf, untagged, untagged_len);
			len = untagged_len;
			want[4]++;
			break;
		}
		raw_send(prober, port, buf, len);
		want[5]++;
		/* Small batches: the socket buffer must not overflow. */
		if (want[5] % 8 == 0)
			WAIT_FOR(f, counters(b).rx_packets == want[5], WAIT_MS);
	}
	WAIT_FOR(f, counters(b).rx_packets == want[5], WAIT_MS);
	c = counters(b);
	assert_int_equal(c.truncated, want[0]);
	assert_int_equal(c.oversized, want[1]);
	assert_int_equal(c.malformed, want[2]);
	assert_int_equal(c.version, want[3]);
	assert_int_equal(c.bad_tag, want[4]);
	assert_int_equal(c.rx_packets, 20000);
	assert_int_equal(c.probes_received, 0);
	assert_int_equal(raw_recv(prober, buf, sizeof(buf), NULL), -1);
	after = rss_kib();
	if (after - before > 4096)
		fail_msg("RSS grew from %ld to %ld KiB", before, after);

	raw_send(prober, port, keyed, keyed_len);
	collect_until(f, prober, 1, got, 4);
	assert_int_equal(got[0].bytes[HDR], 0xf0);
}

/* Sends @count valid probes from @fd; returns the answers received. */
static size_t probe_burst(struct fixture *f, int fd, const struct node *to,
			  const struct pc_hash *id, unsigned count)
{
	struct reply got[32];
	uint8_t buf[4096];
	size_t answers = 0;
	uint64_t seen = counters(to).rx_packets;

	for (unsigned i = 0; i < count; i++) {
		raw_send(fd, pc_disc_port(to->disc), buf,
			 probe(buf, id, 1, i, NULL));
		seen++;
		if ((i + 1) % 16 == 0 || i + 1 == count) {
			WAIT_FOR(f, counters(to).rx_packets == seen, WAIT_MS);
			answers += collect(f, fd, 2, got, 32);
		}
	}
	return answers + collect(f, fd, 20, got, 32);
}

/* A source sending 1,000 probes gets at most burst + rate x time answers;
 * the node-wide bucket bounds all sources together. */
static void test_disc_rate_limit(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *b, *c;
	struct pc_hash id;
	size_t answers, limit;
	uint64_t start, elapsed;
	int one = raw_open(f, "127.0.0.1"), two = raw_open(f, "127.0.0.2");

	test_opts(&opts);
	opts.jitter_max_ms = 0;
	opts.source_rate = 10;
	opts.source_burst = 20;
	b = node_open(f, &opts, NULL);
	opts.source_rate = opts.source_burst = 1000;
	opts.total_rate = 10;
	opts.total_burst = 20;
	c = node_open(f, &opts, NULL);
	chunk(b->store, 77, &id);
	chunk(c->store, 77, &id);

	start = now_ms();
	answers = probe_burst(f, one, b, &id, 1000);
	elapsed = now_ms() - start;
	limit = 20 + 10 * elapsed / 1000 + 1;
	if (answers < 20 || answers > limit)
		fail_msg("%zu answers to 1000 probes in %llu ms, want 20..%zu",
			 answers, (unsigned long long)elapsed, limit);
	assert_int_equal(counters(b).rate_limited,
			 1000 - counters(b).probes_received);

	start = now_ms();
	answers = probe_burst(f, one, c, &id, 300);
	answers += probe_burst(f, two, c, &id, 300);
	elapsed = now_ms() - start;
	limit = 20 + 10 * elapsed / 1000 + 1;
	if (answers < 20 || answers > limit)
		fail_msg("%zu answers to 600 probes in %llu ms, want 20..%zu",
			 answers, (unsigned long long)elapsed, limit);
}

/* Only 127.0.0.2 has exchanged chunks with the node. */
static bool cb_proven_two(void *arg, const struct pc_addr *addr)
{
	(void)arg;
	return strcmp(pc_addr_str(addr), "127.0.0.2") == 0;
}

/* Sources that are not proven share a small part of the node's budget;
 * a proven source keeps its own, however many the others are. */
static void test_disc_budget_keeps_a_share_for_proven_sources(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *b;
	struct pc_hash id;
	size_t answers, limit;
	uint64_t start, elapsed;
	int one = raw_open(f, "127.0.0.1"), two = raw_open(f, "127.0.0.2"),
	    three = raw_open(f, "127.0.0.3");

	test_opts(&opts);
	opts.jitter_max_ms = 0;
	opts.source_rate = opts.source_burst = 1000;
	opts.total_rate = opts.total_burst = 1000;
	opts.unproven_rate = 10;
	opts.unproven_burst = 20;
	opts.proven = cb_proven_two;
	b = node_open(f, &opts, NULL);
	chunk(b->store, 77, &id);

	/* Two unproven sources, 300 probes each: 20 + 10/s between them. */
	start = now_ms();
	answers = probe_burst(f, one, b, &id, 300);
	answers += probe_burst(f, three, b, &id, 300);
	elapsed = now_ms() - start;
	limit = 20 + 10 * elapsed / 1000 + 1;
	if (answers < 20 || answers > limit)
		fail_msg("%zu answers to 600 unproven probes in %llu ms, want "
			 "20..%zu",
			 answers, (unsigned long long)elapsed, limit);
	assert_int_equal(counters(b).rate_limited,
			 600 - counters(b).probes_received);
	assert_int_equal(counters(b).rate_limited_unproven,
			 counters(b).rate_limited);

	/* The proven source: every probe answered. */
	assert_int_equal(probe_burst(f, two, b, &id, 200), 200);
	assert_int_equal(counters(b).rate_limited_unproven,
			 counters(b).rate_limited);
}

/* ---- the empty-subnet fast path ------------------------------------------ */

struct chain {
	struct pc_disc *disc;
	struct pc_hash id;
	unsigned timeout_ms;
	unsigned left, done, waited;
	bool waited_first[4];
	bool in_ask;	  /* inside pc_disc_ask() */
	bool synchronous; /* done ran inside pc_disc_ask(): wrong */
	uint64_t finished;
};

static void chain_next(void *arg, const struct pc_disc_result *r);

static void chain_ask(struct chain *ch)
{
	ch->in_ask = true;
	assert_int_equal(pc_disc_ask(ch->disc, &ch->id, 1, ch->timeout_ms,
				     chain_next, ch),
			 0);
	ch->in_ask = false;
}

static void chain_next(void *arg, const struct pc_disc_result *r)
{
	struct chain *ch = arg;

	ch->synchronous |= ch->in_ask;
	if (ch->done < 4)
		ch->waited_first[ch->done] = r->waited;
	ch->waited += r->waited;
	ch->done++;
	if (--ch->left)
		chain_ask(ch); /* from the callback, as the fetcher will */
	else
		ch->finished = now_ms();
}

/* With nobody answering, 100 asks cost far less than 100 timeouts; the
 * first answer from a newcomer ends the presumption. */
static void test_disc_empty_subnet_fast_path(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *a, *b;
	struct chain ch = { .timeout_ms = 50, .left = 100 };
	struct asked asked = { 0 };
	struct reply got[16];
	char peers[64], err[256];
	uint64_t start, elapsed;
	size_t probes = 0;
	int silent = raw_open(f, "127.0.0.1");

	test_opts(&opts);
	opts.silent_asks = 3;
	opts.recheck_ms = 1000;
	a = node_open(f, &opts, NULL);
	snprintf(peers, sizeof(peers), "127.0.0.1:%u", raw_port(silent));
	assert_ok(pc_disc_set_peers(a->disc, peers, err, sizeof(err)), err);
	ch.disc = a->disc;
	chunk(NULL, 3, &ch.id);

	start = now_ms();
	chain_ask(&ch);
	while (ch.left) {
		if (now_ms() - start > 100 * ch.timeout_ms)
			fail_msg("100 asks still running after %u ms",
				 100 * ch.timeout_ms);
		probes += collect(f, silent, 0, got, 16);
	}
	elapsed = ch.finished - start;
	probes += collect(f, silent, 20, got, 16);
	assert_false(ch.synchronous);
	assert_int_equal(ch.done, 100);
	assert_int_equal(probes, 100); /* every ask still probes */
	assert_true(ch.waited_first[0] && ch.waited_first[1] &&
		    ch.waited_first[2]);
	assert_false(ch.waited_first[3]);
	if (elapsed > 100 * ch.timeout_ms / 4 ||
	    ch.waited > 3 + elapsed / opts.recheck_ms + 1)
		fail_msg("100 asks: %llu ms, %u waited",
			 (unsigned long long)elapsed, ch.waited);
	assert_true(pc_disc_presumed_empty(a->disc));
	assert_int_equal(counters(a).asks_fast, 100 - ch.waited);

	/* A neighbour appears: the late answer to a fast ask is heard... */
	b = node_default(f);
	chunk(b->store, 3, &ch.id);
	snprintf(peers, sizeof(peers), "127.0.0.1:%u", pc_disc_port(b->disc));
	assert_ok(pc_disc_set_peers(a->disc, peers, err, sizeof(err)), err);
	assert_int_equal(pc_disc_ask(a->disc, &ch.id, 1, 50, on_asked, &asked),
			 0);
	WAIT_FOR(f, asked.done && counters(a).answers_late == 1, WAIT_MS);
	assert_false(asked.r.waited);
	assert_int_equal(asked.r.npeers, 0);
	assert_false(pc_disc_presumed_empty(a->disc));
	/* ...and the next ask waits again and finds it. */
	memset(&asked, 0, sizeof(asked));
	assert_int_equal(
		pc_disc_ask(a->disc, &ch.id, 1, 2000, on_asked, &asked), 0);
	WAIT_FOR(f, asked.done, WAIT_MS);
	assert_true(asked.r.waited);
	assert_int_equal(asked.r.have[0], 1);
}

/* ---- the requester against a fake peer ----------------------------------- */

/* Answers that are bogus for the requester are dropped; the ask ends at
 * the first valid answer with a "have" bit, not before. */
static void test_disc_requester_checks_answers(void **state)
{
	struct fixture *f = *state;
	struct node *a = node_default(f);
	struct pc_hash ids[2];
	struct asked asked = { 0 };
	struct reply got[2];
	uint8_t buf[256], maps[2];
	char peers[64], err[256];
	uint32_t txid;
	int fake = raw_open(f, "127.0.0.1"), quiet = raw_open(f, "127.0.0.1");
	uint16_t port = pc_disc_port(a->disc);

	/* Two peers: one answer alone does not end the ask. */
	snprintf(peers, sizeof(peers), "127.0.0.1:%u 127.0.0.1:%u",
		 raw_port(fake), raw_port(quiet));
	assert_ok(pc_disc_set_peers(a->disc, peers, err, sizeof(err)), err);
	chunk(NULL, 1, &ids[0]);
	chunk(NULL, 2, &ids[1]);
	assert_int_equal(pc_disc_ask(a->disc, ids, 2, 3000, on_asked, &asked),
			 0);
	collect_until(f, fake, 1, got, 2);
	assert_int_equal(got[0].len, HDR + 64);
	assert_memory_equal(got[0].bytes + HDR, ids, 64);
	txid = txid_of(got[0].bytes);

	maps[0] = 0x80, maps[1] = 0;
	raw_send(fake, port, buf,
		 wire(buf, ANSWER, 2, txid + 1, 80, maps, 2, NULL));
	raw_send(fake, port, buf,
		 wire(buf, ANSWER, 3, txid, 80, maps, 2, NULL));
	maps[0] = 0xa0; /* a bit past the second id */
	raw_send(fake, port, buf,
		 wire(buf, ANSWER, 2, txid, 80, maps, 2, NULL));
	maps[0] = 0x80, maps[1] = 0x80; /* have and fetching at once */
	raw_send(fake, port, buf,
		 wire(buf, ANSWER, 2, txid, 80, maps, 2, NULL));
	maps[1] = 0;
	raw_send(fake, port, buf, wire(buf, ANSWER, 2, txid, 0, maps, 2, NULL));
	maps[0] = 0, maps[1] = 0x40; /* fetching the second: not enough */
	raw_send(fake, port, buf,
		 wire(buf, ANSWER, 2, txid, 80, maps, 2, NULL));
	WAIT_FOR(f, counters(a).answers_received == 1, WAIT_MS);
	pump(f, 50);
	assert_false(asked.done);
	assert_int_equal(counters(a).malformed, 3);
	assert_int_equal(counters(a).answers_unmatched, 2);
	/* It never claimed the second id: its "fetching" counts for
	 * nothing. */
	assert_int_equal(counters(a).fetching_unclaimed, 1);

	/* Claimed, then said: it counts. */
	raw_send(fake, port, buf,
		 wire(buf, CLAIM, 1, 99, 80, &ids[1], sizeof(ids[1]), NULL));
	WAIT_FOR(f, counters(a).claims_received == 1, WAIT_MS);
	maps[0] = 0x80, maps[1] = 0x40;
	raw_send(fake, port, buf,
		 wire(buf, ANSWER, 2, txid, 80, maps, 2, NULL));
	WAIT_FOR(f, asked.done, WAIT_MS);
	assert_int_equal(counters(a).fetching_unclaimed, 1);
	assert_int_equal(asked.r.answers, 2);
	assert_int_equal(asked.r.npeers, 1);
	assert_int_equal(asked.r.peers[0].http_port, 80);
	assert_int_equal(asked.r.peers[0].udp_port, raw_port(fake));
	assert_int_equal(asked.r.have[0], 1);
	assert_int_equal(asked.r.fetching[1], 1);
}

/* ---- claims -------------------------------------------------------------- */

static void claim_opts(struct pc_disc_opts *opts)
{
	test_opts(opts);
	opts->claim_window_ms = 300; /* generous on a loaded machine */
}

/* A raw socket on 127.0.0.1 bound to a port below (@below) or above the
 * node's, so that it ranks lower or higher (docs/PROTOCOL.md). */
static int raw_open_ranked(struct fixture *f, uint16_t node_port, bool below)
{
	for (int k = 1; k < 2000; k++) {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_addr.s_addr =
						   htonl(INADDR_LOOPBACK) };
		int port = below ? node_port - k : node_port + k;
		int fd;

		if (port < 1024 || port > 65535)
			break;
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    0);
		assert_true(fd >= 0);
		sin.sin_port = htons((uint16_t)port);
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			f->socks[f->nsocks++] = fd;
			return fd;
		}
		close(fd);
	}
	fail_msg("no free port %s %u", below ? "below" : "above", node_port);
	return -1;
}

/* Simultaneous claims (each made before the other was heard, both heard
 * within the window): the lower (address, port) wins, whoever claimed
 * first; the winner answers "fetching", the loser is silent. */
static void test_disc_claim_tie_break(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct claimed lost = { 0 }, won = { 0 };
	struct pc_hash ids[2];
	struct reply got[4];
	uint8_t buf[4096];
	struct node *n;
	int low, high, prober;
	uint16_t port;

	claim_opts(&opts);
	n = node_open(f, &opts, NULL);
	port = pc_disc_port(n->disc);
	low = raw_open_ranked(f, port, true);
	high = raw_open_ranked(f, port, false);
	prober = raw_open(f, "127.0.0.1");
	chunk(NULL, 1, &ids[0]);
	chunk(NULL, 2, &ids[1]);

	/* Ours first, then a lower one's within the window: it wins. */
	assert_int_equal(pc_disc_claim(n->disc, &ids[0], 1, on_claimed, &lost),
			 0);
	raw_send(low, port, buf,
		 wire(buf, CLAIM, 1, 11, 9001, &ids[0], sizeof(ids[0]), NULL));
	/* Ours first, then a higher one's: ours wins. */
	assert_int_equal(pc_disc_claim(n->disc, &ids[1], 1, on_claimed, &won),
			 0);
	raw_send(high, port, buf,
		 wire(buf, CLAIM, 1, 12, 9002, &ids[1], sizeof(ids[1]), NULL));
	WAIT_FOR(f, lost.done && won.done, WAIT_MS);

	assert_int_equal(lost.r.status, 0);
	assert_true(lost.r.waited);
	assert_true(lost.r.winner[0] >= 0);
	assert_int_equal(lost.r.peers[lost.r.winner[0]].udp_port,
			 raw_port(low));
	assert_int_equal(lost.r.peers[lost.r.winner[0]].http_port, 9001);
	assert_int_equal(won.r.status, 0);
	assert_true(won.r.waited);
	assert_int_equal(won.r.winner[0], PC_DISC_WON);
	assert_int_equal(counters(n).claims_won, 1);
	assert_int_equal(counters(n).claims_lost, 1);

	/* The node fetches ids[1] only: "fetching" for it, not for ids[0]
	 * (that one is the lower claimer's, heard as a claim, not ours). */
	raw_send(prober, port, buf, probe(buf, ids, 2, 1, NULL));
	collect_until(f, prober, 1, got, 4);
	assert_memory_equal(got[0].bytes + HDR, "\x00\x40", 2);
}

/* A claim heard before one's own wins outright (whatever the ranks), is
 * reported to askers as "fetching", and its release is heard; then the
 * id can be claimed again. */
static void test_disc_claim_heard_first_wins(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *x, *y, *low, *high;
	struct claimed first = { 0 }, second = { 0 }, again = { 0 };
	struct asked asked = { 0 };
	struct pc_hash id;

	claim_opts(&opts);
	x = node_open(f, &opts, NULL);
	y = node_open(f, &opts, NULL);
	link_nodes(f);
	low = pc_disc_port(x->disc) < pc_disc_port(y->disc) ? x : y;
	high = low == x ? y : x;
	chunk(NULL, 4, &id);

	assert_int_equal(pc_disc_claim(high->disc, &id, 1, on_claimed, &first),
			 0);
	WAIT_FOR(f, counters(low).claims_received == 1, WAIT_MS);
	assert_int_equal(pc_disc_claim(low->disc, &id, 1, on_claimed, &second),
			 0);
	WAIT_FOR(f, second.done, WAIT_MS);
	assert_false(second.r.waited); /* nothing to wait for */
	assert_int_equal(second.r.winner[0], 0);
	assert_int_equal(second.r.peers[0].udp_port, pc_disc_port(high->disc));
	WAIT_FOR(f, first.done, WAIT_MS);
	assert_int_equal(first.r.winner[0], PC_DISC_WON);
	assert_int_equal(counters(high).claims_sent, 1);
	assert_int_equal(counters(low).claims_sent, 0);

	/* An ask on the other node sees the claimer as fetching. */
	assert_int_equal(pc_disc_ask(low->disc, &id, 1, 2000, on_asked, &asked),
			 0);
	WAIT_FOR(f, asked.done, WAIT_MS);
	assert_int_equal(asked.r.npeers, 1);
	assert_int_equal(asked.r.peers[0].udp_port, pc_disc_port(high->disc));
	assert_int_equal(asked.r.have[0], 0);
	assert_int_equal(asked.r.fetching[0], 1);

	pc_disc_release(high->disc, &id, 1);
	WAIT_FOR(f, low->released == 1, WAIT_MS);
	assert_int_equal(low->released_by.udp_port, pc_disc_port(high->disc));
	assert_int_equal(counters(high).releases_sent, 1);
	assert_int_equal(pc_disc_claim(low->disc, &id, 1, on_claimed, &again),
			 0);
	WAIT_FOR(f, again.done, WAIT_MS);
	assert_int_equal(again.r.winner[0], PC_DISC_WON);
}

/* Close completes what is pending with -ECANCELED, at once, and releases
 * the claims this node holds. */
static void test_disc_close_cancels_and_releases(void **state)
{
	struct fixture *f = *state;
	struct pc_disc_opts opts;
	struct node *a, *b;
	struct claimed held = { 0 }, pending = { 0 };
	struct asked asked = { 0 };
	struct pc_hash ids[2];

	claim_opts(&opts);
	a = node_open(f, &opts, NULL);
	b = node_open(f, &opts, NULL);
	link_nodes(f);
	chunk(NULL, 1, &ids[0]);
	chunk(NULL, 2, &ids[1]);
	assert_int_equal(pc_disc_claim(a->disc, &ids[0], 1, on_claimed, &held),
			 0);
	WAIT_FOR(f, held.done, WAIT_MS);
	assert_int_equal(held.r.winner[0], PC_DISC_WON);
	assert_int_equal(
		pc_disc_ask(a->disc, &ids[1], 1, 60000, on_asked, &asked), 0);
	assert_int_equal(
		pc_disc_claim(a->disc, &ids[1], 1, on_claimed, &pending), 0);

	pc_disc_close(a->disc);
	a->disc = NULL;
	assert_true(asked.done && pending.done);
	assert_int_equal(asked.r.status, -ECANCELED);
	assert_int_equal(pending.r.status, -ECANCELED);
	WAIT_FOR(f, b->released == 1, WAIT_MS);
}

/* The fleet key file: right size, not readable by others. */
static void test_disc_read_key(void **state)
{
	char *dir = pc_test_tmpdir(), *path = pc_test_path(dir, "fleet.key");
	uint8_t key[PC_DISC_KEY_MAX];
	char err[256] = "";
	size_t len = 0;

	(void)state;
	pc_test_write_file(path, fleet_key, 16);
	chmod(path, 0600);
	assert_error(pc_disc_read_key(path, key, sizeof(key), &len, err,
				      sizeof(err)),
		     -EINVAL, err, "32 to");
	pc_test_write_file(path, fleet_key, 32);
	chmod(path, 0644);
	assert_error(pc_disc_read_key(path, key, sizeof(key), &len, err,
				      sizeof(err)),
		     -EPERM, err, "others");
	chmod(path, 0640);
	assert_ok(pc_disc_read_key(path, key, sizeof(key), &len, err,
				   sizeof(err)),
		  err);
	assert_int_equal(len, 32);
	assert_memory_equal(key, fleet_key, 32);
	free(path);
	pc_test_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_disc_only_holder_answers,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_ask_waits_for_first_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_ask_reports_holder,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_fetching_bit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_answer_never_larger_than_probe, setup,
			teardown),
		cmocka_unit_test_setup_teardown(test_disc_acl_denies_outside,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_fleet_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_flood_counted_and_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_rate_limit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_budget_keeps_a_share_for_proven_sources,
			setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_ask_over_ipv6, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_empty_subnet_fast_path, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_requester_checks_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disc_claim_tie_break,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_claim_heard_first_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_disc_close_cancels_and_releases, setup, teardown),
		cmocka_unit_test(test_disc_read_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
