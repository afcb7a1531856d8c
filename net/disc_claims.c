/*
 * disc_claims.c - one mirror download per subnet.  A node about to go to
 * the mirror announces a CLAIM and listens for a short window; the
 * lowest (address, port) wins a tie and a claim heard before ours wins
 * outright.  Won ids are answered as "fetching" until RELEASE or expiry.
 * Two fixed tables: the ids this node claims, and the claims heard from
 * neighbours (the lowest-ranking live ones per id).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disc_internal.h"

/* ---- claims: the tables -------------------------------------------------- */

struct own_claim *disc_own_find(struct pc_disc *d, const struct pc_hash *h,
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

bool disc_believed(struct pc_disc *d, const struct pc_disc_peer *peer)
{
	return !d->opts.believe || d->opts.believe(d->opts.cb_arg, peer);
}

/* @peer's claims count even before it confirms them. */
static bool claims_believed(struct pc_disc *d, const struct pc_disc_peer *peer)
{
	return !d->opts.believe_claims ||
	       d->opts.believe_claims(d->opts.cb_arg, peer);
}

/* The live claim on @h by @peer, or (@peer NULL) the lowest-ranking live
 * claim on @h by a neighbour still believed (and, if its claims are
 * doubted, that it confirmed); NULL if none. */
struct heard_claim *disc_heard_find(struct pc_disc *d, const struct pc_hash *h,
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
		if (peer ? !same_peer(&c->peer, peer)
			 : !disc_believed(d, &c->peer) ||
				    (!c->confirmed &&
				     !claims_believed(d, &c->peer)))
			continue;
		if (!best || rank_cmp(&c->peer, &best->peer) < 0)
			best = c;
	}
	return best;
}

/*
 * Remembers @peer's claim on @h.  Up to HEARD_PER_ID claimers per id are
 * kept, the lowest-ranking ones: a neighbour that is believed now may
 * turn out to be a liar, and the claim of the honest one behind it must
 * still be known then.  Each claim keeps the order in which it was first
 * and last heard, so that an ask can tell whether its sender was asked
 * about it and said it again instead of answering (disc_ask.c).
 */
static void heard_add(struct pc_disc *d, const struct pc_hash *h,
		      const struct pc_disc_peer *peer, uint64_t now)
{
	struct heard_claim *slot = NULL, *highest = NULL;
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
		if (!highest || rank_cmp(&c->peer, &highest->peer) > 0)
			highest = c;
	}
	if (claimers >= HEARD_PER_ID) {
		if (rank_cmp(&highest->peer, peer) < 0)
			return; /* ranks above every claim kept */
		slot = highest;
	}
	if (slot->used && pc_hash_equal(&slot->hash, h) &&
	    same_peer(&slot->peer, peer)) {
		/* A claim said again: when it was first heard, and whether
		 * its sender confirmed it, still hold. */
		slot->expires = now + d->opts.claim_ttl_ms;
		slot->said_seq = ++d->claims_seq;
		slot->peer = *peer;
		return;
	}
	d->claims_seq++;
	*slot = (struct heard_claim){ .used = true,
				      .heard_seq = d->claims_seq,
				      .said_seq = d->claims_seq,
				      .expires = now + d->opts.claim_ttl_ms,
				      .peer = *peer,
				      .hash = *h };
}

bool pc_disc_claim_confirmed(struct pc_disc *d, const struct pc_hash *hash,
			     const struct pc_disc_peer *peer)
{
	struct heard_claim *c = disc_heard_find(d, hash, peer, uv_now(d->loop));

	return c && c->confirmed;
}

/* Our rank as @peer sees it: the source address toward it (of its
 * family: a dual-stack neighbour compares IPv4 with IPv4), our port. */
static struct pc_disc_peer own_rank_toward(const struct pc_disc *d,
					   const struct disc_endpoint *peer)
{
	struct pc_disc_peer own = { .addr = d->bound, .udp_port = d->port };
	union pc_sockaddr to, local;
	socklen_t tolen, len = sizeof(local);
	int fd;

	if (d->bound_any && pc_addr_to_sockaddr(&peer->addr, peer->port,
						d->family, &to, &tolen) == 0) {
		/* connect() on a UDP socket only asks the routing table. */
		fd = socket(d->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, &to.sa, tolen) == 0 &&
		    getsockname(fd, &local.sa, &len) == 0)
			pc_addr_from_sockaddr(&own.addr, &local.sa, NULL);
		if (fd >= 0)
			close(fd);
	}
	return own;
}

/* ---- claims -------------------------------------------------------------- */

void disc_finish_call(struct pc_disc *d, size_t slot, int status)
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
	int p = disc_peer_slot(r->peers, &r->npeers, peer);

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

void disc_handle_claim(struct pc_disc *d, const struct packet *pkt,
		       const struct disc_endpoint *from, uint64_t now)
{
	struct pc_disc_peer peer = { .addr = from->addr,
				     .udp_port = from->port,
				     .http_port = pkt->http_port };
	struct pc_disc_peer ours;
	bool ours_known = false;
	struct own_claim *c;

	d->ctr.claims_received++;
	if (!disc_believed(d, &peer)) {
		d->ctr.claims_ignored++; /* a liar's claim holds nobody */
		return;
	}
	for (size_t i = 0; i < pkt->count; i++) {
		const struct pc_hash *h =
			(const struct pc_hash *)(pkt->body + i * ID_LEN);

		c = disc_own_find(d, h, now);
		if (c && claims_believed(d, &peer)) {
			if (!ours_known) {
				ours = own_rank_toward(d, from);
				ours_known = true;
			}
			if (rank_cmp(&peer, &ours) > 0)
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
			disc_finish_call(d, slot, 0);
	disc_arm(d);
}

void disc_handle_release(struct pc_disc *d, const struct packet *pkt,
			 const struct disc_endpoint *from, uint64_t now)
{
	struct pc_disc_peer peer = { .addr = from->addr,
				     .udp_port = from->port,
				     .http_port = pkt->http_port };
	struct heard_claim *c;

	d->ctr.releases_received++;
	for (size_t i = 0; i < pkt->count && !d->closing; i++) {
		const struct pc_hash *h =
			(const struct pc_hash *)(pkt->body + i * ID_LEN);

		c = disc_heard_find(d, h, &peer, now);
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
	disc_drain(d);
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
		heard = disc_heard_find(d, &hashes[i], NULL, now);
		if (heard) { /* claimed before we asked: it wins outright */
			r->winner[i] = disc_peer_slot(r->peers, &r->npeers,
						      &heard->peer);
			if (r->winner[i] < 0)
				r->winner[i] = 0;
			continue;
		}
		if (disc_own_find(d, &hashes[i], now))
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
	r->waited = nsend && d->opts.claim_window_ms && !disc_presumed_empty(d);
	call->deadline = r->waited ? now + d->opts.claim_window_ms : now;
	d->calls[slot] = call;
	if (nsend) {
		txid = disc_random_txid(d);
		disc_header_write(d, d->txbuf, MSG_CLAIM, nsend, txid);
		disc_send_all(d, HDR_LEN + nsend * ID_LEN, txid, MSG_CLAIM);
		d->ctr.claims_sent++;
	}
	disc_arm(d);
	return 0;
}

void pc_disc_release(struct pc_disc *d, const struct pc_hash *hashes, size_t n)
{
	uint64_t now = uv_now(d->loop);
	struct own_claim *c;
	size_t nsend = 0;
	uint32_t txid;

	for (size_t i = 0; i < n && i < PC_DISC_MAX_HASHES; i++) {
		c = disc_own_find(d, &hashes[i], now);
		if (!c || c->call)
			continue; /* not ours, or still undecided */
		c->used = false;
		memcpy(d->txbuf + HDR_LEN + nsend++ * ID_LEN, &hashes[i],
		       ID_LEN);
	}
	if (nsend == 0)
		return;
	txid = disc_random_txid(d);
	disc_header_write(d, d->txbuf, MSG_RELEASE, nsend, txid);
	disc_send_all(d, HDR_LEN + nsend * ID_LEN, txid, MSG_RELEASE);
	d->ctr.releases_sent++;
}

/* At close: tell the neighbours not to wait for us. */
void disc_release_all(struct pc_disc *d)
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
