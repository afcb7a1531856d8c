/*
 * control_ops.c - the control socket's requests a client waits for
 * (control.h): purge, verify, rollback and unpin run on a libuv worker
 * (struct control_op) and answer from its after-work callback; a
 * discovery round answers when its listening window closes; a prefetch
 * when its last chunk is in.  A client that goes away detaches from its
 * operation, which then finishes without answering.  docs/CONTROL.md is
 * the contract.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"

/* How long a discovery round listens. */
#define DISCOVER_MS 1000

/* ---- operations on a worker: purge, verify, rollback, unpin ----------------- */

/* Worker thread: the store calls, nothing else. */
static void work_op(uv_work_t *work)
{
	struct control_op *op = container_of(work, struct control_op, work);
	/* Purge and verify act on the one chunk store, through any
	 * handle; a rollback or unpin on the repository's versions. */
	struct pc_store *store = op->kind == OP_ROLLBACK || op->kind == OP_UNPIN
					 ? op->repo->store
					 : op->net->store;

	switch (op->kind) {
	case OP_PURGE:
		op->rc = pc_store_enforce_limits(store, &op->purge);
		break;
	case OP_PURGE_TO:
		op->rc = pc_store_purge(store, op->target, &op->purge);
		break;
	case OP_VERIFY:
		op->rc = pc_store_verify(store, &op->verify);
		break;
	case OP_ROLLBACK:
		op->rc = pc_store_rollback(store, &op->changes);
		break;
	case OP_UNPIN:
		op->rc = pc_store_release_hold(store, &op->changes);
		break;
	case OP_DISCOVER:
		break;
	}
}

static void more_purge(struct control_op *op, struct pc_json *j)
{
	struct pc_store_usage usage = { 0, 0 };

	pc_store_usage(op->net->store, &usage);
	pc_json_uint(j, "purged_chunks", op->purge.chunks);
	pc_json_uint(j, "purged_bytes", op->purge.bytes);
	pc_json_uint(j, "kept_pinned", op->purge.kept_pinned);
	pc_json_uint(j, "kept_retained", op->purge.kept_retained);
	pc_json_uint(j, "cache_bytes", usage.bytes);
	pc_json_uint(j, "chunks", usage.chunks);
}

static void more_verify(struct control_op *op, struct pc_json *j)
{
	pc_json_uint(j, "checked", op->verify.checked);
	pc_json_uint(j, "bytes", op->verify.bytes);
	pc_json_uint(j, "bad", op->verify.bad);
	pc_json_uint(j, "bad_bytes", op->verify.bad_bytes);
}

static void more_version(struct control_op *op, struct pc_json *j)
{
	struct pc_store_version v;

	pc_json_uint(j, "version",
		     pc_store_current(op->repo->store, &v) == 0 ? v.version
								: 0);
	control_build_hold(op->repo, j);
}

/* Loop thread: a rollback or unpin switched versions: the kernel forgets
 * what changed, the status the expiry of what is served now. */
static void versions_swapped(struct control_op *op)
{
	struct pc_net_repo *repo = op->repo;
	struct pc_net *net = op->net;
	struct pc_store_version v;
	void (*hook)(void *, uint64_t, const struct pc_store_changes *) =
		repo->hooks.version_switched;

	if (pc_store_current(repo->store, &v) < 0 ||
	    v.version == op->version_before)
		return;
	net_status_set_current(repo, v.expires);
	pc_log(PC_LOG_INFO, "net", "%s: version %llu served: %zu names changed",
	       op->kind == OP_ROLLBACK ? "rollback" : "unpin",
	       (unsigned long long)v.version, op->changes.count);
	if (hook && !net->shutting_down)
		hook(repo->hooks.arg, v.version, &op->changes);
	net_upkeep_warm(net);
}

static void more_unpin(struct control_op *op, struct pc_json *j)
{
	more_version(op, j);
	pc_json_str(j, "poll_error", op->poll_error);
}

/* The poll after an unpin ended: the release itself succeeded either way;
 * a failed poll is reported beside it. */
static void on_unpin_polled(void *arg, int result, const char *error)
{
	struct control_op *op = arg;

	op->external = false;
	if (op->client) {
		op->client->op = NULL;
		if (result < 0)
			snprintf(op->poll_error, sizeof(op->poll_error), "%s",
				 error[0] ? error : strerror(-result));
		control_reply_result(op->client, "", more_unpin, op);
	}
	free(op);
}

/* The message for a store error of @op. */
static const char *op_error(const struct control_op *op, char *buf, size_t len)
{
	if (op->rc == 0)
		return "";
	if (op->kind == OP_ROLLBACK && op->rc == -EALREADY)
		return "a version is held already: peercachectl unpin first";
	if (op->kind == OP_ROLLBACK && op->rc == -ENOENT)
		return "no previous version to roll back to";
	snprintf(buf, len, "%s", strerror(-op->rc));
	return buf;
}

static void after_op(uv_work_t *work, int status)
{
	struct control_op *op = container_of(work, struct control_op, work);
	struct pc_net *net = op->net;
	void (*more)(struct control_op *, struct pc_json *) = more_version;
	char buf[128];

	op->external = false;
	if (status < 0)
		op->rc = status;
	if (op->kind == OP_VERIFY)
		net->control.verify_busy = false;
	if (op->kind == OP_ROLLBACK || op->kind == OP_UNPIN) {
		net->control.switching = NULL;
		if (op->rc == 0)
			versions_swapped(op);
		pc_store_changes_free(&op->changes);
		net_switch_end(net); /* the hook has run */
	}
	if (op->kind == OP_UNPIN && op->rc == 0) {
		op->repo->head.held_available = 0;
		/* Anything newer than what it returned to comes now. */
		if (!net->shutting_down &&
		    net_head_request(op->repo,
				     op->client ? on_unpin_polled : NULL,
				     op) == 0 &&
		    op->client) {
			op->external = true;
			return;
		}
	}
	if (op->kind == OP_PURGE || op->kind == OP_PURGE_TO)
		more = more_purge;
	else if (op->kind == OP_VERIFY)
		more = more_verify;
	else if (op->kind == OP_UNPIN)
		more = more_unpin;
	if (op->client) {
		op->client->op = NULL;
		control_reply_result(op->client, op_error(op, buf, sizeof(buf)),
				     more, op);
	}
	free(op);
}

static struct control_op *op_new(struct control_client *c,
				 enum control_op_kind kind)
{
	struct control_op *op = calloc(1, sizeof(*op));

	if (!op) {
		control_reply_error(c, "out of memory");
		return NULL;
	}
	op->net = c->net;
	op->repo = c->repo;
	op->client = c;
	op->kind = kind;
	return op;
}

/* Queues @op on a worker; the client waits for after_op.  A rollback or
 * unpin is refused while a restart holds version switches. */
static void op_start(struct control_client *c, struct control_op *op)
{
	bool switches = op->kind == OP_ROLLBACK || op->kind == OP_UNPIN;

	if (switches && !net_switch_begin(c->net)) {
		free(op);
		control_reply_error(c, "a restart is under way; try again "
				       "when it is over");
		return;
	}
	if (uv_queue_work(&c->net->loop, &op->work, work_op, after_op) < 0) {
		if (switches)
			net_switch_end(c->net);
		free(op);
		control_reply_error(c, "cannot start a worker");
		return;
	}
	op->external = true;
	c->op = op;
	if (op->kind == OP_VERIFY)
		c->net->control.verify_busy = true;
	if (op->kind == OP_ROLLBACK || op->kind == OP_UNPIN)
		c->net->control.switching = c->repo;
}

/* "purge", "purge all", "purge to BYTES". */
void control_start_purge(struct control_client *c, const char *args)
{
	enum control_op_kind kind = OP_PURGE_TO;
	unsigned long long target = 0;
	struct control_op *op;
	char *end;

	if (!args[0]) {
		kind = OP_PURGE;
	} else if (strncmp(args, "to ", 3) == 0 && args[3] >= '0' &&
		   args[3] <= '9') {
		errno = 0;
		target = strtoull(args + 3, &end, 10);
		if (*end || errno) {
			control_reply_error(c, "purge to: not a number of "
					       "bytes");
			return;
		}
	} else if (strcmp(args, "all") != 0) {
		control_reply_error(c, "usage: purge [all | to BYTES]");
		return;
	}
	op = op_new(c, kind);
	if (!op)
		return;
	op->target = target;
	op_start(c, op);
}

void control_start_verify(struct control_client *c)
{
	struct control_op *op;

	if (c->net->control.verify_busy) {
		control_reply_error(c, "a verify is already running");
		return;
	}
	op = op_new(c, OP_VERIFY);
	if (op)
		op_start(c, op);
}

/* Rollback and unpin switch versions: never while the poller installs
 * one (its install would race the switch), nor two at once. */
void control_start_switch(struct control_client *c, enum control_op_kind kind)
{
	struct pc_store_version current;
	struct control_op *op;

	if (c->net->control.switching) {
		control_reply_error(c, "a rollback or unpin is already "
				       "running");
		return;
	}
	if (c->repo->head.job) {
		control_reply_error(c, "a new version is being installed; try "
				       "again "
				       "when it is done");
		return;
	}
	op = op_new(c, kind);
	if (!op)
		return;
	op->version_before = pc_store_current(c->repo->store, &current) == 0
				     ? current.version
				     : 0;
	op_start(c, op);
}

/* ---- a discovery round (peercachectl check) --------------------------------- */

/*
 * Asks the subnet who has the current version's manifest and listens for
 * DISCOVER_MS: "have" are the peers whose answer said so (discovery ends
 * an ask at the first such answer), "heard" every peer whose packets
 * arrived meanwhile, "answers" the answers that came in the window.
 */
static uint64_t answers_counted(struct pc_net *net)
{
	struct pc_disc_counters dc = { 0 };

	pc_disc_get_counters(net->peers.disc, &dc);
	return dc.answers_received + dc.answers_late;
}

static void json_peer_list(struct pc_json *j, const char *key,
			   const struct pc_disc_peer *peers, size_t n)
{
	char host[PC_ADDR_HOST_MAX], text[PC_ADDR_HOST_MAX + 8];

	pc_json_open(j, key, '[');
	for (size_t i = 0; i < n; i++) {
		pc_addr_url_host(&peers[i].addr, host, sizeof(host));
		snprintf(text, sizeof(text), "%s:%u", host, peers[i].http_port);
		pc_json_str(j, NULL, text);
	}
	pc_json_close(j);
}

static void more_discover(struct control_op *op, struct pc_json *j)
{
	struct pc_disc_peer have[PC_DISC_MAX_PEERS], *heard;
	struct net_peer *table = calloc(NET_PEER_TABLE, sizeof(*table));
	size_t nhave = 0, nheard = 0, n;
	char hex[PC_HASH_HEX_LEN + 1];

	heard = calloc(NET_PEER_TABLE, sizeof(*heard));
	n = table && heard ? net_peers_snapshot(op->net, table, NET_PEER_TABLE)
			   : 0;
	for (size_t p = 0; p < op->result.npeers; p++)
		if (op->result.have[0] & (1u << p))
			have[nhave++] = op->result.peers[p];
	for (size_t i = 0; i < n; i++) {
		if (table[i].last_seen < op->started)
			continue;
		heard[nheard].addr = table[i].addr;
		heard[nheard++].http_port = table[i].http_port;
	}
	pc_hash_to_hex(&op->asked_for.manifest, hex);
	pc_json_uint(j, "version", op->asked_for.version);
	pc_json_str(j, "manifest", hex);
	pc_json_bool(j, "waited", op->result.waited);
	pc_json_uint(j, "answers",
		     answers_counted(op->net) - op->answers_before);
	json_peer_list(j, "have", have, nhave);
	json_peer_list(j, "heard", heard, nheard);
	free(table);
	free(heard);
}

/* Both the ask and the window are over: answer. */
static void discover_reply(struct control_op *op)
{
	struct control_client *c = op->client;
	char why[64] = "";

	c->op = NULL;
	uv_timer_stop(&c->idle);
	if (op->result.status < 0)
		snprintf(why, sizeof(why), "discovery: %s",
			 strerror(-op->result.status));
	control_reply_result(c, why, why[0] ? NULL : more_discover, op);
	free(op);
}

static void on_discovered(void *arg, const struct pc_disc_result *r)
{
	struct control_op *op = arg;

	op->external = false;
	op->asked = true;
	op->result = *r;
	op->result.hashes = NULL; /* borrowed for the call only */
	if (!op->client)
		free(op);
	else if (op->window_over || r->status < 0)
		discover_reply(op);
}

static void on_uv_discover_window(uv_timer_t *timer)
{
	struct control_client *c =
		container_of(timer, struct control_client, idle);
	struct control_op *op = c->op;

	if (!op)
		return;
	op->window_over = true;
	if (op->asked)
		discover_reply(op);
}

void control_start_discover(struct control_client *c)
{
	struct pc_net *net = c->net;
	struct control_op *op;
	int rc;

	if (!net->peers.disc) {
		control_reply_error(c, "discovery is off");
		return;
	}
	op = op_new(c, OP_DISCOVER);
	if (!op)
		return;
	if (pc_store_current(op->repo->store, &op->asked_for) < 0) {
		free(op);
		control_reply_error(c, "no version installed yet: nothing to "
				       "ask for");
		return;
	}
	op->started = net_unix_now();
	op->answers_before = answers_counted(net);
	rc = pc_disc_ask(net->peers.disc, &op->asked_for.manifest, 1,
			 DISCOVER_MS, on_discovered, op);
	if (rc < 0) {
		free(op);
		control_reply_error(c, strerror(-rc));
		return;
	}
	op->external = true;
	c->op = op;
	uv_timer_start(&c->idle, on_uv_discover_window, DISCOVER_MS, 0);
}

/* ---- prefetch ------------------------------------------------------------------ */

static void on_prefetched(void *arg, const struct net_prefetch_result *r)
{
	struct control_client *c = arg;
	struct pc_json j = { 0 };
	char error[128] = "";

	c->prefetch = NULL;
	if (r->rc == -EIO && r->failed)
		snprintf(error, sizeof(error),
			 "%llu chunks could not be fetched (no source "
			 "delivered them in time)",
			 (unsigned long long)r->failed);
	else if (r->rc == -ENODATA)
		snprintf(error, sizeof(error), "no version installed yet");
	else if (r->rc == -EINVAL)
		snprintf(error, sizeof(error),
			 "not a file or directory of the repository");
	else if (r->rc < 0)
		snprintf(error, sizeof(error), "%s", strerror(-r->rc));
	pc_json_str(&j, "result", error[0] ? "error" : "ok");
	pc_json_str(&j, "error", error);
	pc_json_uint(&j, "version", r->version);
	pc_json_uint(&j, "files", r->files);
	pc_json_uint(&j, "chunks", r->chunks);
	pc_json_uint(&j, "bytes", r->bytes);
	pc_json_uint(&j, "cached", r->cached);
	pc_json_uint(&j, "fetched", r->fetched);
	pc_json_uint(&j, "failed", r->failed);
	pc_json_uint(&j, "milliseconds", (uint64_t)(r->seconds * 1000.0));
	control_reply(c, &j);
}

/* "prefetch PATH": every chunk under PATH, into the cache. */
void control_start_prefetch(struct control_client *c, const char *path)
{
	int rc;

	c->prefetch = net_prefetch_start(c->repo, path, on_prefetched, c, &rc);
	if (!c->prefetch)
		control_reply_error(c, rc == -ENAMETOOLONG ? "path too long"
							   : "out of memory");
	else
		control_watch_hangup(c); /* a client that goes stops it */
}
