/*
 * disc_ask.c - asking: one probe per ask, and what the answers say.  The
 * ask reports at the first useful answer, when every id is covered, when
 * every static peer answered, or at its timeout; it believes only
 * neighbours whose word still counts and a "fetching" only with a claim
 * behind it, and says which claims their senders did not confirm when
 * asked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disc_internal.h"

/* ---- the requester ------------------------------------------------------- */

/*
 * Folds neighbours' live claims into the result as "fetching".  A claim
 * its sender has not confirmed by an answer is marked so; and unanswered
 * if it was heard before this probe went out, the ask ran its whole time
 * (@full), and its sender claimed the id again meanwhile instead of
 * answering: it heard the probe and did not say "fetching", which a node
 * that fetches an id does (docs/PROTOCOL.md, "A neighbour's word").  A
 * sender merely slow to answer (a busy host) is not marked.
 */
static void add_heard_claims(struct pc_disc *d, struct ask *ask, uint64_t now,
			     bool full)
{
	struct pc_disc_result *r = &ask->result;
	struct heard_claim *c;
	uint32_t bit;
	int p;

	for (size_t i = 0; i < r->n; i++) {
		c = disc_heard_find(d, &ask->hashes[i], NULL, now);
		if (!c ||
		    (p = disc_peer_slot(r->peers, &r->npeers, &c->peer)) < 0)
			continue;
		bit = 1u << p;
		if ((r->have[i] | r->fetching[i]) & bit)
			continue; /* it answered for it: confirmed */
		r->fetching[i] |= bit;
		if (c->confirmed)
			continue;
		r->unconfirmed[i] |= bit;
		if (full && c->heard_seq <= ask->claims_seq &&
		    c->said_seq > ask->claims_seq)
			r->unanswered[i] |= bit;
	}
}

/* Takes @ask out of the table, reports it and frees it. */
void disc_finish_ask(struct pc_disc *d, size_t slot, int status)
{
	struct ask *ask = d->asks[slot];
	uint64_t now = uv_now(d->loop);

	d->asks[slot] = NULL;
	ask->result.status = status;
	if (status == 0) {
		add_heard_claims(d, ask, now,
				 ask->result.waited && now >= ask->deadline);
		if (ask->result.waited && ask->result.answers == 0 &&
		    now >= ask->deadline)
			disc_ask_silent(d);
	}
	ask->done(ask->arg, &ask->result);
	free(ask);
}

static bool ask_complete(const struct pc_disc *d, const struct ask *ask,
			 bool useful)
{
	const struct pc_disc_result *r = &ask->result;
	size_t expected = disc_expected_peers(d);
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

/* The ask an answer belongs to, or -1: an answer to no ask in progress
 * (late, or never asked) or with another count is counted and dropped. */
static int answer_slot(struct pc_disc *d, const struct packet *pkt,
		       const struct disc_endpoint *from)
{
	const struct sent_txid *sent;
	int slot = find_ask(d, pkt->txid);

	if (slot >= 0 && d->asks[slot]->result.n != pkt->count) {
		d->ctr.answers_unmatched++; /* not an answer to that probe */
		return -1;
	}
	if (slot < 0) {
		sent = disc_sent_find(d, pkt->txid);
		if (sent && sent->type == MSG_PROBE) {
			d->ctr.answers_late++; /* somebody is out there */
			disc_peer_alive(d, from);
		} else {
			d->ctr.answers_unmatched++;
		}
	}
	return slot;
}

void disc_handle_answer(struct pc_disc *d, const struct packet *pkt,
			const struct disc_endpoint *from)
{
	struct pc_disc_peer peer = { .addr = from->addr,
				     .udp_port = from->port,
				     .http_port = pkt->http_port };
	const uint8_t *have = pkt->body;
	const uint8_t *fetching = have + bitmap_len(pkt->count);
	struct pc_disc_result *r;
	struct ask *ask;
	bool useful = false;
	int slot = answer_slot(d, pkt, from), p;
	uint64_t now = uv_now(d->loop);

	if (slot < 0)
		return;
	ask = d->asks[slot];
	d->ctr.answers_received++;
	disc_peer_alive(d, from);
	if (!disc_believed(d, &peer)) {
		d->ctr.answers_ignored++; /* what a liar says counts for nothing */
		return;
	}
	r = &ask->result;
	r->answers++;
	p = disc_peer_slot(r->peers, &r->npeers, &peer);
	/* Useful: it has the first id, the one the asker waits for (the
	 * others ride along for later fetches and must not cut the wait
	 * for the first short). */
	useful = bit_get(have, 0);
	for (size_t i = 0; i < pkt->count && p >= 0; i++) {
		struct heard_claim *c;

		if (!bit_get(have, i) && !bit_get(fetching, i))
			continue;
		/* Its claim on the id, if any, is confirmed: it says so. */
		c = disc_heard_find(d, &ask->hashes[i], &peer, now);
		if (c)
			c->confirmed = true;
		if (bit_get(have, i))
			r->have[i] |= 1u << p;
		/* A node claims what it fetches, and its claim comes before
		 * its "fetching": a "fetching" without a claim heard is worth
		 * no wait (and ends no ask). */
		else if (c)
			r->fetching[i] |= 1u << p;
		else
			d->ctr.fetching_unclaimed++;
	}
	if (ask_complete(d, ask, useful)) {
		disc_finish_ask(d, (size_t)slot, 0);
		disc_arm(d);
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
	wait = !disc_presumed_empty(d) ||
	       (d->opts.recheck_ms &&
		(!d->waited_once ||
		 now - d->last_wait_at >= d->opts.recheck_ms));
	if (wait) {
		d->last_wait_at = now;
		d->waited_once = true;
	} else {
		d->ctr.asks_fast++;
	}
	ask->txid = disc_random_txid(d);
	ask->deadline = wait ? now + timeout_ms : now;
	ask->seq = d->tick_seq;
	ask->claims_seq = d->claims_seq;
	ask->done = done;
	ask->arg = arg;
	memcpy(ask->hashes, hashes, n * sizeof(*hashes));
	ask->result.waited = wait;
	ask->result.n = n;
	ask->result.hashes = ask->hashes;
	d->asks[slot] = ask;
	d->ctr.asks++;

	disc_header_write(d, d->txbuf, MSG_PROBE, n, ask->txid);
	memcpy(d->txbuf + HDR_LEN, hashes, n * ID_LEN);
	disc_send_all(d, HDR_LEN + n * ID_LEN, ask->txid, MSG_PROBE);
	d->ctr.probes_sent++;
	disc_arm(d);
	return 0;
}
