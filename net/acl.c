/*
 * acl.c - which IPv4 sources may use this node's peer services.
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
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "acl.h"

/* "255.255.255.255/32" and a NUL. */
#define CIDR_TEXT_MAX 19

static struct in_addr prefix_mask(unsigned prefix)
{
	struct in_addr mask;

	mask.s_addr = prefix ? htonl(0xffffffffu << (32 - prefix)) : 0;
	return mask;
}

/* A decimal 0..32 without sign, blanks or leading zeros. */
static int parse_prefix(const char *text, unsigned *out)
{
	size_t len = strlen(text);

	if (len == 0 || len > 2 || (len == 2 && text[0] == '0'))
		return -EINVAL;
	*out = 0;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -EINVAL;
		*out = *out * 10 + (unsigned)(text[i] - '0');
	}
	return *out <= 32 ? 0 : -EINVAL;
}

int pc_cidr_parse(const char *text, struct pc_cidr *out)
{
	char addr_text[CIDR_TEXT_MAX + 1];
	const char *slash;
	struct in_addr addr;
	unsigned prefix = 32;
	size_t addr_len;

	if (!text)
		return -EINVAL;
	slash = strchr(text, '/');
	addr_len = slash ? (size_t)(slash - text) : strlen(text);
	if (addr_len == 0 || addr_len >= sizeof(addr_text))
		return -EINVAL;
	memcpy(addr_text, text, addr_len);
	addr_text[addr_len] = '\0';
	/* inet_pton takes exactly a dotted quad: no shorthand ("10.1"), no
	 * octal or hex parts, no blanks. */
	if (inet_pton(AF_INET, addr_text, &addr) != 1)
		return -EINVAL;
	if (slash && parse_prefix(slash + 1, &prefix) < 0)
		return -EINVAL;
	out->mask = prefix_mask(prefix);
	out->network.s_addr = addr.s_addr & out->mask.s_addr;
	return 0;
}

static bool acl_has(const struct pc_acl *acl, const struct pc_cidr *block)
{
	for (size_t i = 0; i < acl->count; i++) {
		if (acl->blocks[i].network.s_addr == block->network.s_addr &&
		    acl->blocks[i].mask.s_addr == block->mask.s_addr)
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
					 "\"%.*s\" is not an IPv4 address or "
					 "an "
					 "a.b.c.d/len block",
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

int pc_acl_add_local_subnets(struct pc_acl *acl, bool include_loopback)
{
	struct ifaddrs *list, *ifa;
	struct pc_cidr block;
	int rc = 0;

	if (getifaddrs(&list) < 0)
		return -errno;
	for (ifa = list; ifa && rc == 0; ifa = ifa->ifa_next) {
		const struct sockaddr_in *addr, *mask;

		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET ||
		    !ifa->ifa_netmask || !(ifa->ifa_flags & IFF_UP))
			continue;
		if ((ifa->ifa_flags & IFF_LOOPBACK) && !include_loopback)
			continue;
		addr = (const struct sockaddr_in *)(const void *)ifa->ifa_addr;
		mask = (const struct sockaddr_in *)(const void *)
			       ifa->ifa_netmask;
		block.mask = mask->sin_addr;
		block.network.s_addr =
			addr->sin_addr.s_addr & block.mask.s_addr;
		rc = acl_add(acl, &block);
	}
	freeifaddrs(list);
	return rc;
}

bool pc_acl_allows(const struct pc_acl *acl, const struct in_addr *addr)
{
	if (!acl || !addr)
		return false;
	for (size_t i = 0; i < acl->count; i++) {
		if ((addr->s_addr & acl->blocks[i].mask.s_addr) ==
		    acl->blocks[i].network.s_addr)
			return true;
	}
	return false;
}
