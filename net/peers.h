/*
 * peers.h - the LAN peers: the table of neighbours and what they are
 * worth (peers.c, peer_trust.c), discovery and the peer server they run
 * on, and the peer source of every fetch (peer_source.c).
 */
#ifndef PC_NET_PEERS_H
#define PC_NET_PEERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "acl.h"
#include "discovery.h"
#include "peer_server.h"
#include "pc_net.h"

struct net_fetch;

/* ---- LAN peers (peers.c, peer_source.c) ---------------------------------- */

/* How long a peer stays known after its last packet. */
#define NET_PEER_FORGET_S 3600
#define NET_PEER_TABLE 256

/* One line per address (peers.c), guarded by net_peers.lock. */
struct net_peer {
	struct pc_addr addr;
	uint16_t http_port;	       /* the last one it announced */
	int64_t first_seen, last_seen; /* unix time */
	uint64_t chunks, bytes;	       /* fetched from it */
	uint64_t bad;		       /* wrong bytes it sent */
	uint64_t failures;	       /* timeouts, refused connections */
	int64_t banned_until;	       /* unix time; 0: never banned */
	char reason[160];	       /* why the last ban */
	uint64_t skip_until;	       /* uv_now() ms: it just failed */
	uint64_t failure_logged_at;    /* uv_now() ms */
	unsigned inflight;	       /* GETs from it now */
	uint64_t kept, broken;	       /* promises (peer_trust.c) */
	uint64_t doubted_until;	       /* uv_now() ms: its word is not taken */
	int64_t doubted_until_unix;    /* the same, unix time, for the admin */
	uint64_t waits;		       /* fetches that waited for its word */
	char broke[160];	       /* the last broken promise */
	/* Its claims count only once it confirms them (peer_trust.c): it
	 * said a claim again instead of answering a probe for it, which
	 * a forged source address can make it seem to do. */
	uint64_t claims_doubted_until; /* uv_now() ms */
	int64_t claims_doubted_until_unix;
	char claims_why[160];
};

/* What a line of the table is worth keeping, least first (peers.c). */
enum net_peer_worth {
	NET_PEER_HEARD,	    /* only heard */
	NET_PEER_KNOWN,	    /* failed, broke a promise, or a GET runs */
	NET_PEER_DELIVERED, /* delivered verified chunks */
	NET_PEER_BANNED,    /* a ban in force */
};

/* Who released a claim on a chunk lately (it fetched it, so it most
 * likely has it): direct-mapped by hash, loop thread only. */
#define NET_RELEASED_SLOTS 1024
struct net_released {
	struct pc_hash hash;
	struct pc_disc_peer peer;
	uint64_t at; /* uv_now() ms; 0: empty */
};

struct net_peers {
	struct pc_disc *disc; /* NULL: discovery off */
	struct net_released released[NET_RELEASED_SLOTS];
	uint64_t claim_ms;    /* own downloads after a won claim: average */
	uint64_t liars_at[2]; /* uv_now() of the last two unknown liars */
	uint64_t claim_liars_at[2];    /* ... whose claims were doubted */
	struct pc_peer_server *server; /* NULL: peer server off */
	struct pc_acl acl;	       /* who may talk to us */
	uint16_t http_port;	       /* advertised; 0: no server */
	pthread_mutex_t lock;	       /* guards table and npeers */
	struct net_peer table[NET_PEER_TABLE];
	size_t npeers;
	char head_path[4096]; /* CACHE_DIR/head, served at /head */
};

/* Before the loop runs: ACL, peer server, discovery.  0 or -errno with
 * @err set. */
int net_peers_init(struct pc_net *net, char *err, size_t errlen);
/* Loop thread, shutting down: closes discovery (its handles). */
void net_peers_shutdown(struct pc_net *net);
/* After the loop thread ended: stops the peer server. */
void net_peers_free(struct pc_net *net);
/* Loop thread: a peer was heard (any valid packet). */
void net_peer_seen(struct pc_net *net, const struct pc_disc_peer *peer);
/* Runs @fn under the table's lock on the line of @peer's address (made
 * if needed, for a record worth @want: see peers.c); not at all when the
 * table keeps only lines worth more. */
void net_peer_update(struct pc_net *net, const struct pc_disc_peer *peer,
		     enum net_peer_worth want,
		     void (*fn)(struct net_peer *e, void *arg), void *arg);
/* A copy of @addr's line; false if the table has none. */
bool net_peer_lookup(struct pc_net *net, struct pc_addr addr,
		     struct net_peer *out);
/* Loop thread: verdicts on a peer after a GET.  A ban covers the address
 * (every port). */
void net_peer_credit(struct pc_net *net, const struct pc_disc_peer *peer,
		     uint64_t bytes);
void net_peer_ban(struct pc_net *net, const struct pc_disc_peer *peer,
		  const char *why);
/* A GET from @peer failed (@why: the transport's reason): skipped for a
 * few seconds. */
void net_peer_failed(struct pc_net *net, const struct pc_disc_peer *peer,
		     const char *why);
/* Usable for a GET or a wait: not banned, not doubted, not skipped after
 * a failure. */
bool net_peer_usable(struct pc_net *net, const struct pc_disc_peer *peer);
/* GETs from @peer's address running now: @delta is +1 or -1. */
void net_peer_inflight(struct pc_net *net, const struct pc_disc_peer *peer,
		       int delta);
unsigned net_peer_load(struct pc_net *net, const struct pc_disc_peer *peer);

/* A neighbour's word (peer_trust.c), loop thread.  False while it is
 * banned or doubted (or unproven while liars are about): what it says it
 * has, fetches or claims counts for nothing. */
bool net_peer_believed(struct pc_net *net, const struct pc_disc_peer *peer);
uint64_t net_peer_patience_unconfirmed(struct pc_net *net);
bool net_peer_claims_believed(struct pc_net *net,
			      const struct pc_disc_peer *peer);
void net_peer_claims_doubt(struct pc_net *net, const struct pc_disc_peer *peer,
			   const char *why);
/* True if @peer delivered verified chunks to this node. */
bool net_peer_proven(struct pc_net *net, const struct pc_disc_peer *peer);
/* A fetch begins to wait for what @peer promised (counted per peer). */
void net_peer_waited(struct pc_net *net, const struct pc_disc_peer *peer);
/* How long a fetch may wait for what @peer promised, ms; 0: not at all. */
uint64_t net_peer_patience(struct pc_net *net, const struct pc_disc_peer *peer);
/* @peer delivered verified bytes (net_peer_credit calls it). */
void net_peer_kept(struct pc_net *net, const struct pc_disc_peer *peer);
/* @peer did not deliver what it promised (@why, for the log): doubted for
 * a while, and every fetch waiting for it looks again at once. */
void net_peer_broke(struct pc_net *net, const struct pc_disc_peer *peer,
		    const char *why);
/* This node's download of a chunk it claimed took @ms. */
void net_peer_claim_took(struct pc_net *net, uint64_t ms);
/* Loop thread: the neighbour that last released a claim on @hash within
 * @max_age_ms, if any. */
bool net_peer_released_by(struct pc_net *net, const struct pc_hash *hash,
			  uint64_t max_age_ms, struct pc_disc_peer *out);
/* Up to @max peers heard lately, most recent first, for asking the head. */
size_t net_peers_recent(struct pc_net *net, struct pc_disc_peer *out,
			size_t max);
/* Any thread: a copy of the table, for the control socket. */
size_t net_peers_snapshot(struct pc_net *net, struct net_peer *out, size_t max);
/* Writes the accepted head's bytes to CACHE_DIR/head (served to peers).
 * Any thread. */
void net_peers_save_head(struct pc_net *net, const char *body, size_t len);

#endif /* PC_NET_PEERS_H */
