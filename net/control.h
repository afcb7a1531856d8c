/*
 * control.h - shared by the parts of the control socket (net/ internal,
 * loop thread only): control.c (the socket, its clients, access, the
 * requests), control_answers.c (the answers built at once) and
 * control_ops.c (what a client waits for: purge, verify, rollback, unpin
 * on a worker, a discovery round, a prefetch).
 */
#ifndef PC_NET_CONTROL_H
#define PC_NET_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "discovery.h"
#include "pc_json.h"
#include "pc_list.h"
#include "pc_net.h"
#include "pc_store.h"

struct pc_net;
struct net_prefetch_job;

/* The control socket; loop thread only. */
struct net_control {
	uv_pipe_t pipe;
	bool open;  /* the handle is initialised */
	bool bound; /* the socket file is ours to remove */
	struct pc_list clients;
	size_t nclients;
	bool group_set;	  /* read-only after init */
	gid_t gid;	  /* control_group; read-only after init */
	bool verify_busy; /* a verify runs on a worker */
	/* The repository whose rollback or unpin runs on a worker, or
	 * NULL: one at a time in the host, and only its heads are held
	 * back meanwhile. */
	struct pc_net_repo *switching;
};

/* ---- control socket (control.c) ------------------------------------------ */

/* Also starts and stops the metrics endpoint (below). */
int net_control_init(struct pc_net *net, char *err, size_t errlen);
/* The gid of control_group @group; -ENOENT (or -errno) with @err set. */
int net_control_group_gid(const char *group, gid_t *gid, char *err,
			  size_t errlen);
void net_control_shutdown(struct pc_net *net);

#define LINE_MAX_BYTES 256

struct control_op;

/* One connection; loop thread only. */
struct control_client {
	struct pc_net *net;
	/* The repository the request names (the first when it names none
	 * and there is one); NULL: it named none among several. */
	struct pc_net_repo *repo;
	uv_pipe_t pipe;
	uv_timer_t idle; /* closes a client that does not send its line */
	uv_write_t write_req;
	struct pc_list link;	       /* net->control_clients */
	char line[LINE_MAX_BYTES + 2]; /* the line, its '\n', a NUL */
	size_t len;
	char *reply;	       /* owned, while being written */
	struct control_op *op; /* the operation it waits for, if any */
	struct net_prefetch_job *prefetch; /* the prefetch it waits for */
	char refused[128]; /* why it may not ask; "" if it may */
	int handles_open;  /* freed when both handles are closed */
	bool closing;
};

/*
 * An operation a client waits for: a worker job (purge, verify, rollback,
 * unpin), the poll after an unpin, or a discovery round.  Loop thread
 * only.  Whoever is done last frees it: the client (closing) or the
 * outside callback it waits for (@external).
 */
enum control_op_kind {
	OP_PURGE,    /* the configured limits, as the purge timer */
	OP_PURGE_TO, /* down to @target bytes (0: everything) */
	OP_VERIFY,
	OP_ROLLBACK,
	OP_UNPIN,
	OP_DISCOVER,
};

struct control_op {
	struct pc_net *net;
	struct pc_net_repo *repo;      /* the client's: rollback, unpin */
	struct control_client *client; /* NULL once it went away */
	enum control_op_kind kind;
	bool external; /* a worker, poll or ask still holds it */
	uv_work_t work;
	uint64_t target; /* OP_PURGE_TO */
	/* Written by the worker, read in the after-work callback. */
	int rc;
	struct pc_purge_result purge;
	struct pc_verify_result verify;
	struct pc_store_changes changes;
	uint64_t version_before; /* OP_ROLLBACK, OP_UNPIN: served before */
	char poll_error[256];	 /* OP_UNPIN: the poll after it failed */
	/* OP_DISCOVER */
	bool asked, window_over;
	struct pc_store_version asked_for;
	int64_t started;
	uint64_t answers_before;
	struct pc_disc_result result;
};

/* ---- control.c ------------------------------------------------------------ */

/* Sends the object being built in @j (taking its buffer), then closes. */
void control_reply(struct control_client *c, struct pc_json *j);
/* {"error":@error} */
void control_reply_error(struct control_client *c, const char *error);
/* An operation's answer: {"result":"ok"|"error","error":@error, ...} with
 * the members @more adds (may be NULL). */
void control_reply_result(struct control_client *c, const char *error,
			  void (*more)(struct control_op *, struct pc_json *),
			  struct control_op *op);
/* Watches the client after its request: if it closes its end, it is
 * closed (and what it waits for detached) at once.  For long requests. */
void control_watch_hangup(struct control_client *c);
/* ---- control_answers.c --------------------------------------------------- */

/* The hold of a rollback: held, held_version, available_version. */
void control_build_hold(struct pc_net_repo *repo, struct pc_json *j);
/* The members of the answers to status, stats, peers and config; @repo is
 * the repository the request named (NULL: none, among several). */
void control_build_status(struct pc_net *net, struct pc_net_repo *repo,
			  struct pc_json *j);
void control_build_stats(struct pc_net *net, struct pc_net_repo *repo,
			 struct pc_json *j);
void control_build_peers(struct pc_net *net, struct pc_json *j);
void control_build_config(struct pc_net *net, struct pc_net_repo *repo,
			  struct pc_json *j);
/* @repo's status to show, with every reason for it in @reason (also
 * fills @st with the poller's own). */
enum pc_net_state control_status(struct pc_net_repo *repo,
				 struct pc_net_status *st, char *reason,
				 size_t len);
/* The worst of every repository's, with their reasons ("NAME: ..."). */
enum pc_net_state control_worst_status(struct pc_net *net, char *reason,
				       size_t len);

/* ---- control_ops.c -------------------------------------------------------- */

/* "purge", "purge all", "purge to BYTES" (@args: what follows "purge"). */
void control_start_purge(struct control_client *c, const char *args);
void control_start_verify(struct control_client *c);
/* OP_ROLLBACK or OP_UNPIN. */
void control_start_switch(struct control_client *c, enum control_op_kind kind);
void control_start_discover(struct control_client *c);
/* "prefetch PATH". */
void control_start_prefetch(struct control_client *c, const char *path);

#endif /* PC_NET_CONTROL_H */
