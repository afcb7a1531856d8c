/*
 * acl.h - who may talk to this node's peer services (net/, internal).
 *
 * The UDP responder and the HTTP peer server answer only sources in the
 * node's own subnets (IPv4 subnets and IPv6 prefixes of its interfaces)
 * or in the configured peer_allow list of blocks.  Both use this one
 * check.
 */
#ifndef PC_NET_ACL_H
#define PC_NET_ACL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#include "addr.h"

#define PC_ACL_MAX 64

/* One block; IPv4 is held mapped (addr.h), its length counted from the
 * start of the 128 bits (a /24 of IPv4 is a /120 here). */
struct pc_cidr {
	struct pc_addr network; /* host bits cleared */
	unsigned prefix;	/* 0..128 */
};

struct pc_acl {
	size_t count;
	struct pc_cidr blocks[PC_ACL_MAX];
};

/* Parses "a.b.c.d/len", "a.b.c.d" (/32), "v6::addr/len", "v6::addr"
 * (/128) or "[v6::addr]/len".  0 or -EINVAL. */
int pc_cidr_parse(const char *text, struct pc_cidr *out);
/* Parses a comma- or space-separated list into @acl (appending).
 * -EINVAL with the bad item named in @err; -E2BIG past PC_ACL_MAX. */
int pc_acl_parse(struct pc_acl *acl, const char *list, char *err,
		 size_t errlen);
/* Appends the subnet of every up, non-loopback IPv4 interface and the
 * prefix of every global or unique local IPv6 address (never link-local:
 * every host on the wire has one, whatever its subnet); or, when
 * @include_loopback, loopback too (tests on 127.0.0.0/8 and ::1).
 * 0 or -errno. */
int pc_acl_add_local_subnets(struct pc_acl *acl, bool include_loopback);
bool pc_acl_allows(const struct pc_acl *acl, const struct pc_addr *addr);
/* Whether @addr is in @block. */
bool pc_cidr_contains(const struct pc_cidr *block, const struct pc_addr *addr);

#endif
