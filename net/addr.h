/*
 * addr.h - a peer's address, IPv4 or IPv6, as one value (net/, internal).
 *
 * Peers, bans, rate limits, the ACL and the peer server's table all key
 * on a source address.  One 16-byte form serves both families: an IPv4
 * address is held IPv4-mapped (::ffff:a.b.c.d), which is also how a
 * dual-stack socket reports an IPv4 source, so comparing, ordering and
 * hashing need no case per family.  Link-local IPv6 addresses carry no
 * zone here: peers are reached at global (or unique local) addresses.
 */
#ifndef PC_NET_ADDR_H
#define PC_NET_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct pc_addr {
	struct in6_addr a; /* IPv4 as ::ffff:a.b.c.d */
};

/* Any socket address of either family, with room for both. */
union pc_sockaddr {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	struct sockaddr_storage storage;
};

/* "1.2.3.4" and a NUL fits; so does any IPv6 text form. */
#define PC_ADDR_TEXT_MAX 46
/* "[" IPv6 "]" and a NUL. */
#define PC_ADDR_HOST_MAX (PC_ADDR_TEXT_MAX + 2)

void pc_addr_from_in(struct pc_addr *out, struct in_addr v4);
/* From an AF_INET or AF_INET6 socket address; false for another family.
 * @port, if not NULL, gets the port in host order. */
bool pc_addr_from_sockaddr(struct pc_addr *out, const struct sockaddr *sa,
			   uint16_t *port);
/* An IPv4 literal, an IPv6 literal, or an IPv6 literal in brackets.
 * 0 or -EINVAL. */
int pc_addr_parse(const char *text, struct pc_addr *out);
bool pc_addr_is_v4(const struct pc_addr *addr);
bool pc_addr_is_loopback(const struct pc_addr *addr);
bool pc_addr_equal(const struct pc_addr *a, const struct pc_addr *b);
/* Byte order; IPv4 (mapped) sorts before global IPv6. */
int pc_addr_cmp(const struct pc_addr *a, const struct pc_addr *b);
/* What per-source limits count against: the address itself for IPv4,
 * its /64 for IPv6 (one host usually holds a whole /64 and can take any
 * address of it, so a limit per /128 would be no limit at all). */
struct pc_addr pc_addr_limit_key(const struct pc_addr *addr);
/* Text form ("192.0.2.1", "2001:2::1") in one of a few thread-local
 * buffers: valid until the fourth next call on this thread (two in one
 * log line are fine). */
const char *pc_addr_str(const struct pc_addr *addr);
/* Host part of a URL: "192.0.2.1" or "[2001:2::1]". */
void pc_addr_url_host(const struct pc_addr *addr, char *buf, size_t len);
/*
 * The socket address for @addr:@port (host order), for a socket of
 * @family: an IPv4 address becomes IPv4-mapped on an AF_INET6 socket; an
 * IPv6 one cannot be reached from an AF_INET socket (-EAFNOSUPPORT).
 */
int pc_addr_to_sockaddr(const struct pc_addr *addr, uint16_t port, int family,
			union pc_sockaddr *out, socklen_t *len);

/* Whether this host can open IPv6 sockets (the kernel may lack IPv6 or
 * have it disabled).  Asked once. */
bool pc_addr_ipv6_available(void);

#endif
