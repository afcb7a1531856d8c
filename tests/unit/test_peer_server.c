/*
 * test_peer_server.c - the HTTP server that hands verified chunks to LAN
 * peers: exact bytes for GET, headers for HEAD, 400/404/405 for everything
 * else (and what libmicrohttpd answers on its own), 503 above the upload
 * limit with nothing else under load and memory bounded, sources outside
 * the ACL refused, a request head that trickles in closed at its
 * deadline, room made over the connection limits, pipelined requests
 * answered on one connection, and the counters that say all of it.
 *
 * Each test has a real store in a scratch directory (removed by the
 * teardown, which cmocka runs after a failure too) with a few committed
 * chunks, and the server on 127.0.0.1, port 0.  Clients are libcurl (easy,
 * or multi for the concurrent test) and raw sockets where a client must
 * misbehave.  The whole of 127.0.0.0/8 is local on Linux, so 127.0.0.2
 * and others act as other peers.  Every wait has a deadline.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "helpers.h"
#include "peer_server.h"
#include "pc_util.h"
#include "test_store_util.h"

#define SMALL_LEN 70001
#define BIG_LEN PC_CHUNK_MAX
#define CONCURRENT 200
#define MAX_UPLOADS 50
/* Growth of the process' peak RSS allowed while 200 clients download a
 * 4 MiB chunk (clients included; about 6 MiB in a plain build, 10 under
 * ASan).  A server that buffered bodies would need 50 x 4 MiB for the
 * uploads alone.  ThreadSanitizer's shadow memory roughly doubles what
 * the clients touch (about 45 MiB). */
#if defined(__SANITIZE_THREAD__)
#define RSS_GROWTH_MAX_MIB 128
#else
#define RSS_GROWTH_MAX_MIB 64
#endif

struct fixture {
	char *dir;
	struct pc_store *store;
	struct pc_peer_server *server;
	struct pc_acl loopback; /* 127.0.0.0/8 */
	uint8_t *small, *big;
	struct pc_hash small_hash, big_hash, absent_hash;
	char small_hex[PC_HASH_HEX_LEN + 1];
	char big_hex[PC_HASH_HEX_LEN + 1];
	char absent_hex[PC_HASH_HEX_LEN + 1];
	pthread_mutex_t log_lock;
	char last_log[512]; /* guarded by log_lock */
};

struct reply {
	CURLcode code;
	long status;
	char headers[2048];
	size_t headers_len;
	uint8_t *body;
	size_t body_len;
};

/* ---- fixture -------------------------------------------------------------- */

/* Only what cannot fail: the store is opened by the test itself (see
 * prepare), so that the teardown always runs and removes the directory. */
static void keep_log(void *arg, enum pc_log_level level, const char *subsystem,
		     const char *line)
{
	struct fixture *fx = arg;

	(void)level;
	(void)subsystem;
	pthread_mutex_lock(&fx->log_lock);
	snprintf(fx->last_log, sizeof(fx->last_log), "%s", line);
	pthread_mutex_unlock(&fx->log_lock);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	*state = fx;
	pthread_mutex_init(&fx->log_lock, NULL);
	fx->dir = pc_test_tmpdir();
	pc_log_set_level(PC_LOG_DEBUG);
	pc_log_set_sink(keep_log, fx);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	pc_peer_server_stop(fx->server);
	pc_log_set_sink(NULL, NULL);
	pc_store_close(fx->store);
	pc_test_rmtree(fx->dir);
	free(fx->small);
	free(fx->big);
	pthread_mutex_destroy(&fx->log_lock);
	free(fx);
	return 0;
}

/* A store in the scratch directory with two chunks, and the ACL. */
static void open_store(struct fixture *fx)
{
	char err[128] = "";
	uint8_t absent[64];

	fx->store = store_test_open(fx->dir);
	fx->small = store_test_bytes(SMALL_LEN, 1);
	fx->big = store_test_bytes(BIG_LEN, 2);
	store_test_commit(fx->store, fx->small, SMALL_LEN, &fx->small_hash);
	store_test_commit(fx->store, fx->big, BIG_LEN, &fx->big_hash);
	memset(absent, 'x', sizeof(absent));
	pc_sha256(absent, sizeof(absent), &fx->absent_hash);
	pc_hash_to_hex(&fx->small_hash, fx->small_hex);
	pc_hash_to_hex(&fx->big_hash, fx->big_hex);
	pc_hash_to_hex(&fx->absent_hash, fx->absent_hex);
	assert_ok(pc_acl_parse(&fx->loopback, "127.0.0.0/8", err, sizeof(err)),
		  err);
}

/* Opens the store (first call) and fills @opts with what the tests use
 * unless they say otherwise. */
static void prepare(struct fixture *fx, struct pc_peer_server_opts *opts)
{
	if (!fx->store)
		open_store(fx);
	pc_peer_server_opts_init(opts);
	opts->port = 0;
	opts->bind_address = "127.0.0.1";
	opts->allow = &fx->loopback;
}

static void start(struct fixture *fx, const struct pc_peer_server_opts *opts)
{
	char err[256] = "";

	fx->server = pc_peer_server_start(fx->store, opts, err, sizeof(err));
	if (!fx->server) {
		print_error("pc_peer_server_start: %s\n", err);
		fail();
	}
	assert_int_not_equal(pc_peer_server_port(fx->server), 0);
}

static void start_default(struct fixture *fx)
{
	struct pc_peer_server_opts opts;

	prepare(fx, &opts);
	start(fx, &opts);
}

static struct pc_peer_server_stats *stats(struct fixture *fx)
{
	static struct pc_peer_server_stats snapshot;

	pc_peer_server_stats(fx->server, &snapshot);
	return &snapshot;
}

/* Waits (at most 10 s) until @n chunks were served: the server counts a
 * chunk once its last byte is handed to the kernel, which can be a moment
 * after the client has read it. */
static void wait_served(struct fixture *fx, uint64_t n)
{
	double deadline = pc_now_monotonic() + 10;

	while (stats(fx)->chunks_served < n || stats(fx)->uploads_in_flight) {
		if (pc_now_monotonic() > deadline) {
			print_error(
				"served %llu chunks (%u in flight), want "
				"%llu\n",
				(unsigned long long)stats(fx)->chunks_served,
				stats(fx)->uploads_in_flight,
				(unsigned long long)n);
			fail();
		}
		usleep(10 * 1000);
	}
	assert_int_equal(stats(fx)->chunks_served, n);
}

/* ---- an HTTP client --------------------------------------------------------- */

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct reply *reply = arg;
	size_t len = size * n;

	if (reply->headers_len + len < sizeof(reply->headers)) {
		memcpy(reply->headers + reply->headers_len, data, len);
		reply->headers_len += len;
		reply->headers[reply->headers_len] = '\0';
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct reply *reply = arg;
	size_t len = size * n;
	uint8_t *grown;

	if (reply->body_len + len > 2 * BIG_LEN)
		return 0; /* more than any chunk: fails the transfer */
	grown = realloc(reply->body, reply->body_len + len);
	if (!grown)
		return 0;
	memcpy(grown + reply->body_len, data, len);
	reply->body = grown;
	reply->body_len += len;
	return len;
}

static CURL *new_easy(struct fixture *fx, const char *method, const char *path,
		      const char *source)
{
	CURL *easy = curl_easy_init();
	char url[256];

	assert_non_null(easy);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
		 (unsigned)pc_peer_server_port(fx->server), path);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_PROXY, "");
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "x=1");
	if (source) {
		char interface[64];

		snprintf(interface, sizeof(interface), "host!%s", source);
		curl_easy_setopt(easy, CURLOPT_INTERFACE, interface);
	}
	return easy;
}

static void perform(CURL *easy, struct reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, reply);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, reply);
	reply->code = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &reply->status);
}

/* One request on a new connection from @source (NULL: 127.0.0.1). */
static void http_from(struct fixture *fx, const char *method, const char *path,
		      const char *source, struct reply *reply)
{
	CURL *easy = new_easy(fx, method, path, source);

	perform(easy, reply);
	curl_easy_cleanup(easy);
}

static void http(struct fixture *fx, const char *method, const char *path,
		 struct reply *reply)
{
	http_from(fx, method, path, NULL, reply);
}

#define assert_status(reply, want) \
	check_status((reply), (want), __FILE__, __LINE__)
static void check_status(const struct reply *reply, long want, const char *file,
			 int line)
{
	if (reply->code == CURLE_OK && reply->status == want)
		return;
	print_error("%s:%d: curl: %s, status %ld, want %ld\n%s", file, line,
		    curl_easy_strerror(reply->code), reply->status, want,
		    reply->headers);
	_fail(file, line);
}

/* Fails unless the response has header line "@name: @value". */
#define assert_header(reply, name, value) \
	check_header((reply), (name), (value), __FILE__, __LINE__)
static void check_header(const struct reply *reply, const char *name,
			 const char *value, const char *file, int line)
{
	char want[256];
	const char *p = reply->headers;

	snprintf(want, sizeof(want), "%s: %s\r\n", name, value);
	for (; *p; p++) {
		if (strncasecmp(p, want, strlen(want)) == 0)
			return;
	}
	print_error("%s:%d: no \"%s: %s\" in\n%s", file, line, name, value,
		    reply->headers);
	_fail(file, line);
}

static char *p2p_path(const char *hex, const char *suffix)
{
	static char path[256];

	snprintf(path, sizeof(path), "/p2p/%s%s", hex, suffix ? suffix : "");
	return path;
}

/* ---- a raw client that misbehaves ------------------------------------------ */

/* A TCP connection to the server from @source; @rcvbuf (if not 0) is set
 * before connecting, so that the window the client offers stays small. */
static int raw_connect(struct fixture *fx, const char *source, int rcvbuf)
{
	struct sockaddr_in local = { .sin_family = AF_INET };
	struct sockaddr_in server = { .sin_family = AF_INET };
	struct timeval deadline = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, source, &local.sin_addr), 1);
	/* Blocking calls on it give up after 10 s. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &deadline, sizeof(deadline));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &deadline, sizeof(deadline));
	if (rcvbuf)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
					    sizeof(rcvbuf)),
				 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&local, sizeof(local)), 0);
	server.sin_port = htons(pc_peer_server_port(fx->server));
	server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&server, sizeof(server)) < 0) {
		print_error("connect: %s\n", strerror(errno));
		close(fd);
		fail();
	}
	return fd;
}

static void raw_send(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL),
			 (ssize_t)strlen(text));
}

/*
 * Reads and drops what the server sends until it closes the connection
 * (EOF or reset), at most @timeout_s.  Returns the seconds it took, or a
 * negative number if the connection was still open at the deadline.
 */
static double wait_closed(int fd, double timeout_s)
{
	double begin = pc_now_monotonic();
	char buf[4096];

	for (;;) {
		double left = begin + timeout_s - pc_now_monotonic();
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return pc_now_monotonic() - begin;
	}
}

/* ---- requests that get chunks -------------------------------------------- */

static void test_peer_server_get_sends_exact_chunk_bytes(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	const char *peer;
	char want_len[32];
	CURL *easy;

	start_default(fx);
	easy = new_easy(fx, "GET", p2p_path(fx->small_hex, NULL), NULL);
	perform(easy, &reply);
	assert_status(&reply, 200);
	assert_int_equal(reply.body_len, SMALL_LEN);
	assert_memory_equal(reply.body, fx->small, SMALL_LEN);
	assert_header(&reply, "Content-Type", "application/octet-stream");
	snprintf(want_len, sizeof(want_len), "%d", SMALL_LEN);
	assert_header(&reply, "Content-Length", want_len);
	/* Again on the same (kept-alive) connection, and the 4 MiB one. */
	perform(easy, &reply);
	assert_status(&reply, 200);
	assert_int_equal(reply.body_len, SMALL_LEN);
	curl_easy_cleanup(easy);
	http(fx, "GET", p2p_path(fx->big_hex, NULL), &reply);
	assert_status(&reply, 200);
	assert_int_equal(reply.body_len, BIG_LEN);
	assert_memory_equal(reply.body, fx->big, BIG_LEN);

	wait_served(fx, 3);
	assert_int_equal(stats(fx)->bytes_served, 2 * SMALL_LEN + BIG_LEN);
	assert_int_equal(
		pc_store_counter(fx->store, PC_CTR_CHUNKS_SERVED_PEERS), 3);
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BYTES_SERVED_PEERS),
			 2 * SMALL_LEN + BIG_LEN);
	assert_int_equal(stats(fx)->npeers, 1);
	peer = pc_addr_str(&stats(fx)->peers[0].addr);
	assert_string_equal(peer, "127.0.0.1");
	assert_int_equal(stats(fx)->peers[0].chunks, 3);
	pthread_mutex_lock(&fx->log_lock);
	assert_non_null(strstr(fx->last_log, "served chunk"));
	assert_non_null(strstr(fx->last_log, fx->big_hex));
	pthread_mutex_unlock(&fx->log_lock);
	free(reply.body);
}

static void test_peer_server_head_sends_headers_only(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	char want_len[32];

	start_default(fx);
	http(fx, "HEAD", p2p_path(fx->big_hex, NULL), &reply);
	assert_status(&reply, 200);
	assert_int_equal(reply.body_len, 0);
	snprintf(want_len, sizeof(want_len), "%u", BIG_LEN);
	assert_header(&reply, "Content-Length", want_len);
	assert_header(&reply, "Content-Type", "application/octet-stream");
	http(fx, "HEAD", p2p_path(fx->absent_hex, NULL), &reply);
	assert_status(&reply, 404);
	/* No body went out: nothing counts as served, no slot is held. */
	usleep(100 * 1000);
	assert_int_equal(stats(fx)->chunks_served, 0);
	assert_int_equal(stats(fx)->uploads_in_flight, 0);
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BYTES_SERVED_PEERS),
			 0);
	free(reply.body);
}

static void test_peer_server_absent_chunk_is_404(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };

	start_default(fx);
	http(fx, "GET", p2p_path(fx->absent_hex, NULL), &reply);
	assert_status(&reply, 404);
	assert_int_equal(stats(fx)->not_found, 1);
	assert_int_equal(stats(fx)->chunks_served, 0);
	free(reply.body);
}

/* A chunk file damaged on disk after it was verified, into a shape no
 * object can have, is not served: peers would ban this node for it. */
static void test_peer_server_refuses_impossible_chunk_files(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	char *small_file, *big_file;

	start_default(fx);
	small_file = store_test_chunk_file(fx->dir, &fx->small_hash);
	big_file = store_test_chunk_file(fx->dir, &fx->big_hash);
	assert_int_equal(truncate(small_file, 0), 0);
	assert_int_equal(unlink(big_file), 0);
	assert_int_equal(mkdir(big_file, 0700), 0);
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_status(&reply, 404);
	pthread_mutex_lock(&fx->log_lock);
	assert_non_null(strstr(fx->last_log, fx->small_hex));
	assert_non_null(strstr(fx->last_log, "damaged"));
	pthread_mutex_unlock(&fx->log_lock);
	http(fx, "HEAD", p2p_path(fx->big_hex, NULL), &reply);
	assert_status(&reply, 404);
	http(fx, "GET", p2p_path(fx->big_hex, NULL), &reply);
	assert_status(&reply, 404);
	assert_int_equal(stats(fx)->not_found, 3);
	assert_int_equal(stats(fx)->uploads_in_flight, 0);
	rmdir(big_file);
	free(small_file);
	free(big_file);
	free(reply.body);
}

/* ---- everything else is refused --------------------------------------------- */

static void test_peer_server_malformed_hash_is_400(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	char upper[PC_HASH_HEX_LEN + 1], escaped[PC_HASH_HEX_LEN + 3];
	const char *suffixes[] = { "/", "%00", "%00.txt", "/x", "%20" };
	const char *bad[] = { "", "0", "../../../etc/passwd",
			      "..%2f..%2fetc%2fpasswd", upper, escaped,
			      /* 63 and 65 digits */
			      "012345678901234567890123456789012345678901234"
			      "567890123456789012",
			      "012345678901234567890123456789012345678901234"
			      "56789012345678901234",
			      "g12345678901234567890123456789012345678901234"
			      "5678901234567890123" };
	uint64_t refused = 0;

	start_default(fx);
	/* Uppercase names the same bytes but is not the canonical form. */
	for (size_t i = 0; i <= PC_HASH_HEX_LEN; i++)
		upper[i] = (char)toupper((unsigned char)fx->small_hex[i]);
	/* "%61" is "a" only after unescaping, which the server never does. */
	snprintf(escaped, sizeof(escaped), "%%%02x%s", fx->small_hex[0],
		 fx->small_hex + 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		http(fx, "GET", p2p_path(bad[i], NULL), &reply);
		if (reply.status != 400)
			print_error("path /p2p/%s\n", bad[i]);
		assert_status(&reply, 400);
		refused++;
	}
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		http(fx, "GET", p2p_path(fx->small_hex, suffixes[i]), &reply);
		if (reply.status != 400)
			print_error("suffix \"%s\"\n", suffixes[i]);
		assert_status(&reply, 400);
		refused++;
	}
	assert_int_equal(stats(fx)->bad_requests, refused);
	assert_int_equal(stats(fx)->chunks_served, 0);
	free(reply.body);
}

static void test_peer_server_other_paths_are_404(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	char path[256];
	const char *bases[] = { "/",	 "/p2p",   "/P2P/",   "/chunks/ab/",
				"/p2p?", "//p2p/", "/status?" };

	start_default(fx);
	for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", bases[i], fx->small_hex);
		http(fx, "GET", path, &reply);
		if (reply.status != 404)
			print_error("path %s\n", path);
		assert_status(&reply, 404);
	}
	http(fx, "GET", "/", &reply);
	assert_status(&reply, 404);
	assert_int_equal(stats(fx)->bad_requests,
			 sizeof(bases) / sizeof(bases[0]) + 1);
	assert_int_equal(stats(fx)->not_found, 0);
	free(reply.body);
}

static void test_peer_server_other_methods_are_405(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	const char *methods[] = { "POST", "PUT", "DELETE", "OPTIONS", "get" };

	start_default(fx);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		http(fx, methods[i], p2p_path(fx->small_hex, NULL), &reply);
		if (reply.status != 405)
			print_error("method %s\n", methods[i]);
		assert_status(&reply, 405);
		assert_header(&reply, "Allow", "GET, HEAD");
	}
	http(fx, "POST", "/other", &reply);
	assert_status(&reply, 405);
	assert_int_equal(stats(fx)->chunks_served, 0);
	free(reply.body);
}

static void test_peer_server_refuses_oversized_request(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	char *request = malloc(32 * 1024);
	char answer[64] = "";
	int fd, len;

	assert_non_null(request);
	start_default(fx);
	/* 16 KiB of headers: more than a connection's memory may hold. */
	len = snprintf(
		request, 32 * 1024,
		"GET /p2p/%s HTTP/1.1\r\nHost: peer\r\nX-Pad: ", fx->small_hex);
	memset(request + len, 'a', 16 * 1024);
	len += 16 * 1024;
	len += snprintf(request + len, 32 * 1024 - (size_t)len, "\r\n\r\n");
	fd = raw_connect(fx, "127.0.0.1", 0);
	send(fd, request, (size_t)len, MSG_NOSIGNAL);
	/* libmicrohttpd answers that itself, and closes the connection. */
	recv(fd, answer, strlen("HTTP/1.1 431"), MSG_WAITALL);
	assert_string_equal(answer, "HTTP/1.1 431");
	assert_true(wait_closed(fd, 5) >= 0);
	close(fd);
	free(request);
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_status(&reply, 200);
	free(reply.body);
}

/* ---- limits ------------------------------------------------------------------ */

/* One of the concurrent downloads (curl multi, one thread). */
struct download {
	struct concurrent *all;
	CURL *easy;
	long status;
	bool retry_after;  /* 503 carried "Retry-After: 1" */
	bool paused;	   /* a 200 body held until everyone has a status */
	size_t received;   /* body bytes of a 200 */
	bool body_differs; /* a byte of a 200 body was wrong */
	CURLcode result;
	bool done;
};

struct concurrent {
	const uint8_t *expected;
	size_t expected_len;
	size_t with_status; /* downloads whose status line arrived */
	bool release;	    /* every download has a status: bodies flow */
	struct download downloads[CONCURRENT];
};

static size_t download_header(char *data, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	size_t len = size * n;

	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		sscanf(data, "HTTP/%*s %ld", &d->status);
		d->all->with_status++;
	} else if (len == 16 &&
		   strncasecmp(data, "Retry-After: 1\r\n", 16) == 0) {
		d->retry_after = true;
	}
	return len;
}

/*
 * Bodies of 200 responses are held (paused) until every download has its
 * status: the uploads then stay in flight on the server while the other
 * requests arrive, so exactly MAX_UPLOADS of them can get a 200.  The
 * client's small receive buffer makes sure the server cannot finish a
 * 4 MiB upload into kernel buffers while its client is paused.
 */
static size_t download_body(char *data, size_t size, size_t n, void *arg)
{
	struct download *d = arg;
	struct concurrent *all = d->all;
	size_t len = size * n;

	if (d->status != 200)
		return len;
	if (!all->release) {
		d->paused = true;
		return CURL_WRITEFUNC_PAUSE;
	}
	if (d->received + len > all->expected_len ||
	    memcmp(data, all->expected + d->received, len) != 0)
		d->body_differs = true;
	d->received += len;
	return len;
}

static int small_receive_buffer(void *arg, curl_socket_t fd,
				curlsocktype purpose)
{
	int size = 16 * 1024;

	(void)arg;
	(void)purpose;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	return CURL_SOCKOPT_OK;
}

/* VmRSS or VmHWM of this process in KiB. */
static long proc_status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kib = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, field, strlen(field)) == 0)
			kib = strtol(line + strlen(field) + 1, NULL, 10);
	}
	fclose(f);
	assert_true(kib > 0);
	return kib;
}

/* Makes VmHWM start again from the current RSS (Linux >= 4.0). */
static void reset_peak_rss(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");

	assert_non_null(f);
	fputs("5", f);
	assert_int_equal(fclose(f), 0);
}

static void run_concurrent(struct fixture *fx, struct concurrent *all)
{
	double deadline = pc_now_monotonic() + 90;
	CURLM *multi = curl_multi_init();
	int running = 1;
	CURLMsg *msg;
	int left;

	assert_non_null(multi);
	for (size_t i = 0; i < CONCURRENT; i++) {
		struct download *d = &all->downloads[i];

		d->all = all;
		d->easy =
			new_easy(fx, "GET", p2p_path(fx->big_hex, NULL), NULL);
		curl_easy_setopt(d->easy, CURLOPT_TIMEOUT, 60L);
		curl_easy_setopt(d->easy, CURLOPT_HEADERFUNCTION,
				 download_header);
		curl_easy_setopt(d->easy, CURLOPT_HEADERDATA, d);
		curl_easy_setopt(d->easy, CURLOPT_WRITEFUNCTION, download_body);
		curl_easy_setopt(d->easy, CURLOPT_WRITEDATA, d);
		curl_easy_setopt(d->easy, CURLOPT_PRIVATE, d);
		curl_easy_setopt(d->easy, CURLOPT_SOCKOPTFUNCTION,
				 small_receive_buffer);
		curl_easy_setopt(d->easy, CURLOPT_FORBID_REUSE, 1L);
		assert_int_equal(curl_multi_add_handle(multi, d->easy),
				 CURLM_OK);
	}
	while (running && pc_now_monotonic() < deadline) {
		curl_multi_perform(multi, &running);
		while ((msg = curl_multi_info_read(multi, &left))) {
			struct download *d;

			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
					  (char **)&d);
			d->result = msg->data.result;
			d->done = true;
		}
		if (!all->release && all->with_status == CONCURRENT) {
			all->release = true;
			for (size_t i = 0; i < CONCURRENT; i++) {
				if (all->downloads[i].paused)
					curl_easy_pause(all->downloads[i].easy,
							CURLPAUSE_CONT);
			}
		}
		curl_multi_poll(multi, NULL, 0, 100, NULL);
	}
	for (size_t i = 0; i < CONCURRENT; i++) {
		curl_multi_remove_handle(multi, all->downloads[i].easy);
		curl_easy_cleanup(all->downloads[i].easy);
	}
	curl_multi_cleanup(multi);
	if (running) {
		print_error("downloads still running at the deadline (%zu of "
			    "%d have a status)\n",
			    all->with_status, CONCURRENT);
		fail();
	}
}

static void test_peer_server_concurrent_downloads_get_200_or_503(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct concurrent *all = calloc(1, sizeof(*all));
	size_t ok = 0, busy = 0;
	long rss_before, rss_peak;

	assert_non_null(all);
	prepare(fx, &opts);
	all->expected = fx->big;
	all->expected_len = BIG_LEN;
	opts.max_uploads = MAX_UPLOADS;
	opts.per_client_max = 0; /* every client is 127.0.0.1 here */
	start(fx, &opts);
	reset_peak_rss();
	rss_before = proc_status_kib("VmRSS:");

	run_concurrent(fx, all);

	rss_peak = proc_status_kib("VmHWM:");
	for (size_t i = 0; i < CONCURRENT; i++) {
		struct download *d = &all->downloads[i];

		if (!d->done || d->result != CURLE_OK) {
			print_error("download %zu: %s, status %ld\n", i,
				    curl_easy_strerror(d->result), d->status);
			fail();
		}
		if (d->status == 200) {
			assert_int_equal(d->received, BIG_LEN);
			assert_false(d->body_differs);
			ok++;
		} else if (d->status == 503) {
			assert_true(d->retry_after);
			busy++;
		} else {
			print_error("download %zu: status %ld\n", i, d->status);
			fail();
		}
	}
	print_message("200: %zu, 503: %zu, peak RSS growth %.1f MiB\n", ok,
		      busy, (double)(rss_peak - rss_before) / 1024);
	assert_int_equal(ok, MAX_UPLOADS);
	assert_int_equal(busy, CONCURRENT - MAX_UPLOADS);
	wait_served(fx, MAX_UPLOADS);
	assert_int_equal(stats(fx)->refused_limit, CONCURRENT - MAX_UPLOADS);
	assert_int_equal(stats(fx)->uploads_aborted, 0);
	assert_int_equal(pc_store_counter(fx->store, PC_CTR_BYTES_SERVED_PEERS),
			 (uint64_t)MAX_UPLOADS * BIG_LEN);
	assert_true(rss_peak - rss_before < RSS_GROWTH_MAX_MIB * 1024);
	free(all);
}

static void test_peer_server_refuses_sources_outside_acl(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct reply reply = { 0 };
	struct pc_acl only_two = { 0 };
	char err[128] = "";
	double took;
	int fd;

	assert_ok(pc_acl_parse(&only_two, "127.0.0.2", err, sizeof(err)), err);
	prepare(fx, &opts);
	opts.allow = &only_two;
	start(fx, &opts);

	/* 127.0.0.1 is closed before it is sent anything. */
	fd = raw_connect(fx, "127.0.0.1", 0);
	raw_send(fd, "GET /p2p/");
	took = wait_closed(fd, 5);
	close(fd);
	assert_true(took >= 0 && took < 1.5);
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_int_not_equal(reply.code, CURLE_OK);
	assert_int_equal(reply.body_len, 0);
	assert_int_equal(stats(fx)->refused_acl, 2);

	/* 127.0.0.2 is served. */
	http_from(fx, "GET", p2p_path(fx->small_hex, NULL), "127.0.0.2",
		  &reply);
	assert_status(&reply, 200);
	assert_int_equal(stats(fx)->refused_acl, 2);

	/* A new ACL applies to new connections. */
	pc_peer_server_set_acl(fx->server, &fx->loopback);
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_status(&reply, 200);
	assert_int_equal(stats(fx)->refused_acl, 2);
	wait_served(fx, 2);
	free(reply.body);
}

/* With no bind address the server listens on both families (one
 * dual-stack socket): ::1 and 127.0.0.1 reach it, and the ACL decides for
 * each, an IPv6 block included; the IPv6 client is listed by its address. */
static void test_peer_server_dual_stack(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct reply reply = { 0 };
	struct pc_acl v6_only = { 0 };
	char err[128] = "", url[320];
	CURL *easy;

	if (!pc_addr_ipv6_available())
		skip();
	assert_ok(pc_acl_parse(&v6_only, "::1/128", err, sizeof(err)), err);
	prepare(fx, &opts);
	opts.bind_address = "";
	opts.allow = &v6_only;
	start(fx, &opts);

	easy = new_easy(fx, "GET", "/", NULL);
	snprintf(url, sizeof(url), "http://[::1]:%u%s",
		 (unsigned)pc_peer_server_port(fx->server),
		 p2p_path(fx->small_hex, NULL));
	curl_easy_setopt(easy, CURLOPT_URL, url);
	perform(easy, &reply);
	curl_easy_cleanup(easy);
	assert_status(&reply, 200);
	wait_served(fx, 1);
	assert_string_equal(pc_addr_str(&stats(fx)->peers[0].addr), "::1");

	/* The same socket takes IPv4, which this ACL does not allow. */
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_int_not_equal(reply.code, CURLE_OK);
	assert_int_equal(stats(fx)->refused_acl, 1);
	free(reply.body);
}

/* Sends "GET /p2p/0123..." one byte every @interval_ms on @fd until the
 * server closes it; the seconds that took, or < 0 after @timeout_s. */
static double trickle_until_closed(int fd, unsigned interval_ms,
				   double timeout_s)
{
	static const char head[] = "GET /p2p/0123456789abcdef0123456789abcdef"
				   "0123456789abcdef0123456789abcdef "
				   "HTTP/1.1\r\nX-Padding: ";
	double begin = pc_now_monotonic();
	size_t sent = 0;
	char buf[256];

	while (pc_now_monotonic() - begin < timeout_s) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, (int)interval_ms) > 0) {
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n == 0 || (n < 0 && errno == ECONNRESET))
				return pc_now_monotonic() - begin;
			continue;
		}
		if (send(fd, sent < sizeof(head) - 1 ? &head[sent] : "a", 1,
			 MSG_NOSIGNAL) < 0)
			return pc_now_monotonic() - begin;
		sent++;
	}
	return -1;
}

static void test_peer_server_closes_request_heads_that_trickle(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct reply reply = { 0 };
	double took;
	int slow;

	prepare(fx, &opts);
	opts.header_timeout_s = 1;
	opts.timeout_s = 30;
	start(fx, &opts);

	/* One byte every 200 ms: never idle, never a whole head.  The
	 * idle timeout (30 s) would never fire; the head's deadline does. */
	slow = raw_connect(fx, "127.0.0.1", 0);
	took = trickle_until_closed(slow, 200, 10);
	close(slow);
	if (took < 0.9 || took > 5) {
		print_error("a trickling request head was closed after %.2f "
			    "s, want about 1 s\n",
			    took);
		fail();
	}
	assert_int_equal(stats(fx)->closed_idle, 1);
	assert_int_equal(stats(fx)->refused_connections, 0);

	/* A connection kept after an answer gets the same time for its
	 * next request head; a prompt client is served meanwhile. */
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_status(&reply, 200);
	assert_int_equal(stats(fx)->closed_idle, 1);
	free(reply.body);
}

static void test_peer_server_makes_room_over_the_limits(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct reply reply = { 0 };
	double took;
	int first, second, other;

	prepare(fx, &opts);
	opts.header_timeout_s = 30;
	opts.per_client_max = 1;
	opts.max_uploads = 2;
	opts.max_connections = 2;
	start(fx, &opts);

	/* Per address: a second connection from 127.0.0.1 takes the place
	 * of the first, which sent half a request and waits. */
	first = raw_connect(fx, "127.0.0.1", 0);
	raw_send(first, "GET /p2p/0123");
	usleep(100 * 1000);
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_status(&reply, 200);
	took = wait_closed(first, 5);
	close(first);
	assert_true(took >= 0 && took < 3); /* at once, not at 30 s */
	assert_int_equal(stats(fx)->closed_idle, 1);

	/* In total (2): 127.0.0.2 and .3 wait; .4 takes the place of the
	 * one that has waited longest, .2. */
	second = raw_connect(fx, "127.0.0.2", 0);
	raw_send(second, "GET /p2p/0123");
	usleep(100 * 1000);
	other = raw_connect(fx, "127.0.0.3", 0);
	raw_send(other, "GET /p2p/0123");
	usleep(100 * 1000);
	http_from(fx, "GET", p2p_path(fx->small_hex, NULL), "127.0.0.4",
		  &reply);
	assert_status(&reply, 200);
	took = wait_closed(second, 5);
	assert_true(took >= 0 && took < 3);	  /* at once, not at 30 s */
	assert_true(wait_closed(other, 0.3) < 0); /* still open */
	close(second);
	close(other);
	assert_int_equal(stats(fx)->closed_idle, 2);
	assert_int_equal(stats(fx)->refused_connections, 0);
	free(reply.body);
}

/* Asks for the 4 MiB chunk on @fd and reads only the status line: the
 * body cannot all fit in the small receive window, so the upload stays in
 * flight. */
static void request_and_stall(struct fixture *fx, int fd)
{
	char request[256];
	char status[16] = "";

	snprintf(request, sizeof(request),
		 "GET /p2p/%s HTTP/1.1\r\nHost: peer\r\n\r\n", fx->big_hex);
	raw_send(fd, request);
	assert_int_equal(recv(fd, status, 12, MSG_WAITALL), 12);
	assert_string_equal(status, "HTTP/1.1 200");
	assert_int_equal(stats(fx)->uploads_in_flight, 1);
}

static void test_peer_server_drops_stalled_reader_after_timeout(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	double deadline;
	int fd;

	prepare(fx, &opts);
	opts.timeout_s = 2;
	start(fx, &opts);
	fd = raw_connect(fx, "127.0.0.1", 16 * 1024);
	request_and_stall(fx, fd);
	/* A peer that stops reading holds its upload slot only until the
	 * idle timeout: then the upload is cut and the slot is free. */
	deadline = pc_now_monotonic() + 10;
	while (stats(fx)->uploads_in_flight) {
		if (pc_now_monotonic() > deadline) {
			print_error("the stalled upload is still in flight\n");
			fail();
		}
		usleep(50 * 1000);
	}
	close(fd);
	assert_int_equal(stats(fx)->uploads_aborted, 1);
	assert_int_equal(stats(fx)->chunks_served, 0);
	assert_int_equal(
		pc_store_counter(fx->store, PC_CTR_CHUNKS_SERVED_PEERS), 0);
}

static void test_peer_server_refuses_when_every_connection_is_busy(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct reply reply = { 0 };
	double took;
	int busy, refused;

	prepare(fx, &opts);
	opts.max_uploads = 1;
	opts.max_connections = 1;
	opts.per_client_max = 0;
	opts.timeout_s = 30;
	start(fx, &opts);
	busy = raw_connect(fx, "127.0.0.1", 16 * 1024);
	request_and_stall(fx, busy);

	/* Nothing waits that could make room: closed at accept, counted. */
	refused = raw_connect(fx, "127.0.0.2", 0);
	took = wait_closed(refused, 5);
	close(refused);
	assert_true(took >= 0 && took < 3); /* at once */
	assert_int_equal(stats(fx)->refused_connections, 1);
	assert_int_equal(stats(fx)->closed_idle, 0);

	/* The upload ends: room again. */
	close(busy);
	for (double deadline = pc_now_monotonic() + 10;
	     stats(fx)->uploads_in_flight && pc_now_monotonic() < deadline;)
		usleep(20 * 1000);
	http(fx, "GET", p2p_path(fx->small_hex, NULL), &reply);
	assert_status(&reply, 200);
	free(reply.body);
}

/* Reads one answer on @fd: its status; its body (Content-Length bytes,
 * none after a HEAD) is read and dropped.  -1 when the connection ends
 * first. */
static int read_answer(int fd, bool head_request, bool *closes)
{
	char head[4096], *end, *cl;
	size_t len = 0, body = 0, have;
	int status = -1;

	while (!(end = memmem(head, len, "\r\n\r\n", 4))) {
		ssize_t n;

		if (len == sizeof(head))
			return -1;
		n = recv(fd, head + len, 1, 0); /* never past this answer */
		if (n <= 0)
			return -1;
		len += (size_t)n;
	}
	*end = '\0';
	sscanf(head, "HTTP/1.1 %d", &status);
	cl = strcasestr(head, "\r\nContent-Length:");
	if (cl && !head_request)
		body = strtoul(cl + strlen("\r\nContent-Length:"), NULL, 10);
	*closes = strcasestr(head, "\r\nConnection: close") != NULL;
	for (have = 0; have < body;) {
		char buf[8192];
		ssize_t n = recv(fd, buf,
				 body - have < sizeof(buf) ? body - have
							   : sizeof(buf),
				 0);

		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	return status;
}

static void
test_peer_server_keeps_connections_for_pipelined_requests(void **state)
{
	struct fixture *fx = *state;
	char requests[1024];
	bool closes = true;
	int fd;

	start_default(fx);
	fd = raw_connect(fx, "127.0.0.1", 0);
	/* Three requests in one write: each gets its answer, in order. */
	snprintf(requests, sizeof(requests),
		 "GET /p2p/%s HTTP/1.1\r\nHost: peer\r\n\r\n"
		 "HEAD /p2p/%s HTTP/1.1\r\nHost: peer\r\n\r\n"
		 "GET /p2p/%s HTTP/1.1\r\nHost: peer\r\n\r\n",
		 fx->small_hex, fx->small_hex, fx->absent_hex);
	raw_send(fd, requests);
	assert_int_equal(read_answer(fd, false, &closes), 200);
	assert_false(closes);
	assert_int_equal(read_answer(fd, true, &closes), 200);
	assert_false(closes);
	assert_int_equal(read_answer(fd, false, &closes), 404);
	assert_false(closes);
	/* And the connection takes one more. */
	snprintf(requests, sizeof(requests),
		 "GET /p2p/%s HTTP/1.1\r\nHost: peer\r\n\r\n", fx->small_hex);
	raw_send(fd, requests);
	assert_int_equal(read_answer(fd, false, &closes), 200);
	close(fd);
	wait_served(fx, 2);
}

/* @request on a new connection: the status of its answer, and whether
 * the server then closed the connection (within 5 s). */
static int raw_exchange(struct fixture *fx, const char *request, bool *closed)
{
	bool closes = false;
	int fd = raw_connect(fx, "127.0.0.1", 0), status;

	send(fd, request, strlen(request), MSG_NOSIGNAL);
	status = read_answer(fd, false, &closes);
	*closed = wait_closed(fd, 5) >= 0;
	close(fd);
	return status;
}

static void test_peer_server_answers_of_libmicrohttpd(void **state)
{
	struct fixture *fx = *state;
	char *request = malloc(16 * 1024);
	bool closed;
	int len;

	assert_non_null(request);
	start_default(fx);
	/* A request with a body: answered, the body never read, the
	 * connection closed. */
	snprintf(request, 16 * 1024,
		 "GET /p2p/%s HTTP/1.1\r\nHost: peer\r\n"
		 "Content-Length: 5\r\n\r\nhello",
		 fx->small_hex);
	assert_int_equal(raw_exchange(fx, request, &closed), 200);
	assert_true(closed);
	/* A request line longer than the connection's memory: 414. */
	len = snprintf(request, 16 * 1024, "GET /p2p/");
	memset(request + len, 'a', 12 * 1024);
	snprintf(request + len + 12 * 1024, 64,
		 " HTTP/1.1\r\nHost: peer\r\n\r\n");
	assert_int_equal(raw_exchange(fx, request, &closed), 414);
	assert_true(closed);
	/* An HTTP version other than 1.x: 505. */
	snprintf(request, 16 * 1024,
		 "GET /p2p/%s HTTP/2.0\r\nHost: peer\r\n\r\n", fx->small_hex);
	assert_int_equal(raw_exchange(fx, request, &closed), 505);
	assert_true(closed);
	/* Not HTTP at all: 400. */
	assert_int_equal(
		raw_exchange(fx, "GET /p2p/x HTTP/one\r\n\r\n", &closed), 400);
	assert_true(closed);
	free(request);
}

static void test_peer_server_stop_cuts_uploads_in_flight(void **state)
{
	struct fixture *fx = *state;
	double begin;
	int fd;

	start_default(fx);
	fd = raw_connect(fx, "127.0.0.1", 16 * 1024);
	request_and_stall(fx, fd);

	begin = pc_now_monotonic();
	pc_peer_server_stop(fx->server);
	fx->server = NULL;
	assert_true(pc_now_monotonic() - begin < 5);
	assert_true(wait_closed(fd, 5) >= 0);
	close(fd);
	/* A body cut short is not a chunk served. */
	assert_int_equal(
		pc_store_counter(fx->store, PC_CTR_CHUNKS_SERVED_PEERS), 0);
}

/* ---- counters and options ------------------------------------------------------ */

static void test_peer_server_counts_per_peer_in_bounded_table(void **state)
{
	struct fixture *fx = *state;
	struct reply reply = { 0 };
	struct pc_peer_server_stats *s;
	char source[32];
	int sources = PC_PEER_SERVER_MAX_PEERS + 6;

	start_default(fx);
	/* 127.0.1.1 gets the big chunk, everyone else a small one. */
	for (int i = 1; i <= sources; i++) {
		snprintf(source, sizeof(source), "127.0.1.%d", i);
		http_from(fx, "GET",
			  p2p_path(i == 1 ? fx->big_hex : fx->small_hex, NULL),
			  source, &reply);
		assert_status(&reply, 200);
	}
	wait_served(fx, (uint64_t)sources);
	s = stats(fx);
	assert_int_equal(s->npeers, PC_PEER_SERVER_MAX_PEERS);
	/* Most bytes first; the big receiver was never pushed out. */
	assert_string_equal(pc_addr_str(&s->peers[0].addr), "127.0.1.1");
	assert_int_equal(s->peers[0].bytes, BIG_LEN);
	assert_int_equal(s->peers[0].chunks, 1);
	for (size_t i = 1; i < s->npeers; i++)
		assert_int_equal(s->peers[i].bytes, SMALL_LEN);
	/* The most recent source has its line. */
	snprintf(source, sizeof(source), "127.0.1.%d", sources);
	for (size_t i = 0; i < s->npeers; i++) {
		if (strcmp(pc_addr_str(&s->peers[i].addr), source) == 0)
			source[0] = '\0';
	}
	assert_string_equal(source, "");
	free(reply.body);
}

static void test_peer_server_start_refuses_bad_options(void **state)
{
	struct fixture *fx = *state;
	struct pc_peer_server_opts opts;
	struct pc_peer_server *second;
	char err[256] = "";
	char want[64];

	prepare(fx, &opts);
	opts.allow = NULL;
	assert_null(pc_peer_server_start(fx->store, &opts, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_message(err, "allowed sources");

	prepare(fx, &opts);
	opts.max_uploads = 0;
	assert_null(pc_peer_server_start(fx->store, &opts, err, sizeof(err)));
	assert_message(err, "max_uploads");

	prepare(fx, &opts);
	opts.bind_address = "127.0.0.1:80";
	assert_null(pc_peer_server_start(fx->store, &opts, err, sizeof(err)));
	assert_message(err, "\"127.0.0.1:80\" is not an IPv4 or IPv6 address");

	/* A port that is taken. */
	start_default(fx);
	prepare(fx, &opts);
	opts.port = pc_peer_server_port(fx->server);
	second = pc_peer_server_start(fx->store, &opts, err, sizeof(err));
	pc_peer_server_stop(second);
	assert_null(second);
	snprintf(want, sizeof(want), "cannot listen on 127.0.0.1:%u",
		 (unsigned)opts.port);
	assert_message(err, want);
}

int main(void)
{
#define peer_test(test) cmocka_unit_test_setup_teardown(test, setup, teardown)
	const struct CMUnitTest tests[] = {
		peer_test(test_peer_server_get_sends_exact_chunk_bytes),
		peer_test(test_peer_server_head_sends_headers_only),
		peer_test(test_peer_server_absent_chunk_is_404),
		peer_test(test_peer_server_refuses_impossible_chunk_files),
		peer_test(test_peer_server_malformed_hash_is_400),
		peer_test(test_peer_server_other_paths_are_404),
		peer_test(test_peer_server_other_methods_are_405),
		peer_test(test_peer_server_refuses_oversized_request),
		peer_test(test_peer_server_concurrent_downloads_get_200_or_503),
		peer_test(test_peer_server_refuses_sources_outside_acl),
		peer_test(test_peer_server_dual_stack),
		peer_test(test_peer_server_closes_request_heads_that_trickle),
		peer_test(test_peer_server_makes_room_over_the_limits),
		peer_test(test_peer_server_drops_stalled_reader_after_timeout),
		peer_test(
			test_peer_server_refuses_when_every_connection_is_busy),
		peer_test(
			test_peer_server_keeps_connections_for_pipelined_requests),
		peer_test(test_peer_server_answers_of_libmicrohttpd),
		peer_test(test_peer_server_stop_cuts_uploads_in_flight),
		peer_test(test_peer_server_counts_per_peer_in_bounded_table),
		peer_test(test_peer_server_start_refuses_bad_options),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return failed;
}
