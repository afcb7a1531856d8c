/*
 * head.h - the head poller (head.c) and the install of the head it
 * accepts (head_install.c).
 */
#ifndef PC_NET_HEAD_H
#define PC_NET_HEAD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "discovery.h"
#include "pc_format.h"
#include "pc_net.h"

struct pc_net;
struct pc_net_repo;
struct net_xfer;

/* ---- head poller (head.c) ------------------------------------------------- */

/* @error is "" on success. */
typedef void (*net_poll_done)(void *arg, int result, const char *error);

struct net_poll_waiter {
	struct net_poll_waiter *next;
	net_poll_done done;
	void *arg;
};

struct net_install_job;

struct net_head {			 /* loop thread only */
	uv_timer_t timer;		 /* periodic poll */
	bool running;			 /* a poll is in progress */
	bool again;			 /* poll once more when this one ends */
	struct net_poll_waiter *current; /* told when this poll ends */
	struct net_poll_waiter *next;	 /* told when the next one ends */
	size_t mirror;			 /* index being asked */
	uint64_t asked;			 /* bit i: source i asked already */
	uint64_t asked_at;		 /* uv_now() ms of the request */
	/* After the mirrors: peers heard lately (their /head). */
	bool asking_peers;
	bool asking_disc; /* who holds our version? (discovery) */
	size_t npeer_heads, peer_head;
	struct pc_disc_peer peer_heads[8];
	char source_name[256]; /* what is asked now, for logs and status */
	struct net_xfer *xfer; /* GET head in progress */
	char body[PC_HEAD_MAX + 1];
	size_t body_len;
	bool too_large;
	int refusal; /* first refusal of this poll */
	char refusal_msg[768];
	char transport_msg[600];     /* first transport failure */
	struct net_install_job *job; /* the install in progress, if any
					(head_install.c) */
	char last_warning[768];	     /* the cause of the last refusal logged */
	/* Heads refused as equivocation (a second head of the accepted
	 * version), kept for the status until the daemon stops. */
	uint64_t equivocations;
	int64_t equivocation_first, equivocation_last; /* unix time */
	char equivocation[700];
	/* A newer version the last poll found but did not install (held);
	 * 0: none. */
	uint64_t held_available;
};

/* switch_hold.c, host-wide (every repository's switches): a restart
 * holds version switches (any thread sets it); switches from
 * net_switch_begin() to net_switch_end() (loop thread).  Sequentially
 * consistent atomics: a holder that sees no switch running knows that the
 * next begin sees the hold. */
struct net_switches {
	atomic_bool hold;
	atomic_int running;
};

void net_head_init(struct pc_net_repo *repo);
void net_head_start(struct pc_net_repo *repo);
/* Runs a poll (now, or right after the one in progress); @done may be
 * NULL.  0 or -ENOMEM. */
int net_head_request(struct pc_net_repo *repo, net_poll_done done, void *arg);
void net_head_shutdown(struct pc_net_repo *repo);
/* Every waiter in the list hears @result, once (a forgotten one not), and
 * is freed. */
void net_call_waiters(struct net_poll_waiter *waiter, int result,
		      const char *error);
/* Waiters in the list whose arg is @arg are not told (their caller went
 * away). */
void net_waiters_forget(struct net_poll_waiter *waiter, void *arg);
/* Every waiter of a poll or install whose arg is @arg: the same. */
void net_head_forget(struct pc_net_repo *repo, void *arg);
/* A poll that was asked for meanwhile starts now if it may. */
void net_head_resume(struct pc_net_repo *repo);

/* ---- the install of an accepted head (head_install.c) ------------------- */

/* Fetches and installs @head's manifest; @waiters (taken) hear the end.
 * An install still fetching an older manifest is superseded (its waiters
 * move to this one).  0, or -ENOMEM (nothing taken). */
int net_install_start(struct pc_net_repo *repo, const struct pc_head *head,
		      const char *source, const char *body, size_t body_len,
		      struct net_poll_waiter *waiters);
/* The version being installed (0: none); @on_worker: it is written to
 * the store now and cannot be superseded. */
uint64_t net_install_version(struct pc_net_repo *repo, bool *on_worker);
/* @hash is the manifest of the install in progress. */
bool net_install_wants(struct pc_net_repo *repo, const struct pc_hash *hash);
/* @waiters (taken) hear when the install in progress ends. */
void net_install_join(struct pc_net_repo *repo,
		      struct net_poll_waiter *waiters);
void net_install_forget(struct pc_net_repo *repo, void *arg);
/* Shutting down: its waiters hear -ECANCELED now. */
void net_install_shutdown(struct pc_net_repo *repo);
/* An install whose manifest arrived while switches were held
 * (switch_hold.c) goes on now, unless they still are. */
void net_install_resume(struct pc_net_repo *repo);

/* ---- holding version switches for a restart (switch_hold.c) ------------- */

/* Loop thread, before a version switch is queued (an install on a
 * worker, a rollback, an unpin): false while switches are held (the
 * switch waits or is refused), else true and the switch counts as running
 * until net_switch_end(), which comes after the fs hook has run. */
bool net_switch_begin(struct pc_net *net);
void net_switch_end(struct pc_net *net);

struct pc_json;
/* An equivocation was seen: true, with a sentence for the status. */
bool net_head_alert(struct pc_net_repo *repo, char *out, size_t len);
/* "equivocations", "equivocation_at", "equivocation" for the status. */
void net_head_json(struct pc_net_repo *repo, struct pc_json *j);

#endif /* PC_NET_HEAD_H */
