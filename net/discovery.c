/*
 * discovery.c - UDP discovery: who in this subnet has (or is fetching)
 * these chunks, and one mirror download per subnet.
 *
 * One UDP socket on the loop thread does three jobs.  The responder
 * answers neighbours' probes from the local store, after a small random
 * delay, only to sources the ACL allows, within per-source and node-wide
 * token buckets that keep a share for the neighbours that proved
 * themselves (disc_budget.c), and never with more bytes than the probe
 * had.  The requester sends one probe per ask and reports the first
 * useful answer (or the timeout), believing only neighbours whose word
 * still counts and a "fetching" only with a claim behind it; when nobody
 * has answered for a while it presumes an empty subnet and stops waiting,
 * so that a lone node pays almost nothing for discovery.  Claims announce "I am going to the mirror for these";
 * the lowest (address, port) wins a tie.  docs/PROTOCOL.md is the wire
 * contract; the comments here say why the code is shaped the way it is.
 *
 * Every table is fixed-size and every packet is parsed in place from one
 * receive buffer, so a flood of garbage costs counters, not memory.  All
 * deadlines (answer jitter, ask timeouts, claim windows) live in their
 * items and share one timer; work due "now" runs from an idle handle on
 * the next loop iteration, never inside the call that created it (a
 * callback that asks again cannot spin the loop).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "disc_budget.h"
#include "discovery.h"
#include "pc_list.h"

/* ---- wire constants (docs/PROTOCOL.md) ----------------------------------- */

#define HDR_LEN 16
#define TAG_LEN 32
#define ID_LEN PC_HASH_LEN
#define PACKET_MAX (HDR_LEN + PC_DISC_MAX_HASHES * ID_LEN + TAG_LEN)
#define ANSWER_MAX (HDR_LEN + 2 * (PC_DISC_MAX_HASHES / 8) + TAG_LEN)
#define WIRE_VERSION 1
#define FLAG_TAGGED 0x01
static const uint8_t magic[4] = { 'P', 'C', 'D', 'S' };

enum msg_type {
	MSG_PROBE = 1,
	MSG_ANSWER = 2,
	MSG_CLAIM = 3,
	MSG_RELEASE = 4,
};

/* ---- limits -------------------------------------------------------------- */

#define RECV_BUF 4096 /* > PACKET_MAX: a longer datagram is "oversized" */
#define MAX_ASKS 64
#define MAX_CALLS 64   /* pending pc_disc_claim() calls */
#define MAX_ANSWERS 64 /* answers waiting for their jitter */
/* Answer slots that only proven sources may take. */
#define ANSWERS_RESERVED 16
/* Dropped packets and answers are logged at most this often. */
#define PRESSURE_LOG_MS 60000
#define MAX_STATIC 64
#define MAX_BCAST 16
#define MAX_LOCAL 32
#define MAX_OWN 256   /* ids this node claims */
#define MAX_HEARD 256 /* claims heard from neighbours */
#define HEARD_PER_ID 2
#define SENT_RING 256 /* txids of our recent probes and claims */
#define RESCAN_MS 60000
/* A neighbour heard this recently: the subnet is not presumed empty. */
#define QUIET_MS 30000
/* Datagrams read ahead of a due deadline, at most. */
#define DRAIN_MAX 256
#define PENDING (-2) /* a claim verdict not decided yet */

struct packet {
	uint8_t type;
	uint8_t count;
	uint32_t txid;
	uint16_t http_port;
	const uint8_t *body;
	size_t len; /* whole datagram */
};

enum drop {
	DROP_NONE,
	DROP_TRUNCATED,
	DROP_OVERSIZED,
	DROP_MALFORMED,
	DROP_VERSION,
	DROP_BAD_TAG,
};

/* An ask waiting for answers; owned by d->asks[] until reported. */
struct ask {
	uint32_t txid;
	uint64_t deadline;
	uint64_t seq; /* tick in which it was made */
	pc_disc_ask_done done;
	void *arg;
	struct pc_hash hashes[PC_DISC_MAX_HASHES];
	struct pc_disc_result result;
};

/* A pc_disc_claim() call in its window; owned by d->calls[]. */
struct claim_call {
	uint64_t deadline;
	uint64_t seq;
	pc_disc_claim_done done;
	void *arg;
	size_t pending; /* verdicts still PENDING */
	struct pc_hash hashes[PC_DISC_MAX_HASHES];
	struct pc_disc_claim_result result;
};

/* An id this node claims: pending (in @call's window) or won. */
struct own_claim {
	bool used;
	struct claim_call *call; /* NULL once won */
	uint64_t expires;	 /* when won */
	struct pc_hash hash;
};

/* The lowest-ranking live claim heard from a neighbour for an id. */
struct heard_claim {
	bool used;
	uint64_t expires;
	struct pc_disc_peer peer;
	struct pc_hash hash;
};

struct pending_answer {
	bool used;
	bool proven; /* to a proven source (disc_budget.h) */
	uint64_t deadline;
	struct sockaddr_in to;
	size_t len;
	uint8_t bytes[ANSWER_MAX];
};

struct sent_txid {
	uint32_t txid;
	uint8_t type;
	bool used;
};

/* Loop thread only, all of it. */
struct pc_disc {
	uv_loop_t *loop;
	uv_udp_t udp;
	uv_timer_t timer; /* the earliest future deadline */
	uv_idle_t soon;	  /* deadlines already due */
	int handles_open;
	bool closing;
	bool draining;		  /* in drain(): no nested one */
	struct pc_disc_opts opts; /* strings cleared: not kept */
	uint16_t port;		  /* bound, host order */
	struct in_addr bound;	  /* INADDR_ANY unless bind_address */
	EVP_MAC_CTX *mac;	  /* NULL without a fleet key */
	uint64_t rng;
	uint64_t tick_seq;

	char *interfaces; /* owned copy, NULL = all */
	bool has_group;
	struct in_addr group;
	struct sockaddr_in statics[MAX_STATIC];
	size_t nstatics;
	struct sockaddr_in bcasts[MAX_BCAST];
	size_t nbcasts;
	struct in_addr locals[MAX_LOCAL]; /* own addresses, to skip self */
	size_t nlocals;
	uint64_t scanned_at;
	bool scanned;

	/* Empty-subnet presumption (docs/PROTOCOL.md "fast path"). */
	unsigned silent_streak;
	uint64_t last_heard; /* uv_now() of the last neighbour packet */
	bool heard_any;
	uint64_t last_wait_at;
	bool waited_once;

	struct ask *asks[MAX_ASKS];
	struct claim_call *calls[MAX_CALLS];
	struct pending_answer answers[MAX_ANSWERS];
	struct own_claim own[MAX_OWN];
	struct heard_claim heard[MAX_HEARD];
	struct disc_budget budget;
	int sndbuf; /* the socket's send buffer, bytes */
	/* What was logged last about drops, and when. */
	struct pc_disc_counters logged;
	uint64_t logged_at;
	struct in_addr last_dropped;
	struct sent_txid sent[SENT_RING];
	size_t sent_next;
	struct pc_disc_counters ctr;
	uint8_t rxbuf[RECV_BUF];
	uint8_t txbuf[PACKET_MAX];
};

static void arm(struct pc_disc *d);
static void drain(struct pc_disc *d);

/* ---- small helpers ------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* splitmix64: jitter only; txids come from the kernel. */
static uint64_t prng_next(struct pc_disc *d)
{
	uint64_t z = (d->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t random_txid(struct pc_disc *d)
{
	uint32_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	return (uint32_t)(prng_next(d) >> 32);
}

static size_t bitmap_len(size_t n)
{
	return (n + 7) / 8;
}

static bool bit_get(const uint8_t *map, size_t i)
{
	return map[i / 8] & (0x80 >> (i % 8));
}

static void bit_set(uint8_t *map, size_t i)
{
	map[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

static size_t body_len(uint8_t type, size_t n)
{
	return type == MSG_ANSWER ? 2 * bitmap_len(n) : n * ID_LEN;
}

/* Claims compare by (address, port); the lower one wins. */
static uint64_t rank(struct in_addr addr, uint16_t port)
{
	return (uint64_t)ntohl(addr.s_addr) << 16 | port;
}

static bool same_peer(const struct pc_disc_peer *a,
		      const struct pc_disc_peer *b)
{
	return a->addr.s_addr == b->addr.s_addr && a->udp_port == b->udp_port;
}

/* Index of @p in a result's peer list, added if new; -1 when full. */
static int peer_slot(struct pc_disc_peer *peers, size_t *npeers,
		     const struct pc_disc_peer *p)
{
	for (size_t i = 0; i < *npeers; i++) {
		if (same_peer(&peers[i], p)) {
			if (p->http_port)
				peers[i].http_port = p->http_port;
			return (int)i;
		}
	}
	if (*npeers == PC_DISC_MAX_PEERS)
		return -1;
	peers[*npeers] = *p;
	return (int)(*npeers)++;
}

/* ---- the fleet key ------------------------------------------------------- */

static int mac_init(struct pc_disc *d, const uint8_t *key, size_t len)
{
	OSSL_PARAM params[2];
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);

	if (!mac)
		return -ENOMEM;
	d->mac = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac); /* the context holds its own reference */
	if (!d->mac)
		return -ENOMEM;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_init(d->mac, key, len, params))
		return -EINVAL;
	return 0;
}

/* HMAC-SHA256 of @len bytes; the key set at start is reused. */
static bool mac_compute(struct pc_disc *d, const uint8_t *data, size_t len,
			uint8_t out[TAG_LEN])
{
	size_t out_len = 0;

	return EVP_MAC_init(d->mac, NULL, 0, NULL) &&
	       EVP_MAC_update(d->mac, data, len) &&
	       EVP_MAC_final(d->mac, out, &out_len, TAG_LEN) &&
	       out_len == TAG_LEN;
}

int pc_disc_read_key(const char *path, uint8_t *key, size_t cap,
		     size_t *key_len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t got;
	int rc = 0, fd;

	if (cap > PC_DISC_KEY_MAX)
		cap = PC_DISC_KEY_MAX;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "fleet key %s: %s", path, strerror(-rc));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < PC_DISC_KEY_MIN ||
	    (uint64_t)st.st_size > cap) {
		rc = -EINVAL;
		snprintf(err, errlen,
			 "fleet key %s: must be a file of %d to %zu bytes",
			 path, PC_DISC_KEY_MIN, cap);
		goto out;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		rc = -EPERM;
		snprintf(err, errlen,
			 "fleet key %s: readable or writable by others "
			 "(chmod o-rw)",
			 path);
		goto out;
	}
	got = read(fd, key, (size_t)st.st_size);
	if (got != st.st_size) {
		rc = got < 0 ? -errno : -EIO;
		snprintf(err, errlen, "fleet key %s: short read", path);
		goto out;
	}
	*key_len = (size_t)got;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- packets ------------------------------------------------------------- */

/* Writes a header into d->txbuf; the body follows at HDR_LEN. */
static void header_write(struct pc_disc *d, uint8_t *buf, uint8_t type,
			 size_t count, uint32_t txid)
{
	memcpy(buf, magic, sizeof(magic));
	buf[4] = WIRE_VERSION;
	buf[5] = type;
	buf[6] = d->mac ? FLAG_TAGGED : 0;
	buf[7] = (uint8_t)count;
	put32(buf + 8, txid);
	put16(buf + 12, d->opts.http_port);
	put16(buf + 14, 0);
}

/* Appends the tag when keyed; returns the packet's length, 0 on failure. */
static size_t seal(struct pc_disc *d, uint8_t *buf, size_t len)
{
	if (!d->mac)
		return len;
	if (!mac_compute(d, buf, len, buf + len))
		return 0;
	return len + TAG_LEN;
}

/* Checks 2..8 of docs/PROTOCOL.md "Validation order". */
static enum drop parse_packet(struct pc_disc *d, const uint8_t *buf, size_t len,
			      bool partial, struct packet *pkt)
{
	uint8_t flags, tag[TAG_LEN];
	size_t want, maplen;

	if (len < HDR_LEN)
		return DROP_TRUNCATED;
	if (partial || len > PACKET_MAX)
		return DROP_OVERSIZED;
	if (memcmp(buf, magic, sizeof(magic)) != 0)
		return DROP_MALFORMED;
	if (buf[4] != WIRE_VERSION)
		return DROP_VERSION;
	pkt->type = buf[5];
	flags = buf[6];
	pkt->count = buf[7];
	if (pkt->type < MSG_PROBE || pkt->type > MSG_RELEASE ||
	    (flags & ~FLAG_TAGGED) || get16(buf + 14) != 0 || pkt->count == 0 ||
	    pkt->count > PC_DISC_MAX_HASHES)
		return DROP_MALFORMED;
	want = HDR_LEN + body_len(pkt->type, pkt->count) +
	       (flags & FLAG_TAGGED ? TAG_LEN : 0);
	if (len != want)
		return len < want ? DROP_TRUNCATED : DROP_OVERSIZED;
	if (!(flags & FLAG_TAGGED) != !d->mac)
		return DROP_BAD_TAG;
	if (d->mac && (!mac_compute(d, buf, len - TAG_LEN, tag) ||
		       CRYPTO_memcmp(tag, buf + len - TAG_LEN, TAG_LEN) != 0))
		return DROP_BAD_TAG;
	pkt->txid = get32(buf + 8);
	pkt->http_port = get16(buf + 12);
	pkt->body = buf + HDR_LEN;
	pkt->len = len;
	if (pkt->type != MSG_ANSWER)
		return DROP_NONE;
	maplen = bitmap_len(pkt->count);
	if (pkt->http_port == 0)
		return DROP_MALFORMED;
	for (size_t i = 0; i < maplen; i++)
		if (pkt->body[i] & pkt->body[maplen + i])
			return DROP_MALFORMED; /* have and fetching at once */
	if (pkt->count % 8 &&
	    ((pkt->body[maplen - 1] | pkt->body[2 * maplen - 1]) &
	     (0xff >> (pkt->count % 8))))
		return DROP_MALFORMED; /* bits past the last id */
	return DROP_NONE;
}

static void count_drop(struct pc_disc *d, enum drop reason)
{
	uint64_t *counters[] = {
		[DROP_TRUNCATED] = &d->ctr.truncated,
		[DROP_OVERSIZED] = &d->ctr.oversized,
		[DROP_MALFORMED] = &d->ctr.malformed,
		[DROP_VERSION] = &d->ctr.version,
		[DROP_BAD_TAG] = &d->ctr.bad_tag,
	};

	(*counters[reason])++;
}

/* ---- destinations -------------------------------------------------------- */

static bool name_listed(const char *list, const char *name)
{
	size_t name_len = strlen(name), len;

	for (const char *p = list; *p; p += len) {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == name_len && strncmp(p, name, len) == 0)
			return true;
	}
	return false;
}

/* Own addresses (to skip ourselves) and broadcast destinations. */
static void scan_interfaces(struct pc_disc *d, uint64_t now)
{
	struct ifaddrs *list, *ifa;
	struct sockaddr_in *sin;

	d->scanned = true;
	d->scanned_at = now;
	if (getifaddrs(&list) < 0)
		return; /* keep what we had */
	d->nbcasts = 0;
	d->nlocals = 0;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		sin = (struct sockaddr_in *)(void *)ifa->ifa_addr;
		if (d->nlocals < MAX_LOCAL)
			d->locals[d->nlocals++] = sin->sin_addr;
		if (!(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK) ||
		    !(ifa->ifa_flags & IFF_BROADCAST) || !ifa->ifa_broadaddr ||
		    d->nbcasts == MAX_BCAST)
			continue;
		if (d->interfaces && !name_listed(d->interfaces, ifa->ifa_name))
			continue;
		sin = (struct sockaddr_in *)(void *)ifa->ifa_broadaddr;
		d->bcasts[d->nbcasts] = *sin;
		d->bcasts[d->nbcasts].sin_port = htons(d->port);
		d->nbcasts++;
	}
	freeifaddrs(list);
}

static bool is_self(const struct pc_disc *d, const struct sockaddr_in *to)
{
	uint32_t host = ntohl(to->sin_addr.s_addr);

	if (ntohs(to->sin_port) != d->port)
		return false;
	if ((host >> 24) == 127 || to->sin_addr.s_addr == d->bound.s_addr)
		return true;
	for (size_t i = 0; i < d->nlocals; i++)
		if (d->locals[i].s_addr == to->sin_addr.s_addr)
			return true;
	return false;
}

static int resolve_peer(char *item, uint16_t default_port,
			struct sockaddr_in *out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res;
	char *colon = strrchr(item, ':'), *end;
	unsigned long port = default_port;
	int rc;

	if (colon) {
		*colon = '\0';
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port > 65535)
			port = 0;
	}
	if (port == 0 || !*item) {
		snprintf(err, errlen, "peer \"%s\": needs host:port", item);
		return -EINVAL;
	}
	rc = getaddrinfo(item, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "peer \"%s\": %s", item,
			 gai_strerror(rc));
		return -EINVAL;
	}
	*out = *(struct sockaddr_in *)(void *)res->ai_addr;
	out->sin_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

/* "host[:port], ..." into @out. */
static int parse_peers(const char *list, uint16_t default_port,
		       struct sockaddr_in *out, size_t *count, char *err,
		       size_t errlen)
{
	char item[300];
	size_t n = 0, len;
	int rc;

	for (const char *p = list ? list : ""; *p; p += len) {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(item) || n == MAX_STATIC) {
			snprintf(err, errlen, "peers: %s",
				 n == MAX_STATIC ? "more than 64"
						 : "name too long");
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		rc = resolve_peer(item, default_port, &out[n], err, errlen);
		if (rc < 0)
			return rc;
		n++;
	}
	*count = n;
	return 0;
}

static bool send_one(struct pc_disc *d, const uint8_t *buf, size_t len,
		     const struct sockaddr_in *to)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_udp_try_send(&d->udp, &b, 1, (const struct sockaddr *)to);

	if (rc < 0) {
		d->ctr.tx_errors++;
		return false;
	}
	return true;
}

static void remember_txid(struct pc_disc *d, uint32_t txid, uint8_t type)
{
	d->sent[d->sent_next] =
		(struct sent_txid){ .txid = txid, .type = type, .used = true };
	d->sent_next = (d->sent_next + 1) % SENT_RING;
}

static const struct sent_txid *sent_find(const struct pc_disc *d, uint32_t txid)
{
	for (size_t i = 0; i < SENT_RING; i++)
		if (d->sent[i].used && d->sent[i].txid == txid)
			return &d->sent[i];
	return NULL;
}

/* Sends d->txbuf (@len bytes before the tag) to every destination. */
static void send_all(struct pc_disc *d, size_t len, uint32_t txid, uint8_t type)
{
	uint64_t now = uv_now(d->loop);
	struct sockaddr_in to;

	len = seal(d, d->txbuf, len);
	if (len == 0) {
		d->ctr.tx_errors++;
		return;
	}
	remember_txid(d, txid, type);
	if (!d->scanned || now - d->scanned_at >= RESCAN_MS)
		scan_interfaces(d, now);
	for (size_t i = 0; i < d->nstatics; i++)
		if (!is_self(d, &d->statics[i]))
			send_one(d, d->txbuf, len, &d->statics[i]);
	for (size_t i = 0; d->opts.broadcast && i < d->nbcasts; i++)
		send_one(d, d->txbuf, len, &d->bcasts[i]);
	if (d->has_group) {
		to = (struct sockaddr_in){ .sin_family = AF_INET,
					   .sin_port = htons(d->port),
					   .sin_addr = d->group };
		send_one(d, d->txbuf, len, &to);
	}
}

/* Peers whose answers can all arrive: known only for a static list. */
static size_t expected_peers(const struct pc_disc *d)
{
	size_t n = 0;

	if (d->opts.broadcast || d->has_group)
		return 0;
	for (size_t i = 0; i < d->nstatics; i++)
		n += !is_self(d, &d->statics[i]);
	return n;
}

/* ---- rate limits (disc_budget.c) ------------------------------------------ */

static bool budget_proven(void *arg, struct in_addr addr)
{
	struct pc_disc *d = arg;

	return d->opts.proven && d->opts.proven(d->opts.cb_arg, addr);
}

/*
 * What was dropped since the last line, one line a minute at most (a
 * flood must not flood the log): a neighbour whose packets are dropped is
 * a source this node does not use, which an administrator must hear of.
 * @from: the source of the packet just dropped, if any.
 */
static void log_drops(struct pc_disc *d, const struct in_addr *from,
		      uint64_t now)
{
	const struct pc_disc_counters *c = &d->ctr, *l = &d->logged;
	char last[INET_ADDRSTRLEN] = "";

	if (from)
		d->last_dropped = *from;
	if (d->logged_at && now - d->logged_at < PRESSURE_LOG_MS)
		return;
	inet_ntop(AF_INET, &d->last_dropped, last, sizeof(last));
	pc_log(PC_LOG_WARN, "net",
	       "discovery: %s: %llu packets dropped over the budget (%llu "
	       "from sources not proven: forged?), %llu with a wrong or "
	       "missing fleet key tag, %llu from sources not allowed, %llu "
	       "malformed; %llu answers not sent (the last drop: from %s)",
	       d->logged_at ? "in the last minute" : "since the start",
	       (unsigned long long)(c->rate_limited - l->rate_limited),
	       (unsigned long long)(c->rate_limited_unproven -
				    l->rate_limited_unproven),
	       (unsigned long long)(c->bad_tag - l->bad_tag),
	       (unsigned long long)(c->denied - l->denied),
	       (unsigned long long)(c->truncated + c->oversized + c->malformed +
				    c->version - l->truncated - l->oversized -
				    l->malformed - l->version),
	       (unsigned long long)(c->answers_dropped - l->answers_dropped),
	       last);
	d->logged = *c;
	d->logged_at = now ? now : 1;
}

/* Takes a token for a packet from @addr, or drops it (counted). */
static bool rate_allows(struct pc_disc *d, struct in_addr addr, uint64_t now,
			bool *proven)
{
	enum disc_verdict v = disc_budget_take(&d->budget, addr, now, proven);

	if (v == DISC_PASS)
		return true;
	d->ctr.rate_limited++;
	if (!*proven)
		d->ctr.rate_limited_unproven++;
	log_drops(d, &addr, now);
	return false;
}

/* True when the socket's send queue is more than half full: answers to
 * sources not proven wait there for addresses that may not exist (a
 * forged source: the kernel holds the answer until ARP gives up), and
 * must not take the room that answers to real neighbours need. */
static bool send_queue_crowded(struct pc_disc *d)
{
	uv_os_fd_t fd;
	int queued = 0;

	if (uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0 ||
	    ioctl(fd, SIOCOUTQ, &queued) < 0)
		return false;
	return queued > d->sndbuf / 2;
}

/* ---- the empty-subnet presumption ---------------------------------------- */

/*
 * Silent asks alone do not make a subnet empty: neighbours that are busy
 * reading have nothing to answer while they all start cold, and a node
 * that skipped its claim window then would fetch what they fetch.  So a
 * neighbour heard within QUIET_MS keeps every ask (and claim) waiting.
 */
static bool presumed_empty(const struct pc_disc *d)
{
	return d->opts.silent_asks && d->silent_streak >= d->opts.silent_asks &&
	       (!d->heard_any || uv_now(d->loop) - d->last_heard >= QUIET_MS);
}

/* Someone else is out there: asks wait for answers again. */
static void peer_alive(struct pc_disc *d, const struct sockaddr_in *from)
{
	if (presumed_empty(d))
		pc_log(PC_LOG_INFO, "net",
		       "discovery: heard %s: waiting for answers again",
		       inet_ntoa(from->sin_addr));
	d->silent_streak = 0;
	d->last_heard = uv_now(d->loop);
	d->heard_any = true;
}

static void ask_silent(struct pc_disc *d)
{
	d->silent_streak++;
	if (d->silent_streak == d->opts.silent_asks && presumed_empty(d))
		pc_log(PC_LOG_INFO, "net",
		       "discovery: no answer to %u probes: presuming an "
		       "empty subnet (one ask per %u ms still waits)",
		       d->silent_streak, d->opts.recheck_ms);
}

/* ---- claims: the tables -------------------------------------------------- */

static struct own_claim *own_find(struct pc_disc *d, const struct pc_hash *h,
				  uint64_t now)
{
	for (size_t i = 0; i < MAX_OWN; i++) {
		struct own_claim *c = &d->own[i];

		if (!c->used)
			continue;
		if (!c->call && c->expires <= now) {
			c->used = false; /* never released: let it go */
			continue;
		}
		if (pc_hash_equal(&c->hash, h))
			return c;
	}
	return NULL;
}

static struct own_claim *own_alloc(struct pc_disc *d, uint64_t now)
{
	for (size_t i = 0; i < MAX_OWN; i++) {
		struct own_claim *c = &d->own[i];

		if (!c->used || (!c->call && c->expires <= now))
			return c;
	}
	return NULL;
}

static bool believed(struct pc_disc *d, const struct pc_disc_peer *peer)
{
	return !d->opts.believe || d->opts.believe(d->opts.cb_arg, peer);
}

/* The live claim on @h by @peer, or (@peer NULL) the lowest-ranking live
 * claim on @h by a neighbour still believed; NULL if none. */
static struct heard_claim *heard_find(struct pc_disc *d,
				      const struct pc_hash *h,
				      const struct pc_disc_peer *peer,
				      uint64_t now)
{
	struct heard_claim *best = NULL;

	for (size_t i = 0; i < MAX_HEARD; i++) {
		struct heard_claim *c = &d->heard[i];

		if (!c->used)
			continue;
		if (c->expires <= now) {
			c->used = false;
			continue;
		}
		if (!pc_hash_equal(&c->hash, h))
			continue;
		if (peer ? !same_peer(&c->peer, peer) : !believed(d, &c->peer))
			continue;
		if (!best || rank(c->peer.addr, c->peer.udp_port) <
				     rank(best->peer.addr, best->peer.udp_port))
			best = c;
	}
	return best;
}

/*
 * Remembers @peer's claim on @h.  Up to HEARD_PER_ID claimers per id are
 * kept, the lowest-ranking ones: a neighbour that is believed now may
 * turn out to be a liar, and the claim of the honest one behind it must
 * still be known then.
 */
static void heard_add(struct pc_disc *d, const struct pc_hash *h,
		      const struct pc_disc_peer *peer, uint64_t now)
{
	struct heard_claim *slot = NULL, *highest = NULL;
	uint64_t theirs = rank(peer->addr, peer->udp_port);
	size_t claimers = 0;

	for (size_t i = 0; i < MAX_HEARD; i++) {
		struct heard_claim *c = &d->heard[i];

		if (c->used && c->expires <= now)
			c->used = false;
		if (!c->used) {
			if (!slot || slot->used)
				slot = c;
			continue;
		}
		if (!pc_hash_equal(&c->hash, h)) {
			if (!slot || (slot->used && c->expires < slot->expires))
				slot = c; /* full: the oldest goes */
			continue;
		}
		if (same_peer(&c->peer, peer)) {
			slot = c; /* a refresh */
			claimers = 0;
			break;
		}
		claimers++;
		if (!highest ||
		    rank(c->peer.addr, c->peer.udp_port) >
			    rank(highest->peer.addr, highest->peer.udp_port))
			highest = c;
	}
	if (claimers >= HEARD_PER_ID) {
		if (rank(highest->peer.addr, highest->peer.udp_port) < theirs)
			return; /* ranks above every claim kept */
		slot = highest;
	}
	*slot = (struct heard_claim){ .used = true,
				      .expires = now + d->opts.claim_ttl_ms,
				      .peer = *peer,
				      .hash = *h };
}

/* Our rank as @peer sees it: the source address toward it, our port. */
static uint64_t own_rank_toward(const struct pc_disc *d,
				const struct sockaddr_in *peer)
{
	struct sockaddr_in local = { .sin_addr = d->bound };
	socklen_t len = sizeof(local);
	int fd;

	if (d->bound.s_addr == htonl(INADDR_ANY)) {
		/* connect() on a UDP socket only asks the routing table. */
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 &&
		    (connect(fd, (const struct sockaddr *)peer, sizeof(*peer)) <
			     0 ||
		     getsockname(fd, (struct sockaddr *)&local, &len) < 0))
			local.sin_addr = d->bound;
		if (fd >= 0)
			close(fd);
	}
	return rank(local.sin_addr, d->port);
}

/* ---- the responder ------------------------------------------------------- */

static bool fetching_now(struct pc_disc *d, const struct pc_hash *h,
			 uint64_t now)
{
	return own_find(d, h, now) ||
	       (d->opts.fetching && d->opts.fetching(d->opts.cb_arg, h));
}

static void handle_probe(struct pc_disc *d, const struct packet *pkt,
			 const struct sockaddr_in *from, uint64_t now,
			 bool proven)
{
	struct pending_answer *slot = NULL;
	size_t maplen = bitmap_len(pkt->count), len, free_slots = 0;
	uint8_t *have, *fetching;
	bool any = false;
	unsigned jitter;

	d->ctr.probes_received++;
	for (size_t i = 0; i < MAX_ANSWERS; i++) {
		if (d->answers[i].used)
			continue;
		free_slots++;
		if (!slot)
			slot = &d->answers[i];
	}
	if (!slot || (!proven && free_slots <= ANSWERS_RESERVED)) {
		/* 64 answers already waiting (the last 16 slots are kept
		 * for proven sources) */
		d->ctr.answers_dropped++;
		log_drops(d, &from->sin_addr, now);
		return;
	}
	header_write(d, slot->bytes, MSG_ANSWER, pkt->count, pkt->txid);
	have = slot->bytes + HDR_LEN;
	fetching = have + maplen;
	memset(have, 0, 2 * maplen);
	for (size_t i = 0; i < pkt->count; i++) {
		const struct pc_hash *h =
			(const struct pc_hash *)(pkt->body + i * ID_LEN);

		if (d->opts.store && pc_store_chunk_present(d->opts.store, h))
			bit_set(have, i);
		else if (fetching_now(d, h, now))
			bit_set(fetching, i);
		else
			continue;
		any = true;
	}
	if (!any) {
		d->ctr.probes_silent++;
		return;
	}
	len = seal(d, slot->bytes, HDR_LEN + 2 * maplen);
	if (len == 0 || len > pkt->len) {
		d->ctr.answers_dropped++; /* never larger than the probe */
		return;
	}
	jitter = d->opts.jitter_min_ms;
	if (d->opts.jitter_max_ms > jitter)
		jitter += (unsigned)(prng_next(d) %
				     (d->opts.jitter_max_ms - jitter + 1));
	slot->used = true;
	slot->proven = proven;
	slot->len = len;
	slot->to = *from;
	slot->deadline = now + jitter;
}

static void send_due_answers(struct pc_disc *d, uint64_t now)
{
	for (size_t i = 0; i < MAX_ANSWERS; i++) {
		struct pending_answer *a = &d->answers[i];

		if (!a->used || a->deadline > now)
			continue;
		a->used = false;
		if ((a->proven || !send_queue_crowded(d)) &&
		    send_one(d, a->bytes, a->len, &a->to)) {
			d->ctr.answers_sent++;
		} else {
			d->ctr.answers_dropped++;
			log_drops(d, &a->to.sin_addr, now);
		}
	}
}

/* ---- the requester ------------------------------------------------------- */

/* Folds neighbours' live claims into the result as "fetching". */
static void add_heard_claims(struct pc_disc *d, struct ask *ask, uint64_t now)
{
	struct pc_disc_result *r = &ask->result;
	struct heard_claim *c;
	int p;

	for (size_t i = 0; i < r->n; i++) {
		c = heard_find(d, &ask->hashes[i], NULL, now);
		if (!c || (p = peer_slot(r->peers, &r->npeers, &c->peer)) < 0)
			continue;
		if (!(r->have[i] & (1u << p)))
			r->fetching[i] |= 1u << p;
	}
}

/* Takes @ask out of the table, reports it and frees it. */
static void finish_ask(struct pc_disc *d, size_t slot, int status)
{
	struct ask *ask = d->asks[slot];
	uint64_t now = uv_now(d->loop);

	d->asks[slot] = NULL;
	ask->result.status = status;
	if (status == 0) {
		add_heard_claims(d, ask, now);
		if (ask->result.waited && ask->result.answers == 0 &&
		    now >= ask->deadline)
			ask_silent(d);
	}
	ask->done(ask->arg, &ask->result);
	free(ask);
}

static bool ask_complete(const struct pc_disc *d, const struct ask *ask,
			 bool useful)
{
	const struct pc_disc_result *r = &ask->result;
	size_t expected = expected_peers(d);
	size_t covered = 0;

	if (useful)
		return true;
	for (size_t i = 0; i < r->n; i++)
		covered += (r->have[i] | r->fetching[i]) != 0;
	return covered == r->n || (expected && r->npeers >= expected);
}

static int find_ask(const struct pc_disc *d, uint32_t txid)
{
	for (int i = 0; i < MAX_ASKS; i++)
		if (d->asks[i] && d->asks[i]->txid == txid)
			return i;
	return -1;
}

static void handle_answer(struct pc_disc *d, const struct packet *pkt,
			  const struct sockaddr_in *from)
{
	struct pc_disc_peer peer = { .addr = from->sin_addr,
				     .udp_port = ntohs(from->sin_port),
				     .http_port = pkt->http_port };
	const uint8_t *have = pkt->body;
	const uint8_t *fetching = have + bitmap_len(pkt->count);
	const struct sent_txid *sent;
	struct pc_disc_result *r;
	struct ask *ask;
	bool useful = false;
	int slot = find_ask(d, pkt->txid), p;
	uint64_t now = uv_now(d->loop);

	if (slot >= 0 && d->asks[slot]->result.n != pkt->count) {
		d->ctr.answers_unmatched++; /* not an answer to that probe */
		return;
	}
	if (slot < 0) {
		sent = sent_find(d, pkt->txid);
		if (sent && sent->type == MSG_PROBE) {
			d->ctr.answers_late++; /* somebody is out there */
			peer_alive(d, from);
		} else {
			d->ctr.answers_unmatched++;
		}
		return;
	}
	ask = d->asks[slot];
	d->ctr.answers_received++;
	peer_alive(d, from);
	if (!believed(d, &peer)) {
		d->ctr.answers_ignored++; /* what a liar says counts for nothing */
		return;
	}
	r = &ask->result;
	r->answers++;
	p = peer_slot(r->peers, &r->npeers, &peer);
	/* Useful: it has the first id, the one the asker waits for (the
	 * others ride along for later fetches and must not cut the wait
	 * for the first short). */
	useful = bit_get(have, 0);
	for (size_t i = 0; i < pkt->count && p >= 0; i++) {
		if (bit_get(have, i))
			r->have[i] |= 1u << p;
		else if (!bit_get(fetching, i))
			continue;
		/* A node claims what it fetches, and its claim comes before
		 * its "fetching": a "fetching" without a claim heard is worth
		 * no wait (and ends no ask). */
		else if (heard_find(d, &ask->hashes[i], &peer, now))
			r->fetching[i] |= 1u << p;
		else
			d->ctr.fetching_unclaimed++;
	}
	if (ask_complete(d, ask, useful)) {
		finish_ask(d, (size_t)slot, 0);
		arm(d);
	}
}

int pc_disc_ask(struct pc_disc *d, const struct pc_hash *hashes, size_t n,
		unsigned timeout_ms, pc_disc_ask_done done, void *arg)
{
	uint64_t now = uv_now(d->loop);
	struct ask *ask;
	size_t slot;
	bool wait;

	if (n == 0 || n > PC_DISC_MAX_HASHES || !done)
		return -EINVAL;
	if (d->closing)
		return -ECANCELED;
	for (slot = 0; slot < MAX_ASKS && d->asks[slot]; slot++)
		;
	if (slot == MAX_ASKS)
		return -EBUSY;
	ask = calloc(1, sizeof(*ask));
	if (!ask)
		return -ENOMEM;
	wait = !presumed_empty(d) ||
	       (d->opts.recheck_ms &&
		(!d->waited_once ||
		 now - d->last_wait_at >= d->opts.recheck_ms));
	if (wait) {
		d->last_wait_at = now;
		d->waited_once = true;
	} else {
		d->ctr.asks_fast++;
	}
	ask->txid = random_txid(d);
	ask->deadline = wait ? now + timeout_ms : now;
	ask->seq = d->tick_seq;
	ask->done = done;
	ask->arg = arg;
	memcpy(ask->hashes, hashes, n * sizeof(*hashes));
	ask->result.waited = wait;
	ask->result.n = n;
	ask->result.hashes = ask->hashes;
	d->asks[slot] = ask;
	d->ctr.asks++;

	header_write(d, d->txbuf, MSG_PROBE, n, ask->txid);
	memcpy(d->txbuf + HDR_LEN, hashes, n * ID_LEN);
	send_all(d, HDR_LEN + n * ID_LEN, ask->txid, MSG_PROBE);
	d->ctr.probes_sent++;
	arm(d);
	return 0;
}

/* ---- claims -------------------------------------------------------------- */

static void finish_call(struct pc_disc *d, size_t slot, int status)
{
	struct claim_call *call = d->calls[slot];
	struct pc_disc_claim_result *r = &call->result;
	uint64_t now = uv_now(d->loop);

	d->calls[slot] = NULL;
	r->status = status;
	for (size_t i = 0; i < MAX_OWN; i++) {
		struct own_claim *c = &d->own[i];

		if (!c->used || c->call != call)
			continue;
		c->call = NULL;
		c->expires = now + d->opts.claim_ttl_ms;
		c->used = status == 0; /* cancelled: forget it */
	}
	for (size_t i = 0; i < r->n && status == 0; i++) {
		if (r->winner[i] == PENDING)
			r->winner[i] = PC_DISC_WON;
		if (r->winner[i] == PC_DISC_WON)
			d->ctr.claims_won++;
		else
			d->ctr.claims_lost++;
	}
	call->done(call->arg, r);
	free(call);
}

/* Our pending claim on @c->hash lost to @peer. */
static void claim_lost(struct own_claim *c, const struct pc_disc_peer *peer)
{
	struct claim_call *call = c->call;
	struct pc_disc_claim_result *r = &call->result;
	int p = peer_slot(r->peers, &r->npeers, peer);

	for (size_t i = 0; i < r->n; i++) {
		if (r->winner[i] == PENDING &&
		    pc_hash_equal(&call->hashes[i], &c->hash)) {
			/* Over 32 peers: still lost, to an unlisted one. */
			r->winner[i] = p >= 0 ? p : 0;
			call->pending--;
		}
	}
	c->used = false;
}

static void handle_claim(struct pc_disc *d, const struct packet *pkt,
			 const struct sockaddr_in *from, uint64_t now)
{
	struct pc_disc_peer peer = { .addr = from->sin_addr,
				     .udp_port = ntohs(from->sin_port),
				     .http_port = pkt->http_port };
	uint64_t theirs = rank(peer.addr, peer.udp_port), ours = 0;
	struct own_claim *c;

	d->ctr.claims_received++;
	if (!believed(d, &peer)) {
		d->ctr.claims_ignored++; /* a liar's claim holds nobody */
		return;
	}
	for (size_t i = 0; i < pkt->count; i++) {
		const struct pc_hash *h =
			(const struct pc_hash *)(pkt->body + i * ID_LEN);

		c = own_find(d, h, now);
		if (c) {
			if (!ours)
				ours = own_rank_toward(d, from);
			if (theirs > ours)
				continue; /* they lose to us: not a claim */
			if (c->call)
				claim_lost(c, &peer);
			/* else decided already: we keep going (late claim) */
		}
		heard_add(d, h, &peer, now);
	}
	/* Calls with every id lost need not wait out their window. */
	for (size_t slot = 0; slot < MAX_CALLS && !d->closing; slot++)
		if (d->calls[slot] && d->calls[slot]->pending == 0)
			finish_call(d, slot, 0);
	arm(d);
}

static void handle_release(struct pc_disc *d, const struct packet *pkt,
			   const struct sockaddr_in *from, uint64_t now)
{
	struct pc_disc_peer peer = { .addr = from->sin_addr,
				     .udp_port = ntohs(from->sin_port),
				     .http_port = pkt->http_port };
	struct heard_claim *c;

	d->ctr.releases_received++;
	for (size_t i = 0; i < pkt->count && !d->closing; i++) {
		const struct pc_hash *h =
			(const struct pc_hash *)(pkt->body + i * ID_LEN);

		c = heard_find(d, h, &peer, now);
		if (!c)
			continue;
		c->used = false;
		if (d->opts.released)
			d->opts.released(d->opts.cb_arg, h, &peer);
	}
}

int pc_disc_claim(struct pc_disc *d, const struct pc_hash *hashes, size_t n,
		  pc_disc_claim_done done, void *arg)
{
	uint64_t now = uv_now(d->loop);
	struct pc_disc_claim_result *r;
	struct claim_call *call;
	struct heard_claim *heard;
	struct own_claim *c;
	size_t slot, nsend = 0;
	uint32_t txid;

	if (n == 0 || n > PC_DISC_MAX_HASHES || !done)
		return -EINVAL;
	if (d->closing)
		return -ECANCELED;
	/* A neighbour's claim may wait unread in the socket (we may be in
	 * the callback of the packet before it): hear it before deciding. */
	drain(d);
	if (d->closing)
		return -ECANCELED;
	now = uv_now(d->loop);
	for (slot = 0; slot < MAX_CALLS && d->calls[slot]; slot++)
		;
	if (slot == MAX_CALLS)
		return -EBUSY;
	call = calloc(1, sizeof(*call));
	if (!call)
		return -ENOMEM;
	call->done = done;
	call->arg = arg;
	call->seq = d->tick_seq;
	memcpy(call->hashes, hashes, n * sizeof(*hashes));
	r = &call->result;
	r->n = n;
	r->hashes = call->hashes;
	for (size_t i = 0; i < n; i++) {
		r->winner[i] = PC_DISC_WON;
		heard = heard_find(d, &hashes[i], NULL, now);
		if (heard) { /* claimed before we asked: it wins outright */
			r->winner[i] =
				peer_slot(r->peers, &r->npeers, &heard->peer);
			if (r->winner[i] < 0)
				r->winner[i] = 0;
			continue;
		}
		if (own_find(d, &hashes[i], now))
			continue; /* already ours */
		c = own_alloc(d, now);
		if (!c)
			continue; /* table full: won, untracked */
		*c = (struct own_claim){ .used = true,
					 .call = call,
					 .hash = hashes[i] };
		r->winner[i] = PENDING;
		call->pending++;
		memcpy(d->txbuf + HDR_LEN + nsend++ * ID_LEN, &hashes[i],
		       ID_LEN);
	}
	/* With nobody around, nobody can object: no window. */
	r->waited = nsend && d->opts.claim_window_ms && !presumed_empty(d);
	call->deadline = r->waited ? now + d->opts.claim_window_ms : now;
	d->calls[slot] = call;
	if (nsend) {
		txid = random_txid(d);
		header_write(d, d->txbuf, MSG_CLAIM, nsend, txid);
		send_all(d, HDR_LEN + nsend * ID_LEN, txid, MSG_CLAIM);
		d->ctr.claims_sent++;
	}
	arm(d);
	return 0;
}

void pc_disc_release(struct pc_disc *d, const struct pc_hash *hashes, size_t n)
{
	uint64_t now = uv_now(d->loop);
	struct own_claim *c;
	size_t nsend = 0;
	uint32_t txid;

	for (size_t i = 0; i < n && i < PC_DISC_MAX_HASHES; i++) {
		c = own_find(d, &hashes[i], now);
		if (!c || c->call)
			continue; /* not ours, or still undecided */
		c->used = false;
		memcpy(d->txbuf + HDR_LEN + nsend++ * ID_LEN, &hashes[i],
		       ID_LEN);
	}
	if (nsend == 0)
		return;
	txid = random_txid(d);
	header_write(d, d->txbuf, MSG_RELEASE, nsend, txid);
	send_all(d, HDR_LEN + nsend * ID_LEN, txid, MSG_RELEASE);
	d->ctr.releases_sent++;
}

/* At close: tell the neighbours not to wait for us. */
static void release_all(struct pc_disc *d)
{
	struct pc_hash batch[PC_DISC_MAX_HASHES];
	uint64_t now = uv_now(d->loop);
	size_t n = 0;

	for (size_t i = 0; i < MAX_OWN; i++) {
		struct own_claim *c = &d->own[i];

		if (!c->used || c->call || c->expires <= now)
			continue;
		batch[n++] = c->hash;
		if (n == PC_DISC_MAX_HASHES) {
			pc_disc_release(d, batch, n);
			n = 0;
		}
	}
	if (n)
		pc_disc_release(d, batch, n);
}

/* ---- time ---------------------------------------------------------------- */

/* Runs what is due; items made during this very tick wait for the next. */
static void tick(struct pc_disc *d)
{
	uint64_t now = uv_now(d->loop);
	uint64_t seq = ++d->tick_seq;

	send_due_answers(d, now);
	for (size_t i = 0; i < MAX_ASKS && !d->closing; i++)
		if (d->asks[i] && d->asks[i]->deadline <= now &&
		    d->asks[i]->seq < seq)
			finish_ask(d, i, 0);
	for (size_t i = 0; i < MAX_CALLS && !d->closing; i++)
		if (d->calls[i] && d->calls[i]->deadline <= now &&
		    d->calls[i]->seq < seq)
			finish_call(d, i, 0);
	if (!d->closing)
		arm(d);
}

static void on_uv_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
		       const struct sockaddr *addr, unsigned flags);

/*
 * libuv runs due timers before it polls the sockets, so after a stall of
 * the loop (a busy machine) an answer that arrived in time would still be
 * unread when its ask's deadline fires, and the ask would count as silent.
 * What the socket holds is read first, through the same path.
 */
static void drain(struct pc_disc *d)
{
	/* Its own buffer: a drain can run while a packet in rxbuf is still
	 * being handled (a callback that claims).  Never nested. */
	uint8_t data[RECV_BUF];
	uv_buf_t buf = uv_buf_init((char *)data, sizeof(data));
	uv_os_fd_t fd;

	if (d->draining || uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0)
		return;
	d->draining = true;
	for (int i = 0; i < DRAIN_MAX && !d->closing; i++) {
		struct sockaddr_in from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, data, sizeof(data),
				     MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fromlen);
		unsigned flags = 0;

		if (n < 0)
			break;
		if ((size_t)n > sizeof(data)) {
			n = (ssize_t)sizeof(data);
			flags = UV_UDP_PARTIAL;
		}
		on_uv_recv(&d->udp, n, &buf, (const struct sockaddr *)&from,
			   flags);
	}
	d->draining = false;
}

static void on_uv_timer(uv_timer_t *timer)
{
	struct pc_disc *d = container_of(timer, struct pc_disc, timer);

	drain(d);
	if (!d->closing)
		tick(d);
}

static void on_uv_soon(uv_idle_t *idle)
{
	tick(container_of(idle, struct pc_disc, soon));
}

static void earliest(uint64_t deadline, uint64_t now, uint64_t *next, bool *due)
{
	if (deadline <= now)
		*due = true;
	else if (deadline < *next)
		*next = deadline;
}

/* Points the timer at the earliest future deadline, the idle handle at
 * anything already due. */
static void arm(struct pc_disc *d)
{
	uint64_t now = uv_now(d->loop), next = UINT64_MAX;
	bool due = false;

	if (d->closing)
		return;
	for (size_t i = 0; i < MAX_ANSWERS; i++)
		if (d->answers[i].used)
			earliest(d->answers[i].deadline, now, &next, &due);
	for (size_t i = 0; i < MAX_ASKS; i++)
		if (d->asks[i])
			earliest(d->asks[i]->deadline, now, &next, &due);
	for (size_t i = 0; i < MAX_CALLS; i++)
		if (d->calls[i])
			earliest(d->calls[i]->deadline, now, &next, &due);
	if (due)
		uv_idle_start(&d->soon, on_uv_soon);
	else
		uv_idle_stop(&d->soon);
	if (next != UINT64_MAX)
		uv_timer_start(&d->timer, on_uv_timer, next - now, 0);
	else
		uv_timer_stop(&d->timer);
}

/* ---- receiving ----------------------------------------------------------- */

static void on_uv_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct pc_disc *d = container_of(handle, struct pc_disc, udp);

	(void)suggested;
	/* One datagram at a time, handled before the next is read. */
	*buf = uv_buf_init((char *)d->rxbuf, sizeof(d->rxbuf));
}

static void dispatch(struct pc_disc *d, const struct packet *pkt,
		     const struct sockaddr_in *from)
{
	uint64_t now = uv_now(d->loop);
	struct pc_disc_peer peer = { .addr = from->sin_addr,
				     .udp_port = ntohs(from->sin_port),
				     .http_port = pkt->http_port };
	bool proven;

	if (pkt->type == MSG_ANSWER) {
		if (d->opts.seen)
			d->opts.seen(d->opts.cb_arg, &peer);
		handle_answer(d, pkt, from);
		return;
	}
	if (sent_find(d, pkt->txid)) {
		d->ctr.own++; /* our broadcast, looped back */
		return;
	}
	if (!rate_allows(d, from->sin_addr, now, &proven))
		return;
	peer_alive(d, from);
	if (d->opts.seen)
		d->opts.seen(d->opts.cb_arg, &peer);
	if (pkt->type == MSG_PROBE)
		handle_probe(d, pkt, from, now, proven);
	else if (pkt->type == MSG_CLAIM)
		handle_claim(d, pkt, from, now);
	else
		handle_release(d, pkt, from, now);
	arm(d);
}

static void on_uv_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
		       const struct sockaddr *addr, unsigned flags)
{
	struct pc_disc *d = container_of(udp, struct pc_disc, udp);
	struct sockaddr_in from;
	struct packet pkt;
	enum drop reason;

	if (nread == 0 && !addr)
		return; /* nothing more to read */
	if (nread < 0) {
		d->ctr.rx_errors++;
		return;
	}
	if (d->closing)
		return;
	d->ctr.rx_packets++;
	if (!addr || addr->sa_family != AF_INET) {
		d->ctr.denied++;
		return;
	}
	memcpy(&from, addr, sizeof(from));
	if (!pc_acl_allows(d->opts.allow, &from.sin_addr)) {
		d->ctr.denied++;
		log_drops(d, &from.sin_addr, uv_now(d->loop));
		return;
	}
	reason = parse_packet(d, (const uint8_t *)buf->base, (size_t)nread,
			      flags & UV_UDP_PARTIAL, &pkt);
	if (reason != DROP_NONE) {
		count_drop(d, reason);
		log_drops(d, &from.sin_addr, uv_now(d->loop));
		return;
	}
	dispatch(d, &pkt, &from);
}

/* ---- lifetime ------------------------------------------------------------ */

void pc_disc_opts_defaults(struct pc_disc_opts *opts)
{
	*opts = (struct pc_disc_opts){
		.port = PC_DISC_PORT,
		.broadcast = true,
		.jitter_min_ms = 1,
		.jitter_max_ms = 5,
		.source_rate = 1000,
		.source_burst = 2000,
		.total_rate = 5000,
		.total_burst = 10000,
		.unproven_rate = 1000,
		.unproven_burst = 2000,
		.silent_asks = 1,
		.recheck_ms = 5000,
		.claim_window_ms = 20,
		.claim_ttl_ms = 30000,
	};
}

/* Everything but the socket; -EINVAL with the reason in @err. */
static int apply_opts(struct pc_disc *d, const struct pc_disc_opts *opts,
		      char *err, size_t errlen)
{
	const char *bind_address = opts->bind_address;

	d->opts = *opts;
	d->opts.bind_address = d->opts.interfaces = NULL;
	d->opts.group = d->opts.peers = NULL;
	d->opts.key = NULL;
	if (!opts->allow) {
		snprintf(err, errlen, "discovery needs an ACL");
		return -EINVAL;
	}
	if (opts->key && (opts->key_len < PC_DISC_KEY_MIN ||
			  opts->key_len > PC_DISC_KEY_MAX)) {
		snprintf(err, errlen, "fleet key: %zu bytes, want %d to %d",
			 opts->key_len, PC_DISC_KEY_MIN, PC_DISC_KEY_MAX);
		return -EINVAL;
	}
	if (opts->jitter_min_ms > opts->jitter_max_ms) {
		snprintf(err, errlen, "discovery jitter: min above max");
		return -EINVAL;
	}
	if (!bind_address || !*bind_address)
		bind_address = "0.0.0.0";
	if (inet_pton(AF_INET, bind_address, &d->bound) != 1) {
		snprintf(err, errlen, "discovery bind address \"%s\": not IPv4",
			 bind_address);
		return -EINVAL;
	}
	if (opts->group && *opts->group &&
	    (inet_pton(AF_INET, opts->group, &d->group) != 1 ||
	     !IN_MULTICAST(ntohl(d->group.s_addr)))) {
		snprintf(err, errlen,
			 "discovery_group \"%s\": not an IPv4 "
			 "multicast address",
			 opts->group);
		return -EINVAL;
	}
	d->has_group = opts->group && *opts->group;
	if (opts->interfaces && *opts->interfaces) {
		d->interfaces = strdup(opts->interfaces);
		if (!d->interfaces) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	if (opts->key && mac_init(d, opts->key, opts->key_len) < 0) {
		snprintf(err, errlen, "fleet key: OpenSSL has no HMAC-SHA256");
		return -EINVAL;
	}
	return 0;
}

static void free_disc(struct pc_disc *d)
{
	EVP_MAC_CTX_free(d->mac);
	free(d->interfaces);
	free(d);
}

static void on_uv_closed(uv_handle_t *handle)
{
	struct pc_disc *d = handle->data;

	if (--d->handles_open == 0)
		free_disc(d);
}

static int open_socket(struct pc_disc *d, char *err, size_t errlen)
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons(d->opts.port),
				    .sin_addr = d->bound };
	struct sockaddr_storage name;
	int namelen = sizeof(name), rc;

	rc = uv_udp_bind(&d->udp, (const struct sockaddr *)&addr, 0);
	if (rc == 0 && d->opts.broadcast)
		rc = uv_udp_set_broadcast(&d->udp, 1);
	if (rc == 0 && d->has_group) {
		char group[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &d->group, group, sizeof(group));
		rc = uv_udp_set_membership(&d->udp, group, NULL, UV_JOIN_GROUP);
		if (rc == 0)
			rc = uv_udp_set_multicast_ttl(&d->udp, 1);
	}
	if (rc == 0)
		rc = uv_udp_getsockname(&d->udp, (struct sockaddr *)&name,
					&namelen);
	if (rc == 0)
		rc = uv_udp_recv_start(&d->udp, on_uv_alloc, on_uv_recv);
	if (rc == 0 &&
	    uv_send_buffer_size((uv_handle_t *)&d->udp, &d->sndbuf) < 0)
		d->sndbuf = 0;
	if (rc < 0) {
		snprintf(err, errlen, "discovery port %u: %s", d->opts.port,
			 uv_strerror(rc));
		return rc;
	}
	d->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
	return 0;
}

struct pc_disc *pc_disc_new(uv_loop_t *loop, const struct pc_disc_opts *opts,
			    char *err, size_t errlen)
{
	struct pc_disc *d = calloc(1, sizeof(*d));
	uint64_t seed;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	if (apply_opts(d, opts, err, errlen) < 0 ||
	    parse_peers(opts->peers, opts->port, d->statics, &d->nstatics, err,
			errlen) < 0) {
		free_disc(d);
		return NULL;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	d->rng = seed;
	disc_budget_init(&d->budget,
			 &(struct disc_budget_opts){
				 .source_rate = opts->source_rate,
				 .source_burst = opts->source_burst,
				 .total_rate = opts->total_rate,
				 .total_burst = opts->total_burst,
				 .unproven_rate = opts->unproven_rate,
				 .unproven_burst = opts->unproven_burst,
				 .proven = budget_proven,
				 .proven_arg = d,
			 },
			 uv_now(loop));
	uv_udp_init(loop, &d->udp);
	uv_timer_init(loop, &d->timer);
	uv_idle_init(loop, &d->soon);
	d->udp.data = d->timer.data = d->soon.data = d;
	d->handles_open = 3;
	if (open_socket(d, err, errlen) < 0) {
		/* Freed in the close callbacks: the loop has to run. */
		d->closing = true;
		uv_close((uv_handle_t *)&d->udp, on_uv_closed);
		uv_close((uv_handle_t *)&d->timer, on_uv_closed);
		uv_close((uv_handle_t *)&d->soon, on_uv_closed);
		return NULL;
	}
	scan_interfaces(d, uv_now(loop));
	pc_log(PC_LOG_INFO, "net",
	       "discovery on UDP port %u: %zu static peers, %s%s%s%s", d->port,
	       d->nstatics, d->opts.broadcast ? "broadcast, " : "",
	       d->has_group ? "multicast, " : "",
	       d->mac ? "fleet key" : "no fleet key",
	       expected_peers(d) || d->opts.broadcast || d->has_group
		       ? ""
		       : " (no destination: asks stay unanswered)");
	return d;
}

void pc_disc_close(struct pc_disc *d)
{
	if (!d || d->closing)
		return;
	release_all(d);
	d->closing = true;
	for (size_t i = 0; i < MAX_ASKS; i++)
		if (d->asks[i])
			finish_ask(d, i, -ECANCELED);
	for (size_t i = 0; i < MAX_CALLS; i++)
		if (d->calls[i])
			finish_call(d, i, -ECANCELED);
	uv_udp_recv_stop(&d->udp);
	uv_close((uv_handle_t *)&d->udp, on_uv_closed);
	uv_close((uv_handle_t *)&d->timer, on_uv_closed);
	uv_close((uv_handle_t *)&d->soon, on_uv_closed);
}

uint16_t pc_disc_port(const struct pc_disc *d)
{
	return d->port;
}

int pc_disc_set_peers(struct pc_disc *d, const char *peers, char *err,
		      size_t errlen)
{
	struct sockaddr_in list[MAX_STATIC];
	size_t n;
	int rc = parse_peers(peers, d->port, list, &n, err, errlen);

	if (rc < 0)
		return rc;
	memcpy(d->statics, list, n * sizeof(list[0]));
	d->nstatics = n;
	return 0;
}

void pc_disc_get_counters(const struct pc_disc *d, struct pc_disc_counters *out)
{
	*out = d->ctr;
}

void pc_disc_drain(struct pc_disc *d)
{
	if (d && !d->closing)
		drain(d);
}

bool pc_disc_presumed_empty(const struct pc_disc *d)
{
	return presumed_empty(d);
}
