/*
 * curl_uv.c - libcurl's multi interface driven by the libuv loop, in the
 * shape of curl's docs/examples/multi-uv.c: libcurl tells us which sockets
 * to watch (cb_socket) and when to wake it (cb_timer); libuv tells libcurl
 * what happened (on_uv_poll, on_uv_timeout) through
 * curl_multi_socket_action(), after which every finished transfer is taken
 * from curl_multi_info_read().  Unlike the example, every allocation is
 * checked and every socket handle is tracked, so shutdown closes them all.
 *
 * A transfer (struct net_xfer) is one GET with the options a fleet of
 * endpoints wants: only http, https and file; redirects only within the
 * mirror's scheme; TLS 1.2+ with AEAD suites and peer verification (the
 * policy peercachectl check shares: common/pc_curl_policy.h);
 * connect, low-speed and total timeouts; HTTP/2 when offered and
 * connections reused across transfers by the multi handle.  CURLcode is
 * translated into an errno here and nowhere else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net.h"
#include "pc_curl_policy.h"

#define USER_AGENT "peercache/" PC_VERSION
#define RECEIVE_BUFFER (512 * 1024)
#define LOW_SPEED_BYTES_PER_SECOND 1024

/* One socket libcurl asked us to watch; loop thread only. */
struct curl_sock {
	uv_poll_t poll;
	curl_socket_t fd;
	struct pc_net *net;
	struct pc_list link; /* net->curl.socks */
};

int net_curl_errno(CURLcode code)
{
	switch (code) {
	case CURLE_OK:
		return 0;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return -EINVAL;
	case CURLE_TOO_MANY_REDIRECTS:
		return -ELOOP;
	case CURLE_FILE_COULDNT_READ_FILE:
	case CURLE_REMOTE_FILE_NOT_FOUND:
		return -ENOENT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CERTPROBLEM:
		return -EPROTO;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return -ECONNRESET;
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_WRITE_ERROR:
		return -ECANCELED;
	default:
		return -EIO;
	}
}

/* ---- libuv → libcurl ------------------------------------------------------ */

static void on_uv_sock_closed(uv_handle_t *handle)
{
	struct curl_sock *sock =
		container_of((uv_poll_t *)handle, struct curl_sock, poll);

	free(sock);
}

static void sock_close(struct curl_sock *sock)
{
	pc_list_remove(&sock->link);
	uv_close((uv_handle_t *)&sock->poll, on_uv_sock_closed);
}

/* ---- easy handles, kept for reuse ------------------------------------------ */

/* An idle handle (reset) or a new one; NULL if out of memory.  A reused
 * one spares a small file's transfer the handle's set-up.  Not its receive
 * buffer: libcurl 7.88 allocates that (CURLOPT_BUFFERSIZE) at each
 * transfer's start and frees it at its end, whatever the handle. */
static CURL *easy_take(struct pc_net *net)
{
	CURL *easy;

	if (net->curl.idle_count == 0)
		return curl_easy_init();
	easy = net->curl.idle[--net->curl.idle_count];
	curl_easy_reset(easy);
	return easy;
}

/* A handle out of the multi handle: kept, or freed if enough are kept. */
static void easy_give(struct pc_net *net, CURL *easy)
{
	if (net->curl.idle_count < NET_CURL_IDLE_MAX)
		net->curl.idle[net->curl.idle_count++] = easy;
	else
		curl_easy_cleanup(easy);
}

/* Hands every finished transfer to its owner. */
static void drain_finished(struct pc_net *net)
{
	struct net_xfer_result res;
	struct net_xfer *xfer;
	char *private;
	CURLMsg *msg;
	CURLcode code;
	int pending;

	while ((msg = curl_multi_info_read(net->curl.multi, &pending))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		code = msg->data.result;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &private);
		xfer = (struct net_xfer *)(void *)private;
		res.err = net_curl_errno(code);
		res.status = net_xfer_status(xfer);
		res.message = code == CURLE_OK	? ""
			      : xfer->errbuf[0] ? xfer->errbuf
						: curl_easy_strerror(code);
		curl_multi_remove_handle(net->curl.multi, xfer->easy);
		xfer->ops->done(xfer, &res);
		easy_give(net, xfer->easy);
		free(xfer->url);
		free(xfer);
	}
}

static void on_uv_poll(uv_poll_t *handle, int status, int events)
{
	struct curl_sock *sock = container_of(handle, struct curl_sock, poll);
	struct pc_net *net = sock->net;
	int flags = 0, running;

	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	/* May close @sock (cb_socket): only @net is used afterwards. */
	curl_multi_socket_action(net->curl.multi, sock->fd, flags, &running);
	drain_finished(net);
}

static void on_uv_timeout(uv_timer_t *timer)
{
	struct pc_net *net = container_of(timer, struct pc_net, curl.timer);
	int running;

	curl_multi_socket_action(net->curl.multi, CURL_SOCKET_TIMEOUT, 0,
				 &running);
	drain_finished(net);
}

/* ---- libcurl → libuv ------------------------------------------------------ */

static struct curl_sock *sock_new(struct pc_net *net, curl_socket_t fd)
{
	struct curl_sock *sock = calloc(1, sizeof(*sock));

	if (!sock)
		return NULL;
	if (uv_poll_init_socket(&net->loop, &sock->poll, fd) < 0) {
		free(sock);
		return NULL;
	}
	sock->fd = fd;
	sock->net = net;
	pc_list_insert_tail(&net->curl.socks, &sock->link);
	return sock;
}

static int cb_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
		     void *socketp)
{
	struct pc_net *net = userp;
	struct curl_sock *sock = socketp;
	int events = 0;

	(void)easy;
	switch (what) {
	case CURL_POLL_IN:
	case CURL_POLL_OUT:
	case CURL_POLL_INOUT:
		if (!sock) {
			sock = sock_new(net, fd);
			if (!sock)
				return -1; /* libcurl fails the transfers */
			curl_multi_assign(net->curl.multi, fd, sock);
		}
		if (what != CURL_POLL_OUT)
			events |= UV_READABLE;
		if (what != CURL_POLL_IN)
			events |= UV_WRITABLE;
		if (uv_poll_start(&sock->poll, events, on_uv_poll) < 0)
			return -1;
		break;
	case CURL_POLL_REMOVE:
		if (sock) {
			sock_close(sock);
			curl_multi_assign(net->curl.multi, fd, NULL);
		}
		break;
	}
	return 0;
}

static int cb_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct pc_net *net = userp;

	(void)multi;
	if (timeout_ms < 0) {
		uv_timer_stop(&net->curl.timer);
		return 0;
	}
	/* libcurl may not be called back from here: 0 ms means "soon", and
	 * a libuv timer of 0 ms fires at the next turn of the loop, never
	 * from inside this call.  (curl's multi-uv example makes it 1 ms:
	 * that is a millisecond more before every transfer starts, which a
	 * reader of small files waits for each time.) */
	uv_timer_start(&net->curl.timer, on_uv_timeout, (uint64_t)timeout_ms,
		       0);
	return 0;
}

static size_t cb_write(char *data, size_t size, size_t nmemb, void *userp)
{
	struct net_xfer *xfer = userp;
	size_t len = size * nmemb;

	return xfer->ops->data(xfer, data, len) ? len : 0;
}

/* ---- the multi handle ------------------------------------------------------ */

int net_curl_init(struct pc_net *net, char *err, size_t errlen)
{
	long per_host = (long)net->cfg->max_fetches + 1; /* + the head */
	CURLMcode code = CURLM_OK;

	net->curl.multi = curl_multi_init();
	if (!net->curl.multi) {
		snprintf(err, errlen, "libcurl: cannot create a multi handle");
		return -ENOMEM;
	}
#define SET_MULTI(opt, val)                                                  \
	do {                                                                 \
		if (code == CURLM_OK)                                        \
			code = curl_multi_setopt(net->curl.multi, opt, val); \
	} while (0)
	SET_MULTI(CURLMOPT_SOCKETFUNCTION, cb_socket);
	SET_MULTI(CURLMOPT_SOCKETDATA, net);
	SET_MULTI(CURLMOPT_TIMERFUNCTION, cb_timer);
	SET_MULTI(CURLMOPT_TIMERDATA, net);
	SET_MULTI(CURLMOPT_MAX_HOST_CONNECTIONS, per_host);
	/* By default the connection cache holds 4 connections per handle
	 * in the multi handle at that moment; a handle leaves it at the end
	 * of each transfer, so between bursts the cache shrank and closed
	 * connections that the next burst had to open again (a GiB read
	 * used 28 connections for 233 chunks).  Room for every source. */
	SET_MULTI(CURLMOPT_MAXCONNECTS, 4 * per_host);
	SET_MULTI(CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
#undef SET_MULTI
	if (code != CURLM_OK) {
		snprintf(err, errlen, "libcurl: %s", curl_multi_strerror(code));
		return -EINVAL;
	}
	return 0;
}

void net_curl_shutdown(struct pc_net *net)
{
	while (net->curl.idle_count)
		curl_easy_cleanup(net->curl.idle[--net->curl.idle_count]);
	/* Closing the cached connections reports their sockets removed. */
	if (net->curl.multi)
		curl_multi_cleanup(net->curl.multi);
	net->curl.multi = NULL;
	while (!pc_list_empty(&net->curl.socks))
		sock_close(container_of(net->curl.socks.next, struct curl_sock,
					link));
	uv_close((uv_handle_t *)&net->curl.timer, NULL);
}

/* ---- transfers -------------------------------------------------------------- */

static CURLcode set_options(struct net_xfer *xfer,
			    const struct net_xfer_opts *opts)
{
	const struct pc_config *cfg = xfer->net->cfg;
	long connect_ms = opts->connect_timeout_ms
				  ? (long)opts->connect_timeout_ms
				  : (long)cfg->connect_timeout * 1000;
	long low_speed_s = opts->low_speed_time_s ? (long)opts->low_speed_time_s
						  : (long)cfg->low_speed_time;
	CURL *easy = xfer->easy;
	CURLcode code = CURLE_OK;

	if ((uint64_t)connect_ms > opts->timeout_ms)
		connect_ms = (long)opts->timeout_ms;
#define SET(opt, val)                                            \
	do {                                                     \
		if (code == CURLE_OK)                            \
			code = curl_easy_setopt(easy, opt, val); \
	} while (0)
	SET(CURLOPT_URL, xfer->url);
	SET(CURLOPT_PRIVATE, xfer);
	SET(CURLOPT_ERRORBUFFER, xfer->errbuf);
	SET(CURLOPT_WRITEFUNCTION, cb_write);
	SET(CURLOPT_WRITEDATA, xfer);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_FAILONERROR, 0L);
	SET(CURLOPT_FOLLOWLOCATION, opts->no_redirect ? 0L : 1L);
	SET(CURLOPT_REDIR_PROTOCOLS_STR, opts->scheme);
	SET(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	SET(CURLOPT_LOW_SPEED_LIMIT, (long)LOW_SPEED_BYTES_PER_SECOND);
	SET(CURLOPT_LOW_SPEED_TIME, low_speed_s);
	SET(CURLOPT_TIMEOUT_MS, (long)opts->timeout_ms);
	SET(CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	/* Wait for a connection that may multiplex only where one can
	 * (HTTP/2 needs TLS here).  libcurl 7.88 counts plain http:// as
	 * "maybe" until the first response on the host's connection: a
	 * mirror that never answered its head request held every chunk
	 * transfer to it pending, without a connection, for the whole of
	 * the head's time. */
	SET(CURLOPT_PIPEWAIT, strcmp(opts->scheme, "https") == 0 ? 1L : 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_BUFFERSIZE, (long)RECEIVE_BUFFER);
	if (code == CURLE_OK) /* TLS, proxy: the policy check.c tests */
		code = pc_curl_policy(easy, cfg->ca_file, cfg->proxy,
				      opts->direct);
	if (opts->no_cache)
		SET(CURLOPT_HTTPHEADER, xfer->net->curl.no_cache_headers);
#undef SET
	return code;
}

struct net_xfer *net_xfer_start(struct pc_net *net,
				const struct net_xfer_opts *opts,
				const struct net_xfer_ops *ops, void *ctx,
				int *err)
{
	struct net_xfer *xfer = calloc(1, sizeof(*xfer));
	CURLcode code;

	NET_LOOP_ONLY(net);
	*err = -ENOMEM;
	if (!xfer)
		return NULL;
	xfer->net = net;
	xfer->ops = ops;
	xfer->ctx = ctx;
	xfer->is_file = strcmp(opts->scheme, "file") == 0;
	xfer->url = strdup(opts->url);
	xfer->easy = easy_take(net);
	if (!xfer->url || !xfer->easy)
		goto fail;
	code = set_options(xfer, opts);
	if (code != CURLE_OK) {
		*err = net_curl_errno(code);
		pc_log(PC_LOG_ERROR, "net", "%s: %s", xfer->url,
		       curl_easy_strerror(code));
		goto fail;
	}
	if (curl_multi_add_handle(net->curl.multi, xfer->easy) != CURLM_OK)
		goto fail;
	*err = 0;
	return xfer;
fail:
	curl_easy_cleanup(xfer->easy);
	free(xfer->url);
	free(xfer);
	return NULL;
}

void net_xfer_cancel(struct net_xfer *xfer)
{
	NET_LOOP_ONLY(xfer->net);

	curl_multi_remove_handle(xfer->net->curl.multi, xfer->easy);
	easy_give(xfer->net, xfer->easy);
	free(xfer->url);
	free(xfer);
}

long net_xfer_status(struct net_xfer *xfer)
{
	long status = 0;

	curl_easy_getinfo(xfer->easy, CURLINFO_RESPONSE_CODE, &status);
	/* file:// has no status; reaching the body means the file is open. */
	if (xfer->is_file && status == 0)
		status = 200;
	return status;
}
