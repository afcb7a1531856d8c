/*
 * pc-peer-http.c - pc-peer-tool's HTTP commands: fake-peer (a neighbour
 * that claims every chunk over discovery and serves garbage over HTTP) and
 * get (many concurrent GET /p2p/<hex> at one peer server).  See
 * pc-peer-tool.c for the tool as a whole.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "pc-peer-tool.h"

/* ---- fake-peer ------------------------------------------------------------
 *
 * A neighbour that lies.  By default it answers every valid probe with
 * "have" for every id, and serves GET /p2p/<hex> with garbage of the right
 * length (taken from --sizes, a manifest for instance): a correct node
 * hashes what it gets, bans this peer and reads on from another source.
 * Other lies, for the other ways a host without credentials can try to
 * slow its neighbours down:
 *
 *   --answer fetching   "fetching" for every id of every probe, never
 *                       "have" (--answer none: no answer at all)
 *   --claim BCAST       a CLAIM for every id of every probe, sent to the
 *                       broadcast address BCAST, and never a RELEASE
 *   --serve 404         every GET answered 404 (--serve redirect: every
 *                       request, /head too, answered 302 to --redirect
 *                       URL with the path appended)
 *   --no-http           no HTTP server at all (connections refused)
 *   --ports N           HTTP on N ports from --http-port on, announced in
 *                       turn (one port per answer or claim)
 *
 * Every probe answered and every request served is logged on stderr, so
 * that a test can count what the node still asks after a ban.
 */

enum fake_answer {
	FAKE_HAVE,
	FAKE_FETCHING,
	FAKE_SILENT,
};

enum fake_serve {
	FAKE_GARBAGE,
	FAKE_404,
	FAKE_REDIRECT,
};

#define FAKE_MAX_PORTS 64

struct fake_peer {
	struct id_list sizes;
	uint64_t default_size;
	uint16_t http_port;
	unsigned nports;    /* announced in turn from http_port on */
	unsigned next_port; /* the one the next packet announces */
	enum fake_answer answer;
	enum fake_serve serve;
	const char *redirect; /* URL prefix for --serve redirect */
	bool claim;
	struct sockaddr_in claim_to; /* broadcast address for claims */
	pthread_mutex_t lock;	     /* guards the counters */
	uint64_t probes, claims, gets, heads, bytes;
	unsigned connections; /* open right now */
};

#define FAKE_MAX_CONNECTIONS 128
#define HTTP_HEAD_MAX 8192

struct fake_conn {
	struct fake_peer *peer;
	int fd;
	struct sockaddr_storage from; /* IPv4 or IPv6 */
};

static bool send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads one request head (through the blank line) into @buf; its length,
 * 0 at EOF or on error.  Bytes after the head are not expected (no
 * pipelining by a node). */
static size_t read_head(int fd, char *buf, size_t cap)
{
	size_t len = 0;

	while (len + 1 < cap) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return len;
	}
	return 0;
}

static bool fake_send_garbage(int fd, const uint8_t *id, uint64_t size)
{
	uint64_t state, block[8192];

	memcpy(&state, id, sizeof(state));
	while (size > 0) {
		size_t len =
			size < sizeof(block) ? (size_t)size : sizeof(block);

		for (size_t i = 0; i < sizeof(block) / 8; i++)
			block[i] = mix_next(&state);
		if (!send_all(fd, block, len))
			return false;
		size -= len;
	}
	return true;
}

/* Answers one request; false when the connection must end. */
static bool fake_answer(struct fake_conn *c, char *head)
{
	struct fake_peer *peer = c->peer;
	char method[8], path[256], reply[512], where[64], hex[2 * ID_LEN + 1];
	uint8_t id[ID_LEN];
	uint64_t size;
	ssize_t slot;
	bool is_get;

	if (sscanf(head, "%7s %255s", method, path) != 2)
		return false;
	is_get = strcmp(method, "GET") == 0;
	addr_text((const void *)&c->from, where, sizeof(where));
	if (peer->serve == FAKE_REDIRECT) { /* any path, /head too */
		fprintf(stderr, "fake-peer: %s %s from %s: 302\n", method, path,
			where);
		pthread_mutex_lock(&peer->lock);
		peer->gets += is_get;
		peer->heads += !is_get;
		pthread_mutex_unlock(&peer->lock);
		snprintf(reply, sizeof(reply),
			 "HTTP/1.1 302 Found\r\nLocation: %s%s\r\n"
			 "Content-Length: 0\r\n\r\n",
			 peer->redirect, path);
		return send_all(c->fd, reply, strlen(reply));
	}
	if ((!is_get && strcmp(method, "HEAD") != 0) ||
	    strncmp(path, "/p2p/", 5) != 0 ||
	    !hex_parse(path + 5, strlen(path + 5), id)) {
		fprintf(stderr, "fake-peer: %s %s from %s: 404\n", method, path,
			where);
		snprintf(reply, sizeof(reply),
			 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
		return send_all(c->fd, reply, strlen(reply));
	}
	if (peer->serve == FAKE_404) {
		hex_format(id, hex);
		fprintf(stderr, "fake-peer: %s /p2p/%s from %s: 404\n", method,
			hex, where);
		pthread_mutex_lock(&peer->lock);
		peer->gets += is_get;
		peer->heads += !is_get;
		pthread_mutex_unlock(&peer->lock);
		snprintf(reply, sizeof(reply),
			 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
		return send_all(c->fd, reply, strlen(reply));
	}
	slot = id_list_find(&peer->sizes, id);
	size = slot >= 0 && peer->sizes.sizes[slot] ? peer->sizes.sizes[slot]
						    : peer->default_size;
	snprintf(reply, sizeof(reply),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
		 "Content-Length: %llu\r\n\r\n",
		 (unsigned long long)size);
	hex_format(id, hex);
	fprintf(stderr, "fake-peer: %s /p2p/%s from %s: 200 garbage %llu\n",
		method, hex, where, (unsigned long long)size);
	pthread_mutex_lock(&peer->lock);
	if (is_get) {
		peer->gets++;
		peer->bytes += size;
	} else {
		peer->heads++;
	}
	pthread_mutex_unlock(&peer->lock);
	if (!send_all(c->fd, reply, strlen(reply)))
		return false;
	return !is_get || fake_send_garbage(c->fd, id, size);
}

static void *fake_conn_main(void *arg)
{
	struct fake_conn *c = arg;
	struct timeval tv = { .tv_sec = 10 };
	char *head = malloc(HTTP_HEAD_MAX);

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (head && !stop_requested &&
	       read_head(c->fd, head, HTTP_HEAD_MAX) > 0) {
		if (!fake_answer(c, head) || strcasestr(head, "connection: "
							      "close"))
			break;
	}
	free(head);
	close(c->fd);
	pthread_mutex_lock(&c->peer->lock);
	c->peer->connections--;
	pthread_mutex_unlock(&c->peer->lock);
	free(c);
	return NULL;
}

static void fake_accept(struct fake_peer *peer, int listen_fd)
{
	struct fake_conn *c = calloc(1, sizeof(*c));
	socklen_t alen = sizeof(c->from);
	pthread_attr_t attr;
	pthread_t thread;
	bool room;

	if (!c)
		return;
	c->peer = peer;
	c->fd = accept4(listen_fd, (struct sockaddr *)&c->from, &alen,
			SOCK_CLOEXEC);
	pthread_mutex_lock(&peer->lock);
	room = peer->connections < FAKE_MAX_CONNECTIONS;
	if (room && c->fd >= 0)
		peer->connections++;
	pthread_mutex_unlock(&peer->lock);
	if (c->fd < 0 || !room) {
		if (c->fd >= 0)
			close(c->fd);
		free(c);
		return;
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&thread, &attr, fake_conn_main, c) != 0) {
		close(c->fd);
		pthread_mutex_lock(&peer->lock);
		peer->connections--;
		pthread_mutex_unlock(&peer->lock);
		free(c);
	}
	pthread_attr_destroy(&attr);
}

/* The HTTP port the next answer or claim announces. */
static uint16_t fake_port(struct fake_peer *peer)
{
	uint16_t port = (uint16_t)(peer->http_port + peer->next_port);

	peer->next_port = (peer->next_port + 1) % peer->nports;
	return port;
}

/* A CLAIM for every id of probe @m, to the broadcast address. */
static void fake_claim(struct fake_peer *peer, int fd, const struct msg *m,
		       const struct fleet_key *key)
{
	uint8_t pkt[PACKET_MAX];
	size_t len =
		packet_build(pkt, MSG_CLAIM, m->count, random_u32(),
			     fake_port(peer), m->body, m->count * ID_LEN, key);

	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&peer->claim_to,
		   sizeof(peer->claim_to)) < 0)
		fprintf(stderr, "fake-peer: claim: %s\n", strerror(errno));
	pthread_mutex_lock(&peer->lock);
	peer->claims++;
	pthread_mutex_unlock(&peer->lock);
}

/* Answers a valid probe: every "have" (or "fetching") bit set. */
static void fake_udp(struct fake_peer *peer, int fd,
		     const struct fleet_key *key)
{
	uint8_t rx[4096], body[2 * MAX_IDS / 8], pkt[PACKET_MAX];
	struct sockaddr_storage src;
	bool partial = false;
	char where[64];
	const char *why;
	struct msg m;
	ssize_t got = udp_recv_any(fd, rx, sizeof(rx), 0, &src, &partial);
	socklen_t srclen = src.ss_family == AF_INET6
				   ? sizeof(struct sockaddr_in6)
				   : sizeof(struct sockaddr_in);
	size_t len, maplen;

	if (got <= 0)
		return;
	addr_text((const void *)&src, where, sizeof(where));
	why = packet_check(rx, (size_t)got, partial, key, &m);
	if (why) {
		fprintf(stderr, "fake-peer: dropped %zd bytes from %s: %s\n",
			got, where, why);
		return;
	}
	if (m.type != MSG_PROBE)
		return; /* claims, releases, stray answers, our own claims */
	if (peer->claim)
		fake_claim(peer, fd, &m, key);
	if (peer->answer == FAKE_SILENT)
		return;
	maplen = bitmap_len(m.count);
	memset(body, 0, sizeof(body));
	for (size_t i = 0; i < m.count; i++)
		bit_set(body + (peer->answer == FAKE_FETCHING ? maplen : 0), i);
	len = packet_build(pkt, MSG_ANSWER, m.count, m.txid, fake_port(peer),
			   body, 2 * maplen, key);
	if (sendto(fd, pkt, len, 0, (struct sockaddr *)&src, srclen) < 0)
		fprintf(stderr, "fake-peer: answer to %s: %s\n", where,
			strerror(errno));
	pthread_mutex_lock(&peer->lock);
	peer->probes++;
	pthread_mutex_unlock(&peer->lock);
	fprintf(stderr, "fake-peer: probe from %s ids=%u: answered %s-all\n",
		where, m.count,
		peer->answer == FAKE_FETCHING ? "fetching" : "have");
}

/* The UDP socket in pfd[0], @nhttp listening ones after it: IPv4 for an
 * IPv4 @bind_to, else IPv6 (joining the nodes' group on @join6). */
static void fake_listen(const char *bind_to, const char *join6,
			uint16_t udp_port, const struct fake_peer *peer,
			unsigned nhttp, struct pollfd *pfd)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	struct sockaddr_in6 addr6 = { .sin6_family = AF_INET6 };
	bool v6 = inet_pton(AF_INET, bind_to, &addr.sin_addr) != 1;

	if (v6 && inet_pton(AF_INET6, bind_to, &addr6.sin6_addr) != 1)
		die("--bind: '%s' is not an IPv4 or IPv6 address", bind_to);
	for (unsigned i = 0; i <= nhttp; i++) {
		int type = i ? SOCK_STREAM : SOCK_DGRAM;
		uint16_t port =
			i ? (uint16_t)(peer->http_port + i - 1) : udp_port;

		addr.sin_port = addr6.sin6_port = htons(port);
		pfd[i] = (struct pollfd){ .fd = v6 ? listen_on6(type, &addr6,
								join6)
						   : listen_on(type, &addr),
					  .events = POLLIN };
	}
}

/* --answer, --serve */
static void fake_parse_mode(struct fake_peer *peer, int opt, const char *arg)
{
	if (opt == 'a' && strcmp(arg, "have") == 0)
		peer->answer = FAKE_HAVE;
	else if (opt == 'a' && strcmp(arg, "fetching") == 0)
		peer->answer = FAKE_FETCHING;
	else if (opt == 'a' && strcmp(arg, "none") == 0)
		peer->answer = FAKE_SILENT;
	else if (opt == 'S' && strcmp(arg, "garbage") == 0)
		peer->serve = FAKE_GARBAGE;
	else if (opt == 'S' && strcmp(arg, "404") == 0)
		peer->serve = FAKE_404;
	else if (opt == 'S' && strcmp(arg, "redirect") == 0)
		peer->serve = FAKE_REDIRECT;
	else
		die("--%s: '%s' is not one of %s",
		    opt == 'a' ? "answer" : "serve", arg,
		    opt == 'a' ? "have, fetching, none"
			       : "garbage, 404, redirect");
}

int cmd_fake_peer(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "udp-port", required_argument, NULL, 'u' },
		{ "http-port", required_argument, NULL, 'p' },
		{ "ports", required_argument, NULL, 'P' },
		{ "key", required_argument, NULL, 'k' },
		{ "sizes", required_argument, NULL, 's' },
		{ "default-size", required_argument, NULL, 'd' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "answer", required_argument, NULL, 'a' },
		{ "claim", required_argument, NULL, 'c' },
		{ "serve", required_argument, NULL, 'S' },
		{ "redirect", required_argument, NULL, 'r' },
		{ "no-http", no_argument, NULL, 'n' },
		{ "join6", required_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct fake_peer peer = { .default_size = 1 << 20,
				  .http_port = PEER_PORT,
				  .nports = 1,
				  .redirect = "http://127.0.0.1:9999" };
	struct pollfd pfd[1 + FAKE_MAX_PORTS];
	struct fleet_key key = { 0 };
	unsigned long udp_port = DISC_PORT, max_seconds = 300;
	const char *bind_to = "0.0.0.0", *join6 = NULL;
	bool http = true;
	uint64_t deadline;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b':
			bind_to = optarg;
			break;
		case 'u':
			udp_port = parse_number(optarg, "--udp-port", 65535);
			break;
		case 'p':
			peer.http_port = (uint16_t)parse_number(
				optarg, "--http-port", 65535);
			break;
		case 'P':
			peer.nports = (unsigned)parse_number(optarg, "--ports",
							     FAKE_MAX_PORTS);
			break;
		case 'k':
			key_load(optarg, &key);
			break;
		case 's':
			id_list_load(&peer.sizes, optarg);
			break;
		case 'd':
			peer.default_size = parse_number(
				optarg, "--default-size", 64ul << 20);
			break;
		case 'm':
			max_seconds =
				parse_number(optarg, "--max-seconds", 86400);
			break;
		case 'a':
		case 'S':
			fake_parse_mode(&peer, opt, optarg);
			break;
		case 'c':
			peer.claim = true;
			parse_endpoint(optarg, DISC_PORT, &peer.claim_to);
			break;
		case 'r':
			peer.redirect = optarg;
			break;
		case 'n':
			http = false;
			break;
		case 'j':
			join6 = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc || peer.http_port == 0 || peer.nports == 0 ||
	    peer.http_port + peer.nports > 65536)
		die("usage: fake-peer [--bind ADDR] [--udp-port N] "
		    "[--http-port N] [--ports N] [--key F] [--sizes F] "
		    "[--default-size N] [--max-seconds S] "
		    "[--answer have|fetching|none] [--claim BCAST] "
		    "[--serve garbage|404|redirect] [--redirect URL] "
		    "[--no-http] [--join6 IFNAME (with an IPv6 --bind)]");
	pthread_mutex_init(&peer.lock, NULL);
	fake_listen(bind_to, join6, (uint16_t)udp_port, &peer,
		    http ? peer.nports : 0, pfd);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	printf("fake-peer ready udp=%lu http=%u ports=%u sizes=%zu\n", udp_port,
	       peer.http_port, http ? peer.nports : 0, peer.sizes.n);
	fflush(stdout);
	deadline = now_ms() + max_seconds * 1000;
	while (!stop_requested && now_ms() < deadline) {
		nfds_t n = 1 + (http ? peer.nports : 0);

		if (poll(pfd, n, 200) <= 0)
			continue;
		if (pfd[0].revents & POLLIN)
			fake_udp(&peer, pfd[0].fd, &key);
		for (nfds_t i = 1; i < n; i++)
			if (pfd[i].revents & POLLIN)
				fake_accept(&peer, pfd[i].fd);
	}
	pthread_mutex_lock(&peer.lock);
	printf("fake-peer probes=%llu claims=%llu gets=%llu heads=%llu "
	       "bytes=%llu\n",
	       (unsigned long long)peer.probes, (unsigned long long)peer.claims,
	       (unsigned long long)peer.gets, (unsigned long long)peer.heads,
	       (unsigned long long)peer.bytes);
	pthread_mutex_unlock(&peer.lock);
	fflush(stdout);
	/* Connection threads may still run: leave without joining them. */
	_exit(0);
}

/* ---- get ------------------------------------------------------------------
 *
 * N connections to one peer server, all opened first, then one request
 * each at the same moment (a barrier).  Round-robin over --sources local
 * addresses, because the server takes at most 8 connections per source.
 * A 200 body is hashed: the chunk id is the SHA-256 of its bytes.
 * --hold-ms waits after the answer's head before reading the body, and
 * --rcvbuf shrinks the socket's receive buffer, so that uploads stay in
 * flight and the server's upload limit is reached.  Prints
 *
 *   get connections=N ok=N busy=N not_found=N other_status=N errors=N
 *       bad_body=N no_retry_after=N
 *
 * and exits 0 only if every request got a 200 with the right bytes or a
 * 503 with Retry-After.
 */

struct get_job {
	struct sockaddr_in to;
	struct sockaddr_in from;
	bool bind_from;
	uint8_t id[ID_LEN];
	bool head_only;
	unsigned hold_ms;
	int rcvbuf;
	int timeout_s;
	pthread_barrier_t *barrier;
	/* Results: */
	int status; /* HTTP status, 0 when there was none */
	bool retry_after;
	bool body_ok;
	char error[128]; /* "" unless the exchange failed */
};

static void get_fail(struct get_job *job, const char *what, int err)
{
	if (!job->error[0])
		snprintf(job->error, sizeof(job->error), "%s: %s", what,
			 err ? strerror(err) : "connection closed");
}

/* Reads the rest of a body of @len bytes, @have_len of which came with
 * the head; for a 200, checks that their SHA-256 is the chunk id. */
static void get_body(struct get_job *job, int fd, const char *have,
		     size_t have_len, uint64_t len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t digest[EVP_MAX_MD_SIZE], *buf = malloc(65536);
	uint64_t got = have_len;
	unsigned dlen = 0;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		die("out of memory");
	if (have_len > len) {
		get_fail(job, "more bytes than Content-Length", EPROTO);
		goto out;
	}
	EVP_DigestUpdate(ctx, have, have_len);
	if (job->hold_ms)
		sleep_ms(job->hold_ms);
	while (got < len) {
		size_t want = len - got < 65536 ? (size_t)(len - got) : 65536;
		ssize_t n = recv(fd, buf, want, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			get_fail(job, "body cut short", n < 0 ? errno : 0);
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		got += (uint64_t)n;
	}
	EVP_DigestFinal_ex(ctx, digest, &dlen);
	job->body_ok = dlen == ID_LEN && memcmp(digest, job->id, ID_LEN) == 0;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
}

/* The value of header @name in a response head, or NULL. */
static const char *header_value(const char *head, const char *name)
{
	size_t name_len = strlen(name);

	for (const char *line = strstr(head, "\r\n"); line && line[2];
	     line = strstr(line + 2, "\r\n")) {
		const char *p = line + 2;

		if (strncasecmp(p, name, name_len) == 0 && p[name_len] == ':')
			return p + name_len + 1 +
			       strspn(p + name_len + 1, " \t");
	}
	return NULL;
}

/* Sends the request and reads the answer on a connected socket. */
static void get_exchange(struct get_job *job, int fd)
{
	char req[256], head[HTTP_HEAD_MAX + 1], hex[2 * ID_LEN + 1], *end;
	const char *cl;
	size_t len = 0;

	hex_format(job->id, hex);
	snprintf(req, sizeof(req),
		 "%s /p2p/%s HTTP/1.1\r\nHost: peer\r\nConnection: "
		 "close\r\n\r\n",
		 job->head_only ? "HEAD" : "GET", hex);
	if (!send_all(fd, req, strlen(req))) {
		get_fail(job, "send", errno);
		return;
	}
	for (;;) {
		ssize_t n = recv(fd, head + len, HTTP_HEAD_MAX - len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			get_fail(job, len ? "head cut short" : "no answer",
				 n < 0 ? errno : 0);
			return;
		}
		len += (size_t)n;
		head[len] = '\0';
		end = strstr(head, "\r\n\r\n");
		if (end)
			break;
		if (len == HTTP_HEAD_MAX) {
			get_fail(job, "answer head too long", EPROTO);
			return;
		}
	}
	end[2] = '\0'; /* the head ends with its last header's CRLF */
	if (sscanf(head, "HTTP/1.%*[01] %d", &job->status) != 1) {
		get_fail(job, "not an HTTP answer", EPROTO);
		return;
	}
	job->retry_after = header_value(head, "Retry-After") != NULL;
	cl = header_value(head, "Content-Length");
	if (job->head_only)
		return;
	if (!cl) {
		get_fail(job, "no Content-Length", EPROTO);
		return;
	}
	get_body(job, fd, end + 4, len - (size_t)(end + 4 - head),
		 strtoull(cl, NULL, 10));
}

static void *get_main(void *arg)
{
	struct get_job *job = arg;
	struct timeval tv = { .tv_sec = job->timeout_s };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool connected = false;

	if (fd < 0) {
		get_fail(job, "socket", errno);
	} else {
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (job->rcvbuf)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &job->rcvbuf,
				   sizeof(job->rcvbuf));
		if (job->bind_from && bind(fd, (struct sockaddr *)&job->from,
					   sizeof(job->from)) < 0)
			get_fail(job, "bind", errno);
		else if (connect(fd, (struct sockaddr *)&job->to,
				 sizeof(job->to)) < 0)
			get_fail(job, "connect", errno);
		else
			connected = true;
	}
	/* Every connection is open (or failed) before any request goes. */
	pthread_barrier_wait(job->barrier);
	if (connected)
		get_exchange(job, fd);
	if (fd >= 0)
		close(fd);
	return NULL;
}

/* Tallies the jobs' results, prints the summary line; the exit status. */
static int get_report(const struct get_job *jobs, size_t n)
{
	unsigned long ok = 0, busy = 0, not_found = 0, other = 0, errors = 0;
	unsigned long bad_body = 0, no_retry = 0, shown = 0;

	for (size_t i = 0; i < n; i++) {
		const struct get_job *j = &jobs[i];

		if (j->error[0]) {
			errors++;
			if (shown++ < 10)
				fprintf(stderr, "get %zu: %s\n", i, j->error);
		} else if (j->status == 200) {
			ok++;
			if (!j->head_only && !j->body_ok) {
				bad_body++;
				fprintf(stderr, "get %zu: wrong bytes\n", i);
			}
		} else if (j->status == 503) {
			busy++;
			no_retry += !j->retry_after;
		} else if (j->status == 404) {
			not_found++;
		} else {
			other++;
			if (shown++ < 10)
				fprintf(stderr, "get %zu: status %d\n", i,
					j->status);
		}
	}
	printf("get connections=%zu ok=%lu busy=%lu not_found=%lu "
	       "other_status=%lu errors=%lu bad_body=%lu no_retry_after=%lu\n",
	       n, ok, busy, not_found, other, errors, bad_body, no_retry);
	return errors || other || not_found || bad_body || no_retry ? 1 : 0;
}

int cmd_get(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'n' },
		{ "sources", required_argument, NULL, 's' },
		{ "head", no_argument, NULL, 'H' },
		{ "hold-ms", required_argument, NULL, 'h' },
		{ "rcvbuf", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct get_job proto = { .timeout_s = 30 };
	struct sockaddr_in sources[256];
	size_t nsources = 0, n = 200;
	pthread_barrier_t barrier;
	struct get_job *jobs;
	pthread_t *threads;
	pthread_attr_t attr;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = parse_number(optarg, "--connections", 2000);
			break;
		case 's':
			nsources = parse_sources(optarg, sources, 256);
			break;
		case 'H':
			proto.head_only = true;
			break;
		case 'h':
			proto.hold_ms = (unsigned)parse_number(
				optarg, "--hold-ms", 60000);
			break;
		case 'r':
			proto.rcvbuf =
				(int)parse_number(optarg, "--rcvbuf", 1 << 26);
			break;
		case 't':
			proto.timeout_s =
				(int)parse_number(optarg, "--timeout", 3600);
			break;
		default:
			return 2;
		}
	}
	if (optind + 2 != argc || n == 0)
		die("usage: get HOST[:PORT] HEX [--connections N] "
		    "[--sources ADDR,ADDR..] [--head] [--hold-ms MS] "
		    "[--rcvbuf BYTES] [--timeout S]");
	parse_endpoint(argv[optind], PEER_PORT, &proto.to);
	if (!hex_parse(argv[optind + 1], strlen(argv[optind + 1]), proto.id))
		die("'%s' is not a chunk id (64 hex digits)", argv[optind + 1]);
	jobs = calloc(n, sizeof(*jobs));
	threads = calloc(n, sizeof(*threads));
	if (!jobs || !threads)
		die("out of memory");
	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	proto.barrier = &barrier;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (size_t i = 0; i < n; i++) {
		jobs[i] = proto;
		if (nsources) {
			jobs[i].from = sources[i % nsources];
			jobs[i].bind_from = true;
		}
		rc = pthread_create(&threads[i], &attr, get_main, &jobs[i]);
		if (rc)
			die("pthread_create: %s", strerror(rc));
	}
	for (size_t i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	pthread_attr_destroy(&attr);
	pthread_barrier_destroy(&barrier);
	rc = get_report(jobs, n);
	free(jobs);
	free(threads);
	return rc;
}
