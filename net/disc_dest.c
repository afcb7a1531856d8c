/*
 * disc_dest.c - where probes, claims and releases go: each interface's
 * broadcast address and, on each interface with a global IPv6 address,
 * the IPv6 group (both rescanned every minute, every 5 s while the group
 * has no source yet), an IPv4 multicast group,
 * a static peer list resolved once at start; never to this node itself.
 * Also the txids of what we sent, so that our own broadcasts coming back
 * and answers to nothing are told apart.
 *
 * IPv6 has no broadcast, so its stand-in is a link-local group joined on
 * each interface (IPV6_JOIN_GROUP with the interface's index), and every
 * packet to it names its interface and its source address (IPV6_PKTINFO):
 * left to itself the kernel would send a link-scope packet from the
 * link-local address, which neighbours' ACLs refuse and which no HTTP
 * request can be sent back to without a zone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disc_internal.h"

/* ---- destinations -------------------------------------------------------- */

static bool name_listed(const char *list, const char *name)
{
	size_t name_len = strlen(name), len;

	for (const char *p = list; *p; p += len) {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == name_len && strncmp(p, name, len) == 0)
			return true;
	}
	return false;
}

static bool listed(const struct pc_disc *d, const struct ifaddrs *ifa)
{
	return !d->interfaces || name_listed(d->interfaces, ifa->ifa_name);
}

/* An IPv4 interface's broadcast address, as a destination. */
static void add_broadcast(struct pc_disc *d, const struct ifaddrs *ifa)
{
	struct disc_endpoint *to = &d->bcasts[d->nbcasts];

	if (!(ifa->ifa_flags & IFF_UP) || (ifa->ifa_flags & IFF_LOOPBACK) ||
	    !(ifa->ifa_flags & IFF_BROADCAST) || !ifa->ifa_broadaddr ||
	    d->nbcasts == MAX_BCAST || !listed(d, ifa))
		return;
	if (!pc_addr_from_sockaddr(&to->addr, ifa->ifa_broadaddr, NULL))
		return;
	to->port = d->port;
	d->nbcasts++;
}

/* Interfaces seen in one scan, so that each is joined once. */
struct scan6 {
	unsigned ifindex[MAX_MCAST6];
	size_t n;
};

/* Joins the IPv6 group on @ifindex (again at every scan: a membership
 * dies with its interface; a second join is refused with EADDRINUSE,
 * harmlessly).  False when the join failed. */
static bool join_group6(struct pc_disc *d, unsigned ifindex, const char *name)
{
	struct ipv6_mreq mreq = { .ipv6mr_multiaddr = d->group6,
				  .ipv6mr_interface = ifindex };
	char cause[64];
	uv_os_fd_t fd;

	if (uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0 ||
	    setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq,
		       sizeof(mreq)) == 0 ||
	    errno == EADDRINUSE)
		return true;
	snprintf(cause, sizeof(cause), "disc-join6 %s", name);
	pc_log_cause(PC_LOG_WARN, "net", cause,
		     "discovery: cannot join the IPv6 group on %s: %s (this "
		     "node does not hear the probes of its neighbours there)",
		     name, strerror(errno));
	return false;
}

/*
 * The IPv6 group on @ifa's interface: joined as soon as the interface has
 * IPv6 at all (its link-local address comes first, a global one may come
 * seconds later from a router: neighbours' probes are heard meanwhile),
 * and a destination, from @source, once it has a global (or unique local)
 * address.
 */
static void add_group6(struct pc_disc *d, const struct ifaddrs *ifa,
		       const struct in6_addr *source, struct scan6 *seen)
{
	unsigned ifindex;
	size_t i;

	if (!d->has_group6 || !(ifa->ifa_flags & IFF_UP) ||
	    (ifa->ifa_flags & IFF_LOOPBACK) ||
	    !(ifa->ifa_flags & IFF_MULTICAST) || !listed(d, ifa) ||
	    IN6_IS_ADDR_MULTICAST(source))
		return;
	ifindex = if_nametoindex(ifa->ifa_name);
	if (ifindex == 0)
		return;
	for (i = 0; i < seen->n && seen->ifindex[i] != ifindex; i++)
		;
	if (i == seen->n) {
		if (seen->n == MAX_MCAST6 ||
		    !join_group6(d, ifindex, ifa->ifa_name))
			return;
		seen->ifindex[seen->n++] = ifindex;
	}
	if (IN6_IS_ADDR_LINKLOCAL(source) || d->nmcast6 == MAX_MCAST6)
		return;
	for (i = 0; i < d->nmcast6; i++)
		if (d->mcast6[i].ifindex == ifindex)
			return; /* one source per interface is enough */
	d->mcast6[d->nmcast6++] =
		(struct disc_mcast6){ .ifindex = ifindex, .source = *source };
}

/* Own addresses (to skip ourselves) and broadcast and group
 * destinations. */
void disc_scan_interfaces(struct pc_disc *d, uint64_t now)
{
	struct ifaddrs *list, *ifa;
	struct scan6 seen = { .n = 0 };
	struct pc_addr addr;

	d->scanned = true;
	d->scanned_at = now;
	if (getifaddrs(&list) < 0)
		return; /* keep what we had */
	d->nbcasts = 0;
	d->nmcast6 = 0;
	d->nlocals = 0;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!pc_addr_from_sockaddr(&addr, ifa->ifa_addr, NULL))
			continue;
		if (d->nlocals < MAX_LOCAL)
			d->locals[d->nlocals++] = addr;
		if (ifa->ifa_addr->sa_family == AF_INET)
			add_broadcast(d, ifa);
		else if (d->family == AF_INET6)
			add_group6(d, ifa, &addr.a, &seen);
	}
	freeifaddrs(list);
}

static bool is_self(const struct pc_disc *d, const struct disc_endpoint *to)
{
	if (to->port != d->port)
		return false;
	if (pc_addr_is_loopback(&to->addr) ||
	    (!d->bound_any && pc_addr_equal(&to->addr, &d->bound)))
		return true;
	for (size_t i = 0; i < d->nlocals; i++)
		if (pc_addr_equal(&d->locals[i], &to->addr))
			return true;
	return false;
}

/* Splits "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal
 * (more than one colon: no port) in place; @port keeps its default when
 * none is given.  False when malformed. */
static bool split_host_port(char *item, char **host, unsigned long *port)
{
	char *colon, *end;

	*host = item;
	if (item[0] == '[') {
		end = strchr(item, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		*end = '\0';
		*host = item + 1;
		colon = end[1] ? end + 1 : NULL;
	} else {
		colon = strchr(item, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL; /* a bare IPv6 literal */
	}
	if (colon) {
		*colon = '\0';
		errno = 0;
		*port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || *port > 65535)
			*port = 0;
	}
	return *port != 0 && **host;
}

static int resolve_peer(char *item, uint16_t default_port, int family,
			struct disc_endpoint *out, char *err, size_t errlen)
{
	/* An IPv4-only socket takes IPv4 peers only. */
	struct addrinfo hints = { .ai_family = family == AF_INET6 ? AF_UNSPEC
								  : AF_INET,
				  .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res;
	unsigned long port = default_port;
	char *host;
	int rc;

	if (!split_host_port(item, &host, &port)) {
		snprintf(err, errlen,
			 "peer \"%s\": needs host:port or [IPv6]:port", item);
		return -EINVAL;
	}
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "peer \"%s\": %s", host,
			 gai_strerror(rc));
		return -EINVAL;
	}
	pc_addr_from_sockaddr(&out->addr, res->ai_addr, NULL);
	out->port = (uint16_t)port;
	freeaddrinfo(res);
	return 0;
}

/* "host[:port], [v6]:port, ..." into @out. */
int disc_parse_peers(const char *list, uint16_t default_port, int family,
		     struct disc_endpoint *out, size_t *count, char *err,
		     size_t errlen)
{
	char item[300];
	size_t n = 0, len;
	int rc;

	for (const char *p = list ? list : ""; *p; p += len) {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(item) || n == MAX_STATIC) {
			snprintf(err, errlen, "peers: %s",
				 n == MAX_STATIC ? "more than 64"
						 : "name too long");
			return -EINVAL;
		}
		memcpy(item, p, len);
		item[len] = '\0';
		rc = resolve_peer(item, default_port, family, &out[n], err,
				  errlen);
		if (rc < 0)
			return rc;
		n++;
	}
	*count = n;
	return 0;
}

bool disc_send_one(struct pc_disc *d, const uint8_t *buf, size_t len,
		   const struct disc_endpoint *to)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	union pc_sockaddr sa;
	socklen_t salen;
	int rc = pc_addr_to_sockaddr(&to->addr, to->port, d->family, &sa,
				     &salen);

	if (rc == 0)
		rc = uv_udp_try_send(&d->udp, &b, 1, &sa.sa);
	if (rc < 0) {
		d->ctr.tx_errors++;
		return false;
	}
	return true;
}

static void remember_txid(struct pc_disc *d, uint32_t txid, uint8_t type)
{
	d->sent[d->sent_next] =
		(struct sent_txid){ .txid = txid, .type = type, .used = true };
	d->sent_next = (d->sent_next + 1) % SENT_RING;
}

const struct sent_txid *disc_sent_find(const struct pc_disc *d, uint32_t txid)
{
	for (size_t i = 0; i < SENT_RING; i++)
		if (d->sent[i].used && d->sent[i].txid == txid)
			return &d->sent[i];
	return NULL;
}

/* To the IPv6 group on one interface, from the source chosen for it. */
static void send_group6(struct pc_disc *d, const uint8_t *buf, size_t len,
			const struct disc_mcast6 *m)
{
	struct sockaddr_in6 to = { .sin6_family = AF_INET6,
				   .sin6_port = htons(d->port),
				   .sin6_addr = d->group6,
				   .sin6_scope_id = m->ifindex };
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		struct cmsghdr align;
		uint8_t bytes[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} control = { 0 };
	struct msghdr msg = { .msg_name = &to,
			      .msg_namelen = sizeof(to),
			      .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = control.bytes,
			      .msg_controllen = sizeof(control.bytes) };
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	struct in6_pktinfo info = { .ipi6_addr = m->source,
				    .ipi6_ifindex = m->ifindex };
	uv_os_fd_t fd;

	cmsg->cmsg_level = IPPROTO_IPV6;
	cmsg->cmsg_type = IPV6_PKTINFO;
	cmsg->cmsg_len = CMSG_LEN(sizeof(info));
	memcpy(CMSG_DATA(cmsg), &info, sizeof(info));
	if (uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0 ||
	    sendmsg(fd, &msg, MSG_DONTWAIT) < 0)
		d->ctr.tx_errors++;
}

/* Sends d->txbuf (@len bytes before the tag) to every destination. */
void disc_send_all(struct pc_disc *d, size_t len, uint32_t txid, uint8_t type)
{
	uint64_t now = uv_now(d->loop);
	struct disc_endpoint to;

	len = disc_seal(d, d->txbuf, len);
	if (len == 0) {
		d->ctr.tx_errors++;
		return;
	}
	remember_txid(d, txid, type);
	/* Sooner while IPv6 has no source yet: a global address comes a few
	 * seconds after boot, when a router announces the prefix. */
	if (!d->scanned || now - d->scanned_at >= RESCAN_MS ||
	    (d->has_group6 && d->nmcast6 == 0 &&
	     now - d->scanned_at >= RESCAN_NO_SOURCE_MS))
		disc_scan_interfaces(d, now);
	for (size_t i = 0; i < d->nstatics; i++)
		if (!is_self(d, &d->statics[i]))
			disc_send_one(d, d->txbuf, len, &d->statics[i]);
	for (size_t i = 0; d->opts.broadcast && i < d->nbcasts; i++)
		disc_send_one(d, d->txbuf, len, &d->bcasts[i]);
	if (d->has_group) {
		pc_addr_from_in(&to.addr, d->group);
		to.port = d->port;
		disc_send_one(d, d->txbuf, len, &to);
	}
	for (size_t i = 0; i < d->nmcast6; i++)
		send_group6(d, d->txbuf, len, &d->mcast6[i]);
}

/* Peers whose answers can all arrive: known only for a static list. */
size_t disc_expected_peers(const struct pc_disc *d)
{
	size_t n = 0;

	if (d->opts.broadcast || d->has_group || d->has_group6)
		return 0;
	for (size_t i = 0; i < d->nstatics; i++)
		n += !is_self(d, &d->statics[i]);
	return n;
}
