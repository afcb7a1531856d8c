/*
 * peer_trust.c - how much a neighbour's word is worth.
 *
 * A neighbour that says "I am fetching this chunk" (in an answer, or by
 * winning a claim) makes the asker wait for it instead of going to the
 * mirror: that is how a subnet downloads each chunk once.  Nothing in the
 * word proves it, and a host without the fleet key can say it about every
 * chunk of every probe.  So a promise is a hint whose price is bounded,
 * paid once per neighbour, not once per chunk:
 *
 *   - a neighbour that delivered a verified chunk to this node is
 *     *proven*: a fetch waits for it as long as a neighbour's download
 *     can take (10 s, or half the fetch's time left), if it confirmed
 *     its claim (a claim never confirmed may be forged in its name: it
 *     earns an unknown neighbour's patience, peer_source.c);
 *   - one that never did is *unknown*: a fetch waits for it about as long
 *     as this node's own mirror downloads take (a few times the recent
 *     ones, at least PATIENCE_MIN_MS), since a neighbour fetching from
 *     the same mirror should not take much longer; and only once it
 *     confirmed its claim by answering a probe for the chunk
 *     (peer_source.c), which a node that fetches does within a few ms
 *     and a host that claims whatever it hears probed need not;
 *   - one that did not deliver what it promised (the wait ran out, it
 *     answered a GET for a chunk it said it had or fetched with anything
 *     but the chunk) is *doubted*: nothing it says is believed (its
 *     "have", "fetching" and claims are ignored, discovery included) for
 *     a while, twice as long after each broken promise (from DOUBT_MS up
 *     to peer_ban_time), and every fetch waiting for it moves on at once;
 *   - one that said a claim again instead of confirming it when asked
 *     has only its *claims doubted* for DOUBT_MS: a claim of it counts
 *     (in a claim round, or for a wait) only once it confirmed it.  That
 *     evidence is UDP from its source address, which any host of the
 *     subnet can forge without the fleet key (a claim in an honest
 *     neighbour's name, said again during the probe the neighbour leaves
 *     unanswered since it fetches nothing): so it costs the claimer
 *     nothing else, its "have" still counts and it stays a source.
 *
 * Forged source addresses could bring new unknown liars one after the
 * other; when two unknown addresses broke their word within SUSPICION_MS,
 * only proven neighbours are believed until that has passed; when two had
 * their claims doubted, only proven neighbours' claims and confirmed ones
 * count (a forger rotating addresses costs one probe per address, twice).  The honest
 * nodes keep their single flight among themselves throughout: a doubted
 * liar's claims do not count, so the next claim round is between them.
 *
 * The record lives in the peer table (peers.c, per address); the timing
 * of this node's own mirror downloads after a won claim is kept here.
 * Loop thread only.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

/* An unknown neighbour is waited for at least this long ... */
#define PATIENCE_MIN_MS 500
/* ... and this many times as long as this node's own recent downloads
 * after a won claim took (or the oldest one still running). */
#define PATIENCE_FACTOR 4
/* A proven neighbour: as long as any wait (peer_source.c's WAIT_MAX_MS). */
#define PATIENCE_PROVEN_MS 10000
/* The first doubt lasts this long; each broken promise doubles it, up to
 * peer_ban_time. */
#define DOUBT_MS 60000
/* Two unknown liars within this time: only proven neighbours count. */
#define SUSPICION_MS 600000

static bool two_within(const uint64_t at[2], uint64_t now)
{
	return at[0] && at[1] && now - at[0] < SUSPICION_MS &&
	       now - at[1] < SUSPICION_MS;
}

static bool suspicious(const struct pc_net *net, uint64_t now)
{
	return two_within(net->peers.liars_at, now);
}

bool net_peer_believed(struct pc_net *net, const struct pc_disc_peer *peer)
{
	uint64_t now = uv_now(&net->loop);
	struct net_peer e;

	if (!net_peer_lookup(net, peer->addr, &e))
		return !suspicious(net, now);
	if (e.banned_until > net_unix_now() || e.doubted_until > now)
		return false;
	return e.chunks > 0 || !suspicious(net, now);
}

bool net_peer_proven(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peer e;

	return net_peer_lookup(net, peer->addr, &e) && e.chunks > 0;
}

bool net_peer_claims_believed(struct pc_net *net,
			      const struct pc_disc_peer *peer)
{
	struct net_peer e;

	uint64_t now = uv_now(&net->loop);
	bool wary = two_within(net->peers.claim_liars_at, now);

	if (!net_peer_believed(net, peer))
		return false;
	if (!net_peer_lookup(net, peer->addr, &e))
		return !wary;
	if (e.claims_doubted_until > now)
		return false; /* proven or not: its address may be forged */
	return e.chunks > 0 || !wary;
}

struct claims_doubt {
	uint64_t now;
	const char *why;
	bool already;
};

static void claims_doubted(struct net_peer *e, void *arg)
{
	struct claims_doubt *b = arg;

	b->already = e->claims_doubted_until > b->now;
	if (b->already)
		return;
	e->claims_doubted_until = b->now + DOUBT_MS;
	e->claims_doubted_until_unix = net_unix_now() + DOUBT_MS / 1000;
	snprintf(e->claims_why, sizeof(e->claims_why), "%s", b->why);
}

void net_peer_claims_doubt(struct pc_net *net, const struct pc_disc_peer *peer,
			   const char *why)
{
	struct claims_doubt b = { .now = uv_now(&net->loop), .why = why };
	struct net_peers *p = &net->peers;
	struct pc_addr addr = peer->addr;

	net_peer_update(net, peer, NET_PEER_KNOWN, claims_doubted, &b);
	if (b.already)
		return;
	p->claim_liars_at[1] = p->claim_liars_at[0];
	p->claim_liars_at[0] = b.now;
	pc_log(PC_LOG_WARN, "net",
	       "peer %s: %s; its claims count only once it confirms them, "
	       "for %d s (a source address can be forged: nothing else it "
	       "says is doubted)%s",
	       pc_addr_str(&addr), why, DOUBT_MS / 1000,
	       two_within(p->claim_liars_at, b.now) ? " (several neighbours "
						      "did so: only claims "
						      "confirmed or of "
						      "neighbours that "
						      "delivered chunks "
						      "count now)"
						    : "");
	net_peer_src_wake(net, addr);
}

static void waited(struct net_peer *e, void *arg)
{
	(void)arg;
	e->waits++;
}

void net_peer_waited(struct pc_net *net, const struct pc_disc_peer *peer)
{
	net_peer_update(net, peer, NET_PEER_KNOWN, waited, NULL);
}

uint64_t net_peer_patience(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peer e = { 0 };

	if (!net_peer_believed(net, peer))
		return 0;
	net_peer_lookup(net, peer->addr, &e);
	if (e.chunks > 0)
		return PATIENCE_PROVEN_MS;
	return net_peer_patience_unconfirmed(net);
}

uint64_t net_peer_patience_unconfirmed(struct pc_net *net)
{
	uint64_t now = uv_now(&net->loop), oldest, patience;

	oldest = net_peer_src_oldest_claim(net, now);
	patience = PATIENCE_FACTOR * net->peers.claim_ms;
	if (patience < PATIENCE_FACTOR * (now - oldest))
		patience = PATIENCE_FACTOR * (now - oldest);
	if (patience < PATIENCE_MIN_MS)
		patience = PATIENCE_MIN_MS;
	return patience < PATIENCE_PROVEN_MS ? patience : PATIENCE_PROVEN_MS;
}

void net_peer_claim_took(struct pc_net *net, uint64_t ms)
{
	struct net_peers *p = &net->peers;

	/* A moving average that forgets in a few downloads. */
	p->claim_ms = p->claim_ms ? (3 * p->claim_ms + ms) / 4 : ms;
}

static void kept(struct net_peer *e, void *arg)
{
	(void)arg;
	e->kept++;
	e->doubted_until = 0; /* it delivers: believed again */
	e->doubted_until_unix = 0;
}

void net_peer_kept(struct pc_net *net, const struct pc_disc_peer *peer)
{
	net_peer_update(net, peer, NET_PEER_DELIVERED, kept, NULL);
}

struct broke {
	uint64_t now;
	const char *why;
	uint64_t ban_ms; /* peer_ban_time */
	uint64_t doubt_ms;
	bool proven;
	bool already; /* doubted already: a late wait on it ending */
};

static void broke(struct net_peer *e, void *arg)
{
	struct broke *b = arg;

	b->already = e->doubted_until > b->now;
	b->proven = e->chunks > 0;
	if (b->already)
		return;
	e->broken++;
	b->doubt_ms = DOUBT_MS;
	for (uint64_t i = 1; i < e->broken && b->doubt_ms < b->ban_ms; i++)
		b->doubt_ms *= 2;
	if (b->doubt_ms > b->ban_ms)
		b->doubt_ms = b->ban_ms;
	e->doubted_until = b->now + b->doubt_ms;
	e->doubted_until_unix = net_unix_now() + (int64_t)(b->doubt_ms / 1000);
	snprintf(e->broke, sizeof(e->broke), "%s", b->why);
}

void net_peer_broke(struct pc_net *net, const struct pc_disc_peer *peer,
		    const char *why)
{
	struct net_peers *p = &net->peers;
	struct broke b = { .now = uv_now(&net->loop),
			   .why = why,
			   .ban_ms = net->cfg->peer_ban_time * 1000 };
	struct pc_addr addr = peer->addr;

	if (b.ban_ms < DOUBT_MS)
		b.ban_ms = DOUBT_MS;
	net_peer_update(net, peer, NET_PEER_KNOWN, broke, &b);
	if (b.already)
		return;
	if (!b.proven) {
		p->liars_at[1] = p->liars_at[0];
		p->liars_at[0] = b.now;
	}
	pc_log(PC_LOG_WARN, "net",
	       "peer %s: %s; not waiting for it for %" PRIu64 " s%s",
	       pc_addr_str(&addr), why, b.doubt_ms / 1000,
	       suspicious(net, b.now) ? " (several unknown neighbours did not "
					"deliver: only "
					"neighbours that delivered chunks are "
					"believed now)"
				      : "");
	net_peer_src_wake(net, addr);
}
