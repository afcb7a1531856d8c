/*
 * addr.c - IPv4 and IPv6 addresses as one value (addr.h).
 *
 * Everything that keys on a peer's address works on struct pc_addr, an
 * IPv6 address in which IPv4 appears mapped.  A dual-stack socket already
 * reports IPv4 sources that way, so the receiving paths only copy bytes,
 * and the one place that has to tell the families apart is the text form
 * (and a URL's brackets).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0,	0,
					      0, 0, 0, 0, 0xff, 0xff };

void pc_addr_from_in(struct pc_addr *out, struct in_addr v4)
{
	memcpy(out->a.s6_addr, v4_mapped_prefix, sizeof(v4_mapped_prefix));
	memcpy(out->a.s6_addr + 12, &v4.s_addr, 4);
}

bool pc_addr_from_sockaddr(struct pc_addr *out, const struct sockaddr *sa,
			   uint16_t *port)
{
	const struct sockaddr_in *sin = (const void *)sa;
	const struct sockaddr_in6 *sin6 = (const void *)sa;

	if (!sa)
		return false;
	if (sa->sa_family == AF_INET) {
		pc_addr_from_in(out, sin->sin_addr);
		if (port)
			*port = ntohs(sin->sin_port);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		out->a = sin6->sin6_addr;
		if (port)
			*port = ntohs(sin6->sin6_port);
		return true;
	}
	return false;
}

int pc_addr_parse(const char *text, struct pc_addr *out)
{
	char inner[PC_ADDR_TEXT_MAX];
	struct in_addr v4;
	size_t len;

	if (!text)
		return -EINVAL;
	len = strlen(text);
	if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
		if (len - 2 >= sizeof(inner))
			return -EINVAL;
		memcpy(inner, text + 1, len - 2);
		inner[len - 2] = '\0';
		/* Brackets hold IPv6 only: "[1.2.3.4]" is a typo. */
		return inet_pton(AF_INET6, inner, &out->a) == 1 ? 0 : -EINVAL;
	}
	/* inet_pton takes exactly a dotted quad (no "10.1", no octal) and
	 * exactly an IPv6 literal (no zone "%eth0", no blanks). */
	if (inet_pton(AF_INET, text, &v4) == 1) {
		pc_addr_from_in(out, v4);
		return 0;
	}
	return inet_pton(AF_INET6, text, &out->a) == 1 ? 0 : -EINVAL;
}

bool pc_addr_is_v4(const struct pc_addr *addr)
{
	return memcmp(addr->a.s6_addr, v4_mapped_prefix,
		      sizeof(v4_mapped_prefix)) == 0;
}

bool pc_addr_is_loopback(const struct pc_addr *addr)
{
	if (pc_addr_is_v4(addr))
		return addr->a.s6_addr[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(&addr->a);
}

bool pc_addr_equal(const struct pc_addr *a, const struct pc_addr *b)
{
	return memcmp(&a->a, &b->a, sizeof(a->a)) == 0;
}

int pc_addr_cmp(const struct pc_addr *a, const struct pc_addr *b)
{
	return memcmp(&a->a, &b->a, sizeof(a->a));
}

struct pc_addr pc_addr_limit_key(const struct pc_addr *addr)
{
	struct pc_addr key = *addr;

	if (!pc_addr_is_v4(addr))
		memset(key.a.s6_addr + 8, 0, 8);
	return key;
}

const char *pc_addr_str(const struct pc_addr *addr)
{
	static __thread char ring[4][PC_ADDR_TEXT_MAX];
	static __thread unsigned next;
	char *buf = ring[next++ % 4];

	if (pc_addr_is_v4(addr))
		inet_ntop(AF_INET, addr->a.s6_addr + 12, buf, PC_ADDR_TEXT_MAX);
	else
		inet_ntop(AF_INET6, &addr->a, buf, PC_ADDR_TEXT_MAX);
	return buf;
}

void pc_addr_url_host(const struct pc_addr *addr, char *buf, size_t len)
{
	if (pc_addr_is_v4(addr))
		snprintf(buf, len, "%s", pc_addr_str(addr));
	else
		snprintf(buf, len, "[%s]", pc_addr_str(addr));
}

int pc_addr_to_sockaddr(const struct pc_addr *addr, uint16_t port, int family,
			union pc_sockaddr *out, socklen_t *len)
{
	memset(out, 0, sizeof(*out));
	if (family == AF_INET6) {
		out->in6.sin6_family = AF_INET6;
		out->in6.sin6_port = htons(port);
		out->in6.sin6_addr = addr->a;
		*len = sizeof(out->in6);
		return 0;
	}
	if (!pc_addr_is_v4(addr))
		return -EAFNOSUPPORT;
	out->in.sin_family = AF_INET;
	out->in.sin_port = htons(port);
	memcpy(&out->in.sin_addr.s_addr, addr->a.s6_addr + 12, 4);
	*len = sizeof(out->in);
	return 0;
}

static bool ipv6_available;

static void probe_ipv6(void)
{
	int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ipv6_available = fd >= 0;
	if (fd >= 0)
		close(fd);
}

bool pc_addr_ipv6_available(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, probe_ipv6);
	return ipv6_available;
}
