/*
 * pc-peer-tool.h - what the parts of pc-peer-tool share: peercache's LAN
 * wire format (docs/PROTOCOL.md, written from the document alone), and
 * small helpers.  pc-peer-wire.c has the helpers, pc-peer-tool.c the UDP
 * commands (probe, flood, claim) and main, pc-peer-http.c the HTTP ones
 * (fake-peer, get), pc-peer-attack.c the forged and slow ones (spoof,
 * slowloris).
 */
#ifndef PC_PEER_TOOL_H
#define PC_PEER_TOOL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- the wire (docs/PROTOCOL.md, "UDP discovery") ------------------------ */

#define DISC_PORT 8082
#define PEER_PORT 8081
/* The IPv6 group nodes send probes to (docs/PROTOCOL.md). */
#define DISC_GROUP6 "ff12::5043:4453"
#define HDR_LEN 16
#define TAG_LEN 32
#define ID_LEN 32
#define MAX_IDS 64
#define PACKET_MAX (HDR_LEN + MAX_IDS * ID_LEN + TAG_LEN) /* 2096 */
#define KEY_MIN 32
#define KEY_MAX 1024
#define WIRE_VERSION 1
#define FLAG_TAGGED 0x01

enum msg_type {
	MSG_PROBE = 1,
	MSG_ANSWER = 2,
	MSG_CLAIM = 3,
	MSG_RELEASE = 4,
};

/* A fleet key; len 0 means "no key": packets go untagged. */
struct fleet_key {
	size_t len;
	uint8_t bytes[KEY_MAX];
};

/* A parsed datagram; body points into the receive buffer. */
struct msg {
	uint8_t type;
	uint8_t flags;
	uint8_t count;
	uint32_t txid;
	uint16_t http_port;
	const uint8_t *body;
	size_t len;
};

/* Ids read from a file or the command line; sizes only for fake-peer. */
struct id_list {
	size_t n;
	size_t cap;
	uint8_t (*ids)[ID_LEN];
	uint64_t *sizes; /* fake-peer: body length per id */
};

/* Set by on_signal (SIGINT, SIGTERM): long loops end. */
extern volatile sig_atomic_t stop_requested;
void on_signal(int sig);

/* Prints "pc-peer-tool: ..." on stderr and exits 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
uint64_t now_ms(void); /* monotonic */
void sleep_ms(unsigned ms);
void random_bytes(void *buf, size_t len); /* the kernel's */
uint32_t random_u32(void);
uint64_t mix_next(uint64_t *state); /* splitmix64 */

void put16(uint8_t *p, uint16_t v);
void put32(uint8_t *p, uint32_t v);
size_t bitmap_len(size_t n);
bool bit_get(const uint8_t *map, size_t i);
void bit_set(uint8_t *map, size_t i);
/* Body length of a message of @type with @n ids. */
size_t body_len(uint8_t type, size_t n);
/* Exactly 64 hex digits (either case) into 32 bytes. */
bool hex_parse(const char *text, size_t len, uint8_t out[ID_LEN]);
void hex_format(const uint8_t *bytes, char out[2 * ID_LEN + 1]);

/* "a.b.c.d[:port]"; dies on anything else. */
void parse_endpoint(const char *text, uint16_t default_port,
		    struct sockaddr_in *out);
unsigned long parse_number(const char *text, const char *what,
			   unsigned long max);
/* --sources "a.b.c.d,a.b.c.d..." into @out (port 0), at most @cap of
 * them; dies on anything else.  How many. */
size_t parse_sources(const char *list, struct sockaddr_in *out, size_t cap);
/* "a.b.c.d:port" into @buf; returns @buf.  @a may point to an AF_INET6
 * address in a struct sockaddr_storage: "[v6]:port" then. */
const char *addr_text(const struct sockaddr_in *a, char *buf, size_t len);

/* A fleet key file's raw bytes (KEY_MIN..KEY_MAX); dies otherwise. */
void key_load(const char *path, struct fleet_key *key);
/* Header, @len body bytes and (with a key) the tag into @buf; the
 * packet's length. */
size_t packet_build(uint8_t *buf, uint8_t type, uint8_t count, uint32_t txid,
		    uint16_t http_port, const uint8_t *body, size_t len,
		    const struct fleet_key *key);
/* The receiver's checks 2..8 of "Validation order": NULL when valid
 * (@m filled in), else the name of the counter a node would raise. */
const char *packet_check(const uint8_t *buf, size_t len, bool partial,
			 const struct fleet_key *key, struct msg *m);

/* A UDP socket, bound to @from (an address, any port) unless NULL. */
int udp_socket(const char *from);
/* One datagram within @timeout_ms: its length, 0 on timeout, < 0 on an
 * error or an empty datagram.  @partial: longer than @cap. */
ssize_t udp_recv(int fd, uint8_t *buf, size_t cap, int timeout_ms,
		 struct sockaddr_in *from, bool *partial);
/* The same from a socket of either family. */
ssize_t udp_recv_any(int fd, uint8_t *buf, size_t cap, int timeout_ms,
		     struct sockaddr_storage *from, bool *partial);
/* A bound socket (SOCK_DGRAM, or SOCK_STREAM listening); dies on error. */
int listen_on(int type, const struct sockaddr_in *addr);
/* The same on IPv6 (IPV6_V6ONLY on); a SOCK_DGRAM one joins DISC_GROUP6
 * on interface @join_if unless it is NULL. */
int listen_on6(int type, const struct sockaddr_in6 *addr, const char *join_if);

void id_list_add(struct id_list *l, const uint8_t id[ID_LEN], uint64_t size);
/* Every line of @path that starts with 64 hex digits; a number after them
 * (a manifest's chunk lines: "<hex> <length>") is kept as the size. */
void id_list_load(struct id_list *l, const char *path);
/* Index of @id, or -1. */
ssize_t id_list_find(const struct id_list *l, const uint8_t *id);

int cmd_fake_peer(int argc, char **argv);
int cmd_get(int argc, char **argv);
int cmd_spoof(int argc, char **argv);
int cmd_slowloris(int argc, char **argv);

#endif /* PC_PEER_TOOL_H */
