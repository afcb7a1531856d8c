/*
 * disc_respond.c - answers to the neighbours' probes: from the local store
 * (and what this node fetches now), after a small random delay, only to
 * sources the ACL allows and the budget admits, and never with more bytes
 * than the probe had.  A probe about nothing we have gets no answer.
 */
#include <string.h>

#include "disc_internal.h"

/* ---- the responder ------------------------------------------------------- */

static bool fetching_now(struct pc_disc *d, const struct pc_hash *h,
			 uint64_t now)
{
	return disc_own_find(d, h, now) ||
	       (d->opts.fetching && d->opts.fetching(d->opts.cb_arg, h));
}

void disc_handle_probe(struct pc_disc *d, const struct packet *pkt,
		       const struct disc_endpoint *from, uint64_t now,
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
		disc_log_drops(d, &from->addr, now);
		return;
	}
	disc_header_write(d, slot->bytes, MSG_ANSWER, pkt->count, pkt->txid);
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
	len = disc_seal(d, slot->bytes, HDR_LEN + 2 * maplen);
	if (len == 0 || len > pkt->len) {
		d->ctr.answers_dropped++; /* never larger than the probe */
		return;
	}
	jitter = d->opts.jitter_min_ms;
	if (d->opts.jitter_max_ms > jitter)
		jitter += (unsigned)(disc_prng_next(d) %
				     (d->opts.jitter_max_ms - jitter + 1));
	slot->used = true;
	slot->proven = proven;
	slot->len = len;
	slot->to = *from;
	slot->deadline = now + jitter;
}

void disc_send_due_answers(struct pc_disc *d, uint64_t now)
{
	for (size_t i = 0; i < MAX_ANSWERS; i++) {
		struct pending_answer *a = &d->answers[i];

		if (!a->used || a->deadline > now)
			continue;
		a->used = false;
		if ((a->proven || !disc_send_queue_crowded(d)) &&
		    disc_send_one(d, a->bytes, a->len, &a->to)) {
			d->ctr.answers_sent++;
		} else {
			d->ctr.answers_dropped++;
			disc_log_drops(d, &a->to.addr, now);
		}
	}
}
