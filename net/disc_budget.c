/*
 * disc_budget.c - discovery's token buckets, shared fairly.
 *
 * Every probe, claim and release costs the node a look at its store and
 * maybe an answer, so their number is bounded per source and for the
 * node.  Bounds alone are not fair: 3,000 forged probes a second from
 * random addresses of the subnet, each under its own source's limit, used
 * to take the node's whole budget, and a real neighbour's probes went
 * unanswered.  So the sources that proved themselves (see disc_budget.h)
 * draw only on their own bucket and the node's, while the others draw on
 * a share of their own as well: together they never get more than
 * unproven_rate, and the rest of the node's budget stays for the
 * neighbours it knows.  The source table keeps proven sources over the
 * others when it must forget one, and otherwise forgets the one heard
 * from least recently.  An IPv6 source is its /64 (disc_budget.h): a
 * host rotating through the addresses of its prefix stays one source.
 */
#include <stddef.h>

#include "disc_budget.h"

/* A source's proof is asked again after this long. */
#define PROVEN_RECHECK_MS 1000

static void refill(struct disc_bucket *bucket, uint64_t now, unsigned rate,
		   unsigned burst)
{
	uint64_t cap = (uint64_t)burst * 1000;

	if (now > bucket->last_ms) {
		bucket->milli += (now - bucket->last_ms) * rate;
		bucket->last_ms = now;
	}
	if (bucket->milli > cap)
		bucket->milli = cap;
}

static void fill(struct disc_bucket *bucket, uint64_t now, unsigned burst)
{
	*bucket = (struct disc_bucket){ .last_ms = now,
					.milli = (uint64_t)burst * 1000 };
}

void disc_budget_init(struct disc_budget *b, const struct disc_budget_opts *o,
		      uint64_t now)
{
	*b = (struct disc_budget){ .opts = *o };
	fill(&b->total, now, o->total_burst);
	fill(&b->unproven, now, o->unproven_burst);
}

/* The line of @addr; a new source takes a free line, else the one heard
 * from least recently among the unproven (among all if every one is
 * proven), and starts with a full bucket. */
static struct disc_source *source(struct disc_budget *b,
				  const struct pc_addr *addr, uint64_t now)
{
	struct pc_addr key = pc_addr_limit_key(addr);
	struct disc_source *victim = NULL;

	for (size_t i = 0; i < DISC_BUDGET_SOURCES; i++) {
		struct disc_source *s = &b->sources[i];

		if (s->used && pc_addr_equal(&s->key, &key))
			return s;
		if (!s->used) {
			if (!victim || victim->used)
				victim = s;
		} else if (!victim ||
			   (victim->used && (victim->proven > s->proven ||
					     (victim->proven == s->proven &&
					      s->last_ms < victim->last_ms)))) {
			victim = s;
		}
	}
	*victim = (struct disc_source){ .key = key, .used = true };
	fill(&victim->bucket, now, b->opts.source_burst);
	return victim;
}

enum disc_verdict disc_budget_take(struct disc_budget *b,
				   const struct pc_addr *addr, uint64_t now,
				   bool *proven)
{
	struct disc_source *s = source(b, addr, now);
	const struct disc_budget_opts *o = &b->opts;

	if (!s->proven_at || now - s->proven_at >= PROVEN_RECHECK_MS) {
		s->proven = o->proven && o->proven(o->proven_arg, addr);
		s->proven_at = now ? now : 1;
	}
	s->last_ms = now;
	*proven = s->proven;
	refill(&s->bucket, now, o->source_rate, o->source_burst);
	refill(&b->total, now, o->total_rate, o->total_burst);
	refill(&b->unproven, now, o->unproven_rate, o->unproven_burst);
	if (s->bucket.milli < 1000)
		return DISC_OVER_SOURCE;
	if (!s->proven && b->unproven.milli < 1000)
		return DISC_OVER_UNPROVEN;
	if (b->total.milli < 1000)
		return DISC_OVER_TOTAL;
	s->bucket.milli -= 1000;
	b->total.milli -= 1000;
	if (!s->proven)
		b->unproven.milli -= 1000;
	return DISC_PASS;
}
