/*
 * peer_server.c - serves this node's verified chunks to its LAN peers over
 * HTTP, with libmicrohttpd on one internal epoll thread.
 *
 * The server is deliberately tiny: one URL shape, two methods, bodies that
 * are whole chunk files handed to the kernel with sendfile.  Only files
 * that pc_store_chunk_open() returns are ever sent, and the store renames a
 * file into chunks/ only after its length and SHA-256 were checked, so a
 * byte that failed verification cannot leave through here.  The receiving
 * peer verifies again anyway; a node that sent garbage would be banned.
 *
 * Every resource a client can make the server hold is bounded, and a
 * client over a bound gets an answer it can act on where that is cheap:
 *   - upload slots (max_uploads): a GET over the limit gets 503 with
 *     Retry-After, so the peer tries another source or comes back;
 *   - connections, in total and per source address, and the time a
 *     request head may take: peer_guard.c (a connection over a limit
 *     takes the place of the one that has waited longest for a request
 *     head; a head that is late closes its connection);
 *   - time once a request is in: a connection that sends or receives
 *     nothing for timeout_s is closed (a stalled reader);
 *   - memory: a few KiB of libmicrohttpd pool per connection; bodies are
 *     never buffered in user space.
 * Sources outside the ACL are closed at accept, before any byte is read.
 *
 * Requests are answered when they are complete (the access handler's
 * second call), so that libmicrohttpd keeps the connection for the next
 * request, pipelined ones included; a request with a body is answered at
 * once and its connection closed, since its body is never read.
 *
 * Threads and ownership:
 *   - libmicrohttpd's thread runs on_accept, on_connection, on_request,
 *     on_completed and on_mhd_log; the owner's thread runs start, stop,
 *     set_acl, stats; the guard has a watchdog thread of its own.
 *   - Fields fixed at start (store, daemon, port, limits, log settings,
 *     the canned responses) are read-only until stop; the canned
 *     responses are reference-counted by libmicrohttpd under its own lock.
 *   - The ACL is guarded by acl_lock; the peer table and the last
 *     libmicrohttpd message by lock; the counters are atomics.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <pthread.h>

#include "mirror_serve.h"
#include "peer_guard.h"
#include "peer_server.h"

#define P2P_PREFIX "/p2p/"
/* libmicrohttpd's per-connection pool: the request line and headers of a
 * peer's GET are well under 1 KiB, and response bodies never enter it. */
#define CONNECTION_MEMORY (8 * 1024)
#define DEFAULT_PER_CLIENT 8
#define DEFAULT_TIMEOUT_S 10
#define DEFAULT_HEADER_TIMEOUT_S 5
#define MIN_CONNECTIONS 64
/* libmicrohttpd's own connection limit is this much above ours: room for
 * connections shut down to make way that it has not cleaned up yet (at
 * its own limit it stops accepting, and clients hang in the backlog). */
#define CLOSING_HEADROOM 64

/* The access handler's first call only notes the request; the second,
 * once it is complete, answers it. */
static char request_pending;

/* A GET whose body is being sent: it holds one upload slot until
 * libmicrohttpd reports the request completed.  MHD thread only. */
struct upload {
	struct pc_hash hash;
	uint64_t size;
	struct pc_addr peer;
};

struct pc_peer_server {
	/* Fixed at start, read-only until stop. */
	struct pc_store *store; /* borrowed, thread-safe */
	struct MHD_Daemon *daemon;
	uint16_t port;
	unsigned max_uploads;
	struct peer_guard *guard; /* connections: limits, head deadline */
	char *head_path;	  /* served at /head; NULL: none */
	struct MHD_Response *resp_bad_request; /* 400 */
	struct MHD_Response *resp_not_found;   /* 404 */
	struct MHD_Response *resp_bad_method;  /* 405 */
	struct MHD_Response *resp_busy;	       /* 503 */
	/* /chunks/ for branch sites (owned); NULL: mirror_serve off. */
	struct mirror_serve *mirror;

	pthread_mutex_t acl_lock;
	struct pc_acl acl; /* guarded by acl_lock */

	pthread_mutex_t lock;
	struct pc_peer_server_peer peers[PC_PEER_SERVER_MAX_PEERS]; /* lock */
	size_t npeers;		  /* guarded by lock */
	char last_mhd_error[256]; /* guarded by lock */

	/* Written on the MHD thread, read anywhere. */
	atomic_uint uploads_in_flight;
	_Atomic uint64_t chunks_served;
	_Atomic uint64_t bytes_served;
	_Atomic uint64_t uploads_aborted;
	_Atomic uint64_t refused_limit;
	_Atomic uint64_t refused_acl;
	_Atomic uint64_t not_found;
	_Atomic uint64_t bad_requests;
};

/* A one-line reason into @err (which may be NULL); returns @code. */
static int set_err(int code, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int set_err(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

static void count(_Atomic uint64_t *counter, uint64_t delta)
{
	atomic_fetch_add_explicit(counter, delta, memory_order_relaxed);
}

static uint64_t counter_value(_Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

/* ---- libmicrohttpd callbacks ------------------------------------------- */

/* Messages libmicrohttpd has for us: mostly about single connections
 * (debug); kept so that a failed start can say why. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct pc_peer_server *server = cls;
	char line[256];
	size_t len;

	vsnprintf(line, sizeof(line), fmt, ap);
	len = strlen(line);
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	pthread_mutex_lock(&server->lock);
	memcpy(server->last_mhd_error, line, len + 1);
	pthread_mutex_unlock(&server->lock);
	pc_log(PC_LOG_DEBUG, "net", "peer server: %s", line);
}

/* The URL is matched exactly as sent: "%61" is not "a", and "%00" cannot
 * hide a suffix from the hash check. */
static size_t keep_escaped(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr,
				 socklen_t addrlen)
{
	struct pc_peer_server *server = cls;
	const char *text = "?";
	struct pc_addr source;
	bool allowed = false;

	/* A dual-stack socket reports IPv4 clients IPv4-mapped: the form
	 * the ACL keeps anyway. */
	if (addr &&
	    addrlen >= (addr->sa_family == AF_INET6
				? sizeof(struct sockaddr_in6)
				: sizeof(struct sockaddr_in)) &&
	    pc_addr_from_sockaddr(&source, addr, NULL)) {
		pthread_mutex_lock(&server->acl_lock);
		allowed = pc_acl_allows(&server->acl, &source);
		pthread_mutex_unlock(&server->acl_lock);
		allowed = allowed ||
			  (server->mirror &&
			   mirror_serve_allows(server->mirror, &source));
		text = pc_addr_str(&source);
	}
	if (!allowed) {
		count(&server->refused_acl, 1);
		pc_log(PC_LOG_DEBUG, "net",
		       "peer server: refused a connection from %s (not an "
		       "allowed source)",
		       text);
		return MHD_NO;
	}
	/* Per-address limits count an IPv6 client by its /64 (addr.h). */
	if (peer_guard_admit(server->guard, pc_addr_limit_key(&source)))
		return MHD_YES;
	pc_log(PC_LOG_DEBUG, "net",
	       "peer server: refused a connection from %s (every "
	       "connection allowed is answering a request)",
	       text);
	return MHD_NO;
}

static struct pc_addr client_address(struct MHD_Connection *conn);

/* libmicrohttpd's thread: a connection begins or ends.  Its socket is
 * closed only after this reported the end to the guard. */
static void on_connection(void *cls, struct MHD_Connection *connection,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct pc_peer_server *server = cls;
	const union MHD_ConnectionInfo *info;
	struct pc_addr client;

	if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
		peer_guard_closed(server->guard, *socket_context);
		*socket_context = NULL;
		return;
	}
	info = MHD_get_connection_info(connection,
				       MHD_CONNECTION_INFO_CONNECTION_FD);
	client = client_address(connection);
	*socket_context =
		info ? peer_guard_opened(server->guard, info->connect_fd,
					 pc_addr_limit_key(&client))
		     : NULL;
}

/* A request head is in (@busy), or its answer has ended. */
static void conn_mark(struct pc_peer_server *server,
		      struct MHD_Connection *connection, bool busy)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	if (info)
		peer_guard_busy(server->guard, info->socket_context, busy);
}

static struct pc_addr client_address(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(
		conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	struct pc_addr addr = { 0 };

	if (info)
		pc_addr_from_sockaddr(&addr, info->client_addr, NULL);
	return addr;
}

/* 503: every upload slot is taken, or this node is short of descriptors
 * for a moment.  Either way the peer should try elsewhere or come back. */
static enum MHD_Result answer_busy(struct pc_peer_server *server,
				   struct MHD_Connection *conn)
{
	count(&server->refused_limit, 1);
	return MHD_queue_response(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  server->resp_busy);
}

/* Takes an upload slot; false when all max_uploads are in use. */
static bool take_upload_slot(struct pc_peer_server *server)
{
	unsigned before = atomic_fetch_add(&server->uploads_in_flight, 1);

	if (before < server->max_uploads)
		return true;
	atomic_fetch_sub(&server->uploads_in_flight, 1);
	return false;
}

static void release_upload_slot(struct pc_peer_server *server)
{
	atomic_fetch_sub(&server->uploads_in_flight, 1);
}

/*
 * Opens chunk @hash for a response.  The store renames a file into chunks/
 * only after checking it, so what is there is verified, unless the disk
 * damaged it since.  The server cannot compare the size with the index
 * (the store has no size lookup), but it refuses what no object can be:
 * not a regular file, empty (chunks and manifests have at least one byte)
 * or larger than PC_MANIFEST_MAX.  Such a file is treated as absent and
 * logged; the receiving peer verifies every body anyway.
 */
static int open_chunk(struct pc_peer_server *server, const struct pc_hash *hash,
		      uint64_t *size)
{
	char hex[PC_HASH_HEX_LEN + 1];
	int fd = pc_store_chunk_open(server->store, hash);
	off_t len;

	if (fd < 0)
		return fd;
	len = pc_store_fd_size(fd);
	if (len > 0 && (uint64_t)len <= PC_MANIFEST_MAX) {
		*size = (uint64_t)len;
		return fd;
	}
	pc_store_fd_close(fd);
	pc_hash_to_hex(hash, hex);
	pc_log(PC_LOG_ERROR, "net",
	       "peer server: chunk %s is damaged (not a regular file of "
	       "a possible size); not serving it",
	       hex);
	return -ENOENT;
}

/* 200 with the @size bytes of chunk file @fd as the body (sendfile).
 * Takes @fd.  MHD_NO (the connection is closed) if out of memory. */
static enum MHD_Result answer_chunk(struct MHD_Connection *conn, int fd,
				    uint64_t size)
{
	struct MHD_Response *response = MHD_create_response_from_fd64(size, fd);
	enum MHD_Result ret;

	if (!response) {
		pc_store_fd_close(fd);
		return MHD_NO;
	}
	/* From here the response owns @fd and closes it when destroyed. */
	ret = MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				      "application/octet-stream");
	if (ret == MHD_YES)
		ret = MHD_queue_response(conn, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result serve_chunk(struct pc_peer_server *server,
				   struct MHD_Connection *conn,
				   const struct pc_hash *hash, bool head,
				   void **req_cls)
{
	struct upload *upload;
	uint64_t size = 0;
	int fd = open_chunk(server, hash, &size);

	if (fd == -ENOENT) {
		count(&server->not_found, 1);
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND,
					  server->resp_not_found);
	}
	if (fd < 0) {
		pc_log(PC_LOG_WARN, "net",
		       "peer server: cannot open a chunk: %s", strerror(-fd));
		return answer_busy(server, conn);
	}
	if (head) /* no body: no slot, nothing served */
		return answer_chunk(conn, fd, size);
	if (!take_upload_slot(server)) {
		pc_store_fd_close(fd);
		return answer_busy(server, conn);
	}
	upload = malloc(sizeof(*upload));
	if (!upload) {
		pc_store_fd_close(fd);
		release_upload_slot(server);
		return MHD_NO;
	}
	upload->hash = *hash;
	upload->size = size;
	upload->peer = client_address(conn);
	if (answer_chunk(conn, fd, size) != MHD_YES) {
		free(upload);
		release_upload_slot(server);
		return MHD_NO;
	}
	/* on_completed releases the slot, however the upload ends. */
	*req_cls = upload;
	return MHD_YES;
}

/* The node's current signed head (the file net/ writes after each
 * install): neighbours whose mirror is unreachable take new versions from
 * it.  Signed, so handing it to anyone allowed is harmless; small, so it
 * takes no upload slot. */
static enum MHD_Result serve_head(struct pc_peer_server *server,
				  struct MHD_Connection *conn)
{
	struct stat st;
	int fd = server->head_path
			 ? open(server->head_path, O_RDONLY | O_CLOEXEC)
			 : -1;

	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
			st.st_size <= 0 || st.st_size > PC_HEAD_MAX)) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		count(&server->not_found, 1);
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND,
					  server->resp_not_found);
	}
	return answer_chunk(conn, fd, (uint64_t)st.st_size);
}

/* True if the request announces a body (which is never read). */
static bool has_body(struct MHD_Connection *conn)
{
	const char *length = MHD_lookup_connection_value(
		conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
					   MHD_HTTP_HEADER_TRANSFER_ENCODING) ||
	       (length && strspn(length, "0") != strlen(length));
}

/* With mirror_serve on, a source may be let in as a mirror client only:
 * it gets the published layout, not the peers' /p2p/. */
static bool is_peer(struct pc_peer_server *server, const struct pc_addr *addr)
{
	bool allowed;

	pthread_mutex_lock(&server->acl_lock);
	allowed = pc_acl_allows(&server->acl, addr);
	pthread_mutex_unlock(&server->acl_lock);
	return allowed;
}

static enum MHD_Result answer(struct pc_peer_server *server,
			      struct MHD_Connection *conn, const char *url,
			      const char *method, void **req_cls)
{
	const size_t prefix_len = strlen(P2P_PREFIX);
	struct pc_addr client = client_address(conn);
	struct pc_hash hash;
	bool head;

	head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	if (!head && strcmp(method, MHD_HTTP_METHOD_GET) != 0) {
		count(&server->bad_requests, 1);
		return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
					  server->resp_bad_method);
	}
	if (server->mirror && mirror_serve_route(url))
		return mirror_serve_answer(server->mirror, conn, url, head,
					   &client, req_cls);
	if (server->mirror && !is_peer(server, &client)) {
		if (strcmp(url, "/head") != 0)
			return mirror_serve_answer(server->mirror, conn, url,
						   head, &client, req_cls);
		mirror_serve_count_head(server->mirror);
	}
	if (strcmp(url, "/head") == 0)
		return serve_head(server, conn);
	if (strncmp(url, P2P_PREFIX, prefix_len) != 0) {
		count(&server->bad_requests, 1);
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND,
					  server->resp_not_found);
	}
	if (pc_hash_from_hex(url + prefix_len, strlen(url + prefix_len),
			     &hash) < 0) {
		count(&server->bad_requests, 1);
		return MHD_queue_response(conn, MHD_HTTP_BAD_REQUEST,
					  server->resp_bad_request);
	}
	return serve_chunk(server, conn, &hash, head, req_cls);
}

/*
 * libmicrohttpd calls this when a request's head is in, then again when
 * the request is complete.  The answer waits for the second call: queued
 * in the first, libmicrohttpd would close the connection after it (and
 * drop requests pipelined behind it).  A request with a body is answered
 * in the first call, so that the connection is closed and the body never
 * read.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_cls)
{
	struct pc_peer_server *server = cls;

	(void)version;
	(void)upload_data;
	if (!*req_cls) {
		conn_mark(server, conn, true);
		if (!has_body(conn)) {
			*req_cls = &request_pending;
			return MHD_YES;
		}
	} else if (server->mirror && !*upload_data_size &&
		   mirror_serve_owns(server->mirror, *req_cls)) {
		return mirror_serve_resumed(server->mirror, conn, *req_cls);
	} else if (*req_cls != &request_pending || *upload_data_size) {
		return MHD_NO; /* answered already, or a body: cannot happen */
	}
	*req_cls = NULL;
	return answer(server, conn, url, method, req_cls);
}

/* The table of peers served; caller holds server->lock.  A new source
 * takes a free line or the line of the peer that got the fewest bytes. */
static struct pc_peer_server_peer *peer_line(struct pc_peer_server *server,
					     struct pc_addr addr)
{
	struct pc_peer_server_peer *line = NULL;

	for (size_t i = 0; i < server->npeers; i++) {
		if (pc_addr_equal(&server->peers[i].addr, &addr))
			return &server->peers[i];
		if (!line || server->peers[i].bytes < line->bytes)
			line = &server->peers[i];
	}
	if (server->npeers < PC_PEER_SERVER_MAX_PEERS)
		line = &server->peers[server->npeers++];
	memset(line, 0, sizeof(*line));
	line->addr = addr;
	return line;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct pc_peer_server *server = cls;
	struct upload *upload = *req_cls;
	struct pc_peer_server_peer *line;
	char hex[PC_HASH_HEX_LEN + 1];
	const char *peer;

	conn_mark(server, conn, false); /* waits for its next request */
	*req_cls = NULL;
	if (server->mirror && upload &&
	    mirror_serve_owns(server->mirror, upload)) {
		mirror_serve_completed(server->mirror, upload, toe);
		return;
	}
	if (!upload || upload == (void *)&request_pending)
		return; /* not a GET that was answered with a body */
	release_upload_slot(server);
	pc_hash_to_hex(&upload->hash, hex);
	peer = pc_addr_str(&upload->peer);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		count(&server->uploads_aborted, 1);
		pc_log(PC_LOG_DEBUG, "net",
		       "peer server: upload of chunk %s to %s cut short "
		       "(reason %d)",
		       hex, peer, (int)toe);
		free(upload);
		return;
	}
	count(&server->chunks_served, 1);
	count(&server->bytes_served, upload->size);
	pc_store_count(server->store, PC_CTR_CHUNKS_SERVED_PEERS, 1);
	pc_store_count(server->store, PC_CTR_BYTES_SERVED_PEERS, upload->size);
	pthread_mutex_lock(&server->lock);
	line = peer_line(server, upload->peer);
	line->chunks++;
	line->bytes += upload->size;
	pthread_mutex_unlock(&server->lock);
	pc_log(PC_LOG_DEBUG, "net",
	       "peer server: served chunk %s (%llu bytes) to %s", hex,
	       (unsigned long long)upload->size, peer);
	free(upload);
}

/* ---- lifetime ------------------------------------------------------------- */

struct MHD_Response *peer_server_canned(const char *body, const char *header,
					const char *value)
{
	struct MHD_Response *response = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

	if (!response)
		return NULL;
	if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
				    "text/plain") != MHD_YES ||
	    (header &&
	     MHD_add_response_header(response, header, value) != MHD_YES)) {
		MHD_destroy_response(response);
		return NULL;
	}
	return response;
}

void peer_server_canned_free(struct MHD_Response **const all[], size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (*all[i])
			MHD_destroy_response(*all[i]);
		*all[i] = NULL;
	}
}

static void destroy_canned(struct pc_peer_server *server)
{
	struct MHD_Response **all[] = { &server->resp_bad_request,
					&server->resp_not_found,
					&server->resp_bad_method,
					&server->resp_busy };

	peer_server_canned_free(all, sizeof(all) / sizeof(all[0]));
}

static int make_canned(struct pc_peer_server *server)
{
	server->resp_bad_request =
		peer_server_canned("bad request\n", NULL, NULL);
	server->resp_not_found = peer_server_canned("not found\n", NULL, NULL);
	server->resp_bad_method = peer_server_canned(
		"method not allowed\n", MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	server->resp_busy = peer_server_canned(
		"busy, retry later\n", MHD_HTTP_HEADER_RETRY_AFTER, "1");
	if (server->resp_bad_request && server->resp_not_found &&
	    server->resp_bad_method && server->resp_busy)
		return 0;
	destroy_canned(server);
	return -ENOMEM;
}

void pc_peer_server_opts_init(struct pc_peer_server_opts *opts)
{
	memset(opts, 0, sizeof(*opts));
	opts->port = PC_PEER_SERVER_PORT;
	opts->max_uploads = PC_PEER_SERVER_MAX_UPLOADS;
	opts->per_client_max = DEFAULT_PER_CLIENT;
	opts->timeout_s = DEFAULT_TIMEOUT_S;
	opts->header_timeout_s = DEFAULT_HEADER_TIMEOUT_S;
}

/*
 * Where to listen: the wildcard of both families on one dual-stack socket
 * (IPV6_V6ONLY off: MHD_USE_DUAL_STACK), unless the host has no IPv6 or
 * an address is named.  *@flags gets libmicrohttpd's flags for it.
 */
static int listen_address(const char *text, uint16_t port,
			  union pc_sockaddr *sa, unsigned *flags)
{
	struct pc_addr addr = { .a = IN6ADDR_ANY_INIT };
	socklen_t len;

	*flags = 0;
	if (text && text[0]) {
		if (pc_addr_parse(text, &addr) < 0)
			return -EINVAL;
		if (!pc_addr_is_v4(&addr))
			*flags = MHD_USE_IPv6; /* and IPV6_V6ONLY */
	} else if (pc_addr_ipv6_available()) {
		*flags = MHD_USE_DUAL_STACK;
	} else {
		pc_addr_from_in(&addr, (struct in_addr){ INADDR_ANY });
	}
	return pc_addr_to_sockaddr(&addr, port, *flags ? AF_INET6 : AF_INET, sa,
				   &len);
}

static int check_opts(const struct pc_peer_server_opts *opts,
		      union pc_sockaddr *sin, unsigned *flags, char *err,
		      size_t errlen)
{
	if (!opts->allow)
		return set_err(-EINVAL, err, errlen,
			       "peer server: no list of allowed sources");
	if (opts->max_uploads == 0 || opts->timeout_s == 0 ||
	    opts->header_timeout_s == 0)
		return set_err(-EINVAL, err, errlen,
			       "peer server: max_uploads and the timeouts must "
			       "be at least 1");
	if (opts->max_connections && opts->max_connections < opts->max_uploads)
		return set_err(-EINVAL, err, errlen,
			       "peer server: max_connections (%u) is below "
			       "max_uploads (%u)",
			       opts->max_connections, opts->max_uploads);
	if (listen_address(opts->bind_address, opts->port, sin, flags) < 0)
		return set_err(-EINVAL, err, errlen,
			       "peer server: \"%s\" is not an IPv4 or IPv6 "
			       "address",
			       opts->bind_address);
	return 0;
}

static unsigned connection_limit(const struct pc_peer_server_opts *opts);

static int start_guard(struct pc_peer_server *server,
		       const struct pc_peer_server_opts *opts, char *err,
		       size_t errlen)
{
	struct peer_guard_opts guard = {
		.max_connections = connection_limit(opts),
		.per_address = opts->per_client_max,
		.header_timeout_s = opts->header_timeout_s,
	};

	server->guard = peer_guard_start(&guard);
	if (server->guard)
		return 0;
	if (errno == ENOMEM)
		return -ENOMEM;
	return set_err(-errno, err, errlen,
		       "peer server: cannot start its watchdog: %s",
		       strerror(errno));
}

static unsigned connection_limit(const struct pc_peer_server_opts *opts)
{
	unsigned limit;

	if (opts->max_connections)
		return opts->max_connections;
	limit = opts->max_uploads > 1024 ? 4096 : 4 * opts->max_uploads;
	return limit < MIN_CONNECTIONS ? MIN_CONNECTIONS : limit;
}

static int start_daemon(struct pc_peer_server *server,
			const struct pc_peer_server_opts *opts,
			const union pc_sockaddr *sin, unsigned flags, char *err,
			size_t errlen)
{
	const union MHD_DaemonInfo *info;
	char addr[PC_ADDR_HOST_MAX];
	struct pc_addr bound;
	int saved_errno;

	server->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
			MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME | flags,
		opts->port, on_accept, server, on_request, server,
		MHD_OPTION_SOCK_ADDR, sin, MHD_OPTION_CONNECTION_LIMIT,
		connection_limit(opts) + CLOSING_HEADROOM,
		MHD_OPTION_CONNECTION_TIMEOUT, opts->timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, server,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, server,
		MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, server,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, server, MHD_OPTION_END);
	saved_errno = errno;
	pc_addr_from_sockaddr(&bound, &sin->sa, NULL);
	pc_addr_url_host(&bound, addr, sizeof(addr));
	if (!server->daemon) {
		/* libmicrohttpd logged why; errno is only a hint. */
		bool known = saved_errno == EADDRINUSE ||
			     saved_errno == EACCES ||
			     saved_errno == EADDRNOTAVAIL;

		pthread_mutex_lock(&server->lock);
		set_err(0, err, errlen,
			"peer server: cannot listen on %s:%u: %s", addr,
			(unsigned)opts->port,
			server->last_mhd_error[0] ? server->last_mhd_error
						  : strerror(saved_errno));
		pthread_mutex_unlock(&server->lock);
		return known ? -saved_errno : -EIO;
	}
	info = MHD_get_daemon_info(server->daemon, MHD_DAEMON_INFO_BIND_PORT);
	server->port = info && info->port ? info->port : opts->port;
	pc_log(PC_LOG_INFO, "net",
	       "peer server: listening on %s:%u (%u uploads, %u "
	       "connections, %u per address, %u s for a request head, "
	       "%u s idle timeout)",
	       addr, (unsigned)server->port, opts->max_uploads,
	       connection_limit(opts), opts->per_client_max,
	       opts->header_timeout_s, opts->timeout_s);
	return 0;
}

struct pc_peer_server *
pc_peer_server_start(struct pc_store *store,
		     const struct pc_peer_server_opts *opts, char *err,
		     size_t errlen)
{
	struct pc_peer_server *server;
	union pc_sockaddr sin;
	unsigned flags = 0;
	int rc = check_opts(opts, &sin, &flags, err, errlen);

	if (rc < 0) {
		errno = -rc;
		return NULL;
	}
	server = calloc(1, sizeof(*server));
	if (!server) {
		set_err(0, err, errlen, "peer server: out of memory");
		return NULL;
	}
	server->store = store;
	server->max_uploads = opts->max_uploads;
	if (opts->head_path && opts->head_path[0]) {
		server->head_path = strdup(opts->head_path);
		if (!server->head_path) {
			free(server);
			set_err(0, err, errlen, "peer server: out of memory");
			errno = ENOMEM;
			return NULL;
		}
	}
	server->acl = *opts->allow;
	pthread_mutex_init(&server->acl_lock, NULL);
	pthread_mutex_init(&server->lock, NULL);
	rc = start_guard(server, opts, err, errlen);
	if (rc == 0)
		rc = make_canned(server);
	if (rc == 0 && opts->mirror) {
		server->mirror = mirror_serve_new(opts->mirror);
		rc = server->mirror ? 0 : -errno;
	}
	if (rc == -ENOMEM)
		set_err(0, err, errlen, "peer server: out of memory");
	if (rc == 0)
		rc = start_daemon(server, opts, &sin, flags, err, errlen);
	if (rc < 0) {
		pc_peer_server_stop(server);
		errno = -rc;
		return NULL;
	}
	return server;
}

uint16_t pc_peer_server_port(const struct pc_peer_server *server)
{
	return server->port;
}

void pc_peer_server_set_acl(struct pc_peer_server *server,
			    const struct pc_acl *allow)
{
	pthread_mutex_lock(&server->acl_lock);
	server->acl = *allow;
	pthread_mutex_unlock(&server->acl_lock);
}

static int by_bytes_desc(const void *a, const void *b)
{
	const struct pc_peer_server_peer *pa = a, *pb = b;

	if (pa->bytes != pb->bytes)
		return pa->bytes < pb->bytes ? 1 : -1;
	return pc_addr_cmp(&pa->addr, &pb->addr);
}

void pc_peer_server_stats(struct pc_peer_server *server,
			  struct pc_peer_server_stats *out)
{
	struct peer_guard_stats guard;

	memset(out, 0, sizeof(*out));
	out->chunks_served = counter_value(&server->chunks_served);
	out->bytes_served = counter_value(&server->bytes_served);
	out->uploads_aborted = counter_value(&server->uploads_aborted);
	out->refused_limit = counter_value(&server->refused_limit);
	out->refused_acl = counter_value(&server->refused_acl);
	out->not_found = counter_value(&server->not_found);
	out->bad_requests = counter_value(&server->bad_requests);
	peer_guard_stats(server->guard, &guard);
	out->refused_connections = guard.refused;
	out->closed_idle = guard.closed;
	out->uploads_in_flight = atomic_load(&server->uploads_in_flight);
	pthread_mutex_lock(&server->lock);
	out->npeers = server->npeers;
	memcpy(out->peers, server->peers,
	       server->npeers * sizeof(server->peers[0]));
	pthread_mutex_unlock(&server->lock);
	qsort(out->peers, out->npeers, sizeof(out->peers[0]), by_bytes_desc);
}

bool pc_peer_server_mirror_stats(struct pc_peer_server *server,
				 struct mirror_serve_stats *out)
{
	if (!server || !server->mirror)
		return false;
	mirror_serve_stats(server->mirror, out);
	return true;
}

bool pc_peer_server_served(struct pc_peer_server *server, struct pc_addr addr)
{
	bool served = false;

	pthread_mutex_lock(&server->lock);
	for (size_t i = 0; i < server->npeers && !served; i++)
		served = pc_addr_equal(&server->peers[i].addr, &addr) &&
			 server->peers[i].chunks > 0;
	pthread_mutex_unlock(&server->lock);
	return served;
}

void pc_peer_server_stop(struct pc_peer_server *server)
{
	if (!server)
		return;
	/* No socket is shut down by the guard from here on. */
	peer_guard_stop(server->guard);
	/* ... nor is a connection resumed by the mirror's watchdog. */
	mirror_serve_stop(server->mirror);
	/* Joins the MHD thread; every request still open completes (and
	 * releases its slot) through on_completed, and every connection is
	 * reported closed, before this returns. */
	if (server->daemon)
		MHD_stop_daemon(server->daemon);
	peer_guard_free(server->guard);
	mirror_serve_free(server->mirror);
	destroy_canned(server);
	pthread_mutex_destroy(&server->lock);
	pthread_mutex_destroy(&server->acl_lock);
	free(server->head_path);
	free(server);
}
