/*
 * head.c - the head poller: which version this node should serve.
 *
 * A poll asks the mirrors (healthy ones first) for REPO/head (at most
 * PC_HEAD_MAX bytes) and judges the first head that arrives: signature by
 * a trusted key, the expected repository name, a version above the
 * highest ever accepted (equal means up to date unless it is another head
 * of that version: an equivocation; lower is a rollback), not expired, not
 * created in the future.  A refused head does not end the poll: the next
 * mirror may serve a good one.  An accepted head is handed to an install
 * (head_install.c), which fetches and installs its manifest and outlives
 * the poll, so that later polls can see a newer head meanwhile.
 *
 * Polls run on a timer (at start, then every poll_interval) and on demand
 * (pc_net_refresh, the control socket).  A request that arrives during a
 * poll gets the poll after it, which starts after the request and so sees
 * what was published before it.  The outcome is kept in the status under
 * status_lock for any thread to read.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "net.h"
#include "pc_util.h"
#include "pc_json.h"

static void poll_start(struct pc_net_repo *repo);
static void ask_mirror(struct pc_net_repo *repo);
static void ask_peer(struct pc_net_repo *repo);
static int ask_holders(struct pc_net_repo *repo);

/* How long a poll listens for neighbours holding the current version. */
#define HOLDERS_WAIT_MS 500

/* ---- the end of a poll ------------------------------------------------------ */

void net_call_waiters(struct net_poll_waiter *waiter, int result,
		      const char *error)
{
	struct net_poll_waiter *next;

	for (; waiter; waiter = next) {
		next = waiter->next;
		if (waiter->done) /* NULL: its caller went away */
			waiter->done(waiter->arg, result, error);
		free(waiter);
	}
}

void net_waiters_forget(struct net_poll_waiter *waiter, void *arg)
{
	for (; waiter; waiter = waiter->next)
		if (waiter->arg == arg)
			waiter->done = NULL;
}

void net_head_forget(struct pc_net_repo *repo, void *arg)
{
	NET_LOOP_ONLY(repo->net);

	net_waiters_forget(repo->head.current, arg);
	net_waiters_forget(repo->head.next, arg);
	net_install_forget(repo, arg);
}

/* A poll may start: none runs, and no install is on the worker (judging
 * heads against a version being written would race it). */
static bool may_poll(struct pc_net_repo *repo)
{
	bool on_worker;

	net_install_version(repo, &on_worker);
	return !repo->net->shutting_down && !repo->head.running && !on_worker;
}

void net_head_resume(struct pc_net_repo *repo)
{
	struct net_head *h = &repo->head;

	if (may_poll(repo) && (h->again || h->next))
		poll_start(repo);
}

/* A poll succeeded: the refusal logged last is logged at once if it
 * comes back. */
static void forget_refusal(struct net_head *h)
{
	if (h->last_warning[0])
		pc_log_cause_clear(h->last_warning);
	h->last_warning[0] = '\0';
}

static void poll_end(struct pc_net_repo *repo, int result, const char *error,
		     const char *source)
{
	struct net_head *h = &repo->head;
	struct net_poll_waiter *waiters = h->current;

	h->running = false;
	h->current = NULL;
	if (result == 0)
		forget_refusal(h);
	net_status_poll_ended(repo, result, error, source);
	net_call_waiters(waiters, result, error);
	net_head_resume(repo);
}

/*
 * The poll found a new version: its install takes the poll's waiters and
 * outlives it (head_install.c).  The poll itself succeeded: it reached a
 * mirror and found a valid head; the status says that version is being
 * installed until the install ends.
 */
static void hand_over(struct pc_net_repo *repo, const struct pc_head *head,
		      const char *source, const char *body, size_t len)
{
	struct net_head *h = &repo->head;
	struct net_poll_waiter *waiters = h->current;
	bool on_worker;
	uint64_t installing = net_install_version(repo, &on_worker);
	int rc = 0;

	h->current = NULL;
	if (installing && head->version <= installing) {
		/* That version (or a newer one) is being installed. */
		net_install_join(repo, waiters);
	} else {
		pc_log(PC_LOG_INFO, "net",
		       "%shead version %" PRIu64 " from %s accepted",
		       net_repo_log_prefix(repo), head->version, source);
		rc = net_install_start(repo, head, source, body, len, waiters);
	}
	if (rc < 0) {
		h->current = waiters;
		poll_end(repo, rc, "out of memory", source);
		return;
	}
	h->running = false;
	forget_refusal(h);
	net_status_poll_ended(repo, 0, "", source);
	net_head_resume(repo);
}

/* ---- judging a head ----------------------------------------------------------- */

/* The retained version record of @version, if any. */
static bool retained(struct pc_net_repo *repo, uint64_t version,
		     struct pc_store_version *v)
{
	return (pc_store_current(repo->store, v) == 0 &&
		v->version == version) ||
	       (pc_store_previous(repo->store, v) == 0 &&
		v->version == version);
}

/*
 * A head of the highest version accepted: up to date (0), unless its
 * signed fields differ from those of the head accepted with that version
 * (its digest, recorded at install; for a cache from before that record,
 * the retained version's fields): two signed heads of one version are an
 * equivocation, a signing key misused or stolen.  The first one stays.
 */
static int same_version(struct pc_net_repo *repo, const struct pc_head *head,
			char *why, size_t whylen)
{
	struct pc_store_version v;
	struct pc_hash recorded;
	char hex[PC_HASH_HEX_LEN + 1], key[2 * PC_KEYID_LEN + 1];

	if (pc_store_head_digest(repo->store, head->version, &recorded) == 0) {
		if (pc_hash_equal(&recorded, &head->digest))
			return 0;
	} else if (!retained(repo, head->version, &v) ||
		   (pc_hash_equal(&v.manifest, &head->manifest) &&
		    v.manifest_size == head->manifest_size &&
		    v.created == head->created && v.expires == head->expires)) {
		return 0;
	}
	pc_hash_to_hex(&head->manifest, hex);
	for (size_t i = 0; i < PC_KEYID_LEN; i++)
		snprintf(key + 2 * i, 3, "%02x", head->keyid[i]);
	snprintf(why, whylen,
		 "equivocation: a second, different signed head for version "
		 "%" PRIu64 " (manifest %.16s..., created %" PRId64
		 ", signed by key %s); the head accepted first is kept: a "
		 "signing key is misused or stolen",
		 head->version, hex, head->created, key);
	return -EEXIST;
}

/*
 * 1: a new version to install; 0: the version already accepted; < 0:
 * refused, with the reason in @why.
 */
static int judge(struct pc_net_repo *repo, const char *buf, size_t len,
		 struct pc_head *head, char *why, size_t whylen)
{
	struct pc_head_rules rules = {
		.repository = repo->cfg->name,
		.highest = pc_store_highest_version(repo->store),
		.now = net_unix_now(),
	};
	struct pc_store_version current;
	int rc;

	if (pc_store_current(repo->store, &current) == 0)
		rules.current = current.name;
	/* The policy peercachectl check applies too (format/head.c). */
	rc = pc_head_accept(buf, len, repo->ring, &rules, head, why, whylen);
	return rc == 0 ? same_version(repo, head, why, whylen) : rc;
}

/* ---- equivocation: kept for the status until the daemon restarts ----------- */

static void equivocation_seen(struct pc_net_repo *repo,
			      const struct pc_head *head, const char *source,
			      const char *why)
{
	struct net_head *h = &repo->head;
	char cause[128], hex[PC_HASH_HEX_LEN + 1];

	pc_hash_to_hex(&head->digest, hex);
	snprintf(cause, sizeof(cause), "equivocation %" PRIu64 " %s",
		 head->version, hex);
	pc_log_cause(PC_LOG_ERROR, "net", cause, "head from %s refused: %s",
		     source, why);
	if (!h->equivocations)
		h->equivocation_first = net_unix_now();
	h->equivocations++;
	h->equivocation_last = net_unix_now();
	snprintf(h->equivocation, sizeof(h->equivocation),
		 "%.450s (from %.200s)", why, source);
}

bool net_head_alert(struct pc_net_repo *repo, char *out, size_t len)
{
	const struct net_head *h = &repo->head;
	char first[32], last[32];

	out[0] = '\0';
	if (!h->equivocations)
		return false;
	pc_format_utc(h->equivocation_first, first, sizeof(first));
	pc_format_utc(h->equivocation_last, last, sizeof(last));
	snprintf(out, len,
		 "%" PRIu64 " heads refused as equivocation since %s, the "
		 "last at %s: %s",
		 h->equivocations, first, last, h->equivocation);
	return true;
}

void net_head_json(struct pc_net_repo *repo, struct pc_json *j)
{
	const struct net_head *h = &repo->head;

	pc_json_uint(j, "equivocations", h->equivocations);
	pc_json_int(j, "equivocation_at", h->equivocation_last);
	pc_json_str(j, "equivocation", h->equivocation);
}

/* ---- rollback: a held version is not replaced --------------------------------- */

/*
 * peercachectl rollback holds a version until unpin (pc_store_held_version,
 * persisted).  Meanwhile a newer head is judged as usual but not
 * installed: the poll counts as a success, and the version found is kept
 * for the status.  The same while a rollback or unpin of this repository
 * switches versions on a worker (the unpin polls again when it is done).
 * Another repository's switch holds nothing back here: its versions are
 * its own handle's, and were a head of this one held back for it, nothing
 * would poll again before poll_interval while the status said up to date.
 */
static bool held_back(struct pc_net_repo *repo, const struct pc_head *head,
		      const char *source)
{
	uint64_t held = pc_store_held_version(repo->store);

	if (!held && repo->net->control.switching != repo)
		return false;
	if (held && head->version != repo->head.held_available)
		pc_log(PC_LOG_INFO, "net",
		       "head version %llu from %s not installed: version "
		       "%llu is held (peercachectl unpin releases it)",
		       (unsigned long long)head->version, source,
		       (unsigned long long)held);
	repo->head.held_available = head->version;
	return true;
}

/* ---- asking the mirrors ----------------------------------------------------- */

/* Keeps the poll's first refusal for its outcome; @log: a warning, once
 * per cause (an equivocation is logged at error by its own path). */
static void refused(struct pc_net_repo *repo, const char *mirror, int rc,
		    const char *why, bool log)
{
	struct net_head *h = &repo->head;
	char line[sizeof(h->refusal_msg)];

	snprintf(line, sizeof(line), "%s (from %s)", why, mirror);
	/* A refusal repeated at every poll is logged once (again at most
	 * every PC_LOG_REPEAT_S while it lasts). */
	if (log)
		pc_log_cause(PC_LOG_WARN, "net", line,
			     "head from %s refused: %s", mirror, why);
	snprintf(h->last_warning, sizeof(h->last_warning), "%s", line);
	if (!h->refusal) {
		h->refusal = rc;
		snprintf(h->refusal_msg, sizeof(h->refusal_msg), "%s", line);
	}
}

/* The cause a head request to @mirror fails under (once per cause). */
static void unreachable_cause(const char *mirror, char *out, size_t len)
{
	snprintf(out, len, "head-unreachable %s", mirror);
}

static void unreachable(struct pc_net_repo *repo, const char *mirror,
			const char *why)
{
	struct net_head *h = &repo->head;
	char cause[600];

	/* A mirror skipped is a warning, once while it lasts. */
	unreachable_cause(mirror, cause, sizeof(cause));
	pc_log_cause(h->asking_peers ? PC_LOG_DEBUG : PC_LOG_WARN, "net", cause,
		     "head from %s: %s", mirror, why);
	if (!h->transport_msg[0])
		snprintf(h->transport_msg, sizeof(h->transport_msg),
			 "no mirror answered: %.250s/head: %.250s", mirror,
			 why);
}

/* @mirror answered: if it was logged as unreachable, say it is back. */
static void reachable(const char *mirror)
{
	char cause[600];

	unreachable_cause(mirror, cause, sizeof(cause));
	if (pc_log_cause_clear(cause))
		pc_log(PC_LOG_INFO, "net",
		       "head from %s: the mirror answers again", mirror);
}

static bool head_on_data(struct net_xfer *xfer, const void *buf, size_t len)
{
	struct net_head *h = xfer->ctx;

	if (net_xfer_status(xfer) != 200) {
		h->body_len += len; /* counted, not kept */
		return h->body_len <= NET_DISCARD_MAX;
	}
	if (len > PC_HEAD_MAX - h->body_len) {
		h->too_large = true;
		return false;
	}
	memcpy(h->body + h->body_len, buf, len);
	h->body_len += len;
	return true;
}

/*
 * A whole head from @mirror: judged, then installed, kept back (a held
 * version) or refused.  True when that ends the poll (a new version went
 * to the install, or the node is up to date); false: ask the next source.
 */
static bool head_arrived(struct pc_net_repo *repo, const char *mirror)
{
	struct net_head *h = &repo->head;
	struct pc_head head;
	char why[512];
	int rc;

	rc = judge(repo, h->body, h->body_len, &head, why, sizeof(why));
	if (rc > 0 && held_back(repo, &head, mirror)) {
		poll_end(repo, 0, "", mirror);
		return true;
	}
	if (rc > 0) {
		hand_over(repo, &head, mirror, h->body, h->body_len);
		return true;
	}
	if (rc == 0) {
		pc_log(PC_LOG_DEBUG, "net",
		       "head version %" PRIu64 " from %s: up to date",
		       head.version, mirror);
		poll_end(repo, 0, "", mirror);
		return true;
	}
	if (rc == -EEXIST)
		equivocation_seen(repo, &head, mirror, why);
	if (h->asking_peers && rc == -ESTALE)
		/* A neighbour still on an older version: normal. */
		pc_log(PC_LOG_DEBUG, "net", "head from %s: %s", mirror, why);
	else
		refused(repo, mirror, rc, why, rc != -EEXIST);
	return false;
}

static void head_on_done(struct net_xfer *xfer,
			 const struct net_xfer_result *res)
{
	struct net_head *h = xfer->ctx;
	struct pc_net_repo *repo = container_of(h, struct pc_net_repo, head);
	const char *mirror = h->source_name;
	uint64_t elapsed = uv_now(&repo->net->loop) - h->asked_at;
	char why[512];

	h->xfer = NULL;
	/* How a mirror answers the head counts for its health too: a
	 * stalled head request is a stalled mirror. */
	if (!h->asking_peers &&
	    (res->err || (res->status != 200 && res->status != 0)))
		net_health_head_failed(repo->net, h->mirror, elapsed,
				       res->err ? res->message : "HTTP error",
				       res->err != 0);
	else if (!h->asking_peers) {
		net_health_head_ok(repo->net, h->mirror);
		reachable(mirror);
	}
	if (h->too_large) {
		snprintf(why, sizeof(why), "head too large: more than %d bytes",
			 PC_HEAD_MAX);
		refused(repo, mirror, -EFBIG, why, true);
	} else if (res->status != 200 && res->status != 0) {
		snprintf(why, sizeof(why), "HTTP status %ld", res->status);
		unreachable(repo, mirror, why);
	} else if (res->err) {
		unreachable(repo, mirror, res->message);
	} else if (head_arrived(repo, mirror)) {
		return;
	}
	if (h->asking_peers) {
		h->peer_head++;
		ask_peer(repo);
	} else {
		ask_mirror(repo);
	}
}

static const struct net_xfer_ops head_xfer_ops = {
	.data = head_on_data,
	.done = head_on_done,
};

/* The sources that are not @repo's mirrors (the LAN peers, the other
 * repositories' mirrors): not asked for its head. */
static uint64_t not_mirrors(const struct pc_net_repo *repo)
{
	const struct net_fetcher *fetcher = &repo->net->fetcher;
	uint64_t mask = 0;

	for (size_t i = 0; i < fetcher->nsources; i++)
		if (!fetcher->sources[i].serves_head ||
		    fetcher->sources[i].repo != repo)
			mask |= (uint64_t)1 << i;
	return mask;
}

/* Asks the next mirror not asked in this poll, healthy ones first
 * (source_health.c); when none is left, the neighbours. */
static void ask_mirror(struct pc_net_repo *repo)
{
	struct net_head *h = &repo->head;
	struct net_xfer_opts opts = {
		.timeout_ms = repo->net->cfg->fetch_timeout * 1000,
		.no_cache = true,
	};
	const struct net_source *src;
	char *url;
	int rc;

	for (;;) {
		h->mirror = net_health_next(
			repo->net, h->asked | not_mirrors(repo), false);
		if (h->mirror >= repo->net->fetcher.nsources)
			break;
		h->asked |= (uint64_t)1 << h->mirror;
		src = &repo->net->fetcher.sources[h->mirror];
		if (asprintf(&url, "%s/head", src->base) < 0) {
			unreachable(repo, src->base, "out of memory");
			continue;
		}
		opts.url = url;
		opts.scheme = src->scheme;
		h->body_len = 0;
		h->too_large = false;
		h->asked_at = uv_now(&repo->net->loop);
		snprintf(h->source_name, sizeof(h->source_name), "%s",
			 src->base);
		h->xfer = net_xfer_start(repo->net, &opts, &head_xfer_ops, h,
					 &rc);
		free(url);
		if (h->xfer)
			return;
		unreachable(repo, src->base, strerror(-rc));
	}
	/* No mirror had a new head: perhaps a neighbour has (a subnet
	 * where one node reaches the mirror stays up to date).  A peer's
	 * /head is its first repository's (peer_server.c): only the first
	 * repository asks there. */
	h->asking_peers = true;
	h->peer_head = 0;
	h->npeer_heads = 0;
	if (repo->index != 0) {
		ask_peer(repo); /* ends the poll */
		return;
	}
	h->npeer_heads = net_peers_recent(repo->net, h->peer_heads,
					  sizeof(h->peer_heads) /
						  sizeof(h->peer_heads[0]));
	if (h->npeer_heads == 0 && ask_holders(repo) == 0)
		return; /* ask_peer follows the answer */
	ask_peer(repo);
}

/* Neighbours heard: whoever holds our current manifest runs the same
 * repository. */
static void on_holders(void *arg, const struct pc_disc_result *r)
{
	struct pc_net_repo *repo = arg;
	struct net_head *h = &repo->head;
	size_t max = sizeof(h->peer_heads) / sizeof(h->peer_heads[0]);

	if (!h->asking_disc)
		return; /* the poll ended without it (shutdown) */
	h->asking_disc = false;
	for (size_t p = 0; p < r->npeers && h->npeer_heads < max; p++)
		if (r->have[0] & (1u << p))
			h->peer_heads[h->npeer_heads++] = r->peers[p];
	ask_peer(repo);
}

/* No neighbour heard lately: asks the subnet who has the current
 * manifest.  0 if the answer will come to on_holders. */
static int ask_holders(struct pc_net_repo *repo)
{
	struct net_head *h = &repo->head;
	struct pc_store_version v;

	if (!repo->net->peers.disc || pc_store_current(repo->store, &v) < 0)
		return -ENOENT;
	if (pc_disc_ask(repo->net->peers.disc, &v.manifest, 1, HOLDERS_WAIT_MS,
			on_holders, repo) < 0)
		return -ENOENT;
	h->asking_disc = true;
	return 0;
}

#define PEER_HEAD_TIMEOUT_MS 5000
#define PEER_CONNECT_MS 1000

/* Asks neighbour h->peer_head for its head, or the next one; ends the
 * poll when none is left. */
static void ask_peer(struct pc_net_repo *repo)
{
	struct net_head *h = &repo->head;
	struct net_xfer_opts opts = {
		.scheme = "http",
		.timeout_ms = PEER_HEAD_TIMEOUT_MS,
		.connect_timeout_ms = PEER_CONNECT_MS,
		.direct = true,
		.no_redirect = true,
	};
	char url[80], host[PC_ADDR_HOST_MAX];
	int rc;

	for (; h->peer_head < h->npeer_heads; h->peer_head++) {
		const struct pc_disc_peer *p = &h->peer_heads[h->peer_head];

		pc_addr_url_host(&p->addr, host, sizeof(host));
		snprintf(h->source_name, sizeof(h->source_name), "peer %s:%u",
			 host, p->http_port);
		snprintf(url, sizeof(url), "http://%s:%u/head", host,
			 p->http_port);
		opts.url = url;
		h->body_len = 0;
		h->too_large = false;
		h->xfer = net_xfer_start(repo->net, &opts, &head_xfer_ops, h,
					 &rc);
		if (h->xfer)
			return;
	}
	if (h->refusal)
		poll_end(repo, h->refusal, h->refusal_msg, "");
	else
		poll_end(repo, -EHOSTUNREACH,
			 h->transport_msg[0] ? h->transport_msg
					     : "no mirror configured",
			 "");
}

static void poll_start(struct pc_net_repo *repo)
{
	struct net_head *h = &repo->head;

	h->running = true;
	h->again = false;
	h->current = h->next;
	h->next = NULL;
	h->asked = 0;
	h->asking_peers = false;
	h->refusal = 0;
	h->refusal_msg[0] = '\0';
	h->transport_msg[0] = '\0';
	net_status_poll_started(repo);
	ask_mirror(repo);
}

static void on_uv_head_timer(uv_timer_t *timer)
{
	struct pc_net_repo *repo =
		container_of(timer, struct pc_net_repo, head.timer);

	if (may_poll(repo))
		poll_start(repo);
	else
		repo->head.again = true;
}

int net_head_request(struct pc_net_repo *repo, net_poll_done done, void *arg)
{
	struct net_head *h = &repo->head;
	struct net_poll_waiter *waiter, **tail = &h->next;

	NET_LOOP_ONLY(repo->net);
	net_install_resume(repo); /* one that waited for a restart's end */
	if (done) {
		waiter = calloc(1, sizeof(*waiter));
		if (!waiter)
			return -ENOMEM;
		waiter->done = done;
		waiter->arg = arg;
		while (*tail)
			tail = &(*tail)->next;
		*tail = waiter;
	}
	if (may_poll(repo))
		poll_start(repo);
	else
		h->again = true;
	return 0;
}

void net_head_init(struct pc_net_repo *repo)
{
	uv_timer_init(&repo->net->loop, &repo->head.timer);
}

void net_head_start(struct pc_net_repo *repo)
{
	uint64_t interval = repo->cfg->poll_interval * 1000;

	uv_timer_start(&repo->head.timer, on_uv_head_timer, 0, interval);
}

void net_head_shutdown(struct pc_net_repo *repo)
{
	struct net_head *h = &repo->head;
	struct net_poll_waiter *next = h->next;

	uv_close((uv_handle_t *)&h->timer, NULL);
	h->next = NULL;
	if (h->asking_disc) {
		h->asking_disc = false; /* on_holders ignores the answer */
		poll_end(repo, -ECANCELED, "shutting down", "");
	} else if (h->xfer) {
		net_xfer_cancel(h->xfer);
		h->xfer = NULL;
		poll_end(repo, -ECANCELED, "shutting down", "");
	}
	net_install_shutdown(repo);
	net_call_waiters(next, -ECANCELED, "shutting down");
}
