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
 * answers when it is done; refresh answers when its poll ends, or at its
 * deadline.  The answers built at once (status, stats, peers, config) are
 * in control_answers.c.  A client
 * that goes away (the daemon stopping) detaches from what it waits for,
 * which then finishes without answering.  docs/CONTROL.md is the
 * contract; the answers are built with common/pc_json.h (jansson).
 */
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
#include <unistd.h>

#include "net.h"

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
	for (size_t i = 0; i < c->net->nrepos;
	     i++) /* a refresh it waited for */
		net_head_forget(c->net->repos[i], c);
	if (c->op) { /* it finishes without an answer */
		c->op->client = NULL;
		if (!c->op->external)
			free(c->op);
		c->op = NULL;
	}
	if (c->prefetch) {
		net_prefetch_abandon(c->prefetch);
		c->prefetch = NULL;
	}
	pc_list_remove(&c->link);
	c->net->control.nclients--;
	uv_close((uv_handle_t *)&c->pipe, on_uv_pipe_closed);
	uv_close((uv_handle_t *)&c->idle, on_uv_idle_closed);
}

static void on_uv_written(uv_write_t *req, int status)
{
	(void)status; /* the client is closed either way */
	client_close(container_of(req, struct control_client, write_req));
}

/* Sends the object being built in @j (taking its buffer), then closes. */
void control_reply(struct control_client *c, struct pc_json *j)
{
	size_t len = 0;
	char *text = pc_json_finish(j, &len);
	uv_buf_t buf;

	NET_LOOP_ONLY(c->net);
	if (!text || c->closing) {
		free(text);
		client_close(c);
		return;
	}
	c->reply = text;
	buf = uv_buf_init(c->reply, (unsigned int)len);
	if (uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &buf, 1,
		     on_uv_written) < 0)
		client_close(c);
}

void control_reply_error(struct control_client *c, const char *error)
{
	struct pc_json j = { 0 };

	pc_json_str(&j, "error", error);
	control_reply(c, &j);
}

/* An operation's answer: {"result":"ok"|"error","error":@error, ...} with
 * the members @more adds. */
void control_reply_result(struct control_client *c, const char *error,
			  void (*more)(struct control_op *, struct pc_json *),
			  struct control_op *op)
{
	struct pc_json j = { 0 };

	pc_json_str(&j, "result", error[0] ? "error" : "ok");
	pc_json_str(&j, "error", error);
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
	struct pc_json j = { 0 };
	char reason[2048], error[2200];
	enum pc_net_state state;

	if (c->closing || c->reply)
		return; /* answered meanwhile */
	state = control_status(c->repo, &st, reason, sizeof(reason));
	net_head_forget(c->repo, c);
	snprintf(error, sizeof(error),
		 "still in progress after %llu s%s%s; peercachectl status "
		 "shows the outcome",
		 (unsigned long long)(refresh_deadline_ms(net) / 1000),
		 reason[0] ? ": " : "", reason);
	pc_json_str(&j, "result", "pending");
	pc_json_str(&j, "error", error);
	pc_json_uint(&j, "version",
		     pc_store_current(c->repo->store, &v) == 0 ? v.version : 0);
	pc_json_str(&j, "status", pc_net_state_name(state));
	pc_json_str(&j, "reason", reason);
	control_reply(c, &j);
}

static void on_refreshed(void *arg, int result, const char *error)
{
	struct control_client *c = arg;
	struct pc_store_version v;
	struct pc_net_status st;
	struct pc_json j = { 0 };
	char reason[2048];
	enum pc_net_state state =
		control_status(c->repo, &st, reason, sizeof(reason));

	uv_timer_stop(&c->idle);
	pc_json_str(&j, "result", result == 0 ? "ok" : "error");
	pc_json_str(&j, "error", result == 0 ? "" : error);
	pc_json_uint(&j, "version",
		     pc_store_current(c->repo->store, &v) == 0 ? v.version : 0);
	pc_json_str(&j, "status", pc_net_state_name(state));
	pc_json_str(&j, "reason", reason);
	control_reply(c, &j);
}

/* Root, or the user the daemon runs as, by the credentials the kernel
 * recorded at connect. */
static bool restart_allowed(int fd)
{
	struct ucred cred;
	socklen_t size = sizeof(cred);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &size) == 0 &&
	       (cred.uid == 0 || cred.uid == geteuid());
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
	/* A restart starts a program as the daemon's user: control_group
	 * may ask for everything else, not for that. */
	if (!restart_allowed(fd)) {
		control_reply_error(c, "permission denied: restart is for "
				       "root (or the daemon's own user)");
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

typedef void (*build_fn)(struct pc_net *net, struct pc_net_repo *repo,
			 struct pc_json *j);

static void reply_built(struct control_client *c, build_fn build)
{
	struct pc_json j = { 0 };

	build(c->net, c->repo, &j);
	control_reply(c, &j);
}

static void build_peers(struct pc_net *net, struct pc_net_repo *repo,
			struct pc_json *j)
{
	(void)repo; /* the peers are the host's */
	control_build_peers(net, j);
}

/*
 * "repository NAME COMMAND...": the repository the command is about.
 * Returns the command; sets c->repo (left as it is, the only one or NULL,
 * when the line names none).  NULL with an error sent: no such
 * repository.
 */
static char *take_repository(struct control_client *c, char *line)
{
	static const char prefix[] = "repository ";
	char *name, *end, names[PC_CONFIG_MAX_REPOS * 70], error[1400];

	if (strncmp(line, prefix, sizeof(prefix) - 1) != 0)
		return line;
	name = line + sizeof(prefix) - 1;
	end = strchr(name, ' ');
	if (end)
		*end = '\0';
	c->repo = net_repo_find(c->net, name);
	/* The one repository of a configuration without sections may have
	 * no configured name (the first head's): its head's name counts. */
	if (!c->repo && c->net->nrepos == 1) {
		struct pc_store_version v;

		if (pc_store_current(c->net->repos[0]->store, &v) == 0 &&
		    strcmp(v.name, name) == 0)
			c->repo = c->net->repos[0];
	}
	if (!c->repo) {
		net_repo_names(c->net, names, sizeof(names));
		snprintf(error, sizeof(error),
			 "no repository %.64s here; this daemon serves: %s",
			 name, names);
		control_reply_error(c, error);
		return NULL;
	}
	return end ? end + 1 : name + strlen(name);
}

/* A command about one repository, where the line named none among
 * several: refused, naming them.  True if refused. */
static bool needs_repository(struct control_client *c, const char *command)
{
	char names[PC_CONFIG_MAX_REPOS * 70], error[1400];

	if (c->repo)
		return false;
	net_repo_names(c->net, names, sizeof(names));
	snprintf(error, sizeof(error),
		 "%s: which repository? this daemon serves %zu: %s "
		 "(peercachectl -r NAME; on the socket: repository NAME %s)",
		 command, c->net->nrepos, names, command);
	control_reply_error(c, error);
	return true;
}

static void repository_request(struct control_client *c, char *line);

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
	line = take_repository(c, line);
	if (!line)
		return;
	if (strcmp(line, "status") == 0)
		reply_built(c, control_build_status);
	else if (strcmp(line, "stats") == 0)
		reply_built(c, control_build_stats);
	else if (strcmp(line, "peers") == 0)
		reply_built(c, build_peers);
	else if (strcmp(line, "config") == 0)
		reply_built(c, control_build_config);
	else if (strcmp(line, "purge") == 0)
		control_start_purge(c, "");
	else if (strncmp(line, "purge ", 6) == 0)
		control_start_purge(c, line + 6);
	else if (strcmp(line, "verify") == 0)
		control_start_verify(c);
	else if (strcmp(line, "restart") == 0)
		control_hand_over(c);
	else
		repository_request(c, line);
}

/* The commands about one repository. */
static void repository_request(struct control_client *c, char *line)
{
	bool known =
		strcmp(line, "refresh") == 0 || strcmp(line, "rollback") == 0 ||
		strcmp(line, "unpin") == 0 || strcmp(line, "discover") == 0 ||
		(strncmp(line, "prefetch ", 9) == 0 && line[9]);

	if (!known) {
		control_reply_error(c, "unknown command");
		return;
	}
	if (needs_repository(c, strncmp(line, "prefetch ", 9) == 0 ? "prefetch"
								   : line))
		return;
	if (strcmp(line, "refresh") == 0) {
		if (net_head_request(c->repo, on_refreshed, c) < 0)
			control_reply_error(c, "out of memory");
		else if (!c->closing && !c->reply) /* not answered at once */
			uv_timer_start(&c->idle, on_uv_refresh_deadline,
				       refresh_deadline_ms(c->net), 0);
	} else if (strcmp(line, "rollback") == 0)
		control_start_switch(c, OP_ROLLBACK);
	else if (strcmp(line, "unpin") == 0)
		control_start_switch(c, OP_UNPIN);
	else if (strcmp(line, "discover") == 0)
		control_start_discover(c);
	else
		control_start_prefetch(c, line + 9);
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
	if (net->control.group_set) {
		if (cred.gid == net->control.gid)
			return true;
		size = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &size) ==
		    0)
			for (size_t i = 0; i < size / sizeof(groups[0]); i++)
				if (groups[i] == net->control.gid)
					return true;
	}
	snprintf(why, len,
		 "permission denied: uid %u is not root%s (pid %d refused)",
		 (unsigned)cred.uid,
		 net->control.group_set ? " nor in control_group" : "",
		 (int)cred.pid);
	return false;
}

static void on_uv_connection(uv_stream_t *server, int status)
{
	struct pc_net *net =
		container_of((uv_pipe_t *)server, struct pc_net, control.pipe);
	struct control_client *c;
	char why[128] = "permission denied";
	uv_os_fd_t fd;

	if (status < 0) {
		pc_log(PC_LOG_WARN, "net", "control socket: %s",
		       uv_strerror(status));
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		pc_log(PC_LOG_ERROR, "net", "control socket: out of memory");
		return;
	}
	c->net = net;
	c->repo = net->nrepos == 1 ? net->repos[0] : NULL;
	uv_pipe_init(&net->loop, &c->pipe, 0);
	uv_timer_init(&net->loop, &c->idle);
	c->handles_open = 2;
	pc_list_insert_tail(&net->control.clients, &c->link);
	net->control.nclients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0 ||
	    net->control.nclients > CLIENTS_MAX) {
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
		pc_log_cause(PC_LOG_WARN, "net", why, "control socket: %s",
			     why);
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
		rc = net_control_group_gid(group, &net->control.gid, err,
					   errlen);
		if (rc < 0)
			return rc;
		net->control.group_set = true;
	}
	if ((net->control.group_set &&
	     chown(path, (uid_t)-1, net->control.gid) < 0) ||
	    chmod(path, net->control.group_set ? 0660 : 0600) < 0) {
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
	rc = uv_pipe_init(&net->loop, &net->control.pipe, 0);
	if (rc < 0)
		goto fail;
	net->control.open = true;
	rc = uv_pipe_bind(&net->control.pipe, path);
	if (rc < 0)
		goto fail;
	net->control.bound = true;
	/* Root (and control_group) only: commands change the cache. */
	rc = set_access(net, path, err, errlen);
	if (rc < 0)
		return rc;
	rc = uv_listen((uv_stream_t *)&net->control.pipe, BACKLOG,
		       on_uv_connection);
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
	if (net->control.open) {
		uv_close((uv_handle_t *)&net->control.pipe, NULL);
		net->control.open = false;
	}
	if (net->control.bound)
		unlink(net->cfg->control_socket);
	net->control.bound = false;
	while (!pc_list_empty(&net->control.clients))
		client_close(container_of(net->control.clients.next,
					  struct control_client, link));
}
