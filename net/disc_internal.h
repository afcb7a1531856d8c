/*
 * disc_internal.h - what the parts of discovery share (net/, loop thread
 * only): the wire's constants, the tables' limits, struct pc_disc, and
 * the functions one part calls in another.  discovery.c has the overview.
 */
#ifndef PC_NET_DISC_INTERNAL_H
#define PC_NET_DISC_INTERNAL_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#define MAX_MCAST6 16 /* interfaces the IPv6 group is joined on */
#define MAX_OWN 256   /* ids this node claims */
#define MAX_HEARD 256 /* claims heard from neighbours */
#define HEARD_PER_ID 2
#define SENT_RING 256 /* txids of our recent probes and claims */
#define RESCAN_MS 60000
#define RESCAN_NO_SOURCE_MS 5000 /* while the IPv6 group has no source */
/* A neighbour heard this recently: the subnet is not presumed empty. */
#define QUIET_MS 30000
/* Datagrams read ahead of a due deadline, at most. */
#define DRAIN_MAX 256
#define PENDING (-2) /* a claim verdict not decided yet */

/* Where a datagram came from, or goes to (a neighbour's UDP endpoint). */
struct disc_endpoint {
	struct pc_addr addr;
	uint16_t port; /* host order */
};

/* An interface the IPv6 group is joined on, and the address our packets
 * to the group leave from there: a global one, never the link-local one
 * the kernel would pick for a link-scope group (neighbours' ACLs and HTTP
 * requests need an address of the subnet). */
struct disc_mcast6 {
	unsigned ifindex;
	struct in6_addr source;
};

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
	uint64_t seq;	     /* tick in which it was made */
	uint64_t claims_seq; /* d->claims_seq when its probe went out */
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
	bool confirmed;	    /* its sender answered a probe of ours for it */
	uint64_t heard_seq; /* d->claims_seq when first heard */
	uint64_t said_seq;  /* ... and when last said (again) */
	uint64_t expires;
	struct pc_disc_peer peer;
	struct pc_hash hash;
};

struct pending_answer {
	bool used;
	bool proven; /* to a proven source (disc_budget.h) */
	uint64_t deadline;
	struct disc_endpoint to;
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
	int family;		  /* the socket's: AF_INET6 (dual-stack) or
				     AF_INET (IPv4 bind_address, no IPv6) */
	struct pc_addr bound;	  /* the wildcard unless bind_address */
	bool bound_any;
	EVP_MAC_CTX *mac; /* NULL without a fleet key */
	uint64_t rng;
	uint64_t tick_seq;
	uint64_t claims_seq; /* claims heard so far: their order */

	char *interfaces; /* owned copy, NULL = all */
	bool has_group;	  /* an IPv4 group */
	struct in_addr group;
	bool has_group6; /* the IPv6 group, joined on each interface */
	struct in6_addr group6;
	struct disc_endpoint statics[MAX_STATIC];
	size_t nstatics;
	struct disc_endpoint bcasts[MAX_BCAST];
	size_t nbcasts;
	struct disc_mcast6 mcast6[MAX_MCAST6]; /* where the IPv6 group goes */
	size_t nmcast6;
	struct pc_addr locals[MAX_LOCAL]; /* own addresses, to skip self */
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
	struct pc_addr last_dropped;
	struct sent_txid sent[SENT_RING];
	size_t sent_next;
	struct pc_disc_counters ctr;
	uint8_t rxbuf[RECV_BUF];
	uint8_t txbuf[PACKET_MAX];
};

/* ---- byte order, bitmaps, ranks -------------------------------------------- */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static inline size_t bitmap_len(size_t n)
{
	return (n + 7) / 8;
}

static inline bool bit_get(const uint8_t *map, size_t i)
{
	return map[i / 8] & (0x80 >> (i % 8));
}

static inline void bit_set(uint8_t *map, size_t i)
{
	map[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

static inline size_t body_len(uint8_t type, size_t n)
{
	return type == MSG_ANSWER ? 2 * bitmap_len(n) : n * ID_LEN;
}

/* Claims compare by (address, port); the lower one wins.  Addresses
 * compare as bytes of the 16-byte form (addr.h): IPv4 ones among
 * themselves as before, and below every global IPv6 one. */
static inline int rank_cmp(const struct pc_disc_peer *a,
			   const struct pc_disc_peer *b)
{
	int c = pc_addr_cmp(&a->addr, &b->addr);

	if (c)
		return c;
	return a->udp_port < b->udp_port ? -1 : a->udp_port > b->udp_port;
}

static inline bool same_peer(const struct pc_disc_peer *a,
			     const struct pc_disc_peer *b)
{
	return pc_addr_equal(&a->addr, &b->addr) && a->udp_port == b->udp_port;
}

/* disc_wire.c */
uint64_t disc_prng_next(struct pc_disc *d);
uint32_t disc_random_txid(struct pc_disc *d);
int disc_peer_slot(struct pc_disc_peer *peers, size_t *npeers,
		   const struct pc_disc_peer *p);
int disc_mac_init(struct pc_disc *d, const uint8_t *key, size_t len);
void disc_header_write(struct pc_disc *d, uint8_t *buf, uint8_t type,
		       size_t count, uint32_t txid);
size_t disc_seal(struct pc_disc *d, uint8_t *buf, size_t len);
enum drop disc_parse_packet(struct pc_disc *d, const uint8_t *buf, size_t len,
			    bool partial, struct packet *pkt);
void disc_count_drop(struct pc_disc *d, enum drop reason);

/* disc_dest.c */
void disc_scan_interfaces(struct pc_disc *d, uint64_t now);
int disc_parse_peers(const char *list, uint16_t default_port, int family,
		     struct disc_endpoint *out, size_t *count, char *err,
		     size_t errlen);
bool disc_send_one(struct pc_disc *d, const uint8_t *buf, size_t len,
		   const struct disc_endpoint *to);
const struct sent_txid *disc_sent_find(const struct pc_disc *d, uint32_t txid);
void disc_send_all(struct pc_disc *d, size_t len, uint32_t txid, uint8_t type);
size_t disc_expected_peers(const struct pc_disc *d);

/* disc_limits.c */
void disc_log_drops(struct pc_disc *d, const struct pc_addr *from,
		    uint64_t now);
bool disc_rate_allows(struct pc_disc *d, const struct pc_addr *addr,
		      uint64_t now, bool *proven);
bool disc_send_queue_crowded(struct pc_disc *d);
bool disc_presumed_empty(const struct pc_disc *d);
void disc_peer_alive(struct pc_disc *d, const struct disc_endpoint *from);
void disc_ask_silent(struct pc_disc *d);
bool disc_source_proven(void *arg, const struct pc_addr *addr);

/* disc_claims.c */
struct own_claim *disc_own_find(struct pc_disc *d, const struct pc_hash *h,
				uint64_t now);
bool disc_believed(struct pc_disc *d, const struct pc_disc_peer *peer);
struct heard_claim *disc_heard_find(struct pc_disc *d, const struct pc_hash *h,
				    const struct pc_disc_peer *peer,
				    uint64_t now);
void disc_finish_call(struct pc_disc *d, size_t slot, int status);
void disc_handle_claim(struct pc_disc *d, const struct packet *pkt,
		       const struct disc_endpoint *from, uint64_t now);
void disc_handle_release(struct pc_disc *d, const struct packet *pkt,
			 const struct disc_endpoint *from, uint64_t now);
void disc_release_all(struct pc_disc *d);

/* disc_respond.c */
void disc_handle_probe(struct pc_disc *d, const struct packet *pkt,
		       const struct disc_endpoint *from, uint64_t now,
		       bool proven);
void disc_send_due_answers(struct pc_disc *d, uint64_t now);

/* disc_ask.c */
void disc_finish_ask(struct pc_disc *d, size_t slot, int status);
void disc_handle_answer(struct pc_disc *d, const struct packet *pkt,
			const struct disc_endpoint *from);

/* discovery.c */
void disc_drain(struct pc_disc *d);
void disc_arm(struct pc_disc *d);

#endif /* PC_NET_DISC_INTERNAL_H */
