/*
 * discovery.h - UDP discovery of LAN peers (net/, internal).
 *
 * A node asks its subnet "who has these chunks?" with one UDP probe and
 * learns, per chunk, which neighbours have it and which are fetching it
 * right now (with their peer HTTP port).  The same socket answers the
 * neighbours' probes from the local store, and carries the claims that
 * make one mirror download per subnet: a node about to go to the mirror
 * announces it, neighbours wait for it, simultaneous claims resolve by a
 * fixed rule.  docs/PROTOCOL.md ("UDP discovery") is the wire contract.
 *
 * Threads: everything runs on the libuv loop given to pc_disc_new(), and
 * every function below must be called on that loop's thread (or, for
 * pc_disc_new(), before the loop runs).  Callbacks run on the loop thread
 * and must not block.
 */
#ifndef PC_NET_DISCOVERY_H
#define PC_NET_DISCOVERY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "acl.h"
#include "pc_config.h"
#include "pc_format.h"
#include "pc_store.h"

#define PC_DISC_PORT 8082
/* The IPv6 group that stands in for broadcast (docs/PROTOCOL.md): link-
 * local scope, transient ("PCDS" in its last 32 bits). */
#define PC_DISC_GROUP6 "ff12::5043:4453"
/* Ids in one probe, claim or release (the wire's limit). */
#define PC_DISC_MAX_HASHES 64
/* Distinct peers reported by one ask or claim; more answers are counted
 * but their senders are not listed. */
#define PC_DISC_MAX_PEERS 32
#define PC_DISC_KEY_MIN 32
#define PC_DISC_KEY_MAX 1024

struct pc_disc;

struct pc_disc_peer {
	struct pc_addr addr; /* source address of its packets (addr.h) */
	uint16_t udp_port;   /* host order */
	uint16_t http_port;  /* host order; 0 if it serves none */
};

struct pc_disc_opts {
	uint16_t port; /* UDP port; 0 = ephemeral (tests) */
	/* IPv4 or IPv6 literal; NULL or "" = every address of both
	 * families (one dual-stack socket, IPv4 only without IPv6) */
	const char *bind_address;
	/* Destinations of probes, claims and releases (any combination): */
	bool broadcast; /* each interface's broadcast address, and the IPv6
			   group on each interface with IPv6 */
	const char *interfaces; /* "eth0, eth1"; NULL or "" = every up,
				   non-loopback IPv4 interface */
	/* Multicast groups: an IPv4 group, an IPv6 group, or one of each
	 * ("239.1.2.3, ff12::5043:4453"), or NULL.  The IPv6 group is
	 * joined and sent to on each interface.  With @broadcast, the IPv6
	 * group PC_DISC_GROUP6 is used when none is named: IPv6 has no
	 * broadcast. */
	const char *group;
	const char *peers; /* "host[:port], ..." (resolved once, here)
				   or NULL; port defaults to @port */
	/* Sources answered and heard (required; borrowed, must outlive the
	 * instance). */
	const struct pc_acl *allow;
	/* Fleet key (copied): PC_DISC_KEY_MIN..PC_DISC_KEY_MAX bytes, or
	 * NULL for none. */
	const uint8_t *key;
	size_t key_len;
	uint16_t http_port;	/* advertised in answers and claims */
	struct pc_store *store; /* "have" (borrowed; NULL: has nothing) */
	/* "Fetching now" for an id the store lacks; NULL: never. */
	bool (*fetching)(void *arg, const struct pc_hash *hash);
	/* A neighbour released its claim on @hash (its download ended):
	 * whoever waits for it should look again now.  May be NULL. */
	void (*released)(void *arg, const struct pc_hash *hash,
			 const struct pc_disc_peer *peer);
	/* A valid packet came from @peer (any type, not our own): the
	 * node learns its neighbours.  May be NULL. */
	void (*seen)(void *arg, const struct pc_disc_peer *peer);
	/* False: @peer's word is worth nothing now (it did not deliver what
	 * it announced): its answers and claims are ignored, and claims
	 * heard from it earlier no longer count.  NULL: everyone is
	 * believed. */
	bool (*believe)(void *arg, const struct pc_disc_peer *peer);
	/* False: @peer's claims count only once it confirmed them by an
	 * answer (it said one again instead of answering a probe for it):
	 * an unconfirmed one makes no claim of ours lose and is not
	 * reported.  NULL: believed claims count. */
	bool (*believe_claims)(void *arg, const struct pc_disc_peer *peer);
	/* True: the node exchanged chunks with @addr over TCP (it
	 * delivered verified chunks, or downloaded chunks from this node),
	 * so @addr is no forged source.  Such sources are not held to the
	 * unproven share below.  NULL: none is. */
	bool (*proven)(void *arg, const struct pc_addr *addr);
	void *cb_arg; /* for fetching, released, seen, believe, proven */
	unsigned jitter_min_ms; /* answer delay range, default 1..5 */
	unsigned jitter_max_ms;
	unsigned source_rate;	  /* packets/s per source, default 1000 */
	unsigned source_burst;	  /* default 2000 */
	unsigned total_rate;	  /* packets/s for the node, default 5000 */
	unsigned total_burst;	  /* default 10000 */
	unsigned unproven_rate;	  /* of which sources not proven, together,
				    take at most this, default 1000 */
	unsigned unproven_burst;  /* default 2000 */
	unsigned silent_asks;	  /* silent asks before presuming an empty
				  subnet, default 1; 0 = never presume */
	unsigned recheck_ms;	  /* while presumed empty, one ask per this
				interval still waits, default 5000; 0 = none */
	unsigned claim_window_ms; /* default 20 */
	unsigned claim_ttl_ms;	  /* a claim's lifetime, default 30000 */
};

/* Fills @opts with the defaults above (port PC_DISC_PORT, broadcast on,
 * no key, no callbacks). */
void pc_disc_opts_defaults(struct pc_disc_opts *opts);

/*
 * Binds the socket and starts answering.  Resolves @opts->peers (may block
 * on DNS: call at start-up).  Caller owns the result; release it with
 * pc_disc_close().  NULL with a one-line reason in @err (bad option, port
 * in use, no ACL, key of a wrong size); when the socket could not be
 * bound, handles are left closing, so the loop must run once more before
 * it is closed (as after pc_disc_close()).
 */
struct pc_disc *pc_disc_new(uv_loop_t *loop, const struct pc_disc_opts *opts,
			    char *err, size_t errlen);
/*
 * Completes every pending ask and claim with -ECANCELED (their callbacks
 * run before this returns), sends a RELEASE for the ids this node still
 * claims, and closes the handles; the memory is freed in their close
 * callbacks, so the loop must run once more.  May be called from a
 * callback of @d.  NULL is a no-op.
 */
void pc_disc_close(struct pc_disc *d);

/* The bound UDP port (useful with port 0). */
uint16_t pc_disc_port(const struct pc_disc *d);
/* Replaces the static peer list.  0 or -EINVAL with the bad item in @err. */
int pc_disc_set_peers(struct pc_disc *d, const char *peers, char *err,
		      size_t errlen);

/*
 * Reads a fleet key file: its raw bytes, PC_DISC_KEY_MIN..@cap of them
 * (at most PC_DISC_KEY_MAX).  -EPERM if others may read or write it,
 * -EINVAL for a wrong size, -errno from the file; the reason in @err.
 */
int pc_disc_read_key(const char *path, uint8_t *key, size_t cap,
		     size_t *key_len, char *err, size_t errlen);

/* ---- asking -------------------------------------------------------------- */

struct pc_disc_result {
	int status;	  /* 0, or -ECANCELED (closing) */
	bool waited;	  /* false: presumed-empty subnet, no wait */
	unsigned answers; /* valid answers to this ask */
	size_t n;
	const struct pc_hash *hashes; /* as asked */
	size_t npeers;
	struct pc_disc_peer peers[PC_DISC_MAX_PEERS];
	/* Bit p of have[i]: peers[p] has hashes[i].  Of fetching[i]: it is
	 * fetching it (answered so, or holds a claim on it). */
	uint32_t have[PC_DISC_MAX_HASHES];
	uint32_t fetching[PC_DISC_MAX_HASHES];
	/* Of fetching[i], the bits that come from a claim alone, which no
	 * answer of its sender has confirmed ("fetching" or "have" for the
	 * id) yet; and of those, the ones heard before this probe went out
	 * and said again during the ask, which ran its whole time: the
	 * claimer heard the probe and did not answer for the id
	 * (docs/PROTOCOL.md, "A neighbour's word"). */
	uint32_t unconfirmed[PC_DISC_MAX_HASHES];
	uint32_t unanswered[PC_DISC_MAX_HASHES];
};

/* Runs exactly once, on the loop thread; @r is borrowed for the call. */
typedef void (*pc_disc_ask_done)(void *arg, const struct pc_disc_result *r);

/*
 * Sends one probe for @hashes (1..PC_DISC_MAX_HASHES, copied) and calls
 * @done once: at the first answer with a "have" bit for hashes[0] (the id
 * the caller waits for; the others ride along), when every id is
 * covered, when every static peer answered, or after @timeout_ms; or on
 * the next loop iteration when the subnet is presumed empty (the probe
 * still goes out; an answer to it ends the presumption).  0, or -EINVAL,
 * -EBUSY (64 asks pending), -ECANCELED (closing), -ENOMEM; @done never
 * runs then.
 */
int pc_disc_ask(struct pc_disc *d, const struct pc_hash *hashes, size_t n,
		unsigned timeout_ms, pc_disc_ask_done done, void *arg);

/* ---- subnet-wide single flight ------------------------------------------- */

#define PC_DISC_WON (-1)

struct pc_disc_claim_result {
	int status;  /* 0, or -ECANCELED (closing) */
	bool waited; /* false: decided without a claim window */
	size_t n;
	const struct pc_hash *hashes; /* as claimed */
	size_t npeers;
	struct pc_disc_peer peers[PC_DISC_MAX_PEERS];
	/* PC_DISC_WON: this node fetches hashes[i] from the mirror (and must
	 * pc_disc_release() it afterwards); otherwise the index in peers[] of
	 * the neighbour that does: wait for it, bounded. */
	int winner[PC_DISC_MAX_HASHES];
};

typedef void (*pc_disc_claim_done)(void *arg,
				   const struct pc_disc_claim_result *r);

/*
 * Announces that this node is about to fetch @hashes (1..64, copied) from
 * a mirror, listens for the claim window and calls @done once with the
 * verdict per id (docs/PROTOCOL.md: lowest (address, port) wins; a claim
 * heard before ours wins outright).  Ids this node already claims are
 * reported won.  Won ids are answered as "fetching" until released or
 * expired.  Errors as for pc_disc_ask().
 */
int pc_disc_claim(struct pc_disc *d, const struct pc_hash *hashes, size_t n,
		  pc_disc_claim_done done, void *arg);
/* True if @peer holds a live claim on @hash that an answer of its own to
 * a probe of ours confirmed ("fetching" or "have" for it). */
bool pc_disc_claim_confirmed(struct pc_disc *d, const struct pc_hash *hash,
			     const struct pc_disc_peer *peer);
/* This node's download of @hashes ended (either way): drops its claims
 * and tells the neighbours.  Ids it does not claim are ignored. */
void pc_disc_release(struct pc_disc *d, const struct pc_hash *hashes, size_t n);
/* Reads and handles what the socket holds now, so that a deadline about
 * to be judged (after a stall of the loop, its timer may run before the
 * socket is read) sees the packets that arrived before it.  Callbacks may
 * run from inside.  NULL is a no-op. */
void pc_disc_drain(struct pc_disc *d);

/* ---- statistics ---------------------------------------------------------- */

struct pc_disc_counters {
	uint64_t rx_packets; /* datagrams received */
	uint64_t rx_errors;  /* receive errors */
	/* Dropped, one counter per packet (docs/PROTOCOL.md, in order): */
	uint64_t denied;
	uint64_t truncated;
	uint64_t oversized;
	uint64_t malformed;
	uint64_t version;
	uint64_t bad_tag;
	uint64_t rate_limited;
	uint64_t rate_limited_unproven; /* of them, from unproven sources */
	uint64_t own; /* our own broadcast/multicast coming back */
	/* Responder: */
	uint64_t probes_received;
	uint64_t probes_silent; /* nothing to say */
	uint64_t answers_sent;
	/* Queue full (16 of its 64 slots are kept for proven sources), the
	 * send queue half full for an unproven source, or a send error. */
	uint64_t answers_dropped;
	/* Requester: */
	uint64_t asks;
	uint64_t asks_fast; /* presumed-empty subnet: no wait */
	uint64_t probes_sent;
	uint64_t answers_received;
	uint64_t answers_late;	    /* for an ask that already reported */
	uint64_t answers_unmatched; /* no such txid */
	uint64_t tx_errors;	    /* datagrams the kernel refused */
	/* Claims: */
	uint64_t claims_sent;
	uint64_t claims_received;
	uint64_t releases_sent;
	uint64_t releases_received;
	uint64_t claims_won;
	uint64_t claims_lost;
	/* From neighbours not believed (opts.believe): */
	uint64_t answers_ignored;
	uint64_t claims_ignored;
	/* "fetching" bits from a neighbour whose claim on the id was not
	 * heard: ignored. */
	uint64_t fetching_unclaimed;
};

void pc_disc_get_counters(const struct pc_disc *d,
			  struct pc_disc_counters *out);
/* True while no neighbour answered the last silent_asks asks. */
bool pc_disc_presumed_empty(const struct pc_disc *d);

#endif /* PC_NET_DISCOVERY_H */
