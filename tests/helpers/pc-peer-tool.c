/*
 * pc-peer-tool.c - test helper: peercache's LAN protocols seen from
 * outside the node.
 *
 *   pc-peer-tool probe HOST[:PORT] [options]    probes of several sizes;
 *                                               every answer checked, sized
 *   pc-peer-tool flood HOST[:PORT] [options]    invalid datagrams of every
 *                                               kind the receiver must drop
 *   pc-peer-tool claim HOST[:PORT] [options]    claims (and later releases)
 *                                               chunks, as a neighbour would
 *   pc-peer-tool fake-peer [options]            a lying neighbour: has or
 *                                               fetches every id, claims
 *                                               them, serves garbage, 404
 *                                               or redirects
 *   pc-peer-tool get HOST[:PORT] HEX [options]  many GET /p2p/HEX at once,
 *                                               answers counted
 *   pc-peer-tool spoof HOST[:PORT] [options]    valid packets from forged
 *                                               source addresses
 *   pc-peer-tool slowloris HOST[:PORT] [opts]   request heads sent a byte
 *                                               at a time
 *
 * It is written from docs/PROTOCOL.md alone, without the node's code, so
 * that a test using it checks the document as much as the daemon: a
 * mismatch shows up as a packet one side refuses.  Every wait has a
 * deadline; results go to stdout as "word key=value ..." lines that a
 * shell script can pick apart, diagnostics to stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pc-peer-tool.h"

/* ---- probe ----------------------------------------------------------------
 *
 * For each requested size n, one probe with the first n ids of the list
 * (random ids fill it up), then every datagram that arrives within the
 * timeout is checked.  One line per probe:
 *
 *   probe ids=N probe_bytes=B answers=A answer_bytes=B have=H fetching=F
 *         have_map=1f0.. http_port=P from=ADDR:PORT delay_ms=D
 *
 * about the first answer (have_map: per id in probe order, 1 have, f
 * fetching, 0 neither; delay_ms: from the probe to that answer).
 *
 * Exit status 2 if an answer broke the protocol (invalid, larger than its
 * probe, or more than one answer from one source), else 0.
 */

struct probe_result {
	unsigned answers;
	unsigned violations;
	size_t answer_bytes;
	unsigned have;
	unsigned fetching;
	uint16_t http_port;
	uint64_t delay_ms; /* from sending the probe to the first answer */
	char have_map[MAX_IDS + 1];
	char from[32];
};

/* One valid answer to our probe of @n ids. */
static void probe_take_answer(struct probe_result *r, const struct msg *m,
			      size_t len, size_t probe_len, size_t n,
			      const struct sockaddr_in *src,
			      struct sockaddr_in *first_src)
{
	size_t maplen = bitmap_len(n);
	char where[32];

	addr_text(src, where, sizeof(where));
	if (len > probe_len) {
		fprintf(stderr,
			"VIOLATION: answer of %zu bytes to a probe of %zu "
			"bytes from %s\n",
			len, probe_len, where);
		r->violations++;
	}
	if (r->answers > 0 &&
	    first_src->sin_addr.s_addr == src->sin_addr.s_addr) {
		fprintf(stderr,
			"VIOLATION: second answer to one probe from %s\n",
			where);
		r->violations++;
	}
	if (r->answers++ > 0)
		return; /* the first answer is the one reported */
	*first_src = *src;
	r->answer_bytes = len;
	r->http_port = m->http_port;
	snprintf(r->from, sizeof(r->from), "%s", where);
	for (size_t i = 0; i < n; i++) {
		bool have = bit_get(m->body, i);
		bool fetching = bit_get(m->body + maplen, i);

		r->have += have;
		r->fetching += fetching;
		r->have_map[i] = have ? '1' : fetching ? 'f' : '0';
	}
	r->have_map[n] = '\0';
}

static unsigned probe_once(int fd, const struct sockaddr_in *to,
			   const struct id_list *ids, size_t n,
			   const struct fleet_key *key, int timeout_ms)
{
	uint8_t body[MAX_IDS * ID_LEN], pkt[PACKET_MAX], rx[4096];
	struct probe_result r = { .from = "-", .have_map = "-" };
	struct sockaddr_in src, first_src = { 0 };
	uint32_t txid = random_u32();
	uint64_t sent_at = now_ms(), deadline = sent_at + (uint64_t)timeout_ms;
	size_t len;

	for (size_t i = 0; i < n; i++) {
		if (i < ids->n)
			memcpy(body + i * ID_LEN, ids->ids[i], ID_LEN);
		else
			random_bytes(body + i * ID_LEN, ID_LEN);
	}
	len = packet_build(pkt, MSG_PROBE, (uint8_t)n, txid, 0, body,
			   n * ID_LEN, key);
	if (sendto(fd, pkt, len, 0, (const struct sockaddr *)to, sizeof(*to)) !=
	    (ssize_t)len)
		die("sendto: %s", strerror(errno));
	for (;;) {
		int left = (int)(deadline - now_ms());
		bool partial = false;
		const char *why;
		struct msg m;
		ssize_t got;

		if (left <= 0 || (int64_t)(deadline - now_ms()) <= 0)
			break;
		got = udp_recv(fd, rx, sizeof(rx), left, &src, &partial);
		if (got == 0)
			break;
		if (got < 0)
			continue; /* ICMP errors, empty datagrams */
		why = packet_check(rx, (size_t)got, partial, key, &m);
		if (!why && m.type != MSG_ANSWER)
			why = "not an answer";
		if (!why && (m.txid != txid || m.count != n))
			why = "txid or count of another probe";
		if (why) {
			char where[32];

			fprintf(stderr, "VIOLATION: %zd bytes from %s: %s\n",
				got, addr_text(&src, where, sizeof(where)),
				why);
			r.violations++;
			continue;
		}
		if (r.answers == 0)
			r.delay_ms = now_ms() - sent_at;
		probe_take_answer(&r, &m, (size_t)got, len, n, &src,
				  &first_src);
	}
	printf("probe ids=%zu probe_bytes=%zu answers=%u answer_bytes=%zu "
	       "have=%u fetching=%u have_map=%s http_port=%u from=%s "
	       "delay_ms=%llu\n",
	       n, len, r.answers, r.answer_bytes, r.have, r.fetching,
	       r.have_map, r.http_port, r.from, (unsigned long long)r.delay_ms);
	fflush(stdout);
	return r.violations;
}

static int cmd_probe(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hash", required_argument, NULL, 'h' },
		{ "hashes-file", required_argument, NULL, 'f' },
		{ "sizes", required_argument, NULL, 's' },
		{ "key", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	struct id_list ids = { 0 };
	struct fleet_key key = { 0 };
	struct sockaddr_in to;
	const char *sizes = NULL, *from = NULL;
	unsigned long timeout_ms = 300;
	unsigned violations = 0;
	uint8_t id[ID_LEN];
	char *list, *item, *save;
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			if (!hex_parse(optarg, strlen(optarg), id))
				die("--hash: '%s' is not 64 hex digits",
				    optarg);
			id_list_add(&ids, id, 0);
			break;
		case 'f':
			id_list_load(&ids, optarg);
			break;
		case 's':
			sizes = optarg;
			break;
		case 'k':
			key_load(optarg, &key);
			break;
		case 't':
			timeout_ms = parse_number(optarg, "--timeout", 60000);
			break;
		case 'F':
			from = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc)
		die("usage: probe HOST[:PORT] [--hash HEX].. [--hashes-file F] "
		    "[--sizes N,N..] [--key F] [--timeout MS] [--from ADDR]");
	parse_endpoint(argv[optind], DISC_PORT, &to);
	fd = udp_socket(from);
	if (!sizes) {
		static char one[8];

		snprintf(one, sizeof(one), "%zu",
			 ids.n == 0	   ? 1
			 : ids.n > MAX_IDS ? MAX_IDS
					   : ids.n);
		sizes = one;
	}
	list = strdup(sizes);
	if (!list)
		die("out of memory");
	for (item = strtok_r(list, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		size_t n = parse_number(item, "--sizes", MAX_IDS);

		if (n == 0)
			die("--sizes: a probe carries 1 to %d ids", MAX_IDS);
		violations +=
			probe_once(fd, &to, &ids, n, &key, (int)timeout_ms);
	}
	free(list);
	free(ids.ids);
	free(ids.sizes);
	close(fd);
	return violations ? 2 : 0;
}

/* ---- flood ----------------------------------------------------------------
 *
 * Datagrams the receiver must drop, in rotation over the kinds asked for.
 * Each kind breaks exactly one rule of "Validation order" in a packet that
 * is otherwise valid, so that the node's counters can be compared with
 * what was sent.
 */

enum flood_kind {
	FK_MAGIC,     /* malformed: magic */
	FK_TYPE,      /* malformed: type 0 or > 4 */
	FK_FLAGS,     /* malformed: a reserved flag bit */
	FK_COUNT0,    /* malformed: count 0 */
	FK_COUNTBIG,  /* malformed: count 65..255 */
	FK_RESERVED,  /* malformed: reserved field not zero */
	FK_SHORT,     /* truncated: 1..15 bytes */
	FK_SHORTBODY, /* truncated: body shorter than count says */
	FK_HUGE,      /* oversized: longer than 2096 bytes */
	FK_LONGBODY,  /* oversized: body longer than count says */
	FK_VERSION,   /* version: not 1 */
	FK_BADTAG,    /* bad_tag: tagged with a key that is not the node's */
	FK_UNTAGGED,  /* bad_tag at a keyed node: no tag at all */
	FK_BADANSWER, /* malformed: answer with a bit past the last id */
	FK_COUNT
};

static const char *const flood_names[FK_COUNT] = {
	"magic",    "type",   "flags",	   "count0",	"countbig",
	"reserved", "short",  "shortbody", "huge",	"longbody",
	"version",  "badtag", "untagged",  "badanswer",
};

/* Kinds sent unless --kinds says otherwise: every one that a node without
 * a fleet key must drop ("untagged" is a valid probe for such a node). */
#define FLOOD_DEFAULT (((1u << FK_COUNT) - 1) & ~(1u << FK_UNTAGGED))

static unsigned flood_parse_kinds(const char *text)
{
	unsigned mask = 0;
	char *list = strdup(text), *item, *save;

	if (!list)
		die("out of memory");
	for (item = strtok_r(list, ",", &save); item;
	     item = strtok_r(NULL, ",", &save)) {
		size_t k;

		if (strcmp(item, "all") == 0) {
			mask |= (1u << FK_COUNT) - 1;
			continue;
		}
		for (k = 0; k < FK_COUNT; k++)
			if (strcmp(item, flood_names[k]) == 0)
				break;
		if (k == FK_COUNT)
			die("--kinds: unknown kind '%s'", item);
		mask |= 1u << k;
	}
	free(list);
	return mask;
}

/* A valid untagged probe of @n random ids (the base most kinds break). */
static size_t flood_base(uint8_t *pkt, size_t n)
{
	static const struct fleet_key none;
	uint8_t body[MAX_IDS * ID_LEN];

	random_bytes(body, n * ID_LEN);
	return packet_build(pkt, MSG_PROBE, (uint8_t)n, random_u32(), 0, body,
			    n * ID_LEN, &none);
}

/* Builds one packet of @kind into @pkt (room for 65536 bytes). */
static size_t flood_build(enum flood_kind kind, uint8_t *pkt,
			  const struct fleet_key *wrong_key, uint64_t *rng)
{
	uint64_t r = mix_next(rng);
	size_t n = 1 + r % MAX_IDS, len = flood_base(pkt, n);
	uint8_t body[MAX_IDS * ID_LEN];

	switch (kind) {
	case FK_MAGIC:
		pkt[r >> 8 & 3] ^= (uint8_t)(1 + (r >> 16) % 255);
		break;
	case FK_TYPE:
		pkt[5] = (r >> 8 & 1) ? 0 : (uint8_t)(5 + (r >> 16) % 251);
		break;
	case FK_FLAGS:
		pkt[6] |= (uint8_t)(2 << (r >> 8) % 7);
		break;
	case FK_COUNT0:
		pkt[7] = 0;
		break;
	case FK_COUNTBIG:
		pkt[7] = (uint8_t)(MAX_IDS + 1 + (r >> 8) % (255 - MAX_IDS));
		break;
	case FK_RESERVED:
		put16(pkt + 14, (uint16_t)(1 + (r >> 8) % 65535));
		break;
	case FK_SHORT:
		len = 1 + (r >> 8) % (HDR_LEN - 1);
		break;
	case FK_SHORTBODY:
		len -= 1 + (r >> 8) % ID_LEN;
		break;
	case FK_HUGE:
		/* Some just over the limit, some far over (IP fragments). */
		len = (r >> 8 & 3) ? PACKET_MAX + 1 + (r >> 16) % 6000 : 65507;
		random_bytes(pkt + HDR_LEN, len - HDR_LEN);
		break;
	case FK_LONGBODY:
		random_bytes(pkt + len, ID_LEN);
		len += 1 + (r >> 8) % ID_LEN;
		break;
	case FK_VERSION:
		pkt[4] = (r >> 8 & 1) ? 0 : (uint8_t)(2 + (r >> 16) % 254);
		break;
	case FK_BADTAG:
		random_bytes(body, n * ID_LEN);
		len = packet_build(
			pkt, (uint8_t)(MSG_PROBE + (r >> 8) % 4), (uint8_t)n,
			random_u32(), PEER_PORT, body,
			body_len((uint8_t)(MSG_PROBE + (r >> 8) % 4), n),
			wrong_key);
		break;
	case FK_UNTAGGED:
		break;
	case FK_BADANSWER:
		if (n % 8 == 0)
			n++;
		memset(body, 0, sizeof(body));
		bit_set(body, n); /* "have" bit past the last id */
		len = packet_build(pkt, MSG_ANSWER, (uint8_t)n, random_u32(),
				   PEER_PORT, body, 2 * bitmap_len(n),
				   &(struct fleet_key){ 0 });
		break;
	case FK_COUNT:
		break;
	}
	return len;
}

static void pace(uint64_t start, uint64_t sent, unsigned long rate)
{
	uint64_t due;

	if (rate == 0)
		return;
	due = start + sent * 1000 / rate;
	while (now_ms() < due && !stop_requested)
		sleep_ms((unsigned)(due - now_ms()));
}

static int cmd_flood(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "packets", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'r' },
		{ "kinds", required_argument, NULL, 'K' },
		{ "key", required_argument, NULL, 'k' },
		{ "from", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long packets = 20000, rate = 0, sent[FK_COUNT] = { 0 };
	unsigned long errors = 0, total = 0;
	unsigned kinds = FLOOD_DEFAULT;
	struct fleet_key wrong_key = { .len = KEY_MIN };
	struct sockaddr_in to;
	const char *from = NULL;
	uint64_t rng, start;
	uint8_t *pkt;
	int opt, fd;
	size_t k = 0;

	random_bytes(wrong_key.bytes, KEY_MIN);
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			packets = parse_number(optarg, "--packets", 100000000);
			break;
		case 'r':
			rate = parse_number(optarg, "--rate", 10000000);
			break;
		case 'K':
			kinds = flood_parse_kinds(optarg);
			break;
		case 'k':
			key_load(optarg, &wrong_key);
			break;
		case 'F':
			from = optarg;
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || kinds == 0)
		die("usage: flood HOST[:PORT] [--packets N] [--rate PPS] "
		    "[--kinds K,K..|all] [--key WRONG_KEY_FILE] [--from ADDR]");
	parse_endpoint(argv[optind], DISC_PORT, &to);
	fd = udp_socket(from);
	pkt = malloc(65536);
	if (!pkt)
		die("out of memory");
	random_bytes(&rng, sizeof(rng));
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	start = now_ms();
	while (total < packets && !stop_requested) {
		size_t len;

		while (!(kinds & (1u << k)))
			k = (k + 1) % FK_COUNT;
		len = flood_build((enum flood_kind)k, pkt, &wrong_key, &rng);
		pace(start, total, rate);
		if (sendto(fd, pkt, len, 0, (const struct sockaddr *)&to,
			   sizeof(to)) != (ssize_t)len) {
			/* ECONNREFUSED from an earlier ICMP, ENOBUFS: go on */
			errors++;
		}
		sent[k]++;
		total++;
		k = (k + 1) % FK_COUNT;
	}
	printf("flood sent=%lu send_errors=%lu ms=%llu", total, errors,
	       (unsigned long long)(now_ms() - start));
	for (k = 0; k < FK_COUNT; k++)
		if (kinds & (1u << k))
			printf(" %s=%lu", flood_names[k], sent[k]);
	printf("\n");
	free(pkt);
	close(fd);
	return 0;
}

/* ---- claim ----------------------------------------------------------------
 *
 * A neighbour about to fetch chunks from the mirror, as a node would be:
 * from its discovery port it sends CLAIMs for the ids (64 a packet),
 * answers probes for them with "fetching", and after --release-after ms
 * (or --release-after-probe ms after the first probe that names one of
 * them) sends RELEASEs (with neither it never does, and stops after
 * --max-seconds).  A node that wants those chunks meanwhile must wait for
 * this claimer, bounded, and stop waiting at its RELEASE.  Prints "claim
 * ids=N" when the claims are out and "release ids=N probes_answered=N
 * released_at_ms=T" (T: Unix time in ms) at the end.
 */

static void send_ids(int fd, const struct sockaddr_in *to, uint8_t type,
		     const struct id_list *ids, uint16_t http_port,
		     const struct fleet_key *key)
{
	uint8_t pkt[PACKET_MAX];

	for (size_t first = 0; first < ids->n; first += MAX_IDS) {
		size_t n = ids->n - first < MAX_IDS ? ids->n - first : MAX_IDS;
		size_t len = packet_build(pkt, type, (uint8_t)n, random_u32(),
					  http_port, ids->ids[first],
					  n * ID_LEN, key);

		if (sendto(fd, pkt, len, 0, (const struct sockaddr *)to,
			   sizeof(*to)) != (ssize_t)len)
			die("sendto: %s", strerror(errno));
	}
}

/* Answers a probe that names claimed ids: "fetching" for those.  True if
 * it answered. */
static bool claim_answer(int fd, const struct id_list *ids, uint16_t http_port,
			 const struct fleet_key *key)
{
	uint8_t rx[4096], body[2 * MAX_IDS / 8] = { 0 }, pkt[PACKET_MAX];
	struct sockaddr_in src;
	bool partial = false, any = false;
	struct msg m;
	ssize_t got = udp_recv(fd, rx, sizeof(rx), 0, &src, &partial);
	size_t maplen, len;

	if (got <= 0 || packet_check(rx, (size_t)got, partial, key, &m) ||
	    m.type != MSG_PROBE)
		return false;
	maplen = bitmap_len(m.count);
	for (size_t i = 0; i < m.count; i++) {
		if (id_list_find(ids, m.body + i * ID_LEN) >= 0) {
			bit_set(body + maplen, i);
			any = true;
		}
	}
	if (!any)
		return false;
	len = packet_build(pkt, MSG_ANSWER, m.count, m.txid, http_port, body,
			   2 * maplen, key);
	return sendto(fd, pkt, len, 0, (struct sockaddr *)&src, sizeof(src)) ==
	       (ssize_t)len;
}

/* Wall clock, ms: comparable with the mirror's access log. */
static uint64_t unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int cmd_claim(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "hash", required_argument, NULL, 'h' },
		{ "hashes-file", required_argument, NULL, 'f' },
		{ "release-after", required_argument, NULL, 'r' },
		{ "release-after-probe", required_argument, NULL, 'R' },
		{ "max-seconds", required_argument, NULL, 'm' },
		{ "udp-port", required_argument, NULL, 'u' },
		{ "http-port", required_argument, NULL, 'p' },
		{ "key", required_argument, NULL, 'k' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_in to, local = { .sin_family = AF_INET };
	unsigned long release_after = 0, max_seconds = 60, after_probe = 0;
	unsigned long udp_port = DISC_PORT, http_port = PEER_PORT;
	unsigned long answered = 0;
	struct id_list ids = { 0 };
	struct fleet_key key = { 0 };
	bool release;
	uint64_t end;
	uint8_t id[ID_LEN];
	int opt, fd;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			if (!hex_parse(optarg, strlen(optarg), id))
				die("--hash: '%s' is not 64 hex digits",
				    optarg);
			id_list_add(&ids, id, 0);
			break;
		case 'f':
			id_list_load(&ids, optarg);
			break;
		case 'r':
			release_after =
				parse_number(optarg, "--release-after", 600000);
			break;
		case 'R':
			after_probe = parse_number(
				optarg, "--release-after-probe", 600000);
			break;
		case 'm':
			max_seconds =
				parse_number(optarg, "--max-seconds", 3600);
			break;
		case 'u':
			udp_port = parse_number(optarg, "--udp-port", 65535);
			break;
		case 'p':
			http_port = parse_number(optarg, "--http-port", 65535);
			break;
		case 'k':
			key_load(optarg, &key);
			break;
		default:
			return 2;
		}
	}
	if (optind + 1 != argc || ids.n == 0 || http_port == 0)
		die("usage: see pc-peer-tool without arguments");
	parse_endpoint(argv[optind], DISC_PORT, &to);
	local.sin_port = htons((uint16_t)udp_port);
	fd = listen_on(SOCK_DGRAM, &local);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	send_ids(fd, &to, MSG_CLAIM, &ids, (uint16_t)http_port, &key);
	printf("claim ids=%zu\n", ids.n);
	fflush(stdout);
	release = release_after || after_probe;
	end = now_ms() + (release_after ? release_after : max_seconds * 1000);
	while (!stop_requested && now_ms() < end) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait = (int)(end - now_ms());

		if (poll(&pfd, 1, wait < 100 ? wait : 100) <= 0 ||
		    !claim_answer(fd, &ids, (uint16_t)http_port, &key))
			continue;
		if (answered++ == 0 && after_probe)
			end = now_ms() + after_probe;
	}
	if (release)
		send_ids(fd, &to, MSG_RELEASE, &ids, (uint16_t)http_port, &key);
	printf("%s ids=%zu probes_answered=%lu released_at_ms=%llu\n",
	       release ? "release" : "gave up", ids.n, answered,
	       release ? (unsigned long long)unix_ms() : 0ULL);
	free(ids.ids);
	free(ids.sizes);
	close(fd);
	return 0;
}

static const char usage_text[] =
	"usage: pc-peer-tool COMMAND ...\n"
	"  probe HOST[:PORT] [--hash HEX].. [--hashes-file F]\n"
	"        [--sizes N,N..] [--key F] [--timeout MS] [--from ADDR]\n"
	"  flood HOST[:PORT] [--packets N] [--rate PPS]\n"
	"        [--kinds K,K..|all] [--key F] [--from ADDR]\n"
	"  claim HOST[:PORT] --hash HEX.. | --hashes-file F\n"
	"        [--release-after MS] [--release-after-probe MS]\n"
	"        [--max-seconds S] [--udp-port N]\n"
	"        [--http-port N] [--key F]\n"
	"  fake-peer [--bind ADDR] [--udp-port N] [--http-port N] [--ports N]\n"
	"        [--key F] [--sizes F] [--default-size N] [--max-seconds S]\n"
	"        [--answer have|fetching|none] [--claim BCAST]\n"
	"        [--serve garbage|404|redirect] [--redirect URL] [--no-http]\n"
	"        [--join6 IFNAME]  (--bind an IPv6 address: IPv6 only, "
	"joining\n"
	"        the nodes' group " DISC_GROUP6 " on IFNAME)\n"
	"  get HOST[:PORT] HEX [--connections N] [--sources ADDR,..]\n"
	"        [--head] [--hold-ms MS] [--rcvbuf B] [--timeout S]\n"
	"  spoof HOST[:PORT] --sources CIDR [--packets N] [--rate PPS]\n"
	"        [--hashes-file F] [--ids N] [--http-ports N[-M]]\n"
	"        [--type probe|claim] [--key F]\n"
	"  slowloris HOST[:PORT] [--connections N] [--sources ADDR,..]\n"
	"        [--interval MS] [--seconds S] [--reopen]\n";

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{ "probe", cmd_probe },
		{ "flood", cmd_flood },
		{ "claim", cmd_claim },
		{ "fake-peer", cmd_fake_peer },
		{ "get", cmd_get },
		{ "spoof", cmd_spoof },
		{ "slowloris", cmd_slowloris },
	};

	for (size_t i = 0;
	     argc >= 2 && i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 1, argv + 1);
	fputs(usage_text, stderr);
	return 2;
}
