/*
 * peer_source.c - the first source of every fetch: the LAN peers.
 *
 * An attempt at this source runs:
 *
 *   ask     one discovery probe for this chunk, the other chunks queued
 *           behind it and a sequential reader's next chunks (its
 *           lookahead, up to 64 ids in all); what the answers say about
 *           each id is kept as a hint, so that the next fetches go
 *           straight to a holder without a probe of their own (a holder
 *           that then answers 404 sends the fetch back to asking);
 *   get     a neighbour has it: GET /p2p/<hash> from it, spreading a
 *           file's chunks over the neighbours that have them, streamed
 *           into the store and verified like a mirror's bytes;
 *   wait    a neighbour is fetching it (it answered so, or it won the
 *           claim): wait for its RELEASE, bounded, looking again every
 *           second, then get it from that neighbour.  How long depends on
 *           what the neighbour's word is worth (peer_trust.c): one that
 *           never delivered anything gets about as long as this node's
 *           own downloads take; a claim is waited for only after its
 *           sender confirmed it by answering a probe for the chunk (a
 *           host that claims whatever it hears probed costs one probe,
 *           not a wait), and one never confirmed (the claimer stayed
 *           silent) earns that shorter wait even from a proven
 *           neighbour, since a claim's source address can be forged;
 *           one that does not deliver is doubted (only its claims, if
 *           it never confirmed them) and not waited for again for a
 *           while;
 *   claim   nobody has it or fetches it: claim it (docs/PROTOCOL.md).
 *           Won: go on to the mirrors, and release the claim when the
 *           fetch ends.  Lost: wait for the winner.
 *
 * Whatever fails here moves the fetch on to the mirrors: a peer is an
 * optimisation, never a dependency.  A peer that sent wrong bytes is
 * banned (peer_verdict); one that timed out is skipped for a few seconds;
 * one that answered a GET with anything but the chunk it said it had is
 * doubted.  After such a miss the fetch asks again (other
 * holders, or a claim among the honest neighbours) rather than going
 * straight to the mirror, a few times at most.  Loop thread only.
 *
 * The fetcher knows this source through its table (peer_ops) only: it
 * wakes the attempt at the time asked for (net_fetch_wake_at, peer_wake),
 * tells it the attempt's outcome (peer_verdict) and the fetch's end
 * (peer_end), and keeps its per-fetch state (struct peer_attempt).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* Knowledge from a batch ask is used for this long ... */
#define KNOWN_FRESH_MS 1000
/* ... a hint that a neighbour has a chunk for this long (a chunk stays
 * until its holder purges it; a wrong hint costs one 404) ... */
#define HINT_FRESH_MS 10000
/* ... but "nobody has it" only for this long: then a claim would be a
 * guess. */
#define NEGATIVE_FRESH_MS 100
/* A neighbour that released a claim this recently probably has it. */
#define RELEASED_FRESH_MS 60000
/* A wait for a neighbour's download looks again this often ... */
#define WAIT_SLICE_MS 1000
/* ... and ends after this long (or half the fetch's time left). */
#define WAIT_MAX_MS 10000
/* A holder at its upload limit (503) is asked again after this long, plus
 * up to as much again at random (neighbours refused at once do not come
 * back at once). */
#define BUSY_RETRY_MS 50
/* A peer GET: LAN figures, far below a mirror's. */
#define PEER_CONNECT_MS 1000
#define PEER_LOW_SPEED_S 3
#define PEER_GET_MAX_MS 15000
/* GETs of one attempt that may bring nothing before it goes to the
 * mirrors. */
#define PEER_MISSES_MAX 4
/* A claim is waited for only once its sender confirmed it (answered
 * "fetching" for the id; a proven neighbour's too, since a claim can be
 * forged in its name): an
 * attempt asks it this many times at most (a busy claimer's answer may be
 * late; only a claimer that claims the id again instead of answering is
 * judged, so a short window costs an honest one nothing but a probe). */
#define CONFIRM_ASKS_MAX 2

/* An ask or a claim in flight for a fetch's attempt. */
struct net_peer_call {
	struct pc_net *net;
	struct net_fetch *fetch; /* NULL once the attempt let go */
};

/*
 * What this source keeps per fetch (net_fetch_source_state), from the
 * fetch's start to its end: a queued fetch learns from the answer to a
 * neighbour's probe before its own attempt starts, and a claim outlives
 * the attempt that won it.
 */
struct peer_attempt {
	struct net_peer_knowledge known;
	bool asking;		    /* in a discovery ask now */
	bool peer_waiting_ask;	    /* its attempt waits for that ask */
	struct net_peer_call *call; /* ask or claim of its attempt */
	bool claimed;		    /* won a claim: release when done */
	uint64_t wait_end;	    /* when to stop waiting for good */
	struct pc_disc_peer peer;   /* asked (GET) or waited for */
	bool peer_getting;	    /* a GET from @peer is running */
	bool tried_released;	    /* asked the last releaser directly */
	bool from_hint;	     /* @known came from a hint: a 404 asks again */
	uint64_t wait_start; /* when the wait for @peer began */
	bool retry_busy;     /* @busy_peer answered 503: it has the chunk */
	bool get_on_hunch;   /* the GET was not asked for by a promise */
	struct pc_disc_peer busy_peer;
	uint64_t claimed_at;   /* when the claim was won (uv_now() ms) */
	unsigned peer_misses;  /* GETs of this attempt that brought nothing */
	unsigned confirm_asks; /* asks for a claimer's confirmation */
	bool confirming;       /* its own ask in flight is one of them */
	bool wait_unconfirmed; /* the wait is for a claim never confirmed */
};

static struct peer_attempt *attempt(const struct net_fetch *f)
{
	return net_fetch_source_state(f, f->net->peer_src.source);
}

static int decide(struct pc_net *net, struct net_fetch *f);

static uint64_t time_left(struct pc_net *net, const struct net_fetch *f)
{
	uint64_t now = uv_now(&net->loop);

	return f->deadline > now ? f->deadline - now : 0;
}

/* Nothing more to expect from peers for this attempt: next source. */
static void give_up(struct pc_net *net, struct net_fetch *f, const char *why)
{
	struct peer_attempt *a = attempt(f);

	pc_log(PC_LOG_DEBUG, "net", "chunk %s: peers: %s, on to the mirrors",
	       f->hex, why);
	a->wait_end = 0;
	net_fetch_wake_at(net, f, 0);
	net_fetch_attempt_done(net, f, NET_ATTEMPT_FAILED);
}

static struct net_peer_call *call_new(struct pc_net *net, struct net_fetch *f)
{
	struct net_peer_call *call = calloc(1, sizeof(*call));

	if (call) {
		call->net = net;
		call->fetch = f;
	}
	return call;
}

/* ---- get ------------------------------------------------------------------- */

static bool peer_on_data(struct net_xfer *xfer, const void *buf, size_t len)
{
	return net_chunk_xfer_ops.data(xfer, buf, len);
}

static int ask(struct pc_net *net, struct net_fetch *f);
static void hint_drop(struct pc_net *net, const struct pc_hash *hash);

/* Decide again from a fresh ask (after a neighbour did not deliver):
 * other holders, another claim round, or the mirror. */
static void restart(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);

	a->wait_end = 0;
	a->wait_start = 0;
	a->from_hint = false;
	memset(&a->known, 0, sizeof(a->known));
	net_fetch_wake_at(net, f, 0);
	if (ask(net, f) < 0)
		give_up(net, f, "cannot ask again");
}

/* The GET of @f's attempt ended without a body to keep: forget it. */
static void get_dropped(struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);

	a->peer_getting = false;
	f->xfer = NULL; /* freed by curl_uv.c when the callback returns */
	net_chunk_drop_body(f);
}

/*
 * The holder is at its upload limit (503): look again shortly, bounded
 * like a wait for a neighbour's download, rather than go to the mirror
 * (in a subnet of many nodes reading one file, the first holders are
 * busy, and each refusal would be one more mirror download).  The next
 * look asks the subnet again and takes the least busy holder.
 */
static void busy_retry(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);
	uint64_t now = uv_now(&net->loop), bound = time_left(net, f) / 2;
	uint64_t delay = BUSY_RETRY_MS + uv_hrtime() / 1000 % BUSY_RETRY_MS;

	if (bound > WAIT_MAX_MS)
		bound = WAIT_MAX_MS;
	if (!a->wait_end)
		a->wait_end = now + bound;
	if (now + delay >= a->wait_end) {
		give_up(net, f, "the neighbours stayed busy");
		return;
	}
	net->peer_src.busy_retries++;
	a->retry_busy = true;
	a->busy_peer = a->peer;
	a->from_hint = false;
	a->wait_start = 0; /* a pause, not a wait for a promise */
	net_fetch_wake_at(net, f, now + delay);
}

/* The GET brought nothing: say why, and decide again (a few times). */
static void get_missed(struct pc_net *net, struct net_fetch *f,
		       const struct net_xfer_result *res)
{
	struct peer_attempt *a = attempt(f);
	char why[160];

	get_dropped(f);
	if (res->err) {
		net_peer_failed(net, &a->peer, res->message);
	} else if (a->from_hint && res->status == 404) {
		/* The hint was stale (the holder purged it): ask once. */
		pc_log(PC_LOG_DEBUG, "net",
		       "chunk %s: peer %s no longer has it", f->hex,
		       pc_addr_str(&a->peer.addr));
		hint_drop(net, &f->hash);
		net->peer_src.hints_stale++;
	} else if (a->get_on_hunch && res->status == 404) {
		/* Asked on a hunch (it released a claim, or it was busy a
		 * moment ago and may have purged the chunk since): it had
		 * promised nothing. */
	} else {
		snprintf(why, sizeof(why),
			 "answered HTTP %ld for chunk %.16s... that it said it "
			 "had or was fetching",
			 res->status, f->hex);
		net_peer_broke(net, &a->peer, why);
	}
	if (++a->peer_misses >= PEER_MISSES_MAX) {
		give_up(net, f, "the neighbours asked did not deliver");
		return;
	}
	restart(net, f);
}

static void peer_on_done(struct net_xfer *xfer,
			 const struct net_xfer_result *res)
{
	struct net_fetch *f = xfer->ctx;
	struct peer_attempt *a = attempt(f);
	struct pc_net *net = f->net;

	net_peer_inflight(net, &a->peer, -1);
	if ((!res->err && res->status == 200) || f->too_long || f->store_err) {
		/* A body, or bytes that were wrong or could not be stored:
		 * the outcome (and the ban or credit) comes via
		 * attempt_done. */
		net_chunk_xfer_ops.done(xfer, res);
		return;
	}
	if (!res->err && res->status == 503) {
		pc_log(PC_LOG_DEBUG, "net", "chunk %s: peer %s is busy", f->hex,
		       pc_addr_str(&a->peer.addr));
		get_dropped(f);
		busy_retry(net, f);
		return;
	}
	get_missed(net, f, res);
}

static const struct net_xfer_ops peer_xfer_ops = {
	.data = peer_on_data,
	.done = peer_on_done,
};

static int get(struct pc_net *net, struct net_fetch *f,
	       const struct pc_disc_peer *peer)
{
	struct peer_attempt *a = attempt(f);
	uint64_t left = time_left(net, f);
	struct net_xfer_opts opts = {
		.scheme = "http",
		.timeout_ms = left < PEER_GET_MAX_MS ? left : PEER_GET_MAX_MS,
		.connect_timeout_ms = PEER_CONNECT_MS,
		.low_speed_time_s = PEER_LOW_SPEED_S,
		.direct = true,
		.no_redirect = true, /* a peer may not send us elsewhere */
	};
	char url[160], host[PC_ADDR_HOST_MAX];
	int rc;

	pc_addr_url_host(&peer->addr, host, sizeof(host));
	snprintf(url, sizeof(url), "http://%s:%u/p2p/%s", host, peer->http_port,
		 f->hex);
	opts.url = url;
	net_chunk_reset(f);
	a->peer = *peer;
	f->xfer = net_xfer_start(net, &opts, &peer_xfer_ops, f, &rc);
	if (!f->xfer)
		return -ENOENT;
	a->peer_getting = true;
	a->get_on_hunch = false;
	a->wait_start = 0;
	net_peer_inflight(net, peer, 1);
	pc_log(PC_LOG_DEBUG, "net", "chunk %s: asking peer %s:%u", f->hex,
	       pc_addr_str(&peer->addr), peer->http_port);
	return 0;
}

/* Of the neighbours that have @f's chunk, the least busy one; ties go by
 * the chunk's hash, so that a file's chunks spread over them. */
static bool pick(struct pc_net *net, const struct net_fetch *f,
		 struct pc_disc_peer *out)
{
	struct peer_attempt *a = attempt(f);
	const struct net_peer_knowledge *k = &a->known;
	unsigned best = ~0u;
	size_t start, n = k->nhave;
	bool found = false;

	if (n == 0)
		return false;
	start = f->hash.bytes[2] % n;
	for (size_t j = 0; j < n; j++) {
		const struct pc_disc_peer *p = &k->have[(start + j) % n];
		unsigned load;

		if (!net_peer_usable(net, p))
			continue;
		load = net_peer_load(net, p);
		if (load < best) {
			best = load;
			*out = *p;
			found = true;
		}
	}
	return found;
}

/* ---- hints ----------------------------------------------------------------- */

/* The ways @hash may live in. */
static struct net_hint *hint_set(struct pc_net *net, const struct pc_hash *hash)
{
	size_t set = ((size_t)hash->bytes[0] | (size_t)hash->bytes[1] << 8) %
		     NET_HINT_SETS;

	return net->peer_src.hints[set];
}

/* The entry on @hash, or NULL. */
static struct net_hint *hint_lookup(struct pc_net *net,
				    const struct pc_hash *hash)
{
	struct net_hint *ways = hint_set(net, hash);

	for (size_t w = 0; w < NET_HINT_WAYS; w++)
		if (ways[w].at && pc_hash_equal(&ways[w].hash, hash))
			return &ways[w];
	return NULL;
}

/* A fresh entry for @hash: its own, else an empty or the oldest one of
 * its set (two ways: a 64-id lookahead rarely evicts its own ids). */
static struct net_hint *hint_insert(struct pc_net *net,
				    const struct pc_hash *hash)
{
	struct net_hint *ways = hint_set(net, hash),
			*h = hint_lookup(net, hash);

	if (!h) {
		h = &ways[0];
		for (size_t w = 1; w < NET_HINT_WAYS && h->at; w++)
			if (!ways[w].at || ways[w].at < h->at)
				h = &ways[w];
	}
	memset(h, 0, sizeof(*h));
	h->hash = *hash;
	h->at = uv_now(&net->loop);
	if (h->at == 0)
		h->at = 1;
	return h;
}

/* The entry on @hash if it names holders and is fresh, else NULL. */
static const struct net_hint *hint_find(struct pc_net *net,
					const struct pc_hash *hash)
{
	const struct net_hint *h = hint_lookup(net, hash);

	if (!h || h->nhave == 0 || uv_now(&net->loop) - h->at >= HINT_FRESH_MS)
		return NULL;
	return h;
}

static void hint_drop(struct pc_net *net, const struct pc_hash *hash)
{
	struct net_hint *h = hint_lookup(net, hash);

	if (h)
		memset(h, 0, sizeof(*h));
}

/* True while an ask in flight carries @hash in its lookahead. */
static bool hint_asking(struct pc_net *net, const struct pc_hash *hash)
{
	const struct net_hint *h = hint_lookup(net, hash);

	return h && h->asking;
}

/* Remembers who has r->hashes[i], if anybody said so; ends its "asking". */
static void hint_learn(struct pc_net *net, const struct pc_disc_result *r,
		       size_t i)
{
	struct net_hint *h;

	if (r->status < 0 || !r->have[i]) {
		h = hint_lookup(net, &r->hashes[i]);
		if (h && h->asking)
			memset(h, 0, sizeof(*h));
		return;
	}
	h = hint_insert(net, &r->hashes[i]);
	for (size_t p = 0; p < r->npeers && h->nhave < NET_KNOWN_PEERS; p++)
		if (r->have[i] & (1u << p))
			h->have[h->nhave++] = r->peers[p];
}

/* @f's holders from a hint, if one of them is usable now. */
static bool hint_take(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);
	const struct net_hint *h = hint_find(net, &f->hash);
	struct pc_disc_peer unused;

	if (!h)
		return false;
	memset(&a->known, 0, sizeof(a->known));
	a->known.at = uv_now(&net->loop);
	if (a->known.at == 0)
		a->known.at = 1;
	a->known.nhave = h->nhave;
	memcpy(a->known.have, h->have, sizeof(h->have));
	if (!pick(net, f, &unused)) {
		memset(&a->known, 0, sizeof(a->known));
		return false;
	}
	a->from_hint = true;
	net->peer_src.hint_hits++;
	return true;
}

void net_peer_lookahead(struct pc_net *net, const struct pc_chunk_ref *refs,
			size_t count)
{
	struct net_peer_src *p = &net->peer_src;

	p->nlookahead = 0;
	for (size_t i = 0; i < count && i < PC_DISC_MAX_HASHES; i++)
		p->lookahead[p->nlookahead++] = refs[i].hash;
}

/* ---- wait ------------------------------------------------------------------ */

/* How long @peer's word is worth a wait: a claim it never confirmed may
 * be forged in its name, so it earns an unknown neighbour's patience
 * even from a proven one. */
static uint64_t patience_for(struct pc_net *net, const struct peer_attempt *a,
			     const struct pc_disc_peer *peer)
{
	uint64_t patience = net_peer_patience(net, peer);

	if (a->wait_unconfirmed &&
	    patience > net_peer_patience_unconfirmed(net))
		patience = net_peer_patience_unconfirmed(net);
	return patience;
}

/* The wait for @peer, which said it fetched @f's chunk, ran out. */
static void promise_broken(struct pc_net *net, struct net_fetch *f,
			   const struct pc_disc_peer *peer)
{
	struct peer_attempt *a = attempt(f);
	char why[160];

	snprintf(why, sizeof(why),
		 "said it was fetching chunk %.16s... and did not deliver it "
		 "within %llu ms",
		 f->hex,
		 (unsigned long long)(uv_now(&net->loop) - a->wait_start));
	a->wait_start = 0;
	/* A claim it never confirmed may be forged in its name (a claim
	 * is UDP, and it stayed silent to our probes): its claims only. */
	if (a->wait_unconfirmed &&
	    !pc_disc_claim_confirmed(net->peers.disc, &f->hash, peer))
		net_peer_claims_doubt(net, peer, why);
	else
		net_peer_broke(net, peer, why);
}

/*
 * Waits for @peer, which said it fetches @f's chunk (or won its claim):
 * 0, and the timer looks again within WAIT_SLICE_MS or when the patience
 * @peer's word earns has run out; -EAGAIN if @peer is not to be waited
 * for (decide without it); -ENOENT when the wait's bound has passed (the
 * mirror).
 */
static int wait_for(struct pc_net *net, struct net_fetch *f,
		    const struct pc_disc_peer *peer)
{
	struct peer_attempt *a = attempt(f);
	uint64_t now = uv_now(&net->loop), bound = time_left(net, f) / 2;
	uint64_t patience, until;
	bool fresh;

	if (bound > WAIT_MAX_MS)
		bound = WAIT_MAX_MS;
	if (!a->wait_end)
		a->wait_end = now + bound;
	if (now >= a->wait_end) {
		pc_log(PC_LOG_DEBUG, "net", "chunk %s: waited long enough",
		       f->hex);
		return -ENOENT; /* the mirror */
	}
	fresh = !a->wait_start || !pc_addr_equal(&a->peer.addr, &peer->addr);
	if (fresh)
		a->wait_start = now;
	patience = patience_for(net, a, peer);
	if (patience == 0)
		return -EAGAIN;
	if (now >= a->wait_start + patience) {
		promise_broken(net, f, peer);
		return -EAGAIN;
	}
	if (fresh)
		net_peer_waited(net, peer);
	a->peer = *peer;
	until = now + WAIT_SLICE_MS;
	if (until > a->wait_start + patience)
		until = a->wait_start + patience;
	if (until > a->wait_end)
		until = a->wait_end;
	net_fetch_wake_at(net, f, until);
	return 0;
}

static int ask_confirm(struct pc_net *net, struct net_fetch *f);

/* @peer's claim on @f's chunk was known when a probe of ours for the
 * chunk went out, and it claimed the chunk again instead of answering
 * "fetching", as a node that fetches it does.  Only its claims are
 * doubted: a host that forges claims in an honest neighbour's name can
 * make it seem to do that (peer_trust.c). */
static void claim_unanswered(struct pc_net *net, struct net_fetch *f,
			     const struct pc_disc_peer *peer)
{
	char why[160];

	snprintf(why, sizeof(why),
		 "claimed chunk %.16s... and did not answer a probe for it",
		 f->hex);
	net_peer_claims_doubt(net, peer, why);
}

/*
 * Waits for @peer, which claimed @f's chunk (or said it fetches it), if
 * its word is worth it.  A neighbour that never delivered to this node
 * first has to confirm its claim by answering a probe for the chunk
 * (@unconfirmed: it has not yet; @unanswered: it heard the probe, said
 * its claim again and did not answer): an honest claimer answers within a
 * few ms, a host that claims every id it hears probed is found out in one
 * probe's time instead of costing a whole wait, and its unconfirmed
 * claims are not waited for from then on.  0: a wait or an ask started;
 * -EAGAIN: not to be waited for (decide without it); -ENOENT: the
 * mirrors.
 */
static int wait_confirmed(struct pc_net *net, struct net_fetch *f,
			  const struct pc_disc_peer *peer, bool unconfirmed,
			  bool unanswered)
{
	struct peer_attempt *a = attempt(f);

	if (unconfirmed) {
		if (unanswered)
			claim_unanswered(net, f, peer);
		if (!net_peer_claims_believed(net, peer))
			return -EAGAIN;
		if (a->confirm_asks < CONFIRM_ASKS_MAX)
			return ask_confirm(net, f);
		/* Its claim came in the middle of each ask (or it is
		 * silent): wait for it as for any unknown neighbour,
		 * bounded. */
	}
	a->wait_unconfirmed = unconfirmed;
	return wait_for(net, f, peer);
}

static void released(struct pc_net *net, struct net_fetch *f,
		     const struct pc_disc_peer *peer);

/* The time the attempt asked for came, during a wait for a neighbour:
 * look again, or give up on peers when the wait's bound has passed. */
static void peer_wake(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);
	uint64_t now = uv_now(&net->loop);
	struct pc_disc_peer releaser;

	if (a->wait_start) {
		/* A wait for a neighbour's promise: is it still worth it?
		 * Its RELEASE may wait unread in the socket (a stalled loop
		 * runs timers first): hear it before judging. */
		pc_disc_drain(net->peers.disc);
		if (net_peer_released_by(net, &f->hash, WAIT_SLICE_MS,
					 &releaser) &&
		    pc_addr_equal(&releaser.addr, &a->peer.addr)) {
			released(net, f, &releaser);
			return;
		}
		if (!net_peer_believed(net, &a->peer) ||
		    (a->wait_unconfirmed &&
		     !net_peer_claims_believed(net, &a->peer))) {
			restart(net, f); /* doubted meanwhile: without it */
			return;
		}
		if (now >= a->wait_start + patience_for(net, a, &a->peer)) {
			promise_broken(net, f, &a->peer);
			restart(net, f);
			return;
		}
	}
	if (a->wait_end && now < a->wait_end) {
		/* Look again: it may have the chunk by now. */
		a->known.at = 0;
		if (ask(net, f) == 0)
			return;
	}
	give_up(net, f, "the neighbour waited for did not deliver");
}

/* The neighbour @f waited for released the chunk: fetch it from @peer. */
static void released(struct pc_net *net, struct net_fetch *f,
		     const struct pc_disc_peer *peer)
{
	struct peer_attempt *a = attempt(f);

	a->wait_end = 0;
	a->wait_start = 0;
	net_fetch_wake_at(net, f, 0);
	if (!net_peer_usable(net, peer) || get(net, f, peer) < 0)
		restart(net, f);
}

/* ---- claim ----------------------------------------------------------------- */

static void on_claim_done(void *arg, const struct pc_disc_claim_result *r)
{
	struct net_peer_call *call = arg;
	struct net_fetch *f = call->fetch;
	struct pc_net *net = call->net;
	struct peer_attempt *a;
	int w;

	free(call);
	if (!f)
		return;
	a = attempt(f);
	a->call = NULL;
	if (r->status < 0) {
		give_up(net, f, "claim cancelled");
		return;
	}
	w = r->winner[0];
	if (w == PC_DISC_WON) {
		a->claimed = true; /* released in peer_end */
		a->claimed_at = uv_now(&net->loop);
		give_up(net, f, r->waited ? "claim won" : "claim won at once");
		return;
	}
	pc_log(PC_LOG_DEBUG, "net", "chunk %s: claim lost to %s", f->hex,
	       pc_addr_str(&r->peers[w].addr));
	/* The answer to the probe says whether the winner stands by it. */
	if (wait_confirmed(net, f, &r->peers[w],
			   !pc_disc_claim_confirmed(net->peers.disc, &f->hash,
						    &r->peers[w]),
			   false) < 0)
		give_up(net, f, "not waiting for the claim's winner");
}

static int claim(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);
	struct net_peer_call *call;

	if (a->claimed)
		return -ENOENT; /* ours already: straight to the mirrors */
	call = call_new(net, f);
	if (!call)
		return -ENOENT;
	if (pc_disc_claim(net->peers.disc, &f->hash, 1, on_claim_done, call) <
	    0) {
		free(call);
		pc_log(PC_LOG_DEBUG, "net", "chunk %s: cannot claim (busy)",
		       f->hex);
		return -ENOENT; /* busy: go without a claim */
	}
	a->call = call;
	return 0;
}

/* ---- ask ------------------------------------------------------------------- */

/* What the answers to an ask said about @f's chunk, r->hashes[i].  A
 * claimer counts as having left the chunk unanswered only after an ask
 * for its confirmation (one id, a longer window), not after a batch ask,
 * whose short window a busy claimer may miss. */
static void learn(struct pc_net *net, struct net_fetch *f,
		  const struct pc_disc_result *r, size_t i)
{
	struct peer_attempt *a = attempt(f);
	struct net_peer_knowledge *k = &a->known;
	bool judge = a->confirming;

	memset(k, 0, sizeof(*k));
	k->at = uv_now(&net->loop);
	if (k->at == 0)
		k->at = 1;
	for (size_t p = 0; p < r->npeers; p++) {
		uint32_t bit = 1u << p;

		if ((r->have[i] & bit) && k->nhave < NET_KNOWN_PEERS) {
			k->have[k->nhave++] = r->peers[p];
		} else if ((r->fetching[i] & bit) &&
			   (!k->fetching || (k->fetcher_unconfirmed &&
					     !(r->unconfirmed[i] & bit)))) {
			/* The first fetcher, one that confirmed first. */
			k->fetching = true;
			k->fetcher = r->peers[p];
			k->fetcher_unconfirmed = r->unconfirmed[i] & bit;
			k->fetcher_unanswered =
				judge && (r->unanswered[i] & bit);
		}
	}
}

static void on_ask_done(void *arg, const struct pc_disc_result *r)
{
	struct net_peer_call *call = arg;
	struct net_fetch *self = call->fetch;
	struct pc_net *net = call->net;
	struct peer_attempt *a;

	free(call);
	if (self)
		attempt(self)->call = NULL;
	for (size_t i = 0; i < r->n; i++) {
		struct net_fetch *f = net_fetch_find(net, &r->hashes[i]);

		hint_learn(net, r, i);
		if (!f)
			continue;
		a = attempt(f);
		a->asking = false;
		if (r->status == 0)
			learn(net, f, r, i);
		a->confirming = false;
		if (f != self && a->peer_waiting_ask) {
			a->peer_waiting_ask = false;
			if (r->status < 0 || decide(net, f) < 0)
				give_up(net, f, "no neighbour has it");
		}
	}
	if (self && (r->status < 0 || decide(net, self) < 0))
		give_up(net, self, "no neighbour has it");
}

struct batch {
	struct pc_net *net;
	struct pc_hash hashes[PC_DISC_MAX_HASHES];
	size_t n;
};

static bool known_fresh(struct pc_net *net, const struct net_fetch *f)
{
	const struct peer_attempt *a = attempt(f);

	return a->known.at && uv_now(&net->loop) - a->known.at < KNOWN_FRESH_MS;
}

/* Chunks queued behind this one ride along in the same probe. */
static void add_queued(struct net_fetch *f, void *arg)
{
	struct peer_attempt *a = attempt(f);
	struct batch *b = arg;

	if (b->n < PC_DISC_MAX_HASHES && f->state == FETCH_QUEUED &&
	    !a->asking && !known_fresh(b->net, f)) {
		b->hashes[b->n++] = f->hash;
		a->asking = true;
	}
}

/* Then the reader's lookahead: ids nobody fetches, not cached here, with
 * no fresh hint.  The ids looked at leave the list. */
static void add_lookahead(struct pc_net *net, struct batch *b)
{
	struct net_peer_src *p = &net->peer_src;
	size_t i;

	for (i = 0; i < p->nlookahead && b->n < PC_DISC_MAX_HASHES; i++) {
		const struct pc_hash *h = &p->lookahead[i];

		if (net_fetch_find(net, h) || hint_find(net, h) ||
		    hint_asking(net, h) ||
		    pc_store_chunk_present(net->store, h))
			continue;
		b->hashes[b->n++] = *h;
		/* A fetch of it that starts before the answer waits for it. */
		hint_insert(net, h)->asking = true;
	}
	p->nlookahead -= i;
	memmove(p->lookahead, p->lookahead + i,
		p->nlookahead * sizeof(p->lookahead[0]));
}

static void unmark(struct pc_net *net, const struct batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		struct net_fetch *f = net_fetch_find(net, &b->hashes[i]);
		struct net_hint *h = hint_lookup(net, &b->hashes[i]);

		if (f)
			attempt(f)->asking = false;
		if (h && h->asking)
			memset(h, 0, sizeof(*h));
	}
}

/* True if an ask in flight carries @f's id in its lookahead: @f then
 * waits for that answer (as a queued fetch in a batch does). */
static bool join_lookahead(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);

	if (!hint_asking(net, &f->hash))
		return false;
	a->asking = true;
	return true;
}

/* One probe for @f's chunk, and (@batch) the fetches queued behind it and
 * the reader's lookahead; its answers come to on_ask_done. */
static int ask_ids(struct pc_net *net, struct net_fetch *f, bool batch,
		   unsigned timeout_ms)
{
	struct peer_attempt *a = attempt(f);
	struct net_peer_call *call;
	struct batch b = { .net = net, .n = 1 };

	if (a->asking) { /* in a neighbour fetch's batch: its answer */
		a->peer_waiting_ask = true;
		return 0;
	}
	b.hashes[0] = f->hash;
	a->asking = true;
	if (batch) {
		net_fetch_each(net, add_queued, &b);
		add_lookahead(net, &b);
	}
	call = call_new(net, f);
	if (!call || pc_disc_ask(net->peers.disc, b.hashes, b.n, timeout_ms,
				 on_ask_done, call) < 0) {
		free(call);
		unmark(net, &b);
		pc_log(PC_LOG_DEBUG, "net", "chunk %s: cannot ask (busy)",
		       f->hex);
		return -ENOENT;
	}
	a->call = call;
	pc_log(PC_LOG_DEBUG, "net", "chunk %s: probe for %zu ids", f->hex, b.n);
	return 0;
}

static int ask(struct pc_net *net, struct net_fetch *f)
{
	return ask_ids(net, f, true, (unsigned)net->cfg->discovery_timeout);
}

/* A probe for @f's chunk alone, to hear whether its claimer stands by its
 * claim: one id, so the claimer's "fetching" ends the ask at once. */
static int ask_confirm(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);
	bool joined = a->asking; /* in a batch in flight: its answer */
	int rc;

	a->confirm_asks++;
	a->wait_start = 0;
	memset(&a->known, 0, sizeof(a->known));
	pc_log(PC_LOG_DEBUG, "net", "chunk %s: does its claimer confirm?",
	       f->hex);
	rc = ask_ids(net, f, false, (unsigned)net->cfg->discovery_timeout);
	a->confirming = rc == 0 && !joined;
	return rc;
}

/* ---- the decision ------------------------------------------------------------ */

/* 0: something started (a GET, a wait, a claim); -ENOENT: go on to the
 * mirrors now. */
static int decide(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);
	const struct net_peer_knowledge *k = &a->known;
	struct pc_disc_peer peer;
	int rc;

	if (pick(net, f, &peer) && get(net, f, &peer) == 0)
		return 0;
	if (a->from_hint) { /* what the hint named cannot be asked now */
		a->from_hint = false;
		memset(&a->known, 0, sizeof(a->known));
		return ask(net, f);
	}
	if (k->fetching && net_peer_usable(net, &k->fetcher)) {
		/* Its RELEASE may have come before this fetch began to wait
		 * (a queued fetch learns from a batch's answer): then it has
		 * the chunk, no wait. */
		if (net_peer_released_by(net, &f->hash, RELEASED_FRESH_MS,
					 &peer) &&
		    pc_addr_equal(&peer.addr, &k->fetcher.addr) &&
		    net_peer_usable(net, &peer) && get(net, f, &peer) == 0)
			return 0;
		rc = wait_confirmed(net, f, &k->fetcher, k->fetcher_unconfirmed,
				    k->fetcher_unanswered);
		if (rc != -EAGAIN)
			return rc;
		/* Its word is not worth a wait: as if nobody fetched it. */
	}
	/* Nobody answered, but a neighbour fetched it lately: its answer
	 * may just be late.  Ask it directly (a 404 costs one round trip). */
	if (!a->tried_released &&
	    net_peer_released_by(net, &f->hash, RELEASED_FRESH_MS, &peer) &&
	    net_peer_usable(net, &peer)) {
		a->tried_released = true;
		if (get(net, f, &peer) == 0) {
			a->get_on_hunch = true;
			return 0;
		}
	}
	if (a->retry_busy && net_peer_usable(net, &a->busy_peer)) {
		/* It answered 503 a moment ago, so it has the chunk; its
		 * answer to the probe is only late (its link is full).  Ask
		 * it again directly, once per busy round. */
		a->retry_busy = false;
		if (get(net, f, &a->busy_peer) == 0) {
			a->get_on_hunch = true;
			return 0;
		}
	}
	if (uv_now(&net->loop) - k->at > NEGATIVE_FRESH_MS)
		/* "Nobody has it" from a batch a while ago: a neighbour may
		 * have fetched it since.  Look again before claiming. */
		return ask(net, f);
	if (a->wait_end) { /* looked again after a wait: nobody */
		pc_log(PC_LOG_DEBUG, "net",
		       "chunk %s: nobody has or fetches it any more", f->hex);
		return -ENOENT;
	}
	return claim(net, f);
}

static int peer_start(struct pc_net *net, struct net_source *src,
		      struct net_fetch *f, uint64_t time_left_ms)
{
	struct peer_attempt *a = attempt(f);

	(void)src;
	(void)time_left_ms;
	if (!net->peers.disc)
		return -ENOENT;
	a->wait_end = 0;
	a->wait_start = 0;
	a->peer_misses = 0;
	a->confirm_asks = 0;
	a->confirming = false;
	a->retry_busy = false;
	a->tried_released = false;
	a->from_hint = false;
	if (known_fresh(net, f) || hint_take(net, f))
		return decide(net, f);
	join_lookahead(net, f);
	return ask(net, f); /* joins the ask in flight if @f is asking */
}

static void peer_cancel(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);

	if (a->call) {
		a->call->fetch = NULL; /* its callback only frees it */
		a->call = NULL;
	}
	if (a->peer_getting && f->xfer)
		net_peer_inflight(net, &a->peer, -1);
	a->peer_getting = false;
	a->peer_waiting_ask = false;
	a->wait_end = 0;
	a->wait_start = 0;
	net_chunk_cancel(net, f);
}

/* @f ends: drop its claim and any call in flight. */
static void peer_end(struct pc_net *net, struct net_fetch *f)
{
	struct peer_attempt *a = attempt(f);

	if (a->call) {
		a->call->fetch = NULL;
		a->call = NULL;
	}
	if (a->claimed && net->peers.disc)
		pc_disc_release(net->peers.disc, &f->hash, 1);
	if (a->claimed && a->claimed_at)
		net_peer_claim_took(net, uv_now(&net->loop) - a->claimed_at);
	a->claimed = false;
	a->claimed_at = 0;
}

/* The GET of the attempt ended: a neighbour that delivered is credited,
 * one that sent wrong bytes is banned. */
static void peer_verdict(struct pc_net *net, struct net_fetch *f, int outcome)
{
	struct peer_attempt *a = attempt(f);

	if (!a->peer_getting)
		return;
	a->peer_getting = false;
	if (outcome == NET_ATTEMPT_OK)
		net_peer_credit(net, &a->peer, f->len);
	else if (outcome == NET_ATTEMPT_BAD)
		net_peer_ban(net, &a->peer, "sent wrong bytes");
}

static const struct net_source_ops peer_ops = {
	.kind = "peer",
	.bytes_counter = PC_CTR_BYTES_FROM_PEERS,
	.bad_counter = PC_CTR_BAD_FROM_PEERS,
	.state_size = sizeof(struct peer_attempt),
	.start = peer_start,
	.cancel = peer_cancel,
	.wake = peer_wake,
	.verdict = peer_verdict,
	.end = peer_end,
};

int net_peer_src_init(struct pc_net *net, char *err, size_t errlen)
{
	struct net_source src = { .ops = &peer_ops, .scheme = "http" };

	if (!net->peers.disc)
		return 0;
	src.base = strdup("LAN peers");
	if (!src.base) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	net_source_add(net, &src);
	net->peer_src.source = &net->fetcher.sources[net->fetcher.nsources - 1];
	return 0;
}

void net_peer_src_released(struct pc_net *net, const struct pc_hash *hash,
			   const struct pc_disc_peer *peer)
{
	struct net_fetch *f = net_fetch_find(net, hash);

	if (!f || !f->wake_at || f->state != FETCH_RUNNING)
		return;
	released(net, f, peer);
}

/* Fetches waiting for @arg's address look again now. */
static void wake_waiter(struct net_fetch *f, void *arg)
{
	const struct pc_addr *addr = arg;

	if (f->wake_at && pc_addr_equal(&attempt(f)->peer.addr, addr))
		net_fetch_wake_at(f->net, f, uv_now(&f->net->loop));
}

void net_peer_src_wake(struct pc_net *net, struct pc_addr addr)
{
	net_fetch_each(net, wake_waiter, &addr);
}

/* The longest a download after a won claim has been running here. */
static void oldest_claim(struct net_fetch *f, void *arg)
{
	const struct peer_attempt *a = attempt(f);
	uint64_t *oldest = arg;

	if (a->claimed && a->claimed_at && a->claimed_at < *oldest)
		*oldest = a->claimed_at;
}

uint64_t net_peer_src_oldest_claim(struct pc_net *net, uint64_t now)
{
	uint64_t oldest = now;

	net_fetch_each(net, oldest_claim, &oldest);
	return oldest;
}
