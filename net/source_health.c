/*
 * source_health.c - which mirrors to trust with a reader's time (see
 * source_health.h for the rules).
 *
 * Without it a fetch tried its sources in configured order for every
 * chunk: a first mirror that dripped a byte every two seconds cost each
 * chunk its low-speed abort (a 64 MiB read took 90 s), and with a
 * fetch_timeout below low_speed_time the slow mirror ate the whole
 * deadline, so reads failed though the second mirror was healthy.  Now
 * the first bad attempt demotes the mirror for every fetch, attempts that
 * are still waiting on it move on at once, and while other sources remain
 * an attempt gets only a share of the time left.
 *
 * Everything here runs on the loop thread.  The fetcher calls in where it
 * picks a source (net_health_next, net_health_budget) and where an
 * attempt's outcome is known (net_health_report); the head poller where a
 * head request failed; the control socket and the metrics read the
 * result.  Problems are logged at warning once per demotion episode
 * (pc_log_cause), the recovery at info.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "pc_util.h"
#include "pc_json.h"

static bool judged(const struct pc_net *net, size_t i)
{
	return i < net->fetcher.nsources && net->fetcher.sources[i].serves_head;
}

static const char *trouble_name(enum net_health_trouble t)
{
	switch (t) {
	case NET_TROUBLE_SLOW:
		return "slow";
	case NET_TROUBLE_WRONG_BYTES:
		return "wrong_bytes";
	case NET_TROUBLE_FAILING:
		return "failing";
	case NET_TROUBLE_NONE:
		break;
	}
	return "";
}

static void cause_of(const struct pc_net *net, size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "source-demoted %s", net->fetcher.sources[i].base);
}

/* When @when was, in UTC; "-" for never. */
static const char *utc(int64_t when, char *buf, size_t len)
{
	if (when > 0)
		return pc_format_utc(when, buf, len);
	snprintf(buf, len, "-");
	return buf;
}

/* A probe runs at most as long as a fetch may; then another may start. */
static bool probe_busy(const struct pc_net *net,
		       const struct net_source_health *h, uint64_t now)
{
	return h->probing &&
	       now - h->probe_started < net->cfg->fetch_timeout * 1000 + 5000;
}

/* ---- picking a source ------------------------------------------------------ */

size_t net_health_next(struct pc_net *net, uint64_t excluded, bool take)
{
	struct net_health *health = &net->health;
	uint64_t now = uv_now(&net->loop);
	size_t demoted = net->fetcher.nsources;

	for (size_t i = 0; i < net->fetcher.nsources; i++) {
		struct net_source_health *h = &health->src[i];

		if (excluded & ((uint64_t)1 << i))
			continue;
		if (!judged(net, i) || h->demoted_until == 0)
			return i;
		if (h->demoted_until <= now && !probe_busy(net, h, now)) {
			/* Its time is up: one fetch tries it in its place. */
			if (take) {
				h->probing = true;
				h->probe_started = now;
			}
			return i;
		}
		if (demoted == net->fetcher.nsources)
			demoted = i;
	}
	return demoted;
}

uint64_t net_health_budget(struct pc_net *net, size_t src, uint64_t excluded,
			   uint64_t left)
{
	uint64_t share, others = 0;

	if (!judged(net, src))
		return left; /* the peers bound their own time */
	for (size_t i = 0; i < net->fetcher.nsources; i++)
		if (i != src && judged(net, i) &&
		    !(excluded & ((uint64_t)1 << i)))
			others++;
	if (others == 0)
		return left;
	share = left / (others + 1);
	if (share < NET_HEALTH_ATTEMPT_MIN_MS)
		share = left < NET_HEALTH_ATTEMPT_MIN_MS
				? left
				: NET_HEALTH_ATTEMPT_MIN_MS;
	return share;
}

/* ---- verdicts ----------------------------------------------------------------- */

static void restore(struct pc_net *net, size_t i)
{
	struct net_source_health *h = &net->health.src[i];
	char cause[600], since[32];

	cause_of(net, i, cause, sizeof(cause));
	pc_log_cause_clear(cause);
	pc_log(PC_LOG_INFO, "net",
	       "mirror %s works again (%s since %s); tried in its place",
	       net->fetcher.sources[i].base, trouble_name(h->trouble),
	       utc(h->since, since, sizeof(since)));
	h->trouble = NET_TROUBLE_NONE;
	h->demoted_until = 0;
	h->demote_ms = 0;
	h->since = 0;
	h->probing = false;
}

static void schedule_move(struct pc_net *net, size_t i);
static void on_uv_move(uv_timer_t *timer);

/* @i did @trouble (@detail says how): demoted, or for longer. */
static void trouble(struct pc_net *net, size_t i, enum net_health_trouble t,
		    const char *detail)
{
	struct net_source_health *h = &net->health.src[i];
	uint64_t now = uv_now(&net->loop);
	char cause[600];

	h->last_trouble = net_unix_now();
	snprintf(h->last_error, sizeof(h->last_error), "%s", detail);
	if (!h->since)
		h->since = h->last_trouble;
	if (h->demoted_until > now) {
		/* Already demoted: wrong bytes is the reason that counts. */
		if (t == NET_TROUBLE_WRONG_BYTES)
			h->trouble = t;
		return;
	}
	/* A new demotion, or a probe that failed: for longer. */
	h->demote_ms = h->demoted_until ? 2 * h->demote_ms
					: NET_HEALTH_DEMOTE_FIRST_MS;
	if (h->demote_ms > NET_HEALTH_DEMOTE_MAX_MS)
		h->demote_ms = NET_HEALTH_DEMOTE_MAX_MS;
	h->demoted_until = now + h->demote_ms;
	h->probing = false;
	h->trouble = t;
	cause_of(net, i, cause, sizeof(cause));
	pc_log_cause(PC_LOG_WARN, "net", cause,
		     "mirror %s demoted for %" PRIu64 " s (%s: %s): the "
		     "other sources are tried first",
		     net->fetcher.sources[i].base, h->demote_ms / 1000,
		     trouble_name(t), detail);
	if (t == NET_TROUBLE_SLOW)
		schedule_move(net, i);
}

void net_health_report(struct pc_net *net, struct net_fetch *f, int outcome)
{
	size_t i = f->source;
	struct net_source_health *h;
	uint64_t elapsed, now = uv_now(&net->loop);
	char detail[160];

	if (!judged(net, i) || f->attempt_start == 0)
		return; /* the peers, or an attempt moved off a slow source */
	h = &net->health.src[i];
	elapsed = now - f->attempt_start;
	f->attempt_start = 0;
	switch ((enum net_attempt)outcome) {
	case NET_ATTEMPT_OK:
		h->ok++;
		h->failures_in_a_row = 0;
		if (h->demoted_until && h->demoted_until <= now)
			restore(net, i); /* the probe worked */
		return;
	case NET_ATTEMPT_BAD:
		h->bad_chunks++;
		snprintf(detail, sizeof(detail), "chunk %.16s had wrong bytes",
			 f->hex);
		trouble(net, i, NET_TROUBLE_WRONG_BYTES, detail);
		return;
	case NET_ATTEMPT_FAILED:
		if (elapsed >= NET_HEALTH_SLOW_MS ||
		    elapsed + 100 >= f->attempt_budget) {
			h->slow++;
			snprintf(detail, sizeof(detail),
				 "chunk %.16s: nothing usable in %" PRIu64 " m"
				 "s",
				 f->hex, elapsed);
			trouble(net, i, NET_TROUBLE_SLOW, detail);
		} else {
			/* Quick: a 404, a refused connection.  Counted, not
			 * demoted: it costs a reader no time, and an object
			 * no mirror has (a bogus head's manifest) is not
			 * this mirror's fault.  Head polls judge reach. */
			h->failures++;
		}
		return;
	case NET_ATTEMPT_FATAL:
		return; /* the store's trouble, not the source's */
	}
}

void net_health_head_failed(struct pc_net *net, size_t src, uint64_t elapsed_ms,
			    const char *why, bool unreachable)
{
	struct net_source_health *h;
	char detail[160];

	if (!judged(net, src))
		return;
	h = &net->health.src[src];
	snprintf(detail, sizeof(detail), "head: %s after %" PRIu64 " ms", why,
		 elapsed_ms);
	if (elapsed_ms >= NET_HEALTH_SLOW_MS) {
		h->slow++;
		trouble(net, src, NET_TROUBLE_SLOW, detail);
	} else if (unreachable &&
		   ++h->failures_in_a_row >= NET_HEALTH_FAILURES) {
		h->failures++;
		trouble(net, src, NET_TROUBLE_FAILING, detail);
	} else {
		h->failures++;
	}
}

void net_health_head_ok(struct pc_net *net, size_t src)
{
	struct net_source_health *h;

	if (!judged(net, src))
		return;
	h = &net->health.src[src];
	h->failures_in_a_row = 0;
	/* It answers: proof enough for an unreachable one, not for a slow
	 * one (a head is tiny) or one that sent wrong bytes. */
	if (h->trouble == NET_TROUBLE_FAILING && h->demoted_until)
		restore(net, src);
}

/* @h still matters for the status: demoted, or on probation with its
 * trouble recent (a mirror no fetch has tried since it ran out). */
static bool still_troubled(const struct pc_net *net,
			   const struct net_source_health *h);

bool net_health_demoted(struct pc_net *net, size_t i)
{
	return judged(net, i) && still_troubled(net, &net->health.src[i]);
}

static bool still_troubled(const struct pc_net *net,
			   const struct net_source_health *h)
{
	return h->demoted_until && (h->demoted_until > uv_now(&net->loop) ||
				    net_unix_now() - h->last_trouble <
					    NET_HEALTH_DEMOTE_MAX_MS / 1000);
}

void net_health_fetch_failed(struct pc_net *net, const struct net_fetch *f,
			     int status)
{
	struct net_health *health = &net->health;

	if (f->prefetch || status == -ECANCELED || status >= 0)
		return; /* read-ahead, shutting down */
	for (size_t i = 0; i < net->nrepos; i++)
		if (net_install_wants(net->repos[i], &f->hash))
			return; /* a manifest */
	health->read_failures++;
	health->last_read_failure = net_unix_now();
	snprintf(health->last_read_error, sizeof(health->last_read_error),
		 "chunk %.16s: %s", f->hex,
		 status == -ETIMEDOUT ? "not fetched within fetch_timeout"
				      : "no source delivered it");
	/* One line while reads keep failing, whatever the chunk. */
	pc_log_cause(PC_LOG_WARN, "net", "reads-failing",
		     "reads fail with EIO: %s (%llu reads failed since the "
		     "daemon started; peercachectl status says why)",
		     health->last_read_error,
		     (unsigned long long)health->read_failures);
}

/* ---- moving attempts off a slow source ------------------------------------ */

static void schedule_move(struct pc_net *net, size_t i)
{
	struct net_health *health = &net->health;

	if (net->shutting_down)
		return;
	health->move_sources |= (uint64_t)1 << i;
	health->demoted_at[i] = uv_now(&net->loop);
	uv_timer_start(&health->move_timer, on_uv_move, 0, 0);
}

struct stuck {
	struct pc_hash hash;
	uint64_t attempt_start;
	size_t source;
};

struct stuck_list {
	struct net_health *health;
	struct stuck *items;
	size_t n, cap;
};

/* Still downloading from a source demoted as slow since it started, and
 * with another source to move on to (cut, the only one would end the
 * fetch early: a mirror whose head request timed out just before a
 * chunk's deadline turned the chunk's time-out into a failure). */
static void find_stuck(struct net_fetch *f, void *arg)
{
	struct stuck_list *list = arg;
	uint64_t moving = list->health->move_sources;

	if (f->state != FETCH_RUNNING || !f->xfer || f->attempt_start == 0 ||
	    f->source >= NET_HEALTH_SOURCES ||
	    !(moving & ((uint64_t)1 << f->source)) ||
	    f->attempt_start > list->health->demoted_at[f->source] ||
	    !net_fetch_another_source(f->net, f) || list->n == list->cap)
		return;
	list->items[list->n++] =
		(struct stuck){ f->hash, f->attempt_start, f->source };
}

static void on_uv_move(uv_timer_t *timer)
{
	struct pc_net *net =
		container_of(timer, struct pc_net, health.move_timer);
	struct stuck_list list = { .health = &net->health };
	size_t moved = 0;

	list.cap = net->fetcher.running;
	list.items = list.cap ? calloc(list.cap, sizeof(*list.items)) : NULL;
	if (list.items)
		net_fetch_each(net, find_stuck, &list);
	net->health.move_sources = 0;
	/* Each one looked up again: moving one may end or start others. */
	for (size_t k = 0; k < list.n; k++) {
		struct net_fetch *f = net_fetch_find(net, &list.items[k].hash);

		if (!f || f->state != FETCH_RUNNING || !f->xfer ||
		    f->source != list.items[k].source ||
		    f->attempt_start != list.items[k].attempt_start)
			continue;
		net->fetcher.sources[f->source].ops->cancel(net, f);
		f->attempt_start = 0; /* judged already: not reported */
		net_fetch_attempt_done(net, f, NET_ATTEMPT_FAILED);
		moved++;
	}
	if (moved)
		pc_log(PC_LOG_INFO, "net",
		       "%zu downloads moved off a slow mirror to the next "
		       "source",
		       moved);
	free(list.items);
}

/* ---- life ------------------------------------------------------------------- */

void net_health_init(struct pc_net *net)
{
	uv_timer_init(&net->loop, &net->health.move_timer);
}

void net_health_shutdown(struct pc_net *net)
{
	uv_close((uv_handle_t *)&net->health.move_timer, NULL);
}

/* ---- what the status says ---------------------------------------------------- */

/* Appends "; " and one source's trouble to @out. */
static void describe(struct pc_net *net, size_t i, char *out, size_t len)
{
	const struct net_source_health *h = &net->health.src[i];
	size_t used = strlen(out);
	char since[32], count[64];

	switch (h->trouble) {
	case NET_TROUBLE_WRONG_BYTES:
		snprintf(count, sizeof(count),
			 "%" PRIu64 " chunks with wrong "
			 "bytes",
			 h->bad_chunks);
		break;
	case NET_TROUBLE_SLOW:
		snprintf(count, sizeof(count),
			 "%" PRIu64 " slow attempts "
			 "given up",
			 h->slow);
		break;
	default:
		snprintf(count, sizeof(count), "%" PRIu64 " attempts failed",
			 h->failures);
		break;
	}
	if (used < len)
		snprintf(out + used, len - used,
			 "%smirror %s: %s since %s (%s)", used ? "; " : "",
			 net->fetcher.sources[i].base, count,
			 utc(h->since, since, sizeof(since)), h->last_error);
}

/* Source @i is of @repo (the peers are everyone's). */
static bool of_repo(const struct pc_net *net, size_t i,
		    const struct pc_net_repo *repo)
{
	const struct pc_net_repo *owner = net->fetcher.sources[i].repo;

	return !repo || !owner || owner == repo;
}

enum pc_net_state net_health_state(struct pc_net *net,
				   const struct pc_net_repo *repo,
				   enum pc_net_state polled, char *reason,
				   size_t len)
{
	const struct net_health *health = &net->health;
	int64_t now = net_unix_now();
	size_t mirrors = 0, demoted = 0, used;
	char when[32];
	bool reads_failing =
		health->last_read_failure &&
		now - health->last_read_failure < NET_HEALTH_READ_WINDOW_S;

	reason[0] = '\0';
	if (polled == PC_STATE_STARTING)
		return polled;
	if (reads_failing)
		snprintf(reason, len,
			 "%" PRIu64 " reads failed since the daemon started, "
			 "the last at %s (%s)",
			 health->read_failures,
			 utc(health->last_read_failure, when, sizeof(when)),
			 health->last_read_error);
	for (size_t i = 0; i < net->fetcher.nsources; i++) {
		if (!judged(net, i) || !of_repo(net, i, repo))
			continue;
		mirrors++;
		if (still_troubled(net, &health->src[i])) {
			demoted++;
			describe(net, i, reason, len);
		}
	}
	used = strlen(reason);
	if (mirrors && demoted == mirrors && used < len)
		snprintf(reason + used, len - used, "%s",
			 "; no mirror is healthy");
	/* Reads failing is failing; a mirror demoted (even every one: the
	 * peers may serve meanwhile) is degraded. */
	if (polled == PC_STATE_FAILING)
		return polled;
	if (reads_failing)
		return PC_STATE_FAILING;
	if (demoted && polled == PC_STATE_UP_TO_DATE)
		return PC_STATE_DEGRADED;
	return polled;
}

void net_health_json(struct pc_net *net, const struct pc_net_repo *repo,
		     struct pc_json *j)
{
	const struct net_health *health = &net->health;
	uint64_t now_ms = uv_now(&net->loop);
	int64_t now = net_unix_now();

	pc_json_open(j, "sources", '[');
	for (size_t i = 0; i < net->fetcher.nsources; i++) {
		const struct net_source_health *h = &health->src[i];
		bool demoted = judged(net, i) && still_troubled(net, h);
		uint64_t left = h->demoted_until > now_ms
					? (h->demoted_until - now_ms) / 1000
					: 0;

		if (!of_repo(net, i, repo))
			continue;
		pc_json_open(j, NULL, '{');
		pc_json_str(j, "source", net->fetcher.sources[i].base);
		pc_json_str(j, "kind", net->fetcher.sources[i].ops->kind);
		pc_json_str(j, "state",
			    !judged(net, i) ? "ok"
			    : !demoted	    ? "ok"
			    : left	    ? "demoted"
					    : "probation");
		pc_json_str(j, "trouble",
			    demoted ? trouble_name(h->trouble) : "");
		pc_json_int(j, "since", demoted ? h->since : 0);
		pc_json_int(j, "demoted_until",
			    demoted && left ? now + (int64_t)left : 0);
		pc_json_uint(j, "ok", h->ok);
		pc_json_uint(j, "bad_chunks", h->bad_chunks);
		pc_json_uint(j, "slow", h->slow);
		pc_json_uint(j, "failures", h->failures);
		pc_json_int(j, "last_trouble", h->last_trouble);
		pc_json_str(j, "last_error", h->last_error);
		pc_json_close(j);
	}
	pc_json_close(j);
	pc_json_uint(j, "read_failures", health->read_failures);
	pc_json_int(j, "last_read_failure", health->last_read_failure);
	pc_json_str(j, "last_read_error", health->last_read_error);
}
