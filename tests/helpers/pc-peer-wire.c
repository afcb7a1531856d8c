/*
 * pc-peer-wire.c - pc-peer-tool's shared part: the LAN wire format
 * (building and checking packets, the fleet key's tag), sockets, ids and
 * small helpers.  Written from docs/PROTOCOL.md alone, without the node's
 * code, so that the tests check the document as much as the daemon.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pc-peer-tool.h"

volatile sig_atomic_t stop_requested;

void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void die(const char *fmt, ...)
{
	va_list ap;

	fputs("pc-peer-tool: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !stop_requested)
		;
}

void random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t got = getrandom(p, len, 0);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			die("getrandom: %s", strerror(errno));
		p += got;
		len -= (size_t)got;
	}
}

uint32_t random_u32(void)
{
	uint32_t v;

	random_bytes(&v, sizeof(v));
	return v;
}

/* splitmix64: cheap, reproducible filler for garbage bodies. */
uint64_t mix_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

size_t bitmap_len(size_t n)
{
	return (n + 7) / 8;
}

bool bit_get(const uint8_t *map, size_t i)
{
	return map[i / 8] & (0x80 >> (i % 8));
}

void bit_set(uint8_t *map, size_t i)
{
	map[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

size_t body_len(uint8_t type, size_t n)
{
	return type == MSG_ANSWER ? 2 * bitmap_len(n) : n * ID_LEN;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly 64 hex digits (either case) into 32 bytes. */
bool hex_parse(const char *text, size_t len, uint8_t out[ID_LEN])
{
	if (len != 2 * ID_LEN)
		return false;
	for (size_t i = 0; i < ID_LEN; i++) {
		int hi = hex_value(text[2 * i]),
		    lo = hex_value(text[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

void hex_format(const uint8_t *bytes, char out[2 * ID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < ID_LEN; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * ID_LEN] = '\0';
}

/* "a.b.c.d[:port]" into @out. */
void parse_endpoint(const char *text, uint16_t default_port,
		    struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strchr(text, ':');
	size_t len = colon ? (size_t)(colon - text) : strlen(text);
	unsigned long port = default_port;

	if (len >= sizeof(host))
		die("bad address '%s'", text);
	memcpy(host, text, len);
	host[len] = '\0';
	if (colon) {
		char *end;

		port = strtoul(colon + 1, &end, 10);
		if (*end || port == 0 || port > 65535)
			die("bad port in '%s'", text);
	}
	*out = (struct sockaddr_in){ .sin_family = AF_INET,
				     .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		die("'%s' is not an IPv4 address", host);
}

unsigned long parse_number(const char *text, const char *what,
			   unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || end == text || *end || v > max)
		die("%s: '%s' is not a number up to %lu", what, text, max);
	return v;
}

size_t parse_sources(const char *list, struct sockaddr_in *out, size_t cap)
{
	char *copy = strdup(list), *item, *save;
	size_t n = 0;

	if (!copy)
		die("out of memory");
	for (item = strtok_r(copy, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		if (n == cap)
			die("--sources: at most %zu", cap);
		parse_endpoint(item, 0, &out[n]);
		out[n++].sin_port = 0;
	}
	free(copy);
	return n;
}

const char *addr_text(const struct sockaddr_in *a, char *buf, size_t len)
{
	const struct sockaddr_in6 *a6 = (const void *)a;
	char ip[INET6_ADDRSTRLEN];

	if (a->sin_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(a6->sin6_port));
		return buf;
	}
	inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, ntohs(a->sin_port));
	return buf;
}

/* ---- fleet key and tags -------------------------------------------------- */

/* The raw bytes of @path, KEY_MIN..KEY_MAX of them (as the node reads its
 * fleet_key_file). */
void key_load(const char *path, struct fleet_key *key)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;
	uint8_t extra;

	if (fd < 0)
		die("%s: %s", path, strerror(errno));
	got = read(fd, key->bytes, sizeof(key->bytes));
	if (got < KEY_MIN || read(fd, &extra, 1) != 0)
		die("%s: a fleet key is %d to %d bytes", path, KEY_MIN,
		    KEY_MAX);
	key->len = (size_t)got;
	close(fd);
}

static void tag_compute(const struct fleet_key *key, const uint8_t *data,
			size_t len, uint8_t out[TAG_LEN])
{
	unsigned int out_len = 0;

	if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, data, len, out,
		  &out_len) ||
	    out_len != TAG_LEN)
		die("HMAC-SHA256 failed");
}

/* Header, body and (with a key) tag into @buf; returns the length. */
size_t packet_build(uint8_t *buf, uint8_t type, uint8_t count, uint32_t txid,
		    uint16_t http_port, const uint8_t *body, size_t len,
		    const struct fleet_key *key)
{
	memcpy(buf, "PCDS", 4);
	buf[4] = WIRE_VERSION;
	buf[5] = type;
	buf[6] = key->len ? FLAG_TAGGED : 0;
	buf[7] = count;
	put32(buf + 8, txid);
	put16(buf + 12, http_port);
	put16(buf + 14, 0);
	memmove(buf + HDR_LEN, body, len);
	len += HDR_LEN;
	if (key->len) {
		tag_compute(key, buf, len, buf + len);
		len += TAG_LEN;
	}
	return len;
}

/*
 * The receiver's checks 2..8 of "Validation order" (the ACL and the
 * node's own state do not apply to a test tool).  NULL when @buf is a
 * valid packet, else the name of the counter the node would raise.
 */
const char *packet_check(const uint8_t *buf, size_t len, bool partial,
			 const struct fleet_key *key, struct msg *m)
{
	uint8_t tag[TAG_LEN];
	size_t want, maplen;

	if (len < HDR_LEN)
		return "truncated";
	if (partial || len > PACKET_MAX)
		return "oversized";
	if (memcmp(buf, "PCDS", 4) != 0)
		return "malformed (magic)";
	if (buf[4] != WIRE_VERSION)
		return "version";
	m->type = buf[5];
	m->flags = buf[6];
	m->count = buf[7];
	if (m->type < MSG_PROBE || m->type > MSG_RELEASE ||
	    (m->flags & ~FLAG_TAGGED) || get16(buf + 14) != 0 ||
	    m->count == 0 || m->count > MAX_IDS)
		return "malformed (header)";
	want = HDR_LEN + body_len(m->type, m->count) +
	       (m->flags & FLAG_TAGGED ? TAG_LEN : 0);
	if (len != want)
		return len < want ? "truncated" : "oversized";
	if (!(m->flags & FLAG_TAGGED) != !key->len)
		return "bad_tag (tagged or not, against the key)";
	if (key->len) {
		tag_compute(key, buf, len - TAG_LEN, tag);
		if (CRYPTO_memcmp(tag, buf + len - TAG_LEN, TAG_LEN) != 0)
			return "bad_tag";
	}
	m->txid = get32(buf + 8);
	m->http_port = get16(buf + 12);
	m->body = buf + HDR_LEN;
	m->len = len;
	if (m->type != MSG_ANSWER)
		return NULL;
	maplen = bitmap_len(m->count);
	if (m->http_port == 0)
		return "malformed (answer without http_port)";
	for (size_t i = 0; i < maplen; i++)
		if (m->body[i] & m->body[maplen + i])
			return "malformed (have and fetching both set)";
	for (size_t i = m->count; i < 8 * maplen; i++)
		if (bit_get(m->body, i) || bit_get(m->body + maplen, i))
			return "malformed (bit past the last id)";
	return NULL;
}

int udp_socket(const char *from)
{
	struct sockaddr_in local = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (from) {
		parse_endpoint(from, 0, &local);
		local.sin_port = 0;
		if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0)
			die("bind %s: %s", from, strerror(errno));
	}
	return fd;
}

/* Receives one datagram within @timeout_ms; 0 on timeout.  @partial says
 * the datagram was longer than @cap. */
ssize_t udp_recv(int fd, uint8_t *buf, size_t cap, int timeout_ms,
		 struct sockaddr_in *from, bool *partial)
{
	struct sockaddr_storage any;
	ssize_t n = udp_recv_any(fd, buf, cap, timeout_ms, &any, partial);

	memcpy(from, &any, sizeof(*from));
	return n;
}

ssize_t udp_recv_any(int fd, uint8_t *buf, size_t cap, int timeout_ms,
		     struct sockaddr_storage *from, bool *partial)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct iovec iov = { .iov_base = buf, .iov_len = cap };
	struct msghdr mh = { .msg_name = from,
			     .msg_namelen = sizeof(*from),
			     .msg_iov = &iov,
			     .msg_iovlen = 1 };
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms < 0 ? 0 : timeout_ms) <= 0)
		return 0;
	n = recvmsg(fd, &mh, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	*partial = mh.msg_flags & MSG_TRUNC;
	return n == 0 ? -EAGAIN : n; /* an empty datagram: skip it */
}

int listen_on(int type, const struct sockaddr_in *addr)
{
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;
	char where[32];

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM)
		setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 256) < 0))
		die("bind %s: %s", addr_text(addr, where, sizeof(where)),
		    strerror(errno));
	return fd;
}

int listen_on6(int type, const struct sockaddr_in6 *addr, const char *join_if)
{
	int fd = socket(AF_INET6, type | SOCK_CLOEXEC, 0), one = 1;
	struct ipv6_mreq mreq = { 0 };
	char where[64];

	if (fd < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 256) < 0))
		die("bind %s: %s",
		    addr_text((const void *)addr, where, sizeof(where)),
		    strerror(errno));
	if (type != SOCK_DGRAM || !join_if)
		return fd;
	inet_pton(AF_INET6, DISC_GROUP6, &mreq.ipv6mr_multiaddr);
	mreq.ipv6mr_interface = if_nametoindex(join_if);
	if (mreq.ipv6mr_interface == 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof(mreq)) <
		    0)
		die("join %s on %s: %s", DISC_GROUP6, join_if, strerror(errno));
	return fd;
}

void id_list_add(struct id_list *l, const uint8_t id[ID_LEN], uint64_t size)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;

		l->ids = realloc(l->ids, cap * ID_LEN);
		l->sizes = realloc(l->sizes, cap * sizeof(*l->sizes));
		if (!l->ids || !l->sizes)
			die("out of memory");
		l->cap = cap;
	}
	memcpy(l->ids[l->n], id, ID_LEN);
	l->sizes[l->n++] = size;
}

/* Every line of @path that starts with 64 hex digits; a number after
 * them (a manifest's chunk lines: "<hex> <length>") is kept as the size. */
void id_list_load(struct id_list *l, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	uint8_t id[ID_LEN];

	if (!f)
		die("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *rest = line + 2 * ID_LEN;

		if (strlen(line) < 2 * ID_LEN ||
		    !hex_parse(line, 2 * ID_LEN, id) ||
		    (*rest && *rest != ' ' && *rest != '\n'))
			continue;
		id_list_add(l, id, strtoull(rest, NULL, 10));
	}
	fclose(f);
}

ssize_t id_list_find(const struct id_list *l, const uint8_t *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (memcmp(l->ids[i], id, ID_LEN) == 0)
			return (ssize_t)i;
	return -1;
}
