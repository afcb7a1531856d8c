/*
 * acl.h - who may talk to this node's peer services (net/, internal).
 *
 * The UDP responder and the HTTP peer server answer only sources in the
 * node's own IPv4 subnets (from its interfaces) or in the configured
 * peer_allow list of CIDR blocks.  Both use this one check.
 */
#ifndef PC_NET_ACL_H
#define PC_NET_ACL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>

#define PC_ACL_MAX 64

struct pc_cidr {
	struct in_addr network; /* host bits cleared */
	struct in_addr mask;
};

struct pc_acl {
	size_t count;
	struct pc_cidr blocks[PC_ACL_MAX];
};

/* Parses "a.b.c.d/len" or "a.b.c.d" (/32).  0 or -EINVAL. */
int pc_cidr_parse(const char *text, struct pc_cidr *out);
/* Parses a comma- or space-separated list into @acl (appending).
 * -EINVAL with the bad item named in @err; -E2BIG past PC_ACL_MAX. */
int pc_acl_parse(struct pc_acl *acl, const char *list, char *err,
		 size_t errlen);
/* Appends the subnet of every up, non-loopback IPv4 interface (or, when
 * @include_loopback, loopback too: tests on 127.0.0.0/8).  0 or -errno. */
int pc_acl_add_local_subnets(struct pc_acl *acl, bool include_loopback);
bool pc_acl_allows(const struct pc_acl *acl, const struct in_addr *addr);

#endif
