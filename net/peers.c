/*
 * peers.c - the node's LAN side: who may talk to it (the ACL), the UDP
 * discovery instance on the loop, the HTTP peer server on its own thread,
 * and the table of peers heard, with their bans.
 *
 * The table is written on the loop thread and read by the control socket
 * (also the loop thread), the metrics thread and tests; a mutex keeps the
 * copies whole.  A peer is keyed by its address alone: a host has one
 * peer server, and a host that announces another HTTP port in every
 * packet must not get a fresh line (and a clean record) with each one.
 * Bans last peer_ban_time and cover every port of the address; a peer
 * that merely failed (timeout, refused connection) is skipped for a few
 * seconds so that a dead neighbour costs one connect timeout, not one per
 * chunk.
 *
 * Anyone in the subnet can make the node hear a new address (one forged
 * datagram), so the table's 256 lines are given up in order of what they
 * are worth: a line that only says "heard" goes first, then one with a
 * failure or a broken promise, then one that delivered chunks; a ban in
 * force is never given up for anything but another ban.  A flood of new
 * addresses churns the lines worth nothing and cannot push a ban out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

/* A peer that failed is not asked again for this long ... */
#define PEER_SKIP_MS 5000
/* ... and said so in the log at most this often. */
#define PEER_FAILURE_LOG_MS 60000

/* ---- the table ------------------------------------------------------------ */

/* What a line is worth keeping (see the file's comment). */
static enum net_peer_worth worth(const struct net_peer *e, int64_t now)
{
	if (e->banned_until > now)
		return NET_PEER_BANNED;
	if (e->chunks)
		return NET_PEER_DELIVERED;
	if (e->bad || e->failures || e->broken || e->inflight)
		return NET_PEER_KNOWN;
	return NET_PEER_HEARD;
}

/* Under peers->lock: the line of @addr, or NULL. */
static struct net_peer *peer_find(struct net_peers *p, struct pc_addr addr)
{
	for (size_t i = 0; i < p->npeers; i++)
		if (pc_addr_equal(&p->table[i].addr, &addr))
			return &p->table[i];
	return NULL;
}

/* Under peers->lock: the line to give up for a new record worth @want, or
 * NULL when every line is worth more.  A line not heard from for
 * NET_PEER_FORGET_S is worth nothing, unless banned.  Among lines worth
 * the same, the one heard from longest ago goes (among bans, the one that
 * ends first). */
static struct net_peer *peer_victim(struct net_peers *p,
				    enum net_peer_worth want, int64_t now)
{
	struct net_peer *victim = NULL;
	enum net_peer_worth victim_worth = NET_PEER_BANNED;

	for (size_t i = 0; i < p->npeers; i++) {
		struct net_peer *e = &p->table[i];
		enum net_peer_worth w = worth(e, now);

		if (w != NET_PEER_BANNED && e->inflight == 0 &&
		    e->last_seen <= now - NET_PEER_FORGET_S)
			w = NET_PEER_HEARD;
		if (w > want)
			continue;
		if (!victim || w < victim_worth ||
		    (w == victim_worth &&
		     (w == NET_PEER_BANNED
			      ? e->banned_until < victim->banned_until
			      : e->last_seen < victim->last_seen))) {
			victim = e;
			victim_worth = w;
		}
	}
	return victim;
}

/* Under peers->lock: the line of @peer's address, made if needed for a
 * record worth @want; NULL when the table keeps only lines worth more. */
static struct net_peer *peer_slot(struct net_peers *p,
				  const struct pc_disc_peer *peer,
				  enum net_peer_worth want)
{
	struct net_peer *e = peer_find(p, peer->addr);
	int64_t now = net_unix_now();

	if (!e) {
		if (p->npeers < NET_PEER_TABLE)
			e = &p->table[p->npeers++];
		else
			e = peer_victim(p, want, now);
		if (!e)
			return NULL;
		memset(e, 0, sizeof(*e));
		e->addr = peer->addr;
		e->first_seen = now;
	}
	if (peer->http_port)
		e->http_port = peer->http_port; /* the last one announced */
	return e;
}

void net_peer_seen(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	if (!peer->http_port)
		return; /* serves nothing: nothing to remember */
	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, NET_PEER_HEARD);
	if (e)
		e->last_seen = net_unix_now();
	pthread_mutex_unlock(&p->lock);
}

void net_peer_update(struct pc_net *net, const struct pc_disc_peer *peer,
		     enum net_peer_worth want,
		     void (*fn)(struct net_peer *e, void *arg), void *arg)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	pthread_mutex_lock(&p->lock);
	e = peer_slot(p, peer, want);
	if (e)
		fn(e, arg);
	pthread_mutex_unlock(&p->lock);
}

bool net_peer_lookup(struct pc_net *net, struct pc_addr addr,
		     struct net_peer *out)
{
	struct net_peers *p = &net->peers;
	struct net_peer *e;

	pthread_mutex_lock(&p->lock);
	e = peer_find(p, addr);
	if (e)
		*out = *e;
	pthread_mutex_unlock(&p->lock);
	return e != NULL;
}

static void credit(struct net_peer *e, void *arg)
{
	e->chunks++;
	e->bytes += *(const uint64_t *)arg;
	e->last_seen = net_unix_now();
}

void net_peer_credit(struct pc_net *net, const struct pc_disc_peer *peer,
		     uint64_t bytes)
{
	net_peer_update(net, peer, NET_PEER_DELIVERED, credit, &bytes);
	net_peer_kept(net, peer);
}

struct ban {
	const char *why;
	int64_t now, until;
	bool recorded;
	bool already; /* banned before: one more GET that was in flight */
};

static void ban(struct net_peer *e, void *arg)
{
	struct ban *b = arg;

	b->recorded = true;
	b->already = e->banned_until > b->now;
	e->bad++;
	e->banned_until = b->until;
	snprintf(e->reason, sizeof(e->reason), "%s", b->why);
}

void net_peer_ban(struct pc_net *net, const struct pc_disc_peer *peer,
		  const char *why)
{
	struct ban b = { .why = why, .now = net_unix_now() };

	b.until = b.now + (int64_t)net->cfg->peer_ban_time;
	net_peer_update(net, peer, NET_PEER_BANNED, ban, &b);
	if (b.already)
		return; /* logged when the ban began */
	pc_log(PC_LOG_WARN, "net",
	       "peer %s banned for %llu s (every port): %s%s",
	       pc_addr_str(&peer->addr),
	       (unsigned long long)net->cfg->peer_ban_time, why,
	       b.recorded ? "" : " (not recorded: the table is full of bans)");
}

struct failure {
	uint64_t now, until;
	bool log; /* not logged about it for a minute */
};

static void failed(struct net_peer *e, void *arg)
{
	struct failure *f = arg;

	e->failures++;
	e->skip_until = f->until;
	f->log = !e->failure_logged_at ||
		 f->now - e->failure_logged_at >= PEER_FAILURE_LOG_MS;
	if (f->log)
		e->failure_logged_at = f->now;
}

void net_peer_failed(struct pc_net *net, const struct pc_disc_peer *peer,
		     const char *why)
{
	struct failure f = { .now = uv_now(&net->loop) };

	f.until = f.now + PEER_SKIP_MS;
	net_peer_update(net, peer, NET_PEER_KNOWN, failed, &f);
	if (f.log)
		pc_log(PC_LOG_WARN, "net",
		       "peer %s:%u: %s; not asked for %d s (logged once a "
		       "minute)",
		       pc_addr_str(&peer->addr), peer->http_port, why,
		       PEER_SKIP_MS / 1000);
}

bool net_peer_usable(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peer e;

	if (peer->http_port == 0)
		return false;
	if (!net_peer_lookup(net, peer->addr, &e))
		return true;
	return e.banned_until <= net_unix_now() &&
	       e.skip_until <= uv_now(&net->loop) &&
	       e.doubted_until <= uv_now(&net->loop);
}

static void inflight(struct net_peer *e, void *arg)
{
	int delta = *(const int *)arg;

	if (delta > 0 || e->inflight > 0)
		e->inflight = (unsigned)((int)e->inflight + delta);
}

void net_peer_inflight(struct pc_net *net, const struct pc_disc_peer *peer,
		       int delta)
{
	net_peer_update(net, peer, NET_PEER_KNOWN, inflight, &delta);
}

unsigned net_peer_load(struct pc_net *net, const struct pc_disc_peer *peer)
{
	struct net_peer e;

	return net_peer_lookup(net, peer->addr, &e) ? e.inflight : 0;
}

/* Peers that delivered chunks first, then the most recently heard. */
static int by_worth_then_last_seen(const void *a, const void *b)
{
	const struct net_peer *x = a, *y = b;

	if ((x->chunks != 0) != (y->chunks != 0))
		return x->chunks ? -1 : 1;
	return (x->last_seen < y->last_seen) - (x->last_seen > y->last_seen);
}

size_t net_peers_recent(struct pc_net *net, struct pc_disc_peer *out,
			size_t max)
{
	struct net_peers *p = &net->peers;
	int64_t now = net_unix_now();
	uint64_t now_ms = uv_now(&net->loop);
	struct net_peer *copy;
	size_t n = 0, m;

	copy = malloc(sizeof(p->table));
	if (!copy)
		return 0;
	pthread_mutex_lock(&p->lock);
	for (size_t i = 0; i < p->npeers; i++)
		if (p->table[i].banned_until <= now &&
		    p->table[i].doubted_until <= now_ms &&
		    p->table[i].last_seen > now - NET_PEER_FORGET_S)
			copy[n++] = p->table[i];
	pthread_mutex_unlock(&p->lock);
	qsort(copy, n, sizeof(*copy), by_worth_then_last_seen);
	m = n < max ? n : max;
	for (size_t i = 0; i < m; i++)
		out[i] =
			(struct pc_disc_peer){ .addr = copy[i].addr,
					       .http_port = copy[i].http_port };
	free(copy);
	return m;
}

size_t net_peers_snapshot(struct pc_net *net, struct net_peer *out, size_t max)
{
	struct net_peers *p = &net->peers;
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = p->npeers < max ? p->npeers : max;
	memcpy(out, p->table, n * sizeof(*out));
	pthread_mutex_unlock(&p->lock);
	return n;
}

/* ---- the head neighbours may ask for ------------------------------------- */

void net_peers_save_head(struct pc_net *net, const char *body, size_t len)
{
	char tmp[sizeof(net->peers.head_path) + 8];
	int fd;
	bool ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", net->peers.head_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		pc_log(PC_LOG_WARN, "net", "%s: %s", tmp, strerror(errno));
		return;
	}
	ok = write(fd, body, len) == (ssize_t)len && fsync(fd) == 0;
	if (close(fd) < 0)
		ok = false;
	if (!ok || rename(tmp, net->peers.head_path) < 0) {
		pc_log(PC_LOG_WARN, "net", "%s: %s", net->peers.head_path,
		       strerror(errno));
		unlink(tmp);
	}
}

/* ---- life ------------------------------------------------------------------- */

static void on_disc_seen(void *arg, const struct pc_disc_peer *peer)
{
	net_peer_seen(arg, peer);
}

static bool on_disc_believe(void *arg, const struct pc_disc_peer *peer)
{
	return net_peer_believed(arg, peer);
}

static bool on_disc_believe_claims(void *arg, const struct pc_disc_peer *peer)
{
	return net_peer_claims_believed(arg, peer);
}

/* It delivered verified chunks to us, or downloaded chunks from us: over
 * TCP, so from its own address. */
static bool on_disc_proven(void *arg, const struct pc_addr *addr)
{
	struct pc_net *net = arg;
	struct net_peer e;

	return (net_peer_lookup(net, *addr, &e) && e.chunks > 0) ||
	       (net->peers.server &&
		pc_peer_server_served(net->peers.server, *addr));
}

/* A neighbour's download ended: whoever waited for it asks it now. */
static void on_disc_released(void *arg, const struct pc_hash *hash,
			     const struct pc_disc_peer *peer);

/*
 * mirror_serve = on: who may use it, and how long a branch request waits
 * for a pull-through.  A branch node's transfer is cut after its
 * low_speed_time of silence and its read after fetch_timeout; with the
 * same settings at both ends, 3/4 of the one (at most half of the other)
 * leaves the branch time to take the object from its next mirror.
 */
static int mirror_serve_opts(struct pc_net *net, struct mirror_serve_opts *out,
			     struct pc_acl *acl, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	uint64_t deadline_ms = cfg->low_speed_time * 750;
	char why[256];

	memset(acl, 0, sizeof(*acl));
	if (pc_acl_parse(acl, cfg->mirror_allow, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "mirror_allow: %s", why);
		return -EINVAL;
	}
	if (deadline_ms > cfg->fetch_timeout * 500)
		deadline_ms = cfg->fetch_timeout * 500;
	memset(out, 0, sizeof(*out));
	out->net = net;
	out->store = net->store;
	out->allow = acl;
	out->max_requests = (unsigned)cfg->max_uploads;
	out->deadline_ms = (unsigned)deadline_ms;
	return 0;
}

static int start_server(struct pc_net *net, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	struct pc_peer_server_opts opts;
	struct mirror_serve_opts mirror;
	struct pc_acl mirror_acl;
	char why[256];
	int rc;

	pc_peer_server_opts_init(&opts);
	opts.port = (uint16_t)cfg->peer_port;
	opts.max_uploads = (unsigned)cfg->max_uploads;
	/* A neighbour runs up to max_fetches GETs at once, all to us when we
	 * are the only one with the chunks: room for that and then some. */
	opts.per_client_max =
		(unsigned)(cfg->max_fetches * 2 > 16 ? cfg->max_fetches * 2
						     : 16);
	opts.allow = &net->peers.acl;
	opts.head_path = net->peers.head_path;
	if (cfg->mirror_serve) {
		rc = mirror_serve_opts(net, &mirror, &mirror_acl, err, errlen);
		if (rc < 0)
			return rc;
		opts.mirror = &mirror;
	}
	net->peers.server =
		pc_peer_server_start(net->store, &opts, why, sizeof(why));
	if (!net->peers.server) {
		snprintf(err, errlen, "peer_port %llu: %s",
			 (unsigned long long)cfg->peer_port, why);
		return -EINVAL;
	}
	net->peers.http_port = pc_peer_server_port(net->peers.server);
	return 0;
}

static int start_discovery(struct pc_net *net, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	uint8_t key[PC_DISC_KEY_MAX];
	struct pc_disc_opts opts;
	bool listed = (cfg->peers && cfg->peers[0]) ||
		      (cfg->discovery_group && cfg->discovery_group[0]);
	char why[256];

	pc_disc_opts_defaults(&opts);
	opts.port = (uint16_t)cfg->discovery_port;
	/* A static list or a group replaces broadcasts unless interfaces
	 * are named too: a routed site (or a test on loopback) must not
	 * spray the local segment. */
	opts.broadcast = !listed || (cfg->interfaces && cfg->interfaces[0]);
	opts.interfaces = cfg->interfaces;
	opts.group = cfg->discovery_group[0] ? cfg->discovery_group : NULL;
	opts.peers = cfg->peers[0] ? cfg->peers : NULL;
	opts.allow = &net->peers.acl;
	opts.http_port = net->peers.http_port;
	opts.store = net->store;
	opts.released = on_disc_released;
	opts.seen = on_disc_seen;
	opts.believe = on_disc_believe;
	opts.believe_claims = on_disc_believe_claims;
	opts.cb_arg = net;
	opts.proven = on_disc_proven;
	if (cfg->fleet_key_file && cfg->fleet_key_file[0]) {
		size_t len;

		if (pc_disc_read_key(cfg->fleet_key_file, key, sizeof(key),
				     &len, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "fleet_key_file: %s", why);
			return -EINVAL;
		}
		opts.key = key;
		opts.key_len = len;
	}
	net->peers.disc = pc_disc_new(&net->loop, &opts, why, sizeof(why));
	memset(key, 0, sizeof(key));
	if (!net->peers.disc) {
		snprintf(err, errlen, "discovery: %s", why);
		return -EINVAL;
	}
	return 0;
}

int net_peers_init(struct pc_net *net, char *err, size_t errlen)
{
	const struct pc_config *cfg = net->cfg;
	struct net_peers *p = &net->peers;
	char why[256];
	int rc;

	snprintf(p->head_path, sizeof(p->head_path), "%s/head",
		 pc_store_dir(net->store));
	if (!cfg->discovery && !cfg->peer_server)
		return 0;
	rc = pc_acl_add_local_subnets(&p->acl, false);
	if (rc < 0) {
		snprintf(err, errlen, "peer_allow: local subnets: %s",
			 strerror(-rc));
		return rc;
	}
	if (cfg->peer_allow && cfg->peer_allow[0] &&
	    pc_acl_parse(&p->acl, cfg->peer_allow, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "peer_allow: %s", why);
		return -EINVAL;
	}
	if (cfg->peer_server) {
		rc = start_server(net, err, errlen);
		if (rc < 0)
			return rc;
	}
	if (cfg->discovery) {
		rc = start_discovery(net, err, errlen);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void net_peers_shutdown(struct pc_net *net)
{
	pc_disc_close(net->peers.disc);
	net->peers.disc = NULL;
}

void net_peers_free(struct pc_net *net)
{
	pc_peer_server_stop(net->peers.server);
	net->peers.server = NULL;
}

/* ---- released claims ---------------------------------------------------- */

static struct net_released *released_slot(struct pc_net *net,
					  const struct pc_hash *hash)
{
	size_t i = ((size_t)hash->bytes[0] | (size_t)hash->bytes[1] << 8) %
		   NET_RELEASED_SLOTS;

	return &net->peers.released[i];
}

bool net_peer_released_by(struct pc_net *net, const struct pc_hash *hash,
			  uint64_t max_age_ms, struct pc_disc_peer *out)
{
	const struct net_released *r = released_slot(net, hash);

	if (!r->at || uv_now(&net->loop) - r->at > max_age_ms ||
	    !pc_hash_equal(&r->hash, hash))
		return false;
	*out = r->peer;
	return true;
}

static void on_disc_released(void *arg, const struct pc_hash *hash,
			     const struct pc_disc_peer *peer)
{
	struct pc_net *net = arg;
	struct net_released *r = released_slot(net, hash);

	/* Remembered even when nobody waits: an answer from it that comes
	 * late (a busy neighbour) must not send us to the mirror. */
	r->hash = *hash;
	r->peer = *peer;
	r->at = uv_now(&net->loop);
	if (r->at == 0)
		r->at = 1;
	net_peer_src_released(net, hash, peer);
}
