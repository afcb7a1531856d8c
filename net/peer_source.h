/*
 * peer_source.h - the LAN peers as the first source of every fetch
 * (peer_source.c): discovery, then a GET from the neighbour that has the
 * chunk, a wait for one that fetches it, or a claim.  The fetcher knows
 * it only through its source table; what it keeps per fetch is its own.
 */
#ifndef PC_NET_PEER_SOURCE_H
#define PC_NET_PEER_SOURCE_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "discovery.h"
#include "pc_net.h"

struct pc_net;
struct net_source;

/* What discovery said about a chunk (peer_source.c). */
#define NET_KNOWN_PEERS 4
struct net_peer_knowledge {
	uint64_t at; /* uv_now() ms of the answer; 0: nothing known */
	size_t nhave;
	struct pc_disc_peer have[NET_KNOWN_PEERS];
	bool fetching; /* a neighbour is fetching it (answered or claimed) */
	struct pc_disc_peer fetcher;
	/* Only its claim says so (pc_disc_result.unconfirmed); and it was
	 * asked and did not confirm it (unanswered). */
	bool fetcher_unconfirmed, fetcher_unanswered;
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

/* The peer source's state; loop thread only. */
struct net_peer_src {
	const struct net_source *source; /* in the source list; NULL: off */
	struct net_hint hints[NET_HINT_SETS][NET_HINT_WAYS];
	/* A sequential reader's next chunks, for the next probe. */
	struct pc_hash lookahead[PC_DISC_MAX_HASHES];
	size_t nlookahead;
	uint64_t hint_hits;    /* fetches that needed no probe */
	uint64_t hints_stale;  /* ... whose holder answered 404 */
	uint64_t busy_retries; /* GETs refused with 503, asked again later */
};

/* Before the loop runs, with discovery on: the LAN peers become the
 * first source.  0, or -ENOMEM with @err set. */
int net_peer_src_init(struct pc_net *net, char *err, size_t errlen);
/* A sequential reader will want these chunks soon: the next probe asks
 * about them too (replacing the previous lookahead; at most
 * PC_DISC_MAX_HASHES). */
void net_peer_lookahead(struct pc_net *net, const struct pc_chunk_ref *refs,
			size_t count);
/* @peer released its claim on @hash: a fetch that waits for it gets the
 * chunk from it now. */
void net_peer_src_released(struct pc_net *net, const struct pc_hash *hash,
			   const struct pc_disc_peer *peer);
/* Fetches that wait for a neighbour at @addr look again now (their timer
 * fires on the next loop iteration: nothing runs from inside here). */
void net_peer_src_wake(struct pc_net *net, struct pc_addr addr);
/* When the oldest of this node's downloads after a won claim began
 * (uv_now() ms), or @now if none runs. */
uint64_t net_peer_src_oldest_claim(struct pc_net *net, uint64_t now);

#endif /* PC_NET_PEER_SOURCE_H */
