/*
 * control.c - the control socket: how peercachectl (and anything else
 * allowed on the node) asks the daemon for its status, its counters, its
 * peers and configuration, and has it poll the head, purge, verify the
 * cache, roll back to the previous version or ask the LAN who is there.
 *
 * A Unix stream socket served by the loop: the client sends one line (a
 * command and its arguments), the daemon answers one JSON object and a
 * newline, then closes.  One line and one answer keep clients trivial
 * (even `socat` or `nc -U` work) and the server free of framing.  Every
 * connection is bounded: 256 bytes of request, 5 seconds to send it, a
 * fixed number of clients at once.
 *
 * Access: the socket is mode 0600 (root), or 0660 with control_group as
 * its group; on top of that, each client's credentials (SO_PEERCRED, and
 * SO_PEERGROUPS for its supplementary groups) are checked at accept, so a
 * socket whose mode was loosened still serves only root and that group.
 *
 * Nothing slow runs on the loop: what takes time (purge, verify,
 * rollback, unpin, a discovery round, a prefetch) is in control_ops.c and
 * answers when it is done; refresh answers when its poll ends.  A client
 * that goes away (the daemon stopping) detaches from what it waits for,
 * which then finishes without answering.  docs/CONTROL.md is the
 * contract; the answers are written with json_writer.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"

#define IDLE_MS 5000
#define REFRESH_MIN_MS 5000
#define REFRESH_MAX_MS 240000
#define CLIENTS_MAX 32
#define BACKLOG 16
/* Supplementary groups of a client looked at for control_group. */
#define PEER_GROUPS_MAX 256

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59 /* Linux 4.13 */
#endif

/* ---- answers ------------------------------------------------------------------ */

/* Why the node is in @st's state, in a sentence ("" when up to date). */
static void status_reason(const struct pc_net_status *st,
			  const struct pc_store_version *v, bool have,
			  char *out, size_t len)
{
	char when[32] = "?";
	time_t t = have ? (time_t)v->expires : 0;
	struct tm tm;

	switch (st->state) {
	case PC_STATE_STARTING:
		snprintf(out, len, "no poll of the head has finished yet");
		return;
	case PC_STATE_UP_TO_DATE:
		out[0] = '\0';
		return;
	case PC_STATE_STALE:
		if (gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
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
	char when[32] = "?";
	time_t t = (time_t)st->installing_since;
	struct tm tm;

	if (gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
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
enum pc_net_state control_status(struct pc_net *net, struct pc_net_status *st,
				 char *reason, size_t len)
{
	struct pc_store_version v;
	bool have = pc_store_current(net->store, &v) == 0;
	char polled[sizeof(st->last_error) + 128], health[1024], alert[600];
	enum pc_net_state state;

	pc_net_status(net, st);
	status_reason(st, &v, have, polled, sizeof(polled));
	if (st->installing)
		installing_reason(st, polled, sizeof(polled));
	state = net_health_state(net, st->state, health, sizeof(health));
	if (net_head_alert(net, alert, sizeof(alert)) &&
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
void control_build_hold(struct pc_net *net, struct json *j)
{
	uint64_t held = pc_store_held_version(net->store);
	uint64_t available = held ? net->held_available : 0;
	struct pc_store_version prev;

	if (held && pc_store_previous(net->store, &prev) == 0 &&
	    prev.version > available)
		available = prev.version;
	json_bool(j, "held", held != 0);
	json_uint(j, "held_version", held);
	json_uint(j, "available_version", available > held ? available : 0);
}

static void build_status(struct pc_net *net, struct json *j)
{
	const struct pc_config *cfg = net->cfg;
	struct pc_store_version v;
	struct pc_net_status st;
	bool have = pc_store_current(net->store, &v) == 0;
	char reason[2048];
	enum pc_net_state state =
		control_status(net, &st, reason, sizeof(reason));

	json_str(j, "repository", have ? v.name : cfg->repository);
	json_uint(j, "version", have ? v.version : 0);
	json_int(j, "published", have ? v.created : 0);
	json_int(j, "expires", have ? v.expires : 0);
	json_int(j, "accepted", have ? v.accepted : 0);
	json_int(j, "head_age", have ? net_unix_now() - v.created : 0);
	json_str(j, "status", pc_net_state_name(state));
	json_str(j, "poll_status", pc_net_state_name(st.state));
	json_str(j, "reason", reason);
	json_str(j, "last_error", st.last_error);
	json_str(j, "source", st.source);
	json_int(j, "last_poll", st.last_poll);
	json_int(j, "last_poll_ok", st.last_poll_ok);
	json_uint(j, "installing", st.installing);
	json_int(j, "installing_since", st.installing_since);
	control_build_hold(net, j);
	json_int(j, "started", net->started_at);
	json_str_array(j, "mirrors", cfg->mirrors, cfg->nmirrors);
	net_head_json(net, j);
	net_health_json(net, j);
}

/* The LAN side: the peer server's refusals, discovery's drops. */
static void build_peer_stats(struct pc_net *net, struct json *j)
{
	struct pc_peer_server_stats *ps = calloc(1, sizeof(*ps));
	struct pc_disc_counters dc = { 0 };

	if (net->peers.server && ps)
		pc_peer_server_stats(net->peers.server, ps);
	if (net->peers.disc)
		pc_disc_get_counters(net->peers.disc, &dc);
	json_str(j, "discovery", net->peers.disc ? "on" : "off");
	json_str(j, "peer_server", net->peers.server ? "on" : "off");
	json_uint(j, "peer_port", net->peers.http_port);
	json_uint(j, "peer_refused_limit", ps ? ps->refused_limit : 0);
	json_uint(j, "peer_refused_acl", ps ? ps->refused_acl : 0);
	json_uint(j, "peer_not_found", ps ? ps->not_found : 0);
	json_uint(j, "peer_bad_requests", ps ? ps->bad_requests : 0);
	json_uint(j, "peer_uploads_aborted", ps ? ps->uploads_aborted : 0);
	json_uint(j, "peer_refused_connections",
		  ps ? ps->refused_connections : 0);
	json_uint(j, "peer_closed_idle", ps ? ps->closed_idle : 0);
	json_uint(j, "uploads_in_flight", ps ? ps->uploads_in_flight : 0);
	json_uint(j, "discovery_dropped",
		  dc.denied + dc.truncated + dc.oversized + dc.malformed +
			  dc.version + dc.bad_tag + dc.rate_limited);
	json_uint(j, "discovery_denied", dc.denied);
	json_uint(j, "discovery_malformed",
		  dc.truncated + dc.oversized + dc.malformed + dc.version);
	json_uint(j, "discovery_bad_tag", dc.bad_tag);
	json_uint(j, "discovery_rate_limited", dc.rate_limited);
	json_uint(j, "discovery_rate_limited_unproven",
		  dc.rate_limited_unproven);
	json_uint(j, "discovery_probes_received", dc.probes_received);
	json_uint(j, "discovery_answers_sent", dc.answers_sent);
	json_uint(j, "discovery_answers_dropped", dc.answers_dropped);
	json_uint(j, "discovery_ignored",
		  dc.answers_ignored + dc.claims_ignored +
			  dc.fetching_unclaimed);
	json_uint(j, "discovery_probes_sent", dc.probes_sent);
	json_uint(j, "discovery_answers_received", dc.answers_received);
	json_uint(j, "discovery_answers_late", dc.answers_late);
	json_uint(j, "discovery_hint_hits", net->peers.hint_hits);
	json_uint(j, "discovery_hints_stale", net->peers.hints_stale);
	json_uint(j, "peer_busy_retries", net->peers.busy_retries);
	json_uint(j, "claims_won", dc.claims_won);
	json_uint(j, "claims_lost", dc.claims_lost);
	free(ps);
}

/* Every peer heard or asked, with what it gave and its ban. */
static void build_peers(struct pc_net *net, struct json *j)
{
	struct net_peer *table = calloc(NET_PEER_TABLE, sizeof(*table));
	int64_t now = net_unix_now();
	size_t n = table ? net_peers_snapshot(net, table, NET_PEER_TABLE) : 0;

	json_key(j, "peers");
	json_puts(j, "[");
	for (size_t i = 0; i < n; i++) {
		const struct net_peer *e = &table[i];
		bool banned = e->banned_until > now;

		json_puts(j, i ? ",{" : "{");
		j->comma = false;
		json_str(j, "address", inet_ntoa(e->addr));
		json_uint(j, "http_port", e->http_port);
		json_int(j, "first_seen", e->first_seen);
		json_int(j, "last_seen", e->last_seen);
		json_uint(j, "chunks", e->chunks);
		json_uint(j, "bytes", e->bytes);
		json_uint(j, "bad", e->bad);
		json_uint(j, "failures", e->failures);
		json_bool(j, "banned", banned);
		json_int(j, "banned_until", banned ? e->banned_until : 0);
		json_str(j, "reason", e->bad ? e->reason : "");
		json_puts(j, "}");
	}
	json_puts(j, "]");
	j->comma = true;
	free(table);
}

static void build_stats(struct pc_net *net, struct json *j)
{
	struct pc_store_usage usage = { 0, 0 };
	struct pc_store_version v;

	json_uint(j, "version",
		  pc_store_current(net->store, &v) == 0 ? v.version : 0);
	pc_store_usage(net->store, &usage);
	json_uint(j, "cache_bytes", usage.bytes);
	json_uint(j, "chunks", usage.chunks);
	for (int c = 0; c < PC_CTR_COUNT; c++)
		json_uint(j, pc_counter_name((enum pc_counter)c),
			  pc_store_counter(net->store, (enum pc_counter)c));
	json_uint(j, "quota", net->cfg->quota);
	json_uint(j, "max_age", net->cfg->max_age);
	json_int(j, "started", net->started_at);
	json_int(j, "uptime", net_unix_now() - net->started_at);
	build_peer_stats(net, j);
}

/* What peercachectl check needs to test the daemon's own sources. */
static void build_config(struct pc_net *net, struct json *j)
{
	const struct pc_config *cfg = net->cfg;

	json_str(j, "repository", cfg->repository);
	json_str_array(j, "mirrors", cfg->mirrors, cfg->nmirrors);
	json_str_array(j, "trusted_keys", cfg->trusted_keys,
		       cfg->ntrusted_keys);
	json_str(j, "proxy", cfg->proxy);
	json_str(j, "ca_file", cfg->ca_file);
	json_uint(j, "connect_timeout", cfg->connect_timeout);
	json_uint(j, "fetch_timeout", cfg->fetch_timeout);
	json_str(j, "cache_dir", cfg->cache_dir);
	json_str(j, "discovery", cfg->discovery ? "on" : "off");
	json_str(j, "peer_server", cfg->peer_server ? "on" : "off");
	json_str(j, "metrics_listen", cfg->metrics_listen);
	json_str(j, "control_group", cfg->control_group);
}

/* ---- connections ------------------------------------------------------------ */

static void client_closed(struct control_client *c)
{
	if (--c->handles_open > 0)
		return;
	free(c->reply);
	free(c);
}

static void on_uv_pipe_closed(uv_handle_t *handle)
{
	client_closed(
		container_of((uv_pipe_t *)handle, struct control_client, pipe));
}

static void on_uv_idle_closed(uv_handle_t *handle)
{
	client_closed(container_of((uv_timer_t *)handle, struct control_client,
				   idle));
}

static void client_close(struct control_client *c)
{
	if (c->closing)
		return;
	c->closing = true;
	net_head_forget(c->net, c); /* a refresh it waited for */
	if (c->op) {		    /* it finishes without an answer */
		c->op->client = NULL;
		if (!c->op->external)
			free(c->op);
		c->op = NULL;
	}
	if (c->prefetch) {
		net_prefetch_abandon(c->prefetch);
		c->prefetch = NULL;
	}
	net_list_remove(&c->link);
	c->net->control_nclients--;
	uv_close((uv_handle_t *)&c->pipe, on_uv_pipe_closed);
	uv_close((uv_handle_t *)&c->idle, on_uv_idle_closed);
}

static void on_uv_written(uv_write_t *req, int status)
{
	(void)status; /* the client is closed either way */
	client_close(container_of(req, struct control_client, write_req));
}

/* Sends the object being built in @j (taking its buffer), then closes. */
void control_reply(struct control_client *c, struct json *j)
{
	uv_buf_t buf;

	json_puts(j, "}\n");
	if (j->failed || c->closing) {
		free(j->buf);
		client_close(c);
		return;
	}
	c->reply = j->buf;
	buf = uv_buf_init(c->reply, (unsigned int)j->len);
	if (uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &buf, 1,
		     on_uv_written) < 0)
		client_close(c);
}

void control_reply_error(struct control_client *c, const char *error)
{
	struct json j = { 0 };

	json_puts(&j, "{");
	json_str(&j, "error", error);
	control_reply(c, &j);
}

/* An operation's answer: {"result":"ok"|"error","error":@error, ...} with
 * the members @more adds. */
void control_reply_result(struct control_client *c, const char *error,
			  void (*more)(struct control_op *, struct json *),
			  struct control_op *op)
{
	struct json j = { 0 };

	json_puts(&j, "{");
	json_str(&j, "result", error[0] ? "error" : "ok");
	json_str(&j, "error", error);
	if (more)
		more(op, &j);
	control_reply(c, &j);
}

/* How long a refresh may wait before it answers "still in progress":
 * twice fetch_timeout, within bounds peercachectl's own deadline (300 s)
 * leaves room for. */
static uint64_t refresh_deadline_ms(const struct pc_net *net)
{
	uint64_t ms = 2 * net->cfg->fetch_timeout * 1000;

	if (ms < REFRESH_MIN_MS)
		ms = REFRESH_MIN_MS;
	return ms > REFRESH_MAX_MS ? REFRESH_MAX_MS : ms;
}

/* The refresh's poll (or the install it started) runs on past the
 * deadline: say so, and let it finish without this client. */
static void on_uv_refresh_deadline(uv_timer_t *timer)
{
	struct control_client *c =
		container_of(timer, struct control_client, idle);
	struct pc_net *net = c->net;
	struct pc_store_version v;
	struct pc_net_status st;
	struct json j = { 0 };
	char reason[2048], error[2200];
	enum pc_net_state state;

	if (c->closing || c->reply)
		return; /* answered meanwhile */
	state = control_status(net, &st, reason, sizeof(reason));
	net_head_forget(net, c);
	snprintf(error, sizeof(error),
		 "still in progress after %llu s%s%s; peercachectl status "
		 "shows the outcome",
		 (unsigned long long)(refresh_deadline_ms(net) / 1000),
		 reason[0] ? ": " : "", reason);
	json_puts(&j, "{");
	json_str(&j, "result", "pending");
	json_str(&j, "error", error);
	json_uint(&j, "version",
		  pc_store_current(net->store, &v) == 0 ? v.version : 0);
	json_str(&j, "status", pc_net_state_name(state));
	json_str(&j, "reason", reason);
	control_reply(c, &j);
}

static void on_refreshed(void *arg, int result, const char *error)
{
	struct control_client *c = arg;
	struct pc_net *net = c->net;
	struct pc_store_version v;
	struct pc_net_status st;
	struct json j = { 0 };
	char reason[2048];
	enum pc_net_state state =
		control_status(net, &st, reason, sizeof(reason));

	uv_timer_stop(&c->idle);
	json_puts(&j, "{");
	json_str(&j, "result", result == 0 ? "ok" : "error");
	json_str(&j, "error", result == 0 ? "" : error);
	json_uint(&j, "version",
		  pc_store_current(net->store, &v) == 0 ? v.version : 0);
	json_str(&j, "status", pc_net_state_name(state));
	json_str(&j, "reason", reason);
	control_reply(c, &j);
}

/* "restart": the client goes to the daemon's restart (fs/), which answers
 * it once a new process serves or failed to; the net (and this socket)
 * stops in between. */
static void control_hand_over(struct control_client *c)
{
	struct pc_net *net = c->net;
	uv_os_fd_t fd;
	int kept;

	if (!net->hooks.restart ||
	    uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0) {
		control_reply_error(c, "restart is not available");
		return;
	}
	kept = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (kept < 0) {
		control_reply_error(c, "out of file descriptors");
		return;
	}
	client_close(c);
	net->hooks.restart(net->hooks.arg, kept);
}

/* ---- requests --------------------------------------------------------------- */

typedef void (*build_fn)(struct pc_net *net, struct json *j);

static void reply_built(struct control_client *c, build_fn build)
{
	struct json j = { 0 };

	json_puts(&j, "{");
	build(c->net, &j);
	control_reply(c, &j);
}

static void client_request(struct control_client *c)
{
	char *line = c->line;
	size_t len = strlen(line);

	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->idle);
	if (c->refused[0]) {
		control_reply_error(c, c->refused);
		return;
	}
	if (len != c->len) /* a NUL inside the line */
		len = 0;
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (strcmp(line, "status") == 0)
		reply_built(c, build_status);
	else if (strcmp(line, "stats") == 0)
		reply_built(c, build_stats);
	else if (strcmp(line, "peers") == 0)
		reply_built(c, build_peers);
	else if (strcmp(line, "config") == 0)
		reply_built(c, build_config);
	else if (strcmp(line, "refresh") == 0) {
		if (net_head_request(c->net, on_refreshed, c) < 0)
			control_reply_error(c, "out of memory");
		else if (!c->closing && !c->reply) /* not answered at once */
			uv_timer_start(&c->idle, on_uv_refresh_deadline,
				       refresh_deadline_ms(c->net), 0);
	} else if (strcmp(line, "purge") == 0)
		control_start_purge(c, "");
	else if (strncmp(line, "purge ", 6) == 0)
		control_start_purge(c, line + 6);
	else if (strcmp(line, "verify") == 0)
		control_start_verify(c);
	else if (strcmp(line, "rollback") == 0)
		control_start_switch(c, OP_ROLLBACK);
	else if (strcmp(line, "unpin") == 0)
		control_start_switch(c, OP_UNPIN);
	else if (strcmp(line, "discover") == 0)
		control_start_discover(c);
	else if (strncmp(line, "prefetch ", 9) == 0 && line[9])
		control_start_prefetch(c, line + 9);
	else if (strcmp(line, "restart") == 0)
		control_hand_over(c);
	else
		control_reply_error(c, "unknown command");
}

static void on_uv_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct control_client *c =
		container_of((uv_pipe_t *)handle, struct control_client, pipe);

	(void)suggested;
	/* Room for one byte more than a line may have, and the NUL. */
	buf->base = c->line + c->len;
	buf->len = sizeof(c->line) - 1 - c->len;
}

static void on_uv_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct control_client *c =
		container_of((uv_pipe_t *)stream, struct control_client, pipe);
	char *newline;

	(void)buf;
	if (nread > 0) {
		c->len += (size_t)nread;
		newline = memchr(c->line, '\n', c->len);
		if (newline) {
			*newline = '\0';
			c->len = (size_t)(newline - c->line);
			client_request(c);
		} else if (c->len >= sizeof(c->line) - 1) {
			uv_read_stop(stream);
			uv_timer_stop(&c->idle);
			control_reply_error(c, c->refused[0] ? c->refused
							     : "request too "
							       "long");
		}
	} else if (nread == UV_EOF && (c->len > 0 || c->refused[0])) {
		c->line[c->len] = '\0'; /* a last line without its newline */
		client_request(c);
	} else if (nread < 0) {
		client_close(c);
	}
}

/* After a request: the client closing its end (EOF, an error) ends what
 * it waits for; anything else it sends is ignored. */
static void on_uv_read_after(uv_stream_t *stream, ssize_t nread,
			     const uv_buf_t *buf)
{
	struct control_client *c =
		container_of((uv_pipe_t *)stream, struct control_client, pipe);

	(void)buf;
	c->len = 0;
	if (nread < 0)
		client_close(c);
}

void control_watch_hangup(struct control_client *c)
{
	c->len = 0;
	if (uv_read_start((uv_stream_t *)&c->pipe, on_uv_alloc,
			  on_uv_read_after) < 0)
		client_close(c);
}

static void on_uv_idle(uv_timer_t *timer)
{
	struct control_client *c =
		container_of(timer, struct control_client, idle);

	if (!c->refused[0]) {
		client_close(c);
		return;
	}
	uv_read_stop((uv_stream_t *)&c->pipe);
	control_reply_error(c, c->refused);
}

/* ---- who may ask ------------------------------------------------------------ */

/* Root, or a member (primary or supplementary group) of control_group,
 * by the credentials the kernel recorded at connect. */
static bool client_allowed(struct pc_net *net, int fd, char *why, size_t len)
{
	gid_t groups[PEER_GROUPS_MAX];
	struct ucred cred;
	socklen_t size = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) < 0) {
		snprintf(why, len, "permission denied: no credentials (%s)",
			 strerror(errno));
		return false;
	}
	if (cred.uid == 0)
		return true;
	if (net->control_group_set) {
		if (cred.gid == net->control_gid)
			return true;
		size = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &size) ==
		    0)
			for (size_t i = 0; i < size / sizeof(groups[0]); i++)
				if (groups[i] == net->control_gid)
					return true;
	}
	snprintf(why, len,
		 "permission denied: uid %u is not root%s (pid %d refused)",
		 (unsigned)cred.uid,
		 net->control_group_set ? " nor in control_group" : "",
		 (int)cred.pid);
	return false;
}

static void on_uv_connection(uv_stream_t *server, int status)
{
	struct pc_net *net =
		container_of((uv_pipe_t *)server, struct pc_net, control);
	struct control_client *c;
	char why[128] = "permission denied";
	uv_os_fd_t fd;

	if (status < 0) {
		net_log(net, PC_LOG_WARN, "control socket: %s",
			uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		net_log(net, PC_LOG_ERROR, "control socket: out of memory");
		return;
	}
	c->net = net;
	uv_pipe_init(&net->loop, &c->pipe, 0);
	uv_timer_init(&net->loop, &c->idle);
	c->handles_open = 2;
	net_list_insert_tail(&net->control_clients, &c->link);
	net->control_nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 ||
	    net->control_nclients > CLIENTS_MAX) {
		client_close(c);
		return;
	}
	/*
	 * A refused client still has its line read (and ignored) before the
	 * error line is sent: closing a Unix socket with unread data resets
	 * the connection, and the client would never see why.
	 */
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) < 0 ||
	    !client_allowed(net, fd, why, sizeof(why))) {
		net_log_cause(net, PC_LOG_WARN, why, "control socket: %s", why);
		snprintf(c->refused, sizeof(c->refused), "%s", why);
	}
	if (uv_read_start((uv_stream_t *)&c->pipe, on_uv_alloc, on_uv_read) <
	    0) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->idle, on_uv_idle, IDLE_MS, 0);
}

/* ---- the server --------------------------------------------------------------- */

/*
 * Removes a socket left by a daemon that died; refuses to touch one that
 * a live daemon still answers on, or a path that is not a socket.
 */
static int clear_stale_socket(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path,
			 strerror(errno));
		return rc;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "control socket %s: exists and is not a "
			 "socket",
			 path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return rc;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	/* EAGAIN: a full backlog, which only a live server has. */
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		close(fd);
		snprintf(err, errlen,
			 "control socket %s is in use by another daemon", path);
		return -EADDRINUSE;
	}
	close(fd);
	if (unlink(path) < 0 && errno != ENOENT) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path,
			 strerror(errno));
		return rc;
	}
	return 0;
}

int net_control_group_gid(const char *group, gid_t *gid, char *err,
			  size_t errlen)
{
	struct group entry, *found = NULL;
	char buf[4096];
	int rc = getgrnam_r(group, &entry, buf, sizeof(buf), &found);

	if (!found) {
		snprintf(err, errlen, "control_group '%s': %s", group,
			 rc ? strerror(rc) : "no such group");
		return rc ? -rc : -ENOENT;
	}
	*gid = entry.gr_gid;
	return 0;
}

/* Mode 0600, or 0660 with control_group as the socket's group. */
static int set_access(struct pc_net *net, const char *path, char *err,
		      size_t errlen)
{
	const char *group = net->cfg->control_group;
	int rc;

	if (group && group[0]) {
		rc = net_control_group_gid(group, &net->control_gid, err,
					   errlen);
		if (rc < 0)
			return rc;
		net->control_group_set = true;
	}
	if ((net->control_group_set &&
	     chown(path, (uid_t)-1, net->control_gid) < 0) ||
	    chmod(path, net->control_group_set ? 0660 : 0600) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", path,
			 strerror(errno));
		return rc;
	}
	return 0;
}

int net_control_init(struct pc_net *net, char *err, size_t errlen)
{
	const char *path = net->cfg->control_socket;
	struct sockaddr_un addr;
	int rc;

	/* The process's start, not this net's: after a restart that failed
	 * the same daemon starts its net again. */
	static int64_t process_started;

	if (!process_started)
		process_started = net_unix_now();
	net->started_at = process_started;
	rc = net_metrics_init(net, err, errlen);
	if (rc < 0)
		return rc;
	if (!path || !path[0])
		return 0; /* no control socket configured */
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen,
			 "control socket %s: longer than the %zu bytes a "
			 "socket path may have",
			 path, sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	rc = clear_stale_socket(path, err, errlen);
	if (rc < 0)
		return rc;
	rc = uv_pipe_init(&net->loop, &net->control, 0);
	if (rc < 0)
		goto fail;
	net->control_open = true;
	rc = uv_pipe_bind(&net->control, path);
	if (rc < 0)
		goto fail;
	net->control_bound = true;
	/* Root (and control_group) only: commands change the cache. */
	rc = set_access(net, path, err, errlen);
	if (rc < 0)
		return rc;
	rc = uv_listen((uv_stream_t *)&net->control, BACKLOG, on_uv_connection);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "control socket %s: %s", path, strerror(-rc));
	return rc;
}

void net_control_shutdown(struct pc_net *net)
{
	net_metrics_shutdown(net);
	if (net->control_open) {
		uv_close((uv_handle_t *)&net->control, NULL);
		net->control_open = false;
	}
	if (net->control_bound)
		unlink(net->cfg->control_socket);
	net->control_bound = false;
	while (!net_list_empty(&net->control_clients))
		client_close(container_of(net->control_clients.next,
					  struct control_client, link));
}
