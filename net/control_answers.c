/*
 * control_answers.c - the control socket's answers built at once: status
 * (the poller's state made worse by what the sources and heads say, with
 * every reason in one sentence), stats, peers and config.  Loop thread
 * only, like the rest of the socket (control.c); docs/CONTROL.md is the
 * contract.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net.h"
#include "pc_util.h"

/* Why the node is in @st's state, in a sentence ("" when up to date). */
static void status_reason(const struct pc_net_status *st,
			  const struct pc_store_version *v, bool have,
			  char *out, size_t len)
{
	char when[32];

	switch (st->state) {
	case PC_STATE_STARTING:
		snprintf(out, len, "no poll of the head has finished yet");
		return;
	case PC_STATE_UP_TO_DATE:
		out[0] = '\0';
		return;
	case PC_STATE_STALE:
		pc_format_utc(have ? v->expires : 0, when, sizeof(when));
		snprintf(out, len,
			 "the head of version %llu expired at %s and the "
			 "mirrors offer nothing newer",
			 (unsigned long long)(have ? v->version : 0), when);
		return;
	case PC_STATE_FAILING:
		snprintf(out, len, "%s", st->last_error);
		return;
	case PC_STATE_DEGRADED:
		break;
	}
	out[0] = '\0';
}

/* Appends the install in progress to @out. */
static void installing_reason(const struct pc_net_status *st, char *out,
			      size_t len)
{
	size_t used = strlen(out);
	char when[32];

	pc_format_utc(st->installing_since, when, sizeof(when));
	if (used < len)
		snprintf(out + used, len - used,
			 "%sinstalling version %llu (its manifest is fetched "
			 "or installed) since %s",
			 used ? "; " : "", (unsigned long long)st->installing,
			 when);
}

/*
 * The status a person or a monitor should see: the poller's, made worse
 * by what the sources and the heads say (source_health.c: reads failing,
 * mirrors demoted; head.c: an equivocation), with every reason in one
 * sentence.  Loop thread.
 */
enum pc_net_state control_status(struct pc_net_repo *repo,
				 struct pc_net_status *st, char *reason,
				 size_t len)
{
	struct pc_store_version v;
	bool have = pc_store_current(repo->store, &v) == 0;
	char polled[sizeof(st->last_error) + 128], health[1024], alert[600];
	enum pc_net_state state;

	pc_net_repo_status(repo, st);
	status_reason(st, &v, have, polled, sizeof(polled));
	if (st->installing)
		installing_reason(st, polled, sizeof(polled));
	state = net_health_state(repo->net, repo, st->state, health,
				 sizeof(health));
	if (net_head_alert(repo, alert, sizeof(alert)) &&
	    state == PC_STATE_UP_TO_DATE)
		state = PC_STATE_DEGRADED;
	snprintf(reason, len, "%s%s%s%s%s", polled,
		 polled[0] && health[0] ? "; " : "", health,
		 (polled[0] || health[0]) && alert[0] ? "; " : "", alert);
	return state;
}

/* The hold of peercachectl rollback: the version held, and the newest one
 * unpin would return to (a newer retained version or the last head
 * found). */
void control_build_hold(struct pc_net_repo *repo, struct pc_json *j)
{
	uint64_t held = pc_store_held_version(repo->store);
	uint64_t available = held ? repo->head.held_available : 0;
	struct pc_store_version prev;

	if (held && pc_store_previous(repo->store, &prev) == 0 &&
	    prev.version > available)
		available = prev.version;
	pc_json_bool(j, "held", held != 0);
	pc_json_uint(j, "held_version", held);
	pc_json_uint(j, "available_version", available > held ? available : 0);
}

/* How bad a state is, for the worst of several repositories. */
static int badness(enum pc_net_state state)
{
	switch (state) {
	case PC_STATE_UP_TO_DATE:
		return 0;
	case PC_STATE_STARTING:
		return 1;
	case PC_STATE_DEGRADED:
		return 2;
	case PC_STATE_STALE:
		return 3;
	case PC_STATE_FAILING:
		return 4;
	}
	return 4;
}

enum pc_net_state control_worst_status(struct pc_net *net, char *reason,
				       size_t len)
{
	enum pc_net_state worst = PC_STATE_UP_TO_DATE, state;
	struct pc_net_status st;
	char one[2048];
	size_t used;

	reason[0] = '\0';
	for (size_t i = 0; i < net->nrepos; i++) {
		state = control_status(net->repos[i], &st, one, sizeof(one));
		if (badness(state) > badness(worst))
			worst = state;
		used = strlen(reason);
		if (one[0] && used < len)
			snprintf(reason + used, len - used, "%s%s: %s",
				 used ? "; " : "", net_repo_name(net->repos[i]),
				 one);
	}
	return worst;
}

/* One repository's status: the answer to `status` naming it. */
static void build_repo_status(struct pc_net_repo *repo, struct pc_json *j)
{
	struct pc_net *net = repo->net;
	const struct pc_repo_config *cfg = repo->cfg;
	struct pc_store_version v;
	struct pc_net_status st;
	bool have = pc_store_current(repo->store, &v) == 0;
	char reason[2048];
	enum pc_net_state state =
		control_status(repo, &st, reason, sizeof(reason));

	pc_json_str(j, "repository", have ? v.name : cfg->name);
	pc_json_uint(j, "version", have ? v.version : 0);
	pc_json_int(j, "published", have ? v.created : 0);
	pc_json_int(j, "expires", have ? v.expires : 0);
	pc_json_int(j, "accepted", have ? v.accepted : 0);
	pc_json_int(j, "head_age", have ? net_unix_now() - v.created : 0);
	pc_json_str(j, "status", pc_net_state_name(state));
	pc_json_str(j, "poll_status", pc_net_state_name(st.state));
	pc_json_str(j, "reason", reason);
	pc_json_str(j, "last_error", st.last_error);
	pc_json_str(j, "source", st.source);
	pc_json_int(j, "last_poll", st.last_poll);
	pc_json_int(j, "last_poll_ok", st.last_poll_ok);
	pc_json_uint(j, "installing", st.installing);
	pc_json_int(j, "installing_since", st.installing_since);
	control_build_hold(repo, j);
	pc_json_int(j, "started", net->started_at);
	pc_json_str_array(j, "mirrors", cfg->mirrors, cfg->nmirrors);
	net_head_json(repo, j);
	net_health_json(net, repo, j);
}

/*
 * `status`: naming a repository (or with only one), its status as
 * build_repo_status says; naming none among several: the worst status
 * word with every repository's reason, then "repositories": each one's
 * status object (with its "name").
 */
void control_build_status(struct pc_net *net, struct pc_net_repo *repo,
			  struct pc_json *j)
{
	char reason[4096];

	if (repo) {
		build_repo_status(repo, j);
		return;
	}
	pc_json_str(j, "status",
		    pc_net_state_name(
			    control_worst_status(net, reason, sizeof(reason))));
	pc_json_str(j, "reason", reason);
	pc_json_int(j, "started", net->started_at);
	pc_json_open(j, "repositories", '[');
	for (size_t i = 0; i < net->nrepos; i++) {
		pc_json_open(j, NULL, '{');
		pc_json_str(j, "name", net_repo_name(net->repos[i]));
		build_repo_status(net->repos[i], j);
		pc_json_close(j);
	}
	pc_json_close(j);
}

/* The LAN side: the peer server's refusals, discovery's drops. */
static void build_peer_stats(struct pc_net *net, struct pc_json *j)
{
	struct pc_peer_server_stats *ps = calloc(1, sizeof(*ps));
	struct pc_disc_counters dc = { 0 };

	if (net->peers.server && ps)
		pc_peer_server_stats(net->peers.server, ps);
	if (net->peers.disc)
		pc_disc_get_counters(net->peers.disc, &dc);
	pc_json_str(j, "discovery", net->peers.disc ? "on" : "off");
	pc_json_str(j, "peer_server", net->peers.server ? "on" : "off");
	pc_json_uint(j, "peer_port", net->peers.http_port);
	pc_json_uint(j, "peer_refused_limit", ps ? ps->refused_limit : 0);
	pc_json_uint(j, "peer_refused_acl", ps ? ps->refused_acl : 0);
	pc_json_uint(j, "peer_not_found", ps ? ps->not_found : 0);
	pc_json_uint(j, "peer_bad_requests", ps ? ps->bad_requests : 0);
	pc_json_uint(j, "peer_uploads_aborted", ps ? ps->uploads_aborted : 0);
	pc_json_uint(j, "peer_refused_connections",
		     ps ? ps->refused_connections : 0);
	pc_json_uint(j, "peer_closed_idle", ps ? ps->closed_idle : 0);
	pc_json_uint(j, "uploads_in_flight", ps ? ps->uploads_in_flight : 0);
	pc_json_uint(j, "discovery_dropped",
		     dc.denied + dc.truncated + dc.oversized + dc.malformed +
			     dc.version + dc.bad_tag + dc.rate_limited);
	pc_json_uint(j, "discovery_denied", dc.denied);
	pc_json_uint(j, "discovery_malformed",
		     dc.truncated + dc.oversized + dc.malformed + dc.version);
	pc_json_uint(j, "discovery_bad_tag", dc.bad_tag);
	pc_json_uint(j, "discovery_rate_limited", dc.rate_limited);
	pc_json_uint(j, "discovery_rate_limited_unproven",
		     dc.rate_limited_unproven);
	pc_json_uint(j, "discovery_probes_received", dc.probes_received);
	pc_json_uint(j, "discovery_answers_sent", dc.answers_sent);
	pc_json_uint(j, "discovery_answers_dropped", dc.answers_dropped);
	pc_json_uint(j, "discovery_ignored",
		     dc.answers_ignored + dc.claims_ignored +
			     dc.fetching_unclaimed);
	pc_json_uint(j, "discovery_probes_sent", dc.probes_sent);
	pc_json_uint(j, "discovery_answers_received", dc.answers_received);
	pc_json_uint(j, "discovery_answers_late", dc.answers_late);
	pc_json_uint(j, "discovery_hint_hits", net->peer_src.hint_hits);
	pc_json_uint(j, "discovery_hints_stale", net->peer_src.hints_stale);
	pc_json_uint(j, "peer_busy_retries", net->peer_src.busy_retries);
	pc_json_uint(j, "claims_won", dc.claims_won);
	pc_json_uint(j, "claims_lost", dc.claims_lost);
	free(ps);
}

/* What a peer's word is worth (peer_trust.c): promises kept and broken,
 * the fetches that waited for it, and whether it is doubted now, till
 * when and why. */
static void build_peer_trust(struct pc_json *j, const struct net_peer *e,
			     int64_t now)
{
	bool doubted = e->doubted_until_unix > now;

	pc_json_uint(j, "promises_kept", e->kept);
	pc_json_uint(j, "promises_broken", e->broken);
	pc_json_uint(j, "waits", e->waits);
	pc_json_bool(j, "doubted", doubted);
	pc_json_int(j, "doubted_until", doubted ? e->doubted_until_unix : 0);
	pc_json_str(j, "doubt_reason", e->broken ? e->broke : "");
	pc_json_bool(j, "claims_doubted", e->claims_doubted_until_unix > now);
	pc_json_int(j, "claims_doubted_until",
		    e->claims_doubted_until_unix > now
			    ? e->claims_doubted_until_unix
			    : 0);
	pc_json_str(j, "claims_doubt_reason", e->claims_why);
}

/* mirror_serve = on: what branch sites asked of this node, by result. */
static void build_mirror_serve_stats(struct pc_net *net, struct pc_json *j)
{
	struct mirror_serve_stats ms;
	bool on = net->peers.server &&
		  pc_peer_server_mirror_stats(net->peers.server, &ms);

	pc_json_str(j, "mirror_serve", on ? "on" : "off");
	if (!on)
		return;
	pc_json_uint(j, "mirror_served_hits", ms.hits);
	pc_json_uint(j, "mirror_served_fetched", ms.fetched);
	pc_json_uint(j, "mirror_served_heads", ms.heads);
	pc_json_uint(j, "mirror_served_bytes_hit", ms.bytes_hit);
	pc_json_uint(j, "mirror_served_bytes_fetched", ms.bytes_fetched);
	pc_json_uint(j, "mirror_refused", ms.refused);
	pc_json_uint(j, "mirror_not_found", ms.not_found);
	pc_json_uint(j, "mirror_busy", ms.busy);
	pc_json_uint(j, "mirror_failed", ms.failed);
	pc_json_uint(j, "mirror_timeouts", ms.timeouts);
	pc_json_uint(j, "mirror_aborted", ms.aborted);
	pc_json_uint(j, "mirror_in_flight", ms.in_flight);
}

/* Every peer heard or asked, with what it gave and its ban. */
void control_build_peers(struct pc_net *net, struct pc_json *j)
{
	struct net_peer *table = calloc(NET_PEER_TABLE, sizeof(*table));
	int64_t now = net_unix_now();
	size_t n = table ? net_peers_snapshot(net, table, NET_PEER_TABLE) : 0;

	pc_json_open(j, "peers", '[');
	for (size_t i = 0; i < n; i++) {
		const struct net_peer *e = &table[i];
		bool banned = e->banned_until > now;

		pc_json_open(j, NULL, '{');
		pc_json_str(j, "address", pc_addr_str(&e->addr));
		pc_json_uint(j, "http_port", e->http_port);
		pc_json_int(j, "first_seen", e->first_seen);
		pc_json_int(j, "last_seen", e->last_seen);
		pc_json_uint(j, "chunks", e->chunks);
		pc_json_uint(j, "bytes", e->bytes);
		pc_json_uint(j, "bad", e->bad);
		pc_json_uint(j, "failures", e->failures);
		pc_json_bool(j, "banned", banned);
		pc_json_int(j, "banned_until", banned ? e->banned_until : 0);
		pc_json_str(j, "reason", e->bad ? e->reason : "");
		build_peer_trust(j, e, now);
		pc_json_close(j);
	}
	pc_json_close(j);
	free(table);
}

/* The health word of `stats`: the one `status` shows (the worst
 * repository's, without one named). */
static const char *stats_status(struct pc_net *net, struct pc_net_repo *repo)
{
	struct pc_net_status st;
	char reason[4096];

	return pc_net_state_name(
		repo ? control_status(repo, &st, reason, sizeof(reason))
		     : control_worst_status(net, reason, sizeof(reason)));
}

/* "repositories" of `stats`: each repository's version and status (only
 * the one named, if one is). */
static void build_repo_stats(struct pc_net *net, struct pc_net_repo *repo,
			     struct pc_json *j)
{
	struct pc_store_version v;
	struct pc_net_status st;
	char reason[4096];

	pc_json_open(j, "repositories", '[');
	for (size_t i = 0; i < net->nrepos; i++) {
		struct pc_net_repo *r = net->repos[i];

		if (repo && r != repo)
			continue;
		pc_json_open(j, NULL, '{');
		pc_json_str(j, "name", net_repo_name(r));
		pc_json_uint(j, "version",
			     pc_store_current(r->store, &v) == 0 ? v.version
								 : 0);
		pc_json_str(j, "status",
			    pc_net_state_name(control_status(r, &st, reason,
							     sizeof(reason))));
		pc_json_close(j);
	}
	pc_json_close(j);
}

/* The counters are the host's (one chunk store); "version" is the named
 * repository's (or the first's). */
void control_build_stats(struct pc_net *net, struct pc_net_repo *repo,
			 struct pc_json *j)
{
	struct pc_net_repo *shown = repo ? repo : net->repos[0];
	struct pc_store_usage usage = { 0, 0 };
	struct pc_store_version v;

	pc_json_str(j, "status", stats_status(net, repo));
	pc_json_uint(j, "version",
		     pc_store_current(shown->store, &v) == 0 ? v.version : 0);
	pc_store_usage(net->store, &usage);
	pc_json_uint(j, "cache_bytes", usage.bytes);
	pc_json_uint(j, "chunks", usage.chunks);
	for (int c = 0; c < PC_CTR_COUNT; c++)
		pc_json_uint(j, pc_counter_name((enum pc_counter)c),
			     pc_store_counter(net->store, (enum pc_counter)c));
	pc_json_uint(j, "quota", net->cfg->quota);
	pc_json_uint(j, "max_age", net->cfg->max_age);
	pc_json_int(j, "started", net->started_at);
	pc_json_int(j, "uptime", net_unix_now() - net->started_at);
	build_peer_stats(net, j);
	build_mirror_serve_stats(net, j);
	build_repo_stats(net, repo, j);
}

/* What peercachectl check needs to test the daemon's own sources. */
/* The repository named (the first if none) at the top, as with one;
 * every repository's in "repositories", at the end. */
void control_build_config(struct pc_net *net, struct pc_net_repo *repo,
			  struct pc_json *j)
{
	const struct pc_config *cfg = net->cfg;
	const struct pc_repo_config *rc = (repo ? repo : net->repos[0])->cfg;

	pc_json_str(j, "repository", rc->name);
	pc_json_str_array(j, "mirrors", rc->mirrors, rc->nmirrors);
	pc_json_str_array(j, "trusted_keys", rc->trusted_keys,
			  rc->ntrusted_keys);
	pc_json_str(j, "proxy", cfg->proxy);
	pc_json_str(j, "ca_file", cfg->ca_file);
	pc_json_uint(j, "connect_timeout", cfg->connect_timeout);
	pc_json_uint(j, "fetch_timeout", cfg->fetch_timeout);
	pc_json_str(j, "cache_dir", cfg->cache_dir);
	pc_json_str(j, "discovery", cfg->discovery ? "on" : "off");
	pc_json_str(j, "peer_server", cfg->peer_server ? "on" : "off");
	pc_json_str(j, "metrics_listen", cfg->metrics_listen);
	pc_json_str(j, "control_group", cfg->control_group);
	pc_json_open(j, "repositories", '[');
	for (size_t i = 0; i < net->nrepos; i++) {
		rc = net->repos[i]->cfg;
		pc_json_open(j, NULL, '{');
		pc_json_str(j, "name", net_repo_name(net->repos[i]));
		pc_json_str_array(j, "mirrors", rc->mirrors, rc->nmirrors);
		pc_json_str_array(j, "trusted_keys", rc->trusted_keys,
				  rc->ntrusted_keys);
		pc_json_close(j);
	}
	pc_json_close(j);
}
