/*
 * acl.c - which sources (IPv4 or IPv6) may use this node's peer services.
 *
 * A node answers discovery probes and serves chunks only to its own
 * subnets and to the blocks an administrator lists in peer_allow.  The
 * list is small (PC_ACL_MAX blocks) and checked once per probe or per
 * accepted connection, so a linear scan of masked compares is all the
 * structure it needs.
 *
 * Parsing is strict: a typo in peer_allow must be refused at start-up with
 * the offending item named, never widened silently into "allow more".  The
 * host bits of "192.168.1.17/24" are cleared, because writing one's own
 * address with the subnet's length is how administrators usually say "my
 * subnet".
 *
 * IPv4 blocks are held as IPv4-mapped IPv6 blocks (addr.h), so one compare
 * serves both families, and a dual-stack socket's mapped IPv4 sources
 * match IPv4 blocks as they are.  Link-local IPv6 prefixes are never
 * "local subnets": every host on a wire has one, whatever its subnet, so
 * they would let an outsider plugged into the same switch in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"

/* "[ffff:...:255.255.255.255]/128" and a NUL. */
#define CIDR_TEXT_MAX 52

/* Clears every bit of @addr past the first @prefix. */
static void clear_host_bits(struct pc_addr *addr, unsigned prefix)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;

		if (keep < 8)
			addr->a.s6_addr[i] &= (uint8_t)(0xff00 >> keep);
	}
}

/* A decimal 0..@max without sign, blanks or leading zeros. */
static int parse_prefix(const char *text, unsigned max, unsigned *out)
{
	size_t len = strlen(text);

	if (len == 0 || len > 3 || (len > 1 && text[0] == '0'))
		return -EINVAL;
	*out = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		*out = *out * 10 + (unsigned)(text[i] - '0');
	}
	return *out <= max ? 0 : -EINVAL;
}

int pc_cidr_parse(const char *text, struct pc_cidr *out)
{
	char addr_text[CIDR_TEXT_MAX + 1];
	const char *slash;
	struct pc_addr addr;
	unsigned prefix, max;
	size_t addr_len;

	if (!text)
		return -EINVAL;
	slash = strchr(text, '/');
	addr_len = slash ? (size_t)(slash - text) : strlen(text);
	if (addr_len == 0 || addr_len >= sizeof(addr_text))
		return -EINVAL;
	memcpy(addr_text, text, addr_len);
	addr_text[addr_len] = '\0';
	/* Exactly a dotted quad or an IPv6 literal (addr.c): no shorthand,
	 * no zone, no blanks.  "::ffff:a.b.c.d" is the IPv4 address. */
	if (pc_addr_parse(addr_text, &addr) < 0)
		return -EINVAL;
	max = pc_addr_is_v4(&addr) && !strchr(addr_text, ':') ? 32 : 128;
	prefix = max;
	if (slash && parse_prefix(slash + 1, max, &prefix) < 0)
		return -EINVAL;
	if (max == 32)
		prefix += 96;
	clear_host_bits(&addr, prefix);
	out->network = addr;
	out->prefix = prefix;
	return 0;
}

static bool acl_has(const struct pc_acl *acl, const struct pc_cidr *block)
{
	for (size_t i = 0; i < acl->count; i++) {
		if (acl->blocks[i].prefix == block->prefix &&
		    pc_addr_equal(&acl->blocks[i].network, &block->network))
			return true;
	}
	return false;
}

/* Appends @block unless it is already there.  -E2BIG when full. */
static int acl_add(struct pc_acl *acl, const struct pc_cidr *block)
{
	if (acl_has(acl, block))
		return 0;
	if (acl->count >= PC_ACL_MAX)
		return -E2BIG;
	acl->blocks[acl->count++] = *block;
	return 0;
}

static bool is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

int pc_acl_parse(struct pc_acl *acl, const char *list, char *err, size_t errlen)
{
	/* Parsed into a copy: a bad item leaves @acl as it was. */
	struct pc_acl result = *acl;
	char item[CIDR_TEXT_MAX + 1];
	const char *p = list ? list : "";
	struct pc_cidr block;
	size_t len;
	int rc;

	for (;;) {
		while (is_separator(*p))
			p++;
		if (*p == '\0')
			break;
		for (len = 0; p[len] && !is_separator(p[len]); len++)
			;
		rc = -EINVAL;
		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			rc = pc_cidr_parse(item, &block);
		}
		if (rc < 0) {
			if (err && errlen)
				snprintf(err, errlen,
					 "\"%.*s\" is not an address or a "
					 "block (a.b.c.d/len, "
					 "2001:db8::/len)",
					 (int)(len > 64 ? 64 : len), p);
			return rc;
		}
		rc = acl_add(&result, &block);
		if (rc < 0) {
			if (err && errlen)
				snprintf(err, errlen,
					 "more than %d address blocks (at "
					 "\"%s\")",
					 PC_ACL_MAX, item);
			return rc;
		}
		p += len;
	}
	*acl = result;
	return 0;
}

/* The block of @ifa's address and netmask, if it is one to add. */
static bool local_block(const struct ifaddrs *ifa, bool include_loopback,
			struct pc_cidr *block)
{
	struct pc_addr addr, mask;
	unsigned prefix = 0;

	if (!ifa->ifa_addr || !ifa->ifa_netmask || !(ifa->ifa_flags & IFF_UP))
		return false;
	if ((ifa->ifa_flags & IFF_LOOPBACK) && !include_loopback)
		return false;
	if (!pc_addr_from_sockaddr(&addr, ifa->ifa_addr, NULL) ||
	    !pc_addr_from_sockaddr(&mask, ifa->ifa_netmask, NULL))
		return false;
	if (ifa->ifa_addr->sa_family == AF_INET6 &&
	    (IN6_IS_ADDR_LINKLOCAL(&addr.a) || IN6_IS_ADDR_V4MAPPED(&addr.a) ||
	     IN6_IS_ADDR_MULTICAST(&addr.a)))
		return false;
	/* A netmask is contiguous ones; count them (IPv4's from bit 96). */
	for (unsigned i = ifa->ifa_addr->sa_family == AF_INET ? 12 : 0; i < 16;
	     i++)
		for (unsigned bit = 0; bit < 8; bit++)
			prefix += (mask.a.s6_addr[i] >> (7 - bit)) & 1;
	if (ifa->ifa_addr->sa_family == AF_INET)
		prefix += 96;
	clear_host_bits(&addr, prefix);
	block->network = addr;
	block->prefix = prefix;
	return true;
}

int pc_acl_add_local_subnets(struct pc_acl *acl, bool include_loopback)
{
	struct ifaddrs *list, *ifa;
	struct pc_cidr block;
	int rc = 0;

	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa && rc == 0; ifa = ifa->ifa_next)
		if (local_block(ifa, include_loopback, &block))
			rc = acl_add(acl, &block);
	freeifaddrs(list);
	return rc;
}

bool pc_cidr_contains(const struct pc_cidr *block, const struct pc_addr *addr)
{
	struct pc_addr masked = *addr;

	clear_host_bits(&masked, block->prefix);
	return pc_addr_equal(&masked, &block->network);
}

bool pc_acl_allows(const struct pc_acl *acl, const struct pc_addr *addr)
{
	if (!acl || !addr)
		return false;
	for (size_t i = 0; i < acl->count; i++)
		if (pc_cidr_contains(&acl->blocks[i], addr))
			return true;
	return false;
}
