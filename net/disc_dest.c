/*
 * disc_dest.c - where probes, claims and releases go: each interface's
 * broadcast address (rescanned every minute), a multicast group, a static
 * peer list resolved once at start; never to this node itself.  Also the
 * txids of what we sent, so that our own broadcasts coming back and
 * answers to nothing are told apart.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
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

/* Own addresses (to skip ourselves) and broadcast destinations. */
void disc_scan_interfaces(struct pc_disc *d, uint64_t now)
{
	struct ifaddrs *list, *ifa;
	struct sockaddr_in *sin;

	d->scanned = true;
	d->scanned_at = now;
	if (getifaddrs(&list) < 0)
		return; /* keep what we had */
	d->nbcasts = 0;
	d->nlocals = 0;
	for (ifa = list; ifa; ifa = ifa->ifa_next) {
		if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET)
			continue;
		sin = (struct sockaddr_in *)(void *)ifa->ifa_addr;
		if (d->nlocals < MAX_LOCAL)
			d->locals[d->nlocals++] = sin->sin_addr;
		if (!(ifa->ifa_flags & IFF_UP) ||
		    (ifa->ifa_flags & IFF_LOOPBACK) ||
		    !(ifa->ifa_flags & IFF_BROADCAST) || !ifa->ifa_broadaddr ||
		    d->nbcasts == MAX_BCAST)
			continue;
		if (d->interfaces && !name_listed(d->interfaces, ifa->ifa_name))
			continue;
		sin = (struct sockaddr_in *)(void *)ifa->ifa_broadaddr;
		d->bcasts[d->nbcasts] = *sin;
		d->bcasts[d->nbcasts].sin_port = htons(d->port);
		d->nbcasts++;
	}
	freeifaddrs(list);
}

static bool is_self(const struct pc_disc *d, const struct sockaddr_in *to)
{
	uint32_t host = ntohl(to->sin_addr.s_addr);

	if (ntohs(to->sin_port) != d->port)
		return false;
	if ((host >> 24) == 127 || to->sin_addr.s_addr == d->bound.s_addr)
		return true;
	for (size_t i = 0; i < d->nlocals; i++)
		if (d->locals[i].s_addr == to->sin_addr.s_addr)
			return true;
	return false;
}

static int resolve_peer(char *item, uint16_t default_port,
			struct sockaddr_in *out, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_INET,
				  .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res;
	char *colon = strrchr(item, ':'), *end;
	unsigned long port = default_port;
	int rc;

	if (colon) {
		*colon = '\0';
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || *end || end == colon + 1 || port > 65535)
			port = 0;
	}
	if (port == 0 || !*item) {
		snprintf(err, errlen, "peer \"%s\": needs host:port", item);
		return -EINVAL;
	}
	rc = getaddrinfo(item, NULL, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "peer \"%s\": %s", item,
			 gai_strerror(rc));
		return -EINVAL;
	}
	*out = *(struct sockaddr_in *)(void *)res->ai_addr;
	out->sin_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}

/* "host[:port], ..." into @out. */
int disc_parse_peers(const char *list, uint16_t default_port,
		     struct sockaddr_in *out, size_t *count, char *err,
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
		rc = resolve_peer(item, default_port, &out[n], err, errlen);
		if (rc < 0)
			return rc;
		n++;
	}
	*count = n;
	return 0;
}

bool disc_send_one(struct pc_disc *d, const uint8_t *buf, size_t len,
		   const struct sockaddr_in *to)
{
	uv_buf_t b = uv_buf_init((char *)buf, (unsigned)len);
	int rc = uv_udp_try_send(&d->udp, &b, 1, (const struct sockaddr *)to);

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

/* Sends d->txbuf (@len bytes before the tag) to every destination. */
void disc_send_all(struct pc_disc *d, size_t len, uint32_t txid, uint8_t type)
{
	uint64_t now = uv_now(d->loop);
	struct sockaddr_in to;

	len = disc_seal(d, d->txbuf, len);
	if (len == 0) {
		d->ctr.tx_errors++;
		return;
	}
	remember_txid(d, txid, type);
	if (!d->scanned || now - d->scanned_at >= RESCAN_MS)
		disc_scan_interfaces(d, now);
	for (size_t i = 0; i < d->nstatics; i++)
		if (!is_self(d, &d->statics[i]))
			disc_send_one(d, d->txbuf, len, &d->statics[i]);
	for (size_t i = 0; d->opts.broadcast && i < d->nbcasts; i++)
		disc_send_one(d, d->txbuf, len, &d->bcasts[i]);
	if (d->has_group) {
		to = (struct sockaddr_in){ .sin_family = AF_INET,
					   .sin_port = htons(d->port),
					   .sin_addr = d->group };
		disc_send_one(d, d->txbuf, len, &to);
	}
}

/* Peers whose answers can all arrive: known only for a static list. */
size_t disc_expected_peers(const struct pc_disc *d)
{
	size_t n = 0;

	if (d->opts.broadcast || d->has_group)
		return 0;
	for (size_t i = 0; i < d->nstatics; i++)
		n += !is_self(d, &d->statics[i]);
	return n;
}
