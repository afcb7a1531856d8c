/*
 * source_health.h - per-source health: which mirrors were slow or sent
 * wrong bytes lately, the order a fetch tries its sources in, the share of
 * a fetch's time one attempt may take, and what the status says about it
 * (net/, internal; loop thread only).
 *
 * A mirror that was slow (an attempt failed after NET_HEALTH_SLOW_MS or
 * more: a low-speed abort, a timeout), sent wrong bytes, or could not be
 * reached by NET_HEALTH_FAILURES head polls in a row is demoted: tried after the healthy
 * ones, for NET_HEALTH_DEMOTE_FIRST_MS, doubling while the trouble lasts up
 * to NET_HEALTH_DEMOTE_MAX_MS.  When a demotion runs out one fetch tries
 * the source in its configured place again (a probe); success restores
 * it, failure demotes it for longer.  The LAN peers are not judged here:
 * they come first, and peer_source.c bans or skips a bad peer itself.
 */
#ifndef PC_NET_SOURCE_HEALTH_H
#define PC_NET_SOURCE_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "pc_config.h"
#include "pc_net.h"

#define NET_HEALTH_SLOW_MS 2000
#define NET_HEALTH_FAILURES 3
#define NET_HEALTH_DEMOTE_FIRST_MS 30000
#define NET_HEALTH_DEMOTE_MAX_MS 600000
/* Readers' fetches that failed this recently make the status failing. */
#define NET_HEALTH_READ_WINDOW_S 600
/* One attempt gets at least this much of a fetch's time (if it has it). */
#define NET_HEALTH_ATTEMPT_MIN_MS 1000
#define NET_HEALTH_SOURCES 64 /* NET_MAX_SOURCES */

struct pc_net;
struct net_fetch;
struct pc_json;
struct pc_net_repo;

enum net_health_trouble {
	NET_TROUBLE_NONE,
	NET_TROUBLE_SLOW,	 /* attempts failed after a long wait */
	NET_TROUBLE_WRONG_BYTES, /* a body did not match its hash */
	NET_TROUBLE_FAILING,	 /* unreachable, poll after poll */
};

/* What is known about one source; loop thread only (a copy goes to the
 * metrics snapshot). */
struct net_source_health {
	enum net_health_trouble trouble; /* why demoted; NONE: it is not */
	uint64_t demoted_until;		 /* uv_now() ms; 0: not demoted */
	uint64_t demote_ms;		 /* length of the last demotion */
	int64_t since;		/* unix time the trouble began; 0: none */
	int64_t last_trouble;	/* unix time of the last bad attempt */
	bool probing;		/* a fetch tries it in its place again */
	uint64_t probe_started; /* uv_now() ms */
	unsigned failures_in_a_row;
	uint64_t ok, bad_chunks, slow, failures; /* attempts, since start */
	char last_error[160];			 /* "" if none */
};

struct net_health {
	struct net_source_health src[NET_HEALTH_SOURCES];
	/* Attempts on a source that was just demoted as slow move on to
	 * the next source, from a timer (never from inside a callback of
	 * the fetch that reported it). */
	uv_timer_t move_timer;
	uint64_t move_sources; /* bit i: move attempts off source i */
	uint64_t demoted_at[NET_HEALTH_SOURCES]; /* uv_now() ms */
	/* Readers' fetches that failed (not read-ahead). */
	uint64_t read_failures;
	int64_t last_read_failure; /* unix time; 0: never */
	char last_read_error[200];
};

void net_health_init(struct pc_net *net);
void net_health_shutdown(struct pc_net *net);

/* The source a fetch tries next: the healthy ones in configured order,
 * then the demoted ones; none of @excluded (bit i: source i).
 * net->nsources if none is left.  @take: the pick is used (a source whose
 * demotion ran out becomes this fetch's probe). */
size_t net_health_next(struct pc_net *net, uint64_t excluded, bool take);
/* How long an attempt at @src may take out of @left ms: a share, while
 * other sources not in @excluded remain, so that a source that stalls
 * leaves time for them. */
uint64_t net_health_budget(struct pc_net *net, size_t src, uint64_t excluded,
			   uint64_t left);
/* An attempt of @f at f->source ended with @outcome (enum net_attempt). */
void net_health_report(struct pc_net *net, struct net_fetch *f, int outcome);
/* A poll's request to mirror @src failed after @elapsed_ms (@why;
 * @unreachable: a transport error, not an HTTP status): a slow head counts
 * like a slow chunk, NET_HEALTH_FAILURES unreachable ones in a row demote
 * it as failing. */
void net_health_head_failed(struct pc_net *net, size_t src, uint64_t elapsed_ms,
			    const char *why, bool unreachable);
void net_health_head_ok(struct pc_net *net, size_t src);
/* @f ended with @status < 0: a reader's fetch counts as a failed read. */
void net_health_fetch_failed(struct pc_net *net, const struct net_fetch *f,
			     int status);

/* The status as @repo's sources (and the peers) make it (NULL: every
 * source): @polled (the head poller's) turned
 * into failing when readers' fetches failed lately or no mirror is usable,
 * or degraded when a mirror is demoted; the sentence in @reason ("" if
 * nothing to add). */
enum pc_net_state net_health_state(struct pc_net *net,
				   const struct pc_net_repo *repo,
				   enum pc_net_state polled, char *reason,
				   size_t len);
/* Source @i counts as demoted for the status: demoted now, or on
 * probation with its trouble less than NET_HEALTH_DEMOTE_MAX_MS old. */
bool net_health_demoted(struct pc_net *net, size_t i);
/* "sources":[{...}] (the peers and @repo's mirrors; NULL: all) and
 * "read_failures" (host-wide) for the status answer. */
void net_health_json(struct pc_net *net, const struct pc_net_repo *repo,
		     struct pc_json *j);

#endif /* PC_NET_SOURCE_HEALTH_H */
