/*
 * control.c - the control socket: how peercachectl (and anything else
 * running as root on the node) asks the daemon for its status, its
 * counters, or a poll of the head right now.
 *
 * A Unix stream socket (mode 0600) served by the loop: the client sends
 * one line (`status`, `stats` or `refresh`), the daemon answers one JSON
 * object and a newline, then closes.  One line and one answer keep clients
 * trivial (even `socat` or `nc -U` work) and the server free of framing.
 * Every connection is bounded: 256 bytes of request, 5 seconds to send it,
 * a fixed number of clients at once.  A refresh is answered when its poll
 * has ended, without blocking the loop.  docs/CONTROL.md is the contract.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "internal.h"

#define LINE_MAX_BYTES 256
#define IDLE_MS 5000
#define CLIENTS_MAX 32
#define BACKLOG 16

/* One connection; loop thread only. */
struct control_client {
	struct pc_net *net;
	uv_pipe_t pipe;
	uv_timer_t idle; /* closes a client that does not send its line */
	uv_write_t write_req;
	struct net_list link;	       /* net->control_clients */
	char line[LINE_MAX_BYTES + 2]; /* the line, its '\n', a NUL */
	size_t len;
	char *reply;	  /* owned, while being written */
	int handles_open; /* freed when both handles are closed */
	bool closing;
};

/* ---- a small JSON writer ---------------------------------------------------- */

struct json {
	char *buf;
	size_t len, cap;
	bool failed; /* out of memory: the reply is dropped */
	bool comma;  /* a member was written: the next needs a comma */
};

static void json_append(struct json *j, const char *s, size_t n)
{
	char *grown;

	if (j->failed)
		return;
	if (j->len + n + 1 > j->cap) {
		size_t cap = j->cap ? j->cap : 512;

		while (cap < j->len + n + 1)
			cap *= 2;
		grown = realloc(j->buf, cap);
		if (!grown) {
			j->failed = true;
			return;
		}
		j->buf = grown;
		j->cap = cap;
	}
	memcpy(j->buf + j->len, s, n);
	j->len += n;
	j->buf[j->len] = '\0';
}

static void json_puts(struct json *j, const char *s)
{
	json_append(j, s, strlen(s));
}

static void json_string(struct json *j, const char *s)
{
	char esc[8];

	json_puts(j, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			json_append(j, esc, 2);
		} else if (c == '\n') {
			json_puts(j, "\\n");
		} else if (c == '\r') {
			json_puts(j, "\\r");
		} else if (c == '\t') {
			json_puts(j, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			json_puts(j, esc);
		} else {
			json_append(j, s, 1);
		}
	}
	json_puts(j, "\"");
}

static void json_key(struct json *j, const char *key)
{
	if (j->comma)
		json_puts(j, ",");
	j->comma = true;
	json_string(j, key);
	json_puts(j, ":");
}

static void json_int(struct json *j, const char *key, int64_t value)
{
	char num[32];

	json_key(j, key);
	snprintf(num, sizeof(num), "%" PRId64, value);
	json_puts(j, num);
}

static void json_uint(struct json *j, const char *key, uint64_t value)
{
	char num[32];

	json_key(j, key);
	snprintf(num, sizeof(num), "%" PRIu64, value);
	json_puts(j, num);
}

static void json_bool(struct json *j, const char *key, bool value)
{
	json_key(j, key);
	json_puts(j, value ? "true" : "false");
}

static void json_str(struct json *j, const char *key, const char *value)
{
	json_key(j, key);
	json_string(j, value ? value : "");
}

/* ---- answers ------------------------------------------------------------------ */

static void build_status(struct pc_net *net, struct json *j)
{
	const struct pc_config *cfg = net->cfg;
	struct pc_store_version v;
	struct pc_net_status st;
	bool have = pc_store_current(net->store, &v) == 0;

	pc_net_status(net, &st);
	json_str(j, "repository", have ? v.name : cfg->repository);
	json_uint(j, "version", have ? v.version : 0);
	json_int(j, "published", have ? v.created : 0);
	json_int(j, "expires", have ? v.expires : 0);
	json_int(j, "accepted", have ? v.accepted : 0);
	json_int(j, "head_age", have ? net_unix_now() - v.created : 0);
	json_str(j, "status", pc_net_state_name(st.state));
	json_str(j, "last_error", st.last_error);
	json_str(j, "source", st.source);
	json_int(j, "last_poll", st.last_poll);
	json_int(j, "last_poll_ok", st.last_poll_ok);
	json_key(j, "mirrors");
	json_puts(j, "[");
	for (size_t i = 0; i < cfg->nmirrors; i++) {
		if (i)
			json_puts(j, ",");
		json_string(j, cfg->mirrors[i]);
	}
	json_puts(j, "]");
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
	json_uint(j, "uploads_in_flight", ps ? ps->uploads_in_flight : 0);
	json_uint(j, "discovery_dropped",
		  dc.denied + dc.truncated + dc.oversized + dc.malformed +
			  dc.version + dc.bad_tag + dc.rate_limited);
	json_uint(j, "discovery_denied", dc.denied);
	json_uint(j, "discovery_malformed",
		  dc.truncated + dc.oversized + dc.malformed + dc.version);
	json_uint(j, "discovery_bad_tag", dc.bad_tag);
	json_uint(j, "discovery_rate_limited", dc.rate_limited);
	json_uint(j, "discovery_probes_received", dc.probes_received);
	json_uint(j, "discovery_answers_sent", dc.answers_sent);
	json_uint(j, "discovery_probes_sent", dc.probes_sent);
	json_uint(j, "discovery_answers_received", dc.answers_received);
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
	build_peer_stats(net, j);
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
static void client_reply(struct control_client *c, struct json *j)
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

static void reply_error(struct control_client *c, const char *error)
{
	struct json j = { 0 };

	json_puts(&j, "{");
	json_str(&j, "error", error);
	client_reply(c, &j);
}

static void on_refreshed(void *arg, int result, const char *error)
{
	struct control_client *c = arg;
	struct pc_net *net = c->net;
	struct pc_store_version v;
	struct pc_net_status st;
	struct json j = { 0 };

	pc_net_status(net, &st);
	json_puts(&j, "{");
	json_str(&j, "result", result == 0 ? "ok" : "error");
	json_str(&j, "error", result == 0 ? "" : error);
	json_uint(&j, "version",
		  pc_store_current(net->store, &v) == 0 ? v.version : 0);
	json_str(&j, "status", pc_net_state_name(st.state));
	client_reply(c, &j);
}

static void client_request(struct control_client *c)
{
	struct json j = { 0 };
	char *line = c->line;
	size_t len = strlen(line);

	uv_read_stop((uv_stream_t *)&c->pipe);
	uv_timer_stop(&c->idle);
	if (len != c->len) /* a NUL inside the line */
		len = 0;
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		line[--len] = '\0';
	if (strcmp(line, "status") == 0) {
		json_puts(&j, "{");
		build_status(c->net, &j);
		client_reply(c, &j);
	} else if (strcmp(line, "stats") == 0) {
		json_puts(&j, "{");
		build_stats(c->net, &j);
		client_reply(c, &j);
	} else if (strcmp(line, "peers") == 0) {
		json_puts(&j, "{");
		build_peers(c->net, &j);
		client_reply(c, &j);
	} else if (strcmp(line, "refresh") == 0) {
		if (net_head_request(c->net, on_refreshed, c) < 0)
			reply_error(c, "out of memory");
	} else {
		reply_error(c, "unknown command");
	}
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
			reply_error(c, "request too long");
		}
	} else if (nread == UV_EOF && c->len > 0) {
		c->line[c->len] = '\0'; /* a last line without its newline */
		client_request(c);
	} else if (nread < 0) {
		client_close(c);
	}
}

static void on_uv_idle(uv_timer_t *timer)
{
	client_close(container_of(timer, struct control_client, idle));
}

static void on_uv_connection(uv_stream_t *server, int status)
{
	struct pc_net *net =
		container_of((uv_pipe_t *)server, struct pc_net, control);
	struct control_client *c;

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
	    net->control_nclients > CLIENTS_MAX ||
	    uv_read_start((uv_stream_t *)&c->pipe, on_uv_alloc, on_uv_read) <
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

int net_control_init(struct pc_net *net, char *err, size_t errlen)
{
	const char *path = net->cfg->control_socket;
	struct sockaddr_un addr;
	int rc;

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
	/* Root only: refresh makes the daemon poll its mirrors. */
	if (chmod(path, 0600) < 0) {
		rc = -errno;
		goto fail;
	}
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
