/*
 * disc_budget.h - how many packets discovery takes from whom (net/,
 * internal to discovery.c).
 *
 * Token buckets: one per source (an IPv4 address, or an IPv6 /64: a host
 * holds a whole /64 and may send from any address of it, so a bucket per
 * IPv6 address would be no limit), one for the node, and one that
 * all sources not yet proven share.  A source is proven when the node
 * has exchanged chunks with it over TCP (it delivered verified chunks, or
 * downloaded chunks from this node): a TCP handshake cannot be forged
 * from another address, a UDP source address can.  So a flood from
 * forged addresses takes at most the unproven share, and the rest of the
 * node's budget is kept for the neighbours that proved themselves.
 * docs/PROTOCOL.md ("Rate limits") is the contract.
 *
 * Loop thread only, like discovery.  Fixed-size: a flood costs counters,
 * not memory.
 */
#ifndef PC_NET_DISC_BUDGET_H
#define PC_NET_DISC_BUDGET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#define DISC_BUDGET_SOURCES 256

struct disc_budget_opts {
	unsigned source_rate, source_burst;	/* per source (IPv6: /64) */
	unsigned total_rate, total_burst;	/* the node */
	unsigned unproven_rate, unproven_burst; /* unproven sources, together */
	/* Has the node exchanged chunks with @addr over TCP?  Asked at most
	 * once a second per source.  NULL: nobody is proven. */
	bool (*proven)(void *arg, const struct pc_addr *addr);
	void *proven_arg;
};

struct disc_bucket {
	uint64_t last_ms;
	uint64_t milli; /* tokens x 1000 */
};

struct disc_source {
	struct pc_addr key; /* pc_addr_limit_key(): IPv6 by its /64 */
	bool used;
	bool proven;
	uint64_t proven_at; /* when @proven was last asked */
	uint64_t last_ms;   /* last packet */
	struct disc_bucket bucket;
};

enum disc_verdict {
	DISC_PASS,
	DISC_OVER_SOURCE,   /* the source's own bucket is empty */
	DISC_OVER_UNPROVEN, /* the unproven sources' share is used up */
	DISC_OVER_TOTAL,    /* the node's bucket is empty */
};

struct disc_budget {
	struct disc_budget_opts opts;
	struct disc_source sources[DISC_BUDGET_SOURCES];
	struct disc_bucket total, unproven;
};

void disc_budget_init(struct disc_budget *b, const struct disc_budget_opts *o,
		      uint64_t now);
/* A packet from @addr: takes a token from every bucket it draws on, or
 * from none.  *@proven says whether the source is proven (asked of the
 * address that last sent, for an IPv6 /64). */
enum disc_verdict disc_budget_take(struct disc_budget *b,
				   const struct pc_addr *addr, uint64_t now,
				   bool *proven);

#endif /* PC_NET_DISC_BUDGET_H */
