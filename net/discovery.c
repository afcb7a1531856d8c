/*
 * discovery.c - UDP discovery: who in this subnet has (or is fetching)
 * these chunks, and one mirror download per subnet.
 *
 * One UDP socket on the loop thread does three jobs.  The responder
 * answers neighbours' probes from the local store, after a small random
 * delay, only to sources the ACL allows, within per-source and node-wide
 * token buckets that keep a share for the neighbours that proved
 * themselves (disc_budget.c), and never with more bytes than the probe
 * had.  The requester sends one probe per ask and reports the first
 * useful answer (or the timeout), believing only neighbours whose word
 * still counts and a "fetching" only with a claim behind it; when nobody
 * has answered for a while it presumes an empty subnet and stops waiting,
 * so that a lone node pays almost nothing for discovery.  Claims announce
 * "I am going to the mirror for these"; the lowest (address, port) wins a
 * tie.  docs/PROTOCOL.md is the wire contract; the comments here say why
 * the code is shaped the way it is.
 *
 * Every table is fixed-size and every packet is parsed in place from one
 * receive buffer, so a flood of garbage costs counters, not memory.  All
 * deadlines (answer jitter, ask timeouts, claim windows) live in their
 * items and share one timer; work due "now" runs from an idle handle on
 * the next loop iteration, never inside the call that created it (a
 * callback that asks again cannot spin the loop).
 *
 * The parts, one file each (disc_internal.h is what they share): the wire
 * format (disc_wire.c), destinations (disc_dest.c), rate limits and the
 * empty-subnet presumption (disc_limits.c), claims (disc_claims.c), the
 * responder (disc_respond.c) and the requester (disc_ask.c).  This file
 * has the socket, its one timer, receiving and dispatching, and the
 * instance's life.
 *
 * The socket is one dual-stack IPv6 socket (IPV6_V6ONLY off) unless an
 * IPv4 bind address is configured or the host has no IPv6: IPv4 sources
 * arrive IPv4-mapped, which is the form struct pc_addr keeps anyway, and
 * IPv4 destinations leave mapped.  IPv6 has no broadcast; its stand-in is
 * a link-local group joined on each interface (disc_dest.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "disc_internal.h"

/* ---- time ---------------------------------------------------------------- */

/* Runs what is due; items made during this very tick wait for the next. */
static void tick(struct pc_disc *d)
{
	uint64_t now = uv_now(d->loop);
	uint64_t seq = ++d->tick_seq;

	disc_send_due_answers(d, now);
	for (size_t i = 0; i < MAX_ASKS && !d->closing; i++)
		if (d->asks[i] && d->asks[i]->deadline <= now &&
		    d->asks[i]->seq < seq)
			disc_finish_ask(d, i, 0);
	for (size_t i = 0; i < MAX_CALLS && !d->closing; i++)
		if (d->calls[i] && d->calls[i]->deadline <= now &&
		    d->calls[i]->seq < seq)
			disc_finish_call(d, i, 0);
	if (!d->closing)
		disc_arm(d);
}

static void on_uv_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
		       const struct sockaddr *addr, unsigned flags);

/*
 * libuv runs due timers before it polls the sockets, so after a stall of
 * the loop (a busy machine) an answer that arrived in time would still be
 * unread when its ask's deadline fires, and the ask would count as silent.
 * What the socket holds is read first, through the same path.
 */
void disc_drain(struct pc_disc *d)
{
	/* Its own buffer: a drain can run while a packet in rxbuf is still
	 * being handled (a callback that claims).  Never nested. */
	uint8_t data[RECV_BUF];
	uv_buf_t buf = uv_buf_init((char *)data, sizeof(data));
	uv_os_fd_t fd;

	if (d->draining || uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0)
		return;
	d->draining = true;
	for (int i = 0; i < DRAIN_MAX && !d->closing; i++) {
		union pc_sockaddr from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(fd, data, sizeof(data),
				     MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fromlen);
		unsigned flags = 0;

		if (n < 0)
			break;
		if ((size_t)n > sizeof(data)) {
			n = (ssize_t)sizeof(data);
			flags = UV_UDP_PARTIAL;
		}
		on_uv_recv(&d->udp, n, &buf, &from.sa, flags);
	}
	d->draining = false;
}

static void on_uv_timer(uv_timer_t *timer)
{
	struct pc_disc *d = container_of(timer, struct pc_disc, timer);

	disc_drain(d);
	if (!d->closing)
		tick(d);
}

static void on_uv_soon(uv_idle_t *idle)
{
	tick(container_of(idle, struct pc_disc, soon));
}

static void earliest(uint64_t deadline, uint64_t now, uint64_t *next, bool *due)
{
	if (deadline <= now)
		*due = true;
	else if (deadline < *next)
		*next = deadline;
}

/* Points the timer at the earliest future deadline, the idle handle at
 * anything already due. */
void disc_arm(struct pc_disc *d)
{
	uint64_t now = uv_now(d->loop), next = UINT64_MAX;
	bool due = false;

	if (d->closing)
		return;
	for (size_t i = 0; i < MAX_ANSWERS; i++)
		if (d->answers[i].used)
			earliest(d->answers[i].deadline, now, &next, &due);
	for (size_t i = 0; i < MAX_ASKS; i++)
		if (d->asks[i])
			earliest(d->asks[i]->deadline, now, &next, &due);
	for (size_t i = 0; i < MAX_CALLS; i++)
		if (d->calls[i])
			earliest(d->calls[i]->deadline, now, &next, &due);
	if (due)
		uv_idle_start(&d->soon, on_uv_soon);
	else
		uv_idle_stop(&d->soon);
	if (next != UINT64_MAX)
		uv_timer_start(&d->timer, on_uv_timer, next - now, 0);
	else
		uv_timer_stop(&d->timer);
}

/* ---- receiving ----------------------------------------------------------- */

static void on_uv_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct pc_disc *d = container_of(handle, struct pc_disc, udp);

	(void)suggested;
	/* One datagram at a time, handled before the next is read. */
	*buf = uv_buf_init((char *)d->rxbuf, sizeof(d->rxbuf));
}

static void dispatch(struct pc_disc *d, const struct packet *pkt,
		     const struct disc_endpoint *from)
{
	uint64_t now = uv_now(d->loop);
	struct pc_disc_peer peer = { .addr = from->addr,
				     .udp_port = from->port,
				     .http_port = pkt->http_port };
	bool proven;

	if (pkt->type == MSG_ANSWER) {
		if (d->opts.seen)
			d->opts.seen(d->opts.cb_arg, &peer);
		disc_handle_answer(d, pkt, from);
		return;
	}
	if (disc_sent_find(d, pkt->txid)) {
		d->ctr.own++; /* our broadcast, looped back */
		return;
	}
	if (!disc_rate_allows(d, &from->addr, now, &proven))
		return;
	disc_peer_alive(d, from);
	if (d->opts.seen)
		d->opts.seen(d->opts.cb_arg, &peer);
	if (pkt->type == MSG_PROBE)
		disc_handle_probe(d, pkt, from, now, proven);
	else if (pkt->type == MSG_CLAIM)
		disc_handle_claim(d, pkt, from, now);
	else
		disc_handle_release(d, pkt, from, now);
	disc_arm(d);
}

static void on_uv_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
		       const struct sockaddr *addr, unsigned flags)
{
	struct pc_disc *d = container_of(udp, struct pc_disc, udp);
	struct disc_endpoint from;
	struct packet pkt;
	enum drop reason;

	if (nread == 0 && !addr)
		return; /* nothing more to read */
	if (nread < 0) {
		d->ctr.rx_errors++;
		return;
	}
	if (d->closing)
		return;
	d->ctr.rx_packets++;
	if (!pc_addr_from_sockaddr(&from.addr, addr, &from.port)) {
		d->ctr.denied++;
		return;
	}
	if (!pc_acl_allows(d->opts.allow, &from.addr)) {
		d->ctr.denied++;
		disc_log_drops(d, &from.addr, uv_now(d->loop));
		return;
	}
	reason = disc_parse_packet(d, (const uint8_t *)buf->base, (size_t)nread,
				   flags & UV_UDP_PARTIAL, &pkt);
	if (reason != DROP_NONE) {
		disc_count_drop(d, reason);
		disc_log_drops(d, &from.addr, uv_now(d->loop));
		return;
	}
	dispatch(d, &pkt, &from);
}

/* ---- lifetime ------------------------------------------------------------ */

void pc_disc_opts_defaults(struct pc_disc_opts *opts)
{
	*opts = (struct pc_disc_opts){
		.port = PC_DISC_PORT,
		.broadcast = true,
		.jitter_min_ms = 1,
		.jitter_max_ms = 5,
		.source_rate = 1000,
		.source_burst = 2000,
		.total_rate = 5000,
		.total_burst = 10000,
		.unproven_rate = 1000,
		.unproven_burst = 2000,
		.silent_asks = 1,
		.recheck_ms = 5000,
		.claim_window_ms = 20,
		.claim_ttl_ms = 30000,
	};
}

/* The socket's family and address: dual-stack unless told otherwise. */
static int apply_bind_address(struct pc_disc *d, const char *text, char *err,
			      size_t errlen)
{
	d->bound_any = !text || !*text;
	d->family = pc_addr_ipv6_available() ? AF_INET6 : AF_INET;
	memset(&d->bound, 0, sizeof(d->bound));
	if (d->bound_any) {
		if (d->family == AF_INET)
			pc_addr_from_in(&d->bound,
					(struct in_addr){ INADDR_ANY });
		return 0;
	}
	if (pc_addr_parse(text, &d->bound) < 0 ||
	    (!pc_addr_is_v4(&d->bound) && d->family == AF_INET)) {
		snprintf(err, errlen,
			 "discovery bind address \"%s\": not an address%s",
			 text, d->family == AF_INET ? " (no IPv6 here)" : "");
		return -EINVAL;
	}
	if (pc_addr_is_v4(&d->bound))
		d->family = AF_INET;
	return 0;
}

/* "239.1.2.3", "ff12::5043:4453", or one of each. */
static int apply_groups(struct pc_disc *d, const char *list, char *err,
			size_t errlen)
{
	char item[PC_ADDR_TEXT_MAX + 2];
	struct pc_addr group;
	size_t len;

	for (const char *p = list ? list : ""; *p; p += len) {
		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (len >= sizeof(item))
			goto bad;
		memcpy(item, p, len);
		item[len] = '\0';
		if (pc_addr_parse(item, &group) < 0)
			goto bad;
		if (pc_addr_is_v4(&group)) {
			memcpy(&d->group.s_addr, group.a.s6_addr + 12, 4);
			if (!IN_MULTICAST(ntohl(d->group.s_addr)) ||
			    d->has_group)
				goto bad;
			d->has_group = true;
		} else {
			/* Its scope must be the link: the group is sent to
			 * on each interface, hop limit 1. */
			if (!IN6_IS_ADDR_MC_LINKLOCAL(&group.a) ||
			    d->has_group6 || d->family != AF_INET6)
				goto bad;
			d->group6 = group.a;
			d->has_group6 = true;
		}
	}
	return 0;
bad:
	snprintf(err, errlen,
		 "discovery_group \"%s\": want an IPv4 multicast group, a "
		 "link-local IPv6 one (ff02::/16, ff12::/16), or one of "
		 "each%s",
		 list, d->family != AF_INET6 ? " (no IPv6 socket here)" : "");
	return -EINVAL;
}

/* Everything but the socket; -EINVAL with the reason in @err. */
static int apply_opts(struct pc_disc *d, const struct pc_disc_opts *opts,
		      char *err, size_t errlen)
{
	const char *bind_address = opts->bind_address;

	d->opts = *opts;
	d->opts.bind_address = d->opts.interfaces = NULL;
	d->opts.group = d->opts.peers = NULL;
	d->opts.key = NULL;
	if (!opts->allow) {
		snprintf(err, errlen, "discovery needs an ACL");
		return -EINVAL;
	}
	if (opts->key && (opts->key_len < PC_DISC_KEY_MIN ||
			  opts->key_len > PC_DISC_KEY_MAX)) {
		snprintf(err, errlen, "fleet key: %zu bytes, want %d to %d",
			 opts->key_len, PC_DISC_KEY_MIN, PC_DISC_KEY_MAX);
		return -EINVAL;
	}
	if (opts->jitter_min_ms > opts->jitter_max_ms) {
		snprintf(err, errlen, "discovery jitter: min above max");
		return -EINVAL;
	}
	if (apply_bind_address(d, bind_address, err, errlen) < 0 ||
	    apply_groups(d, opts->group, err, errlen) < 0)
		return -EINVAL;
	if (d->family == AF_INET6 && opts->broadcast && !d->has_group6) {
		inet_pton(AF_INET6, PC_DISC_GROUP6, &d->group6);
		d->has_group6 = true;
	}
	if (opts->interfaces && *opts->interfaces) {
		d->interfaces = strdup(opts->interfaces);
		if (!d->interfaces) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
	}
	if (opts->key && disc_mac_init(d, opts->key, opts->key_len) < 0) {
		snprintf(err, errlen, "fleet key: OpenSSL has no HMAC-SHA256");
		return -EINVAL;
	}
	return 0;
}

static void free_disc(struct pc_disc *d)
{
	EVP_MAC_CTX_free(d->mac);
	free(d->interfaces);
	free(d);
}

static void on_uv_closed(uv_handle_t *handle)
{
	struct pc_disc *d = handle->data;

	if (--d->handles_open == 0)
		free_disc(d);
}

/*
 * The socket, bound: made here rather than by uv_udp_bind() so that
 * IPV6_V6ONLY is set as we mean it (off for the wildcard: one socket for
 * both families; on for an IPv6 bind address) and not left to the
 * system's net.ipv6.bindv6only.
 */
static int bind_socket(struct pc_disc *d)
{
	union pc_sockaddr addr;
	socklen_t len;
	int fd, v6only = !d->bound_any, rc;

	fd = socket(d->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	rc = pc_addr_to_sockaddr(&d->bound, d->opts.port, d->family, &addr,
				 &len);
	if (rc == 0 && d->family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only)) <
		    0)
		rc = -errno;
	if (rc == 0 && bind(fd, &addr.sa, len) < 0)
		rc = -errno;
	if (rc == 0)
		rc = uv_udp_open(&d->udp, fd);
	if (rc < 0)
		close(fd);
	return rc; /* -errno is libuv's error code on Linux */
}

/* Memberships and hop limits of the multicast groups (the IPv6 group's
 * memberships are per interface: disc_dest.c joins them as it finds
 * interfaces). */
static int set_multicast(struct pc_disc *d)
{
	int one = 1;
	uv_os_fd_t fd;

	if (uv_fileno((const uv_handle_t *)&d->udp, &fd) < 0)
		return -EBADF;
	if (d->has_group) {
		struct ip_mreqn mreq = { .imr_multiaddr = d->group };

		/* Linux takes IPv4 options on a dual-stack socket too. */
		if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq,
			       sizeof(mreq)) < 0 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &one,
			       sizeof(one)) < 0)
			return -errno;
	}
	if (d->has_group6 && setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS,
					&one, sizeof(one)) < 0)
		return -errno;
	return 0;
}

static int open_socket(struct pc_disc *d, char *err, size_t errlen)
{
	union pc_sockaddr name;
	int namelen = sizeof(name), rc;
	uint16_t port = 0;

	rc = bind_socket(d);
	if (rc == 0 && d->opts.broadcast)
		rc = uv_udp_set_broadcast(&d->udp, 1);
	if (rc == 0)
		rc = set_multicast(d);
	if (rc == 0)
		rc = uv_udp_getsockname(&d->udp, &name.sa, &namelen);
	if (rc == 0)
		rc = uv_udp_recv_start(&d->udp, on_uv_alloc, on_uv_recv);
	if (rc == 0 &&
	    uv_send_buffer_size((uv_handle_t *)&d->udp, &d->sndbuf) < 0)
		d->sndbuf = 0;
	if (rc < 0) {
		snprintf(err, errlen, "discovery port %u: %s", d->opts.port,
			 uv_strerror(rc));
		return rc;
	}
	pc_addr_from_sockaddr(&(struct pc_addr){ 0 }, &name.sa, &port);
	d->port = port;
	return 0;
}

struct pc_disc *pc_disc_new(uv_loop_t *loop, const struct pc_disc_opts *opts,
			    char *err, size_t errlen)
{
	struct pc_disc *d = calloc(1, sizeof(*d));
	uint64_t seed;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->loop = loop;
	if (apply_opts(d, opts, err, errlen) < 0 ||
	    disc_parse_peers(opts->peers, opts->port, d->family, d->statics,
			     &d->nstatics, err, errlen) < 0) {
		free_disc(d);
		return NULL;
	}
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	d->rng = seed;
	disc_budget_init(&d->budget,
			 &(struct disc_budget_opts){
				 .source_rate = opts->source_rate,
				 .source_burst = opts->source_burst,
				 .total_rate = opts->total_rate,
				 .total_burst = opts->total_burst,
				 .unproven_rate = opts->unproven_rate,
				 .unproven_burst = opts->unproven_burst,
				 .proven = disc_source_proven,
				 .proven_arg = d,
			 },
			 uv_now(loop));
	uv_udp_init(loop, &d->udp);
	uv_timer_init(loop, &d->timer);
	uv_idle_init(loop, &d->soon);
	d->udp.data = d->timer.data = d->soon.data = d;
	d->handles_open = 3;
	if (open_socket(d, err, errlen) < 0) {
		/* Freed in the close callbacks: the loop has to run. */
		d->closing = true;
		uv_close((uv_handle_t *)&d->udp, on_uv_closed);
		uv_close((uv_handle_t *)&d->timer, on_uv_closed);
		uv_close((uv_handle_t *)&d->soon, on_uv_closed);
		return NULL;
	}
	disc_scan_interfaces(d, uv_now(loop));
	pc_log(PC_LOG_INFO, "net",
	       "discovery on UDP port %u (%s): %zu static peers, %s%s%s%s%s",
	       d->port, d->family == AF_INET6 ? "IPv4 and IPv6" : "IPv4 only",
	       d->nstatics, d->opts.broadcast ? "broadcast, " : "",
	       d->has_group ? "IPv4 multicast, " : "",
	       d->has_group6 ? "IPv6 multicast, " : "",
	       d->mac ? "fleet key" : "no fleet key",
	       disc_expected_peers(d) || d->opts.broadcast || d->has_group ||
			       d->has_group6
		       ? ""
		       : " (no destination: asks stay unanswered)");
	return d;
}

void pc_disc_close(struct pc_disc *d)
{
	if (!d || d->closing)
		return;
	disc_release_all(d);
	d->closing = true;
	for (size_t i = 0; i < MAX_ASKS; i++)
		if (d->asks[i])
			disc_finish_ask(d, i, -ECANCELED);
	for (size_t i = 0; i < MAX_CALLS; i++)
		if (d->calls[i])
			disc_finish_call(d, i, -ECANCELED);
	uv_udp_recv_stop(&d->udp);
	uv_close((uv_handle_t *)&d->udp, on_uv_closed);
	uv_close((uv_handle_t *)&d->timer, on_uv_closed);
	uv_close((uv_handle_t *)&d->soon, on_uv_closed);
}

uint16_t pc_disc_port(const struct pc_disc *d)
{
	return d->port;
}

int pc_disc_set_peers(struct pc_disc *d, const char *peers, char *err,
		      size_t errlen)
{
	struct disc_endpoint list[MAX_STATIC];
	size_t n;
	int rc = disc_parse_peers(peers, d->port, d->family, list, &n, err,
				  errlen);

	if (rc < 0)
		return rc;
	memcpy(d->statics, list, n * sizeof(list[0]));
	d->nstatics = n;
	return 0;
}

void pc_disc_get_counters(const struct pc_disc *d, struct pc_disc_counters *out)
{
	*out = d->ctr;
}

void pc_disc_drain(struct pc_disc *d)
{
	if (d && !d->closing)
		disc_drain(d);
}

bool pc_disc_presumed_empty(const struct pc_disc *d)
{
	return disc_presumed_empty(d);
}
